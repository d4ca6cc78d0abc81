"""A training run that fails on its data, through the real scheduler, triggerer and local SageMaker
runner: the training task fails on its first try (no retry can fix the data) and the failure alert,
rendered for a manual run that has no data interval, arrives in the alerts topic's SQS inbox."""

from __future__ import annotations

import hashlib
import io
from datetime import date

from embedded_stack.aws import read_alerts
from embedded_stack.seed import diabetes_frame

DAG = "train_diabetes_progression"
DATASET = "diabetes_patients"
DS = "2031-01-01"  # a partition no other test reads or writes; removed again at the end
RAW_KEY = f"_e2e_training_failure/patients/ds={DS}/data.parquet"


def _publish_rows_without_bmi(stack) -> None:
    """Curated rows of new patients whose bmi is missing: the estimator refuses NaN features."""
    from mlops.ingestion.publish import Part, publish_partition

    df = diabetes_frame(date(2026, 10, 1), 1).head(60).copy()
    df["patient_id"] += 900_000
    df["bmi"] = float("nan")
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    body = buf.getvalue()
    raw, curated = stack.env["MLOPS_RAW_BUCKET"], stack.env["MLOPS_CURATED_BUCKET"]
    stack.s3.put_object(Bucket=raw, Key=RAW_KEY, Body=body)
    etag = stack.s3.head_object(Bucket=raw, Key=RAW_KEY)["ETag"]
    part = Part(RAW_KEY, etag, hashlib.sha256(body).hexdigest(), len(df))
    publish_partition(
        stack.s3,
        raw_bucket=raw,
        parts=[part],
        curated_bucket=curated,
        dataset=DATASET,
        ds=DS,
        interval=(DS, DS),
        columns=list(df.columns),
        key_column="patient_id",
        changed_at="updated_at",
        source="clinic",
    )


def _remove_partition(stack) -> None:
    stack.s3.delete_object(Bucket=stack.env["MLOPS_RAW_BUCKET"], Key=RAW_KEY)
    for key in stack.curated(f"{DATASET}/ds={DS}/"):
        stack.s3.delete_object(Bucket=stack.env["MLOPS_CURATED_BUCKET"], Key=key)


def test_training_failed_on_its_data_fails_at_once_and_is_alerted(stack):
    stack.api.wait_for_dag(DAG)
    stack.api.set_paused(DAG, False)
    _publish_rows_without_bmi(stack)  # directly, not through Airflow: no Asset event starts a run
    try:
        read_alerts(stack.cfg.moto_url, stack.cfg.region, wait_seconds=0)  # start from an empty inbox
        run = stack.api.trigger_now(DAG, {"force_train": True})
        done = stack.api.wait_run(DAG, run["dag_run_id"], timeout=600)
        assert done["state"] == "failed"
        tasks = {t["task_id"]: t for t in stack.api.task_instances(DAG, run["dag_run_id"])}
        assert tasks["prepare_training"]["state"] == "success"
        assert (tasks["train"]["state"], tasks["train"]["try_number"]) == ("failed", 1)  # no retry
        assert tasks["register_candidate"]["state"] == "upstream_failed"
        log = stack.api.task_log(DAG, run["dag_run_id"], "train", 1)
        assert "AlgorithmError: fitting sklearn.ensemble.GradientBoostingRegressor failed" in log

        alerts = read_alerts(stack.cfg.moto_url, stack.cfg.region, wait_seconds=5)
        failed = [a for a in alerts if a["subject"] == f"[mlops] task failed: {DAG}.train"]
        assert len(failed) == 1, alerts
        message = failed[0]["message"]
        assert message.startswith(f"Task train of DAG {DAG} failed (run {run['dag_run_id']}, manual, try 1).\n")
        assert "SageMaker training job diabetes-progression-" in message
        assert "AlgorithmError: fitting sklearn.ensemble.GradientBoostingRegressor failed: Input X contains NaN" in (
            message
        )
    finally:
        _remove_partition(stack)
