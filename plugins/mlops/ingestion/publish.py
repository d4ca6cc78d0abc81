"""Quarantine rejected batches and publish accepted ones to the curated bucket atomically.

Publishing copies each validated raw object to a content-named key in the curated partition,
then writes the partition's `_manifest.json` in one PUT. Readers go through the manifest, so
they see the complete new partition or the previous one, never a mix; the manifest is
deterministic, so publishing an interval twice leaves identical objects. Data files that the
new manifest no longer lists are deleted only after it is in place.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mlops.aws.s3 import get_json, list_keys, put_json
from mlops.lake import layout

log = logging.getLogger(__name__)

MANIFEST_VERSION = 1


class PublishError(RuntimeError):
    """The batch cannot be published as validated (e.g. the raw object changed since)."""


@dataclass(frozen=True)
class Part:
    """One validated raw object: where it is, what it holds, which version was checked."""

    key: str
    etag: str
    sha256: str
    rows: int

    @classmethod
    def from_dict(cls, d: dict) -> Part:
        return cls(d["key"], d["etag"], d["sha256"], int(d["rows"]))


def quarantine(
    s3, raw_bucket: str, raw_key: str, source: str, table: str, ds: str, part: str, validation: dict
) -> dict:
    """Copy a rejected raw object and its validation result under the quarantine prefix."""
    data_key, result_key = layout.quarantine_keys(source, table, ds, part)
    s3.copy_object(Bucket=raw_bucket, Key=data_key, CopySource={"Bucket": raw_bucket, "Key": raw_key})
    put_json(s3, raw_bucket, result_key, validation)
    log.warning(
        "quarantined s3://%s/%s with its validation result at s3://%s/%s", raw_bucket, data_key, raw_bucket, result_key
    )
    return {"data": f"s3://{raw_bucket}/{data_key}", "validation": f"s3://{raw_bucket}/{result_key}"}


def publish_partition(
    s3,
    raw_bucket: str,
    parts: list[Part],
    curated_bucket: str,
    dataset: str,
    ds: str,
    interval: tuple[str, str],
    columns: list[str],
    key_column: str,
    changed_at: str | None,
    source: str,
) -> dict:
    """Make `parts` the content of curated partition `dataset/ds=<ds>`; returns the manifest."""
    files = []
    for part in sorted(parts, key=lambda p: p.key):
        target = layout.curated_data_key(dataset, ds, part.sha256)
        _changed = PublishError(
            f"s3://{raw_bucket}/{part.key} changed after it was validated; rerun the interval "
            "so the new content is validated before it is published"
        )
        # Checked here and enforced again by CopySourceIfMatch (S3 applies it atomically).
        if s3.head_object(Bucket=raw_bucket, Key=part.key)["ETag"] != part.etag:
            raise _changed
        try:
            s3.copy_object(
                Bucket=curated_bucket,
                Key=target,
                CopySource={"Bucket": raw_bucket, "Key": part.key},
                CopySourceIfMatch=part.etag,
                MetadataDirective="COPY",
            )
        except s3.exceptions.ClientError as err:
            if err.response["Error"]["Code"] in ("PreconditionFailed", "412"):
                raise _changed from err
            raise
        files.append({"key": target, "rows": part.rows, "sha256": part.sha256, "from": f"s3://{raw_bucket}/{part.key}"})
    manifest = {
        "manifest_version": MANIFEST_VERSION,
        "dataset": dataset,
        "ds": ds,
        "data_interval": {"start": interval[0], "end": interval[1]},
        "source": source,
        "key": key_column,
        "changed_at": changed_at,
        "columns": columns,
        "rows": sum(f["rows"] for f in files),
        "files": files,
    }
    put_json(s3, curated_bucket, layout.manifest_key(dataset, ds), manifest)
    keep = {f["key"] for f in files} | {layout.manifest_key(dataset, ds)}
    stale = [
        o["Key"] for o in list_keys(s3, curated_bucket, layout.curated_prefix(dataset, ds)) if o["Key"] not in keep
    ]
    if stale:
        s3.delete_objects(Bucket=curated_bucket, Delete={"Objects": [{"Key": k} for k in stale], "Quiet": True})
        log.info("removed %d file(s) the new manifest no longer lists: %s", len(stale), stale)
    log.info(
        "published s3://%s/%s: %d rows in %d file(s)",
        curated_bucket,
        layout.curated_prefix(dataset, ds),
        manifest["rows"],
        len(files),
    )
    return manifest


def read_manifest(s3, curated_bucket: str, dataset: str, ds: str) -> dict:
    return get_json(s3, curated_bucket, layout.manifest_key(dataset, ds))
