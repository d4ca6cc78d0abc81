"""The AWS resources the pipelines expect, created in the moto server (Terraform does this
on AWS: see infra/): buckets, the version and metrics tables, the alerts topic and an inbox."""

from __future__ import annotations

import json

ALERTS_INBOX = "mlops-alerts-inbox"


def clients(endpoint: str, region: str, credentials: dict[str, str] | None = None):
    """Clients with `credentials` (aws_access_key_id/aws_secret_access_key), else boto3's usual chain
    (the e2e tests put the stack's administrator there), else moto's test key."""
    import boto3

    session = boto3.session.Session(region_name=region, **(credentials or {}))
    if session.get_credentials() is None:
        session = boto3.session.Session(
            aws_access_key_id="testing", aws_secret_access_key="testing", region_name=region
        )
    return {name: session.client(name, endpoint_url=endpoint) for name in ("s3", "sns", "sqs", "dynamodb")}


def provision(endpoint: str, region: str, env: dict[str, str], credentials: dict[str, str] | None = None) -> None:
    """Buckets, the alerts topic and an SQS inbox subscribed to it (so alerts can be read back)."""
    c = clients(endpoint, region, credentials or {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"})
    buckets = ("MLOPS_RAW_BUCKET", "MLOPS_CURATED_BUCKET", "MLOPS_LANDING_BUCKET", "MLOPS_ARTIFACTS_BUCKET")
    for bucket in (env[b] for b in buckets):
        c["s3"].create_bucket(Bucket=bucket)
    from mlops.registry.metrics import create_metrics_table
    from mlops.registry.versions import create_versions_table

    create_versions_table(c["dynamodb"], env["MLOPS_VERSIONS_TABLE"])
    create_metrics_table(c["dynamodb"], env["MLOPS_METRICS_TABLE"])
    topic_arn = c["sns"].create_topic(Name=env["MLOPS_ALERTS_TOPIC_ARN"].rsplit(":", 1)[-1])["TopicArn"]
    queue_url = c["sqs"].create_queue(QueueName=ALERTS_INBOX)["QueueUrl"]
    queue_arn = c["sqs"].get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    subs = c["sns"].list_subscriptions_by_topic(TopicArn=topic_arn)["Subscriptions"]
    if not any(s["Endpoint"] == queue_arn for s in subs):
        c["sns"].subscribe(TopicArn=topic_arn, Protocol="sqs", Endpoint=queue_arn)


def read_alerts(
    endpoint: str, region: str, wait_seconds: int = 1, credentials: dict[str, str] | None = None
) -> list[dict]:
    """Drain the alerts inbox: each item has the SNS Subject and Message. Only the first receive waits
    up to `wait_seconds` for an alert; once one has come, the rest are read without waiting (moto
    delivers SNS to SQS as the publish returns), so draining does not end with an idle long poll."""
    c = clients(endpoint, region, credentials)
    url = c["sqs"].get_queue_url(QueueName=ALERTS_INBOX)["QueueUrl"]
    out = []
    while True:
        wait = 0 if out else wait_seconds
        resp = c["sqs"].receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=wait)
        msgs = resp.get("Messages", [])
        if not msgs:
            return out
        for m in msgs:
            body = json.loads(m["Body"])
            out.append({"subject": body.get("Subject"), "message": body.get("Message")})
            c["sqs"].delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
