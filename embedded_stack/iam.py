"""IAM on the embedded stack: infra/modules/identity applied into moto, a key per identity, AWS profiles.

At `make up` (moto started with --enforce-iam, see embedded_stack.moto_state) Terraform applies
embedded_stack/identities/main.tf, a root module that calls infra/modules/identity with the stack's
bucket, table and topic names: the policies are the ones infra/ deploys, not a copy. It adds a
user per identity (pipeline = MWAA execution role's policy, sagemaker = SageMaker execution
role's policy, engineer and scientist = may assume their role) and their keys. Then
.local/aws/config and .local/aws/credentials get the profiles:

    AWS_CONFIG_FILE=.local/aws/config AWS_SHARED_CREDENTIALS_FILE=.local/aws/credentials \\
        AWS_PROFILE=mlops-scientist aws s3 ls s3://mlops-curated/

mlops-pipeline, mlops-sagemaker, mlops-engineer and mlops-scientist (the last two assume their
role, as people do on AWS), and mlops-admin (the bootstrap administrator, for seeding and tests).

The apply is skipped when its inputs (the .tf files, the variables) are those of the last apply
and the keys it made still work, so a restart from restored moto state costs one request.
Without terraform on PATH (or with MLOPS_IAM=off) the stack runs without enforcement, as before.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import shutil
import subprocess
import time
from pathlib import Path

from embedded_stack.paths import REPO, StackConfig, private_dir, write_private

ROOT_MODULE = REPO / "embedded_stack" / "identities"
IDENTITY_MODULE = REPO / "infra" / "modules" / "identity"
TF = REPO / "infra" / "bin" / "tf"
PROFILES = ("mlops-pipeline", "mlops-sagemaker", "mlops-engineer", "mlops-scientist", "mlops-admin")
# identity -> the role a person's profile assumes (None: the user's own policies)
PEOPLE = {"engineer": "mlops-data-engineer", "scientist": "mlops-data-scientist"}
UNENFORCED = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}


class IamError(RuntimeError):
    """Terraform failed to apply the identities."""


def enforced(cfg: StackConfig) -> bool:
    """IAM is enforced unless MLOPS_IAM=off or terraform is missing (then the stack says so)."""
    return os.environ.get("MLOPS_IAM", "enforce") != "off" and shutil.which("terraform") is not None


def config_file(cfg: StackConfig) -> Path:
    return cfg.aws_state / "config"


def credentials_file(cfg: StackConfig) -> Path:
    return cfg.aws_state / "credentials"


def credentials(cfg: StackConfig, profile: str) -> dict[str, str]:
    """A profile's static key from .local/aws/credentials; moto's test key when IAM is not set up."""
    path = credentials_file(cfg)
    if not path.exists():
        return dict(UNENFORCED)
    parser = configparser.ConfigParser()
    parser.read(path)
    section = f"{profile}-user" if profile.removeprefix("mlops-") in PEOPLE else profile
    if section not in parser:
        return dict(UNENFORCED)
    return {k: parser[section][k] for k in ("aws_access_key_id", "aws_secret_access_key")}


def admin_key(cfg: StackConfig) -> dict[str, str] | None:
    path = cfg.aws_state / "admin.json"
    if not path.exists():
        return None
    saved = json.loads(path.read_text())
    return {"aws_access_key_id": saved["access_key_id"], "aws_secret_access_key": saved["secret_access_key"]}


def session(cfg: StackConfig, profile: str = "mlops-admin"):
    """A boto3 session acting as `profile` (people's profiles assume their role)."""
    import boto3

    if profile == "mlops-admin":
        key = admin_key(cfg) or dict(UNENFORCED)
        return boto3.session.Session(region_name=cfg.region, **key)
    base = boto3.session.Session(region_name=cfg.region, **credentials(cfg, profile))
    person = profile.removeprefix("mlops-")
    if person not in PEOPLE or not credentials_file(cfg).exists():
        return base
    role = f"arn:aws:iam::{cfg.account}:role/{PEOPLE[person]}"
    creds = base.client("sts", endpoint_url=cfg.moto_url).assume_role(RoleArn=role, RoleSessionName=person)
    c = creds["Credentials"]
    return boto3.session.Session(
        region_name=cfg.region,
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
    )


def serving_variables() -> dict[str, object]:
    """The module's endpoint names and capture prefix, from include/models/*.yaml, as infra/stack
    derives them (an endpoint is named after its model's package group)."""
    from mlops.deployment.config import load_deployment
    from mlops.registry.packages import endpoint_name
    from mlops.training.config import MODELS_DIR, load_models

    models = [m.name for m in load_models(MODELS_DIR)]
    prefixes = {load_deployment(m, MODELS_DIR).data_capture.prefix for m in models}
    if len(prefixes) != 1:
        raise IamError(
            f"include/models name {len(prefixes)} data capture prefixes {sorted(prefixes)}; the policies scope one"
        )
    return {"endpoint_names": sorted(endpoint_name(m) for m in models), "capture_prefix": prefixes.pop()}


def _inputs_digest(variables: dict[str, object]) -> str:
    h = hashlib.sha256(json.dumps(variables, sort_keys=True).encode())
    for folder in (ROOT_MODULE, IDENTITY_MODULE):
        for f in sorted(folder.glob("*.tf")):
            h.update(f.name.encode() + b"\0" + f.read_bytes())
    return h.hexdigest()


def _keys_work(cfg: StackConfig) -> bool:
    import boto3
    from botocore.exceptions import ClientError

    try:
        key = credentials(cfg, "mlops-pipeline")
        if key == UNENFORCED:
            return False
        sts = boto3.client("sts", endpoint_url=cfg.moto_url, region_name=cfg.region, **key)
        sts.get_caller_identity()
        return True
    except ClientError:
        return False


def _terraform(cfg: StackConfig, work: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "TF_DATA_DIR": str(work / ".terraform"), "TF_IN_AUTOMATION": "1", "TF_INPUT": "0"}
    env.pop("TF_CLI_ARGS", None)
    out = subprocess.run([str(TF), f"-chdir={ROOT_MODULE}", *args], env=env, capture_output=True, text=True)
    if out.returncode != 0:
        raise IamError(f"terraform {args[0]} of {ROOT_MODULE} failed:\n{out.stdout[-3000:]}\n{out.stderr[-3000:]}")
    return out


def provision(cfg: StackConfig) -> dict[str, float | bool]:
    """Apply the identities (or confirm the last apply still holds) and write the AWS profiles."""
    started = time.monotonic()
    work = private_dir(cfg.state / "terraform")
    admin = admin_key(cfg)
    if admin is None:
        raise IamError(f"moto started without its bootstrap administrator ({cfg.aws_state / 'admin.json'} is missing)")
    variables = {"endpoint": cfg.moto_url, "account_id": cfg.account, "region": cfg.region, **serving_variables()}
    digest = _inputs_digest(variables)
    stamp = work / "applied.sha256"
    applied = False
    if not (stamp.exists() and stamp.read_text() == digest and _keys_work(cfg)):
        if not (work / ".terraform" / "modules" / "modules.json").exists():
            _terraform(cfg, work, "init", "-backend=false", "-input=false", "-no-color", "-lockfile=readonly")
        tfvars = work / "terraform.tfvars.json"
        write_private(
            tfvars,
            json.dumps(
                {
                    **variables,
                    "admin_access_key": admin["aws_access_key_id"],
                    "admin_secret_key": admin["aws_secret_access_key"],
                }
            ),
        )
        state = str(work / "terraform.tfstate")
        applied_out = _terraform(
            cfg, work, "apply", "-auto-approve", "-input=false", "-no-color", f"-state={state}", f"-var-file={tfvars}"
        )
        (work / "apply.log").write_text(applied_out.stdout)
        outputs = json.loads(_terraform(cfg, work, "output", "-json", f"-state={state}").stdout)
        write_profiles(cfg, outputs["access_keys"]["value"], admin)
        write_private(stamp, digest)
        applied = True
    return {"applied": applied, "seconds": round(time.monotonic() - started, 1)}


def write_profiles(cfg: StackConfig, keys: dict[str, dict[str, str]], admin: dict[str, str]) -> None:
    """.local/aws/config and credentials (0600): one profile per identity, all pointing at moto."""
    endpoint = f"region = {cfg.region}\nendpoint_url = {cfg.moto_url}\n"
    config = ["# written by embedded_stack/iam.py at `make up`: the embedded stack's identities\n"]
    creds = ["# written by embedded_stack/iam.py at `make up` (keys of the stack's moto server only)\n"]

    def add_key(section: str, key_id: str, secret: str) -> None:
        creds.append(f"[{section}]\naws_access_key_id = {key_id}\naws_secret_access_key = {secret}\n")

    for name in ("pipeline", "sagemaker"):
        config.append(f"[profile mlops-{name}]\n{endpoint}")
        add_key(f"mlops-{name}", keys[name]["id"], keys[name]["secret"])
    for person, role in PEOPLE.items():
        config.append(f"[profile mlops-{person}-user]\n{endpoint}")
        config.append(
            f"[profile mlops-{person}]\nrole_arn = arn:aws:iam::{cfg.account}:role/{role}\n"
            f"source_profile = mlops-{person}-user\nrole_session_name = {person}\n{endpoint}"
        )
        add_key(f"mlops-{person}-user", keys[person]["id"], keys[person]["secret"])
    config.append(f"[profile mlops-admin]\n{endpoint}")
    add_key("mlops-admin", admin["aws_access_key_id"], admin["aws_secret_access_key"])
    write_private(config_file(cfg), "\n".join(config))
    write_private(credentials_file(cfg), "\n".join(creds))
