"""The CreateModel, CreateEndpointConfig and CreateEndpoint/UpdateEndpoint requests of a deployment.

The same documents go to SageMaker on AWS and to the local SageMaker plane. CreateModel follows
what the SageMaker Python SDK's SKLearnModel / XGBoostModel send for a model whose code is inside
model.tar.gz (train.py packs the handler as `code/inference.py`): the framework's inference image
(the same repositories as training), the package's artifact, and the script-mode environment
SAGEMAKER_PROGRAM / SAGEMAKER_SUBMIT_DIRECTORY=/opt/ml/model/code / SAGEMAKER_CONTAINER_LOG_LEVEL /
SAGEMAKER_REGION.

Names are deterministic, so a retry or a rerun finds what it created: model and endpoint config
are `<model>-<version>-<digest>` (the digest of the request, so changing a model's deployment
settings for the same version gives a new config instead of a clash), at most 63 characters of
[a-zA-Z0-9-]; the production variant is named by the version (`v1-0-3`), so the rollout issue can
add a shadow variant beside it; the endpoint is the model's (mlops.registry.packages.endpoint_name).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass

from mlops.registry.packages import endpoint_name

NAME_MAX = 63
PROGRAM = "inference.py"
CODE_DIR = "/opt/ml/model/code"  # where model.tar.gz's code/ lands in the serving container
CONTAINER_LOG_LEVEL = "20"  # logging.INFO, as the SDK sends it
JSON_TYPES = ("application/json",)
CSV_TYPES = ("text/csv",)
_NAME = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")


@dataclass(frozen=True)
class ApprovedPackage:
    """What a deployment needs of a registered package (from the asset event or the registry)."""

    model: str
    version: str  # V<tag>.<manual>.<auto>
    package_arn: str
    model_data_url: str
    image: str = ""  # the package's inference image (training registers the framework image)

    def to_dict(self) -> dict:
        return dict(self.__dict__)


def slug(text: str) -> str:
    """`text` in SageMaker's name alphabet: letters, digits and single hyphens, no hyphen at the ends."""
    return re.sub(r"-+", "-", re.sub(r"[^a-zA-Z0-9]", "-", text)).strip("-")


def variant_name(version: str) -> str:
    """The production variant of a version: V1.0.3 -> v1-0-3."""
    name = slug(version).lower()[:NAME_MAX].rstrip("-")
    if not _NAME.match(name):
        raise ValueError(f"version {version!r} cannot name a SageMaker production variant")
    return name


def _digest(request: dict) -> str:
    body = {k: v for k, v in request.items() if k not in ("ModelName", "EndpointConfigName", "Tags")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":")).encode()).hexdigest()[:8]


def resource_name(model: str, version: str, digest: str) -> str:
    """`<model>-<version>-<digest>` within 63 characters (the model part is shortened first)."""
    tail = f"{variant_name(version)}-{digest}"
    head = slug(model)[: NAME_MAX - len(tail) - 1].rstrip("-")
    name = f"{head}-{tail}" if head else tail
    if not _NAME.match(name):
        raise ValueError(f"cannot name a SageMaker resource for {model} {version}: {name!r}")
    return name


def _tags(package: ApprovedPackage) -> list[dict]:
    return [
        {"Key": "mlops:model", "Value": package.model},
        {"Key": "mlops:version", "Value": package.version},
        {"Key": "mlops:model-package", "Value": package.package_arn},
    ]


def model_request(package: ApprovedPackage, image: str, role_arn: str, region: str) -> dict:
    """CreateModel: the framework's serving container over the package's model.tar.gz."""
    if not package.model_data_url.startswith(("s3://", "https://")):
        raise ValueError(f"{package.package_arn}: ModelDataUrl {package.model_data_url!r} is not an S3 URL")
    request = {
        "ExecutionRoleArn": role_arn,
        "PrimaryContainer": {
            "Image": image,
            "ModelDataUrl": package.model_data_url,
            "Environment": {
                "SAGEMAKER_PROGRAM": PROGRAM,
                "SAGEMAKER_SUBMIT_DIRECTORY": CODE_DIR,
                "SAGEMAKER_CONTAINER_LOG_LEVEL": CONTAINER_LOG_LEVEL,
                "SAGEMAKER_REGION": region,
            },
        },
    }
    return {
        "ModelName": resource_name(package.model, package.version, _digest(request)),
        **request,
        "Tags": _tags(package),
    }


def endpoint_config_request(
    package: ApprovedPackage, *, model_name: str, deployment, artifacts_bucket: str, kms_key_id: str = ""
) -> dict:
    """CreateEndpointConfig: one production variant named by the version, all traffic, data capture.

    `deployment` is a mlops.deployment.config.DeploymentConfig.
    """
    variant = {
        "VariantName": variant_name(package.version),
        "ModelName": model_name,
        "InitialVariantWeight": 1.0,
        **deployment.endpoint.variant_resources(),
    }
    request: dict = {"ProductionVariants": [variant]}
    capture = deployment.data_capture
    if capture.enabled:
        request["DataCaptureConfig"] = {
            "EnableCapture": True,
            "InitialSamplingPercentage": capture.sampling_percentage,
            "DestinationS3Uri": f"s3://{artifacts_bucket}/{capture.prefix}",
            "CaptureOptions": [{"CaptureMode": "Input"}, {"CaptureMode": "Output"}],
            # recorded as text (encoding JSON/CSV) rather than base64, so the records are readable
            "CaptureContentTypeHeader": {"CsvContentTypes": list(CSV_TYPES), "JsonContentTypes": list(JSON_TYPES)},
        }
        if kms_key_id:
            request["DataCaptureConfig"]["KmsKeyId"] = kms_key_id
    name = resource_name(package.model, package.version, _digest({**request, "Model": model_name}))
    return {"EndpointConfigName": name, **request, "Tags": _tags(package)}


def endpoint_request(package: ApprovedPackage, config_name: str) -> dict:
    """CreateEndpoint / UpdateEndpoint (the provider's operator drops Tags on an update)."""
    return {
        "EndpointName": endpoint_name(package.model),
        "EndpointConfigName": config_name,
        "Tags": [{"Key": "mlops:model", "Value": package.model}],
    }


def deployment_requests(package: ApprovedPackage, image: str, deployment, settings, region: str) -> dict:
    """The three requests of one deployment, keyed model / endpoint_config / endpoint."""
    model = model_request(package, image, settings.sagemaker_role_arn, region)
    config = endpoint_config_request(
        package,
        model_name=model["ModelName"],
        deployment=deployment,
        artifacts_bucket=settings.artifacts_bucket,
        kms_key_id=settings.capture_kms_key_id,
    )
    return {
        "model": model,
        "endpoint_config": config,
        "endpoint": endpoint_request(package, config["EndpointConfigName"]),
    }


# What must match for an existing resource of the same name to be reused (SageMaker adds other fields).
def model_matches(request: dict, described: dict) -> bool:
    want, have = request["PrimaryContainer"], described.get("PrimaryContainer") or {}
    return (
        described.get("ExecutionRoleArn") == request["ExecutionRoleArn"]
        and have.get("Image") == want["Image"]
        and have.get("ModelDataUrl") == want["ModelDataUrl"]
        and (have.get("Environment") or {}) == want["Environment"]
    )


def _variant(v: dict) -> dict:
    keys = ("VariantName", "ModelName", "InstanceType", "InitialInstanceCount", "ServerlessConfig")
    out = {k: v[k] for k in keys if k in v}
    out["InitialVariantWeight"] = float(v.get("InitialVariantWeight", 1.0))
    return out


def endpoint_config_matches(request: dict, described: dict) -> bool:
    want = [_variant(v) for v in request["ProductionVariants"]]
    have = [_variant(v) for v in described.get("ProductionVariants") or []]
    capture_want = request.get("DataCaptureConfig") or {}
    capture_have = described.get("DataCaptureConfig") or {}
    keys = ("EnableCapture", "InitialSamplingPercentage", "DestinationS3Uri", "KmsKeyId")
    return want == have and all(capture_want.get(k) == capture_have.get(k) for k in keys)
