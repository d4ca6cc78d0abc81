"""The deployment DAGs as built from the model files: one per model, scheduled on the model's
Asset, the provider's SageMaker operators in order, a `version` param for runs by hand."""

from __future__ import annotations

import pytest

from mlops.airflow.deployment.dag import build_deployment_dags

ORDER = [
    "resolve_package",
    "build_requests",
    "create_model",
    "create_endpoint_config",
    "deploy_endpoint",
    "verify_endpoint",
    "record_deployment",
    "notify",
]


@pytest.fixture(scope="module")
def dags():
    return build_deployment_dags()


def test_one_deploy_dag_per_model_on_its_asset(dags):
    from mlops.training.config import MODELS_DIR, load_models

    # one per model file (a model added by configuration gets its own), the repo's two among them
    assert set(dags) == {f"deploy_{m.name}" for m in load_models(MODELS_DIR)}
    assert {"deploy_diabetes_progression", "deploy_digits_classifier"} <= set(dags)
    for dag_id, dag in dags.items():
        model = dag_id.removeprefix("deploy_")
        assert dag.timetable.asset_condition.name == f"model.{model}"
        assert dag.params["version"] == "" and dag.max_active_runs == 1
    assert "serverless" in dags["deploy_diabetes_progression"].tags
    assert "instance" in dags["deploy_digits_classifier"].tags


def test_tasks_run_in_order_on_the_providers_operators(dags):
    from airflow.providers.amazon.aws.operators.sagemaker import (
        SageMakerEndpointConfigOperator,
        SageMakerEndpointOperator,
        SageMakerModelOperator,
    )

    dag = dags["deploy_digits_classifier"]
    for upstream, downstream in zip(ORDER, ORDER[1:], strict=False):
        assert downstream in dag.get_task(upstream).downstream_task_ids  # build_requests also feeds the later three
    assert set(dag.task_ids) == set(ORDER)
    assert isinstance(dag.get_task("create_model"), SageMakerModelOperator)
    assert isinstance(dag.get_task("create_endpoint_config"), SageMakerEndpointConfigOperator)
    deploy = dag.get_task("deploy_endpoint")
    assert isinstance(deploy, SageMakerEndpointOperator) and deploy.deferrable and deploy.wait_for_completion
