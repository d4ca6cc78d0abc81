"""`python -m mlops check` (what `make check` and `make test` run) lists every problem of every
configuration file at once, cross-checks included, and exits 1; on the repo's files it exits 0."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import yaml

from tests.dags.test_config_errors import _copy_project, _edit_yaml

REPO = Path(__file__).resolve().parents[2]


def _check(root: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLOPS_", "PYTHON"))}
    env["PYTHONPATH"] = str(root / "plugins")
    return subprocess.run(
        [sys.executable, "-m", "mlops", "check"], cwd=root, env=env, capture_output=True, text=True, timeout=300
    )


def test_check_lists_every_problem_of_every_file_at_once(tmp_path):
    root = _copy_project(tmp_path)
    include = root / "include"
    sources, models = include / "sources", include / "models"
    # Schema: a typo in a source file.
    _edit_yaml(sources / "digits_drop.yaml", sources / "digits_drop.yaml", retires=2)
    # SQL: a name Airflow does not put in the context.
    sql = include / "sql" / "clinic" / "patients.sql"
    sql.write_text(sql.read_text().replace("data_interval_end", "data_interval_ending"))
    # Suite: an expectation type that does not exist.
    suite = root / "expectations" / "diabetes_patients.json"
    doc = json.loads(suite.read_text())
    typo_at = len(doc["expectations"])
    doc["expectations"].append({"type": "expect_colum_to_exist", "kwargs": {"column": "age"}})
    suite.write_text(json.dumps(doc))
    # Models: a feature that is no column, a hyperparameter value out of range, an unknown
    # hyperparameter and dataset, a regressor for a classification problem.
    diabetes = yaml.safe_load((models / "diabetes_progression.yaml").read_text())
    features = ["bmii" if f == "bmi" else f for f in diabetes["data"]["features"]]
    _edit_yaml(
        models / "diabetes_progression.yaml",
        models / "diabetes_progression.yaml",
        data__features=features,
        estimator__hyperparameters={**diabetes["estimator"]["hyperparameters"], "n_estimators": -3},
    )
    _edit_yaml(
        models / "digits_classifier.yaml",
        models / "digits_classifier.yaml",
        data__datasets=["digits_images", "digit_images"],
        estimator__hyperparameters={"C": 0.05, "max_iters": 5},
    )
    _edit_yaml(
        models / "digits_classifier.yaml",
        models / "digits_ridge.yaml",
        model="digits_ridge",
        estimator={"class": "sklearn.linear_model.Ridge", "hyperparameters": {"alpha": 1.0}},
    )

    proc = _check(root)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    expected = [
        "include/sources/digits_drop.yaml: retires: unknown field 'retires'; did you mean 'retries'?",
        "include/sql/clinic/patients.sql: does not render for the interval starting 2026-10-01: "
        "'data_interval_ending' is undefined",
        f"expectations/diabetes_patients.json: expectations[{typo_at}].type: unknown expectation type "
        "'expect_colum_to_exist'; did you mean 'expect_column_to_exist'?",
        "include/models/diabetes_progression.yaml: data.features[2]: column 'bmii' is not in dataset "
        "'diabetes_patients' (suite diabetes_patients.json); did you mean 'bmi'?",
        "include/models/diabetes_progression.yaml: estimator.hyperparameters.n_estimators: The 'n_estimators' "
        "parameter of GradientBoostingRegressor must be an int in the range [1, inf). Got -3 instead.",
        "include/models/digits_classifier.yaml: data.datasets[1]: no source feeds dataset 'digit_images'; "
        "did you mean 'digits_images'?",
        "include/models/digits_classifier.yaml: estimator.hyperparameters.max_iters: LogisticRegression takes no "
        "parameter 'max_iters'; did you mean 'max_iter'?",
        "include/models/digits_ridge.yaml: data.datasets[1]: no source feeds dataset 'digit_images'",
        "include/models/digits_ridge.yaml: estimator.class: Ridge is not a classification estimator",
    ]
    for line in expected:
        assert any(actual.startswith(line) for actual in lines), f"missing: {line}\n{proc.stdout}"
    assert len(lines) == len(expected), proc.stdout
    assert proc.stderr.strip().endswith("9 problem(s) in 6 file(s)")
