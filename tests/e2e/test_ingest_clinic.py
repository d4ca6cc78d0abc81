"""The clinic source through the real scheduler: backfill, rerun, rejected batch, killed run."""

from __future__ import annotations

import signal
import threading
import time
from datetime import date

import psutil
import psycopg2
import pytest

from embedded_stack.aws import read_alerts
from mlops.lake.reader import CuratedReader

DAG = "ingest_clinic"
DATASET = "diabetes_patients"


def _pg_count(stack, day: date) -> int:
    with psycopg2.connect(**stack.pg) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT count(*) FROM clinic.patients WHERE updated_at >= %s::date AND updated_at < %s::date + 1",
            (day, day),
        )
        return cur.fetchone()[0]


def _reader(stack):
    return CuratedReader(bucket=stack.env["MLOPS_CURATED_BUCKET"], s3=stack.s3)


@pytest.fixture(scope="module")
def backfilled(stack):
    runs = stack.api.run_intervals(DAG, date(2026, 10, 1), date(2026, 10, 3))
    assert [r["state"] for r in runs] == ["success"] * 3
    return runs


def test_backfill_gives_one_partition_per_interval_with_exact_rows(stack, backfilled):
    parts = {p.ds: p for p in _reader(stack).partitions(DATASET, "2026-10-01", "2026-10-03")}
    assert sorted(parts) == ["2026-10-01", "2026-10-02", "2026-10-03"]
    for ds, part in parts.items():
        expected = _pg_count(stack, date.fromisoformat(ds))
        assert expected > 0
        assert part.rows == expected and part.files == 1
        assert list(stack.raw(f"clinic/patients/ds={ds}/")) == [f"clinic/patients/ds={ds}/data-00000.parquet"]
    df = _reader(stack).load(DATASET, "2026-10-01", "2026-10-03")
    assert df["patient_id"].is_unique
    assert len(df) == sum(_pg_count(stack, date(2026, 10, d)) for d in (1, 2, 3))


def test_rerun_yields_identical_objects(stack, backfilled):
    before_curated = stack.curated(f"{DATASET}/ds=2026-10-02/")
    before_raw = stack.raw("clinic/patients/ds=2026-10-02/")
    run = stack.api.rerun(DAG, date(2026, 10, 2))
    assert run["state"] == "success"
    assert stack.curated(f"{DATASET}/ds=2026-10-02/") == before_curated
    assert stack.raw("clinic/patients/ds=2026-10-02/") == before_raw


def test_rejected_batch_is_quarantined_alerted_and_curated_unchanged(stack, backfilled):
    read_alerts(stack.cfg.moto_url, stack.cfg.region, wait_seconds=0)  # start from an empty inbox
    before = stack.curated(DATASET + "/")
    with psycopg2.connect(**stack.pg) as conn, conn.cursor() as cur:
        cur.execute(
            "UPDATE clinic.patients SET age = 300, sex = 9 WHERE patient_id IN "
            "(SELECT patient_id FROM clinic.patients WHERE updated_at >= '2026-10-02' AND updated_at < '2026-10-03' "
            "ORDER BY patient_id LIMIT 2) RETURNING patient_id"
        )
        assert len(cur.fetchall()) == 2
    try:
        run = stack.api.rerun(DAG, date(2026, 10, 2))
        assert run["state"] == "failed"
        logs = stack.api.failed_task_logs(DAG, run["dag_run_id"])
        assert set(logs) == {"validate_patients"}
        log = logs["validate_patients"]
        assert "partition clinic/patients/ds=2026-10-02" in log
        assert "expect_column_values_to_be_between on column 'age': 2 row(s) broke it" in log
        assert "expect_column_values_to_be_in_set on column 'sex': 2 row(s) broke it" in log
        # every earlier curated partition, including this interval's previous one, is as it was
        assert stack.curated(DATASET + "/") == before
        q = stack.raw("_quarantine/clinic/patients/ds=2026-10-02/")
        assert sorted(q) == [
            "_quarantine/clinic/patients/ds=2026-10-02/data-00000.parquet",
            "_quarantine/clinic/patients/ds=2026-10-02/data-00000.validation.json",
        ]
        alerts = read_alerts(stack.cfg.moto_url, stack.cfg.region)
        rejected = [a for a in alerts if a["subject"].startswith("[mlops] rejected batch")]
        assert rejected, alerts
        assert "ds=2026-10-02" in rejected[0]["message"] and "column 'age': 2 row(s)" in rejected[0]["message"]
    finally:
        with psycopg2.connect(**stack.pg) as conn, conn.cursor() as cur:
            cur.execute("UPDATE clinic.patients SET age = 50, sex = 1 WHERE age = 300")
    assert stack.api.rerun(DAG, date(2026, 10, 2))["state"] == "success"


def _extract_client_pid(stack) -> int | None:
    """The PID of the task process whose extraction query is waiting on the table lock."""
    with psycopg2.connect(**stack.pg) as conn, conn.cursor() as cur:
        cur.execute(
            "SELECT client_port FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query LIKE '%clinic.patients%'"
        )
        row = cur.fetchone()
    if not row:
        return None
    for c in psutil.net_connections(kind="tcp"):
        if c.laddr and c.laddr.port == row[0] and c.raddr and c.raddr.port == stack.cfg.pg_port:
            return c.pid
    return None


BIG_ROWS = 1_200_000  # incompressible rows: several 16 MiB multipart parts per raw object
BIG_IDS = 10_000_000


def _uploaded_parts(stack, prefix: str) -> dict[str, int]:
    """Raw objects under `prefix` whose multipart upload is in progress, with their uploaded part count."""
    raw = stack.env["MLOPS_RAW_BUCKET"]
    out = {}
    for upload in stack.s3.list_multipart_uploads(Bucket=raw, Prefix=prefix).get("Uploads", []):
        parts = stack.s3.list_parts(Bucket=raw, Key=upload["Key"], UploadId=upload["UploadId"]).get("Parts", [])
        if parts:
            out[upload["Key"]] = len(parts)
    return out


def test_killed_extraction_leaves_no_partial_partition_and_retry_completes(stack, backfilled):
    """The task process is killed after at least one multipart part of a raw object was uploaded."""
    day = date(2026, 10, 6)
    prefix = f"clinic/patients/ds={day}/"
    with psycopg2.connect(**stack.pg) as conn, conn.cursor() as cur:
        cur.execute(
            """INSERT INTO clinic.patients
               SELECT %(ids)s + g, 20 + (random() * 60)::int, 1 + g %% 2, 15 + random() * 30, 60 + random() * 100,
                      random(), random(), random(), random(), random(), 50 + random() * 200, random() * 300,
                      %(day)s::timestamptz + random() * interval '23 hours'
               FROM generate_series(1, %(n)s) AS g""",
            {"ids": BIG_IDS, "n": BIG_ROWS, "day": day},
        )
    locker = psycopg2.connect(**stack.pg)
    cur = locker.cursor()
    cur.execute("LOCK TABLE clinic.patients IN ACCESS EXCLUSIVE MODE")  # holds the extraction at its start
    started = threading.Thread(target=lambda: stack.api.backfill(DAG, day, day), daemon=True)
    started.start()
    try:
        pid, deadline = None, time.monotonic() + 180
        while pid is None and time.monotonic() < deadline:
            pid = _extract_client_pid(stack)
            time.sleep(0.5)
        assert pid, "the extraction never reached the database"
        locker.rollback()  # the extraction streams now; kill it once a part of an object is in S3
        in_flight, deadline = {}, time.monotonic() + 120
        while not in_flight and time.monotonic() < deadline:
            in_flight = _uploaded_parts(stack, prefix)
        assert in_flight, "no multipart part was seen before the extraction ended"
        psutil.Process(pid).send_signal(signal.SIGKILL)
        raw = stack.env["MLOPS_RAW_BUCKET"]
        for key in in_flight:  # the object being written is not visible, only its parts upload
            with pytest.raises(stack.s3.exceptions.ClientError, match="404|Not Found"):
                stack.s3.head_object(Bucket=raw, Key=key)
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            run = stack.api.run_for(DAG, day)
            states = {t["task_id"]: t["state"] for t in stack.api.task_instances(DAG, run["dag_run_id"])}
            if states.get("extract_patients") == "up_for_retry":
                break
            time.sleep(1)
        assert states.get("extract_patients") == "up_for_retry", states
        assert not stack.curated(f"{DATASET}/ds={day}/"), "a killed run published a partition"
    finally:
        locker.rollback()
        locker.close()
    try:
        run = stack.api.wait_run(DAG, stack.api.run_for(DAG, day)["dag_run_id"], timeout=600)
        assert run["state"] == "success"
        assert _reader(stack).partitions(DATASET, str(day), str(day))[0].rows == _pg_count(stack, day)
    finally:  # later tests train on this dataset: give the interval its seeded rows back
        with psycopg2.connect(**stack.pg) as conn, conn.cursor() as cur:
            cur.execute("DELETE FROM clinic.patients WHERE patient_id > %s", (BIG_IDS,))
        assert stack.api.rerun(DAG, day)["state"] == "success"
    assert _reader(stack).partitions(DATASET, str(day), str(day))[0].rows == _pg_count(stack, day)
