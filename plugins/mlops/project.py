"""Where the project's configuration lives, and how one configuration file is read and checked.

`include/` (sources, SQL, models, training code) and `expectations/` sit beside plugins/ in the
repository and inside dags/ on MWAA (plugins.zip unpacks to /usr/local/airflow/plugins, the DAG
bundle to /usr/local/airflow/dags).

Both loaders (sources, models) describe their files as pydantic models built on `FileModel`:
unknown keys are refused, scalars are not coerced (`retries: three` or `retries: "3"` fail), and
every validation error becomes one line of a `ConfigError` that names the file, the field path
(`tables[0].changed_at`) and what is allowed there.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError
from pydantic_core import InitErrorDetails, PydanticCustomError

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def _project_dir(name: str) -> Path:
    """`include/` or `expectations/`: beside plugins/ in the repo, inside dags/ on MWAA
    (where plugins.zip unpacks to /usr/local/airflow/plugins and the DAG bundle to .../dags)."""
    candidates = [PROJECT_ROOT / name, PROJECT_ROOT / "dags" / name]
    return next((c for c in candidates if c.is_dir()), candidates[0])


INCLUDE_DIR = _project_dir("include")
EXPECTATIONS_DIR = _project_dir("expectations")
NAME = re.compile(r"^[a-z][a-z0-9_]*$")  # sources, tables, datasets, models


class PermanentError(Exception):
    """An error no retry can fix (bad configuration, code or data): the task fails at once with this
    message instead of retrying with backoff. Work modules raise it or a subclass; mlops.airflow
    (`defaults.fail_fast`) turns it into a failed task."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a configuration file: where (file, field path) and what."""

    file: str  # "" when not known (a message built elsewhere)
    field: str  # "tables[0].changed_at"; "" for the file as a whole
    message: str

    def __str__(self) -> str:
        return ": ".join(part for part in (self.file, self.field, self.message) if part)


class ConfigError(PermanentError, ValueError):
    """A source or model configuration file is invalid: one line per problem, each naming file and field
    (a plain message, as other modules raise it, is one problem)."""

    def __init__(self, problems: Sequence[Problem] | str):
        self.problems = (Problem("", "", problems),) if isinstance(problems, str) else tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class FileModel(BaseModel):
    """A section of a configuration file: unknown keys refused, no type coercion, immutable once loaded."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)


def _check_name(value: str) -> str:
    if not NAME.match(value):
        raise ValueError(f"{value!r} must be lower_snake_case (a-z, 0-9 and _, starting with a letter)")
    return value


def _listed(value):
    """YAML lists for tuple fields (strict mode takes only real tuples)."""
    return tuple(value) if isinstance(value, list) else value


def _not_blank(value: str) -> str:
    if not value.strip():
        raise ValueError("must not be empty")
    return value


def non_empty(value: tuple) -> tuple:
    if not value:
        raise ValueError("must list at least one entry")
    return value


Name = Annotated[str, AfterValidator(_check_name)]
Text = Annotated[str, AfterValidator(_not_blank)]
T = TypeVar("T")
Listed = Annotated[tuple[T, ...], BeforeValidator(_listed)]


def field_problems(model: str, problems: Iterable[tuple[tuple, str, Any]]) -> None:
    """Raise (loc, message, value) problems found by a model validator as errors of those fields,
    so a cross-field rule (e.g. the key must not be a feature) still names a field path."""
    details = [
        InitErrorDetails(type=PydanticCustomError("config", "{message}", {"message": message}), loc=loc, input=value)
        for loc, message, value in problems
    ]
    if details:
        raise ValidationError.from_exception_data(model, details)


def field_path(loc: Sequence[str | int]) -> str:
    """`('tables', 0, 'changed_at')` -> `tables[0].changed_at`."""
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _unwrap(annotation):
    """The model or container inside Annotated[...] / X | None."""
    while True:
        origin = typing.get_origin(annotation)
        if origin is Annotated:
            annotation = typing.get_args(annotation)[0]
        elif origin in (typing.Union, types.UnionType):
            args = [a for a in typing.get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _keys(model: type[BaseModel]) -> list[str]:
    return [f.alias or name for name, f in model.model_fields.items()]


def allowed_keys(model: type[BaseModel], loc: Sequence[str | int]) -> list[str]:
    """The keys the file may hold at `loc` (a mapping inside `model`), or [] if not a model there."""
    current = model
    for part in loc:
        current = _unwrap(current)
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = next((f for name, f in current.model_fields.items() if part in (name, f.alias)), None)
            if field is None:
                return []
            current = field.annotation
        else:
            args = typing.get_args(current)
            current = args[-1] if typing.get_origin(current) is dict else (args[0] if args else None)
    current = _unwrap(current)
    return _keys(current) if isinstance(current, type) and issubclass(current, BaseModel) else []


def _shown(value) -> str:
    if value is None:
        return "nothing (an empty value)"
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


_KINDS = {
    "model_type": "a mapping (key: value lines)",
    "dict_type": "a mapping (key: value lines)",
    "tuple_type": "a list",
    "list_type": "a list",
}


def _message(error: dict, model: type[BaseModel]) -> str:
    kind, loc, value = error["type"], error["loc"], error.get("input")
    if kind == "extra_forbidden":
        allowed = allowed_keys(model, loc[:-1])
        message = f"unknown field '{loc[-1]}'"
        close = difflib.get_close_matches(str(loc[-1]), allowed, n=1, cutoff=0.6)
        if close:
            message += f"; did you mean '{close[0]}'?"
        return message + (f" (allowed: {', '.join(allowed)})" if allowed else "")
    if kind == "missing":
        return "required field is missing"
    if kind == "config":
        return error["msg"]
    if kind in ("value_error", "assertion_error"):
        return re.sub(r"^(Value|Assertion) error, ", "", error["msg"])
    if kind in _KINDS:
        return f"must be {_KINDS[kind]}, got {_shown(value)}"
    message = re.sub(r"^\w+ should ", "must ", error["msg"])
    if kind == "string_type" and isinstance(value, (int, float)) and not isinstance(value, bool):
        message += f", got the number {value!r} (quote it: '{value}')"
    else:
        message += f", got {_shown(value)}"
    return message


def problems_of(error: ValidationError, model: type[BaseModel], file: str) -> list[Problem]:
    """Every error of a pydantic validation as a Problem (file, field path, message)."""
    return [Problem(file, field_path(e["loc"]), _message(e, model)) for e in error.errors(include_url=False)]


M = TypeVar("M", bound=BaseModel)


def validate(model: type[M], doc, file: str, context: dict | None = None) -> M:
    """`doc` (one YAML file, parsed) as `model`, or a ConfigError listing every problem."""
    if not isinstance(doc, dict):
        raise ConfigError([Problem(file, "", f"expected a mapping of fields at the top level, got {_shown(doc)}")])
    try:
        return model.model_validate(doc, context=context)
    except ValidationError as err:
        raise ConfigError(problems_of(err, model, file)) from None


def load_yaml(path: Path, parse: Callable[[Any, Path], T]) -> T:
    """`parse(document, path)` of one YAML configuration file; a YAML syntax error names the line."""
    import yaml

    with open(path) as fh:
        try:
            doc = yaml.safe_load(fh)
        except yaml.YAMLError as err:
            mark = getattr(err, "problem_mark", None)
            where = f"line {mark.line + 1}: " if mark else ""
            problem = getattr(err, "problem", None) or str(err)
            raise ConfigError([Problem(str(path), "", f"{where}not valid YAML: {problem}")]) from None
    return parse(doc, path)
