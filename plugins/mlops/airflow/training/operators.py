"""Thin operators over `mlops.training.run`; the training itself is the Amazon provider's
SageMakerTrainingOperator, fed the request that PrepareTrainingOperator builds."""

from __future__ import annotations

import hashlib

from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTrainingOperator
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException

from mlops.airflow.defaults import FailFast
from mlops.settings import Settings


def _clients(settings: Settings, *services: str):
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return [AwsBaseHook(aws_conn_id=settings.aws_conn_id, client_type=s).get_conn() for s in services]


def _region(settings: Settings) -> str:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return AwsBaseHook(aws_conn_id=settings.aws_conn_id, client_type="sagemaker").conn_region_name or "us-east-1"


def run_stamp(context) -> str:
    """A name part unique to the DAG run and stable across its retries (the idempotency key)."""
    run = context["dag_run"]
    when = run.run_after or run.logical_date
    return f"{when:%Y%m%d-%H%M%S}-{hashlib.sha256(run.run_id.encode()).hexdigest()[:6]}"


def _model(name: str):
    from mlops.training.config import MODELS_DIR, load_model

    return load_model(MODELS_DIR / f"{name}.yaml")


class _ModelOperator(FailFast, BaseOperator):
    """An operator for one model, named by its configuration file (loaded at run time)."""

    def __init__(self, *, model: str, **kwargs):
        super().__init__(**kwargs)
        self.model = model


class CheckRetrainOperator(_ModelOperator):
    """Skip the run (and everything after) unless the retrain rule says train."""

    ui_color = "#fcf3cf"

    def execute(self, context):
        from mlops.training.run import check

        settings = Settings.from_env()
        s3, sagemaker = _clients(settings, "s3", "sagemaker")
        force = bool(context["params"].get("force_train", False))
        result = check(s3, sagemaker, settings.curated_bucket, _model(self.model), force=force)
        if not result.train:
            raise AirflowSkipException(f"not training {self.model}: {result.reason}")
        self.log.info("training %s: %s", self.model, result.reason)
        return {"new_rows": result.new_rows, "reason": result.reason}


class PrepareTrainingOperator(_ModelOperator):
    """Write the run's train/validation/test splits and return the CreateTrainingJob request."""

    ui_color = "#d4e6f1"

    def execute(self, context):
        from mlops.training.run import prepare

        settings = Settings.from_env()
        s3, sagemaker = _clients(settings, "s3", "sagemaker")
        prepared = prepare(s3, sagemaker, settings, _model(self.model), run_stamp(context), _region(settings))
        context["ti"].xcom_push(key="prepared", value=prepared)
        return prepared["request"]


class TrainingJobOperator(FailFast, SageMakerTrainingOperator):
    """The provider's SageMakerTrainingOperator, except that a job that failed because of the training
    code or its data fails the task at once: a new job on the same code and data fails the same way.

    SageMaker marks those failures `AlgorithmError: ...` in FailureReason (the entry point writes
    its reason there); internal errors, capacity and ClientError (which also covers S3 refusing a
    download or upload) are retried as configured.
    """

    PERMANENT_FAILURE_PREFIXES = ("AlgorithmError",)

    def execute(self, context):
        try:
            return super().execute(context)
        except AirflowException as err:
            self._fail_if_the_job_failed_permanently(self.config.get("TrainingJobName"), err)
            raise

    def execute_complete(self, context, event=None):
        try:
            return super().execute_complete(context, event)
        except AirflowException as err:
            name = (event or {}).get("job_name") or self.config.get("TrainingJobName")
            self._fail_if_the_job_failed_permanently(name, err)
            raise

    def _fail_if_the_job_failed_permanently(self, job_name: str | None, err: AirflowException) -> None:
        if not job_name:
            return
        try:
            described = self.hook.describe_training_job(job_name)
        except Exception:  # the job's state is unknown: let the original error decide
            return
        reason = described.get("FailureReason") or ""
        if described.get("TrainingJobStatus") == "Failed" and reason.startswith(self.PERMANENT_FAILURE_PREFIXES):
            raise AirflowFailException(f"SageMaker training job {job_name} failed: {reason}") from err


class RegisterCandidateOperator(_ModelOperator):
    """Gate the trained candidate, register it with its version, record its metrics, notify."""

    ui_color = "#d5f5e3"

    def __init__(self, *, prepare_task_id: str, train_task_id: str, **kwargs):
        super().__init__(**kwargs)
        self.prepare_task_id, self.train_task_id = prepare_task_id, train_task_id

    def execute(self, context):
        from airflow.providers.amazon.aws.hooks.sns import SnsHook

        from mlops.training.run import conclude

        settings = Settings.from_env()
        s3, sagemaker, dynamodb = _clients(settings, "s3", "sagemaker", "dynamodb")
        ti = context["ti"]
        prepared = ti.xcom_pull(task_ids=self.prepare_task_id, key="prepared")
        job = ti.xcom_pull(task_ids=self.train_task_id)["Training"]
        result = conclude(s3, sagemaker, dynamodb, settings, _model(self.model), job, prepared, settings.code_revision)
        self.log.info("%s\n%s", result["subject"], result["message"])
        SnsHook(aws_conn_id=settings.aws_conn_id).publish_to_target(
            target_arn=settings.alerts_topic_arn, message=result["message"], subject=result["subject"]
        )
        return result


class AnnounceApprovedOperator(FailFast, BaseOperator):
    """Update the model's Asset when the candidate was approved, so deployment picks it up."""

    ui_color = "#d5f5e3"

    def __init__(self, *, register_task_id: str, **kwargs):
        super().__init__(**kwargs)
        self.register_task_id = register_task_id

    def execute(self, context):
        result = context["ti"].xcom_pull(task_ids=self.register_task_id)
        if not result["approved"]:
            raise AirflowSkipException(
                f"{result['model']} {result['version']} is {result['status']}: nothing to deploy"
            )
        for outlet in self.outlets:
            context["outlet_events"][outlet].extra = {
                k: result[k] for k in ("model", "version", "package_arn", "model_data_url")
            }
        return result["version"]
