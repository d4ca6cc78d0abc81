"""Training DAGs: one per model file in include/models/ (built by mlops.airflow.training)."""

from mlops.airflow.training import build_training_dags

globals().update(build_training_dags())
