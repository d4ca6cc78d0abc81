"""Ingest benchmark: rows/s and peak memory of our PostgreSQL extraction against two references.

    ours        mlops.ingestion.extract.extract_postgres: ADBC (COPY binary -> Arrow) -> Parquet row groups -> S3
    baseline    the Amazon provider's SqlToS3Operator(file_format="parquet"), the stock way to do this in
                Airflow; it loads the whole result into a pandas DataFrame, so it runs only up to
                --baseline-max-rows
    ceiling     COPY (query) TO STDOUT (FORMAT binary) into a sink that drops the bytes: what the server
                and the wire allow, with next to no client work (the wire format ADBC reads too)
    ours_local  diagnostic: ours up to the local Parquet file, without the S3 upload

Goals: ours >= 5x the baseline's rows/s, ours >= 0.5x the ceiling's, and ours' peak memory flat in the
row count. All paths read the same table with the same query, each run in a fresh process that reports
its own peak RSS (RUSAGE_SELF: RUSAGE_CHILDREN in the parent would keep the largest child seen so far).
PostgreSQL is the embedded server and S3 a moto server, both on this machine: their work competes with
the client for the same cores, and the upload to moto costs CPU that real S3 would not.
"""

from __future__ import annotations

import json
import resource
import shutil
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.common import (
    child_env,
    free_port,
    log,
    median,
    peak_rss_mib,
    run_child,
    table,
    verdict,
    write_child_result,
    write_results,
)

DATABASE = "bench"
BUCKET = "bench"
PATHS = ("copy", "ours", "ours_local", "baseline")
LABELS = {
    "copy": "ceiling: COPY binary -> null",
    "ours": "ours: extract_postgres -> S3",
    "ours_local": "ours, local Parquet only (diag.)",
    "baseline": "baseline: SqlToS3Operator",
}
WARMUP_ROWS = 10_000
GOAL_VS_BASELINE = 5.0
GOAL_VS_COPY = 0.5
# "Flat" memory: peak RSS at the largest row count at most this much above the smallest's.
GOAL_MEMORY_GROWTH = 1.25

# Twelve columns of the usual kinds, generated server side; setseed makes the data the same every run.
TABLE_SQL = """
CREATE UNLOGGED TABLE {table} AS
SELECT g::bigint                                               AS id,
       (g % 10007)::int                                        AS account_id,
       (random() * 100)::int                                   AS quantity,
       random() * 1000                                         AS amount,
       random()                                                AS score,
       round((random() * 10000)::numeric, 2)                   AS price,
       'category_' || (g % 37)                                 AS category,
       md5(g::text)                                            AS description,
       timestamptz '2026-01-01 00:00:00+00' + g * interval '1 second' AS created_at,
       date '2026-01-01' + (g % 365)                           AS event_date,
       g % 3 = 0                                               AS is_active,
       (g % 500)::smallint                                     AS status_code
FROM generate_series(1, {rows}) AS g
"""


@dataclass(frozen=True)
class Stack:
    pg_port: int
    endpoint: str

    @property
    def uri(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/{DATABASE}"


def _s3_client(endpoint: str):
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        region_name="us-east-1",
    )


@contextmanager
def bench_stack(workdir: Path) -> Iterator[Stack]:
    """A private PostgreSQL and moto S3 on free ports, stopped again whatever happens."""
    from embedded_stack import postgres

    pg_port, s3_port = free_port(), free_port()
    pgdata = workdir / "pgdata"
    moto = None
    try:
        log(f"starting PostgreSQL on 127.0.0.1:{pg_port} and moto S3 on 127.0.0.1:{s3_port}")
        with warnings.catch_warnings():  # the pgserver wheel asks platformdirs for a runtime dir it never uses
            warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR")
            postgres.start(pgdata, pg_port, workdir / "logs" / "postgres.log")
        postgres.wait_ready(pg_port)
        postgres.ensure_database(pg_port, DATABASE)
        with open(workdir / "moto.log", "wb") as moto_log:
            moto = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(s3_port)],
                stdout=moto_log,
                stderr=subprocess.STDOUT,
            )
        endpoint = f"http://127.0.0.1:{s3_port}"
        s3 = _s3_client(endpoint)
        deadline = time.monotonic() + 30
        while True:
            try:
                s3.create_bucket(Bucket=BUCKET)
                break
            except Exception:
                if time.monotonic() > deadline or moto.poll() is not None:
                    raise
                time.sleep(0.3)
        yield Stack(pg_port, endpoint)
    finally:
        if moto is not None:
            moto.terminate()
            try:
                moto.wait(10)
            except subprocess.TimeoutExpired:
                moto.kill()
                moto.wait()
        postgres.stop(pgdata)


def create_table(stack: Stack, rows: int) -> dict:
    """Create and vacuum the table, then read it once: no path pays for hint bits or a cold cache."""
    import psycopg2

    name = f"bench_{rows}"
    conn = psycopg2.connect(stack.uri)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT setseed(0.42)")
        cur.execute(f"DROP TABLE IF EXISTS {name}")
        cur.execute(TABLE_SQL.format(table=name, rows=rows))
        cur.execute(f"VACUUM (FREEZE, ANALYZE) {name}")
        cur.execute(f"SELECT count(*) FROM {name}")
        assert cur.fetchone()[0] == rows
        cur.execute("SELECT pg_total_relation_size(%s), current_setting('server_version')", (name,))
        size, version = cur.fetchone()
        cur.execute(f"SELECT * FROM {name} LIMIT 0")
        columns = len(cur.description)
    conn.close()
    return {"name": name, "rows": rows, "columns": columns, "mib": round(size / 2**20, 1), "postgres": version}


def drop_table(stack: Stack, name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(stack.uri)
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute(f"DROP TABLE IF EXISTS {name}")
    conn.close()


# ---- children: one path, one run, in a fresh interpreter ----------------------------------------------------


def _cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def _timed(fn) -> tuple[dict, object]:
    """Wall and CPU seconds of fn() (CPU close to wall: the client is the bottleneck) and the peak RSS right
    after it, before any verification reads."""
    cpu, started = _cpu_s(), time.perf_counter()
    result = fn()
    seconds = time.perf_counter() - started
    return {"seconds": seconds, "cpu_s": round(_cpu_s() - cpu, 3), "peak_rss_mib": peak_rss_mib()}, result


def _child_copy(spec: dict) -> dict:
    import psycopg2

    class Discard:
        size = 0

        def write(self, data) -> None:
            self.size += len(data)

    conn = psycopg2.connect(spec["uri"])
    cur, sink = conn.cursor(), Discard()
    rss_before = peak_rss_mib()
    timing, _ = _timed(lambda: cur.copy_expert(f"COPY ({spec['sql']}) TO STDOUT (FORMAT binary)", sink))
    rows = cur.rowcount
    conn.close()
    return {**timing, "rss_before_mib": rss_before, "rows": rows, "bytes": sink.size}


def _child_ours(spec: dict) -> dict:
    import adbc_driver_postgresql.dbapi  # noqa: F401  imported lazily by the path: load it before the clock starts
    import pyarrow.parquet  # noqa: F401

    from mlops.ingestion.extract import extract_postgres
    from mlops.lake.layout import data_part

    s3 = _s3_client(spec["endpoint"])
    prefix = f"ours/{spec['table']}"
    rss_before = peak_rss_mib()
    timing, results = _timed(
        lambda: extract_postgres(
            s3, uri=spec["uri"], sql=spec["sql"], bucket=BUCKET, key_of=lambda n: f"{prefix}/{data_part(n)}.parquet"
        )
    )
    return {
        **timing,
        "rss_before_mib": rss_before,
        "rows": sum(r.rows for r in results),
        "bytes": sum(r.bytes for r in results),
        "files": len(results),
    }


def _child_ours_local(spec: dict) -> dict:
    import os

    import adbc_driver_postgresql.dbapi  # noqa: F401  as in _child_ours
    import pyarrow.parquet  # noqa: F401

    from mlops.ingestion.extract import postgres_batches, write_parquet

    def run(path):
        with postgres_batches(spec["uri"], spec["sql"]) as (schema, batches), open(path, "wb") as fh:
            return write_parquet(batches, schema, fh)

    with tempfile.TemporaryDirectory(prefix="mlops-bench-") as tmp:
        path = os.path.join(tmp, "data.parquet")
        rss_before = peak_rss_mib()
        timing, rows = _timed(lambda: run(path))
        size = os.path.getsize(path)
    return {**timing, "rss_before_mib": rss_before, "rows": rows, "bytes": size}


def _child_baseline(spec: dict) -> dict:
    import io
    import os

    # Connections come from the environment, as they would from MWAA's secrets backend; nothing needs a
    # metadata database. The child environment already has a throw-away AIRFLOW_HOME.
    os.environ["AIRFLOW_CONN_BENCH_POSTGRES"] = spec["uri"]
    os.environ["AIRFLOW_CONN_BENCH_AWS"] = json.dumps(
        {
            "conn_type": "aws",
            "login": "testing",
            "password": "testing",
            "extra": {"endpoint_url": spec["endpoint"], "region_name": "us-east-1"},
        }
    )
    import pandas  # noqa: F401  imported lazily by the operator: load it before the clock starts
    import pyarrow.parquet as pq
    from airflow.providers.amazon.aws.transfers.sql_to_s3 import SqlToS3Operator
    from airflow.providers.postgres.hooks.postgres import PostgresHook  # noqa: F401
    from airflow.sdk.bases.operator import ExecutorSafeguard

    # execute() outside a task runner logs a warning (or raises without allow_nested_operators); this
    # process is the runner, so tell the safeguard.
    ExecutorSafeguard.test_mode = True
    key = f"baseline/{spec['table']}.parquet"
    op = SqlToS3Operator(
        task_id="baseline",
        query=spec["sql"],
        s3_bucket=BUCKET,
        s3_key=key,
        sql_conn_id="bench_postgres",
        aws_conn_id="bench_aws",
        file_format="parquet",
        replace=True,
    )
    rss_before = peak_rss_mib()
    timing, _ = _timed(lambda: op.execute(context={}))
    body = _s3_client(spec["endpoint"]).get_object(Bucket=BUCKET, Key=key)["Body"].read()
    rows = pq.read_metadata(io.BytesIO(body)).num_rows
    return {**timing, "rss_before_mib": rss_before, "rows": rows, "bytes": len(body)}


CHILDREN = {"copy": _child_copy, "ours": _child_ours, "ours_local": _child_ours_local, "baseline": _child_baseline}


# ---- parent ---------------------------------------------------------------------------------------------------


def _summarise(runs: list[dict], rows: int) -> dict:
    best = min(r["seconds"] for r in runs)
    return {
        "runs": runs,
        "best_seconds": round(best, 3),
        "median_seconds": round(median([r["seconds"] for r in runs]), 3),
        "cpu_seconds_of_best": min(runs, key=lambda r: r["seconds"])["cpu_s"],
        "rows_per_s": round(rows / best),
        "peak_rss_mib": max(r["peak_rss_mib"] for r in runs),
        "rss_before_mib": min(r["rss_before_mib"] for r in runs),
        "output_mib": round(runs[-1]["bytes"] / 2**20, 1),
    }


def _measure(stack: Stack, env: dict, tbl: dict, paths: list[str], repeat: int, verbose: bool = True) -> dict:
    spec = {"uri": stack.uri, "endpoint": stack.endpoint, "table": tbl["name"], "sql": f"SELECT * FROM {tbl['name']}"}
    runs: dict[str, list[dict]] = {p: [] for p in paths}
    for i in range(1, repeat + 1):
        for path in paths:  # interleaved, so a burst of load elsewhere does not hit one path's runs only
            run = run_child("bench.ingest", [path, json.dumps(spec)], env)
            if run["rows"] != tbl["rows"]:
                raise RuntimeError(f"{path} returned {run['rows']} rows, expected {tbl['rows']}")
            run["seconds"] = round(run["seconds"], 3)
            runs[path].append(run)
            if verbose:
                log(
                    f"  {path:<10} run {i}/{repeat}: {run['seconds']:7.2f} s  {tbl['rows'] / run['seconds']:>11,.0f} rows/s"
                    f"  peak {run['peak_rss_mib']:7.1f} MiB"
                )
    return {p: _summarise(r, tbl["rows"]) for p, r in runs.items()}


def _report(n: int, tbl: dict, results: dict, baseline_skipped: str | None) -> tuple[str, dict]:
    lines = [f"\nIngest: {n:,} rows x {tbl['columns']} columns (table {tbl['mib']} MiB), same query for every path"]
    rows = [
        [
            LABELS[p],
            len(r["runs"]),
            f"{r['best_seconds']:.2f}",
            f"{r['median_seconds']:.2f}",
            f"{r['cpu_seconds_of_best']:.2f}",
            f"{r['rows_per_s']:,}",
            f"{r['output_mib']:.1f}",
            f"{r['peak_rss_mib']:.0f}",
            f"{r['rss_before_mib']:.0f}",
        ]
        for p, r in results.items()
    ]
    headers = [
        "path",
        "runs",
        "best s",
        "median s",
        "client CPU s",
        "rows/s (best)",
        "out MiB",
        "peak MiB",
        "MiB before work",
    ]
    lines.append(table(headers, rows))
    if baseline_skipped:
        lines.append(f"baseline: {baseline_skipped}")
    goals: dict = {}

    def goal(key: str, label: str, ratio: float, target: float, unit: str) -> None:
        goals[key] = {"ratio": round(ratio, 2), "goal": target, "pass": ratio >= target}
        lines.append(f"{label:<22} = {ratio:5.2f}{unit:<2} (goal >= {target:g}{unit})  {verdict(ratio >= target)}")

    ours = results["ours"]["rows_per_s"]
    if "baseline" in results:
        goal(
            "ours_vs_baseline",
            "ours / baseline rows/s",
            ours / results["baseline"]["rows_per_s"],
            GOAL_VS_BASELINE,
            "x",
        )
    goal("ours_vs_copy", "ours / COPY rows/s", ours / results["copy"]["rows_per_s"], GOAL_VS_COPY, "")
    local = results.get("ours_local")
    if local:
        lines.append(
            f"  (ours without the S3 upload: {local['rows_per_s'] / results['copy']['rows_per_s']:.2f} of COPY; "
            f"the S3 upload and checksum take {results['ours']['best_seconds'] - local['best_seconds']:.2f} s)"
        )
    return "\n".join(lines), goals


def run(
    rows_list: list[int], repeat: int = 3, baseline_max_rows: int = 1_000_000, results_dir: Path | None = None
) -> dict:
    """Run the ingest benchmark for each row count; print tables and write bench/results/ingest.json."""
    rows_list = sorted(set(rows_list))
    workdir = Path(tempfile.mkdtemp(prefix="mlops-bench-"))
    doc: dict = {"repeat": repeat, "baseline_max_rows": baseline_max_rows, "by_rows": {}}
    reports = []
    try:
        with bench_stack(workdir) as stack:
            env = child_env(workdir)
            # Lazy imports happen inside the timed work; compile them into the bytecode cache first.
            log(f"ingest: warm-up, every path once on {WARMUP_ROWS:,} rows (not measured)")
            warm = create_table(stack, WARMUP_ROWS)
            _measure(stack, env, warm, list(PATHS), 1, verbose=False)
            drop_table(stack, warm["name"])
            for n in rows_list:
                log(f"ingest: creating a table of {n:,} rows")
                tbl = create_table(stack, n)
                doc["postgres"] = tbl["postgres"]
                paths = [p for p in PATHS if p != "baseline" or n <= baseline_max_rows]
                skipped = None
                if n > baseline_max_rows:
                    skipped = (
                        f"skipped above {baseline_max_rows:,} rows: it loads the whole result into a pandas "
                        "DataFrame and an in-memory Parquet buffer, so its memory grows with the table"
                    )
                log(f"ingest: {n:,} rows: {', '.join(paths)} x {repeat}, each in a fresh process")
                results = _measure(stack, env, tbl, paths, repeat)
                drop_table(stack, tbl["name"])
                text, goals = _report(n, tbl, results, skipped)
                reports.append(text)
                doc["by_rows"][str(n)] = {"table": tbl, "paths": results, "goals": goals, "baseline_skipped": skipped}
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    if len(rows_list) > 1:
        lo, hi = str(rows_list[0]), str(rows_list[-1])
        lines = [f"\nPeak memory from {int(lo):,} to {int(hi):,} rows ({int(hi) // int(lo)}x the rows):"]
        memory = {}
        for path in ("ours", "copy"):
            a, b = (doc["by_rows"][k]["paths"][path]["peak_rss_mib"] for k in (lo, hi))
            ok = b <= a * GOAL_MEMORY_GROWTH
            memory[path] = {"from_mib": a, "to_mib": b, "growth": round(b / a, 2), "flat": ok}
            lines.append(
                f"  {LABELS[path]:<32} {a:7.0f} -> {b:7.0f} MiB  ({b / a:.2f}x)   {verdict(ok) if path == 'ours' else ''}"
            )
        doc["memory_growth"] = memory
        reports.append("\n".join(lines))
    print("\n".join(reports), flush=True)
    path = write_results("ingest", doc, results_dir)
    log(f"ingest: wrote {path}")
    return doc


if __name__ == "__main__":  # child: python -m bench.ingest <path> <spec json> <out file>
    _path, _spec, _out = sys.argv[1:4]
    write_child_result(_out, CHILDREN[_path](json.loads(_spec)))
