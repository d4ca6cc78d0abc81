"""AWS clients and region for the operators, from the Airflow connection the settings name
(`MLOPS_AWS_CONN_ID`): one place, so every stage's operators authenticate the same way."""

from __future__ import annotations

from mlops.settings import Settings


def aws_clients(settings: Settings, *services: str) -> list:
    """One boto3 client per service name ("s3", "sagemaker", ...), in the order given."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return [AwsBaseHook(aws_conn_id=settings.aws_conn_id, client_type=s).get_conn() for s in services]


def aws_region(settings: Settings) -> str:
    """The region the connection's session resolves (its region_name, else the environment's; us-east-1
    when neither names one), without building a client only to ask it."""
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    return AwsBaseHook(aws_conn_id=settings.aws_conn_id).get_session().region_name or "us-east-1"


def s3_client(settings: Settings):
    """The S3 client of the connection, through S3Hook (which applies the connection's S3 options)."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    return S3Hook(aws_conn_id=settings.aws_conn_id).get_conn()
