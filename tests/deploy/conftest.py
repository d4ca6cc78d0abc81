"""One moto server (S3, STS) with the fake MWAA control plane in front, on a free port."""

from __future__ import annotations

import uuid

import pytest

from tests.conftest import free_port
from tests.deploy.fake_mwaa import FakeMwaa, MotoWithMwaa

REGION = "eu-west-1"


@pytest.fixture(scope="session")
def aws_server():
    fake = FakeMwaa()
    server = MotoWithMwaa(fake, ip_address="127.0.0.1", port=free_port(), verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield {"endpoint": f"http://{host}:{port}", "fake": fake}
    server.stop()


@pytest.fixture
def aws(aws_server, monkeypatch):
    """AWS_ENDPOINT_URL on the server (as a deploy against moto sets it), a region, test credentials."""
    for name in ("AWS_PROFILE", "AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL_MWAA", "AWS_ENDPOINT_URL_STS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_ENDPOINT_URL", aws_server["endpoint"])
    monkeypatch.setenv("AWS_REGION", REGION)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    fake = aws_server["fake"]
    fake.update_polls, fake.fail_next_update = 2, None
    return aws_server


@pytest.fixture
def target(aws):
    """A fresh versioned MWAA bucket and an AVAILABLE environment that reads it."""
    import boto3

    suffix = uuid.uuid4().hex[:8]
    bucket, name = f"airflow-test-{suffix}", f"mlops-test-{suffix}"
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    aws["fake"].add_environment(
        name,
        bucket,
        PluginsS3Path="plugins.zip",
        RequirementsS3Path="requirements.txt",
        StartupScriptS3Path="startup.sh",
    )
    from deploy.deploy import make_clients

    return {"bucket": bucket, "name": name, "s3": s3, "mwaa": make_clients(REGION)["mwaa"], **aws}
