"""The training data cursor on the model package, and the rows that arrived since."""

import re

import pytest

from mlops.aws.s3 import put_json
from mlops.lake import layout
from mlops.lake.reader import CuratedReader
from mlops.registry.data_cursor import DataCursor

DATASET = "diabetes_patients"


def _publish(s3, ds, rows):
    """A published partition as readers see it: its manifest (the data files do not matter here)."""
    files = [{"key": layout.curated_data_key(DATASET, ds, f"{ds}{rows}".ljust(16, "0")), "rows": rows}]
    put_json(s3, s3.buckets["curated"], layout.manifest_key(DATASET, ds), {"ds": ds, "rows": rows, "files": files})


@pytest.fixture
def reader(s3):
    for day, rows in [(1, 10), (2, 20), (4, 40), (5, 50)]:
        _publish(s3, f"2026-10-0{day}", rows)
    return CuratedReader(bucket=s3.buckets["curated"], s3=s3)


def test_cursor_records_what_training_read_in_a_value_sagemaker_accepts(reader):
    cursor = DataCursor.of(DATASET, reader.partitions(DATASET, "2026-10-02", "2026-10-04"))
    assert cursor == DataCursor(DATASET, "2026-10-02", "2026-10-04", 2, 60)
    (key, value), *_ = cursor.metadata().items()
    assert (key, value) == ("data:diabetes_patients", "ds=2026-10-02/2026-10-04 partitions=2 rows=60")
    assert re.fullmatch(r"[\w .:/=+\-@]{1,256}", value)  # SageMaker's CustomerMetadataValue
    props = {**cursor.metadata(), "version": "V1.0.0.0", "data:broken": "not a cursor"}
    assert DataCursor.from_metadata(props) == {DATASET: cursor}

    inventory = [
        {"dataset": "b", "ds": "2026-10-03", "rows": 5, "fingerprint": "f1"},
        {"dataset": "a", "ds": "2026-10-02", "rows": 7, "fingerprint": "f2"},
        {"dataset": "b", "ds": "2026-10-01", "rows": 1, "fingerprint": "f3"},
    ]
    assert DataCursor.from_inventory(inventory) == (
        DataCursor("a", "2026-10-02", "2026-10-02", 1, 7),
        DataCursor("b", "2026-10-01", "2026-10-03", 2, 6),
    )
    with pytest.raises(ValueError, match="no partitions"):
        DataCursor.of(DATASET, [])
