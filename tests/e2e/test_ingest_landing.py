"""The digits CSV drop through the real scheduler: once-only files, late files, bad files."""

from __future__ import annotations

from datetime import date

from embedded_stack.aws import read_alerts
from embedded_stack.seed import corrupt_digits_file, digits_files, drop_files
from mlops.lake import layout
from mlops.lake.reader import CuratedReader

DAG = "ingest_digits_drop"
PREFIX = "digits_drop/incoming/"


def test_files_ingested_once_late_files_picked_up_bad_files_quarantined(stack):
    landing = stack.env["MLOPS_LANDING_BUCKET"]
    reader = CuratedReader(bucket=stack.env["MLOPS_CURATED_BUCKET"], s3=stack.s3)
    files = digits_files(4)
    read_alerts(stack.cfg.moto_url, stack.cfg.region, wait_seconds=0)

    drop_files(stack.s3, landing, PREFIX, [files[0], files[1], corrupt_digits_file()])
    (first,) = stack.api.run_intervals(DAG, date(2026, 10, 1), date(2026, 10, 1))
    assert first["state"] == "failed"
    logs = stack.api.failed_task_logs(DAG, first["dag_run_id"])
    assert set(logs) == {"check_quarantine_images"}
    assert "digits-batch-scanner-fault.csv" in logs["check_quarantine_images"]
    assert "column 'pixel_10': 3 row(s) broke it" in logs["check_quarantine_images"]
    manifest = reader.manifest("digits_images", "2026-10-01")
    assert sorted(f["from"].rsplit("/", 1)[-1] for f in manifest["files"]) == sorted(
        layout.part_name(PREFIX + name) + ".parquet" for name, _ in files[:2]
    )
    assert manifest["rows"] == sum(len(body.splitlines()) - 1 for _, body in files[:2])
    assert any("digits-batch-scanner-fault" in a["message"] for a in read_alerts(stack.cfg.moto_url, stack.cfg.region))

    drop_files(stack.s3, landing, PREFIX, [files[2]])  # lands after the first run
    (second,) = stack.api.run_intervals(DAG, date(2026, 10, 2), date(2026, 10, 2))
    assert second["state"] == "success"
    assert [f["from"].rsplit("/", 1)[-1] for f in reader.manifest("digits_images", "2026-10-02")["files"]] == [
        layout.part_name(PREFIX + files[2][0]) + ".parquet"
    ]

    before = stack.curated("digits_images/")
    stack.api.rerun(DAG, date(2026, 10, 1))
    assert stack.curated("digits_images/") == before
    df = reader.load("digits_images", "2026-10-01", "2026-10-02")
    assert df["image_id"].is_unique
    assert len(df) == sum(len(body.splitlines()) - 1 for _, body in files[:3])
