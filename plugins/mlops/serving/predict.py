"""Predictions from a model's production endpoint: `mlops.serving.predict` (Python) and its CLI.

    python -m mlops.serving.predict digits_classifier --csv rows.csv [--id-column image_id]
    python -m mlops.serving.predict diabetes_progression --json '[{"age": 0.03, ...}]'

Each row is one InvokeEndpoint request with its own InferenceId: SageMaker's InferenceId and its
data capture record are per request, so a request per row is what lets every prediction be
joined with its ground truth later (the monitoring issue). Throughput comes from several
requests in flight at once over pooled connections (`concurrency`, MLOPS_PREDICT_CONCURRENCY),
not from packing rows into one request. The InferenceId is the row's `id_column` value when
given (a key the ground truth will carry), else a fresh uuid4; either way it is returned.

Answers: for classification the most likely class and the top 3 classes with their
probabilities, for regression the value (the handler in include/training/inference.py answers
`{"predictions": [...]}`). The same boto3 `sagemaker-runtime` calls work against AWS and the
local SageMaker plane (AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME points boto3 at the latter).

Client-side capture: an endpoint whose model file turns data capture off (serverless endpoints:
AWS cannot capture from them) records nothing itself, so `predict` writes each request and its
answer in SageMaker's capture format (mlops.serving.capture) under the same
`s3://<artifacts>/<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/` layout, one object per variant
and hour, after all answers came back. Every prediction made through this client thus reaches
predictions_<model>; predictions other clients request from such an endpoint are not captured.
MLOPS_PREDICT_CAPTURE=off (or `capture=False`) turns it off. A capture that cannot be written
is logged as a warning and the answers are still returned.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import logging
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from mlops.project import ConfigError
from mlops.registry.packages import endpoint_name
from mlops.serving import capture as capture_format
from mlops.settings import Settings

log = logging.getLogger(__name__)

JSON = "application/json"
CSV = "text/csv"
INFERENCE_ID_MAX = 64  # InvokeEndpoint's InferenceId: 1-64 printable characters


class PredictError(RuntimeError):
    """A prediction could not be made; the message says why and what to do."""


class UnknownModel(PredictError):
    pass


class EndpointNotFound(PredictError):
    pass


class EndpointNotInService(PredictError):
    pass


class InvalidInput(PredictError):
    """The model's handler refused the request (4XX); the message is the handler's."""

    def __init__(self, message: str, status: int | None = None, row: int | None = None):
        self.status, self.row = status, row
        super().__init__(message)


class ModelServerError(PredictError):
    """The model server failed (5XX) or the endpoint could not take the request."""


@dataclass(frozen=True)
class Prediction:
    inference_id: str
    variant: str  # the production variant that answered
    value: float | None = None  # regression
    label: object = None  # classification: the most likely class
    top_classes: tuple[tuple[object, float], ...] = field(default=())  # classification, most likely first

    def to_dict(self) -> dict:
        out: dict = {"inference_id": self.inference_id, "variant": self.variant}
        if self.top_classes:
            out["label"] = self.label
            out["top_classes"] = [{"label": label, "probability": p} for label, p in self.top_classes]
        else:
            out["value"] = self.value
        return out


def _features(model: str) -> tuple[str, ...]:
    from mlops.training.config import MODELS_DIR, load_model

    path = MODELS_DIR / f"{model}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in MODELS_DIR.glob("*.yaml"))) or "none"
        raise UnknownModel(f"unknown model {model!r}: there is no include/models/{model}.yaml (models: {known})")
    try:
        return load_model(path).features
    except ConfigError as err:
        raise UnknownModel(f"model {model!r} has an invalid configuration: {err}") from None


def _clients(concurrency: int):
    import boto3
    from botocore.config import Config

    config = Config(retries={"mode": "standard", "max_attempts": 5}, max_pool_connections=max(concurrency, 10))
    return boto3.client("sagemaker-runtime", config=config), boto3.client("sagemaker", config=config)


def _inference_id(value) -> str:
    text = str(value)
    if not 1 <= len(text) <= INFERENCE_ID_MAX or not text.isprintable() or text[0].isspace():
        raise InvalidInput(f"inference id {text!r} must be 1-{INFERENCE_ID_MAX} printable characters")
    return text


def _body(row, features: tuple[str, ...], content_type: str) -> bytes:
    if content_type == JSON:
        return json.dumps([row], separators=(",", ":")).encode()
    if isinstance(row, dict):
        missing = [f for f in features if f not in row]
        if missing:
            raise InvalidInput(f"missing feature(s) {missing}; the model takes {list(features)}")
        row = [row[f] for f in features]
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(["" if v is None else v for v in row])
    return out.getvalue().encode()


def _answer(body: bytes, inference_id: str, variant: str) -> Prediction:
    doc = json.loads(body)
    items = doc.get("predictions") if isinstance(doc, dict) else None
    if not isinstance(items, list) or len(items) != 1:
        raise ModelServerError(f"the endpoint answered {body[:200]!r}, not one prediction under 'predictions'")
    item = items[0]
    if isinstance(item, dict):
        ranked = tuple((c["label"], float(c["probability"])) for c in item.get("top_classes", ()))
        return Prediction(inference_id, variant, label=item.get("label"), top_classes=ranked)
    return Prediction(inference_id, variant, value=float(item))


def _handler_message(text: str) -> str:
    try:
        doc = json.loads(text)
    except ValueError:
        return text
    return doc.get("message", text) if isinstance(doc, dict) else text


def _explain(err, endpoint: str, model: str, sagemaker, row: int) -> PredictError:
    """A client error of InvokeEndpoint as the PredictError a user can act on."""
    response = err.response
    code = response.get("Error", {}).get("Code", "")
    message = response.get("Error", {}).get("Message", "")
    if code == "ModelError":
        status = response.get("OriginalStatusCode")
        original = _handler_message(response.get("OriginalMessage") or message)
        if status is not None and 400 <= int(status) < 500:
            return InvalidInput(f"{model} refused row {row}: {original}", int(status), row)
        return ModelServerError(f"{model}'s model server failed on row {row} ({status}): {original}")
    if code in ("ValidationError", "ValidationException") and "endpoint" in message.lower():
        try:
            described = sagemaker.describe_endpoint(EndpointName=endpoint)
        except sagemaker.exceptions.ClientError:
            return EndpointNotFound(
                f"model {model} has no endpoint {endpoint}: deploy it first (DAG deploy_{model}). ({message})"
            )
        status = described.get("EndpointStatus", "?")
        if status != "InService":
            reason = described.get("FailureReason")
            return EndpointNotInService(
                f"endpoint {endpoint} of {model} is {status}, not InService" + (f": {reason}" if reason else "")
            )
    if code in ("ThrottlingException", "ServiceUnavailable", "ModelNotReadyException"):
        return ModelServerError(f"endpoint {endpoint} could not take row {row} even after retries: {code}: {message}")
    return PredictError(f"InvokeEndpoint {endpoint} failed on row {row}: {code}: {message}")


def predict(
    model: str,
    rows: list,
    *,
    content_type: str = JSON,
    inference_ids: list | None = None,
    id_column: str | None = None,
    concurrency: int | None = None,
    endpoint: str | None = None,
    capture: bool | None = None,
    runtime=None,
    sagemaker=None,
    s3=None,
) -> list[Prediction]:
    """One Prediction per row, in order. Rows are records (dicts of feature values) or lists in
    the model's feature order. Raises a PredictError subclass naming the problem.

    `capture` (default MLOPS_PREDICT_CAPTURE, on) writes capture records for endpoints that do
    not capture themselves; `s3` is the client it writes with."""
    if content_type not in (JSON, CSV):
        raise ValueError(f"content_type must be {JSON} or {CSV}, got {content_type!r}")
    features = _features(model)
    endpoint = endpoint or endpoint_name(model)
    settings = Settings.from_env()
    concurrency = concurrency or settings.predict_concurrency
    capture_prefix = _client_capture_prefix(model, settings.predict_capture if capture is None else capture)
    if runtime is None or sagemaker is None:
        default_runtime, default_sagemaker = _clients(concurrency)
        runtime, sagemaker = runtime or default_runtime, sagemaker or default_sagemaker
    rows = list(rows)
    if inference_ids is not None and len(inference_ids) != len(rows):
        raise ValueError(f"{len(inference_ids)} inference ids for {len(rows)} rows")
    requests = []
    for i, row in enumerate(rows):
        if id_column is not None:
            if not isinstance(row, dict) or id_column not in row:
                raise InvalidInput(f"row {i} has no {id_column!r} to use as its inference id", row=i)
            row = dict(row)
            ident = row.pop(id_column)
        else:
            ident = inference_ids[i] if inference_ids is not None else uuid.uuid4()
        requests.append((i, _inference_id(ident), _body(row, features, content_type)))

    records: list[tuple[str, dict]] = []  # (variant, capture record) for client-side capture

    def invoke(request) -> Prediction:
        i, ident, body = request
        try:
            answer = runtime.invoke_endpoint(
                EndpointName=endpoint, Body=body, ContentType=content_type, Accept=JSON, InferenceId=ident
            )
        except runtime.exceptions.ClientError as err:
            raise _explain(err, endpoint, model, sagemaker, i) from None
        answered, variant = answer["Body"].read(), answer.get("InvokedProductionVariant") or "AllTraffic"
        prediction = _answer(answered, ident, variant)
        if capture_prefix is not None:
            response_type = answer.get("ContentType") or JSON
            when = datetime.now(UTC)
            records.append(
                (variant, capture_format.capture_record(body, content_type, answered, response_type, ident, when))
            )
        return prediction

    if len(requests) <= 1 or concurrency <= 1:
        predictions = [invoke(r) for r in requests]
    else:
        with ThreadPoolExecutor(max_workers=min(concurrency, len(requests))) as pool:
            predictions = list(pool.map(invoke, requests))
    if records:
        _write_capture(s3, settings.artifacts_bucket, capture_prefix, endpoint, records)
    return predictions


def _client_capture_prefix(model: str, wanted: bool) -> str | None:
    """The capture prefix to write under when this client must capture (the endpoint does not).
    The deployment stage's own loader says whether the endpoint captures: one reader of that section."""
    from mlops.deployment.config import load_deployment

    if not wanted:
        return None
    try:
        capture = load_deployment(model).data_capture
    except ConfigError as err:
        raise UnknownModel(f"model {model!r} has an invalid deployment configuration: {err}") from None
    return None if capture.enabled else capture.prefix


def _write_capture(s3, bucket: str, prefix: str, endpoint: str, records: list[tuple[str, dict]]) -> None:
    """Write the batch; a failure loses the capture, never the answers (as SageMaker's own capture)."""
    try:
        if s3 is None:
            import boto3
            from botocore.config import Config

            s3 = boto3.client("s3", config=Config(retries={"mode": "standard", "max_attempts": 3}))
        keys = capture_format.write_records(s3, bucket, prefix, endpoint, records)
    except Exception as err:  # noqa: BLE001 (any failure: the answers are already there)
        log.warning(
            "could not write %d capture record(s) of endpoint %s to s3://%s/%s/: %s: %s; these predictions "
            "will be missing from the predictions dataset",
            len(records),
            endpoint,
            bucket,
            prefix,
            type(err).__name__,
            err,
        )
        return
    log.info("captured %d prediction request(s) of %s in %s", len(records), endpoint, keys)


def _number(text: str):
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        try:
            return float(text)
        except ValueError:
            return text


def read_rows(csv_path: str | None = None, json_text: str | None = None, numbers: bool = True) -> list:
    """Rows from a CSV file with a header (records), or JSON text / a JSON file (a list of records
    or rows, one record, or {"instances": [...]})."""
    if csv_path is not None:
        with open(csv_path, newline="") as fh:
            records = list(csv.DictReader(fh))
        return [{k: _number(v) if numbers else v for k, v in r.items()} for r in records]
    text = Path(json_text).read_text() if json_text and Path(json_text).is_file() else json_text
    doc = json.loads(text or "null")
    if isinstance(doc, dict):
        doc = doc["instances"] if "instances" in doc else [doc]
    if not isinstance(doc, list):
        raise ValueError("JSON input must be a list of rows or records, one record, or {'instances': [...]}")
    return doc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlops.serving.predict", description="Predictions from a model's production endpoint."
    )
    parser.add_argument("model", help="the model's name (include/models/<model>.yaml)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--csv", metavar="FILE", help="rows from a CSV file with a header row")
    source.add_argument("--json", metavar="JSON", help="a JSON list of records/rows, one record, or a JSON file")
    parser.add_argument("--id-column", help="use this column as each row's InferenceId (not sent as a feature)")
    parser.add_argument("--send", choices=("json", "csv"), help="request content type (default: like the input)")
    parser.add_argument("--concurrency", type=int, help="requests in flight (default MLOPS_PREDICT_CONCURRENCY)")
    parser.add_argument("--endpoint", help="an endpoint other than the model's production endpoint")
    args = parser.parse_args(argv)
    send = args.send or ("csv" if args.csv else "json")
    try:
        rows = read_rows(args.csv, args.json)
        predictions = predict(
            args.model,
            rows,
            content_type=CSV if send == "csv" else JSON,
            id_column=args.id_column,
            concurrency=args.concurrency,
            endpoint=args.endpoint,
        )
    except (PredictError, ValueError, OSError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    for p in predictions:
        print(json.dumps(p.to_dict()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
