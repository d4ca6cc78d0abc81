"""After CreateEndpoint / UpdateEndpoint: is the endpoint in service on the config that was asked for?

The provider's waiter (and its deferrable trigger) stop at `InService`, but an update that
SageMaker rolled back (the new variant failed to start, or an alarm fired during a blue/green
shift) also ends `InService`, on the old config, with a FailureReason. So the endpoint's
EndpointConfigName is compared with the requested one every time.
"""

from __future__ import annotations

from dataclasses import dataclass


class DeploymentError(RuntimeError):
    """The endpoint does not serve the requested config."""


class DeploymentRolledBack(DeploymentError):
    """SageMaker kept (or went back to) another config: the update did not take."""

    def __init__(self, endpoint: str, requested: str, serving: str, reason: str):
        self.endpoint, self.requested, self.serving, self.reason = endpoint, requested, serving, reason
        super().__init__(
            f"endpoint {endpoint} was rolled back: it is InService on endpoint config {serving}, "
            f"not on the requested {requested}. FailureReason: {reason or '(none given)'}"
        )


class EndpointNotInService(DeploymentError):
    def __init__(self, endpoint: str, status: str, reason: str):
        self.endpoint, self.status, self.reason = endpoint, status, reason
        super().__init__(f"endpoint {endpoint} is {status}, not InService. FailureReason: {reason or '(none given)'}")


@dataclass(frozen=True)
class Serving:
    endpoint: str
    config: str
    variants: tuple[str, ...]
    endpoint_arn: str


def check_serving(described: dict, requested_config: str) -> Serving:
    """Raise unless the DescribeEndpoint answer `described` is InService on `requested_config`."""
    name = described.get("EndpointName", "?")
    status = described.get("EndpointStatus", "")
    reason = described.get("FailureReason", "")
    if status != "InService":
        raise EndpointNotInService(name, status or "(no status)", reason)
    serving = described.get("EndpointConfigName", "")
    if serving != requested_config:
        raise DeploymentRolledBack(name, requested_config, serving, reason)
    variants = tuple(v["VariantName"] for v in described.get("ProductionVariants") or [])
    return Serving(name, serving, variants, described.get("EndpointArn", ""))


def verify_endpoint(sagemaker, endpoint: str, requested_config: str) -> Serving:
    """DescribeEndpoint, then check_serving."""
    return check_serving(sagemaker.describe_endpoint(EndpointName=endpoint), requested_config)
