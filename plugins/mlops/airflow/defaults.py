"""What every task of every DAG gets: an owner, retries with backoff, an alert when it finally fails."""

from __future__ import annotations

from datetime import timedelta

from mlops.settings import Settings


def default_args(owner: str, retries: int, settings: Settings) -> dict:
    """Every task: an owner, retries with exponential backoff, and an SNS alert when it finally fails."""
    from airflow.providers.amazon.aws.notifications.sns import SnsNotifier

    return {
        "owner": owner,
        "retries": retries,
        "retry_delay": timedelta(seconds=20),
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=10),
        "execution_timeout": timedelta(hours=2),
        "on_failure_callback": SnsNotifier(
            aws_conn_id=settings.aws_conn_id,
            target_arn=settings.alerts_topic_arn,
            subject="[mlops] task failed: {{ ti.dag_id }}.{{ ti.task_id }}",
            message=(
                "Task {{ ti.task_id }} of DAG {{ ti.dag_id }} failed for the data interval "
                "{{ data_interval_start }} - {{ data_interval_end }} (run {{ run_id }}, try {{ ti.try_number }}).\n"
                "Error: {{ exception }}"
            ),
        ),
    }
