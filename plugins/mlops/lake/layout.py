"""Where every object lives in S3. One place, so readers, writers and IAM agree.

    raw        s3://<raw>/<source>/<table>/ds=<YYYY-MM-DD>/<part>.parquet
               (<part> is data-00000, data-00001, ... for a database table; for a landing file its
               cleaned name and a short hash of its full landing key, e.g. batch_01-3f2a9c1e)
    quarantine s3://<raw>/_quarantine/<source>/<table>/ds=<YYYY-MM-DD>/<part>.{parquet,validation.json}
               (<part>.csv instead of .parquet for a landing file that could not be read at all)
    ledger     s3://<raw>/_ledger/<source>/<table>/<sha256>.json   (which interval took that content)
    curated    s3://<curated>/<dataset>/ds=<YYYY-MM-DD>/data-<sha256[:16]>.parquet
               s3://<curated>/<dataset>/ds=<YYYY-MM-DD>/_manifest.json   (the publish marker)

    capture    s3://<artifacts>/<capture prefix>/<endpoint>/<variant>/<yyyy>/<mm>/<dd>/<hh>/<file>.jsonl
               (SageMaker's data capture layout; mlops.serving.predict writes the same for endpoints
               that do not capture, and ingest_predictions_<model> reads it into predictions_<model>)

Curated data files are named by their content, so publishing the same interval twice
writes the same keys; the manifest is what makes a partition visible.
"""

from __future__ import annotations

import hashlib
import re
from datetime import date

QUARANTINE_PREFIX = "_quarantine"
LEDGER_PREFIX = "_ledger"
MANIFEST_NAME = "_manifest.json"
_DS = re.compile(r"ds=(\d{4}-\d{2}-\d{2})/")


def ds_of(value: date | str) -> str:
    """The partition label of a data interval start: `YYYY-MM-DD`."""
    if isinstance(value, str):
        return date.fromisoformat(value[:10]).isoformat()
    return value.strftime("%Y-%m-%d")


def raw_prefix(source: str, table: str, ds: str) -> str:
    return f"{source}/{table}/ds={ds}/"


def data_part(number: int) -> str:
    """The raw part name of the `number`-th object extracted from a database table."""
    return f"data-{number:05d}"


def raw_key(source: str, table: str, ds: str, part: str) -> str:
    return f"{raw_prefix(source, table, ds)}{part}.parquet"


def quarantine_prefix(source: str, table: str, ds: str) -> str:
    return f"{QUARANTINE_PREFIX}/{source}/{table}/ds={ds}/"


def quarantine_keys(source: str, table: str, ds: str, part: str, data_suffix: str = ".parquet") -> tuple[str, str]:
    prefix = quarantine_prefix(source, table, ds)
    return f"{prefix}{part}{data_suffix}", f"{prefix}{part}.validation.json"


def ledger_key(source: str, table: str, sha256: str) -> str:
    """The ledger entry of one landing file content: the interval that first took those bytes."""
    return f"{LEDGER_PREFIX}/{source}/{table}/{sha256}.json"


def dataset_prefix(dataset: str) -> str:
    return f"{dataset}/"


def curated_prefix(dataset: str, ds: str) -> str:
    return f"{dataset}/ds={ds}/"


def curated_data_key(dataset: str, ds: str, sha256: str) -> str:
    return f"{curated_prefix(dataset, ds)}data-{sha256[:16]}.parquet"


def manifest_key(dataset: str, ds: str) -> str:
    return f"{curated_prefix(dataset, ds)}{MANIFEST_NAME}"


def partition_of(key: str) -> str | None:
    """The `YYYY-MM-DD` partition a key belongs to, or None."""
    m = _DS.search(key)
    return m.group(1) if m else None


def part_name(landing_key: str) -> str:
    """A safe raw part name for a landing file, unique per landing key.

    The base name without extension, cleaned to safe characters, plus 8 hex digits of the
    sha256 of the full key: two files whose names clean up alike (`l5 batch ü.csv` and
    `l5_batch__.csv`) still get objects of their own.
    """
    stem = landing_key.rsplit("/", 1)[-1].rsplit(".", 1)[0]
    clean = re.sub(r"[^A-Za-z0-9_.-]", "_", stem) or "file"
    return f"{clean}-{hashlib.sha256(landing_key.encode()).hexdigest()[:8]}"


def capture_endpoint_prefix(capture_prefix: str, endpoint: str) -> str:
    """Where an endpoint's capture files live; one folder per variant below it."""
    return f"{capture_prefix.strip('/')}/{endpoint}/"


def capture_day_prefix(capture_prefix: str, endpoint: str, variant: str, day: date) -> str:
    """The capture files of one variant and day (its 24 hour folders)."""
    return f"{capture_endpoint_prefix(capture_prefix, endpoint)}{variant}/{day:%Y/%m/%d}/"


def capture_hour_prefix(capture_prefix: str, endpoint: str, variant: str, hour) -> str:
    """The hour folder `yyyy/mm/dd/hh/` a capture file written at `hour` (a datetime, UTC) goes to."""
    return f"{capture_endpoint_prefix(capture_prefix, endpoint)}{variant}/{hour:%Y/%m/%d/%H}/"


_CAPTURE_HOUR = re.compile(r"/(\d{4})/(\d{2})/(\d{2})/(\d{2})/[^/]+$")


def capture_hour_of(key: str) -> tuple[int, int, int, int] | None:
    """(year, month, day, hour) of a capture file's hour folder, or None if the key has none."""
    m = _CAPTURE_HOUR.search(key)
    return tuple(int(g) for g in m.groups()) if m else None
