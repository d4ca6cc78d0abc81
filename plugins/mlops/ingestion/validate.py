"""Validate a batch against its great-expectations suite (one JSON file per dataset).

The outcome names every failed expectation with its column and how many rows broke it, so
the task error and the alert tell a data engineer what is wrong without opening the code.

Every suite must carry a column contract: the exact set (or ordered list) of its columns and
the type of each one. A source that adds, drops or retypes a column is then rejected with the
column, its expected and its actual type named, instead of drifting silently into curated.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, field
from pathlib import Path

from mlops.project import ConfigError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    expectation: str
    column: str | None
    unexpected_count: int | None
    detail: str

    def describe(self) -> str:
        where = f" on column '{self.column}'" if self.column else ""
        rows = f": {self.unexpected_count} row(s) broke it" if self.unexpected_count is not None else ""
        return f"{self.expectation}{where}{rows}{(' (' + self.detail + ')') if self.detail else ''}"


@dataclass(frozen=True)
class ValidationOutcome:
    suite: str
    rows: int
    success: bool
    evaluated: int
    failures: list[Failure] = field(default_factory=list)
    result: dict = field(default_factory=dict)

    def message(self, partition: str) -> str:
        if self.success:
            return f"{partition}: {self.rows} rows passed all {self.evaluated} expectations of suite '{self.suite}'"
        lines = [
            f"{partition}: {len(self.failures)} of {self.evaluated} expectations of suite '{self.suite}' "
            f"failed on {self.rows} rows:"
        ]
        lines += [f"  - {f.describe()}" for f in self.failures]
        return "\n".join(lines)

    def to_dict(self) -> dict:
        return {
            "suite": self.suite,
            "rows": self.rows,
            "success": self.success,
            "evaluated": self.evaluated,
            "failures": [asdict(f) for f in self.failures],
            "result": self.result,
        }


COLUMN_SET = "expect_table_columns_to_match_set"
COLUMN_LIST = "expect_table_columns_to_match_ordered_list"
TYPE_OF = "expect_column_values_to_be_of_type"
TYPE_IN_LIST = "expect_column_values_to_be_in_type_list"
_FLOAT_TYPES = {"float", "float32", "float64", "double"}


class SuiteContractError(ConfigError):
    """A suite that does not declare its columns and their types; validation refuses it."""


@dataclass(frozen=True)
class ColumnContract:
    """The columns a suite declares, in order, and the types each one may have."""

    columns: list[str]
    types: dict[str, list[str]]

    def expected(self, column: str) -> str:
        types = self.types.get(column) or []
        return types[0] if len(types) == 1 else "one of " + "/".join(types)


def column_contract(suite_doc: dict, where: str = "suite") -> ColumnContract:
    """The suite's column contract; raises SuiteContractError naming what is missing."""
    columns, types = None, {}
    for exp in suite_doc.get("expectations", []):
        kind, kwargs = exp.get("type"), exp.get("kwargs", {})
        if kind == COLUMN_SET and kwargs.get("exact_match", True) is not False:
            columns = list(kwargs.get("column_set") or [])
        elif kind == COLUMN_LIST:
            columns = list(kwargs.get("column_list") or [])
        elif kind == TYPE_OF and kwargs.get("column"):
            types[kwargs["column"]] = [str(kwargs.get("type_"))]
        elif kind == TYPE_IN_LIST and kwargs.get("column"):
            types[kwargs["column"]] = [str(t) for t in kwargs.get("type_list") or []]
    name = suite_doc.get("name", "suite")
    if not columns:
        raise SuiteContractError(
            f"{where}: suite '{name}' declares no column contract. Add "
            f"{{'type': '{COLUMN_SET}', 'kwargs': {{'column_set': [...], 'exact_match': true}}}} "
            f"(or {COLUMN_LIST}) listing every column, and a {TYPE_OF} or {TYPE_IN_LIST} "
            "expectation for each column"
        )
    untyped = [c for c in columns if not types.get(c)]
    if untyped:
        raise SuiteContractError(
            f"{where}: suite '{name}' declares no type for column(s) {untyped}: add a {TYPE_OF} "
            f"or {TYPE_IN_LIST} expectation for each"
        )
    undeclared = sorted(set(types) - set(columns))
    if undeclared:
        raise SuiteContractError(
            f"{where}: suite '{name}' types column(s) {undeclared} that its column list does not declare"
        )
    return ColumnContract(columns, types)


def load_suite_document(path: Path) -> dict:
    with open(path) as fh:
        doc = json.load(fh)
    if "expectations" not in doc:
        raise ConfigError(f"{path}: not an expectation suite (no 'expectations' list)")
    column_contract(doc, str(path))
    return doc


def actual_type(series) -> str:
    """A column's type as the contract names it; for object columns, the type of the values."""
    import pandas as pd

    if series.dtype != object:
        return str(series.dtype)
    inferred = pd.api.types.infer_dtype(series, skipna=True)
    return {"string": "str", "bytes": "bytes", "empty": "object (all null)"}.get(inferred, f"object ({inferred})")


def _exception_messages(info) -> list[str]:
    """GX's own reasons an expectation could not be evaluated.

    GX 1.x reports either one {raised_exception, exception_message} dict or one such dict per
    metric it failed to compute (keyed by the metric's id).
    """
    if not info:
        return []
    if "raised_exception" in info:
        return [str(info.get("exception_message"))] if info.get("raised_exception") else []
    messages = []
    for value in info.values():
        if isinstance(value, dict) and value.get("raised_exception"):
            message = str(value.get("exception_message"))
            if message not in messages:
                messages.append(message)
    return messages


def _columns_detail(cfg_kwargs: dict, result: dict, contract: ColumnContract | None, actual: dict) -> str:
    observed = list(result.get("observed_value") or actual)
    expected = list(cfg_kwargs.get("column_set") or cfg_kwargs.get("column_list") or [])
    missing = [c for c in expected if c not in observed]
    unexpected = [c for c in observed if c not in expected]
    parts = []
    if missing:
        declared = (lambda c: contract.expected(c)) if contract else (lambda c: "declared")
        parts.append("missing column(s): " + ", ".join(f"'{c}' (expected {declared(c)})" for c in missing))
    if unexpected:
        parts.append(
            "unexpected column(s): "
            + ", ".join(f"'{c}' (not in the contract, actual {actual.get(c, 'unknown')})" for c in unexpected)
        )
    if not parts:
        parts.append(f"columns out of order: expected {expected}, observed {observed}")
    return "; ".join(parts)


def _type_detail(column: str, result: dict, contract: ColumnContract | None, kwargs: dict, actual: dict) -> str:
    expected = contract.expected(column) if contract and column in contract.types else None
    if expected is None:
        types = [kwargs["type_"]] if kwargs.get("type_") else list(kwargs.get("type_list") or [])
        expected = types[0] if len(types) == 1 else "one of " + "/".join(types)
    found = actual.get(column) or result.get("observed_value")
    detail = f"expected type {expected}, actual {found}"
    declared = set(contract.types.get(column, [])) if contract else set()
    if declared & _FLOAT_TYPES and str(found).startswith("str"):
        detail += (
            ": a PostgreSQL numeric column arrives as exact decimal text; cast it in the table's SQL "
            f'(e.g. "{column}"::double precision AS "{column}") or declare the column as text'
        )
    return detail


def _failure(res, contract: ColumnContract | None = None, actual: dict | None = None) -> Failure:
    cfg = res.expectation_config
    kwargs = dict(cfg.kwargs)
    result = res.result or {}
    actual = actual or {}
    count = result.get("unexpected_count")
    detail = ""
    if cfg.type in (COLUMN_SET, COLUMN_LIST):
        detail = _columns_detail(kwargs, result, contract, actual)
    elif cfg.type in (TYPE_OF, TYPE_IN_LIST) and kwargs.get("column") in actual:
        detail = _type_detail(kwargs["column"], result, contract, kwargs, actual)
    elif "observed_value" in result:
        detail = f"observed {result['observed_value']!r}"
    elif result.get("partial_unexpected_list"):
        detail = f"e.g. {result['partial_unexpected_list'][:3]!r}"
    errors = _exception_messages(res.exception_info)
    if errors:
        column = kwargs.get("column")
        found = f"; column '{column}' is {actual[column]}" if column in actual else ""
        detail = "could not be evaluated: " + " | ".join(errors) + found
    return Failure(cfg.type, kwargs.get("column"), count, detail)


def validate_frame(df, suite_doc: dict) -> ValidationOutcome:
    """Run `suite_doc` (a GX 1.x suite with a column contract, as JSON) over a pandas DataFrame."""
    import great_expectations as gx

    contract = column_contract(suite_doc)

    context = gx.get_context(mode="ephemeral")
    batch_def = (
        context.data_sources.add_pandas("mlops")
        .add_dataframe_asset("batch")
        .add_batch_definition_whole_dataframe("whole")
    )
    suite = gx.ExpectationSuite(
        name=suite_doc.get("name", "suite"),
        expectations=suite_doc["expectations"],
        meta=suite_doc.get("meta"),
    )
    batch = batch_def.get_batch(batch_parameters={"dataframe": df})
    result = batch.validate(suite, result_format="SUMMARY")
    actual = {str(c): actual_type(df[c]) for c in df.columns}
    failures = [_failure(r, contract, actual) for r in result.results if not r.success]
    outcome = ValidationOutcome(
        suite=suite.name,
        rows=len(df),
        success=bool(result.success),
        evaluated=len(result.results),
        failures=failures,
        result=result.to_json_dict(),
    )
    log.info(outcome.message("batch"))
    return outcome


def validate_parquet(path: str, suite_path: Path) -> ValidationOutcome:
    import pandas as pd

    return validate_frame(pd.read_parquet(path), load_suite_document(suite_path))
