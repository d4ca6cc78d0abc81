"""A column that changes type in the source database is rejected, not published as text."""

from mlops.ingestion.steps import extract_postgres_interval
from tests.helpers.clinic import patients_sql, validate_patients


def test_a_double_column_turned_numeric_is_rejected_with_the_cast_to_add(s3, pg_uri, seeded_clinic):
    ds, bucket = "2026-10-02", s3.buckets["raw"]
    sql = patients_sql(ds, "2026-10-03")
    # what a migration of bmi from double precision to numeric(5, 1) delivers
    sql = sql.replace("    bmi,", "    bmi::numeric(5, 1) AS bmi,", 1)
    parts = extract_postgres_interval(
        s3, uri=pg_uri, sql=sql, raw_bucket=bucket, source="clinic", table="patients", ds=ds
    )

    report = validate_patients(s3, parts, ds)

    assert report.accepted == []
    assert "expect_column_values_to_be_of_type on column 'bmi'" in report.message
    assert "expected type float64, actual str" in report.message
    assert '"bmi"::double precision AS "bmi"' in report.message
