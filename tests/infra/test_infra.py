"""Infrastructure as code (issue 4): format, validation, security scan, an apply into moto, and
access tests that act as each identity with its own credentials.

Runs wherever `terraform` is on PATH (CI has it; `make infra-check` runs only these); otherwise
the whole module is skipped with the reason. Terraform gets hashicorp/aws from a local provider
mirror through infra/bin/tf, with a dead HTTP(S) proxy set, so an attempt to reach the registry
fails the test instead of passing quietly.

The static security scan is checkov, from its own venv (.venv-checkov, requirements/checkov.txt:
its pins clash with Airflow's), run offline; its summary is printed at the end of the session.

infra/bootstrap (the state bucket) is applied into moto first and envs/dev keeps its state in that
bucket through the S3 backend, with the lock file, as on AWS.

moto enforces IAM identity policies for S3 when authentication is on (the tests turn it on after
the apply), and it applies bucket default encryption. What it cannot enforce is listed in
MOTO_CANNOT_ENFORCE; those rules are checked on the policy documents as applied (read back from
moto) with `evaluate`, a small IAM policy evaluator with condition operators, below.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
import shutil
import socket
import subprocess
import sys
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

TERRAFORM = shutil.which("terraform")
pytestmark = pytest.mark.skipif(
    TERRAFORM is None,
    reason="terraform is not installed: infrastructure tests skipped (CI runs them; see infra/README.md)",
)

REPO = Path(__file__).resolve().parents[2]
INFRA = REPO / "infra"
TF = INFRA / "bin" / "tf"
REGION = "eu-west-1"  # envs/dev/terraform.tfvars
ACCOUNT = "123456789012"  # moto's default account

# Rules moto cannot enforce, each checked on the policy document instead (see infra/README.md).
MOTO_CANNOT_ENFORCE = {
    "bucket-policy-conditions": "moto evaluates bucket policies without their conditions, so a conditional "
    "Deny (TLS only, encryption headers) would refuse every request; the tests drop conditional statements "
    "from moto's bucket-policy check and evaluate the applied documents here",
    "tls-only": "moto serves plain HTTP only (aws:SecureTransport is always false)",
    "kms-key-permissions": "moto does not check kms:Decrypt / kms:GenerateDataKey when S3 reads or writes SSE-KMS objects",
    "non-s3-resource-scoping": "moto authorizes Secrets Manager, SNS, DynamoDB and SageMaker calls against "
    "resource '*', so resource-scoped allows and denies of those services are checked on the documents",
    "trust-policies": "roles are assumed before authentication is switched on (moto cannot evaluate service "
    "principals), so who may assume which role is checked on the trust documents",
    "sagemaker-serving-names": "moto authorizes SageMaker and SageMaker Runtime calls against resource '*', so "
    "an allow scoped to the project's endpoint, endpoint-config and model names never matches there: the MWAA "
    "role's deploy grants and the scientists' InvokeEndpoint are checked on the documents (moto does enforce "
    "the scientists' Deny on '*')",
}


# --------------------------------------------------------------------------------------------
# helpers


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _tf_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_ENDPOINT_URL", "AWS_PROFILE", "TF_"))}
    dead = f"http://127.0.0.1:{_free_port()}"  # nothing listens: any registry access fails
    env.update(
        {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": REGION,
            "HTTPS_PROXY": dead,
            "HTTP_PROXY": dead,
            "NO_PROXY": "127.0.0.1,localhost",
            "TF_IN_AUTOMATION": "1",
            "TF_INPUT": "0",
            "CHECKPOINT_DISABLE": "1",
        }
    )
    return env


# Prefix of the side work started_early runs beside the applies (checkov, validate): it yields the
# CPU to the applies, which are what the module waits for.
YIELDING = ["nice", "-n", "10"] if shutil.which("nice") else []


def tf(*args: str, cwd: Path, timeout: int = 300, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    result = subprocess.run(
        [*prefix, str(TF), *args, "-no-color"] if args[0] not in ("fmt",) else [*prefix, str(TF), *args],
        cwd=cwd,
        env=_tf_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if result.returncode != 0:
        pytest.fail(f"terraform {' '.join(args)} failed in {cwd}:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
    return result


def _copy_infra(dest: Path) -> Path:
    """infra/ without local init or state, with the committed .terraform.lock.hcl files (init runs
    with -lockfile=readonly: a lock file that does not match the mirror's provider fails it)."""
    shutil.copytree(INFRA, dest, ignore=shutil.ignore_patterns(".terraform", "*.tfstate*", "backend.hcl"))
    return dest


ROOTS = ("envs/dev", "envs/prod", "bootstrap")

# Serving (plugins/mlops/training/run.py, plugins/mlops/deployment/config.py): a training job writes
# s3://<artifacts>/models/<model>/runs/<stamp>/output/<job>/output/model.tar.gz; endpoints capture
# to s3://<artifacts>/data-capture/<endpoint>/<variant>/yyyy/mm/dd/hh/.
SERVED_MODEL_KEY = "models/digits_classifier/runs/r1/output/digits-classifier-r1/output/model.tar.gz"
CAPTURE_PREFIX = "data-capture"
CAPTURE_KEY = f"{CAPTURE_PREFIX}/digits-classifier/v1-0-3/2026/10/01/12/00-00-000-0a1b2c3d.jsonl"


def access_denied(call) -> None:
    """Assert the call is refused with AccessDenied (not any other error)."""
    from botocore.exceptions import ClientError

    with pytest.raises(ClientError) as info:
        call()
    error = info.value.response["Error"]
    code = error.get("Code")
    if code == "403" and "<Code>" in error.get("Message", ""):
        # moto answers JSON-protocol services (Secrets Manager) with an XML error body that
        # botocore cannot parse; the code is inside it
        code = re.search(r"<Code>([^<]+)</Code>", error["Message"]).group(1)
    # S3 says AccessDenied; JSON services such as Secrets Manager say AccessDeniedException on AWS
    assert code in ("AccessDenied", "AccessDeniedException"), error


# --------------------------------------------------------------------------------------------
# a small IAM policy evaluator for the rules moto cannot enforce


def _as_list(v):
    return v if isinstance(v, list) else [v]


def _glob(pattern: str, value: str, case: bool = True) -> bool:
    if not case:
        pattern, value = pattern.lower(), value.lower()
    return fnmatch.fnmatchcase(value, pattern.replace("[", "[[]"))


_OPS = {
    "StringEquals": lambda exp, act: act == exp,
    "StringNotEquals": lambda exp, act: act != exp,
    "StringLike": lambda exp, act: _glob(exp, act),
    "StringNotLike": lambda exp, act: not _glob(exp, act),
    "ArnEquals": lambda exp, act: act == exp,
    "ArnLike": lambda exp, act: _glob(exp, act),
    "Bool": lambda exp, act: str(act).lower() == str(exp).lower(),
}


def _condition_holds(op: str, key: str, expected, context: dict) -> bool:
    if op == "Null":
        return (key not in context) == (str(_as_list(expected)[0]).lower() == "true")
    if_exists = op.endswith("IfExists")
    base = op.removesuffix("IfExists")
    negated = "Not" in base
    if key not in context:
        return if_exists or negated
    fn = _OPS[base]
    values = _as_list(expected)
    if negated:  # none of the values may match
        return all(fn(v, context[key]) for v in values)
    return any(fn(v, context[key]) for v in values)


def _statement_applies(st: dict, action: str, resource: str, context: dict) -> bool:
    if "Action" in st and not any(_glob(a, action, case=False) for a in _as_list(st["Action"])):
        return False
    if "NotAction" in st and any(_glob(a, action, case=False) for a in _as_list(st["NotAction"])):
        return False
    if "Resource" in st and not any(_glob(r, resource) for r in _as_list(st["Resource"])):
        return False
    if "NotResource" in st and any(_glob(r, resource) for r in _as_list(st["NotResource"])):
        return False
    for op, keys in st.get("Condition", {}).items():
        for key, expected in keys.items():
            if not _condition_holds(op, key, expected, context):
                return False
    return True


def evaluate(policies: list[dict], action: str, resource: str, context: dict | None = None) -> str:
    """'Deny' (explicit), 'Allow' or 'ImplicitDeny' for one request against policy documents."""
    context = context or {}
    allowed = False
    for doc in policies:
        for st in _as_list(doc["Statement"]):
            if _statement_applies(st, action, resource, context):
                if st["Effect"] == "Deny":
                    return "Deny"
                allowed = True
    return "Allow" if allowed else "ImplicitDeny"


def test_evaluator_semantics():
    """The evaluator follows IAM: explicit deny wins, negated operators hold on a missing key."""
    doc = {
        "Statement": [
            {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"},
            {
                "Effect": "Deny",
                "Action": "s3:PutObject",
                "Resource": "arn:aws:s3:::b/*",
                "Condition": {
                    "Null": {"s3:x-amz-server-side-encryption": "false"},
                    "StringNotEquals": {"s3:x-amz-server-side-encryption": "aws:kms"},
                },
            },
        ]
    }
    assert evaluate([doc], "s3:PutObject", "arn:aws:s3:::b/k") == "Allow"
    assert evaluate([doc], "s3:PutObject", "arn:aws:s3:::b/k", {"s3:x-amz-server-side-encryption": "AES256"}) == "Deny"
    assert (
        evaluate([doc], "s3:PutObject", "arn:aws:s3:::b/k", {"s3:x-amz-server-side-encryption": "aws:kms"}) == "Allow"
    )
    assert evaluate([doc], "s3:GetObject", "arn:aws:s3:::c/k") == "ImplicitDeny"
    assert _condition_holds("StringNotEquals", "k", "v", {}) is True
    assert _condition_holds("StringEqualsIfExists", "k", "v", {}) is True
    assert _condition_holds("Bool", "aws:SecureTransport", "false", {"aws:SecureTransport": "false"}) is True


# --------------------------------------------------------------------------------------------
# static checks


def test_fmt():
    tf("fmt", "-check", "-recursive", "-diff", str(INFRA), cwd=REPO)


def _init_and_validate(root: Path) -> dict[str, str]:
    """Every root of a copy of infra/ initialised offline (no backend) and validated, the roots side
    by side (each init and validate mostly waits on the provider's schema); validate's output by root."""

    def one(name: str) -> str:
        tf("init", "-backend=false", "-input=false", "-lockfile=readonly", cwd=root / name, prefix=YIELDING)
        return tf("validate", cwd=root / name, prefix=YIELDING).stdout

    with ThreadPoolExecutor(len(ROOTS), thread_name_prefix="tf-validate") as pool:
        outputs = dict(zip(ROOTS, pool.map(one, ROOTS), strict=True))
    return outputs


@pytest.fixture(scope="module")
def validation(started_early):
    """validate's output of each root (started with the module, see started_early)."""
    return started_early.result("validate")


@pytest.fixture(scope="module")
def validated(validation, started_early):
    """Both environment roots (and the bootstrap) initialised offline in a copy of infra/."""
    return started_early.validate_root


@pytest.mark.parametrize("root", ROOTS)
def test_validate(validation, root):
    assert "Success" in validation[root]


@pytest.mark.parametrize("root", ROOTS)
def test_lock_file_is_committed(root):
    """Each root's .terraform.lock.hcl pins hashicorp/aws with the mirror's checksum (init above
    ran with -lockfile=readonly against it)."""
    lock = (INFRA / root / ".terraform.lock.hcl").read_text()
    assert 'provider "registry.terraform.io/hashicorp/aws"' in lock
    assert re.search(r'version\s+=\s+"5\.\d+\.\d+"', lock) and '"h1:' in lock


def test_init_uses_the_local_mirror(validated):
    """init ran with a dead proxy, so the provider can only have come from the mirror on disk."""
    for name in ROOTS:
        providers = validated / name / ".terraform" / "providers" / "registry.terraform.io" / "hashicorp" / "aws"
        assert any(providers.iterdir()), f"hashicorp/aws was not installed in {name}"


def test_environment_roots_differ_only_in_tfvars():
    """prod's root files are links to dev's: one root, a tfvars (and backend) per environment."""
    for name in ("main.tf", "variables.tf"):
        assert (INFRA / "envs/dev" / name).read_text() == (INFRA / "envs/prod" / name).read_text(), name


def test_no_secrets_in_code():
    """No keys, passwords or secret values in the Terraform code or the tfvars."""
    patterns = [
        re.compile(r"AKIA[0-9A-Z]{16}"),
        re.compile(r"(?i)\b(password|secret_string|secret_key|access_key)\s*="),
        re.compile(r"(?i)postgres(ql)?://[^\s\"']*:[^\s\"'@]+@"),
        re.compile(r"aws_secretsmanager_secret_version"),
    ]
    files = [p for p in INFRA.rglob("*") if p.suffix in (".tf", ".tfvars", ".hcl", ".example", ".tftpl")]
    files = [p for p in files if ".terraform" not in p.parts]
    assert files
    for path in files:
        text = path.read_text()
        for pat in patterns:
            assert not pat.search(text), f"{path.relative_to(REPO)} matches {pat.pattern}"


CHECKOV_VENV = REPO / ".venv-checkov"  # made by the Makefile from requirements/checkov.txt
CHECKOV_SUMMARY: list[str] = []  # printed at the end of the session (conftest.py)


def _checkov() -> str | None:
    for candidate in (CHECKOV_VENV / "bin" / "checkov", Path(sys.executable).parent / "checkov"):
        if candidate.exists():
            return str(candidate)
    return shutil.which("checkov")


def _checkov_env() -> dict[str, str]:
    """Offline: no platform key, no policy download, no update check, and a dead proxy so that any
    network call fails instead of passing quietly."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("BC_", "PRISMA_", "CKV_", "CHECKOV_"))}
    dead = f"http://127.0.0.1:{_free_port()}"
    env.update(
        {
            "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true",
            "BC_SKIP_MAPPING": "TRUE",
            "HTTPS_PROXY": dead,
            "HTTP_PROXY": dead,
            "NO_PROXY": "",
            "LOG_LEVEL": "WARNING",
        }
    )
    return env


def _run_checkov(checkov: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [
            *YIELDING,
            checkov,
            "--directory",
            str(INFRA),
            "--framework",
            "terraform",
            "--skip-download",  # no policy metadata from the platform
            "--download-external-modules",
            "false",
            "--compact",
            "--output",
            "json",
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=_checkov_env(),
        cwd=REPO,
    )


def test_security_scan(started_early):
    """checkov over infra/ (terraform, every root and module): every failed check must be fixed or
    suppressed in the code with `checkov:skip=<id>:<reason>`."""
    if _checkov() is None:
        pytest.skip(
            "checkov is not installed (make infra-check or make test installs it into .venv-checkov "
            "from requirements/checkov.txt): static security scan skipped"
        )
    result = started_early.result("checkov")
    assert result.returncode in (0, 1), f"checkov failed to run:\n{result.stderr[-4000:]}"
    report = json.loads(result.stdout)
    reports = report if isinstance(report, list) else [report]
    summary = {k: sum(r["summary"][k] for r in reports) for k in ("passed", "failed", "skipped", "parsing_errors")}
    resources = sum(r["summary"]["resource_count"] for r in reports)
    version = reports[0]["summary"].get("checkov_version")
    failed = [c for r in reports for c in r["results"].get("failed_checks", [])]
    skipped = [c for r in reports for c in r["results"].get("skipped_checks", [])]

    reasons: dict[tuple[str, str], int] = {}
    for c in skipped:
        key = (c["check_id"], (c["check_result"].get("suppress_comment") or "").strip())
        reasons[key] = reasons.get(key, 0) + 1
    lines = [
        f"checkov {version} over infra/ (terraform, offline): {resources} resources, "
        f"{summary['passed']} passed, {summary['failed']} failed, {summary['skipped']} suppressed, "
        f"{summary['parsing_errors']} parsing errors"
    ]
    lines += [f"  suppressed {cid} x{n}: {why or '(no reason)'}" for (cid, why), n in sorted(reasons.items())]
    lines += [f"  FAILED {c['check_id']} {c['resource']} {c['file_path']}:{c['file_line_range']}" for c in failed]
    CHECKOV_SUMMARY[:] = lines
    print("\n".join(lines))

    assert resources > 50 and summary["parsing_errors"] == 0, summary
    assert not failed, "checkov findings (fix, or suppress in the code with a reason):\n" + "\n".join(
        f"{c['check_id']} {c['check_name']}: {c['resource']} {c['file_path']}:{c['file_line_range']}" for c in failed
    )
    unexplained = sorted({cid for (cid, why), _ in reasons.items() if len(why) < 15})
    assert not unexplained, f"suppressed without a one-line reason: {unexplained}"


# --------------------------------------------------------------------------------------------
# apply into moto


@pytest.fixture(scope="module")
def moto_server():
    """A moto server on a free port. Bucket policies are checked without their conditional
    statements (MOTO_CANNOT_ENFORCE['bucket-policy-conditions'])."""
    import requests
    from moto.iam.access_control import IAMPolicy, PermissionResult
    from moto.s3.models import FakeBucket
    from moto.server import ThreadedMotoServer

    original = FakeBucket.get_permission

    def without_conditions(self, action, resource):
        if self.policy is None:
            return PermissionResult.NEUTRAL
        doc = json.loads(self.policy.decode())
        doc["Statement"] = [s for s in _as_list(doc["Statement"]) if "Condition" not in s]
        if not doc["Statement"]:
            return PermissionResult.NEUTRAL
        return IAMPolicy(json.dumps(doc)).is_action_permitted(action, resource)

    FakeBucket.get_permission = without_conditions
    port = _free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    url = f"http://127.0.0.1:{port}"
    yield url
    requests.post(f"{url}/moto-api/reset-auth", data=b"inf", timeout=10)
    server.stop()
    FakeBucket.get_permission = original


OVERRIDE = """
# written by tests/infra/test_infra.py: every AWS API on the moto server
{backend}
provider "aws" {{
  access_key                  = "testing"
  secret_key                  = "testing"
  skip_credentials_validation = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  s3_use_path_style           = true
  max_retries                 = 2 # a moto error fails the apply at once instead of after minutes of retries
  endpoints {{
{endpoints}
  }}
}}
"""
SERVICES = (
    "cloudwatch",
    "dynamodb",
    "ec2",
    "glue",
    "iam",
    "kms",
    "logs",
    "s3",
    "sagemaker",
    "secretsmanager",
    "sns",
    "sts",
)
GITHUB_REPOSITORY = "example-org/mlops-platform"  # the CI role's OIDC trust is applied with this repository


def _override(endpoint: str, backend: str = "") -> str:
    endpoints = "\n".join(f'    {s:<14} = "{endpoint}"' for s in SERVICES)
    return OVERRIDE.format(endpoints=endpoints, backend=backend)


def _bucket_facts(s3, bucket: str) -> dict:
    """A bucket's settings as moto holds them, read as the administrator (the fixtures read them
    before `world` switches moto's authentication on)."""
    return {
        "logging": s3.get_bucket_logging(Bucket=bucket).get("LoggingEnabled"),
        "encryption": s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0],
        "versioning": s3.get_bucket_versioning(Bucket=bucket).get("Status"),
        "public_access_block": s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"],
        "lifecycle": {r["ID"]: r for r in s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]},
        "policy": json.loads(s3.get_bucket_policy(Bucket=bucket)["Policy"]),
    }


def _bootstrap(moto_server: str, root: Path) -> dict:
    """infra/bootstrap applied into moto (local state, as on a first apply): the state bucket of dev."""
    root = _copy_infra(root)
    boot = root / "bootstrap"
    session = _session()
    (boot / "zz_moto_override.tf").write_text(_override(moto_server))
    tf("init", "-input=false", "-lockfile=readonly", cwd=boot)
    tf("apply", "-auto-approve", "-input=false", "-var", "environment=dev", cwd=boot, timeout=600)
    outputs = {k: v["value"] for k, v in json.loads(tf("output", "-json", cwd=boot).stdout).items()}
    state = json.loads((boot / "terraform.tfstate").read_text())
    rotation = _client(moto_server, "kms", session=session).get_key_rotation_status(KeyId=outputs["kms_key_arn"])
    return {
        "outputs": outputs,
        "state": state,
        "endpoint": moto_server,
        "state_bucket": _bucket_facts(_client(moto_server, "s3", session=session), outputs["state_bucket"]),
        "key_rotation": rotation["KeyRotationEnabled"],
    }


def _deploy(bootstrapped: dict, moto_server: str, root: Path) -> dict:
    """envs/dev applied into moto with its state in the bootstrap's bucket (S3 backend, lock file,
    SSE-KMS with the state key; the backend config is the bootstrap's output plus moto's endpoint).
    MWAA off (moto has no MWAA); the notebook on, with fake network ids; the CI role trusts GitHub
    Actions of GITHUB_REPOSITORY."""
    root = _copy_infra(root)
    env_dir = root / "envs" / "dev"
    session = _session()
    (env_dir / "zz_moto_override.tf").write_text(_override(moto_server))  # keeps main.tf's backend "s3" {}
    backend = dict(bootstrapped["outputs"]["backend_config"])
    lines = [f"{k} = {json.dumps(v)}" for k, v in backend.items()]
    lines += [
        'access_key = "testing"',
        'secret_key = "testing"',
        f'endpoints = {{ s3 = "{moto_server}" }}',
        "use_path_style = true",
        "skip_credentials_validation = true",
        "skip_requesting_account_id = true",
        "skip_metadata_api_check = true",
        "skip_region_validation = true",
    ]
    (env_dir / "backend.hcl").write_text("\n".join(lines) + "\n")
    tf("init", "-input=false", "-lockfile=readonly", "-backend-config=backend.hcl", cwd=env_dir)
    tf(
        "apply",
        "-auto-approve",
        "-input=false",
        "-var",
        "create_mwaa=false",
        "-var",
        'private_subnet_ids=["subnet-0aaaaaaaaaaaaaaaa","subnet-0bbbbbbbbbbbbbbbb"]',
        "-var",
        'notebook_security_group_ids=["sg-0aaaaaaaaaaaaaaaa"]',
        "-var",
        f"github_repository={GITHUB_REPOSITORY}",
        cwd=env_dir,
        timeout=600,
    )
    outputs = {k: v["value"] for k, v in json.loads(tf("output", "-json", cwd=env_dir).stdout).items()}
    assert not (env_dir / "terraform.tfstate").exists(), "the state must live in the state bucket, not locally"
    s3 = _client(moto_server, "s3", session=session)
    state = json.loads(s3.get_object(Bucket=backend["bucket"], Key=backend["key"])["Body"].read())
    buckets = {**outputs["bucket_names"], "access_logs": outputs["access_log_bucket_name"]}
    oidc = _client(moto_server, "iam", session=session).list_open_id_connect_providers()["OpenIDConnectProviderList"]
    return {
        "outputs": outputs,
        "state": state,
        "endpoint": moto_server,
        "backend": backend,
        "buckets": {role: _bucket_facts(s3, name) for role, name in buckets.items()},
        "state_object": s3.head_object(Bucket=backend["bucket"], Key=backend["key"]),
        "state_bucket_keys": [o["Key"] for o in s3.list_objects_v2(Bucket=backend["bucket"]).get("Contents", [])],
        "oidc_providers": [provider["Arn"] for provider in oidc],
    }


def _session():
    """A boto3 session of its own, for a thread of started_early (boto3's default session is not
    safe to share between threads)."""
    import boto3

    return boto3.session.Session()


def _client(endpoint: str, service: str, creds: dict | None = None, session=None):
    import boto3

    kw = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    if creds:
        kw = {
            "aws_access_key_id": creds["AccessKeyId"],
            "aws_secret_access_key": creds["SecretAccessKey"],
            "aws_session_token": creds["SessionToken"],
        }
    return (session or boto3).client(service, endpoint_url=endpoint, region_name=REGION, **kw)


class StartedEarly:
    """The module's slow preparations, each started in a thread as soon as the module begins: the
    checkov scan, the offline init + validate of every root, and the chain bootstrap apply ->
    envs/dev apply. The applies spend most of their time in the AWS provider's fixed waits (each
    S3 lifecycle configuration is polled for 55 s, each KMS key for ~13 s), so the scan and the
    validations run beside them instead of before them. Each fixture then waits for its result; a
    failure in a thread is raised there, in the tests that need it."""

    def __init__(self):
        self.pool = ThreadPoolExecutor(4, thread_name_prefix="infra")
        self.jobs: dict[str, Future] = {}
        self.validate_root: Path | None = None

    def start(self, name: str, fn, *args) -> None:
        self.jobs[name] = self.pool.submit(fn, *args)

    def result(self, name: str):
        return self.jobs[name].result()

    def close(self) -> None:
        """Waits for what is still running (terraform against the moto server, which stops next)."""
        self.pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="module", autouse=True)
def started_early(request, tmp_path_factory):
    """Starts what the selected tests of this module need (see StartedEarly)."""
    module = request.module
    items = [item for item in request.session.items if getattr(item, "module", None) is module]
    needed = {name for item in items for name in item.fixturenames}
    early = StartedEarly()
    try:
        if "bootstrapped" in needed:
            endpoint = request.getfixturevalue("moto_server")
            boot_dir = tmp_path_factory.mktemp("bootstrap") / "infra"
            early.start("bootstrap", _bootstrap, endpoint, boot_dir)
            if "deployed" in needed:
                apply_dir = tmp_path_factory.mktemp("apply") / "infra"
                early.start("deploy", lambda: _deploy(early.result("bootstrap"), endpoint, apply_dir))
        if any(item.originalname == "test_security_scan" for item in items) and (checkov := _checkov()):
            early.start("checkov", _run_checkov, checkov)
        if "validation" in needed:
            early.validate_root = _copy_infra(tmp_path_factory.mktemp("validate") / "infra")
            early.start("validate", _init_and_validate, early.validate_root)
        yield early
    finally:
        early.close()


@pytest.fixture(scope="module")
def bootstrapped(started_early):
    return started_early.result("bootstrap")


@pytest.fixture(scope="module")
def deployed(started_early):
    return started_early.result("deploy")


@pytest.fixture(scope="module")
def world(deployed):
    """Seed data as an administrator, take each role's credentials, then turn moto's IAM
    authentication on: from here every request is authorized against the caller's policies."""
    import requests

    ep, out = deployed["endpoint"], deployed["outputs"]
    b = out["bucket_names"]
    s3 = _client(ep, "s3")
    seed = {
        (b["raw"], "clinic/patients/ds=2026-10-01/data.parquet"): b"raw",
        (b["raw"], "_quarantine/clinic/patients/ds=2026-10-02/data.parquet"): b"bad",
        (b["landing"], "digits_drop/incoming/day1.csv"): b"a,b\n1,2\n",
        (b["curated"], "diabetes_patients/ds=2026-10-01/_manifest.json"): b"{}",
        (b["artifacts"], "models/diabetes_progression/runs/r1/data/train/data.csv"): b"x\n1\n",
        (b["artifacts"], SERVED_MODEL_KEY): b"model.tar.gz",
        (b["artifacts"], CAPTURE_KEY): b'{"captureData": {}}\n',
    }
    for (bucket, key), body in seed.items():
        s3.put_object(Bucket=bucket, Key=key, Body=body)
    secret_arn = out["connection_secret_arns"]["clinic_db"]
    # A test value in moto only: real values are put out of band, never by Terraform.
    _client(ep, "secretsmanager").put_secret_value(SecretId=secret_arn, SecretString="postgresql://test@db:5432/clinic")

    sts = _client(ep, "sts")
    creds = {
        name: sts.assume_role(RoleArn=arn, RoleSessionName=f"test-{name}")["Credentials"]
        for name, arn in out["role_arns"].items()
    }
    policies = {role: json.loads(s3.get_bucket_policy(Bucket=name)["Policy"]) for role, name in b.items()}
    requests.post(f"{ep}/moto-api/reset-auth", data=b"0", timeout=10).raise_for_status()
    return {
        "endpoint": ep,
        "buckets": b,
        "keys": out["kms_key_arns"],
        "secret_arn": secret_arn,
        "roles": out["role_arns"],
        "as": lambda name, service: _client(ep, service, creds[name]),
        "state": deployed["state"],
        "bucket_policies": policies,
    }


def _resources(state: dict, rtype: str) -> list[dict]:
    return [
        inst["attributes"]
        for r in state["resources"]
        if r["type"] == rtype and r.get("mode") == "managed"
        for inst in r["instances"]
    ]


def _role_policies(state: dict, role_arn: str) -> list[dict]:
    """Inline and attached policy documents of a role, as applied."""
    role_name = role_arn.rsplit("/", 1)[-1]
    docs = [json.loads(p["policy"]) for p in _resources(state, "aws_iam_role_policy") if p["role"] == role_name]
    attached = {a["policy_arn"] for a in _resources(state, "aws_iam_role_policy_attachment") if a["role"] == role_name}
    docs += [json.loads(p["policy"]) for p in _resources(state, "aws_iam_policy") if p["arn"] in attached]
    return docs


# --- what was created


def test_apply_created_the_platform(deployed):
    out, state = deployed["outputs"], deployed["state"]
    assert set(out["bucket_names"]) == {"raw", "landing", "curated", "artifacts", "mwaa"}
    assert out["bucket_names"]["mwaa"].startswith("airflow-")
    assert set(out["role_arns"]) == {"mwaa", "sagemaker", "engineer", "scientist", "notebook", "ci"}
    types = {r["type"] for r in state["resources"] if r.get("mode") == "managed"}
    for rtype in (
        "aws_kms_key",
        "aws_sns_topic",
        "aws_dynamodb_table",
        "aws_sagemaker_model_package_group",
        "aws_glue_catalog_database",
        "aws_cloudwatch_metric_alarm",
        "aws_secretsmanager_secret",
        "aws_sagemaker_notebook_instance",
    ):
        assert rtype in types, rtype
    groups = {g["model_package_group_name"] for g in _resources(state, "aws_sagemaker_model_package_group")}
    assert groups == {"diabetes-progression", "digits-classifier"}
    tables = {
        t["name"]: (t["hash_key"], t["range_key"], t["billing_mode"]) for t in _resources(state, "aws_dynamodb_table")
    }
    assert tables == {
        "mlops-dev-model-versions": ("model", "record", "PAY_PER_REQUEST"),
        "mlops-dev-model-metrics": ("model", "evaluation", "PAY_PER_REQUEST"),
    }
    env = out["pipeline_environment"]
    assert set(env) >= {"MLOPS_RAW_BUCKET", "MLOPS_CURATED_BUCKET", "MLOPS_LANDING_BUCKET", "MLOPS_ARTIFACTS_BUCKET"}
    assert env["MLOPS_RAW_BUCKET"] == out["bucket_names"]["raw"]
    assert env["MLOPS_SAGEMAKER_ROLE_ARN"] == out["role_arns"]["sagemaker"]
    assert env["MLOPS_ALERTS_TOPIC_ARN"].endswith(":mlops-dev-alerts")


def test_state_holds_no_secret_values(deployed):
    assert not _resources(deployed["state"], "aws_secretsmanager_secret_version")
    assert "postgresql://" not in json.dumps(deployed["state"])


def test_buckets_are_locked_down(deployed):
    s3 = _client(deployed["endpoint"], "s3")
    for role, bucket in deployed["outputs"]["bucket_names"].items():
        assert s3.get_bucket_versioning(Bucket=bucket)["Status"] == "Enabled", role
        pab = s3.get_public_access_block(Bucket=bucket)["PublicAccessBlockConfiguration"]
        assert all(pab.values()), (role, pab)
        rule = s3.get_bucket_encryption(Bucket=bucket)["ServerSideEncryptionConfiguration"]["Rules"][0]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms", role
        assert rule["ApplyServerSideEncryptionByDefault"]["KMSMasterKeyID"].startswith("arn:aws:kms:"), role
        rules = s3.get_bucket_lifecycle_configuration(Bucket=bucket)["Rules"]
        assert any(r.get("AbortIncompleteMultipartUpload") for r in rules), role


def test_raw_lifecycle_rules(deployed):
    s3 = _client(deployed["endpoint"], "s3")
    rules = {
        r["ID"]: r
        for r in s3.get_bucket_lifecycle_configuration(Bucket=deployed["outputs"]["bucket_names"]["raw"])["Rules"]
    }
    assert rules["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"] == 1
    assert rules["expire-quarantine-after-review"]["Filter"]["Prefix"] == "_quarantine/"
    assert rules["expire-quarantine-after-review"]["Expiration"]["Days"] == 14  # dev tfvars
    tiers = sorted(rules["tier-old-raw-partitions"]["Transitions"], key=lambda t: t["Days"])
    assert [(t["Days"], t["StorageClass"]) for t in tiers] == [(30, "STANDARD_IA"), (180, "GLACIER_IR")]


# --- access, acting as each identity (moto enforces identity policies for S3)


def test_scientist_cannot_list_or_read_raw(world):
    s3, raw = world["as"]("scientist", "s3"), world["buckets"]["raw"]
    access_denied(lambda: s3.list_objects_v2(Bucket=raw))
    access_denied(lambda: s3.get_object(Bucket=raw, Key="clinic/patients/ds=2026-10-01/data.parquet"))


def test_scientist_cannot_list_or_read_quarantine(world):
    s3, raw = world["as"]("scientist", "s3"), world["buckets"]["raw"]
    access_denied(lambda: s3.list_objects_v2(Bucket=raw, Prefix="_quarantine/"))
    access_denied(lambda: s3.get_object(Bucket=raw, Key="_quarantine/clinic/patients/ds=2026-10-02/data.parquet"))


def test_scientist_cannot_read_landing(world):
    s3 = world["as"]("scientist", "s3")
    access_denied(lambda: s3.get_object(Bucket=world["buckets"]["landing"], Key="digits_drop/incoming/day1.csv"))


def test_scientist_cannot_read_source_secret(world, deployed):
    sm = world["as"]("scientist", "secretsmanager")
    access_denied(lambda: sm.get_secret_value(SecretId=world["secret_arn"]))
    # moto denies for want of any allow ('non-s3-resource-scoping'); the explicit deny is on the document:
    docs = _role_policies(deployed["state"], world["roles"]["scientist"])
    assert evaluate(docs, "secretsmanager:GetSecretValue", world["secret_arn"]) == "Deny"
    assert evaluate(docs, "kms:Decrypt", world["keys"]["sources"]) == "Deny"


def test_scientist_reads_curated_and_artifacts(world):
    s3 = world["as"]("scientist", "s3")
    curated = world["buckets"]["curated"]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=curated)["Contents"]]
    assert "diabetes_patients/ds=2026-10-01/_manifest.json" in keys
    assert s3.get_object(Bucket=curated, Key="diabetes_patients/ds=2026-10-01/_manifest.json")["Body"].read() == b"{}"
    art = world["buckets"]["artifacts"]
    assert s3.get_object(Bucket=art, Key="models/diabetes_progression/runs/r1/data/train/data.csv")["Body"].read()
    access_denied(lambda: s3.put_object(Bucket=curated, Key="diabetes_patients/x", Body=b"x"))


def test_engineer_reads_and_writes_raw(world):
    s3, raw = world["as"]("engineer", "s3"), world["buckets"]["raw"]
    assert s3.get_object(Bucket=raw, Key="clinic/patients/ds=2026-10-01/data.parquet")["Body"].read() == b"raw"
    assert s3.list_objects_v2(Bucket=raw, Prefix="_quarantine/")["KeyCount"] == 1
    s3.put_object(Bucket=raw, Key="clinic/patients/ds=2026-10-03/data.parquet", Body=b"new")
    s3.put_object(Bucket=world["buckets"]["curated"], Key="diabetes_patients/ds=2026-10-03/_manifest.json", Body=b"{}")
    access_denied(lambda: s3.get_object(Bucket=world["buckets"]["mwaa"], Key="startup.sh"))


def test_sagemaker_role_cannot_read_raw(world):
    s3 = world["as"]("sagemaker", "s3")
    access_denied(
        lambda: s3.get_object(Bucket=world["buckets"]["raw"], Key="clinic/patients/ds=2026-10-01/data.parquet")
    )
    access_denied(lambda: s3.list_objects_v2(Bucket=world["buckets"]["raw"]))
    access_denied(
        lambda: s3.get_object(Bucket=world["buckets"]["curated"], Key="diabetes_patients/ds=2026-10-01/_manifest.json")
    )


def test_sagemaker_role_reads_channels_and_writes_model(world):
    s3, art = world["as"]("sagemaker", "s3"), world["buckets"]["artifacts"]
    assert s3.get_object(Bucket=art, Key="models/diabetes_progression/runs/r1/data/train/data.csv")["Body"].read()
    s3.put_object(Bucket=art, Key="models/diabetes_progression/runs/r1/output/model.tar.gz", Body=b"m")
    access_denied(
        lambda: s3.put_object(Bucket=art, Key="models/diabetes_progression/runs/r1/data/train/data.csv", Body=b"x")
    )


def test_mwaa_role_writes_raw_and_curated(world):
    s3 = world["as"]("mwaa", "s3")
    s3.put_object(Bucket=world["buckets"]["raw"], Key="clinic/patients/ds=2026-10-04/data.parquet", Body=b"r")
    s3.put_object(Bucket=world["buckets"]["curated"], Key="diabetes_patients/ds=2026-10-04/_manifest.json", Body=b"{}")
    assert s3.get_object(Bucket=world["buckets"]["landing"], Key="digits_drop/incoming/day1.csv")["Body"].read()
    access_denied(lambda: s3.put_object(Bucket=world["buckets"]["mwaa"], Key="dags/x.py", Body=b"x"))


def test_ci_updates_only_the_mwaa_bucket(world):
    s3 = world["as"]("ci", "s3")
    s3.put_object(Bucket=world["buckets"]["mwaa"], Key="requirements.txt", Body=b"apache-airflow==3.3.1\n")
    for role in ("raw", "curated", "artifacts", "landing"):
        access_denied(lambda role=role: s3.put_object(Bucket=world["buckets"][role], Key="x", Body=b"x"))
        access_denied(lambda role=role: s3.list_objects_v2(Bucket=world["buckets"][role]))
    # and it reads no data
    b = world["buckets"]
    access_denied(lambda: s3.get_object(Bucket=b["raw"], Key="clinic/patients/ds=2026-10-01/data.parquet"))
    access_denied(lambda: s3.get_object(Bucket=b["raw"], Key="_quarantine/clinic/patients/ds=2026-10-02/data.parquet"))
    access_denied(lambda: s3.get_object(Bucket=b["curated"], Key="diabetes_patients/ds=2026-10-01/_manifest.json"))
    access_denied(
        lambda: s3.get_object(Bucket=b["artifacts"], Key="models/diabetes_progression/runs/r1/data/train/data.csv")
    )
    access_denied(lambda: s3.get_object(Bucket=b["landing"], Key="digits_drop/incoming/day1.csv"))


# --- rules moto cannot enforce, on the applied documents


def test_default_encryption_uses_the_zone_key(world):
    """An upload without encryption headers is stored SSE-KMS with the bucket's own key (moto applies it)."""
    s3 = world["as"]("engineer", "s3")
    raw = world["buckets"]["raw"]
    s3.put_object(Bucket=raw, Key="clinic/patients/ds=2026-10-05/data.parquet", Body=b"x")
    head = s3.get_object(Bucket=raw, Key="clinic/patients/ds=2026-10-05/data.parquet")
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == world["keys"]["sources"]


def _bucket_policy(world, role: str) -> dict:
    """The bucket policy as moto holds it after the apply (read before authentication was on)."""
    return world["bucket_policies"][role]


@pytest.mark.parametrize("role", ["raw", "landing", "curated", "artifacts", "mwaa"])
def test_tls_only_bucket_policy(world, role):
    """MOTO_CANNOT_ENFORCE['tls-only']: a request over plain HTTP is denied, over TLS it is not."""
    policy, arn = _bucket_policy(world, role), f"arn:aws:s3:::{world['buckets'][role]}"
    for action, resource in (("s3:GetObject", f"{arn}/k"), ("s3:PutObject", f"{arn}/k"), ("s3:ListBucket", arn)):
        assert evaluate([policy], action, resource, {"aws:SecureTransport": "false"}) == "Deny"
        assert evaluate([policy], action, resource, {"aws:SecureTransport": "true"}) != "Deny"


ZONE = {"raw": "sources", "landing": "sources", "curated": "curated", "artifacts": "artifacts", "mwaa": "platform"}


@pytest.mark.parametrize("role", ["raw", "landing", "curated", "artifacts", "mwaa"])
def test_upload_encryption_bucket_policy(world, role):
    """MOTO_CANNOT_ENFORCE['bucket-policy-conditions']: an upload asking for SSE-S3, DSSE, SSE-C or
    a foreign KMS key is denied; no header (default SSE-KMS) or our key is not."""
    policy, obj = _bucket_policy(world, role), f"arn:aws:s3:::{world['buckets'][role]}/k"
    tls = {"aws:SecureTransport": "true"}
    key = world["keys"][ZONE[role]]
    refused = [
        {"s3:x-amz-server-side-encryption": "AES256"},
        {"s3:x-amz-server-side-encryption": "aws:kms:dsse"},
        {
            "s3:x-amz-server-side-encryption": "aws:kms",
            "s3:x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:eu-west-1:999999999999:key/other",
        },
        {"s3:x-amz-server-side-encryption-customer-algorithm": "AES256"},
    ]
    for ctx in refused:
        assert evaluate([policy], "s3:PutObject", obj, {**tls, **ctx}) == "Deny", ctx
    accepted = [
        {},
        {"s3:x-amz-server-side-encryption": "aws:kms", "s3:x-amz-server-side-encryption-aws-kms-key-id": key},
    ]
    for ctx in accepted:
        assert evaluate([policy], "s3:PutObject", obj, {**tls, **ctx}) != "Deny", ctx


def test_kms_keys_follow_the_zones(world, deployed):
    """MOTO_CANNOT_ENFORCE['kms-key-permissions']: who can use which key, on the documents."""
    state, keys, roles = deployed["state"], world["keys"], world["roles"]

    def can(role: str, zone: str, action: str = "kms:Decrypt") -> bool:
        return evaluate(_role_policies(state, roles[role]), action, keys[zone]) == "Allow"

    assert {z for z in keys if can("scientist", z)} == {"curated", "artifacts", "platform"}
    assert {z for z in keys if can("sagemaker", z)} == {"artifacts"}
    assert {z for z in keys if can("ci", z)} == {"platform"}
    assert {z for z in keys if can("engineer", z)} == {"sources", "curated"}
    assert {z for z in keys if can("mwaa", z)} == {"sources", "curated", "artifacts", "platform"}


def test_non_s3_grants_on_the_documents(world, deployed):
    """MOTO_CANNOT_ENFORCE['non-s3-resource-scoping']: secrets, alerts, tables, SageMaker, PassRole."""
    state, roles, secret = deployed["state"], world["roles"], world["secret_arn"]
    out = deployed["outputs"]
    topic = out["pipeline_environment"]["MLOPS_ALERTS_TOPIC_ARN"]
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{out['pipeline_environment']['MLOPS_METRICS_TABLE']}"
    job = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/diabetes-progression-1"
    group = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package-group/diabetes-progression"

    def ev(role, action, resource, ctx=None):
        return evaluate(_role_policies(state, roles[role]), action, resource, ctx)

    assert ev("mwaa", "secretsmanager:GetSecretValue", secret) == "Allow"
    assert ev("mwaa", "sns:Publish", topic) == "Allow"
    assert ev("mwaa", "dynamodb:PutItem", table) == "Allow"
    assert ev("mwaa", "sagemaker:CreateTrainingJob", job) == "Allow"
    assert ev("mwaa", "sagemaker:CreateModelPackage", group) == "Allow"
    assert ev("mwaa", "iam:PassRole", roles["sagemaker"], {"iam:PassedToService": "sagemaker.amazonaws.com"}) == "Allow"
    assert ev("mwaa", "iam:PassRole", roles["engineer"], {"iam:PassedToService": "sagemaker.amazonaws.com"}) != "Allow"
    assert ev("mwaa", "cloudwatch:PutMetricData", "*", {"cloudwatch:namespace": "MLOps/pipelines"}) == "Allow"
    assert ev("engineer", "secretsmanager:PutSecretValue", secret) == "Allow"
    assert ev("scientist", "sagemaker:DescribeModelPackageGroup", group) == "Allow"
    assert ev("scientist", "dynamodb:Query", table) == "Allow"
    assert ev("scientist", "dynamodb:PutItem", table) != "Allow"
    for role in ("sagemaker", "ci", "scientist", "notebook"):
        assert ev(role, "secretsmanager:GetSecretValue", secret) != "Allow", role
        assert ev(role, "sns:Publish", topic) != "Allow", role
    for role in ("sagemaker", "ci"):
        for action in ("sagemaker:CreateTrainingJob", "dynamodb:PutItem", "iam:PassRole"):
            assert ev(role, action, job if "sagemaker" in action else table) != "Allow", (role, action)
    env = out["mwaa_environment_name"]
    op = f"arn:aws:airflow:{REGION}:{ACCOUNT}:role/{env}/Op"
    viewer = f"arn:aws:airflow:{REGION}:{ACCOUNT}:role/{env}/Viewer"
    assert ev("engineer", "airflow:CreateWebLoginToken", op) == "Allow"
    assert ev("scientist", "airflow:CreateWebLoginToken", viewer) == "Allow"
    assert ev("scientist", "airflow:CreateWebLoginToken", op) != "Allow"


def test_every_statement_has_a_reason():
    """Each policy statement carries a Sid and a one-line reason comment in the code."""

    for path in (INFRA / "modules").rglob("*.tf"):
        lines = path.read_text().splitlines()
        for i, line in enumerate(lines):
            if re.match(r"\s*sid\s*=", line):
                assert "#" in line and len(line.split("#", 1)[1].strip()) > 10, f"{path.relative_to(REPO)}:{i + 1}"


def test_trust_policies(deployed):
    """MOTO_CANNOT_ENFORCE['trust-policies']: services assume only their own roles."""
    trust = {r["name"]: json.loads(r["assume_role_policy"]) for r in _resources(deployed["state"], "aws_iam_role")}
    principals = {name: [s["Principal"] for s in doc["Statement"]] for name, doc in trust.items()}
    mwaa = principals["mlops-dev-mwaa-execution"]
    assert len(mwaa) == 1 and sorted(mwaa[0]["Service"]) == ["airflow-env.amazonaws.com", "airflow.amazonaws.com"]
    assert principals["mlops-dev-sagemaker-execution"] == [{"Service": "sagemaker.amazonaws.com"}]
    for name in ("mlops-dev-data-engineer", "mlops-dev-data-scientist"):
        assert principals[name] == [{"AWS": f"arn:aws:iam::{ACCOUNT}:root"}], name
    # the CI role: GitHub Actions only (applied with github_repository, no other principals)
    provider = f"arn:aws:iam::{ACCOUNT}:oidc-provider/token.actions.githubusercontent.com"
    assert principals["mlops-dev-ci-deploy"] == [{"Federated": provider}]


# --- serving: endpoints, their data capture, the model artifacts they serve


def _project_models() -> list[str]:
    """The models of include/models/*.yaml (each file's `model:`)."""
    names = []
    for path in sorted((REPO / "include" / "models").glob("*.yaml")):
        match = re.search(r"^model:\s*([A-Za-z0-9_-]+)", path.read_text(), re.MULTILINE)
        assert match, path
        names.append(match.group(1))
    assert names
    return names


def _serving_arns(model: str) -> dict[str, str]:
    """The ARNs of one deployment of `model`, named by the deployment code itself."""
    from mlops.deployment.requests import resource_name
    from mlops.registry.packages import endpoint_name

    sm = f"arn:aws:sagemaker:{REGION}:{ACCOUNT}"
    name = resource_name(model, "V1.0.3", "0a1b2c3d")
    return {
        "endpoint": f"{sm}:endpoint/{endpoint_name(model)}".lower(),  # SageMaker ARNs carry names in lower case
        "endpoint-config": f"{sm}:endpoint-config/{name}".lower(),
        "model": f"{sm}:model/{name}".lower(),
    }


FOREIGN_SERVING_ARNS = {
    "endpoint": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint/someone-elses-endpoint",
    "endpoint-config": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:endpoint-config/someone-elses-config",
    "model": f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:model/someone-elses-model",
}
SERVING_CHANGES = (
    "sagemaker:CreateModel",
    "sagemaker:DeleteModel",
    "sagemaker:CreateEndpointConfig",
    "sagemaker:DeleteEndpointConfig",
    "sagemaker:CreateEndpoint",
    "sagemaker:UpdateEndpoint",
    "sagemaker:DeleteEndpoint",
    "sagemaker:UpdateEndpointWeightsAndCapacities",
)
SERVING_READS = {  # action -> the resource it describes
    "sagemaker:DescribeModel": "model",
    "sagemaker:DescribeEndpointConfig": "endpoint-config",
    "sagemaker:DescribeEndpoint": "endpoint",
}


def test_scientist_cannot_create_update_or_delete_endpoints(world):
    """What a scientist may not do to what is served, refused by moto as AccessDenied (the explicit
    Deny on '*'); listing, which the same role may do, answers."""
    sm = world["as"]("scientist", "sagemaker")
    assert "Endpoints" in sm.list_endpoints()  # authenticated and authorized: the denials below are the policy's
    name = "digits-classifier"
    config = "digits-classifier-v1-0-3-0a1b2c3d"
    variant = [{"VariantName": "v1-0-3", "ModelName": config, "InstanceType": "ml.m5.large", "InitialInstanceCount": 1}]
    calls = {
        "CreateEndpoint": lambda: sm.create_endpoint(EndpointName=name, EndpointConfigName=config),
        "UpdateEndpoint": lambda: sm.update_endpoint(EndpointName=name, EndpointConfigName=config),
        "DeleteEndpoint": lambda: sm.delete_endpoint(EndpointName=name),
        "UpdateEndpointWeightsAndCapacities": lambda: sm.update_endpoint_weights_and_capacities(
            EndpointName=name, DesiredWeightsAndCapacities=[{"VariantName": "v1-0-3", "DesiredWeight": 0.5}]
        ),
        "CreateEndpointConfig": lambda: sm.create_endpoint_config(
            EndpointConfigName=config, ProductionVariants=variant
        ),
        "DeleteEndpointConfig": lambda: sm.delete_endpoint_config(EndpointConfigName=config),
        "CreateModel": lambda: sm.create_model(
            ModelName=config,
            ExecutionRoleArn=world["roles"]["sagemaker"],
            PrimaryContainer={"Image": "123.dkr.ecr.eu-west-1.amazonaws.com/x:1", "ModelDataUrl": "s3://b/k"},
        ),
        "DeleteModel": lambda: sm.delete_model(ModelName=config),
    }
    assert {f"sagemaker:{a}" for a in calls} == set(SERVING_CHANGES)
    for call in calls.values():
        access_denied(call)


def test_serving_grants_on_the_documents(world, deployed):
    """MOTO_CANNOT_ENFORCE['sagemaker-serving-names']: the MWAA role deploys the project's models and
    nothing else; scientists and their notebooks invoke and describe the project's endpoints and are
    explicitly denied every change, on any endpoint; no other role serves or invokes."""
    state, roles = deployed["state"], world["roles"]

    def ev(role, action, resource, ctx=None):
        return evaluate(_role_policies(state, roles[role]), action, resource, ctx)

    project = [_serving_arns(model) for model in _project_models()]
    everything = [arn for arns in [*project, FOREIGN_SERVING_ARNS] for arn in arns.values()]
    for arns in project:
        for action in (*SERVING_CHANGES, *SERVING_READS, "sagemaker:AddTags", "sagemaker:ListTags"):
            for arn in arns.values():
                assert ev("mwaa", action, arn) == "Allow", (action, arn)
        assert ev("mwaa", "sagemaker:InvokeEndpoint", arns["endpoint"]) == "Allow"
        for role in ("scientist", "notebook"):
            assert ev(role, "sagemaker:InvokeEndpoint", arns["endpoint"]) == "Allow", role
            for action, kind in SERVING_READS.items():
                assert ev(role, action, arns[kind]) == "Allow", (role, action)
    # another name, or a shadow endpoint beside the production one: not the pipeline's to touch
    for arn in [*FOREIGN_SERVING_ARNS.values(), project[0]["endpoint"] + "-shadow"]:
        for action in (*SERVING_CHANGES, "sagemaker:InvokeEndpoint", "sagemaker:AddTags"):
            assert ev("mwaa", action, arn) == "ImplicitDeny", (action, arn)
    for role in ("scientist", "notebook"):
        for action in SERVING_CHANGES:
            for arn in [*everything, "*"]:
                assert ev(role, action, arn) == "Deny", (role, action, arn)
        assert ev(role, "sagemaker:InvokeEndpoint", FOREIGN_SERVING_ARNS["endpoint"]) == "ImplicitDeny"
        assert ev(role, "sagemaker:ListEndpoints", "*") == "Allow"
    for role in ("engineer", "ci", "sagemaker"):
        for action in (*SERVING_CHANGES, "sagemaker:InvokeEndpoint"):
            for arn in everything:
                assert ev(role, action, arn) != "Allow", (role, action, arn)
    # CreateModel passes the SageMaker execution role, to SageMaker only, and no other role
    to_sagemaker = {"iam:PassedToService": "sagemaker.amazonaws.com"}
    assert ev("mwaa", "iam:PassRole", roles["sagemaker"], to_sagemaker) == "Allow"
    assert ev("mwaa", "iam:PassRole", roles["sagemaker"], {"iam:PassedToService": "ec2.amazonaws.com"}) != "Allow"
    for other in ("mwaa", "notebook", "scientist", "engineer", "ci"):
        assert ev("mwaa", "iam:PassRole", roles[other], to_sagemaker) != "Allow", other


def test_terraform_scopes_every_project_endpoint(deployed):
    """The names the policies scope are the endpoints the deployment code creates, for every model
    in include/models (a new model file needs its package group in model_package_groups)."""
    from mlops.registry.packages import endpoint_name

    mwaa = _role_policies(deployed["state"], deployed["outputs"]["role_arns"]["mwaa"])
    (deploy,) = [st for doc in mwaa for st in doc["Statement"] if st.get("Sid") == "DeployProjectEndpoints"]
    endpoints = {r.rsplit("/", 1)[1] for r in _as_list(deploy["Resource"]) if ":endpoint/" in r}
    assert endpoints == {endpoint_name(model) for model in _project_models()}
    assert not any(r.endswith(("/*", ":*")) or r == "*" for r in _as_list(deploy["Resource"])), deploy["Resource"]


def test_sagemaker_role_reads_the_served_model_and_writes_captures(world):
    s3, art = world["as"]("sagemaker", "s3"), world["buckets"]["artifacts"]
    assert s3.get_object(Bucket=art, Key=SERVED_MODEL_KEY)["Body"].read() == b"model.tar.gz"
    s3.put_object(Bucket=art, Key=f"{CAPTURE_PREFIX}/digits-classifier/v1-0-3/2026/10/01/13/x.jsonl", Body=b"{}\n")
    # nothing else new: it cannot read the captures back, nor write beside them
    access_denied(lambda: s3.get_object(Bucket=art, Key=CAPTURE_KEY))
    access_denied(lambda: s3.put_object(Bucket=art, Key="predictions/digits-classifier/x.jsonl", Body=b"x"))
    access_denied(lambda: s3.put_object(Bucket=art, Key=f"{CAPTURE_PREFIX}-other/x.jsonl", Body=b"x"))


def test_captures_are_read_by_the_pipeline_not_by_scientists(world):
    """The pipeline turns captures into the curated predictions dataset; scientists read that
    dataset, never the raw captured requests (an explicit Deny, as for raw)."""
    art = world["buckets"]["artifacts"]
    assert world["as"]("mwaa", "s3").get_object(Bucket=art, Key=CAPTURE_KEY)["Body"].read().startswith(b"{")
    scientist = world["as"]("scientist", "s3")
    access_denied(lambda: scientist.get_object(Bucket=art, Key=CAPTURE_KEY))
    assert scientist.get_object(Bucket=art, Key=SERVED_MODEL_KEY)["Body"].read()  # models stay readable


def test_data_capture_is_encrypted_with_the_artifacts_key(world, deployed):
    """MOTO_CANNOT_ENFORCE['kms-key-permissions'] / ['bucket-policy-conditions']: the pipelines name
    the artifacts key in DataCaptureConfig.KmsKeyId by its alias ARN, the value deploy/environments/
    dev.env carries; the bucket accepts captures naming that alias or the key's ARN (S3 compares the
    header as sent) and no other key; the SageMaker role may encrypt with it; the captures' lifecycle rule."""
    from deploy.package import load_environment

    out, state = deployed["outputs"], deployed["state"]
    key = out["kms_key_arns"]["artifacts"]
    alias = f"arn:aws:kms:{REGION}:{ACCOUNT}:alias/mlops-dev-artifacts"
    assert out["pipeline_environment"]["MLOPS_CAPTURE_KMS_KEY_ID"] == alias
    packaged = load_environment("dev", {"AWS_ACCOUNT_ID": ACCOUNT, "AWS_REGION": REGION})
    assert packaged["MLOPS_CAPTURE_KMS_KEY_ID"] == alias
    policy = _bucket_policy(world, "artifacts")
    obj = f"arn:aws:s3:::{world['buckets']['artifacts']}/{CAPTURE_KEY}"
    header = {"aws:SecureTransport": "true", "s3:x-amz-server-side-encryption": "aws:kms"}
    for named in (alias, key):
        assert (
            evaluate([policy], "s3:PutObject", obj, {**header, "s3:x-amz-server-side-encryption-aws-kms-key-id": named})
            != "Deny"
        ), named
    curated_alias = {**header, "s3:x-amz-server-side-encryption-aws-kms-key-id": alias.replace("artifacts", "curated")}
    assert evaluate([policy], "s3:PutObject", obj, curated_alias) == "Deny"
    other = {**header, "s3:x-amz-server-side-encryption-aws-kms-key-id": out["kms_key_arns"]["curated"]}
    assert evaluate([policy], "s3:PutObject", obj, other) == "Deny"
    sagemaker = _role_policies(state, world["roles"]["sagemaker"])
    for action in ("kms:Encrypt", "kms:GenerateDataKey", "kms:Decrypt"):
        assert evaluate(sagemaker, action, key) == "Allow", action
    rules = deployed["buckets"]["artifacts"]["lifecycle"]
    capture = rules["tier-and-expire-captured-inference-data"]
    assert capture["Filter"]["Prefix"] == f"{CAPTURE_PREFIX}/"
    assert [(t["Days"], t["StorageClass"]) for t in capture["Transitions"]] == [(30, "STANDARD_IA")]
    assert capture["Expiration"]["Days"] == 365


# --- the CI deploy role: GitHub Actions OIDC, the MWAA bucket and its environment, nothing else


def _ci_trust(deployed) -> dict:
    roles = {r["name"]: r for r in _resources(deployed["state"], "aws_iam_role")}
    return json.loads(roles["mlops-dev-ci-deploy"]["assume_role_policy"])


def test_github_oidc_provider(deployed):
    """The account's GitHub Actions OIDC provider, for the STS audience."""
    (provider,) = _resources(deployed["state"], "aws_iam_openid_connect_provider")
    assert provider["url"].removeprefix("https://") == "token.actions.githubusercontent.com"
    assert provider["client_id_list"] == ["sts.amazonaws.com"]
    assert deployed["oidc_providers"] == [provider["arn"]]


def test_ci_trust_is_the_deploy_branch_of_one_repository(deployed):
    """MOTO_CANNOT_ENFORCE['trust-policies'] (moto's AssumeRoleWithWebIdentity checks no token):
    only a GitHub Actions token of the configured repository, for STS, from the deploy branch."""
    trust = _ci_trust(deployed)
    (statement,) = trust["Statement"]
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    key = "token.actions.githubusercontent.com"

    def may(sub: str, aud: str = "sts.amazonaws.com") -> bool:
        ctx = {f"{key}:sub": sub, f"{key}:aud": aud}
        return evaluate([trust], "sts:AssumeRoleWithWebIdentity", "*", ctx) == "Allow"

    assert may(f"repo:{GITHUB_REPOSITORY}:ref:refs/heads/main")
    assert not may(f"repo:{GITHUB_REPOSITORY}:ref:refs/heads/feature")
    assert not may(f"repo:{GITHUB_REPOSITORY}:pull_request")
    assert not may(f"repo:{GITHUB_REPOSITORY}:environment:dev")
    assert not may("repo:example-org/other:ref:refs/heads/main")
    assert not may(f"repo:{GITHUB_REPOSITORY}:ref:refs/heads/main", aud="https://example.org")
    assert evaluate([trust], "sts:AssumeRole", "*", {}) != "Allow"  # no other principal


CI_STATEMENTS = {
    "ListDeployBucket",
    "UpdateDeployBucket",
    "PlatformKey",
    "UpdateEnvironment",
    "ReadEnvironment",
    "TriggerPipelines",
}


def test_ci_may_update_its_environment_and_nothing_else(world, deployed):
    """MOTO_CANNOT_ENFORCE['non-s3-resource-scoping']: the CI role reads and updates its own environment,
    calls its REST API as Airflow User; nothing else (on the documents)."""
    state, roles = deployed["state"], world["roles"]
    docs = _role_policies(state, roles["ci"])
    statements = [st for doc in docs for st in doc["Statement"]]
    assert {st["Sid"] for st in statements} == CI_STATEMENTS
    assert all(st["Effect"] == "Allow" and "*" not in _as_list(st["Resource"]) for st in statements)
    env = deployed["outputs"]["mwaa_environment_name"]
    env_arn = f"arn:aws:airflow:{REGION}:{ACCOUNT}:environment/{env}"
    other = f"arn:aws:airflow:{REGION}:{ACCOUNT}:environment/mlops-prod-airflow"

    def ev(action, resource):
        return evaluate(docs, action, resource)

    assert ev("airflow:UpdateEnvironment", env_arn) == "Allow"
    assert ev("airflow:GetEnvironment", env_arn) == "Allow"
    assert ev("airflow:InvokeRestApi", f"arn:aws:airflow:{REGION}:{ACCOUNT}:role/{env}/User") == "Allow"
    for action in ("airflow:UpdateEnvironment", "airflow:GetEnvironment"):
        assert ev(action, other) != "Allow", action
    for airflow_role in ("Admin", "Op"):
        assert ev("airflow:InvokeRestApi", f"arn:aws:airflow:{REGION}:{ACCOUNT}:role/{env}/{airflow_role}") != "Allow"
    for action, resource in (
        ("airflow:DeleteEnvironment", env_arn),
        ("airflow:CreateEnvironment", env_arn),
        ("airflow:CreateCliToken", env_arn),
        ("airflow:CreateWebLoginToken", f"arn:aws:airflow:{REGION}:{ACCOUNT}:role/{env}/Admin"),
        ("iam:PassRole", roles["mwaa"]),
        ("kms:Decrypt", world["keys"]["sources"]),
        ("kms:Decrypt", world["keys"]["curated"]),
        ("secretsmanager:GetSecretValue", world["secret_arn"]),
        ("sagemaker:CreateTrainingJob", f"arn:aws:sagemaker:{REGION}:{ACCOUNT}:training-job/x"),
        ("s3:GetObject", f"arn:aws:s3:::{world['buckets']['curated']}/diabetes_patients/x"),
        ("s3:GetObject", f"arn:aws:s3:::{world['buckets']['raw']}/clinic/x"),
        ("s3:PutBucketPolicy", f"arn:aws:s3:::{world['buckets']['mwaa']}"),
    ):
        assert ev(action, resource) != "Allow", (action, resource)


# --- server access logs


def test_buckets_log_their_access(deployed):
    """Each of the five buckets sends its server access logs to the environment's log bucket,
    under its own prefix; the log bucket is SSE-S3 (the only encryption log delivery supports),
    versioned, public access blocked, and expires old logs."""
    facts = deployed["buckets"]
    logs = deployed["outputs"]["access_log_bucket_name"]
    assert logs == f"mlops-dev-access-logs-{ACCOUNT}"
    for role in deployed["outputs"]["bucket_names"]:
        assert facts[role]["logging"] == {"TargetBucket": logs, "TargetPrefix": f"{role}/"}, role
    log_bucket = facts["access_logs"]
    assert log_bucket["encryption"]["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "AES256"
    assert log_bucket["versioning"] == "Enabled"
    assert all(log_bucket["public_access_block"].values())
    assert log_bucket["lifecycle"]["expire-old-access-logs"]["Expiration"]["Days"] == 365
    assert log_bucket["lifecycle"]["abort-incomplete-multipart-uploads"]["AbortIncompleteMultipartUpload"]


def test_access_log_bucket_policy(deployed):
    """MOTO_CANNOT_ENFORCE['bucket-policy-conditions'] / ['tls-only']: log delivery is accepted
    from this environment's buckets only, and every request must use TLS."""
    logs = deployed["outputs"]["access_log_bucket_name"]
    policy = deployed["buckets"]["access_logs"]["policy"]
    obj = f"arn:aws:s3:::{logs}/raw/2026-10-01-00-00-00-ABC"
    ours = {"aws:SourceArn": f"arn:aws:s3:::{deployed['outputs']['bucket_names']['raw']}", "aws:SourceAccount": ACCOUNT}
    tls = {"aws:SecureTransport": "true"}
    assert evaluate([policy], "s3:PutObject", obj, {**tls, **ours}) == "Allow"
    assert evaluate([policy], "s3:PutObject", obj, {**tls, **ours, "aws:SourceArn": "arn:aws:s3:::someone"}) != "Allow"
    assert evaluate([policy], "s3:PutObject", obj, {**tls, **ours, "aws:SourceAccount": "999999999999"}) != "Allow"
    assert evaluate([policy], "s3:GetObject", obj, tls) != "Allow"
    assert evaluate([policy], "s3:PutObject", obj, {"aws:SecureTransport": "false", **ours}) == "Deny"
    (delivery,) = [st for st in policy["Statement"] if st["Effect"] == "Allow"]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"}


def test_identities_cannot_read_access_logs(world, deployed):
    """The access logs name every object and requester: none of the roles is granted them."""
    logs = deployed["outputs"]["access_log_bucket_name"]
    for role in ("scientist", "engineer", "ci", "mwaa", "sagemaker"):
        s3 = world["as"](role, "s3")
        access_denied(lambda s3=s3: s3.list_objects_v2(Bucket=logs))


# --- alarms, notebook


def test_pipeline_failure_alarms_use_mwaa_metric_names(deployed):
    """The alarms watch metrics MWAA publishes (AmazonMWAA namespace; the MWAA user guide's tables):
    TaskInstanceFailures (Airflow ti_failures) with DAG=All, Task=All; SchedulerHeartbeat
    (scheduler_heartbeat) with Function=Scheduler; each also with the Environment dimension."""
    env = deployed["outputs"]["mwaa_environment_name"]
    alarms = {a["metric_name"]: a for a in _resources(deployed["state"], "aws_cloudwatch_metric_alarm")}
    assert set(alarms) == {"TaskInstanceFailures", "SchedulerHeartbeat"}
    assert all(a["namespace"] == "AmazonMWAA" for a in alarms.values())
    assert alarms["TaskInstanceFailures"]["dimensions"] == {"Environment": env, "DAG": "All", "Task": "All"}
    assert alarms["SchedulerHeartbeat"]["dimensions"] == {"Environment": env, "Function": "Scheduler"}
    heartbeat = alarms["SchedulerHeartbeat"]
    assert (heartbeat["statistic"], heartbeat["threshold"], heartbeat["comparison_operator"]) == (
        "Sum",
        1,
        "LessThanThreshold",
    )
    assert heartbeat["treat_missing_data"] == "breaching"
    topic = deployed["outputs"]["pipeline_environment"]["MLOPS_ALERTS_TOPIC_ARN"]
    assert all(a["alarm_actions"] == [topic] for a in alarms.values())


def test_notebook_runs_imdsv2_as_the_scientists(world, deployed):
    """The notebook's role allows no wildcard action (why checkov's CKV2_AWS_68 is suppressed:
    checkov cannot follow the role ARN across modules), and the notebook requires IMDSv2 (moto
    does not return that setting, so the code is checked)."""
    (notebook,) = _resources(deployed["state"], "aws_sagemaker_notebook_instance")
    assert notebook["role_arn"] == world["roles"]["notebook"]
    assert (notebook["direct_internet_access"], notebook["root_access"]) == ("Disabled", "Disabled")
    code = (INFRA / "modules" / "notebook" / "main.tf").read_text()
    assert re.search(r'minimum_instance_metadata_service_version\s*=\s*"2"', code)
    allows = [st for doc in _role_policies(deployed["state"], world["roles"]["notebook"]) for st in doc["Statement"]]
    allows = [st for st in allows if st["Effect"] == "Allow"]
    assert allows
    for st in allows:
        assert not any(a == "*" or a.endswith(":*") for a in _as_list(st["Action"])), st


def test_mwaa_bundle_versions_belong_to_ci():
    """CI's UpdateEnvironment sets the bundle's object versions: Terraform must not roll them back."""
    code = (INFRA / "modules" / "mwaa" / "main.tf").read_text()
    ignored = re.search(r"ignore_changes\s*=\s*\[([^\]]*)\]", code).group(1)
    for attr in ("plugins_s3_object_version", "requirements_s3_object_version", "startup_script_s3_object_version"):
        assert attr in ignored, attr


# --- the state bucket (infra/bootstrap) and the S3 backend


def test_state_bucket_is_locked_down(bootstrapped):
    """Versioned, SSE-KMS with its own rotating key, public access blocked, access logged, old
    state versions expire."""
    out, facts = bootstrapped["outputs"], bootstrapped["state_bucket"]
    assert out["state_bucket"] == f"mlops-dev-tfstate-{ACCOUNT}"
    assert facts["versioning"] == "Enabled"
    by_default = facts["encryption"]["ApplyServerSideEncryptionByDefault"]
    assert by_default == {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": out["kms_key_arn"]}
    assert all(facts["public_access_block"].values())
    assert facts["logging"] == {"TargetBucket": f"mlops-dev-tfstate-logs-{ACCOUNT}", "TargetPrefix": "tfstate/"}
    assert facts["lifecycle"]["expire-old-state-versions"]["NoncurrentVersionExpiration"]["NoncurrentDays"] == 90
    assert bootstrapped["key_rotation"]


def test_state_bucket_policy(bootstrapped):
    """MOTO_CANNOT_ENFORCE['tls-only'] / ['bucket-policy-conditions']: TLS only; a state upload
    with another encryption or key is refused, one with the state key (what the backend sends) is not."""
    out, policy = bootstrapped["outputs"], bootstrapped["state_bucket"]["policy"]
    obj = f"arn:aws:s3:::{out['state_bucket']}/mlops/dev/terraform.tfstate"
    tls = {"aws:SecureTransport": "true"}
    assert evaluate([policy], "s3:GetObject", obj, {"aws:SecureTransport": "false"}) == "Deny"
    ours = {
        "s3:x-amz-server-side-encryption": "aws:kms",
        "s3:x-amz-server-side-encryption-aws-kms-key-id": out["kms_key_arn"],
    }
    assert evaluate([policy], "s3:PutObject", obj, {**tls, **ours}) != "Deny"
    assert evaluate([policy], "s3:PutObject", obj, {**tls, "s3:x-amz-server-side-encryption": "AES256"}) == "Deny"
    other = {**ours, "s3:x-amz-server-side-encryption-aws-kms-key-id": "arn:aws:kms:eu-west-1:999999999999:key/x"}
    assert evaluate([policy], "s3:PutObject", obj, {**tls, **other}) == "Deny"


def test_environment_state_lives_in_the_state_bucket(deployed, bootstrapped):
    """envs/dev ran with the bootstrap's backend settings: its state is one SSE-KMS object in the
    state bucket under mlops/dev/, and the lock file was released after the apply."""
    backend = deployed["backend"]
    assert backend["use_lockfile"] is True and backend["encrypt"] is True
    head = deployed["state_object"]
    assert head["ServerSideEncryption"] == "aws:kms"
    assert head["SSEKMSKeyId"] == bootstrapped["outputs"]["kms_key_arn"]
    assert deployed["state_bucket_keys"] == ["mlops/dev/terraform.tfstate"]  # no .tflock left behind
    assert deployed["state"]["resources"]


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_backend_examples_match_the_bootstrap(env, bootstrapped):
    """backend.hcl.example names the settings the bootstrap prints (terraform output backend_hcl)."""
    example = (INFRA / "envs" / env / "backend.hcl.example").read_text()
    keys = {m.group(1) for m in re.finditer(r"^(\w+)\s*=", example, re.M)}
    assert keys == set(bootstrapped["outputs"]["backend_config"]), keys
    assert f'"mlops/{env}/terraform.tfstate"' in example
    assert "use_lockfile = true" in bootstrapped["outputs"]["backend_hcl"]
