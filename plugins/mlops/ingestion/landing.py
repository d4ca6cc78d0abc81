"""Files dropped under a landing prefix, each ingested exactly once.

Every object an ingestion run takes is tagged with the interval that took it
(`mlops-ingest-ds`) and how it ended (`mlops-ingest-status`). A run takes the objects with
no such tag (so a file that lands late is picked up by the next run, whatever its date) plus
the ones already tagged with its own interval (so a rerun reproduces the same partition).
"""

from __future__ import annotations

from mlops.aws.s3 import list_keys

TAG_DS = "mlops-ingest-ds"
TAG_STATUS = "mlops-ingest-status"
SUFFIXES = (".csv",)


def _tags(s3, bucket: str, key: str) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in s3.get_object_tagging(Bucket=bucket, Key=key)["TagSet"]}


def files_for_interval(s3, bucket: str, prefix: str, ds: str) -> list[str]:
    """Landing objects this interval's run owns: untagged ones and its own earlier ones."""
    keys = []
    for obj in list_keys(s3, bucket, prefix):
        key = obj["Key"]
        if not key.lower().endswith(SUFFIXES):
            continue
        taken_by = _tags(s3, bucket, key).get(TAG_DS)
        if taken_by is None or taken_by == ds:
            keys.append(key)
    return sorted(keys)


def mark(s3, bucket: str, key: str, ds: str, status: str) -> None:
    """Record that the run for `ds` took `key`, and whether it was published or quarantined."""
    tags = _tags(s3, bucket, key)
    tags.update({TAG_DS: ds, TAG_STATUS: status})
    s3.put_object_tagging(
        Bucket=bucket, Key=key, Tagging={"TagSet": [{"Key": k, "Value": v} for k, v in sorted(tags.items())]}
    )
