"""From an approved digits model to predictions, through the real scheduler: new digits files are
ingested, the curated Asset starts training, the approved version's `model.digits_classifier`
event starts deploy_digits_classifier, the endpoint is InService on the config the run asked for,
mlops.serving.predict returns the top 3 classes, the SNS mail arrives, the registry names the
served version as the model in production, and a rerun of the same version changes nothing.
Predictions sent through mlops.serving.predict are captured by the endpoint, curated by
ingest_predictions_digits_classifier for the day that holds them and read back with the
scientists' reader, equal to what was sent and answered; a rerun of that day changes nothing.
Then two clients nobody here wrote (the SageMaker SDK's Predictor, the AWS CLI) get the same
answers, and an update to a second approved version under load drops no request.

No other e2e test trains or deploys digits, so this module trains the model it needs itself (the
digits model trains in seconds) and pauses its DAGs again afterwards: it runs in any order.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from datetime import UTC, date, datetime

import boto3
import pytest
from botocore.config import Config

from embedded_stack import iam
from embedded_stack.aws import read_alerts
from embedded_stack.paths import REPO
from embedded_stack.seed import digits_files, drop_files

MODEL = "digits_classifier"
TRAIN, DEPLOY = f"train_{MODEL}", f"deploy_{MODEL}"
PREDICTIONS, DATASET = f"ingest_predictions_{MODEL}", f"predictions_{MODEL}"
CAPTURE_WAIT_SECONDS = 60  # the local plane writes captures off the request path, every few seconds
ENDPOINT = "digits-classifier"
SAGEMAKER_VENV = REPO / ".venv-sagemaker"
LOAD_MAX_REQUESTS = 20_000  # the load of the update test is bounded by count and by time,
LOAD_MAX_SECONDS = 600
LOAD_PAUSE_SECONDS = 0.02  # and paced: at most ~50 requests/s per thread


def _states(stack, dag_id: str, run_id: str) -> dict:
    return {t["task_id"]: t["state"] for t in stack.api.task_instances(dag_id, run_id)}


def _alerts(stack, wait_seconds: int = 1) -> list[dict]:
    """The alerts inbox, read as the administrator: the tests' environment (user_environ) holds the
    pipeline's key, which may publish alerts but not read the operators' queue."""
    return read_alerts(stack.cfg.moto_url, stack.cfg.region, wait_seconds, credentials=iam.admin_key(stack.cfg))


def _rows(n: int) -> list[dict]:
    return [{"image_id": f"img-e2e-{i}", **{f"pixel_{p}": (p * i) % 17 for p in range(64)}} for i in range(n)]


@pytest.fixture(scope="module")
def sagemaker(stack):
    return boto3.client("sagemaker", endpoint_url=stack.cfg.sagemaker_url, region_name=stack.cfg.region)


@pytest.fixture(scope="module")
def deployed(stack, sagemaker):
    """The asset chain once for the module: digits files -> ingest -> train (approved) -> deploy.
    Yields the training and deployment runs; pauses both DAGs at the end."""
    for dag_id in (TRAIN, DEPLOY):  # unpaused first: the curated Asset starts training, the model Asset deployment
        stack.api.wait_for_dag(dag_id)
        stack.api.set_paused(dag_id, False)
    try:
        _alerts(stack, wait_seconds=0)
        # names and content no other test drops: the landing ledger takes each content once, so the
        # same bytes under another name would be a redelivery for the landing test
        files = [
            (f"deploy-e2e-{name}", body.replace(b"\nimg-", b"\ndeploy-e2e-img-")) for name, body in digits_files(4)
        ]
        drop_files(stack.s3, stack.env["MLOPS_LANDING_BUCKET"], "digits_drop/incoming/", files)
        (ingested,) = stack.api.run_intervals("ingest_digits_drop", date(2026, 11, 1), date(2026, 11, 1))
        assert ingested["state"] == "success"
        (trained,) = stack.api.wait_runs(TRAIN, 1, timeout=900)
        assert trained["state"] == "success", stack.api.failed_task_logs(TRAIN, trained["dag_run_id"])
        registered = stack.api.xcom(TRAIN, trained["dag_run_id"], "register_candidate")
        assert registered["status"] == "Approved", registered["reasons"]
        (run,) = stack.api.wait_runs(DEPLOY, 1, timeout=900)
        assert run["state"] == "success", stack.api.failed_task_logs(DEPLOY, run["dag_run_id"])
        yield {"version": registered["version"], "run_id": run["dag_run_id"]}
    finally:
        for dag_id in (TRAIN, DEPLOY):
            stack.api.set_paused(dag_id, True)


@pytest.fixture
def user_environ(stack_environ, monkeypatch, stack):
    """A user's environment: boto3 finds the local plane's control and runtime APIs by these."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", stack.cfg.sagemaker_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", stack.cfg.sagemaker_url)
    return stack_environ


def test_approved_model_is_deployed_and_answers_top_3(stack, sagemaker, deployed, user_environ):
    from mlops.registry import packages
    from mlops.serving.predict import predict

    version, run_id = deployed["version"], deployed["run_id"]
    assert set(_states(stack, DEPLOY, run_id).values()) == {"success"}
    assert stack.api.xcom(DEPLOY, run_id, "resolve_package")["version"] == version  # from the asset event
    requests = stack.api.xcom(DEPLOY, run_id, "build_requests")
    config = requests["endpoint_config"]
    described = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", config["EndpointConfigName"])
    (variant,) = config["ProductionVariants"]
    assert [v["VariantName"] for v in described["ProductionVariants"]] == [variant["VariantName"]]
    asked = sagemaker.describe_endpoint_config(EndpointConfigName=config["EndpointConfigName"])
    assert asked["ProductionVariants"][0]["InstanceType"] == variant["InstanceType"] == "ml.m5.large"
    assert asked["DataCaptureConfig"]["InitialSamplingPercentage"] == 100
    assert str(packages.served_package(sagemaker, MODEL).version) == version  # the registry's record
    assert str(packages.production_model(sagemaker, MODEL).version) == version  # what the training gate reads
    assert packages.served_package(sagemaker, MODEL).predictor == "onnxruntime"  # train.py kept the ONNX graph

    rows = _rows(5)
    answers = predict(MODEL, rows, id_column="image_id")
    assert [a.inference_id for a in answers] == [r["image_id"] for r in rows]
    for a in answers:
        assert len(a.top_classes) == 3 and a.label == a.top_classes[0][0]
        assert {label for label, _ in a.top_classes} <= set(range(10))
        probabilities = [p for _, p in a.top_classes]
        assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1 + 1e-9
        assert a.variant == variant["VariantName"]

    subjects = [a["subject"] for a in _alerts(stack)]
    assert f"endpoint {ENDPOINT} InService with {MODEL} {version}" in subjects

    # The same version again, by hand: nothing is created or updated, and no second mail.
    again = stack.api.trigger_now(DEPLOY, {"version": version})
    assert stack.api.wait_run(DEPLOY, again["dag_run_id"], timeout=600)["state"] == "success"
    assert _states(stack, DEPLOY, again["dag_run_id"])["notify"] == "skipped"
    assert stack.api.xcom(DEPLOY, again["dag_run_id"], "build_requests")["endpoint_config"] == config
    assert sagemaker.describe_endpoint(EndpointName=ENDPOINT)["LastModifiedTime"] == described["LastModifiedTime"]
    assert not [a for a in _alerts(stack) if a["subject"].startswith("endpoint")]


def _captured_days(stack, inference_ids: set[str]) -> set[date]:
    """The days of the hour folders (`<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/`) holding the
    capture records of `inference_ids`, once every one of them is in S3."""
    from mlops.aws.s3 import list_keys
    from mlops.deployment.config import load_deployment

    bucket, prefix = stack.env["MLOPS_ARTIFACTS_BUCKET"], load_deployment(MODEL).data_capture.prefix
    deadline = time.monotonic() + CAPTURE_WAIT_SECONDS
    while True:
        found: dict[str, date] = {}
        for obj in list_keys(stack.s3, bucket, f"{prefix}/{ENDPOINT}/"):
            yyyy, mm, dd = obj["Key"].split("/")[-5:-2]
            for line in stack.s3.get_object(Bucket=bucket, Key=obj["Key"])["Body"].read().splitlines():
                ident = json.loads(line)["eventMetadata"].get("inferenceId")
                if ident in inference_ids:
                    found[ident] = date(int(yyyy), int(mm), int(dd))
        if set(found) == inference_ids:
            return set(found.values())
        if time.monotonic() > deadline:
            missing = sorted(inference_ids - set(found))
            raise AssertionError(f"no capture record of {missing} in s3://{bucket}/{prefix}/{ENDPOINT}/")
        time.sleep(1)


def _expected_rows(sent: list[dict], answers, version: str) -> list[dict]:
    """The curated rows a prediction makes: identity, inputs as sent, the answer's top 3 classes."""
    out = []
    for row, answer in zip(sent, answers, strict=True):
        expected = {"inference_id": answer.inference_id, "row": 0, "variant": answer.variant, "model_version": version}
        expected |= {k: float(v) for k, v in row.items() if k != "image_id"}
        (label, probability), *rest = answer.top_classes
        expected |= {"predicted_label": label, "probability": probability}
        for k, (label, probability) in enumerate(rest, 2):
            expected |= {f"top{k}_label": label, f"top{k}_probability": probability}
        out.append(expected)
    return sorted(out, key=lambda r: r["inference_id"])


def _read_back(reader, days: set[date], columns: list[str], inference_ids: set[str]) -> list[dict]:
    df = reader.load(DATASET, min(days).isoformat(), max(days).isoformat())
    assert not df.duplicated(["inference_id", "row"]).any(), df[df.duplicated(["inference_id", "row"], keep=False)]
    mine = df[df["inference_id"].isin(inference_ids)].sort_values("inference_id")
    return [
        {c: (v.item() if hasattr(v, "item") else v) for c, v in r.items()} for r in mine[columns].to_dict("records")
    ]


def test_predictions_are_curated_and_read_back(stack, deployed, user_environ):
    """mlops.serving.predict (JSON and CSV requests) -> the endpoint's data capture ->
    ingest_predictions_digits_classifier for the day holding them -> CuratedReader: the rows are
    what was sent and answered; a rerun of the day leaves the same objects and no duplicates."""
    from mlops.lake.reader import CuratedReader
    from mlops.serving.predict import CSV, predict

    rows = [{**r, "image_id": f"readback-{r['image_id']}"} for r in _rows(6)]
    sent_at = datetime.now(UTC).replace(microsecond=0)
    answers = predict(MODEL, rows[:4], id_column="image_id") + predict(
        MODEL, rows[4:], id_column="image_id", content_type=CSV
    )
    answered_at = datetime.now(UTC)
    ids = {a.inference_id for a in answers}
    assert ids == {r["image_id"] for r in rows}
    days = _captured_days(stack, ids)

    stack.api.wait_for_dag(PREDICTIONS)
    runs = [stack.api.trigger(PREDICTIONS, day) for day in sorted(days)]  # the intervals that cover them
    stack.api.set_paused(PREDICTIONS, False)
    try:
        for run in runs:
            done = stack.api.wait_run(PREDICTIONS, run["dag_run_id"], timeout=600)
            assert done["state"] == "success", stack.api.failed_task_logs(PREDICTIONS, run["dag_run_id"])
        reader = CuratedReader(bucket=stack.env["MLOPS_CURATED_BUCKET"], s3=stack.s3)
        expected = _expected_rows(rows, answers, deployed["version"])
        columns = list(expected[0])
        assert _read_back(reader, days, columns, ids) == expected
        df = reader.load(DATASET, min(days).isoformat(), max(days).isoformat())
        times = df[df["inference_id"].isin(ids)]["inference_time"]
        assert times.min() >= sent_at and times.max() <= answered_at

        def objects() -> dict:  # the days' raw extracts and curated partitions: keys and ETags
            return {
                day: (stack.raw(f"capture/{MODEL}/ds={day}/"), stack.curated(f"{DATASET}/ds={day}/")) for day in days
            }

        before = objects()
        assert all(raw and curated for raw, curated in before.values())
        for day in sorted(days):
            assert stack.api.rerun(PREDICTIONS, day)["state"] == "success"
        assert objects() == before
        assert _read_back(reader, days, columns, ids) == expected
    finally:
        # unpausing also ran the latest scheduled interval (catchup is off): let it end before pausing
        stack.api.wait_runs(PREDICTIONS, len(runs), timeout=600)
        stack.api.set_paused(PREDICTIONS, True)


def _client_env(stack) -> dict:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "MLOPS_", "PYTHON"))}
    return {
        **keep,
        "AWS_ACCESS_KEY_ID": stack.env["AWS_ACCESS_KEY_ID"],
        "AWS_SECRET_ACCESS_KEY": stack.env["AWS_SECRET_ACCESS_KEY"],
        "AWS_DEFAULT_REGION": stack.cfg.region,
        "SAGEMAKER_SUPPRESS_V2_WARNING": "1",
        "NO_PROXY": "127.0.0.1,localhost",
    }


def test_sagemaker_sdk_and_aws_cli_get_the_same_answers(stack, deployed, user_environ, tmp_path):
    """The SDK's Predictor (JSON) and `aws sagemaker-runtime invoke-endpoint` (CSV), each in
    .venv-sagemaker, against the endpoint: the answers equal mlops.serving.predict's."""
    from mlops.serving.predict import predict

    python, aws = SAGEMAKER_VENV / "bin" / "python", SAGEMAKER_VENV / "bin" / "aws"
    if not (SAGEMAKER_VENV / ".installed").exists():
        pytest.fail(f"{SAGEMAKER_VENV} is missing: run `make sagemaker-venv` (make test makes it)")
    rows = [{k: v for k, v in r.items() if k != "image_id"} for r in _rows(3)]
    ours = [p.to_dict() for p in predict(MODEL, rows)]

    sdk = subprocess.run(
        [python, REPO / "tests/sdk_clients/predictor_roundtrip.py", ENDPOINT, "--one-by-one"]
        + ["--endpoint-url", stack.cfg.sagemaker_url, "--region", stack.cfg.region, "--rows", json.dumps(rows)],
        env=_client_env(stack),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert sdk.returncode == 0, sdk.stdout + sdk.stderr
    answers = [json.loads(line)["response"] for line in sdk.stdout.splitlines() if line.startswith("{")]
    assert len(answers) == len(rows)
    for answer, mine in zip(answers, ours, strict=True):
        (item,) = answer["predictions"]
        assert item["label"] == mine["label"]
        assert item["top_classes"] == mine["top_classes"]

    row_csv, out = tmp_path / "row.csv", tmp_path / "out.json"
    row_csv.write_text(",".join(str(rows[0][f"pixel_{p}"]) for p in range(64)) + "\n")
    cli = subprocess.run(
        [aws, "--endpoint-url", stack.cfg.sagemaker_url, "sagemaker-runtime", "invoke-endpoint"]
        + ["--endpoint-name", ENDPOINT, "--content-type", "text/csv", "--accept", "application/json"]
        + ["--body", f"fileb://{row_csv}", str(out)],
        env=_client_env(stack),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    header = json.loads(cli.stdout)
    assert header["ContentType"] == "application/json"
    assert header["InvokedProductionVariant"] == ours[0]["variant"]
    (item,) = json.loads(out.read_text())["predictions"]
    assert (item["label"], item["top_classes"]) == (ours[0]["label"], ours[0]["top_classes"])


def _register_second_version(sagemaker, first_version: str) -> str:
    """A second Approved package of the same artifact, as a person would register one by hand
    (version V<tag>.<manual+1>.0): what an update to a new version needs, without a retrain."""
    from mlops.registry import packages
    from mlops.registry.versions import Version

    first = [p for p in packages.list_versions(sagemaker, MODEL) if str(p.version) == first_version][-1]
    described = sagemaker.describe_model_package(ModelPackageName=first.arn)
    v = Version.parse(first_version)
    second = str(Version(v.tag, v.manual + 1, 0))
    props = {k: val for k, val in described["CustomerMetadataProperties"].items() if not k.startswith("endpoint:")}
    sagemaker.create_model_package(
        ModelPackageGroupName=described["ModelPackageGroupName"],
        ModelPackageDescription=f"{second}: {first_version}'s artifact, registered by hand",
        InferenceSpecification=described["InferenceSpecification"],
        ModelApprovalStatus="Approved",
        CustomerMetadataProperties={**props, "version": second},
    )
    return second


class Load:
    """InvokeEndpoint requests from `threads` threads until stopped (or a bound is reached),
    with retries off: every error counts as a failed request."""

    def __init__(self, url: str, region: str, env: dict, threads: int = 2):
        self.client = boto3.Session(
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            region_name=region,
        ).client(
            "sagemaker-runtime",
            endpoint_url=url,
            config=Config(retries={"total_max_attempts": 1}, max_pool_connections=threads),
        )
        self.body = (",".join(str(p % 17) for p in range(64)) + "\n").encode()
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.variants: list[str] = []  # the variant that answered each request, in order
        self.failures: list[str] = []
        self.threads = [threading.Thread(target=self._send, daemon=True) for _ in range(threads)]

    def _send(self):
        deadline = time.monotonic() + LOAD_MAX_SECONDS
        while not self.stop.is_set() and time.monotonic() < deadline:
            with self.lock:
                if len(self.variants) + len(self.failures) >= LOAD_MAX_REQUESTS:
                    return
            try:
                answer = self.client.invoke_endpoint(
                    EndpointName=ENDPOINT, Body=self.body, ContentType="text/csv", Accept="application/json"
                )
                (item,) = json.loads(answer["Body"].read())["predictions"]
                assert len(item["top_classes"]) == 3, item
                with self.lock:
                    self.variants.append(answer["InvokedProductionVariant"])
            except Exception as err:  # every kind of failure is counted, none ends the load
                with self.lock:
                    self.failures.append(f"{type(err).__name__}: {err}")
            self.stop.wait(LOAD_PAUSE_SECONDS)

    def sending(self) -> bool:
        return any(t.is_alive() for t in self.threads)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)


def test_update_to_a_second_version_under_load_drops_no_request(stack, sagemaker, deployed, user_environ):
    from mlops.registry import packages

    first = deployed["version"]
    second = _register_second_version(sagemaker, first)
    # Approved but not deployed: the model in production stays what the endpoint serves.
    assert str(packages.production_model(sagemaker, MODEL).version) == first
    old_variant = sagemaker.describe_endpoint(EndpointName=ENDPOINT)["ProductionVariants"][0]["VariantName"]

    with Load(stack.cfg.sagemaker_url, stack.cfg.region, stack.env) as load:
        while len(load.variants) + len(load.failures) < 20 and load.sending():  # traffic flows before the update
            time.sleep(0.05)
        run = stack.api.trigger_now(DEPLOY, {"version": second})
        done = stack.api.wait_run(DEPLOY, run["dag_run_id"], timeout=600)
        served_after = len(load.variants)
        while len(load.variants) < served_after + 20 and load.sending():  # and after it ended
            time.sleep(0.05)
    assert done["state"] == "success", stack.api.failed_task_logs(DEPLOY, run["dag_run_id"])
    assert load.failures == [], f"{len(load.failures)} of {len(load.variants) + len(load.failures)} failed"

    requests = stack.api.xcom(DEPLOY, run["dag_run_id"], "build_requests")
    new_variant = requests["endpoint_config"]["ProductionVariants"][0]["VariantName"]
    assert new_variant != old_variant
    described = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert described["EndpointStatus"] == "InService"
    assert described["EndpointConfigName"] == requests["endpoint_config"]["EndpointConfigName"]
    assert [v["VariantName"] for v in described["ProductionVariants"]] == [new_variant]
    # the load spanned the update: the old variant answered first, the new one last, nothing else
    assert load.variants[0] == old_variant and load.variants[-1] == new_variant
    assert set(load.variants) == {old_variant, new_variant}
    assert str(packages.production_model(sagemaker, MODEL).version) == second
    assert stack.api.xcom(DEPLOY, run["dag_run_id"], "build_requests")["previous"] == first
    subjects = [a["subject"] for a in _alerts(stack)]
    assert f"endpoint {ENDPOINT} InService with {MODEL} {second}" in subjects
