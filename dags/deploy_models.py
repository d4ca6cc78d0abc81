"""Deployment DAGs: one per model file in include/models/ (built by mlops.airflow.deployment.dag)."""

from mlops.airflow.deployment.dag import build_deployment_dags

globals().update(build_deployment_dags())
