"""The scientists' reader installs on its own: a wheel of mlops.lake + settings, the `mlops-reader`
command, and a venv without Airflow that reads a published partition from the moto server."""

from __future__ import annotations

import io
import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
UV = Path(sys.executable).parent / "uv"


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """Built from a copy of the repo's pyproject and plugins/mlops, so no build files land in the tree."""
    if not UV.exists():
        pytest.skip(f"uv is not installed beside {sys.executable} (make venv installs it)")
    src = tmp_path_factory.mktemp("reader-src")
    shutil.copy(REPO / "pyproject.toml", src)
    shutil.copytree(REPO / "plugins" / "mlops", src / "plugins" / "mlops", ignore=shutil.ignore_patterns("__pycache__"))
    out = tmp_path_factory.mktemp("reader-dist")
    proc = subprocess.run(
        [str(UV), "build", "--wheel", "--out-dir", str(out), str(src)], capture_output=True, text=True, timeout=300
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    (found,) = out.glob("*.whl")
    return found


def test_the_wheel_holds_the_reader_and_nothing_of_the_platform(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    modules = sorted(n for n in names if n.endswith(".py"))
    assert modules == [
        "mlops/__init__.py",
        "mlops/lake/__init__.py",
        "mlops/lake/layout.py",
        "mlops/lake/reader.py",
        "mlops/settings.py",
    ]
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "mlops-reader = mlops.lake.reader:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    metadata = zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    requires = sorted(line.split()[1] for line in metadata.splitlines() if line.startswith("Requires-Dist:"))
    assert [r.split(">")[0] for r in requires] == ["boto3", "pandas", "pyarrow"]


def test_the_installed_command_reads_curated_data_without_airflow(wheel, tmp_path, s3, moto_endpoint):
    """A fresh venv with only the wheel and its dependencies (from uv's cache when it has them)."""
    curated = s3.buckets["curated"]
    frame = pd.DataFrame({"patient_id": [1, 2, 3], "bmi": [20.5, 31.0, 27.25]})
    body = io.BytesIO()
    frame.to_parquet(body, index=False)
    s3.put_object(Bucket=curated, Key="patients/ds=2026-10-01/data-abc.parquet", Body=body.getvalue())
    manifest = {"dataset": "patients", "ds": "2026-10-01", "rows": 3, "key": "patient_id", "changed_at": None}
    manifest["files"] = [{"key": "patients/ds=2026-10-01/data-abc.parquet", "rows": 3}]
    s3.put_object(Bucket=curated, Key="patients/ds=2026-10-01/_manifest.json", Body=json.dumps(manifest).encode())

    venv = tmp_path / "venv"
    subprocess.run([str(UV), "venv", "-q", "--python", sys.executable, str(venv)], check=True, timeout=120)
    install = [str(UV), "pip", "install", "-q", "--python", str(venv / "bin" / "python"), str(wheel)]
    if subprocess.run([*install, "--offline"], capture_output=True, timeout=300).returncode != 0:
        subprocess.run(install, check=True, capture_output=True, timeout=600)
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import importlib.util as u; print(u.find_spec('airflow') is None)"],
        capture_output=True,
        text=True,
    )
    assert probe.stdout.strip() == "True", "the reader's venv must not contain Airflow"

    env = {
        "PATH": "/usr/bin:/bin",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ENDPOINT_URL": moto_endpoint,
        "MLOPS_CURATED_BUCKET": curated,
    }
    command = str(venv / "bin" / "mlops-reader")
    listed = subprocess.run([command, "datasets"], capture_output=True, text=True, env=env, timeout=120)
    assert listed.returncode == 0, listed.stderr
    assert listed.stdout.split() == ["patients"]
    out = tmp_path / "patients.csv"
    loaded = subprocess.run([command, "load", "patients", "--out", str(out)], capture_output=True, text=True, env=env)
    assert loaded.returncode == 0, loaded.stderr
    assert pd.read_csv(out)["bmi"].tolist() == [20.5, 31.0, 27.25]
