"""The embedded stack, started once for the end-to-end tests in a temporary state folder on
free ports: real PostgreSQL, real moto server, real Airflow scheduler/dag-processor/
triggerer/api-server processes running this repo's DAGs.

Every test under tests/e2e/ carries the `e2e` mark (so `-m "not e2e"` leaves them out), and
the stack's environment is the fixture's, never copied into os.environ: tests take endpoints
and bucket names from `stack.cfg`/`stack.env`, or `stack_environ` for code that reads them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from pathlib import Path

import boto3
import pytest

from tests.conftest import free_port, server_state_dir


def _forget_default_credentials() -> None:
    """boto3's default session keeps the credentials it first resolved: after the environment's
    AWS keys change (the session's administrator, a test's pipeline key), clients made with
    `boto3.client(...)` must resolve them again, or an earlier test's key (`testing`, which the
    enforced stack refuses) is sent."""
    boto3.DEFAULT_SESSION = None


E2E_DIR = Path(__file__).parent


@pytest.hookimpl(tryfirst=True)  # before -m deselects
def pytest_collection_modifyitems(config, items):
    """A pytestmark here would mark nothing: marks in a conftest do not reach the test modules."""
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)


SOURCE_DAGS = ("ingest_clinic", "ingest_digits_drop")


@dataclass
class Stack:
    cfg: object
    env: dict
    api: object
    s3: object
    pg: dict

    def curated(self, prefix: str = "") -> dict[str, str]:
        from mlops.aws.s3 import list_keys

        return {o["Key"]: o["ETag"] for o in list_keys(self.s3, self.env["MLOPS_CURATED_BUCKET"], prefix)}

    def raw(self, prefix: str = "") -> dict[str, str]:
        from mlops.aws.s3 import list_keys

        return {o["Key"]: o["ETag"] for o in list_keys(self.s3, self.env["MLOPS_RAW_BUCKET"], prefix)}


@pytest.fixture(scope="session")
def stack():
    from embedded_stack import stack as st
    from embedded_stack.paths import StackConfig
    from embedded_stack.seed import seed_clinic

    state, remove_state = server_state_dir("stack")
    cfg = StackConfig(
        state=state,
        pg_port=free_port(),
        moto_port=free_port(),
        airflow_port=free_port(),
        sagemaker_port=free_port(),
    )
    env = st.up(cfg, quiet=True)
    # IAM is enforced: the DAGs run as the pipeline identity, the tests' own clients (boto3's
    # default chain) as the stack's administrator.
    admin = st.iam.admin_key(cfg) or st.iam.UNENFORCED
    patch = pytest.MonkeyPatch()
    patch.setenv("AWS_ACCESS_KEY_ID", admin["aws_access_key_id"])
    patch.setenv("AWS_SECRET_ACCESS_KEY", admin["aws_secret_access_key"])
    _forget_default_credentials()
    try:
        pg = {"host": "127.0.0.1", "port": cfg.pg_port, "user": "postgres", "dbname": "clinic"}
        seed_clinic(pg, date(2026, 10, 1), 21)
        api = st.api_client(cfg)
        for dag_id in SOURCE_DAGS:
            api.wait_for_dag(dag_id, timeout=180)
        assert api.import_errors() == []
        # Unpausing makes the scheduler run each DAG's latest interval (catchup is off); let
        # those finish before the tests drop files or start backfills.
        for dag_id in SOURCE_DAGS:
            api.set_paused(dag_id, False)
        for dag_id in SOURCE_DAGS:
            api.wait_runs(dag_id, 1, timeout=600)
        yield Stack(cfg, env, api, st.aws_client(cfg, "s3"), pg)
    finally:
        patch.undo()
        _forget_default_credentials()
        st.down(cfg)
        remove_state()


@pytest.fixture
def stack_environ(stack, monkeypatch):
    """The stack's MLOPS_*/AWS_* variables in os.environ for one test, undone after it."""
    for key, value in stack.env.items():
        if key.startswith(("MLOPS_", "AWS_")):
            monkeypatch.setenv(key, value)
    _forget_default_credentials()
    yield stack.env
    monkeypatch.undo()
    _forget_default_credentials()
