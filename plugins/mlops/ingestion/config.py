"""Source configuration: one YAML file per source under `include/sources/`.

A source file declares where data comes from and which curated dataset each table feeds;
the DAG factory turns each file into one DAG. Loading validates the file and names the
file and field in every error, so a typo fails DAG parsing with a message, not a traceback
deep in a task.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from mlops.project import EXPECTATIONS_DIR, INCLUDE_DIR, ConfigError, check_name, load_yaml, require

SOURCES_DIR = INCLUDE_DIR / "sources"
SQL_DIR = INCLUDE_DIR / "sql"

SOURCE_KINDS = ("postgres", "landing_files")


@dataclass(frozen=True)
class TableConfig:
    name: str
    dataset: str
    key: str
    changed_at: str | None = None
    expectations: str | None = None
    file_format: str = "csv"

    @property
    def suite_name(self) -> str:
        return self.expectations or self.dataset


@dataclass(frozen=True)
class SourceConfig:
    name: str
    kind: str
    description: str
    connection_id: str
    tables: tuple[TableConfig, ...]
    schedule: str = "@daily"
    start_date: date = date(2026, 10, 1)
    owner: str = "data-engineering"
    tags: tuple[str, ...] = field(default_factory=tuple)
    landing_prefix: str | None = None
    retries: int = 3
    chunk_rows: int = 100_000
    path: Path | None = None

    def sql_path(self, table: TableConfig) -> Path:
        return SQL_DIR / self.name / f"{table.name}.sql"


def parse_source(doc: dict, path: Path | None = None) -> SourceConfig:
    where = str(path) if path else "source config"
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level")
    name = check_name(require(doc, "source", where), where, "source")
    kind = require(doc, "kind", where)
    if kind not in SOURCE_KINDS:
        raise ConfigError(f"{where}: kind must be one of {SOURCE_KINDS}, got {kind!r}")
    raw_tables = require(doc, "tables", where, list)
    tables = []
    for i, t in enumerate(raw_tables):
        tw = f"{where}: tables[{i}]"
        if not isinstance(t, dict):
            raise ConfigError(f"{tw}: expected a mapping")
        table = TableConfig(
            name=check_name(require(t, "name", tw), tw, "table name"),
            dataset=check_name(require(t, "dataset", tw), tw, "dataset"),
            key=require(t, "key", tw),
            changed_at=t.get("changed_at"),
            expectations=t.get("expectations"),
            file_format=t.get("format", "csv"),
        )
        if kind == "postgres" and not table.changed_at:
            raise ConfigError(f"{tw}: postgres tables need 'changed_at' (the column that says when a row changed)")
        tables.append(table)
    start = doc.get("start_date", date(2026, 10, 1))
    if isinstance(start, str):
        start = date.fromisoformat(start)
    if isinstance(start, datetime):
        start = start.date()
    cfg = SourceConfig(
        name=name,
        kind=kind,
        description=require(doc, "description", where),
        connection_id=doc.get("connection_id", "aws_default" if kind == "landing_files" else f"{name}_db"),
        tables=tuple(tables),
        schedule=doc.get("schedule", "@daily"),
        start_date=start,
        owner=doc.get("owner", "data-engineering"),
        tags=tuple(doc.get("tags", ())),
        landing_prefix=doc.get("landing_prefix"),
        retries=int(doc.get("retries", 3)),
        chunk_rows=int(doc.get("chunk_rows", 100_000)),
        path=path,
    )
    if kind == "landing_files" and not cfg.landing_prefix:
        raise ConfigError(f"{where}: landing_files sources need 'landing_prefix'")
    if kind == "landing_files" and len(cfg.tables) != 1:
        raise ConfigError(f"{where}: a landing_files source feeds exactly one table")
    for t in cfg.tables:
        if kind == "postgres" and not cfg.sql_path(t).is_file():
            raise ConfigError(f"{where}: table {t.name!r} has no SQL template at {cfg.sql_path(t)}")
        suite = EXPECTATIONS_DIR / f"{t.suite_name}.json"
        if not suite.is_file():
            raise ConfigError(f"{where}: table {t.name!r} has no expectation suite at {suite}")
    return cfg


def load_source(path: Path) -> SourceConfig:
    return load_yaml(path, parse_source)


def load_sources(directory: Path = SOURCES_DIR) -> list[SourceConfig]:
    return [load_source(p) for p in sorted(directory.glob("*.yaml"))]
