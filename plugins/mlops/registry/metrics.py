"""The metrics history: one DynamoDB row per evaluation of a model version, in version order.

Key `model` + `evaluation` = `<version sort key>#<evaluated_at>`, so a query returns a model's
evaluations in version then time order, ready for charts.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime
from decimal import Decimal

from mlops.aws.dynamodb import dynamodb_client, ensure_table
from mlops.registry.versions import Version


def create_metrics_table(dynamodb, table: str) -> None:
    ensure_table(dynamodb, table, "model", "evaluation")


def _number(name: str, value) -> Decimal:
    number = float(value)
    if not math.isfinite(number):
        raise ValueError(f"metric {name} is {value}; DynamoDB stores finite numbers only")
    return Decimal(repr(number))


def append_metrics_history(
    dynamodb,
    table: str,
    *,
    model: str,
    version: Version | str,
    metrics: dict[str, float],
    evaluated_at: str | None = None,
    attributes: dict | None = None,
) -> dict:
    """Append one evaluation of `model` `version`; returns the item written.

    Pass a deterministic `evaluated_at` (e.g. the run's logical date) to make a retry overwrite
    its own row instead of adding a second one.
    """
    from boto3.dynamodb.types import TypeSerializer

    version = Version.parse(version) if isinstance(version, str) else version
    evaluated_at = evaluated_at or datetime.now(UTC).isoformat(timespec="seconds")
    item = {
        **{k: _number(k, v) if isinstance(v, float) else v for k, v in (attributes or {}).items()},
        "model": model,
        "evaluation": f"{version.sort_key}#{evaluated_at}",
        "version": str(version),
        "evaluated_at": evaluated_at,
        "metrics": {name: _number(name, value) for name, value in metrics.items()},
    }
    serialise = TypeSerializer().serialize
    dynamodb_client(dynamodb).put_item(TableName=table, Item={k: serialise(v) for k, v in item.items()})
    return item


def _plain(value):
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def metrics_history(dynamodb, table: str, model: str, version: Version | str | None = None) -> list[dict]:
    """The evaluations of `model` (of one version if given), in version then time order."""
    from boto3.dynamodb.types import TypeDeserializer

    condition, values = "#m = :m", {":m": {"S": model}}
    names = {"#m": "model"}
    if version is not None:
        version = Version.parse(version) if isinstance(version, str) else version
        condition += " AND begins_with(#e, :prefix)"
        values[":prefix"] = {"S": version.sort_key + "#"}
        names["#e"] = "evaluation"
    deserialise = TypeDeserializer().deserialize
    rows = []
    paginator = dynamodb_client(dynamodb).get_paginator("query")
    for page in paginator.paginate(
        TableName=table,
        KeyConditionExpression=condition,
        ExpressionAttributeNames=names,
        ExpressionAttributeValues=values,
        ConsistentRead=True,
    ):
        rows += [{k: _plain(deserialise(v)) for k, v in item.items()} for item in page["Items"]]
    return rows
