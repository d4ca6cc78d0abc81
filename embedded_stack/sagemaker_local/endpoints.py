"""Models, endpoint configs and endpoints: the SageMaker hosting control plane, run on this machine.

Records are the Describe* responses (one JSON file each under `<state>/serving/`), checked against
botocore's service model like training jobs are. An endpoint deploys a snapshot of its config and
models (as SageMaker does: deleting either later does not touch a running endpoint): Creating ->
InService once every variant's servers answer /ping, or Failed with the server's own error text.
UpdateEndpoint starts the new config's servers beside the old ones, switches traffic when they are
healthy, drains the old ones, then reports InService on the new config; an update that fails keeps
the old config InService with a FailureReason (SageMaker's rollback). After a restart of the plane,
InService endpoints are deployed again from their snapshot.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import random
import shutil
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

from embedded_stack.sagemaker_local.fleet import ModelLoadError, VariantFleet
from embedded_stack.sagemaker_local.jobs import ApiError, _check, _service_model, validation

log = logging.getLogger(__name__)

DEFAULT_STARTUP_TIMEOUT = 600  # ContainerStartupHealthCheckTimeoutInSeconds' default ceiling here


def validate(operation: str, request: dict) -> None:
    errors: list[str] = []
    _check(_service_model().operation_model(operation).input_shape, request, "", errors)
    if errors:
        n = len(errors)
        raise validation(f"{n} validation error{'s' if n > 1 else ''} detected: " + "; ".join(errors))


def _members(operation: str) -> set[str]:
    return set(_service_model().operation_model(operation).output_shape.members)


def _public(rec: dict) -> dict:
    return json.loads(json.dumps({k: v for k, v in rec.items() if not k.startswith("_")}))


class RecordStore:
    """Records of one kind in memory, each also in `<root>/<name>.json`."""

    def __init__(self, root: Path):
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self.lock = threading.RLock()
        self.records: dict[str, dict] = {}
        for f in sorted(root.glob("*.json")):
            rec = json.loads(f.read_text())
            self.records[rec["_name"].lower()] = rec

    def save(self, rec: dict) -> None:
        path = self.root / f"{rec['_name']}.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(rec, indent=1, sort_keys=True))
        os.replace(tmp, path)
        self.records[rec["_name"].lower()] = rec

    def delete(self, name: str) -> None:
        self.records.pop(name.lower(), None)
        (self.root / f"{name}.json").unlink(missing_ok=True)

    def get(self, name: str) -> dict | None:
        return self.records.get((name or "").lower())


def _list(records: list[dict], request: dict, name_key: str, summary: tuple[str, ...], out_key: str, status=None):
    """List* with NameContains, creation-time filters, SortBy Name|CreationTime, paging."""
    contains = (request.get("NameContains") or "").lower()
    out = [
        r
        for r in records
        if contains in r[name_key].lower()
        and (request.get("CreationTimeAfter") is None or r["CreationTime"] > float(request["CreationTimeAfter"]))
        and (request.get("CreationTimeBefore") is None or r["CreationTime"] < float(request["CreationTimeBefore"]))
        and (status is None or status(r))
    ]
    key = name_key if request.get("SortBy") == "Name" else "CreationTime"
    out.sort(key=lambda r: r[key], reverse=request.get("SortOrder", "Descending") == "Descending")
    try:
        start = int(request.get("NextToken") or 0)
    except ValueError:
        raise validation("Invalid pagination token.") from None
    size = int(request.get("MaxResults") or 10)
    result: dict[str, Any] = {out_key: [{k: r[k] for k in summary if k in r} for r in out[start : start + size]]}
    if start + size < len(out):
        result["NextToken"] = str(start + size)
    return result


class Deployment:
    """One endpoint config's variants, running: what the runtime routes to."""

    def __init__(self, config: dict, fleets: dict[str, VariantFleet], deployment_id: str):
        self.config, self.fleets, self.id = config, fleets, deployment_id
        self.weights = [
            (v["VariantName"], float(v.get("InitialVariantWeight", 1.0))) for v in config["ProductionVariants"]
        ]
        self.total_weight = sum(w for _, w in self.weights)
        self.capture = config.get("DataCaptureConfig")
        self.rng = random.Random(deployment_id)  # deterministic weighted routing per deployment

    def pick(self) -> str:
        if self.total_weight <= 0:
            return self.weights[0][0]
        x = self.rng.random() * self.total_weight
        for name, weight in self.weights:
            x -= weight
            if x < 0:
                return name
        return self.weights[-1][0]


class Endpoint:
    """The in-memory side of an endpoint record: the deployment in service and a lock for transitions."""

    def __init__(self, name: str):
        self.name = name
        self.deployment: Deployment | None = None
        self.ready = threading.Event()
        self.worker: threading.Thread | None = None
        self.deleted = False


class HostingControlPlane:
    """The hosting operations, plus what the runtime needs to find an endpoint's deployment."""

    def __init__(
        self,
        state_dir: Path,
        account: str,
        aws_client,
        python: str,
        warm,
        max_model_servers: int = 16,
        max_servers_per_variant: int = 4,
    ):
        root = Path(state_dir) / "serving"
        self.models = RecordStore(root / "models")
        self.configs = RecordStore(root / "endpoint-configs")
        self.store = RecordStore(root / "endpoints")
        self.deploy_root = root / "deployments"
        self.socket_dir = Path(tempfile.mkdtemp(prefix="sm-serve-"))  # unix socket paths must stay short
        self.account, self.aws_client, self.python, self.warm = account, aws_client, python, warm
        self.max_model_servers, self.max_servers_per_variant = max_model_servers, max_servers_per_variant
        self.endpoints: dict[str, Endpoint] = {}
        self.lock = threading.RLock()
        self.operations = {
            "CreateModel": self.create_model,
            "DescribeModel": self.describe_model,
            "DeleteModel": self.delete_model,
            "ListModels": self.list_models,
            "CreateEndpointConfig": self.create_endpoint_config,
            "DescribeEndpointConfig": self.describe_endpoint_config,
            "DeleteEndpointConfig": self.delete_endpoint_config,
            "ListEndpointConfigs": self.list_endpoint_configs,
            "CreateEndpoint": self.create_endpoint,
            "UpdateEndpoint": self.update_endpoint,
            "DescribeEndpoint": self.describe_endpoint,
            "DeleteEndpoint": self.delete_endpoint,
            "ListEndpoints": self.list_endpoints,
        }
        self._resume()

    # ---- names and ARNs ----------------------------------------------------------------------------------------

    def arn(self, region: str, kind: str, name: str) -> str:
        return f"arn:aws:sagemaker:{region}:{self.account}:{kind}/{name.lower()}"

    # ---- models ------------------------------------------------------------------------------------------------

    def create_model(self, req: dict, region: str) -> dict:
        validate("CreateModel", req)
        name = req["ModelName"]
        arn = self.arn(region, "model", name)
        containers = req.get("Containers") or ([req["PrimaryContainer"]] if req.get("PrimaryContainer") else [])
        if not containers:
            raise validation("Either PrimaryContainer or Containers must be specified.")
        for c in containers:
            url = c.get("ModelDataUrl")
            if url and not url.startswith("s3://"):
                raise validation(
                    f"Could not access model data at {url}. Please ensure that the model data is an S3 URI."
                )
        with self.lock:
            if self.models.get(name):
                raise validation(f'Cannot create already existing model "{arn}".')
            rec = {k: v for k, v in req.items() if k in _members("DescribeModel")}
            rec |= {"ModelArn": arn, "CreationTime": time.time(), "_name": name, "_region": region}
            rec.setdefault("EnableNetworkIsolation", False)
            self.models.save(rec)
        return {"ModelArn": arn}

    def _model(self, name: str, region: str) -> dict:
        rec = self.models.get(name)
        if rec is None:
            raise validation(f'Could not find model "{self.arn(region, "model", name or "")}".')
        return rec

    def describe_model(self, req: dict, region: str) -> dict:
        validate("DescribeModel", req)
        return _public(self._model(req["ModelName"], region))

    def delete_model(self, req: dict, region: str) -> dict:
        validate("DeleteModel", req)
        with self.lock:
            rec = self._model(req["ModelName"], region)
            self.models.delete(rec["_name"])
        return {}

    def list_models(self, req: dict, region: str) -> dict:
        return _list(
            list(self.models.records.values()), req, "ModelName", ("ModelName", "ModelArn", "CreationTime"), "Models"
        )

    # ---- endpoint configs --------------------------------------------------------------------------------------

    def create_endpoint_config(self, req: dict, region: str) -> dict:
        validate("CreateEndpointConfig", req)
        name = req["EndpointConfigName"]
        arn = self.arn(region, "endpoint-config", name)
        variants = req["ProductionVariants"]
        names = [v["VariantName"] for v in variants]
        if len(set(names)) != len(names):
            raise validation("Variant names must be unique within an endpoint configuration.")
        serverless = [v for v in variants if v.get("ServerlessConfig")]
        for v in variants:
            if not v.get("ModelName"):
                raise validation(f"ModelName must be specified for production variant {v['VariantName']}.")
            self._model(v["ModelName"], region)
            if not v.get("ServerlessConfig") and not (v.get("InstanceType") and v.get("InitialInstanceCount")):
                raise validation(
                    f"Either ServerlessConfig or InstanceType and InitialInstanceCount must be specified for "
                    f"production variant {v['VariantName']}."
                )
            if v.get("ServerlessConfig") and (v.get("InstanceType") or v.get("InitialInstanceCount")):
                raise validation(
                    f"InstanceType and InitialInstanceCount cannot be specified with ServerlessConfig for production "
                    f"variant {v['VariantName']}."
                )
        if serverless and len(variants) > 1:
            raise validation("Serverless endpoints support only one production variant.")
        if serverless and req.get("DataCaptureConfig"):
            raise validation("DataCaptureConfig is not supported for serverless endpoints.")
        capture = req.get("DataCaptureConfig")
        if capture and not capture["DestinationS3Uri"].startswith("s3://"):
            raise validation("DataCaptureConfig.DestinationS3Uri must be an s3:// URI.")
        with self.lock:
            if self.configs.get(name):
                raise validation(f'Cannot create already existing endpoint configuration "{arn}".')
            rec = {k: v for k, v in req.items() if k in _members("DescribeEndpointConfig")}
            rec["ProductionVariants"] = [{"InitialVariantWeight": 1.0, **v} for v in variants]
            if capture:
                rec["DataCaptureConfig"] = {"EnableCapture": True, **capture}
            rec |= {"EndpointConfigArn": arn, "CreationTime": time.time(), "_name": name, "_region": region}
            self.configs.save(rec)
        return {"EndpointConfigArn": arn}

    def _config(self, name: str, region: str) -> dict:
        rec = self.configs.get(name)
        if rec is None:
            raise validation(
                f'Could not find endpoint configuration "{self.arn(region, "endpoint-config", name or "")}".'
            )
        return rec

    def describe_endpoint_config(self, req: dict, region: str) -> dict:
        validate("DescribeEndpointConfig", req)
        return _public(self._config(req["EndpointConfigName"], region))

    def delete_endpoint_config(self, req: dict, region: str) -> dict:
        validate("DeleteEndpointConfig", req)
        with self.lock:
            self.configs.delete(self._config(req["EndpointConfigName"], region)["_name"])
        return {}

    def list_endpoint_configs(self, req: dict, region: str) -> dict:
        return _list(
            list(self.configs.records.values()),
            req,
            "EndpointConfigName",
            ("EndpointConfigName", "EndpointConfigArn", "CreationTime"),
            "EndpointConfigs",
        )

    # ---- endpoints ---------------------------------------------------------------------------------------------

    def _endpoint(self, name: str, region: str) -> dict:
        rec = self.store.get(name)
        if rec is None:
            raise validation(f'Could not find endpoint "{self.arn(region, "endpoint", name or "")}".')
        return rec

    def _snapshot(self, config_name: str, region: str) -> dict:
        """The config and its models as they are now: what the endpoint will run."""
        config = self._config(config_name, region)
        models = {v["ModelName"]: self._model(v["ModelName"], region) for v in config["ProductionVariants"]}
        return {"EndpointConfig": config, "Models": models, "Id": uuid.uuid4().hex[:12]}

    def _server_count(self, snapshot: dict) -> int:
        return sum(
            1 if v.get("ServerlessConfig") else min(int(v["InitialInstanceCount"]), self.max_servers_per_variant)
            for v in snapshot["EndpointConfig"]["ProductionVariants"]
        )

    def _check_limit(self, snapshot: dict) -> None:
        in_use = sum(
            sum(len(f.servers) for f in e.deployment.fleets.values())
            for e in self.endpoints.values()
            if e.deployment is not None
        )
        delta = self._server_count(snapshot)
        if in_use + delta > self.max_model_servers:
            raise ApiError(
                "ResourceLimitExceeded",
                f"The account-level service limit 'model server processes on the embedded stack' is "
                f"{self.max_model_servers} Instances, with current utilization of {in_use} Instances and a request "
                f"delta of {delta} Instances. Please use AWS Service Quotas to request an increase for this quota.",
            )

    def create_endpoint(self, req: dict, region: str) -> dict:
        validate("CreateEndpoint", req)
        name = req["EndpointName"]
        arn = self.arn(region, "endpoint", name)
        with self.lock:
            if self.store.get(name):
                raise validation(f'Cannot create already existing endpoint "{arn}".')
            snapshot = self._snapshot(req["EndpointConfigName"], region)
            self._check_limit(snapshot)
            now = time.time()
            rec = {
                "EndpointName": name,
                "EndpointArn": arn,
                "EndpointConfigName": snapshot["EndpointConfig"]["EndpointConfigName"],
                "EndpointStatus": "Creating",
                "CreationTime": now,
                "LastModifiedTime": now,
                "_name": name,
                "_region": region,
                "_pending": snapshot,
            }
            self.store.save(rec)
            endpoint = self.endpoints[name.lower()] = Endpoint(name)
            self._run(endpoint, self._deploy_new, snapshot)
        return {"EndpointArn": arn}

    def update_endpoint(self, req: dict, region: str) -> dict:
        validate("UpdateEndpoint", req)
        with self.lock:
            rec = self._endpoint(req["EndpointName"], region)
            if rec["EndpointStatus"] != "InService":
                if rec["EndpointStatus"] == "Failed":
                    raise validation(
                        f'Cannot update failed endpoint "{rec["EndpointArn"]}". Delete it and create it again.'
                    )
                raise validation(f'Cannot update in-progress endpoint "{rec["EndpointArn"]}".')
            snapshot = self._snapshot(req["EndpointConfigName"], region)
            self._check_limit(snapshot)
            rec = dict(rec, EndpointStatus="Updating", LastModifiedTime=time.time(), _pending=snapshot)
            self.store.save(rec)
            self._run(self.endpoints[rec["_name"].lower()], self._deploy_update, snapshot)
        return {"EndpointArn": rec["EndpointArn"]}

    def describe_endpoint(self, req: dict, region: str) -> dict:
        validate("DescribeEndpoint", req)
        rec = self._endpoint(req["EndpointName"], region)
        out = _public(rec)
        endpoint = self.endpoints.get(rec["_name"].lower())
        if endpoint and endpoint.deployment:
            for summary in out.get("ProductionVariants", []):
                fleet = endpoint.deployment.fleets.get(summary["VariantName"])
                if fleet is not None and fleet.restarting:
                    summary["VariantStatus"] = [
                        {"Status": "Updating", "StatusMessage": fleet.restarting, "StartTime": time.time()}
                    ]
        return out

    def delete_endpoint(self, req: dict, region: str) -> dict:
        validate("DeleteEndpoint", req)
        with self.lock:
            rec = self._endpoint(req["EndpointName"], region)
            if rec["EndpointStatus"] == "Deleting":
                return {}
            self.store.save(dict(rec, EndpointStatus="Deleting", LastModifiedTime=time.time()))
            endpoint = self.endpoints.setdefault(rec["_name"].lower(), Endpoint(rec["_name"]))
            endpoint.deleted = True
            previous = endpoint.worker
            threading.Thread(
                target=self._delete, args=(endpoint, previous), name=f"delete-{rec['_name']}", daemon=True
            ).start()
        return {}

    def list_endpoints(self, req: dict, region: str) -> dict:
        return _list(
            list(self.store.records.values()),
            req,
            "EndpointName",
            ("EndpointName", "EndpointArn", "CreationTime", "LastModifiedTime", "EndpointStatus"),
            "Endpoints",
            status=(lambda r: r["EndpointStatus"] == req["StatusEquals"]) if req.get("StatusEquals") else None,
        )

    # ---- deployment (background) -------------------------------------------------------------------------------

    def _run(self, endpoint: Endpoint, target, snapshot: dict) -> None:
        endpoint.worker = threading.Thread(
            target=target, args=(endpoint, snapshot), name=f"deploy-{endpoint.name}", daemon=True
        )
        endpoint.worker.start()

    def _start_fleets(self, endpoint: Endpoint, snapshot: dict) -> Deployment:
        """Every variant's servers, started in parallel and healthy; ModelLoadError names the variant."""
        rec = self.store.get(endpoint.name)
        region = rec["_region"]
        config = snapshot["EndpointConfig"]
        fleets: dict[str, VariantFleet] = {}
        s3, logs = self.aws_client("s3", region), self.aws_client("logs", region)
        for v in config["ProductionVariants"]:
            model = snapshot["Models"][v["ModelName"]]
            containers = model.get("Containers") or [model["PrimaryContainer"]]
            fleets[v["VariantName"]] = VariantFleet(
                endpoint=endpoint.name,
                variant=v,
                container=containers[0],
                root=self.deploy_root / endpoint.name / snapshot["Id"] / v["VariantName"],
                socket_dir=self.socket_dir,
                key=f"{snapshot['Id']}-{len(fleets)}",
                s3=s3,
                logs=logs,
                python=self.python,
                warm=self.warm,
                max_servers=self.max_servers_per_variant,
            )
        errors: dict[str, BaseException] = {}

        def start(name: str, fleet: VariantFleet, timeout: float) -> None:
            try:
                model = snapshot["Models"][fleet.spec["ModelName"]]
                if len(model.get("Containers") or []) > 1:
                    raise ModelLoadError("inference pipelines (several Containers) are not served by the local plane")
                fleet.start(timeout)
            except BaseException as err:
                errors[name] = err

        threads = [
            threading.Thread(
                target=start,
                args=(n, f, f.spec.get("ContainerStartupHealthCheckTimeoutInSeconds", DEFAULT_STARTUP_TIMEOUT)),
                daemon=True,
            )
            for n, f in fleets.items()
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        if errors:
            for fleet in fleets.values():
                fleet.stop()
            variant, err = next(iter(errors.items()))
            detail = str(err) if isinstance(err, ModelLoadError) else f"{type(err).__name__}: {err}"
            raise ModelLoadError(
                f"The primary container for production variant {variant} did not pass the ping health check: {detail}"
            )
        return Deployment(config, fleets, snapshot["Id"])

    def _summary(self, deployment: Deployment, snapshot: dict) -> dict:
        """DescribeEndpoint's ProductionVariants and DataCaptureConfig for a deployment in service."""
        now = time.time()
        variants = []
        for v in deployment.config["ProductionVariants"]:
            model = snapshot["Models"][v["ModelName"]]
            images = [c.get("Image", "") for c in (model.get("Containers") or [model["PrimaryContainer"]])]
            weight = float(v.get("InitialVariantWeight", 1.0))
            s = {
                "VariantName": v["VariantName"],
                "DeployedImages": [
                    {
                        "SpecifiedImage": image,
                        "ResolvedImage": f"{image.rsplit(':', 1)[0] if ':' in image.rsplit('/', 1)[-1] else image}"
                        f"@sha256:{hashlib.sha256(image.encode()).hexdigest()}",
                        "ResolutionTime": now,
                    }
                    for image in images
                    if image
                ],
                "CurrentWeight": weight,
                "DesiredWeight": weight,
            }
            if v.get("ServerlessConfig"):
                s |= {
                    "CurrentServerlessConfig": v["ServerlessConfig"],
                    "DesiredServerlessConfig": v["ServerlessConfig"],
                }
            else:
                s |= {
                    "CurrentInstanceCount": v["InitialInstanceCount"],
                    "DesiredInstanceCount": v["InitialInstanceCount"],
                }
            variants.append(s)
        out: dict[str, Any] = {"ProductionVariants": variants}
        capture = deployment.config.get("DataCaptureConfig")
        if capture:
            enabled = capture.get("EnableCapture", True)
            out["DataCaptureConfig"] = {
                "EnableCapture": enabled,
                "CaptureStatus": "Started" if enabled else "Stopped",
                "CurrentSamplingPercentage": capture["InitialSamplingPercentage"],
                "DestinationS3Uri": capture["DestinationS3Uri"],
                "KmsKeyId": capture.get("KmsKeyId", ""),
            }
        return out

    def _in_service(self, endpoint: Endpoint, deployment: Deployment, snapshot: dict, **fields) -> None:
        with self.lock:
            rec = self.store.get(endpoint.name)
            rec = {k: v for k, v in rec.items() if k not in ("_pending", "FailureReason", "DataCaptureConfig")}
            rec |= self._summary(deployment, snapshot)
            rec |= {
                "EndpointStatus": "InService",
                "EndpointConfigName": snapshot["EndpointConfig"]["EndpointConfigName"],
                "LastModifiedTime": time.time(),
                "_deployed": snapshot,
            }
            rec |= fields
            self.store.save(rec)

    def _deploy_new(self, endpoint: Endpoint, snapshot: dict) -> None:
        try:
            deployment = self._start_fleets(endpoint, snapshot)
        except Exception as err:
            log.warning("endpoint %s failed: %s", endpoint.name, err)
            with self.lock:
                if not endpoint.deleted:
                    rec = self.store.get(endpoint.name)
                    rec = {k: v for k, v in rec.items() if k != "_pending"}
                    self.store.save(
                        rec
                        | {
                            "EndpointStatus": "Failed",
                            "FailureReason": str(err)[:1024],
                            "LastModifiedTime": time.time(),
                        }
                    )
            endpoint.ready.set()
            return
        endpoint.deployment = deployment
        if not endpoint.deleted:
            self._in_service(endpoint, deployment, snapshot)
        endpoint.ready.set()

    def _deploy_update(self, endpoint: Endpoint, snapshot: dict) -> None:
        old = endpoint.deployment
        try:
            deployment = self._start_fleets(endpoint, snapshot)
        except Exception as err:
            log.warning(
                "endpoint %s: update to %s failed, keeping %s: %s",
                endpoint.name,
                snapshot["EndpointConfig"]["EndpointConfigName"],
                old and old.config["EndpointConfigName"],
                err,
            )
            with self.lock:
                rec = self.store.get(endpoint.name)
                rec = {k: v for k, v in rec.items() if k != "_pending"}
                self.store.save(
                    rec
                    | {"EndpointStatus": "InService", "FailureReason": str(err)[:1024], "LastModifiedTime": time.time()}
                )
            return
        endpoint.deployment = deployment  # traffic moves here; requests already routed to `old` finish there
        if old is not None:
            for fleet in old.fleets.values():
                fleet.drain()
            shutil.rmtree(self.deploy_root / endpoint.name / old.id, ignore_errors=True)
        self._in_service(endpoint, deployment, snapshot)

    def _delete(self, endpoint: Endpoint, previous: threading.Thread | None) -> None:
        if previous is not None:
            previous.join()
        deployment, endpoint.deployment = endpoint.deployment, None
        if deployment is not None:
            for fleet in deployment.fleets.values():
                fleet.drain()
        with self.lock:
            self.store.delete(endpoint.name)
            self.endpoints.pop(endpoint.name.lower(), None)
        shutil.rmtree(self.deploy_root / endpoint.name, ignore_errors=True)

    def _resume(self) -> None:
        """After a restart: deploy InService endpoints again, finish what was in progress."""
        for rec in list(self.store.records.values()):
            name, status = rec["_name"], rec["EndpointStatus"]
            endpoint = self.endpoints[name.lower()] = Endpoint(name)
            if status == "Deleting":
                endpoint.deleted = True
                self._delete(endpoint, None)
            elif status == "Creating":
                self._run(endpoint, self._deploy_new, rec["_pending"])
            elif status in ("InService", "Updating") and rec.get("_deployed"):
                if status == "Updating":
                    rec = {k: v for k, v in rec.items() if k != "_pending"} | {
                        "EndpointStatus": "InService",
                        "FailureReason": "InternalServerError: the local SageMaker plane stopped during the update.",
                    }
                    self.store.save(rec)
                self._run(endpoint, self._redeploy, rec["_deployed"])
            else:
                endpoint.ready.set()

    def _redeploy(self, endpoint: Endpoint, snapshot: dict) -> None:
        try:
            endpoint.deployment = self._start_fleets(endpoint, snapshot)
        except Exception as err:
            with self.lock:
                rec = self.store.get(endpoint.name)
                self.store.save(rec | {"EndpointStatus": "Failed", "FailureReason": str(err)[:1024]})
        endpoint.ready.set()

    # ---- for the runtime and shutdown --------------------------------------------------------------------------

    def flush_logs(self) -> None:
        for endpoint in list(self.endpoints.values()):
            if endpoint.deployment:
                for fleet in endpoint.deployment.fleets.values():
                    fleet.flush_logs()

    def status(self) -> dict:
        """Not an AWS API: the servers behind each endpoint (GET /local/endpoints), for operators and tests."""
        return {
            e.name: {
                "DeploymentId": e.deployment.id,
                "EndpointConfigName": e.deployment.config["EndpointConfigName"],
                "Variants": [f.status() for f in e.deployment.fleets.values()],
            }
            for e in list(self.endpoints.values())
            if e.deployment is not None
        }

    def shutdown(self) -> None:
        """Stop every server; records stay as they are, so a restarted plane deploys them again."""
        for endpoint in list(self.endpoints.values()):
            if endpoint.worker is not None:
                endpoint.worker.join(30)
            if endpoint.deployment is not None:
                for fleet in endpoint.deployment.fleets.values():
                    fleet.stop()
        shutil.rmtree(self.socket_dir, ignore_errors=True)
