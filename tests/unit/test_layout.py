from datetime import date

from mlops.lake import layout


def test_keys_follow_the_documented_layout():
    assert layout.raw_key("clinic", "patients", "2026-10-01", layout.data_part(0)) == (
        "clinic/patients/ds=2026-10-01/data-00000.parquet"
    )
    assert layout.manifest_key("diabetes_patients", "2026-10-01") == "diabetes_patients/ds=2026-10-01/_manifest.json"
    assert layout.curated_data_key("d", "2026-10-01", "ab" * 32) == "d/ds=2026-10-01/data-abababababababab.parquet"
    data, result = layout.quarantine_keys("clinic", "patients", "2026-10-01", "data-00000")
    assert data.startswith("_quarantine/clinic/patients/ds=2026-10-01/")
    assert result.endswith(".validation.json")


def test_partition_labels():
    assert layout.ds_of(date(2026, 10, 1)) == "2026-10-01"
    assert layout.ds_of("2026-10-01T00:00:00+00:00") == "2026-10-01"
    assert layout.partition_of("d/ds=2026-10-03/_manifest.json") == "2026-10-03"
    assert layout.partition_of("d/other") is None
    assert layout.part_name("digits_drop/incoming/batch 01.csv").startswith("batch_01-")
    # names that clean up alike stay apart: the suffix hashes the full landing key
    a, b = layout.part_name("in/l5 batch ü.csv"), layout.part_name("in/l5_batch__.csv")
    assert a != b and a.startswith("l5_batch__-") and b.startswith("l5_batch__-")
    assert layout.part_name("in/l5 batch ü.csv") == a
