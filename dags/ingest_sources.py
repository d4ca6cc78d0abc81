"""Ingestion DAGs: one per source file in include/sources/ (built by mlops.airflow.factory)."""

from mlops.airflow.factory import build_source_dags

globals().update(build_source_dags())
