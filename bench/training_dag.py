"""Training DAG benchmark (`python -m bench --only training-dag`, about 2 minutes).

A full embedded stack (PostgreSQL, moto, the local SageMaker control plane, Airflow scheduler, DAG processor,
triggerer and API server, as `make up` starts them) on free ports in a temporary state folder; the clinic
database seeded with the diabetes study changing over one week, that week ingested through the scheduler
(a backfill of ingest_clinic, all 442 rows), then train_diabetes_progression triggered with
force_train=True: one warm-up run (the first model: bytecode cache, registry and alert topics warm), then
--dag-runs measured runs, each a retrain beside a production model. Every figure comes from the Airflow
REST API (DAG run and task instance start/end dates) and from DescribeTrainingJob for the job itself.

Per task: its duration, and the wait before it (previous task's end, or the run's start, to this task's
start: scheduler loop, executor, task process start). The train task (SageMakerTrainingOperator,
deferrable) is set beside its training job: the difference is the deferral, i.e. the triggerer polling
DescribeTrainingJob every MLOPS_SAGEMAKER_POLL_SECONDS (1 s on the stack) and the task resuming in a new
process. The stack's processes get a private bytecode cache in the state folder (nothing written into
the repository or the virtualenv by them); the stack is stopped and the folder removed at the end.
"""

from __future__ import annotations

import os
import shutil
import statistics
import tempfile
import threading
import time
from datetime import date, datetime
from pathlib import Path

from bench.common import free_port, log, median, table, write_results

DAG = "train_diabetes_progression"
INGEST_DAG = "ingest_clinic"
WEEK = (date(2026, 10, 1), date(2026, 10, 7))
SLOW_TASK_S = 3.0
TASKS = ("check_retrain", "prepare_training", "train", "register_candidate", "announce_approved")


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _seconds(a: datetime | None, b: datetime | None) -> float | None:
    return round((b - a).total_seconds(), 3) if a and b else None


def _stack_environment(pycache: Path) -> dict[str, str | None]:
    """Set the environment the stack's processes inherit (as bench.common.child_env does for children);
    returns what to restore. Nothing from a running dev stack leaks in; bytecode goes to a private cache."""
    saved: dict[str, str | None] = {}
    for key in list(os.environ):
        if key.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "MLOPS_")) or key in (
            "AIRFLOW_HOME",
            "PYTHONDONTWRITEBYTECODE",
        ):
            saved[key] = os.environ.pop(key)
    saved.setdefault("PYTHONPYCACHEPREFIX", os.environ.get("PYTHONPYCACHEPREFIX"))
    os.environ["PYTHONPYCACHEPREFIX"] = str(pycache)
    return saved


def _restore(saved: dict[str, str | None]) -> None:
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _task_log_lines(api, run_id: str, task_id: str, try_number: int) -> list[str]:
    """The task's log as `timestamp event` lines (what the UI shows), for a task slower than expected."""
    path = f"/api/v2/dags/{DAG}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{max(try_number, 1)}?full_content=true"
    content = api._request("GET", path).get("content", [])
    if not isinstance(content, list):
        return str(content).splitlines()
    return [f"{c.get('timestamp', '')} {c.get('event', '')}" if isinstance(c, dict) else str(c) for c in content]


def _reap_while(pids: set[int], stop: threading.Event) -> None:
    """Collect the exit status of the stack's processes, which are children of this process.

    embedded_stack.stack.down() waits until `os.kill(pid, 0)` fails, which it never does for a child that
    exited but was not waited for (a zombie): called from the process that ran up(), each component would
    cost the full 20 s timeout and a SIGKILL. Reaping them as they exit lets down() see them gone."""
    while pids and not stop.is_set():
        for pid in list(pids):
            try:
                if os.waitpid(pid, os.WNOHANG)[0]:
                    pids.discard(pid)
            except ChildProcessError:
                pids.discard(pid)
        stop.wait(0.1)


def _down(st, cfg) -> float:
    pids = {int(f.read_text()) for f in cfg.run_dir.glob("*.pid")} if cfg.run_dir.exists() else set()
    stop = threading.Event()
    reaper = threading.Thread(target=_reap_while, args=(pids, stop), daemon=True)
    reaper.start()
    started = time.monotonic()
    try:
        st.down(cfg)
    finally:
        stop.set()
        reaper.join(5)
    return round(time.monotonic() - started, 1)


def _job(cfg, name: str) -> dict:
    """DescribeTrainingJob from the control plane (moto answers everything else of SageMaker)."""
    import boto3

    sm = boto3.client(
        "sagemaker",
        endpoint_url=cfg.sagemaker_url,
        region_name=cfg.region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    job = sm.describe_training_job(TrainingJobName=name)
    phases: dict[str, float] = {}
    for tr in job["SecondaryStatusTransitions"]:
        if "EndTime" in tr and tr["Status"] not in ("Completed", "Failed", "Stopped"):
            phases[tr["Status"]] = round((tr["EndTime"] - tr["StartTime"]).total_seconds(), 3)
    return {
        "name": name,
        "status": job["TrainingJobStatus"],
        "created": job["CreationTime"].isoformat(),
        "ended": job["TrainingEndTime"].isoformat() if job.get("TrainingEndTime") else None,
        "wall_s": _seconds(job["CreationTime"], job.get("TrainingEndTime")),
        "training_time_in_seconds": job.get("TrainingTimeInSeconds"),
        "phases": phases,
    }


def _measure_run(api, cfg, label: str) -> dict:
    """Trigger a forced training run, wait for it, and collect the run's and its tasks' timings."""
    # max_active_runs=1: make sure no other run (e.g. an asset-triggered one) is queued in front of ours
    for other in api.runs(DAG):
        if other["state"] not in ("success", "failed"):
            api.wait_run(DAG, other["dag_run_id"], timeout=900)
    triggered = time.time()
    run = api.trigger_now(DAG, {"force_train": True})
    done = api.wait_run(DAG, run["dag_run_id"], timeout=900)
    tis = {t["task_id"]: t for t in api.task_instances(DAG, run["dag_run_id"])}
    start, end = _ts(done["start_date"]), _ts(done["end_date"])
    tasks = {}
    previous_end = start
    for task_id in TASKS:
        ti = tis.get(task_id, {})
        t_start, t_end = _ts(ti.get("start_date")), _ts(ti.get("end_date"))
        tasks[task_id] = {
            "state": ti.get("state"),
            "try_number": ti.get("try_number"),
            "wait_before_s": _seconds(previous_end, t_start),
            "queued_to_start_s": _seconds(_ts(ti.get("queued_when")), t_start),
            "duration_s": _seconds(t_start, t_end),
            "api_duration_s": ti.get("duration"),
            "start_date": ti.get("start_date"),
            "end_date": ti.get("end_date"),
        }
        previous_end = t_end or previous_end
    result = {
        "label": label,
        "dag_run_id": run["dag_run_id"],
        "state": done["state"],
        "wall_s": _seconds(start, end),
        "queued_to_start_s": _seconds(_ts(done.get("queued_at")), start),
        "tail_s": _seconds(previous_end, end),  # last task's end -> run marked done
        "client_trigger_to_done_s": round(time.time() - triggered, 1),  # wait_run polls every 2 s
        "start_date": done["start_date"],
        "end_date": done["end_date"],
        "tasks": tasks,
    }
    for task_id, t in tasks.items():  # a task well above its usual second: keep its log for the reason
        if task_id != "train" and (t["duration_s"] or 0) > SLOW_TASK_S:
            try:
                lines = _task_log_lines(api, run["dag_run_id"], task_id, t["try_number"] or 1)
                result.setdefault("slow_task_logs", {})[task_id] = lines[-40:]
            except Exception as err:
                result.setdefault("slow_task_logs", {})[task_id] = [f"log unavailable: {err}"]
    if done["state"] != "success":
        result["failed_task_logs"] = {k: v[-3000:] for k, v in api.failed_task_logs(DAG, run["dag_run_id"]).items()}
    try:
        request = api.xcom(DAG, run["dag_run_id"], "prepare_training")
        result["job"] = _job(cfg, request["TrainingJobName"])
        train = tasks["train"]["duration_s"]
        if train is not None and result["job"]["wall_s"] is not None:
            result["train_task_minus_job_s"] = round(train - result["job"]["wall_s"], 3)
    except Exception as err:  # a failed run may have no job: keep the timings anyway
        result["job_error"] = f"{type(err).__name__}: {err}"
    try:
        result["registered"] = {
            k: v
            for k, v in api.xcom(DAG, run["dag_run_id"], "register_candidate").items()
            if k in ("version", "status", "production_version")
        }
    except Exception:
        pass
    log(
        f"  {label}: {result['state']} in {result['wall_s']} s "
        + ", ".join(f"{t} {v['duration_s']}" for t, v in tasks.items())
    )
    return result


def _fmt(value) -> str:
    return "-" if value is None else f"{value:.1f}"


def _report(doc: dict) -> str:
    runs = doc["runs"]
    headers = ["task"]
    for i in range(1, len(runs) + 1):
        headers += [f"run {i} wait s", f"run {i} s"]
    headers += ["median s", "state"]
    rows = []
    for task in TASKS:
        row = [task]
        for r in runs:
            row += [_fmt(r["tasks"][task]["wait_before_s"]), _fmt(r["tasks"][task]["duration_s"])]
        durations = [r["tasks"][task]["duration_s"] for r in runs if r["tasks"][task]["duration_s"] is not None]
        row += [
            _fmt(median(durations)) if durations else "-",
            "/".join(sorted({str(r["tasks"][task]["state"]) for r in runs})),
        ]
        rows.append(row)
    tail = ["run end (last task -> run done)"]
    total = ["DAG run wall (start -> end)"]
    for r in runs:
        tail += ["", _fmt(r["tail_s"])]
        total += ["", _fmt(r["wall_s"])]
    tail += [_fmt(median([r["tail_s"] for r in runs if r["tail_s"] is not None] or [0])), ""]
    total += [_fmt(doc["summary"]["median_wall_s"]), "/".join(sorted({r["state"] for r in runs}))]
    rows += [tail, total]
    lines = [
        f"\nTraining DAG {DAG}: {len(runs)} measured runs (force_train, after a warm-up run), "
        f"{doc['rows_ingested']} curated rows",
        table(headers, rows),
        "  wait = previous task's end (or the run's start) -> this task's start: scheduler, executor, process start",
    ]
    s = doc["summary"]
    lines.append(
        f"DAG run wall: best {_fmt(s['best_wall_s'])} s, median {_fmt(s['median_wall_s'])} s; of which task time "
        f"{_fmt(s['median_task_s'])} s and waits between tasks {_fmt(s['median_wait_s'])} s (medians)"
    )
    jobs = [r for r in runs if "job" in r]
    if jobs:
        lines.append(
            "train task beside its SageMaker job (create -> end, the control plane's clock): "
            + "; ".join(
                f"run {i}: task {_fmt(r['tasks']['train']['duration_s'])} s, job {_fmt(r['job']['wall_s'])} s "
                f"(Training phase {_fmt(r['job']['phases'].get('Training'))} s), deferral and resume "
                f"{_fmt(r.get('train_task_minus_job_s'))} s"
                for i, r in enumerate(runs, 1)
                if "job" in r
            )
        )
    registered = [f"{r['registered']['version']} {r['registered']['status']}" for r in runs if r.get("registered")]
    if registered:
        production = next((r["registered"]["production_version"] for r in runs if r.get("registered")), None)
        lines.append(f"candidates: {', '.join(registered)} (judged beside production {production})")
    warm = doc["warmup"]
    lines.append(
        f"setup: stack up {doc['setup_s']['stack_up']:.0f} s, ingest of the week {doc['setup_s']['ingest_week']:.0f} s, "
        f"warm-up training run {_fmt(warm['wall_s'])} s ({warm['state']}), stack down "
        f"{doc['setup_s'].get('stack_down', 0):.0f} s"
    )
    return "\n".join(lines)


def run(runs: int = 2, results_dir: Path | None = None) -> dict:
    """Start a private stack, ingest a week, time `runs` forced training runs after a warm-up; write
    bench/results/training_dag.json; stop the stack and remove its folder whatever happens."""
    from embedded_stack import stack as st
    from embedded_stack.paths import StackConfig
    from embedded_stack.seed import seed_clinic

    workdir = Path(tempfile.mkdtemp(prefix="mlops-bench-dag-"))
    cfg = StackConfig(
        state=workdir / "stack",
        pg_port=free_port(),
        moto_port=free_port(),
        airflow_port=free_port(),
        sagemaker_port=free_port(),
    )
    saved = _stack_environment(workdir / "pycache")
    doc: dict = {"dag": DAG, "setup_s": {}, "ports": {"pg": cfg.pg_port, "moto": cfg.moto_port}}
    doc["ports"] |= {"airflow": cfg.airflow_port, "sagemaker": cfg.sagemaker_port}
    try:
        log(f"training-dag: starting a stack in {cfg.state} (Airflow on {cfg.airflow_url})")
        t = time.monotonic()
        st.up(cfg, quiet=True)
        doc["setup_s"]["stack_up"] = round(time.monotonic() - t, 1)
        pg = {"host": "127.0.0.1", "port": cfg.pg_port, "user": "postgres", "dbname": "clinic"}
        rows = seed_clinic(pg, WEEK[0], (WEEK[1] - WEEK[0]).days + 1)
        api = st.api_client(cfg)
        for dag_id in (INGEST_DAG, DAG):
            api.wait_for_dag(dag_id, timeout=300)
        doc["import_errors"] = api.import_errors()
        log(f"training-dag: stack up in {doc['setup_s']['stack_up']:.0f} s; ingesting {WEEK[0]} .. {WEEK[1]}")
        t = time.monotonic()
        # as the end-to-end tests do: unpausing runs the latest interval (catchup is off); then the backfill
        api.set_paused(INGEST_DAG, False)
        api.wait_runs(INGEST_DAG, 1, timeout=900)
        ingested = api.run_intervals(INGEST_DAG, *WEEK, timeout=1200)
        doc["setup_s"]["ingest_week"] = round(time.monotonic() - t, 1)
        doc["ingest_states"] = sorted({r["state"] for r in ingested})
        doc["rows_ingested"] = rows
        api.set_paused(DAG, False)
        log("training-dag: warm-up training run")
        doc["warmup"] = _measure_run(api, cfg, "warm-up")
        doc["runs"] = [_measure_run(api, cfg, f"run {i}/{runs}") for i in range(1, runs + 1)]
    finally:
        try:
            doc["setup_s"]["stack_down"] = _down(st, cfg)
        finally:
            _restore(saved)
            shutil.rmtree(workdir, ignore_errors=True)

    measured = doc["runs"]
    walls = [r["wall_s"] for r in measured if r["wall_s"] is not None]
    task_s = [sum(t["duration_s"] or 0 for t in r["tasks"].values()) for r in measured]
    wait_s = [sum(t["wait_before_s"] or 0 for t in r["tasks"].values()) for r in measured]
    doc["summary"] = {
        "best_wall_s": min(walls) if walls else None,
        "median_wall_s": round(statistics.median(walls), 3) if walls else None,
        "median_task_s": round(statistics.median(task_s), 3),
        "median_wait_s": round(statistics.median(wait_s), 3),
        "all_success": all(r["state"] == "success" for r in measured),
    }
    print(_report(doc), flush=True)
    path = write_results("training_dag", doc, results_dir)
    log(f"training-dag: wrote {path}")
    return doc
