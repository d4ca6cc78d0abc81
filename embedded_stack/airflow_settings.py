"""The embedded stack's connections, variables and pools, from one file: airflow_settings.yaml.

It lives in embedded_stack/ and not at the repo root because it is local-only: the root holds
what is deployed to MWAA (dags/, plugins/, requirements.txt), and MWAA takes its connections
from Secrets Manager. Every mistake (an unknown field, a missing conn_id, a placeholder the
stack does not fill, a port that is not a number) stops `make up` with the file and the entry.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from embedded_stack.paths import REPO, StackConfig

SETTINGS_FILE = REPO / "embedded_stack" / "airflow_settings.yaml"
PLACEHOLDER = re.compile(r"\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}")


class SettingsError(ValueError):
    """A wrong entry in the settings file; the message names the file and the entry."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Connection(_Strict):
    conn_id: str = Field(pattern=r"^[a-z][a-z0-9_]*$")  # becomes AIRFLOW_CONN_<CONN_ID>
    conn_type: str
    description: str | None = None
    host: str | None = None
    port: int | None = None
    login: str | None = None
    password: str | None = None
    schema_: str | None = Field(default=None, alias="schema")
    extra: dict[str, Any] | None = None

    def env_value(self) -> str:
        """The JSON form Airflow reads from AIRFLOW_CONN_* (Connection.from_json)."""
        fields = self.model_dump(by_alias=True, exclude_none=True, exclude={"conn_id"})
        return json.dumps(fields)


class Variable(_Strict):
    key: str = Field(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")
    value: Any

    def env_value(self) -> str:
        return self.value if isinstance(self.value, str) else json.dumps(self.value)


class Pool(_Strict):
    name: str
    slots: int = Field(ge=0)
    description: str = ""
    include_deferred: bool = False


class AirflowSettings(_Strict):
    connections: list[Connection] = []
    variables: list[Variable] = []
    pools: list[Pool] = []


class SettingsFile(_Strict):
    airflow: AirflowSettings


def placeholders(cfg: StackConfig) -> dict[str, str]:
    from embedded_stack.iam import credentials

    return {
        **credentials(cfg, "mlops-pipeline"),
        "pg_host": "127.0.0.1",
        "pg_port": str(cfg.pg_port),
        "moto_url": cfg.moto_url,
        "moto_port": str(cfg.moto_port),
        "sagemaker_url": cfg.sagemaker_url,
        "sagemaker_port": str(cfg.sagemaker_port),
        "airflow_url": cfg.airflow_url,
        "airflow_port": str(cfg.airflow_port),
        "region": cfg.region,
        "account": cfg.account,
    }


def _entry_name(raw: Any, section: str, index: int) -> str:
    label = f"{section}[{index}]"
    name_field = {"connections": "conn_id", "variables": "key", "pools": "name"}.get(section)
    if isinstance(raw, dict) and name_field and raw.get(name_field):
        label += f" ({name_field} {raw[name_field]!r})"
    return label


def _render(value: Any, values: dict[str, str], where: str, path: Path) -> Any:
    """Fill {{ name }} placeholders in every string of the entry."""
    if isinstance(value, str):

        def fill(m: re.Match) -> str:
            if m.group(1) not in values:
                raise SettingsError(
                    f"{path}: {where}: unknown placeholder {{{{ {m.group(1)} }}}}; the stack fills {', '.join(sorted(values))}"
                )
            return values[m.group(1)]

        return PLACEHOLDER.sub(fill, value)
    if isinstance(value, dict):
        return {k: _render(v, values, where, path) for k, v in value.items()}
    if isinstance(value, list):
        return [_render(v, values, where, path) for v in value]
    return value


def load(cfg: StackConfig, path: Path | None = None) -> AirflowSettings:
    import yaml

    path = path or SETTINGS_FILE
    try:
        raw = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as err:
        raise SettingsError(f"{path}: not valid YAML: {err}") from err
    except OSError as err:
        raise SettingsError(f"{path}: cannot be read: {err}") from err
    values = placeholders(cfg)
    section = raw.get("airflow") if isinstance(raw, dict) else None
    if isinstance(section, dict):
        for name, entries in section.items():
            if isinstance(entries, list):
                section[name] = [_render(e, values, _entry_name(e, name, i), path) for i, e in enumerate(entries)]
    try:
        settings = SettingsFile.model_validate(raw).airflow
    except ValidationError as err:
        problems = []
        for e in err.errors():
            loc = list(e["loc"])
            where = ".".join(str(p) for p in loc)
            if len(loc) >= 3 and loc[0] == "airflow" and isinstance(loc[2], int):
                entry = _entry_name(section[loc[1]][loc[2]], loc[1], loc[2])
                where = ".".join([entry, *(str(p) for p in loc[3:])])
            problems.append(f"{path}: {where}: {e['msg']}")
        raise SettingsError("\n".join(problems)) from None
    for section_name, key in (("connections", "conn_id"), ("variables", "key"), ("pools", "name")):
        seen: set[str] = set()
        for entry in getattr(settings, section_name):
            name = getattr(entry, key)
            if name in seen:
                raise SettingsError(f"{path}: {section_name}: {key} {name!r} appears twice")
            seen.add(name)
    return settings


def environment(cfg: StackConfig, path: Path | None = None) -> dict[str, str]:
    """AIRFLOW_CONN_* and AIRFLOW_VAR_* for the pipeline environment."""
    settings = load(cfg, path)
    env = {f"AIRFLOW_CONN_{c.conn_id.upper()}": c.env_value() for c in settings.connections}
    env |= {f"AIRFLOW_VAR_{v.key.upper()}": v.env_value() for v in settings.variables}
    return env


def pools_json(settings: AirflowSettings) -> str:
    """The file `airflow pools import` takes."""
    return json.dumps(
        {
            p.name: {"slots": p.slots, "description": p.description, "include_deferred": p.include_deferred}
            for p in settings.pools
        }
    )
