"""Where every object lives in S3. One place, so readers, writers and IAM agree.

    raw        s3://<raw>/<source>/<table>/ds=<YYYY-MM-DD>/<part>.parquet
               (<part> is data-00000, data-00001, ... for a database table; for a landing file its
               cleaned name and a short hash of its full landing key, e.g. batch_01-3f2a9c1e)
    quarantine s3://<raw>/_quarantine/<source>/<table>/ds=<YYYY-MM-DD>/<part>.{parquet,validation.json}
               (<part>.csv instead of .parquet for a landing file that could not be read at all)
    ledger     s3://<raw>/_ledger/<source>/<table>/<sha256>.json   (which interval took that content)
    curated    s3://<curated>/<dataset>/ds=<YYYY-MM-DD>/data-<sha256[:16]>.parquet
               s3://<curated>/<dataset>/ds=<YYYY-MM-DD>/_manifest.json   (the publish marker)

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
