"""The MWAA bundle (`make package`) is self-sufficient and deterministic: unpacked the way MWAA
unpacks it, with only the unpacked plugins folder on PYTHONPATH (not the repo), the startup
script's environment and the pinned Airflow, every DAG imports without errors."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from deploy import package
from tests.dags.expected import expected_dag_ids
from tests.dags.sandbox import NO_NETWORK_DB_OR_VARIABLES

REPO = Path(__file__).resolve().parents[2]
ACCOUNT, REGION = "123456789012", "eu-west-1"

# Runs in a fresh interpreter started by bash after `source startup.sh`, as MWAA does. As in
# test_dag_integrity: sockets, Variables and the metadata DB raise during parsing.
PROBE = (
    NO_NETWORK_DB_OR_VARIABLES
    + r"""
import importlib.util, json, os, sys
repo, plugins_dir, dags_dir = sys.argv[1:4]
import airflow
from airflow import plugins_manager
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder=dags_dir, safe_mode=False)
plugins = plugins_manager.get_plugin_info()
import mlops, mlops.ingestion.config
from mlops.settings import Settings
print("RESULT" + json.dumps({
    "airflow": airflow.__version__,
    "errors": {k: str(v) for k, v in bag.import_errors.items()},
    "dags": sorted(bag.dag_ids),
    "files": sorted(os.path.relpath(f, dags_dir) for f in bag.file_last_changed),
    "outlets": {t.task_id: [o.uri for o in t.outlets] for t in bag.dags["ingest_clinic"].tasks},
    "plugins": [p["name"] for p in plugins],
    "mlops": mlops.__file__,
    "include": str(mlops.ingestion.config.INCLUDE_DIR),
    "expectations": str(mlops.ingestion.config.EXPECTATIONS_DIR),
    "repo_on_path": [p for p in sys.path if p in (repo, os.path.join(repo, "plugins"), os.path.join(repo, "dags"))],
    "embedded_stack_importable": importlib.util.find_spec("embedded_stack") is not None,
    "settings": Settings.from_env().__dict__,
    "revision": os.environ.get("MLOPS_CODE_REVISION"),
    "environment": os.environ.get("MLOPS_ENVIRONMENT"),
}))
"""
)


@pytest.fixture(scope="module")
def bundle(tmp_path_factory) -> Path:
    return package.build("dev", tmp_path_factory.mktemp("dist"), account_id=ACCOUNT, region=REGION)


@pytest.fixture(scope="module")
def unpacked(bundle, tmp_path_factory) -> dict:
    """The bundle laid out as on MWAA (<home>/plugins from plugins.zip, <home>/dags synced), then probed."""
    tmp = tmp_path_factory.mktemp("mwaa")
    home = tmp / "airflow"
    plugins_dir, dags_dir = home / "plugins", home / "dags"
    with zipfile.ZipFile(bundle / "plugins.zip") as zf:
        zf.extractall(plugins_dir)
    shutil.copytree(bundle / "dags", dags_dir)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "AIRFLOW", "PYTHON", "AWS_"))}
    env.update(
        {
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__CORE__DAGS_FOLDER": str(dags_dir),
            "AIRFLOW__CORE__PLUGINS_FOLDER": str(plugins_dir),
            "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": "postgresql://nobody@invalid.invalid:1/none",
            "PYTHONPATH": str(plugins_dir),  # what MWAA puts there: the unpacked plugins.zip, not the repo
            "MWAA_AIRFLOW_COMPONENT": "scheduler",
        }
    )
    # -P: the working directory does not go on sys.path either.
    script = 'source "$1" && exec "$2" -P -c "$3" "${@:4}"'
    argv = [str(REPO), str(plugins_dir), str(dags_dir)]
    proc = subprocess.run(
        ["bash", "-c", script, "bash", str(bundle / "startup.sh"), sys.executable, PROBE, *argv],
        cwd=tmp,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT")), None)
    assert line, f"the unpacked bundle crashed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return {"home": home, **json.loads(line[len("RESULT") :])}


def test_bundle_layout(bundle):
    assert sorted(p.name for p in bundle.iterdir()) == [
        "dags",
        "manifest.json",
        "plugins.zip",
        "requirements.txt",
        "startup.sh",
    ]
    names = zipfile.ZipFile(bundle / "plugins.zip").namelist()
    assert {
        ".airflowignore",
        "mlops_plugin.py",
        "mlops/__init__.py",
        "mlops/ingestion/config.py",
        "mlops/airflow/ingestion/dag.py",
    } <= set(names)
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert (bundle / "dags" / "include" / "sources" / "clinic.yaml").is_file()
    assert (bundle / "dags" / "expectations" / "diabetes_patients.json").is_file()
    assert (bundle / "dags" / ".airflowignore").read_text().splitlines()[-2:] == ["include/", "expectations/"]
    assert (bundle / "requirements.txt").read_text() == (REPO / "requirements.txt").read_text()
    assert os.access(bundle / "startup.sh", os.X_OK)


def test_manifest_lists_every_file_with_its_sha256(bundle):
    manifest = json.loads((bundle / "manifest.json").read_text())
    listed = {f["path"]: f["sha256"] for f in manifest["files"]}
    on_disk = {
        p.relative_to(bundle).as_posix(): package.sha256(p)
        for p in bundle.rglob("*")
        if p.is_file() and p.name != "manifest.json"
    }
    assert listed == on_disk
    assert manifest["airflow_version"] == package.pinned_airflow_version() == "3.3.1"
    assert manifest["environment"] == "dev"


def test_unpacked_bundle_imports_every_dag_with_the_pinned_airflow(unpacked):
    assert unpacked["airflow"] == package.pinned_airflow_version()
    assert unpacked["errors"] == {}
    assert set(unpacked["dags"]) == expected_dag_ids(REPO / "include")
    # .airflowignore keeps the training scripts under include/ out of the DAG processor.
    assert unpacked["files"] == ["deploy_models.py", "ingest_predictions.py", "ingest_sources.py", "train_models.py"]
    assert unpacked["plugins"] == ["mlops"]


def test_unpacked_bundle_uses_only_itself_and_the_startup_settings(unpacked):
    home = unpacked["home"]
    assert unpacked["repo_on_path"] == [] and not unpacked["embedded_stack_importable"]
    assert Path(unpacked["mlops"]).is_relative_to(home / "plugins")
    assert Path(unpacked["include"]) == home / "dags" / "include"
    assert Path(unpacked["expectations"]) == home / "dags" / "expectations"
    assert unpacked["environment"] == "dev"  # exported by startup.sh; package.py checks it names the env
    settings = unpacked["settings"]
    assert settings["raw_bucket"] == f"mlops-dev-raw-{ACCOUNT}"
    assert settings["alerts_topic_arn"] == f"arn:aws:sns:{REGION}:{ACCOUNT}:mlops-dev-alerts"
    assert settings["capture_kms_key_id"] == f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/mlops-dev-artifacts"
    assert unpacked["outlets"]["publish_patients"] == [f"s3://mlops-dev-curated-{ACCOUNT}/diabetes_patients"]
    assert unpacked["revision"] and unpacked["revision"] != "unknown"


def test_two_builds_are_byte_identical(bundle, tmp_path):
    revision = json.loads((bundle / "manifest.json").read_text())["revision"]
    again = package.build("dev", tmp_path, account_id=ACCOUNT, region=REGION, revision=revision)
    assert (again / "plugins.zip").read_bytes() == (bundle / "plugins.zip").read_bytes()
    assert (again / "manifest.json").read_text() == (bundle / "manifest.json").read_text()


def test_unknown_environment_and_missing_account_fail_clearly(tmp_path):
    with pytest.raises(package.PackageError, match="unknown environment 'staging'.*known: dev, prod"):
        package.build("staging", tmp_path, account_id=ACCOUNT, region=REGION)
    with pytest.raises(package.PackageError, match="needs AWS_ACCOUNT_ID"):
        package.build("prod", tmp_path, region=REGION)


def test_requirements_need_the_constraints_line_of_the_pinned_airflow():
    good = (REPO / "requirements.txt").read_text()
    package.check_requirements(good, "3.3.1")
    with pytest.raises(package.PackageError, match="does not match the pinned Airflow 3.3.1"):
        package.check_requirements(good.replace("constraints-3.3.1", "constraints-3.2.0"), "3.3.1")
    with pytest.raises(package.PackageError, match="first requirement line must be the constraints line"):
        package.check_requirements("great-expectations==1.24.1\n", "3.3.1")
    with pytest.raises(package.PackageError, match="contradicts"):
        package.check_requirements(good + "apache-airflow-providers-postgres==6.0.0\n", "3.3.1")
