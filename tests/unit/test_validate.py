import json

import pandas as pd
import pytest

from mlops.ingestion.config import EXPECTATIONS_DIR
from mlops.ingestion.validate import SuiteContractError, column_contract, load_suite_document, validate_frame


def _patients(n=5):
    return pd.DataFrame(
        {
            "patient_id": range(1, n + 1),
            "age": [50] * n,
            "sex": [1, 2] * (n // 2) + [1] * (n % 2),
            "bmi": [25.0] * n,
            "blood_pressure": [90.0] * n,
            "s1_total_cholesterol": [180.0] * n,
            "s2_ldl": [100.0] * n,
            "s3_hdl": [50.0] * n,
            "s4_tch_hdl_ratio": [4.0] * n,
            "s5_log_triglycerides": [4.5] * n,
            "s6_glucose": [90.0] * n,
            "progression": [150.0] * n,
            "updated_at": pd.Timestamp("2026-10-01", tz="UTC"),
        }
    )


SUITE = load_suite_document(EXPECTATIONS_DIR / "diabetes_patients.json")


def test_good_batch_passes():
    outcome = validate_frame(_patients(), SUITE)
    assert outcome.success
    assert outcome.rows == 5
    assert outcome.evaluated == len(SUITE["expectations"])
    assert "passed all" in outcome.message("p")


def test_bad_batch_names_each_failed_expectation_and_row_count():
    df = _patients(6)
    df.loc[0:1, "age"] = 300
    df.loc[2, "sex"] = 7
    outcome = validate_frame(df, SUITE)
    assert not outcome.success
    failed = {(f.expectation, f.column): f.unexpected_count for f in outcome.failures}
    assert failed == {
        ("expect_column_values_to_be_between", "age"): 2,
        ("expect_column_values_to_be_in_set", "sex"): 1,
    }
    msg = outcome.message("partition clinic/patients/ds=2026-10-01")
    assert "ds=2026-10-01" in msg
    assert "expect_column_values_to_be_between on column 'age': 2 row(s) broke it" in msg
    assert "expect_column_values_to_be_in_set on column 'sex': 1 row(s) broke it" in msg


def test_missing_column_is_reported():
    outcome = validate_frame(_patients().drop(columns=["bmi"]), SUITE)
    assert not outcome.success
    assert any(f.expectation == "expect_table_columns_to_match_set" for f in outcome.failures)


def _message(df, suite=SUITE):
    outcome = validate_frame(df, suite)
    assert not outcome.success
    return outcome.message("partition clinic/patients/ds=2026-10-01")


def test_an_undeclared_column_is_rejected_with_its_actual_type():
    df = _patients().assign(patient_name="Ann", ssn=123456789)
    msg = _message(df)
    assert "unexpected column(s): 'patient_name' (not in the contract, actual str)" in msg
    assert "'ssn' (not in the contract, actual int64)" in msg


def test_a_dropped_column_is_rejected_with_its_expected_type():
    msg = _message(_patients().drop(columns=["bmi"]))
    assert "missing column(s): 'bmi' (expected float64)" in msg


def test_double_arriving_as_numeric_text_is_rejected_with_the_cast_to_add():
    df = _patients()
    df["bmi"] = df["bmi"].map(lambda v: f"{v:.1f}")  # what numeric_as_text makes of a numeric column
    msg = _message(df)
    assert "expect_column_values_to_be_of_type on column 'bmi'" in msg
    assert "expected type float64, actual str" in msg
    assert "cast it in the table's SQL" in msg


def test_an_expectation_that_cannot_be_evaluated_carries_gx_reason():
    df = _patients()
    df["age"] = df["age"].astype(str)  # an int column that became text
    msg = _message(df)
    assert "expect_column_values_to_be_between on column 'age'" in msg
    assert (
        "could not be evaluated: Column values, min_value, and max_value must either be None or of the same type" in msg
    )
    assert "column 'age' is str" in msg
    assert "expected type one of int32/int64, actual str" in msg


def test_a_missing_label_is_rejected():
    df = _patients()
    df["progression"] = df["progression"].astype(float)
    df.loc[1, "progression"] = None
    msg = _message(df)
    assert "expect_column_values_to_not_be_null on column 'progression': 1 row(s) broke it" in msg


def test_shipped_suites_declare_every_column_its_type_and_a_non_null_label():
    for name, label in (("diabetes_patients", "progression"), ("digits_images", "label")):
        doc = load_suite_document(EXPECTATIONS_DIR / f"{name}.json")
        contract = column_contract(doc)
        assert label in contract.columns and all(contract.types[c] for c in contract.columns)
        assert any(
            e["type"] == "expect_column_values_to_not_be_null" and e["kwargs"] == {"column": label, "mostly": 1.0}
            for e in doc["expectations"]
        )


def test_a_suite_without_a_column_contract_is_refused(tmp_path):
    path = tmp_path / "loose.json"
    path.write_text(json.dumps({"name": "loose", "expectations": [_not_null("a")]}))
    with pytest.raises(SuiteContractError, match="suite 'loose' declares no column contract"):
        load_suite_document(path)
    columns = {"type": "expect_table_columns_to_match_set", "kwargs": {"column_set": ["a", "b"], "exact_match": True}}
    typed = {"type": "expect_column_values_to_be_of_type", "kwargs": {"column": "a", "type_": "int64"}}
    path.write_text(json.dumps({"name": "loose", "expectations": [columns, typed]}))
    with pytest.raises(SuiteContractError, match=r"declares no type for column\(s\) \['b'\]"):
        load_suite_document(path)
    not_exact = {**columns, "kwargs": {**columns["kwargs"], "exact_match": False}}
    path.write_text(json.dumps({"name": "loose", "expectations": [not_exact, typed]}))
    with pytest.raises(SuiteContractError, match="declares no column contract"):
        load_suite_document(path)


def _not_null(column):
    return {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": column}}
