"""A warm framework container: one Python process that has imported the framework's libraries once
and forks a fresh process for each training job's entry point.

Why: a SageMaker framework container image comes with numpy, pandas, scikit-learn and XGBoost
installed; on this machine every job would pay about a second importing them before its first
line runs, many times the fit of a small model. The warm container imports them once; a job's
entry point then starts in milliseconds, in its own process with the contract it would have in a
cold `python train.py`: its argv, environment, working folder, stdin on /dev/null, stdout and
stderr on the runner's pipes, its own session and process group (StopTrainingJob signals the
group), sys.path[0] on the script's folder then PYTHONPATH, a fresh numpy global seed, and its
exit status (a negative number for a signal, as subprocess reports it).

What differs from a cold start, and when the runner starts cold instead: libraries read some
variables only when imported (thread counts, Python's own flags), so a request whose Environment
sets one of COLD_START_ENV_PREFIXES runs cold; so does every job when the warm process cannot be
started. Modules the job imports besides the preloaded ones are imported by the job itself.

The protocol is private to this file: the control plane holds one end of a socketpair; per job it
sends a length-prefixed JSON request (argv, env, cwd) with three file descriptors (stdout and
stderr write ends, and a status socket). A per-job supervisor process answers on the status socket
`pid <n>` when the job has started and `exit <code>` when it ended; if the control plane goes away
(the status socket closes) the supervisor kills the job's process group.

This file runs as a script in the warm process (`python warm_container.py <fd>`): it imports
nothing from the repo, so the job's sys.modules holds only what a framework container would.
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import warnings

# What the SageMaker scikit-learn and XGBoost framework containers ship and train.py-style entry
# points import; missing ones (e.g. XGBoost in an environment without it) are left out.
PRELOAD = (
    "numpy",
    "pandas",
    "scipy.stats",
    "joblib",
    "sklearn.base",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "sklearn.metrics",
    "sklearn.model_selection",
    "sklearn.neighbors",
    "sklearn.pipeline",
    "sklearn.preprocessing",
    "sklearn.svm",
    "sklearn.tree",
    "xgboost",
    # train.py's ONNX graph of the estimator and the handler's runtime for it (requirements/dev.in)
    "onnxruntime",
    "skl2onnx",
    "onnxmltools",
)
# Variables read at import time by the preloaded libraries or the interpreter: a job that sets one
# gets a cold process so it takes effect.
COLD_START_ENV_PREFIXES = (
    "PYTHON",
    "OMP_",
    "MKL_",
    "OPENBLAS_",
    "BLIS_",
    "NUMEXPR_",
    "VECLIB_",
    "KMP_",
    "NUMBA_",
    "XGBOOST_",
    "SKLEARN_",
    "JOBLIB_",
    "LD_",
    "MALLOC_",
)
_HEADER = struct.Struct("!I")
_START_TIMEOUT_S = 120  # the first job may wait for the preload to finish


class WarmContainerUnavailable(Exception):
    """The warm process is not running or did not take the job; the runner starts the job cold."""


def needs_cold_start(env: dict[str, str]) -> str | None:
    """The variable that forces a cold start, if the job's environment sets one."""
    for name in env:
        if name.startswith(COLD_START_ENV_PREFIXES) and name not in ("PYTHONPATH", "PYTHONUNBUFFERED"):
            return name
    return None


# ---- control-plane side --------------------------------------------------------------------------------------


class WarmContainer:
    """The warm process, owned by the control plane: started in the background, restarted if it dies."""

    def __init__(self, python: str, base_env: dict[str, str]):
        self.python, self.base_env = python, base_env
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._sock: socket.socket | None = None

    def start(self) -> None:
        """Spawn the warm process; returns at once, the preload goes on in the background."""
        with self._lock:
            self._spawn()

    def _spawn(self) -> None:
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            self._proc = subprocess.Popen(
                [self.python, os.path.abspath(__file__), str(theirs.fileno())],
                pass_fds=[theirs.fileno()],
                env=self.base_env,
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=None,  # preload errors reach the control plane's log
                start_new_session=True,
            )
        except OSError:
            ours.close()
            self._proc = None
            raise
        finally:
            theirs.close()
        self._sock = ours

    def launch(self, argv: list[str], env: dict[str, str], cwd: str) -> WarmProcess:
        """Start one entry point as a fork of the warm process; raises WarmContainerUnavailable."""
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        status, status_theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        payload = json.dumps({"argv": argv, "env": env, "cwd": cwd}).encode()
        try:
            with self._lock:
                if self._proc is None or self._proc.poll() is not None:
                    self._spawn()  # died (or never started): this job runs cold, the next one warm
                    raise WarmContainerUnavailable("the warm framework process was not running; restarted it")
                try:
                    socket.send_fds(self._sock, [_HEADER.pack(len(payload))], [out_w, err_w, status_theirs.fileno()])
                    self._sock.sendall(payload)
                except OSError as err:
                    raise WarmContainerUnavailable(f"the warm framework process did not take the job: {err}") from err
        except BaseException:
            for fd in (out_r, err_r):
                os.close(fd)
            status.close()
            raise
        finally:
            for fd in (out_w, err_w):
                os.close(fd)
            status_theirs.close()
        proc = WarmProcess(status, os.fdopen(out_r, "rb"), os.fdopen(err_r, "rb"))
        proc.wait_started(_START_TIMEOUT_S)
        return proc

    def stop(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()  # EOF: the warm process exits; running jobs keep their supervisors
                self._sock = None
            if self._proc is not None:
                try:
                    self._proc.wait(5)
                except subprocess.TimeoutExpired:
                    self._proc.kill()
                    self._proc.wait()
                self._proc = None


class WarmProcess:
    """A job started by the warm container, with the part of subprocess.Popen's interface the runner uses."""

    def __init__(self, status: socket.socket, stdout, stderr):
        self._status, self.stdout, self.stderr = status, stdout, stderr
        self._buffer = b""
        self.pid: int | None = None
        self.returncode: int | None = None

    def _read_line(self, timeout: float | None) -> str | None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while b"\n" not in self._buffer:
            left = None if deadline is None else max(deadline - time.monotonic(), 0)
            if not select.select([self._status], [], [], left)[0]:
                return None
            chunk = self._status.recv(4096)
            if not chunk:  # the supervisor died without a word: treat as killed
                return "exit -9"
            self._buffer += chunk
        line, _, self._buffer = self._buffer.partition(b"\n")
        return line.decode()

    def _take(self, line: str) -> None:
        word, _, value = line.partition(" ")
        if word == "pid":
            self.pid = int(value)
        elif word == "exit":
            self.returncode = int(value)
            self._status.close()
        elif word == "error":
            self.returncode = 1
            self._status.close()
            raise WarmContainerUnavailable(value)

    def wait_started(self, timeout: float) -> None:
        line = self._read_line(timeout)
        if line is None:
            self._status.close()
            raise WarmContainerUnavailable(f"the warm framework process did not start the job within {timeout:.0f} s")
        self._take(line)
        if self.pid is None and self.returncode is None:
            raise WarmContainerUnavailable(f"unexpected answer from the warm framework process: {line!r}")

    def _advance(self, timeout: float | None) -> bool:
        """Take the supervisor's next line; False when none came within timeout."""
        line = self._read_line(timeout)
        if line is None:
            return False
        self._take(line)
        return True

    def poll(self) -> int | None:
        while self.returncode is None and self._advance(0):
            pass
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        while self.returncode is None:
            if not self._advance(timeout):
                raise subprocess.TimeoutExpired("entry point", timeout)
        return self.returncode


# ---- warm-process side (runs as a script) -------------------------------------------------------------------


def preload() -> None:
    """Import PRELOAD, leaving out what is missing or broken here."""
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # not installed, or broken here: the job imports it itself (and sees the error)
            pass


def _recv_exact(sock: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = sock.recv(n - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return data


def _serve(control_fd: int) -> None:
    control = socket.socket(fileno=control_fd)
    base_path = sys.path[1:]  # without this file's folder
    preload()
    while True:
        try:
            header, fds, _, _ = socket.recv_fds(control, _HEADER.size, 3)
            if not header:
                return  # the control plane closed its end
            if len(header) < _HEADER.size:
                header += _recv_exact(control, _HEADER.size - len(header))
            request = json.loads(_recv_exact(control, _HEADER.unpack(header)[0]))
        except (EOFError, ConnectionError):
            return
        with warnings.catch_warnings():
            # the preloaded BLAS keeps native worker threads; it re-creates them after fork (pthread_atfork)
            warnings.simplefilter("ignore", DeprecationWarning)
            pid = os.fork()
        if pid == 0:
            control.close()
            _supervise(request, fds, base_path)  # never returns
        for fd in fds:
            os.close(fd)
        while True:  # reap supervisors that have ended
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break


def _supervise(request: dict, fds: list[int], base_path: list[str]) -> None:
    """The per-job supervisor: fork the job, report its pid and exit status, kill it if orphaned."""
    out_fd, err_fd, status_fd = fds
    status = socket.socket(fileno=status_fd)
    code = 1
    try:
        pid = os.fork()
        if pid == 0:
            status.close()
            _run_job(request, out_fd, err_fd, base_path)  # never returns
        os.close(out_fd)
        os.close(err_fd)
        status.sendall(f"pid {pid}\n".encode())
        pidfd = os.pidfd_open(pid)
        while True:
            ready = select.select([status, pidfd], [], [])[0]
            if pidfd in ready:
                break
            if not status.recv(1):  # the control plane is gone: so is the job
                try:
                    os.killpg(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        _, wait_status = os.waitpid(pid, 0)
        code = os.waitstatus_to_exitcode(wait_status)
        status.sendall(f"exit {code}\n".encode())
    except Exception as err:
        try:
            status.sendall(f"error {type(err).__name__}: {err}\n".encode())
        except OSError:
            pass
    finally:
        os._exit(0)


def _run_job(request: dict, out_fd: int, err_fd: int, base_path: list[str]) -> None:
    """In the job's own process: take on the contract of a cold `python <program> <args>`, run, exit."""
    import io
    import runpy
    import traceback

    code = 1
    try:
        os.setsid()
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        signal.signal(signal.SIGINT, signal.default_int_handler)
        devnull = os.open(os.devnull, os.O_RDONLY)
        for fd, target in ((devnull, 0), (out_fd, 1), (err_fd, 2)):
            os.dup2(fd, target)
        os.closerange(3, 65536)
        env, cwd, argv = request["env"], request["cwd"], request["argv"]
        os.chdir(cwd)
        os.environ.clear()
        os.environ.update(env)
        unbuffered = bool(env.get("PYTHONUNBUFFERED"))
        sys.stdin = sys.__stdin__ = io.TextIOWrapper(io.FileIO(0, "r", closefd=False), encoding="utf-8")
        sys.stdout = sys.__stdout__ = io.TextIOWrapper(
            io.BufferedWriter(io.FileIO(1, "w", closefd=False)), encoding="utf-8", write_through=unbuffered
        )
        sys.stderr = sys.__stderr__ = io.TextIOWrapper(
            io.BufferedWriter(io.FileIO(2, "w", closefd=False)),
            encoding="utf-8",
            errors="backslashreplace",
            line_buffering=True,
            write_through=unbuffered,
        )
        program = argv[1]
        extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
        sys.path[:] = [os.path.dirname(os.path.abspath(program)), *extra, *base_path]
        sys.argv[:] = argv[1:]
        if "numpy" in sys.modules:  # its global seed came from the warm process: draw a new one as at import
            sys.modules["numpy"].random.seed()
        try:
            runpy.run_path(program, run_name="__main__")
            code = 0
        except SystemExit as exit_:
            if exit_.code is None:
                code = 0
            elif isinstance(exit_.code, int):
                code = exit_.code
            else:
                print(exit_.code, file=sys.stderr)
                code = 1
        except KeyboardInterrupt:
            traceback.print_exc()
            code = -signal.SIGINT
        except BaseException:
            traceback.print_exc()
            code = 1
        try:
            import atexit

            atexit._run_exitfuncs()  # what interpreter shutdown would run
        except BaseException:
            traceback.print_exc()
    except BaseException:
        try:
            traceback.print_exc()
        except BaseException:
            pass
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        if code < 0:  # die of the signal, so the supervisor sees what a cold process would report
            signal.signal(-code, signal.SIG_DFL)
            os.kill(os.getpid(), -code)
        os._exit(code & 0xFF)


if __name__ == "__main__":
    _serve(int(sys.argv[1]))
