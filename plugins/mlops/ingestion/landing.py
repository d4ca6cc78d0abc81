"""Files dropped under a landing prefix, each ingested exactly once, by its content.

Every object an ingestion run takes is tagged with the interval that took it
(`mlops-ingest-ds`), how it ended (`mlops-ingest-status`) and the sha256 of its bytes
(`mlops-ingest-sha256`). A run takes the objects with no such tag (so a file that lands late
is picked up by the next run, whatever its date) plus the ones already tagged with its own
interval (so a rerun reproduces the same partition).

Tags alone cannot recognise a redelivery: a new upload of the same bytes is a new object
without tags, and landing objects expire. So the content is what is owned: a ledger in the raw
bucket, one object per sha256 (`_ledger/<source>/<table>/<sha256>.json`), records the interval
that first took those bytes. It is created with `If-None-Match: *`, so of two runs racing for
the same content exactly one wins (the same guarantee as a DynamoDB conditional put, with no
table to provision and no new permission: the execution role already writes the raw bucket).
A file whose content another interval owns is tagged `mlops-duplicate-of` with that interval
and skipped; the owning interval still takes it on a rerun, so its rows stay where they were.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import UTC, datetime

from mlops.aws.s3 import get_json, list_keys
from mlops.lake import layout

log = logging.getLogger(__name__)

TAG_DS = "mlops-ingest-ds"
TAG_STATUS = "mlops-ingest-status"
TAG_SHA = "mlops-ingest-sha256"
TAG_DUPLICATE_OF = "mlops-duplicate-of"
SUFFIXES = (".csv",)
READ_CHUNK = 1024 * 1024
HEADER_LIMIT = 1024 * 1024  # a header line longer than this is read no further


@dataclass(frozen=True)
class LandingFile:
    """A landing object this run takes, with what one read of its bytes told about it."""

    key: str
    part: str
    sha256: str
    size: int
    header: list[str]
    problem: str | None  # why the bytes are not UTF-8 text, if they are not
    path: str  # the local copy that read wrote (the caller removes it), converted without a second GET


def _tags(s3, bucket: str, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


def _put_tags(s3, bucket: str, key: str, tags: dict[str, str]) -> None:
    s3.put_object_tagging(
        Bucket=bucket, Key=key, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}
    )


def mark(s3, bucket: str, key: str, *, ds: str, status: str) -> None:
    """Record that the run for `ds` took `key`, and whether it was published or quarantined."""
    tags = _tags(s3, bucket, key)
    tags.update({TAG_DS: ds, TAG_STATUS: status})
    _put_tags(s3, bucket, key, tags)


def inspect(s3, bucket: str, key: str, copy=None) -> tuple[str, int, list[str], str | None]:
    """(sha256, size, header, problem) of a landing object, from one streamed read.

    The bytes are decoded as strict UTF-8 on the way: a file that is not UTF-8 text (random
    bytes, a Latin-1 export) is refused here, with the offset and line of the first bad byte,
    instead of reaching curated as binary columns. With `copy` (a binary file), the bytes are
    also written there, so converting the file later needs no second GET.
    """
    body = s3.get_object(Bucket=bucket, Key=key)["Body"]
    digest = hashlib.sha256()
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    size, newlines, problem = 0, 0, None
    head = bytearray()
    for chunk in iter(lambda: body.read(READ_CHUNK), b""):
        digest.update(chunk)
        if copy is not None:
            copy.write(chunk)
        if len(head) < HEADER_LIMIT and b"\n" not in head:
            head += chunk[: HEADER_LIMIT - len(head)]
        if problem is None:
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError as err:
                seen = err.object  # the decoder's carried-over bytes (never a newline) + this chunk
                offset = size - (len(seen) - len(chunk)) + err.start
                line = newlines + seen[: err.start].count(b"\n") + 1
                problem = (
                    f"not UTF-8 text: byte 0x{seen[err.start]:02x} at offset {offset} (line {line}) ({err.reason})"
                )
            newlines += chunk.count(b"\n")
        size += len(chunk)
    if problem is None:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as err:
            problem = f"not UTF-8 text: the file ends inside a multi-byte character ({err.reason})"
    first_line = bytes(head).split(b"\n", 1)[0].rstrip(b"\r").decode("utf-8", errors="replace").lstrip("\ufeff")
    try:
        header = next(csv.reader([first_line]), [])
    except csv.Error:  # not CSV at all: the raw names are enough to report on
        header = first_line.split(",")
    return digest.hexdigest(), size, header, problem


def content_owner(s3, *, raw_bucket: str, source: str, table: str, sha256: str) -> dict | None:
    """The ledger entry of these bytes (the interval that first took them), or None."""
    try:
        return get_json(s3, raw_bucket, layout.ledger_key(source, table, sha256))
    except s3.exceptions.NoSuchKey:
        return None


def claim(s3, *, raw_bucket: str, source: str, table: str, sha256: str, ds: str, key: str) -> dict:
    """The owner of these bytes: this interval if no run took them before, else the first one."""
    import json

    owner = content_owner(s3, raw_bucket=raw_bucket, source=source, table=table, sha256=sha256)
    if owner is not None:
        return owner
    entry = {
        "sha256": sha256,
        "ds": ds,
        "landing_key": key,
        "part": layout.part_name(key),
        "claimed_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    try:
        s3.put_object(
            Bucket=raw_bucket,
            Key=layout.ledger_key(source, table, sha256),
            Body=json.dumps(entry, indent=2, sort_keys=True).encode(),
            ContentType="application/json",
            IfNoneMatch="*",
        )
    except s3.exceptions.ClientError as err:
        if err.response["Error"]["Code"] not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
            raise
        # another run claimed it first: the content is theirs
        return content_owner(s3, raw_bucket=raw_bucket, source=source, table=table, sha256=sha256)
    return entry


def _mark_duplicate(s3, bucket: str, key: str, sha256: str, owner: dict) -> None:
    tags = _tags(s3, bucket, key)
    tags.update(
        {
            TAG_DS: owner["ds"],
            TAG_STATUS: "duplicate",
            TAG_SHA: sha256,
            TAG_DUPLICATE_OF: f"ds={owner['ds']}/{owner['part']}",
        }
    )
    _put_tags(s3, bucket, key, tags)
    log.warning(
        "s3://%s/%s has the same bytes (sha256 %s) as %s, taken by ds=%s: skipped, tagged %s",
        bucket,
        key,
        sha256[:16],
        owner["landing_key"],
        owner["ds"],
        TAG_DUPLICATE_OF,
    )


def _mark_taken(s3, bucket: str, key: str, sha256: str, ds: str) -> None:
    tags = _tags(s3, bucket, key)
    tags.pop(TAG_DUPLICATE_OF, None)
    tags.update({TAG_DS: ds, TAG_SHA: sha256})
    tags.setdefault(TAG_STATUS, "extracted")
    _put_tags(s3, bucket, key, tags)


def _download(s3, bucket: str, key: str, workdir: str | None) -> tuple[str, int, list[str], str | None, str]:
    """inspect() of the object, its bytes kept in a new local file (whose path comes last)."""
    with tempfile.NamedTemporaryFile(dir=workdir, prefix="landing-", suffix=".csv", delete=False) as local:
        try:
            return *inspect(s3, bucket, key, copy=local), local.name
        except BaseException:
            os.remove(local.name)
            raise


def files_for_interval(
    s3, *, bucket: str, prefix: str, ds: str, raw_bucket: str, source: str, table: str, workdir: str | None = None
) -> list[LandingFile]:
    """Landing objects this interval's run owns, one per content; other copies tagged duplicates.

    Candidates are the untagged objects and this interval's own. Their bytes are grouped by
    sha256: content the ledger gives to another interval is skipped (every copy tagged
    `duplicate-of`); content new to the ledger is claimed for this interval; of several copies
    of content this interval owns, it takes the one the ledger names (or the first by key).

    Each candidate is read once (one GET), into a local file under `workdir` (the system's temp
    folder when None): the copies the run takes stay there for the conversion (so `workdir`
    needs room for them), the others are removed.
    """
    candidates: dict[str, list[tuple[str, int, list[str], str | None, str]]] = {}
    for obj in list_keys(s3, bucket, prefix):
        key = obj["Key"]
        if not key.lower().endswith(SUFFIXES):
            continue
        taken_by = _tags(s3, bucket, key).get(TAG_DS)
        if taken_by is not None and taken_by != ds:
            continue
        sha256, size, header, problem, path = _download(s3, bucket, key, workdir)
        candidates.setdefault(sha256, []).append((key, size, header, problem, path))
    taken = []
    for sha256, copies in sorted(candidates.items()):
        copies.sort()
        owner = claim(s3, raw_bucket=raw_bucket, source=source, table=table, sha256=sha256, ds=ds, key=copies[0][0])
        keys = [c[0] for c in copies]
        primary = owner["landing_key"] if owner["landing_key"] in keys else keys[0]
        for key, size, header, problem, path in copies:
            if owner["ds"] != ds or key != primary:
                os.remove(path)
                _mark_duplicate(s3, bucket, key, sha256, owner)
                continue
            _mark_taken(s3, bucket, key, sha256, ds)
            taken.append(LandingFile(key, layout.part_name(key), sha256, size, header, problem, path))
    return sorted(taken, key=lambda f: f.key)
