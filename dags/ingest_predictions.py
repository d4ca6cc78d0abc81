"""Predictions datasets: one DAG per model file in include/models/ (built by mlops.airflow.serving.dag)."""

from mlops.airflow.serving.dag import build_predictions_dags

globals().update(build_predictions_dags())
