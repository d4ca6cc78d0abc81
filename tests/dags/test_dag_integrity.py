"""Every DAG file imports cleanly, without network, database or Variables, and every DAG
carries what operators on call need: owner, tags, retries with backoff, docs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.dags.expected import expected_dag_ids
from tests.dags.sandbox import NO_NETWORK_DB_OR_VARIABLES

REPO = Path(__file__).resolve().parents[2]
DAG_FILES = sorted((REPO / "dags").glob("*.py"))

# Runs in a fresh interpreter: any socket connect, Variable lookup or metadata-DB session
# during parsing raises, and the DAGs' properties are printed as JSON.
PARSE_SANDBOXED = (
    NO_NETWORK_DB_OR_VARIABLES
    + r"""
import json, sys
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=sys.argv[1], safe_mode=False)
out = {"errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    out["dags"][dag_id] = {
        "tags": sorted(dag.tags),
        "doc_md": dag.doc_md or "",
        "tasks": {
            t.task_id: {
                "owner": t.owner,
                "retries": t.retries,
                "backoff": t.retry_exponential_backoff,
                "downstream": sorted(t.downstream_task_ids),
                "outlets": [getattr(o, "uri", str(o)) for o in t.outlets],
            }
            for t in dag.tasks
        },
    }
print("RESULT" + json.dumps(out))
"""
)


def _parse(path: Path, tmp_path: Path) -> dict:
    env = {
        **os.environ,
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://nobody@invalid.invalid:1/none",
        "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
    }
    proc = subprocess.run(
        [sys.executable, "-c", PARSE_SANDBOXED, str(path)], env=env, capture_output=True, text=True, timeout=300
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    assert line, f"parsing {path.name} crashed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(line[len("RESULT") :])


@pytest.fixture(scope="module")
def parsed(tmp_path_factory) -> dict[str, dict]:
    return {p.name: _parse(p, tmp_path_factory.mktemp("airflow")) for p in DAG_FILES}


def test_there_are_dag_files():
    assert DAG_FILES, "no DAG files found in dags/"


@pytest.mark.parametrize("path", DAG_FILES, ids=lambda p: p.name)
def test_dag_file_imports_without_errors_network_db_or_variables(parsed, path):
    result = parsed[path.name]
    assert result["errors"] == {}
    assert result["dags"], f"{path.name} defines no DAG"


def test_every_dag_has_owner_tags_retries_with_backoff_and_docs(parsed):
    dags = {dag_id: d for r in parsed.values() for dag_id, d in r["dags"].items()}
    assert set(dags) == expected_dag_ids()
    for dag_id, dag in dags.items():
        assert dag["tags"] and "config-error" not in dag["tags"], f"{dag_id} has no tags or a configuration error"
        assert len(dag["doc_md"]) > 100, f"{dag_id} has no docs"
        for task_id, task in dag["tasks"].items():
            assert task["owner"] and task["owner"] != "airflow", f"{dag_id}.{task_id} has no owner"
            assert task["retries"] >= 1, f"{dag_id}.{task_id} has no retries"
            assert task["backoff"], f"{dag_id}.{task_id} retries without exponential backoff"


def test_ingestion_graph_and_assets(parsed):
    dags = {dag_id: d for r in parsed.values() for dag_id, d in r["dags"].items()}
    clinic = dags["ingest_clinic"]["tasks"]
    assert clinic["extract_patients"]["downstream"] == ["validate_patients"]
    assert clinic["validate_patients"]["downstream"] == ["publish_patients"]
    assert clinic["publish_patients"]["outlets"] == ["s3://mlops-curated/diabetes_patients"]
    digits = dags["ingest_digits_drop"]["tasks"]
    assert digits["publish_images"]["downstream"] == ["check_quarantine_images"]
