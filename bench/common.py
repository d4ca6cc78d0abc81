"""Helpers shared by the benchmarks: child processes, result files, machine facts, text tables.

Every measurement runs in a fresh child process so that its timings do not profit from modules
another measurement already imported, and so that its peak RSS is its own.
"""

from __future__ import annotations

import json
import os
import platform
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = REPO / "bench" / "results"
# Ports an embedded stack started with `make up` may hold.
RESERVED_PORTS = {15432, 15500, 15510, 18080}
PACKAGES = (
    "apache-airflow",
    "apache-airflow-providers-amazon",
    "apache-airflow-providers-postgres",
    "adbc-driver-postgresql",
    "pyarrow",
    "pandas",
    "psycopg2-binary",
    "moto",
)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def free_port() -> int:
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port not in RESERVED_PORTS:
            return port


def peak_rss_mib() -> float:
    """Peak resident set size of the calling process (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def median(values) -> float:
    return statistics.median(values)


def child_env(workdir: Path, **extra: str) -> dict[str, str]:
    """Environment of a child: repo and plugins importable, a throw-away AIRFLOW_HOME, nothing inherited
    from a running embedded stack (its database, connections and buckets must not leak in).

    Bytecode goes to a private cache under `workdir` (PYTHONPYCACHEPREFIX): imports are timed with compiled
    bytecode, as on any deployment after its first start, yet nothing is written into the repository or
    the virtualenv, whatever PYTHONDONTWRITEBYTECODE says. The first child of a run fills the cache.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "MLOPS_"))
        and k not in ("AIRFLOW_HOME", "PYTHONDONTWRITEBYTECODE")
    }
    (workdir / "airflow").mkdir(parents=True, exist_ok=True)
    env.update(
        PYTHONPATH=os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
        PYTHONPYCACHEPREFIX=str(workdir / "pycache"),
        AIRFLOW_HOME=str(workdir / "airflow"),
        AIRFLOW__CORE__LOAD_EXAMPLES="False",
        AIRFLOW__CORE__DAGS_FOLDER=str(REPO / "dags"),
        AIRFLOW__CORE__PLUGINS_FOLDER=str(REPO / "plugins"),
    )
    env.update(extra)
    return env


def run_child(module: str, args: list[str], env: dict[str, str], timeout: float = 1800) -> dict:
    """Run `python -m module *args OUT` in a fresh interpreter; the child writes its result as JSON to OUT.

    A file rather than stdout, because Airflow and libraries log to stdout/stderr as they please."""
    with tempfile.NamedTemporaryFile(prefix="bench-", suffix=".json", delete=False) as fh:
        out = Path(fh.name)
    try:
        proc = subprocess.run(
            [sys.executable, "-m", module, *args, str(out)],
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if proc.returncode != 0 or not out.stat().st_size:
            tail = (proc.stderr or proc.stdout)[-3000:]
            raise RuntimeError(f"child {module} {' '.join(args)} failed (exit {proc.returncode}):\n{tail}")
        return json.loads(out.read_text())
    finally:
        out.unlink(missing_ok=True)


def write_child_result(path: str, doc: dict) -> None:
    Path(path).write_text(json.dumps(doc))


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def machine_info() -> dict:
    versions = {}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    try:
        import psutil

        memory_mib = round(psutil.virtual_memory().total / 2**20)
    except ImportError:
        memory_mib = None
    return {
        "cpu_count": os.cpu_count(),
        "cpu_affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": _cpu_model(),
        "memory_mib": memory_mib,
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "packages": versions,
    }


def write_results(name: str, doc: dict, results_dir: Path | None = None) -> Path:
    results_dir = results_dir or RESULTS_DIR
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / f"{name}.json"
    full = {"benchmark": name, "timestamp": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine_info()}
    full.update(doc)
    path.write_text(json.dumps(full, indent=2) + "\n")
    return path


def table(headers: list[str], rows: list[list]) -> str:
    """Plain text table: first column left-aligned, the others right-aligned."""
    cells = [headers, *[[str(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]

    def fmt(row):
        return "  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True)))

    rule = "  ".join("-" * w for w in widths)
    return "\n".join([fmt(cells[0]), rule, *[fmt(r) for r in cells[1:]]])


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"
