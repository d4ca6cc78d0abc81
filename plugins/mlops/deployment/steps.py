"""The steps of one deployment of a model, as plain functions (the deploy DAG's operators call them).

resolve  -> the approved package to serve: from the `model.<name>` asset event, a version asked
            for by hand, or the newest Approved package
build    -> the CreateModel / CreateEndpointConfig / CreateEndpoint requests (mlops.deployment.requests)
(model, endpoint config, endpoint: the Amazon provider's operators; `plan_endpoint` decides
            create or update at run time)
verify   -> InService on the requested config (mlops.deployment.verify)
record   -> the registry records which package the endpoint serves (production_model reads it)
notify   -> the SNS subject and message
"""

from __future__ import annotations

import logging

from mlops.deployment.config import DeploymentConfig
from mlops.deployment.requests import ApprovedPackage, deployment_requests
from mlops.deployment.verify import Serving
from mlops.registry import packages
from mlops.registry.versions import Version, VersionError

log = logging.getLogger(__name__)


class NotDeployable(ValueError):
    """The package asked for does not exist or is not Approved."""


def _approved(package: packages.ModelPackage, model: str) -> ApprovedPackage:
    if package.status != "Approved":
        raise NotDeployable(
            f"{model} {package.version} ({package.arn}) is {package.status}, not Approved: not deploying"
        )
    return ApprovedPackage(
        model=model,
        version=str(package.version),
        package_arn=package.arn,
        model_data_url=package.model_data_url,
        image=package.image,
    )


def resolve_package(sagemaker, model: str, event: dict | None = None, version: str | None = None) -> ApprovedPackage:
    """The package to deploy: the asset event's (`extra` of AnnounceApprovedOperator), else the
    registered `version`, else the newest Approved one. Described again either way, so a package
    rejected since it was announced is not deployed."""
    if event and event.get("package_arn"):
        if event.get("model", model) != model:
            raise NotDeployable(f"the asset event is for model {event.get('model')!r}, not {model!r}")
        return _approved(packages.describe_package(sagemaker, event["package_arn"]), model)
    registered = packages.list_versions(sagemaker, model)
    if version:
        try:
            wanted = Version.parse(version)
        except VersionError as err:
            raise NotDeployable(f"version {version!r}: {err}") from None
        match = [p for p in registered if p.version == wanted]
        if not match:
            known = ", ".join(str(p.version) for p in registered if p.version) or "none"
            raise NotDeployable(f"{model} has no registered version {version} (registered: {known})")
        return _approved(match[-1], model)
    approved = [p for p in registered if p.status == "Approved"]
    if not approved:
        raise NotDeployable(f"{model} has no Approved package to deploy")
    return _approved(approved[-1], model)


def build_requests(package: ApprovedPackage, deployment: DeploymentConfig, model_config, settings, region: str) -> dict:
    """The three requests. The image is the package's (the framework image the artifact was
    trained and judged with); a package without one gets the configured framework's image."""
    from mlops.training.job import image_uri

    image = package.image or image_uri(
        model_config.training.framework, model_config.training.framework_version, region, settings.training_images
    )
    return deployment_requests(package, image, deployment, settings, region)


def describe_endpoint(sagemaker, name: str) -> dict | None:
    try:
        return sagemaker.describe_endpoint(EndpointName=name)
    except sagemaker.exceptions.ClientError as err:
        message = err.response.get("Error", {}).get("Message", "")
        if "not find" in message or "not found" in message:
            return None
        raise


def plan_endpoint(described: dict | None, requested_config: str) -> str:
    """What to do with the endpoint: `create`, `update`, `recreate` (a Failed endpoint serves
    nothing and cannot be updated), `wait` (a previous try's create/update of this config is
    under way) or `serving` (already InService on it: a rerun changes nothing)."""
    if described is None:
        return "create"
    status = described.get("EndpointStatus", "")
    current = described.get("EndpointConfigName", "")
    pending = (described.get("PendingDeploymentSummary") or {}).get("EndpointConfigName", "")
    if status == "InService":
        return "serving" if current == requested_config else "update"
    if status == "Failed":
        return "recreate"
    if status in ("Creating", "Updating") and requested_config in (current, pending):
        return "wait"  # verify checks afterwards which config it ended on
    raise RuntimeError(
        f"endpoint {described.get('EndpointName')} is {status} (config {current}"
        + (f", deploying {pending}" if pending else "")
        + f"); not deploying {requested_config} over it now: the task retries later"
    )


def record(sagemaker, package: ApprovedPackage, serving: Serving) -> packages.ModelPackage:
    """The registry's record that `serving.endpoint` serves `package` (what production_model reads)."""
    recorded = packages.record_deployment(sagemaker, package.package_arn, serving.endpoint, serving.config)
    log.info(
        "recorded: endpoint %s serves %s %s (%s)", serving.endpoint, package.model, package.version, serving.config
    )
    return recorded


def notification(package: ApprovedPackage, serving: Serving, previous: str | None) -> tuple[str, str]:
    """SNS subject and message for a deployment that is in service."""
    subject = f"endpoint {serving.endpoint} InService with {package.model} {package.version}"[:100]
    lines = [
        f"Endpoint {serving.endpoint} is InService with model {package.model} {package.version}.",
        "",
        f"Endpoint config: {serving.config}",
        f"Variants: {', '.join(serving.variants) or '-'}",
        f"Model package: {package.package_arn}",
        f"Model artifact: {package.model_data_url}",
        f"Previously served: {previous or 'nothing (new endpoint)'}",
    ]
    return subject, "\n".join(lines)
