"""The local SageMaker training control plane, through boto3 and the Amazon provider, against moto.

Jobs run the real entry point in tests/unit/fixtures/training/ (uploaded as sourcedir.tar.gz) and
the tests read back what it saw and wrote: channel files, SM_* variables, arguments, artifacts.
"""

from __future__ import annotations

import io
import json
import os
import tarfile
import time
import uuid
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

from embedded_stack.sagemaker_local import start_server
from tests.conftest import set_aws_connection

FIXTURE = Path(__file__).parent / "fixtures" / "training"
ROLE = "arn:aws:iam::123456789012:role/mlops-sagemaker-training"
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"


def _client(service: str, endpoint: str, **config):
    return boto3.client(service, endpoint_url=endpoint, region_name="us-east-1", config=Config(**config))


@pytest.fixture(scope="module")
def sm_server(moto_endpoint, tmp_path_factory):
    server = start_server(0, moto_endpoint, tmp_path_factory.mktemp("sagemaker"), stop_grace_seconds=5)
    yield server
    server.shutdown()


@pytest.fixture(scope="module")
def sm(sm_server):
    return _client("sagemaker", sm_server.url)


@pytest.fixture(scope="module")
def data(moto_endpoint):
    """A bucket with two channels (one with a nested key) and the fixture's sourcedir.tar.gz."""
    s3 = _client("s3", moto_endpoint)
    bucket = f"training-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="curated/train/part-0.csv", Body=b"x,y\n1,2\n")
    s3.put_object(Bucket=bucket, Key="curated/train/more/part-1.csv", Body=b"x,y\n3,4\n")
    s3.put_object(Bucket=bucket, Key="curated/test/test.csv", Body=b"x,y\n5,6\n")
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for f in ("train.py", "helper.py"):
            tar.add(FIXTURE / f, arcname=f)
    s3.put_object(Bucket=bucket, Key="code/sourcedir.tar.gz", Body=buf.getvalue())
    return {"bucket": bucket, "s3": s3}


def job_config(bucket: str, name: str | None = None, **hps) -> dict:
    """A CreateTrainingJob request in script mode, as the SageMaker Python SDK and the operator send it."""
    hyperparameters = {"epochs": "3", "learning-rate": "0.1", **{k: json.dumps(v) for k, v in hps.items()}}
    hyperparameters |= {
        "sagemaker_program": '"train.py"',
        "sagemaker_submit_directory": json.dumps(f"s3://{bucket}/code/sourcedir.tar.gz"),
    }
    channel = {"S3DataType": "S3Prefix", "S3DataDistributionType": "FullyReplicated"}
    return {
        "TrainingJobName": name or f"job-{uuid.uuid4().hex[:10]}",
        "AlgorithmSpecification": {"TrainingImage": IMAGE, "TrainingInputMode": "File"},
        "RoleArn": ROLE,
        "HyperParameters": hyperparameters,
        "InputDataConfig": [
            {
                "ChannelName": "train",
                "DataSource": {"S3DataSource": {**channel, "S3Uri": f"s3://{bucket}/curated/train/"}},
            },
            {
                "ChannelName": "test",
                "ContentType": "text/csv",
                "DataSource": {"S3DataSource": {**channel, "S3Uri": f"s3://{bucket}/curated/test/test.csv"}},
            },
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{bucket}/models"},
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 10},
        "StoppingCondition": {"MaxRuntimeInSeconds": 600},
    }


def wait(sm, name: str, timeout: float = 30) -> tuple[dict, list[str]]:
    """Poll like the provider does; returns the final description and every status seen."""
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        desc = sm.describe_training_job(TrainingJobName=name)
        if not seen or seen[-1] != desc["TrainingJobStatus"]:
            seen.append(desc["TrainingJobStatus"])
        if desc["TrainingJobStatus"] in ("Completed", "Failed", "Stopped"):
            return desc, seen
        time.sleep(0.2)
    raise AssertionError(f"{name} still {seen[-1]} after {timeout}s")


def read_tar(s3, uri: str) -> dict[str, bytes]:
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body)) as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def test_job_runs_under_the_training_container_contract(sm, data, moto_endpoint):
    config = job_config(data["bucket"], label="a b")
    name = config["TrainingJobName"]
    arn = sm.create_training_job(**config)["TrainingJobArn"]
    assert arn == f"arn:aws:sagemaker:us-east-1:123456789012:training-job/{name}"
    desc, seen = wait(sm, name)  # a warm job may be done before the first poll: the transitions tell the way
    assert seen[-1] == "Completed" and set(seen) <= {"InProgress", "Completed"}, desc.get("FailureReason")
    assert [t["Status"] for t in desc["SecondaryStatusTransitions"]] == [
        "Starting",
        "Downloading",
        "Training",
        "Uploading",
        "Completed",
    ]
    assert desc["SecondaryStatus"] == "Completed"
    assert desc["CreationTime"] <= desc["TrainingStartTime"] <= desc["TrainingEndTime"] <= desc["LastModifiedTime"]
    assert desc["TrainingTimeInSeconds"] == desc["BillableTimeInSeconds"] >= 0
    assert desc["HyperParameters"] == config["HyperParameters"]
    assert desc["AlgorithmSpecification"] == config["AlgorithmSpecification"]
    assert desc["ResourceConfig"]["InstanceCount"] == 1 and desc["RoleArn"] == ROLE
    assert desc["InputDataConfig"] == config["InputDataConfig"]
    model_uri = f"s3://{data['bucket']}/models/{name}/output/model.tar.gz"
    assert desc["ModelArtifacts"]["S3ModelArtifacts"] == model_uri

    seen_by_script = json.loads(read_tar(data["s3"], model_uri)["model.json"])
    env, ml = seen_by_script["env"], Path(seen_by_script["env"]["SM_MODEL_DIR"]).parent
    assert ml.name == "ml" and ml.parent.name == "opt" and env["SAGEMAKER_BASE_DIR"] == str(ml)
    # channels: every object under the S3 prefix, with its path below the prefix's folder
    assert seen_by_script["channels"] == {
        "test": {"test.csv": "x,y\n5,6\n"},
        "train": {"more/part-1.csv": "x,y\n3,4\n", "part-0.csv": "x,y\n1,2\n"},
    }
    assert env["SM_CHANNELS"] == '["test","train"]'
    assert env["SM_CHANNEL_TRAIN"] == str(ml / "input/data/train")
    assert env["SM_MODEL_DIR"] == str(ml / "model")
    assert env["SM_OUTPUT_DATA_DIR"] == str(ml / "output/data")
    assert env["SM_OUTPUT_DIR"] == str(ml / "output") and env["SM_INPUT_DIR"] == str(ml / "input")
    assert env["SM_INPUT_CONFIG_DIR"] == str(ml / "input/config")
    assert env["SM_HOSTS"] == '["algo-1"]' and env["SM_CURRENT_HOST"] == "algo-1"
    assert env["SM_NUM_CPUS"] == str(os.cpu_count()) and env["SM_NUM_GPUS"] == "0"
    # user hyperparameters JSON-decoded; sagemaker_* ones are the toolkit's, not the script's
    assert json.loads(env["SM_HPS"]) == {"epochs": 3, "label": "a b", "learning-rate": 0.1}
    assert env["SM_HP_EPOCHS"] == "3" and env["SM_HP_LEARNING-RATE"] == "0.1" and env["SM_HP_LABEL"] == "a b"
    user_args = ["--epochs", "3", "--label", "a b", "--learning-rate", "0.1"]
    assert seen_by_script["argv"] == user_args and json.loads(env["SM_USER_ARGS"]) == user_args
    assert env["SM_USER_ENTRY_POINT"] == "train.py" and env["SM_MODULE_NAME"] == "train"
    assert env["SM_MODULE_DIR"] == f"s3://{data['bucket']}/code/sourcedir.tar.gz"
    training_env = json.loads(env["SM_TRAINING_ENV"])
    assert training_env["job_name"] == name and training_env["channel_input_dirs"]["test"] == str(
        ml / "input/data/test"
    )
    assert env["TRAINING_JOB_NAME"] == name and env["TRAINING_JOB_ARN"] == arn
    assert seen_by_script["cwd"] == str(ml / "code")
    files = seen_by_script["config"]
    assert files["hyperparameters.json"] == config["HyperParameters"]
    assert files["resourceconfig.json"]["current_host"] == "algo-1" and files["resourceconfig.json"]["hosts"] == [
        "algo-1"
    ]
    assert files["inputdataconfig.json"] == {
        "train": {"TrainingInputMode": "File", "S3DistributionType": "FullyReplicated", "RecordWrapperType": "None"},
        "test": {
            "TrainingInputMode": "File",
            "S3DistributionType": "FullyReplicated",
            "RecordWrapperType": "None",
            "ContentType": "text/csv",
        },
    }
    output = read_tar(data["s3"], f"s3://{data['bucket']}/models/{name}/output/output.tar.gz")
    assert json.loads(output["metrics.json"]) == {"epochs": 3}

    logs = _client("logs", moto_endpoint)
    streams = logs.describe_log_streams(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=f"{name}/", orderBy="LogStreamName"
    )["logStreams"]
    assert [s["logStreamName"].rsplit("-", 1)[0] for s in streams] == [f"{name}/algo-1"]
    events = logs.get_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=streams[0]["logStreamName"], startFromHead=True
    )["events"]
    messages = [e["message"] for e in events]
    assert "training for 3 epochs at 0.1" in messages and "a warning on stderr" in messages and "done" in messages

    listed = sm.list_training_jobs(NameContains=name[4:].upper(), StatusEquals="Completed")["TrainingJobSummaries"]
    assert [(j["TrainingJobName"], j["TrainingJobStatus"], j["TrainingJobArn"]) for j in listed] == [
        (name, "Completed", arn)
    ]


def test_failing_entry_point_fails_with_the_scripts_own_error(sm, data):
    raised = job_config(data["bucket"], fail="column 'glucose' is missing from the curated dataset")
    written = job_config(data["bucket"], **{"own-failure": "no rows in the training channel"})
    for config in (raised, written):
        sm.create_training_job(**config)

    desc, seen = wait(sm, raised["TrainingJobName"])
    assert seen[-1] == "Failed" and set(seen) <= {"InProgress", "Failed"} and desc["SecondaryStatus"] == "Failed"
    reason = desc["FailureReason"]
    assert reason.startswith("AlgorithmError: ExecuteUserScriptError:\nExitCode 1\n"), reason
    assert "ValueError: column 'glucose' is missing from the curated dataset" in reason
    assert "train.py --epochs 3" in reason and len(reason) <= 1024
    assert "ModelArtifacts" not in desc and desc["TrainingEndTime"] >= desc["TrainingStartTime"]

    desc, _ = wait(sm, written["TrainingJobName"])
    assert desc["TrainingJobStatus"] == "Failed"
    assert desc["FailureReason"] == "AlgorithmError: no rows in the training channel"


def test_requests_are_validated_like_sagemaker(sm_server, data):
    raw = _client("sagemaker", sm_server.url, parameter_validation=False)  # only the server checks
    cases = {
        "AlgorithmSpecification": "Value null at 'algorithmSpecification' failed to satisfy constraint",
        "RoleArn": "Value null at 'roleArn' failed to satisfy constraint: Member must not be null",
        "OutputDataConfig": "Value null at 'outputDataConfig'",
    }
    for missing, message in cases.items():
        config = job_config(data["bucket"])
        del config[missing]
        with pytest.raises(ClientError) as err:
            raw.create_training_job(**config)
        assert err.value.response["Error"]["Code"] == "ValidationException"
        assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
        assert message in err.value.response["Error"]["Message"]

    config = job_config(data["bucket"], name="under_score")
    config["StoppingCondition"]["MaxRuntimeInSeconds"] = 0
    with pytest.raises(ClientError) as err:
        raw.create_training_job(**config)
    message = err.value.response["Error"]["Message"]
    assert message.startswith("2 validation errors detected:")
    assert "at 'trainingJobName' failed to satisfy constraint: Member must satisfy regular expression" in message
    assert "at 'stoppingCondition.maxRuntimeInSeconds' failed to satisfy constraint" in message
    with pytest.raises(ClientError) as err:
        raw.describe_training_job(TrainingJobName="under_score")
    assert err.value.response["Error"] == {"Code": "ValidationException", "Message": "Requested resource not found."}


def test_job_names_are_unique(sm, data):
    config = job_config(data["bucket"], name=f"Unique-{uuid.uuid4().hex[:8]}")
    sm.create_training_job(**config)
    config["TrainingJobName"] = config["TrainingJobName"].lower()  # SageMaker names are case-insensitive
    with pytest.raises(ClientError) as err:
        sm.create_training_job(**config)
    assert err.value.response["Error"]["Code"] == "ResourceInUse"
    assert "Training job names must be unique" in err.value.response["Error"]["Message"]
    assert wait(sm, config["TrainingJobName"])[0]["TrainingJobStatus"] == "Completed"


def _log_messages(moto_endpoint: str, job: str) -> list[str]:
    logs = _client("logs", moto_endpoint)
    group = "/aws/sagemaker/TrainingJobs"
    streams = logs.describe_log_streams(logGroupName=group, logStreamNamePrefix=f"{job}/")["logStreams"]
    return [
        e["message"]
        for s in streams
        for e in logs.get_log_events(logGroupName=group, logStreamName=s["logStreamName"], startFromHead=True)["events"]
    ]


def test_stop_and_max_runtime_end_stopped_with_the_saved_model(sm, data, moto_endpoint):
    stopped = job_config(data["bucket"], sleep=60)
    timed_out = job_config(data["bucket"], sleep=60)
    timed_out["StoppingCondition"]["MaxRuntimeInSeconds"] = 2
    for config in (stopped, timed_out):
        sm.create_training_job(**config)
    name = stopped["TrainingJobName"]
    deadline = time.monotonic() + 60  # a deadline for the script's own word, not a timing window
    while "model saved" not in _log_messages(moto_endpoint, name):  # it saved its model and now sleeps
        assert time.monotonic() < deadline, "the script never logged 'model saved'"
        time.sleep(0.2)
    sm.stop_training_job(TrainingJobName=name)
    desc, seen = wait(sm, name, timeout=60)
    assert seen[-1] == "Stopped" and set(seen) <= {"Stopping", "Stopped"} and desc["SecondaryStatus"] == "Stopped"
    assert "model.json" in read_tar(data["s3"], desc["ModelArtifacts"]["S3ModelArtifacts"])
    assert "done" not in _log_messages(moto_endpoint, name)  # stopped in its sleep, not finished

    desc, _ = wait(sm, timed_out["TrainingJobName"], timeout=60)
    assert (desc["TrainingJobStatus"], desc["SecondaryStatus"]) == ("Stopped", "MaxRuntimeExceeded")
    assert (desc["TrainingEndTime"] - desc["TrainingStartTime"]).total_seconds() >= 2  # not before its limit
    assert "done" not in _log_messages(moto_endpoint, timed_out["TrainingJobName"])  # the limit ended it

    with pytest.raises(ClientError) as err:
        sm.stop_training_job(TrainingJobName=name)
    assert err.value.response["Error"]["Code"] == "ValidationException"
    assert "in status Stopped" in err.value.response["Error"]["Message"]


def test_other_operations_are_forwarded_to_moto(sm, moto_endpoint):
    group = f"mlops-diabetes-{uuid.uuid4().hex[:6]}"
    arn = sm.create_model_package_group(ModelPackageGroupName=group, ModelPackageGroupDescription="d")[
        "ModelPackageGroupArn"
    ]
    moto_sm = _client("sagemaker", moto_endpoint)
    assert moto_sm.describe_model_package_group(ModelPackageGroupName=group)["ModelPackageGroupArn"] == arn
    listed = sm.list_model_package_groups(NameContains=group)["ModelPackageGroupSummaryList"]
    assert [g["ModelPackageGroupName"] for g in listed] == [group]
    with pytest.raises(ClientError) as err:  # moto's errors come back unchanged
        sm.describe_model_package_group(ModelPackageGroupName=f"{group}-missing")
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_finished_jobs_survive_a_restart(sm_server, sm, data, moto_endpoint):
    config = job_config(data["bucket"])
    sm.create_training_job(**config)
    before, _ = wait(sm, config["TrainingJobName"])
    state = sm_server.plane.store.root.parent
    again = start_server(0, moto_endpoint, state)
    try:
        after = _client("sagemaker", again.url).describe_training_job(TrainingJobName=config["TrainingJobName"])
    finally:
        again.shutdown()
    for key in ("TrainingJobStatus", "TrainingEndTime", "ModelArtifacts", "SecondaryStatusTransitions"):
        assert after[key] == before[key]


def test_amazon_provider_trains_through_the_local_endpoint(sm_server, data, moto_endpoint, monkeypatch):
    """The provider's unchanged code path: connection with service_config → hook → operator."""
    set_aws_connection(monkeypatch, "sm_local", moto_endpoint, sm_server.url)
    from airflow.providers.amazon.aws.hooks.sagemaker import LogState, SageMakerHook
    from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTrainingOperator

    hook = SageMakerHook(aws_conn_id="sm_local")
    config = job_config(data["bucket"])
    response = hook.create_training_job(config, wait_for_completion=True, print_log=False, check_interval=1)
    assert response["TrainingJobArn"].endswith(config["TrainingJobName"])
    desc = hook.describe_training_job(config["TrainingJobName"])
    assert desc["TrainingJobStatus"] == "Completed"
    assert (
        sm_server.plane.store.get(config["TrainingJobName"])["ModelArtifacts"] == desc["ModelArtifacts"]
    )  # not moto's

    # the print_log path: stream discovery by prefix, then the provider's own log reader
    positions: dict = {}
    state, _, _ = hook.describe_training_job_with_log(
        config["TrainingJobName"], positions, [], 1, LogState.JOB_COMPLETE, desc, time.monotonic()
    )
    assert state == LogState.COMPLETE and len(positions) == 1
    stream = next(iter(positions))
    messages = [e["message"] for _, e in hook.multi_stream_iter("/aws/sagemaker/TrainingJobs", [stream])]
    assert "training for 3 epochs at 0.1" in messages

    # the operator: the name is taken, so it renames the job (its existence check relies on ValidationException)
    op = SageMakerTrainingOperator(
        task_id="train",
        config=job_config(data["bucket"], name=config["TrainingJobName"]),
        aws_conn_id="sm_local",
        print_log=False,
        check_interval=1,
    )
    result = op.execute({})
    renamed = result["Training"]["TrainingJobName"]
    assert (
        renamed.startswith(config["TrainingJobName"] + "-") and result["Training"]["TrainingJobStatus"] == "Completed"
    )

    failing = job_config(data["bucket"], fail="labels contain NaN")
    with pytest.raises(Exception, match="labels contain NaN"):
        hook.create_training_job(failing, wait_for_completion=True, print_log=False, check_interval=1)


def _seen_by_script(sm, data, config) -> dict:
    sm.create_training_job(**config)
    desc, _ = wait(sm, config["TrainingJobName"])
    assert desc["TrainingJobStatus"] == "Completed", desc.get("FailureReason")
    return json.loads(read_tar(data["s3"], desc["ModelArtifacts"]["S3ModelArtifacts"])["model.json"])


def _job_log(sm_server, name: str) -> str:
    return (sm_server.plane.store.job_dir(name) / "algo-1.log").read_text()


def test_entry_points_fork_from_the_warm_framework_process_with_a_cold_process_contract(sm_server, sm, data):
    first, second = (_seen_by_script(sm, data, job_config(data["bucket"])) for _ in range(2))
    for seen in (first, second):
        process = seen["process"]
        assert process["preloaded"] == ["numpy", "pandas", "sklearn"]  # forked: the libraries were imported
        assert process["own_process_group"] and process["own_session"]
        assert process["stdin"] == "/dev/null" and process["path0"] == seen["cwd"]
        assert "PYTEST_CURRENT_TEST" not in process["env_names"]  # only the job's environment
        assert {"PYTHONUNBUFFERED", "SM_MODEL_DIR", "AWS_ENDPOINT_URL"} <= set(process["env_names"])
    assert first["process"]["numpy_draw"] != second["process"]["numpy_draw"]  # a fresh global seed per job


def test_jobs_that_set_import_time_variables_start_cold(sm_server, sm, data):
    config = job_config(data["bucket"])
    config["Environment"] = {"OMP_NUM_THREADS": "1"}
    seen = _seen_by_script(sm, data, config)
    assert seen["process"]["preloaded"] == [] and seen["process"]["own_process_group"]
    assert "new Python process (the job sets OMP_NUM_THREADS, read at import time)" in _job_log(
        sm_server, config["TrainingJobName"]
    )


def test_a_dead_warm_process_costs_one_cold_start_then_is_back(sm_server, sm, data):
    sm_server.plane.warm._proc.kill()
    sm_server.plane.warm._proc.wait()
    cold, warm = job_config(data["bucket"]), job_config(data["bucket"])
    assert _seen_by_script(sm, data, cold)["process"]["preloaded"] == []
    assert "the warm framework process was not running; restarted it" in _job_log(sm_server, cold["TrainingJobName"])
    assert _seen_by_script(sm, data, warm)["process"]["preloaded"] == ["numpy", "pandas", "sklearn"]
