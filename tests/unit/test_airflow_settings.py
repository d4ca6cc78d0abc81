"""Connections, variables and pools of the embedded stack come from embedded_stack/airflow_settings.yaml."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from embedded_stack import airflow_settings
from embedded_stack.paths import StackConfig

CFG = StackConfig(state=Path("/nonexistent"), pg_port=21432, moto_port=21500, airflow_port=21080, sagemaker_port=21510)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "airflow_settings.yaml"
    path.write_text(text)
    return path


def test_the_repo_file_gives_the_stack_its_connections_with_ports_filled():
    from airflow.models.connection import Connection

    env = airflow_settings.environment(CFG)
    assert sorted(env) == ["AIRFLOW_CONN_AWS_DEFAULT", "AIRFLOW_CONN_CLINIC_DB"]
    clinic = Connection.from_json(env["AIRFLOW_CONN_CLINIC_DB"], conn_id="clinic_db")
    assert clinic.get_uri() == "postgres://postgres@127.0.0.1:21432/clinic"
    aws = Connection.from_json(env["AIRFLOW_CONN_AWS_DEFAULT"], conn_id="aws_default")
    assert (aws.conn_type, aws.login, aws.password) == ("aws", "testing", "testing")
    assert aws.extra_dejson == {
        "endpoint_url": "http://127.0.0.1:21500",
        "region_name": "us-east-1",
        "service_config": {
            "sagemaker": {"endpoint_url": "http://127.0.0.1:21510"},
            "sagemaker-runtime": {"endpoint_url": "http://127.0.0.1:21510"},
        },
    }


def test_the_pipeline_environment_takes_its_connections_from_the_file(tmp_path):
    from embedded_stack.stack import pipeline_env

    cfg = StackConfig(state=tmp_path, pg_port=21432, moto_port=21500, airflow_port=21080, sagemaker_port=21510)
    env = pipeline_env(cfg)
    assert {k: v for k, v in env.items() if k.startswith("AIRFLOW_CONN_")} == airflow_settings.environment(cfg)


def test_variables_become_env_vars_and_pools_the_import_file(tmp_path):
    path = write(
        tmp_path,
        """
airflow:
  connections:
    - {conn_id: billing_db, conn_type: postgres, host: "{{ pg_host }}", port: "{{ pg_port }}", schema: billing}
  variables:
    - {key: alert_email, value: "team@{{ region }}.example"}
    - {key: thresholds, value: {rows: 10}}
  pools:
    - {name: sagemaker, slots: 2, description: training jobs at once}
""",
    )
    env = airflow_settings.environment(CFG, path)
    assert env["AIRFLOW_VAR_ALERT_EMAIL"] == "team@us-east-1.example"
    assert json.loads(env["AIRFLOW_VAR_THRESHOLDS"]) == {"rows": 10}
    assert json.loads(env["AIRFLOW_CONN_BILLING_DB"]) == {
        "conn_type": "postgres",
        "host": "127.0.0.1",
        "port": 21432,
        "schema": "billing",
    }
    pools = json.loads(airflow_settings.pools_json(airflow_settings.load(CFG, path)))
    assert pools == {"sagemaker": {"slots": 2, "description": "training jobs at once", "include_deferred": False}}


@pytest.mark.parametrize(
    ("entries", "message"),
    [
        (
            "- {conn_id: clinic_db, conn_type: postgres, hots: localhost}",
            r"connections\[0\] \(conn_id 'clinic_db'\)\.hots: Extra inputs are not permitted",
        ),
        (
            '- {conn_id: clinic_db, conn_type: postgres, port: "{{ pg_prot }}"}',
            r"connections\[0\] \(conn_id 'clinic_db'\): unknown placeholder \{\{ pg_prot \}\}; the stack fills .*pg_port",
        ),
        (
            "- {conn_id: clinic_db, conn_type: postgres, port: five}",
            r"connections\[0\] \(conn_id 'clinic_db'\)\.port: Input should be a valid integer",
        ),
        ("- {conn_id: clinic_db}", r"connections\[0\] \(conn_id 'clinic_db'\)\.conn_type: Field required"),
        ("- {conn_type: postgres}", r"connections\[0\]\.conn_id: Field required"),
        (
            "- {conn_id: Clinic-DB, conn_type: postgres}",
            r"connections\[0\] \(conn_id 'Clinic-DB'\)\.conn_id: String should match",
        ),
        (
            "- {conn_id: a, conn_type: http}\n    - {conn_id: a, conn_type: http}",
            r"connections: conn_id 'a' appears twice",
        ),
    ],
)
def test_a_wrong_entry_names_the_file_and_the_entry(tmp_path, entries, message):
    path = write(tmp_path, f"airflow:\n  connections:\n    {entries}\n")
    with pytest.raises(airflow_settings.SettingsError, match=re.escape(str(path)) + ": " + message):
        airflow_settings.environment(CFG, path)


def test_a_misspelt_section_or_broken_yaml_names_the_file(tmp_path):
    path = write(tmp_path, "airflow:\n  conections: []\n")
    with pytest.raises(airflow_settings.SettingsError, match=re.escape(f"{path}: airflow.conections: Extra inputs")):
        airflow_settings.load(CFG, path)
    path.write_text("airflow: [unclosed\n")
    with pytest.raises(airflow_settings.SettingsError, match=re.escape(f"{path}: not valid YAML")):
        airflow_settings.load(CFG, path)


def test_make_up_reports_a_wrong_entry_in_one_line(tmp_path, monkeypatch, capsys):
    from embedded_stack import stack

    bad = write(tmp_path, "airflow:\n  connections:\n    - {conn_id: x, conn_type: aws, hots: h}\n")
    monkeypatch.setattr(airflow_settings, "SETTINGS_FILE", bad)
    monkeypatch.setenv("MLOPS_STATE_DIR", str(tmp_path / "state"))
    assert stack.main(["env"]) == 1
    assert (
        capsys.readouterr().err == f"error: {bad}: connections[0] (conn_id 'x').hots: Extra inputs are not permitted\n"
    )
