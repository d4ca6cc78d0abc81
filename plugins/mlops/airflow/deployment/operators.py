"""Thin operators over `mlops.deployment.steps`; the hosting calls are the Amazon provider's
SageMakerModelOperator, SageMakerEndpointConfigOperator and SageMakerEndpointOperator, with only
what they lack added: reuse of an existing model / endpoint config of the same name and request
(so a retry or a rerun changes nothing), and create-or-update decided when the task runs."""

from __future__ import annotations

from airflow.providers.amazon.aws.operators.sagemaker import (
    SageMakerEndpointConfigOperator,
    SageMakerEndpointOperator,
    SageMakerModelOperator,
    serialize,
)
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowSkipException

from mlops.airflow.aws_clients import aws_clients, aws_region
from mlops.settings import Settings


class _ModelOperator(BaseOperator):
    def __init__(self, *, model: str, **kwargs):
        super().__init__(**kwargs)
        self.model = model


def _triggering_extra(context, model: str) -> dict | None:
    """`extra` of the newest `model.<model>` asset event that started this run, if one did."""
    from mlops.airflow.assets import model_asset

    events = context.get("triggering_asset_events") or {}
    try:
        found = list(events[model_asset(model)])
    except (KeyError, TypeError):
        return None
    if not found:
        return None
    return dict(max(found, key=lambda e: e.timestamp).extra or {})


class ResolvePackageOperator(_ModelOperator):
    """The approved package to deploy: the triggering asset event's, the `version` param's, or the newest."""

    ui_color = "#fcf3cf"

    def execute(self, context):
        from mlops.deployment.steps import resolve_package

        (sagemaker,) = aws_clients(Settings.from_env(), "sagemaker")
        version = (context["params"] or {}).get("version") or None
        extra = None if version else _triggering_extra(context, self.model)
        package = resolve_package(sagemaker, self.model, event=extra, version=version)
        self.log.info("deploying %s %s (%s)", package.model, package.version, package.package_arn)
        return package.to_dict()


class BuildRequestsOperator(_ModelOperator):
    """CreateModel, CreateEndpointConfig and CreateEndpoint requests, and what is served now."""

    ui_color = "#d4e6f1"

    def __init__(self, *, resolve_task_id: str, **kwargs):
        super().__init__(**kwargs)
        self.resolve_task_id = resolve_task_id

    def execute(self, context):
        from mlops.deployment.config import load_deployment
        from mlops.deployment.requests import ApprovedPackage
        from mlops.deployment.steps import build_requests
        from mlops.registry.packages import served_package
        from mlops.training.config import MODELS_DIR, load_model

        settings = Settings.from_env()
        (sagemaker,) = aws_clients(settings, "sagemaker")
        package = ApprovedPackage(**context["ti"].xcom_pull(task_ids=self.resolve_task_id))
        requests = build_requests(
            package,
            load_deployment(self.model),
            load_model(MODELS_DIR / f"{self.model}.yaml"),
            settings,
            aws_region(settings),
        )
        served = served_package(sagemaker, self.model)
        requests["previous"] = str(served.version) if served else None
        return requests


def _existing(describe, name: str) -> dict | None:
    from botocore.exceptions import ClientError

    try:
        return describe(name)
    except ClientError as err:
        if err.response["Error"]["Code"] in ("ValidationException", "ValidationError"):
            return None
        raise


def _reuse_or_create(operator, context, create, *, kind: str, answer: str, describe, matches, differs: str) -> dict:
    """`create(context)` (the provider's execute) unless a resource of the request's name exists:
    reused when `matches(request, described)`, an error when that name holds another request."""
    name = operator.config[f"{answer}Name"]
    existing = _existing(describe, name)
    if existing is None:
        return create(context)
    if not matches(operator.config, existing):
        raise AirflowException(f"{kind} {name} exists with {differs}")
    operator.log.info("%s %s exists with this request: reused", kind, name)
    return {answer: serialize(existing)}


class CreateModelOperator(SageMakerModelOperator):
    """The provider's CreateModel; an existing model of the same name and request is reused."""

    def execute(self, context):
        from mlops.deployment.requests import model_matches

        return _reuse_or_create(
            self,
            context,
            super().execute,
            kind="model",
            answer="Model",
            describe=self.hook.describe_model,
            matches=model_matches,
            differs="another container or role",
        )


class CreateEndpointConfigOperator(SageMakerEndpointConfigOperator):
    """The provider's CreateEndpointConfig; an existing config of the same name and request is reused."""

    def execute(self, context):
        from mlops.deployment.requests import endpoint_config_matches

        return _reuse_or_create(
            self,
            context,
            super().execute,
            kind="endpoint config",
            answer="EndpointConfig",
            describe=self.hook.describe_endpoint_config,
            matches=endpoint_config_matches,
            differs="other variants",
        )


class DeployEndpointOperator(SageMakerEndpointOperator):
    """The provider's CreateEndpoint / UpdateEndpoint, the operation chosen from the endpoint's
    state when the task runs (mlops.deployment.steps.plan_endpoint). Returns the provider's
    answer plus `changed` (False when the endpoint already served the config)."""

    def execute(self, context):
        from mlops.deployment.steps import describe_endpoint, plan_endpoint

        name, config = self.config["EndpointName"], self.config["EndpointConfigName"]
        described = describe_endpoint(self.hook.conn, name)
        plan = plan_endpoint(described, config)
        self.log.info("endpoint %s: %s (config %s)", name, plan, config)
        if plan == "serving":
            return {
                "EndpointConfig": serialize(self.hook.describe_endpoint_config(config)),
                "Endpoint": serialize(described),
                "changed": False,
            }
        if plan == "wait":
            return self._wait(name)
        if plan == "recreate":  # a Failed endpoint serves nothing and UpdateEndpoint refuses it
            self.log.warning(
                "endpoint %s is Failed (%s): deleting it to create it again", name, described.get("FailureReason")
            )
            self.hook.conn.delete_endpoint(EndpointName=name)
            self.hook.get_waiter("endpoint_deleted").wait(
                EndpointName=name, WaiterConfig={"Delay": self.check_interval, "MaxAttempts": 120}
            )
            plan = "create"
        self.operation = plan
        if plan == "update":
            self.config = {k: v for k, v in self.config.items() if k != "Tags"}  # UpdateEndpoint takes no Tags
        return {**super().execute(context), "changed": True}

    def _wait(self, name: str):
        from airflow.providers.amazon.aws.triggers.sagemaker import SageMakerTrigger

        if self.deferrable:
            self.defer(
                trigger=SageMakerTrigger(
                    job_name=name, job_type="endpoint", waiter_delay=self.check_interval, aws_conn_id=self.aws_conn_id
                ),
                method_name="execute_complete",
            )
        self.hook.get_waiter("endpoint_in_service").wait(
            EndpointName=name, WaiterConfig={"Delay": self.check_interval, "MaxAttempts": self.max_ingestion_time}
        )
        described = self.hook.describe_endpoint(name)
        return {
            "EndpointConfig": serialize(self.hook.describe_endpoint_config(described["EndpointConfigName"])),
            "Endpoint": serialize(described),
            "changed": True,
        }

    def execute_complete(self, context, event=None):
        return {**super().execute_complete(context, event), "changed": True}


class VerifyEndpointOperator(BaseOperator):
    """Fail unless the endpoint is InService on the config this run asked for (see verify.py)."""

    ui_color = "#fadbd8"

    def __init__(self, *, build_task_id: str, **kwargs):
        super().__init__(**kwargs)
        self.build_task_id = build_task_id

    def execute(self, context):
        from mlops.deployment.verify import verify_endpoint

        (sagemaker,) = aws_clients(Settings.from_env(), "sagemaker")
        endpoint = context["ti"].xcom_pull(task_ids=self.build_task_id)["endpoint"]
        serving = verify_endpoint(sagemaker, endpoint["EndpointName"], endpoint["EndpointConfigName"])
        self.log.info("endpoint %s InService on %s (variants %s)", serving.endpoint, serving.config, serving.variants)
        return dict(serving.__dict__)


class RecordDeploymentOperator(BaseOperator):
    """Record in the registry which package the endpoint serves (what training compares against)."""

    ui_color = "#d5f5e3"

    def __init__(self, *, resolve_task_id: str, verify_task_id: str, **kwargs):
        super().__init__(**kwargs)
        self.resolve_task_id, self.verify_task_id = resolve_task_id, verify_task_id

    def execute(self, context):
        from mlops.deployment.requests import ApprovedPackage
        from mlops.deployment.steps import record
        from mlops.deployment.verify import Serving

        (sagemaker,) = aws_clients(Settings.from_env(), "sagemaker")
        ti = context["ti"]
        package = ApprovedPackage(**ti.xcom_pull(task_ids=self.resolve_task_id))
        serving = ti.xcom_pull(task_ids=self.verify_task_id)
        recorded = record(sagemaker, package, Serving(**{**serving, "variants": tuple(serving["variants"])}))
        return {"package_arn": recorded.arn, "endpoints": recorded.endpoints}


class NotifyDeploymentOperator(BaseOperator):
    """SNS: endpoint <name> InService with <model> <version>; skipped when nothing changed."""

    ui_color = "#d5f5e3"

    def __init__(self, *, resolve_task_id: str, build_task_id: str, deploy_task_id: str, verify_task_id: str, **kwargs):
        super().__init__(**kwargs)
        self.resolve_task_id, self.build_task_id = resolve_task_id, build_task_id
        self.deploy_task_id, self.verify_task_id = deploy_task_id, verify_task_id

    def execute(self, context):
        from airflow.providers.amazon.aws.hooks.sns import SnsHook

        from mlops.deployment.requests import ApprovedPackage
        from mlops.deployment.steps import notification
        from mlops.deployment.verify import Serving

        settings = Settings.from_env()
        ti = context["ti"]
        package = ApprovedPackage(**ti.xcom_pull(task_ids=self.resolve_task_id))
        serving = ti.xcom_pull(task_ids=self.verify_task_id)
        serving = Serving(**{**serving, "variants": tuple(serving["variants"])})
        previous = ti.xcom_pull(task_ids=self.build_task_id).get("previous")
        # A retried deploy_endpoint whose first try brought the endpoint up (and lost its result, e.g. to
        # Airflow's race between a resumed deferral and the executor's stale event) answers changed=False;
        # what the endpoint served before this run then says whether the run changed anything.
        if not (ti.xcom_pull(task_ids=self.deploy_task_id) or {}).get("changed", True) and previous == package.version:
            raise AirflowSkipException(f"{serving.endpoint} already served {package.version}: no notification")
        subject, message = notification(package, serving, previous)
        self.log.info("%s\n%s", subject, message)
        SnsHook(aws_conn_id=settings.aws_conn_id).publish_to_target(
            target_arn=settings.alerts_topic_arn, message=message, subject=subject
        )
        return subject
