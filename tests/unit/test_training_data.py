"""Training sets from curated partitions: deterministic key-hash split, files in S3, the retrain rule."""

import hashlib
import io
from datetime import date

import pandas as pd
import pytest

from embedded_stack.seed import diabetes_frame
from mlops.aws.s3 import get_json, list_keys
from mlops.ingestion.publish import Part, publish_partition
from mlops.lake.reader import CuratedReader
from mlops.training.config import MODELS_DIR, load_model
from mlops.training.data import assemble, partition_inventory, should_retrain, split_frame, split_of

CFG = load_model(MODELS_DIR / "diabetes_progression.yaml")
COLUMNS = [CFG.key, *CFG.features, CFG.label]


def _publish(s3, df, ds):
    """Publish `df` as curated partition diabetes_patients/ds=<ds>, the way ingestion does."""
    buf = io.BytesIO()
    df.to_parquet(buf, index=False)
    body = buf.getvalue()
    key = f"clinic/patients/ds={ds}/data.parquet"
    s3.put_object(Bucket=s3.buckets["raw"], Key=key, Body=body)
    part = Part(
        key, s3.head_object(Bucket=s3.buckets["raw"], Key=key)["ETag"], hashlib.sha256(body).hexdigest(), len(df)
    )
    publish_partition(
        s3,
        raw_bucket=s3.buckets["raw"],
        parts=[part],
        curated_bucket=s3.buckets["curated"],
        dataset="diabetes_patients",
        ds=ds,
        interval=(ds, ds),
        columns=list(df.columns),
        key_column="patient_id",
        changed_at="updated_at",
        source="clinic",
    )


def _assemble(s3, prefix, fmt="csv"):
    return assemble(
        s3,
        curated_bucket=s3.buckets["curated"],
        datasets=CFG.datasets,
        key=CFG.key,
        features=CFG.features,
        label=CFG.label,
        out_bucket=s3.buckets["raw"],
        out_prefix=prefix,
        validation=CFG.split.validation,
        test=CFG.split.test,
        seed=CFG.split.seed,
        fmt=fmt,
    )


def _read(s3, uri):
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return pd.read_csv(io.BytesIO(body)) if key.endswith(".csv") else pd.read_parquet(io.BytesIO(body))


def test_split_is_deterministic_and_stable_as_data_grows():
    small = pd.DataFrame({"id": range(1000)})
    grown = pd.DataFrame({"id": range(3000)})
    a = split_frame(small, "id", validation=0.15, test=0.2, seed=0)
    b = split_frame(grown, "id", validation=0.15, test=0.2, seed=0)
    assert a.tolist() == b[:1000].tolist()
    shares = b.value_counts(normalize=True)
    assert shares["test"] == pytest.approx(0.2, abs=0.03) and shares["validation"] == pytest.approx(0.15, abs=0.03)
    assert split_frame(grown, "id", validation=0.15, test=0.2, seed=1).tolist() != b.tolist()
    assert split_of(42, 0.15, 0.2) == split_of("42", 0.15, 0.2) == b[42]  # the key's text decides


def test_assemble_writes_splits_next_to_the_job_deterministically(s3):
    df = diabetes_frame(date(2026, 10, 1), 2)
    day1, day2 = df.iloc[:200].copy(), df.iloc[200:].copy()
    changed = day1.iloc[:5].copy()
    changed["progression"] = 999.0
    changed["updated_at"] = changed["updated_at"] + pd.Timedelta(days=1)
    _publish(s3, day1, "2026-10-01")
    _publish(s3, pd.concat([day2, changed]), "2026-10-02")

    data = _assemble(s3, "training/diabetes_progression/run-1/")
    bucket = s3.buckets["raw"]
    assert data.uris == {s: f"s3://{bucket}/training/diabetes_progression/run-1/{s}/data.csv" for s in data.uris}
    assert set(data.uris) == {"train", "validation", "test"}
    assert sum(data.rows.values()) == 442 and data.rows["test"] == pytest.approx(442 * 0.2, abs=20)
    assert data.partitions_used == ["2026-10-01", "2026-10-02"]
    assert [p["rows"] for p in data.partitions] == [200, 247]

    frames = {s: _read(s3, uri) for s, uri in data.uris.items()}
    assert list(frames["test"].columns) == COLUMNS
    everything = pd.concat(frames.values())
    assert everything["patient_id"].is_unique and len(everything) == 442
    assert (everything.set_index("patient_id").loc[changed["patient_id"], "progression"] == 999.0).all()
    original = df.set_index("patient_id").loc[frames["test"]["patient_id"], "bmi"].to_numpy()
    assert (frames["test"]["bmi"].to_numpy() == original).all()  # floats round-trip exactly
    expected = split_frame(everything, "patient_id", validation=0.15, test=0.2, seed=0)
    for s, frame in frames.items():
        assert (expected[everything["patient_id"].isin(frame["patient_id"]).to_numpy()] == s).all()

    manifest = get_json(s3, bucket, "training/diabetes_progression/run-1/training_data.json")
    assert data.manifest_uri.endswith("run-1/training_data.json") and manifest["partitions"] == data.partitions
    assert manifest["files"]["test"] == {
        "path": "test/data.csv",
        "rows": data.rows["test"],
        "sha256": manifest["files"]["test"]["sha256"],
    }

    def etags(prefix):
        return sorted((o["Key"].split("/", 3)[-1], o["ETag"]) for o in list_keys(s3, bucket, prefix))

    again = _assemble(s3, "training/diabetes_progression/run-2")
    assert again.rows == data.rows
    assert etags("training/diabetes_progression/run-2/") == etags("training/diabetes_progression/run-1/")

    newcomers = df.iloc[:60].copy()
    newcomers["patient_id"] += 10_000
    _publish(s3, newcomers, "2026-10-03")
    grown = _assemble(s3, "training/diabetes_progression/run-3")
    assert sum(grown.rows.values()) == 502 and grown.partitions_used[-1] == "2026-10-03"
    old_test = set(frames["test"]["patient_id"])
    new_test = set(_read(s3, grown.uris["test"])["patient_id"])
    assert old_test <= new_test and new_test - old_test <= set(newcomers["patient_id"])


def test_parquet_output_unlabelled_rows_and_missing_columns(s3):
    df = diabetes_frame(date(2026, 10, 1), 1)
    df.loc[0, "progression"] = None
    _publish(s3, df, "2026-10-01")
    data = _assemble(s3, "t/parquet", fmt="parquet")
    assert data.dropped_rows == 1 and sum(data.rows.values()) == 441
    assert data.uris["train"].endswith("/t/parquet/train/data.parquet")
    assert list(_read(s3, data.uris["train"]).columns) == COLUMNS
    with pytest.raises(ValueError, match=r"has no column\(s\) \['cholesterol'\]"):
        assemble(
            s3,
            curated_bucket=s3.buckets["curated"],
            datasets=["diabetes_patients"],
            key="patient_id",
            features=["cholesterol"],
            label="progression",
            out_bucket=s3.buckets["raw"],
            out_prefix="t/x",
        )


def test_retrain_rule_counts_rows_the_last_training_did_not_see(s3):
    df = diabetes_frame(date(2026, 10, 1), 3)
    _publish(s3, df.iloc[:300], "2026-10-01")
    first = partition_inventory(s3, s3.buckets["curated"], ["diabetes_patients"])
    check = should_retrain(first, None, 100)
    assert check.retrain and check.new_rows == 300 and "no previous training" in check.reason

    _publish(s3, df.iloc[300:380], "2026-10-02")
    second = partition_inventory(s3, s3.buckets["curated"], ["diabetes_patients"])
    check = should_retrain(second, first, 100)
    assert not check.retrain and check.new_rows == 80 and "below the threshold of 100: skip" in check.reason
    assert should_retrain(second, first, 50).retrain
    assert should_retrain(second, first, 100, force=True).retrain

    _publish(s3, df.iloc[:310], "2026-10-01")  # the first day republished with more rows
    third = partition_inventory(s3, s3.buckets["curated"], ["diabetes_patients"])
    assert should_retrain(third, first, 100).new_rows == 310 + 80
    assert should_retrain(third, third, 100).new_rows == 0
    assert CuratedReader(bucket=s3.buckets["curated"], s3=s3).partitions("diabetes_patients")[0].rows == 310
