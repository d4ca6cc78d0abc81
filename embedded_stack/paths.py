"""Where the stack keeps its state (one git-ignored folder) and which ports it uses.

Default ports sit below Linux's ephemeral range (32768-60999): a server port inside it can be
taken by some client's outgoing connection just before the server binds.
"""

from __future__ import annotations

import os
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
