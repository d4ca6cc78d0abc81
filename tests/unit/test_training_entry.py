"""The training entry point as SageMaker and the local runner run it: `python train.py --...` with
SM_* channels filled from the real diabetes and digits data, split the way training_data does."""

import importlib.util
import json
import os
import subprocess
import sys
import tarfile

import pytest

from embedded_stack.seed import diabetes_frame, digits_frame
from mlops.training.config import MODELS_DIR, TRAINING_DIR, load_model
from mlops.training.data import split_frame

TRAIN_PY = TRAINING_DIR / "train.py"


def _channels(tmp_path, frame, cfg):
    split = split_frame(frame, cfg.key, validation=cfg.split.validation, test=cfg.split.test, seed=cfg.split.seed)
    env = {}
    for name in ("train", "validation", "test"):
        folder = tmp_path / "input" / name
        folder.mkdir(parents=True)
        frame[split == name].to_csv(folder / "data.csv", index=False)
        env[f"SM_CHANNEL_{name.upper()}"] = str(folder)
    return env, int((split == "test").sum())


def _run(tmp_path, channels, argv, job="job"):
    root = tmp_path / job
    env = {
        **os.environ,
        **channels,
        "SM_MODEL_DIR": str(root / "model"),
        "SM_OUTPUT_DIR": str(root / "output"),
        "SM_OUTPUT_DATA_DIR": str(root / "output" / "data"),
    }
    proc = subprocess.run(
        [sys.executable, str(TRAIN_PY), *argv], env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path
    )
    return proc, root


def _report(root):
    return json.loads((root / "model" / "evaluation.json").read_text())


@pytest.fixture(scope="module")
def diabetes(tmp_path_factory):
    from datetime import date

    cfg = load_model(MODELS_DIR / "diabetes_progression.yaml")
    tmp = tmp_path_factory.mktemp("diabetes")
    channels, test_rows = _channels(tmp, diabetes_frame(date(2026, 10, 1), 21), cfg)
    proc, root = _run(tmp, channels, cfg.train_argv())
    assert proc.returncode == 0, proc.stderr
    return cfg, tmp, channels, root, test_rows, proc


def test_regression_trains_evaluates_and_saves(diabetes):
    cfg, _, _, root, test_rows, proc = diabetes
    assert (root / "model" / "model.joblib").is_file()
    assert (root / "model" / "code" / "inference.py").is_file()
    report = _report(root)
    assert json.loads((root / "output" / "data" / "evaluation.json").read_text()) == report
    m = report["candidate"]["metrics"]
    assert set(m) == {"mse", "rmse", "mae", "r2"}
    assert m["r2"] > 0.3 and 40 < m["rmse"] < 70 and m["rmse"] ** 2 == pytest.approx(m["mse"])
    assert report["candidate"]["validation_metrics"]["r2"] > 0.2
    assert report["data"]["test"]["rows"] == test_rows
    assert report["data"]["train"]["rows"] + report["data"]["validation"]["rows"] + test_rows == 442
    assert report["model"]["features"] == list(cfg.features)
    assert report["model"]["estimator_params"]["n_estimators"] == 200
    assert report["production"] is None
    assert f"metric test_rmse={m['rmse']:.6g}" in proc.stdout
    assert report["serving"]["predictor"] == "onnxruntime", report["serving"]  # regression's graph answers alike


def test_production_model_is_evaluated_on_the_same_test_split(diabetes, tmp_path):
    cfg, _, channels, first, _, _ = diabetes
    production = tmp_path / "production"
    production.mkdir()
    with tarfile.open(production / "model.tar.gz", "w:gz") as tar:  # as SageMaker packs SM_MODEL_DIR
        for path in (first / "model").rglob("*"):
            tar.add(path, arcname=str(path.relative_to(first / "model")))
    argv = cfg.train_argv()
    argv[argv.index("--estimator") + 1] = "sklearn.linear_model.Ridge"
    argv[argv.index("--estimator-params") + 1] = '{"alpha": 0.5}'
    proc, root = _run(tmp_path, {**channels, "SM_CHANNEL_PRODUCTION": str(production)}, argv, job="second")
    assert proc.returncode == 0, proc.stderr
    report = _report(root)
    assert report["production"]["metrics"] == _report(first)["candidate"]["metrics"]
    assert report["production"]["estimator"] == "sklearn.ensemble.GradientBoostingRegressor"
    assert report["candidate"]["metrics"] != report["production"]["metrics"]
    assert report["data"]["test"]["sha256"] == _report(first)["data"]["test"]["sha256"]


def test_classification_reports_top3_and_serves_top3(tmp_path):
    cfg = load_model(MODELS_DIR / "digits_classifier.yaml")
    channels, test_rows = _channels(tmp_path, digits_frame(), cfg)
    proc, root = _run(tmp_path, channels, cfg.train_argv())
    assert proc.returncode == 0, proc.stderr
    report = _report(root)
    m = report["candidate"]["metrics"]
    assert m["accuracy"] > 0.9 and m["f1_macro"] > 0.9
    assert m["top3_accuracy"] >= m["accuracy"] and m["top3_accuracy"] > 0.97
    cm = m["confusion_matrix"]
    assert cm["labels"] == list(range(10))
    assert sum(map(sum, cm["matrix"])) == test_rows
    assert sum(cm["matrix"][i][i] for i in range(10)) == round(m["accuracy"] * test_rows)
    assert report["model"]["classes"] == list(range(10))

    spec = importlib.util.spec_from_file_location("served_inference", root / "model" / "code" / "inference.py")
    inference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(inference)
    model = inference.model_fn(str(root / "model"))
    rows = digits_frame().head(4)
    body = json.dumps({"instances": rows[list(cfg.features)].to_dict(orient="records")})
    body, content_type = inference.output_fn(inference.predict_fn(inference.input_fn(body, "application/json"), model))
    predictions = json.loads(body)["predictions"]
    assert content_type == "application/json" and len(predictions) == 4
    for p, truth in zip(predictions, rows["label"], strict=True):
        probs = [c["probability"] for c in p["top_classes"]]
        assert len(p["top_classes"]) == 3 and probs == sorted(probs, reverse=True) and 0 < sum(probs) <= 1 + 1e-9
        assert p["label"] == p["top_classes"][0]["label"] and truth in [c["label"] for c in p["top_classes"]]
    csv_body = rows[list(cfg.features)].to_csv(index=False)  # with the header; without works too
    csv_predictions = inference.predict_fn(inference.input_fn(csv_body, "text/csv"), model)["predictions"]
    assert csv_predictions == predictions
    headless = rows[list(cfg.features)].to_csv(index=False, header=False)
    assert inference.predict_fn(inference.input_fn(headless, "text/csv"), model)["predictions"] == predictions


@pytest.fixture
def train_module(monkeypatch):
    """train.py imported in-process (for the quick failure cases), its sibling modules cleaned up after."""
    monkeypatch.syspath_prepend(str(TRAINING_DIR))
    spec = importlib.util.spec_from_file_location("train_entry", TRAIN_PY)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    yield module
    for name in ("inference", "metrics"):
        sys.modules.pop(name, None)


def test_invalid_hyperparameter_value_fails_the_job_with_a_named_reason(diabetes, tmp_path):
    cfg, _, channels, _, _, _ = diabetes
    argv = cfg.train_argv()
    argv[argv.index("--estimator-params") + 1] = '{"n_estimators": -3}'
    proc, root = _run(tmp_path, channels, argv)
    assert proc.returncode == 1
    failure = (root / "output" / "failure").read_text()
    assert "The 'n_estimators' parameter of GradientBoostingRegressor must be an int" in failure
    assert failure in proc.stderr
    assert not (root / "model" / "model.joblib").exists()


@pytest.mark.parametrize(
    "arg, value, named",
    [
        ("--estimator-params", '{"n_estimatorz": 10}', "invalid hyperparameter 'n_estimatorz'"),
        ("--estimator-params", '{"n_estimators": 10', "--estimator-params is not valid JSON"),
        ("--estimator-params", "[1, 2]", "--estimator-params must be a JSON object"),
        ("--estimator", "os.system", "only classes from sklearn., xgboost.* may be used"),
        ("--features", "age,bmi,cholesterol", "channel 'train' has no column(s) ['cholesterol']"),
        ("--problem-type", "ranking", "argument --problem-type"),
    ],
)
def test_bad_arguments_fail_with_a_named_reason(diabetes, train_module, tmp_path, monkeypatch, arg, value, named):
    cfg, _, channels, _, _, _ = diabetes
    for name, folder in {**channels, "SM_MODEL_DIR": tmp_path / "model", "SM_OUTPUT_DIR": tmp_path / "out"}.items():
        monkeypatch.setenv(name, str(folder))
    argv = cfg.train_argv()
    argv[argv.index(arg) + 1] = value
    assert train_module.main(argv) == 1
    assert named in (tmp_path / "out" / "failure").read_text()
    assert not (tmp_path / "model").exists()


@pytest.mark.skipif(importlib.util.find_spec("xgboost") is not None, reason="xgboost is installed")
def test_xgboost_missing_is_named(diabetes, train_module, tmp_path, monkeypatch):
    cfg = diabetes[0]
    monkeypatch.setenv("SM_OUTPUT_DIR", str(tmp_path))
    argv = cfg.train_argv()
    argv[argv.index("--estimator") + 1] = "xgboost.XGBRegressor"
    assert train_module.main(argv) == 1
    failure = (tmp_path / "failure").read_text()
    assert "cannot import xgboost" in failure and "training.framework: xgboost" in failure


def _train_in_process(train_module, tmp_path, monkeypatch, estimator=None, params=None, frame=None):
    """train.py's main() on the digits data (or `frame`): (evaluation report, the saved model as model_fn loads it)."""
    cfg = load_model(MODELS_DIR / "digits_classifier.yaml")
    channels, _ = _channels(tmp_path, digits_frame() if frame is None else frame, cfg)
    for name, folder in {**channels, "SM_MODEL_DIR": tmp_path / "model", "SM_OUTPUT_DIR": tmp_path / "out"}.items():
        monkeypatch.setenv(name, str(folder))
    monkeypatch.setenv("SM_OUTPUT_DATA_DIR", str(tmp_path / "out" / "data"))
    argv = cfg.train_argv()
    if estimator:
        argv[argv.index("--estimator") + 1] = estimator
        argv[argv.index("--estimator-params") + 1] = json.dumps(params or {})
    assert train_module.main(argv) == 0, (tmp_path / "out" / "failure").read_text()
    return _report(tmp_path), train_module.model_fn(str(tmp_path / "model"))


@pytest.mark.skipif(importlib.util.find_spec("xgboost") is None, reason="xgboost is not installed")
def test_xgboost_classifier_with_early_stopping_on_validation(train_module, tmp_path, monkeypatch):
    params = {"n_estimators": 300, "max_depth": 3, "learning_rate": 0.3, "early_stopping_rounds": 5, "n_jobs": 2}
    report, model = _train_in_process(train_module, tmp_path, monkeypatch, "xgboost.XGBClassifier", params)
    assert report["candidate"]["metrics"]["accuracy"] > 0.9
    assert report["environment"]["xgboost"]
    assert model["estimator"].best_iteration < 299  # stopped early on the validation channel
    features = list(load_model(MODELS_DIR / "digits_classifier.yaml").features)
    prediction = train_module.predict_fn(digits_frame().head(2)[features], model)["predictions"]
    assert [len(p["top_classes"]) for p in prediction] == [3, 3]


# --- the serving predictor: the estimator compiled to ONNX, kept when it answers as the estimator does ----


@pytest.mark.parametrize(
    "estimator, params",
    [
        (None, None),  # the bundled digits model: scikit-learn's LogisticRegression
        ("sklearn.ensemble.RandomForestClassifier", {"n_estimators": 30, "n_jobs": 1}),
        ("xgboost.XGBClassifier", {"n_estimators": 60, "max_depth": 3, "early_stopping_rounds": 3, "n_jobs": 1}),
    ],
)
def test_the_model_is_served_by_its_checked_onnx_graph(train_module, tmp_path, monkeypatch, estimator, params):
    if estimator and estimator.startswith("xgboost.") and importlib.util.find_spec("xgboost") is None:
        pytest.skip("xgboost is not installed")
    report, model = _train_in_process(train_module, tmp_path, monkeypatch, estimator, params)
    serving = report["serving"]
    assert serving["predictor"] == "onnxruntime", serving
    assert serving["rows"] > 1000 and serving["max_abs_difference"] <= train_module.ONNX_TOLERANCE
    assert "_session" in model and "_session" not in joblib_keys(tmp_path / "model" / "model.joblib")
    inference = sys.modules["inference"]
    X = inference.to_matrix(model, digits_frame())
    served = inference.predict_proba(model, X)
    by_estimator = inference.predict_proba({k: v for k, v in model.items() if k != "_session"}, X)
    assert served.shape == by_estimator.shape == (1797, 10)
    assert abs(served - by_estimator).max() <= train_module.ONNX_TOLERANCE
    assert (served.argmax(axis=1) == by_estimator.argmax(axis=1)).all()


def joblib_keys(path) -> set:
    import joblib

    return set(joblib.load(path))


def test_without_onnxruntime_the_estimator_serves_the_same_model(train_module, tmp_path, monkeypatch):
    _, with_graph = _train_in_process(train_module, tmp_path, monkeypatch)
    monkeypatch.setitem(sys.modules, "onnxruntime", None)  # a serving image without it
    model = train_module.model_fn(str(tmp_path / "model"))
    assert model["onnx"] and "_session" not in model
    inference = sys.modules["inference"]
    rows = digits_frame().head(40)
    assert inference.predict_fn(rows, model) == inference.predict_fn(rows, {**model, "onnx": None})
    served = inference.predict_proba(with_graph, rows)
    assert abs(inference.predict_proba(model, rows) - served).max() <= train_module.ONNX_TOLERANCE


def test_without_the_converters_the_report_says_so(train_module, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "skl2onnx", None)  # a training image without skl2onnx
    report, model = _train_in_process(train_module, tmp_path, monkeypatch)
    assert report["serving"] == {"predictor": "estimator", "reason": "skl2onnx is not installed in the training image"}
    assert "onnx" not in model and "_session" not in model


def test_a_graph_that_answers_otherwise_is_not_kept(train_module, tmp_path, monkeypatch):
    monkeypatch.setattr(train_module, "ONNX_TOLERANCE", -1.0)  # every difference is too large, even 0
    report, model = _train_in_process(train_module, tmp_path, monkeypatch)
    assert report["serving"]["predictor"] == "estimator"
    assert report["serving"]["reason"] == "the ONNX graph's answers differ from the estimator's"
    assert report["serving"]["rows"] > 1000
    assert "onnx" not in model and "_session" not in model


def test_an_estimator_without_a_converter_is_served_by_itself(train_module, tmp_path, monkeypatch):
    report, model = _train_in_process(train_module, tmp_path, monkeypatch, "sklearn.dummy.DummyClassifier")
    assert report["serving"]["predictor"] == "estimator"
    assert (
        report["serving"]["reason"].startswith("no ONNX conversion: ")
        and "DummyClassifier" in report["serving"]["reason"]
    )
    assert "_session" not in model
    assert len(sys.modules["inference"].predict_fn(digits_frame().head(3), model)["predictions"]) == 3


@pytest.mark.parametrize("estimator", ["xgboost.XGBClassifier", "sklearn.ensemble.HistGradientBoostingClassifier"])
def test_a_model_that_learned_missing_values_is_checked_with_them(train_module, tmp_path, monkeypatch, estimator):
    """The check adds the rows again with a fifth of their values missing: the graph must route NaN as the
    estimator does."""
    if estimator.startswith("xgboost.") and importlib.util.find_spec("xgboost") is None:
        pytest.skip("xgboost is not installed")
    frame = digits_frame()
    frame.loc[frame.index % 7 == 0, "pixel_20"] = None  # missing in training too: allow_missing
    params = {"max_iter": 20} if "Hist" in estimator else {"n_estimators": 20}
    report, model = _train_in_process(train_module, tmp_path, monkeypatch, estimator, params, frame)
    assert model["allow_missing"]
    if "Hist" in estimator and report["serving"]["predictor"] == "estimator":
        # skl2onnx 1.20 cannot write this model's missing-value attributes with numpy 2.4 (the Python 3.11
        # lock): the conversion fails, is named, and the estimator serves; with numpy 2.5 it converts
        assert report["serving"]["reason"].startswith("no ONNX conversion: "), report["serving"]
        assert "_session" not in model
        return
    assert report["serving"]["predictor"] == "onnxruntime", report["serving"]
    train_rows = report["data"]["train"]["rows"]
    assert report["serving"]["rows"] == 2 * (len(frame) - train_rows + min(1000, train_rows))
    inference = sys.modules["inference"]
    X = inference.to_matrix(model, frame)
    X[::3, ::5] = float("nan")
    served = inference.predict_proba(model, X)
    by_estimator = inference.predict_proba({k: v for k, v in model.items() if k != "_session"}, X)
    assert abs(served - by_estimator).max() <= train_module.ONNX_TOLERANCE


def test_a_value_beyond_float32_is_answered_by_the_estimator(train_module, tmp_path, monkeypatch):
    """The graph takes float32; 1e300 would become infinity there, so that request goes to the estimator."""
    _, model = _train_in_process(train_module, tmp_path, monkeypatch)
    inference = sys.modules["inference"]
    rows = digits_frame().head(3)[list(model["features"])].to_numpy(dtype=float, copy=True)
    rows[1, 10] = 1e300
    estimator_only = {k: v for k, v in model.items() if k != "_session"}
    assert "_session" in model
    assert inference.predict_fn(rows, model) == inference.predict_fn(rows, estimator_only)
    assert all(0 < p["top_classes"][0]["probability"] <= 1 for p in inference.predict_fn(rows, model)["predictions"])
