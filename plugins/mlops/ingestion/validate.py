"""Validate a batch against its great-expectations suite (one JSON file per dataset).

The outcome names every failed expectation with its column and how many rows broke it, so
the task error and the alert tell a data engineer what is wrong without opening the code.
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


def load_suite_document(path: Path) -> dict:
    with open(path) as fh:
        doc = json.load(fh)
    if "expectations" not in doc:
        raise ConfigError(f"{path}: not an expectation suite (no 'expectations' list)")
    return doc


def _failure(res) -> Failure:
    cfg = res.expectation_config
    kwargs = dict(cfg.kwargs)
    result = res.result or {}
    count = result.get("unexpected_count")
    detail = ""
    if "observed_value" in result:
        detail = f"observed {result['observed_value']!r}"
    elif result.get("partial_unexpected_list"):
        detail = f"e.g. {result['partial_unexpected_list'][:3]!r}"
    if res.exception_info and res.exception_info.get("raised_exception"):
        detail = f"error: {res.exception_info.get('exception_message')}"
    return Failure(cfg.type, kwargs.get("column"), count, detail)


def validate_frame(df, suite_doc: dict) -> ValidationOutcome:
    """Run `suite_doc` (a GX 1.x suite as JSON) over a pandas DataFrame."""
    import great_expectations as gx

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
    failures = [_failure(r) for r in result.results if not r.success]
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
