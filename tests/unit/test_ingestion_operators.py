"""The ingestion operators end to end on the moto server, with no scheduler: each starts from the
same settings, S3 client and data interval, and the three hand their results on as in the DAG."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd

from mlops.airflow.ingestion.operators import LandingToRawOperator, PublishCuratedOperator, ValidateRawOperator
from mlops.ingestion.config import EXPECTATIONS_DIR
from mlops.lake.reader import CuratedReader
from tests.conftest import set_aws_connection

PREFIX = "digits_drop/incoming/"


def test_landing_files_reach_the_curated_partition_through_the_operators(s3, moto_endpoint, monkeypatch):
    set_aws_connection(monkeypatch, "ingestion_ops_test", moto_endpoint)
    monkeypatch.setenv("MLOPS_AWS_CONN_ID", "ingestion_ops_test")
    for name, bucket in s3.buckets.items():
        monkeypatch.setenv(f"MLOPS_{name.upper()}_BUCKET", bucket)
    frame = pd.DataFrame({"image_id": [f"img-{i}" for i in range(4)], "label": [i % 10 for i in range(4)]})
    for p in range(64):
        frame[f"pixel_{p}"] = 3
    s3.put_object(Bucket=s3.buckets["landing"], Key=PREFIX + "a.csv", Body=frame.to_csv(index=False).encode())
    context = {
        "data_interval_start": datetime(2026, 10, 1, tzinfo=UTC),
        "data_interval_end": datetime(2026, 10, 2, tzinfo=UTC),
    }

    extraction = LandingToRawOperator(
        task_id="extract", source="digits_drop", table="images", landing_prefix=PREFIX
    ).execute(context)
    validation = ValidateRawOperator(
        task_id="validate",
        source="digits_drop",
        table="images",
        dataset="digits_images",
        suite_path=str(EXPECTATIONS_DIR / "digits_images.json"),
        extraction=extraction,
        fail_on_reject=False,
    ).execute(context)
    published = PublishCuratedOperator(
        task_id="publish",
        source="digits_drop",
        dataset="digits_images",
        key="image_id",
        changed_at=None,
        validation=validation,
    ).execute(context)

    assert extraction["ds"] == validation["ds"] == published["ds"] == "2026-10-01"
    assert (validation["extracted_rows"], len(validation["accepted"]), validation["rejected"]) == (4, 1, [])
    assert published == {"ds": "2026-10-01", "rows": 4, "files": 1}
    curated = CuratedReader(bucket=s3.buckets["curated"], s3=s3).load("digits_images")
    assert sorted(curated["image_id"]) == [f"img-{i}" for i in range(4)]
