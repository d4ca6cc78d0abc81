"""Where the stack keeps its state (one git-ignored folder) and which ports it uses.

Default ports sit below Linux's ephemeral range (32768-60999): a server port inside it can be
taken by some client's outgoing connection just before the server binds.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


@dataclass(frozen=True)
class StackConfig:
    state: Path
    pg_port: int
    moto_port: int
    airflow_port: int
    sagemaker_port: int = 15510
    region: str = "us-east-1"
    account: str = "123456789012"

    @classmethod
    def from_env(cls) -> StackConfig:
        state = Path(os.environ.get("MLOPS_STATE_DIR", REPO / ".local")).resolve()
        return cls(
            state=state,
            pg_port=int(os.environ.get("MLOPS_PG_PORT", "15432")),
            moto_port=int(os.environ.get("MLOPS_MOTO_PORT", "15500")),
            airflow_port=int(os.environ.get("MLOPS_AIRFLOW_PORT", "18080")),
            sagemaker_port=int(os.environ.get("MLOPS_SAGEMAKER_PORT", "15510")),
        )

    @property
    def run_dir(self) -> Path:
        return self.state / "run"

    @property
    def log_dir(self) -> Path:
        return self.state / "logs"

    @property
    def pgdata(self) -> Path:
        return self.state / "pgdata"

    @property
    def airflow_home(self) -> Path:
        return self.state / "airflow"

    @property
    def aws_state(self) -> Path:
        """moto's snapshots and request log (embedded_stack.moto_state)."""
        return self.state / "aws"

    @property
    def env_file(self) -> Path:
        return self.state / "stack.env"

    @property
    def moto_url(self) -> str:
        return f"http://127.0.0.1:{self.moto_port}"

    @property
    def sagemaker_url(self) -> str:
        return f"http://127.0.0.1:{self.sagemaker_port}"

    @property
    def airflow_url(self) -> str:
        return f"http://127.0.0.1:{self.airflow_port}"

    def pg_uri(self, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_port}/{database}"


def private_dir(path: Path) -> Path:
    """A folder only its owner can enter (0700); one made by an older stack is narrowed."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        path.chmod(0o700)
    return path


def write_private(path: Path, data: bytes | str) -> None:
    """Write a file readable by its owner only (0600) from its first byte, atomically.

    It is created under a temporary name with mode 0600 (the umask can only narrow it), written,
    fsynced, then renamed over the target: a reader sees the old file or the new one, never a
    partial or world-readable one.
    """
    if isinstance(data, str):
        data = data.encode()
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        tmp.unlink(missing_ok=True)
        raise
    os.close(fd)
    os.replace(tmp, path)
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


def read_private(path: Path, make: Callable[[], str]) -> str:
    """The secret in `path`, made by `make()` on first use; a copy an older stack left readable is rewritten 0600."""
    if not path.exists():
        private_dir(path.parent)
        write_private(path, make())
    elif stat.S_IMODE(path.stat().st_mode) & 0o077:
        write_private(path, path.read_bytes())
    return path.read_text()
