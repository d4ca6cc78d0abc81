"""IAM on the embedded stack: moto started the stack's way (embedded_stack.moto_state --enforce-iam),
the identities applied by Terraform from infra/modules/identity (embedded_stack/iam.py), each
identity acting with its own key or profile, and the same after a restart from saved state.

Needs terraform (as tests/infra does); skipped with the reason where it is missing.
"""

from __future__ import annotations

import shutil
import signal
import subprocess

import pytest
from botocore.exceptions import ClientError

from tests.conftest import free_port

pytestmark = pytest.mark.skipif(shutil.which("terraform") is None, reason="terraform is not installed")

RAW_KEY = "clinic/patients/ds=2026-10-01/data.parquet"
QUARANTINE_KEY = "_quarantine/clinic/patients/ds=2026-10-02/bad.csv"
CURATED_KEY = "diabetes_patients/ds=2026-10-01/_manifest.json"


def _start_moto(cfg):
    from embedded_stack import stack

    cfg.log_dir.mkdir(parents=True, exist_ok=True)
    log = open(cfg.log_dir / "moto.log", "ab")
    proc = subprocess.Popen(stack.moto_argv(cfg, enforce_iam=True), stdout=log, stderr=subprocess.STDOUT)
    stack.wait_http(f"{cfg.moto_url}/moto-api/", 60, "moto server", cfg.log_dir / "moto.log")
    return proc


def _stop_moto(proc) -> None:
    proc.send_signal(signal.SIGTERM)  # as `make down`: moto snapshots its state
    proc.wait(timeout=60)


def _provision(cfg) -> dict:
    from embedded_stack import aws, iam, stack

    result = iam.provision(cfg)
    aws.provision(cfg.moto_url, cfg.region, stack.pipeline_env(cfg), iam.admin_key(cfg))
    return result


@pytest.fixture(scope="module")
def local_stack(tmp_path_factory):
    """moto with IAM enforced and the identities applied; the buckets seeded as the administrator."""
    from embedded_stack import stack
    from embedded_stack.paths import StackConfig

    cfg = StackConfig(
        state=tmp_path_factory.mktemp("iam-stack"),
        pg_port=free_port(),
        moto_port=free_port(),
        airflow_port=free_port(),
        sagemaker_port=free_port(),
    )
    proc = _start_moto(cfg)
    try:
        first = _provision(cfg)
        env = stack.pipeline_env(cfg)
        admin = stack.aws_client(cfg, "s3")
        admin.put_object(Bucket=env["MLOPS_RAW_BUCKET"], Key=RAW_KEY, Body=b"raw rows")
        admin.put_object(Bucket=env["MLOPS_RAW_BUCKET"], Key=QUARANTINE_KEY, Body=b"rejected rows")
        admin.put_object(Bucket=env["MLOPS_CURATED_BUCKET"], Key=CURATED_KEY, Body=b'{"files": []}')
        holder = {"cfg": cfg, "env": env, "first": first, "proc": proc}
        yield holder
    finally:
        _stop_moto(holder["proc"] if "holder" in locals() else proc)


def _error_code(call) -> str:
    with pytest.raises(ClientError) as err:
        call()
    return err.value.response["Error"]["Code"]


def _as(cfg, profile: str, service: str = "s3"):
    from embedded_stack import stack

    return stack.aws_client(cfg, service, profile)


def test_first_up_applies_the_identities_with_terraform(local_stack):
    from embedded_stack import iam

    cfg = local_stack["cfg"]
    assert local_stack["first"]["applied"] is True
    roles = {r["RoleName"] for r in _as(cfg, "mlops-admin", "iam").list_roles()["Roles"]}
    assert {"mlops-mwaa-execution", "mlops-sagemaker-execution", "mlops-data-engineer", "mlops-data-scientist"} <= roles
    assert oct(iam.credentials_file(cfg).stat().st_mode & 0o777) == "0o600"


def test_a_made_up_key_is_refused_on_raw(local_stack):
    import boto3

    cfg, raw = local_stack["cfg"], local_stack["env"]["MLOPS_RAW_BUCKET"]
    for key_id, secret in (("AKIAMADEUPKEY0000000", "made-up-secret"), ("testing", "testing")):
        s3 = boto3.client(
            "s3",
            endpoint_url=cfg.moto_url,
            region_name=cfg.region,
            aws_access_key_id=key_id,
            aws_secret_access_key=secret,
        )
        assert _error_code(lambda s3=s3: s3.get_object(Bucket=raw, Key=RAW_KEY)) == "InvalidAccessKeyId"


def test_scientist_is_denied_raw_and_quarantine_and_reads_curated(local_stack):
    cfg, env = local_stack["cfg"], local_stack["env"]
    s3 = _as(cfg, "mlops-scientist")
    assert _error_code(lambda: s3.get_object(Bucket=env["MLOPS_RAW_BUCKET"], Key=RAW_KEY)) == "AccessDenied"
    assert _error_code(lambda: s3.get_object(Bucket=env["MLOPS_RAW_BUCKET"], Key=QUARANTINE_KEY)) == "AccessDenied"
    assert _error_code(lambda: s3.list_objects_v2(Bucket=env["MLOPS_RAW_BUCKET"])) == "AccessDenied"
    assert _error_code(lambda: s3.put_object(Bucket=env["MLOPS_CURATED_BUCKET"], Key="x", Body=b"x")) == "AccessDenied"
    assert s3.get_object(Bucket=env["MLOPS_CURATED_BUCKET"], Key=CURATED_KEY)["Body"].read() == b'{"files": []}'


def test_scientist_profile_from_the_local_aws_files(local_stack, monkeypatch):
    """What the README shows: AWS_CONFIG_FILE=.local/aws/config AWS_PROFILE=mlops-scientist."""
    import boto3

    from embedded_stack import iam

    cfg, env = local_stack["cfg"], local_stack["env"]
    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(iam.config_file(cfg)))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(iam.credentials_file(cfg)))
    session = boto3.session.Session(profile_name="mlops-scientist")
    arn = session.client("sts").get_caller_identity()["Arn"]
    assert arn.startswith(f"arn:aws:sts::{cfg.account}:assumed-role/mlops-data-scientist/")
    s3 = session.client("s3")
    assert _error_code(lambda: s3.get_object(Bucket=env["MLOPS_RAW_BUCKET"], Key=RAW_KEY)) == "AccessDenied"
    assert s3.get_object(Bucket=env["MLOPS_CURATED_BUCKET"], Key=CURATED_KEY)["Body"].read() == b'{"files": []}'


def test_engineer_reads_raw(local_stack):
    cfg, env = local_stack["cfg"], local_stack["env"]
    s3 = _as(cfg, "mlops-engineer")
    assert s3.get_object(Bucket=env["MLOPS_RAW_BUCKET"], Key=RAW_KEY)["Body"].read() == b"raw rows"
    assert s3.get_object(Bucket=env["MLOPS_RAW_BUCKET"], Key=QUARANTINE_KEY)["Body"].read() == b"rejected rows"


def test_pipeline_writes_curated_and_the_model_tables_but_not_landing(local_stack):
    cfg, env = local_stack["cfg"], local_stack["env"]
    s3 = _as(cfg, "mlops-pipeline")
    s3.put_object(Bucket=env["MLOPS_CURATED_BUCKET"], Key="diabetes_patients/ds=2026-10-02/part-0.parquet", Body=b"p")
    assert s3.get_object(Bucket=env["MLOPS_RAW_BUCKET"], Key=RAW_KEY)["Body"].read() == b"raw rows"
    landing = env["MLOPS_LANDING_BUCKET"]
    assert _error_code(lambda: s3.put_object(Bucket=landing, Key="drop/x.csv", Body=b"a\n")) == "AccessDenied"
    item = {"model": {"S": "m"}, "record": {"S": "r"}}
    _as(cfg, "mlops-pipeline", "dynamodb").put_item(TableName=env["MLOPS_VERSIONS_TABLE"], Item=item)
    scientist_db = _as(cfg, "mlops-scientist", "dynamodb")
    with pytest.raises(ClientError) as denied:  # moto answers JSON services with an XML error: status only
        scientist_db.put_item(TableName=env["MLOPS_VERSIONS_TABLE"], Item=item)
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert scientist_db.get_item(TableName=env["MLOPS_VERSIONS_TABLE"], Key=item)["Item"] == item


def test_sagemaker_identity_reads_training_channels_only(local_stack):
    cfg, env = local_stack["cfg"], local_stack["env"]
    _as(cfg, "mlops-pipeline").put_object(
        Bucket=env["MLOPS_ARTIFACTS_BUCKET"], Key="models/m/runs/r1/data/train/data.csv", Body=b"x\n1\n"
    )
    s3 = _as(cfg, "mlops-sagemaker")
    got = s3.get_object(Bucket=env["MLOPS_ARTIFACTS_BUCKET"], Key="models/m/runs/r1/data/train/data.csv")
    assert got["Body"].read() == b"x\n1\n"
    s3.put_object(Bucket=env["MLOPS_ARTIFACTS_BUCKET"], Key="models/m/runs/r1/output/model.tar.gz", Body=b"m")
    s3.head_bucket(Bucket=env["MLOPS_ARTIFACTS_BUCKET"])  # authorized as s3:ListBucket, as on AWS
    assert _error_code(lambda: _as(cfg, "mlops-scientist").head_bucket(Bucket=env["MLOPS_RAW_BUCKET"])) == "403"
    assert _error_code(lambda: s3.get_object(Bucket=env["MLOPS_CURATED_BUCKET"], Key=CURATED_KEY)) == "AccessDenied"


def test_cloudwatch_metrics_are_authorized_as_cloudwatch_actions(local_stack):
    """CloudWatch signs as "monitoring"; its IAM actions are cloudwatch:PutMetricData, which the
    SageMaker and the pipeline identities hold and a data scientist does not."""
    cfg = local_stack["cfg"]
    metric = [{"MetricName": "Invocations", "Value": 1.0, "Unit": "Count"}]
    _as(cfg, "mlops-sagemaker", "cloudwatch").put_metric_data(Namespace="/aws/sagemaker/Endpoints", MetricData=metric)
    _as(cfg, "mlops-pipeline", "cloudwatch").put_metric_data(Namespace="MLOps/Ingestion", MetricData=metric)
    scientist = _as(cfg, "mlops-scientist", "cloudwatch")
    with pytest.raises(ClientError) as denied:
        scientist.put_metric_data(Namespace="MLOps/Ingestion", MetricData=metric)
    assert denied.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert "not authorized to perform: cloudwatch:PutMetricData" in str(denied.value)


def test_enforcement_cannot_be_switched_off_over_http(local_stack):
    import urllib.error
    import urllib.request

    request = urllib.request.Request(f"{local_stack['cfg'].moto_url}/moto-api/reset-auth", data=b"inf", method="POST")
    with pytest.raises(urllib.error.HTTPError) as err:
        urllib.request.urlopen(request, timeout=10)
    assert err.value.code == 403


def test_restart_restores_the_identities_without_a_new_apply(local_stack):
    """Run last: moto is stopped (snapshot) and started again from its state folder."""
    cfg, env = local_stack["cfg"], local_stack["env"]
    _stop_moto(local_stack["proc"])
    local_stack["proc"] = _start_moto(cfg)
    again = _provision(cfg)
    assert again["applied"] is False
    s3 = _as(cfg, "mlops-scientist")
    assert _error_code(lambda: s3.get_object(Bucket=env["MLOPS_RAW_BUCKET"], Key=RAW_KEY)) == "AccessDenied"
    assert s3.get_object(Bucket=env["MLOPS_CURATED_BUCKET"], Key=CURATED_KEY)["Body"].read() == b'{"files": []}'
    assert _as(cfg, "mlops-engineer").get_object(Bucket=env["MLOPS_RAW_BUCKET"], Key=RAW_KEY)["Body"].read() == (
        b"raw rows"
    )
