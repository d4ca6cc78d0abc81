"""Assemble a model's training set from curated partitions and split it deterministically.

A row's split is a function of its key alone (SHA-256 of seed and key), so a row never moves
between train, validation and test as data grows or a run is repeated, and a model can be
re-evaluated later on exactly the rows it was judged on. The splits are written next to the
training job as `<prefix>/<split>/data.<csv|parquet>` with a `training_data.json` that records the
partitions used and, per dataset, the intervals present and missing between the first and the
last (paths in it are relative, so it holds wherever the folder is copied); the same curated
input gives the same bytes.

The retrain rule reads only manifests: rows in partitions the previous training did not see
(new, or republished with other content) count as new.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from dataclasses import asdict, dataclass, field

from mlops.aws.s3 import put_json
from mlops.lake.reader import CuratedReader
from mlops.project import PermanentError
from mlops.registry.summary import day_ranges, interval_coverage

log = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
FORMATS = ("csv", "parquet")
MANIFEST_NAME = "training_data.json"


class TrainingDataError(PermanentError, ValueError):
    """The curated data cannot make a training set (a missing column, no rows, no labels, a duplicate
    key, an empty split): the same data fails the same way on every try."""


def split_of(key, validation: float, test: float, seed: int = 0) -> str:
    """`train`, `validation` or `test` for one key: a stable hash mapped onto [0, 1)."""
    digest = hashlib.sha256(f"{seed}:{key}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    return "test" if u < test else "validation" if u < test + validation else "train"


def split_frame(frame, key: str, *, validation: float, test: float, seed: int = 0):
    """The split of every row of `frame` (a Series aligned with it)."""
    import pandas as pd

    return pd.Series([split_of(k, validation, test, seed) for k in frame[key]], index=frame.index, dtype=object)


def partition_inventory(s3, curated_bucket: str, datasets, *, start: str | None = None, end: str | None = None) -> list:
    """The published partitions of `datasets` (start <= ds <= end) with rows and a content fingerprint."""
    reader = CuratedReader(bucket=curated_bucket, s3=s3)
    out = []
    for dataset in datasets:
        for part in reader.partitions(dataset, start, end):
            files = reader.manifest(dataset, part.ds)["files"]
            fingerprint = hashlib.sha256(",".join(sorted(f["sha256"] for f in files)).encode()).hexdigest()[:16]
            out.append({"dataset": dataset, "ds": part.ds, "rows": part.rows, "fingerprint": fingerprint})
    return out


def new_rows(current: list, previous: list | None) -> int:
    """Rows in partitions of `current` that `previous` (the last training's inventory) did not hold as they are now."""
    seen = {(p["dataset"], p["ds"], p["fingerprint"]) for p in previous or []}
    return sum(p["rows"] for p in current if (p["dataset"], p["ds"], p["fingerprint"]) not in seen)


@dataclass(frozen=True)
class RetrainCheck:
    retrain: bool
    new_rows: int
    reason: str


def should_retrain(current: list, previous: list | None, min_new_rows: int = 100, force: bool = False) -> RetrainCheck:
    """The retrain rule: retrain when at least `min_new_rows` curated rows are new since the last
    training (all rows for a first model), or when forced (e.g. the manual revision changed)."""
    count = new_rows(current, previous)
    since = "since the last training" if previous is not None else "(no previous training)"
    if force:
        return RetrainCheck(True, count, f"retrain forced; {count} new row(s) {since}")
    if count < min_new_rows:
        return RetrainCheck(False, count, f"{count} new row(s) {since}, below the threshold of {min_new_rows}: skip")
    return RetrainCheck(True, count, f"{count} new row(s) {since} (threshold {min_new_rows})")


@dataclass(frozen=True)
class TrainingData:
    """Where the splits are (S3 URIs by split), their row counts, and the partitions used."""

    uris: dict
    rows: dict
    partitions: list
    manifest_uri: str
    dropped_rows: int = 0
    coverage: dict = field(default_factory=dict)  # per dataset: intervals present and missing

    @property
    def partitions_used(self) -> list[str]:
        return sorted({p["ds"] for p in self.partitions})

    def to_dict(self) -> dict:
        return asdict(self) | {"partitions_used": self.partitions_used}


def _load(reader: CuratedReader, dataset: str, columns: list[str], start, end):
    frame = reader.load(dataset, start, end, latest=True)
    if frame.empty:
        raise TrainingDataError(
            f"curated dataset {dataset!r} has no published rows between {start or '-'} and {end or '-'}"
        )
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise TrainingDataError(
            f"curated dataset {dataset!r} has no column(s) {missing}; it has {sorted(frame.columns)}"
        )
    return frame[columns]


def _encode(frame, fmt: str) -> bytes:
    if fmt == "csv":
        return frame.to_csv(index=False, lineterminator="\n").encode()
    buf = io.BytesIO()
    frame.to_parquet(buf, index=False)
    return buf.getvalue()


def assemble(
    s3,
    *,
    curated_bucket: str,
    datasets,
    key: str,
    features,
    label: str,
    out_bucket: str,
    out_prefix: str,
    start: str | None = None,
    end: str | None = None,
    validation: float = 0.15,
    test: float = 0.2,
    seed: int = 0,
    fmt: str = "csv",
) -> TrainingData:
    """Load `datasets` (newest row per key, stacked), split by key, write each split to S3.

    Rows without a label are dropped, counted in the log, the manifest and the result (`dropped_rows`);
    when no row has one there is nothing to train on (TrainingDataError). CSV is the default because every SageMaker
    framework container reads it; floats are written with full precision, so they round-trip.
    """
    import pandas as pd

    if fmt not in FORMATS:
        raise TrainingDataError(f"format must be one of {FORMATS}, got {fmt!r}")
    columns = [key, *features, label]
    reader = CuratedReader(bucket=curated_bucket, s3=s3)
    inventory = partition_inventory(s3, curated_bucket, datasets, start=start, end=end)
    coverage = interval_coverage(inventory)
    frame = pd.concat([_load(reader, d, columns, start, end) for d in datasets], ignore_index=True)
    duplicated = frame[key].duplicated()
    if duplicated.any():
        raise TrainingDataError(
            f"key {key!r} is not unique across {list(datasets)}: e.g. {frame[key][duplicated].iloc[0]!r}"
        )
    unlabelled = frame[label].isna()
    dropped = int(unlabelled.sum())
    if dropped == len(frame):
        raise TrainingDataError(
            f"none of the {dropped} row(s) of {list(datasets)} has a label {label!r}: there is nothing to train on"
        )
    if dropped:
        log.warning("dropping %d of %d row(s) without a label %r: not trained on", dropped, len(frame), label)
        frame = frame[~unlabelled]
    frame = frame.sort_values(key, kind="mergesort").reset_index(drop=True)
    assignment = split_frame(frame, key, validation=validation, test=test, seed=seed)

    prefix = out_prefix.strip("/")
    uris, rows, files = {}, {}, {}
    for split in SPLITS:
        if split == "validation" and validation == 0:
            continue
        part = frame[assignment == split]
        if part.empty and split != "validation":
            raise TrainingDataError(f"the {split} split is empty ({len(frame)} rows in all); the model needs more data")
        body = _encode(part, fmt)
        s3_key = f"{prefix}/{split}/data.{fmt}"
        s3.put_object(Bucket=out_bucket, Key=s3_key, Body=body)
        uris[split] = f"s3://{out_bucket}/{s3_key}"
        rows[split] = len(part)
        files[split] = {"path": f"{split}/data.{fmt}", "rows": len(part), "sha256": hashlib.sha256(body).hexdigest()}
    manifest = {
        "datasets": list(datasets),
        "key": key,
        "features": list(features),
        "label": label,
        "split": {"validation": validation, "test": test, "seed": seed, "method": "sha256(seed:key)"},
        "format": fmt,
        "files": files,
        "partitions": inventory,
        "dropped_unlabelled_rows": dropped,
        "intervals": coverage,
    }
    put_json(s3, out_bucket, f"{prefix}/{MANIFEST_NAME}", manifest)
    result = TrainingData(uris, rows, inventory, f"s3://{out_bucket}/{prefix}/{MANIFEST_NAME}", dropped, coverage)
    for dataset, c in coverage.items():
        if c["missing"]:
            log.warning("training on %s with interval(s) missing: %s", dataset, day_ranges(c["missing"]))
    log.info("training data %s: %s rows from %d partition(s)", json.dumps(rows), len(frame), len(inventory))
    return result
