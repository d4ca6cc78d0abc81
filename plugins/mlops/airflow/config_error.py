"""A stand-in DAG for each configuration file that does not load, so the other files' DAGs stay.

What Airflow 3.3.1 offers does not fit: a parse failure is shown in the UI only as an import
error of the whole DAG file, and recording it marks every DAG of that file stale
(dag_processing/collection.py, `_update_import_errors`): one bad source file would take every
ingestion DAG away. Python warnings raised while parsing are captured by the DagBag
(`captured_warnings`) but the DAG processor does not send them to the database (it sends only
its own stability-check warnings), and a DagWarning has a fixed set of types and needs an existing
DAG. So the factories build, in place of a broken file's DAG, a DAG with the id the file's DAG
has once it is fixed: tagged `config-error`, the problems (file, field, message) in its
description and docs, not scheduled, and one task that fails with the same text if triggered.
"""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from pathlib import Path

from airflow.sdk import BaseOperator
from airflow.sdk.exceptions import AirflowFailException

from mlops.airflow.defaults import default_args
from mlops.project import ConfigError
from mlops.settings import Settings

TAG = "config-error"
log = logging.getLogger(__name__)


class ConfigErrorOperator(BaseOperator):
    """Fails with the configuration problems; retrying cannot fix a file."""

    ui_color = "#f5b7b1"

    def __init__(self, *, error: str, **kwargs):
        super().__init__(**kwargs)
        self.error = error

    def execute(self, context):
        raise AirflowFailException(self.error)


def error_text(path: Path, error: Exception) -> str:
    """Every problem, one line each, naming the file (a ConfigError already does)."""
    if isinstance(error, ConfigError):
        return str(error)
    return f"{path}: {type(error).__name__}: {error}"


def dag_id_for(prefix: str, path: Path) -> str:
    """`<prefix>_<file stem>`: the id the file's DAG has (loaders require the name to be the stem)."""
    return f"{prefix}_{re.sub(r'[^A-Za-z0-9_.-]', '_', path.stem)}"


def config_error_dag(dag_id: str, *, stage: str, path: Path, error: Exception, settings: Settings, owner: str):
    from airflow.sdk import DAG

    text = error_text(path, error)
    lines = text.splitlines()
    first = lines[0].removeprefix(f"{path}: ")
    more = f" (+{len(lines) - 1} more problems)" if len(lines) > 1 else ""
    with DAG(
        dag_id=dag_id,
        description=f"Not running: {path.name} has a configuration error: {first}{more}",
        doc_md=(
            f"### Configuration error in `{path.name}`\n\n"
            f"`{path}` does not load, so this DAG runs nothing until the file is fixed; the other DAGs "
            "are not affected. Every problem, as file: field: message:\n\n"
            "```\n" + text + "\n```\n\n"
            "Fix the file, then run `make check` (or `python -m mlops check`): it lists every problem "
            "of every configuration file at once."
        ),
        schedule=None,
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        default_args=default_args(owner, 1, settings),
        tags=[TAG, stage],
    ) as dag:
        ConfigErrorOperator(task_id="configuration_error", error=text)
    return dag


def build_each(paths, build, *, prefix: str, stage: str, owner: str, settings: Settings) -> dict:
    """`build(path)` for each configuration file, keyed by dag_id; a file whose DAG does not load or
    build (Airflow's own validation included) gets a stand-in DAG instead of failing the DAG file."""
    from airflow.sdk.definitions._internal.contextmanager import DagContext

    dags = {}
    for path in paths:
        registered = set(DagContext.autoregistered_dags)
        try:
            dag = build(path)
            dag.validate()  # what the DagBag does next: a failure there would be the whole file's import error
        except Exception as err:  # one file's mistake must not take the other files' DAGs away
            log.error("configuration error, built a %s stand-in DAG:\n%s", TAG, error_text(path, err))
            # `with DAG(...)` registers its DAG on exit even when the body raised; a second DAG
            # with the same id (the stand-in) would make the whole DAG file an import error.
            DagContext.autoregistered_dags.difference_update(DagContext.autoregistered_dags - registered)
            dag = config_error_dag(
                dag_id_for(prefix, path), stage=stage, path=path, error=err, settings=settings, owner=owner
            )
        dags[dag.dag_id] = dag
    return dags
