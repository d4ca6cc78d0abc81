"""The ingestion steps of one table for one data interval, as plain functions.

extract  -> raw Parquet object(s) for the interval
validate -> each raw object checked against the dataset's suite; rejects quarantined
publish  -> accepted objects become the curated partition (atomically, via the manifest)

Each step takes a boto3 S3 client and plain values, so it runs the same under an Airflow
operator, in a test against moto, or from a shell.
"""

from __future__ import annotations

import logging
import os
import tempfile
from dataclasses import dataclass, field

from mlops.aws.s3 import list_keys, sha256_file
from mlops.ingestion import landing
from mlops.ingestion.extract import extract_csv_object, extract_postgres
from mlops.ingestion.publish import Part, PublishError, publish_partition, quarantine
from mlops.ingestion.validate import load_suite_document, validate_frame
from mlops.lake import layout

log = logging.getLogger(__name__)


@dataclass
class ValidationReport:
    accepted: list[dict] = field(default_factory=list)
    rejected: list[dict] = field(default_factory=list)

    @property
    def message(self) -> str:
        return "\n".join(r["message"] for r in self.rejected)

    def to_dict(self) -> dict:
        return {"accepted": self.accepted, "rejected": self.rejected}


def extract_postgres_interval(s3, uri: str, sql: str, raw_bucket: str, source: str, table: str, ds: str) -> list[dict]:
    """Extract the interval into raw objects data-00000, data-00001, ... (one per `FILE_ROWS` rows)."""
    results = extract_postgres(
        s3, uri, sql, raw_bucket, lambda number: layout.raw_key(source, table, ds, layout.data_part(number))
    )
    parts = [r.to_dict() | {"part": layout.data_part(number)} for number, r in enumerate(results)]
    _remove_stale_raw(s3, raw_bucket, layout.raw_prefix(source, table, ds), parts)
    return parts


def extract_landing_interval(
    s3, landing_bucket: str, landing_prefix: str, raw_bucket: str, source: str, table: str, ds: str
) -> list[dict]:
    """Convert every landing file this interval owns into a raw Parquet object."""
    keys = landing.files_for_interval(s3, landing_bucket, landing_prefix, ds)
    log.info("%d landing file(s) for ds=%s under s3://%s/%s", len(keys), ds, landing_bucket, landing_prefix)
    parts = []
    for key in keys:
        part = layout.part_name(key)
        result = extract_csv_object(s3, landing_bucket, key, raw_bucket, layout.raw_key(source, table, ds, part))
        parts.append(result.to_dict() | {"part": part, "landing_key": key})
    _remove_stale_raw(s3, raw_bucket, layout.raw_prefix(source, table, ds), parts)
    return parts


def _remove_stale_raw(s3, raw_bucket: str, prefix: str, parts: list[dict]) -> None:
    """Delete raw objects of the interval that this extraction did not write.

    A rerun may write fewer objects than before (fewer rows, or landing files the interval
    no longer owns); what it left behind would otherwise linger as leftovers.
    """
    wanted = {p["key"] for p in parts}
    for obj in list_keys(s3, raw_bucket, prefix):
        if obj["Key"] not in wanted:
            s3.delete_object(Bucket=raw_bucket, Key=obj["Key"])


def _read_parquet(path: str):
    import pandas as pd

    return pd.read_parquet(path)


def validate_parts(
    s3, raw_bucket: str, parts: list[dict], suite_path, source: str, table: str, ds: str
) -> ValidationReport:
    """Validate each raw part; quarantine the rejected ones with their validation result."""
    suite_doc = load_suite_document(suite_path)
    report = ValidationReport()
    for p in parts:
        with tempfile.TemporaryDirectory(prefix="mlops-validate-") as tmp:
            local = os.path.join(tmp, "part.parquet")
            head = s3.head_object(Bucket=raw_bucket, Key=p["key"])
            s3.download_file(raw_bucket, p["key"], local)
            outcome = validate_frame(_read_parquet(local), suite_doc)
            digest = sha256_file(local)
        where = f"partition {source}/{table}/ds={ds}"
        if p.get("landing_key"):
            where += f" file {p['landing_key']}"
        elif len(parts) > 1:
            where += f" part {p['part']}"
        entry = {
            "key": p["key"],
            "etag": head["ETag"],
            "sha256": digest,
            "rows": outcome.rows,
            "columns": p.get("columns", []),
            "part": p["part"],
            "landing_key": p.get("landing_key"),
            "message": outcome.message(where),
        }
        if outcome.success:
            report.accepted.append(entry)
        else:
            entry["quarantine"] = quarantine(
                s3, raw_bucket, p["key"], source, table, ds, entry["part"], outcome.to_dict()
            )
            entry["failures"] = [f.describe() for f in outcome.failures]
            report.rejected.append(entry)
    return report


def extraction_report(source: str, table: str, ds: str, parts: list[dict]) -> dict:
    """What an extraction hands on: its parts and, explicitly, the rows it found in the interval.

    `rows: 0` is the positive report that the interval is empty; publish replaces a partition
    with an empty one only on that report, never because a result is missing.
    """
    return {"source": source, "table": table, "ds": ds, "rows": sum(int(p["rows"]) for p in parts), "parts": parts}


def publish_accepted(
    s3,
    raw_bucket: str,
    curated_bucket: str,
    accepted: list[dict],
    dataset: str,
    ds: str,
    interval: tuple[str, str],
    key_column: str,
    changed_at: str | None,
    source: str,
    *,
    extracted_rows: int | None = None,
) -> dict:
    """Publish the accepted parts as the partition. An empty `accepted` replaces the partition
    only when the extraction reported zero rows (`extracted_rows=0`): all parts rejected, or a
    row count nobody reported, leaves the partition as it is."""
    if not accepted and extracted_rows != 0:
        found = "an unknown number of" if extracted_rows is None else str(extracted_rows)
        raise PublishError(
            f"refusing to replace curated partition {dataset}/ds={ds} with an empty one: no batch was accepted "
            f"and the extraction found {found} row(s); the partition is left as it was (an interval is published "
            "empty only when its extraction reported zero rows)"
        )
    columns = accepted[0]["columns"] if accepted else []
    parts = [Part.from_dict(a) for a in accepted]
    return publish_partition(
        s3, raw_bucket, parts, curated_bucket, dataset, ds, interval, columns, key_column, changed_at, source
    )
