"""Thin operators over `mlops.training.run`; the training itself is the Amazon provider's
SageMakerTrainingOperator, fed the request that PrepareTrainingOperator builds."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTrainingOperator
from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowException, AirflowFailException, AirflowSkipException, XComNotFound

from mlops.airflow.aws_clients import aws_clients, aws_region
from mlops.airflow.defaults import FailFast
from mlops.settings import Settings


def run_stamp(context) -> str:
    """A name part unique to the DAG run and stable across its retries (the idempotency key)."""
    run = context["dag_run"]
    when = run.run_after or run.logical_date
    return f"{when:%Y%m%d-%H%M%S}-{hashlib.sha256(run.run_id.encode()).hexdigest()[:6]}"


def _model(name: str):
    from mlops.training.config import MODELS_DIR, load_model

    return load_model(MODELS_DIR / f"{name}.yaml")


def upstream_task_id(result) -> str | None:
    """The task an XComArg reads from (kept for messages: the field itself is replaced by its value)."""
    return getattr(getattr(result, "operator", None), "task_id", None)


def missing_result(what: str, task_id: str | None) -> AirflowFailException:
    """A failure without retry for an upstream result that is not there: nothing is guessed in its place."""
    task = task_id or "the upstream task"
    return AirflowFailException(
        f"no {what}: {task} has no return value (was it marked success by hand?); "
        f"clear {task} with its upstream tasks to rerun the training"
    )


class _ResultsOperator(FailFast, BaseOperator):
    """Upstream results arrive as XComArgs in template fields; a missing one fails without retry."""

    def render_template_fields(self, context, jinja_env=None) -> None:
        try:
            super().render_template_fields(context, jinja_env)
        except XComNotFound as err:
            raise missing_result(f"{err.key!r} result", err.task_id) from err


class _ModelOperator(_ResultsOperator):
    """An operator for one model, named by its configuration file (loaded at run time)."""

    def __init__(self, *, model: str, **kwargs):
        super().__init__(**kwargs)
        self.model = model


def ingestion_dag_ids(datasets) -> list[str]:
    """The ingestion DAGs that publish `datasets`: `ingest_<source>` of every source with a table feeding one."""
    from mlops.ingestion.config import load_sources

    wanted = set(datasets)
    return sorted(f"ingest_{s.name}" for s in load_sources() if wanted & {t.dataset for t in s.tables})


class WaitForIngestionOperator(_ModelOperator):
    """Defer until no ingestion run of the model's datasets is queued or running.

    Asset events arrive after every published partition, so in the middle of a backfill a
    training run would otherwise train on whatever partitions exist at that moment. The wait
    is in the triggerer: no worker slot is held.
    """

    ui_color = "#ebdef0"

    def __init__(self, *, poll_seconds: float = 30, wait_timeout: timedelta = timedelta(hours=12), **kwargs):
        super().__init__(**kwargs)
        self.poll_seconds, self.wait_timeout = poll_seconds, wait_timeout

    def execute(self, context):
        from mlops.airflow.training.triggers import IngestionIdleTrigger, active_runs, describe

        dag_ids = ingestion_dag_ids(_model(self.model).datasets)
        active = active_runs(dag_ids)
        if not active:
            self.log.info("no ingestion run of %s is queued or running", dag_ids or "(no source)")
            return {"waited": False, "dag_ids": dag_ids}
        self.log.info("deferring until ingestion finishes: %s", describe(active))
        self.defer(
            trigger=IngestionIdleTrigger(dag_ids, self.poll_seconds),
            method_name="execute_complete",
            timeout=self.wait_timeout,
        )

    def execute_complete(self, context, event=None):
        self.log.info("ingestion of %s is quiet after %s poll(s)", event["idle"], event["polls"])
        return {"waited": True, "dag_ids": event["idle"]}


class CheckRetrainOperator(_ModelOperator):
    """Skip the run (and everything after) unless the retrain rule says train."""

    ui_color = "#fcf3cf"

    def execute(self, context):
        from mlops.training.run import check

        settings = Settings.from_env()
        s3, sagemaker = aws_clients(settings, "s3", "sagemaker")
        force = bool(context["params"].get("force_train", False))
        result = check(s3, sagemaker, curated_bucket=settings.curated_bucket, model=_model(self.model), force=force)
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
        s3, sagemaker = aws_clients(settings, "s3", "sagemaker")
        prepared = prepare(
            s3,
            sagemaker,
            settings=settings,
            model=_model(self.model),
            stamp=run_stamp(context),
            region=aws_region(settings),
        )
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

    template_fields = ("prepared", "training")
    ui_color = "#d5f5e3"

    def __init__(self, *, prepared, training, **kwargs):
        """`prepared`: the prepare task's "prepared" XCom; `training`: the training task's result."""
        super().__init__(**kwargs)
        self.prepared, self.prepared_task_id = prepared, upstream_task_id(prepared)
        self.training, self.training_task_id = training, upstream_task_id(training)

    def execute(self, context):
        from airflow.providers.amazon.aws.hooks.sns import SnsHook

        from mlops.training.run import conclude

        settings = Settings.from_env()
        s3, sagemaker, dynamodb = aws_clients(settings, "s3", "sagemaker", "dynamodb")
        if not self.prepared:
            raise missing_result(f"prepared training data for {self.model}", self.prepared_task_id)
        if not self.training or "Training" not in self.training:
            raise missing_result(f"training job of {self.model}", self.training_task_id)
        job = self.training["Training"]
        result = conclude(
            s3,
            sagemaker,
            dynamodb,
            settings=settings,
            model=_model(self.model),
            job=job,
            prepared=self.prepared,
            code_revision=settings.code_revision,
        )
        self.log.info("%s\n%s", result["subject"], result["message"])
        SnsHook(aws_conn_id=settings.aws_conn_id).publish_to_target(
            target_arn=settings.alerts_topic_arn, message=result["message"], subject=result["subject"]
        )
        return result


class AnnounceApprovedOperator(_ResultsOperator):
    """Update the model's Asset when the candidate was approved, so deployment picks it up."""

    template_fields = ("registration",)
    ui_color = "#d5f5e3"

    def __init__(self, *, registration, **kwargs):
        """`registration`: the register task's result (its XComArg `.output`)."""
        super().__init__(**kwargs)
        self.registration, self.registration_task_id = registration, upstream_task_id(registration)

    def execute(self, context):
        result = self.registration
        if not result:
            raise missing_result("registered candidate", self.registration_task_id)
        if not result["approved"]:
            raise AirflowSkipException(
                f"{result['model']} {result['version']} is {result['status']}: nothing to deploy"
            )
        for outlet in self.outlets:
            context["outlet_events"][outlet].extra = {
                k: result[k] for k in ("model", "version", "package_arn", "model_data_url")
            }
        return result["version"]
