"""The shipped clinic.patients table as the tests extract and validate it."""

from mlops.ingestion.config import EXPECTATIONS_DIR, SQL_DIR
from mlops.ingestion.steps import validate_parts


def patients_sql(start: str, end: str) -> str:
    """The shipped extraction SQL of clinic.patients, rendered for the interval [start, end)."""
    template = (SQL_DIR / "clinic" / "patients.sql").read_text()
    return template.replace("{{ data_interval_start }}", start).replace("{{ data_interval_end }}", end)


def validate_patients(s3, parts: list[dict], ds: str):
    """The validation report of extracted clinic/patients parts against the diabetes_patients suite."""
    return validate_parts(
        s3,
        raw_bucket=s3.buckets["raw"],
        parts=parts,
        suite_path=EXPECTATIONS_DIR / "diabetes_patients.json",
        source="clinic",
        table="patients",
        ds=ds,
    )
