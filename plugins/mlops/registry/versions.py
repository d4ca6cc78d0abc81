"""Model versions `V<tag>.<manual>.<auto>`, allocated so that none is ever reused or skipped.

The tag and the manual revision come from the model's configuration (`version: {tag: "1.0",
manual_revision: 2}` gives V1.0.2.<auto>); the auto revision counts retrains since the last
manual change: the first registration of a manual revision gets auto 0, each further one auto + 1.
Each tag is a label with its own line: a new tag starts at auto 0, going back to an earlier tag
continues that tag's line. A manual revision lower than the latest of its tag is refused.

The rule that makes versions gap-free and unique: **a version exists once a model package
carries it, and only then does the counter move.** The versions table (DynamoDB, key `model` +
`record`, both strings) holds per model

    "#head"             line:<tag> = the tag's last registered version (line_n:<tag> as a number),
                        latest = the last registered version, commits = how many,
                        and at most one reservation (pending_key, _version, _expires, _since)
    "version#<V>"       which run registered V, with its package ARN (written once, by one run)
    "run#<key>"         the same, found by the run's idempotency key (e.g. the training job name)

Registering is reserve → create the package → commit. `reserve` takes the model's single
reservation slot with a conditional write and computes the next version from the tag's line;
the write fails if anything was committed since the read, so two runs never hold the same
number. Others wait until the slot is free (a registration takes a second). `commit` writes the
version and run records, then moves the line. A retry of a run gets its registered version back,
or its still-pending reservation. A reservation abandoned by a crashed run expires after its
lease; the next run first asks `find_registered` whether a package with that version was created
after all (then it is committed for the crashed run) and otherwise takes the same number: an
abandoned reservation leaves no hole. `release` frees the slot at once when creating the package
failed. Should a stalled run outlive its lease and create a package after all, the conditional
`version#<V>` write lets only one run have V; the other gets VersionConflict.

Every write is a single-item conditional write and every read is consistent, so the protocol
relies only on DynamoDB's per-item serialisation; no transactions.
"""

from __future__ import annotations

import functools
import random
import re
import time
from collections.abc import Callable
from dataclasses import dataclass

from mlops.aws.dynamodb import dynamodb_client, ensure_table

HEAD = "#head"
TAG = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")  # as include/models/*.yaml allow
_VERSION = re.compile(r"^V([A-Za-z0-9][A-Za-z0-9._-]*)\.(\d+)\.(\d+)$")


class VersionError(ValueError):
    """The configuration asks for a version that would go backwards (or is malformed)."""


class VersionBusy(RuntimeError):
    """Another run holds the model's reservation for longer than we wait; the task should retry."""


class VersionConflict(RuntimeError):
    """Our reservation expired and was taken over before we committed."""


@functools.total_ordering
@dataclass(frozen=True)
class Version:
    """`V<tag>.<manual>.<auto>`; the tag is the configuration's label (e.g. `1.0` gives `V1.0.2.5`)."""

    tag: str
    manual: int
    auto: int

    def __post_init__(self):
        object.__setattr__(self, "tag", str(self.tag))
        if not TAG.match(self.tag) or self.manual < 0 or self.auto < 0:
            raise VersionError(f"tag {self.tag!r} / manual {self.manual} / auto {self.auto} make no model version")

    @classmethod
    def parse(cls, text: str) -> Version:
        m = _VERSION.match(text.strip())
        if not m:
            raise VersionError(f"{text!r} is not a model version like 'V1.0.2.5' (V<tag>.<manual>.<auto>)")
        return cls(m[1], int(m[2]), int(m[3]))

    def __str__(self) -> str:
        return f"V{self.tag}.{self.manual}.{self.auto}"

    @property
    def sort_key(self) -> str:
        """Numbers zero-padded, so string order is version order (also as a DynamoDB range key)."""
        tag = re.sub(r"\d+", lambda m: m[0].zfill(9), self.tag)
        return f"V{tag}#{self.manual:09d}.{self.auto:09d}"

    def __lt__(self, other: Version) -> bool:
        return self.sort_key < other.sort_key


def next_version(latest: Version | None, tag: str, manual: int, model: str = "model") -> Version:
    """The version after `latest` (the newest of this tag) for a configuration with `tag` and `manual`."""
    if latest is None or manual > latest.manual:
        return Version(tag, manual, 0)
    if manual == latest.manual:
        return Version(tag, manual, latest.auto + 1)
    raise VersionError(
        f"{model}: the configuration asks for tag {tag}, manual revision {manual}, but {latest} is already "
        f"registered; versions only go up, so set manual revision >= {latest.manual} "
        f"(raise it when you change the model)"
    )


@dataclass(frozen=True)
class Reservation:
    model: str
    key: str
    version: Version
    package_arn: str | None = None  # set when this run already registered (a retry)
    since: float = 0.0  # when the reservation was taken (clock seconds)


def create_versions_table(dynamodb, table: str) -> None:
    ensure_table(dynamodb, table, "model", "record")


def _get(ddb, table: str, model: str, record: str) -> dict:
    item = ddb.get_item(TableName=table, Key={"model": {"S": model}, "record": {"S": record}}, ConsistentRead=True).get(
        "Item", {}
    )
    return {k: next(iter(v.values())) for k, v in item.items()}


def _update(ddb, table: str, model: str, expression: str, condition: str, values: dict, names=None) -> bool:
    """One conditional update of the head record; False when the condition did not hold."""
    found = set(re.findall(r"#(\w+)", f"{expression} {condition}")) - set(k[1:] for k in names or {})
    try:
        ddb.update_item(
            TableName=table,
            Key={"model": {"S": model}, "record": {"S": HEAD}},
            UpdateExpression=expression,
            ConditionExpression=condition,
            ExpressionAttributeNames={**{"#" + n: n for n in found}, **(names or {})},
            ExpressionAttributeValues=values,
        )
        return True
    except ddb.exceptions.ConditionalCheckFailedException:
        return False


def _line(head: dict, tag: str) -> Version | None:
    value = head.get(f"line:{tag}")
    return Version.parse(value) if value else None


def latest_version(dynamodb, table: str, model: str, tag: str | None = None) -> Version | None:
    """The last registered version of `model` (of its `tag` line if given), or None."""
    head = _get(dynamodb_client(dynamodb), table, model, HEAD)
    if tag is not None:
        return _line(head, str(tag))
    return Version.parse(head["latest"]) if "latest" in head else None


def registered_version(dynamodb, table: str, model: str, key: str) -> Reservation | None:
    """What run `key` registered, if it did."""
    run = _get(dynamodb_client(dynamodb), table, model, "run#" + key)
    return Reservation(model, key, Version.parse(run["version"]), run["package_arn"]) if run else None


FindRegistered = Callable[[Version, float], "tuple[str, str] | None"]


def reserve(
    dynamodb,
    table: str,
    *,
    model: str,
    tag: str,
    manual: int,
    key: str,
    find_registered: FindRegistered,
    lease_seconds: float = 300,
    wait_seconds: float = 120,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> Reservation:
    """The version run `key` registers: its earlier one on a retry, else the model's next.

    `find_registered(version, since)` returns (package ARN, run key) of a package that carries
    `version` and was created after `since`, or None; it is asked about a reservation left
    behind by a crashed run (ours or another's).
    """
    ddb, tag = dynamodb_client(dynamodb), str(tag)
    deadline = clock() + wait_seconds
    attempt = 0
    while True:
        done = registered_version(ddb, table, model, key)
        if done:
            commit(ddb, table, done, done.package_arn)  # finishes a commit cut short by a crash
            return done
        head = _get(ddb, table, model, HEAD)
        now = clock()
        holder = head.get("pending_key")
        if holder and holder != key and float(head["pending_expires"]) > now:
            if now >= deadline:
                raise VersionBusy(
                    f"{model}: run {holder!r} is registering {head['pending_version']}; still busy after "
                    f"{wait_seconds:.0f} s (its reservation expires in {float(head['pending_expires']) - now:.0f} s)"
                )
            attempt += 1
            sleep(min(1.0, 0.02 * 2**attempt) * (0.5 + random.random()))
            continue
        if holder:  # our own reservation (a retry), or one whose lease expired
            pending, since = Version.parse(head["pending_version"]), float(head["pending_since"])
            found = find_registered(pending, since)
            if found:  # the holder created its package and crashed before committing
                arn, creator = found
                try:
                    commit(ddb, table, Reservation(model, creator, pending, arn), arn)
                except VersionConflict:
                    release(ddb, table, Reservation(model, holder, pending))
                continue
            if holder == key:
                version = pending
            else:
                version, since = next_version(_line(head, tag), tag, manual, model), now
            condition = "#pending_key = :holder AND #pending_expires = :expires"
            values = {":holder": {"S": holder}, ":expires": {"N": head["pending_expires"]}}
        else:
            version, since = next_version(_line(head, tag), tag, manual, model), now
            condition = "attribute_not_exists(#pending_key)"
            values = {}
        # No commit may happen between our read and this write, or `version` could be stale.
        if "commits" in head:
            condition += " AND #commits = :commits"
            values[":commits"] = {"N": head["commits"]}
        else:
            condition += " AND attribute_not_exists(#commits)"
        values.update(
            {
                ":key": {"S": key},
                ":version": {"S": str(version)},
                ":until": {"N": repr(now + lease_seconds)},
                ":since": {"N": repr(since)},
            }
        )
        expression = (
            "SET #pending_key = :key, #pending_version = :version, #pending_expires = :until, #pending_since = :since"
        )
        if _update(ddb, table, model, expression, condition, values):
            return Reservation(model, key, version, since=since)


def commit(dynamodb, table: str, reservation: Reservation, package_arn: str) -> None:
    """Record that `reservation` is registered as `package_arn` and move the model's counter.

    Idempotent. The `version#<V>` record can be written by one run only: that is what keeps a
    version unique even if a stalled run outlived its lease. The loser gets VersionConflict.
    """
    ddb = dynamodb_client(dynamodb)
    model, key, version = reservation.model, reservation.key, reservation.version
    item = {"model": {"S": model}, "version": {"S": str(version)}, "run": {"S": key}, "package_arn": {"S": package_arn}}
    try:
        ddb.put_item(
            TableName=table,
            Item={**item, "record": {"S": "version#" + version.sort_key}},
            ConditionExpression="attribute_not_exists(#record) OR (#run = :key AND package_arn = :arn)",
            ExpressionAttributeNames={"#record": "record", "#run": "run"},
            ExpressionAttributeValues={":key": {"S": key}, ":arn": {"S": package_arn}},
        )
    except ddb.exceptions.ConditionalCheckFailedException as err:
        raise VersionConflict(
            f"{model}: {version} is already registered by another run; run {key!r} held an expired reservation "
            f"of it, so its package {package_arn} must not keep that version"
        ) from err
    # The run record before the counter: a crash in between leaves a retry that finds its version.
    ddb.put_item(TableName=table, Item={**item, "record": {"S": "run#" + key}})
    names = {"#line": f"line:{version.tag}", "#line_n": f"line_n:{version.tag}"}
    values = {
        ":version": {"S": str(version)},
        ":n": {"N": str(version.manual * 10**9 + version.auto)},
        ":one": {"N": "1"},
    }
    move = "SET #latest = :version, #line = :version, #line_n = :n ADD #commits :one"
    newer = "(attribute_not_exists(#line_n) OR #line_n < :n)"
    clear = " REMOVE #pending_key, #pending_version, #pending_expires, #pending_since"
    if not _update(ddb, table, model, move + clear, f"#pending_version = :version AND {newer}", values, names):
        # The slot was already cleared (a retry) or moved on (taken over): only move the line forward.
        _update(ddb, table, model, move, newer, values, names)


def release(dynamodb, table: str, reservation: Reservation) -> None:
    """Give the reservation back (nothing was registered), so the next run takes the version."""
    _update(
        dynamodb_client(dynamodb),
        table,
        reservation.model,
        "REMOVE #pending_key, #pending_version, #pending_expires, #pending_since",
        "#pending_key = :key AND #pending_version = :version",
        {":key": {"S": reservation.key}, ":version": {"S": str(reservation.version)}},
    )
