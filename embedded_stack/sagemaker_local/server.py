"""The SageMaker endpoint of the embedded stack (JSON 1.1 protocol: POST /, X-Amz-Target: SageMaker.<Op>).

Training-job operations are answered here and executed by the local runner; models, endpoint
configs and endpoints by the hosting plane (endpoints.py), whose model servers answer the
SageMaker Runtime's InvokeEndpoint on the same port (`POST /endpoints/<name>/invocations`,
runtime.py); every other SageMaker operation (model package groups, ...) is forwarded byte for byte
to the moto server, so one `endpoint_url` serves the whole SageMaker and SageMaker Runtime APIs.
"""

from __future__ import annotations

import email.utils
import http.client
import json
import logging
import os
import re
import sys
import threading
import time
import urllib.parse
import uuid
from functools import partial
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from embedded_stack.sagemaker_local.capture import CaptureWriter
from embedded_stack.sagemaker_local.endpoints import HostingControlPlane
from embedded_stack.sagemaker_local.jobs import ApiError, JobStore, list_jobs, validate_create
from embedded_stack.sagemaker_local.metrics import EndpointMetrics, Flusher
from embedded_stack.sagemaker_local.runner import PASSED_THROUGH_ENV, TrainingRun, aws_client
from embedded_stack.sagemaker_local.runtime import Runtime
from embedded_stack.sagemaker_local.warm_container import WarmContainer

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/x-amz-json-1.1"
HOP_BY_HOP = {"host", "content-length", "connection", "keep-alive", "transfer-encoding", "proxy-connection"}


class TrainingControlPlane:
    """The training-job operations over a job store, with one runner thread per active job."""

    def __init__(
        self,
        state_dir: Path,
        moto_url: str,
        python: str,
        account: str,
        max_concurrent_jobs: int,
        stop_grace: float,
        warm_start: bool = True,
    ):
        self.store = JobStore(Path(state_dir) / "training-jobs")
        self.warm: WarmContainer | None = None
        if warm_start:
            self.warm = WarmContainer(python, {k: os.environ[k] for k in PASSED_THROUGH_ENV if k in os.environ})
            try:
                self.warm.start()
            except OSError as err:
                log.warning("no warm framework process (%s): every job starts a new Python process", err)
        self.moto_url, self.python, self.account, self.stop_grace = moto_url, python, account, stop_grace
        self.slots = threading.Semaphore(max_concurrent_jobs)
        self.runs: dict[str, TrainingRun] = {}
        self.operations = {
            "CreateTrainingJob": self.create_training_job,
            "DescribeTrainingJob": lambda req, region: self.store.get(self._name(req)),
            "ListTrainingJobs": lambda req, region: list_jobs(self.store, req),
            "StopTrainingJob": self.stop_training_job,
        }

    @staticmethod
    def _name(req: dict) -> str:
        name = req.get("TrainingJobName")
        if not name:
            raise ApiError(
                "ValidationException",
                "1 validation error detected: Value null at 'trainingJobName' failed to satisfy constraint: Member must not be null",
            )
        return name

    def create_training_job(self, req: dict, region: str) -> dict:
        validate_create(req)
        name = req["TrainingJobName"]
        rec = self.store.create(req, f"arn:aws:sagemaker:{region}:{self.account}:training-job/{name.lower()}")
        run = TrainingRun(
            self.store,
            name,
            {"endpoint_url": self.moto_url, "region": region},
            self.python,
            self.slots,
            self.stop_grace,
            self.warm,
        )
        self.runs[name.lower()] = run
        run.start()
        return {"TrainingJobArn": rec["TrainingJobArn"]}

    def stop_training_job(self, req: dict, region: str) -> dict:
        name = self._name(req)
        self.store.request_stop(name)
        run = self.runs.get(name.lower())
        if run:
            run.stop()
        return {}

    def shutdown(self, timeout: float = 30) -> None:
        """Stop running jobs (their records end Stopped), so no training process outlives the server."""
        for run in self.runs.values():
            if run.is_alive():
                run.stop_grace = min(run.stop_grace, 5)
                run.stop()
        for run in self.runs.values():
            run.join(timeout)
        if self.warm is not None:
            self.warm.stop()


MAX_HEADERS = 100
MAX_LINE = 65536
_REASONS = {status.value: status.phrase for status in HTTPStatus}


class _Headers:
    """A request's headers: case-insensitive get/[]/in (the first value of a name, as email.message does)
    and items() in the order and spelling sent. http.client.parse_headers (the email package's parser)
    costs ~50-100 us a request; this is a dict look-up."""

    __slots__ = ("_pairs", "_by_name")

    def __init__(self, pairs: list[tuple[str, str]]):
        self._pairs = pairs
        self._by_name: dict[str, str] = {}
        for k, v in pairs:
            self._by_name.setdefault(k.lower(), v)

    def get(self, name: str, default=None):
        return self._by_name.get(name.lower(), default)

    def __getitem__(self, name: str):
        return self._by_name.get(name.lower())

    def __contains__(self, name: str) -> bool:
        return name.lower() in self._by_name

    def items(self) -> list[tuple[str, str]]:
        return list(self._pairs)

    def keys(self) -> list[str]:
        return [k for k, _ in self._pairs]


class _Date:
    """The Date header, formatted once a second rather than per reply."""

    def __init__(self):
        self.second, self.text = -1, ""

    def __call__(self) -> str:
        now = int(time.time())
        if now != self.second:
            self.second, self.text = now, email.utils.formatdate(now, usegmt=True)
        return self.text


_date = _Date()


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # replies are one write, but an error page of the base class is two

    server: _Server

    def log_message(self, fmt: str, *args: Any) -> None:
        log.debug("%s " + fmt, self.address_string(), *args)

    def parse_request(self) -> bool:
        """The request line and headers of a plain HTTP/1.x request, parsed on the short path; anything
        unusual (HTTP/0.9, another version, a malformed line) goes to the base class, which answers it."""
        line = self.raw_requestline
        words = line.split()
        if len(words) != 3 or words[2] not in (b"HTTP/1.1", b"HTTP/1.0"):
            return super().parse_request()
        self.requestline = str(line, "iso-8859-1").rstrip("\r\n")
        command, path, version = (str(w, "iso-8859-1") for w in words)
        self.command, self.request_version = command, version
        self.path = "/" + path.lstrip("/") if path.startswith("//") else path
        pairs = []
        while True:
            h = self.rfile.readline(MAX_LINE + 1)
            if len(h) > MAX_LINE:
                self.close_connection = True
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Line too long")
                return False
            if h in (b"\r\n", b"\n", b""):
                break
            if len(pairs) >= MAX_HEADERS:
                self.close_connection = True
                self.send_error(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "Too many headers")
                return False
            k, _, v = str(h, "iso-8859-1").partition(":")
            pairs.append((k.strip(), v.strip()))
        self.headers = headers = _Headers(pairs)
        connection = (headers.get("Connection") or "").lower()
        self.close_connection = version == "HTTP/1.0" and connection != "keep-alive" or connection == "close"
        if (headers.get("Expect") or "").lower() == "100-continue" and version == "HTTP/1.1":
            return self.handle_expect_100()
        return True

    def _reply(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        """Status line, headers and body in one write (one segment, one wake-up of the client)."""
        self.log_request(status, len(body))
        headers = headers or {"Content-Type": CONTENT_TYPE, "x-amzn-RequestId": str(uuid.uuid4())}
        head = [
            f"HTTP/1.1 {status} {_REASONS.get(status, '')}\r\nServer: {self.version_string()}\r\nDate: {_date()}\r\n"
        ]
        for k, v in headers.items():
            head.append(f"{k}: {v}\r\n")
        head.append(f"Content-Length: {len(body)}\r\n\r\n")
        self.wfile.write("".join(head).encode("latin-1", "strict") + body)

    def do_GET(self) -> None:  # health check for the stack's wait loop; /local/endpoints: the model servers
        if self.path.startswith("/local/endpoints"):
            self._reply(200, json.dumps(self.server.serving.hosting.status()).encode())
            return
        self._reply(200, json.dumps({"service": "sagemaker-local", "status": "ok"}).encode())

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path.startswith("/endpoints/"):
            self._invoke_endpoint(body)
            return
        target = self.headers.get("X-Amz-Target", "").removeprefix("SageMaker.")
        operation = self.server.plane.operations.get(target) or self.server.serving.hosting.operations.get(target)
        if operation is None:
            self._forward(body)
            return
        try:
            try:
                request = json.loads(body or b"{}")
            except ValueError:
                raise ApiError("SerializationException", "Request body is not valid JSON.") from None
            status, result = 200, operation(request, self._region())
        except ApiError as err:
            status, result = err.status, {"__type": err.code, "message": err.message}
        except Exception as err:
            log.exception("%s failed", target)
            status, result = 500, {"__type": "InternalFailure", "message": str(err)}
        self._reply(status, json.dumps(result).encode())

    def _invoke_endpoint(self, body: bytes) -> None:
        name, _, rest = self.path.removeprefix("/endpoints/").partition("/")
        if rest.split("?")[0] != "invocations":
            self._reply(404, json.dumps({"message": "Not Found"}).encode(), {"Content-Type": "application/json"})
            return
        status, headers, out = self.server.serving.runtime.invoke(
            urllib.parse.unquote(name), self._region(), body, self.headers
        )
        self._reply(status, out, headers)

    def _region(self) -> str:
        """The region the caller signed for (Credential=<key>/<date>/<region>/sagemaker/aws4_request)."""
        m = re.search(r"Credential=[^/]+/\d+/([^/]+)/", self.headers.get("Authorization", ""))
        return m.group(1) if m else self.server.default_region

    def _forward(self, body: bytes) -> None:
        url = urllib.parse.urlsplit(self.server.plane.moto_url)
        # Host stays the caller's: it is signed, and moto checks the signature when IAM is enforced.
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP or k.lower() == "host"}
        conn = http.client.HTTPConnection(url.hostname, url.port, timeout=120)
        try:
            conn.request("POST", self.path, body=body, headers=headers)
            resp = conn.getresponse()
            data = resp.read()
            out = {
                k: v
                for k, v in resp.getheaders()
                if k.lower() not in HOP_BY_HOP and k.lower() not in ("server", "date")
            }
            self._reply(resp.status, data, out)
        except OSError as err:
            self._reply(
                503, json.dumps({"__type": "ServiceUnavailable", "message": f"moto unreachable: {err}"}).encode()
            )
        finally:
            conn.close()


class ServingPlane:
    """Hosting control plane, runtime, and the background writers of capture, metrics and logs."""

    def __init__(self, state_dir: Path, moto_url: str, python: str, account: str, warm, flush_seconds: float, **limits):
        client = partial(aws_client, endpoint_url=moto_url)
        self.hosting = HostingControlPlane(
            state_dir, account, lambda service, region: client(service, region=region), python, warm, **limits
        )
        self.capture = CaptureWriter(lambda region: client("s3", region=region), interval=flush_seconds)
        self.metrics = EndpointMetrics(lambda region: client("cloudwatch", region=region))
        self.runtime = Runtime(self.hosting, self.capture, self.metrics)
        self.flusher = Flusher(flush_seconds, [self.metrics.flush, self.hosting.flush_logs])
        self.flusher.start()

    def flush(self) -> None:
        """Write captured data, metrics and logs now (they are otherwise written every flush_seconds)."""
        self.capture.flush()
        self.flusher.flush()

    def shutdown(self) -> None:
        self.hosting.shutdown()
        self.capture.close()
        self.flusher.stop()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    plane: TrainingControlPlane
    serving: ServingPlane
    default_region: str


class LocalSageMaker:
    """A running control plane: `url` for boto3's endpoint_url, `shutdown()` to stop it and its jobs."""

    def __init__(self, httpd: _Server, thread: threading.Thread):
        self.httpd, self.thread = httpd, thread
        host, port = httpd.server_address[:2]
        self.url = f"http://{host}:{port}"
        self.plane = httpd.plane
        self.serving = httpd.serving

    def flush(self) -> None:
        self.serving.flush()

    def shutdown(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.serving.shutdown()
        self.plane.shutdown()
        self.thread.join(10)


def start_server(
    port: int,
    moto_url: str,
    state_dir: str | Path,
    host: str = "127.0.0.1",
    python: str = sys.executable,
    region: str = "us-east-1",
    account: str = "123456789012",
    max_concurrent_jobs: int = 2,
    stop_grace_seconds: float = 120,
    warm_start: bool = True,
    flush_seconds: float = 5,
    max_model_servers: int = 16,
) -> LocalSageMaker:
    """Serve on host:port in a background thread (port 0 picks a free one); jobs and model servers run
    with `python`, forked from a warm framework process unless warm_start is False; captured data,
    endpoint metrics and model-server logs are written every flush_seconds."""
    httpd = _Server((host, port), _Handler)
    httpd.plane = TrainingControlPlane(
        Path(state_dir), moto_url.rstrip("/"), python, account, max_concurrent_jobs, stop_grace_seconds, warm_start
    )
    httpd.serving = ServingPlane(
        Path(state_dir),
        moto_url.rstrip("/"),
        python,
        account,
        httpd.plane.warm,
        flush_seconds,
        max_model_servers=max_model_servers,
    )
    httpd.default_region = region
    thread = threading.Thread(target=httpd.serve_forever, name="sagemaker-local", daemon=True)
    thread.start()
    return LocalSageMaker(httpd, thread)
