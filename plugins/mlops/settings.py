"""Deployment settings read from the environment at run time: the one place that reads it.

The same DAGs run on MWAA and on the embedded stack; only these values differ. On MWAA they
come from the environment's Airflow configuration / startup script, locally from
`.local/stack.env`. Reading them is cheap and touches no network, so DAG files may use them
at parse time (bucket names end up in Asset URIs).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

IMAGE_PREFIX = "MLOPS_TRAINING_IMAGE_"


@dataclass(frozen=True)
class Settings:
    raw_bucket: str
    curated_bucket: str
    landing_bucket: str
    artifacts_bucket: str
    alerts_topic_arn: str
    aws_conn_id: str
    sagemaker_role_arn: str
    metrics_table: str
    versions_table: str
    code_revision: str = "unknown"  # the git commit the DAGs run from (set by the deploy)
    sagemaker_poll_seconds: int = 30  # how often deferred SageMaker tasks poll the job
    # how often a deferred training run asks whether its datasets' ingestion runs are still queued or running
    ingestion_wait_poll_seconds: int = 30
    # Framework images by framework ("sklearn", "xgboost") where the built-in table has no
    # registry for the region (MLOPS_TRAINING_IMAGE_<FRAMEWORK>).
    training_images: dict[str, str] = field(default_factory=dict)
    capture_kms_key_id: str = ""  # KMS key for endpoint data capture (DataCaptureConfig.KmsKeyId); "" = bucket default
    predict_concurrency: int = 4  # mlops.serving.predict: InvokeEndpoint requests in flight at once
    # mlops.serving.predict writes capture records itself for endpoints that do not capture (serverless)
    predict_capture: bool = True

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        return cls(
            raw_bucket=env.get("MLOPS_RAW_BUCKET", "mlops-raw"),
            curated_bucket=env.get("MLOPS_CURATED_BUCKET", "mlops-curated"),
            landing_bucket=env.get("MLOPS_LANDING_BUCKET", "mlops-landing"),
            artifacts_bucket=env.get("MLOPS_ARTIFACTS_BUCKET", "mlops-artifacts"),
            alerts_topic_arn=env.get("MLOPS_ALERTS_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:mlops-alerts"),
            aws_conn_id=env.get("MLOPS_AWS_CONN_ID", "aws_default"),
            sagemaker_role_arn=env.get(
                "MLOPS_SAGEMAKER_ROLE_ARN", "arn:aws:iam::123456789012:role/mlops-sagemaker-execution"
            ),
            metrics_table=env.get("MLOPS_METRICS_TABLE", "mlops-model-metrics"),
            versions_table=env.get("MLOPS_VERSIONS_TABLE", "mlops-model-versions"),
            code_revision=env.get("MLOPS_CODE_REVISION", "unknown"),
            sagemaker_poll_seconds=int(env.get("MLOPS_SAGEMAKER_POLL_SECONDS", "30")),
            ingestion_wait_poll_seconds=int(env.get("MLOPS_INGESTION_WAIT_POLL_SECONDS", "30")),
            capture_kms_key_id=env.get("MLOPS_CAPTURE_KMS_KEY_ID", ""),
            predict_concurrency=int(env.get("MLOPS_PREDICT_CONCURRENCY", "4")),
            predict_capture=env.get("MLOPS_PREDICT_CAPTURE", "on").strip().lower() not in ("0", "false", "off", "no"),
            training_images={
                key.removeprefix(IMAGE_PREFIX).lower(): value
                for key, value in env.items()
                if key.startswith(IMAGE_PREFIX) and value
            },
        )
