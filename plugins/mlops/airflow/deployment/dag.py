"""Build one deployment DAG per model configuration file (include/models/*.yaml).

    resolve_package -> build_requests -> create_model (SageMakerModelOperator)
      -> create_endpoint_config (SageMakerEndpointConfigOperator)
      -> deploy_endpoint (SageMakerEndpointOperator, create or update decided at run time, deferred)
      -> verify_endpoint (InService on the requested config) -> record_deployment -> notify

Scheduled on the `model.<name>` Asset that training updates when a candidate is approved; run by
hand with a `version` to deploy a registered version (a rollback), or without one for the newest
Approved package.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from mlops.airflow.defaults import default_args
from mlops.settings import Settings


def _doc(model, deployment) -> str:
    ep = deployment.endpoint
    compute = (
        f"serverless ({ep.memory_size_mb} MB, at most {ep.max_concurrency} concurrent requests)"
        if ep.kind == "serverless"
        else f"{ep.instance_count} x {ep.instance_type}"
    )
    capture = deployment.data_capture
    captured = (
        f"{capture.sampling_percentage}% of requests captured under `{capture.prefix}/`"
        if capture.enabled
        else "no data capture"
    )
    return (
        f"### Deployment of model `{model.name}` ({model.problem_type})\n\n{model.description}\n\n"
        f"Runs when training approves a candidate (Asset `model.{model.name}`), or by hand with a registered "
        "`version`. Creates a SageMaker Model from the approved package (framework inference image, its "
        "`model.tar.gz`, the handler `code/inference.py`), an endpoint config with one production variant named "
        f"by the version, and creates or updates the endpoint `{model.name.replace('_', '-')}`: {compute}, "
        f"{captured}. The endpoint must then be InService on the requested config (an update SageMaker rolled "
        "back fails the run); the registry records which version it serves, which becomes the model in "
        "production that training compares candidates against. SNS announces the new version.\n\n"
        f"Configured in the `deployment:` section of `include/models/{model.name}.yaml`."
    )


def build_deployment_dag(model, deployment, settings: Settings | None = None):
    from airflow.sdk import DAG, Param

    from mlops.airflow.assets import model_asset
    from mlops.airflow.deployment.operators import (
        BuildRequestsOperator,
        CreateEndpointConfigOperator,
        CreateModelOperator,
        DeployEndpointOperator,
        NotifyDeploymentOperator,
        RecordDeploymentOperator,
        ResolvePackageOperator,
        VerifyEndpointOperator,
    )

    settings = settings or Settings.from_env()
    with DAG(
        dag_id=f"deploy_{model.name}",
        description=f"Serve {model.name} from its production endpoint",
        doc_md=_doc(model, deployment),
        schedule=model_asset(model.name),
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,  # one change to an endpoint at a time
        default_args=default_args(model.owner, 2, settings),
        params={
            "version": Param(
                "",
                type="string",
                description="A registered version to deploy (e.g. V1.0.3); empty: the triggering or newest Approved one.",
            )
        },
        tags=["deployment", f"model:{model.name}", model.problem_type, deployment.endpoint.kind, *model.tags],
    ) as dag:
        resolve = ResolvePackageOperator(task_id="resolve_package", model=model.name)
        build = BuildRequestsOperator(
            task_id="build_requests",
            model=model.name,
            resolve_task_id=resolve.task_id,
            multiple_outputs=True,  # build.output["model"] etc. read XComs of those keys
        )
        create_model = CreateModelOperator(
            task_id="create_model", config=build.output["model"], aws_conn_id=settings.aws_conn_id
        )
        create_config = CreateEndpointConfigOperator(
            task_id="create_endpoint_config", config=build.output["endpoint_config"], aws_conn_id=settings.aws_conn_id
        )
        deploy = DeployEndpointOperator(
            task_id="deploy_endpoint",
            config=build.output["endpoint"],
            aws_conn_id=settings.aws_conn_id,
            wait_for_completion=True,
            deferrable=True,  # the worker is free while SageMaker starts the variant
            check_interval=settings.sagemaker_poll_seconds,
            max_ingestion_time=3600,
        )
        verify = VerifyEndpointOperator(task_id="verify_endpoint", build_task_id=build.task_id)
        record = RecordDeploymentOperator(
            task_id="record_deployment", resolve_task_id=resolve.task_id, verify_task_id=verify.task_id
        )
        notify = NotifyDeploymentOperator(
            task_id="notify",
            resolve_task_id=resolve.task_id,
            build_task_id=build.task_id,
            deploy_task_id=deploy.task_id,
            verify_task_id=verify.task_id,
        )
        resolve >> build >> create_model >> create_config >> deploy >> verify >> record >> notify
    return dag


def build_deployment_dags(directory: Path | None = None) -> dict:
    """All deployment DAGs, keyed by dag_id (for a DAG file's globals); a model file that does not
    load becomes a `config-error` stand-in DAG naming file and field, and the other DAGs stay."""
    from mlops.airflow.config_error import build_each
    from mlops.deployment.config import load_deployment
    from mlops.training.config import MODELS_DIR, load_model

    settings = Settings.from_env()

    def build(path: Path):
        model = load_model(path)
        return build_deployment_dag(model, load_deployment(model.name), settings)

    return build_each(
        sorted((directory or MODELS_DIR).glob("*.yaml")),
        build,
        prefix="deploy",
        stage="deployment",
        owner="data-science",
        settings=settings,
    )
