"""`python -m embedded_stack.sagemaker_local --port P --moto-url U --state DIR`: serve until SIGTERM/SIGINT."""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading

from embedded_stack.sagemaker_local import start_server


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m embedded_stack.sagemaker_local", description=__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument(
        "--moto-url", required=True, help="the moto server that stores S3, logs and other SageMaker data"
    )
    parser.add_argument("--state", required=True, help="folder for job records and job folders")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--region", default="us-east-1", help="for requests that carry no signature")
    parser.add_argument("--python", default=sys.executable, help="interpreter that runs the entry points")
    parser.add_argument("--max-concurrent-jobs", type=int, default=2)
    parser.add_argument(
        "--cold-start",
        action="store_true",
        help="start every entry point in a new Python process instead of forking the warm framework process",
    )
    parser.add_argument(
        "--flush-seconds", type=float, default=5, help="how often captured data, endpoint metrics and logs are written"
    )
    parser.add_argument("--max-model-servers", type=int, default=16, help="model server processes across endpoints")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    server = start_server(
        args.port,
        args.moto_url,
        args.state,
        host=args.host,
        python=args.python,
        region=args.region,
        max_concurrent_jobs=args.max_concurrent_jobs,
        warm_start=not args.cold_start,
        flush_seconds=args.flush_seconds,
        max_model_servers=args.max_model_servers,
    )
    done = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: done.set())
    logging.getLogger("embedded_stack.sagemaker_local").info(
        "SageMaker (training and hosting local, rest forwarded to %s) on %s", args.moto_url, server.url
    )
    done.wait()
    server.shutdown()
    return 0


if __name__ == "__main__":
    sys.exit(main())
