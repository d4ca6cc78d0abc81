"""Deployment: settings from the model files, the hosting requests and their names, the
in-service check (a rolled-back update included), the registry's record of what an endpoint
serves and the production model it implies, against the moto server."""

from __future__ import annotations

import datetime
import re
import uuid

import boto3
import pytest
from botocore.stub import Stubber

from mlops.deployment import steps
from mlops.deployment.config import ConfigError, DeploymentConfig, load_deployment, parse_deployment
from mlops.deployment.requests import (
    ApprovedPackage,
    deployment_requests,
    endpoint_config_matches,
    model_matches,
    resource_name,
    variant_name,
)
from mlops.deployment.verify import DeploymentRolledBack, EndpointNotInService, check_serving, verify_endpoint
from mlops.registry import packages as registry
from mlops.registry.versions import Version
from mlops.settings import Settings
from mlops.training.config import MODELS_DIR, load_model
from tests.unit.test_registry import candidate, ddb, model, sm, tables  # noqa: F401  (fixtures)

NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
IMAGE = "683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-cpu-py3"
SETTINGS = Settings.from_env({"MLOPS_ARTIFACTS_BUCKET": "mlops-artifacts"})


def package(name="digits_classifier", version="V1.0.3", arn=None) -> ApprovedPackage:
    return ApprovedPackage(
        model=name,
        version=version,
        package_arn=arn or f"arn:aws:sagemaker:us-east-1:123456789012:model-package/{name.replace('_', '-')}/4",
        model_data_url=f"s3://mlops-artifacts/models/{name}/runs/r1/output/model.tar.gz",
        image=IMAGE,
    )


# --- settings ------------------------------------------------------------------------------------


def test_seed_models_serve_serverless_and_from_an_instance():
    diabetes, digits = load_deployment("diabetes_progression"), load_deployment("digits_classifier")
    assert diabetes.endpoint.variant_resources() == {"ServerlessConfig": {"MemorySizeInMB": 2048, "MaxConcurrency": 5}}
    assert not diabetes.data_capture.enabled  # AWS captures nothing from serverless endpoints
    assert digits.endpoint.variant_resources() == {"InstanceType": "ml.m5.large", "InitialInstanceCount": 1}
    assert (digits.data_capture.enabled, digits.data_capture.sampling_percentage) == (True, 100)
    for name in ("diabetes_progression", "digits_classifier"):  # training still accepts the files
        assert load_model(MODELS_DIR / f"{name}.yaml").name == name


def test_defaults_without_a_deployment_section():
    cfg = parse_deployment({"model": "m"})
    assert cfg == DeploymentConfig(model="m")
    assert cfg.endpoint.kind == "instance" and cfg.data_capture.enabled and cfg.data_capture.prefix == "data-capture"


@pytest.mark.parametrize(
    ("section", "error"),
    [
        ({"endpoint": {"kind": "lambda"}}, "kind must be one of"),
        ({"endpoint": {"kind": "serverless", "memory_size_mb": 1000}}, "memory_size_mb must be one of"),
        ({"endpoint": {"kind": "serverless", "max_concurrency": 0}}, "max_concurrency"),
        ({"endpoint": {"kind": "serverless", "instance_type": "ml.m5.large"}}, "instance_type applies to kind"),
        ({"endpoint": {"kind": "instance", "memory_size_mb": 2048}}, "memory_size_mb applies to kind"),
        ({"endpoint": {"instance_type": "m5.large"}}, "is not a SageMaker type"),
        ({"endpoint": {"kind": "serverless"}, "data_capture": {"enabled": True}}, "does not capture data from"),
        ({"data_capture": {"sampling_percentage": 101}}, "sampling_percentage"),
        ({"data_capture": {"prefix": "/abs"}}, "must be an S3 key prefix"),
        ({"data_capture": {"rate": 1}}, "unknown field 'rate'"),
        ({"shadow": {}}, "unknown field 'shadow'"),
    ],
)
def test_invalid_deployment_sections_name_file_and_field(section, error):
    with pytest.raises(ConfigError, match=error) as info:
        parse_deployment({"model": "m", "deployment": section}, MODELS_DIR / "m.yaml")
    assert "m.yaml: deployment" in str(info.value)


def test_unknown_model_lists_the_known_ones():
    with pytest.raises(ConfigError, match="unknown model 'nope'.*diabetes_progression, digits_classifier"):
        load_deployment("nope")


# --- requests and names --------------------------------------------------------------------------


def test_create_model_request_is_the_sdk_script_mode_shape():
    reqs = deployment_requests(package(), IMAGE, load_deployment("digits_classifier"), SETTINGS, "us-east-1")
    create_model = reqs["model"]
    assert create_model["PrimaryContainer"] == {
        "Image": IMAGE,
        "ModelDataUrl": "s3://mlops-artifacts/models/digits_classifier/runs/r1/output/model.tar.gz",
        "Environment": {
            "SAGEMAKER_PROGRAM": "inference.py",
            "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
            "SAGEMAKER_CONTAINER_LOG_LEVEL": "20",
            "SAGEMAKER_REGION": "us-east-1",
        },
    }
    assert create_model["ExecutionRoleArn"] == SETTINGS.sagemaker_role_arn
    assert {"Key": "mlops:version", "Value": "V1.0.3"} in create_model["Tags"]
    config = reqs["endpoint_config"]
    assert config["ProductionVariants"] == [
        {
            "VariantName": "v1-0-3",
            "ModelName": create_model["ModelName"],
            "InitialVariantWeight": 1.0,
            "InstanceType": "ml.m5.large",
            "InitialInstanceCount": 1,
        }
    ]
    assert config["DataCaptureConfig"] == {
        "EnableCapture": True,
        "InitialSamplingPercentage": 100,
        "DestinationS3Uri": "s3://mlops-artifacts/data-capture",
        "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
        "CaptureContentTypeHeader": {"CsvContentTypes": ["text/csv"], "JsonContentTypes": ["application/json"]},
    }
    assert reqs["endpoint"] == {
        "EndpointName": "digits-classifier",
        "EndpointConfigName": config["EndpointConfigName"],
        "Tags": [{"Key": "mlops:model", "Value": "digits_classifier"}],
    }


def test_serverless_config_has_no_instances_and_no_capture():
    reqs = deployment_requests(
        package("diabetes_progression"), IMAGE, load_deployment("diabetes_progression"), SETTINGS, "us-east-1"
    )
    (variant,) = reqs["endpoint_config"]["ProductionVariants"]
    assert variant["ServerlessConfig"] == {"MemorySizeInMB": 2048, "MaxConcurrency": 5}
    assert "InstanceType" not in variant and "DataCaptureConfig" not in reqs["endpoint_config"]
    assert reqs["endpoint"]["EndpointName"] == "diabetes-progression"


def test_names_are_deterministic_short_and_change_with_the_request():
    digits = load_deployment("digits_classifier")
    first = deployment_requests(package(), IMAGE, digits, SETTINGS, "us-east-1")
    again = deployment_requests(package(), IMAGE, digits, SETTINGS, "us-east-1")
    assert first == again
    assert re.fullmatch(r"digits-classifier-v1-0-3-[0-9a-f]{8}", first["model"]["ModelName"])
    assert re.fullmatch(r"digits-classifier-v1-0-3-[0-9a-f]{8}", first["endpoint_config"]["EndpointConfigName"])
    sampled = parse_deployment(
        {"model": "digits_classifier", "deployment": {"data_capture": {"sampling_percentage": 10}}}
    )
    other = deployment_requests(package(), IMAGE, sampled, SETTINGS, "us-east-1")
    assert other["model"]["ModelName"] == first["model"]["ModelName"]  # same container
    assert other["endpoint_config"]["EndpointConfigName"] != first["endpoint_config"]["EndpointConfigName"]
    newer = deployment_requests(package(version="V1.0.4"), IMAGE, digits, SETTINGS, "us-east-1")
    assert newer["endpoint_config"]["ProductionVariants"][0]["VariantName"] == "v1-0-4"


def test_long_model_names_and_odd_version_tags_stay_within_sagemaker_limits():
    name = resource_name("a_very_long_model_name_" * 4, "V2026.01_rc-1.12.345", "0123abcd")
    assert len(name) <= 63 and NAME.match(name) and name.endswith("-v2026-01-rc-1-12-345-0123abcd")
    assert variant_name("V1.0.0.0") == "v1-0-0-0"


def test_moto_accepts_the_requests_and_reports_them_back(moto_endpoint):
    client = boto3.client("sagemaker", endpoint_url=moto_endpoint, region_name="us-east-1")
    name = f"digits_{uuid.uuid4().hex[:6]}"
    reqs = deployment_requests(package(name), IMAGE, load_deployment("digits_classifier"), SETTINGS, "us-east-1")
    client.create_model(**reqs["model"])
    client.create_endpoint_config(**reqs["endpoint_config"])
    client.create_endpoint(**reqs["endpoint"])
    assert model_matches(reqs["model"], client.describe_model(ModelName=reqs["model"]["ModelName"]))
    described = client.describe_endpoint_config(EndpointConfigName=reqs["endpoint_config"]["EndpointConfigName"])
    assert endpoint_config_matches(reqs["endpoint_config"], described)
    changed = {**reqs["model"], "PrimaryContainer": {**reqs["model"]["PrimaryContainer"], "Image": "other:1"}}
    assert not model_matches(changed, client.describe_model(ModelName=reqs["model"]["ModelName"]))
    serving = verify_endpoint(client, reqs["endpoint"]["EndpointName"], reqs["endpoint_config"]["EndpointConfigName"])
    assert serving.endpoint == name.replace("_", "-") and serving.variants == ("v1-0-3",)


# --- verify --------------------------------------------------------------------------------------

NOW = datetime.datetime(2026, 12, 1, tzinfo=datetime.UTC)


def _described(status: str, config: str, reason: str | None = None) -> dict:
    """DescribeEndpoint as SageMaker answers after an update it rolled back (or any other state)."""
    answer = {
        "EndpointName": "digits-classifier",
        "EndpointArn": "arn:aws:sagemaker:us-east-1:123456789012:endpoint/digits-classifier",
        "EndpointConfigName": config,
        "ProductionVariants": [
            {
                "VariantName": "v1-0-2",
                "DeployedImages": [{"SpecifiedImage": IMAGE, "ResolvedImage": IMAGE + "@sha256:" + "0" * 64}],
                "CurrentWeight": 1.0,
                "DesiredWeight": 1.0,
                "CurrentInstanceCount": 1,
                "DesiredInstanceCount": 1,
            }
        ],
        "EndpointStatus": status,
        "CreationTime": NOW,
        "LastModifiedTime": NOW,
    }
    if reason:
        answer["FailureReason"] = reason
    return answer


def test_an_update_sagemaker_rolled_back_is_reported_with_both_configs_and_the_reason():
    client = boto3.client("sagemaker", region_name="us-east-1")
    reason = "The primary container for production variant v1-0-3 did not pass the ping health check."
    with Stubber(client) as stub:
        stub.add_response(
            "describe_endpoint",
            _described("InService", "digits-classifier-v1-0-2-aaaaaaaa", reason),
            {"EndpointName": "digits-classifier"},
        )
        with pytest.raises(DeploymentRolledBack) as info:
            verify_endpoint(client, "digits-classifier", "digits-classifier-v1-0-3-bbbbbbbb")
    text = str(info.value)
    assert "digits-classifier-v1-0-2-aaaaaaaa" in text and "digits-classifier-v1-0-3-bbbbbbbb" in text
    assert reason in text and "rolled back" in text
    assert info.value.serving == "digits-classifier-v1-0-2-aaaaaaaa"


def test_a_failed_endpoint_is_not_in_service():
    with pytest.raises(EndpointNotInService, match="is Failed, not InService. FailureReason: model_fn: no"):
        check_serving(_described("Failed", "c1", "model_fn: no model.joblib"), "c1")
    assert check_serving(_described("InService", "c1"), "c1").config == "c1"


@pytest.mark.parametrize(
    ("described", "plan"),
    [
        (None, "create"),
        (_described("InService", "c1"), "serving"),
        (_described("InService", "c0"), "update"),
        (_described("Failed", "c1", "boom"), "recreate"),
        (_described("Creating", "c1"), "wait"),
        ({**_described("Updating", "c0"), "PendingDeploymentSummary": {"EndpointConfigName": "c1"}}, "wait"),
    ],
)
def test_plan_endpoint(described, plan):
    assert steps.plan_endpoint(described, "c1") == plan


def test_an_endpoint_busy_with_another_config_is_left_alone():
    busy = {**_described("Updating", "c0"), "PendingDeploymentSummary": {"EndpointConfigName": "c9"}}
    with pytest.raises(RuntimeError, match="is Updating .*deploying c9.*not deploying c1"):
        steps.plan_endpoint(busy, "c1")


# --- registry: what an endpoint serves is production ---------------------------------------------


def _deploy(client, approved: ApprovedPackage) -> dict:
    reqs = deployment_requests(approved, IMAGE, load_deployment("digits_classifier"), SETTINGS, "us-east-1")
    client.create_model(**reqs["model"])
    client.create_endpoint_config(**reqs["endpoint_config"])
    if steps.describe_endpoint(client, reqs["endpoint"]["EndpointName"]) is None:
        client.create_endpoint(**reqs["endpoint"])
    else:  # moto has no UpdateEndpoint: recreate it on the new config
        client.delete_endpoint(EndpointName=reqs["endpoint"]["EndpointName"])
        client.create_endpoint(**reqs["endpoint"])
    return reqs


def test_production_is_what_the_endpoint_serves_and_falls_back_to_newest_approved(sm, ddb, tables, model):  # noqa: F811
    first = registry.register_candidate(sm, ddb, tables["versions"], candidate(model, "train-1"))
    second = registry.register_candidate(sm, ddb, tables["versions"], candidate(model, "train-2"))
    assert registry.production_model(sm, model).arn == second.arn  # nothing deployed: newest Approved

    older = steps.resolve_package(sm, model, version=str(first.version))
    reqs = _deploy(sm, older)
    serving = verify_endpoint(sm, reqs["endpoint"]["EndpointName"], reqs["endpoint_config"]["EndpointConfigName"])
    recorded = steps.record(sm, older, serving)
    assert recorded.endpoints == {registry.endpoint_name(model): reqs["endpoint_config"]["EndpointConfigName"]}
    assert recorded.status == "Approved" and recorded.metrics == {"rmse": 53.25, "r2": 0.47}  # nothing else lost
    assert registry.production_model(sm, model).arn == first.arn  # served, though not the newest

    again = steps.record(sm, older, serving)  # a rerun: the same record
    assert again.endpoints == recorded.endpoints

    newest = steps.resolve_package(sm, model)
    assert newest.package_arn == second.arn
    reqs2 = _deploy(sm, newest)
    steps.record(
        sm, newest, verify_endpoint(sm, registry.endpoint_name(model), reqs2["endpoint_config"]["EndpointConfigName"])
    )
    assert registry.production_model(sm, model).version == Version("1.0", 0, 1)

    # Back on the old config (as after a rollback): the old package is production again.
    sm.delete_endpoint(EndpointName=registry.endpoint_name(model))
    sm.create_endpoint(**reqs["endpoint"])
    assert registry.production_model(sm, model).arn == first.arn
    assert registry.served_package(sm, model).arn == first.arn


def test_resolve_refuses_what_is_not_approved_and_follows_the_asset_event(sm, ddb, tables, model):  # noqa: F811
    approved = registry.register_candidate(sm, ddb, tables["versions"], candidate(model, "train-1"))
    rejected = registry.register_candidate(sm, ddb, tables["versions"], candidate(model, "train-2", "Rejected"))
    event = {"model": model, "version": str(approved.version), "package_arn": approved.arn, "model_data_url": "x"}
    got = steps.resolve_package(sm, model, event=event)
    assert (got.version, got.package_arn) == (str(approved.version), approved.arn)
    assert got.model_data_url.endswith("/train-1/model.tar.gz")  # from the registry, not the event
    with pytest.raises(steps.NotDeployable, match="is Rejected, not Approved"):
        steps.resolve_package(sm, model, version=str(rejected.version))
    with pytest.raises(steps.NotDeployable, match=r"no registered version V9.0.0.0 \(registered: V1.0.0.0, V1.0.0.1\)"):
        steps.resolve_package(sm, model, version="V9.0.0.0")
    registry.set_approval(sm, approved.arn, "Rejected", "withdrawn")
    with pytest.raises(steps.NotDeployable, match="is Rejected"):
        steps.resolve_package(sm, model, event=event)  # withdrawn after it was announced
    with pytest.raises(steps.NotDeployable, match="no Approved package"):
        steps.resolve_package(sm, model)


def test_notification_names_endpoint_model_and_version():
    serving = check_serving(
        _described("InService", "digits-classifier-v1-0-3-bbbbbbbb"), "digits-classifier-v1-0-3-bbbbbbbb"
    )
    subject, message = steps.notification(package(), serving, "V1.0.2")
    assert subject == "endpoint digits-classifier InService with digits_classifier V1.0.3"
    assert "Previously served: V1.0.2" in message and "digits-classifier-v1-0-3-bbbbbbbb" in message
