"""The embedded stack's AWS side (moto) keeps its state across a stop and a crash.

moto is started the way `make up` starts it (embedded_stack.stack.moto_argv), filled with a
small demo's worth of state (raw and curated partitions, a multipart object, model packages,
DynamoDB rows, an SNS topic with an SQS inbox, a CloudWatch metric), stopped with SIGTERM or
killed with SIGKILL, started again, and read back.
"""

from __future__ import annotations

import io
import json
import os
import pickle
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from embedded_stack import moto_state
from embedded_stack.paths import REPO, StackConfig
from tests.conftest import free_port

REGION = "us-east-1"
BUCKETS = ("mlops-raw", "mlops-curated", "mlops-landing", "mlops-artifacts")
TABLE = "mlops-model-versions"


class Moto:
    """A moto_state server process on a free port over one state folder."""

    def __init__(self, state: Path):
        self.cfg = StackConfig(state=state, pg_port=0, moto_port=free_port(), airflow_port=0)
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return self.cfg.moto_url

    def start(self) -> float:
        from embedded_stack.stack import moto_argv

        started = time.monotonic()
        log = open(self.cfg.state / "moto.log", "ab")
        env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)])}
        self.proc = subprocess.Popen(moto_argv(self.cfg), stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            assert self.proc.poll() is None, (self.cfg.state / "moto.log").read_text()
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=2):
                    return time.monotonic() - started
            except OSError:
                time.sleep(0.1)
        raise AssertionError("moto did not start")

    def stop(self, sig: int) -> None:
        self.proc.send_signal(sig)
        self.proc.wait(timeout=30)

    def client(self, service: str):
        import boto3

        return boto3.client(
            service,
            endpoint_url=self.url,
            region_name=REGION,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )


def _parquet(rows: int, seed: int) -> bytes:
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    rng = np.random.default_rng(seed)
    table = pa.table(
        {"patient_id": np.arange(rows), "glucose": rng.normal(100, 20, rows), "label": rng.integers(0, 2, rows)}
    )
    buf = io.BytesIO()
    pq.write_table(table, buf, compression="none")
    return buf.getvalue()


def write_demo_state(moto: Moto, partitions: int = 25, rows: int = 200, multipart_mib: int = 11) -> None:
    """A demo's worth of state, written with boto3 as the pipelines write it."""
    from mlops.lake import layout

    s3, ddb, sm = moto.client("s3"), moto.client("dynamodb"), moto.client("sagemaker")
    for bucket in BUCKETS:
        s3.create_bucket(Bucket=bucket)
    for day in range(1, partitions + 1):
        ds = f"2026-10-{day:02d}"
        for part in range(4):
            s3.put_object(
                Bucket="mlops-raw",
                Key=f"clinic/patients/ds={ds}/data-{part:05d}.parquet",
                Body=_parquet(rows, day * 10 + part),
            )
        data_key = f"{layout.curated_prefix('diabetes_patients', ds)}part-0.parquet"
        s3.put_object(Bucket="mlops-curated", Key=data_key, Body=_parquet(rows, day))
        manifest = {"rows": rows, "files": [{"key": data_key, "rows": rows}]}
        s3.put_object(
            Bucket="mlops-curated", Key=layout.manifest_key("diabetes_patients", ds), Body=json.dumps(manifest)
        )
        s3.put_object(
            Bucket="mlops-landing", Key=f"digits/batch ü {day}.csv", Body=b"a,b\n1,2\n", Metadata={"x_under": "1"}
        )
    s3.delete_object(Bucket="mlops-landing", Key="digits/batch ü 1.csv")
    # A model artifact in two parts of a multipart upload, as the streaming writer uploads it.
    upload = s3.create_multipart_upload(Bucket="mlops-artifacts", Key="models/diabetes/v1/model.tar.gz")
    half = multipart_mib * 1024 * 1024 // 2
    parts = []
    for number, body in enumerate((os.urandom(half), os.urandom(half // 3)), start=1):
        etag = s3.upload_part(
            Bucket="mlops-artifacts",
            Key="models/diabetes/v1/model.tar.gz",
            UploadId=upload["UploadId"],
            PartNumber=number,
            Body=body,
        )["ETag"]
        parts.append({"ETag": etag, "PartNumber": number})
    s3.complete_multipart_upload(
        Bucket="mlops-artifacts",
        Key="models/diabetes/v1/model.tar.gz",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": parts},
    )
    ddb.create_table(
        TableName=TABLE,
        AttributeDefinitions=[
            {"AttributeName": "model", "AttributeType": "S"},
            {"AttributeName": "record", "AttributeType": "S"},
        ],
        KeySchema=[{"AttributeName": "model", "KeyType": "HASH"}, {"AttributeName": "record", "KeyType": "RANGE"}],
        BillingMode="PAY_PER_REQUEST",
    )
    for i in range(200):
        ddb.put_item(
            TableName=TABLE, Item={"model": {"S": f"m{i % 10}"}, "record": {"S": f"r{i:04d}"}, "n": {"N": str(i)}}
        )
    ddb.update_item(
        TableName=TABLE,
        Key={"model": {"S": "m0"}, "record": {"S": "r0000"}},
        UpdateExpression="ADD n :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    for group in range(10):
        sm.create_model_package_group(ModelPackageGroupName=f"model-{group}")
        for _ in range(1 + group % 2):
            sm.create_model_package(
                ModelPackageGroupName=f"model-{group}",
                ModelApprovalStatus="PendingManualApproval",
                InferenceSpecification={
                    "Containers": [
                        {"Image": "sklearn:1.5", "ModelDataUrl": "s3://mlops-artifacts/models/diabetes/v1/model.tar.gz"}
                    ],
                    "SupportedContentTypes": ["text/csv"],
                    "SupportedResponseMIMETypes": ["text/csv"],
                },
                CustomerMetadataProperties={"code_revision": "abc123"},
            )
    first = sm.list_model_packages(ModelPackageGroupName="model-0")["ModelPackageSummaryList"][0]["ModelPackageArn"]
    sm.update_model_package(ModelPackageArn=first, ModelApprovalStatus="Approved")
    sns, sqs = moto.client("sns"), moto.client("sqs")
    topic = sns.create_topic(Name="mlops-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="mlops-alerts-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    sns.publish(TopicArn=topic, Subject="training failed", Message="diabetes: one class")
    moto.client("cloudwatch").put_metric_data(Namespace="mlops", MetricData=[{"MetricName": "rows", "Value": 42.0}])


def observe(moto: Moto, with_times: bool) -> dict:
    """Everything a user of the stack can see, in a comparable form."""
    from mlops.lake.reader import CuratedReader

    s3, sm = moto.client("s3"), moto.client("sagemaker")
    seen: dict = {"s3": {}}
    for bucket in BUCKETS:
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
            for o in page.get("Contents", []):
                seen["s3"][(bucket, o["Key"])] = (o["ETag"], o["Size"], o["LastModified"] if with_times else None)
    head = s3.head_object(Bucket="mlops-landing", Key="digits/batch ü 2.csv")
    seen["metadata"] = head["Metadata"]
    seen["artifact"] = s3.get_object(Bucket="mlops-artifacts", Key="models/diabetes/v1/model.tar.gz")["Body"].read()
    reader = CuratedReader(bucket="mlops-curated", s3=s3)
    seen["partitions"] = reader.partitions("diabetes_patients")
    seen["curated"] = reader.load("diabetes_patients").to_dict("records")
    packages = []
    for group in range(10):
        for p in sm.list_model_packages(ModelPackageGroupName=f"model-{group}")["ModelPackageSummaryList"]:
            d = sm.describe_model_package(ModelPackageName=p["ModelPackageArn"])
            keep = (
                "ModelPackageArn",
                "ModelPackageVersion",
                "ModelApprovalStatus",
                "InferenceSpecification",
                "CustomerMetadataProperties",
            )
            packages.append({k: d.get(k) for k in keep} | ({"CreationTime": d["CreationTime"]} if with_times else {}))
    seen["packages"] = packages
    items = moto.client("dynamodb").scan(TableName=TABLE)["Items"]
    seen["items"] = sorted(items, key=lambda i: (i["model"]["S"], i["record"]["S"]))
    seen["metrics"] = moto.client("cloudwatch").list_metrics(Namespace="mlops")["Metrics"]
    seen["subscriptions"] = [
        (s["Protocol"], s["Endpoint"]) for s in moto.client("sns").list_subscriptions()["Subscriptions"]
    ]
    return seen


def alerts(moto: Moto) -> list[str]:
    sqs = moto.client("sqs")
    url = sqs.get_queue_url(QueueName="mlops-alerts-inbox")["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
    for m in messages:
        sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
    return [json.loads(m["Body"])["Message"] for m in messages]


@pytest.fixture
def moto(tmp_path):
    server = Moto(tmp_path / "aws")
    server.cfg.state.mkdir()
    yield server
    if server.proc and server.proc.poll() is None:
        server.proc.kill()
        server.proc.wait()


def test_stop_and_start_restores_everything_exactly(moto):
    moto.start()
    write_demo_state(moto, partitions=6)
    before = observe(moto, with_times=True)
    moto.stop(signal.SIGTERM)

    moto.start()
    assert observe(moto, with_times=True) == before
    assert alerts(moto) == ["diabetes: one class"]
    assert [p.rows for p in before["partitions"]] == [200] * 6


def test_a_crash_loses_nothing_acknowledged(moto):
    moto.start()
    write_demo_state(moto, partitions=6)
    before = observe(moto, with_times=False)
    moto.stop(signal.SIGKILL)

    moto.start()  # replays the log
    assert observe(moto, with_times=False) == before
    # Consumed messages are not logged: after a crash an alert is delivered again (at least once).
    assert alerts(moto) == ["diabetes: one class"]

    # The replay was folded into a snapshot: new writes, another crash, nothing lost or doubled.
    moto.client("s3").put_object(Bucket="mlops-raw", Key="after-crash", Body=b"x")
    moto.client("dynamodb").update_item(
        TableName=TABLE,
        Key={"model": {"S": "m0"}, "record": {"S": "r0000"}},
        UpdateExpression="ADD n :one",
        ExpressionAttributeValues={":one": {"N": "1"}},
    )
    moto.stop(signal.SIGKILL)
    moto.start()
    item = moto.client("dynamodb").get_item(TableName=TABLE, Key={"model": {"S": "m0"}, "record": {"S": "r0000"}})[
        "Item"
    ]
    assert item["n"] == {"N": "2"}
    assert moto.client("s3").get_object(Bucket="mlops-raw", Key="after-crash")["Body"].read() == b"x"
    assert sorted(p.name for p in moto.cfg.aws_state.iterdir() if not p.name.endswith(".log") or p.stat().st_size) == [
        "snapshot-2.pickle"
    ]


def test_the_stack_provisioning_changes_nothing_on_restored_state(moto):
    from embedded_stack import aws
    from embedded_stack.stack import pipeline_env

    moto.start()
    env = pipeline_env(moto.cfg)
    aws.provision(moto.url, REGION, env)
    moto.client("s3").put_object(Bucket=env["MLOPS_RAW_BUCKET"], Key="k", Body=b"v")
    moto.stop(signal.SIGTERM)
    moto.start()
    aws.provision(moto.url, REGION, env)  # what every `make up` does
    assert moto.client("s3").get_object(Bucket=env["MLOPS_RAW_BUCKET"], Key="k")["Body"].read() == b"v"
    assert len(moto.client("sns").list_subscriptions()["Subscriptions"]) == 1


def test_state_files_are_the_owners_only(moto):
    moto.start()
    moto.client("s3").create_bucket(Bucket="mlops-raw")
    moto.stop(signal.SIGTERM)
    folder = moto.cfg.aws_state
    assert folder.stat().st_mode & 0o777 == 0o700
    assert {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()} == {"snapshot-1.pickle": 0o600}
    moto.start()
    assert {p.name: p.stat().st_mode & 0o777 for p in folder.iterdir()} == {
        "snapshot-1.pickle": 0o600,
        "wal-2.log": 0o600,
    }


def test_a_snapshot_of_another_moto_version_is_refused_not_dropped(tmp_path):
    # the snapshot's own shape, not this test process's backends (other tests' moto state lives there)
    blob = pickle.dumps({"moto": "0.0.1", "backends": {}})
    with pytest.raises(
        moto_state.StateError, match=r"snapshot-1.pickle was written by moto 0.0.1, this is moto 5\..*make clean"
    ):
        moto_state.load_backends(blob, tmp_path / "snapshot-1.pickle")


def test_a_record_torn_by_a_crash_ends_the_log(tmp_path):
    environ = {"REQUEST_METHOD": "PUT", "PATH_INFO": "/b/k", "QUERY_STRING": "", "HTTP_HOST": "h"}
    whole = moto_state.log_record(environ, b"first", None) + moto_state.log_record(environ, b"second", None)
    torn = whole + moto_state.log_record(environ, b"third body", None)[:-3]
    log = tmp_path / "wal-1.log"
    log.write_bytes(torn)
    assert [body for _head, body in moto_state.read_log(log)] == [b"first", b"second"]


@pytest.mark.parametrize(
    ("environ", "body", "logged"),
    [
        ({"REQUEST_METHOD": "PUT", "PATH_INFO": "/b/k"}, b"x", True),
        ({"REQUEST_METHOD": "GET", "PATH_INFO": "/b/k"}, b"", False),
        ({"REQUEST_METHOD": "POST", "PATH_INFO": "/", "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.PutItem"}, b"{}", True),
        ({"REQUEST_METHOD": "POST", "PATH_INFO": "/", "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.Query"}, b"{}", False),
        (
            {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "HTTP_X_AMZ_TARGET": "SageMaker.ListModelPackages"},
            b"{}",
            False,
        ),
        ({"REQUEST_METHOD": "POST", "PATH_INFO": "/", "HTTP_X_AMZ_TARGET": "AmazonSQS.ReceiveMessage"}, b"{}", False),
        (
            {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "CONTENT_TYPE": "application/x-www-form-urlencoded"},
            b"Action=Publish&X=1",
            True,
        ),
        (
            {"REQUEST_METHOD": "POST", "PATH_INFO": "/", "CONTENT_TYPE": "application/x-www-form-urlencoded"},
            b"Action=ListTopics",
            False,
        ),
        (
            {"REQUEST_METHOD": "POST", "PATH_INFO": "/service/GraniteServiceVersion20100801/operation/PutMetricData"},
            b"",
            True,
        ),
        ({"REQUEST_METHOD": "POST", "PATH_INFO": "/moto-api/reset"}, b"", True),
        ({"REQUEST_METHOD": "POST", "PATH_INFO": "/moto-api/recorder/start-recording"}, b"", False),
    ],
)
def test_only_mutations_are_logged(environ, body, logged):
    assert moto_state.is_logged(environ, body) is logged


if __name__ == "__main__":  # a measurement: start-up time after a demo's worth of state
    import tempfile

    def loaded(m: Moto) -> str:
        return [line for line in (m.cfg.state / "moto.log").read_text().splitlines() if "state loaded" in line][-1]

    with tempfile.TemporaryDirectory(dir=os.environ.get("MLOPS_STATE_DIR")) as d:
        m = Moto(Path(d))
        print(f"empty start {m.start():.2f}s")
        t0 = time.monotonic()
        write_demo_state(m, partitions=int(sys.argv[1]) if len(sys.argv) > 1 else 25, rows=11000)
        print(f"writing the state {time.monotonic() - t0:.2f}s")
        objects = [o for b in BUCKETS for o in m.client("s3").list_objects_v2(Bucket=b).get("Contents", [])]
        print(f"{len(objects)} objects, {sum(o['Size'] for o in objects) / 2**20:.1f} MiB")
        print("files", {p.name: p.stat().st_size for p in m.cfg.aws_state.iterdir()})
        m.stop(signal.SIGKILL)
        print(f"start after a crash (replay) {m.start():.2f}s", loaded(m))
        t0 = time.monotonic()
        m.stop(signal.SIGTERM)
        print(
            f"stop (snapshot) {time.monotonic() - t0:.2f}s",
            {p.name: p.stat().st_size for p in m.cfg.aws_state.iterdir()},
        )
        print(f"start after a stop (snapshot) {m.start():.2f}s", loaded(m))
        m.stop(signal.SIGTERM)
