"""Captured predictions: SageMaker's data capture JSONL, written and read, as one flat table per model.

A capture file holds one JSON object per line (SageMaker's documented format):

    {"captureData": {"endpointInput":  {"observedContentType": "text/csv", "mode": "INPUT",
                                        "data": "0.1,0.2,...", "encoding": "CSV"},
                     "endpointOutput": {"observedContentType": "application/json", "mode": "OUTPUT",
                                        "data": "{\"predictions\": [...]}", "encoding": "JSON"}},
     "eventMetadata": {"eventId": "<uuid>", "inferenceId": "<the request's InferenceId>",
                       "inferenceTime": "2026-12-01T10:00:00Z"},
     "eventVersion": "0"}

under `<DestinationS3Uri>/<endpoint>/<variant>/yyyy/mm/dd/hh/<file>.jsonl` (mlops.lake.layout).
Endpoints with data capture write them themselves; for the others (AWS Serverless Inference
cannot capture) mlops.serving.predict writes the same records after the answers came back
(`write_records`), so every prediction made through the platform's client is captured.

`extract_capture_interval` turns the files of one data interval into raw Parquet, one row per
predicted row: a request may carry several rows, each becomes its own row with its index in the
request (`row`), matched with the answer's row. The join key with ground truth is
(inference_id, row). A record that cannot be read (not JSON, undecodable data, a row count
that differs between input and output, a feature that is not a number) is never dropped
silently: the interval's batch is rejected through the quarantine path, with each bad record
named, and nothing is published. A request the model refused (a 4XX answer, no predictions)
made no prediction: it is counted and logged, not a row.

Model versions come from the variant name (deployment names a version's variant `v1-0-3` for
V1.0.3, mlops.deployment.requests.variant_name).
"""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import math
import re
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from mlops.aws.s3 import list_keys, put_json
from mlops.lake import layout

log = logging.getLogger(__name__)

SOURCE = "capture"  # raw layout: s3://<raw>/capture/<model>/ds=<day>/data-00000.parquet
DATASET_PREFIX = "predictions_"
TOP_K = 3  # the handler answers the 3 most likely classes (mlops.training.config.TOP_K)
CHANGED_AT = "inference_time"
KEY = ["inference_id", "row"]  # the manifest's key: the join key with ground truth
JSON_TYPE = "application/json"
CSV_TYPE = "text/csv"
EVENT_VERSION = "0"
_VARIANT_VERSION = re.compile(r"^v([a-z0-9]+)-(\d+)-(\d+)$")
_BAD_SHOWN = 20  # bad records named in the message (all of them go to the quarantine file)


def dataset_name(model: str) -> str:
    return f"{DATASET_PREFIX}{model}"


def model_version(variant: str) -> str | None:
    """V1.0.3 from the variant `v1-0-3`; None for a variant not named by a version."""
    m = _VARIANT_VERSION.match(variant)
    return f"V{m.group(1)}.{m.group(2)}.{m.group(3)}" if m else None


# --- the table's schema and its suite -----------------------------------------------------------


@dataclass(frozen=True)
class PredictionSchema:
    """The columns of predictions_<model>: identity, the model's features, the model's outputs."""

    model: str
    problem_type: str  # regression | classification
    features: tuple[str, ...]
    label_type: str = "str"  # classification: int64 | float64 | str, as the training dataset declares the label

    @property
    def dataset(self) -> str:
        return dataset_name(self.model)

    def output_types(self) -> dict[str, str]:
        if self.problem_type == "regression":
            return {"prediction": "float64"}
        out = {"predicted_label": self.label_type, "probability": "float64"}
        # below a model's number of classes there is no k-th class: nullable (pandas' Int64 for ints)
        nullable = "Int64" if self.label_type == "int64" else self.label_type
        for k in range(2, TOP_K + 1):
            out |= {f"top{k}_label": nullable, f"top{k}_probability": "float64"}
        return out

    def types(self) -> dict[str, str]:
        identity = {
            "inference_id": "str",
            "event_id": "str",
            "row": "int64",
            "variant": "str",
            "model_version": "str",
            "inference_time": "Timestamp",
        }
        return identity | {f: "float64" for f in self.features} | self.output_types()

    @property
    def columns(self) -> list[str]:
        return list(self.types())

    def suite(self) -> dict:
        """The expectation suite of predictions_<model>, generated: column contract with types, the
        identity and outputs never null, probabilities in [0, 1], one row per (event, row)."""
        types = self.types()
        exp = [{"type": "expect_table_columns_to_match_ordered_list", "kwargs": {"column_list": list(types)}}]
        for column, type_ in types.items():
            gx_type = "int" if type_ == "Int64" else type_  # GX names a nullable integer column's type `int`
            exp.append({"type": "expect_column_values_to_be_of_type", "kwargs": {"column": column, "type_": gx_type}})
        required = ["inference_id", "event_id", "row", "variant", "inference_time"]
        required += ["prediction"] if self.problem_type == "regression" else ["predicted_label", "probability"]
        for column in required:
            exp.append({"type": "expect_column_values_to_not_be_null", "kwargs": {"column": column, "mostly": 1.0}})
        exp.append({"type": "expect_column_values_to_be_between", "kwargs": {"column": "row", "min_value": 0}})
        for column in (c for c in types if c == "probability" or c.endswith("_probability")):
            exp.append(
                {
                    "type": "expect_column_values_to_be_between",
                    "kwargs": {"column": column, "min_value": 0.0, "max_value": 1.0},
                }
            )
        exp.append({"type": "expect_compound_columns_to_be_unique", "kwargs": {"column_list": ["event_id", "row"]}})
        return {
            "name": self.dataset,
            "meta": {"notes": f"generated from include/models/{self.model}.yaml by mlops.serving.capture"},
            "expectations": exp,
        }


def _label_type(declared: list[str]) -> str:
    if declared and all("int" in t for t in declared):
        return "int64"
    if declared and all(t in ("float", "float32", "float64", "double") for t in declared):
        return "float64"
    return "str"


def _label_suite(dataset: str) -> Path | None:
    """The suite of the source table feeding `dataset`. Source files are read one by one, so a
    broken one (its DAG a config-error stand-in) does not break the predictions DAGs; if none that
    loads feeds the dataset, the suite named after it (a table's default)."""
    from mlops.ingestion.config import EXPECTATIONS_DIR, SOURCES_DIR, load_source
    from mlops.project import ConfigError

    for path in sorted(SOURCES_DIR.glob("*.yaml")):
        try:
            source = load_source(path)
        except ConfigError:
            continue
        for table in source.tables:
            if table.dataset == dataset:
                return table.suite_path
    fallback = EXPECTATIONS_DIR / f"{dataset}.json"
    return fallback if fallback.is_file() else None


def schema_for(model) -> PredictionSchema:
    """The schema of a model (a mlops.training.config.ModelConfig); a classifier's labels take the
    type its first training dataset's suite declares for the label (so they join with it as they are)."""
    label_type = "str"
    if model.problem_type == "classification":
        from mlops.ingestion.validate import column_contract, load_suite_document

        suite = _label_suite(model.datasets[0])
        if suite is not None and suite.is_file():
            label_type = _label_type(column_contract(load_suite_document(suite)).types.get(model.label))
    return PredictionSchema(model.name, model.problem_type, tuple(model.features), label_type)


# --- writing capture records (client-side capture) ---------------------------------------------


def _encoding(content_type: str) -> str:
    media = content_type.split(";")[0].strip().lower()
    return {JSON_TYPE: "JSON", CSV_TYPE: "CSV"}.get(media, "BASE64")


def _payload(body: bytes, content_type: str, mode: str) -> dict:
    encoding = _encoding(content_type)
    data = base64.b64encode(body).decode() if encoding == "BASE64" else body.decode()
    return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}


def capture_record(
    request: bytes,
    content_type: str,
    response: bytes,
    response_type: str,
    inference_id: str,
    when: datetime,
    event_id: str | None = None,
) -> dict:
    """One request and its answer as SageMaker's data capture records them."""
    return {
        "captureData": {
            "endpointInput": _payload(request, content_type, "INPUT"),
            "endpointOutput": _payload(response, response_type, "OUTPUT"),
        },
        "eventMetadata": {
            "eventId": event_id or str(uuid.uuid4()),
            "inferenceId": inference_id,
            "inferenceTime": when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        },
        "eventVersion": EVENT_VERSION,
    }


def write_records(s3, bucket: str, capture_prefix: str, endpoint: str, records: list[tuple[str, dict]]) -> list[str]:
    """Write (variant, record) pairs as capture files, one object per variant and hour (a batch,
    as SageMaker buffers its own); returns the keys. Files are named like SageMaker's
    (`<mm>-<ss>-<mmm>-<uuid>.jsonl`, the first record's time) so two writers never collide."""
    groups: dict[tuple[str, datetime], list[dict]] = defaultdict(list)
    for variant, record in records:
        when = _parse_time(record["eventMetadata"]["inferenceTime"])
        groups[(variant, when.replace(minute=0, second=0, microsecond=0))].append(record)
    keys = []
    for (variant, hour), batch in sorted(groups.items()):
        first = _parse_time(batch[0]["eventMetadata"]["inferenceTime"])
        name = f"{first:%M-%S}-{first.microsecond // 1000:03d}-{uuid.uuid4()}.jsonl"
        key = layout.capture_hour_prefix(capture_prefix, endpoint, variant, hour) + name
        body = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in batch).encode()
        s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/jsonl")
        keys.append(key)
    return keys


# --- reading capture records --------------------------------------------------------------------


class BadRecord(ValueError):
    """A capture record that cannot become rows; the message says why."""


@dataclass
class CaptureBatch:
    """The rows of one interval's capture files, and what could not be read."""

    rows: list[dict] = field(default_factory=list)
    bad: list[dict] = field(default_factory=list)  # {"file", "line", "reason", "text"}
    refused: int = 0  # requests the model answered with an error: no prediction was made
    records: int = 0
    files: list[str] = field(default_factory=list)


def _parse_time(text: str) -> datetime:
    when = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _decode(payload, what: str):
    """(media type, text) of a captured input or output."""
    if not isinstance(payload, dict) or "data" not in payload:
        raise BadRecord(f"captureData.{what} has no data")
    media = str(payload.get("observedContentType") or "").split(";")[0].strip().lower()
    data, encoding = payload["data"], str(payload.get("encoding") or "").upper()
    if encoding == "BASE64":
        try:
            data = base64.b64decode(str(data), validate=True).decode("utf-8")
        except (ValueError, UnicodeDecodeError) as err:
            raise BadRecord(f"captureData.{what}: BASE64 data does not decode to UTF-8 text: {err}") from None
    elif encoding == "JSON":
        media = media or JSON_TYPE
        if not isinstance(data, str):  # data embedded as JSON rather than as text
            data = json.dumps(data)
    elif encoding == "CSV":
        media = media or CSV_TYPE
    else:
        raise BadRecord(f"captureData.{what}: unknown encoding {payload.get('encoding')!r}")
    if media not in (JSON_TYPE, CSV_TYPE):
        raise BadRecord(f"captureData.{what}: content type {media!r} is neither {JSON_TYPE} nor {CSV_TYPE}")
    return media, data


def _number(value, feature: str, row: int) -> float:
    if value is None or value == "":
        return math.nan
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise BadRecord(f"input row {row}: feature {feature!r} is {value!r}, not a number")
    try:
        return float(value)
    except ValueError:
        raise BadRecord(f"input row {row}: feature {feature!r} is {value!r}, not a number") from None


def _row_values(row, features: tuple[str, ...], index: int) -> list[float]:
    if isinstance(row, dict):
        missing = [f for f in features if f not in row]
        if missing:
            raise BadRecord(f"input row {index}: missing feature(s) {missing[:5]}")
        return [_number(row[f], f, index) for f in features]
    if not isinstance(row, list) or len(row) != len(features):
        size = len(row) if isinstance(row, list) else "not a list of"
        raise BadRecord(f"input row {index}: {size} values for the model's {len(features)} features")
    return [_number(v, f, index) for f, v in zip(features, row, strict=True)]


def input_rows(media: str, text: str, features: tuple[str, ...]) -> list[list[float]]:
    """The request's rows in feature order, in the shapes the inference handler takes."""
    if media == JSON_TYPE:
        try:
            doc = json.loads(text)
        except ValueError as err:
            raise BadRecord(f"input is not JSON: {err}") from None
        if isinstance(doc, dict):
            doc = doc["instances"] if "instances" in doc else [doc]
        if not isinstance(doc, list):
            raise BadRecord("input JSON is neither a list of rows or records, one record, nor {'instances': [...]}")
        if doc and not isinstance(doc[0], (list, dict)):
            doc = [doc]  # one row of values
        return [_row_values(r, features, i) for i, r in enumerate(doc)]
    try:
        cells = [r for r in csv.reader(io.StringIO(text)) if r]
    except csv.Error as err:
        raise BadRecord(f"input is not CSV: {err}") from None
    if cells and set(c.strip() for c in cells[0]) == set(features):  # a header naming the features
        header = [c.strip() for c in cells[0]]
        return [_row_values(dict(zip(header, r, strict=False)), features, i) for i, r in enumerate(cells[1:])]
    return [_row_values(r, features, i) for i, r in enumerate(cells)]


class Refused(Exception):
    """The model answered with an error instead of predictions."""


def output_rows(media: str, text: str, schema: PredictionSchema) -> list[dict]:
    """The answer's rows as output columns."""
    try:
        doc = json.loads(text) if media == JSON_TYPE else None
    except ValueError as err:
        raise BadRecord(f"output is not JSON: {err}") from None
    if isinstance(doc, dict) and "predictions" not in doc and ("error" in doc or "message" in doc):
        raise Refused(str(doc.get("message") or doc.get("error")))
    items = doc.get("predictions") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise BadRecord("output is not the handler's JSON {'predictions': [...]}")
    out = []
    for i, item in enumerate(items):
        if schema.problem_type == "regression":
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                raise BadRecord(f"output row {i}: {item!r} is not a number (regression)")
            out.append({"prediction": float(item)})
            continue
        ranked = item.get("top_classes") if isinstance(item, dict) else None
        if not isinstance(ranked, list) or not ranked:
            raise BadRecord(f"output row {i}: no top_classes (classification)")
        row: dict = {}
        for k in range(1, TOP_K + 1):
            label_col, prob_col = (
                ("predicted_label", "probability") if k == 1 else (f"top{k}_label", f"top{k}_probability")
            )
            entry = ranked[k - 1] if k <= len(ranked) else {}
            if not isinstance(entry, dict):
                raise BadRecord(f"output row {i}: top_classes[{k - 1}] is {entry!r}")
            row[label_col] = entry.get("label")
            row[prob_col] = entry.get("probability")
        out.append(row)
    return out


def parse_record(line: str, schema: PredictionSchema, variant: str) -> list[dict]:
    """The rows of one capture record (one per input row); BadRecord or Refused when it has none."""
    try:
        record = json.loads(line)
    except ValueError as err:
        raise BadRecord(f"not JSON: {err}") from None
    capture = record.get("captureData") if isinstance(record, dict) else None
    meta = record.get("eventMetadata") if isinstance(record, dict) else None
    if not isinstance(capture, dict) or not isinstance(meta, dict):
        raise BadRecord("not a capture record (no captureData / eventMetadata)")
    event_id = meta.get("eventId")
    if not event_id:
        raise BadRecord("eventMetadata has no eventId")
    try:
        when = _parse_time(meta.get("inferenceTime"))
    except (TypeError, ValueError):
        raise BadRecord(f"eventMetadata.inferenceTime {meta.get('inferenceTime')!r} is not an ISO 8601 time") from None
    # the answer first: a request the model refused need not hold readable rows
    outputs = output_rows(*_decode(capture.get("endpointOutput"), "endpointOutput"), schema)
    inputs = input_rows(*_decode(capture.get("endpointInput"), "endpointInput"), schema.features)
    if len(inputs) != len(outputs):
        raise BadRecord(f"{len(inputs)} input row(s) but {len(outputs)} output row(s)")
    identity = {
        # a request sent without an InferenceId is keyed by its eventId
        "inference_id": str(meta.get("inferenceId") or event_id),
        "event_id": str(event_id),
        "variant": variant,
        "model_version": model_version(variant),
        "inference_time": when,
    }
    return [
        identity | {"row": i} | dict(zip(schema.features, values, strict=True)) | answer
        for i, (values, answer) in enumerate(zip(inputs, outputs, strict=True))
    ]


def _hours(start: datetime, end: datetime) -> set[tuple[int, int, int, int]]:
    hour, out = start.astimezone(UTC).replace(minute=0, second=0, microsecond=0), set()
    if hour < start:
        hour += timedelta(hours=1)  # an hour folder belongs to the interval its start falls in
    while hour < end:
        out.add((hour.year, hour.month, hour.day, hour.hour))
        hour += timedelta(hours=1)
    return out


def interval_files(s3, bucket: str, capture_prefix: str, endpoint: str, start: datetime, end: datetime) -> list[dict]:
    """Capture files (list_objects entries with their `variant`) whose hour folder falls in [start, end)."""
    prefix = layout.capture_endpoint_prefix(capture_prefix, endpoint)
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix, Delimiter="/")
    variants = sorted(p["Prefix"][len(prefix) :].rstrip("/") for page in pages for p in page.get("CommonPrefixes", []))
    hours = _hours(start, end)
    days = sorted({date(y, m, d) for y, m, d, _ in hours})
    files = []
    for variant in variants:
        for day in days:
            for obj in list_keys(s3, bucket, layout.capture_day_prefix(capture_prefix, endpoint, variant, day)):
                if obj["Key"].endswith(".jsonl") and layout.capture_hour_of(obj["Key"]) in hours:
                    files.append(obj | {"variant": variant})
    return sorted(files, key=lambda f: f["Key"])


def read_interval(
    s3, bucket: str, capture_prefix: str, endpoint: str, start: datetime, end: datetime, schema: PredictionSchema
) -> CaptureBatch:
    """Every row of the interval's capture files, and every record that could not be read."""
    batch = CaptureBatch()
    for f in interval_files(s3, bucket, capture_prefix, endpoint, start, end):
        batch.files.append(f["Key"])
        body = s3.get_object(Bucket=bucket, Key=f["Key"])["Body"].read()
        try:
            lines = body.decode("utf-8").splitlines()
        except UnicodeDecodeError as err:
            batch.bad.append({"file": f"s3://{bucket}/{f['Key']}", "line": None, "reason": f"not UTF-8: {err}"})
            continue
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            batch.records += 1
            try:
                batch.rows += parse_record(line, schema, f["variant"])
            except Refused as why:
                batch.refused += 1
                log.info("s3://%s/%s line %d: the model refused the request: %s", bucket, f["Key"], number, why)
            except BadRecord as err:
                batch.bad.append(
                    {"file": f"s3://{bucket}/{f['Key']}", "line": number, "reason": str(err), "text": line}
                )
    return batch


def to_frame(rows: list[dict], schema: PredictionSchema):
    """The rows as a typed DataFrame in the schema's column order, sorted (so reruns write the same bytes)."""
    import pandas as pd

    df = pd.DataFrame(rows, columns=schema.columns)
    df = df.sort_values(["inference_time", "event_id", "row"], kind="stable").reset_index(drop=True)
    for column, type_ in schema.types().items():
        if type_ == "Timestamp":
            df[column] = pd.to_datetime(df[column], utc=True).astype("datetime64[us, UTC]")
        elif type_ == "float64":
            df[column] = pd.to_numeric(df[column], errors="coerce").astype("float64")
        elif type_ == "int64":
            df[column] = df[column].astype("int64") if df[column].notna().all() else df[column].astype("Int64")
        elif type_ == "Int64":
            df[column] = df[column].astype("Int64")
        else:
            df[column] = df[column].map(lambda v: None if v is None or v != v else str(v)).astype(object)
    return df


# --- the ingestion step -------------------------------------------------------------------------


def _parquet_bytes(df) -> bytes:
    import pyarrow as pa
    import pyarrow.parquet as pq

    out = io.BytesIO()
    pq.write_table(pa.Table.from_pandas(df, preserve_index=False), out, compression="snappy")
    return out.getvalue()


def extract_capture_interval(
    s3,
    capture_bucket: str,
    capture_prefix: str,
    endpoint: str,
    raw_bucket: str,
    schema: PredictionSchema,
    ds: str,
    start: datetime,
    end: datetime,
    rows_per_file: int | None = None,
) -> list[dict]:
    """The interval's capture files as raw Parquet `capture/<model>/ds=<ds>/data-00000.parquet`, ...

    Returns the parts as mlops.ingestion.steps.validate_parts takes them. Bad records make one more
    part, already rejected: the records themselves go to `_quarantine/capture/<model>/ds=<ds>/
    bad-records.jsonl` with the reasons in `bad-records.validation.json`, so validation rejects the
    batch and publish never runs on it.
    """
    from mlops.ingestion.extract import FILE_ROWS

    rows_per_file = rows_per_file or FILE_ROWS
    batch = read_interval(s3, capture_bucket, capture_prefix, endpoint, start, end, schema)
    log.info(
        "ds=%s: %d capture file(s), %d record(s), %d row(s), %d refused request(s), %d bad record(s)",
        ds,
        len(batch.files),
        batch.records,
        len(batch.rows),
        batch.refused,
        len(batch.bad),
    )
    df = to_frame(batch.rows, schema)
    parts = []
    for number, first in enumerate(range(0, len(df), rows_per_file)):
        part = layout.data_part(number)
        key = layout.raw_key(SOURCE, schema.model, ds, part)
        s3.put_object(Bucket=raw_bucket, Key=key, Body=_parquet_bytes(df.iloc[first : first + rows_per_file]))
        rows = min(rows_per_file, len(df) - first)
        parts.append({"bucket": raw_bucket, "key": key, "rows": rows, "columns": schema.columns, "part": part})
    wanted = {p["key"] for p in parts}
    for obj in list(list_keys(s3, raw_bucket, layout.raw_prefix(SOURCE, schema.model, ds))):
        if obj["Key"] not in wanted:  # a rerun that found fewer rows leaves no stale part behind
            s3.delete_object(Bucket=raw_bucket, Key=obj["Key"])
    if batch.bad:
        parts.append(_quarantine_bad_records(s3, raw_bucket, schema, ds, batch))
    return parts


def _quarantine_bad_records(s3, raw_bucket: str, schema: PredictionSchema, ds: str, batch: CaptureBatch) -> dict:
    data_key, result_key = layout.quarantine_keys(SOURCE, schema.model, ds, "bad-records", data_suffix=".jsonl")
    body = "".join((b.get("text") or "") + "\n" for b in batch.bad).encode()
    s3.put_object(Bucket=raw_bucket, Key=data_key, Body=body, ContentType="application/jsonl")
    reasons = [f"{b['file']} line {b['line']}: {b['reason']}" for b in batch.bad]
    put_json(
        s3,
        raw_bucket,
        result_key,
        {"success": False, "records": batch.records, "bad_records": len(batch.bad), "reasons": reasons},
    )
    shown = "\n".join(f"  - {r}" for r in reasons[:_BAD_SHOWN])
    more = f"\n  ... and {len(reasons) - _BAD_SHOWN} more" if len(reasons) > _BAD_SHOWN else ""
    message = (
        f"partition {SOURCE}/{schema.model}/ds={ds}: {len(batch.bad)} of {batch.records} capture record(s) could "
        f"not be read; the interval's batch is rejected and {schema.dataset} is not changed:\n{shown}{more}"
    )
    log.warning(message)
    return {
        "part": "bad-records",
        "rows": 0,
        "columns": schema.columns,
        "unreadable": f"{len(batch.bad)} bad capture record(s)",
        "message": message,
        "quarantine": {"data": f"s3://{raw_bucket}/{data_key}", "validation": f"s3://{raw_bucket}/{result_key}"},
        "failures": reasons,
    }
