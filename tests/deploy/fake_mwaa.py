"""A moto server with an MWAA control plane in front of it, for the deploy tests.

moto 5.2.5 has no MWAA backend (no moto/mwaa; a request signed for `airflow` gets a 500 from
moto's dispatcher). FakeMwaa is a WSGI layer on the same port: requests signed for the `airflow`
service (GetEnvironment, UpdateEnvironment, InvokeRestApi) are answered here in MWAA's rest-json
wire format, everything else goes to moto. So boto3 talks HTTP to one endpoint, set once in
AWS_ENDPOINT_URL, as the deploy does against AWS.

The update state machine is driven by GetEnvironment calls, not by time: after UpdateEnvironment
the next `update_polls` reads say UPDATING, then AVAILABLE (or UPDATE_FAILED with a LastUpdate
error and the previous versions restored, when `fail_next_update` is set).
"""

from __future__ import annotations

import json
import threading
import time
from datetime import UTC, datetime
from urllib.parse import unquote

from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

UPDATABLE = (
    "PluginsS3Path",
    "PluginsS3ObjectVersion",
    "RequirementsS3Path",
    "RequirementsS3ObjectVersion",
    "StartupScriptS3Path",
    "StartupScriptS3ObjectVersion",
    "DagS3Path",
)


class FakeMwaa:
    def __init__(self, app=None):
        self.app = app
        self.lock = threading.Lock()
        self.environments: dict[str, dict] = {}
        self.dags: dict[str, dict[str, dict]] = {}  # environment -> dag_id -> DAG (REST API shape)
        self.updates: list[dict] = []  # UpdateEnvironment requests
        self.rest_calls: list[dict] = []  # InvokeRestApi requests
        self.update_polls = 2
        self.fail_next_update: dict | None = None
        self._pending: dict[str, dict] = {}

    # --- test set-up -------------------------------------------------------------------------

    def add_environment(self, name: str, bucket: str, region: str = "eu-west-1", **fields) -> dict:
        env = {
            "Name": name,
            "Arn": f"arn:aws:airflow:{region}:123456789012:environment/{name}",
            "Status": "AVAILABLE",
            "AirflowVersion": "3.3.1",
            "SourceBucketArn": f"arn:aws:s3:::{bucket}",
            "DagS3Path": "dags/",
            "WebserverAccessMode": "PRIVATE_ONLY",
            "LastUpdate": {"Status": "SUCCESS", "CreatedAt": time.time() - 3600},
            **fields,
        }
        with self.lock:
            self.environments[name] = env
            self.dags.setdefault(name, {})
        return env

    def add_dag(self, environment: str, dag_id: str, *, is_paused: bool = False) -> None:
        with self.lock:
            self.dags.setdefault(environment, {})[dag_id] = {"dag_id": dag_id, "is_paused": is_paused}

    # --- WSGI --------------------------------------------------------------------------------

    def __call__(self, environ, start_response):
        if "/airflow/aws4_request" not in environ.get("HTTP_AUTHORIZATION", ""):
            return self.app(environ, start_response)
        method = environ["REQUEST_METHOD"]
        path = unquote(environ.get("PATH_INFO", ""))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = json.loads(environ["wsgi.input"].read(length) or b"{}") if length else {}
        parts = path.strip("/").split("/")
        with self.lock:
            if parts[0] == "environments" and len(parts) == 2 and method == "GET":
                status, payload, error = self._get(parts[1])
            elif parts[0] == "environments" and len(parts) == 2 and method == "PATCH":
                status, payload, error = self._update(parts[1], body)
            elif parts[0] == "restapi" and len(parts) == 2 and method == "POST":
                status, payload, error = self._rest(parts[1], body)
            else:
                status, payload, error = (
                    404,
                    {"message": f"fake MWAA has no {method} {path}"},
                    "ResourceNotFoundException",
                )
        headers = [("Content-Type", "application/json")]
        if error:
            headers.append(("x-amzn-ErrorType", error))
        start_response(f"{status} {'OK' if status < 400 else 'Error'}", headers)
        return [json.dumps(payload).encode()]

    def _missing(self, name: str):
        return 404, {"message": f"Environment {name} not found"}, "ResourceNotFoundException"

    def _get(self, name: str):
        env = self.environments.get(name)
        if env is None:
            return self._missing(name)
        pending = self._pending.get(name)
        if pending is not None:
            if pending["polls"] > 0:
                pending["polls"] -= 1
            else:
                del self._pending[name]
                if pending["fail"]:
                    env.update(pending["previous"])
                    env["Status"] = "UPDATE_FAILED"
                    env["LastUpdate"] = {**env["LastUpdate"], "Status": "FAILED", "Error": pending["fail"]}
                else:
                    env["Status"] = "AVAILABLE"
                    env["LastUpdate"] = {**env["LastUpdate"], "Status": "SUCCESS"}
        return 200, {"Environment": env}, None

    def _update(self, name: str, body: dict):
        env = self.environments.get(name)
        if env is None:
            return self._missing(name)
        if env["Status"] not in ("AVAILABLE", "UPDATE_FAILED"):
            return 400, {"message": f"Environment {name} is {env['Status']}"}, "ValidationException"
        self.updates.append({"Name": name, **body})
        previous = {k: env.get(k) for k in UPDATABLE}
        env.update({k: v for k, v in body.items() if k in UPDATABLE})
        env["Status"] = "UPDATING"
        env["LastUpdate"] = {"Status": "PENDING", "CreatedAt": time.time(), "Source": "Customer"}
        self._pending[name] = {"polls": self.update_polls, "fail": self.fail_next_update, "previous": previous}
        self.fail_next_update = None
        return 200, {"Arn": env["Arn"]}, None

    def _rest(self, name: str, body: dict):
        if name not in self.environments:
            return self._missing(name)
        self.rest_calls.append(body)
        method, path, request = body.get("Method"), body.get("Path", ""), body.get("Body") or {}
        parts = path.strip("/").split("/")
        dags = self.dags.get(name, {})

        def airflow(status: int, response):
            if status >= 400:
                return 400, {"RestApiStatusCode": status, "RestApiResponse": response}, "RestApiClientException"
            return 200, {"RestApiStatusCode": status, "RestApiResponse": response}, None

        if method == "GET" and parts == ["importErrors"]:
            return airflow(200, {"import_errors": [], "total_entries": 0})
        if parts[0] != "dags" or len(parts) < 2:
            return airflow(404, {"detail": "Not Found"})
        dag = dags.get(parts[1])
        if dag is None:
            return airflow(404, {"detail": f"The Dag with ID: `{parts[1]}` was not found"})
        if method == "GET" and len(parts) == 2:
            return airflow(200, {**dag, "last_parsed_time": datetime.now(UTC).isoformat()})
        if method == "POST" and parts[2:] == ["dagRuns"]:
            if "logical_date" not in request:  # Airflow 3's TriggerDAGRunPostBody requires the field
                return airflow(422, {"detail": [{"type": "missing", "loc": ["body", "logical_date"]}]})
            run_id = f"manual__{datetime.now(UTC).isoformat()}"
            return airflow(
                200, {"dag_run_id": run_id, "dag_id": parts[1], "state": "queued", "conf": request.get("conf")}
            )
        return airflow(405, {"detail": "Method Not Allowed"})


class MotoWithMwaa(ThreadedMotoServer):
    """ThreadedMotoServer whose WSGI app is FakeMwaa in front of moto's dispatcher."""

    def __init__(self, fake: FakeMwaa, **kwargs):
        super().__init__(**kwargs)
        self.fake = fake

    def _server_entry(self) -> None:
        self.fake.app = DomainDispatcherApplication(create_backend_app)
        self._server = make_server(self._ip_address, self._port, self.fake, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()
