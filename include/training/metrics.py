"""Test-split metrics, computed the same way for the candidate and the production model.

Runs inside the SageMaker framework container (Python 3.8+, scikit-learn 1.4+), so it uses only
numpy and scikit-learn and returns plain JSON-ready values.
"""

from __future__ import annotations

import math


def _plain(value):
    return value.item() if hasattr(value, "item") else value


def regression(y_true, y_pred) -> dict:
    from sklearn.metrics import mean_absolute_error, mean_squared_error, r2_score

    mse = float(mean_squared_error(y_true, y_pred))
    return {
        "mse": mse,
        "rmse": math.sqrt(mse),
        "mae": float(mean_absolute_error(y_true, y_pred)),
        "r2": float(r2_score(y_true, y_pred)),
    }


def classification(y_true, proba, classes, top_k: int = 3) -> dict:
    """`proba[i, j]` is the probability of `classes[j]` for row i; top-k counts a hit if the
    true class is among the k most probable (ties broken by class order, deterministically)."""
    import numpy as np
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score

    y_true = np.asarray(y_true)
    classes = np.asarray(classes)
    order = np.argsort(-np.asarray(proba), axis=1, kind="stable")
    y_pred = classes[order[:, 0]]
    hits = (classes[order[:, :top_k]] == y_true[:, None]).any(axis=1)
    labels = np.unique(np.concatenate([classes, y_true]))
    return {
        "accuracy": float(accuracy_score(y_true, y_pred)),
        "f1_macro": float(f1_score(y_true, y_pred, average="macro", zero_division=0)),
        f"top{top_k}_accuracy": float(hits.mean()),
        "confusion_matrix": {
            "labels": [_plain(v) for v in labels],
            "matrix": confusion_matrix(y_true, y_pred, labels=labels).tolist(),
        },
    }
