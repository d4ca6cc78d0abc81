"""Airflow Assets: curated datasets (ingestion updates them, training is scheduled on them) and
approved models (training updates them, deployment is scheduled on them)."""

from __future__ import annotations

from mlops.settings import Settings


def curated_asset(dataset: str, settings: Settings | None = None):
    from airflow.sdk import Asset

    settings = settings or Settings.from_env()
    return Asset(name=f"curated.{dataset}", uri=f"s3://{settings.curated_bucket}/{dataset}", group="curated")


def model_asset(name: str):
    from airflow.sdk import Asset

    return Asset(name=f"model.{name}", uri=f"sagemaker://model-package-group/{name.replace('_', '-')}", group="model")
