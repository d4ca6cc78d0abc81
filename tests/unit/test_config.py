"""Source files: the bundled ones load; every mistake names the file, the field path and what is allowed."""

import textwrap

import pytest
import yaml

from mlops.ingestion.config import ConfigError, load_source, load_sources, parse_source

ALLOWED = (
    "(allowed: source, kind, description, connection_id, tables, schedule, start_date, owner, tags, "
    "landing_prefix, retries)"
)


def test_bundled_sources_load():
    sources = {s.name: s for s in load_sources()}
    assert {"clinic", "digits_drop"} <= set(sources)  # and any source added by configuration
    clinic = sources["clinic"]
    assert clinic.kind == "postgres" and clinic.dag_id == "ingest_clinic"
    assert clinic.tables[0].dataset == "diabetes_patients"
    assert clinic.tables[0].changed_at == "updated_at"
    assert clinic.path.name == "clinic.yaml" and clinic.retries == 3 and clinic.schedule == "@daily"
    assert sources["digits_drop"].landing_prefix == "digits_drop/incoming/"
    assert sources["digits_drop"].connection_id == "aws_default"


def _doc(**overrides):
    doc = yaml.safe_load(
        textwrap.dedent(
            """
            source: clinic
            kind: postgres
            description: test
            tables:
              - {name: patients, key: patient_id, changed_at: updated_at, dataset: diabetes_patients}
            """
        )
    )
    doc.update(overrides)
    return doc


def _error(tmp_path, doc, name="clinic.yaml") -> str:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(doc) if isinstance(doc, dict) else doc)
    with pytest.raises(ConfigError) as err:
        load_source(path)
    return str(err.value)


def test_defaults():
    cfg = parse_source(_doc())
    assert (cfg.connection_id, cfg.schedule, cfg.retries, cfg.owner) == ("clinic_db", "@daily", 3, "data-engineering")
    assert cfg.tables[0].suite_name == "diabetes_patients" and cfg.tags == ()


@pytest.mark.parametrize(
    "typo, field",
    [("shedule", "schedule"), ("start_dat", "start_date"), ("retires", "retries"), ("ownr", "owner")],
)
def test_a_typo_in_an_optional_key_is_an_error_with_a_suggestion(tmp_path, typo, field):
    message = _error(tmp_path, _doc(**{typo: "x"}))
    path = tmp_path / "clinic.yaml"
    assert message == f"{path}: {typo}: unknown field '{typo}'; did you mean '{field}'? {ALLOWED}"


def test_retries_must_be_an_integer(tmp_path):
    path = tmp_path / "clinic.yaml"
    assert _error(tmp_path, _doc(retries="three")) == f"{path}: retries: must be a valid integer, got 'three'"
    # Not coerced either: a quoted number is a typo waiting to happen.
    assert "retries: must be a valid integer, got '3'" in _error(tmp_path, _doc(retries="3"))


@pytest.mark.parametrize(
    "overrides, field, message",
    [
        ({"kind": "oracle"}, "kind", "must be 'postgres' or 'landing_files', got 'oracle'"),
        ({"source": "Clinic-DB"}, "source", "'Clinic-DB' must be lower_snake_case"),
        ({"source": "other"}, "source", "'other' must match the file name 'clinic'"),
        ({"description": None}, "description", "must be a valid string, got nothing"),
        ({"schedule": "@dayly"}, "schedule", "'@dayly' is not a cron expression; did you mean '@daily'?"),
        ({"start_date": "tomorrow"}, "start_date", "must be a date like 2026-10-01, got 'tomorrow'"),
        ({"retries": 99}, "retries", "must be less than or equal to 10, got 99"),
        ({"tags": "nightly"}, "tags", "must be a list, got 'nightly'"),
        ({"tables": []}, "tables", "must list at least one entry"),
        (
            {"tables": [{"name": "patients", "key": "id", "dataset": "diabetes_patients", "changed": "t"}]},
            "tables[0].changed",
            "unknown field 'changed'; did you mean 'changed_at'? (allowed: name, dataset, key, changed_at, "
            "expectations, format)",
        ),
        (
            {"tables": [{"name": "patients", "key": "id", "dataset": "diabetes_patients"}]},
            "tables[0].changed_at",
            "postgres tables need changed_at",
        ),
        (
            {"tables": [{"name": "nope", "key": "id", "changed_at": "t", "dataset": "diabetes_patients"}]},
            "tables[0].name",
            "no SQL template at",
        ),
        (
            {"tables": [{"name": "patients", "key": "id", "changed_at": "t", "dataset": "unknown_ds"}]},
            "tables[0].dataset",
            "no expectation suite at",
        ),
        ({"kind": "landing_files"}, "landing_prefix", "landing_files sources need a landing_prefix"),
    ],
)
def test_invalid_source_names_file_field_and_problem(tmp_path, overrides, field, message):
    first = _error(tmp_path, _doc(**overrides)).splitlines()[0]
    assert first.startswith(f"{tmp_path / 'clinic.yaml'}: {field}: {message}")


def test_every_problem_of_a_file_is_listed(tmp_path):
    lines = _error(tmp_path, _doc(shedule="@daily", retries="three", kind="oracle")).splitlines()
    assert [line.split(": ")[1] for line in lines] == ["kind", "retries", "shedule"]


def test_yaml_syntax_and_top_level_errors_name_the_file(tmp_path):
    assert _error(tmp_path, "source: [clinic\n").startswith(f"{tmp_path / 'clinic.yaml'}: line 2")
    assert "expected a mapping of fields at the top level" in _error(tmp_path, "- clinic\n")
