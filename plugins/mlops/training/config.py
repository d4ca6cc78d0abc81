"""Model configuration: one YAML file per model under `include/models/`.

A model file declares what to train (curated datasets, key, features, label, estimator and its
hyperparameters), how the candidate is judged (thresholds on test metrics, the primary metric on
which it must beat production, what happens when it fails) and when to retrain. One training DAG
is built per file, so adding a model needs no Python beyond an optional training entry point.

`ModelFile` is the file's shape as pydantic models (mlops.project.FileModel: unknown keys refused,
no coercion), so every error names the file and the field path (`evaluation.thresholds.r2`).
`ModelConfig` is the flat, frozen view the rest of the library uses.
"""

from __future__ import annotations

import json
import math
import operator
import re
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic.dataclasses import dataclass

from mlops.project import (
    INCLUDE_DIR,
    ConfigError,
    FileModel,
    Listed,
    Name,
    Text,
    field_problems,
    load_yaml,
    non_empty,
    validate,
)

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

__all__ = ["ConfigError", "ModelConfig", "SplitConfig", "Threshold", "TrainingJobConfig"]


def _unique(names: tuple[str, ...]) -> tuple[str, ...]:
    twice = sorted({n for n in names if names.count(n) > 1})
    if twice:
        raise ValueError(f"lists {', '.join(repr(n) for n in twice)} twice")
    return names


def _one_or_many(value):
    """`datasets: diabetes_patients` is one dataset."""
    return [value] if isinstance(value, str) else value


def _empty_is_default(value):
    """`hyperparameters:` with nothing after it is no hyperparameters."""
    return {} if value is None else value


def _comparison(spec: str) -> str:
    if not _THRESHOLD.match(spec):
        raise ValueError(f"expected a comparison like '>= 0.3' (one of >=, <=, >, < and a number), got {spec!r}")
    return spec


Names = Annotated[Listed[Name], BeforeValidator(_one_or_many), AfterValidator(non_empty), AfterValidator(_unique)]
Columns = Annotated[Listed[Text], AfterValidator(non_empty), AfterValidator(_unique)]


class Threshold(FileModel):
    """A bound a candidate's test metric must meet, e.g. `r2 >= 0.3`."""

    metric: str
    op: Literal[">=", "<=", ">", "<"]
    value: float

    def holds(self, actual) -> bool:
        if not isinstance(actual, (int, float)) or math.isnan(actual):
            return False
        return _OPS[self.op](actual, self.value)

    def __str__(self) -> str:
        return f"{self.metric} {self.op} {self.value:g}"


class SplitConfig(FileModel):
    """Fractions of keys in validation and test; the rest trains. `seed` salts the key hash."""

    validation: float = Field(0.15, ge=0, le=0.9)
    test: float = Field(0.2, ge=0.01, le=0.9)
    seed: int = Field(0, ge=0)

    @property
    def train(self) -> float:
        return 1.0 - self.validation - self.test

    @model_validator(mode="after")
    def _enough_to_train(self):
        if self.train < 0.1:
            message = f"validation + test leave {self.train:.0%} of rows to train; keep at least 10%"
            field_problems("SplitConfig", [((), message, None)])
        return self


class TrainingJobConfig(FileModel):
    """The SageMaker training job: framework container, instances, entry point in include/training/."""

    framework: Literal["sklearn", "xgboost"]
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


class DataSection(FileModel):
    datasets: Names  # curated datasets, stacked (same columns); latest row per key
    key: Text
    features: Columns
    label: Text
    split: SplitConfig = SplitConfig()

    @model_validator(mode="after")
    def _distinct_columns(self):
        problems = [
            ((what,), f"the {what} column {column!r} must not be among the features", column)
            for what, column in (("label", self.label), ("key", self.key))
            if column in self.features
        ]
        if self.label == self.key:
            problems.append((("label",), f"label and key are the same column {self.key!r}", self.label))
        field_problems("DataSection", problems)
        return self


class EstimatorSection(FileModel):
    class_: str = Field(alias="class")
    hyperparameters: Annotated[dict[str, Any], BeforeValidator(_empty_is_default)] = {}

    @field_validator("class_")
    @classmethod
    def _importable_name(cls, value: str) -> str:
        if not _ESTIMATOR.match(value) or not value.startswith(ESTIMATOR_MODULES):
            allowed = ", ".join(m + "*" for m in ESTIMATOR_MODULES)
            raise ValueError(f"{value!r} must be a dotted class path from {allowed} (e.g. sklearn.linear_model.Ridge)")
        return value


class EvaluationSection(FileModel):
    primary_metric: str
    direction: Literal["min", "max"] | None = None  # the metric's own direction by default
    thresholds: Annotated[
        dict[str, Annotated[str, AfterValidator(_comparison)]], BeforeValidator(_empty_is_default)
    ] = {}
    on_fail: Literal["reject", "manual"] = "manual"


class RetrainSection(FileModel):
    min_new_rows: int = Field(100, ge=0)  # fewer new curated rows since the last training: skip
    schedule: Names | None = None  # curated Assets whose updates trigger the DAG; the datasets by default


class VersionSection(FileModel):
    tag: str = "1.0"
    manual_revision: int = Field(0, ge=0)

    @field_validator("tag")
    @classmethod
    def _version_like(cls, value: str) -> str:
        if not re.match(r"^[A-Za-z0-9][A-Za-z0-9._-]*$", value):
            raise ValueError(f"{value!r} may hold letters, digits, '.', '_' and '-' only")
        return value


class TrainingSection(FileModel):
    framework: Literal["sklearn", "xgboost"] | None = None  # from the estimator's package by default
    framework_version: str | None = None  # FRAMEWORK_VERSIONS by default
    instance_type: str = "ml.m5.large"
    instance_count: int = Field(1, ge=1)
    volume_size_gb: int = Field(10, ge=1)
    max_runtime_seconds: int = Field(3600, ge=60)
    entry_point: str = "train.py"

    @field_validator("instance_type")
    @classmethod
    def _sagemaker_type(cls, value: str) -> str:
        if not value.startswith("ml."):
            raise ValueError(f"{value!r} is not a SageMaker instance type like 'ml.m5.large'")
        return value

    @field_validator("entry_point")
    @classmethod
    def _in_training_dir(cls, value: str) -> str:
        if "/" in value or not (TRAINING_DIR / value).is_file():
            raise ValueError(f"{value!r} is not a file in {TRAINING_DIR}")
        return value


def _too_long(value: str) -> bool:
    return len(json.dumps(value)) > HYPERPARAMETER_MAX_CHARS


class ModelFile(FileModel):
    """One model file as written."""

    model: Name  # the DAG is train_<model>; the file is <model>.yaml
    description: Text
    owner: Text = "data-science"
    tags: Listed[str] = ()
    problem_type: Literal["regression", "classification"]
    data: DataSection
    estimator: EstimatorSection
    evaluation: EvaluationSection
    retrain: Annotated[RetrainSection, BeforeValidator(_empty_is_default)] = RetrainSection()
    version: Annotated[VersionSection, BeforeValidator(_empty_is_default)] = VersionSection()
    training: Annotated[TrainingSection, BeforeValidator(_empty_is_default)] = TrainingSection()
    # The endpoint's settings, checked by mlops.deployment.config (its own layer, above this one).
    deployment: dict[str, Any] | None = None

    @property
    def framework(self) -> str:
        return self.training.framework or ("xgboost" if self.estimator.class_.startswith("xgboost.") else "sklearn")

    @model_validator(mode="after")
    def _rules(self, info: ValidationInfo):
        path = (info.context or {}).get("path")
        problems = []
        if path is not None and self.model != path.stem:
            problems.append((("model",), f"{self.model!r} must match the file name {path.stem!r}", self.model))
        metrics = METRICS[self.problem_type]
        known = f"one of {', '.join(metrics)}"
        primary = self.evaluation.primary_metric
        if primary not in metrics:
            message = f"{primary!r} is not a {self.problem_type} metric; {known}"
            problems.append((("evaluation", "primary_metric"), message, primary))
        for metric in self.evaluation.thresholds:
            if metric not in metrics:
                message = f"unknown {self.problem_type} metric {metric!r}; {known}"
                problems.append((("evaluation", "thresholds", metric), message, metric))
        if self.estimator.class_.startswith("xgboost.") and self.framework != "xgboost":
            message = (
                f"estimator {self.estimator.class_} needs framework 'xgboost' (the sklearn container has no XGBoost)"
            )
            problems.append((("training", "framework"), message, self.framework))
        limit = f"too long for a SageMaker hyperparameter ({HYPERPARAMETER_MAX_CHARS} chars max)"
        if _too_long(",".join(self.data.features)):
            problems.append((("data", "features"), limit, None))
        if _too_long(json.dumps(self.estimator.hyperparameters, sort_keys=True, separators=(",", ":"))):
            problems.append((("estimator", "hyperparameters"), limit, None))
        field_problems("ModelFile", problems)
        return self

    def config(self, path: Path | None = None) -> ModelConfig:
        metrics = METRICS[self.problem_type]
        evaluation, training = self.evaluation, self.training
        return ModelConfig(
            name=self.model,
            description=self.description,
            problem_type=self.problem_type,
            datasets=self.data.datasets,
            key=self.data.key,
            features=self.data.features,
            label=self.data.label,
            estimator=self.estimator.class_,
            primary_metric=evaluation.primary_metric,
            direction=evaluation.direction or metrics[evaluation.primary_metric],
            training=TrainingJobConfig(
                framework=self.framework,
                framework_version=training.framework_version or FRAMEWORK_VERSIONS[self.framework],
                **training.model_dump(exclude={"framework", "framework_version"}),
            ),
            hyperparameters=dict(self.estimator.hyperparameters),
            split=self.data.split,
            thresholds=tuple(
                Threshold(metric=metric, op=m.group(1), value=float(m.group(2)))
                for metric, spec in evaluation.thresholds.items()
                for m in [_THRESHOLD.match(spec)]
            ),
            on_fail=evaluation.on_fail,
            retrain_min_new_rows=self.retrain.min_new_rows,
            schedule=self.retrain.schedule or self.data.datasets,
            version=self.version.tag,
            manual_revision=self.version.manual_revision,
            owner=self.owner,
            tags=self.tags,
            path=path,
        )


@dataclass(frozen=True, config=ConfigDict(strict=True, extra="forbid"))
class ModelConfig:
    """One model file, validated, flat. `train_args()` is the contract with the entry point."""

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
    hyperparameters: dict[str, Any] = Field(default_factory=dict)
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


def parse_model(doc, path: Path | None = None) -> ModelConfig:
    return validate(ModelFile, doc, str(path) if path else "model config", context={"path": path}).config(path)


def load_model(path: Path) -> ModelConfig:
    return load_yaml(path, parse_model)


def load_models(directory: Path = MODELS_DIR) -> list[ModelConfig]:
    return [load_model(p) for p in sorted(directory.glob("*.yaml"))]
