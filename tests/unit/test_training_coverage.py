"""Which intervals a model was trained on and which were missing; the wait for ingestion."""

from __future__ import annotations

import asyncio
from datetime import date

import pytest

from mlops.registry.packages import Candidate
from mlops.registry.summary import candidate_summary, day_ranges, interval_coverage
from mlops.registry.versions import Version


def _inventory(dataset, *days):
    return [{"dataset": dataset, "ds": d, "rows": 10, "fingerprint": "f"} for d in days]


def test_gaps_between_first_and_last_interval_are_listed():
    inventory = _inventory("a", "2026-10-03", "2026-10-01", "2026-10-07", "2026-10-04") + _inventory("b", "2026-10-02")
    coverage = interval_coverage(inventory)
    assert coverage["a"] == {
        "first": "2026-10-01",
        "last": "2026-10-07",
        "present": ["2026-10-01", "2026-10-03", "2026-10-04", "2026-10-07"],
        "missing": ["2026-10-02", "2026-10-05", "2026-10-06"],
    }
    assert coverage["b"]["missing"] == [] and coverage["b"]["present"] == ["2026-10-02"]
    assert interval_coverage([]) == {}


def test_day_ranges_collapse_consecutive_days_across_month_ends():
    assert day_ranges(["2026-10-31", "2026-11-01", "2026-11-03", "2026-10-30"]) == "2026-10-30..2026-11-01, 2026-11-03"
    assert day_ranges([]) == "none"


def test_summary_says_which_intervals_are_present_and_missing():
    candidate = Candidate(
        model="m", tag="1", manual=0, run_key="job", image="img", model_data_url="s3://b/m.tar.gz",
        metrics={"r2": 0.5}, approval="Approved",
    )  # fmt: skip
    coverage = interval_coverage(_inventory("diabetes_patients", "2026-10-01", "2026-10-02", "2026-10-05"))
    _, message = candidate_summary(candidate, version=Version("1", 0, 0), production=None, coverage=coverage)
    assert (
        "Intervals of diabetes_patients: 3 of 5 daily intervals 2026-10-01..2026-10-05; "
        "present: 2026-10-01..2026-10-02, 2026-10-05; missing: 2026-10-03..2026-10-04"
    ) in message.splitlines()


def test_ingestion_dags_of_a_model_come_from_the_source_configs():
    from mlops.airflow.training.operators import ingestion_dag_ids

    assert ingestion_dag_ids(["diabetes_patients"]) == ["ingest_clinic"]
    assert ingestion_dag_ids(["digits_images", "diabetes_patients"]) == ["ingest_clinic", "ingest_digits_drop"]
    assert ingestion_dag_ids(["unknown"]) == []


def test_trigger_fires_only_once_no_ingestion_run_is_queued_or_running(monkeypatch):
    from mlops.airflow.training import triggers

    # what the execution API answers on successive polls: a backfill draining, then quiet
    answers = iter([{"ingest_clinic": 3}, {"ingest_clinic": 1}, {}])
    monkeypatch.setattr(triggers, "active_runs", lambda dag_ids: next(answers))
    trigger = triggers.IngestionIdleTrigger(["ingest_clinic"], poll_seconds=0)

    async def events():
        return [e async for e in trigger.run()]

    (event,) = asyncio.run(events())
    assert event.payload == {"idle": ["ingest_clinic"], "polls": 3}
    path, kwargs = trigger.serialize()
    assert path == "mlops.airflow.training.triggers.IngestionIdleTrigger"
    assert type(triggers.IngestionIdleTrigger(**kwargs).serialize()) is tuple


@pytest.mark.parametrize(("active", "defers"), [({}, False), ({"ingest_clinic": 2}, True)])
def test_wait_for_ingestion_defers_only_while_ingestion_is_active(monkeypatch, active, defers):
    from airflow.sdk.exceptions import TaskDeferred

    from mlops.airflow.training import operators, triggers

    monkeypatch.setattr(triggers, "active_runs", lambda dag_ids: active)
    op = operators.WaitForIngestionOperator(task_id="wait_for_ingestion", model="diabetes_progression")
    if not defers:
        assert op.execute({}) == {"waited": False, "dag_ids": ["ingest_clinic"]}
        return
    with pytest.raises(TaskDeferred) as deferred:
        op.execute({})
    assert deferred.value.trigger.dag_ids == ["ingest_clinic"]
    assert deferred.value.method_name == "execute_complete"
    assert op.execute_complete({}, {"idle": ["ingest_clinic"], "polls": 4}) == {
        "waited": True,
        "dag_ids": ["ingest_clinic"],
    }


def test_the_wait_for_ingestion_polls_at_its_own_setting_not_sagemakers():
    from mlops.airflow.training.dag import build_training_dag
    from mlops.settings import Settings
    from mlops.training.config import MODELS_DIR, load_model

    env = {"MLOPS_INGESTION_WAIT_POLL_SECONDS": "45", "MLOPS_SAGEMAKER_POLL_SECONDS": "2"}
    dag = build_training_dag(load_model(MODELS_DIR / "diabetes_progression.yaml"), Settings.from_env(env))
    assert dag.get_task("wait_for_ingestion").poll_seconds == 45
    assert dag.get_task("train").check_interval == 2
    assert Settings.from_env({}).ingestion_wait_poll_seconds == 30


def test_training_manifest_records_present_and_missing_intervals(s3):
    from embedded_stack.seed import diabetes_frame
    from mlops.aws.s3 import get_json
    from tests.unit.test_training_data import _assemble, _publish

    frame = diabetes_frame(date(2026, 10, 1), 3)
    for i, ds in enumerate(["2026-10-01", "2026-10-02", "2026-10-04"]):
        _publish(s3, frame.iloc[i * 100 : (i + 1) * 100], ds)
    data = _assemble(s3, "run")
    manifest = get_json(s3, s3.buckets["raw"], "run/training_data.json")
    assert manifest["intervals"]["diabetes_patients"]["missing"] == ["2026-10-03"]
    assert data.to_dict()["coverage"] == manifest["intervals"]
