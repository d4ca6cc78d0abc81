"""Atomic publish, quarantine and idempotent reruns, against the moto server."""

import io
import json

import pandas as pd
import pytest

from mlops.aws.s3 import list_keys
from mlops.ingestion.publish import Part, PublishError, publish_partition, quarantine
from mlops.lake import layout


def _put_parquet(s3, bucket, key, df):
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    body = buf.getvalue()
    import hashlib

    s3.put_object(Bucket=bucket, Key=key, Body=body)
    head = s3.head_object(Bucket=bucket, Key=key)
    return Part(key, head["ETag"], hashlib.sha256(body).hexdigest(), len(df))


def _publish(s3, parts, ds="2026-10-01"):
    return publish_partition(
        s3,
        s3.buckets["raw"],
        parts,
        s3.buckets["curated"],
        "ds1",
        ds,
        (f"{ds}T00:00:00+00:00", f"{ds}T23:59:59+00:00"),
        ["id", "x"],
        "id",
        None,
        "src",
    )


def _curated(s3):
    return sorted((o["Key"], o["ETag"]) for o in list_keys(s3, s3.buckets["curated"], ""))


def test_publish_writes_data_then_manifest(s3):
    part = _put_parquet(
        s3, s3.buckets["raw"], "src/t/ds=2026-10-01/data.parquet", pd.DataFrame({"id": [1, 2], "x": [0.1, 0.2]})
    )
    manifest = _publish(s3, [part])
    assert manifest["rows"] == 2
    keys = [k for k, _ in _curated(s3)]
    assert keys == sorted(
        [layout.manifest_key("ds1", "2026-10-01"), layout.curated_data_key("ds1", "2026-10-01", part.sha256)]
    )
    stored = json.loads(
        s3.get_object(Bucket=s3.buckets["curated"], Key=keys[0] if keys[0].endswith("json") else keys[1])["Body"].read()
    )
    assert stored["files"][0]["rows"] == 2


def test_republishing_same_data_gives_identical_objects(s3):
    part = _put_parquet(s3, s3.buckets["raw"], "r.parquet", pd.DataFrame({"id": [1], "x": [1.0]}))
    _publish(s3, [part])
    before = _curated(s3)
    _publish(s3, [part])
    assert _curated(s3) == before


def test_republishing_changed_data_leaves_no_leftovers(s3):
    old = _put_parquet(s3, s3.buckets["raw"], "r.parquet", pd.DataFrame({"id": [1], "x": [1.0]}))
    _publish(s3, [old])
    new = _put_parquet(s3, s3.buckets["raw"], "r.parquet", pd.DataFrame({"id": [1, 2], "x": [1.0, 2.0]}))
    manifest = _publish(s3, [new])
    keys = [k for k, _ in _curated(s3)]
    assert len(keys) == 2 and layout.curated_data_key("ds1", "2026-10-01", new.sha256) in keys
    assert manifest["rows"] == 2


def test_raw_changed_after_validation_is_refused_and_curated_untouched(s3):
    good = _put_parquet(s3, s3.buckets["raw"], "r.parquet", pd.DataFrame({"id": [1], "x": [1.0]}))
    _publish(s3, [good])
    before = _curated(s3)
    validated = _put_parquet(s3, s3.buckets["raw"], "r.parquet", pd.DataFrame({"id": [5], "x": [5.0]}))
    _put_parquet(s3, s3.buckets["raw"], "r.parquet", pd.DataFrame({"id": [9, 9], "x": [0.0, 0.0]}))  # overwritten after
    with pytest.raises(PublishError, match="changed after it was validated"):
        _publish(s3, [validated])
    assert _curated(s3) == before


def test_quarantine_keeps_data_and_validation_result(s3):
    raw = s3.buckets["raw"]
    _put_parquet(s3, raw, "src/t/ds=2026-10-01/data.parquet", pd.DataFrame({"id": [1], "x": [1.0]}))
    where = quarantine(
        s3, raw, "src/t/ds=2026-10-01/data.parquet", "src", "t", "2026-10-01", "data", {"success": False}
    )
    assert where["data"] == f"s3://{raw}/_quarantine/src/t/ds=2026-10-01/data.parquet"
    body = s3.get_object(Bucket=raw, Key="_quarantine/src/t/ds=2026-10-01/data.validation.json")["Body"].read()
    assert json.loads(body) == {"success": False}
