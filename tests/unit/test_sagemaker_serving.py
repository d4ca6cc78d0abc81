"""The local SageMaker hosting plane and runtime against their contracts, through boto3 and the provider.

Endpoints serve a real model trained by include/training/train.py (its model.tar.gz carries
code/inference.py) and two small handlers in tests/unit/fixtures/serving/; the tests read back what
a SageMaker client would see: statuses, headers, error shapes, captured records in S3, metrics in
CloudWatch.
"""

from __future__ import annotations

import importlib.util
import io
import json
import re
import subprocess
import sys
import tarfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError, WaiterError

from embedded_stack.sagemaker_local import start_server
from embedded_stack.seed import digits_frame
from tests.conftest import set_aws_connection

REPO = Path(__file__).resolve().parents[2]
TRAIN_PY = REPO / "include" / "training" / "train.py"
FIXTURE = Path(__file__).parent / "fixtures" / "serving"
ROLE = "arn:aws:iam::123456789012:role/mlops-sagemaker-execution"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"
FEATURES = [f"pixel_{i}" for i in range(64)]


def _client(service: str, endpoint: str):
    return boto3.client(
        service,
        endpoint_url=endpoint,
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1}, max_pool_connections=16),
    )


def _tar(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


@pytest.fixture(scope="module")
def digits_model(tmp_path_factory):
    """train.py on the digits data (logistic regression): its model folder, as SageMaker would tar it."""
    tmp = tmp_path_factory.mktemp("digits")
    frame = digits_frame()
    channels = {}
    for name, part in (("train", frame.iloc[:1200]), ("test", frame.iloc[1200:])):
        (tmp / name).mkdir()
        part.to_csv(tmp / name / "data.csv", index=False)
        channels[name] = str(tmp / name)
    argv = [
        "--problem-type", "classification", "--estimator", "sklearn.linear_model.LogisticRegression",
        "--features", ",".join(FEATURES), "--label", "label", "--estimator-params", '{"max_iter": 300}',
        "--model-dir", str(tmp / "model"), "--output-data-dir", str(tmp / "out"),
        "--train", channels["train"], "--test", channels["test"],
    ]  # fmt: skip
    proc = subprocess.run(
        [sys.executable, str(TRAIN_PY), *argv], capture_output=True, text=True, cwd=tmp, timeout=300,
        env={"PATH": "/usr/bin:/bin", "SM_OUTPUT_DIR": str(tmp / "output")},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    model = tmp / "model"
    files = {str(p.relative_to(model)): p.read_bytes() for p in model.rglob("*") if p.is_file()}
    return {"dir": model, "tar": _tar(files), "rows": frame[FEATURES].iloc[1200:1300]}


def handler_in_process(model_dir: Path):
    """The served handler, loaded the way the container loads it, to compute expected answers."""
    spec = importlib.util.spec_from_file_location("expected_inference", model_dir / "code" / "inference.py")
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(model_dir / "code"))
    spec.loader.exec_module(module)
    return module, module.model_fn(str(model_dir))


@pytest.fixture(scope="module")
def sm_server(moto_endpoint, tmp_path_factory):
    server = start_server(0, moto_endpoint, tmp_path_factory.mktemp("serving"), flush_seconds=3600)
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def sm(sm_server):
    return _client("sagemaker", sm_server.url)


@pytest.fixture(scope="module")
def rt(sm_server):
    return _client("sagemaker-runtime", sm_server.url)


@pytest.fixture(scope="module")
def bucket(moto_endpoint, digits_model):
    s3 = _client("s3", moto_endpoint)
    name = f"serving-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="models/digits/model.tar.gz", Body=digits_model["tar"])
    for handler in ("crashing_inference.py", "failing_inference.py"):
        tar = _tar({"code/inference.py": (FIXTURE / handler).read_bytes()})
        s3.put_object(Bucket=name, Key=f"models/{handler[:-3]}/model.tar.gz", Body=tar)
    return name


def model_url(bucket: str, model: str = "digits") -> str:
    return f"s3://{bucket}/models/{model}/model.tar.gz"


def create_model(sm, bucket: str, model: str = "digits") -> str:
    name = f"m-{uuid.uuid4().hex[:8]}"
    sm.create_model(
        ModelName=name,
        ExecutionRoleArn=ROLE,
        PrimaryContainer={
            "Image": IMAGE,
            "ModelDataUrl": model_url(bucket, model),
            "Environment": {"SAGEMAKER_PROGRAM": "inference.py", "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code"},
        },
    )
    return name


def create_config(sm, variants: list[dict], capture: dict | None = None) -> str:
    name = f"c-{uuid.uuid4().hex[:8]}"
    extra = {"DataCaptureConfig": capture} if capture else {}
    sm.create_endpoint_config(EndpointConfigName=name, ProductionVariants=variants, **extra)
    return name


def variant(model: str, name: str = "AllTraffic", weight: float = 1.0, count: int = 1) -> dict:
    return {
        "VariantName": name,
        "ModelName": model,
        "InitialInstanceCount": count,
        "InstanceType": "ml.m5.large",
        "InitialVariantWeight": weight,
    }


def wait_in_service(sm, name: str) -> dict:
    sm.get_waiter("endpoint_in_service").wait(EndpointName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 600})
    return sm.describe_endpoint(EndpointName=name)


def deploy(sm, config: str) -> str:
    name = f"e-{uuid.uuid4().hex[:8]}"
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    wait_in_service(sm, name)
    return name


def csv_row(rows, i: int = 0) -> str:
    return ",".join(str(v) for v in rows.iloc[i].tolist())


def local_status(server, endpoint: str) -> dict:
    with urllib.request.urlopen(f"{server.url}/local/endpoints") as resp:
        return json.loads(resp.read())[endpoint]


def test_endpoint_is_created_then_serves_the_trained_model(sm, rt, bucket, digits_model):
    model = create_model(sm, bucket)
    described = sm.describe_model(ModelName=model)
    assert described["ModelArn"] == f"arn:aws:sagemaker:us-east-1:123456789012:model/{model}"
    assert described["PrimaryContainer"]["ModelDataUrl"] == model_url(bucket)
    config = create_config(sm, [variant(model, count=2)])
    assert sm.describe_endpoint_config(EndpointConfigName=config)["ProductionVariants"][0]["ModelName"] == model
    name = f"e-{uuid.uuid4().hex[:8]}"
    arn = sm.create_endpoint(EndpointName=name, EndpointConfigName=config)["EndpointArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:123456789012:endpoint/{name}"
    assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Creating"
    desc = wait_in_service(sm, name)
    assert desc["EndpointStatus"] == "InService" and desc["EndpointConfigName"] == config
    (summary,) = desc["ProductionVariants"]
    assert summary["VariantName"] == "AllTraffic"
    assert summary["CurrentWeight"] == summary["DesiredWeight"] == 1.0
    assert summary["CurrentInstanceCount"] == summary["DesiredInstanceCount"] == 2
    assert summary["DeployedImages"][0]["SpecifiedImage"] == IMAGE
    assert summary["DeployedImages"][0]["ResolvedImage"].startswith(IMAGE.rsplit(":", 1)[0] + "@sha256:")
    assert name in [e["EndpointName"] for e in sm.list_endpoints(StatusEquals="InService")["Endpoints"]]

    inference, loaded = handler_in_process(digits_model["dir"])
    rows = digits_model["rows"]
    for i in range(5):
        body = csv_row(rows, i)
        resp = rt.invoke_endpoint(EndpointName=name, Body=body, ContentType="text/csv", Accept="application/json")
        expected, expected_type = inference.output_fn(
            inference.predict_fn(inference.input_fn(body, "text/csv"), loaded), "application/json"
        )
        assert resp["Body"].read().decode() == expected
        assert resp["ContentType"] == expected_type
        assert resp["InvokedProductionVariant"] == "AllTraffic"
    answer = json.loads(expected)["predictions"][0]
    assert len(answer["top_classes"]) == 3


def test_error_shapes(sm, rt, bucket, digits_model):
    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName="no-such-endpoint", Body=b"1", ContentType="text/csv")
    assert err.value.response["Error"] == {
        "Code": "ValidationError",
        "Message": "Endpoint no-such-endpoint of account 123456789012 not found.",
    }
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    with pytest.raises(ClientError) as err:
        sm.describe_endpoint(EndpointName="no-such-endpoint")
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert err.value.response["Error"]["Message"] == (
        'Could not find endpoint "arn:aws:sagemaker:us-east-1:123456789012:endpoint/no-such-endpoint".'
    )
    with pytest.raises(ClientError) as err:
        sm.describe_model(ModelName="no-such-model")
    assert err.value.response["Error"]["Message"].startswith('Could not find model "arn:aws:sagemaker:')
    with pytest.raises(ClientError) as err:
        create_config(sm, [variant("no-such-model")])
    assert "Could not find model" in err.value.response["Error"]["Message"]

    model = create_model(sm, bucket)
    config = create_config(sm, [variant(model)])
    name = deploy(sm, config)
    with pytest.raises(ClientError) as err:
        sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    assert err.value.response["Error"]["Message"].startswith("Cannot create already existing endpoint")
    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName=name, Body=b"1", ContentType="text/csv", TargetVariant="Nope")
    assert err.value.response["Error"]["Code"] == "ValidationError"
    assert '"[Nope]"' in err.value.response["Error"]["Message"]

    bad = csv_row(digits_model["rows"]) + ",7"  # one column too many
    inference, loaded = handler_in_process(digits_model["dir"])
    with pytest.raises(ValueError) as handler_error:
        inference.predict_fn(inference.input_fn(bad, "text/csv"), loaded)
    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName=name, Body=bad, ContentType="text/csv")
    r = err.value.response
    assert r["ResponseMetadata"]["HTTPStatusCode"] == 424 and r["Error"]["Code"] == "ModelError"
    assert r["OriginalStatusCode"] == 400 and r["OriginalMessage"] == str(handler_error.value)
    assert r["Error"]["Message"].startswith(
        f'Received client error (400) from AllTraffic with message "{r["OriginalMessage"]}"'
    )
    assert r["LogStreamArn"] == f"arn:aws:logs:us-east-1:123456789012:log-group:/aws/sagemaker/Endpoints/{name}"


def test_weights_split_traffic(sm, rt, bucket, digits_model):
    model = create_model(sm, bucket)
    name = deploy(sm, create_config(sm, [variant(model, "Blue", 0.7), variant(model, "Green", 0.3)]))
    desc = sm.describe_endpoint(EndpointName=name)
    assert [(v["VariantName"], v["CurrentWeight"]) for v in desc["ProductionVariants"]] == [
        ("Blue", 0.7),
        ("Green", 0.3),
    ]
    body = csv_row(digits_model["rows"])
    seen = [
        rt.invoke_endpoint(EndpointName=name, Body=body, ContentType="text/csv")["InvokedProductionVariant"]
        for _ in range(1000)
    ]
    assert set(seen) == {"Blue", "Green"}
    assert 700 - 75 <= seen.count("Blue") <= 700 + 75  # ±5 standard deviations of Binomial(1000, 0.7)
    targeted = rt.invoke_endpoint(EndpointName=name, Body=body, ContentType="text/csv", TargetVariant="Green")
    assert targeted["InvokedProductionVariant"] == "Green"


def test_model_that_fails_to_load_fails_the_endpoint_with_the_handlers_text(sm, bucket):
    config = create_config(sm, [variant(create_model(sm, bucket, "failing_inference"))])
    name = f"e-{uuid.uuid4().hex[:8]}"
    sm.create_endpoint(EndpointName=name, EndpointConfigName=config)
    with pytest.raises(WaiterError):
        wait_in_service(sm, name)
    desc = sm.describe_endpoint(EndpointName=name)
    assert desc["EndpointStatus"] == "Failed"
    assert desc["FailureReason"].startswith(
        "The primary container for production variant AllTraffic did not pass the ping health check: ValueError: model.joblib in "
    )
    assert desc["FailureReason"].endswith("was saved by scikit-learn 0.20, which this container cannot read")
    sm.delete_endpoint(EndpointName=name)
    sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})


def test_crashed_server_is_restarted_and_reported(sm, rt, sm_server, bucket):
    name = deploy(sm, create_config(sm, [variant(create_model(sm, bucket, "crashing_inference"))]))
    first = json.loads(
        rt.invoke_endpoint(EndpointName=name, Body=b'{"x": 1}', ContentType="application/json")["Body"].read()
    )
    assert first["echo"] == {"x": 1}

    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName=name, Body=b'{"fail": true}', ContentType="application/json")
    assert err.value.response["OriginalStatusCode"] == 500
    assert err.value.response["OriginalMessage"] == "RuntimeError: the predictor broke"

    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName=name, Body=b'{"crash": true}', ContentType="application/json")
    assert err.value.response["Error"]["Code"] == "ModelError" and err.value.response["OriginalStatusCode"] == 500
    answer = json.loads(
        rt.invoke_endpoint(EndpointName=name, Body=b"[2]", ContentType="application/json")["Body"].read()
    )
    assert answer["echo"] == [2] and answer["pid"] != first["pid"]  # a new process, waited for by the runtime
    status = local_status(sm_server, name)["Variants"][0]
    assert status["Restarts"] == 1 and status["Servers"][0]["Pid"] == answer["pid"]
    assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"


def test_update_under_load_drops_no_request(sm, rt, sm_server, bucket, digits_model):
    model = create_model(sm, bucket)
    name = deploy(sm, create_config(sm, [variant(model, "Old")]))
    new_config = create_config(sm, [variant(create_model(sm, bucket), "New", count=2)])
    body = csv_row(digits_model["rows"])
    failures, variants, stop = [], [], threading.Event()

    def load():
        client = _client("sagemaker-runtime", sm_server.url)
        while not stop.is_set():
            try:
                variants.append(
                    client.invoke_endpoint(EndpointName=name, Body=body, ContentType="text/csv")[
                        "InvokedProductionVariant"
                    ]
                )
            except Exception as err:  # any failure counts
                failures.append(repr(err))

    threads = [threading.Thread(target=load) for _ in range(3)]
    for t in threads:
        t.start()
    while len(variants) < 50:
        time.sleep(0.01)
    sm.update_endpoint(EndpointName=name, EndpointConfigName=new_config)
    assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Updating"
    desc = wait_in_service(sm, name)
    after = len(variants)
    while len(variants) < after + 50:
        time.sleep(0.01)
    stop.set()
    for t in threads:
        t.join()
    assert failures == []
    assert desc["EndpointConfigName"] == new_config and "FailureReason" not in desc
    assert [v["VariantName"] for v in desc["ProductionVariants"]] == ["New"]
    assert variants[0] == "Old" and set(variants[after + 3 :]) == {"New"}
    assert local_status(sm_server, name)["EndpointConfigName"] == new_config


def test_failed_update_keeps_the_old_config_in_service(sm, rt, bucket, digits_model):
    config = create_config(sm, [variant(create_model(sm, bucket))])
    name = deploy(sm, config)
    sm.update_endpoint(
        EndpointName=name,
        EndpointConfigName=create_config(sm, [variant(create_model(sm, bucket, "failing_inference"))]),
    )
    desc = wait_in_service(sm, name)  # the provider's waiter reports success: the caller must check the config
    assert desc["EndpointConfigName"] == config
    assert "did not pass the ping health check: ValueError" in desc["FailureReason"]
    rt.invoke_endpoint(EndpointName=name, Body=csv_row(digits_model["rows"]), ContentType="text/csv")


def test_data_capture_records_follow_the_documented_layout(sm, rt, sm_server, bucket, moto_endpoint, digits_model):
    capture = {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": f"s3://{bucket}/capture",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]},
    }
    name = deploy(sm, create_config(sm, [variant(create_model(sm, bucket))], capture))
    desc = sm.describe_endpoint(EndpointName=name)
    assert desc["DataCaptureConfig"] == {
        "EnableCapture": True,
        "CaptureStatus": "Started",
        "CurrentSamplingPercentage": 100,
        "DestinationS3Uri": f"s3://{bucket}/capture",
        "KmsKeyId": "",
    }
    body = csv_row(digits_model["rows"])
    out = rt.invoke_endpoint(EndpointName=name, Body=body, ContentType="text/csv", InferenceId="row-1")["Body"].read()
    echo = deploy(sm, create_config(sm, [variant(create_model(sm, bucket, "crashing_inference"))], capture))
    echo_out = rt.invoke_endpoint(EndpointName=echo, Body=b'{"a": 1}', ContentType="application/x-custom")[
        "Body"
    ].read()
    sm_server.flush()

    s3 = _client("s3", moto_endpoint)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"capture/{name}/")["Contents"]]
    (key,) = keys
    assert re.fullmatch(
        rf"capture/{name}/AllTraffic/\d{{4}}/\d\d/\d\d/\d\d/\d\d-\d\d-\d{{3}}-[0-9a-f-]{{36}}\.jsonl", key
    )
    (line,) = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
    rec = json.loads(line)
    assert list(rec) == ["captureData", "eventMetadata", "eventVersion"] and rec["eventVersion"] == "0"
    assert rec["captureData"] == {
        "endpointInput": {"observedContentType": "text/csv", "mode": "INPUT", "data": body, "encoding": "CSV"},
        "endpointOutput": {
            "observedContentType": "application/json",
            "mode": "OUTPUT",
            "data": out.decode(),
            "encoding": "JSON",
        },
    }
    meta = rec["eventMetadata"]
    assert set(meta) == {"eventId", "inferenceId", "inferenceTime"} and meta["inferenceId"] == "row-1"
    assert re.fullmatch(r"[0-9a-f-]{36}", meta["eventId"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", meta["inferenceTime"])
    assert key.split("/")[3:7] == [
        meta["inferenceTime"][0:4],
        meta["inferenceTime"][5:7],
        meta["inferenceTime"][8:10],
        meta["inferenceTime"][11:13],
    ]

    (echo_key,) = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"capture/{echo}/")["Contents"]]
    echo_rec = json.loads(s3.get_object(Bucket=bucket, Key=echo_key)["Body"].read())
    assert echo_rec["captureData"]["endpointInput"] == {
        "observedContentType": "application/x-custom",
        "mode": "INPUT",
        "data": "eyJhIjogMX0=",  # not a listed content type: base64
        "encoding": "BASE64",
    }
    assert echo_rec["captureData"]["endpointOutput"]["data"] == echo_out.decode()
    assert "inferenceId" not in echo_rec["eventMetadata"]


def test_metrics_are_put_into_cloudwatch(sm, rt, sm_server, bucket, moto_endpoint, digits_model):
    name = deploy(sm, create_config(sm, [variant(create_model(sm, bucket))]))
    for _ in range(7):
        rt.invoke_endpoint(EndpointName=name, Body=csv_row(digits_model["rows"]), ContentType="text/csv")
    with pytest.raises(ClientError):
        rt.invoke_endpoint(EndpointName=name, Body=b"not,a,row", ContentType="text/csv")
    sm_server.flush()
    cw = _client("cloudwatch", moto_endpoint)
    dims = [{"Name": "EndpointName", "Value": name}, {"Name": "VariantName", "Value": "AllTraffic"}]
    listed = cw.list_metrics(Namespace="AWS/SageMaker", Dimensions=dims)["Metrics"]
    assert {m["MetricName"] for m in listed} == {
        "Invocations", "Invocation4XXErrors", "Invocation5XXErrors", "ModelLatency", "OverheadLatency",
    }  # fmt: skip

    def stats(metric: str) -> dict:
        now = time.time()
        (point,) = cw.get_metric_statistics(
            Namespace="AWS/SageMaker", MetricName=metric, Dimensions=dims, StartTime=now - 600, EndTime=now + 600,
            Period=3600, Statistics=["Sum", "SampleCount", "Minimum", "Maximum"],
        )["Datapoints"]  # fmt: skip
        return point

    assert stats("Invocations")["Sum"] == 8
    assert stats("Invocation4XXErrors")["Sum"] == 1 and stats("Invocation4XXErrors")["SampleCount"] == 8
    assert stats("Invocation5XXErrors")["Sum"] == 0
    latency = stats("ModelLatency")
    assert latency["SampleCount"] == 8 and 0 < latency["Minimum"] <= latency["Maximum"]
    assert latency["Unit"] == "Microseconds"


def test_serverless_max_concurrency_throttles(sm, rt, sm_server, bucket, tmp_path):
    model = create_model(sm, bucket, "crashing_inference")
    serverless = {
        "VariantName": "AllTraffic",
        "ModelName": model,
        "ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 1},
    }
    name = deploy(sm, create_config(sm, [serverless]))
    summary = sm.describe_endpoint(EndpointName=name)["ProductionVariants"][0]
    assert summary["CurrentServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 1}
    release = tmp_path / "release"
    held = threading.Thread(
        target=rt.invoke_endpoint,
        kwargs={
            "EndpointName": name,
            "Body": json.dumps({"wait_for": str(release)}),
            "ContentType": "application/json",
        },
    )
    held.start()
    while local_status(sm_server, name)["Variants"][0]["InFlight"] < 1:
        time.sleep(0.01)
    with pytest.raises(ClientError) as err:
        rt.invoke_endpoint(EndpointName=name, Body=b"[1]", ContentType="application/json")
    assert err.value.response["Error"]["Code"] == "ThrottlingException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    release.touch()
    held.join()
    assert (
        rt.invoke_endpoint(EndpointName=name, Body=b"[1]", ContentType="application/json")["ResponseMetadata"][
            "HTTPStatusCode"
        ]
        == 200
    )


def test_a_restarted_plane_keeps_its_endpoints(moto_endpoint, bucket, tmp_path, digits_model):
    first = start_server(0, moto_endpoint, tmp_path / "state", flush_seconds=3600)
    try:
        sm = _client("sagemaker", first.url)
        name = deploy(sm, create_config(sm, [variant(create_model(sm, bucket))]))
        body = csv_row(digits_model["rows"], 3)
        before = (
            _client("sagemaker-runtime", first.url)
            .invoke_endpoint(EndpointName=name, Body=body, ContentType="text/csv")["Body"]
            .read()
        )
    finally:
        first.shutdown()
    second = start_server(0, moto_endpoint, tmp_path / "state", flush_seconds=3600)
    try:
        sm = _client("sagemaker", second.url)
        assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "InService"
        after = (
            _client("sagemaker-runtime", second.url)
            .invoke_endpoint(EndpointName=name, Body=body, ContentType="text/csv")["Body"]
            .read()
        )
        assert after == before
        sm.delete_endpoint(EndpointName=name)
        assert sm.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Deleting"
        sm.get_waiter("endpoint_deleted").wait(EndpointName=name, WaiterConfig={"Delay": 0.2, "MaxAttempts": 100})
        assert name not in [e["EndpointName"] for e in sm.list_endpoints()["Endpoints"]]
    finally:
        second.shutdown()


def test_provider_hook_and_operator_deploy_and_update(
    monkeypatch, moto_endpoint, sm, rt, sm_server, bucket, digits_model
):
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook
    from airflow.providers.amazon.aws.operators.sagemaker import SageMakerEndpointOperator

    set_aws_connection(monkeypatch, "aws_serving", moto_endpoint, sm_server.url)
    hook = SageMakerHook(aws_conn_id="aws_serving")
    model = f"m-{uuid.uuid4().hex[:8]}"
    hook.create_model(
        {
            "ModelName": model,
            "ExecutionRoleArn": ROLE,
            "PrimaryContainer": {"Image": IMAGE, "ModelDataUrl": model_url(bucket)},
        }
    )
    config = f"c-{uuid.uuid4().hex[:8]}"
    hook.create_endpoint_config({"EndpointConfigName": config, "ProductionVariants": [variant(model)]})
    name = f"e-{uuid.uuid4().hex[:8]}"
    hook.create_endpoint(
        {"EndpointName": name, "EndpointConfigName": config}, wait_for_completion=True, check_interval=1
    )
    assert hook.describe_endpoint(name)["EndpointStatus"] == "InService"

    new_config = f"c-{uuid.uuid4().hex[:8]}"
    operator = SageMakerEndpointOperator(
        task_id="deploy",
        aws_conn_id="aws_serving",
        operation="create",  # already exists: the operator falls back to an update
        config={
            "EndpointConfig": {"EndpointConfigName": new_config, "ProductionVariants": [variant(model, "Second")]},
            "Endpoint": {"EndpointName": name, "EndpointConfigName": new_config},
        },
        check_interval=1,
    )
    result = operator.execute({})
    assert result["Endpoint"]["EndpointConfigName"] == new_config
    assert result["Endpoint"]["ProductionVariants"][0]["VariantName"] == "Second"
    resp = rt.invoke_endpoint(EndpointName=name, Body=csv_row(digits_model["rows"]), ContentType="text/csv")
    assert resp["InvokedProductionVariant"] == "Second"
