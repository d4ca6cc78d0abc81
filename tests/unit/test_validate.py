import pandas as pd

from mlops.ingestion.config import EXPECTATIONS_DIR
from mlops.ingestion.validate import load_suite_document, validate_frame


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
