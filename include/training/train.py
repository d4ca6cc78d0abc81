"""Train, evaluate and save one model: the SageMaker script-mode entry point.

SageMaker's scikit-learn and XGBoost containers run `python train.py --<hyperparameter> <value> ...`
with the channels and output folders in SM_* environment variables; the local runner does the
same. Evaluation happens here, not in Airflow, so MWAA workers need no scikit-learn: the job
trains on channel `train` (`validation` is used for early stopping and reported), evaluates the
candidate on channel `test` and, when channel `production` holds the production model's
model.tar.gz, evaluates that model on the same rows, so the gate compares like with like.

    python train.py --problem-type regression --estimator sklearn.linear_model.Ridge \\
        --features age,bmi --label progression --estimator-params '{"alpha": 1.0}'

Writes SM_MODEL_DIR/{model.joblib, evaluation.json, code/inference.py} (model.tar.gz) and
SM_OUTPUT_DATA_DIR/evaluation.json (output.tar.gz). On any error it writes the reason to
SM_OUTPUT_DIR/failure (SageMaker shows it as the job's FailureReason) and exits 1.
It runs in the framework container's Python (3.8+, scikit-learn 1.4+): no imports from the repo.
"""

from __future__ import annotations

import argparse
import glob
import hashlib
import importlib
import json
import os
import platform
import shutil
import sys
import tarfile
import tempfile
import time
import traceback

import inference
import metrics
from inference import input_fn, model_fn, output_fn, predict_fn  # noqa: F401  (serving with train.py as program)

ESTIMATOR_MODULES = ("sklearn.", "xgboost.")
REPORT_FILE = "evaluation.json"
ONNX_TOLERANCE = 1e-4  # how far the ONNX graph's answers may be from the estimator's (compile_for_serving)


class TrainingError(Exception):
    """Bad arguments, hyperparameters or data; the message names what is wrong."""


class _Parser(argparse.ArgumentParser):
    def error(self, message):
        raise TrainingError(f"invalid arguments: {message}")


def parse_args(argv=None) -> argparse.Namespace:
    env = os.environ.get
    p = _Parser(prog="train.py", description=__doc__.splitlines()[0])
    p.add_argument(
        "--problem-type", "--problem_type", dest="problem_type", required=True, choices=("regression", "classification")
    )
    p.add_argument("--estimator", required=True, help="class path, e.g. sklearn.ensemble.GradientBoostingRegressor")
    p.add_argument("--features", required=True, help="comma-separated feature columns")
    p.add_argument("--label", required=True, help="label column")
    p.add_argument(
        "--estimator-params", "--estimator_params", dest="estimator_params", default="{}", help="JSON object"
    )
    p.add_argument("--seed", type=int, default=0, help="random_state for estimators that take one and got none")
    p.add_argument("--top-k", "--top_k", dest="top_k", type=int, default=3, help="classes returned per prediction")
    p.add_argument("--model-name", "--model_name", dest="model_name", default="model")
    p.add_argument("--model-version", "--model_version", dest="model_version", default="")
    p.add_argument("--model-dir", default=env("SM_MODEL_DIR", "/opt/ml/model"))
    p.add_argument("--output-data-dir", default=env("SM_OUTPUT_DATA_DIR", "/opt/ml/output/data"))
    for channel in ("train", "validation", "test", "production"):
        p.add_argument(f"--{channel}", default=env(f"SM_CHANNEL_{channel.upper()}"), help=f"channel '{channel}'")
    args = p.parse_args(argv)
    args.features = [f.strip() for f in args.features.split(",") if f.strip()]
    if not args.features:
        raise TrainingError("--features names no column")
    if args.top_k < 1:
        raise TrainingError(f"--top-k must be at least 1, got {args.top_k}")
    return args


def build_estimator(path: str, params_json: str, seed: int):
    """The estimator with its hyperparameters checked before any data is read."""
    if not path.startswith(ESTIMATOR_MODULES) or "." not in path:
        raise TrainingError(f"--estimator {path!r}: only classes from {', '.join(ESTIMATOR_MODULES)}* may be used")
    module_name, _, class_name = path.rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        hint = ""
        if path.startswith("xgboost."):
            hint = " (XGBoost estimators need training.framework: xgboost, or `pip install xgboost` to run locally)"
        raise TrainingError(f"--estimator {path}: cannot import {module_name}: {err}{hint}") from err
    cls = getattr(module, class_name, None)
    if not isinstance(cls, type) or not hasattr(cls, "fit"):
        raise TrainingError(f"--estimator {path}: {module_name} has no estimator class {class_name!r}")
    try:
        params = json.loads(params_json)
    except ValueError as err:
        raise TrainingError(f"--estimator-params is not valid JSON ({err}): {params_json!r}") from err
    if not isinstance(params, dict):
        raise TrainingError(
            f"--estimator-params must be a JSON object of parameter names to values, got {params_json!r}"
        )
    estimator = cls()
    valid = estimator.get_params(deep=False)
    for name in params:
        if name not in valid:
            raise TrainingError(
                f"invalid hyperparameter {name!r}: {class_name} has no such parameter (it takes {', '.join(sorted(valid))})"
            )
    if "random_state" in valid and params.get("random_state") is None:
        params["random_state"] = seed
    estimator.set_params(**params)
    if hasattr(estimator, "_parameter_constraints"):  # scikit-learn >= 1.2 checks values up front
        try:
            estimator._validate_params()
        except (ValueError, TypeError) as err:
            raise TrainingError(f"invalid hyperparameter for {class_name}: {err}") from err
    return estimator, params


def read_channel(path: str | None, name: str, required: bool = True):
    """All .csv/.parquet files of a channel folder as one DataFrame (None if optional and absent)."""
    import pandas as pd

    if not path:
        if required:
            raise TrainingError(f"channel '{name}' is missing (set SM_CHANNEL_{name.upper()} or --{name})")
        return None
    files = sorted(glob.glob(os.path.join(path, "**", "*.csv"), recursive=True))
    files += sorted(glob.glob(os.path.join(path, "**", "*.parquet"), recursive=True))
    if not files:
        raise TrainingError(f"channel '{name}' at {path} holds no .csv or .parquet file")
    frames = [pd.read_csv(f) if f.endswith(".csv") else pd.read_parquet(f) for f in files]
    frame = pd.concat(frames, ignore_index=True)
    frame.attrs["sha256"] = _sha256(files)
    return frame


def _sha256(files: list[str]) -> str:
    digest = hashlib.sha256()
    for f in files:
        with open(f, "rb") as fh:
            for block in iter(lambda fh=fh: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _check_columns(frame, features: list[str], label: str, channel: str) -> None:
    missing = [c for c in features + [label] if c not in frame.columns]
    if missing:
        raise TrainingError(f"channel '{channel}' has no column(s) {missing} (it has {list(frame.columns)})")
    if frame[label].isna().any():
        raise TrainingError(f"channel '{channel}': label column {label!r} has missing values")


def fit(args, estimator, train, validation) -> dict:
    """Fit on train (labels encoded 0..k-1 for classification) and return the saved bundle."""
    import numpy as np

    # Fit on a bare float matrix in feature order, as the handler serves: no feature names to check per request.
    X, y = _feature_matrix(train, args.features, "train"), train[args.label].to_numpy()
    classes = None
    fit_kwargs = {}
    if args.problem_type == "classification":
        classes = np.unique(y)
        if len(classes) < 2:  # named here: the estimator would name the encoded class (0), not the label
            raise TrainingError(
                f"channel 'train' holds one class only: all {len(y)} row(s) have {args.label} = "
                f"{classes.tolist()[0]!r}; a classifier needs at least two classes"
            )
        y = np.searchsorted(classes, y)
    if args.estimator.startswith("xgboost.") and validation is not None:
        vy = validation[args.label].to_numpy()
        if classes is not None:
            known = np.isin(vy, classes)
            validation, vy = validation[known], np.searchsorted(classes, vy[known])
        fit_kwargs = {"eval_set": [(_feature_matrix(validation, args.features, "validation"), vy)], "verbose": False}
    try:
        estimator.fit(X, y, **fit_kwargs)
    except (ValueError, TypeError) as err:
        raise TrainingError(f"fitting {args.estimator} failed: {err}") from err
    if classes is not None and not hasattr(estimator, "predict_proba"):
        raise TrainingError(f"{args.estimator} gives no class probabilities (predict_proba), needed for the top-k")
    return {
        "format": inference.MODEL_FORMAT,
        "estimator": estimator,
        "estimator_class": args.estimator,
        "problem_type": args.problem_type,
        "features": list(args.features),
        "label": args.label,
        "classes": None if classes is None else classes.tolist(),
        "top_k": args.top_k,
        # The estimator learned from missing feature values, so serving may pass them on (as NaN).
        "allow_missing": bool(np.isnan(X).any()),
        "fit_with_feature_names": False,
        "model_name": args.model_name,
        "model_version": args.model_version,
    }


def _feature_matrix(frame, features: list[str], channel: str):
    import numpy as np

    try:
        return frame[features].to_numpy(dtype=np.float64)
    except (ValueError, TypeError) as err:
        raise TrainingError(f"channel '{channel}': a feature column is not numeric: {err}") from err


def compile_for_serving(bundle: dict, frames: list) -> dict:
    """Add the estimator as an ONNX graph for onnxruntime, the handler's fast path, when it answers as the
    estimator does on these frames' rows; what was decided (and why not) goes into the report.

    Kept only when, on every row, the class with the highest probability is the same and no
    probability differs by more than ONNX_TOLERANCE (regression: no value by more than ONNX_TOLERANCE
    times max(1, |value|)). Without skl2onnx (onnxmltools for XGBoost) and onnxruntime in the training
    image, or with no converter for the estimator, the model is served by the estimator itself.
    """
    import numpy as np

    try:
        import onnxruntime  # noqa: F401  (the check below runs the graph)
        import skl2onnx
        from skl2onnx.common.data_types import FloatTensorType
    except ImportError as err:
        return {"predictor": "estimator", "reason": f"{err.name} is not installed in the training image"}
    estimator, classification = bundle["estimator"], bundle["problem_type"] == "classification"
    width = len(bundle["features"])
    try:
        if type(estimator).__module__.startswith("xgboost"):
            import onnxmltools
            from onnxmltools.convert.common.data_types import FloatTensorType as XGBoostFloats

            inputs = [("input", XGBoostFloats([None, width]))]
            graph = onnxmltools.convert_xgboost(estimator, initial_types=inputs)  # its own newest opset
        else:
            inputs = [("input", FloatTensorType([None, width]))]
            options = {id(estimator): {"zipmap": False}} if classification else None
            opset = skl2onnx.get_latest_tested_opset_version()
            graph = skl2onnx.convert_sklearn(estimator, initial_types=inputs, options=options, target_opset=opset)
    except Exception as err:  # no converter for this estimator or for one of its settings
        return {"predictor": "estimator", "reason": f"no ONNX conversion: {type(err).__name__}: {err}"[:500]}
    outputs = [o.name for o in graph.graph.output]
    output = "probabilities" if classification and "probabilities" in outputs else outputs[-1 if classification else 0]
    X = np.vstack([inference.to_matrix(bundle, frame) for frame in frames if frame is not None and len(frame)])
    if bundle["allow_missing"]:  # the graph must route missing values as the estimator does
        holes = X.copy()
        holes[np.random.default_rng(0).random(X.shape) < 0.2] = np.nan
        X = np.vstack([X, holes])
    predict = inference.predict_proba if classification else inference.predict_values
    expected = np.asarray(predict(bundle, X), dtype=np.float64)
    candidate = dict(bundle, onnx={"model": graph.SerializeToString(), "input": "input", "output": output})
    loaded = inference.attach_predictor(candidate)
    if "_session" not in candidate:
        return {"predictor": "estimator", "reason": loaded}
    got = np.asarray(predict(candidate, X), dtype=np.float64)
    same_shape = got.shape == expected.shape  # else no comparison below broadcasts one against the other
    difference = float(np.max(np.abs(got - expected))) if same_shape else float("inf")
    if not same_shape:
        agrees = False
    elif classification:
        agrees = difference <= ONNX_TOLERANCE and bool((got.argmax(axis=1) == expected.argmax(axis=1)).all())
    else:
        agrees = bool(np.all(np.abs(got - expected) <= ONNX_TOLERANCE * np.maximum(1.0, np.abs(expected))))
    opsets = {entry.domain or "ai.onnx": entry.version for entry in graph.opset_import}
    checked = {"rows": int(len(X)), "max_abs_difference": difference, "tolerance": ONNX_TOLERANCE, "opsets": opsets}
    if not agrees:
        return {"predictor": "estimator", "reason": "the ONNX graph's answers differ from the estimator's", **checked}
    bundle["onnx"] = dict(candidate["onnx"], checked=f"{checked['rows']} rows, max |difference| {difference:.3g}")
    bundle["_session"] = candidate["_session"]  # the session just checked: evaluation predicts with it
    return {"predictor": "onnxruntime", "onnx_bytes": len(bundle["onnx"]["model"]), **checked}


def evaluate(bundle: dict, frame, label: str, top_k: int) -> dict:
    """Metrics on a channel, the rows checked and predicted exactly as the handler serves them."""
    X = inference.to_matrix(bundle, frame)
    if bundle["problem_type"] == "regression":
        return metrics.regression(frame[label].to_numpy(), inference.predict_values(bundle, X))
    return metrics.classification(frame[label].to_numpy(), inference.predict_proba(bundle, X), bundle["classes"], top_k)


def load_production(path: str) -> dict:
    """The production model from its channel: a model.tar.gz (as SageMaker stores it) or an unpacked folder."""
    if os.path.isfile(os.path.join(path, inference.MODEL_FILE)):
        return model_fn(path)
    archives = sorted(glob.glob(os.path.join(path, "**", "*.tar.gz"), recursive=True))
    if not archives:
        raise TrainingError(f"channel 'production' at {path} holds no model.tar.gz or {inference.MODEL_FILE}")
    target = tempfile.mkdtemp(prefix="production-model-")
    with tarfile.open(archives[0]) as tar:
        members = [m for m in tar.getmembers() if m.isfile() and not m.name.startswith("/") and ".." not in m.name]
        safe = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}  # Python >= 3.12 and recent patches
        tar.extractall(target, members=members, **safe)
    return model_fn(target)


def _versions() -> dict:
    out = {"python": platform.python_version()}
    for name in ("sklearn", "xgboost", "numpy", "pandas"):
        module = sys.modules.get(name)
        if module is not None:
            out[name] = getattr(module, "__version__", "")
    return out


def run(args) -> dict:
    import joblib

    estimator, params = build_estimator(args.estimator, args.estimator_params, args.seed)
    train = read_channel(args.train, "train")
    validation = read_channel(args.validation, "validation", required=False)
    test = read_channel(args.test, "test")
    for name, frame in (("train", train), ("validation", validation), ("test", test)):
        if frame is not None:
            _check_columns(frame, args.features, args.label, name)

    started = time.time()
    bundle = fit(args, estimator, train, validation)
    seconds = round(time.time() - started, 3)
    serving = compile_for_serving(bundle, [test, validation, train.head(1000)])
    print(f"serving predictor: {serving['predictor']} ({serving.get('reason') or serving['max_abs_difference']})")
    candidate = {
        "metrics": evaluate(bundle, test, args.label, args.top_k),
        "validation_metrics": None if validation is None else evaluate(bundle, validation, args.label, args.top_k),
        "fit_seconds": seconds,
    }
    production = None
    if args.production:
        try:
            prod = load_production(args.production)
            production = {
                "metrics": evaluate(prod, test, args.label, args.top_k),
                "estimator": prod.get("estimator_class"),
                "model_version": prod.get("model_version"),
                "features": prod.get("features"),
            }
        except Exception as err:  # the gate decides what an unevaluable production model means
            print(f"could not evaluate the production model: {err!r}", file=sys.stderr)
            production = {"error": f"{type(err).__name__}: {err}"}

    report = {
        "report_version": 1,
        "model": {
            "name": args.model_name,
            "version": args.model_version,
            "problem_type": args.problem_type,
            "estimator": args.estimator,
            "estimator_params": params,
            "features": list(args.features),
            "label": args.label,
            "classes": bundle["classes"],
            "top_k": args.top_k,
        },
        "evaluated_on": "test",
        "data": {
            name: None if frame is None else {"rows": len(frame), "sha256": frame.attrs["sha256"]}
            for name, frame in (("train", train), ("validation", validation), ("test", test))
        },
        "candidate": candidate,
        "serving": serving,
        "production": production,
        "environment": _versions(),
    }
    os.makedirs(args.model_dir, exist_ok=True)
    joblib.dump(inference.saved_bundle(bundle), os.path.join(args.model_dir, inference.MODEL_FILE))
    os.makedirs(os.path.join(args.model_dir, "code"), exist_ok=True)
    shutil.copy(inference.__file__, os.path.join(args.model_dir, "code", "inference.py"))
    for folder in (args.model_dir, args.output_data_dir):
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, REPORT_FILE), "w") as fh:
            json.dump(report, fh, indent=2, sort_keys=True, default=str)
    for scope, values in (("test", candidate["metrics"]), ("production_test", (production or {}).get("metrics"))):
        for name, value in (values or {}).items():
            if isinstance(value, float):
                print(f"metric {scope}_{name}={value:.6g}")
    return report


def write_failure(message: str) -> None:
    """SageMaker reports the content of /opt/ml/output/failure as the job's FailureReason."""
    try:
        folder = os.environ.get("SM_OUTPUT_DIR", "/opt/ml/output")
        os.makedirs(folder, exist_ok=True)
        with open(os.path.join(folder, "failure"), "w") as fh:
            fh.write(message)
    except OSError:
        pass


def main(argv=None) -> int:
    try:
        run(parse_args(argv))
    except Exception as err:
        if isinstance(err, TrainingError):
            message = str(err)
        else:
            traceback.print_exc()
            message = f"{type(err).__name__}: {err}"
        write_failure(message)
        print(f"training failed: {message}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
