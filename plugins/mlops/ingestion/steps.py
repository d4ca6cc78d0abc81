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

from mlops.aws.s3 import list_keys, put_json, sha256_file
from mlops.ingestion import landing
from mlops.ingestion.extract import UnreadableFile, csv_column_types, extract_csv_object, extract_postgres
from mlops.ingestion.publish import Part, PublishError, publish_partition, quarantine
from mlops.ingestion.validate import column_contract, load_suite_document, validate_frame
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


def extract_postgres_interval(
    s3, *, uri: str, sql: str, raw_bucket: str, source: str, table: str, ds: str
) -> list[dict]:
    """Extract the interval into raw objects data-00000, data-00001, ... (one per `FILE_ROWS` rows)."""
    results = extract_postgres(
        s3,
        uri=uri,
        sql=sql,
        bucket=raw_bucket,
        key_of=lambda number: layout.raw_key(source, table, ds, layout.data_part(number)),
    )
    parts = [r.to_dict() | {"part": layout.data_part(number)} for number, r in enumerate(results)]
    _remove_stale_raw(s3, raw_bucket, layout.raw_prefix(source, table, ds), parts)
    return parts


def extract_landing_interval(
    s3,
    *,
    landing_bucket: str,
    landing_prefix: str,
    raw_bucket: str,
    source: str,
    table: str,
    ds: str,
    suite_path=None,
) -> list[dict]:
    """Convert every landing file this interval owns into a raw Parquet object.

    A file that cannot be read (not UTF-8, not CSV, a field beyond the reader's block, a value
    that does not parse as the type the suite declares) is quarantined on its own here, as
    it was delivered, with the reason; it comes back as a part with `unreadable` set, which
    validation reports as rejected, and the other files go on.
    """
    contract = column_contract(load_suite_document(suite_path)) if suite_path else None
    column_types = csv_column_types(contract.types) if contract else {}
    parts = []
    with tempfile.TemporaryDirectory(prefix="mlops-landing-") as workdir:  # the files' local copies
        files = landing.files_for_interval(
            s3,
            bucket=landing_bucket,
            prefix=landing_prefix,
            ds=ds,
            raw_bucket=raw_bucket,
            source=source,
            table=table,
            workdir=workdir,
        )
        log.info("%d landing file(s) for ds=%s under s3://%s/%s", len(files), ds, landing_bucket, landing_prefix)
        for f in files:
            reason = f.problem
            if reason is None:
                try:
                    result = extract_csv_object(
                        s3,
                        src_path=f.path,
                        src_uri=f"s3://{landing_bucket}/{f.key}",
                        bucket=raw_bucket,
                        key=layout.raw_key(source, table, ds, f.part),
                        column_types=column_types,
                        header=f.header,
                    )
                except UnreadableFile as err:
                    reason = str(err) + _header_diff(f.header, contract)
                else:
                    parts.append(result.to_dict() | {"part": f.part, "landing_key": f.key, "landing_sha256": f.sha256})
                    continue
                finally:
                    os.remove(f.path)  # converted or not, the copy is done with
            parts.append(_quarantine_unreadable(s3, landing_bucket, raw_bucket, f, source, table, ds, reason))
            landing.mark(s3, landing_bucket, f.key, ds=ds, status="quarantined")
    _remove_stale_raw(s3, raw_bucket, layout.raw_prefix(source, table, ds), parts)
    return parts


def _header_diff(header: list[str], contract) -> str:
    """The header's missing and unexpected columns against the contract, when they differ."""
    if contract is None:
        return ""
    missing = [c for c in contract.columns if c not in header]
    unexpected = [c for c in header if c not in contract.columns]
    diff = []
    if missing:
        diff.append(f"missing column(s) {missing}")
    if unexpected:
        diff.append(f"unexpected column(s) {unexpected}")
    return f"; the header does not match the suite's columns: {', '.join(diff)}" if diff else ""


def _quarantine_unreadable(s3, landing_bucket: str, raw_bucket: str, f, source: str, table: str, ds: str, reason: str):
    """Copy an unreadable landing file as delivered, with its reason, under the quarantine prefix."""
    data_key, result_key = layout.quarantine_keys(source, table, ds, f.part, data_suffix=".csv")
    s3.copy_object(Bucket=raw_bucket, Key=data_key, CopySource={"Bucket": landing_bucket, "Key": f.key})
    result = {
        "success": False,
        "readable": False,
        "landing_key": f"s3://{landing_bucket}/{f.key}",
        "sha256": f.sha256,
        "bytes": f.size,
        "header": f.header[:200],
        "reason": reason,
    }
    put_json(s3, raw_bucket, result_key, result)
    log.warning(
        "quarantined unreadable s3://%s/%s at s3://%s/%s: %s", landing_bucket, f.key, raw_bucket, data_key, reason
    )
    return {
        "part": f.part,
        "landing_key": f.key,
        "landing_sha256": f.sha256,
        "rows": 0,
        "columns": f.header[:200],
        "unreadable": reason,
        "message": f"partition {source}/{table}/ds={ds} file {f.key}: unreadable, quarantined on its own: {reason}",
        "quarantine": {"data": f"s3://{raw_bucket}/{data_key}", "validation": f"s3://{raw_bucket}/{result_key}"},
        "failures": [f"unreadable: {reason}"],
    }


def _remove_stale_raw(s3, raw_bucket: str, prefix: str, parts: list[dict]) -> None:
    """Delete raw objects of the interval that this extraction did not write.

    A rerun may write fewer objects than before (fewer rows, or landing files the interval
    no longer owns); what it left behind would otherwise linger as leftovers.
    """
    wanted = {p["key"] for p in parts if p.get("key")}
    for obj in list_keys(s3, raw_bucket, prefix):
        if obj["Key"] not in wanted:
            s3.delete_object(Bucket=raw_bucket, Key=obj["Key"])


def _read_parquet(path: str):
    import pandas as pd

    return pd.read_parquet(path)


def validate_parts(
    s3, *, raw_bucket: str, parts: list[dict], suite_path, source: str, table: str, ds: str
) -> ValidationReport:
    """Validate each raw part; quarantine the rejected ones with their validation result.

    `suite_path` is a suite file, or a suite document (a dict) for a suite generated from
    configuration (mlops.serving.capture); either way it must carry its column contract."""
    if isinstance(suite_path, dict):
        suite_doc = suite_path
        column_contract(suite_doc, f"generated suite for {source}/{table}")
    else:
        suite_doc = load_suite_document(suite_path)
    report = ValidationReport()
    for p in parts:
        if p.get("unreadable"):  # quarantined by the extraction already
            report.rejected.append(p)
            continue
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
                s3,
                raw_bucket=raw_bucket,
                raw_key=p["key"],
                source=source,
                table=table,
                ds=ds,
                part=entry["part"],
                validation=outcome.to_dict(),
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
    *,
    raw_bucket: str,
    curated_bucket: str,
    accepted: list[dict],
    dataset: str,
    ds: str,
    interval: tuple[str, str],
    key_column: str,
    changed_at: str | None,
    source: str,
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
        s3,
        raw_bucket=raw_bucket,
        parts=parts,
        curated_bucket=curated_bucket,
        dataset=dataset,
        ds=ds,
        interval=interval,
        columns=columns,
        key_column=key_column,
        changed_at=changed_at,
        source=source,
    )
