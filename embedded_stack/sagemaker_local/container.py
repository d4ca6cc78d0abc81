"""The SageMaker training-container contract, as the sagemaker-training toolkit implements it.

A job folder stands in for the container's /opt/ml (the toolkit's own `SAGEMAKER_BASE_DIR` override
points at it, so scripts that import `sagemaker_training` see the same paths). Names, file contents,
`SM_*` variables and the script's command line follow the toolkit's `environment.py`, `mapping.py`
and `params.py` (https://github.com/aws/sagemaker-training-toolkit, ENVIRONMENT_VARIABLES.md).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

CURRENT_HOST = "algo-1"
INSTANCE_GROUP = "homogeneousCluster"
# Hyperparameters the toolkit keeps for itself (params.SAGEMAKER_HYPERPARAMETERS); every other
# `sagemaker_` one is a framework parameter; the rest are the user's and become script arguments.
SAGEMAKER_HYPERPARAMETERS = (
    "sagemaker_program",
    "sagemaker_submit_directory",
    "sagemaker_enable_cloudwatch_metrics",
    "sagemaker_region",
    "sagemaker_container_log_level",
    "sagemaker_job_name",
    "default_user_module_name",
    "_tuning_objective_metric",
    "sagemaker_s3_output",
)
FAILURE_REASON_MAX = 1024  # DescribeTrainingJob.FailureReason length limit


@dataclass(frozen=True)
class Layout:
    """The /opt/ml tree of one job."""

    root: Path

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def input_config_dir(self) -> Path:
        return self.input_dir / "config"

    @property
    def model_dir(self) -> Path:
        return self.root / "model"

    @property
    def code_dir(self) -> Path:
        return self.root / "code"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"

    @property
    def output_data_dir(self) -> Path:
        return self.output_dir / "data"

    @property
    def output_intermediate_dir(self) -> Path:
        return self.output_dir / "intermediate"

    @property
    def failure_file(self) -> Path:
        return self.output_dir / "failure"

    def channel_dir(self, channel: str) -> Path:
        return self.input_dir / "data" / channel

    def create(self, channels: list[str]) -> None:
        for d in (self.input_config_dir, self.model_dir, self.code_dir, self.output_data_dir):
            d.mkdir(parents=True, exist_ok=True)
        for c in channels:
            self.channel_dir(c).mkdir(parents=True, exist_ok=True)


def decode_hyperparameters(raw: dict[str, str]) -> dict[str, Any]:
    """JSON-decode each value, keeping the string when it is not JSON (toolkit read_hyperparameters)."""
    out = {}
    for k, v in raw.items():
        try:
            out[k] = json.loads(v)
        except (ValueError, TypeError):
            out[k] = v
    return out


def split_hyperparameters(decoded: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(SageMaker's own `sagemaker_*` parameters, the user's hyperparameters)."""
    ours = {k: v for k, v in decoded.items() if k in SAGEMAKER_HYPERPARAMETERS or k.startswith("sagemaker_")}
    return ours, {k: v for k, v in decoded.items() if k not in ours}


def _decode(value: Any) -> str:
    return "" if value is None else str(value)


def to_cmd_args(mapping: dict[str, Any]) -> list[str]:
    """Sorted `--name value` pairs (`-n` for one-letter names; dicts as `k=v,k=v`), as mapping.to_cmd_args."""
    args = []
    for key in sorted(mapping):
        name = _decode(key)
        value = mapping[key]
        args.append(f"--{name}" if len(name) > 1 else f"-{name}")
        args.append(
            ",".join(f"{k}={v}" for k, v in sorted(value.items())) if hasattr(value, "items") else _decode(value)
        )
    return args


def to_env_vars(mapping: dict[str, Any]) -> dict[str, str]:
    """`SM_<KEY>`: strings as they are, None as "", anything else compact sorted JSON (mapping.to_env_vars)."""

    def value(v: Any) -> str:
        if v is None:
            return ""
        if isinstance(v, str):
            return v
        return json.dumps(v, sort_keys=True, separators=(",", ":"), ensure_ascii=True)

    return {f"SM_{str(k).upper()}": value(v) for k, v in mapping.items()}


def resource_config(instance_type: str) -> dict[str, Any]:
    """/opt/ml/input/config/resourceconfig.json of a one-instance job."""
    return {
        "current_host": CURRENT_HOST,
        "current_instance_type": instance_type,
        "current_group_name": INSTANCE_GROUP,
        "hosts": [CURRENT_HOST],
        "instance_groups": [
            {"instance_group_name": INSTANCE_GROUP, "instance_type": instance_type, "hosts": [CURRENT_HOST]}
        ],
        "network_interface_name": "eth0",
    }


def input_data_config(request: dict) -> dict[str, dict]:
    """/opt/ml/input/config/inputdataconfig.json: per channel, its input mode and S3 settings."""
    default_mode = request["AlgorithmSpecification"].get("TrainingInputMode", "File")
    out = {}
    for ch in request.get("InputDataConfig", []):
        s3 = ch["DataSource"].get("S3DataSource", {})
        entry = {
            "TrainingInputMode": ch.get("InputMode", default_mode),
            "S3DistributionType": s3.get("S3DataDistributionType", "FullyReplicated"),
            "RecordWrapperType": ch.get("RecordWrapperType", "None"),
        }
        if "ContentType" in ch:
            entry["ContentType"] = ch["ContentType"]
        out[ch["ChannelName"]] = entry
    return out


def config_files(request: dict) -> dict[str, Any]:
    """The three files SageMaker writes into /opt/ml/input/config before the container starts."""
    return {
        "hyperparameters.json": request.get("HyperParameters", {}),
        "resourceconfig.json": resource_config(request["ResourceConfig"]["InstanceType"]),
        "inputdataconfig.json": input_data_config(request),
    }


def script_args(request: dict) -> list[str]:
    _, user = split_hyperparameters(decode_hyperparameters(request.get("HyperParameters", {})))
    return to_cmd_args(user)


def sm_environment(layout: Layout, request: dict, num_cpus: int) -> dict[str, str]:
    """The SM_* variables of the toolkit's Environment.to_env_vars() for this job."""
    framework, hps = split_hyperparameters(decode_hyperparameters(request.get("HyperParameters", {})))
    program = framework.get("sagemaker_program")
    instance_type = request["ResourceConfig"]["InstanceType"]
    rc = resource_config(instance_type)
    idc = input_data_config(request)
    channels = {name: str(layout.channel_dir(name)) for name in idc}
    group = {"instance_group_name": INSTANCE_GROUP, "instance_type": instance_type, "hosts": [CURRENT_HOST]}
    module_name = program[:-3] if isinstance(program, str) and program.endswith(".py") else program
    env: dict[str, Any] = {
        "additional_framework_parameters": {k: v for k, v in framework.items() if k not in SAGEMAKER_HYPERPARAMETERS},
        "channel_input_dirs": channels,
        "current_host": CURRENT_HOST,
        "current_instance_group": INSTANCE_GROUP,
        "current_instance_group_hosts": [CURRENT_HOST],
        "current_instance_type": instance_type,
        "distribution_hosts": [],
        "distribution_instance_groups": [],
        "framework_module": None,
        "hosts": [CURRENT_HOST],
        "hyperparameters": hps,
        "input_config_dir": str(layout.input_config_dir),
        "input_data_config": idc,
        "input_dir": str(layout.input_dir),
        "instance_groups": [INSTANCE_GROUP],
        "instance_groups_dict": {INSTANCE_GROUP: group},
        "is_hetero": False,
        "is_master": True,
        "job_name": request["TrainingJobName"],
        "log_level": framework.get("sagemaker_container_log_level", 20),
        "master_hostname": CURRENT_HOST,
        "model_dir": str(layout.model_dir),
        "module_dir": str(framework.get("sagemaker_submit_directory", layout.code_dir)),
        "module_name": module_name,
        "network_interface_name": "eth0",
        "num_cpus": num_cpus,
        "num_gpus": 0,
        "output_data_dir": str(layout.output_data_dir),
        "output_dir": str(layout.output_dir),
        "output_intermediate_dir": str(layout.output_intermediate_dir),
        "resource_config": rc,
        "user_entry_point": program,
    }
    top = {
        k: env[k]
        for k in (
            "hosts",
            "network_interface_name",
            "current_host",
            "current_instance_type",
            "current_instance_group",
            "current_instance_group_hosts",
            "instance_groups",
            "instance_groups_dict",
            "distribution_instance_groups",
            "is_hetero",
            "module_name",
            "log_level",
            "framework_module",
            "input_dir",
            "input_config_dir",
            "output_dir",
            "num_cpus",
            "num_gpus",
            "model_dir",
            "module_dir",
            "output_data_dir",
            "output_intermediate_dir",
            "resource_config",
            "input_data_config",
            "user_entry_point",
        )
    }
    top |= {
        "hps": hps,
        "framework_params": env["additional_framework_parameters"],
        "channels": sorted(channels),
        "training_env": env,
        "user_args": to_cmd_args(hps),
    }
    top |= {f"channel_{name}": path for name, path in channels.items()}
    top |= {f"hp_{k}": v for k, v in hps.items()}
    return to_env_vars(top)


def entry_point_command(python: str, program: str, args: list[str]) -> list[str]:
    """How the toolkit's ProcessRunner starts a program: Python files with Python, others as executables."""
    if program.endswith(".py"):
        return [python, program, *args]
    return ["/bin/sh", "-c", f"./{program} {' '.join(args)}"]


def failure_reason(layout: Layout, returncode: int, stderr_tail: str, command: list[str]) -> str:
    """FailureReason of a failed script: what it wrote to /opt/ml/output/failure, else the toolkit's
    ExecuteUserScriptError text (which it writes there) with as much of stderr's end as fits."""
    written = layout.failure_file.read_text(errors="replace").strip() if layout.failure_file.exists() else ""
    if written:
        return ("AlgorithmError: " + written)[:FAILURE_REASON_MAX]
    head = f'AlgorithmError: ExecuteUserScriptError:\nExitCode {returncode}\nErrorMessage "'
    tail = f'"\nCommand "{" ".join(command)}"'
    room = max(FAILURE_REASON_MAX - len(head) - len(tail), 200)
    message = stderr_tail.strip()
    if len(message) > room:
        message = "…" + message[-(room - 1) :]
    text = (head + message + tail)[:FAILURE_REASON_MAX]
    layout.failure_file.write_text(text.removeprefix("AlgorithmError: "))
    return text
