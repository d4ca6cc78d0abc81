"""`python -m mlops check` (`make check`): every configuration mistake before a run, all at once.

Each source and model file is loaded (unknown keys, types, values: mlops.project), then checked
against the rest of the project: a source's SQL templates render as Airflow renders them (Jinja,
StrictUndefined, the context of a sample data interval) and its expectation suites parse with
Great Expectations; a model's datasets are some source's curated datasets, its key, label and
features are columns of them (as the suites declare them), its estimator class imports, fits the
problem type and takes the given hyperparameters. scikit-learn and Great Expectations are imported
here, inside the checks, never at DAG parse time (MWAA does not install scikit-learn).
"""

from __future__ import annotations

import difflib
import importlib
import inspect
import json
import logging
import re
import sys
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace

from mlops.ingestion.config import CRON_PRESETS, SOURCES_DIR, SQL_DIR, SourceConfig, load_source
from mlops.project import PROJECT_ROOT, ConfigError, Problem
from mlops.training.config import MODELS_DIR, ModelConfig, load_model


@dataclass
class Report:
    problems: list[Problem] = field(default_factory=list)
    sources: int = 0
    models: int = 0
    suites: int = 0
    templates: int = 0
    checked_suites: dict[Path, dict | None] = field(default_factory=dict)  # one check per suite file

    def add(self, file, where: str, message: str) -> None:
        self.problems.append(Problem(str(file), where, message))


def _hint(name: str, known) -> str:
    close = difflib.get_close_matches(name, list(known), n=1)
    return f"; did you mean '{close[0]}'?" if close else ""


# --- expectation suites -----------------------------------------------------------------------


def suite_columns(doc: dict) -> set[str]:
    """The columns a suite names: its table-level column set/list, existence and column kwargs."""
    columns: set[str] = set()
    for exp in doc.get("expectations", []):
        kwargs = exp.get("kwargs") or {}
        for key in ("column_set", "column_list"):
            columns.update(kwargs.get(key) or ())
        for key in ("column", "column_A", "column_B"):
            if isinstance(kwargs.get(key), str):
                columns.add(kwargs[key])
    return columns


def check_suite(path: Path, report: Report) -> dict | None:
    """The suite document if it parses (JSON, and each expectation as Great Expectations builds it)."""
    try:
        doc = json.loads(path.read_text())
    except (OSError, ValueError) as err:
        report.add(path, "", f"not a readable JSON suite: {err}")
        return None
    if not isinstance(doc, dict) or not isinstance(doc.get("expectations"), list):
        report.add(path, "expectations", "missing: a suite is a JSON object with an 'expectations' list")
        return None
    import great_expectations as gx
    from great_expectations.expectations.registry import list_registered_expectation_implementations

    logging.getLogger("great_expectations").setLevel(logging.CRITICAL)  # it logs each failure with a traceback
    known = list_registered_expectation_implementations()
    for i, exp in enumerate(doc["expectations"]):
        kind = exp.get("type") if isinstance(exp, dict) else None
        if kind not in known:  # GX only logs an unknown type, and leaves the expectation out
            report.add(path, f"expectations[{i}].type", f"unknown expectation type {kind!r}{_hint(str(kind), known)}")
            continue
        try:
            gx.ExpectationSuite(name=doc.get("name", path.stem), expectations=[exp])
        except Exception as err:  # GX raises its own and pydantic errors; each is this expectation's problem
            text = re.sub(r"(Could not add expectation; provided configuration is not valid: )+", "", str(err))
            report.add(path, f"expectations[{i}]", " ".join(text.split()))
    report.suites += 1
    return doc


# --- sources ----------------------------------------------------------------------------------


def sample_context(source: SourceConfig) -> dict:
    """What Airflow puts in a template's context for the source's first data interval."""
    from croniter import croniter

    try:
        import pendulum

        start = pendulum.datetime(source.start_date.year, source.start_date.month, source.start_date.day, tz="UTC")
    except ImportError:  # pragma: no cover - pendulum comes with Airflow
        start = datetime.combine(source.start_date, datetime.min.time(), tzinfo=UTC)
    end = croniter(CRON_PRESETS.get(source.schedule, source.schedule), start).get_next(type(start))
    ds = start.strftime("%Y-%m-%d")

    def ds_add(value: str, days: int) -> str:
        return (date.fromisoformat(value) + timedelta(days=days)).isoformat()

    return {
        "data_interval_start": start,
        "data_interval_end": end,
        "logical_date": start,
        "ds": ds,
        "ds_nodash": ds.replace("-", ""),
        "ts": start.isoformat(),
        "ts_nodash": start.strftime("%Y%m%dT%H%M%S"),
        "run_id": f"scheduled__{start.isoformat()}",
        "dag": SimpleNamespace(dag_id=f"ingest_{source.name}"),
        "dag_run": SimpleNamespace(run_id=f"scheduled__{start.isoformat()}", conf={}),
        "params": {},
        "macros": SimpleNamespace(datetime=datetime, timedelta=timedelta, ds_add=ds_add),
    }


def check_sql(source: SourceConfig, index: int, report: Report, sql_dir: Path = SQL_DIR) -> None:
    """Render the table's template as the operator's Jinja environment would (StrictUndefined)."""
    import jinja2
    import jinja2.sandbox

    table = source.tables[index]
    env = jinja2.sandbox.SandboxedEnvironment(
        loader=jinja2.FileSystemLoader(str(sql_dir)), undefined=jinja2.StrictUndefined, extensions=["jinja2.ext.do"]
    )
    name = f"{source.name}/{table.name}.sql"
    file = sql_dir / name
    try:
        sql = env.get_template(name).render(sample_context(source))
    except jinja2.TemplateSyntaxError as err:
        report.add(file, f"line {err.lineno}", f"template syntax: {err.message}")
        return
    except jinja2.TemplateNotFound:
        report.add(source.path, f"tables[{index}].name", f"no SQL template at {file}")
        return
    except Exception as err:  # an undefined name, a failing filter: what the task would fail with
        report.add(file, "", f"does not render for the interval starting {source.start_date}: {err}")
        return
    if not sql.strip():
        report.add(file, "", "renders to an empty query")
    report.templates += 1


def _declared_datasets(path: Path) -> set[str]:
    """The datasets a source file that does not load names, so models reading them are not blamed too."""
    import yaml

    try:
        doc = yaml.safe_load(path.read_text())
        return {t["dataset"] for t in doc["tables"] if isinstance(t.get("dataset"), str)}
    except Exception:  # unreadable: its own problem is reported already
        return set()


def check_sources(directory: Path, report: Report) -> dict[str, tuple[SourceConfig, int, set[str] | None] | None]:
    """Load and check every source file; returns dataset -> (source, table index, columns or None),
    or None for a dataset of a source file that does not load."""
    datasets: dict[str, tuple[SourceConfig, int, set[str] | None] | None] = {}
    for path in sorted(directory.glob("*.yaml")):
        try:
            source = load_source(path)
        except ConfigError as err:
            report.problems.extend(err.problems)
            datasets.update(dict.fromkeys(_declared_datasets(path) - set(datasets)))
            continue
        report.sources += 1
        for i, table in enumerate(source.tables):
            if source.kind == "postgres":
                check_sql(source, i, report)
            if table.suite_path not in report.checked_suites:  # tables may share a suite: report its problems once
                report.checked_suites[table.suite_path] = check_suite(table.suite_path, report)
            doc = report.checked_suites[table.suite_path]
            columns = suite_columns(doc) if doc else None
            for what, column in (("key", table.key), ("changed_at", table.changed_at)):
                if column and columns and column not in columns:
                    report.add(
                        path,
                        f"tables[{i}].{what}",
                        f"column {column!r} is not in suite {table.suite_path.name}{_hint(column, columns)}",
                    )
            if datasets.get(table.dataset):
                other, j, _ = datasets[table.dataset]
                report.add(
                    path,
                    f"tables[{i}].dataset",
                    f"{table.dataset!r} is also fed by {other.path.name} tables[{j}]; one table per curated dataset",
                )
                continue
            datasets[table.dataset] = (source, i, columns)
    return datasets


# --- models -----------------------------------------------------------------------------------


def check_estimator(model: ModelConfig, report: Report) -> None:
    """The class imports, fits the problem type and takes the hyperparameters (names and values)."""
    file = model.path
    module_name, _, class_name = model.estimator.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module_name), class_name)
    except ImportError as err:
        report.add(file, "estimator.class", f"cannot import {module_name}: {err}")
        return
    except AttributeError:
        module = sys.modules[module_name]
        known = [n for n in dir(module) if n[:1].isupper()]
        report.add(file, "estimator.class", f"{module_name} has no {class_name!r}{_hint(class_name, known)}")
        return
    if not isinstance(cls, type):
        report.add(file, "estimator.class", f"{model.estimator} is not a class")
        return
    parameters = inspect.signature(cls).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters.values())
    try:
        known = sorted(cls().get_params()) if hasattr(cls, "get_params") else sorted(parameters)
    except Exception:  # a class that needs arguments: its signature is what it takes
        known = sorted(parameters)
    unknown = [name for name in model.hyperparameters if name not in known]
    if unknown and not takes_any:
        for name in unknown:
            report.add(
                file,
                f"estimator.hyperparameters.{name}",
                f"{class_name} takes no parameter {name!r}{_hint(name, known)} (takes: {', '.join(known)})",
            )
        return
    try:
        estimator = cls(**model.hyperparameters)
        validate = getattr(estimator, "_validate_params", None)  # scikit-learn >= 1.2: types and ranges
        if validate:
            validate()
    except Exception as err:
        named = re.search(r"The '(\w+)' parameter", str(err))
        where = "estimator.hyperparameters" + (f".{named.group(1)}" if named else "")
        report.add(file, where, " ".join(str(err).split()))
        return
    from sklearn.base import is_classifier, is_regressor

    wanted = {"classification": is_classifier, "regression": is_regressor}[model.problem_type]
    if not wanted(estimator):
        report.add(file, "estimator.class", f"{class_name} is not a {model.problem_type} estimator")


def check_model(model: ModelConfig, datasets: dict, report: Report) -> None:
    file = model.path
    for i, dataset in enumerate(model.datasets):
        if dataset not in datasets:
            hint = _hint(dataset, datasets)
            report.add(file, f"data.datasets[{i}]", f"no source feeds dataset {dataset!r}{hint}")
            continue
        if datasets[dataset] is None:
            continue  # its source file does not load: that file's problems are reported
        source, j, columns = datasets[dataset]
        if not columns:
            continue  # the suite names no columns: nothing to check against
        suite = source.tables[j].suite_path.name
        named = [("data.key", model.key), ("data.label", model.label)]
        named += [(f"data.features[{k}]", feature) for k, feature in enumerate(model.features)]
        for where, column in named:
            if column not in columns:
                report.add(
                    file,
                    where,
                    f"column {column!r} is not in dataset {dataset!r} (suite {suite}){_hint(column, columns)}",
                )
    for i, dataset in enumerate(model.schedule):
        if dataset not in datasets:
            report.add(file, f"retrain.schedule[{i}]", f"no source feeds dataset {dataset!r}{_hint(dataset, datasets)}")
    check_estimator(model, report)


def check(
    sources_dir: Path = SOURCES_DIR,
    models_dir: Path = MODELS_DIR,
) -> Report:
    """Every problem of every source and model file, cross-checks included."""
    report = Report()
    datasets = check_sources(sources_dir, report)
    for path in sorted(models_dir.glob("*.yaml")):
        try:
            model = load_model(path)
        except ConfigError as err:
            report.problems.extend(err.problems)
            continue
        report.models += 1
        check_model(model, datasets, report)
    return report


def _shown(file: str) -> str:
    try:
        return str(Path(file).relative_to(PROJECT_ROOT))
    except ValueError:
        return file


def main() -> int:
    """Print every problem as `file: field: message`; 1 if there is any, else 0 and one OK line."""
    report = check()
    for p in report.problems:
        print(Problem(_shown(p.file), p.field, p.message))
    if report.problems:
        files = len({p.file for p in report.problems})
        print(f"{len(report.problems)} problem(s) in {files} file(s)", file=sys.stderr)
        return 1
    counts = (
        (report.sources, "source"),
        (report.models, "model"),
        (report.templates, "SQL template"),
        (report.suites, "expectation suite"),
    )
    print("OK: " + ", ".join(f"{n} {what}{'' if n == 1 else 's'}" for n, what in counts) + " checked")
    return 0
