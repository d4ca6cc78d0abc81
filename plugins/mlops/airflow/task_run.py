"""What every task that reads or writes the lake for its data interval starts from."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from mlops.airflow.aws_clients import s3_client
from mlops.settings import Settings


@dataclass(frozen=True)
class TaskRun:
    """The settings, an S3 client on the settings' connection, and the task's data interval."""

    settings: Settings
    s3: object
    ds: str
    start: datetime
    end: datetime

    @classmethod
    def of(cls, context) -> TaskRun:
        from mlops.lake.layout import ds_of

        settings = Settings.from_env()
        start, end = context["data_interval_start"], context["data_interval_end"]
        return cls(settings, s3_client(settings), ds_of(start), start, end)
