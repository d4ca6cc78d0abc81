"""Child of bench/serving.py, run with .venv-bench-mlflow's Python: save the bundle's estimator as an MLflow model.

    .venv-bench-mlflow/bin/python bench/serving_mlflow.py MODEL_JOBLIB OUT_DIR

The estimator train.py fitted (the joblib bundle's `estimator`), saved with its own MLflow flavor
(mlflow.xgboost for XGBoost, mlflow.sklearn otherwise): what a user would hand `mlflow models serve`.
"""

from __future__ import annotations

import sys

import joblib


def main(model_joblib: str, out_dir: str) -> int:
    estimator = joblib.load(model_joblib)["estimator"]
    if type(estimator).__module__.startswith("xgboost"):
        import mlflow.xgboost

        mlflow.xgboost.save_model(estimator, out_dir)
    else:
        import mlflow.sklearn

        mlflow.sklearn.save_model(estimator, out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
