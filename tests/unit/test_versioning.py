"""Model versions: monotonic, never reused, never skipped, under retries, crashes and concurrency."""

import random
import threading
import uuid
from collections import defaultdict

import boto3
import pytest

from mlops.registry import versions as versioning
from mlops.registry.versions import Version, VersionBusy, VersionConflict, VersionError


@pytest.fixture
def linearizable_dynamodb(monkeypatch):
    """Serialise moto's DynamoDB operations, as DynamoDB serialises writes to an item.

    moto checks a write's condition and applies it without a lock, so two threads' conditional
    writes could both pass (not seen in 30 trials of 16 threads, but possible); the protocol under
    test relies on DynamoDB never doing that, and the test must not flake on moto doing it.
    """
    from moto.dynamodb.models import DynamoDBBackend

    lock = threading.RLock()
    for name in ("get_item", "put_item", "update_item", "delete_item", "query", "transact_write_items"):
        original = getattr(DynamoDBBackend, name)

        def locked(*args, _original=original, **kwargs):
            with lock:
                return _original(*args, **kwargs)

        monkeypatch.setattr(DynamoDBBackend, name, locked)


@pytest.fixture
def ddb(moto_endpoint):
    return boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1")


@pytest.fixture
def table(ddb):
    name = f"versions-{uuid.uuid4().hex[:8]}"
    versioning.create_versions_table(ddb, name)
    versioning.create_versions_table(ddb, name)  # idempotent
    return name


class Clock:
    def __init__(self):
        self.now = 1_800_000_000.0

    def __call__(self):
        return self.now


class Registry:
    """Stands in for SageMaker: which package carries which version, in creation order."""

    def __init__(self):
        self.packages: dict[Version, tuple[str, str]] = {}
        self.lock = threading.Lock()

    def find(self, version, since):
        return self.packages.get(version)

    def create(self, version, key):
        with self.lock:
            assert version not in self.packages, f"{version} registered twice"
            self.packages[version] = (f"arn:package/{version}/{key}", key)
            return self.packages[version][0]


def register(ddb, table, registry, model, tag, manual, key, **options):
    res = versioning.reserve(
        ddb, table, model=model, tag=tag, manual=manual, key=key, find_registered=registry.find, **options
    )
    if res.package_arn:
        return res.version
    versioning.commit(ddb, table, res, registry.create(res.version, key))
    return res.version


def test_parse_format_and_order():
    assert str(Version.parse("V1.2.3")) == "V1.2.3" and Version(1, 2, 3) == Version("1", 2, 3)
    assert Version.parse("V1.0.2.5") == Version("1.0", 2, 5)  # the tag of include/models/*.yaml is "1.0"
    ordered = ["V0.9.9", "V1.1.99", "V1.2.9", "V1.2.10", "V1.9.0.0", "V1.10.0.0", "V2.0.0", "V2.0.0.1"]
    versions = [Version.parse(v) for v in ordered]
    assert sorted(reversed(versions)) == versions
    assert sorted(v.sort_key for v in reversed(versions)) == [v.sort_key for v in versions]  # DynamoDB order
    for bad in ("1.2.3", "V1.2", "V1.2.x", "v1.2.3", "V.1.2"):
        with pytest.raises(VersionError, match="not a model version"):
            Version.parse(bad)
    assert versioning.next_version(None, "2.0", 5) == Version("2.0", 5, 0)
    assert versioning.next_version(Version(2, 5, 3), 2, 5) == Version(2, 5, 4)
    assert versioning.next_version(Version(2, 5, 3), 2, 6) == Version(2, 6, 0)


def _check_invariants(created: list[Version]):
    """Per tag, in creation order: strictly increasing, auto 0, 1, 2, ... within a manual revision."""
    assert len(created) == len(set(created)), "a version was registered twice"
    lines = defaultdict(list)
    for v in created:
        lines[v.tag].append(v)
    for tag, versions in lines.items():
        assert versions == sorted(versions), f"tag {tag} went backwards: {versions}"
        for manual in {v.manual for v in versions}:
            autos = [v.auto for v in versions if v.manual == manual]
            assert autos == list(range(len(autos))), f"gap or missing reset in V{tag}.{manual}: {autos}"


@pytest.mark.parametrize("seed", range(6))
def test_random_histories_are_monotonic_gap_free_and_idempotent(ddb, table, seed):
    """Random retrains, manual bumps, tag switches, retries, crashes before/after creating, failed creates."""
    rng = random.Random(seed)
    clock, registry, model = Clock(), Registry(), f"model-{seed}"
    manual_of = {"1.0": rng.randint(0, 3)}  # the configuration's manual revision per tag
    tag, runs, by_key = "1.0", 0, {}
    opts = {"clock": clock, "lease_seconds": 300, "wait_seconds": 0}
    for _ in range(24):
        op = rng.choice(["retrain"] * 4 + ["bump", "tag", "retry", "crash", "crash_after_create", "create_fails"])
        runs += 1
        key = f"run-{runs}"
        if op == "bump":
            manual_of[tag] += rng.randint(1, 2)
        if op == "tag":  # a new tag, or back to an earlier one (which continues its own line)
            tag = rng.choice([*manual_of, f"{len(manual_of) + 1}.0"])
            manual_of.setdefault(tag, 0)
        manual = manual_of[tag]
        if op == "retry" and by_key:
            key = rng.choice(sorted(by_key))
            assert register(ddb, table, registry, model, tag, manual, key, **opts) == by_key[key]
            continue
        if op in ("crash", "crash_after_create"):
            res = versioning.reserve(
                ddb, table, model=model, tag=tag, manual=manual, key=key, find_registered=registry.find, **opts
            )
            if op == "crash_after_create":
                registry.create(res.version, key)
                by_key[key] = res.version
            clock.now += 301  # the crashed run's lease runs out
            continue
        if op == "create_fails":
            res = versioning.reserve(
                ddb, table, model=model, tag=tag, manual=manual, key=key, find_registered=registry.find, **opts
            )
            versioning.release(ddb, table, res)
            continue
        by_key[key] = register(ddb, table, registry, model, tag, manual, key, **opts)
    last = register(ddb, table, registry, model, tag, manual_of[tag], "final", **opts)  # settles a crashed one
    _check_invariants(list(registry.packages))
    assert versioning.latest_version(ddb, table, model) == last
    for t in manual_of:
        line = [v for v in registry.packages if v.tag == t]
        assert versioning.latest_version(ddb, table, model, t) == (max(line) if line else None)
    for key, version in by_key.items():  # every run keeps the version its package carries
        assert versioning.registered_version(ddb, table, model, key).version == version


def test_manual_revision_resets_auto_and_lower_one_is_refused(ddb, table):
    reg = Registry()
    got = [register(ddb, table, reg, "m", 1, m, f"k{i}") for i, m in enumerate([2, 2, 2, 3, 3, 5])]
    assert [str(v) for v in got] == ["V1.2.0", "V1.2.1", "V1.2.2", "V1.3.0", "V1.3.1", "V1.5.0"]
    with pytest.raises(VersionError, match=r"manual revision 4, but V1\.5\.0 is already registered.*>= 5"):
        register(ddb, table, reg, "m", 1, 4, "k-low")
    assert versioning.latest_version(ddb, table, "m") == Version(1, 5, 0)
    assert register(ddb, table, reg, "m", 1, 5, "k-next") == Version(1, 5, 1)  # the refusal left no hole
    # A tag is a label with its own line: a new one starts at auto 0, an old one continues.
    assert register(ddb, table, reg, "m", "2.0", 0, "k-tag2") == Version("2.0", 0, 0)
    assert register(ddb, table, reg, "m", 1, 5, "k-back") == Version(1, 5, 2)
    with pytest.raises(VersionError, match="manual revision 0, but V1.5.2"):
        register(ddb, table, reg, "m", 1, 0, "k-back-low")


def test_retry_of_a_run_gets_its_version_back(ddb, table):
    reg = Registry()
    first = register(ddb, table, reg, "m", 1, 0, "train-a")
    second = register(ddb, table, reg, "m", 1, 0, "train-b")
    assert register(ddb, table, reg, "m", 1, 0, "train-a") == first == Version(1, 0, 0)
    assert second == Version(1, 0, 1) and len(reg.packages) == 2
    resource = boto3.resource("dynamodb", endpoint_url=ddb.meta.endpoint_url, region_name="us-east-1")
    with pytest.raises(TypeError, match="client, not a resource"):  # it would re-serialise typed values
        versioning.latest_version(resource, table, "m")
    # A retry whose reservation is still pending (it crashed before creating) keeps its number too.
    res = versioning.reserve(ddb, table, model="m", tag=1, manual=0, key="train-c", find_registered=reg.find)
    assert (
        versioning.reserve(ddb, table, model="m", tag=1, manual=0, key="train-c", find_registered=reg.find).version
        == res.version
        == Version(1, 0, 2)
    )


def test_abandoned_reservation_leaves_no_hole_and_its_number_is_not_reused(ddb, table):
    clock, reg = Clock(), Registry()
    held = versioning.reserve(
        ddb, table, model="m", tag=1, manual=0, key="crashed", find_registered=reg.find, clock=clock
    )
    with pytest.raises(VersionBusy, match="'crashed' is registering V1.0.0"):
        versioning.reserve(
            ddb, table, model="m", tag=1, manual=0, key="other", find_registered=reg.find, clock=clock, wait_seconds=0
        )
    clock.now += 301
    assert register(ddb, table, reg, "m", 1, 0, "other", clock=clock) == held.version  # taken over, no hole
    # The crashed run comes back: it must not register V1.0.0 again.
    assert register(ddb, table, reg, "m", 1, 0, "crashed", clock=clock) == Version(1, 0, 1)


def test_run_that_crashed_after_creating_its_package_keeps_its_version(ddb, table):
    clock, reg = Clock(), Registry()
    res = versioning.reserve(
        ddb, table, model="m", tag=1, manual=0, key="crashed", find_registered=reg.find, clock=clock
    )
    reg.create(res.version, "crashed")  # created, then the worker died before commit
    clock.now += 301
    assert register(ddb, table, reg, "m", 1, 0, "other", clock=clock) == Version(1, 0, 1)
    assert versioning.registered_version(ddb, table, "m", "crashed").version == Version(1, 0, 0)
    assert register(ddb, table, reg, "m", 1, 0, "crashed", clock=clock) == Version(1, 0, 0)  # its retry


def test_stalled_run_that_outlived_its_lease_cannot_take_the_version(ddb, table):
    clock, reg = Clock(), Registry()
    stalled = versioning.reserve(
        ddb, table, model="m", tag=1, manual=0, key="stalled", find_registered=reg.find, clock=clock
    )
    clock.now += 301
    assert register(ddb, table, reg, "m", 1, 0, "other", clock=clock) == Version(1, 0, 0)
    with pytest.raises(VersionConflict, match="V1.0.0 is already registered by another run"):
        versioning.commit(ddb, table, stalled, "arn:package/duplicate")
    assert versioning.registered_version(ddb, table, "m", "stalled") is None
    assert versioning.registered_version(ddb, table, "m", "other").package_arn == reg.packages[Version(1, 0, 0)][0]


class Interleaved:
    """A DynamoDB client that runs `between()` once, just before the first reservation write."""

    def __init__(self, client, between):
        self.client, self.between = client, between

    def __getattr__(self, name):
        return getattr(self.client, name)

    def update_item(self, **kwargs):
        if self.between and kwargs["UpdateExpression"].startswith("SET #pending_key"):
            self.between, between = None, self.between
            between()
        return self.client.update_item(**kwargs)


def test_registration_finishing_between_our_read_and_our_reservation_is_not_duplicated(ddb, table):
    reg = Registry()
    register(ddb, table, reg, "m", 1, 0, "first")
    slow = Interleaved(ddb, lambda: register(ddb, table, reg, "m", 1, 0, "fast"))  # read V1.0.0, then "fast" wins
    assert register(slow, table, reg, "m", 1, 0, "slow") == Version(1, 0, 2)
    assert sorted(reg.packages) == [Version(1, 0, 0), Version(1, 0, 1), Version(1, 0, 2)]


def test_concurrent_runs_get_distinct_consecutive_versions(moto_endpoint, table, linearizable_dynamodb):
    reg, results, errors = Registry(), {}, []
    clients = [boto3.client("dynamodb", endpoint_url=moto_endpoint, region_name="us-east-1") for _ in range(10)]
    barrier = threading.Barrier(len(clients))

    def run(i):
        try:
            barrier.wait()
            results[i] = register(clients[i], table, reg, "m", 3, 1, f"run-{i}")
        except Exception as err:  # pragma: no cover - reported below
            errors.append(err)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(clients))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(results.values()) == [Version(3, 1, auto) for auto in range(len(clients))]
    assert versioning.latest_version(clients[0], table, "m") == Version(3, 1, len(clients) - 1)
