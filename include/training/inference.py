"""Serve a model trained by train.py: the SageMaker scikit-learn/XGBoost serving contract.

`model_fn` loads `model.joblib`; `input_fn` takes JSON (a list of records, one record, or
`{"instances": [...]}` with records or rows in feature order) or CSV (with or without the
feature header); `predict_fn` returns one prediction per row, for classification the top 3
classes with their probabilities; `output_fn` writes JSON. train.py copies this file into the
model as `code/inference.py` and evaluates the production model through `model_fn` and the same
predict helpers, so what is served is what was judged.
"""

from __future__ import annotations

import csv
import io
import json
import os

MODEL_FILE = "model.joblib"
MODEL_FORMAT = "mlops-model/1"
JSON = "application/json"


def model_fn(model_dir: str) -> dict:
    """The saved bundle: estimator, problem type, feature order, classes, top-k."""
    import joblib

    bundle = joblib.load(os.path.join(model_dir, MODEL_FILE))
    if not isinstance(bundle, dict) or bundle.get("format") != MODEL_FORMAT:
        raise ValueError(f"{model_dir}/{MODEL_FILE} is not a model saved by train.py ({MODEL_FORMAT})")
    return bundle


def input_fn(request_body, request_content_type: str = JSON):
    if isinstance(request_body, (bytes, bytearray)):
        request_body = request_body.decode("utf-8")
    content_type = (request_content_type or JSON).split(";")[0].strip().lower()
    if content_type == JSON:
        doc = json.loads(request_body)
        if isinstance(doc, dict):
            doc = doc["instances"] if "instances" in doc else [doc]
        return doc
    if content_type == "text/csv":
        return [row for row in csv.reader(io.StringIO(request_body)) if row]
    raise ValueError(f"unsupported content type {request_content_type!r}; send application/json or text/csv")


def to_frame(bundle: dict, data):
    """Rows as a DataFrame with the model's feature columns, in its order."""
    import pandas as pd

    features = list(bundle["features"])
    if isinstance(data, pd.DataFrame):
        frame = data
    elif data and all(isinstance(r, dict) for r in data):
        frame = pd.DataFrame.from_records(data)
    else:
        rows = [list(r) for r in data]
        if rows and [str(v).strip() for v in rows[0]] == features:
            rows = rows[1:]  # CSV header
        bad = [i for i, r in enumerate(rows) if len(r) != len(features)]
        if bad:
            raise ValueError(
                f"row {bad[0]} has {len(rows[bad[0]])} values; the model takes {len(features)}: {features}"
            )
        frame = pd.DataFrame(rows, columns=features)
    missing = [f for f in features if f not in frame.columns]
    if missing:
        raise ValueError(f"missing feature(s) {missing}; the model takes {features}")
    frame = frame[features]
    return frame.apply(lambda c: c if pd.api.types.is_numeric_dtype(c) else pd.to_numeric(c))


def predict_values(bundle: dict, frame):
    """Regression: one number per row."""
    return bundle["estimator"].predict(frame)


def predict_proba(bundle: dict, frame):
    """Classification: probabilities, column j for `bundle['classes'][j]`."""
    return bundle["estimator"].predict_proba(frame)


def predict_fn(input_data, model: dict) -> dict:
    import numpy as np

    frame = to_frame(model, input_data)
    if model["problem_type"] == "regression":
        return {"predictions": [float(v) for v in predict_values(model, frame)]}
    classes = model["classes"]
    k = min(int(model.get("top_k", 3)), len(classes))
    out = []
    for row in predict_proba(model, frame):
        top = np.argsort(-row, kind="stable")[:k]
        ranked = [{"label": classes[i], "probability": float(row[i])} for i in top]
        out.append({"label": ranked[0]["label"], "top_classes": ranked})
    return {"predictions": out}


def output_fn(prediction: dict, accept: str = JSON):
    """JSON body and its content type (the serving toolkits take a (body, type) tuple)."""
    if accept and accept.split(";")[0].strip().lower() not in (JSON, "*/*"):
        raise ValueError(f"unsupported accept type {accept!r}; this model answers application/json")
    return json.dumps(prediction), JSON
