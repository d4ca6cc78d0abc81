"""The CreateTrainingJob request of a model: one document for SageMaker and the local runner.

Script mode as the SageMaker SDK sends it: the framework container (scikit-learn or XGBoost)
downloads `sagemaker_submit_directory` (include/training/ packed as sourcedir.tar.gz), runs
`sagemaker_program` with the other hyperparameters as `--name value` arguments, and reads the
channels train / validation / test (and production, the model in production, when there is
one) from S3. Hyperparameters come from ModelConfig.sagemaker_hyperparameters (JSON-encoded,
as the SDK does).
"""

from __future__ import annotations

import hashlib
import io
import tarfile
from pathlib import Path

# ECR registries of the SageMaker framework containers (scikit-learn and XGBoost share them, for
# training and for serving: the same image answers both), every region of the SageMaker Python SDK's
# image_uri_config (2.257.7); tests/unit/test_image_uris.py checks them against the SDK's
# image_uris.retrieve. Other regions: MLOPS_TRAINING_IMAGE_<FRAMEWORK>.
FRAMEWORK_REGISTRIES = {
    "af-south-1": "510948584623",
    "ap-east-1": "651117190479",
    "ap-northeast-1": "354813040037",
    "ap-northeast-2": "366743142698",
    "ap-northeast-3": "867004704886",
    "ap-south-1": "720646828776",
    "ap-south-2": "628508329040",
    "ap-southeast-1": "121021644041",
    "ap-southeast-2": "783357654285",
    "ap-southeast-3": "951798379941",
    "ap-southeast-4": "106583098589",
    "ca-central-1": "341280168497",
    "ca-west-1": "190319476487",
    "cn-north-1": "450853457545",
    "cn-northwest-1": "451049120500",
    "eu-central-1": "492215442770",
    "eu-central-2": "680994064768",
    "eu-north-1": "662702820516",
    "eu-south-1": "978288397137",
    "eu-south-2": "104374241257",
    "eu-west-1": "141502667606",
    "eu-west-2": "764974769150",
    "eu-west-3": "659782779980",
    "il-central-1": "898809789911",
    "me-central-1": "272398656194",
    "me-south-1": "801668240914",
    "sa-east-1": "737474898029",
    "us-east-1": "683313688378",
    "us-east-2": "257758044811",
    "us-gov-east-1": "237065988967",
    "us-gov-west-1": "414596584902",
    "us-iso-east-1": "833128469047",
    "us-isob-east-1": "281123927165",
    "us-isof-east-1": "108575199400",
    "us-isof-south-1": "124985052026",
    "us-west-1": "746614075791",
    "us-west-2": "246618743249",
}
REPOSITORIES = {"sklearn": "sagemaker-scikit-learn", "xgboost": "sagemaker-xgboost"}
# Image tags are <version>-cpu-py3, except XGBoost from 1.2-1 on: <version>.
_UNSUFFIXED_TAGS = {"xgboost": lambda version: version not in ("0.90-1", "0.90-2", "1.0-1")}
# ECR's domain outside the commercial partition, by region prefix (longest first).
_ECR_DOMAINS = (
    ("us-isof-", "csp.hci.ic.gov"),
    ("us-isob-", "sc2s.sgov.gov"),
    ("us-iso-", "c2s.ic.gov"),
    ("eu-isoe-", "cloud.adc-e.uk"),
    ("cn-", "amazonaws.com.cn"),
)


def image_uri(framework: str, version: str, region: str, overrides: dict[str, str] | None = None) -> str:
    """The framework container image for training and serving (SageMaker's SDK gives the same URI for
    both); `overrides` (Settings.training_images) win over the table."""
    if (overrides or {}).get(framework):
        return overrides[framework]
    if region not in FRAMEWORK_REGISTRIES:
        raise ValueError(
            f"no SageMaker {framework} image registry known for region {region}; "
            f"set MLOPS_TRAINING_IMAGE_{framework.upper()} to the image URI"
        )
    unsuffixed = _UNSUFFIXED_TAGS.get(framework, lambda version: False)(version)
    tag = version if unsuffixed else f"{version}-cpu-py3"
    domain = next((d for prefix, d in _ECR_DOMAINS if region.startswith(prefix)), "amazonaws.com")
    return f"{FRAMEWORK_REGISTRIES[region]}.dkr.ecr.{region}.{domain}/{REPOSITORIES[framework]}:{tag}"


def pack_source_dir(directory: Path) -> bytes:
    """A reproducible sourcedir.tar.gz (sorted entries, no timestamps or owners, no caches)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz", format=tarfile.PAX_FORMAT, compresslevel=9) as tar:
        for path in sorted(directory.rglob("*")):
            if not path.is_file() or "__pycache__" in path.parts or path.suffix == ".pyc":
                continue
            info = tarfile.TarInfo(str(path.relative_to(directory)))
            data = path.read_bytes()
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    # gzip stamps the time in its header; zero it so the bytes depend on the content only
    raw = bytearray(buf.getvalue())
    raw[4:8] = b"\0\0\0\0"
    return bytes(raw)


def upload_source_dir(s3, directory: Path, bucket: str, prefix: str) -> str:
    """Upload the packed entry point once per content; returns its S3 URI."""
    body = pack_source_dir(directory)
    key = f"{prefix.rstrip('/')}/sourcedir-{hashlib.sha256(body).hexdigest()[:16]}.tar.gz"
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    return f"s3://{bucket}/{key}"


def training_job_request(
    model,
    *,
    job_name: str,
    role_arn: str,
    region: str,
    channels: dict[str, str],
    output_path: str,
    source_dir_uri: str,
    image_overrides: dict[str, str] | None = None,
) -> dict:
    """The CreateTrainingJob request for `model` (a ModelConfig) with the given S3 channels."""
    return {
        "TrainingJobName": job_name,
        "AlgorithmSpecification": {
            "TrainingImage": image_uri(
                model.training.framework, model.training.framework_version, region, image_overrides
            ),
            "TrainingInputMode": "File",
        },
        "RoleArn": role_arn,
        "HyperParameters": model.sagemaker_hyperparameters(source_dir_uri, region),
        "InputDataConfig": [
            {
                "ChannelName": name,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "S3Prefix",
                        "S3Uri": uri,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
            }
            for name, uri in channels.items()
        ],
        "OutputDataConfig": {"S3OutputPath": output_path},
        "ResourceConfig": {
            "InstanceType": model.training.instance_type,
            "InstanceCount": model.training.instance_count,
            "VolumeSizeInGB": model.training.volume_size_gb,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": model.training.max_runtime_seconds},
        "Tags": [{"Key": "mlops:model", "Value": model.name}],
    }


def job_name(model_name: str, run_stamp: str) -> str:
    """SageMaker job names: at most 63 characters of [a-zA-Z0-9-]."""
    safe = "".join(c if c.isalnum() else "-" for c in model_name)
    return f"{safe[: 63 - len(run_stamp) - 1]}-{run_stamp}"
