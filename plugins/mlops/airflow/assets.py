"""Airflow Assets of the curated datasets, so downstream DAGs can be scheduled on them."""

from __future__ import annotations

from mlops.settings import Settings


def curated_asset(dataset: str, settings: Settings | None = None):
    from airflow.sdk import Asset

    settings = settings or Settings.from_env()
    return Asset(name=f"curated.{dataset}", uri=f"s3://{settings.curated_bucket}/{dataset}", group="curated")
