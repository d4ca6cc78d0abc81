"""The project's table of framework image registries against the SageMaker Python SDK's own
`image_uris.retrieve`, run in .venv-sagemaker (the SDK's pins clash with Airflow's lock): every
region the SDK knows, the framework versions the configs use (the defaults and include/models/*.yaml)
in every region for training and serving, every other version the SDK knows in sample regions."""

import json
import subprocess
from pathlib import Path

import pytest

from mlops.training.config import FRAMEWORK_VERSIONS, MODELS_DIR, load_model
from mlops.training.job import FRAMEWORK_REGISTRIES, image_uri  # the one import of the image table

ROOT = Path(__file__).resolve().parents[2]
SDK_PYTHON = ROOT / ".venv-sagemaker" / "bin" / "python"
SCRIPT = ROOT / "tests" / "sdk_clients" / "image_uris_table.py"


def configured_versions() -> set[tuple[str, str]]:
    pairs = set(FRAMEWORK_VERSIONS.items())
    for path in sorted(MODELS_DIR.glob("*.yaml")):
        training = load_model(path).training
        pairs.add((training.framework, training.framework_version))
    return pairs


@pytest.fixture(scope="module")
def sdk(tmp_path_factory):
    if not SDK_PYTHON.exists():
        pytest.skip(f"{SDK_PYTHON} is missing: `make sagemaker-venv` creates it (requirements/sagemaker-sdk.txt)")
    out = tmp_path_factory.mktemp("sdk") / "uris.json"
    every_region = ",".join(f"{f}:{v}" for f, v in sorted(configured_versions()))
    proc = subprocess.run(
        [str(SDK_PYTHON), str(SCRIPT), str(out), "--every-region", every_region],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(out.read_text())


def test_the_table_has_every_region_the_sdk_knows(sdk):
    assert sorted(FRAMEWORK_REGISTRIES) == sdk["regions"], sdk["sdk_version"]


def test_every_image_uri_is_the_sdks(sdk, monkeypatch):
    for framework in ("sklearn", "xgboost"):
        monkeypatch.delenv(f"MLOPS_TRAINING_IMAGE_{framework.upper()}", raising=False)
    differing = [
        (framework, version, scope, region, uri, image_uri(framework, version, region))
        for framework, version, scope, region, uri in sdk["uris"]
        if uri is not None and image_uri(framework, version, region) != uri
    ]
    assert not differing, f"SageMaker SDK {sdk['sdk_version']}: {differing[:5]}"
    checked = {(f, v, s) for f, v, s, _, uri in sdk["uris"] if uri is not None}
    for framework, version in configured_versions():
        assert (framework, version, "training") in checked, f"the SDK knows no {framework} {version} image"
        regions = {r for f, v, s, r, uri in sdk["uris"] if (f, v, s) == (framework, version, "training") and uri}
        assert regions == set(sdk["regions"])


def test_serving_uses_the_training_image_where_the_sdk_lists_no_inference_scope(sdk):
    """SDK 2.257.7 lists scikit-learn 1.4-2 for training only; SageMaker serves it from the same image
    (the container's serve entry point), so image_uri gives that one URI for both."""
    no_inference = {(f, v) for f, v, s, _, uri in sdk["uris"] if s == "inference" and uri is None}
    with_training = {(f, v) for f, v, s, _, uri in sdk["uris"] if s == "training" and uri}
    assert no_inference <= with_training
    pairs = {(f, v, s): uri for f, v, s, r, uri in sdk["uris"] if r == "us-east-1"}
    same = [k for k in with_training if pairs.get((*k, "inference"))]
    assert same and all(pairs[(*k, "inference")] == pairs[(*k, "training")] for k in same)


def test_an_unknown_region_is_named(monkeypatch):
    monkeypatch.delenv("MLOPS_TRAINING_IMAGE_SKLEARN", raising=False)
    with pytest.raises(ValueError, match="no SageMaker sklearn image registry known for region mars-1"):
        image_uri("sklearn", "1.4-2", "mars-1")


def test_the_predictor_client_parses_its_arguments():
    """tests/sdk_clients/predictor_roundtrip.py imports the SDK's Predictor and parses its arguments (the SDK
    logs its config search on stdout first: the answer is the last line)."""
    if not SDK_PYTHON.exists():
        pytest.skip(f"{SDK_PYTHON} is missing: `make sagemaker-venv` creates it")
    client = ROOT / "tests" / "sdk_clients" / "predictor_roundtrip.py"
    proc = subprocess.run([str(SDK_PYTHON), str(client), "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "--endpoint-url" in proc.stdout and "ENDPOINT_NAME" in proc.stdout
    proc = subprocess.run(
        [str(SDK_PYTHON), str(client), "--check-imports"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert json.loads(proc.stdout.splitlines()[-1])["predictor"] == "sagemaker.base_predictor.Predictor"
    proc = subprocess.run([str(SDK_PYTHON), str(client), "my-endpoint"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2 and "--endpoint-url" in proc.stderr
