"""Source configuration: one YAML file per source under `include/sources/`.

A source file declares where data comes from and which curated dataset each table feeds;
the DAG factory turns each file into one DAG. Loading validates the file and names the
file and field in every error, so a typo fails DAG parsing with a message, not a traceback
deep in a task.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _project_dir(name: str) -> Path:
    """`include/` or `expectations/`: beside plugins/ in the repo, inside dags/ on MWAA
    (where plugins.zip unpacks to /usr/local/airflow/plugins and the DAG bundle to .../dags)."""
    candidates = [PROJECT_ROOT / name, PROJECT_ROOT / "dags" / name]
    return next((c for c in candidates if c.is_dir()), candidates[0])


INCLUDE_DIR = _project_dir("include")
SOURCES_DIR = INCLUDE_DIR / "sources"
SQL_DIR = INCLUDE_DIR / "sql"
EXPECTATIONS_DIR = _project_dir("expectations")

SOURCE_KINDS = ("postgres", "landing_files")
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


class ConfigError(ValueError):
    """A source or dataset configuration file is invalid."""


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


def _require(doc: dict, key: str, where: str, kind: type = str):
    if key not in doc or doc[key] in (None, ""):
        raise ConfigError(f"{where}: missing required field '{key}'")
    value = doc[key]
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: field '{key}' must be {kind.__name__}, got {value!r}")
    return value


def _name(value: str, where: str, what: str) -> str:
    if not _NAME.match(value):
        raise ConfigError(f"{where}: {what} {value!r} must be lower_snake_case")
    return value


def parse_source(doc: dict, path: Path | None = None) -> SourceConfig:
    where = str(path) if path else "source config"
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level")
    name = _name(_require(doc, "source", where), where, "source")
    kind = _require(doc, "kind", where)
    if kind not in SOURCE_KINDS:
        raise ConfigError(f"{where}: kind must be one of {SOURCE_KINDS}, got {kind!r}")
    raw_tables = _require(doc, "tables", where, list)
    tables = []
    for i, t in enumerate(raw_tables):
        tw = f"{where}: tables[{i}]"
        if not isinstance(t, dict):
            raise ConfigError(f"{tw}: expected a mapping")
        table = TableConfig(
            name=_name(_require(t, "name", tw), tw, "table name"),
            dataset=_name(_require(t, "dataset", tw), tw, "dataset"),
            key=_require(t, "key", tw),
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
        description=_require(doc, "description", where),
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


def load_yaml(path: Path, parse):
    """`parse(document, path)` of one YAML configuration file."""
    import yaml

    with open(path) as fh:
        return parse(yaml.safe_load(fh), path)


def load_source(path: Path) -> SourceConfig:
    return load_yaml(path, parse_source)


def load_sources(directory: Path = SOURCES_DIR) -> list[SourceConfig]:
    return [load_source(p) for p in sorted(directory.glob("*.yaml"))]
