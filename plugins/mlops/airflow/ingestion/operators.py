"""Thin operators over `mlops.ingestion.steps`: they resolve connections and the data interval,
call the work function, and turn its outcome into task state, XCom and alerts."""

from __future__ import annotations

from collections.abc import Sequence

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from mlops.airflow.defaults import FailFast
from mlops.airflow.task_run import TaskRun
from mlops.settings import Settings


def upstream_task_id(result) -> str | None:
    """The task an XComArg reads from (kept for messages: the field itself is replaced by its value)."""
    return getattr(getattr(result, "operator", None), "task_id", None)


def require_result(value, *, what: str, task_id: str | None, ds: str, clear: str = "") -> dict:
    """The upstream result for this interval, or a failure (no retry) that says what is missing and
    what to rerun. Nothing downstream may read a missing result as "no data": that is how a
    partition would be emptied by a task marked success by hand."""
    task = task_id or "the upstream task"
    rerun = f"clear {task}{clear} to rerun the interval"
    if value is None:
        raise AirflowFailException(
            f"no {what} ds={ds}: {task} has no return value (was it marked success by hand?); {rerun}"
        )
    if not isinstance(value, dict) or "ds" not in value:
        raise AirflowFailException(f"no {what} ds={ds}: {task} returned {type(value).__name__}, not a report; {rerun}")
    if value["ds"] != ds:
        raise AirflowFailException(f"no {what} ds={ds}: {task} returned the result of ds={value['ds']}; {rerun}")
    return value


class PostgresToRawOperator(FailFast, BaseOperator):
    """Extract one data interval of a PostgreSQL table into the raw bucket as Parquet."""

    template_fields: Sequence[str] = ("sql",)
    template_ext: Sequence[str] = (".sql",)
    template_fields_renderers = {"sql": "sql"}
    ui_color = "#d4e6f1"

    def __init__(self, *, source: str, table: str, conn_id: str, sql: str, **kwargs):
        super().__init__(**kwargs)
        self.source, self.table, self.conn_id, self.sql = source, table, conn_id, sql

    def execute(self, context):
        from airflow.providers.postgres.hooks.postgres import PostgresHook

        from mlops.ingestion.steps import extract_postgres_interval, extraction_report

        run = TaskRun.of(context)
        url = PostgresHook(postgres_conn_id=self.conn_id).sqlalchemy_url.set(drivername="postgresql")
        parts = extract_postgres_interval(
            run.s3,
            uri=url.render_as_string(hide_password=False),
            sql=self.sql,
            raw_bucket=run.settings.raw_bucket,
            source=self.source,
            table=self.table,
            ds=run.ds,
        )
        return extraction_report(self.source, self.table, run.ds, parts)


class LandingToRawOperator(FailFast, BaseOperator):
    """Convert the landing files this interval owns into raw Parquet objects."""

    template_fields: Sequence[str] = ("landing_prefix",)
    ui_color = "#d4e6f1"

    def __init__(self, *, source: str, table: str, landing_prefix: str, **kwargs):
        super().__init__(**kwargs)
        self.source, self.table, self.landing_prefix = source, table, landing_prefix

    def execute(self, context):
        from mlops.ingestion.config import EXPECTATIONS_DIR, load_sources
        from mlops.ingestion.steps import extract_landing_interval, extraction_report

        run = TaskRun.of(context)
        # The suite's column contract gives the CSV reader its column types.
        tables = [t for c in load_sources() if c.name == self.source for t in c.tables if t.name == self.table]
        suite_path = EXPECTATIONS_DIR / f"{tables[0].suite_name}.json" if tables else None
        parts = extract_landing_interval(
            run.s3,
            landing_bucket=run.settings.landing_bucket,
            landing_prefix=self.landing_prefix,
            raw_bucket=run.settings.raw_bucket,
            source=self.source,
            table=self.table,
            ds=run.ds,
            suite_path=suite_path,
        )
        for p in parts:
            if p.get("unreadable"):
                self.log.warning(p["message"])
        return extraction_report(self.source, self.table, run.ds, parts)


class ValidateRawOperator(FailFast, BaseOperator):
    """Validate the extracted parts; quarantine and alert on rejects.

    With `fail_on_reject` (database sources: the interval is one batch) a reject fails the
    task and nothing is published. Without it (landing files: each file is a batch) the
    accepted files go on to be published and `CheckQuarantineOperator` fails the run after.
    `extraction` is the extract task's result (its XComArg `.output`).
    """

    template_fields: Sequence[str] = ("extraction",)
    ui_color = "#fcf3cf"

    def __init__(
        self,
        *,
        source: str,
        table: str,
        dataset: str,
        suite_path: str,
        extraction,
        fail_on_reject: bool = True,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.source, self.table, self.dataset = source, table, dataset
        self.suite_path, self.fail_on_reject = suite_path, fail_on_reject
        self.extraction, self.extraction_task_id = extraction, upstream_task_id(extraction)

    def execute(self, context):
        from mlops.ingestion import landing
        from mlops.ingestion.steps import validate_parts

        run = TaskRun.of(context)
        extraction = require_result(
            self.extraction,
            what=f"extraction result for {self.source}/{self.table}",
            task_id=self.extraction_task_id,
            ds=run.ds,
        )
        parts = extraction["parts"]
        report = validate_parts(
            run.s3,
            raw_bucket=run.settings.raw_bucket,
            parts=parts,
            suite_path=self.suite_path,
            source=self.source,
            table=self.table,
            ds=run.ds,
        )
        for entry in report.accepted:
            self.log.info(entry["message"])
        for entry in report.rejected:
            if entry.get("landing_key"):
                landing.mark(run.s3, run.settings.landing_bucket, entry["landing_key"], ds=run.ds, status="quarantined")
        if report.rejected:
            send_alert(
                run.settings,
                subject=f"[mlops] rejected batch: {self.dataset} ds={run.ds}",
                message=_alert_text(self.dataset, run.ds, report.rejected),
            )
            if self.fail_on_reject:
                raise AirflowFailException(_alert_text(self.dataset, run.ds, report.rejected))
        return report.to_dict() | {"ds": run.ds, "extracted_rows": extraction["rows"]}


class PublishCuratedOperator(FailFast, BaseOperator):
    """Publish the accepted parts as the curated partition; updates the dataset's Asset.

    `validation` is the validate task's report (its XComArg `.output`); without it nothing is
    published, and an empty partition only when the extraction reported zero rows.
    """

    template_fields: Sequence[str] = ("validation",)
    ui_color = "#d5f5e3"

    def __init__(self, *, source: str, dataset: str, key: str, changed_at: str | None, validation, **kwargs):
        super().__init__(**kwargs)
        self.source, self.dataset, self.key, self.changed_at = source, dataset, key, changed_at
        self.validation, self.validation_task_id = validation, upstream_task_id(validation)

    def execute(self, context):
        from mlops.ingestion import landing
        from mlops.ingestion.publish import PublishConflict, PublishError
        from mlops.ingestion.steps import publish_accepted

        run = TaskRun.of(context)
        report = require_result(
            self.validation,
            what=f"validation result for {self.dataset}",
            task_id=self.validation_task_id,
            ds=run.ds,
            clear=" with its upstream tasks",
        )
        if not report["accepted"] and report["rejected"]:
            # every batch of the interval was quarantined: the partition stays as it was
            raise AirflowFailException(_alert_text(self.dataset, run.ds, report["rejected"]))
        try:
            manifest = publish_accepted(
                run.s3,
                raw_bucket=run.settings.raw_bucket,
                curated_bucket=run.settings.curated_bucket,
                accepted=report["accepted"],
                dataset=self.dataset,
                ds=run.ds,
                interval=(run.start.isoformat(), run.end.isoformat()),
                key_column=self.key,
                changed_at=self.changed_at,
                source=self.source,
                extracted_rows=report.get("extracted_rows"),
            )
        except PublishConflict:
            raise  # other runs are publishing this partition: a retry may find it quiet
        except PublishError as err:
            raise AirflowFailException(str(err)) from err  # no retry can fix it; a rerun of the interval can
        for entry in report["accepted"]:
            if entry.get("landing_key"):
                landing.mark(run.s3, run.settings.landing_bucket, entry["landing_key"], ds=run.ds, status="published")
        for outlet in self.outlets:
            context["outlet_events"][outlet].extra = {
                "ds": run.ds,
                "rows": manifest["rows"],
                "files": len(manifest["files"]),
            }
        return {"ds": run.ds, "rows": manifest["rows"], "files": len(manifest["files"])}


class CheckQuarantineOperator(FailFast, BaseOperator):
    """Fail the run, after the good files are published, if any file of it was quarantined."""

    template_fields: Sequence[str] = ("validation",)
    ui_color = "#fadbd8"

    def __init__(self, *, dataset: str, validation, **kwargs):
        super().__init__(**kwargs)
        self.dataset = dataset
        self.validation, self.validation_task_id = validation, upstream_task_id(validation)

    def execute(self, context):
        from mlops.lake.layout import ds_of

        ds = ds_of(context["data_interval_start"])
        report = require_result(
            self.validation,
            what=f"validation result for {self.dataset}",
            task_id=self.validation_task_id,
            ds=ds,
            clear=" with its upstream tasks",
        )
        if report["rejected"]:
            raise AirflowFailException(_alert_text(self.dataset, ds, report["rejected"]))
        self.log.info("no file of %s ds=%s was quarantined", self.dataset, ds)


def _alert_text(dataset: str, ds: str, rejected: list[dict]) -> str:
    lines = [
        f"Rejected batch(es) for curated dataset '{dataset}', partition ds={ds}. The curated data was not changed by them."
    ]
    for r in rejected:
        lines.append(r["message"])
        lines.append(f"  quarantined at {r['quarantine']['data']} (validation result: {r['quarantine']['validation']})")
    return "\n".join(lines)


def send_alert(settings: Settings, subject: str, message: str) -> None:
    from airflow.providers.amazon.aws.hooks.sns import SnsHook

    SnsHook(aws_conn_id=settings.aws_conn_id).publish_to_target(
        target_arn=settings.alerts_topic_arn, message=message, subject=subject[:100]
    )
