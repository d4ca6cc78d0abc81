"""DynamoDB helpers over a plain boto3 client (typed attribute values)."""

from __future__ import annotations


def dynamodb_client(dynamodb):
    """The plain client this module speaks to (typed attribute values, e.g. {"S": "..."}).

    On Airflow take `AwsBaseHook(aws_conn_id, client_type="dynamodb").conn`: a resource, and
    DynamoDBHook's `.client` (the resource's client), re-serialise typed values and break.
    """
    if hasattr(dynamodb, "Table"):
        raise TypeError("pass a boto3 DynamoDB client, not a resource (AwsBaseHook(client_type='dynamodb').conn)")
    return dynamodb


def ensure_table(dynamodb, table: str, hash_key: str, range_key: str) -> None:
    """Create an on-demand table with string keys if missing (embedded stack; Terraform on AWS)."""
    ddb = dynamodb_client(dynamodb)
    try:
        ddb.create_table(
            TableName=table,
            AttributeDefinitions=[
                {"AttributeName": hash_key, "AttributeType": "S"},
                {"AttributeName": range_key, "AttributeType": "S"},
            ],
            KeySchema=[
                {"AttributeName": hash_key, "KeyType": "HASH"},
                {"AttributeName": range_key, "KeyType": "RANGE"},
            ],
            BillingMode="PAY_PER_REQUEST",
        )
    except ddb.exceptions.ResourceInUseException:
        pass
    ddb.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 60})
