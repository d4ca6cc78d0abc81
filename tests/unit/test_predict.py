"""mlops.serving.predict against a small loopback server that speaks InvokeEndpoint's rest-json
(`POST /endpoints/{name}/invocations`, the InferenceId / invoked-variant headers, ModelError 424
with OriginalStatusCode and OriginalMessage) and DescribeEndpoint's json 1.1, as SageMaker does."""

from __future__ import annotations

import csv
import io
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import boto3
import pytest

from mlops.serving import predict as serving
from mlops.training.config import MODELS_DIR, load_model

DIGITS = load_model(MODELS_DIR / "digits_classifier.yaml").features
DIABETES = load_model(MODELS_DIR / "diabetes_progression.yaml").features
ACCOUNT = "123456789012"


class FakeSageMaker(BaseHTTPRequestHandler):
    """digits-classifier (instance, classification), diabetes-progression (regression) and
    starting-up (Creating); every other endpoint does not exist."""

    received: list = []

    def log_message(self, *args):  # keep pytest output clean
        pass

    def _reply(self, status: int, body, headers: dict | None = None):
        data = json.dumps(body).encode()
        self.send_response(status)
        for k, v in {"Content-Type": "application/json", "x-amzn-RequestId": "r-1", **(headers or {})}.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def _error(self, status: int, code: str, message: str, **members):
        self._reply(status, {"ErrorCode": code, "Message": message, **members}, {"x-amzn-ErrorType": code})

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = self.headers.get("X-Amz-Target", "")
        if target == "SageMaker.DescribeEndpoint":
            name = json.loads(body)["EndpointName"]
            if name != "starting-up":
                return self._reply(
                    400,
                    {"__type": "ValidationException", "message": f'Could not find endpoint "{name}".'},
                    {"x-amzn-ErrorType": "ValidationException"},
                )
            return self._reply(
                200,
                {
                    "EndpointName": name,
                    "EndpointArn": f"arn:aws:sagemaker:us-east-1:{ACCOUNT}:endpoint/{name}",
                    "EndpointConfigName": "c1",
                    "EndpointStatus": "Creating",
                    "CreationTime": 1767225600,
                    "LastModifiedTime": 1767225600,
                },
            )
        name = self.path.split("/")[2]
        content_type = self.headers.get("Content-Type")
        FakeSageMaker.received.append((name, self.headers.get("X-Amzn-SageMaker-Inference-Id"), content_type, body))
        if name == "starting-up":
            return self._error(400, "ValidationError", f"Endpoint {name} of account {ACCOUNT} not found.")
        features = {"digits-classifier": DIGITS, "diabetes-progression": DIABETES}.get(name)
        if features is None:
            return self._error(400, "ValidationError", f"Endpoint {name} of account {ACCOUNT} not found.")
        if content_type == "text/csv":
            (row,) = list(csv.reader(io.StringIO(body.decode())))
            record = dict(zip(features, [float(v) for v in row], strict=False)) if len(row) == len(features) else {}
        else:
            (item,) = json.loads(body)
            record = item if isinstance(item, dict) else dict(zip(features, item, strict=False))
        missing = [f for f in features if f not in record]
        if missing:  # the handler's InvalidInput, relayed as SageMaker relays a container's 4XX
            text = json.dumps({"error": "InvalidInput", "message": f"row 0: missing feature {missing[0]!r}"})
            return self._error(
                424,
                "ModelError",
                f'Received client error (400) from v1-0-0 with message "{text}".',
                OriginalStatusCode=400,
                OriginalMessage=text,
                LogStreamArn=f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws/sagemaker/Endpoints/{name}",
            )
        if name == "diabetes-progression":
            answer = {"predictions": [sum(record[f] for f in features)]}
        else:
            top = int(record["pixel_0"]) % 10
            ranked = [{"label": (top + i) % 10, "probability": p} for i, p in enumerate((0.7, 0.2, 0.05))]
            answer = {"predictions": [{"label": top, "top_classes": ranked}]}
        self._reply(200, answer, {"x-Amzn-Invoked-Production-Variant": "v1-0-0"})


@pytest.fixture(scope="module")
def fake_url():
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeSageMaker)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def clients(fake_url):
    FakeSageMaker.received = []
    return {
        "runtime": boto3.client("sagemaker-runtime", endpoint_url=fake_url, region_name="us-east-1"),
        "sagemaker": boto3.client("sagemaker", endpoint_url=fake_url, region_name="us-east-1"),
    }


def digit_row(first: int) -> dict:
    return {f: (first if f == "pixel_0" else 0) for f in DIGITS}


def test_classification_returns_top_3_with_a_sent_inference_id_per_row(clients):
    rows = [digit_row(i) for i in range(7)]
    got = serving.predict("digits_classifier", rows, concurrency=3, **clients)
    assert [p.label for p in got] == list(range(7))  # in row order
    assert got[2].top_classes == ((2, 0.7), (3, 0.2), (4, 0.05))
    assert {p.variant for p in got} == {"v1-0-0"}
    sent = {ident for _, ident, _, _ in FakeSageMaker.received}
    assert sent == {p.inference_id for p in got} and len(sent) == 7  # one request, one id per row
    assert got[0].to_dict()["top_classes"][0] == {"label": 0, "probability": 0.7}


def test_regression_returns_the_value_and_ids_can_come_from_a_column(clients):
    rows = [{"patient_id": f"p-{i}", **{f: float(i) for f in DIABETES}} for i in range(3)]
    got = serving.predict(
        "diabetes_progression", rows, id_column="patient_id", content_type="text/csv", capture=False, **clients
    )  # client-side capture is tested in test_capture.py
    assert [(p.inference_id, p.value) for p in got] == [("p-0", 0.0), ("p-1", 10.0), ("p-2", 20.0)]
    assert got[1].to_dict() == {"inference_id": "p-1", "variant": "v1-0-0", "value": 10.0}
    # Rows go out concurrently, so find p-0's request by its inference id, not by arrival order.
    [(content_type, body)] = [(t, b) for _, ident, t, b in FakeSageMaker.received if ident == "p-0"]
    assert content_type == "text/csv" and body == b"0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0,0.0\n"  # feature order


def test_a_4xx_from_the_handler_shows_the_handlers_message(clients):
    row = digit_row(1)
    del row["pixel_7"]
    with pytest.raises(
        serving.InvalidInput, match="digits_classifier refused row 0: row 0: missing feature 'pixel_7'"
    ) as e:
        serving.predict("digits_classifier", [row], **clients)
    assert e.value.status == 400


def test_unknown_model_missing_endpoint_and_endpoint_not_in_service(clients):
    with pytest.raises(serving.UnknownModel, match="unknown model 'nope'.*diabetes_progression, digits_classifier"):
        serving.predict("nope", [{}], **clients)
    with pytest.raises(serving.EndpointNotFound, match="has no endpoint gone: deploy it first .DAG deploy_digits"):
        serving.predict("digits_classifier", [digit_row(0)], endpoint="gone", **clients)
    with pytest.raises(serving.EndpointNotInService, match="endpoint starting-up of digits_classifier is Creating"):
        serving.predict("digits_classifier", [digit_row(0)], endpoint="starting-up", **clients)


def test_cli_reads_csv_and_prints_one_json_line_per_row(clients, fake_url, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", fake_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", fake_url)
    path = tmp_path / "rows.csv"
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["image_id", *DIGITS, "label"])
        writer.writeheader()
        for i in (4, 5):
            writer.writerow({"image_id": f"img-{i}", **digit_row(i), "label": i})
    assert serving.main(["digits_classifier", "--csv", str(path), "--id-column", "image_id"]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(d["inference_id"], d["label"]) for d in lines] == [("img-4", 4), ("img-5", 5)]
    assert len(lines[0]["top_classes"]) == 3

    assert serving.main(["digits_classifier", "--json", json.dumps([{"pixel_0": 1}])]) == 2
    assert "refused row 0: row 0: missing feature 'pixel_1'" in capsys.readouterr().err
