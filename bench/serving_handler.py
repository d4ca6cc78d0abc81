"""The inference handler's single-row predict in process, p50/p99: what ModelLatency covers on an endpoint.

    PYTHONPATH=plugins:. .venv/bin/python -m bench.serving_handler [--iterations 2000]

Two models trained by train.py on the bundled data: the digits classifier as an XGBoost model
(xgboost.XGBClassifier, the issue's ~1.3 MB example) and the diabetes regression model as configured
(a GradientBoostingRegressor). One JSON record per request, timed from the body to the JSON answer
(input_fn + predict_fn + output_fn), after a warm-up; two paths, interleaved per request:

    previous to_frame path  baseline: the handler before this change: json.loads, rows into a pandas
                            DataFrame in feature order (pd.to_numeric per column), the estimator fit
                            on a DataFrame with feature names, the same top-3 and JSON answer
    fast path               include/training/inference.py: rows checked and put into a float64 matrix
                            in feature order, the estimator fit on a bare matrix (as train.py fits now)

Goal (issue 11): the served ModelLatency p50 <= 400 us for one row.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
TRAIN_PY = REPO / "include" / "training" / "train.py"


def _train(folder: Path, frame, cfg, argv) -> Path:
    from mlops.training.data import split_frame

    split = split_frame(frame, cfg.key, validation=cfg.split.validation, test=cfg.split.test, seed=cfg.split.seed)
    env = dict(os.environ)
    for name in ("train", "validation", "test"):
        (folder / name).mkdir(parents=True)
        frame[split == name].to_csv(folder / name / "data.csv", index=False)
        env[f"SM_CHANNEL_{name.upper()}"] = str(folder / name)
    env |= {"SM_MODEL_DIR": str(folder / "model"), "SM_OUTPUT_DIR": str(folder / "out")}
    env["SM_OUTPUT_DATA_DIR"] = str(folder / "out" / "data")
    proc = subprocess.run([sys.executable, str(TRAIN_PY), *argv], env=env, capture_output=True, text=True)
    if proc.returncode:
        raise SystemExit(f"train.py failed: {proc.stderr[-2000:]}")
    return folder / "model"


def _handler(model_dir: Path):
    spec = importlib.util.spec_from_file_location(
        f"handler_{model_dir.parent.name}", model_dir / "code" / "inference.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def previous_to_frame_path(bundle: dict, body: str):
    """The handler's predict path before this change (input_fn, to_frame, predict_fn, output_fn), kept as the baseline."""
    import numpy as np
    import pandas as pd

    doc = json.loads(body)
    if isinstance(doc, dict):
        doc = doc["instances"] if "instances" in doc else [doc]
    features = list(bundle["features"])
    frame = pd.DataFrame.from_records(doc)
    frame = frame[features].apply(lambda c: c if pd.api.types.is_numeric_dtype(c) else pd.to_numeric(c))
    if bundle["problem_type"] == "regression":
        return json.dumps({"predictions": [float(v) for v in bundle["estimator"].predict(frame)]})
    classes, out = bundle["classes"], []
    for row in bundle["estimator"].predict_proba(frame):
        top = np.argsort(-row, kind="stable")[:3]
        ranked = [{"label": classes[i], "probability": float(row[i])} for i in top]
        out.append({"label": ranked[0]["label"], "top_classes": ranked})
    return json.dumps({"predictions": out})


def _refit_with_feature_names(bundle: dict, train_csv: Path, label: str) -> dict:
    """The same estimator and hyperparameters fit on a DataFrame, as train.py fitted before."""
    import numpy as np
    import pandas as pd
    from sklearn.base import clone

    train = pd.read_csv(train_csv)
    y = train[label].to_numpy()
    if bundle["classes"] is not None:
        y = np.searchsorted(np.asarray(bundle["classes"]), y)
    estimator = clone(bundle["estimator"])
    if hasattr(estimator, "early_stopping_rounds"):
        estimator.set_params(early_stopping_rounds=None)
    return {**bundle, "estimator": estimator.fit(train[bundle["features"]], y)}


def _percentiles(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return ordered[len(ordered) // 2] * 1e6, ordered[int(len(ordered) * 0.99)] * 1e6


def measure(name: str, model_dir: Path, cfg, rows, iterations: int) -> None:
    handler = _handler(model_dir)
    model = handler.model_fn(str(model_dir))
    named = _refit_with_feature_names(model, model_dir.parent / "train" / "data.csv", cfg.label)
    bodies = [json.dumps(r) for r in rows[list(cfg.features)].to_dict(orient="records")]
    size = os.path.getsize(model_dir / "model.joblib") / 1e6

    def fast(body):
        return handler.output_fn(handler.predict_fn(handler.input_fn(body, "application/json"), model), "*/*")

    for body in bodies[:50]:  # warm-up: caches, lazy imports, the allocator
        fast(body), previous_to_frame_path(named, body)
    times = {"previous to_frame path": [], "fast path": []}
    for i in range(iterations):
        body = bodies[i % len(bodies)]
        for path, call, arg in (("previous to_frame path", previous_to_frame_path, named), ("fast path", fast, None)):
            started = time.perf_counter()
            call(arg, body) if arg is not None else call(body)
            times[path].append(time.perf_counter() - started)
    print(
        f"{name}: {model['estimator_class']}, model.joblib {size:.2f} MB, {len(cfg.features)} features, {iterations} single-row requests"
    )
    for path, samples in times.items():
        p50, p99 = _percentiles(samples)
        print(f"  {path:24s} p50 {p50:8.1f} us   p99 {p99:8.1f} us")
    base, ours = (_percentiles(times[p])[0] for p in times)
    print(f"  fast / previous (p50)    {ours / base:.2f}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--iterations", type=int, default=2000)
    args = parser.parse_args(argv)
    from embedded_stack.seed import diabetes_frame, digits_frame
    from mlops.training.config import MODELS_DIR, load_model

    with tempfile.TemporaryDirectory(prefix="bench-serving-handler-") as tmp:
        digits = load_model(MODELS_DIR / "digits_classifier.yaml")
        argv = digits.train_argv()
        argv[argv.index("--estimator") + 1] = "xgboost.XGBClassifier"
        params = {"n_estimators": 100, "max_depth": 4, "learning_rate": 0.3, "n_jobs": 1}
        argv[argv.index("--estimator-params") + 1] = json.dumps(params)
        frame = digits_frame()
        measure(
            "digits (xgboost)",
            _train(Path(tmp) / "digits", frame, digits, argv),
            digits,
            frame.head(200),
            args.iterations,
        )
        diabetes = load_model(MODELS_DIR / "diabetes_progression.yaml")
        frame = diabetes_frame(date(2026, 10, 1), 21)
        model_dir = _train(Path(tmp) / "diabetes", frame, diabetes, diabetes.train_argv())
        measure("diabetes (as configured)", model_dir, diabetes, frame.head(200), args.iterations)
    return 0


if __name__ == "__main__":
    sys.exit(main())
