"""Thin Airflow adapters over `mlops.work`: operators and DAG factories."""
