"""The embedded stack's alerts inbox (SNS topic -> SQS queue on moto): what the demo and the e2e tests
read alerts back from."""

from embedded_stack.aws import ALERTS_INBOX, clients, provision, read_alerts

CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
ENV = {
    "MLOPS_RAW_BUCKET": "inbox-raw",
    "MLOPS_CURATED_BUCKET": "inbox-curated",
    "MLOPS_LANDING_BUCKET": "inbox-landing",
    "MLOPS_ARTIFACTS_BUCKET": "inbox-artifacts",
    "MLOPS_VERSIONS_TABLE": "inbox-versions",
    "MLOPS_METRICS_TABLE": "inbox-metrics",
    "MLOPS_ALERTS_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:inbox-alerts",
}


def test_every_alert_published_is_read_once(moto_endpoint):
    provision(moto_endpoint, "us-east-1", ENV, CREDENTIALS)
    c = clients(moto_endpoint, "us-east-1", CREDENTIALS)
    read_alerts(moto_endpoint, "us-east-1", wait_seconds=0, credentials=CREDENTIALS)  # empty it
    topic = c["sns"].create_topic(Name="inbox-alerts")["TopicArn"]
    for i in range(23):  # more than one receive's 10
        c["sns"].publish(TopicArn=topic, Subject=f"alert {i}", Message=f"body {i}")
    alerts = read_alerts(moto_endpoint, "us-east-1", credentials=CREDENTIALS)
    assert sorted(a["subject"] for a in alerts) == sorted(f"alert {i}" for i in range(23))  # SQS keeps no order
    assert {a["subject"]: a["message"] for a in alerts}["alert 7"] == "body 7"
    assert read_alerts(moto_endpoint, "us-east-1", wait_seconds=0, credentials=CREDENTIALS) == []
    url = c["sqs"].get_queue_url(QueueName=ALERTS_INBOX)["QueueUrl"]
    attributes = c["sqs"].get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
    assert attributes["Attributes"]["ApproximateNumberOfMessages"] == "0"
