"""Labels in training: rows without one are left out and counted (log, manifest, summary); no label at
all, or one class only, fails at once with the real value named; a training job that failed because
of its script or data is not retried, through the provider's operator and the local SageMaker runner."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from datetime import date

import pytest
from airflow.sdk.exceptions import AirflowFailException

from embedded_stack.sagemaker_local import start_server
from embedded_stack.seed import diabetes_frame, digits_frame
from mlops.aws.s3 import get_json
from mlops.project import PermanentError
from mlops.registry import summary
from mlops.registry.packages import Candidate
from mlops.registry.versions import Version
from mlops.training.config import MODELS_DIR, TRAINING_DIR, load_model
from mlops.training.data import MANIFEST_NAME, TrainingDataError
from tests.conftest import set_aws_connection
from tests.unit.test_training_data import _assemble, _publish

DIGITS = load_model(MODELS_DIR / "digits_classifier.yaml")


def test_unlabelled_rows_are_left_out_and_counted_in_log_and_manifest(s3, caplog):
    df = diabetes_frame(date(2026, 10, 1), 1)
    df.loc[[3, 7, 11], "progression"] = None
    _publish(s3, df, "2026-10-01")
    with caplog.at_level(logging.WARNING, logger="mlops.training.data"):
        data = _assemble(s3, "t/labels")
    assert data.dropped_rows == 3 and sum(data.rows.values()) == 439
    assert "dropping 3 of 442 row(s) without a label 'progression': not trained on" in caplog.text
    manifest = get_json(s3, s3.buckets["raw"], f"t/labels/{MANIFEST_NAME}")
    assert manifest["dropped_unlabelled_rows"] == 3


def test_no_labelled_row_at_all_fails_permanently(s3):
    df = diabetes_frame(date(2026, 10, 1), 1)
    df["progression"] = None
    _publish(s3, df, "2026-10-01")
    with pytest.raises(TrainingDataError) as failure:
        _assemble(s3, "t/nolabels")
    assert isinstance(failure.value, PermanentError)
    assert str(failure.value) == (
        "none of the 442 row(s) of ['diabetes_patients'] has a label 'progression': there is nothing to train on"
    )


def test_summary_counts_the_rows_left_out_for_no_label():
    candidate = Candidate(
        model="diabetes_progression", tag="1", manual=0, run_key="job-1", image="img",
        model_data_url="s3://a/model.tar.gz", metrics={"rmse": 55.0}, approval="Approved",
    )  # fmt: skip
    _, message = summary.candidate_summary(candidate, version=Version("1", 0, 0), production=None, unlabelled_rows=3)
    assert "Rows without a label, not trained on: 3\n" in message
    _, message = summary.candidate_summary(candidate, version=Version("1", 0, 0), production=None)
    assert "without a label" not in message


def _train_py(tmp_path, frame, cfg):
    folders = {}
    for split, part in (("train", frame), ("test", frame)):
        folder = tmp_path / "input" / split
        folder.mkdir(parents=True)
        part.to_csv(folder / "data.csv", index=False)
        folders[f"SM_CHANNEL_{split.upper()}"] = str(folder)
    env = {
        **os.environ,
        **folders,
        "SM_MODEL_DIR": str(tmp_path / "model"),
        "SM_OUTPUT_DIR": str(tmp_path / "output"),
        "SM_OUTPUT_DATA_DIR": str(tmp_path / "output" / "data"),
    }
    return subprocess.run(
        [sys.executable, str(TRAINING_DIR / "train.py"), *cfg.train_argv()],
        env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path,
    )  # fmt: skip


def test_one_class_training_set_names_the_label_value(tmp_path):
    sevens = digits_frame().query("label == 7")
    proc = _train_py(tmp_path, sevens, DIGITS)
    assert proc.returncode == 1
    reason = (tmp_path / "output" / "failure").read_text()
    assert reason == (
        f"channel 'train' holds one class only: all {len(sevens)} row(s) have label = 7; "
        "a classifier needs at least two classes"
    )


@pytest.fixture(scope="module")
def plane(moto_endpoint, tmp_path_factory):
    server = start_server(0, moto_endpoint, tmp_path_factory.mktemp("sagemaker"), stop_grace_seconds=2)
    yield server
    server.shutdown()


def _request(s3, model, name: str, frame) -> dict:
    from mlops.training.job import training_job_request, upload_source_dir

    bucket = s3.buckets["raw"]
    channels = {}
    for split in ("train", "validation", "test"):
        s3.put_object(Bucket=bucket, Key=f"{name}/data/{split}/data.csv", Body=frame.to_csv(index=False).encode())
        channels[split] = f"s3://{bucket}/{name}/data/{split}/"
    source = upload_source_dir(s3, model.training.source_dir, bucket, "code")
    role = "arn:aws:iam::123456789012:role/mlops-sagemaker-execution"
    return training_job_request(
        model,
        job_name=name,
        role_arn=role,
        region="us-east-1",
        channels=channels,
        output_path=f"s3://{bucket}/{name}/output",
        source_dir_uri=source,
    )


def _operator(request: dict, deferrable: bool):
    from mlops.airflow.training.operators import TrainingJobOperator

    # print_log=False: the provider's log-tailing wait describes the job only every 30 s, its plain wait
    # every check_interval (the DAG's train task is deferrable: the trigger polls every check_interval)
    return TrainingJobOperator(
        task_id="train", config=request, aws_conn_id="labels_test", wait_for_completion=True,
        deferrable=deferrable, check_interval=1, check_if_job_exists=False, print_log=False,
    )  # fmt: skip


def test_training_job_failed_on_its_data_fails_the_task_at_once(s3, plane, moto_endpoint, monkeypatch):
    set_aws_connection(monkeypatch, "labels_test", moto_endpoint, plane.url)
    request = _request(s3, DIGITS, "digits-one-class", digits_frame().query("label == 3"))
    op = _operator(request, deferrable=False)
    with pytest.raises(AirflowFailException) as failure:
        op.execute({})
    assert str(failure.value).startswith(
        "SageMaker training job digits-one-class failed: AlgorithmError: channel 'train' holds one class only"
    )
    assert "have label = 3;" in str(failure.value)

    # resumed after a deferral, with the trigger's error event for the same job
    event = {"status": "error", "message": "Training job failed", "job_name": "digits-one-class"}
    with pytest.raises(AirflowFailException, match="AlgorithmError: channel 'train' holds one class only"):
        _operator(request, deferrable=True).resume_execution("execute_complete", {"event": event}, {})


def test_training_job_that_failed_for_another_reason_is_retried(s3, plane, moto_endpoint, monkeypatch):
    from airflow.sdk.exceptions import AirflowException

    set_aws_connection(monkeypatch, "labels_test", moto_endpoint, plane.url)
    request = _request(s3, DIGITS, "digits-no-output-bucket", digits_frame().head(300))
    request["OutputDataConfig"]["S3OutputPath"] = "s3://no-such-bucket/output"  # the model upload fails
    with pytest.raises(AirflowException) as failure:
        _operator(request, deferrable=False).execute({})
    assert not isinstance(failure.value, AirflowFailException)
    assert "ClientError: could not upload the model" in str(failure.value)  # S3 may recover: retried
