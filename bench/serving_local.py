"""Serving on the local SageMaker plane: ModelLatency and the boto3 InvokeEndpoint round trip.

    PYTHONPATH=plugins:. python bench/serving_local.py [--requests 2000] [--estimator xgboost.XGBClassifier]

Trains the digits classifier with include/training/train.py (xgboost by default), deploys it on a
local plane (its own moto server, loopback only), and prints: ModelLatency p50/p99 as the plane
puts it into CloudWatch (the model server's answer, seen from the runtime), the boto3 round trip
p50/p99 at concurrency 1, and requests/s at concurrency 1 and 8.
"""

from __future__ import annotations

import argparse
import io
import statistics
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
from pathlib import Path

import boto3
from botocore.config import Config

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "plugins")]

from embedded_stack.sagemaker_local import start_server  # noqa: E402
from embedded_stack.seed import digits_frame  # noqa: E402

FEATURES = [f"pixel_{i}" for i in range(64)]
IMAGE = "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.7-1"


def train(tmp: Path, estimator: str, handler: str | None = None) -> bytes:
    frame = digits_frame()
    for name, part in (("train", frame.iloc[:1400]), ("test", frame.iloc[1400:])):
        (tmp / name).mkdir()
        part.to_csv(tmp / name / "data.csv", index=False)
    params = '{"n_estimators": 100, "max_depth": 4}' if estimator.startswith("xgboost") else '{"max_iter": 300}'
    argv = ["--problem-type", "classification", "--estimator", estimator, "--features", ",".join(FEATURES),
            "--label", "label", "--estimator-params", params, "--model-dir", str(tmp / "model"),
            "--output-data-dir", str(tmp / "out"), "--train", str(tmp / "train"), "--test", str(tmp / "test")]  # fmt: skip
    env = {"PATH": "/usr/bin:/bin", "SM_OUTPUT_DIR": str(tmp / "output")}
    subprocess.run([sys.executable, str(REPO / "include/training/train.py"), *argv], check=True, env=env, cwd=tmp,
                   capture_output=True)  # fmt: skip
    if handler:  # e.g. an echo handler: what the plane and boto3 cost without the model
        (tmp / "model" / "code" / "inference.py").write_text(Path(handler).read_text())
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for p in sorted((tmp / "model").rglob("*")):
            tar.add(p, arcname=str(p.relative_to(tmp / "model")), recursive=False)
    return buf.getvalue()


def percentile(values: list[float], q: float) -> float:
    values = sorted(values)
    return values[min(int(q * len(values)), len(values) - 1)]


def main() -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=2000)
    p.add_argument("--estimator", default="xgboost.XGBClassifier")
    p.add_argument("--handler", help="serve this inference.py instead of the one train.py packed")
    p.add_argument("--moto-port", type=int, default=0, help="0: any free port")
    p.add_argument("--port", type=int, default=0, help="the plane's port; 0: any free port")
    args = p.parse_args()
    from moto.server import ThreadedMotoServer

    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        moto = ThreadedMotoServer(ip_address="127.0.0.1", port=args.moto_port, verbose=False)
        moto.start()
        moto_url = f"http://127.0.0.1:{moto._server.server_port}"
        plane = start_server(args.port, moto_url, tmp / "state", flush_seconds=3600)
        try:
            mk = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
            s3 = boto3.client("s3", endpoint_url=moto_url, **mk)
            s3.create_bucket(Bucket="bench")
            tar = train(tmp, args.estimator, args.handler)
            s3.put_object(Bucket="bench", Key="model.tar.gz", Body=tar)
            sm = boto3.client("sagemaker", endpoint_url=plane.url, **mk)
            sm.create_model(
                ModelName="bench",
                ExecutionRoleArn="arn:aws:iam::123456789012:role/bench",
                PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://bench/model.tar.gz"},
            )
            variant = {"VariantName": "AllTraffic", "ModelName": "bench", "InitialInstanceCount": 1,
                       "InstanceType": "ml.m5.large"}  # fmt: skip
            sm.create_endpoint_config(EndpointConfigName="bench", ProductionVariants=[variant])
            sm.create_endpoint(EndpointName="bench", EndpointConfigName="bench")
            sm.get_waiter("endpoint_in_service").wait(EndpointName="bench", WaiterConfig={"Delay": 0.2})
            rows = digits_frame()[FEATURES].iloc[1400:]
            bodies = [",".join(str(v) for v in r) for r in rows.itertuples(index=False)]
            content_type = "text/csv"
            if args.handler:
                bodies, content_type = ["[" + b + "]" for b in bodies], "application/json"
            cfg = Config(retries={"total_max_attempts": 1}, max_pool_connections=16, tcp_keepalive=True)
            rt = boto3.client("sagemaker-runtime", endpoint_url=plane.url, config=cfg, **mk)

            def call(client, i):
                return client.invoke_endpoint(
                    EndpointName="bench", Body=bodies[i % len(bodies)], ContentType=content_type
                )

            for i in range(200):  # warm up
                call(rt, i)
            plane.flush()
            model_us = []
            plane.serving.metrics.record_samples = model_us  # raw ModelLatency samples, besides the aggregates
            times = []
            t0 = time.perf_counter()
            for i in range(args.requests):
                s = time.perf_counter_ns()
                call(rt, i)
                times.append((time.perf_counter_ns() - s) / 1000)
            c1 = args.requests / (time.perf_counter() - t0)
            plane.serving.metrics.record_samples = None

            clients = [boto3.client("sagemaker-runtime", endpoint_url=plane.url, config=cfg, **mk) for _ in range(8)]
            per = args.requests // 8

            def worker(c):
                for i in range(per):
                    call(c, i)

            threads = [threading.Thread(target=worker, args=(c,)) for c in clients]
            t0 = time.perf_counter()
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            c8 = per * 8 / (time.perf_counter() - t0)
            print(
                f"model: digits {args.estimator}{' with ' + args.handler if args.handler else ''}, model.tar.gz {len(tar) / 1e6:.2f} MB, {args.requests} requests"
            )
            print(
                f"ModelLatency         p50 {percentile(model_us, 0.5):7.0f} us   p99 {percentile(model_us, 0.99):7.0f} us"
            )
            print(f"InvokeEndpoint (c=1) p50 {percentile(times, 0.5):7.0f} us   p99 {percentile(times, 0.99):7.0f} us"
                  f"   mean {statistics.fmean(times):.0f} us")  # fmt: skip
            print(f"requests/s           c=1 {c1:7.0f}        c=8 {c8:7.0f}")
        finally:
            plane.shutdown()
            moto.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
