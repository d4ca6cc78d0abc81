"""From an approved digits model to predictions, through the real scheduler: training announces
the approved version, deploy_digits_classifier serves it, the endpoint is InService on the config
the run asked for, mlops.serving.predict returns the top 3 classes, the SNS mail arrives, and a
rerun of the same version changes nothing."""

from __future__ import annotations

from datetime import date

import boto3
import pytest

from embedded_stack.aws import read_alerts
from embedded_stack.seed import digits_files, drop_files

pytestmark = pytest.mark.skip(reason="needs the local serving plane (branch serving)")

TRAIN, DEPLOY = "train_digits_classifier", "deploy_digits_classifier"
ENDPOINT = "digits-classifier"


def _states(stack, dag_id: str, run_id: str) -> dict:
    return {t["task_id"]: t["state"] for t in stack.api.task_instances(dag_id, run_id)}


def test_approved_model_is_deployed_and_answers_top_3(stack, stack_environ, monkeypatch):
    from mlops.registry import packages
    from mlops.serving.predict import predict

    sagemaker = boto3.client("sagemaker", endpoint_url=stack.cfg.sagemaker_url, region_name=stack.cfg.region)
    for dag_id in (TRAIN, DEPLOY):  # unpaused first: the curated Asset starts training, the model Asset deployment
        stack.api.wait_for_dag(dag_id)
        stack.api.set_paused(dag_id, False)
    read_alerts(stack.cfg.moto_url, stack.cfg.region, wait_seconds=0)
    files = [(f"deploy-e2e-{name}", body) for name, body in digits_files(4)]  # names no other test drops
    drop_files(stack.s3, stack.env["MLOPS_LANDING_BUCKET"], "digits_drop/incoming/", files)
    (ingested,) = stack.api.run_intervals("ingest_digits_drop", date(2026, 11, 1), date(2026, 11, 1))
    assert ingested["state"] == "success"

    trained = stack.api.wait_runs(TRAIN, 1, timeout=900)
    assert [r["state"] for r in trained] == ["success"], stack.api.failed_task_logs(TRAIN, trained[0]["dag_run_id"])
    registered = stack.api.xcom(TRAIN, trained[0]["dag_run_id"], "register_candidate")
    assert registered["status"] == "Approved", registered["reasons"]
    version = registered["version"]

    (run,) = stack.api.wait_runs(DEPLOY, 1, timeout=900)
    assert run["state"] == "success", stack.api.failed_task_logs(DEPLOY, run["dag_run_id"])
    assert set(_states(stack, DEPLOY, run["dag_run_id"]).values()) == {"success"}
    assert stack.api.xcom(DEPLOY, run["dag_run_id"], "resolve_package")["version"] == version  # from the event
    requests = stack.api.xcom(DEPLOY, run["dag_run_id"], "build_requests")
    config = requests["endpoint_config"]["EndpointConfigName"]
    described = sagemaker.describe_endpoint(EndpointName=ENDPOINT)
    assert (described["EndpointStatus"], described["EndpointConfigName"]) == ("InService", config)
    assert str(packages.production_model(sagemaker, "digits_classifier").version) == version

    # a user's environment (stack_environ, main's e2e conftest): boto3 finds the local plane by these
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", stack.cfg.sagemaker_url)
    monkeypatch.setenv("AWS_ENDPOINT_URL_SAGEMAKER", stack.cfg.sagemaker_url)
    rows = [{"image_id": f"img-e2e-{i}", **{f"pixel_{p}": (p * i) % 17 for p in range(64)}} for i in range(5)]
    answers = predict("digits_classifier", rows, id_column="image_id")
    assert [a.inference_id for a in answers] == [r["image_id"] for r in rows]
    for a in answers:
        assert len(a.top_classes) == 3 and a.label == a.top_classes[0][0]
        probabilities = [p for _, p in a.top_classes]
        assert probabilities == sorted(probabilities, reverse=True) and 0 < sum(probabilities) <= 1 + 1e-9
        assert a.variant == requests["endpoint_config"]["ProductionVariants"][0]["VariantName"]

    subjects = [a["subject"] for a in read_alerts(stack.cfg.moto_url, stack.cfg.region)]
    assert f"endpoint {ENDPOINT} InService with digits_classifier {version}" in subjects

    # The same version again, by hand: nothing is created or updated, and no second mail.
    again = stack.api.trigger_now(DEPLOY, {"version": version})
    assert stack.api.wait_run(DEPLOY, again["dag_run_id"], timeout=600)["state"] == "success"
    assert _states(stack, DEPLOY, again["dag_run_id"])["notify"] == "skipped"
    assert (
        stack.api.xcom(DEPLOY, again["dag_run_id"], "build_requests")["endpoint_config"] == requests["endpoint_config"]
    )
    assert sagemaker.describe_endpoint(EndpointName=ENDPOINT)["LastModifiedTime"] == described["LastModifiedTime"]
    assert not [a for a in read_alerts(stack.cfg.moto_url, stack.cfg.region) if a["subject"].startswith("endpoint")]
