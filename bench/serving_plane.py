"""Child of bench/serving.py: moto and the local SageMaker plane with one endpoint, in a process of their own.

    python -m bench.serving_plane MODEL_TAR STATE_DIR PORT MOTO_PORT INSTANCES OUT

Deploys MODEL_TAR as endpoint `bench` (InitialInstanceCount INSTANCES), prints `READY <url>` on stdout,
serves until stdin closes, then writes every ModelLatency sample (µs, in completion order) to OUT.
The clients run in the parent: a client in the plane's process would share its interpreter lock.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import boto3

from embedded_stack.sagemaker_local import start_server

IMAGE = "246618743249.dkr.ecr.us-west-2.amazonaws.com/sagemaker-xgboost:1.7-1"
CREDENTIALS = {"region_name": "us-east-1", "aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


def main(argv: list[str]) -> int:
    model_tar, state, port, moto_port, instances, out = argv
    from moto.server import ThreadedMotoServer

    moto = ThreadedMotoServer(ip_address="127.0.0.1", port=int(moto_port), verbose=False)
    moto.start()
    moto_url = f"http://127.0.0.1:{moto._server.server_port}"
    plane = start_server(int(port), moto_url, Path(state), flush_seconds=3600)
    samples: list[int] = []
    try:
        s3 = boto3.client("s3", endpoint_url=moto_url, **CREDENTIALS)
        s3.create_bucket(Bucket="bench")
        s3.put_object(Bucket="bench", Key="model.tar.gz", Body=Path(model_tar).read_bytes())
        sm = boto3.client("sagemaker", endpoint_url=plane.url, **CREDENTIALS)
        sm.create_model(
            ModelName="bench",
            ExecutionRoleArn="arn:aws:iam::123456789012:role/bench",
            PrimaryContainer={"Image": IMAGE, "ModelDataUrl": "s3://bench/model.tar.gz"},
        )
        variant = {
            "VariantName": "AllTraffic",
            "ModelName": "bench",
            "InitialInstanceCount": int(instances),
            "InstanceType": "ml.m5.large",
        }
        sm.create_endpoint_config(EndpointConfigName="bench", ProductionVariants=[variant])
        sm.create_endpoint(EndpointName="bench", EndpointConfigName="bench")
        sm.get_waiter("endpoint_in_service").wait(EndpointName="bench", WaiterConfig={"Delay": 0.2})
        plane.serving.metrics.record_samples = samples
        print(f"READY {plane.url}", flush=True)
        sys.stdin.read()  # the parent closes stdin when it is done
    finally:
        plane.serving.metrics.record_samples = None
        plane.shutdown()
        moto.stop()
        Path(out).write_text(json.dumps(samples))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
