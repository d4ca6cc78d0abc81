"""Quarantine rejected batches and publish accepted ones to the curated bucket atomically.

Publishing copies each validated raw object to a content-named key in the curated partition,
then writes the partition's `_manifest.json` in one PUT. Readers go through the manifest, so
they see the complete new partition or the previous one, never a mix; the manifest is
deterministic, so publishing an interval twice leaves identical objects. Data files that the
new manifest no longer lists are deleted only after it is in place, and only by the publish
whose conditional write of the manifest succeeded (see publish_partition): two publishes of
one partition racing each other leave the later one's manifest with all its files.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass

from mlops.aws.s3 import get_json, put_json
from mlops.lake import layout

log = logging.getLogger(__name__)

MANIFEST_VERSION = 1


class PublishError(RuntimeError):
    """The batch cannot be published as validated (e.g. the raw object changed since)."""


class PublishConflict(PublishError):
    """Other runs kept publishing the same partition while this one tried to."""


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
    s3, *, raw_bucket: str, raw_key: str, source: str, table: str, ds: str, part: str, validation: dict
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
    *,
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
    attempts: int = 5,
) -> dict:
    """Make `parts` the content of curated partition `dataset/ds=<ds>`; returns the manifest.

    Optimistic concurrency on the manifest: read it with its ETag, copy the data files, then
    put the new manifest only if the manifest is still the one read (If-Match, or
    If-None-Match=* for a new partition). A publish that loses the race reads the winner's
    manifest and tries again on top of it; the last one to commit wins, as without a race.

    Only the committer deletes files, and only those the manifest it replaced listed and its
    own does not. A file is listed again later only by reuse from the manifest read, never
    under a fresh copy: a fresh copy is named after the content and the ETag of the manifest
    it builds on, a name no earlier (possibly deleted) file had. So every file a current
    manifest lists exists.
    """
    manifest_key = layout.manifest_key(dataset, ds)
    parts = sorted(parts, key=lambda p: p.key)
    copied: set[str] = set()
    for attempt in range(1, attempts + 1):
        base, base_etag = read_manifest_and_etag(s3, curated_bucket, dataset, ds)
        listed = {f["sha256"]: f for f in (base or {}).get("files", [])}
        files = []
        for part in parts:
            if part.sha256 in listed:  # the same content is already in place under the current manifest
                files.append(listed[part.sha256])
                continue
            target = _data_key(dataset, ds, part.sha256, base_etag)
            _copy_validated(s3, raw_bucket, part, curated_bucket, target)
            copied.add(target)
            files.append(
                {"key": target, "rows": part.rows, "sha256": part.sha256, "from": f"s3://{raw_bucket}/{part.key}"}
            )
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
        if base is not None and _canonical(base) == _canonical(manifest):
            log.info("s3://%s/%s already holds this content: nothing to publish", curated_bucket, manifest_key)
            _delete(s3, curated_bucket, copied - {f["key"] for f in files}, "copies this publish did not need")
            return base
        condition = {"IfMatch": base_etag} if base_etag else {"IfNoneMatch": "*"}
        try:
            body = json.dumps(manifest, indent=2, sort_keys=True, default=str).encode()  # as put_json writes it
            s3.put_object(
                Bucket=curated_bucket, Key=manifest_key, Body=body, ContentType="application/json", **condition
            )
        except s3.exceptions.ClientError as err:
            if err.response["Error"]["Code"] not in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                raise
            log.warning(
                "s3://%s/%s was published by another run while this one ran (attempt %d of %d); "
                "publishing again on top of it",
                curated_bucket,
                manifest_key,
                attempt,
                attempts,
            )
            continue
        kept = {f["key"] for f in files}
        superseded = {f["key"] for f in (base or {}).get("files", [])} - kept
        _delete(s3, curated_bucket, superseded, "file(s) the new manifest no longer lists")
        _delete(s3, curated_bucket, copied - kept, "copies of earlier attempts")
        log.info(
            "published s3://%s/%s: %d rows in %d file(s)",
            curated_bucket,
            layout.curated_prefix(dataset, ds),
            manifest["rows"],
            len(files),
        )
        return manifest
    _delete(s3, curated_bucket, copied, "copies of attempts that lost the race")
    raise PublishConflict(
        f"curated partition {dataset}/ds={ds} was published by other runs {attempts} times while this run "
        "tried to; it now holds their content and this run's was not published. Rerun the interval "
        "when the other runs have finished if this run's content should win."
    )


def _data_key(dataset: str, ds: str, sha256: str, base_etag: str | None) -> str:
    """The content's key in a partition built on the manifest with `base_etag`.

    The first manifest of a partition uses the plain content name; later ones add a tag of the
    manifest they replace, so a fresh copy never takes the name of a file a committer may be
    deleting (see publish_partition).
    """
    plain = layout.curated_data_key(dataset, ds, sha256)
    if base_etag is None:
        return plain
    tag = hashlib.sha256(base_etag.strip('"').encode()).hexdigest()[:8]
    return plain.removesuffix(".parquet") + f"-{tag}.parquet"


def _copy_validated(s3, raw_bucket: str, part: Part, curated_bucket: str, target: str) -> None:
    changed = PublishError(
        f"s3://{raw_bucket}/{part.key} changed after it was validated; rerun the interval "
        "so the new content is validated before it is published"
    )
    # Checked here and enforced again by CopySourceIfMatch (S3 applies it atomically).
    if s3.head_object(Bucket=raw_bucket, Key=part.key)["ETag"] != part.etag:
        raise changed
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
            raise changed from err
        raise


def _delete(s3, bucket: str, keys: set[str], what: str) -> None:
    if keys:
        s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in sorted(keys)], "Quiet": True})
        log.info("removed %d %s: %s", len(keys), what, sorted(keys))


def _canonical(manifest: dict) -> str:
    return json.dumps(manifest, sort_keys=True, default=str)


def read_manifest_and_etag(s3, curated_bucket: str, dataset: str, ds: str) -> tuple[dict | None, str | None]:
    """The partition's manifest and its ETag, or (None, None) when it was never published."""
    try:
        obj = s3.get_object(Bucket=curated_bucket, Key=layout.manifest_key(dataset, ds))
    except s3.exceptions.NoSuchKey:
        return None, None
    return json.loads(obj["Body"].read()), obj["ETag"]


def read_manifest(s3, curated_bucket: str, dataset: str, ds: str) -> dict:
    return get_json(s3, curated_bucket, layout.manifest_key(dataset, ds))
