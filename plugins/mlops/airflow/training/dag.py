"""Build one training DAG per model configuration file (include/models/*.yaml).

    wait_for_ingestion -> check_retrain -> prepare_training -> train (TrainingJobOperator)
                       -> register_candidate -> announce_approved (updates Asset model.<name>)

Scheduled on the curated Assets the model reads: new curated data starts a run, which first
defers until no ingestion run of those datasets is queued or running (a backfill ends before
training reads its partitions), then trains only when the retrain rule says so (or when run by
hand with force_train).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from mlops.airflow.defaults import default_args
from mlops.settings import Settings


def _doc(model) -> str:
    thresholds = ", ".join(str(t) for t in model.thresholds) or "none"
    return (
        f"### Training of model `{model.name}` ({model.problem_type})\n\n{model.description}\n\n"
        f"Trains `{model.estimator}` on curated {', '.join(f'`{d}`' for d in model.datasets)} when at least "
        f"{model.retrain_min_new_rows} new rows arrived since the model in production was trained (or when "
        "triggered with `force_train`). The candidate is evaluated on a held-out test split beside the model in "
        f"production; primary metric `{model.primary_metric}`, thresholds: {thresholds}; on failure: "
        f"`{model.on_fail}`. Registered in the SageMaker model package group with version "
        f"`V{model.version}.{model.manual_revision}.<auto>`.\n\n"
        f"Configured in `include/models/{model.path.name if model.path else model.name + '.yaml'}`."
    )


def build_training_dag(model, settings: Settings | None = None):
    from airflow.sdk import DAG, Param

    from mlops.airflow.assets import curated_asset, model_asset
    from mlops.airflow.training.operators import (
        AnnounceApprovedOperator,
        CheckRetrainOperator,
        PrepareTrainingOperator,
        RegisterCandidateOperator,
        TrainingJobOperator,
        WaitForIngestionOperator,
    )

    settings = settings or Settings.from_env()
    assets = [curated_asset(d, settings) for d in (model.schedule or model.datasets)]
    schedule = assets[0]
    for asset in assets[1:]:
        schedule = schedule | asset
    with DAG(
        dag_id=model.dag_id,
        description=model.description.strip().splitlines()[0],
        doc_md=_doc(model),
        schedule=schedule,
        start_date=datetime(2026, 1, 1, tzinfo=UTC),
        catchup=False,
        max_active_runs=1,
        default_args=default_args(model.owner, 2, settings),
        params={
            "force_train": Param(
                False, type="boolean", description="Train even if fewer new rows arrived than the retrain rule needs."
            )
        },
        tags=["training", f"model:{model.name}", model.problem_type, *model.tags],
    ) as dag:
        wait = WaitForIngestionOperator(
            task_id="wait_for_ingestion", model=model.name, poll_seconds=settings.ingestion_wait_poll_seconds
        )
        check = CheckRetrainOperator(task_id="check_retrain", model=model.name)
        prepare = PrepareTrainingOperator(task_id="prepare_training", model=model.name)
        train = TrainingJobOperator(
            task_id="train",
            config=prepare.output,
            aws_conn_id=settings.aws_conn_id,
            wait_for_completion=True,
            deferrable=True,  # the worker is free while SageMaker trains
            check_interval=settings.sagemaker_poll_seconds,
            max_ingestion_time=model.training.max_runtime_seconds + 1800,
        )
        register = RegisterCandidateOperator(
            task_id="register_candidate", model=model.name, prepared=prepare.output["prepared"], training=train.output
        )
        announce = AnnounceApprovedOperator(
            task_id="announce_approved", registration=register.output, outlets=[model_asset(model.name)]
        )
        wait >> check >> prepare >> train >> register >> announce
    return dag


def build_training_dags(directory: Path | None = None) -> dict:
    """All training DAGs, keyed by dag_id (for a DAG file's globals); a model file that does not
    load becomes a `config-error` stand-in DAG naming file and field, and the other DAGs stay."""
    from mlops.airflow.config_error import build_each
    from mlops.training.config import MODELS_DIR, load_model

    settings = Settings.from_env()
    return build_each(
        sorted((directory or MODELS_DIR).glob("*.yaml")),
        lambda path: build_training_dag(load_model(path), settings),
        prefix="train",
        stage="training",
        owner="data-science",
        settings=settings,
    )
