"""The diabetes model through the real scheduler: train on the local SageMaker runner, gate,
register with a version, skip when too little new data arrived, retrain when forced."""

from __future__ import annotations

from datetime import date

import boto3

from embedded_stack.aws import read_alerts

DAG = "train_diabetes_progression"


def _run(stack, conf=None) -> tuple[dict, dict]:
    run = stack.api.trigger_now(DAG, conf)
    done = stack.api.wait_run(DAG, run["dag_run_id"], timeout=600)
    states = {t["task_id"]: t["state"] for t in stack.api.task_instances(DAG, run["dag_run_id"])}
    return done, states


def test_train_register_skip_and_retrain(stack):
    sagemaker = boto3.client("sagemaker", endpoint_url=stack.cfg.moto_url, region_name=stack.cfg.region)
    dynamodb = boto3.client("dynamodb", endpoint_url=stack.cfg.moto_url, region_name=stack.cfg.region)
    # curated data to train on: a week of clinic changes, ingested through the scheduler
    runs = stack.api.run_intervals("ingest_clinic", date(2026, 10, 7), date(2026, 10, 13))
    assert {r["state"] for r in runs} == {"success"}
    stack.api.wait_for_dag(DAG)
    stack.api.set_paused(DAG, False)
    read_alerts(stack.cfg.moto_url, stack.cfg.region, wait_seconds=0)

    first, states = _run(stack, {"force_train": True})
    assert first["state"] == "success", (states, stack.api.failed_task_logs(DAG, first["dag_run_id"]))
    assert states == {t: "success" for t in states}
    result = stack.api.xcom(DAG, first["dag_run_id"], "register_candidate")
    assert result["version"] == "V1.0.0"
    assert result["status"] == "Approved", result["reasons"]
    assert {"mse", "rmse", "mae", "r2"} <= set(result["metrics"])
    packages = sagemaker.list_model_packages(ModelPackageGroupName="diabetes-progression")["ModelPackageSummaryList"]
    assert [p["ModelApprovalStatus"] for p in packages] == ["Approved"]
    described = sagemaker.describe_model_package(ModelPackageName=packages[0]["ModelPackageArn"])
    props = described["CustomerMetadataProperties"]
    assert props["version"] == "V1.0.0"
    assert described["InferenceSpecification"]["Containers"][0]["ModelDataUrl"].endswith("/output/model.tar.gz")
    job = boto3.client("sagemaker", endpoint_url=stack.cfg.sagemaker_url, region_name=stack.cfg.region)
    assert job.describe_training_job(TrainingJobName=props["training-job"])["TrainingJobStatus"] == "Completed"

    second, states = _run(stack)  # no new curated data since: the retrain rule skips
    assert second["state"] == "success"
    assert states["check_retrain"] == "skipped" and states["register_candidate"] == "skipped"
    log = stack.api.task_log(DAG, second["dag_run_id"], "check_retrain", 1)
    assert "below the threshold of 100" in log

    third, states = _run(stack, {"force_train": True})
    assert third["state"] == "success", states
    retrained = stack.api.xcom(DAG, third["dag_run_id"], "register_candidate")
    assert retrained["version"] == "V1.0.1"
    assert retrained["production_version"] == "V1.0.0"
    assert set(retrained["production_metrics"]) >= {"rmse", "r2"}  # production judged on the same test split
    items = dynamodb.query(
        TableName=stack.env["MLOPS_METRICS_TABLE"],
        KeyConditionExpression="#m = :m",
        ExpressionAttributeNames={"#m": "model"},
        ExpressionAttributeValues={":m": {"S": "diabetes_progression"}},
    )["Items"]
    assert sorted(i["version"]["S"] for i in items) == ["V1.0.0", "V1.0.1"]
    summaries = [
        a for a in read_alerts(stack.cfg.moto_url, stack.cfg.region) if a["subject"].startswith("diabetes_progression")
    ]
    assert [a["subject"].split(":")[0] for a in summaries] == [
        "diabetes_progression V1.0.0",
        "diabetes_progression V1.0.1",
    ]
    assert "production V1.0.0" in summaries[1]["message"]
