"""Send rows to an endpoint with the SageMaker Python SDK's Predictor and print the answers as JSON.

A client nobody here wrote, for the endpoint tests: run with .venv-sagemaker's python,

    .venv-sagemaker/bin/python tests/sdk_clients/predictor_roundtrip.py ENDPOINT_NAME \\
        --endpoint-url http://127.0.0.1:PORT --rows '[{"age": 0.03, ...}]' [--region us-east-1]

or with the rows as a JSON file (--rows @rows.json) or on stdin (--rows -). ENDPOINT_NAME and the
URL may come from SAGEMAKER_ENDPOINT_NAME / SAGEMAKER_RUNTIME_ENDPOINT_URL instead. It builds a
`sagemaker.Session` whose sagemaker-runtime client points at the URL, a
`sagemaker.predictor.Predictor` with the SDK's JSONSerializer / JSONDeserializer, sends the rows
in one InvokeEndpoint (--one-by-one: one call per row) and prints one JSON line per call:
{"request": rows, "response": answer}. A failed call prints the SDK's error and exits 1.
"""

from __future__ import annotations

import argparse
import json
import os
import sys

os.environ.setdefault("SAGEMAKER_SUPPRESS_V2_WARNING", "1")


def parse_args(argv=None) -> argparse.Namespace:
    env = os.environ.get
    p = argparse.ArgumentParser(prog="predictor_roundtrip.py", description=__doc__.splitlines()[0])
    p.add_argument(
        "endpoint_name",
        metavar="ENDPOINT_NAME",
        nargs="?",
        default=env("SAGEMAKER_ENDPOINT_NAME"),
        help="the endpoint (default: $SAGEMAKER_ENDPOINT_NAME)",
    )
    p.add_argument(
        "--endpoint-url",
        default=env("SAGEMAKER_RUNTIME_ENDPOINT_URL"),
        help="sagemaker-runtime URL, e.g. http://127.0.0.1:23001 (default: $SAGEMAKER_RUNTIME_ENDPOINT_URL)",
    )
    p.add_argument("--sagemaker-url", default=env("SAGEMAKER_ENDPOINT_URL"), help="control-plane URL (optional)")
    p.add_argument("--region", default=env("AWS_DEFAULT_REGION", "us-east-1"))
    p.add_argument("--rows", default="-", help="JSON rows: inline, @file or - for stdin (default)")
    p.add_argument("--one-by-one", action="store_true", help="one InvokeEndpoint per row")
    p.add_argument("--check-imports", action="store_true", help="import the SDK, print what was found, exit")
    args = p.parse_args(argv)
    if not args.check_imports:
        if not args.endpoint_name:
            p.error("ENDPOINT_NAME is required (or set SAGEMAKER_ENDPOINT_NAME)")
        if not args.endpoint_url:
            p.error("--endpoint-url is required (or set SAGEMAKER_RUNTIME_ENDPOINT_URL)")
    return args


def read_rows(spec: str):
    if spec == "-":
        text = sys.stdin.read()
    elif spec.startswith("@"):
        with open(spec[1:]) as fh:
            text = fh.read()
    else:
        text = spec
    rows = json.loads(text)
    return rows if isinstance(rows, list) else [rows]


def predictor(args):
    import boto3
    import sagemaker
    from sagemaker.deserializers import JSONDeserializer
    from sagemaker.predictor import Predictor
    from sagemaker.serializers import JSONSerializer

    boto_session = boto3.Session(region_name=args.region)
    runtime = boto_session.client("sagemaker-runtime", endpoint_url=args.endpoint_url)
    control = boto_session.client("sagemaker", endpoint_url=args.sagemaker_url) if args.sagemaker_url else None
    session = sagemaker.Session(boto_session=boto_session, sagemaker_client=control, sagemaker_runtime_client=runtime)
    return Predictor(
        args.endpoint_name, sagemaker_session=session, serializer=JSONSerializer(), deserializer=JSONDeserializer()
    )


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.check_imports:
        from sagemaker.predictor import Predictor

        print(json.dumps({"predictor": f"{Predictor.__module__}.{Predictor.__name__}"}))
        return 0
    rows = read_rows(args.rows)
    client = predictor(args)
    batches = [[row] for row in rows] if args.one_by_one else [rows]
    for batch in batches:
        try:
            answer = client.predict(batch)
        except Exception as err:  # the SDK's botocore error, printed for the test to read
            print(json.dumps({"request": batch, "error": f"{type(err).__name__}: {err}"}), flush=True)
            return 1
        print(json.dumps({"request": batch, "response": answer}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
