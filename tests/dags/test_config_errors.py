"""One bad configuration file does not take the other DAGs away, and its error is visible where
the UI reads it; adding a source or a model adds its DAG without touching a test.

A copy of the project (plugins/, dags/, include/, expectations/) in a temp dir gets one broken
source, one broken model, a new source and a new model, and its dags/ folder is parsed the way the
DAG processor parses a file (`_parse_file`: DagBag, Airflow's validation, serialization), in a
sandboxed interpreter. What it returns is what the DAG processor writes to the database: import
errors per file, and the serialized DAGs the UI shows.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from tests.dags.expected import expected_dag_ids
from tests.dags.sandbox import NO_NETWORK_DB_OR_VARIABLES

REPO = Path(__file__).resolve().parents[2]

PARSE_LIKE_THE_DAG_PROCESSOR = (
    NO_NETWORK_DB_OR_VARIABLES
    + r"""
import json, sys
from pathlib import Path
import structlog
from airflow.dag_processing.processor import DagFileParseRequest, _parse_file
dags_dir = Path(sys.argv[1])
out = {"errors": {}, "dags": {}}
for file in sorted(dags_dir.glob("*.py")):
    request = DagFileParseRequest(file=str(file), bundle_path=dags_dir, bundle_name="dags-folder")
    result = _parse_file(request, structlog.get_logger())
    out["errors"].update(result.import_errors or {})
    for lazy in result.serialized_dags:
        dag = lazy.data["dag"]
        out["dags"][lazy.dag_id] = {
            "file": file.name,
            "tags": sorted(lazy.tags if hasattr(lazy, "tags") else dag.get("tags", [])),
            "description": dag.get("description") or "",
            "doc_md": dag.get("doc_md") or "",
            "timetable": dag.get("timetable", {}).get("__type", ""),
            "tasks": sorted(t["__var"]["task_id"] for t in dag["tasks"]),
        }
# A stand-in's task, run: it fails with the configuration error.
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=str(dags_dir), safe_mode=False)
out["failures"] = {}
for dag_id, dag in bag.dags.items():
    if "config-error" in dag.tags:
        try:
            dag.get_task("configuration_error").execute({})
        except Exception as err:
            out["failures"][dag_id] = f"{type(err).__name__}: {err}"
print("RESULT" + json.dumps(out))
"""
)

# A DAG file whose second DAG fails half way through its `with DAG(...)` block. If that half-built
# DAG reached the DagBag, its bad schedule would fail Airflow's validation: an import error.
HALF_BUILT = """
from airflow.sdk import DAG
from mlops.airflow.config_error import build_each
from mlops.settings import Settings
from pathlib import Path


def build(path):
    bad = path.stem == "bad"
    with DAG(dag_id=f"half_{path.stem}", schedule="not a cron" if bad else None, tags=["built"]) as dag:
        if bad:
            raise RuntimeError("operator arguments rejected")
    return dag


globals().update(build_each([Path("good"), Path("bad")], build, prefix="half", stage="test", owner="t",
                            settings=Settings.from_env()))
"""


def _copy_project(root: Path) -> Path:
    skip = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in ("plugins", "dags", "include", "expectations"):
        shutil.copytree(REPO / name, root / name, ignore=skip)
    return root


def _edit_yaml(src: Path, dst: Path, **changes) -> None:
    doc = yaml.safe_load(src.read_text())
    for dotted, value in changes.items():
        *parents, leaf = dotted.split("__")
        target = doc
        for p in parents:
            target = target[p]
        target[leaf] = value
    dst.write_text(yaml.safe_dump(doc, sort_keys=False))


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = _copy_project(tmp_path_factory.mktemp("project"))
    include = root / "include"
    sources, models = include / "sources", include / "models"
    # Broken: a typo in an optional key of a source, a threshold that is no comparison in a model.
    _edit_yaml(sources / "clinic.yaml", sources / "clinic_typo.yaml", source="clinic_typo", shedule="@daily")
    _edit_yaml(
        models / "diabetes_progression.yaml",
        models / "diabetes_typo.yaml",
        model="diabetes_typo",
        evaluation__thresholds={"r2": "at least 0.3"},
    )
    # New: a second database source (with its SQL template) and a second model.
    _edit_yaml(sources / "clinic.yaml", sources / "clinic_copy.yaml", source="clinic_copy")
    shutil.copytree(include / "sql" / "clinic", include / "sql" / "clinic_copy")
    _edit_yaml(models / "digits_classifier.yaml", models / "digits_copy.yaml", model="digits_copy")
    (root / "half_built.py").write_text(HALF_BUILT)  # outside dags/: parsed on its own below
    return root


def _parse(dags_dir: Path, plugins: Path, home: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "AIRFLOW", "PYTHON"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_dir),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://nobody@invalid.invalid:1/none",
            "PYTHONPATH": str(plugins),  # the copy's library, not the repo's
        }
    )
    proc = subprocess.run(
        [sys.executable, "-c", PARSE_LIKE_THE_DAG_PROCESSOR, str(dags_dir)],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    assert line, f"parsing crashed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return json.loads(line[len("RESULT") :])


@pytest.fixture(scope="module")
def parsed(project, tmp_path_factory) -> dict:
    return _parse(project / "dags", project / "plugins", tmp_path_factory.mktemp("airflow"))


# The DAGs of the files this module adds to a copy of the project: good copies and broken ones.
ADDED = {"ingest_clinic_copy", "train_digits_copy", "deploy_digits_copy", "ingest_predictions_digits_copy"}
BROKEN = {"ingest_clinic_typo", "train_diabetes_typo", "deploy_diabetes_typo", "ingest_predictions_diabetes_typo"}


def test_dag_ids_derive_from_the_configuration_files(project, parsed):
    ids = expected_dag_ids(project / "include")
    assert ADDED | BROKEN <= ids
    assert set(parsed["dags"]) == ids
    assert expected_dag_ids() == ids - ADDED - BROKEN


def test_a_bad_file_leaves_the_other_dags_and_no_import_error(project, parsed):
    assert parsed["errors"] == {}
    good = {d for d, v in parsed["dags"].items() if "config-error" not in v["tags"]}
    # every DAG of the project's own files and of the good copies; only the broken files' DAGs are stand-ins
    assert good == expected_dag_ids(project / "include") - BROKEN
    assert ADDED | {"ingest_clinic", "train_digits_classifier", "deploy_digits_classifier"} <= good
    assert parsed["dags"]["ingest_clinic_copy"]["tasks"] == [
        "extract_patients",
        "publish_patients",
        "validate_patients",
    ]


@pytest.mark.parametrize(
    "dag_id, file, field, message",
    [
        (
            "ingest_clinic_typo",
            "clinic_typo.yaml",
            "shedule",
            "unknown field 'shedule'; did you mean 'schedule'?",
        ),
        (
            "train_diabetes_typo",
            "diabetes_typo.yaml",
            "evaluation.thresholds.r2",
            "expected a comparison like '>= 0.3'",
        ),
        (
            "deploy_diabetes_typo",
            "diabetes_typo.yaml",
            "evaluation.thresholds.r2",
            "expected a comparison like '>= 0.3'",
        ),
    ],
)
def test_the_bad_file_is_a_stand_in_dag_naming_file_and_field(project, parsed, dag_id, file, field, message):
    dag = parsed["dags"][dag_id]
    stage = {"ingest": "ingestion", "train": "training", "deploy": "deployment"}[dag_id.split("_")[0]]
    assert dag["tags"] == sorted(["config-error", stage])
    assert dag["description"].startswith(f"Not running: {file} has a configuration error: {field}: {message}")
    line = f"{project / 'include' / ('sources' if stage == 'ingestion' else 'models') / file}: {field}: {message}"
    assert line in dag["doc_md"] and "make check" in dag["doc_md"]
    assert dag["tasks"] == ["configuration_error"]
    assert dag["timetable"] == "airflow.timetables.simple.NullTimetable"  # runs only when triggered
    failure = parsed["failures"][dag_id]
    assert failure.startswith("AirflowFailException: ") and line in failure


def test_a_dag_that_fails_half_built_does_not_make_the_file_an_import_error(project, tmp_path):
    dags_dir = tmp_path / "dags"
    dags_dir.mkdir()
    shutil.copy(project / "half_built.py", dags_dir / "half_built.py")
    parsed = _parse(dags_dir, project / "plugins", tmp_path / "airflow")
    assert parsed["errors"] == {}
    assert set(parsed["dags"]) == {"half_good", "half_bad"}
    assert parsed["dags"]["half_good"]["tags"] == ["built"]
    assert parsed["dags"]["half_bad"]["tags"] == ["config-error", "test"]
    assert "bad: RuntimeError: operator arguments rejected" in parsed["failures"]["half_bad"]
