"""Nothing lost by an operator mistake: a task marked success by hand (so its result is missing)
fails the next task with what to rerun, and the curated partition keeps every object."""

from __future__ import annotations

from datetime import date

DAG = "ingest_clinic"
DATASET = "diabetes_patients"
DAY = date(2026, 10, 16)


def _mark_success(stack, run_id: str, task_id: str) -> None:
    path = f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/{task_id}"
    stack.api._request("PATCH", path, {"new_state": "success"})


def _rerun_with_marked_success(stack, run_id: str, *task_ids: str) -> dict:
    """Clear the run and mark `task_ids` success before they run again, as an operator would in
    the UI; the extract's result from its earlier run is gone (a cleared XCom)."""
    stack.api.set_paused(DAG, True)  # nothing of the cleared run starts until the marks are set
    try:
        stack.api.clear_run(DAG, run_id)
        xcom = f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/extract_patients/xcomEntries/return_value"
        try:
            stack.api._request("DELETE", xcom)
        except Exception as err:  # already gone after an earlier mark
            assert "404" in str(err), err
        for task_id in task_ids:
            _mark_success(stack, run_id, task_id)
    finally:
        stack.api.set_paused(DAG, False)
    return stack.api.wait_run(DAG, run_id, timeout=300)


def test_task_marked_success_by_hand_fails_the_next_task_and_keeps_the_partition(stack):
    (run,) = stack.api.run_intervals(DAG, DAY, DAY)
    assert run["state"] == "success"
    run_id = run["dag_run_id"]
    before = stack.curated(f"{DATASET}/ds={DAY}/")
    assert any(k.endswith("_manifest.json") for k in before) and len(before) == 2

    done = _rerun_with_marked_success(stack, run_id, "extract_patients")
    assert done["state"] == "failed"
    logs = stack.api.failed_task_logs(DAG, run_id)
    assert set(logs) == {"validate_patients"}
    assert (
        f"no extraction result for clinic/patients ds={DAY}: extract_patients has no return value "
        "(was it marked success by hand?); clear extract_patients to rerun the interval"
    ) in logs["validate_patients"]
    states = {t["task_id"]: t["state"] for t in stack.api.task_instances(DAG, run_id)}
    assert states["validate_patients"] == "failed"  # at once: a retry cannot bring the result back
    assert states["publish_patients"] == "upstream_failed"
    assert stack.curated(f"{DATASET}/ds={DAY}/") == before

    done = _rerun_with_marked_success(stack, run_id, "extract_patients", "validate_patients")
    assert done["state"] == "failed"
    logs = stack.api.failed_task_logs(DAG, run_id)
    assert set(logs) == {"publish_patients"}
    assert (
        f"no validation result for {DATASET} ds={DAY}: validate_patients has no return value "
        "(was it marked success by hand?); clear validate_patients with its upstream tasks to rerun the interval"
    ) in logs["publish_patients"]
    assert stack.curated(f"{DATASET}/ds={DAY}/") == before

    # what the message says to do brings the interval back, with the same objects
    assert stack.api.rerun(DAG, DAY)["state"] == "success"
    assert stack.curated(f"{DATASET}/ds={DAY}/") == before
