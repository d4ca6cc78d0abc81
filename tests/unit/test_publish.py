"""Atomic publish, quarantine and idempotent reruns, against the moto server."""

import io
import json
import threading

import boto3
import pandas as pd
import pytest

from mlops.aws.s3 import list_keys
from mlops.ingestion.publish import Part, PublishConflict, PublishError, publish_partition, quarantine
from mlops.ingestion.steps import publish_accepted
from mlops.lake import layout
from mlops.lake.reader import CuratedReader


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
        raw_bucket=s3.buckets["raw"],
        parts=parts,
        curated_bucket=s3.buckets["curated"],
        dataset="ds1",
        ds=ds,
        interval=(f"{ds}T00:00:00+00:00", f"{ds}T23:59:59+00:00"),
        columns=["id", "x"],
        key_column="id",
        changed_at=None,
        source="src",
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
    assert sorted(keys) == sorted([layout.manifest_key("ds1", "2026-10-01"), manifest["files"][0]["key"]])
    assert manifest["files"][0]["sha256"] == new.sha256 and manifest["rows"] == 2


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
        s3,
        raw_bucket=raw,
        raw_key="src/t/ds=2026-10-01/data.parquet",
        source="src",
        table="t",
        ds="2026-10-01",
        part="data",
        validation={"success": False},
    )
    assert where["data"] == f"s3://{raw}/_quarantine/src/t/ds=2026-10-01/data.parquet"
    body = s3.get_object(Bucket=raw, Key="_quarantine/src/t/ds=2026-10-01/data.validation.json")["Body"].read()
    assert json.loads(body) == {"success": False}


def _frame(*ids):
    return pd.DataFrame({"id": list(ids), "x": [float(i) for i in ids]})


def _reader(s3):
    return CuratedReader(bucket=s3.buckets["curated"], s3=s3)


def _assert_manifest_files_exist(s3, ds="2026-10-01"):
    manifest = _reader(s3).manifest("ds1", ds)
    for f in manifest["files"]:
        s3.head_object(Bucket=s3.buckets["curated"], Key=f["key"])  # raises if missing
    return manifest


def _accepted(part: Part) -> dict:
    return {"key": part.key, "etag": part.etag, "sha256": part.sha256, "rows": part.rows, "columns": ["id", "x"]}


def _publish_accepted(s3, accepted, extracted_rows):
    ds = "2026-10-01"
    b = s3.buckets
    return publish_accepted(
        s3,
        raw_bucket=b["raw"],
        curated_bucket=b["curated"],
        accepted=accepted,
        dataset="ds1",
        ds=ds,
        interval=(ds, ds),
        key_column="id",
        changed_at=None,
        source="src",
        extracted_rows=extracted_rows,
    )


@pytest.mark.parametrize("extracted_rows", [None, 7])
def test_empty_accepted_never_empties_a_partition_without_a_zero_row_extraction(s3, extracted_rows):
    part = _put_parquet(s3, s3.buckets["raw"], "r.parquet", _frame(1, 2))
    _publish(s3, [part])
    before = _curated(s3)
    with pytest.raises(PublishError, match="refusing to replace curated partition ds1/ds=2026-10-01 with an empty one"):
        _publish_accepted(s3, [], extracted_rows)
    assert _curated(s3) == before


def test_a_zero_row_extraction_publishes_an_empty_partition(s3):
    part = _put_parquet(s3, s3.buckets["raw"], "r.parquet", _frame(1, 2))
    _publish(s3, [part])
    manifest = _publish_accepted(s3, [], 0)
    assert manifest["rows"] == 0 and manifest["files"] == []
    assert [k for k, _ in _curated(s3)] == [layout.manifest_key("ds1", "2026-10-01")]
    assert _reader(s3).load("ds1").empty


def test_content_that_comes_back_gets_a_new_name_and_every_listed_file_exists(s3):
    raw = s3.buckets["raw"]
    names = []
    for ids in [(1,), (2,), (1,), (2,)]:  # X, Y, X, Y: a file deleted once is never listed again
        manifest = _publish(s3, [_put_parquet(s3, raw, "r.parquet", _frame(*ids))])
        names.append(manifest["files"][0]["key"])
        _assert_manifest_files_exist(s3)
        assert len(_curated(s3)) == 2  # the manifest and its one file, nothing left over
    assert len(set(names)) == 4


def test_a_publish_overtaken_by_another_publishes_on_top_of_it_with_all_files_present(s3, moto_endpoint):
    """Deterministic interleaving: B publishes the whole partition between A's read of the
    manifest and A's conditional write of it."""
    raw = s3.buckets["raw"]
    _publish(s3, [_put_parquet(s3, raw, "old.parquet", _frame(1))])
    a = _put_parquet(s3, raw, "a.parquet", _frame(2, 3))
    b = _put_parquet(s3, raw, "b.parquet", _frame(4, 5, 6))
    other = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    other.buckets = s3.buckets
    manifest_key = layout.manifest_key("ds1", "2026-10-01")
    overtaken = []

    def b_publishes_first(params, **_):
        if params["Key"] == manifest_key and not overtaken:
            overtaken.append(_publish(other, [b]))

    s3.meta.events.register("before-parameter-build.s3.PutObject", b_publishes_first)
    try:
        manifest = _publish(s3, [a])
    finally:
        s3.meta.events.unregister("before-parameter-build.s3.PutObject", b_publishes_first)
    assert overtaken and overtaken[0]["rows"] == 3  # B committed in between
    assert manifest["rows"] == 2  # A retried on top of B's manifest and won last
    assert _assert_manifest_files_exist(s3) == manifest
    assert sorted(k for k, _ in _curated(s3)) == sorted([manifest_key, manifest["files"][0]["key"]])
    assert sorted(_reader(s3).load("ds1")["id"]) == [2, 3]


def test_a_publish_that_keeps_losing_fails_clearly_and_leaves_the_winner_intact(s3, moto_endpoint):
    raw = s3.buckets["raw"]
    _publish(s3, [_put_parquet(s3, raw, "old.parquet", _frame(1))])
    a = _put_parquet(s3, raw, "a.parquet", _frame(2))
    others = [_put_parquet(s3, raw, f"b{i}.parquet", _frame(10 + i)) for i in range(3)]
    other = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
    other.buckets = s3.buckets
    manifest_key = layout.manifest_key("ds1", "2026-10-01")

    def another_publish_each_time(params, **_):
        if params["Key"] == manifest_key and others:
            _publish(other, [others.pop(0)])

    s3.meta.events.register("before-parameter-build.s3.PutObject", another_publish_each_time)
    try:
        with pytest.raises(PublishConflict, match="was published by other runs 3 times"):
            publish_partition(
                s3,
                raw_bucket=raw,
                parts=[a],
                curated_bucket=s3.buckets["curated"],
                dataset="ds1",
                ds="2026-10-01",
                interval=("s", "e"),
                columns=["id", "x"],
                key_column="id",
                changed_at=None,
                source="src",
                attempts=3,
            )
    finally:
        s3.meta.events.unregister("before-parameter-build.s3.PutObject", another_publish_each_time)
    manifest = _assert_manifest_files_exist(s3)
    assert sorted(k for k, _ in _curated(s3)) == sorted([manifest_key, manifest["files"][0]["key"]])
    assert list(_reader(s3).load("ds1")["id"]) == [12]


def _publish_at(barrier, client, part, errors):
    barrier.wait()
    try:
        _publish(client, [part])
    except Exception as err:  # surfaced by the test with its round
        errors.append(err)


def test_two_racing_publishes_leave_a_manifest_whose_files_all_exist(s3, moto_endpoint):
    """Two threads publish different content of one partition at the same moment, many times;
    after each round the partition is one of the two contents, complete, and readable."""
    raw = s3.buckets["raw"]
    _publish(s3, [_put_parquet(s3, raw, "old.parquet", _frame(0))])
    clients = []
    for _ in range(2):
        c = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
        c.buckets = s3.buckets
        clients.append(c)
    for round_ in range(8):
        contents = [(round_ * 10 + 1,), (round_ * 10 + 2, round_ * 10 + 3)]
        parts = [_put_parquet(s3, raw, f"run{i}.parquet", _frame(*ids)) for i, ids in enumerate(contents)]
        start, errors = threading.Barrier(2), []
        threads = [threading.Thread(target=_publish_at, args=(start, clients[i], parts[i], errors)) for i in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert not errors, (round_, errors)
        manifest = _assert_manifest_files_exist(s3)
        assert sorted(k for k, _ in _curated(s3)) == sorted(
            [layout.manifest_key("ds1", "2026-10-01"), *(f["key"] for f in manifest["files"])]
        )
        assert tuple(sorted(_reader(s3).load("ds1")["id"])) in contents
