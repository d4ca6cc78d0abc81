"""A small client of the Airflow 3 REST API (v2), used by the demo and the end-to-end tests
to drive the real scheduler: unpause, backfill, trigger, clear, wait."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import date, datetime, timedelta

TERMINAL = {"success", "failed"}
# How often the waits below ask the API server again. A run's state changes at most once per scheduler
# loop (about a second), so a longer pause only adds to every wait; one GET per second is cheap.
POLL_SECONDS = 1.0


class AirflowAPIError(RuntimeError):
    pass


class AirflowAPI:
    def __init__(self, base_url: str, username: str, password: str):
        self.base = base_url.rstrip("/")
        self.username, self.password = username, password
        self._token = None

    def _request(self, method: str, path: str, body=None, auth: bool = True):
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(f"{self.base}{path}", data=data, method=method)
        req.add_header("Content-Type", "application/json")
        if auth:
            req.add_header("Authorization", f"Bearer {self.token()}")
        try:
            with urllib.request.urlopen(req, timeout=60) as resp:
                raw = resp.read()
                return json.loads(raw) if raw else None
        except urllib.error.HTTPError as err:
            raise AirflowAPIError(f"{method} {path} -> {err.code}: {err.read().decode()[:2000]}") from err

    def token(self) -> str:
        if self._token is None:
            resp = self._request(
                "POST", "/auth/token", {"username": self.username, "password": self.password}, auth=False
            )
            self._token = resp["access_token"]
        return self._token

    # --- DAGs ---------------------------------------------------------------------------
    def wait_for_dag(self, dag_id: str, timeout: float = 120) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self._request("GET", f"/api/v2/dags/{dag_id}")
            except AirflowAPIError as err:
                if time.monotonic() > deadline:
                    raise AirflowAPIError(
                        f"DAG {dag_id} was not parsed within {timeout:.0f}s (see the dag-processor log)"
                    ) from err
                time.sleep(POLL_SECONDS)

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self._request("PATCH", f"/api/v2/dags/{dag_id}?update_mask=is_paused", {"is_paused": paused})

    def import_errors(self) -> list[dict]:
        return self._request("GET", "/api/v2/importErrors")["import_errors"]

    # --- runs -----------------------------------------------------------------------------
    def backfill(
        self, dag_id: str, start: date, end: date, reprocess: str = "completed", max_active_runs: int = 4
    ) -> dict:
        """Scheduler-managed backfill of the intervals starting on start..end (inclusive)."""
        body = {
            "dag_id": dag_id,
            "from_date": f"{start.isoformat()}T00:00:00Z",
            "to_date": f"{end.isoformat()}T00:00:00Z",
            "reprocess_behavior": reprocess,
            "max_active_runs": max_active_runs,
            "run_backwards": False,
        }
        # The scheduler marks a backfill complete a little after its last run ends, and a DAG
        # has at most one running backfill: wait for the previous one rather than fail.
        deadline = time.monotonic() + 120
        while True:
            try:
                return self._request("POST", "/api/v2/backfills", body)
            except AirflowAPIError as err:
                if "already a running backfill" not in str(err) or time.monotonic() > deadline:
                    raise
                time.sleep(POLL_SECONDS)

    def trigger(self, dag_id: str, interval_start: date, run_id: str | None = None) -> dict:
        start = datetime.combine(interval_start, datetime.min.time())
        body = {
            "logical_date": f"{start.isoformat()}Z",
            "data_interval_start": f"{start.isoformat()}Z",
            "data_interval_end": f"{(start + timedelta(days=1)).isoformat()}Z",
            "conf": {},
        }
        if run_id:
            body["dag_run_id"] = run_id
        return self._request("POST", f"/api/v2/dags/{dag_id}/dagRuns", body)

    def trigger_now(self, dag_id: str, conf: dict | None = None) -> dict:
        """A manual run with no data interval (e.g. a training DAG), with `conf` as its params."""
        return self._request("POST", f"/api/v2/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf or {}})

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value"):
        path = f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/xcomEntries/{key}"
        return self._request("GET", path)["value"]

    def runs(self, dag_id: str) -> list[dict]:
        return self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns?limit=1000&order_by=logical_date")["dag_runs"]

    def clear_run(self, dag_id: str, run_id: str) -> None:
        self._request("POST", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/clear", {"dry_run": False})

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        return self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances")["task_instances"]

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int = 1) -> str:
        resp = self._request(
            "GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}?full_content=true"
        )
        content = resp.get("content", "")
        if not isinstance(content, list):
            return str(content)
        lines = []
        for c in content:
            if not isinstance(c, dict):
                lines.append(str(c))
                continue
            lines.append(str(c.get("event", "")))
            for err in c.get("error_detail") or []:
                lines.append(f"{err.get('exc_type')}: {err.get('exc_value')}")
        return "\n".join(lines)

    def wait_runs(self, dag_id: str, count: int, timeout: float = 900, progress=None, predicate=None) -> list[dict]:
        """Wait until at least `count` runs (matching predicate) are finished; returns them."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            runs = [r for r in self.runs(dag_id) if predicate is None or predicate(r)]
            done = [r for r in runs if r["state"] in TERMINAL]
            summary = (len(done), len(runs))
            if progress and summary != last:
                progress(f"{dag_id}: {len(done)}/{max(count, len(runs))} runs finished")
                last = summary
            if len(done) >= count and len(done) == len(runs):
                return done
            if time.monotonic() > deadline:
                raise AirflowAPIError(
                    f"{dag_id}: only {len(done)} of {count} runs finished within {timeout:.0f}s: {runs}"
                )
            time.sleep(POLL_SECONDS)

    def run_for(self, dag_id: str, interval_start: date) -> dict | None:
        """The run whose data interval starts on `interval_start`, if any."""
        wanted = f"{interval_start.isoformat()}T00:00:00"
        runs = [r for r in self.runs(dag_id) if (r.get("data_interval_start") or "").startswith(wanted)]
        return runs[-1] if runs else None

    def wait_run(self, dag_id: str, run_id: str, timeout: float = 600) -> dict:
        deadline = time.monotonic() + timeout
        while True:
            run = self._request("GET", f"/api/v2/dags/{dag_id}/dagRuns/{run_id}")
            if run["state"] in TERMINAL:
                return run
            if time.monotonic() > deadline:
                raise AirflowAPIError(f"{dag_id} run {run_id} still {run['state']} after {timeout:.0f}s")
            time.sleep(POLL_SECONDS)

    def run_intervals(self, dag_id: str, start: date, end: date, timeout: float = 900, progress=None) -> list[dict]:
        """Backfill start..end (inclusive) through the scheduler and wait for every run."""
        self.backfill(dag_id, start, end)
        days = [start + timedelta(days=i) for i in range((end - start).days + 1)]
        deadline = time.monotonic() + timeout
        out = []
        for day in days:
            run = None
            while run is None:
                run = self.run_for(dag_id, day)
                if run is None:
                    if time.monotonic() > deadline:
                        raise AirflowAPIError(f"{dag_id}: no run for {day} was created")
                    time.sleep(POLL_SECONDS)
            done = self.wait_run(dag_id, run["dag_run_id"], timeout=max(1.0, deadline - time.monotonic()))
            if progress:
                progress(f"{dag_id} ds={day}: {done['state']}")
            out.append(done)
        return out

    def rerun(self, dag_id: str, interval_start: date, timeout: float = 600) -> dict:
        """Clear the interval's run (all its tasks) and wait for it to finish again."""
        run = self.run_for(dag_id, interval_start)
        if run is None:
            raise AirflowAPIError(f"{dag_id} has no run for {interval_start}")
        self.clear_run(dag_id, run["dag_run_id"])
        return self.wait_run(dag_id, run["dag_run_id"], timeout)

    def failed_task_logs(self, dag_id: str, run_id: str) -> dict[str, str]:
        out = {}
        for ti in self.task_instances(dag_id, run_id):
            if ti["state"] == "failed":
                out[ti["task_id"]] = self.task_log(dag_id, run_id, ti["task_id"], max(1, ti["try_number"]))
        return out
