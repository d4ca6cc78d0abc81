"""`make demo`: the whole pipeline on the embedded stack, through the real Airflow scheduler.

1. start the stack (PostgreSQL, moto, Airflow) unless it is running
2. seed the clinic database with the diabetes study, its rows changing over the last 3 weeks
3. ingest the clinic source as a scheduler-managed backfill over those weeks
4. deliver the digits CSV files day by day (one delivery has a scanner fault) and ingest each day
5. meanwhile the training DAGs, scheduled on the curated Assets, retrain each model whenever
   enough new rows arrived: SageMaker training requests run on the local runner, candidates are
   gated against production and registered with versions V<tag>.<manual>.<auto>
6. each approved version's `model.<name>` Asset starts its deploy DAG: a SageMaker Model, an
   endpoint config and the production endpoint on the local SageMaker plane
7. a bounded load generator on 127.0.0.1 sends each model's test rows (the production version's
   test split) to its endpoint: REQUESTS_PER_MODEL InvokeEndpoint calls, LOAD_CONCURRENCY at once
8. print a summary and write it to .local/demo-summary.json

Later stages (monitoring) add themselves to the same summary.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta

from embedded_stack import aws, iam, stack
from embedded_stack.paths import StackConfig
from embedded_stack.seed import corrupt_digits_file, digits_files, drop_files, seed_clinic

CLINIC_DAYS = 21
DIGITS_DELIVERY_DAYS = 4
INGEST_DAGS = ("ingest_clinic", "ingest_digits_drop")
TRAINING_DAGS = ("train_diabetes_progression", "train_digits_classifier")
DEPLOY_DAGS = ("deploy_diabetes_progression", "deploy_digits_classifier")
REQUESTS_PER_MODEL = 200
LOAD_CONCURRENCY = 4  # below the serverless diabetes endpoint's MaxConcurrency (5): nothing is throttled
LOAD_SECONDS = 60  # per model, whatever is left unsent by then is not sent
PREDICT_API_ROWS = 20  # rows sent through mlops.serving.predict as well
CAPTURE_SETTLE_SECONDS = 5  # capture files are written off the request path


def log(msg: str) -> None:
    print(f"[demo {datetime.now().strftime('%H:%M:%S')}] {msg}", flush=True)


class Stages:
    def __init__(self):
        self.seconds: dict[str, float] = {}

    def run(self, name: str, fn, *args, **kwargs):
        log(f"--- {name}")
        started = time.monotonic()
        try:
            return fn(*args, **kwargs)
        finally:
            self.seconds[name] = round(time.monotonic() - started, 1)
            log(f"--- {name} done in {self.seconds[name]:.0f}s")


def ingest_clinic(api, first: date, last: date) -> list[dict]:
    log(f"backfill ingest_clinic for {first} .. {last} ({(last - first).days + 1} daily intervals)")
    return api.run_intervals("ingest_clinic", first, last, timeout=1800, progress=log)


def ingest_digits(api, s3, env, days: list[date]) -> list[dict]:
    """One delivery per day; the delivery of the middle day carries a corrupt file too."""
    files = digits_files(len(days))
    runs = []
    for i, day in enumerate(days):
        batch = [files[i]] + ([corrupt_digits_file()] if i == len(days) // 2 else [])
        drop_files(s3, env["MLOPS_LANDING_BUCKET"], "digits_drop/incoming/", batch)
        log(f"delivered {', '.join(name for name, _ in batch)} for {day}")
        runs += api.run_intervals("ingest_digits_drop", day, day, timeout=900, progress=log)
    return runs


def wait_idle(api, dag_ids, what: str, quiet_seconds: float = 30, timeout: float = 1200) -> dict[str, list[dict]]:
    """Wait until no run of `dag_ids` is queued or running for `quiet_seconds` (asset events from
    the last publishes or approvals may still start one); returns their runs."""
    deadline = time.monotonic() + timeout
    quiet_since = None
    while True:
        runs = {dag: api.runs(dag) for dag in dag_ids}
        busy = [r for rs in runs.values() for r in rs if r["state"] not in ("success", "failed")]
        if busy:
            quiet_since = None
            log(f"{what}: {len(busy)} run(s) in progress: " + ", ".join(sorted({r["dag_id"] for r in busy})))
        elif quiet_since is None:
            quiet_since = time.monotonic()
        elif time.monotonic() - quiet_since >= quiet_seconds:
            return runs
        if time.monotonic() > deadline:
            raise TimeoutError(f"{what} runs still busy after {timeout:.0f}s: {busy}")
        time.sleep(5)


def wait_training_idle(api, quiet_seconds: float = 30, timeout: float = 1200) -> dict[str, list[dict]]:
    return wait_idle(api, TRAINING_DAGS, "training", quiet_seconds, timeout)


def wait_deployment_idle(api, timeout: float = 900) -> dict[str, list[dict]]:
    """The deploy runs the last approvals started (they are queued by the time training is idle)."""
    return wait_idle(api, DEPLOY_DAGS, "deployment", quiet_seconds=10, timeout=timeout)


def test_rows(s3, package, features: tuple[str, ...]) -> list[list[str]]:
    """The feature values of the test split the package was judged on (the training run's data
    prefix: training_data.json names the files next to it), in feature order, as CSV cells."""
    manifest_uri = package.training_data_uri
    bucket, _, manifest_key = manifest_uri.removeprefix("s3://").partition("/")
    manifest = json.loads(s3.get_object(Bucket=bucket, Key=manifest_key)["Body"].read())
    key = f"{manifest_key.rsplit('/', 1)[0]}/{manifest['files']['test']['path']}"
    text = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    return [[r[f] for f in features] for r in csv.DictReader(io.StringIO(text))]


def send_load(runtime, endpoint: str, rows: list[list[str]], requests: int, concurrency: int, seconds: float) -> dict:
    """`requests` InvokeEndpoint calls (one CSV row each, the rows cycled), `concurrency` in
    flight, none started after `seconds`; retries are off, so every error counts as failed."""
    deadline = time.monotonic() + seconds
    bodies = []
    for i in range(requests):
        out = io.StringIO()
        csv.writer(out, lineterminator="\n").writerow(rows[i % len(rows)])
        bodies.append(out.getvalue().encode())

    def invoke(body: bytes):
        if time.monotonic() > deadline:
            return None
        started = time.perf_counter()
        try:
            answer = runtime.invoke_endpoint(
                EndpointName=endpoint, Body=body, ContentType="text/csv", Accept="application/json"
            )
            json.loads(answer["Body"].read())["predictions"]
        except Exception as err:  # counted, reported, never ends the load
            return ("failed", f"{type(err).__name__}: {err}")
        return ("ok", (time.perf_counter() - started) * 1000)

    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=concurrency) as pool:
        results = [r for r in pool.map(invoke, bodies) if r is not None]
    wall = time.monotonic() - started
    latencies = sorted(v for kind, v in results if kind == "ok")
    errors = [v for kind, v in results if kind == "failed"]
    pct = statistics.quantiles(latencies, n=100, method="inclusive") if len(latencies) >= 2 else latencies * 99
    return {
        "requests_sent": len(results),
        "requests_failed": len(errors),
        "first_errors": errors[:3],
        "p50_ms": round(pct[49], 2) if latencies else None,
        "p99_ms": round(pct[98], 2) if latencies else None,
        "requests_per_second": round(len(results) / wall, 1) if wall else None,
        "concurrency": concurrency,
    }


def sagemaker_client(cfg: StackConfig, service: str, config=None):
    """A client of the local SageMaker plane (endpoints live there; it passes other calls to moto),
    as the pipeline identity: the one whose policy reads the registry and invokes the endpoints."""
    import boto3

    return boto3.client(
        service,
        endpoint_url=cfg.sagemaker_url,
        region_name=cfg.region,
        config=config,
        **iam.credentials(cfg, "mlops-pipeline"),
    )


def serve_predictions(cfg: StackConfig, s3) -> dict:
    """Each model's endpoint, what it serves, and the load generator's figures against it."""
    from botocore.config import Config

    from mlops.registry import packages as registry
    from mlops.serving.predict import PredictError, predict
    from mlops.training.config import load_models

    sagemaker = sagemaker_client(cfg, "sagemaker")
    runtime = sagemaker_client(
        cfg, "sagemaker-runtime", Config(retries={"total_max_attempts": 1}, max_pool_connections=LOAD_CONCURRENCY)
    )
    out = {}
    for model in load_models():
        endpoint = registry.endpoint_name(model.name)
        try:
            described = sagemaker.describe_endpoint(EndpointName=endpoint)
        except sagemaker.exceptions.ClientError as err:
            out[model.name] = {"endpoint": endpoint, "status": "missing", "error": str(err)}
            log(f"serving {model.name}: no endpoint {endpoint}")
            continue
        served = registry.served_package(sagemaker, model.name)
        entry = {
            "endpoint": endpoint,
            "status": described["EndpointStatus"],
            "config": described.get("EndpointConfigName"),
            "variants": [v["VariantName"] for v in described.get("ProductionVariants") or []],
            "version": str(served.version) if served else None,
        }
        if described["EndpointStatus"] == "InService" and served is not None:
            rows = test_rows(s3, served, model.features)
            log(
                f"load on {endpoint}: {REQUESTS_PER_MODEL} requests from {len(rows)} test rows, {LOAD_CONCURRENCY} at once"
            )
            entry.update(
                test_rows=len(rows),
                **send_load(runtime, endpoint, rows, REQUESTS_PER_MODEL, LOAD_CONCURRENCY, LOAD_SECONDS),
            )
            # and as a user would: mlops.serving.predict (it captures client-side where the endpoint cannot)
            try:
                answered = predict(model.name, [[float(v) for v in r] for r in rows[:PREDICT_API_ROWS]])
                entry["predict_api_rows"] = len(answered)
            except PredictError as err:
                entry["predict_api_error"] = str(err)
        out[model.name] = entry
    return out


def curate_predictions(api, day: date) -> dict[str, list[dict]]:
    """Run each model's predictions DAG for `day` (the captures of the load just sent)."""
    from mlops.training.config import load_models

    time.sleep(CAPTURE_SETTLE_SECONDS)
    runs = {}
    for model in load_models():
        dag_id = f"ingest_predictions_{model.name}"
        api.wait_for_dag(dag_id)
        run = api.trigger(dag_id, day)
        if api.wait_for_dag(dag_id)["is_paused"]:
            api.set_paused(dag_id, False)
        runs[dag_id] = [api.wait_run(dag_id, run["dag_run_id"], timeout=600)]
        log(f"{dag_id} ds={day}: {runs[dag_id][0]['state']}")
    return runs


def model_summary(cfg: StackConfig, api, training_runs: dict[str, list[dict]]) -> dict:
    from mlops.registry import packages as registry
    from mlops.training.config import load_models

    sagemaker = sagemaker_client(cfg, "sagemaker")  # production_model asks the endpoint what it serves
    out = {}
    for model in load_models():
        versions = registry.list_versions(sagemaker, model.name)
        production = registry.production_model(sagemaker, model.name)
        runs = training_runs.get(model.dag_id, [])
        trained = skipped = 0
        for r in runs:
            states = {t["task_id"]: t["state"] for t in api.task_instances(model.dag_id, r["dag_run_id"])}
            trained += states.get("train") == "success"
            skipped += states.get("check_retrain") == "skipped"
        out[model.name] = {
            "production_version": str(production.version) if production else None,
            "versions": [
                {"version": str(v.version), "status": v.status, "metrics": v.metrics, "training_job": v.training_job}
                for v in versions
            ],
            "training_runs": {"total": len(runs), "trained": trained, "skipped_retrain_rule": skipped},
        }
    return out


def collect_summary(
    cfg: StackConfig, env: dict, s3, runs: dict[str, list[dict]], stages: Stages, serving: dict | None = None
) -> dict:
    from mlops.lake.reader import CuratedReader

    reader = CuratedReader(bucket=env["MLOPS_CURATED_BUCKET"], s3=s3)
    datasets = {}
    for name in reader.datasets():
        parts = reader.partitions(name)
        datasets[name] = {
            "partitions": [{"ds": p.ds, "rows": p.rows, "files": p.files} for p in parts],
            "partition_count": len(parts),
            "rows": sum(p.rows for p in parts),
        }
    quarantined = []
    raw = env["MLOPS_RAW_BUCKET"]
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=raw, Prefix="_quarantine/"):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith(".validation.json"):
                result = json.loads(s3.get_object(Bucket=raw, Key=obj["Key"])["Body"].read())
                _, source, table, ds, name = obj["Key"].split("/")
                quarantined.append(
                    {
                        "source": source,
                        "table": table,
                        "ds": ds.removeprefix("ds="),
                        "batch": name.removesuffix(".validation.json"),
                        "rows": result["rows"],
                        "failures": [
                            f"{f['expectation']} on {f['column']}: {f['unexpected_count']} row(s)"
                            for f in result["failures"]
                        ],
                        "validation_result": f"s3://{raw}/{obj['Key']}",
                    }
                )
    alerts = aws.read_alerts(cfg.moto_url, cfg.region, wait_seconds=0, credentials=iam.admin_key(cfg))
    api = stack.api_client(cfg)
    return {
        "generated_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "airflow_ui": cfg.airflow_url,
        "stage_seconds": stages.seconds,
        "runs": {dag: {s: sum(r["state"] == s for r in rs) for s in ("success", "failed")} for dag, rs in runs.items()},
        "datasets": datasets,
        "models": model_summary(cfg, api, {d: rs for d, rs in runs.items() if d in TRAINING_DAGS}),
        "serving": serving or {},
        # the curated predictions datasets (captured requests and answers), once a DAG publishes them
        "predictions": {name: d for name, d in datasets.items() if name.startswith("predictions_")},
        "quarantined": quarantined,
        "alerts": [a["subject"] for a in alerts],
    }


def print_summary(summary: dict, path) -> None:
    print("\n================ demo summary ================")
    for name, d in summary["datasets"].items():
        print(f"curated {name}: {d['partition_count']} partitions, {d['rows']} rows")
        for p in d["partitions"]:
            print(f"    ds={p['ds']}  rows={p['rows']:5d}  files={p['files']}")
    for name, m in summary["models"].items():
        t = m["training_runs"]
        print(
            f"model {name}: production {m['production_version']}; {t['total']} training runs, "
            f"{t['trained']} trained, {t['skipped_retrain_rule']} skipped by the retrain rule"
        )
        for v in m["versions"]:
            shown = ", ".join(f"{k}={val:.4g}" for k, val in sorted(v["metrics"].items()))
            print(f"    {v['version']:10s} {v['status']:22s} {shown}")
    for name, e in summary.get("serving", {}).items():
        if "requests_sent" not in e:
            print(f"endpoint {e['endpoint']} ({name}): {e['status']}, no load sent")
            continue
        print(
            f"endpoint {e['endpoint']} ({name}): {e['status']}, variant {','.join(e['variants'])}, version "
            f"{e['version']}; {e['requests_sent']} requests sent, {e['requests_failed']} failed, "
            f"p50 {e['p50_ms']} ms, p99 {e['p99_ms']} ms, {e['requests_per_second']} req/s at concurrency {e['concurrency']}"
        )
        for err in e["first_errors"]:
            print(f"    {err}")
    for name, d in summary.get("predictions", {}).items():
        print(f"predictions dataset {name}: {d['partition_count']} partitions, {d['rows']} rows")
    for q in summary["quarantined"]:
        print(
            f"quarantined {q['source']}/{q['table']} ds={q['ds']} {q['batch']} ({q['rows']} rows): {'; '.join(q['failures'])}"
        )
    print(f"alerts published: {len(summary['alerts'])}")
    for a in summary["alerts"]:
        print(f"    {a}")
    for dag, counts in summary["runs"].items():
        print(f"runs {dag}: {counts['success']} succeeded, {counts['failed']} failed")
    print("stage wall times: " + ", ".join(f"{k} {v:.0f}s" for k, v in summary["stage_seconds"].items()))
    print(f"summary written to {path}")
    print(f"Airflow UI: {summary['airflow_ui']} (see `make up` output for the login); stop with `make down`.")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--days", type=int, default=CLINIC_DAYS, help="weeks of clinic changes, in days (default 21)")
    args = parser.parse_args(argv)
    cfg = StackConfig.from_env()
    stages = Stages()
    started = time.monotonic()
    try:
        env = stages.run("stack up", stack.up, cfg)
    except stack.StackError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    api = stack.api_client(cfg)
    s3 = stack.aws_client(cfg, "s3")
    today = datetime.now(UTC).date()
    first = today - timedelta(days=args.days)
    pg = {"host": "127.0.0.1", "port": cfg.pg_port, "user": "postgres", "dbname": "clinic"}
    rows = stages.run("seed", seed_clinic, pg, first, args.days)
    log(f"clinic.patients: {rows} diabetes-study rows changing between {first} and {today - timedelta(days=1)}")

    for dag_id in (*INGEST_DAGS, *TRAINING_DAGS, *DEPLOY_DAGS):
        api.wait_for_dag(dag_id)
    errors = api.import_errors()
    if errors:
        print(f"error: DAG import errors: {errors}", file=sys.stderr)
        return 1

    def unpause():
        # Deployment and training DAGs first: scheduled on the model and curated Assets, they only
        # hear of the events that arrive while they are unpaused.
        for dag_id in (*DEPLOY_DAGS, *TRAINING_DAGS):
            api.set_paused(dag_id, False)
        # Unpausing lets the scheduler run each ingestion DAG's latest interval (catchup is off).
        for dag_id in INGEST_DAGS:
            if api.wait_for_dag(dag_id)["is_paused"]:
                api.set_paused(dag_id, False)
                api.wait_runs(dag_id, 1, timeout=600)

    stages.run("unpause DAGs (latest interval)", unpause)
    runs: dict[str, list[dict]] = {}
    delivery_days = [today - timedelta(days=DIGITS_DELIVERY_DAYS + 1 - i) for i in range(DIGITS_DELIVERY_DAYS)]
    clinic = threading.Thread(
        target=lambda: runs.__setitem__(
            "ingest_clinic",
            stages.run("ingest clinic (backfill)", ingest_clinic, api, first, today - timedelta(days=2)),
        )
    )
    clinic.start()
    runs["ingest_digits_drop"] = stages.run("ingest digits deliveries", ingest_digits, api, s3, env, delivery_days)
    clinic.join()
    runs.update(stages.run("training (asset-triggered)", wait_training_idle, api))
    runs.update(stages.run("deployment (asset-triggered)", wait_deployment_idle, api))
    for key, value in env.items():  # mlops.serving.predict reads the stack's endpoints and buckets from these
        if key.startswith(("AWS_", "MLOPS_")):
            os.environ.setdefault(key, value)
    serving = stages.run("predictions (load on 127.0.0.1)", serve_predictions, cfg, s3)
    runs.update(stages.run("predictions dataset", curate_predictions, api, datetime.now(UTC).date()))
    stages.seconds["total"] = round(time.monotonic() - started, 1)
    summary = collect_summary(cfg, env, s3, runs, stages, serving)
    path = cfg.state / "demo-summary.json"
    path.write_text(json.dumps(summary, indent=2))
    print_summary(summary, path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
