"""A training job that cannot succeed fails the provider's training call with the script's own
error text, through the real request builder, entry point and local SageMaker runner, and
nothing reaches the registry."""

from __future__ import annotations

import shutil
from dataclasses import replace

import boto3
import pytest

from embedded_stack.sagemaker_local import start_server
from mlops.registry import packages as registry
from mlops.training.config import MODELS_DIR, load_model
from mlops.training.job import training_job_request, upload_source_dir
from tests.conftest import set_aws_connection

ROLE = "arn:aws:iam::123456789012:role/mlops-sagemaker-execution"


@pytest.fixture(scope="module")
def plane(moto_endpoint, tmp_path_factory):
    server = start_server(0, moto_endpoint, tmp_path_factory.mktemp("sagemaker"), stop_grace_seconds=2)
    yield server
    server.shutdown()


@pytest.fixture
def hook(plane, moto_endpoint, monkeypatch):
    set_aws_connection(monkeypatch, "training_test", moto_endpoint, plane.url)
    from airflow.providers.amazon.aws.hooks.sagemaker import SageMakerHook

    return SageMakerHook(aws_conn_id="training_test")


def _channels(s3, bucket: str, model) -> dict[str, str]:
    from sklearn.datasets import load_diabetes

    from embedded_stack.seed import PATIENT_COLUMNS

    data = load_diabetes(scaled=False)
    frame = __import__("pandas").DataFrame(data.data, columns=PATIENT_COLUMNS)
    frame[model.label] = data.target
    frame.insert(0, model.key, range(len(frame)))
    channels = {}
    for split, part in (("train", frame.iloc[:300]), ("validation", frame.iloc[300:370]), ("test", frame.iloc[370:])):
        s3.put_object(Bucket=bucket, Key=f"run/data/{split}/data.csv", Body=part.to_csv(index=False).encode())
        channels[split] = f"s3://{bucket}/run/data/{split}/"
    return channels


def _request(s3, model, name: str, source_dir) -> dict:
    bucket = s3.buckets["raw"]
    source = upload_source_dir(s3, source_dir, bucket, "code")
    return training_job_request(
        model,
        job_name=name,
        role_arn=ROLE,
        region="us-east-1",
        channels=_channels(s3, bucket, model),
        output_path=f"s3://{bucket}/run/output",
        source_dir_uri=source,
    )


def test_invalid_hyperparameter_fails_with_the_parameter_named(s3, hook, plane, moto_endpoint):
    model = load_model(MODELS_DIR / "diabetes_progression.yaml")
    bad = replace(model, hyperparameters={**model.hyperparameters, "n_estimators": -3})
    request = _request(s3, bad, "diabetes-bad-hyperparameter", model.training.source_dir)
    with pytest.raises(Exception, match="n_estimators") as failure:
        hook.create_training_job(request, wait_for_completion=True, print_log=False, check_interval=1)
    assert "-3" in str(failure.value)
    described = hook.describe_training_job("diabetes-bad-hyperparameter")
    assert described["TrainingJobStatus"] == "Failed" and "n_estimators" in described["FailureReason"]
    assert "ModelArtifacts" not in described
    sagemaker = boto3.client("sagemaker", endpoint_url=moto_endpoint, region_name="us-east-1")
    assert registry.list_versions(sagemaker, model.name) == []


def test_broken_training_script_fails_with_its_own_error(s3, hook, tmp_path):
    model = load_model(MODELS_DIR / "diabetes_progression.yaml")
    source = tmp_path / "training"
    shutil.copytree(model.training.source_dir, source)
    script = source / model.training.entry_point
    head = "def main(argv=None) -> int:\n"
    assert head in script.read_text()
    broken = "    raise RuntimeError('feature store unreachable: broken training script')\n"
    script.write_text(script.read_text().replace(head, head + broken, 1))
    request = _request(s3, model, "diabetes-broken-script", source)
    with pytest.raises(Exception, match="feature store unreachable: broken training script"):
        hook.create_training_job(request, wait_for_completion=True, print_log=False, check_interval=1)
