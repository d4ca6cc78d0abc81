"""Training DAGs: one per model file in include/models/ (built by mlops.airflow.training.dag)."""

from mlops.airflow.training.dag import build_training_dags

globals().update(build_training_dags())
