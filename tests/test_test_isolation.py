"""The test suite's own isolation: the e2e mark selects, test ports avoid the ephemeral range."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from tests.conftest import TEST_PORT_RANGE, free_port, port_is_free

REPO = Path(__file__).resolve().parents[1]


def collect(*args: str) -> list[str]:
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-q", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)])},
    )
    assert out.returncode in (0, 5), out.stdout + out.stderr  # 5: everything deselected
    return [line for line in out.stdout.splitlines() if "::" in line]


def test_the_e2e_mark_selects_and_deselects_every_e2e_test():
    paths = ["tests/e2e", "tests/unit/test_stack_secrets.py"]
    with ThreadPoolExecutor(2) as pool:  # two collecting interpreters side by side: each mostly imports
        e2e, others = pool.map(lambda mark: collect("-m", mark, *paths), ("e2e", "not e2e"))
    assert e2e and all(t.startswith("tests/e2e/") for t in e2e)
    assert others and not any(t.startswith("tests/e2e/") for t in others)
    e2e_modules = {p.relative_to(REPO).as_posix() for p in (REPO / "tests/e2e").glob("test_*.py")}
    assert {t.split("::")[0] for t in e2e} == e2e_modules


def test_test_ports_are_free_distinct_and_below_the_ephemeral_range():
    ports = [free_port() for _ in range(50)]
    assert len(set(ports)) == 50
    assert all(TEST_PORT_RANGE[0] <= p <= TEST_PORT_RANGE[1] < 32768 for p in ports)
    assert all(port_is_free(p) for p in ports)
