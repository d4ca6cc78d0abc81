import textwrap

import pytest
import yaml

from mlops.ingestion.config import ConfigError, load_sources, parse_source


def test_bundled_sources_load():
    sources = {s.name: s for s in load_sources()}
    assert set(sources) == {"clinic", "digits_drop"}
    clinic = sources["clinic"]
    assert clinic.kind == "postgres"
    assert clinic.tables[0].dataset == "diabetes_patients"
    assert clinic.tables[0].changed_at == "updated_at"
    assert sources["digits_drop"].landing_prefix == "digits_drop/incoming/"


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


@pytest.mark.parametrize(
    "overrides, message",
    [
        ({"kind": "oracle"}, "kind must be one of"),
        ({"source": "Clinic-DB"}, "must be lower_snake_case"),
        ({"description": None}, "missing required field 'description'"),
        ({"tables": [{"name": "patients", "key": "id", "dataset": "d"}]}, "need 'changed_at'"),
        (
            {"tables": [{"name": "nope", "key": "id", "changed_at": "t", "dataset": "diabetes_patients"}]},
            "has no SQL template",
        ),
        (
            {"tables": [{"name": "patients", "key": "id", "changed_at": "t", "dataset": "unknown_ds"}]},
            "has no expectation suite",
        ),
        ({"kind": "landing_files"}, "need 'landing_prefix'"),
    ],
)
def test_invalid_source_names_the_problem(overrides, message):
    with pytest.raises(ConfigError, match=message):
        parse_source(_doc(**overrides))
