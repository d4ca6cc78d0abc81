"""The one operator the predictions DAGs add: capture files of the interval -> raw Parquet.

Validation and publication are the ingestion stage's own operators (ValidateRawOperator with the
generated suite, PublishCuratedOperator), so predictions_<model> goes through the same quarantine,
alert and atomic publish as every other curated dataset.
"""

from __future__ import annotations

from airflow.sdk import BaseOperator

from mlops.airflow.defaults import FailFast
from mlops.airflow.task_run import TaskRun


class CaptureToRawOperator(FailFast, BaseOperator):
    """Read the capture files whose hour folder falls in the data interval (every variant of the
    model's endpoint) into raw Parquet; bad records become a rejected part (quarantined)."""

    ui_color = "#d4e6f1"

    def __init__(self, *, schema, capture_prefix: str, endpoint: str, **kwargs):
        super().__init__(**kwargs)
        self.schema, self.capture_prefix, self.endpoint = schema, capture_prefix, endpoint

    def execute(self, context):
        from mlops.ingestion.steps import extraction_report
        from mlops.serving.capture import SOURCE, extract_capture_interval

        run = TaskRun.of(context)
        parts = extract_capture_interval(
            run.s3,
            run.settings.artifacts_bucket,
            self.capture_prefix,
            self.endpoint,
            run.settings.raw_bucket,
            self.schema,
            run.ds,
            run.start,
            run.end,
        )
        for p in parts:
            if p.get("unreadable"):
                self.log.warning(p["message"])
        return extraction_report(SOURCE, self.schema.model, run.ds, parts)
