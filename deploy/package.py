"""Build what Amazon MWAA takes, for one environment: `python -m deploy.package --env dev --out dist`.

Writes `<out>/<env>/`:

    plugins.zip        plugins/ at the zip root (mlops_plugin.py, .airflowignore, the mlops package)
    dags/              the DAG files, with include/ and expectations/ inside (where mlops.ingestion.config looks
                       on MWAA) and an .airflowignore that keeps the loader out of them
    requirements.txt   the repo's requirements.txt, checked: the constraints line for the pinned Airflow
                       and Python comes first, and no pin contradicts the MWAA constraints vendored in
                       requirements/ (constraints-airflow-3.3.1-py3.12.txt)
    startup.sh         exports the environment's MLOPS_* settings (deploy/environments/<env>.env) and
                       MLOPS_CODE_REVISION
    manifest.json      every file above with its sha256 and size, so a deploy uploads and pins the
                       S3 object versions of exactly these bytes

The zip is deterministic: sorted entries, fixed timestamps and modes, no caches, so the same tree
gives the same bytes (and the same S3 ETag). `${AWS_ACCOUNT_ID}` and `${AWS_REGION}` in an
environment file are filled in from --account-id/--region (or the variables of the same name);
no secret belongs in these files, connections come from Secrets Manager.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
ENVIRONMENTS_DIR = REPO / "deploy" / "environments"
# Airflow's constraints for 3.3.1 / Python 3.12, which MWAA applies to requirements.txt, vendored
# (requirements/README.md says how to vendor them).
CONSTRAINTS_FILE = REPO / "requirements" / "constraints-airflow-3.3.1-py3.12.txt"
LOCK_FILE = REPO / "requirements" / "lock.txt"
MWAA_PYTHON = "3.12"  # what MWAA runs Airflow 3.3.1 on
CONSTRAINTS_URL = "https://raw.githubusercontent.com/apache/airflow/constraints-{airflow}/constraints-{python}.txt"

# Settings every environment file must give (MLOPS_CODE_REVISION is added here, from git).
REQUIRED_SETTINGS = (
    "MLOPS_ENVIRONMENT",
    "MLOPS_RAW_BUCKET",
    "MLOPS_CURATED_BUCKET",
    "MLOPS_LANDING_BUCKET",
    "MLOPS_ARTIFACTS_BUCKET",
    "MLOPS_ALERTS_TOPIC_ARN",
    "MLOPS_SAGEMAKER_ROLE_ARN",
    "MLOPS_METRICS_TABLE",
    "MLOPS_VERSIONS_TABLE",
    "MLOPS_SAGEMAKER_POLL_SECONDS",
)
# What the DAG processor must not import as DAG files: training scripts, configs, suites.
DAGS_AIRFLOWIGNORE = "include/\nexpectations/\n"
SKIP_DIRS = {"__pycache__", ".pytest_cache", ".ruff_cache", ".mypy_cache"}
SKIP_SUFFIXES = (".pyc", ".pyo")
SKIP_NAMES = {".DS_Store"}
ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_SETTING = re.compile(r"^MLOPS_[A-Z0-9_]+$")
_PLACEHOLDER = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


class PackageError(RuntimeError):
    """The bundle cannot be built; the message says why and what to do."""


def bundle_files(root: Path) -> list[Path]:
    """Files under root that belong in a bundle, sorted by their relative POSIX path."""
    found = []
    for path in root.rglob("*"):
        rel = path.relative_to(root)
        if any(part in SKIP_DIRS or part.endswith(".egg-info") for part in rel.parts) or path.name in SKIP_NAMES:
            continue
        if path.is_file() and not path.name.endswith(SKIP_SUFFIXES):
            found.append(path)
    return sorted(found, key=lambda p: p.relative_to(root).as_posix())


def write_zip(root: Path, target: Path) -> None:
    """Zip the files under root (relative paths at the zip root) with fixed timestamps and modes."""
    with zipfile.ZipFile(target, "w") as zf:
        for path in bundle_files(root):
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=ZIP_DATE)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o100644 << 16
            info.create_system = 3  # unix, whatever the build machine
            zf.writestr(info, path.read_bytes(), compresslevel=9)


def pinned_airflow_version(lock_file: Path = LOCK_FILE) -> str:
    """The Airflow the local lock runs (Airflow's constraints do not pin apache-airflow itself)."""
    pins = _exact_pins(lock_file.read_text())
    if "apache-airflow" not in pins:
        raise PackageError(f"{lock_file}: no apache-airflow==<version> pin")
    return pins["apache-airflow"]


def check_requirements(text: str, airflow_version: str, where: str = "requirements.txt") -> None:
    """MWAA needs the constraints line first; a pin that contradicts the constraints fails the install."""
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]
    expected = CONSTRAINTS_URL.format(airflow=airflow_version, python=MWAA_PYTHON)
    first = lines[0] if lines else ""
    match = re.match(r"^(?:--constraint|-c)[ =]\s*\"?([^\"\s]+)\"?$", first)
    if not match:
        raise PackageError(
            f"{where}: the first requirement line must be the constraints line\n"
            f'  --constraint "{expected}"\n  found: {first or "(nothing)"}'
        )
    if match.group(1) != expected:
        raise PackageError(
            f"{where}: the constraints line does not match the pinned Airflow {airflow_version} "
            f"(requirements/lock.txt) on Python {MWAA_PYTHON}\n"
            f"  expected: {expected}\n  found:    {match.group(1)}"
        )
    constraints = CONSTRAINTS_FILE
    pinned = _exact_pins(constraints.read_text())
    for name, version in _exact_pins(text).items():
        if name in pinned and pinned[name] != version:
            raise PackageError(
                f"{where}: {name}=={version} contradicts {pinned[name]} in {constraints.name} "
                "(the MWAA constraints would reject it)"
            )


def _exact_pins(text: str) -> dict[str, str]:
    pins = {}
    for line in text.splitlines():
        m = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?\s*==\s*([^\s;#]+)", line)
        if m:
            pins[re.sub(r"[-_.]+", "-", m.group(1)).lower()] = m.group(2)
    return pins


def known_environments() -> list[str]:
    return sorted(p.stem for p in ENVIRONMENTS_DIR.glob("*.env"))


def load_environment(env: str, placeholders: dict[str, str | None]) -> dict[str, str]:
    """`deploy/environments/<env>.env` (KEY=VALUE lines, # comments) with placeholders filled in."""
    path = ENVIRONMENTS_DIR / f"{env}.env"
    if not re.match(r"^[a-z][a-z0-9-]*$", env) or not path.is_file():
        raise PackageError(
            f"unknown environment {env!r}: no {path.relative_to(REPO)}; "
            f"known: {', '.join(known_environments()) or '(none)'}"
        )
    text = path.read_text()
    unfilled = sorted({m.group(1) for m in _PLACEHOLDER.finditer(text) if not placeholders.get(m.group(1), "?")})
    if unfilled:
        flags = " ".join("--" + n.removeprefix("AWS_").lower().replace("_", "-") + "=..." for n in unfilled)
        raise PackageError(
            f"{path.relative_to(REPO)} needs {' and '.join(unfilled)}: pass {flags} "
            f"or set the variables (make package ENV={env} {' '.join(n + '=...' for n in unfilled)})"
        )
    settings: dict[str, str] = {}
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        where = f"{path.relative_to(REPO)}:{number}"
        key, sep, value = line.partition("=")
        key, value = key.strip(), value.strip()
        if not sep or not _SETTING.match(key):
            raise PackageError(f"{where}: expected MLOPS_<NAME>=<value>, got {line!r}")
        if key == "MLOPS_CODE_REVISION":
            raise PackageError(f"{where}: MLOPS_CODE_REVISION is set by the packager from git, not by the file")
        if key in settings:
            raise PackageError(f"{where}: {key} is set twice")

        def fill(m: re.Match, where: str = where, key: str = key) -> str:
            name = m.group(1)
            if name not in placeholders:
                raise PackageError(f"{where}: {key} uses ${{{name}}}; only {sorted(placeholders)} can be filled in")
            return placeholders[name]

        value = _PLACEHOLDER.sub(fill, value)
        if not value or any(c in value for c in "$`\"'\\") or any(c.isspace() for c in value):
            raise PackageError(f"{where}: {key} must be a plain value (no quotes, spaces or $), got {value!r}")
        settings[key] = value
    missing = [k for k in REQUIRED_SETTINGS if k not in settings]
    if missing:
        raise PackageError(f"{path.relative_to(REPO)}: missing {', '.join(missing)}")
    if settings["MLOPS_ENVIRONMENT"] != env:
        raise PackageError(
            f"{path.relative_to(REPO)}: MLOPS_ENVIRONMENT is {settings['MLOPS_ENVIRONMENT']!r}, not {env!r}"
        )
    return settings


def code_revision() -> str:
    """The commit the bundle is built from, `-dirty` when packaged files differ from it."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True, text=True)
        if head.returncode != 0:
            raise PackageError(f"cannot read the git commit ({head.stderr.strip()}); pass --revision")
        paths = ["plugins", "dags", "include", "expectations", "requirements.txt"]
        status = subprocess.run(
            ["git", "status", "--porcelain", "--", *paths], cwd=REPO, capture_output=True, text=True
        )
    except OSError as exc:
        raise PackageError(f"cannot run git ({exc}); pass --revision") from exc
    return head.stdout.strip() + ("-dirty" if status.stdout.strip() else "")


def startup_script(env: str, settings: dict[str, str], revision: str) -> str:
    exports = "\n".join(f"export {k}={shlex.quote(v)}" for k, v in sorted(settings.items()))
    return f"""#!/usr/bin/env bash
# MWAA startup script for environment '{env}', generated by `python -m deploy.package --env {env}`
# from deploy/environments/{env}.env: do not edit, rebuild. MWAA runs it on every component
# (scheduler, dag processor, triggerer, worker, web server) before installing requirements.txt.
# Only MLOPS_* variables: MWAA reserves AIRFLOW_HOME, PYTHONPATH, AWS_REGION, MWAA__* and others.
_mlops_saved_opts="$(set +o)"
set -euo pipefail

{exports}
export MLOPS_CODE_REVISION={shlex.quote(revision)}

# Restore the caller's shell options in case MWAA sources this file.
eval "$_mlops_saved_opts"
unset _mlops_saved_opts
"""


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _prepare_target(target: Path) -> None:
    """Replace a previous bundle; refuse to delete a folder that is not one."""
    if target.exists():
        if any(target.iterdir()) and not (target / "manifest.json").is_file():
            raise PackageError(f"{target} exists and is not a bundle (no manifest.json); choose another --out")
        shutil.rmtree(target)
    target.mkdir(parents=True)


def build(
    env: str,
    out: Path,
    *,
    account_id: str | None = None,
    region: str | None = None,
    revision: str | None = None,
) -> Path:
    """Build `<out>/<env>/` and return it."""
    airflow_version = pinned_airflow_version()
    requirements = (REPO / "requirements.txt").read_text()
    check_requirements(requirements, airflow_version)
    if account_id and not re.fullmatch(r"\d{12}", account_id):
        raise PackageError(f"AWS account id must be 12 digits, got {account_id!r}")
    if region and not re.fullmatch(r"[a-z]{2}(-[a-z]+)+-\d", region):
        raise PackageError(f"not an AWS region: {region!r}")
    settings = load_environment(env, {"AWS_ACCOUNT_ID": account_id, "AWS_REGION": region})
    revision = revision or code_revision()

    target = Path(out).resolve() / env
    _prepare_target(target)
    write_zip(REPO / "plugins", target / "plugins.zip")

    dags = target / "dags"
    for name in ("dags", "include", "expectations"):
        root = REPO / name
        base = dags if name == "dags" else dags / name
        for path in bundle_files(root):
            dest = base / path.relative_to(root)
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, dest)
    ignore = dags / ".airflowignore"
    existing = ignore.read_text() if ignore.exists() else ""
    ignore.write_text(existing + ("" if not existing or existing.endswith("\n") else "\n") + DAGS_AIRFLOWIGNORE)

    (target / "requirements.txt").write_text(requirements)
    startup = target / "startup.sh"
    startup.write_text(startup_script(env, settings, revision))
    startup.chmod(0o755)

    files = [p for p in bundle_files(target) if p.name != "manifest.json"]
    manifest = {
        "environment": env,
        "revision": revision,
        "airflow_version": airflow_version,
        "python_version": MWAA_PYTHON,
        # MWAA environment fields -> keys in the environment's S3 bucket (the bundle's relative paths).
        "mwaa": {
            "dag_s3_path": "dags",
            "plugins_s3_path": "plugins.zip",
            "requirements_s3_path": "requirements.txt",
            "startup_script_s3_path": "startup.sh",
        },
        "files": [
            {"path": p.relative_to(target).as_posix(), "sha256": sha256(p), "bytes": p.stat().st_size} for p in files
        ],
    }
    (target / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deploy.package", description=__doc__.splitlines()[0])
    parser.add_argument("--env", required=True, help=f"environment: {', '.join(known_environments())}")
    parser.add_argument("--out", default="dist", type=Path, help="output folder (default dist/)")
    parser.add_argument("--account-id", default=os.environ.get("AWS_ACCOUNT_ID"), help="fills ${AWS_ACCOUNT_ID}")
    parser.add_argument(
        "--region",
        default=os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION"),
        help="fills ${AWS_REGION} (default: AWS_REGION or AWS_DEFAULT_REGION)",
    )
    parser.add_argument("--revision", help="MLOPS_CODE_REVISION (default: the git commit, -dirty if changed)")
    args = parser.parse_args(argv)
    try:
        target = build(args.env, args.out, account_id=args.account_id, region=args.region, revision=args.revision)
    except PackageError as exc:
        print(f"package: {exc}", file=sys.stderr)
        return 2
    manifest = json.loads((target / "manifest.json").read_text())
    print(f"built {target} (revision {manifest['revision']}, {len(manifest['files'])} files)")
    for entry in manifest["files"]:
        if "/" not in entry["path"]:
            print(f"  {entry['path']:<18} {entry['bytes']:>8} bytes  sha256 {entry['sha256'][:16]}")
    print(f"  dags/              {sum(1 for e in manifest['files'] if e['path'].startswith('dags/'))} files")
    return 0


if __name__ == "__main__":
    sys.exit(main())
