"""Training-job records and the four training-job operations of the SageMaker API.

Requests are checked against botocore's SageMaker service model (the source of the API reference),
so the constraints and error texts are the documented ones; records are the DescribeTrainingJob
response itself, one JSON file per job, so finished jobs survive a restart of the control plane.
"""

from __future__ import annotations

import json
import os
import re
import threading
import time
from functools import cache
from pathlib import Path
from typing import Any

ACTIVE = ("InProgress", "Stopping")
DEFAULT_MAX_RUNTIME = 86400  # StoppingCondition.MaxRuntimeInSeconds defaults to one day
LOCAL_LIMITS = (
    "the local runner executes script-mode jobs on this machine: one instance, File/FastFile input from S3 prefixes"
)


class ApiError(Exception):
    """An AWS JSON-protocol error: botocore raises ClientError with this code and message."""

    def __init__(self, code: str, message: str, status: int = 400):
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


def validation(message: str) -> ApiError:
    return ApiError("ValidationException", message)


@cache
def _service_model():
    import botocore.session

    return botocore.session.get_session().get_service_model("sagemaker")


def _camel(name: str) -> str:
    return name[:1].lower() + name[1:]


def _check(shape, value: Any, where: str, errors: list[str]) -> None:
    """Required members, lengths, ranges, enums and patterns of the service model, recursively."""
    meta, kind = shape.metadata, shape.type_name
    if kind == "structure" and isinstance(value, dict):
        for member in shape.required_members:
            if value.get(member) is None:
                errors.append(
                    f"Value null at '{where}{_camel(member)}' failed to satisfy constraint: Member must not be null"
                )
        for member, sub in shape.members.items():
            if value.get(member) is not None:
                _check(sub, value[member], f"{where}{_camel(member)}.", errors)
        return
    where = where.rstrip(".")
    size = len(value) if isinstance(value, str | list | dict) else None
    if kind in ("string", "list", "map") and size is not None:
        if "min" in meta and size < meta["min"]:
            errors.append(
                f"Value at '{where}' failed to satisfy constraint: Member must have length greater than or equal to {meta['min']}"
            )
        if "max" in meta and size > meta["max"]:
            errors.append(
                f"Value at '{where}' failed to satisfy constraint: Member must have length less than or equal to {meta['max']}"
            )
    if kind == "integer" and isinstance(value, int):
        if "min" in meta and value < meta["min"]:
            errors.append(
                f"Value '{value}' at '{where}' failed to satisfy constraint: Member must have value greater than or equal to {meta['min']}"
            )
        if "max" in meta and value > meta["max"]:
            errors.append(
                f"Value '{value}' at '{where}' failed to satisfy constraint: Member must have value less than or equal to {meta['max']}"
            )
    if kind == "string" and isinstance(value, str):
        if shape.enum and value not in shape.enum:
            errors.append(
                f"Value '{value}' at '{where}' failed to satisfy constraint: Member must satisfy enum value set: [{', '.join(shape.enum)}]"
            )
        if "pattern" in meta and not _pattern(meta["pattern"]).fullmatch(value):
            errors.append(
                f"Value '{value}' at '{where}' failed to satisfy constraint: Member must satisfy regular expression pattern: {meta['pattern']}"
            )
    if kind == "list" and isinstance(value, list):
        for i, item in enumerate(value, 1):
            _check(shape.member, item, f"{where}.{i}.member.", errors)
    if kind == "map" and isinstance(value, dict):
        for k, v in value.items():
            _check(shape.key, k, f"{where}.key.", errors)
            _check(shape.value, v, f"{where}.{k}.", errors)


@cache
def _pattern(pattern: str) -> re.Pattern:
    try:
        return re.compile(pattern, re.DOTALL)
    except re.error:  # a Java-only construct: do not check it
        return re.compile(".*", re.DOTALL)


def validate_create(request: dict) -> None:
    """ValidationException for what SageMaker would refuse, and for what this runner cannot run."""
    errors: list[str] = []
    _check(_service_model().operation_model("CreateTrainingJob").input_shape, request, "", errors)
    # Required by the service for a training job that is not serverless (the model marks them optional).
    for member in ("AlgorithmSpecification", "ResourceConfig"):
        if member not in request and "ServerlessJobConfig" not in request:
            errors.append(f"Value null at '{_camel(member)}' failed to satisfy constraint: Member must not be null")
    if errors:
        n = len(errors)
        raise validation(f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(errors))
    algo, res = request["AlgorithmSpecification"], request["ResourceConfig"]
    if not algo.get("TrainingImage") and not algo.get("AlgorithmName"):
        raise validation("Either TrainingImage or AlgorithmName must be specified in AlgorithmSpecification.")
    if not res.get("InstanceType") or not res.get("InstanceCount") or not res.get("VolumeSizeInGB"):
        raise validation("ResourceConfig must specify InstanceType, InstanceCount and VolumeSizeInGB.")
    if not request["OutputDataConfig"]["S3OutputPath"].startswith("s3://"):
        raise validation("OutputDataConfig.S3OutputPath must be an s3:// URI.")
    names = [c["ChannelName"] for c in request.get("InputDataConfig", [])]
    if len(set(names)) != len(names):
        raise validation("Channel names must be unique within InputDataConfig.")
    if "ServerlessJobConfig" in request or res.get("InstanceCount") != 1 or res.get("InstanceGroups"):
        raise validation(f"Unsupported on the embedded stack: {LOCAL_LIMITS}.")
    for ch in request.get("InputDataConfig", []):
        s3 = ch["DataSource"].get("S3DataSource")
        mode = ch.get("InputMode", algo["TrainingInputMode"])
        if not s3 or s3["S3DataType"] != "S3Prefix" or not s3["S3Uri"].startswith("s3://") or mode == "Pipe":
            raise validation(f"Unsupported channel '{ch['ChannelName']}' on the embedded stack: {LOCAL_LIMITS}.")
        if ch.get("CompressionType", "None") != "None":
            raise validation(f"Unsupported channel '{ch['ChannelName']}': CompressionType {ch['CompressionType']}.")


def _describe_members() -> set[str]:
    return set(_service_model().operation_model("DescribeTrainingJob").output_shape.members)


class JobStore:
    """Job records in memory, each also written to `<root>/<name>/job.json` on every change."""

    def __init__(self, root: Path):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._jobs: dict[str, dict] = {}
        for f in sorted(self.root.glob("*/job.json")):
            rec = json.loads(f.read_text())
            self._jobs[rec["TrainingJobName"].lower()] = rec
            if rec["TrainingJobStatus"] in ACTIVE:  # its process died with the previous control plane
                self.finish(
                    rec["TrainingJobName"],
                    "Failed",
                    "Failed",
                    "Training job failed",
                    FailureReason="InternalServerError: the local SageMaker control plane stopped while the job ran.",
                )

    def job_dir(self, name: str) -> Path:
        return self.root / name

    def _save(self, rec: dict) -> None:
        path = self.job_dir(rec["TrainingJobName"]) / "job.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(rec, indent=1, sort_keys=True))
        os.replace(tmp, path)

    def create(self, request: dict, arn: str) -> dict:
        now = time.time()
        members = _describe_members()
        rec = {k: v for k, v in request.items() if k in members}
        rec["StoppingCondition"] = request.get("StoppingCondition") or {"MaxRuntimeInSeconds": DEFAULT_MAX_RUNTIME}
        rec.setdefault("HyperParameters", {})
        rec.setdefault("EnableNetworkIsolation", False)
        rec.setdefault("EnableInterContainerTrafficEncryption", False)
        rec.setdefault("EnableManagedSpotTraining", False)
        rec |= {
            "TrainingJobArn": arn,
            "TrainingJobStatus": "InProgress",
            "SecondaryStatus": "Starting",
            "SecondaryStatusTransitions": [
                {"Status": "Starting", "StartTime": now, "StatusMessage": "Launching requested ML instances"}
            ],
            "CreationTime": now,
            "LastModifiedTime": now,
        }
        with self._lock:
            existing = self._jobs.get(request["TrainingJobName"].lower())
            if existing:
                raise ApiError(
                    "ResourceInUse",
                    "Training job names must be unique within an AWS account and region, and a training job "
                    f"with this name already exists ({existing['TrainingJobArn']})",
                )
            self._jobs[request["TrainingJobName"].lower()] = rec
            self._save(rec)
        return rec

    def get(self, name: str) -> dict:
        with self._lock:
            rec = self._jobs.get(name.lower())
            if rec is None:  # what SageMaker answers for an unknown training job (not ResourceNotFound)
                raise validation("Requested resource not found.")
            return json.loads(json.dumps(rec))

    def all(self) -> list[dict]:
        with self._lock:
            return [json.loads(json.dumps(r)) for r in self._jobs.values()]

    def transition(self, name: str, secondary: str, message: str, status: str | None = None, **fields: Any) -> None:
        """Close the current secondary status and open the next one (SecondaryStatusTransitions)."""
        now = time.time()
        with self._lock:
            rec = self._jobs[name.lower()]
            transitions = rec["SecondaryStatusTransitions"]
            if transitions and "EndTime" not in transitions[-1]:
                transitions[-1]["EndTime"] = now
            terminal = status in ("Completed", "Failed", "Stopped")
            entry = {"Status": secondary, "StartTime": now, "StatusMessage": message}
            if terminal:
                entry["EndTime"] = now
            transitions.append(entry)
            rec["SecondaryStatus"] = secondary
            if status:
                rec["TrainingJobStatus"] = status
            rec.update(fields)
            rec["LastModifiedTime"] = now
            self._save(rec)

    def finish(self, name: str, status: str, secondary: str, message: str, **fields: Any) -> None:
        now = time.time()
        with self._lock:
            rec = self._jobs[name.lower()]
            start = rec.get("TrainingStartTime", now)
            seconds = int(max(now - start, 0))
            fields = {
                "TrainingEndTime": now,
                "TrainingTimeInSeconds": seconds,
                "BillableTimeInSeconds": seconds,
            } | fields
            self.transition(name, secondary, message, status, **fields)

    def request_stop(self, name: str) -> None:
        with self._lock:
            rec = self.get(name)
            if rec["TrainingJobStatus"] == "Stopping":
                return
            if rec["TrainingJobStatus"] != "InProgress":
                raise validation(
                    f"The request was rejected because the training job is in status {rec['TrainingJobStatus']}."
                )
            self.transition(name, "Stopping", "Stopping the training job", "Stopping")


def list_jobs(store: JobStore, request: dict) -> dict:
    """ListTrainingJobs: the documented filters, sort keys and NextToken paging (default 10 per page)."""
    jobs = store.all()
    contains = (request.get("NameContains") or "").lower()
    checks = (
        ("CreationTimeAfter", "CreationTime", lambda v, x: v > x),
        ("CreationTimeBefore", "CreationTime", lambda v, x: v < x),
        ("LastModifiedTimeAfter", "LastModifiedTime", lambda v, x: v > x),
        ("LastModifiedTimeBefore", "LastModifiedTime", lambda v, x: v < x),
    )
    out = []
    for j in jobs:
        if contains not in j["TrainingJobName"].lower():
            continue
        if request.get("StatusEquals") and j["TrainingJobStatus"] != request["StatusEquals"]:
            continue
        if all(request.get(arg) is None or op(j[field], float(request[arg])) for arg, field, op in checks):
            out.append(j)
    key = {"Name": "TrainingJobName", "Status": "TrainingJobStatus"}.get(request.get("SortBy"), "CreationTime")
    out.sort(key=lambda j: j[key], reverse=request.get("SortOrder", "Descending") == "Descending")
    try:
        start = int(request.get("NextToken") or 0)
    except ValueError:
        raise validation("Invalid pagination token.") from None
    size = int(request.get("MaxResults") or 10)
    if not 1 <= size <= 100:
        raise validation(
            f"Value '{size}' at 'maxResults' failed to satisfy constraint: Member must be between 1 and 100"
        )
    page = out[start : start + size]
    fields = ("TrainingJobName", "TrainingJobArn", "CreationTime", "TrainingEndTime", "LastModifiedTime")
    result: dict[str, Any] = {
        "TrainingJobSummaries": [
            {k: j[k] for k in (*fields, "TrainingJobStatus", "SecondaryStatus") if k in j} for j in page
        ]
    }
    if start + size < len(out):
        result["NextToken"] = str(start + size)
    return result
