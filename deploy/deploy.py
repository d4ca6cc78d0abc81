"""Deploy the MWAA bundle to one environment: `python -m deploy.deploy --env prod [--trigger-dag training]`.

    1. check the AWS credentials (STS) and build the bundle with deploy.package into <out>/<env>/
    2. check the environment's bucket (exists, versioned) and the MWAA environment (exists, reads
       that bucket, is not in the middle of another update)
    3. upload plugins.zip, requirements.txt and startup.sh when their bytes changed (sha256 kept in
       the object's metadata) and note the S3 object version of each
    4. UpdateEnvironment with those object versions when they differ from what the environment
       runs, then wait for it to be AVAILABLE again (progress lines, timeout, the LastUpdate error
       when the update fails); nothing changed means no update
    5. sync dags/: upload changed files, delete objects no longer in the bundle (DAG files go
       after a successful update, so new DAGs never run on old plugins and a failed update
       leaves the old DAGs in place)
    6. record what was deployed in <out>/<env>/deployed.json (and the GitHub step summary)
    7. optionally trigger DAGs through the MWAA InvokeRestApi (Airflow 3 REST API v2)

Names follow infra/ (a test checks them): the environment `mlops-<env>-airflow`, its bucket
`airflow-mlops-<env>-<account id>`. AWS_ENDPOINT_URL (or AWS_ENDPOINT_URL_S3/_MWAA/_STS) points
boto3 at another endpoint, such as moto.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from deploy import package

ENVIRONMENT_NAME = "mlops-{env}-airflow"  # infra/stack/main.tf: mwaa_name = "${local.name_prefix}-airflow"
BUCKET_NAME = "airflow-mlops-{env}-{account_id}"  # infra/modules/storage/buckets.tf: buckets.mwaa
SHA256_METADATA = "sha256"  # x-amz-meta-sha256: the bundle file's sha256, to skip unchanged uploads
VERSIONED = (  # bundle file, manifest key of its S3 path, UpdateEnvironment fields, Terraform variable
    ("plugins.zip", "plugins_s3_path", "PluginsS3Path", "PluginsS3ObjectVersion", "plugins_s3_object_version"),
    (
        "requirements.txt",
        "requirements_s3_path",
        "RequirementsS3Path",
        "RequirementsS3ObjectVersion",
        "requirements_s3_object_version",
    ),
    (
        "startup.sh",
        "startup_script_s3_path",
        "StartupScriptS3Path",
        "StartupScriptS3ObjectVersion",
        "startup_script_s3_object_version",
    ),
)
# Environment states (botocore's MWAA model): wait through these, fail on those.
IN_PROGRESS = {"CREATING", "UPDATING", "CREATING_SNAPSHOT", "ROLLING_BACK", "MAINTENANCE", "PENDING"}
FAILED = {"UPDATE_FAILED", "UNAVAILABLE", "CREATE_FAILED", "DELETING", "DELETED"}
TRAINING_ALIAS = "training"  # --trigger-dag training: every training DAG of the bundle
CONTENT_TYPES = {".py": "text/x-python", ".txt": "text/plain", ".sh": "text/x-shellscript", ".json": "application/json"}
_DAG_ID = re.compile(r"^[A-Za-z0-9_.-]+$")
MAX_REST_PATH = 64  # InvokeRestApi: Path is at most 64 characters


class DeployError(RuntimeError):
    """The deploy cannot go on; the message says why and what to do."""


@dataclass
class Clock:
    """Time for the waits, replaceable in tests (no real sleeping there)."""

    sleep: Callable[[float], None] = time.sleep
    monotonic: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = lambda: datetime.now(UTC)


@dataclass
class Options:
    env: str
    out: Path = Path("dist")
    account_id: str | None = None
    region: str | None = None
    revision: str | None = None
    environment_name: str | None = None
    bucket: str | None = None
    upload_only: bool = False
    dry_run: bool = False
    trigger_dags: list[str] = field(default_factory=list)
    trigger_conf: dict = field(default_factory=dict)
    worker_replacement: str = "GRACEFUL"
    update_timeout: float = 50 * 60  # under the CI role's one-hour session
    poll_seconds: float = 30
    dag_timeout: float = 15 * 60


@dataclass
class Result:
    bundle: Path
    environment_name: str
    bucket: str
    versions: dict[str, str] = field(default_factory=dict)  # S3 key -> object version
    uploaded: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    updated: bool = False
    dag_runs: list[dict] = field(default_factory=list)


# --- AWS access -------------------------------------------------------------------------------


def endpoint_override(service: str) -> str | None:
    """The endpoint boto3 will use instead of AWS's (it reads these variables itself)."""
    return os.environ.get(f"AWS_ENDPOINT_URL_{service.upper()}") or os.environ.get("AWS_ENDPOINT_URL")


def make_clients(region: str | None) -> dict[str, Any]:
    import boto3
    from botocore.config import Config

    # botocore reads AWS_DEFAULT_REGION only; AWS_REGION is what most tools (and MWAA) set.
    session = boto3.session.Session(region_name=region or os.environ.get("AWS_REGION") or None)
    if not session.region_name:
        raise DeployError("no AWS region: pass --region or set AWS_REGION (or AWS_DEFAULT_REGION)")
    retries = Config(retries={"mode": "standard", "max_attempts": 5})
    # MWAA's API puts a host prefix (api., env.) before the endpoint; that cannot work on an
    # overridden endpoint such as a local moto address.
    mwaa_config = retries.merge(Config(inject_host_prefix=False)) if endpoint_override("mwaa") else retries
    return {
        "region": session.region_name,
        "sts": session.client("sts", config=retries),
        "s3": session.client("s3", config=retries),
        "mwaa": session.client("mwaa", config=mwaa_config),
    }


def _code(exc: Exception) -> str:
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "")


def caller_account(sts) -> str:
    from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

    try:
        return sts.get_caller_identity()["Account"]
    except (NoCredentialsError, PartialCredentialsError) as exc:
        raise DeployError(
            f"no AWS credentials ({exc}): in CI use the OIDC role (aws-actions/configure-aws-credentials); "
            "locally `aws sso login` / AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY"
        ) from exc
    except ClientError as exc:
        raise DeployError(
            f"AWS refused the credentials ({_code(exc)}: {exc}); renew them or assume the deploy role"
        ) from exc


def check_bucket(s3, bucket: str) -> None:
    from botocore.exceptions import ClientError

    try:
        s3.head_bucket(Bucket=bucket)
        status = s3.get_bucket_versioning(Bucket=bucket).get("Status")
    except ClientError as exc:
        code = _code(exc)
        if code in ("404", "NoSuchBucket", "NotFound"):
            raise DeployError(
                f"MWAA bucket {bucket} does not exist: create it with infra/ (terraform apply in infra/envs/<env>) "
                "or pass --bucket"
            ) from exc
        if code in ("403", "AccessDenied", "Forbidden"):
            raise DeployError(f"access to MWAA bucket {bucket} denied: deploy with the CI deploy role") from exc
        raise
    if status != "Enabled":
        raise DeployError(
            f"MWAA bucket {bucket} is not versioned (versioning {status or 'never enabled'}): MWAA takes plugins, "
            "requirements and the startup script by object version; enable versioning (infra/ does)"
        )


def get_environment(mwaa, name: str) -> dict:
    try:
        return mwaa.get_environment(Name=name)["Environment"]
    except mwaa.exceptions.ResourceNotFoundException as exc:
        region = mwaa.meta.region_name
        raise DeployError(
            f"MWAA environment {name} not found in {region}: create it with infra/ (create_mwaa=true), "
            "pass --environment-name, or --upload-only to upload the bundle for a first `terraform apply`"
        ) from exc


# --- uploads ----------------------------------------------------------------------------------


def _checksum(hex_digest: str) -> str:
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def remote_object(s3, bucket: str, key: str) -> dict | None:
    """The current version of key: {'version', 'sha256', 'size'}, or None when there is none."""
    from botocore.exceptions import ClientError

    try:
        head = s3.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if _code(exc) in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return {
        "version": head.get("VersionId"),
        "sha256": head.get("Metadata", {}).get(SHA256_METADATA),
        "size": head.get("ContentLength"),
    }


def upload(s3, bucket: str, key: str, path: Path, sha256_hex: str) -> str:
    """Put the file (S3 checks the sha256 on receipt) and return the new object version."""
    response = s3.put_object(
        Bucket=bucket,
        Key=key,
        Body=path.read_bytes(),
        ChecksumSHA256=_checksum(sha256_hex),
        Metadata={SHA256_METADATA: sha256_hex},
        ContentType=CONTENT_TYPES.get(path.suffix, "application/octet-stream"),
    )
    version = response.get("VersionId")
    if not version or version == "null":
        raise DeployError(f"s3://{bucket}/{key} got no object version: the bucket is not versioned")
    return version


def plan_versioned(s3, bucket: str, bundle: Path, manifest: dict) -> list[dict]:
    """For each versioned file: its key, whether its bytes differ from the current object, its version."""
    sha = {f["path"]: f["sha256"] for f in manifest["files"]}
    plan = []
    for name, manifest_key, path_field, version_field, tf_variable in VERSIONED:
        key = manifest["mwaa"][manifest_key]
        current = remote_object(s3, bucket, key)
        unchanged = bool(current and current["sha256"] == sha[name] and current["version"])
        plan.append(
            {
                "file": name,
                "key": key,
                "path": bundle / name,
                "sha256": sha[name],
                "upload": not unchanged,
                "version": current["version"] if unchanged else None,
                "path_field": path_field,
                "version_field": version_field,
                "tf_variable": tf_variable,
            }
        )
    return plan


def plan_dags(s3, bucket: str, manifest: dict) -> tuple[list[dict], list[str]]:
    """DAG files to upload (new or changed) and stale keys to delete under the dags prefix."""
    prefix = manifest["mwaa"]["dag_s3_path"].strip("/") + "/"
    wanted = {prefix + f["path"].removeprefix("dags/"): f for f in manifest["files"] if f["path"].startswith("dags/")}
    existing: dict[str, int] = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        for obj in page.get("Contents", []):
            existing[obj["Key"]] = obj["Size"]
    uploads = []
    for key, entry in sorted(wanted.items()):
        if key in existing and existing[key] == entry["bytes"]:
            current = remote_object(s3, bucket, key)
            if current and current["sha256"] == entry["sha256"]:
                continue
        uploads.append({"key": key, "file": entry["path"], "sha256": entry["sha256"]})
    stale = sorted(k for k in existing if k not in wanted and not k.endswith("/"))
    return uploads, stale


def delete_keys(s3, bucket: str, keys: list[str]) -> None:
    """Delete (a delete marker on the versioned bucket: the old bytes stay recoverable)."""
    for start in range(0, len(keys), 1000):
        batch = keys[start : start + 1000]
        response = s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in batch], "Quiet": True})
        if response.get("Errors"):
            errors = ", ".join(f"{e['Key']}: {e.get('Code')}" for e in response["Errors"])
            raise DeployError(f"could not delete stale DAG objects from {bucket}: {errors}")


# --- the environment --------------------------------------------------------------------------


def _elapsed(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes}m{secs:02d}s"


def _update_error(environment: dict) -> str:
    last = environment.get("LastUpdate") or {}
    error = last.get("Error") or {}
    if error:
        return f"{error.get('ErrorCode', '?')}: {error.get('ErrorMessage', '(no message)')}"
    return f"no error recorded (last update status {last.get('Status', '?')})"


def wait_for_environment(
    mwaa,
    name: str,
    *,
    timeout: float,
    poll: float,
    clock: Clock,
    out: Callable[[str], None],
    update_started: datetime | None = None,
    ready: frozenset[str] = frozenset({"AVAILABLE"}),
) -> dict:
    """Poll GetEnvironment until the environment is in a ready state.

    After an UpdateEnvironment (update_started set), a ready or failed state counts only once the
    update shows: a state in progress was seen, or LastUpdate.CreatedAt is the new update's; so a
    status read just before MWAA switches to UPDATING is not taken for the end of the update.
    botocore has no MWAA waiters and the Amazon provider's MWAA waiters cover DAG runs only, hence
    this loop (which also prints progress).
    """
    start = clock.monotonic()
    seen_progress = False
    last_status, last_report = None, start
    while True:
        environment = get_environment(mwaa, name)
        status = environment.get("Status", "?")
        now = clock.monotonic()
        if status != last_status or now - last_report >= 60:
            out(f"  [{_elapsed(now - start)}] {name}: {status}")
            last_status, last_report = status, now
        seen_progress = seen_progress or status in IN_PROGRESS
        created = (environment.get("LastUpdate") or {}).get("CreatedAt")
        current = update_started is None or seen_progress or (created is not None and created >= update_started)
        if current and status in ready:
            return environment
        if current and status in FAILED:
            what = "the update failed" if update_started else "it cannot take an update"
            raise DeployError(
                f"MWAA environment {name} is {status}: {what}; last update error: {_update_error(environment)}"
            )
        if status not in IN_PROGRESS and status not in ready and status not in FAILED:
            raise DeployError(f"MWAA environment {name} is in an unexpected state {status}")
        if now - start >= timeout:
            raise DeployError(
                f"MWAA environment {name} still {status} after {_elapsed(timeout)} (--update-timeout); the update "
                f"goes on in AWS: `aws mwaa get-environment --name {name}` tells when it ends"
            )
        clock.sleep(poll)


def check_environment(environment: dict, bucket: str, manifest: dict) -> None:
    """The environment must read this bucket and the DAG folder this bundle writes."""
    name = environment.get("Name")
    expected_arn = f"arn:aws:s3:::{bucket}"
    if environment.get("SourceBucketArn") != expected_arn:
        raise DeployError(
            f"MWAA environment {name} reads {environment.get('SourceBucketArn')}, not {expected_arn}: "
            "check --bucket / --environment-name against infra/"
        )
    dag_path = (environment.get("DagS3Path") or "").strip("/")
    if dag_path != manifest["mwaa"]["dag_s3_path"].strip("/"):
        raise DeployError(
            f"MWAA environment {name} takes DAGs from {environment.get('DagS3Path')!r}, the bundle writes "
            f"{manifest['mwaa']['dag_s3_path']!r}"
        )


# --- triggering DAGs through the Airflow REST API --------------------------------------------


def rest_api(mwaa, name: str, method: str, path: str, body: dict | None = None) -> tuple[int, Any]:
    """One Airflow REST API call through MWAA InvokeRestApi: (HTTP status, response JSON).

    The path is relative to the API root: MWAA sends it to Airflow's REST API for the
    environment's Airflow version (/api/v2 on Airflow 3), as the Amazon provider's
    MwaaTriggerDagRunOperator does. An Airflow error (4xx/5xx) comes back as RestApiClientException /
    RestApiServerException carrying Airflow's status and response.
    """
    if len(path) > MAX_REST_PATH:
        raise DeployError(f"REST path {path!r} is longer than the {MAX_REST_PATH} characters InvokeRestApi takes")
    kwargs: dict[str, Any] = {"Name": name, "Method": method, "Path": path}
    if body is not None:
        kwargs["Body"] = body
    try:
        response = mwaa.invoke_rest_api(**kwargs)
    except (mwaa.exceptions.RestApiClientException, mwaa.exceptions.RestApiServerException) as exc:
        return exc.response.get("RestApiStatusCode") or 0, exc.response.get("RestApiResponse")
    except mwaa.exceptions.AccessDeniedException as exc:
        raise DeployError(
            f"MWAA refused {method} {path} on {name} ({exc}): the deploy role needs airflow:InvokeRestApi "
            f"on arn:aws:airflow:<region>:<account>:role/{name}/User"
        ) from exc
    return response.get("RestApiStatusCode", 200), response.get("RestApiResponse")


def _detail(body: Any) -> str:
    if isinstance(body, dict):
        return str(body.get("detail") or body.get("title") or body)
    return str(body)


def _parsed_at(dag: dict) -> datetime | None:
    value = dag.get("last_parsed_time")
    if not value:
        return None
    parsed = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def wait_for_dag(
    mwaa,
    name: str,
    dag_id: str,
    *,
    parsed_after: datetime | None,
    timeout: float,
    poll: float,
    clock: Clock,
    out: Callable[[str], None],
) -> dict:
    """GET /dags/{dag_id} until Airflow knows the DAG (and parsed it after parsed_after, when given)."""
    start = clock.monotonic()
    while True:
        status, body = rest_api(mwaa, name, "GET", f"/dags/{dag_id}")
        if status == 200 and isinstance(body, dict):
            parsed = _parsed_at(body)
            if parsed_after is None or (parsed is not None and parsed >= parsed_after):
                return body
            reason = f"last parsed {parsed.isoformat() if parsed else 'never'}, before the DAG upload"
        elif status == 404:
            reason = "not known to Airflow yet"
        else:
            raise DeployError(f"GET /dags/{dag_id} on {name} answered {status}: {_detail(body)}")
        if clock.monotonic() - start >= timeout:
            _, errors = rest_api(mwaa, name, "GET", "/importErrors")
            listed = (errors or {}).get("import_errors", []) if isinstance(errors, dict) else []
            lines = "".join(f"\n  {e.get('filename')}: {str(e.get('stack_trace', ''))[-300:]}" for e in listed)
            raise DeployError(
                f"DAG {dag_id} {reason} after {_elapsed(timeout)} (--dag-timeout); import errors: "
                + (lines or "none reported")
            )
        out(f"  waiting for {dag_id}: {reason}")
        clock.sleep(poll)


def trigger_dag(mwaa, name: str, dag_id: str, *, conf: dict, note: str) -> dict:
    """POST /dags/{dag_id}/dagRuns (Airflow 3: logical_date is a required field, null for 'now')."""
    status, body = rest_api(
        mwaa, name, "POST", f"/dags/{dag_id}/dagRuns", {"logical_date": None, "conf": conf, "note": note}
    )
    if status not in (200, 201) or not isinstance(body, dict):
        raise DeployError(f"triggering {dag_id} on {name} failed with {status}: {_detail(body)}")
    return body


def expand_dag_ids(requested: list[str], bundle: Path) -> list[str]:
    """Comma-separated ids; `training` stands for every training DAG in the bundle's include/models."""
    ids: list[str] = []
    for item in requested:
        for dag_id in (part.strip() for part in item.split(",")):
            if not dag_id:
                continue
            expanded = training_dag_ids(bundle) if dag_id == TRAINING_ALIAS else [dag_id]
            for one in expanded:
                if not _DAG_ID.match(one):
                    raise DeployError(f"not a DAG id: {one!r}")
                if one not in ids:
                    ids.append(one)
    return ids


def training_dag_ids(bundle: Path) -> list[str]:
    """The training DAG ids the bundle defines (mlops.training.config, as dags/train_models.py builds them)."""
    plugins = str(package.REPO / "plugins")
    if plugins not in sys.path:
        sys.path.insert(0, plugins)
    from mlops.training.config import load_models

    ids = sorted(m.dag_id for m in load_models(bundle / "dags" / "include" / "models"))
    if not ids:
        raise DeployError(f"--trigger-dag {TRAINING_ALIAS}: no model files in {bundle / 'dags' / 'include' / 'models'}")
    return ids


# --- the deploy -------------------------------------------------------------------------------


def deploy(options: Options, *, clients: dict | None = None, clock: Clock | None = None, out=print) -> Result:
    clock = clock or Clock()
    clients = clients or make_clients(options.region)
    s3, mwaa = clients["s3"], clients["mwaa"]
    region = clients["region"]

    account = caller_account(clients["sts"])
    if options.account_id and options.account_id != account:
        raise DeployError(f"the credentials are for account {account}, not {options.account_id} (--account-id)")
    try:
        bundle = package.build(options.env, options.out, account_id=account, region=region, revision=options.revision)
    except package.PackageError as exc:
        raise DeployError(f"package: {exc}") from exc
    manifest = json.loads((bundle / "manifest.json").read_text())
    name = options.environment_name or ENVIRONMENT_NAME.format(env=options.env)
    bucket = options.bucket or BUCKET_NAME.format(env=options.env, account_id=account)
    result = Result(bundle=bundle, environment_name=name, bucket=bucket)
    dag_ids = expand_dag_ids(options.trigger_dags, bundle)
    out(f"deploy {options.env}: revision {manifest['revision']} -> s3://{bucket}, environment {name} ({region})")

    check_bucket(s3, bucket)
    environment = None
    if not options.upload_only:
        environment = get_environment(mwaa, name)
        check_environment(environment, bucket, manifest)
        if environment.get("Status") != "AVAILABLE":
            out(f"{name} is {environment.get('Status')}: waiting until it can take an update")
            environment = wait_for_environment(
                mwaa,
                name,
                timeout=options.update_timeout,
                poll=options.poll_seconds,
                clock=clock,
                out=out,
                ready=frozenset({"AVAILABLE", "UPDATE_FAILED"}),
            )

    versioned = plan_versioned(s3, bucket, bundle, manifest)
    dag_uploads, stale = plan_dags(s3, bucket, manifest)
    needs_update = False
    for item in versioned:
        if not options.dry_run and item["upload"]:
            item["version"] = upload(s3, bucket, item["key"], item["path"], item["sha256"])
            result.uploaded.append(item["key"])
        state = ("would upload" if options.dry_run else "uploaded") if item["upload"] else "unchanged"
        out(f"  {item['key']:<18} {state:<12} version {item['version'] or '(new)'}")
        if item["version"]:
            result.versions[item["key"]] = item["version"]
        running = (environment or {}).get(item["version_field"])
        if environment is not None and (item["upload"] or running != item["version"]):
            needs_update = True

    if options.dry_run:
        out(f"dry run: {'would update' if needs_update else 'no update for'} {name}")
        for entry in dag_uploads:
            out(f"  would upload {entry['key']}")
        for key in stale:
            out(f"  would delete {key}")
        return result

    if options.upload_only:
        out("upload only: MWAA not touched; for terraform (infra/envs/<env>):")
        for item in versioned:
            out(f"  -var {item['tf_variable']}={item['version']}")
    elif needs_update:
        started = clock.now()
        # The paths and versions of all three files, so the environment runs exactly this bundle.
        update = {}
        for item in versioned:
            update[item["path_field"]] = item["key"]
            update[item["version_field"]] = item["version"]
        mwaa.update_environment(Name=name, WorkerReplacementStrategy=options.worker_replacement, **update)
        out(f"updating {name} ({options.worker_replacement.lower()} worker replacement); this takes 10-30 minutes")
        wait_for_environment(
            mwaa,
            name,
            timeout=options.update_timeout,
            poll=options.poll_seconds,
            clock=clock,
            out=out,
            update_started=started,
        )
        result.updated = True
        out(f"{name} is AVAILABLE with the new versions")
    else:
        out(f"nothing changed in plugins.zip, requirements.txt or startup.sh: {name} not updated")

    for entry in dag_uploads:
        upload(s3, bucket, entry["key"], bundle / entry["file"], entry["sha256"])
        result.uploaded.append(entry["key"])
        out(f"  uploaded {entry['key']}")
    delete_keys(s3, bucket, stale)
    for key in stale:
        out(f"  deleted  {key}")
    result.deleted = stale
    dags_synced_at = clock.now() if (dag_uploads or stale) else None
    unchanged = len([f for f in manifest["files"] if f["path"].startswith("dags/")]) - len(dag_uploads)
    out(f"dags/: {len(dag_uploads)} uploaded, {len(stale)} deleted, {unchanged} unchanged")
    if not result.uploaded and not stale and not result.updated:
        out("nothing to deploy: the bucket and the environment already hold this bundle")

    if dag_ids and options.upload_only:
        out("upload only: not triggering " + ", ".join(dag_ids))
    elif dag_ids:
        note = f"deployed revision {manifest['revision']} by deploy.deploy"
        for dag_id in dag_ids:
            dag = wait_for_dag(
                mwaa,
                name,
                dag_id,
                parsed_after=dags_synced_at,
                timeout=options.dag_timeout,
                poll=options.poll_seconds,
                clock=clock,
                out=out,
            )
            if dag.get("is_paused"):
                out(f"  warning: {dag_id} is paused: its run waits until it is unpaused in the Airflow UI")
            run = trigger_dag(mwaa, name, dag_id, conf=options.trigger_conf, note=note)
            result.dag_runs.append({"dag_id": dag_id, "dag_run_id": run.get("dag_run_id"), "state": run.get("state")})
            out(f"triggered {dag_id}: run {run.get('dag_run_id')} ({run.get('state')})")

    record(result, manifest, options, clock)
    return result


def record(result: Result, manifest: dict, options: Options, clock: Clock) -> None:
    """deployed.json beside the bundle, and a table in the GitHub job summary when there is one."""
    data = {
        "environment": options.env,
        "mwaa_environment": result.environment_name,
        "bucket": result.bucket,
        "revision": manifest["revision"],
        "deployed_at": clock.now().isoformat(),
        "object_versions": result.versions,
        "environment_updated": result.updated,
        "uploaded": result.uploaded,
        "deleted": result.deleted,
        "dag_runs": result.dag_runs,
    }
    (result.bundle / "deployed.json").write_text(json.dumps(data, indent=2) + "\n")
    summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary:
        rows = "".join(f"| `{k}` | `{v}` |\n" for k, v in result.versions.items())
        runs = "".join(f"- `{r['dag_id']}`: run `{r['dag_run_id']}`\n" for r in result.dag_runs)
        with open(summary, "a") as fh:
            fh.write(
                f"### Deployed {manifest['revision']} to {result.environment_name}\n\n"
                f"Environment updated: {'yes' if result.updated else 'no (nothing changed)'}; "
                f"{len(result.uploaded)} objects uploaded, {len(result.deleted)} deleted.\n\n"
                f"| object | S3 version |\n|---|---|\n{rows}\n{runs}"
            )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.deploy", description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, help=f"environment: {', '.join(package.known_environments())}")
    parser.add_argument("--out", default="dist", type=Path, help="bundle folder (default dist/)")
    parser.add_argument("--region", default=None, help="AWS region (default: AWS_REGION / AWS_DEFAULT_REGION)")
    parser.add_argument("--account-id", default=None, help="refuse to deploy unless the credentials are this account's")
    parser.add_argument("--revision", help="MLOPS_CODE_REVISION (default: the git commit)")
    parser.add_argument("--environment-name", help=f"MWAA environment (default {ENVIRONMENT_NAME})")
    parser.add_argument("--bucket", help=f"MWAA bucket (default {BUCKET_NAME})")
    parser.add_argument(
        "--trigger-dag",
        action="append",
        default=[],
        metavar="DAG_ID[,DAG_ID...]",
        help=f"trigger these DAGs after the deploy; '{TRAINING_ALIAS}' = every training DAG of the bundle",
    )
    parser.add_argument(
        "--trigger-conf", default="{}", help='JSON conf for the triggered runs, e.g. {"force_train": true}'
    )
    parser.add_argument("--upload-only", action="store_true", help="upload the bundle, leave MWAA alone (first deploy)")
    parser.add_argument("--dry-run", action="store_true", help="show what would be uploaded, deleted and updated")
    parser.add_argument("--worker-replacement", choices=["graceful", "forced"], default="graceful")
    parser.add_argument(
        "--update-timeout", type=float, default=50 * 60, help="seconds to wait for AVAILABLE (default 50 min)"
    )
    parser.add_argument("--dag-timeout", type=float, default=15 * 60, help="seconds to wait for a DAG to be parsed")
    parser.add_argument("--poll-seconds", type=float, default=30)
    args = parser.parse_args(argv)
    try:
        conf = json.loads(args.trigger_conf or "{}")
    except json.JSONDecodeError as exc:
        parser.error(f"--trigger-conf is not JSON: {exc}")
    if not isinstance(conf, dict):
        parser.error("--trigger-conf must be a JSON object")
    options = Options(
        env=args.env,
        out=args.out,
        account_id=args.account_id,
        region=args.region,
        revision=args.revision,
        environment_name=args.environment_name,
        bucket=args.bucket,
        upload_only=args.upload_only,
        dry_run=args.dry_run,
        trigger_dags=args.trigger_dag,
        trigger_conf=conf,
        worker_replacement=args.worker_replacement.upper(),
        update_timeout=args.update_timeout,
        poll_seconds=args.poll_seconds,
        dag_timeout=args.dag_timeout,
    )
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        deploy(options, out=lambda line: print(line, flush=True))
    except DeployError as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 2
    except ClientError as exc:
        operation = getattr(exc, "operation_name", "?")
        print(f"deploy: AWS refused {operation}: {_code(exc)}: {exc}", file=sys.stderr)
        return 1
    except BotoCoreError as exc:
        print(f"deploy: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
