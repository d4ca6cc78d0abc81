"""Ingestion DAGs: one per source file in include/sources/ (built by mlops.airflow.ingestion.dag)."""

from mlops.airflow.ingestion.dag import build_source_dags

globals().update(build_source_dags())
