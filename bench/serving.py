"""Serving benchmark: one model, the same rows, through the handler, the local SageMaker plane and MLflow.

The model: the digits classifier (include/models/digits_classifier.yaml's data and features) trained by
include/training/train.py as an XGBoost model with more trees than configured, MODEL_PARAMS, so that
model.joblib is about 5 MB (the issue's size). Rows: the 397 digits rows train.py did not train on,
one per request, round robin. Figures, each repeated --repeat times (interleaved ours / MLflow; best
and median reported):

    handler in process   include/training/inference.py's input_fn + predict_fn + output_fn on one CSV row,
                         in this process, p50/p99 (what ModelLatency covers, without the socket hop); the
                         model predicts through its ONNX graph with onnxruntime (train.py kept it)
    handler, idle        the same with IDLE_US of sleep before each request (diagnostic: what an idle
                         pause costs the next request on this machine, as a server pauses between requests)
    boto3 floor          boto3 InvokeEndpoint against bench/serving_null.py, which answers at once: the
                         client's own cost, the part of "ours, boto3" no server can remove
    ModelLatency         the local plane's own metric (model server round trip as the runtime sees it),
                         raw samples of the boto3 c=1 run and of the http.client c=1 run, p50/p99
    ours, boto3          sagemaker-runtime InvokeEndpoint with boto3 (signing, parsing: the real client),
                         p50/p99 at concurrency 1, requests/s at concurrency 1 and 8 (8 threads, a client each)
    ours, http           the same request with http.client (keep-alive, one connection per thread)
    MLflow, http         `mlflow models serve` (uvicorn, 1 worker, --env-manager local) of the same
                         estimator saved with mlflow.xgboost, from .venv-bench-mlflow, the same client
                         and rows as `{"inputs": [[...]]}`; its pyfunc returns the predicted class only,
                         ours the top-3 classes with probabilities (more work for ours)

Goals (issue 11): ModelLatency p50 <= 400 us; boto3 p50 <= 2 ms at concurrency 1; ours (http) p50 <= 1/3 of
MLflow's, requests/s >= 3x MLflow's at concurrency 1 and 8. The plane runs in its own process with one
model server process (InitialInstanceCount 1), MLflow with one worker; the clients run here. Everything
shares the machine's cores, so a client's CPU time is in every figure, ours and MLflow's alike.
"""

from __future__ import annotations

import http.client
import importlib.util
import io
import json
import os
import shutil
import socket
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from bench.common import REPO, free_port, log, median, table, verdict, write_results

MLFLOW_VENV = REPO / ".venv-bench-mlflow"
FEATURES = [f"pixel_{i}" for i in range(64)]
MODEL_PARAMS = {"n_estimators": 700, "max_depth": 4, "n_jobs": 1}
TRAIN_ROWS = 1400
CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
GOAL_MODEL_LATENCY_US = 400
GOAL_BOTO3_P50_US = 2000
IDLE_US = 300  # a diagnostic: the handler after a pause, as a server between requests (bench/README.md)


def percentile(values, q: float) -> float:
    ordered = sorted(values)
    return ordered[min(int(q * len(ordered)), len(ordered) - 1)]


def train_model(folder: Path) -> tuple[Path, bytes]:
    """train.py on the digits rows (first TRAIN_ROWS train, the rest test): the model folder and its model.tar.gz."""
    from embedded_stack.seed import digits_frame

    frame = digits_frame()
    for name, part in (("train", frame.iloc[:TRAIN_ROWS]), ("test", frame.iloc[TRAIN_ROWS:])):
        (folder / name).mkdir(parents=True)
        part.to_csv(folder / name / "data.csv", index=False)
    argv = ["--problem-type", "classification", "--estimator", "xgboost.XGBClassifier", "--features",
            ",".join(FEATURES), "--label", "label", "--estimator-params", json.dumps(MODEL_PARAMS),
            "--model-dir", str(folder / "model"), "--output-data-dir", str(folder / "out"),
            "--train", str(folder / "train"), "--test", str(folder / "test")]  # fmt: skip
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SM_OUTPUT_DIR": str(folder / "output")}
    proc = subprocess.run(
        [sys.executable, str(REPO / "include/training/train.py"), *argv], env=env, cwd=folder, capture_output=True
    )
    if proc.returncode:
        raise RuntimeError(f"train.py failed: {proc.stderr.decode()[-2000:]}")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for p in sorted((folder / "model").rglob("*")):
            tar.add(p, arcname=str(p.relative_to(folder / "model")), recursive=False)
    return folder / "model", buf.getvalue()


def test_rows() -> list[list[float]]:
    from embedded_stack.seed import digits_frame

    return digits_frame()[FEATURES].iloc[TRAIN_ROWS:].astype(float).values.tolist()


def csv_body(row) -> bytes:
    return ",".join(repr(v) for v in row).encode()


def handler_in_process(model_dir: Path, bodies: list[bytes], iterations: int, idle_us: int = 0) -> list[float]:
    """µs per single-row request through the packed handler's three functions, after a warm-up; with
    `idle_us`, the process sleeps that long before each request, as a server waits between requests."""
    spec = importlib.util.spec_from_file_location("bench_served_handler", model_dir / "code" / "inference.py")
    handler = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(handler)
    model = handler.model_fn(str(model_dir))

    def call(body):
        return handler.output_fn(handler.predict_fn(handler.input_fn(body, "text/csv"), model), "application/json")

    for body in bodies[:100]:
        call(body)
    samples = []
    for i in range(iterations):
        body = bodies[i % len(bodies)]
        if idle_us:
            time.sleep(idle_us / 1e6)
        started = time.perf_counter_ns()
        call(body)
        samples.append((time.perf_counter_ns() - started) / 1000)
    return samples


# --- clients ------------------------------------------------------------------------------------


def _run_threads(concurrency: int, per_thread: int, make_call) -> float:
    """requests/s of `concurrency` threads each making `per_thread` calls with its own make_call() callable."""
    calls = [make_call() for _ in range(concurrency)]
    barrier = threading.Barrier(concurrency + 1)

    def worker(call):
        barrier.wait()
        for i in range(per_thread):
            call(i)

    threads = [threading.Thread(target=worker, args=(c,)) for c in calls]
    for t in threads:
        t.start()
    barrier.wait()
    started = time.perf_counter()
    for t in threads:
        t.join()
    return concurrency * per_thread / (time.perf_counter() - started)


def _latencies(call, requests: int) -> tuple[list[float], float]:
    """µs per request at concurrency 1, and requests/s."""
    samples = []
    started = time.perf_counter()
    for i in range(requests):
        t0 = time.perf_counter_ns()
        call(i)
        samples.append((time.perf_counter_ns() - t0) / 1000)
    return samples, requests / (time.perf_counter() - started)


def http_caller(port: int, path: str, bodies: list[bytes], content_type: str):
    """A callable(i) posting bodies[i % n] on one keep-alive connection (TCP_NODELAY), checking for 200."""

    def make():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        headers = {"Content-Type": content_type, "Accept": "application/json"}

        def call(i):
            conn.request("POST", path, bodies[i % len(bodies)], headers)
            resp = conn.getresponse()
            data = resp.read()
            if resp.status != 200:
                raise RuntimeError(f"{path} answered {resp.status}: {data[:300]!r}")

        return call

    return make


def boto3_caller(url: str, bodies: list[bytes]):
    import boto3
    from botocore.config import Config

    cfg = Config(retries={"total_max_attempts": 1}, max_pool_connections=16, tcp_keepalive=True)

    def make():
        rt = boto3.client("sagemaker-runtime", endpoint_url=url, config=cfg, **CREDENTIALS)

        def call(i):  # the answer read, as every client does: the connection goes back to the pool
            rt.invoke_endpoint(EndpointName="bench", Body=bodies[i % len(bodies)], ContentType="text/csv")[
                "Body"
            ].read()

        return call

    return make


def _tree(pid: int) -> list[int]:
    """pid and its descendants (`mlflow models serve` runs uvicorn as its child)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        for task in Path(f"/proc/{p}/task").glob("*/children"):
            todo += [int(c) for c in task.read_text().split()]
    return out


def cpu_seconds(pid: int, descendants: bool) -> float:
    """User + system CPU time so far of a process (and its descendants), all threads (/proc/<pid>/stat)."""
    total = 0
    for p in _tree(pid) if descendants else [pid]:
        try:
            fields = Path(f"/proc/{p}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def measure_clients(make_call, requests: int, pids: dict[str, int] | None = None, warmup: int = 200) -> dict:
    # pids: name -> pid; a name ending in "+" counts the process's descendants too (MLflow's uvicorn)
    """p50/p99 and requests/s at concurrency 1, requests/s at 8; CPU µs per request of this process (the
    client) and of each of `pids` during the c=1 run: where the time goes, whatever else the machine runs."""
    call = make_call()
    for i in range(warmup):
        call(i)
    pids = pids or {}
    before = {name: cpu_seconds(pid, name.endswith("+")) for name, pid in pids.items()}
    client_before = time.process_time()
    samples, c1 = _latencies(call, requests)
    cpu = {"client": (time.process_time() - client_before) / requests * 1e6}
    cpu |= {name: (cpu_seconds(pid, name.endswith("+")) - before[name]) / requests * 1e6 for name, pid in pids.items()}
    c8 = _run_threads(8, max(requests // 8, 1), make_call)
    return {
        "p50_us": percentile(samples, 0.5),
        "p99_us": percentile(samples, 0.99),
        "rps_c1": c1,
        "rps_c8": c8,
        "cpu_us_per_request_c1": {k: round(v) for k, v in cpu.items()},
    }


# --- servers ------------------------------------------------------------------------------------


def run_ours(
    tar_path: Path, workdir: Path, bodies: list[bytes], requests: int, port: int, moto_port: int, instances: int = 1
) -> dict:
    """Start the plane child, measure boto3 and http.client against it; ModelLatency from its samples."""
    out = workdir / "model-latency.json"
    state = workdir / "plane-state"
    shutil.rmtree(state, ignore_errors=True)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)])}
    argv = [
        sys.executable,
        "-m",
        "bench.serving_plane",
        str(tar_path),
        str(state),
        str(port),
        str(moto_port),
        str(instances),
    ]
    log_path = workdir / f"plane-{instances}.log"
    log_file = open(log_path, "w")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [*argv, str(out)], cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log_file, text=True
    )
    try:
        line = proc.stdout.readline()
        if not line.startswith("READY "):
            proc.wait(10)
            raise RuntimeError(f"the plane did not start (exit {proc.poll()}): {log_path.read_text()[-2000:]}")
        threading.Thread(target=proc.stdout.read, daemon=True).start()  # whatever else it prints
        url = line.split()[1]
        with urllib.request.urlopen(f"{url}/local/endpoints") as resp:
            servers = json.loads(resp.read())["bench"]["Variants"][0]["Servers"]
        pids = {"plane": proc.pid} | {f"model server {i}": s["Pid"] for i, s in enumerate(servers)}
        boto = measure_clients(boto3_caller(url, bodies), requests, pids)
        port_used = int(url.rsplit(":", 1)[1])
        plain = measure_clients(
            http_caller(port_used, "/endpoints/bench/invocations", bodies, "text/csv"), requests, pids
        )
    finally:
        proc.stdin.close()
        proc.wait(60)
        log_file.close()
    samples = json.loads(out.read_text())
    measured = samples[200 : 200 + requests]  # the boto3 c=1 run, after its warm-up
    http_from = 200 + requests + 8 * max(requests // 8, 1) + 200  # then its c=8 run, http.client's warm-up
    measured_http = samples[http_from : http_from + requests]
    return {
        "model_latency": {"p50_us": percentile(measured, 0.5), "p99_us": percentile(measured, 0.99)},
        "model_latency_http": {"p50_us": percentile(measured_http, 0.5), "p99_us": percentile(measured_http, 0.99)},
        "boto3": boto,
        "http": plain,
    }


def run_boto3_floor(workdir: Path, bodies: list[bytes], requests: int) -> dict:
    """boto3 InvokeEndpoint against bench/serving_null.py (answers at once): the client's own cost."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)])}
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.serving_null"], cwd=REPO, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        line = proc.stdout.readline()
        if not line.startswith("READY "):
            raise RuntimeError(f"bench.serving_null did not start (exit {proc.wait(10)})")
        return measure_clients(boto3_caller(line.split()[1], bodies), requests, {"null server": proc.pid})
    finally:
        proc.stdin.close()
        proc.wait(10)


def save_mlflow_model(model_dir: Path, out: Path) -> None:
    proc = subprocess.run(
        [str(MLFLOW_VENV / "bin" / "python"), str(REPO / "bench" / "serving_mlflow.py"),
         str(model_dir / "model.joblib"), str(out)],
        capture_output=True, text=True,
    )  # fmt: skip
    if proc.returncode:
        raise RuntimeError(f"saving the MLflow model failed: {proc.stderr[-2000:]}")


def run_mlflow(mlflow_model: Path, workdir: Path, rows, requests: int, port: int, workers: int = 1) -> dict:
    bodies = [json.dumps({"inputs": [row]}).encode() for row in rows]
    env = {
        **os.environ,
        "PATH": f"{MLFLOW_VENV / 'bin'}{os.pathsep}{os.environ.get('PATH', '')}",
        "MLFLOW_TRACKING_URI": f"file://{workdir / 'mlruns'}",
    }
    env.pop("PYTHONPATH", None)
    argv = [str(MLFLOW_VENV / "bin" / "mlflow"), "models", "serve", "-m", str(mlflow_model), "--env-manager",
            "local", "-h", "127.0.0.1", "-p", str(port), "-w", str(workers)]  # fmt: skip
    log_file = open(workdir / "mlflow-serve.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        argv, cwd=workdir, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
    )
    try:
        deadline = time.monotonic() + 180
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"mlflow models serve exited: {(workdir / 'mlflow-serve.log').read_text()[-2000:]}")
            try:
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
                conn.request("GET", "/ping")
                if conn.getresponse().status == 200:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("mlflow models serve did not answer /ping within 180 s")
            time.sleep(0.2)
        caller = http_caller(port, "/invocations", bodies, "application/json")
        return {"http": measure_clients(caller, requests, {"mlflow serve+": proc.pid} if workers == 1 else None)}
    finally:
        _stop_group(proc)
        log_file.close()


def _stop_group(proc: subprocess.Popen) -> None:
    """SIGTERM to the server's process group (CLI, uvicorn, its workers), SIGKILL to what is left after 20 s."""
    members = _tree(proc.pid)
    try:
        os.killpg(proc.pid, 15)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and any(Path(f"/proc/{p}").exists() for p in members):
        proc.poll()
        time.sleep(0.1)
    try:
        os.killpg(proc.pid, 9)
    except ProcessLookupError:
        pass
    proc.wait(10)


# --- the benchmark --------------------------------------------------------------------------------


def _best_median(values: list[float], lower_is_better: bool) -> dict:
    return {"best": min(values) if lower_is_better else max(values), "median": median(values)}


def run(repeat: int = 3, requests: int = 2000, port_base: int = 0, results_dir: Path | None = None) -> dict:
    """Train, then `repeat` rounds of handler / ours / MLflow; print the table, write bench/results/serving.json."""
    if not (MLFLOW_VENV / "bin" / "mlflow").exists():
        raise SystemExit(f"{MLFLOW_VENV} is missing: `make bench` creates it (requirements/bench-mlflow.txt)")

    def port(offset: int) -> int:
        return port_base + offset if port_base else free_port()

    workdir = Path(tempfile.mkdtemp(prefix="mlops-bench-serving-"))
    rounds: list[dict] = []
    try:
        log("serving: training the digits XGBoost model with train.py")
        model_dir, tar = train_model(workdir / "train")
        tar_path = workdir / "model.tar.gz"
        tar_path.write_bytes(tar)
        size_mb = (model_dir / "model.joblib").stat().st_size / 1e6
        save_mlflow_model(model_dir, workdir / "mlflow-model")
        rows = test_rows()
        bodies = [csv_body(r) for r in rows]
        for i in range(1, repeat + 1):
            load = os.getloadavg()[0]
            handler = handler_in_process(model_dir, bodies, requests)
            handler_idle = handler_in_process(model_dir, bodies, requests, idle_us=IDLE_US)
            floor = run_boto3_floor(workdir, bodies, requests)
            ours = run_ours(tar_path, workdir, bodies, requests, port(10 * i), port(10 * i + 1))
            mlflow = run_mlflow(workdir / "mlflow-model", workdir, rows, requests, port(10 * i + 2))
            two = run_ours(tar_path, workdir, bodies, requests, port(10 * i + 3), port(10 * i + 4), instances=2)
            try:
                mlflow2 = run_mlflow(workdir / "mlflow-model", workdir, rows, requests, port(10 * i + 5), workers=2)
            except RuntimeError as err:  # a diagnostic figure: recorded as missing, the round still counts
                log(f"  MLflow with 2 workers: {err}")
                mlflow2 = {"http": None}
            rounds.append(
                {
                    "load_average_1m": round(load, 2),
                    "handler": {"p50_us": percentile(handler, 0.5), "p99_us": percentile(handler, 0.99)},
                    "handler_idle": {"p50_us": percentile(handler_idle, 0.5), "p99_us": percentile(handler_idle, 0.99)},
                    "boto3_floor": floor,
                    **{f"ours_{k}": v for k, v in ours.items()},
                    "mlflow_http": mlflow["http"],
                    "ours_2_instances_boto3": two["boto3"],
                    "ours_2_instances_http": two["http"],
                    "mlflow_2_workers_http": mlflow2["http"],
                }
            )
            r = rounds[-1]
            log(
                f"  round {i}/{repeat} (load {load:.1f}): handler p50 {r['handler']['p50_us']:.0f} us, ModelLatency p50 "
                f"{r['ours_model_latency']['p50_us']:.0f} us, boto3 p50 {r['ours_boto3']['p50_us']:.0f} us, "
                f"ours http p50 {r['ours_http']['p50_us']:.0f} us, MLflow http p50 {r['mlflow_http']['p50_us']:.0f} us"
            )
    finally:
        shutil.rmtree(workdir, ignore_errors=True)

    def figure(path: str, key: str) -> dict:
        values = [r[path][key] for r in rounds if r[path] is not None]
        return _best_median(values, lower_is_better=not key.startswith("rps"))

    keys = ("p50_us", "p99_us", "rps_c1", "rps_c8")
    summary = {
        path: {key: figure(path, key) for key in keys if any(r[path] and key in r[path] for r in rounds)}
        for path in rounds[0]
        if path != "load_average_1m"
    }
    ml, oh, ob = summary["mlflow_http"], summary["ours_http"], summary["ours_boto3"]
    ratios = {
        "http_p50_vs_mlflow": oh["p50_us"]["median"] / ml["p50_us"]["median"],
        "boto3_p50_vs_mlflow": ob["p50_us"]["median"] / ml["p50_us"]["median"],
        "http_rps_c1_vs_mlflow": oh["rps_c1"]["median"] / ml["rps_c1"]["median"],
        "http_rps_c8_vs_mlflow": oh["rps_c8"]["median"] / ml["rps_c8"]["median"],
        "http_rps_c8_2_instances_vs_mlflow_2_workers": summary["ours_2_instances_http"]["rps_c8"]["median"]
        / summary["mlflow_2_workers_http"]["rps_c8"]["median"]
        if summary["mlflow_2_workers_http"]
        else None,
        "boto3_rps_c1_vs_mlflow": ob["rps_c1"]["median"] / ml["rps_c1"]["median"],
        "boto3_rps_c8_vs_mlflow": ob["rps_c8"]["median"] / ml["rps_c8"]["median"],
    }
    goals = {
        "model_latency_p50_le_400us": summary["ours_model_latency"]["p50_us"]["median"] <= GOAL_MODEL_LATENCY_US,
        "boto3_p50_le_2ms": ob["p50_us"]["median"] <= GOAL_BOTO3_P50_US,
        "http_p50_le_third_of_mlflow": ratios["http_p50_vs_mlflow"] <= 1 / 3,
        "http_rps_c1_ge_3x_mlflow": ratios["http_rps_c1_vs_mlflow"] >= 3,
        "http_rps_c8_ge_3x_mlflow": ratios["http_rps_c8_vs_mlflow"] >= 3,
    }

    def lat(path):
        s = summary[path]
        if not s:
            return ["did not start", ""]
        return [f"{s['p50_us']['median']:.0f} ({s['p50_us']['best']:.0f})", f"{s['p99_us']['median']:.0f}"]

    def rps(path):
        s = summary.get(path)
        if not s or "rps_c1" not in s:
            return ["", ""]
        return [
            f"{s['rps_c1']['median']:.0f} ({s['rps_c1']['best']:.0f})",
            f"{s['rps_c8']['median']:.0f} ({s['rps_c8']['best']:.0f})",
        ]

    names = {
        "handler": "handler in process",
        "handler_idle": f"handler, {IDLE_US} us idle before each",
        "ours_model_latency": "ours: ModelLatency (boto3 run)",
        "ours_model_latency_http": "ours: ModelLatency (http run)",
        "boto3_floor": "boto3 to a server answering at once",
        "ours_boto3": "ours: boto3 InvokeEndpoint",
        "ours_http": "ours: http.client",
        "mlflow_http": "MLflow serve: http.client",
        "ours_2_instances_boto3": "ours, 2 instances: boto3",
        "ours_2_instances_http": "ours, 2 instances: http.client",
        "mlflow_2_workers_http": "MLflow serve, 2 workers: http",
    }
    print()
    print(
        f"serving: digits XGBClassifier {MODEL_PARAMS}, model.joblib {size_mb:.2f} MB, {requests} requests x {repeat} rounds"
    )
    print("median of rounds (best in parentheses); latencies in us, single-row requests")
    print(table(["path", "p50 us", "p99 us", "req/s c=1", "req/s c=8"], [[names[p], *lat(p), *rps(p)] for p in names]))
    print()
    print(f"ModelLatency p50 <= {GOAL_MODEL_LATENCY_US} us: {verdict(goals['model_latency_p50_le_400us'])}")
    print(f"boto3 p50 <= 2 ms at c=1: {verdict(goals['boto3_p50_le_2ms'])}; the client's own floor here "
          f"{summary['boto3_floor']['p50_us']['median']:.0f} us (boto3 against a server answering at once)")  # fmt: skip
    print(f"ours/MLflow p50 (http) {ratios['http_p50_vs_mlflow']:.2f} (goal <= 0.33): {verdict(goals['http_p50_le_third_of_mlflow'])};"
          f" boto3/MLflow p50 {ratios['boto3_p50_vs_mlflow']:.2f}")  # fmt: skip
    print(f"ours/MLflow req/s (http) c=1 {ratios['http_rps_c1_vs_mlflow']:.2f}x, c=8 {ratios['http_rps_c8_vs_mlflow']:.2f}x"
          f" (goal >= 3x): {verdict(goals['http_rps_c1_ge_3x_mlflow'])}/{verdict(goals['http_rps_c8_ge_3x_mlflow'])};"
          f" boto3/MLflow c=1 {ratios['boto3_rps_c1_vs_mlflow']:.2f}x, c=8 {ratios['boto3_rps_c8_vs_mlflow']:.2f}x")  # fmt: skip
    for path in ("boto3_floor", "ours_boto3", "ours_http", "mlflow_http"):
        cpu = ", ".join(f"{k.rstrip('+')} {v}" for k, v in rounds[-1][path]["cpu_us_per_request_c1"].items())
        print(f"CPU us per request at c=1 (last round), {names[path]}: {cpu}")
    print(
        f"2 instances / MLflow 2 workers req/s (http) c=8: {ratios['http_rps_c8_2_instances_vs_mlflow_2_workers'] or 0:.2f}x"
    )
    doc = {
        "model": {"estimator": "xgboost.XGBClassifier", "params": MODEL_PARAMS, "model_joblib_mb": round(size_mb, 2)},
        "requests_per_round": requests,
        "rounds": rounds,
        "summary": summary,
        "ratios": ratios,
        "goals": goals,
        "mlflow_version": _mlflow_version(),
    }
    path = write_results("serving", doc, results_dir)
    log(f"serving: results in {path}")
    return doc


def _mlflow_version() -> str | None:
    proc = subprocess.run(
        [str(MLFLOW_VENV / "bin" / "python"), "-c", "import importlib.metadata as m; print(m.version('mlflow'))"],
        capture_output=True,
        text=True,
    )
    return proc.stdout.strip() or None


if __name__ == "__main__":
    import argparse

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--port-base", type=int, default=0, help="use ports from here on (0: free ports)")
    a = p.parse_args()
    run(a.repeat, a.requests, a.port_base)
