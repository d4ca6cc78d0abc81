"""Model packages, the production model, the metrics history and the summary, against moto."""

import threading
import time
import uuid

import boto3
import pytest

from mlops.registry import metrics, summary
from mlops.registry import packages as registry
from mlops.registry import versions as versioning
from mlops.registry.data_cursor import DataCursor
from mlops.registry.packages import Candidate
from mlops.registry.versions import Version
from tests.unit.test_versioning import linearizable_dynamodb  # noqa: F401  (fixture)

DATA = DataCursor("diabetes_patients", "2026-10-01", "2026-10-21", 21, 442)


@pytest.fixture
def sm(moto_endpoint):
    return boto3.client("sagemaker", endpoint_url=moto_endpoint, region_name="us-east-1")


@pytest.fixture
def ddb(moto_endpoint):
    return boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")


@pytest.fixture
def tables(ddb):
    suffix = uuid.uuid4().hex[:8]
    names = {"versions": f"versions-{suffix}", "metrics": f"metrics-{suffix}"}
    versioning.create_versions_table(ddb, names["versions"])
    metrics.create_metrics_table(ddb, names["metrics"])
    return names


@pytest.fixture
def model():
    return f"diabetes_{uuid.uuid4().hex[:8]}"  # moto's state outlives a test: one model per test


def candidate(model, run, approval="Approved", manual=0, **kw):
    values = {
        "model": model,
        "tag": "1.0",
        "manual": manual,
        "run_key": run,
        "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/sklearn:1.5",
        "model_data_url": f"s3://mlops-artifacts/models/{model}/{run}/model.tar.gz",
        "metrics": {"rmse": 53.25, "r2": 0.47},
        "approval": approval,
        "gate_reasons": ("rmse 53.25 <= production 55.0",),
        "training_data": (DATA,),
        "code_revision": "4f2a9c1",
        "training_job": run,
        "description": "ridge regression on the diabetes study",
        "metrics_uri": f"s3://mlops-artifacts/evaluations/{model}/{run}.json",
        "training_data_uri": f"s3://mlops-artifacts/training/{model}/{run}/training_data.json",
        "predictor": "onnxruntime",
    }
    return Candidate(**{**values, **kw})


def test_register_then_describe_shows_status_metadata_and_version(sm, ddb, tables, model):
    done = registry.register_candidate(sm, ddb, tables["versions"], candidate(model, "train-1"))
    assert done.created and done.version == Version("1.0", 0, 0)

    raw = sm.describe_model_package(ModelPackageName=done.arn)
    assert raw["ModelPackageGroupName"] == model.replace("_", "-")
    assert raw["ModelApprovalStatus"] == "Approved"
    assert raw["MetadataProperties"] == {"CommitId": "4f2a9c1", "GeneratedBy": "train-1"}
    assert raw["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"].endswith("/train-1.json")
    assert raw["ModelPackageDescription"].startswith(f"{model} V1.0.0.0: ridge regression")
    assert (
        raw["CustomerMetadataProperties"]["data:diabetes_patients"] == "ds=2026-10-01/2026-10-21 partitions=21 rows=442"
    )

    package = registry.describe_package(sm, done.arn)
    assert package.version == Version("1.0", 0, 0) and package.status == "Approved"
    assert package.metrics == {"rmse": 53.25, "r2": 0.47}
    assert package.training_data == {"diabetes_patients": DATA}
    assert (package.code_revision, package.training_job, package.run_key) == ("4f2a9c1", "train-1", "train-1")
    assert package.training_data_uri.endswith(f"/{model}/train-1/training_data.json")
    assert package.model_data_url == f"s3://mlops-artifacts/models/{model}/train-1/model.tar.gz"
    assert package.image.endswith("sklearn:1.5")
    assert raw["CustomerMetadataProperties"]["predictor"] == package.predictor == "onnxruntime"


def test_retry_of_a_run_returns_its_package_and_versions_count_up(sm, ddb, tables, model):
    first = registry.register_candidate(sm, ddb, tables["versions"], candidate(model, "train-1"))
    again = registry.register_candidate(sm, ddb, tables["versions"], candidate(model, "train-1"))
    assert (again.arn, again.version, again.created) == (first.arn, first.version, False)
    second = registry.register_candidate(sm, ddb, tables["versions"], candidate(model, "train-2"))
    bumped = registry.register_candidate(sm, ddb, tables["versions"], candidate(model, "train-3", manual=1))
    assert [str(p.version) for p in registry.list_versions(sm, model)] == ["V1.0.0.0", "V1.0.0.1", "V1.0.1.0"]
    assert (second.version, bumped.version) == (Version("1.0", 0, 1), Version("1.0", 1, 0))


def test_production_is_the_newest_approved_package(sm, ddb, tables, model):
    assert registry.production_model(sm, model) is None  # no group yet
    reg = [
        registry.register_candidate(sm, ddb, tables["versions"], candidate(model, f"train-{i}", approval))
        for i, approval in enumerate(["Approved", "Approved", "Rejected", "PendingManualApproval"])
    ]
    production = registry.production_model(sm, model)
    assert production.version == Version("1.0", 0, 1) and production.arn == reg[1].arn
    assert production.training_data["diabetes_patients"] == DATA

    # Rolling back (rejecting the newest approved) makes the previous approved one production,
    # and the update keeps the package's metadata.
    registry.set_approval(sm, reg[1].arn, "Rejected", "rolled back: latency")
    assert registry.describe_package(sm, reg[1].arn).metrics == {"rmse": 53.25, "r2": 0.47}
    assert registry.production_model(sm, model).version == Version("1.0", 0, 0)
    registry.set_approval(sm, reg[3].arn, "Approved", "approved by a reviewer")
    assert registry.production_model(sm, model).version == Version("1.0", 0, 3)


class FlakySageMaker:
    """The real client, except that create_model_package fails once (before or after creating)."""

    def __init__(self, client, after_create: bool):
        self.client, self.after_create, self.failed = client, after_create, False

    def __getattr__(self, name):
        return getattr(self.client, name)

    def create_model_package(self, **request):
        if self.failed:
            return self.client.create_model_package(**request)
        self.failed = True
        if self.after_create:
            self.client.create_model_package(**request)
        raise ConnectionError("connection reset while waiting for CreateModelPackage")


def test_failed_create_leaves_no_hole_and_a_lost_answer_no_duplicate(sm, ddb, tables, model):
    flaky = FlakySageMaker(sm, after_create=False)
    with pytest.raises(ConnectionError):
        registry.register_candidate(flaky, ddb, tables["versions"], candidate(model, "train-1"))
    assert registry.list_versions(sm, model) == []
    retried = registry.register_candidate(flaky, ddb, tables["versions"], candidate(model, "train-2"))
    assert retried.version == Version("1.0", 0, 0)  # the failed attempt left no hole

    lost = FlakySageMaker(sm, after_create=True)  # created, but the answer never arrived
    done = registry.register_candidate(lost, ddb, tables["versions"], candidate(model, "train-3"))
    assert done.version == Version("1.0", 0, 1)
    assert [(str(p.version), p.run_key) for p in registry.list_versions(sm, model)] == [
        ("V1.0.0.0", "train-2"),
        ("V1.0.0.1", "train-3"),
    ]


def test_stalled_run_that_outlived_its_lease_keeps_no_version(sm, ddb, tables, model):
    clock = type("Clock", (), {"now": time.time(), "__call__": lambda self: self.now})()

    class Stalls(FlakySageMaker):
        def create_model_package(self, **request):  # the worker freezes past its lease; another run goes ahead
            clock.now += 301
            registry.register_candidate(sm, ddb, tables["versions"], candidate(model, "other"), clock=clock)
            return sm.create_model_package(**request)

    with pytest.raises(versioning.VersionConflict, match="already registered by another run"):
        registry.register_candidate(
            Stalls(sm, False), ddb, tables["versions"], candidate(model, "stalled"), clock=clock
        )
    packages = [(p.run_key, p.version, p.status) for p in registry.list_versions(sm, model)]
    assert packages == [("other", Version("1.0", 0, 0), "Approved"), ("stalled", None, "Rejected")]
    assert registry.production_model(sm, model).run_key == "other"
    retry = registry.register_candidate(sm, ddb, tables["versions"], candidate(model, "stalled"), clock=clock)
    assert (retry.version, retry.created) == (Version("1.0", 0, 1), True)


@pytest.mark.usefixtures("linearizable_dynamodb")
def test_concurrent_registrations_get_distinct_consecutive_versions(moto_endpoint, tables, model):
    runs = 6
    clients = [
        (
            boto3.client("sagemaker", endpoint_url=moto_endpoint, region_name="us-east-1"),
            boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1"),
        )
        for _ in range(runs)
    ]
    registry.ensure_group(clients[0][0], model)
    results, errors, barrier = {}, [], threading.Barrier(runs)

    def run(i):
        try:
            barrier.wait()
            results[i] = registry.register_candidate(*clients[i], tables["versions"], candidate(model, f"train-{i}"))
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(runs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(r.version for r in results.values()) == [Version("1.0", 0, auto) for auto in range(runs)]
    packages = registry.list_versions(clients[0][0], model)
    assert sorted((p.version, p.run_key) for p in packages) == sorted(
        (r.version, f"train-{i}") for i, r in results.items()
    )


def test_metrics_history_is_appended_and_queryable_by_model_and_version(ddb, tables, model):
    t = tables["metrics"]
    metrics.append_metrics_history(
        ddb, t, model=model, version="V1.0.0.10", metrics={"rmse": 50.0}, evaluated_at="2026-10-22T00:00:00+00:00"
    )
    metrics.append_metrics_history(
        ddb, t, model=model, version="V1.0.1.0", metrics={"rmse": 49.0}, evaluated_at="2026-10-23"
    )
    metrics.append_metrics_history(
        ddb, t, model=model, version=Version("1.0", 0, 2), metrics={"rmse": 54.5, "r2": 0.44}, evaluated_at="2026-10-20"
    )
    metrics.append_metrics_history(
        ddb,
        t,
        model=model,
        version="V1.0.0.2",
        metrics={"rmse": 54.1},
        evaluated_at="2026-10-21",
        attributes={"approval": "Rejected", "rows": 442},
    )
    metrics.append_metrics_history(
        ddb, t, model=model, version="V1.0.0.2", metrics={"rmse": 54.1}, evaluated_at="2026-10-21"
    )  # a retry: no new row
    metrics.append_metrics_history(
        ddb, t, model="other_model", version="V1.0.0.2", metrics={"rmse": 1.0}, evaluated_at="2026-10-21"
    )

    rows = metrics.metrics_history(ddb, t, model, "V1.0.0.2")
    assert [(r["version"], r["evaluated_at"], r["metrics"]) for r in rows] == [
        ("V1.0.0.2", "2026-10-20", {"rmse": 54.5, "r2": 0.44}),
        ("V1.0.0.2", "2026-10-21", {"rmse": 54.1}),
    ]
    every = metrics.metrics_history(ddb, t, model)
    assert [r["version"] for r in every] == ["V1.0.0.2", "V1.0.0.2", "V1.0.0.10", "V1.0.1.0"]  # not text order
    with pytest.raises(ValueError, match="finite"):
        metrics.append_metrics_history(ddb, t, model=model, version="V1.0.0.3", metrics={"rmse": float("nan")})


def test_candidate_summary_puts_metrics_beside_production_and_the_decision(sm, ddb, tables, model):
    old = registry.register_candidate(
        sm, ddb, tables["versions"], candidate(model, "train-1", metrics={"rmse": 55.0, "r2": 0.41, "mae": 44.0})
    )
    production = registry.production_model(sm, model)
    new = candidate(
        model, "train-2", "Rejected", metrics={"rmse": 56.5, "r2": 0.40}, gate_reasons=("rmse 56.5 > 55.0",)
    )
    subject, message = summary.candidate_summary(
        new, version=Version("1.0", 0, 1), production=production, package_arn="arn:new"
    )
    assert subject == f"{model} V1.0.0.1: Rejected" and len(subject) <= 100 and "\n" not in subject
    lines = message.splitlines()
    assert lines[0] == f"Model {model}: candidate V1.0.0.1 is Rejected."
    assert "production V1.0.0.0" in lines[2]
    rmse = next(line for line in lines if line.startswith("rmse"))
    assert rmse.split() == ["rmse", "56.5", "55", "+1.5"]
    assert next(line for line in lines if line.startswith("mae")).split() == ["mae", "-", "44", "-"]
    assert "Gate decision: Rejected" in lines and "  - rmse 56.5 > 55.0" in lines
    assert f"Production package: {old.arn}" in lines and "Model package: arn:new" in lines
    assert "Trained on: diabetes_patients 2026-10-01..2026-10-21 (21 partitions, 442 rows)" in lines

    _, first = summary.candidate_summary(new, version=Version("1.0", 0, 0), production=None)
    assert "(no model in production yet)" in first


def test_requests_sagemaker_would_reject_fail_before_anything_is_reserved(sm, ddb, tables, model):
    assert registry.group_name("diabetes_progression") == "diabetes-progression"
    with pytest.raises(ValueError, match="cannot name a SageMaker model package group"):
        registry.group_name("_bad")
    for bad, match in [
        ({"approval": "Accepted"}, "not one of"),
        ({"metrics": {"rmse": float("inf")}}, "not finite"),
        ({"code_revision": "main, dirty"}, "not accepted by SageMaker"),
        ({"model_data_url": "/tmp/model.tar.gz"}, "s3://"),
    ]:
        with pytest.raises(ValueError, match=match):
            registry.register_candidate(sm, ddb, tables["versions"], candidate(model, "train-x", **bad))
    assert versioning.latest_version(ddb, tables["versions"], model) is None
    request = registry.package_request(candidate(model, "train-1"), Version("1.0", 0, 0))
    assert len(request["ClientToken"]) == 36
    assert request == registry.package_request(candidate(model, "train-1"), Version("1.0", 0, 0))  # same on a retry
