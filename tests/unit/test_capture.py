"""Captured predictions become predictions_<model>: capture files in SageMaker's documented format
(written here by hand, as an endpoint writes them) read per data interval, validated with the
generated suite, published through the ingestion path and read back with the scientists' reader;
and mlops.serving.predict's client-side capture writes the same records."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from http.server import ThreadingHTTPServer

import boto3
import pytest

from mlops.deployment.requests import variant_name
from mlops.ingestion.steps import extraction_report, publish_accepted, validate_parts
from mlops.lake.reader import CuratedReader
from mlops.serving import capture
from mlops.serving import predict as serving
from mlops.training.config import MODELS_DIR, load_model
from tests.unit.test_predict import FakeSageMaker

DIGITS = load_model(MODELS_DIR / "digits_classifier.yaml")
DIABETES = load_model(MODELS_DIR / "diabetes_progression.yaml")
PREFIX = "data-capture"
DAY = datetime(2026, 12, 1, tzinfo=UTC)
DS = "2026-12-01"


@pytest.fixture
def lake(s3):
    s3.buckets["artifacts"] = f"artifacts-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=s3.buckets["artifacts"])
    return s3


def payload(data: str, content_type: str, mode: str, encoding: str) -> dict:
    return {"observedContentType": content_type, "mode": mode, "data": data, "encoding": encoding}


def record(inference_id, when: datetime, request: str, content_type: str, answer: dict, *, b64=False) -> dict:
    """One capture record exactly as SageMaker documents it."""
    encoding = "BASE64" if b64 else ("CSV" if content_type == "text/csv" else "JSON")
    data = base64.b64encode(request.encode()).decode() if b64 else request
    meta = {"eventId": str(uuid.uuid4()), "inferenceTime": when.strftime("%Y-%m-%dT%H:%M:%SZ")}
    if inference_id is not None:
        meta["inferenceId"] = inference_id
    return {
        "captureData": {
            "endpointInput": payload(data, content_type, "INPUT", encoding),
            "endpointOutput": payload(json.dumps(answer), "application/json", "OUTPUT", "JSON"),
        },
        "eventMetadata": meta,
        "eventVersion": "0",
    }


def put_capture(s3, endpoint: str, variant: str, when: datetime, lines: list) -> str:
    key = f"{PREFIX}/{endpoint}/{variant}/{when:%Y/%m/%d/%H}/{when:%M-%S}-000-{uuid.uuid4()}.jsonl"
    body = "".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines)
    s3.put_object(Bucket=s3.buckets["artifacts"], Key=key, Body=body.encode())
    return key


def ranked(*labels_probs) -> dict:
    top = [{"label": label, "probability": p} for label, p in labels_probs]
    return {"label": top[0]["label"], "top_classes": top}


def ingest(s3, model, start=DAY, end=DAY + timedelta(days=1), ds=DS):
    """extract -> validate -> publish, as the DAG's three tasks do; returns (report, manifest or None)."""
    schema = capture.schema_for(model)
    endpoint = model.name.replace("_", "-")
    parts = capture.extract_capture_interval(
        s3, s3.buckets["artifacts"], PREFIX, endpoint, s3.buckets["raw"], schema, ds, start, end
    )
    extraction = extraction_report(capture.SOURCE, model.name, ds, parts)
    report = validate_parts(
        s3,
        raw_bucket=s3.buckets["raw"],
        parts=parts,
        suite_path=schema.suite(),
        source=capture.SOURCE,
        table=model.name,
        ds=ds,
    )
    if report.rejected:
        return report, None
    manifest = publish_accepted(
        s3,
        raw_bucket=s3.buckets["raw"],
        curated_bucket=s3.buckets["curated"],
        accepted=report.accepted,
        dataset=schema.dataset,
        ds=ds,
        interval=(start.isoformat(), end.isoformat()),
        key_column=capture.KEY,
        changed_at=capture.CHANGED_AT,
        source=capture.SOURCE,
        extracted_rows=extraction["rows"],
    )
    return report, manifest


def curated_objects(s3) -> dict:
    bucket = s3.buckets["curated"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
    return {k: s3.get_object(Bucket=bucket, Key=k)["Body"].read() for k in sorted(keys)}


def digits_captures(s3):
    pixels = DIGITS.features
    as_records = [{f: float(i) for f in pixels} for i in (1, 2)]
    csv_rows = "\n".join(",".join(str(r + 3) for _ in pixels) for r in range(3)) + "\n"
    t = DAY + timedelta(hours=10, minutes=5)
    put_capture(
        s3,
        "digits-classifier",
        "v1-0-3",
        t,
        [
            record(
                "req-json",
                t,
                json.dumps(as_records),
                "application/json",
                {"predictions": [ranked((1, 0.8), (7, 0.15), (4, 0.05)), ranked((2, 0.6), (3, 0.3), (8, 0.1))]},
            ),
            record(
                "req-csv",
                t + timedelta(seconds=1),
                csv_rows,
                "text/csv",
                {
                    "predictions": [
                        ranked((3, 0.9), (5, 0.05), (8, 0.05)),
                        ranked((4, 0.5), (9, 0.3), (1, 0.2)),
                        ranked((5, 0.7), (6, 0.2), (0, 0.1)),
                    ]
                },
            ),
        ],
    )
    t2 = DAY + timedelta(hours=23, minutes=59)
    put_capture(
        s3,
        "digits-classifier",
        "v1-0-4",  # a second variant of the same endpoint (the rollout issue's shadow)
        t2,
        [
            record(
                "req-b64",
                t2,
                json.dumps({"instances": [[9.0] * 64]}),
                "application/json",
                {"predictions": [ranked((9, 0.99), (8, 0.005), (7, 0.005))]},
                b64=True,
            )
        ],
    )
    # hour folders of the neighbouring days belong to their own intervals
    put_capture(
        s3,
        "digits-classifier",
        "v1-0-3",
        DAY - timedelta(minutes=1),
        [
            record(
                "yesterday",
                DAY - timedelta(minutes=1),
                json.dumps(as_records[:1]),
                "application/json",
                {"predictions": [ranked((1, 0.9), (2, 0.05), (3, 0.05))]},
            )
        ],
    )
    put_capture(
        s3,
        "digits-classifier",
        "v1-0-3",
        DAY + timedelta(days=1),
        [
            record(
                "tomorrow",
                DAY + timedelta(days=1),
                json.dumps(as_records[:1]),
                "application/json",
                {"predictions": [ranked((1, 0.9), (2, 0.05), (3, 0.05))]},
            )
        ],
    )


def test_classification_captures_become_one_row_per_predicted_row(lake):
    digits_captures(lake)
    report, manifest = ingest(lake, DIGITS)
    assert not report.rejected and manifest["rows"] == 6 and manifest["key"] == ["inference_id", "row"]

    df = CuratedReader(bucket=lake.buckets["curated"], s3=lake).load("predictions_digits_classifier", DS, DS)
    assert list(zip(df.inference_id, df.row, strict=True)) == [
        ("req-json", 0),
        ("req-json", 1),
        ("req-csv", 0),
        ("req-csv", 1),
        ("req-csv", 2),
        ("req-b64", 0),
    ]
    assert list(df.predicted_label) == [1, 2, 3, 4, 5, 9] and str(df.predicted_label.dtype) == "int64"
    assert list(df.probability) == [0.8, 0.6, 0.9, 0.5, 0.7, 0.99]
    assert (df.top2_label[1], df.top3_label[1], df.top3_probability[1]) == (3, 8, 0.1)
    assert list(df.variant) == ["v1-0-3"] * 5 + ["v1-0-4"]
    assert list(df.model_version) == ["V1.0.3"] * 5 + ["V1.0.4"]
    assert list(df.pixel_0) == [1.0, 2.0, 3.0, 4.0, 5.0, 9.0] and str(df.pixel_63.dtype) == "float64"
    assert str(df.inference_time.dtype).startswith("datetime64") and str(df.inference_time[5]) == (
        "2026-12-01 23:59:00+00:00"
    )
    assert df.event_id.nunique() == 3 and list(df.columns[:6]) == [
        "inference_id",
        "event_id",
        "row",
        "variant",
        "model_version",
        "inference_time",
    ]


def test_regression_csv_with_header_instances_and_a_request_without_inference_id(lake):
    features = DIABETES.features
    t = DAY + timedelta(hours=3)
    header_csv = ",".join(reversed(features)) + "\n" + ",".join(str(float(i)) for i in range(10)) + "\n"
    no_id = record(None, t, json.dumps({f: 0.5 for f in features}), "application/json", {"predictions": [7.25]})
    put_capture(
        lake,
        "diabetes-progression",
        "v2-1-0",
        t,
        [
            record("p-1", t, header_csv, "text/csv", {"predictions": [151.5]}),
            record(
                "p-2",
                t,
                json.dumps({"instances": [[0.1] * 10, [0.2] * 10]}),
                "application/json",
                {"predictions": [100.0, 200.0]},
            ),
            no_id,
        ],
    )
    report, manifest = ingest(lake, DIABETES)
    assert not report.rejected and manifest["rows"] == 4
    df = CuratedReader(bucket=lake.buckets["curated"], s3=lake).load("predictions_diabetes_progression")
    by_id = {(r.inference_id, r.row): r for r in df.itertuples()}
    assert by_id[("p-1", 0)].prediction == 151.5
    assert by_id[("p-1", 0)].age == 9.0 and by_id[("p-1", 0)].s6_glucose == 0.0  # the header's order, not ours
    assert [by_id[("p-2", i)].prediction for i in (0, 1)] == [100.0, 200.0]
    event = no_id["eventMetadata"]["eventId"]
    assert by_id[(event, 0)].prediction == 7.25  # keyed by its eventId when it has no InferenceId
    assert set(df.model_version) == {"V2.1.0"} and str(df.prediction.dtype) == "float64"
    assert "predicted_label" not in df.columns


def test_a_rerun_of_the_interval_writes_identical_objects(lake):
    digits_captures(lake)
    ingest(lake, DIGITS)
    first = curated_objects(lake)
    ingest(lake, DIGITS)
    assert curated_objects(lake) == first and len(first) == 2  # one data file, one manifest


def test_bad_records_reject_the_batch_with_their_reasons_and_leave_curated_unchanged(lake):
    digits_captures(lake)
    ingest(lake, DIGITS)
    before = curated_objects(lake)
    t = DAY + timedelta(hours=12)
    key = put_capture(
        lake,
        "digits-classifier",
        "v1-0-3",
        t,
        [
            '{"captureData": {"endpointInput": ',  # truncated line
            record(
                "two-in-one-out",
                t,
                json.dumps([[1.0] * 64, [2.0] * 64]),
                "application/json",
                {"predictions": [ranked((1, 0.9), (2, 0.05), (3, 0.05))]},
            ),
        ],
    )
    report, manifest = ingest(lake, DIGITS)
    assert manifest is None and len(report.rejected) == 1
    message = report.rejected[0]["message"]
    assert "capture/digits_classifier/ds=2026-12-01: 2 of 5 capture record(s) could not be read" in message
    assert "predictions_digits_classifier is not changed" in message
    assert f"{key} line 1: not JSON" in message
    assert f"{key} line 2: 2 input row(s) but 1 output row(s)" in message
    raw = lake.buckets["raw"]
    quarantined = lake.get_object(
        Bucket=raw, Key="_quarantine/capture/digits_classifier/ds=2026-12-01/bad-records.jsonl"
    )
    assert quarantined["Body"].read().decode().splitlines()[0] == '{"captureData": {"endpointInput": '
    result = json.loads(
        lake.get_object(
            Bucket=raw, Key="_quarantine/capture/digits_classifier/ds=2026-12-01/bad-records.validation.json"
        )["Body"].read()
    )
    assert result["bad_records"] == 2 and result["records"] == 5
    assert curated_objects(lake) == before


def test_the_generated_suite_rejects_a_probability_above_one(lake):
    t = DAY + timedelta(hours=1)
    put_capture(
        lake,
        "digits-classifier",
        "v1-0-3",
        t,
        [
            record(
                "odd",
                t,
                json.dumps([[1.0] * 64]),
                "application/json",
                {"predictions": [ranked((1, 1.5), (2, 0.05), (3, 0.05))]},
            )
        ],
    )
    report, manifest = ingest(lake, DIGITS)
    assert manifest is None
    assert (
        "expect_column_values_to_be_between on column 'probability': 1 row(s) broke it"
        in (report.rejected[0]["message"])
    )


def test_an_interval_without_captures_publishes_an_empty_partition(lake):
    report, manifest = ingest(lake, DIABETES)
    assert manifest["rows"] == 0 and manifest["files"] == []


def test_a_refused_request_is_counted_not_a_row(lake):
    t = DAY + timedelta(hours=2)
    refused = {"error": "InvalidInput", "message": "row 0: missing feature 'age'"}
    put_capture(
        lake,
        "diabetes-progression",
        "v1-0-0",
        t,
        [record("bad-input", t, json.dumps([{"sex": 1}]), "application/json", refused)],
    )
    batch = capture.read_interval(
        lake,
        lake.buckets["artifacts"],
        PREFIX,
        "diabetes-progression",
        DAY,
        DAY + timedelta(days=1),
        capture.schema_for(DIABETES),
    )
    assert (batch.records, batch.refused, batch.rows, batch.bad) == (1, 1, [], [])


@pytest.mark.parametrize("version", ["V1.0.3", "V12.3.45", "V2b.0.0"])
def test_model_version_reads_back_the_deployments_variant_name(version):
    assert capture.model_version(variant_name(version)) == version
    assert capture.model_version("AllTraffic") is None


# --- client-side capture in mlops.serving.predict ----------------------------------------------


@pytest.fixture
def runtime_clients():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeSageMaker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}"
    FakeSageMaker.received = []
    yield {
        "runtime": boto3.client("sagemaker-runtime", endpoint_url=url, region_name="us-east-1"),
        "sagemaker": boto3.client("sagemaker", endpoint_url=url, region_name="us-east-1"),
    }
    server.shutdown()


def capture_keys(s3, endpoint: str) -> list[str]:
    listed = s3.list_objects_v2(Bucket=s3.buckets["artifacts"], Prefix=f"{PREFIX}/{endpoint}/")
    return [o["Key"] for o in listed.get("Contents", [])]


def test_predict_captures_a_serverless_endpoints_predictions_in_sagemakers_format(lake, runtime_clients, monkeypatch):
    monkeypatch.setenv("MLOPS_ARTIFACTS_BUCKET", lake.buckets["artifacts"])
    rows = [{"patient_id": f"p-{i}", **{f: float(i) for f in DIABETES.features}} for i in range(5)]
    got = serving.predict(
        "diabetes_progression", rows, id_column="patient_id", concurrency=3, s3=lake, **runtime_clients
    )
    keys = capture_keys(lake, "diabetes-progression")
    assert keys and all(k.startswith(f"{PREFIX}/diabetes-progression/v1-0-0/") and k.endswith(".jsonl") for k in keys)
    records = [
        json.loads(line)
        for k in keys
        for line in lake.get_object(Bucket=lake.buckets["artifacts"], Key=k)["Body"].read().decode().splitlines()
    ]
    assert len(records) == 5
    one = records[0]
    assert set(one) == {"captureData", "eventMetadata", "eventVersion"} and one["eventVersion"] == "0"
    assert set(one["captureData"]) == {"endpointInput", "endpointOutput"}
    assert one["captureData"]["endpointInput"]["mode"] == "INPUT"
    assert one["captureData"]["endpointInput"]["encoding"] == "JSON"
    assert one["captureData"]["endpointInput"]["observedContentType"] == "application/json"
    assert set(one["captureData"]["endpointOutput"]) == {"observedContentType", "mode", "data", "encoding"}
    assert set(one["eventMetadata"]) == {"eventId", "inferenceId", "inferenceTime"}
    assert one["eventMetadata"]["inferenceTime"].endswith("Z")

    now = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    batch = capture.read_interval(
        lake,
        lake.buckets["artifacts"],
        PREFIX,
        "diabetes-progression",
        now - timedelta(days=1),
        now + timedelta(days=2),
        capture.schema_for(DIABETES),
    )
    assert not batch.bad
    assert sorted((r["inference_id"], r["prediction"], r["age"]) for r in batch.rows) == sorted(
        (p.inference_id, p.value, float(i)) for i, p in enumerate(got)
    )


def test_predict_does_not_capture_where_the_endpoint_captures_or_when_turned_off(lake, runtime_clients, monkeypatch):
    monkeypatch.setenv("MLOPS_ARTIFACTS_BUCKET", lake.buckets["artifacts"])
    digits = [{f: 0 for f in DIGITS.features}]
    serving.predict("digits_classifier", digits, s3=lake, **runtime_clients)  # the endpoint captures itself
    assert capture_keys(lake, "digits-classifier") == []
    rows = [{f: 1.0 for f in DIABETES.features}]
    serving.predict("diabetes_progression", rows, capture=False, s3=lake, **runtime_clients)
    monkeypatch.setenv("MLOPS_PREDICT_CAPTURE", "off")
    serving.predict("diabetes_progression", rows, s3=lake, **runtime_clients)
    assert capture_keys(lake, "diabetes-progression") == []
