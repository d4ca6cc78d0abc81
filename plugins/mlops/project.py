"""Where the project's configuration lives, and how one configuration file is read.

`include/` (sources, SQL, models, training code) and `expectations/` sit beside plugins/ in the
repository and inside dags/ on MWAA (plugins.zip unpacks to /usr/local/airflow/plugins, the DAG
bundle to /usr/local/airflow/dags).
"""

from __future__ import annotations

import re
from pathlib import Path

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


class ConfigError(PermanentError, ValueError):
    """A source or model configuration file is invalid; the message names the file and field."""


def load_yaml(path: Path, parse):
    """`parse(document, path)` of one YAML configuration file."""
    import yaml

    with open(path) as fh:
        return parse(yaml.safe_load(fh), path)


def require(doc: dict, key: str, where: str, kind: type = str):
    if key not in doc or doc[key] in (None, ""):
        raise ConfigError(f"{where}: missing required field '{key}'")
    value = doc[key]
    if not isinstance(value, kind):
        raise ConfigError(f"{where}: field '{key}' must be {kind.__name__}, got {value!r}")
    return value


def check_name(value: str, where: str, what: str) -> str:
    if not NAME.match(value):
        raise ConfigError(f"{where}: {what} {value!r} must be lower_snake_case")
    return value
