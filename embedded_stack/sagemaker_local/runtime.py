"""SageMaker Runtime InvokeEndpoint (rest-json, `POST /endpoints/{EndpointName}/invocations`).

Headers and errors follow botocore's `sagemaker-runtime` model: Content-Type, Accept,
X-Amzn-SageMaker-Custom-Attributes, -Target-Variant and -Inference-Id in; Content-Type and
x-Amzn-Invoked-Production-Variant out. Errors: ValidationError (400) for an unknown endpoint or
variant; ModelError (424, with OriginalStatusCode, OriginalMessage and LogStreamArn) when the
model server answered 4XX/5XX or died during the request; ServiceUnavailable (503) when no server
is healthy; ThrottlingException (400) beyond a serverless variant's MaxConcurrency. Capture and
metrics are handed to their background writers; nothing on this path waits on S3 or CloudWatch.
"""

from __future__ import annotations

import json
import random
import time
import uuid

from embedded_stack.sagemaker_local.capture import CaptureWriter, should_capture
from embedded_stack.sagemaker_local.endpoints import HostingControlPlane
from embedded_stack.sagemaker_local.fleet import ServerCrashed, ServerUnavailable
from embedded_stack.sagemaker_local.metrics import EndpointMetrics

PASSED_TO_MODEL = ("X-Amzn-SageMaker-Custom-Attributes", "X-Amzn-SageMaker-Inference-Id")
MAX_PAYLOAD = 6 * 1024 * 1024  # InvokeEndpoint's documented payload limit for real-time endpoints


class RuntimeError_(Exception):
    def __init__(self, code: str, status: int, message: str, **members):
        super().__init__(message)
        self.code, self.status, self.message, self.members = code, status, message, members

    def reply(self) -> tuple[int, dict[str, str], bytes]:
        body = {"ErrorCode": self.code, "Message": self.message, **self.members}
        return (
            self.status,
            {"Content-Type": "application/json", "x-amzn-ErrorType": self.code, "x-amzn-RequestId": str(uuid.uuid4())},
            json.dumps(body).encode(),
        )


class Runtime:
    def __init__(self, hosting: HostingControlPlane, capture: CaptureWriter, metrics: EndpointMetrics):
        self.hosting, self.capture, self.metrics = hosting, capture, metrics
        self.rng = random.Random(0)  # capture sampling

    def invoke(self, name: str, region: str, body: bytes, headers) -> tuple[int, dict[str, str], bytes]:
        started = time.perf_counter_ns()
        try:
            return self._invoke(name, region, body, headers, started)
        except RuntimeError_ as err:
            return err.reply()

    def _deployment(self, name: str):
        endpoint = self.hosting.endpoints.get(name.lower())
        rec = self.hosting.store.get(name)
        if endpoint is None or rec is None or rec["EndpointStatus"] in ("Creating", "Deleting"):
            raise RuntimeError_("ValidationError", 400, f"Endpoint {name} of account {self.hosting.account} not found.")
        if endpoint.deployment is None:
            endpoint.ready.wait(60)  # just restarted: the servers are being started again
        if endpoint.deployment is None:
            raise RuntimeError_(
                "ValidationError", 400, f"Endpoint {name} of account {self.hosting.account} is not in service."
            )
        return rec, endpoint

    def _invoke(self, name, region, body, headers, started) -> tuple[int, dict[str, str], bytes]:
        rec, endpoint = self._deployment(name)
        if len(body) > MAX_PAYLOAD:
            raise RuntimeError_("ValidationError", 400, f"Request payload exceeds the maximum of {MAX_PAYLOAD} bytes.")
        target = headers.get("X-Amzn-SageMaker-Target-Variant")
        while True:  # re-route if an update drained the deployment we picked
            deployment = endpoint.deployment
            if deployment is None:
                raise RuntimeError_(
                    "ValidationError", 400, f"Endpoint {name} of account {self.hosting.account} not found."
                )
            if target:
                if target not in deployment.fleets:
                    raise RuntimeError_(
                        "ValidationError",
                        400,
                        f'The variant(s) "[{target}]" is/are not valid for endpoint "{rec["EndpointArn"]}".',
                    )
                variant = target
            else:
                variant = deployment.pick()
            fleet = deployment.fleets[variant]
            state = fleet.acquire()
            if state == "ok":
                break
            if state == "throttled":
                raise RuntimeError_("ThrottlingException", 400, "Rate exceeded")
        region = rec["_region"]
        content_type = headers.get("Content-Type") or "application/octet-stream"
        accept = headers.get("Accept") or "*/*"
        forward = {"Content-Type": content_type, "Accept": accept}
        for h in PASSED_TO_MODEL:
            if headers.get(h):
                forward[h] = headers[h]
        model_us = None
        try:
            try:
                status, out_type, out, model_us = fleet.invoke(body, forward)
            except ServerUnavailable as err:
                self._record(region, name, variant, 503, None, started)
                raise RuntimeError_("ServiceUnavailable", 503, str(err)) from None
            except ServerCrashed as err:
                status, out_type, out = (
                    500,
                    "text/plain",
                    f"the model server exited during the request ({err})".encode(),
                )
        finally:
            fleet.release()
        log_group = f"/aws/sagemaker/Endpoints/{name}"
        if status != 200:
            self._record(region, name, variant, status, model_us, started)
            text = out.decode("utf-8", errors="replace")
            kind = "client" if 400 <= status < 500 else "server"
            raise RuntimeError_(
                "ModelError",
                424,
                f'Received {kind} error ({status}) from {variant} with message "{text}". See '
                f"https://{region}.console.aws.amazon.com/cloudwatch/home?region={region}#logEventViewer:group={log_group}"
                f" in account {self.hosting.account} for more information.",
                OriginalStatusCode=status,
                OriginalMessage=text,
                LogStreamArn=f"arn:aws:logs:{region}:{self.hosting.account}:log-group:{log_group}",
            )
        capture = deployment.capture
        if capture and should_capture(capture, self.rng):
            exchange = (time.time(), headers.get("X-Amzn-SageMaker-Inference-Id"), body, content_type, out, out_type)
            self.capture.submit(region, name, variant, capture, exchange)
        reply_headers = {
            "Content-Type": out_type or "application/json",
            "x-Amzn-Invoked-Production-Variant": variant,
            "x-amzn-RequestId": str(uuid.uuid4()),
        }
        self._record(region, name, variant, 200, model_us, started)
        return 200, reply_headers, out

    def _record(self, region, name, variant, status, model_us, started) -> None:
        total_us = (time.perf_counter_ns() - started) // 1000
        self.metrics.record(region, name, variant, status, model_us, max(total_us - (model_us or 0), 0))
