"""What data a model was trained on, and how much curated data arrived since (the retrain rule).

A training run's cursor is, per curated dataset, the range of partitions it read, how many and
their rows. It travels on the model package as a CustomerMetadataProperties entry; SageMaker
allows only letters, digits, space and `_.:/=+-@` there, so it is a plain string, not JSON:

    data:diabetes_patients = "ds=2026-10-01/2026-10-21 partitions=21 rows=442"

The retrain rule itself (`training_data.should_retrain`) compares partition fingerprints with
the training manifest (training_data.json, linked from the package as `training-data`); the
cursor is the readable summary of the same facts on the package.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

METADATA_PREFIX = "data:"
_VALUE = re.compile(r"^ds=(\d{4}-\d{2}-\d{2})/(\d{4}-\d{2}-\d{2}) partitions=(\d+) rows=(\d+)$")


@dataclass(frozen=True)
class DataCursor:
    dataset: str
    first_ds: str
    last_ds: str
    partitions: int
    rows: int

    @classmethod
    def of(cls, dataset: str, partitions) -> DataCursor:
        """The cursor of a training run that read `partitions` (Partition objects or manifests)."""
        parts = _normalise(partitions)
        if not parts:
            raise ValueError(f"training read no partitions of {dataset!r}; there is nothing to record")
        return cls(dataset, parts[0][0], parts[-1][0], len(parts), sum(rows for _, rows in parts))

    @classmethod
    def from_inventory(cls, inventory: list[dict]) -> tuple[DataCursor, ...]:
        """One cursor per dataset of a training inventory (training_data.partition_inventory)."""
        datasets = sorted({p["dataset"] for p in inventory})
        return tuple(cls.of(d, [p for p in inventory if p["dataset"] == d]) for d in datasets)

    def metadata(self) -> dict[str, str]:
        return {
            METADATA_PREFIX + self.dataset: (
                f"ds={self.first_ds}/{self.last_ds} partitions={self.partitions} rows={self.rows}"
            )
        }

    @classmethod
    def from_metadata(cls, properties: dict[str, str] | None) -> dict[str, DataCursor]:
        """Cursors by dataset from a model package's CustomerMetadataProperties."""
        out = {}
        for key, value in (properties or {}).items():
            m = _VALUE.match(value) if key.startswith(METADATA_PREFIX) else None
            if m:
                dataset = key[len(METADATA_PREFIX) :]
                out[dataset] = cls(dataset, m[1], m[2], int(m[3]), int(m[4]))
        return out

    def __str__(self) -> str:
        return f"{self.dataset} {self.first_ds}..{self.last_ds} ({self.partitions} partitions, {self.rows} rows)"


def _normalise(partitions: Iterable) -> list[tuple[str, int]]:
    """(ds, rows) sorted by day, from reader Partitions or manifest dicts."""
    pairs = [(p["ds"], int(p["rows"])) if isinstance(p, dict) else (p.ds, int(p.rows)) for p in partitions]
    return sorted(pairs)
