"""The model servers of one production variant: start, health-check, route, restart, drain.

Each instance of a variant is one long-lived model_server.py process (forked from the warm
framework process when it can be, like training entry points), reached over keep-alive HTTP/1.1
on a unix socket; idle connections are pooled so a request costs one write and one read. A server
that exits is restarted (logged, counted in `restarts`, and shown in DescribeEndpoint's
VariantStatus while it comes back). Draining closes the fleet to new requests, waits for the ones
in flight, then stops the processes: that is how an update moves traffic without dropping any.
"""

from __future__ import annotations

import collections
import itertools
import logging
import os
import shutil
import signal
import socket
import subprocess
import tarfile
import threading
import time
from pathlib import Path

from embedded_stack.sagemaker_local.runner import LogSink, download, split_s3
from embedded_stack.sagemaker_local.warm_container import WarmContainer, WarmContainerUnavailable, needs_cold_start

log = logging.getLogger(__name__)

MODEL_SERVER = str(Path(__file__).with_name("model_server.py"))
LOG_GROUP = "/aws/sagemaker/Endpoints"
BASE_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "TZ")
OPT_ML_MODEL = "/opt/ml/model"


class ModelLoadError(Exception):
    """A server did not pass its health check; the message is the handler's own error when it gave one."""


class ServerUnavailable(Exception):
    """No healthy server took the request in time."""


class ServerCrashed(Exception):
    """The server's connection closed while it handled the request (the process died)."""


class NotDelivered(Exception):
    """The request never reached the server (it was already gone): safe to send elsewhere."""


class Connection:
    """One keep-alive HTTP/1.1 connection to a model server's unix socket."""

    def __init__(self, path: str, generation: int, timeout: float):
        self.generation = generation
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.reader = self.sock.makefile("rb", buffering=65536)

    def request(self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None):
        """(status, content type, body) of one exchange."""
        head = f"{method} {path} HTTP/1.1\r\nHost: model\r\nContent-Length: {len(body)}\r\n"
        for k, v in (headers or {}).items():
            head += f"{k}: {v}\r\n"
        try:
            self.sock.sendall(head.encode("latin-1") + b"\r\n" + body)
        except (BrokenPipeError, ConnectionResetError) as err:
            raise NotDelivered(str(err)) from err
        line = self.reader.readline(65536)
        if not line:
            raise ServerCrashed("the model server closed the connection")
        status = int(line.split(b" ", 2)[1])
        length, content_type = 0, ""
        while True:
            h = self.reader.readline(65536)
            if h in (b"\r\n", b"\n", b""):
                break
            k, _, v = h.decode("latin-1").partition(":")
            k = k.strip().lower()
            if k == "content-length":
                length = int(v)
            elif k == "content-type":
                content_type = v.strip()
        data = self.reader.read(length) if length else b""
        if len(data) < length:
            raise ServerCrashed("the model server closed the connection mid-answer")
        return status, content_type, data

    def close(self) -> None:
        try:
            self.reader.close()
            self.sock.close()
        except OSError:
            pass


def prepare_model(s3, container: dict, root: Path) -> tuple[Path, str | None, Path | None]:
    """Download and untar ModelDataUrl into root/model (once), fetch an S3 submit directory into
    root/code; (model dir, SAGEMAKER_PROGRAM, code dir)."""
    model_dir, code_dir = root / "model", None
    env = container.get("Environment") or {}
    done = root / ".prepared"
    if not done.exists():
        shutil.rmtree(root, ignore_errors=True)
        model_dir.mkdir(parents=True)
        url = container.get("ModelDataUrl")
        if url:
            bucket, key = split_s3(url)
            archive = root / "model.tar.gz"
            download(s3, bucket, key, archive)
            _untar(archive, model_dir)
            archive.unlink()
        submit = env.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
        if submit.startswith("s3://"):
            bucket, key = split_s3(submit)
            archive = root / "sourcedir.tar.gz"
            download(s3, bucket, key, archive)
            (root / "code").mkdir()
            _untar(archive, root / "code")
            archive.unlink()
        done.touch()
    submit = env.get("SAGEMAKER_SUBMIT_DIRECTORY", "")
    if submit.startswith("s3://"):
        code_dir = root / "code"
    elif submit.startswith(OPT_ML_MODEL):
        code_dir = model_dir / submit.removeprefix(OPT_ML_MODEL).lstrip("/")
    elif submit:
        code_dir = Path(submit)
    return model_dir, env.get("SAGEMAKER_PROGRAM") or None, code_dir


def _untar(archive: Path, target: Path) -> None:
    with tarfile.open(archive) as tar:
        tar.extractall(target, filter="data")


class ModelServer:
    """One instance: its process, its socket, its pool of idle connections."""

    def __init__(self, fleet: VariantFleet, index: int):
        self.fleet, self.index = fleet, index
        self.socket_path = str(fleet.socket_dir / f"{fleet.key}-{index}.sock")
        self.instance_id = f"i-{fleet.key}-{index}"
        self.proc = None
        self.generation = 0
        self.healthy = False
        self.idle: collections.deque[Connection] = collections.deque()
        self.sink = LogSink(
            fleet.logs, f"{fleet.variant}/{self.instance_id}", fleet.root / f"server-{index}.log", fleet.log_group
        )
        self.watcher: threading.Thread | None = None

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def launch(self) -> None:
        fleet = self.fleet
        argv = [fleet.python, MODEL_SERVER, "--model-dir", str(fleet.model_dir), "--socket", self.socket_path]
        if fleet.program:
            argv += ["--program", fleet.program]
        if fleet.code_dir:
            argv += ["--code-dir", str(fleet.code_dir)]
        env = {k: os.environ[k] for k in BASE_ENV if k in os.environ}
        env |= {"SAGEMAKER_BIND_TO_PORT": "8080", "PYTHONUNBUFFERED": "1"} | fleet.environment
        self.proc = None
        cold = "no warm framework process" if fleet.warm is None else needs_cold_start(fleet.environment)
        if not cold:
            try:
                self.proc = fleet.warm.launch(argv, env, str(fleet.model_dir))
            except (WarmContainerUnavailable, OSError) as err:
                cold = str(err)
        if self.proc is None:
            self.sink.write(f"Starting the model server in a new Python process ({cold})")
            self.proc = subprocess.Popen(
                argv,
                cwd=fleet.model_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
        self.generation += 1
        for conn in list(self.idle):
            conn.close()
        self.idle.clear()
        self.sink.pump(self.proc.stdout, False)
        self.sink.pump(self.proc.stderr, True)

    def wait_healthy(self, timeout: float) -> None:
        """Poll GET /ping until 200; ModelLoadError with the handler's error if the process ends first."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            code = self.proc.poll()
            if code is not None:
                raise ModelLoadError(self.failure_text(code))
            try:
                conn = Connection(self.socket_path, self.generation, 5)
                try:
                    status, _, _ = conn.request("GET", "/ping")
                finally:
                    conn.close()
                if status == 200:
                    self.healthy = True
                    return
            except (OSError, ServerCrashed, ValueError):
                pass
            time.sleep(0.02)
        raise ModelLoadError(f"the model server did not answer /ping within {timeout:.0f} seconds")

    def failure_text(self, code: int) -> str:
        failure = Path(self.socket_path + ".failure")
        if failure.exists():
            return failure.read_text(errors="replace").strip()
        time.sleep(0.1)  # let the pumps take the last lines
        tail = [line for line in self.sink.stderr_tail if line.strip()]
        return tail[-1] if tail else f"the model server exited with code {code}"

    def invoke(self, body: bytes, headers: dict[str, str]):
        conn = None
        while self.idle:
            candidate = self.idle.pop()
            if candidate.generation == self.generation:
                conn = candidate
                break
            candidate.close()
        if conn is None:
            try:
                conn = Connection(self.socket_path, self.generation, self.fleet.invocation_timeout)
            except OSError as err:
                raise NotDelivered(f"the model server is not accepting connections: {err}") from err
        try:
            result = conn.request("POST", "/invocations", body, headers)
        except NotDelivered:
            conn.close()
            raise
        except (OSError, ServerCrashed, ValueError) as err:
            conn.close()
            if conn.generation == self.generation:  # this process is dying: send nothing more until restarted
                self.healthy = False
            raise ServerCrashed(str(err)) from err
        self.idle.append(conn)
        return result

    def stop(self, grace: float = 5) -> None:
        """SIGTERM to the server's process group, SIGKILL after `grace`; one thread waits on a process, so
        when the watcher runs it is the one that sees the exit."""
        self.healthy = False
        proc, self.proc = self.proc, None
        watcher = self.watcher if self.watcher is not None and self.watcher.is_alive() else None
        if proc is not None:
            for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 5)):
                try:
                    os.killpg(proc.pid, sig)
                except (ProcessLookupError, PermissionError, TypeError):
                    break
                if watcher is not None:
                    watcher.join(wait)
                    if not watcher.is_alive():
                        break
                    continue
                try:
                    proc.wait(timeout=wait)
                    break
                except subprocess.TimeoutExpired:
                    continue
        for conn in list(self.idle):
            conn.close()
        self.idle.clear()
        self.sink.flush()


class VariantFleet:
    """The servers of one variant of one deployed endpoint config."""

    def __init__(
        self,
        *,
        endpoint: str,
        variant: dict,
        container: dict,
        root: Path,
        socket_dir: Path,
        key: str,
        s3,
        logs,
        python: str,
        warm: WarmContainer | None,
        max_servers: int,
        invocation_timeout: float = 60,
    ):
        self.endpoint, self.variant, self.spec = endpoint, variant["VariantName"], variant
        self.container, self.root, self.socket_dir, self.key = container, root, socket_dir, key
        self.s3, self.logs, self.python, self.warm = s3, logs, python, warm
        self.invocation_timeout = invocation_timeout
        self.log_group = f"{LOG_GROUP}/{endpoint}"
        root.mkdir(parents=True, exist_ok=True)
        serverless = variant.get("ServerlessConfig")
        self.max_concurrency = serverless["MaxConcurrency"] if serverless else None
        count = 1 if serverless else int(variant.get("InitialInstanceCount") or 1)
        self.instance_count = count
        self.environment = dict(container.get("Environment") or {})
        self.servers = [ModelServer(self, i) for i in range(min(count, max_servers))]
        self.model_dir: Path = root / "model"
        self.program: str | None = None
        self.code_dir: Path | None = None
        self.restarts = 0
        self.restarting: str | None = None
        self._rr = itertools.count()
        self._lock = threading.Condition()
        self._inflight = 0
        self._closed = False
        self._stopping = False

    def start(self, timeout: float) -> None:
        """Prepare the model, start every server, wait until all answer /ping; ModelLoadError otherwise."""
        self.root.mkdir(parents=True, exist_ok=True)
        self.model_dir, self.program, self.code_dir = prepare_model(self.s3, self.container, self.root)
        errors: list[BaseException] = []

        def start_one(server: ModelServer) -> None:
            try:
                server.launch()
                server.wait_healthy(timeout)
            except BaseException as err:
                errors.append(err)

        threads = [threading.Thread(target=start_one, args=(s,), daemon=True) for s in self.servers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            self.stop()
            err = errors[0]
            raise err if isinstance(err, ModelLoadError) else ModelLoadError(f"{type(err).__name__}: {err}")
        for server in self.servers:
            server.watcher = threading.Thread(
                target=self._watch, args=(server,), name=f"watch-{self.endpoint}-{server.index}", daemon=True
            )
            server.watcher.start()

    def _watch(self, server: ModelServer) -> None:
        """Restart a server whose process ended while the fleet serves."""
        while True:
            proc = server.proc
            if proc is None:
                return
            try:
                code = proc.wait()
            except Exception:
                code = -1
            if self._stopping or server.proc is not proc:
                return
            server.healthy = False
            with self._lock:
                self.restarts += 1
                self.restarting = f"model server {server.instance_id} exited with code {code}; restarting it"
            log.warning("endpoint %s variant %s: %s", self.endpoint, self.variant, self.restarting)
            server.sink.write(f"model server exited with code {code}; restarting (restart {self.restarts})", True)
            while not self._stopping:
                try:
                    server.launch()
                    server.wait_healthy(120)
                    break
                except Exception as err:
                    server.sink.write(f"restart failed: {err}", True)
                    time.sleep(1)
            with self._lock:
                self.restarting = None
                self._lock.notify_all()

    def acquire(self) -> str:
        """'ok' (counted in flight), 'closed' (drained: route again) or 'throttled' (MaxConcurrency)."""
        with self._lock:
            if self._closed:
                return "closed"
            if self.max_concurrency is not None and self._inflight >= self.max_concurrency:
                return "throttled"
            self._inflight += 1
            return "ok"

    def release(self) -> None:
        with self._lock:
            self._inflight -= 1
            if self._inflight == 0:
                self._lock.notify_all()

    def invoke(self, body: bytes, headers: dict[str, str], wait: float = 30):
        """(status, content type, body, ModelLatency µs) from one healthy server, round robin."""
        deadline = time.monotonic() + wait
        while True:
            n = len(self.servers)
            start = next(self._rr)
            for i in range(n):
                server = self.servers[(start + i) % n]
                if server.healthy:
                    t0 = time.perf_counter_ns()
                    try:
                        status, content_type, out = server.invoke(body, headers)
                    except NotDelivered:
                        server.healthy = False  # gone; its watcher restarts it
                        continue
                    return status, content_type, out, (time.perf_counter_ns() - t0) // 1000
            with self._lock:  # every server is restarting: wait for one
                left = deadline - time.monotonic()
                if left <= 0 or self._stopping:
                    raise ServerUnavailable(f"no model server of variant {self.variant} is healthy")
                self._lock.wait(min(left, 0.05))

    def drain(self, timeout: float = 60) -> None:
        """Take no new requests, let those in flight finish, then stop the servers."""
        with self._lock:
            self._closed = True
            deadline = time.monotonic() + timeout
            while self._inflight and time.monotonic() < deadline:
                self._lock.wait(deadline - time.monotonic())
        self.stop()

    def stop(self) -> None:
        with self._lock:
            self._closed = self._stopping = True
            self._lock.notify_all()
        for server in self.servers:
            server.stop()

    def flush_logs(self) -> None:
        for server in self.servers:
            server.sink.flush()

    def status(self) -> dict:
        return {
            "VariantName": self.variant,
            "Servers": [{"InstanceId": s.instance_id, "Pid": s.pid, "Healthy": s.healthy} for s in self.servers],
            "Restarts": self.restarts,
            "InFlight": self._inflight,
        }
