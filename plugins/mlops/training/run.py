"""The steps of one training run of a model, as plain functions (the DAG calls them in order).

check    -> is there enough new curated data since the model in production was trained?
prepare  -> training set from curated partitions, split and written to S3 next to the job;
            the entry point packed to S3; the CreateTrainingJob request
(train)  -> SageMaker (or the local runner) executes the request
conclude -> read the evaluation report from the model artifact, gate it against thresholds
            and production, register the candidate with its version, append the metrics history
"""

from __future__ import annotations

import io
import json
import logging
import tarfile
from dataclasses import dataclass, replace
from datetime import UTC

from mlops.registry import metrics, packages, summary
from mlops.registry.data_cursor import DataCursor
from mlops.training import data as training_data
from mlops.training import gate
from mlops.training.job import job_name, training_job_request, upload_source_dir

log = logging.getLogger(__name__)


def _s3_uri(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def read_json(s3, uri: str):
    bucket, key = _s3_uri(uri)
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


@dataclass(frozen=True)
class CheckResult:
    train: bool
    new_rows: int
    reason: str
    production_version: str | None


def check(s3, sagemaker, *, curated_bucket: str, model, force: bool = False) -> CheckResult:
    """The retrain rule: enough new rows since production's training data, a new manual
    revision, no production model yet, or a forced run."""
    production = packages.production_model(sagemaker, model.name)
    current = training_data.partition_inventory(s3, curated_bucket, model.datasets)
    previous = None
    if production is not None and production.training_data_uri:
        previous = read_json(s3, production.training_data_uri).get("partitions")
    revised = (
        production is not None
        and production.version is not None
        and ((production.version.tag, production.version.manual) != (model.version, model.manual_revision))
    )
    decision = training_data.should_retrain(current, previous, model.retrain_min_new_rows, force=force or revised)
    reason = decision.reason
    if revised:
        reason += f" (configuration is at {model.version}.{model.manual_revision}, production is {production.version})"
    log.info("retrain check for %s: %s", model.name, reason)
    return CheckResult(decision.retrain, decision.new_rows, reason, str(production.version) if production else None)


def run_prefix(model_name: str, stamp: str) -> str:
    return f"models/{model_name}/runs/{stamp}"


def prepare(s3, sagemaker, *, settings, model, stamp: str, region: str) -> dict:
    """Write the splits and the entry point to S3; return the training job request and context."""
    prefix = run_prefix(model.name, stamp)
    data = training_data.assemble(
        s3,
        curated_bucket=settings.curated_bucket,
        datasets=model.datasets,
        key=model.key,
        features=model.features,
        label=model.label,
        out_bucket=settings.artifacts_bucket,
        out_prefix=f"{prefix}/data",
        validation=model.split.validation,
        test=model.split.test,
        seed=model.split.seed,
    )
    channels = dict(data.uris)
    production = packages.production_model(sagemaker, model.name)
    if production is not None:
        channels["production"] = production.model_data_url
    source = upload_source_dir(s3, model.training.source_dir, settings.artifacts_bucket, f"models/{model.name}/code")
    name = job_name(model.name, stamp)
    request = training_job_request(
        model,
        job_name=name,
        role_arn=settings.sagemaker_role_arn,
        region=region,
        channels=channels,
        output_path=f"s3://{settings.artifacts_bucket}/{prefix}/output",
        source_dir_uri=source,
        image_overrides=settings.training_images,
    )
    log.info("training %s on %s rows (%s) as job %s", model.name, data.rows, data.partitions_used, name)
    return {
        "request": request,
        "training_data": data.to_dict(),
        "production": str(production.version) if production else None,
    }


def evaluation_report(s3, model_artifact_uri: str) -> dict:
    """evaluation.json from the job's model.tar.gz (the entry point writes it there)."""
    bucket, key = _s3_uri(model_artifact_uri)
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(body), mode="r:gz") as tar:
        member = next((m for m in tar.getmembers() if m.name.lstrip("./") == "evaluation.json"), None)
        if member is None:
            raise ValueError(f"{model_artifact_uri} has no evaluation.json: the entry point did not evaluate the model")
        return json.loads(tar.extractfile(member).read())


def conclude(s3, sagemaker, dynamodb, *, settings, model, job: dict, prepared: dict, code_revision: str) -> dict:
    """Gate the trained candidate and register it; returns what the notification and the next
    tasks need (version, status, metrics beside production's, reasons, package ARN)."""
    # described again here: the XCom copy has its timestamps flattened to strings
    job = sagemaker.describe_training_job(TrainingJobName=job["TrainingJobName"])
    artifact = job["ModelArtifacts"]["S3ModelArtifacts"]
    report = evaluation_report(s3, artifact)
    decision = gate.decide_report(report, model)
    for reason in decision.reasons:
        log.info("gate: %s", reason)
    report = gate.with_decision(report, decision)
    report_uri = artifact.rsplit("/", 1)[0] + "/evaluation.json"
    bucket, key = _s3_uri(report_uri)
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(report, indent=2, sort_keys=True, default=str).encode())
    data = prepared["training_data"]
    candidate = packages.Candidate(
        model=model.name,
        tag=model.version,
        manual=model.manual_revision,
        run_key=job["TrainingJobName"],
        image=job["AlgorithmSpecification"]["TrainingImage"],
        model_data_url=artifact,
        metrics={k: v for k, v in report["candidate"]["metrics"].items() if _number(v)},
        approval=decision.status,
        gate_reasons=tuple(decision.reasons),
        training_data=DataCursor.from_inventory(data["partitions"]),
        training_data_uri=data["manifest_uri"],
        code_revision=code_revision,
        training_job=job["TrainingJobName"],
        description=model.description.strip().splitlines()[0],
        metrics_uri=report_uri,
        predictor=(report.get("serving") or {}).get("predictor", ""),
    )
    production = packages.production_model(sagemaker, model.name)
    production_metrics = (report.get("production") or {}).get("metrics")
    judged_against = prepared.get("production")
    if production is not None and str(production.version) != judged_against:
        # approved by hand while this candidate trained: the job evaluated the previous one
        log.warning("production is %s now; the candidate was judged against %s", production.version, judged_against)
    elif production is not None and production_metrics:
        # beside the candidate, production's metrics on the same test split, not its own
        production = replace(production, metrics={k: v for k, v in production_metrics.items() if _number(v)})
    registered = packages.register_candidate(sagemaker, dynamodb, settings.versions_table, candidate)
    metrics.append_metrics_history(
        dynamodb,
        settings.metrics_table,
        model=model.name,
        version=registered.version,
        metrics=candidate.metrics,
        evaluated_at=job["TrainingEndTime"].astimezone(UTC).isoformat(timespec="seconds"),
        attributes={
            "status": decision.status,
            "training_job": job["TrainingJobName"],
            "production_version": prepared.get("production") or "",
            "production_metrics": json.dumps(production_metrics or {}, sort_keys=True),
        },
    )
    coverage = data.get("coverage") or summary.interval_coverage(data["partitions"])
    subject, message = summary.candidate_summary(
        candidate,
        version=registered.version,
        production=production,
        package_arn=registered.arn,
        coverage=coverage,
        unlabelled_rows=data.get("dropped_rows", 0),
    )
    log.info("registered %s %s as %s (%s)", model.name, registered.version, decision.status, registered.arn)
    return {
        "model": model.name,
        "version": str(registered.version),
        "status": decision.status,
        "approved": decision.status == "Approved",
        "reasons": list(decision.reasons),
        "metrics": candidate.metrics,
        "production_version": prepared.get("production"),
        "production_metrics": production_metrics,
        "package_arn": registered.arn,
        "model_data_url": artifact,
        "report": report_uri,
        "subject": subject,
        "message": message,
    }


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)
