"""A model's deployment settings: the optional `deployment:` section of its file in include/models/.

    deployment:
      endpoint:
        kind: serverless          # instance | serverless
        memory_size_mb: 2048      # serverless: 1024, 2048, ..., 6144
        max_concurrency: 5        # serverless: 1-200 concurrent requests
        # instance_type: ml.m5.large   instance: the instance type
        # instance_count: 1            instance: how many instances
      data_capture:
        enabled: true             # every sampled request and answer as JSONL in S3
        sampling_percentage: 100  # 0-100
        prefix: data-capture      # under the artifacts bucket: s3://<artifacts>/<prefix>/<endpoint>/...

Without the section a model is served from one ml.m5.large instance with every request captured.
Parsed from the raw YAML here rather than in mlops.training.config (which only admits the key), so
training and deployment settings evolve apart. AWS does not capture data from serverless endpoints
(Serverless Inference's feature exclusions list data capture and Model Monitor), so that
combination is refused here rather than by CreateEndpointConfig on AWS.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from mlops.project import INCLUDE_DIR, ConfigError, load_yaml

MODELS_DIR = INCLUDE_DIR / "models"
KINDS = ("instance", "serverless")
SERVERLESS_MEMORY_MB = (1024, 2048, 3072, 4096, 5120, 6144)
SERVERLESS_MAX_CONCURRENCY = 200
_FIELDS = {
    "": {"endpoint", "data_capture"},
    "endpoint": {"kind", "instance_type", "instance_count", "memory_size_mb", "max_concurrency"},
    "data_capture": {"enabled", "sampling_percentage", "prefix"},
}
_PREFIX = re.compile(r"^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*$")  # S3 safe characters, no leading /


@dataclass(frozen=True)
class EndpointSettings:
    """How the production variant runs: on instances, or serverless."""

    kind: str = "instance"
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    memory_size_mb: int = 2048
    max_concurrency: int = 5

    def variant_resources(self) -> dict:
        """The ProductionVariant fields that choose the compute."""
        if self.kind == "serverless":
            return {"ServerlessConfig": {"MemorySizeInMB": self.memory_size_mb, "MaxConcurrency": self.max_concurrency}}
        return {"InstanceType": self.instance_type, "InitialInstanceCount": self.instance_count}


@dataclass(frozen=True)
class DataCaptureSettings:
    enabled: bool = True
    sampling_percentage: int = 100
    prefix: str = "data-capture"


@dataclass(frozen=True)
class DeploymentConfig:
    model: str
    endpoint: EndpointSettings = field(default_factory=EndpointSettings)
    data_capture: DataCaptureSettings = field(default_factory=DataCaptureSettings)


def _mapping(doc: dict, key: str, where: str) -> tuple[dict, str]:
    value = doc.get(key)
    value = {} if value is None else value
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: field '{key}' must be a mapping, got {value!r}")
    unknown = sorted(set(value) - _FIELDS[key])
    if unknown:
        raise ConfigError(f"{where}: {key}: unknown field '{unknown[0]}' (known: {', '.join(sorted(_FIELDS[key]))})")
    return value, f"{where}: {key}"


def _int(doc: dict, key: str, where: str, default: int, low: int, high: int) -> int:
    value = doc.get(key, default)
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ConfigError(f"{where}: field '{key}' must be an integer in [{low}, {high}], got {value!r}")
    return value


def parse_deployment(doc: dict, path: Path | None = None) -> DeploymentConfig:
    """The `deployment:` section of a model file (`doc` is the whole file), with defaults."""
    where = str(path) if path else "model config"
    if not isinstance(doc, dict) or not isinstance(doc.get("model"), str):
        raise ConfigError(f"{where}: expected a model file with a 'model' field")
    section = doc.get("deployment")
    section = {} if section is None else section
    if not isinstance(section, dict):
        raise ConfigError(f"{where}: field 'deployment' must be a mapping, got {section!r}")
    unknown = sorted(set(section) - _FIELDS[""])
    if unknown:
        raise ConfigError(f"{where}: deployment: unknown field '{unknown[0]}' (known: endpoint, data_capture)")
    where = f"{where}: deployment"

    ep, ew = _mapping(section, "endpoint", where)
    kind = ep.get("kind", "instance")
    if kind not in KINDS:
        raise ConfigError(f"{ew}: kind must be one of {KINDS}, got {kind!r}")
    if kind == "serverless":
        extra = sorted({"instance_type", "instance_count"} & set(ep))
        if extra:
            raise ConfigError(f"{ew}: {extra[0]} applies to kind 'instance'; serverless takes memory_size_mb")
        memory = ep.get("memory_size_mb", 2048)
        if memory not in SERVERLESS_MEMORY_MB:
            raise ConfigError(f"{ew}: memory_size_mb must be one of {SERVERLESS_MEMORY_MB}, got {memory!r}")
        endpoint = EndpointSettings(
            kind=kind,
            memory_size_mb=memory,
            max_concurrency=_int(ep, "max_concurrency", ew, 5, 1, SERVERLESS_MAX_CONCURRENCY),
        )
    else:
        extra = sorted({"memory_size_mb", "max_concurrency"} & set(ep))
        if extra:
            raise ConfigError(f"{ew}: {extra[0]} applies to kind 'serverless'; instance takes instance_type")
        instance_type = ep.get("instance_type", "ml.m5.large")
        if not isinstance(instance_type, str) or not re.match(r"^ml\.[a-z0-9]+\.[a-z0-9]+$", instance_type):
            raise ConfigError(f"{ew}: instance_type {instance_type!r} is not a SageMaker type like 'ml.m5.large'")
        endpoint = EndpointSettings(
            kind=kind, instance_type=instance_type, instance_count=_int(ep, "instance_count", ew, 1, 1, 100)
        )

    dc, dw = _mapping(section, "data_capture", where)
    enabled = dc.get("enabled", kind == "instance")
    if not isinstance(enabled, bool):
        raise ConfigError(f"{dw}: field 'enabled' must be true or false, got {enabled!r}")
    if enabled and kind == "serverless":
        raise ConfigError(
            f"{dw}: AWS does not capture data from serverless endpoints; set enabled: false or use kind: instance"
        )
    prefix = dc.get("prefix", "data-capture")
    if not isinstance(prefix, str) or not _PREFIX.match(prefix) or len(prefix) > 200:
        raise ConfigError(f"{dw}: prefix {prefix!r} must be an S3 key prefix like 'data-capture' (no leading '/')")
    capture = DataCaptureSettings(
        enabled=enabled, sampling_percentage=_int(dc, "sampling_percentage", dw, 100, 0, 100), prefix=prefix
    )
    return DeploymentConfig(model=doc["model"], endpoint=endpoint, data_capture=capture)


def load_deployment(model: str, directory: Path = MODELS_DIR) -> DeploymentConfig:
    """The deployment settings of `model` (include/models/<model>.yaml)."""
    path = directory / f"{model}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in directory.glob("*.yaml"))
        raise ConfigError(f"unknown model {model!r}: no {path.name} in {directory} (known: {', '.join(known)})")
    return load_yaml(path, parse_deployment)
