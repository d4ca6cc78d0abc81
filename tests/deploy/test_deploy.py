"""`python -m deploy.deploy` against a moto server over HTTP (AWS_ENDPOINT_URL), MWAA included.

MOTO_HAS_NO_MWAA: moto 5.2.5 ships no MWAA backend, so GetEnvironment, UpdateEnvironment and
InvokeRestApi are answered by tests/deploy/fake_mwaa.py on the same port (its state machine moves
on GetEnvironment calls, not on time). What these tests prove about MWAA is therefore the requests
boto3 sends (fields, object versions, REST paths and bodies) and how deploy reacts to the answers
the MWAA API documents; that a real environment accepts a bundle is proven only by a real deploy.
S3 (versioning, object versions, delete markers) and STS are moto's.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from deploy import deploy as d
from tests.deploy.conftest import REGION

REPO = Path(__file__).resolve().parents[2]
VERSIONED_KEYS = ("plugins.zip", "requirements.txt", "startup.sh")


class StepClock(d.Clock):
    """Time moves only when deploy sleeps: waits and timeouts are exact and instant."""

    def __init__(self):
        self.t = 0.0
        super().__init__(sleep=self._sleep, monotonic=lambda: self.t)

    def _sleep(self, seconds: float) -> None:
        self.t += seconds


def run(target, tmp_path, revision="rev-1", **overrides):
    lines: list[str] = []
    fields = {"bucket": target["bucket"], "environment_name": target["name"], **overrides}
    options = d.Options(env="dev", out=tmp_path / "dist", revision=revision, **fields)
    result = d.deploy(options, clock=StepClock(), out=lines.append)
    return result, lines


def manifest(result) -> dict:
    return json.loads((result.bundle / "manifest.json").read_text())


def dag_keys(result) -> set[str]:
    return {f["path"] for f in manifest(result)["files"] if f["path"].startswith("dags/")}


def bucket_keys(s3, bucket: str, prefix: str = "") -> set[str]:
    pages = s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
    return {o["Key"] for page in pages for o in page.get("Contents", [])}


def environment(target) -> dict:
    return target["mwaa"].get_environment(Name=target["name"])["Environment"]


def test_first_deploy_uploads_the_bundle_and_pins_its_object_versions(target, tmp_path):
    result, lines = run(target, tmp_path)
    s3, bucket = target["s3"], target["bucket"]
    sha = {f["path"]: f["sha256"] for f in manifest(result)["files"]}

    for key in VERSIONED_KEYS:
        head = s3.head_object(Bucket=bucket, Key=key)
        assert head["VersionId"] == result.versions[key]
        assert head["Metadata"]["sha256"] == sha[key]
    assert bucket_keys(s3, bucket, "dags/") == dag_keys(result)
    assert set(result.uploaded) == set(VERSIONED_KEYS) | dag_keys(result)
    assert result.updated and not result.deleted

    env = environment(target)  # read back through GetEnvironment
    assert env["Status"] == "AVAILABLE"
    assert env["PluginsS3ObjectVersion"] == result.versions["plugins.zip"]
    assert env["RequirementsS3ObjectVersion"] == result.versions["requirements.txt"]
    assert env["StartupScriptS3ObjectVersion"] == result.versions["startup.sh"]
    update = target["fake"].updates[-1]
    assert update["WorkerReplacementStrategy"] == "GRACEFUL"
    assert (update["PluginsS3Path"], update["RequirementsS3Path"], update["StartupScriptS3Path"]) == VERSIONED_KEYS

    progress = "\n".join(lines)
    assert re.search(r"\[0m00s\] .*: UPDATING", progress) and re.search(r"\[1m00s\] .*: AVAILABLE", progress)
    recorded = json.loads((result.bundle / "deployed.json").read_text())
    assert recorded["object_versions"] == result.versions and recorded["revision"] == "rev-1"


def test_second_deploy_without_change_uploads_nothing_and_skips_the_update(target, tmp_path):
    first, _ = run(target, tmp_path)
    updates = len(target["fake"].updates)
    second, lines = run(target, tmp_path)

    assert second.uploaded == [] and second.deleted == [] and not second.updated
    assert second.versions == first.versions
    assert len(target["fake"].updates) == updates
    assert any("not updated" in line for line in lines)
    assert any(line.startswith("nothing to deploy") for line in lines)


def test_changed_startup_script_gets_a_new_version_and_an_update(target, tmp_path):
    """A new revision changes startup.sh (MLOPS_CODE_REVISION) and nothing else."""
    first, _ = run(target, tmp_path, revision="rev-1")
    second, _ = run(target, tmp_path, revision="rev-2")

    assert second.uploaded == ["startup.sh"]
    assert second.updated
    assert second.versions["startup.sh"] != first.versions["startup.sh"]
    assert second.versions["plugins.zip"] == first.versions["plugins.zip"]
    env = environment(target)
    assert env["StartupScriptS3ObjectVersion"] == second.versions["startup.sh"]
    assert env["PluginsS3ObjectVersion"] == first.versions["plugins.zip"]


def test_removed_and_changed_dag_files_are_synced(target, tmp_path):
    first, _ = run(target, tmp_path)
    s3, bucket = target["s3"], target["bucket"]
    # What a previous bundle held and this one does not; and a DAG file edited in the bucket.
    for key in ("dags/old_pipeline.py", "dags/include/sql/retired/table.sql"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"# removed from the repository\n")
    s3.put_object(Bucket=bucket, Key="dags/train_models.py", Body=b"# edited by hand\n")

    second, lines = run(target, tmp_path)

    assert second.deleted == ["dags/include/sql/retired/table.sql", "dags/old_pipeline.py"]
    assert second.uploaded == ["dags/train_models.py"]
    assert not second.updated
    assert bucket_keys(s3, bucket, "dags/") == dag_keys(first)
    markers = s3.list_object_versions(Bucket=bucket, Prefix="dags/old_pipeline.py").get("DeleteMarkers", [])
    assert markers and markers[0]["IsLatest"]  # versioned bucket: deleted, still recoverable
    assert any(line.startswith("dags/: 1 uploaded, 2 deleted") for line in lines)


def test_failed_update_reports_the_last_update_error_and_keeps_the_old_dags(target, tmp_path):
    target["fake"].fail_next_update = {
        "ErrorCode": "INCORRECT_CONFIGURATION",
        "ErrorMessage": "requirements.txt: no matching distribution for a-package==9.9",
    }
    with pytest.raises(d.DeployError) as info:
        run(target, tmp_path)
    message = str(info.value)
    assert "UPDATE_FAILED" in message and "the update failed" in message
    assert "INCORRECT_CONFIGURATION: requirements.txt: no matching distribution" in message
    assert bucket_keys(target["s3"], target["bucket"], "dags/") == set()  # DAGs go only after a good update
    assert environment(target).get("PluginsS3ObjectVersion") is None  # MWAA rolled back


def test_update_that_does_not_finish_times_out(target, tmp_path):
    target["fake"].update_polls = 10**6
    with pytest.raises(d.DeployError, match=r"still UPDATING after 2m00s \(--update-timeout\).*get-environment"):
        run(target, tmp_path, update_timeout=120, poll_seconds=30)


def test_waits_for_an_environment_busy_with_another_update(target, tmp_path):
    fake = target["fake"]
    with fake.lock:
        fake.environments[target["name"]]["Status"] = "UPDATING"
        fake._pending[target["name"]] = {"polls": 1, "fail": None, "previous": {}}
    result, lines = run(target, tmp_path)
    assert result.updated
    assert any("waiting until it can take an update" in line for line in lines)


def test_trigger_training_dags_through_invoke_rest_api(target, tmp_path):
    """MOTO_HAS_NO_MWAA: the InvokeRestApi requests are checked as the fake received them over HTTP."""
    fake = target["fake"]
    fake.add_dag(target["name"], "train_diabetes_progression")
    fake.add_dag(target["name"], "train_digits_classifier", is_paused=True)
    fake.rest_calls.clear()

    result, lines = run(target, tmp_path, trigger_dags=["training"], trigger_conf={"force_train": True})

    posts = [c for c in fake.rest_calls if c["Method"] == "POST"]
    assert [c["Path"] for c in posts] == [
        "/dags/train_diabetes_progression/dagRuns",
        "/dags/train_digits_classifier/dagRuns",
    ]
    body = posts[0]["Body"]
    assert body["logical_date"] is None  # Airflow 3 requires the field; null means "now"
    assert body["conf"] == {"force_train": True}
    assert "rev-1" in body["note"]
    assert [r["dag_id"] for r in result.dag_runs] == ["train_diabetes_progression", "train_digits_classifier"]
    assert all(r["state"] == "queued" for r in result.dag_runs)
    assert any("train_digits_classifier is paused" in line for line in lines)
    # Before each trigger: the DAG is known and was parsed after the DAG upload.
    gets = [c["Path"] for c in fake.rest_calls if c["Method"] == "GET"]
    assert gets == ["/dags/train_diabetes_progression", "/dags/train_digits_classifier"]


def test_trigger_of_a_dag_airflow_does_not_know_fails_with_the_import_errors(target, tmp_path):
    with pytest.raises(d.DeployError, match=r"DAG train_nothing not known to Airflow yet after 1m00s.*import errors"):
        run(target, tmp_path, trigger_dags=["train_nothing"], dag_timeout=60, poll_seconds=30)


def test_dry_run_changes_nothing(target, tmp_path):
    result, lines = run(target, tmp_path, dry_run=True)
    assert bucket_keys(target["s3"], target["bucket"]) == set()
    assert all(update["Name"] != target["name"] for update in target["fake"].updates)
    assert environment(target).get("PluginsS3ObjectVersion") is None
    assert any("would upload" in line for line in lines) and any("would update" in line for line in lines)


def test_upload_only_needs_no_environment_and_prints_the_terraform_versions(target, tmp_path):
    result, lines = run(target, tmp_path, upload_only=True, environment_name="mlops-not-created-yet")
    assert set(result.versions) == set(VERSIONED_KEYS)
    assert not any(update["Name"] == "mlops-not-created-yet" for update in target["fake"].updates)
    text = "\n".join(lines)
    for var, key in (
        ("plugins", "plugins.zip"),
        ("requirements", "requirements.txt"),
        ("startup_script", "startup.sh"),
    ):
        assert f"-var {var}_s3_object_version={result.versions[key]}" in text


# --- errors, through the command line ---------------------------------------------------------


def cli(tmp_path, *args) -> list[str]:
    return ["--env", "dev", "--out", str(tmp_path / "dist"), "--revision", "rev-cli", "--poll-seconds", "0", *args]


def test_cli_deploys_with_the_endpoint_from_aws_endpoint_url(target, tmp_path, capsys):
    code = d.main(cli(tmp_path, "--bucket", target["bucket"], "--environment-name", target["name"]))
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"s3://{target['bucket']}" in out and "is AVAILABLE with the new versions" in out
    assert environment(target)["PluginsS3ObjectVersion"]


def test_missing_bucket_is_named(target, tmp_path, capsys):
    code = d.main(cli(tmp_path, "--bucket", "airflow-no-such-bucket", "--environment-name", target["name"]))
    err = capsys.readouterr().err
    assert code == 2
    assert "deploy: MWAA bucket airflow-no-such-bucket does not exist: create it with infra/" in err


def test_missing_environment_is_named(target, tmp_path, capsys):
    code = d.main(cli(tmp_path, "--bucket", target["bucket"], "--environment-name", "mlops-nowhere"))
    err = capsys.readouterr().err
    assert code == 2
    assert f"deploy: MWAA environment mlops-nowhere not found in {REGION}: create it with infra/" in err
    assert "--upload-only" in err


def test_default_names_follow_infra_and_a_missing_bucket_is_reported(aws, tmp_path, capsys):
    """Without --bucket/--environment-name the names are infra's, with the caller's account (moto's)."""
    code = d.main(["--env", "dev", "--out", str(tmp_path / "dist"), "--revision", "r"])
    assert code == 2
    assert "MWAA bucket airflow-mlops-dev-123456789012 does not exist" in capsys.readouterr().err


def test_unversioned_bucket_is_refused(target, tmp_path, capsys):
    target["s3"].create_bucket(Bucket="airflow-unversioned", CreateBucketConfiguration={"LocationConstraint": REGION})
    code = d.main(cli(tmp_path, "--bucket", "airflow-unversioned", "--environment-name", target["name"]))
    assert code == 2
    assert "MWAA bucket airflow-unversioned is not versioned" in capsys.readouterr().err


def test_environment_reading_another_bucket_is_refused(target, tmp_path, capsys):
    target["fake"].add_environment("mlops-other", "airflow-other-bucket")
    code = d.main(cli(tmp_path, "--bucket", target["bucket"], "--environment-name", "mlops-other"))
    assert code == 2
    assert "reads arn:aws:s3:::airflow-other-bucket, not arn:aws:s3:::" in capsys.readouterr().err


def test_missing_credentials_are_named(aws, tmp_path, capsys, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_WEB_IDENTITY_TOKEN_FILE"):
        monkeypatch.delenv(name, raising=False)
    for name in ("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "no-credentials"))
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code = d.main(cli(tmp_path))
    err = capsys.readouterr().err
    assert code == 2
    assert "deploy: no AWS credentials" in err and "OIDC" in err


def test_region_from_aws_region_alone(target, tmp_path, capsys, monkeypatch):
    """botocore reads AWS_DEFAULT_REGION only; deploy takes AWS_REGION as well."""
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    code = d.main(cli(tmp_path, "--bucket", target["bucket"], "--environment-name", target["name"], "--dry-run"))
    assert code == 0, capsys.readouterr().err
    assert f"({REGION})" in capsys.readouterr().out


def test_missing_region_is_named(aws, tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("AWS_REGION")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))
    assert d.main(cli(tmp_path)) == 2
    assert "no AWS region" in capsys.readouterr().err


# --- pieces -----------------------------------------------------------------------------------


def test_dag_ids_expand_the_training_alias_from_the_bundle(tmp_path):
    from deploy import package

    bundle = package.build("dev", tmp_path, account_id="123456789012", region=REGION, revision="r")
    models = sorted("train_" + p.stem for p in (REPO / "include" / "models").glob("*.yaml"))
    assert d.expand_dag_ids(["training"], bundle) == models
    assert d.expand_dag_ids(["a_dag, " + models[0], "a_dag"], bundle) == ["a_dag", models[0]]
    with pytest.raises(d.DeployError, match="not a DAG id"):
        d.expand_dag_ids(["bad/id"], bundle)


def test_names_match_infra():
    """ENVIRONMENT_NAME and BUCKET_NAME are the names infra/ gives (README: names in infra/ match deploy/)."""
    stack = (REPO / "infra" / "stack" / "main.tf").read_text()
    buckets = (REPO / "infra" / "modules" / "storage" / "buckets.tf").read_text()
    variables = (REPO / "infra" / "stack" / "variables.tf").read_text()
    assert 'name_prefix = "${var.project}-${var.environment}"' in stack
    assert re.search(r'variable "project" \{[^}]*default\s*=\s*"mlops"', variables)
    assert 'mwaa_name   = "${local.name_prefix}-airflow"' in stack
    assert re.search(r'mwaa = \{\s*name = "airflow-\$\{var.name_prefix\}-\$\{var.account_id\}"', buckets)
    assert d.ENVIRONMENT_NAME.format(env="prod") == "mlops-prod-airflow"
    assert d.BUCKET_NAME.format(env="prod", account_id="111122223333") == "airflow-mlops-prod-111122223333"
