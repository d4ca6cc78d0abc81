"""The model registry: candidates as SageMaker model packages, the metrics history, the summary.

Each model has one model package group. SageMaker group names allow only letters, digits and
hyphens, so `diabetes_progression` becomes group `diabetes-progression`. A package carries:

    InferenceSpecification      the image, the artifact (ModelDataUrl), content types
    ModelApprovalStatus         the gate's decision: Approved, Rejected or PendingManualApproval
    MetadataProperties          CommitId = code revision, GeneratedBy = training job
    CustomerMetadataProperties  model, version (V<tag>.<manual>.<auto>), run, code-revision,
                                training-job, training-data (the training manifest's URI),
                                predictor (what serves it: onnxruntime or estimator, from the
                                report's `serving` section), metric:<name>, data:<dataset>
                                (see retrain.py)
    ModelMetrics                the evaluation report in S3, when there is one
    ModelPackageDescription     one line: version, description, gate reasons

Metric values live in CustomerMetadataProperties because ModelMetrics only points at S3
documents. Versions come from versions.py; registering is reserve → create → commit, so a
retried training run gets its package back instead of a second one; a package that lost its
version to a conflict is Rejected and carries `duplicate-of` instead of `version`.

The model in production is what the model's production endpoint serves: a deployment records
`endpoint:<endpoint name>` = `<endpoint config name>` in the served package's
CustomerMetadataProperties, and DescribeEndpoint says which config runs now (so an update that
SageMaker rolled back still names the old package). Before any deployment, it is the most
recently registered Approved package (highest ModelPackageVersion; a model's registrations are
serialised by the version reservation).

The metrics history (DynamoDB, key `model` + `evaluation` = `<version sort key>#<evaluated_at>`)
gets a row per evaluation, in version order, for charts.
"""

from __future__ import annotations

import math
import re
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mlops.registry import versions
from mlops.registry.data_cursor import DataCursor
from mlops.registry.versions import Version

APPROVAL_STATUSES = ("Approved", "Rejected", "PendingManualApproval")
METRIC_PREFIX = "metric:"
ENDPOINT_PREFIX = "endpoint:"  # endpoint:<endpoint name> = the endpoint config that serves the package there
CLOCK_SKEW_SECONDS = 600  # how far SageMaker's creation times may lag our clock when looking back
_GROUP = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
_METADATA_CHARS = re.compile(r"^[\w .:/=+\-@]+$")  # SageMaker: [\p{L}\p{Z}\p{N}_.:/=+\-@]


def group_name(model: str) -> str:
    """The model package group of `model`."""
    name = model.replace("_", "-")
    if not _GROUP.match(name):
        raise ValueError(
            f"model name {model!r} cannot name a SageMaker model package group: use up to 63 letters, digits, "
            "'_' or '-', starting and ending with a letter or digit"
        )
    return name


@dataclass(frozen=True)
class Candidate:
    """A trained and evaluated model, ready to register."""

    model: str
    tag: str  # the configuration's version tag and manual revision
    manual: int
    run_key: str  # idempotency key: the training job name (one per training run, same on retries)
    image: str
    model_data_url: str
    metrics: dict[str, float]
    approval: str  # the gate's decision
    gate_reasons: tuple[str, ...] = ()
    training_data: tuple[DataCursor, ...] = ()
    training_data_uri: str = ""  # training_data.json of the run: partitions with fingerprints
    code_revision: str = ""
    training_job: str = ""
    repository: str = ""
    description: str = ""
    metrics_uri: str | None = None  # the evaluation report (JSON) in S3
    predictor: str = ""  # what the handler predicts with: "onnxruntime" or "estimator" (train.py's report)
    content_types: tuple[str, ...] = ("text/csv", "application/json")
    response_types: tuple[str, ...] = ("text/csv", "application/json")


@dataclass(frozen=True)
class ModelPackage:
    """A registered package, as read back from SageMaker."""

    arn: str
    group: str
    package_version: int
    version: Version | None
    status: str
    metrics: dict[str, float]
    image: str
    model_data_url: str
    training_data: dict[str, DataCursor] = field(default_factory=dict)
    training_data_uri: str = ""
    code_revision: str = ""
    training_job: str = ""
    run_key: str = ""
    description: str = ""
    created: datetime | None = None
    endpoints: dict[str, str] = field(default_factory=dict)  # endpoint name -> endpoint config (record_deployment)
    predictor: str = ""

    @classmethod
    def from_description(cls, d: dict) -> ModelPackage:
        props = d.get("CustomerMetadataProperties") or {}
        container = d["InferenceSpecification"]["Containers"][0]
        try:
            version = Version.parse(props["version"])
        except (KeyError, versions.VersionError):
            version = None  # registered outside this module, or a duplicate (see register_candidate)
        return cls(
            arn=d["ModelPackageArn"],
            group=d.get("ModelPackageGroupName", ""),
            package_version=int(d.get("ModelPackageVersion") or 0),
            version=version,
            status=d.get("ModelApprovalStatus", ""),
            metrics={k[len(METRIC_PREFIX) :]: float(v) for k, v in props.items() if k.startswith(METRIC_PREFIX)},
            image=container.get("Image", ""),
            model_data_url=container.get("ModelDataUrl", ""),
            training_data=DataCursor.from_metadata(props),
            training_data_uri=props.get("training-data", ""),
            code_revision=props.get("code-revision", ""),
            training_job=props.get("training-job", ""),
            run_key=props.get("run", ""),
            description=d.get("ModelPackageDescription", ""),
            created=d.get("CreationTime"),
            endpoints={k[len(ENDPOINT_PREFIX) :]: v for k, v in props.items() if k.startswith(ENDPOINT_PREFIX)},
            predictor=props.get("predictor", ""),
        )


@dataclass(frozen=True)
class Registered:
    version: Version
    arn: str
    created: bool  # False when a retry found the run's package already registered


def _metadata(candidate: Candidate, version: Version) -> dict[str, str]:
    props = {
        "model": candidate.model,
        "version": str(version),
        "run": candidate.run_key,
        "code-revision": candidate.code_revision,
        "training-job": candidate.training_job,
        "training-data": candidate.training_data_uri,
        "predictor": candidate.predictor,
    }
    for name, value in sorted(candidate.metrics.items()):
        props[METRIC_PREFIX + re.sub(r"[^\w.\-]", "_", name)] = repr(float(value))
    for cursor in candidate.training_data:
        props.update(cursor.metadata())
    props = {k: v for k, v in props.items() if v}
    if len(props) > 50:
        raise ValueError(f"{len(props)} metadata entries; SageMaker allows 50 (fewer metrics or datasets)")
    for k, v in props.items():
        if len(k) > 128 or len(v) > 256 or not _METADATA_CHARS.match(k) or not _METADATA_CHARS.match(v):
            raise ValueError(
                f"metadata {k}={v!r} is not accepted by SageMaker: keys up to 128 and values up to 256 "
                "characters of letters, digits, space and _.:/=+-@"
            )
    return props


def package_request(candidate: Candidate, version: Version) -> dict:
    """The CreateModelPackage arguments for `candidate` as `version`."""
    if candidate.approval not in APPROVAL_STATUSES:
        raise ValueError(f"approval {candidate.approval!r} is not one of {APPROVAL_STATUSES}")
    bad = [n for n, v in candidate.metrics.items() if not math.isfinite(float(v))]
    if bad:
        raise ValueError(f"metrics {bad} are not finite numbers; the evaluation is broken")
    if not candidate.model_data_url.startswith(("s3://", "https://")):
        raise ValueError(f"model_data_url {candidate.model_data_url!r} must be an s3:// (or https://) URL")
    text = f"{candidate.model} {version}: {candidate.description}".rstrip(": ")
    if candidate.gate_reasons:
        text += f". Gate {candidate.approval}: " + "; ".join(candidate.gate_reasons)
    request = {
        "ModelPackageGroupName": group_name(candidate.model),
        "ModelPackageDescription": " ".join(text.split())[:1024],
        "ModelApprovalStatus": candidate.approval,
        "InferenceSpecification": {
            "Containers": [{"Image": candidate.image, "ModelDataUrl": candidate.model_data_url}],
            "SupportedContentTypes": list(candidate.content_types),
            "SupportedResponseMIMETypes": list(candidate.response_types),
        },
        "CustomerMetadataProperties": _metadata(candidate, version),
        # SageMaker's own idempotency for a call whose answer was lost (moto ignores it).
        "ClientToken": str(uuid.uuid5(uuid.NAMESPACE_URL, f"mlops/{candidate.model}/{candidate.run_key}/{version}")),
    }
    meta = {
        "CommitId": candidate.code_revision,
        "GeneratedBy": candidate.training_job,
        "Repository": candidate.repository,
    }
    if any(meta.values()):
        request["MetadataProperties"] = {k: v for k, v in meta.items() if v}
    if candidate.metrics_uri:
        request["ModelMetrics"] = {
            "ModelQuality": {"Statistics": {"ContentType": "application/json", "S3Uri": candidate.metrics_uri}}
        }
    return request


def _missing_group(err) -> bool:
    error = err.response.get("Error", {})
    return error.get("Code") in ("ValidationException", "ResourceNotFound") and "does not exist" in error.get(
        "Message", ""
    )


def ensure_group(sagemaker, model: str, description: str = "") -> str:
    """Create the model's package group unless it exists; returns its name."""
    name = group_name(model)
    try:
        sagemaker.describe_model_package_group(ModelPackageGroupName=name)
        return name
    except sagemaker.exceptions.ClientError as err:
        if not _missing_group(err):
            raise
    try:
        sagemaker.create_model_package_group(
            ModelPackageGroupName=name, ModelPackageGroupDescription=description or f"Versions of model {model}"
        )
    except sagemaker.exceptions.ClientError as err:  # created by a concurrent run in the meantime
        if "already exists" not in err.response.get("Error", {}).get("Message", ""):
            raise
    return name


def _summaries(sagemaker, model: str, **filters):
    """The group's package summaries, newest first; none when the group does not exist yet."""
    paginator = sagemaker.get_paginator("list_model_packages")
    try:
        for page in paginator.paginate(
            ModelPackageGroupName=group_name(model), SortBy="CreationTime", SortOrder="Descending", **filters
        ):
            yield from page["ModelPackageSummaryList"]
    except sagemaker.exceptions.ClientError as err:
        if not _missing_group(err):
            raise


def describe_package(sagemaker, arn: str) -> ModelPackage:
    return ModelPackage.from_description(sagemaker.describe_model_package(ModelPackageName=arn))


def find_version(sagemaker, model: str, version: Version, since: float | None = None) -> tuple[str, str] | None:
    """(ARN, run key) of the package registered as `version`, looking back to `since` (epoch seconds)."""
    oldest = datetime.fromtimestamp(since - CLOCK_SKEW_SECONDS, UTC) if since else None
    for summary in _summaries(sagemaker, model):
        if oldest and summary["CreationTime"] < oldest:
            return None
        package = describe_package(sagemaker, summary["ModelPackageArn"])
        if package.version == version:
            return package.arn, package.run_key
    return None


def register_candidate(sagemaker, dynamodb, versions_table: str, candidate: Candidate, **reserve_options) -> Registered:
    """Register `candidate` under its next version; a retry of the same run returns its package.

    `reserve_options` go to versions.reserve (lease_seconds, wait_seconds, clock, sleep).
    """
    package_request(candidate, Version(candidate.tag, candidate.manual, 0))  # fails before anything is reserved
    ensure_group(sagemaker, candidate.model)
    reservation = versions.reserve(
        dynamodb,
        versions_table,
        model=candidate.model,
        tag=candidate.tag,
        manual=candidate.manual,
        key=candidate.run_key,
        find_registered=lambda version, since: find_version(sagemaker, candidate.model, version, since),
        **reserve_options,
    )
    if reservation.package_arn:
        return Registered(reservation.version, reservation.package_arn, created=False)
    try:
        arn = sagemaker.create_model_package(**package_request(candidate, reservation.version))["ModelPackageArn"]
    except Exception:
        found = find_version(sagemaker, candidate.model, reservation.version, reservation.since)
        if found is None:  # nothing was created: free the version for the next run
            versions.release(dynamodb, versions_table, reservation)
            raise
        arn = found[0]  # created after all; only the answer was lost
    try:
        versions.commit(dynamodb, versions_table, reservation, arn)
    except versions.VersionConflict as err:
        _set_status(
            sagemaker,
            arn,
            "Rejected",
            str(err)[:1000],
            drop=("version",),
            add={"duplicate-of": str(reservation.version)},
        )
        raise
    return Registered(reservation.version, arn, created=True)


def _set_status(sagemaker, arn: str, status: str, note: str, drop: tuple[str, ...] = (), add: dict | None = None):
    # The current metadata is sent along: moto replaces it on update where SageMaker merges.
    props = sagemaker.describe_model_package(ModelPackageName=arn).get("CustomerMetadataProperties") or {}
    props = {k: v for k, v in {**props, **(add or {})}.items() if k not in drop}
    request = {"ModelPackageArn": arn, "ModelApprovalStatus": status, "ApprovalDescription": note}
    if props:
        request["CustomerMetadataProperties"] = props
    if drop:
        request["CustomerMetadataPropertiesToRemove"] = list(drop)
    sagemaker.update_model_package(**request)


def set_approval(sagemaker, arn: str, status: str, note: str = "") -> ModelPackage:
    """Change a package's approval (a person approving a pending candidate, a rollback)."""
    if status not in APPROVAL_STATUSES:
        raise ValueError(f"approval {status!r} is not one of {APPROVAL_STATUSES}")
    _set_status(sagemaker, arn, status, note or f"set to {status}")
    return describe_package(sagemaker, arn)


def endpoint_name(model: str) -> str:
    """The model's production endpoint (same spelling rules as the package group)."""
    return group_name(model)


def record_deployment(sagemaker, arn: str, endpoint: str, config: str) -> ModelPackage:
    """Record on the package that `endpoint` serves it under endpoint config `config`.

    Older packages keep their own record: an endpoint rolled back to an older config then still
    names its package. Rerunning with the same values changes nothing (no update is sent).
    """
    described = sagemaker.describe_model_package(ModelPackageName=arn)
    props = described.get("CustomerMetadataProperties") or {}
    key = ENDPOINT_PREFIX + endpoint
    if props.get(key) == config:
        return ModelPackage.from_description(described)
    if key not in props and len(props) >= 50:
        raise ValueError(f"{arn} already holds 50 metadata entries (SageMaker's limit); cannot record {key}")
    # The approval is sent along: moto clears it when the field is left out.
    sagemaker.update_model_package(
        ModelPackageArn=arn,
        ModelApprovalStatus=described["ModelApprovalStatus"],
        CustomerMetadataProperties={**props, key: config},
    )
    return describe_package(sagemaker, arn)


def _endpoint_config(sagemaker, endpoint: str) -> str | None:
    """The config `endpoint` runs now, or None when there is no such endpoint."""
    try:
        return sagemaker.describe_endpoint(EndpointName=endpoint).get("EndpointConfigName")
    except sagemaker.exceptions.ClientError as err:
        error = err.response.get("Error", {})
        if error.get("Code") in ("ValidationException", "ValidationError") and (
            "not find" in error.get("Message", "") or "not found" in error.get("Message", "")
        ):
            return None
        raise


def served_package(sagemaker, model: str, endpoint: str | None = None) -> ModelPackage | None:
    """The package the model's endpoint serves now (by its recorded config), or None."""
    endpoint = endpoint or endpoint_name(model)
    config = _endpoint_config(sagemaker, endpoint)
    if config is None:
        return None
    for summary in _summaries(sagemaker, model):  # newest first: the served one is usually near the top
        package = describe_package(sagemaker, summary["ModelPackageArn"])
        if package.endpoints.get(endpoint) == config:
            return package
    return None


def production_model(sagemaker, model: str) -> ModelPackage | None:
    """The model in production: what its production endpoint serves; before any deployment
    (or when the running config was not deployed by us), the newest Approved package; or None."""
    served = served_package(sagemaker, model)
    if served is not None:
        return served
    approved = list(_summaries(sagemaker, model, ModelApprovalStatus="Approved"))
    if not approved:
        return None
    newest = max(approved, key=lambda s: (s.get("ModelPackageVersion") or 0, s["CreationTime"]))
    return describe_package(sagemaker, newest["ModelPackageArn"])


def list_versions(sagemaker, model: str) -> list[ModelPackage]:
    """Every package of the model, oldest first."""
    packages = [describe_package(sagemaker, s["ModelPackageArn"]) for s in _summaries(sagemaker, model)]
    return sorted(packages, key=lambda p: p.package_version)
