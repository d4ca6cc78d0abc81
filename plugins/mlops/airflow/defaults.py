"""What every task of every DAG gets: an owner, retries with backoff, an alert when it finally fails,
and no retries for errors no retry can fix (`FailFast`)."""

from __future__ import annotations

import contextlib
import functools
from datetime import timedelta

from mlops.settings import Settings

# SQLSTATE class 42 (syntax error or access rule violation): the SQL names a column or table the
# database does not have, or is not valid SQL. The same query fails the same way on every try.
PERMANENT_SQLSTATE_CLASSES = ("42",)

FAILURE_SUBJECT = "{{ ('[mlops] task failed: ' ~ ti.dag_id ~ '.' ~ ti.task_id)[:100] }}"  # SNS: 100 characters
# Scheduled and backfill runs have a data interval; manual and asset-triggered runs have none (then
# data_interval_start is not in the context at all, and the DAG's StrictUndefined would raise).
# The task runner's run_type is an enum whose str() is 'DagRunType.MANUAL': its value reads better.
FAILURE_MESSAGE = (
    "Task {{ ti.task_id }} of DAG {{ ti.dag_id }} failed (run {{ run_id }}, "
    "{{ dag_run.run_type.value | default(dag_run.run_type) }}, "
    "try {{ ti.try_number }})"
    "{% if data_interval_start is defined and data_interval_start %} for the data interval "
    "{{ data_interval_start }} - {{ data_interval_end }}{% endif %}.\n"
    "Error: {{ exception | default('(no exception recorded)', true) }}"
)


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
            subject=FAILURE_SUBJECT,
            message=FAILURE_MESSAGE,
        ),
    }


def _sqlstate(err: BaseException) -> str:
    """The SQLSTATE of a database error (ADBC's `sqlstate`, psycopg2's `pgcode`), else ''."""
    return getattr(err, "sqlstate", None) or getattr(err, "pgcode", None) or ""


@contextlib.contextmanager
def fail_fast():
    """Errors no retry can fix leave as AirflowFailException (the task fails at once, with the
    reason); every other error passes unchanged and is retried as configured.

    Permanent: `mlops.project.PermanentError` (configuration, data, schema errors raised by the
    library), a Jinja template error, and SQL the database rejects as invalid (SQLSTATE class 42).
    """
    import jinja2
    from airflow.sdk.exceptions import AirflowFailException

    from mlops.project import PermanentError

    try:
        yield
    except PermanentError as err:
        raise AirflowFailException(f"{type(err).__name__}: {err}") from err
    except jinja2.TemplateError as err:
        raise AirflowFailException(f"template error ({type(err).__name__}): {err}") from err
    except Exception as err:
        if _sqlstate(err)[:2] in PERMANENT_SQLSTATE_CLASSES:
            raise AirflowFailException(f"the database rejected the SQL (SQLSTATE {_sqlstate(err)}): {err}") from err
        raise


class FailFast:
    """Mixed into every operator of the project, before BaseOperator: template rendering, `execute`
    (of each subclass that defines one) and the resumption after a deferral run under `fail_fast`."""

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        execute = cls.__dict__.get("execute")
        if execute is not None:

            @functools.wraps(execute)
            def execute_failing_fast(self, *args, **kw):
                with fail_fast():
                    return execute(self, *args, **kw)

            cls.execute = execute_failing_fast

    def render_template_fields(self, context, jinja_env=None):
        with fail_fast():
            return super().render_template_fields(context, jinja_env)

    def resume_execution(self, next_method, next_kwargs, context):
        with fail_fast():
            return super().resume_execution(next_method, next_kwargs, context)
