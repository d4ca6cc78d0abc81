"""Source configuration: one YAML file per source under `include/sources/`.

A source file declares where data comes from and which curated dataset each table feeds;
the DAG factory turns each file into one DAG. The file is a pydantic model with unknown keys
refused and no coercion (mlops.project.FileModel), so `shedule:` or `retries: three` fail with
the file, the field path and what is allowed, instead of running with a default.
"""

from __future__ import annotations

import difflib
from datetime import date, datetime
from pathlib import Path
from typing import Annotated, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    PrivateAttr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mlops.project import (
    EXPECTATIONS_DIR,
    INCLUDE_DIR,
    ConfigError,
    FileModel,
    Listed,
    Name,
    Text,
    field_problems,
    load_yaml,
    non_empty,
    validate,
)

SOURCES_DIR = INCLUDE_DIR / "sources"
SQL_DIR = INCLUDE_DIR / "sql"

SOURCE_KINDS = ("postgres", "landing_files")
# Airflow's cron presets (airflow.sdk.definitions.timetables._cron.CRON_PRESETS), resolved before croniter.
CRON_PRESETS = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@quarterly": "0 0 1 */3 *",
    "@yearly": "0 0 1 1 *",
}

__all__ = ["EXPECTATIONS_DIR", "SOURCES_DIR", "SQL_DIR", "ConfigError", "SourceConfig", "TableConfig"]


def _as_date(value):
    """YAML gives a date for `2026-10-01`, a datetime for `2026-10-01T00:00`, a str when quoted."""
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValueError(f"must be a date like 2026-10-01, got {value!r}") from None
    return value


class TableConfig(FileModel):
    """One table of a source and the curated dataset it feeds."""

    name: Name
    dataset: Name
    key: Text
    changed_at: Text | None = None  # the column that says when a row changed (postgres)
    expectations: Name | None = None  # suite expectations/<name>.json; the dataset's name by default
    file_format: Literal["csv"] = Field("csv", alias="format")  # landing files: the one format read today

    @property
    def suite_name(self) -> str:
        return self.expectations or self.dataset

    @property
    def suite_path(self) -> Path:
        return EXPECTATIONS_DIR / f"{self.suite_name}.json"


class SourceConfig(FileModel):
    """One source file, validated; `path` is the file it was loaded from."""

    name: Name = Field(alias="source")
    kind: Literal["postgres", "landing_files"]
    description: Text
    connection_id: Text
    tables: Annotated[Listed[TableConfig], AfterValidator(non_empty)]
    schedule: str = "@daily"
    start_date: Annotated[date, BeforeValidator(_as_date)] = date(2026, 10, 1)
    owner: Text = "data-engineering"
    tags: Listed[str] = ()
    landing_prefix: Text | None = None
    retries: int = Field(3, ge=0, le=10)
    _path: Path | None = PrivateAttr(default=None)

    @property
    def path(self) -> Path | None:
        return self._path

    @property
    def dag_id(self) -> str:
        return f"ingest_{self.name}"

    def sql_path(self, table: TableConfig) -> Path:
        return SQL_DIR / self.name / f"{table.name}.sql"

    @model_validator(mode="before")
    @classmethod
    def _default_connection(cls, data):
        if isinstance(data, dict) and "connection_id" not in data:
            kind, name = data.get("kind"), data.get("source")
            data = {**data, "connection_id": "aws_default" if kind == "landing_files" else f"{name}_db"}
        return data

    @field_validator("schedule")
    @classmethod
    def _cron(cls, value: str) -> str:
        from croniter import croniter

        if not croniter.is_valid(CRON_PRESETS.get(value, value)):
            close = difflib.get_close_matches(value, CRON_PRESETS, n=1)
            hint = f"did you mean '{close[0]}'? " if close else ""
            raise ValueError(
                f"{value!r} is not a cron expression; {hint}use one like '0 3 * * *' or one of {', '.join(CRON_PRESETS)}"
            )
        return value

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo):
        path = (info.context or {}).get("path")
        self._path = path
        problems = []
        if path is not None and self.name != path.stem:
            problems.append((("source",), f"{self.name!r} must match the file name {path.stem!r}", self.name))
        if self.kind == "landing_files":
            if not self.landing_prefix:
                problems.append((("landing_prefix",), "landing_files sources need a landing_prefix", None))
            if len(self.tables) != 1:
                problems.append((("tables",), "a landing_files source feeds exactly one table", len(self.tables)))
        for i, table in enumerate(self.tables):
            if self.kind == "postgres" and not table.changed_at:
                message = "postgres tables need changed_at (the column that says when a row changed)"
                problems.append((("tables", i, "changed_at"), message, None))
            if self.kind == "postgres" and not self.sql_path(table).is_file():
                problems.append((("tables", i, "name"), f"no SQL template at {self.sql_path(table)}", table.name))
            if not table.suite_path.is_file():
                field = "expectations" if table.expectations else "dataset"
                problems.append((("tables", i, field), f"no expectation suite at {table.suite_path}", table.suite_name))
        field_problems("SourceConfig", problems)
        return self


def parse_source(doc, path: Path | None = None) -> SourceConfig:
    return validate(SourceConfig, doc, str(path) if path else "source config", context={"path": path})


def load_source(path: Path) -> SourceConfig:
    return load_yaml(path, parse_source)


def load_sources(directory: Path = SOURCES_DIR) -> list[SourceConfig]:
    return [load_source(p) for p in sorted(directory.glob("*.yaml"))]
