"""Errors no retry can fix fail the task at once with their reason (AirflowFailException, which the
task runner fails without a retry); other errors pass unchanged and are retried. And the failure
alert renders and is delivered for every kind of run, also those without a data interval."""

from __future__ import annotations

import json
from dataclasses import replace
from types import SimpleNamespace

import boto3
import pytest
from airflow.sdk import DAG, BaseOperator
from airflow.sdk.api.datamodels._generated import DagRunType  # the task runner's dag_run.run_type
from airflow.sdk.exceptions import AirflowFailException

from mlops.airflow.defaults import FailFast, default_args, fail_fast
from mlops.project import ConfigError
from mlops.settings import Settings
from mlops.training.data import TrainingDataError
from tests.conftest import set_aws_connection


class _Failing(FailFast, BaseOperator):
    template_fields = ("note",)

    def __init__(self, *, error: Exception | None = None, note: str = "", **kwargs):
        super().__init__(**kwargs)
        self.error, self.note = error, note

    def execute(self, context):
        if self.error:
            raise self.error
        return self.note


def _operator(**kwargs) -> tuple[_Failing, DAG]:
    with DAG("fail_fast_test", schedule=None) as dag:
        return _Failing(task_id="step", **kwargs), dag


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (ConfigError("include/models/x.yaml: missing required field 'label'"), "ConfigError: include/models/x.yaml"),
        (TrainingDataError("curated dataset 'd' has no column(s) ['bmi']"), "has no column(s) ['bmi']"),
    ],
)
def test_permanent_errors_fail_at_once_with_the_reason(error, reason):
    op, _ = _operator(error=error)
    with pytest.raises(AirflowFailException) as failure:
        op.execute({})
    assert reason in str(failure.value)
    assert failure.value.__cause__ is error


def test_other_errors_pass_unchanged_to_be_retried():
    error = ConnectionError("S3 endpoint unreachable")
    op, _ = _operator(error=error)
    with pytest.raises(ConnectionError) as failure:
        op.execute({})
    assert failure.value is error


def test_a_template_error_fails_rendering_at_once():
    op, dag = _operator(note="rows of {{ params.no_such_param }}")
    with pytest.raises(AirflowFailException, match=r"template error \(UndefinedError\).*no_such_param"):
        op.render_template_fields({"params": {}}, dag.get_template_env())
    good, dag = _operator(note="rows of {{ params.day }}")
    good.render_template_fields({"params": {"day": "2026-10-02"}}, dag.get_template_env())
    assert good.note == "rows of 2026-10-02"


def test_sql_naming_a_missing_column_fails_at_once(s3, pg_uri, seeded_clinic):
    from mlops.ingestion.steps import extract_postgres_interval

    sql = "SELECT patient_id, cholesterol_total FROM clinic.patients"
    with pytest.raises(AirflowFailException, match=r"SQLSTATE 42703.*cholesterol_total"):
        with fail_fast():
            extract_postgres_interval(
                s3,
                uri=pg_uri,
                sql=sql,
                raw_bucket=s3.buckets["raw"],
                source="clinic",
                table="patients",
                ds="2026-10-02",
            )


def test_an_unreachable_database_is_retried(s3):
    from mlops.ingestion.steps import extract_postgres_interval
    from tests.conftest import free_port

    uri = f"postgresql://postgres@127.0.0.1:{free_port()}/clinic"  # nobody listens there
    with pytest.raises(Exception) as failure:
        with fail_fast():
            extract_postgres_interval(
                s3,
                uri=uri,
                sql="SELECT 1",
                raw_bucket=s3.buckets["raw"],
                source="clinic",
                table="patients",
                ds="2026-10-02",
            )
    assert not isinstance(failure.value, AirflowFailException)


@pytest.fixture
def alerts(moto_endpoint, monkeypatch):
    """A topic on moto with an SQS inbox subscribed, and Settings whose failure notifier sends to it."""
    set_aws_connection(monkeypatch, "fail_fast_alerts", moto_endpoint)
    sns = boto3.client("sns", endpoint_url=moto_endpoint, region_name="us-east-1")
    sqs = boto3.client("sqs", endpoint_url=moto_endpoint, region_name="us-east-1")
    topic = sns.create_topic(Name="fail-fast-alerts")["TopicArn"]
    queue = sqs.create_queue(QueueName="fail-fast-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn)
    settings = replace(Settings.from_env({}), aws_conn_id="fail_fast_alerts", alerts_topic_arn=topic)

    def read() -> list[dict]:
        out = []
        while msgs := sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages"):
            for m in msgs:
                body = json.loads(m["Body"])
                out.append({"subject": body["Subject"], "message": body["Message"]})
                sqs.delete_message(QueueUrl=queue, ReceiptHandle=m["ReceiptHandle"])
        return out

    return settings, read


def _failure_context(dag, run_type, **interval) -> dict:
    ti = SimpleNamespace(dag_id=dag.dag_id, task_id="train", try_number=1)
    return {
        "dag": dag,
        "ti": ti,
        "task_instance": ti,
        "run_id": f"{run_type.value}__2026-10-22T08:00:00+00:00",
        "dag_run": SimpleNamespace(run_type=run_type),
        "exception": AirflowFailException("SageMaker training job j failed: AlgorithmError: Input X contains NaN."),
        **interval,
    }


@pytest.mark.parametrize("run_type", [DagRunType.MANUAL, DagRunType.ASSET_TRIGGERED])
def test_failure_alert_of_a_run_without_data_interval_is_delivered(alerts, run_type):
    from mlops.airflow.training.dag import build_training_dag
    from mlops.training.config import MODELS_DIR, load_model

    settings, read = alerts
    dag = build_training_dag(load_model(MODELS_DIR / "diabetes_progression.yaml"), settings)
    notifier = dag.get_task("train").on_failure_callback[0]
    notifier(_failure_context(dag, run_type))  # the notifier's own path: render, then publish

    [alert] = read()
    assert alert["subject"] == "[mlops] task failed: train_diabetes_progression.train"
    assert alert["message"] == (
        f"Task train of DAG train_diabetes_progression failed (run {run_type.value}__2026-10-22T08:00:00+00:00, "
        f"{run_type.value}, try 1).\n"
        "Error: SageMaker training job j failed: AlgorithmError: Input X contains NaN."
    )


def test_failure_alert_of_a_scheduled_run_names_its_data_interval(alerts):
    from datetime import UTC, datetime

    settings, read = alerts
    with DAG("ingest_clinic", schedule=None) as dag:
        task = BaseOperator(task_id="extract_patients", **default_args("data-eng", 3, settings))
    context = _failure_context(
        dag,
        DagRunType.SCHEDULED,
        data_interval_start=datetime(2026, 10, 2, tzinfo=UTC),
        data_interval_end=datetime(2026, 10, 3, tzinfo=UTC),
    )
    task.on_failure_callback[0](context)
    [alert] = read()
    assert "for the data interval 2026-10-02 00:00:00+00:00 - 2026-10-03 00:00:00+00:00." in alert["message"]
    assert "(run scheduled__2026-10-22T08:00:00+00:00, scheduled, try 1)" in alert["message"]


def test_alert_subject_fits_sns(alerts):
    settings, read = alerts
    with DAG("d" * 120, schedule=None) as dag:
        task = BaseOperator(task_id="t", **default_args("data-eng", 3, settings))
    task.on_failure_callback[0](_failure_context(dag, DagRunType.MANUAL))
    [alert] = read()
    assert len(alert["subject"]) == 100 and alert["subject"].startswith("[mlops] task failed: ddd")
