"""Landing files that no bad input can break: each unreadable file alone in quarantine, names
that clean up alike, redeliveries of the same bytes."""

import json
import random

import pandas as pd
import pytest

from mlops.aws.s3 import get_json, list_keys
from mlops.ingestion import landing
from mlops.lake import layout
from mlops.lake.reader import CuratedReader
from tests.helpers.landing import ingest_landing

PREFIX = "drop/incoming/"
COLUMNS = ["image_id", "label", "pixel_0"]


@pytest.fixture
def suite(tmp_path):
    """A small suite with the column contract (the shipped digits suite has 64 pixel columns)."""
    doc = {
        "name": "small_images",
        "expectations": [
            {"type": "expect_table_columns_to_match_set", "kwargs": {"column_set": COLUMNS, "exact_match": True}},
            {"type": "expect_column_values_to_be_of_type", "kwargs": {"column": "image_id", "type_": "str"}},
            {"type": "expect_column_values_to_be_of_type", "kwargs": {"column": "label", "type_": "int64"}},
            {"type": "expect_column_values_to_be_of_type", "kwargs": {"column": "pixel_0", "type_": "int64"}},
            {"type": "expect_column_values_to_not_be_null", "kwargs": {"column": "label", "mostly": 1.0}},
            {"type": "expect_column_values_to_be_unique", "kwargs": {"column": "image_id"}},
        ],
    }
    path = tmp_path / "small_images.json"
    path.write_text(json.dumps(doc))
    return path


def _csv(rows=5, start=0) -> bytes:
    df = pd.DataFrame({"image_id": [f"img-{start + i}" for i in range(rows)], "label": [i % 10 for i in range(rows)]})
    df["pixel_0"] = 3
    return df.to_csv(index=False).encode()


def _put(s3, name, body):
    s3.put_object(Bucket=s3.buckets["landing"], Key=PREFIX + name, Body=body)


def _ingest(s3, ds, suite):
    return ingest_landing(s3, ds=ds, prefix=PREFIX, source="drop", dataset="images", suite=suite)


def _manifest(s3, ds):
    return CuratedReader(bucket=s3.buckets["curated"], s3=s3).manifest("images", ds)


def _tags(s3, name):
    tagging = s3.get_object_tagging(Bucket=s3.buckets["landing"], Key=PREFIX + name)
    return {t["Key"]: t["Value"] for t in tagging["TagSet"]}


# Arrow reads a row longer than one block, but not one that straddles two block boundaries.
HUGE_FIELD = b"image_id,label,pixel_0\n" + b'"' + b"x" * (17 * 1024 * 1024) + b'",1,3\n'
BAD_FILES = {
    "random bytes": (random.Random(7).randbytes(4096), ["not UTF-8 text: byte 0x", "at offset"]),
    "a field beyond the reader's block": (HUGE_FIELD, ["larger than the CSV reader's block of 8388608 bytes"]),
    "header with other column names": (
        b"image_id,label,ssn\nimg-900,1,123456789\n",
        ["missing column(s): 'pixel_0' (expected int64)", "unexpected column(s): 'ssn' (not in the contract"],
    ),
    "header with more names than the rows have values": (
        b"image_id,label,pixel_0,patient_name\nimg-900,1,3\n",
        ["CSV parse error", "unexpected column(s) ['patient_name']"],
    ),
    "bytes that are not UTF-8": (
        "image_id,label,pixel_0\nimg-é,1,3\n".encode("latin-1"),
        ["not UTF-8 text: byte 0xe9 at offset 27 (line 2)"],
    ),
    "a value that is not its declared type": (
        b"image_id,label,pixel_0\nimg-900,seven,3\n",
        ["('label', declared int64)", "invalid value 'seven'"],
    ),
}


@pytest.mark.parametrize("kind", BAD_FILES)
def test_a_bad_file_is_quarantined_alone_with_its_reason_and_the_others_published(s3, suite, kind):
    body, reasons = BAD_FILES[kind]
    _put(s3, "good-1.csv", _csv(start=0))
    _put(s3, "bad.csv", body)
    _put(s3, "good-2.csv", _csv(start=100))

    report = _ingest(s3, "2026-10-01", suite)

    (rejected,) = report.rejected
    assert rejected["landing_key"] == PREFIX + "bad.csv"
    assert f"file {PREFIX}bad.csv" in rejected["message"]
    for reason in reasons:
        assert reason in rejected["message"]
    manifest = _manifest(s3, "2026-10-01")
    assert manifest["rows"] == 10 and len(manifest["files"]) == 2
    quarantined = [o["Key"] for o in list_keys(s3, s3.buckets["raw"], "_quarantine/drop/images/ds=2026-10-01/")]
    part = layout.part_name(PREFIX + "bad.csv")
    assert sorted(k.rsplit("/", 1)[-1].split(".", 1)[0] for k in quarantined) == [part, part]
    if rejected.get("unreadable"):  # kept as delivered, with the reason beside it
        data = s3.get_object(Bucket=s3.buckets["raw"], Key=f"_quarantine/drop/images/ds=2026-10-01/{part}.csv")
        assert data["Body"].read() == body
        result = get_json(s3, s3.buckets["raw"], f"_quarantine/drop/images/ds=2026-10-01/{part}.validation.json")
        assert result["reason"] == rejected["unreadable"] and result["success"] is False
    assert _tags(s3, "bad.csv")[landing.TAG_STATUS] == "quarantined"

    _put(s3, "good-3.csv", _csv(start=200))
    later = _ingest(s3, "2026-10-02", suite)  # the bad file does not block the source
    assert later.rejected == [] and _manifest(s3, "2026-10-02")["rows"] == 5


def test_non_utf8_bytes_never_reach_curated(s3, suite):
    _put(s3, "latin1.csv", "image_id,label,pixel_0\nimg-é,1,3\n".encode("latin-1"))
    report = _ingest(s3, "2026-10-01", suite)
    assert report.accepted == [] and _manifest(s3, "2026-10-01")["files"] == []
    assert [o["Key"] for o in list_keys(s3, s3.buckets["raw"], "drop/")] == []


def test_names_that_clean_up_alike_both_arrive_once(s3, suite):
    _put(s3, "l5 batch ü.csv", _csv(start=0))
    _put(s3, "l5_batch__.csv", _csv(start=100, rows=7))

    _ingest(s3, "2026-10-01", suite)

    manifest = _manifest(s3, "2026-10-01")
    assert sorted(f["rows"] for f in manifest["files"]) == [5, 7]
    assert len({f["from"] for f in manifest["files"]}) == 2
    df = CuratedReader(bucket=s3.buckets["curated"], s3=s3).load("images")
    assert len(df) == 12 and df["image_id"].is_unique
    assert _tags(s3, "l5 batch ü.csv")[landing.TAG_STATUS] == "published"
    assert _tags(s3, "l5_batch__.csv")[landing.TAG_STATUS] == "published"


def test_a_redelivery_of_the_same_bytes_is_not_published_twice(s3, suite):
    body = _csv(rows=20)
    _put(s3, "a.csv", body)
    _ingest(s3, "2026-10-01", suite)
    first = sorted((o["Key"], o["ETag"]) for o in list_keys(s3, s3.buckets["curated"], ""))

    _put(s3, "a.csv", body)  # the same bytes uploaded again: a new object, without tags
    _put(s3, "a-resent.csv", body)  # and once more under another name
    assert _tags(s3, "a.csv") == {}
    second = _ingest(s3, "2026-10-02", suite)
    assert second.accepted == [] and _manifest(s3, "2026-10-02")["rows"] == 0
    owner = layout.part_name(PREFIX + "a.csv")
    for name in ("a.csv", "a-resent.csv"):
        tags = _tags(s3, name)
        assert tags[landing.TAG_STATUS] == "duplicate"
        assert tags[landing.TAG_DUPLICATE_OF] == f"ds=2026-10-01/{owner}"

    _ingest(s3, "2026-10-01", suite)  # the rerun of the interval that first took the bytes keeps its rows
    assert _manifest(s3, "2026-10-01")["rows"] == 20
    assert _manifest(s3, "2026-10-02")["rows"] == 0
    assert sorted((o["Key"], o["ETag"]) for o in list_keys(s3, s3.buckets["curated"], "images/ds=2026-10-01/")) == [
        kv for kv in first if kv[0].startswith("images/ds=2026-10-01/")
    ]
    _ingest(s3, "2026-10-03", suite)
    df = CuratedReader(bucket=s3.buckets["curated"], s3=s3).load("images")
    assert len(df) == 20 and df["image_id"].is_unique
    ledger = get_json(s3, s3.buckets["raw"], layout.ledger_key("drop", "images", _tags(s3, "a.csv")[landing.TAG_SHA]))
    assert (ledger["ds"], ledger["landing_key"]) == ("2026-10-01", PREFIX + "a.csv")


def test_two_runs_claiming_the_same_bytes_agree_on_one_owner(s3):
    raw = s3.buckets["raw"]
    first = landing.claim(
        s3, raw_bucket=raw, source="drop", table="images", sha256="ab" * 32, ds="2026-10-01", key=PREFIX + "a.csv"
    )
    second = landing.claim(
        s3, raw_bucket=raw, source="drop", table="images", sha256="ab" * 32, ds="2026-10-02", key=PREFIX + "b.csv"
    )
    assert second["ds"] == first["ds"] == "2026-10-01"
    # the conditional create refuses a second ledger entry even when the caller did not look first
    with pytest.raises(s3.exceptions.ClientError, match="PreconditionFailed"):
        s3.put_object(Bucket=raw, Key=layout.ledger_key("drop", "images", "ab" * 32), Body=b"{}", IfNoneMatch="*")
