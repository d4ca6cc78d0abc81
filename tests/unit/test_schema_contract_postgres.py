"""A column that changes type in the source database is rejected, not published as text."""

from mlops.ingestion.config import EXPECTATIONS_DIR, SQL_DIR
from mlops.ingestion.steps import extract_postgres_interval, validate_parts


def test_a_double_column_turned_numeric_is_rejected_with_the_cast_to_add(s3, pg_uri, seeded_clinic):
    ds, bucket = "2026-10-02", s3.buckets["raw"]
    template = (SQL_DIR / "clinic" / "patients.sql").read_text()
    sql = template.replace("{{ data_interval_start }}", ds).replace("{{ data_interval_end }}", "2026-10-03")
    # what a migration of bmi from double precision to numeric(5, 1) delivers
    sql = sql.replace("    bmi,", "    bmi::numeric(5, 1) AS bmi,", 1)
    parts = extract_postgres_interval(
        s3, uri=pg_uri, sql=sql, raw_bucket=bucket, source="clinic", table="patients", ds=ds
    )

    report = validate_parts(
        s3,
        raw_bucket=bucket,
        parts=parts,
        suite_path=EXPECTATIONS_DIR / "diabetes_patients.json",
        source="clinic",
        table="patients",
        ds=ds,
    )

    assert report.accepted == []
    assert "expect_column_values_to_be_of_type on column 'bmi'" in report.message
    assert "expected type float64, actual str" in report.message
    assert '"bmi"::double precision AS "bmi"' in report.message
