"""The four landing tasks of one interval in order, as the ingestion operators run them."""

from mlops.ingestion import landing
from mlops.ingestion.steps import extract_landing_interval, publish_accepted, validate_parts


def ingest_landing(s3, *, ds: str, prefix: str, source: str, dataset: str, suite, table: str = "images"):
    """Extract, validate, publish and tag the landing files of `ds`; returns the validation report."""
    b = s3.buckets
    parts = extract_landing_interval(
        s3,
        landing_bucket=b["landing"],
        landing_prefix=prefix,
        raw_bucket=b["raw"],
        source=source,
        table=table,
        ds=ds,
        suite_path=suite,
    )
    report = validate_parts(s3, raw_bucket=b["raw"], parts=parts, suite_path=suite, source=source, table=table, ds=ds)
    for r in report.rejected:
        landing.mark(s3, b["landing"], r["landing_key"], ds=ds, status="quarantined")
    publish_accepted(
        s3,
        raw_bucket=b["raw"],
        curated_bucket=b["curated"],
        accepted=report.accepted,
        dataset=dataset,
        ds=ds,
        interval=(ds, ds),
        key_column="image_id",
        changed_at=None,
        source=source,
        extracted_rows=sum(p["rows"] for p in parts),  # as the extraction reports it to publish
    )
    for a in report.accepted:
        landing.mark(s3, b["landing"], a["landing_key"], ds=ds, status="published")
    return report
