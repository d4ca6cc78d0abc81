"""The stack's secrets on disk are its owner's only (issue 10): admin password, JWT secret, env file."""

from __future__ import annotations

import json
import os
import stat

import pytest

from embedded_stack import stack
from embedded_stack.paths import StackConfig, read_private, write_private


def mode(path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def open_umask():
    """The most permissive usual umask: files would be 0644 unless made private."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def test_the_secrets_the_stack_writes_are_the_owners_only(tmp_path, open_umask):
    cfg = StackConfig(state=tmp_path / "state", pg_port=21432, moto_port=21500, airflow_port=21080)
    env = stack.pipeline_env(cfg)
    stack.write_env_file(cfg, env)
    password = stack.admin_password(cfg)

    files = {
        cfg.state / "jwt_secret": env["AIRFLOW__API_AUTH__JWT_SECRET"],
        cfg.env_file: f'export AIRFLOW__API_AUTH__JWT_SECRET="{env["AIRFLOW__API_AUTH__JWT_SECRET"]}"',
        cfg.airflow_home / "passwords.json": password,
    }
    for path, secret in files.items():
        assert mode(path) == 0o600, path
        assert secret in path.read_text()
    assert (mode(cfg.state), mode(cfg.airflow_home)) == (0o700, 0o700)
    assert json.loads((cfg.airflow_home / "passwords.json").read_text()) == {"admin": password}
    # Made once, then read: the same secrets on the next `make up`.
    assert stack.pipeline_env(cfg)["AIRFLOW__API_AUTH__JWT_SECRET"] == env["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert stack.admin_password(cfg) == password
    assert sorted(p.name for p in cfg.state.iterdir()) == ["airflow", "jwt_secret", "stack.env"]  # no temp files


def test_a_secret_an_older_stack_left_readable_is_narrowed_and_kept(tmp_path, open_umask):
    secret = tmp_path / "jwt_secret"
    secret.write_text("old-secret")
    secret.chmod(0o644)
    assert read_private(secret, lambda: "new-secret") == "old-secret"
    assert mode(secret) == 0o600


def test_rewriting_a_private_file_replaces_it_whole(tmp_path, open_umask):
    path = tmp_path / "stack.env"
    write_private(path, "export A=1\n")
    write_private(path, "export A=2\n")
    assert (path.read_text(), mode(path)) == ("export A=2\n", 0o600)
    assert [p.name for p in tmp_path.iterdir()] == ["stack.env"]
