"""A moto server that keeps its state across restarts and crashes.

    python -m embedded_stack.moto_state --port 15500 --state .local/aws

moto keeps everything in memory. This wrapper adds two files in the state folder:

- ``snapshot-<n>.pickle``: every moto backend (S3, DynamoDB, SageMaker, SNS, SQS, ...) pickled
  whole, written on SIGTERM (`make down`) and after a start-up that replayed a log. A clean
  down/up restores the exact state, random ids, timestamps and all.
- ``wal-<n>.log``: every successful mutating request since snapshot n-1, appended before the
  response is sent (one ``write`` under a lock, so requests are logged in the order moto ran
  them). After a crash (SIGKILL, OOM) start-up loads the newest snapshot and replays its log.

Guarantee: a mutation moto acknowledged is in the log's page cache, so it survives a crash of
the process; it is not fsynced per request, so a power loss can lose the last seconds.
Replay after a crash is exact for S3 (multipart upload ids are mapped), DynamoDB, SageMaker
model packages, SNS and CloudWatch. SQS messages consumed (received/deleted) since the last
snapshot reappear, the at-least-once delivery SQS itself promises; timestamps are those of the
replay. A snapshot from another moto version is refused with an error, never dropped silently.

Measured (2 shared cores; 280 objects / 49 MiB in S3, 15 model packages, 200 DynamoDB items):
start 0.9 s empty, 1.4 s from the snapshot (0.5 s to load it), 3.5 s after a crash (2.5 s to
replay 522 requests); the snapshot on SIGTERM takes 0.3 s; snapshot and log are ~51 MB each.

Why not moto's own recorder (moto/moto_api/_internal/recorder): it logs every request, reads
included, as base64 JSON lines from several server threads without a lock (a large upload can
interleave with another record), replays over HTTP once the server already answers, and
replays everything on top of whatever state exists; S3 multipart uploads do not survive it
(their bodies are logged, but CreateMultipartUpload returns a new random UploadId on replay, so
the logged UploadPart/Complete calls fail), and a record torn by a crash stops the replay. An
S3 server with its own storage would cover S3 only, while the registry, DynamoDB and SNS/SQS
would still need this.

IAM (``--enforce-iam``): moto checks every request against the caller's IAM policies when its
INITIAL_NO_AUTH_ACTION_COUNT is 0, as set here before the server answers. The first identity
cannot be made over the API then, so start-up creates a bootstrap administrator in-process
(``admin.json`` in the state folder, 0600; kept across restarts) that the stack provisions with.
moto resolves a resource for S3 (bucket/key ARNs) and sts:AssumeRole only; for the other
services it checks against resource "*", which no resource-scoped statement matches, so here
those calls are checked on the action: allowed when an Allow statement names it (whatever its
resources and conditions), refused by a Deny of all resources. HeadBucket is authorized as
s3:ListBucket, as AWS does (moto asks for an "s3:HeadBucket" no policy grants), and CloudWatch's
actions as "cloudwatch:..." (moto names them after the signing name, "monitoring:...").
``/moto-api/reset-auth`` (which would switch enforcement off for anyone) is refused.
"""

from __future__ import annotations

import argparse
import copyreg
import io
import json
import os
import pickle
import re
import signal
import sys
import threading
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

from embedded_stack.paths import private_dir, write_private

# moto's SQS queues and some other models hold locks; a restored lock starts released.
copyreg.pickle(type(threading.RLock()), lambda _lock: (threading.RLock, ()))
copyreg.pickle(type(threading.Lock()), lambda _lock: (threading.Lock, ()))

READ_PREFIXES = ("Get", "List", "Describe", "Head", "Query", "Scan", "BatchGet", "Search")
# SQS consumption is not logged: after a crash those messages are delivered again.
UNLOGGED_OPERATIONS = {
    "ReceiveMessage",
    "DeleteMessage",
    "DeleteMessageBatch",
    "ChangeMessageVisibility",
    "ChangeMessageVisibilityBatch",
}
# What a request needs to be run again through the WSGI app.
ENVIRON_KEYS = (
    "REQUEST_METHOD",
    "PATH_INFO",
    "QUERY_STRING",
    "RAW_URI",
    "REQUEST_URI",
    "CONTENT_TYPE",
    "SERVER_NAME",
    "moto.preserved_header_names",  # S3 metadata keys with underscores (moto's request handler)
)
UPLOAD_ID = re.compile(rb"<UploadId>([^<]+)</UploadId>")
ADMIN_USER = "mlops-local-admin"
ADMIN_FILE = "admin.json"
ADMIN_POLICY = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}]})


class StateError(RuntimeError):
    """Saved state that cannot be loaded; start-up stops instead of discarding it."""


def moto_version() -> str:
    from importlib.metadata import version

    return version("moto")


def operation_name(environ: dict[str, Any], body: bytes) -> str:
    """The AWS operation of a request, from whichever protocol carried it ('' when unknown)."""
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    if target:
        return target.rsplit(".", 1)[-1]
    path = environ.get("PATH_INFO", "")
    if "/operation/" in path:  # smithy rpc-v2-cbor (CloudWatch)
        return path.rsplit("/operation/", 1)[-1].strip("/")
    if environ.get("CONTENT_TYPE", "").startswith("application/x-www-form-urlencoded"):
        action = parse_qs(body.decode("latin-1")).get("Action")
        if action:
            return action[0]
    action = parse_qs(environ.get("QUERY_STRING", "")).get("Action")
    return action[0] if action else ""


def is_logged(environ: dict[str, Any], body: bytes) -> bool:
    """Mutations only: reads change nothing, SQS consumption is left out (see the module doc)."""
    method = environ.get("REQUEST_METHOD", "GET")
    path = environ.get("PATH_INFO", "")
    if path.startswith("/moto-api/"):
        return path.startswith("/moto-api/reset")
    if method in ("GET", "HEAD", "OPTIONS"):
        return False
    op = operation_name(environ, body)
    return not (op.startswith(READ_PREFIXES) or op in UNLOGGED_OPERATIONS)


# --- snapshots ----------------------------------------------------------------------------------


def _backend_dicts() -> dict[tuple[str, str], Any]:
    """Each moto backend in use, named by the module attribute that holds it."""
    from moto.core.base_backend import BackendDict

    named = {}
    for bd in BackendDict._instances:
        module = sys.modules[bd.backend.__module__]
        for attr, value in vars(module).items():
            if value is bd:
                named[(module.__name__, attr)] = bd
                break
    return named


def _extras(bd) -> dict[str, Any]:
    """State a BackendDict keeps in attributes (S3's bucket name -> account index)."""
    return {k: v for k, v in vars(bd).items() if k not in ("backend", "_id")}


def dump_backends() -> bytes:
    state = {key: (dict(bd), _extras(bd)) for key, bd in _backend_dicts().items()}
    return pickle.dumps({"moto": moto_version(), "backends": state}, protocol=pickle.HIGHEST_PROTOCOL)


def load_backends(blob: bytes, source: Path) -> None:
    import importlib

    from moto.core.base_backend import BackendDict

    saved = pickle.loads(blob)
    if saved.get("moto") != moto_version():
        raise StateError(
            f"{source} was written by moto {saved.get('moto')}, this is moto {moto_version()}: install "
            f"moto {saved.get('moto')} to read it, or delete the folder (`make clean`) to start empty"
        )
    for (module_name, attr), (accounts, extras) in saved["backends"].items():
        bd = getattr(importlib.import_module(module_name), attr)
        dict.clear(bd)
        dict.update(bd, accounts)
        vars(bd).update(extras)
        if bd not in BackendDict._instances:
            BackendDict._instances.append(bd)


# --- the log --------------------------------------------------------------------------------------


def log_record(environ: dict[str, Any], body: bytes, upload_id: str | None) -> bytes:
    """One JSON header line, then the body's raw bytes (its length is in the header)."""
    head = {k: environ[k] for k in ENVIRON_KEYS if k in environ}
    head["headers"] = {k: v for k, v in environ.items() if k.startswith("HTTP_") or k == "CONTENT_LENGTH"}
    head["body_len"] = len(body)
    if upload_id:
        head["upload_id"] = upload_id
    return json.dumps(head).encode() + b"\n" + body


def read_log(path: Path) -> list[tuple[dict, bytes]]:
    """The complete records of a log; a record torn by a crash mid-write ends it."""
    data = path.read_bytes()
    records, pos = [], 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl < 0:
            break
        try:
            head = json.loads(data[pos:nl])
        except ValueError:
            break
        body = data[nl + 1 : nl + 1 + head["body_len"]]
        if len(body) < head["body_len"]:
            break
        records.append((head, body))
        pos = nl + 1 + head["body_len"]
    return records


def _run(app, environ: dict[str, Any]) -> tuple[str, list, bytes]:
    """One request through a WSGI app, its response collected whole."""
    response: dict[str, Any] = {}

    def start_response(status, headers, exc_info=None):
        response.update(status=status, headers=headers)
        return lambda _chunk: None

    result = app(environ, start_response)
    try:
        content = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return response["status"], response["headers"], content


def replay(app, records: list[tuple[dict, bytes]]) -> int:
    """Run logged requests again, in order; multipart upload ids of the log map to the new ones."""
    from werkzeug.test import EnvironBuilder

    upload_ids: dict[str, str] = {}
    for head, body in records:
        environ = EnvironBuilder(path="/").get_environ()
        for key in (*ENVIRON_KEYS, "headers"):
            if key == "headers":
                environ.update(head["headers"])
            elif key in head:
                environ[key] = head[key]
        for old, new in upload_ids.items():
            for key in ("QUERY_STRING", "RAW_URI", "REQUEST_URI"):
                if key in environ:
                    environ[key] = environ[key].replace(f"uploadId={old}", f"uploadId={new}")
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        _status, _headers, content = _run(app, environ)
        if head.get("upload_id") and (m := UPLOAD_ID.search(content)):
            upload_ids[head["upload_id"]] = m.group(1).decode()
    return len(records)


# --- IAM ---------------------------------------------------------------------------------------


def _matches(patterns, value: str) -> bool:
    from moto.iam.access_control import IAMPolicyStatement

    return any(IAMPolicyStatement._match(p, value) for p in ([patterns] if isinstance(patterns, str) else patterns))


def action_level_verdict(documents: list[dict], action: str) -> bool:
    """Whether `action` is allowed when the resource is unknown: an Allow naming it, and no Deny of everything."""
    allowed = False
    for doc in documents:
        statements = doc["Statement"] if isinstance(doc["Statement"], list) else [doc["Statement"]]
        for st in statements:
            named = (
                not _matches(st["NotAction"], action) if "NotAction" in st else _matches(st.get("Action", []), action)
            )
            if not named:
                continue
            if st["Effect"] == "Deny":
                if "Condition" not in st and _matches(st.get("Resource", "*"), "*"):
                    return False
            else:
                allowed = True
    return allowed


# S3 operations moto names by the API call where AWS authorizes another action.
S3_AUTHORIZED_AS = {"s3:HeadBucket": "s3:ListBucket"}
# moto prefixes an action with the service of the request's signature; IAM names some services
# otherwise (CloudWatch signs as "monitoring", its actions are "cloudwatch:...").
IAM_SERVICE_PREFIX = {"monitoring": "cloudwatch"}


def install_action_level_check() -> None:
    """Non-S3 services: check the action where moto has no resource (see the module doc); S3: AWS's action names."""
    from moto.iam import access_control

    if getattr(access_control.IAMRequest, "action_level", False):
        return

    class S3RequestAsAws(access_control.S3IAMRequest):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self._action = S3_AUTHORIZED_AS.get(self._action, self._action)

    access_control.S3IAMRequest = S3RequestAsAws

    class ActionLevelIAMRequest(access_control.IAMRequest):
        action_level = True

        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            service, _, name = self._action.partition(":")
            self._action = f"{IAM_SERVICE_PREFIX.get(service, service)}:{name}"

        def check_action_permitted(self, resource: str) -> None:
            if resource != "*" or self._action == "sts:GetCallerIdentity":
                return super().check_action_permitted(resource)
            documents = [access_control.IAMPolicy(p)._policy_json for p in self._access_key.collect_policies()]
            if not action_level_verdict(documents, self._action):
                self._raise_access_denied()

    access_control.IAMRequest = ActionLevelIAMRequest


def ensure_admin(state: Path, account_id: str = "123456789012") -> bool:
    """The bootstrap administrator and its key in state/admin.json; True when something was created."""
    from moto.iam.models import iam_backends

    iam = iam_backends[account_id]["aws"]
    changed = False
    if ADMIN_USER not in iam.users:
        iam.create_user("us-east-1", ADMIN_USER)
        changed = True
    user = iam.users[ADMIN_USER]
    if user.policies.get("administrator") != ADMIN_POLICY:
        iam.put_user_policy(ADMIN_USER, "administrator", ADMIN_POLICY)
        changed = True
    path = state / ADMIN_FILE
    saved = json.loads(path.read_text()) if path.exists() else {}
    keys = {k.access_key_id: k.secret_access_key for k in user.access_keys}
    if not saved or keys.get(saved["access_key_id"]) != saved["secret_access_key"]:
        for key_id in keys:
            iam.delete_access_key(key_id, ADMIN_USER)
        key = iam.create_access_key(ADMIN_USER)
        write_private(
            path, json.dumps({"access_key_id": key.access_key_id, "secret_access_key": key.secret_access_key})
        )
        changed = True
    return changed


# --- the server -----------------------------------------------------------------------------------


class PersistentMoto:
    """moto's WSGI app behind a recorder of mutations, with snapshot and recovery."""

    def __init__(self, state: Path, enforce_iam: bool = False):
        from moto.server import DomainDispatcherApplication, create_backend_app

        self.state = state
        self.enforce_iam = enforce_iam
        self.app = DomainDispatcherApplication(create_backend_app)
        self.lock = threading.Lock()  # mutations run one at a time, in log order
        self.generation = 0
        self.log_fd: int | None = None

    def _files(self, prefix: str, suffix: str) -> dict[int, Path]:
        out = {}
        for p in self.state.glob(f"{prefix}-*{suffix}"):
            stem = p.name[len(prefix) + 1 : -len(suffix)]
            if stem.isdigit():
                out[int(stem)] = p
        return out

    def recover(self) -> dict[str, float]:
        """Newest snapshot, then every log written after it; a new snapshot when a log was replayed."""
        import time

        t0 = time.monotonic()
        private_dir(self.state)
        snapshots = self._files("snapshot", ".pickle")
        self.generation = max(snapshots, default=0)
        if snapshots:
            path = snapshots[self.generation]
            load_backends(path.read_bytes(), path)
        t_snapshot = time.monotonic() - t0
        replayed = 0
        from moto.core.authorization import disable_iam_authentication

        with disable_iam_authentication():  # the log holds requests moto already authorized
            for n, path in sorted(self._files("wal", ".log").items()):
                if n > self.generation:
                    replayed += replay(self.app, read_log(path))
                    self.generation = n
        admin_created = False
        if self.enforce_iam:
            from moto import settings

            install_action_level_check()
            admin_created = ensure_admin(self.state)
            settings.INITIAL_NO_AUTH_ACTION_COUNT = 0
        if replayed or admin_created:
            self.snapshot(self.generation)
        self._open_log()
        return {"snapshot_s": round(t_snapshot, 3), "replayed": replayed, "total_s": round(time.monotonic() - t0, 3)}

    def snapshot(self, generation: int) -> None:
        """Snapshot n covers the logs up to n; older files go only once it is on disk."""
        write_private(self.state / f"snapshot-{generation}.pickle", dump_backends())
        self.generation = generation
        for n, path in self._files("snapshot", ".pickle").items():
            if n < generation:
                path.unlink()
        for n, path in self._files("wal", ".log").items():
            if n <= generation:
                path.unlink()

    def _open_log(self) -> None:
        path = self.state / f"wal-{self.generation + 1}.log"
        self.log_fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def __call__(self, environ, start_response):
        if self.enforce_iam and environ.get("PATH_INFO", "").startswith("/moto-api/reset-auth"):
            start_response("403 Forbidden", [("Content-Type", "application/json")])
            return [b'{"Error": "IAM enforcement is on for this stack; it cannot be reset over HTTP"}']
        length = int(environ.get("CONTENT_LENGTH") or 0)
        if length:
            body = environ["wsgi.input"].read(length)
        elif environ.get("wsgi.input_terminated"):  # chunked transfer encoding, decoded by werkzeug
            body = environ["wsgi.input"].read()
        else:
            body = b""
        environ["wsgi.input"] = io.BytesIO(body)
        environ["CONTENT_LENGTH"] = str(len(body))
        if not is_logged(environ, body):
            return self.app(environ, start_response)
        with self.lock:
            status, headers, content = _run(self.app, environ)
            if status.startswith("2"):
                upload_id = None
                if "uploads" in parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True):
                    m = UPLOAD_ID.search(content)
                    upload_id = m.group(1).decode() if m else None
                os.write(self.log_fd, log_record(environ, body, upload_id))
        start_response(status, headers)
        return [content]

    def shutdown(self) -> None:
        """Called on SIGTERM: wait for the running mutation, snapshot, stop."""
        with self.lock:
            self.snapshot(self.generation + 1)
            os.close(self.log_fd)
            self.log_fd = None


def main(argv: list[str] | None = None) -> None:
    from moto.server import MotoRequestHandler
    from werkzeug.serving import make_server

    parser = argparse.ArgumentParser(prog="python -m embedded_stack.moto_state", description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state", type=Path, required=True, help="folder of snapshots and logs")
    parser.add_argument("--enforce-iam", action="store_true", help="check every request against IAM policies")
    args = parser.parse_args(argv)
    os.environ.setdefault("MOTO_PORT", str(args.port))
    server_app = PersistentMoto(args.state, enforce_iam=args.enforce_iam)
    try:
        timing = server_app.recover()
    except StateError as err:
        print(f"error: {err}", file=sys.stderr, flush=True)
        sys.exit(2)
    print(f"moto state loaded from {args.state}: {json.dumps(timing)}", flush=True)
    server = make_server(args.host, args.port, server_app, threaded=True, request_handler=MotoRequestHandler)

    def stop(_signum, _frame):
        try:
            server_app.shutdown()
        except Exception as err:  # the log is intact: the next start replays it
            print(f"moto state not snapshotted ({err!r}); the next start replays the log", flush=True)
            os._exit(1)
        print("moto state saved", flush=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    server.serve_forever()


if __name__ == "__main__":
    main()
