"""Landing files are ingested once (late files too); the reader sees only published data."""

import pandas as pd
import pytest

from mlops.aws.s3 import list_keys
from mlops.ingestion import landing
from mlops.ingestion.config import EXPECTATIONS_DIR
from mlops.lake import layout
from mlops.lake.reader import CuratedReader, main
from tests.helpers.landing import ingest_landing

PREFIX = "digits_drop/incoming/"
SUITE = EXPECTATIONS_DIR / "digits_images.json"


def _drop(s3, name, rows=5, start=0, bad=False):
    df = pd.DataFrame({"image_id": [f"img-{start + i}" for i in range(rows)], "label": [i % 10 for i in range(rows)]})
    for p in range(64):
        df[f"pixel_{p}"] = 3
    if bad:
        df.loc[0, "pixel_7"] = 99
    s3.put_object(Bucket=s3.buckets["landing"], Key=PREFIX + name, Body=df.to_csv(index=False).encode())


def _ingest(s3, ds):
    return ingest_landing(s3, ds=ds, prefix=PREFIX, source="digits_drop", dataset="digits_images", suite=SUITE)


def _manifest_files(s3, ds):
    return CuratedReader(bucket=s3.buckets["curated"], s3=s3).manifest("digits_images", ds)["files"]


def test_each_file_once_late_files_picked_up_and_reruns_identical(s3):
    _drop(s3, "a.csv", start=0)
    _drop(s3, "b.csv", start=100)
    _ingest(s3, "2026-10-01")
    assert len(_manifest_files(s3, "2026-10-01")) == 2

    _drop(s3, "late.csv", start=200)  # arrives after its day's run
    _ingest(s3, "2026-10-02")
    assert [f["from"].rsplit("/", 1)[-1] for f in _manifest_files(s3, "2026-10-02")] == [
        layout.part_name(PREFIX + "late.csv") + ".parquet"
    ]

    before = sorted((o["Key"], o["ETag"]) for o in list_keys(s3, s3.buckets["curated"], ""))
    _ingest(s3, "2026-10-01")  # rerun of the first interval
    after = sorted((o["Key"], o["ETag"]) for o in list_keys(s3, s3.buckets["curated"], ""))
    assert after == before

    _ingest(s3, "2026-10-03")  # nothing new: an empty partition, no file taken twice
    assert _manifest_files(s3, "2026-10-03") == []
    reader = CuratedReader(bucket=s3.buckets["curated"], s3=s3)
    df = reader.load("digits_images")
    assert len(df) == 15 and df["image_id"].is_unique


def test_bad_file_is_quarantined_and_good_files_published(s3):
    _drop(s3, "good.csv")
    _drop(s3, "bad.csv", start=50, bad=True)
    report = _ingest(s3, "2026-10-05")
    assert [r["landing_key"] for r in report.rejected] == [PREFIX + "bad.csv"]
    assert "pixel_7" in report.rejected[0]["message"] and "1 row(s) broke it" in report.rejected[0]["message"]
    assert [f["rows"] for f in _manifest_files(s3, "2026-10-05")] == [5]
    q = [
        o["Key"]
        for o in list_keys(s3, s3.buckets["raw"], layout.quarantine_prefix("digits_drop", "images", "2026-10-05"))
    ]
    bad = layout.part_name(PREFIX + "bad.csv")
    assert sorted(q) == [
        f"_quarantine/digits_drop/images/ds=2026-10-05/{bad}.parquet",
        f"_quarantine/digits_drop/images/ds=2026-10-05/{bad}.validation.json",
    ]
    tags = {
        t["Key"]: t["Value"]
        for t in s3.get_object_tagging(Bucket=s3.buckets["landing"], Key=PREFIX + "bad.csv")["TagSet"]
    }
    assert tags == {
        landing.TAG_DS: "2026-10-05",
        landing.TAG_STATUS: "quarantined",
        landing.TAG_SHA: tags[landing.TAG_SHA],
    }
    assert len(tags[landing.TAG_SHA]) == 64


def test_each_landing_file_is_downloaded_once(s3):
    """One GET per landing file, whatever becomes of it: converted, a duplicate copy, not UTF-8."""
    from collections import Counter
    from urllib.parse import unquote, urlsplit

    gets = Counter()
    s3.meta.events.register(
        "before-send.s3.GetObject", lambda request, **_: gets.update([unquote(urlsplit(request.url).path)])
    )
    _drop(s3, "a.csv")
    _drop(s3, "copy-of-a.csv")  # the same bytes
    _drop(s3, "b.csv", start=10)
    s3.put_object(Bucket=s3.buckets["landing"], Key=PREFIX + "latin1.csv", Body="image_id\ncaf\xe9\n".encode("latin-1"))
    report = _ingest(s3, "2026-10-01")
    assert len(report.accepted) == 2 and [r["landing_key"] for r in report.rejected] == [PREFIX + "latin1.csv"]
    landing_gets = {path: n for path, n in gets.items() if path.startswith(f"/{s3.buckets['landing']}/")}
    names = ("a.csv", "b.csv", "copy-of-a.csv", "latin1.csv")
    assert landing_gets == {f"/{s3.buckets['landing']}/{PREFIX}{name}": 1 for name in names}


def test_reader_ignores_partitions_without_manifest_and_filters_range(s3, capsys):
    _drop(s3, "a.csv")
    _ingest(s3, "2026-10-01")
    _drop(s3, "b.csv", start=10)
    _ingest(s3, "2026-10-02")
    # a half-written partition: data file present, no manifest yet
    s3.put_object(Bucket=s3.buckets["curated"], Key="digits_images/ds=2026-10-03/data-0000.parquet", Body=b"partial")
    reader = CuratedReader(bucket=s3.buckets["curated"], s3=s3)
    assert reader.datasets() == ["digits_images"]
    assert [p.ds for p in reader.partitions("digits_images")] == ["2026-10-01", "2026-10-02"]
    assert len(reader.load("digits_images", "2026-10-02", "2026-10-02")) == 5
    with pytest.raises(KeyError, match="no curated dataset named 'nope'"):
        reader.partitions("nope")


def test_reader_cli(s3, monkeypatch, capsys, moto_endpoint, tmp_path):
    _drop(s3, "a.csv")
    _ingest(s3, "2026-10-01")
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    bucket = ["--bucket", s3.buckets["curated"]]
    assert main([*bucket, "partitions", "digits_images"]) == 0
    assert "2026-10-01  rows=5  files=1" in capsys.readouterr().out
    out = tmp_path / "x.csv"
    assert main([*bucket, "load", "digits_images", "--start", "2026-10-01", "--out", str(out)]) == 0
    assert len(pd.read_csv(out)) == 5
    assert main([*bucket, "partitions", "missing"]) == 2


def test_reader_rereads_the_manifest_when_a_republish_removed_a_file(s3):
    _drop(s3, "a.csv")
    _ingest(s3, "2026-10-01")
    reader = CuratedReader(bucket=s3.buckets["curated"], s3=s3)
    stale = reader.manifest("digits_images", "2026-10-01")
    real_manifest = reader.manifest
    calls = []

    def manifest_then_republish(dataset, ds):
        calls.append(ds)
        if len(calls) == 1:  # the reader sees the old manifest, then a republish replaces the files
            _drop(s3, "a.csv", start=100)  # a corrected delivery of the same file
            _ingest(s3, "2026-10-01")
            return stale
        return real_manifest(dataset, ds)

    reader.manifest = manifest_then_republish
    df = reader.load("digits_images")
    assert sorted(df["image_id"]) == [f"img-{i}" for i in range(100, 105)]
    assert len(calls) == 2
