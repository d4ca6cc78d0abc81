"""The deploy DAG's SageMaker operators (the provider's, with reuse and create-or-update added)
run against the moto server: a rerun of the same version creates nothing and reports no change."""

from __future__ import annotations

import uuid

import boto3
import pytest

from mlops.deployment.config import load_deployment
from mlops.deployment.requests import ApprovedPackage, deployment_requests
from mlops.settings import Settings
from tests.conftest import set_aws_connection


@pytest.fixture
def requests_for_new_model(moto_endpoint, monkeypatch):
    set_aws_connection(monkeypatch, "aws_default", moto_endpoint)
    name = f"digits_{uuid.uuid4().hex[:6]}"
    package = ApprovedPackage(
        model=name,
        version="V1.0.0.0",
        package_arn=f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{name}/1",
        model_data_url=f"s3://mlops-artifacts/models/{name}/model.tar.gz",
        image="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3",
    )
    return deployment_requests(
        package, package.image, load_deployment("digits_classifier"), Settings.from_env(), "us-east-1"
    )


def _run(reqs):
    from mlops.airflow.deployment.operators import (
        CreateEndpointConfigOperator,
        CreateModelOperator,
        DeployEndpointOperator,
    )

    model = CreateModelOperator(task_id="m", config=dict(reqs["model"])).execute({})
    config = CreateEndpointConfigOperator(task_id="c", config=dict(reqs["endpoint_config"])).execute({})
    deploy = DeployEndpointOperator(
        task_id="e", config=dict(reqs["endpoint"]), deferrable=False, check_interval=1, max_ingestion_time=30
    ).execute({})
    return model, config, deploy


def test_create_then_rerun_changes_nothing(requests_for_new_model, moto_endpoint):
    reqs = requests_for_new_model
    model, config, deploy = _run(reqs)
    assert model["Model"]["ModelName"] == reqs["model"]["ModelName"]
    assert config["EndpointConfig"]["EndpointConfigName"] == reqs["endpoint_config"]["EndpointConfigName"]
    assert deploy["changed"] and deploy["Endpoint"]["EndpointStatus"] == "InService"

    client = boto3.client("sagemaker", endpoint_url=moto_endpoint, region_name="us-east-1")
    created = client.describe_endpoint(EndpointName=reqs["endpoint"]["EndpointName"])["CreationTime"]
    again = _run(reqs)[2]
    assert again["changed"] is False
    assert client.describe_endpoint(EndpointName=reqs["endpoint"]["EndpointName"])["CreationTime"] == created


def test_a_model_of_the_same_name_with_another_container_is_refused(requests_for_new_model):
    from airflow.sdk.exceptions import AirflowException

    from mlops.airflow.deployment.operators import CreateModelOperator

    reqs = requests_for_new_model
    CreateModelOperator(task_id="m", config=dict(reqs["model"])).execute({})
    other = {
        **reqs["model"],
        "PrimaryContainer": {**reqs["model"]["PrimaryContainer"], "ModelDataUrl": "s3://b/k.tar.gz"},
    }
    with pytest.raises(AirflowException, match="exists with another container or role"):
        CreateModelOperator(task_id="m", config=other).execute({})
