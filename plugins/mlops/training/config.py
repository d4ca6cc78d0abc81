"""Model configuration: one YAML file per model under `include/models/`.

A model file declares what to train (curated datasets, key, features, label, estimator and its
hyperparameters), how the candidate is judged (thresholds on test metrics, the primary metric on
which it must beat production, what happens when it fails) and when to retrain. One training DAG
is built per file, so adding a model needs no Python beyond an optional training entry point.
Loading validates the file and names the file and field in every error, like source configs.
"""

from __future__ import annotations

import json
import math
import operator
import re
from dataclasses import dataclass, field
from pathlib import Path

from mlops.project import INCLUDE_DIR, ConfigError, check_name, load_yaml, require

MODELS_DIR = INCLUDE_DIR / "models"
TRAINING_DIR = INCLUDE_DIR / "training"  # uploaded as the training job's source dir

PROBLEM_TYPES = ("regression", "classification")
ON_FAIL = ("reject", "manual")
# Only estimators from these packages may be named: the entry point imports the class by name.
ESTIMATOR_MODULES = ("sklearn.", "xgboost.")
# SageMaker framework containers that run the entry point in script mode, and default versions.
FRAMEWORK_VERSIONS = {"sklearn": "1.4-2", "xgboost": "1.7-1"}
# What the entry point reports on the test split per problem type, and which way is better.
METRICS = {
    "regression": {"mse": "min", "rmse": "min", "mae": "min", "r2": "max"},
    "classification": {"accuracy": "max", "f1_macro": "max", "top3_accuracy": "max"},
}
TOP_K = 3
HYPERPARAMETER_MAX_CHARS = 2500  # SageMaker's limit for one hyperparameter value

_ESTIMATOR = re.compile(r"^[a-z_][a-z0-9_]*(\.[a-z_][a-z0-9_]*)*\.[A-Za-z_][A-Za-z0-9_]*$")
_THRESHOLD = re.compile(r"^\s*(>=|<=|>|<)\s*([-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?)\s*$")
_OPS = {">=": operator.ge, "<=": operator.le, ">": operator.gt, "<": operator.lt}
_SECTIONS = {
    "": {"model", "description", "owner", "tags", "problem_type", "data", "estimator", "evaluation", "retrain"}
    | {"version", "training", "deployment"},  # deployment: parsed by mlops.deployment.config
    "data": {"datasets", "key", "features", "label", "split"},
    "data.split": {"validation", "test", "seed"},
    "estimator": {"class", "hyperparameters"},
    "evaluation": {"primary_metric", "direction", "thresholds", "on_fail"},
    "retrain": {"min_new_rows", "schedule"},
    "version": {"tag", "manual_revision"},
    "training": {"framework", "framework_version", "instance_type", "instance_count", "volume_size_gb"}
    | {"max_runtime_seconds", "entry_point"},
}


@dataclass(frozen=True)
class Threshold:
    """A bound a candidate's test metric must meet, e.g. `r2 >= 0.3`."""

    metric: str
    op: str
    value: float

    def holds(self, actual) -> bool:
        if not isinstance(actual, (int, float)) or math.isnan(actual):
            return False
        return _OPS[self.op](actual, self.value)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


@dataclass(frozen=True)
class SplitConfig:
    """Fractions of keys in validation and test; the rest trains. `seed` salts the key hash."""

    validation: float = 0.15
    test: float = 0.2
    seed: int = 0

    @property
    def train(self) -> float:
        return 1.0 - self.validation - self.test


@dataclass(frozen=True)
class TrainingJobConfig:
    """The SageMaker training job: framework container, instances, entry point in include/training/."""

    framework: str
    framework_version: str
    instance_type: str = "ml.m5.large"
    instance_count: int = 1
    volume_size_gb: int = 10
    max_runtime_seconds: int = 3600
    entry_point: str = "train.py"

    @property
    def source_dir(self) -> Path:
        return TRAINING_DIR

    @property
    def entry_point_path(self) -> Path:
        return TRAINING_DIR / self.entry_point


@dataclass(frozen=True)
class ModelConfig:
    """One model file, validated. `train_args()` is the contract with the entry point."""

    name: str
    description: str
    problem_type: str
    datasets: tuple[str, ...]
    key: str
    features: tuple[str, ...]
    label: str
    estimator: str
    primary_metric: str
    direction: str
    training: TrainingJobConfig
    hyperparameters: dict = field(default_factory=dict)
    split: SplitConfig = SplitConfig()
    thresholds: tuple[Threshold, ...] = ()
    on_fail: str = "manual"
    retrain_min_new_rows: int = 100
    schedule: tuple[str, ...] = ()
    version: str = "1.0"
    manual_revision: int = 0
    owner: str = "data-science"
    tags: tuple[str, ...] = ()
    path: Path | None = None

    @property
    def dag_id(self) -> str:
        return f"train_{self.name}"

    def train_args(self) -> dict[str, str]:
        """The entry point's command-line arguments (`--<name> <value>`), as plain strings."""
        args = {
            "problem-type": self.problem_type,
            "estimator": self.estimator,
            "features": ",".join(self.features),
            "label": self.label,
            "estimator-params": json.dumps(self.hyperparameters, sort_keys=True, separators=(",", ":")),
            "seed": str(self.split.seed),
            "model-name": self.name,
            "model-version": f"{self.version}+r{self.manual_revision}",
        }
        if self.problem_type == "classification":
            args["top-k"] = str(TOP_K)
        return args

    def train_argv(self) -> list[str]:
        """`train_args()` as an argv list, for running the entry point with plain `python`."""
        return [item for name, value in self.train_args().items() for item in (f"--{name}", value)]

    def sagemaker_hyperparameters(self, submit_directory: str, region: str) -> dict[str, str]:
        """`HyperParameters` of CreateTrainingJob for script mode.

        Every value is JSON-encoded, as the SageMaker Python SDK does: the training toolkit
        JSON-decodes all values before turning them into `--name value` arguments, and would
        otherwise turn the estimator-params JSON object into `k=v,k=v`.
        """
        values: dict[str, object] = dict(self.train_args())
        values.update(
            sagemaker_program=self.training.entry_point,
            sagemaker_submit_directory=submit_directory,
            sagemaker_region=region,
            sagemaker_container_log_level=20,  # an int: the toolkit hands it to logging.setLevel
        )
        return {name: json.dumps(value) for name, value in values.items()}


def _known(doc: dict, section: str, where: str) -> None:
    unknown = sorted(set(doc) - _SECTIONS[section])
    if unknown:
        raise ConfigError(f"{where}: unknown field '{unknown[0]}' (known: {', '.join(sorted(_SECTIONS[section]))})")


def _section(doc: dict, key: str, where: str, section: str, required: bool = True) -> tuple[dict, str]:
    """A nested mapping of the file, checked for unknown fields; returns it and its error prefix."""
    value = doc.get(key)
    if value is None and not required:
        value = {}
    if not isinstance(value, dict):
        raise ConfigError(f"{where}: field '{key}' must be a mapping, got {value!r}")
    _known(value, section, f"{where}: {key}")
    return value, f"{where}: {key}"


def _names(value, where: str, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: {what} must be a non-empty list of names, got {value!r}")
    if len(set(value)) != len(value):
        raise ConfigError(f"{where}: {what} lists a name twice: {value!r}")
    return tuple(value)


def _number(doc: dict, key: str, where: str, default, kind: type = float, low: float = 0, high: float = math.inf):
    value = doc.get(key, default)
    ok = isinstance(value, int if kind is int else (int, float)) and not isinstance(value, bool)
    if not ok or not low <= value <= high:
        raise ConfigError(f"{where}: field '{key}' must be {kind.__name__} in [{low}, {high}], got {value!r}")
    return kind(value)


def _threshold(metric: str, spec, where: str, known: dict) -> Threshold:
    if metric not in known:
        raise ConfigError(f"{where}: thresholds.{metric}: unknown metric; known: {', '.join(known)}")
    m = _THRESHOLD.match(str(spec)) if isinstance(spec, str) else None
    if not m:
        raise ConfigError(f"{where}: thresholds.{metric}: expected a comparison like '>= 0.3', got {spec!r}")
    return Threshold(metric, m.group(1), float(m.group(2)))


def parse_model(doc: dict, path: Path | None = None) -> ModelConfig:
    where = str(path) if path else "model config"
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: expected a mapping at the top level")
    _known(doc, "", where)
    name = check_name(require(doc, "model", where), where, "model")
    problem_type = require(doc, "problem_type", where)
    if problem_type not in PROBLEM_TYPES:
        raise ConfigError(f"{where}: problem_type must be one of {PROBLEM_TYPES}, got {problem_type!r}")
    metrics = METRICS[problem_type]

    data, dw = _section(doc, "data", where, "data")
    datasets = _names(data.get("datasets"), dw, "datasets")
    for d in datasets:
        check_name(d, dw, "dataset")
    key = require(data, "key", dw)
    features = _names(require(data, "features", dw, list), dw, "features")
    label = require(data, "label", dw)
    for column, what in ((label, "label"), (key, "key")):
        if column in features:
            raise ConfigError(f"{dw}: the {what} column {column!r} must not be among the features")
    if label == key:
        raise ConfigError(f"{dw}: label and key are the same column {key!r}")
    raw_split, sw = _section(data, "split", dw, "data.split", required=False)
    split = SplitConfig(
        validation=_number(raw_split, "validation", sw, 0.15, high=0.9),
        test=_number(raw_split, "test", sw, 0.2, low=0.01, high=0.9),
        seed=_number(raw_split, "seed", sw, 0, kind=int),
    )
    if split.train < 0.1:
        raise ConfigError(f"{sw}: validation + test leave {split.train:.0%} of rows to train; keep at least 10%")

    est, ew = _section(doc, "estimator", where, "estimator")
    estimator = require(est, "class", ew)
    if not _ESTIMATOR.match(estimator) or not estimator.startswith(ESTIMATOR_MODULES):
        raise ConfigError(
            f"{ew}: class {estimator!r} must be a dotted class path from {', '.join(m + '*' for m in ESTIMATOR_MODULES)}"
        )
    hyperparameters = est.get("hyperparameters") or {}
    if not isinstance(hyperparameters, dict) or not all(isinstance(k, str) for k in hyperparameters):
        raise ConfigError(f"{ew}: hyperparameters must be a mapping of parameter names to values")

    ev, vw = _section(doc, "evaluation", where, "evaluation")
    primary = require(ev, "primary_metric", vw)
    if primary not in metrics:
        raise ConfigError(f"{vw}: primary_metric {primary!r} is not a {problem_type} metric; one of {list(metrics)}")
    direction = ev.get("direction", metrics[primary])
    if direction not in ("min", "max"):
        raise ConfigError(f"{vw}: direction must be 'min' (lower is better) or 'max', got {direction!r}")
    raw_thresholds = ev.get("thresholds") or {}
    if not isinstance(raw_thresholds, dict):
        raise ConfigError(f"{vw}: thresholds must be a mapping like {{r2: '>= 0.3'}}")
    thresholds = tuple(_threshold(m, s, vw, metrics) for m, s in raw_thresholds.items())
    on_fail = ev.get("on_fail", "manual")
    if on_fail not in ON_FAIL:
        raise ConfigError(f"{vw}: on_fail must be one of {ON_FAIL}, got {on_fail!r}")

    retrain, rw = _section(doc, "retrain", where, "retrain", required=False)
    schedule = _names(retrain.get("schedule", list(datasets)), rw, "schedule")
    for d in schedule:
        check_name(d, rw, "schedule dataset")
    version, verw = _section(doc, "version", where, "version", required=False)
    tag = str(version.get("tag", "1.0"))
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", tag):
        raise ConfigError(f"{verw}: tag {tag!r} may hold letters, digits, '.', '_' and '-' only")

    tr, tw = _section(doc, "training", where, "training", required=False)
    framework = tr.get("framework", "xgboost" if estimator.startswith("xgboost.") else "sklearn")
    if framework not in FRAMEWORK_VERSIONS:
        raise ConfigError(f"{tw}: framework must be one of {tuple(FRAMEWORK_VERSIONS)}, got {framework!r}")
    if estimator.startswith("xgboost.") and framework != "xgboost":
        raise ConfigError(
            f"{tw}: estimator {estimator} needs framework 'xgboost' (the sklearn container has no XGBoost)"
        )
    training = TrainingJobConfig(
        framework=framework,
        framework_version=str(tr.get("framework_version", FRAMEWORK_VERSIONS[framework])),
        instance_type=str(tr.get("instance_type", "ml.m5.large")),
        instance_count=_number(tr, "instance_count", tw, 1, kind=int, low=1),
        volume_size_gb=_number(tr, "volume_size_gb", tw, 10, kind=int, low=1),
        max_runtime_seconds=_number(tr, "max_runtime_seconds", tw, 3600, kind=int, low=60),
        entry_point=str(tr.get("entry_point", "train.py")),
    )
    if not training.instance_type.startswith("ml."):
        raise ConfigError(f"{tw}: instance_type {training.instance_type!r} is not a SageMaker type like 'ml.m5.large'")
    if "/" in training.entry_point or not training.entry_point_path.is_file():
        raise ConfigError(f"{tw}: entry_point {training.entry_point!r} is not a file in {TRAINING_DIR}")

    cfg = ModelConfig(
        name=name,
        description=require(doc, "description", where),
        problem_type=problem_type,
        datasets=datasets,
        key=key,
        features=features,
        label=label,
        estimator=estimator,
        primary_metric=primary,
        direction=direction,
        training=training,
        hyperparameters=hyperparameters,
        split=split,
        thresholds=thresholds,
        on_fail=on_fail,
        retrain_min_new_rows=_number(retrain, "min_new_rows", rw, 100, kind=int),
        schedule=schedule,
        version=tag,
        manual_revision=_number(version, "manual_revision", verw, 0, kind=int),
        owner=str(doc.get("owner", "data-science")),
        tags=tuple(doc.get("tags", ())),
        path=path,
    )
    for arg, value in cfg.train_args().items():
        if len(json.dumps(value)) > HYPERPARAMETER_MAX_CHARS:
            field_name = {"features": "data.features", "estimator-params": "estimator.hyperparameters"}.get(arg, arg)
            raise ConfigError(
                f"{where}: {field_name} is too long for a SageMaker hyperparameter ({HYPERPARAMETER_MAX_CHARS} chars max)"
            )
    return cfg


def load_model(path: Path) -> ModelConfig:
    return load_yaml(path, parse_model)


def load_models(directory: Path = MODELS_DIR) -> list[ModelConfig]:
    return [load_model(p) for p in sorted(directory.glob("*.yaml"))]
