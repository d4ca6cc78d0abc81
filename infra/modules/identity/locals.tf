locals {
  root                 = "arn:aws:iam::${var.account_id}:root"
  mwaa_environment_arn = "arn:aws:airflow:${var.region}:${var.account_id}:environment/${var.mwaa_environment_name}"
  secret_prefix        = "arn:aws:secretsmanager:${var.region}:${var.account_id}:secret:airflow"
  sagemaker_arn        = "arn:aws:sagemaker:${var.region}:${var.account_id}"
  notebook_name        = "${var.name_prefix}-scientists"

  # The project's serving resources: endpoint <name>, models and endpoint configs <name>-<version>-<digest>
  # (plugins/mlops/deployment/requests.py). Nothing else in the account matches these ARNs.
  endpoint_arns        = [for n in var.endpoint_names : "${local.sagemaker_arn}:endpoint/${n}"]
  endpoint_config_arns = [for n in var.endpoint_names : "${local.sagemaker_arn}:endpoint-config/${n}-*"]
  model_arns           = [for n in var.endpoint_names : "${local.sagemaker_arn}:model/${n}-*"]
  serving_arns         = concat(local.endpoint_arns, local.endpoint_config_arns, local.model_arns)
  captures             = "${var.bucket_arns["artifacts"]}/${var.capture_prefix}/*"
  # What creates, changes or removes a served model: the pipeline's alone.
  serving_changes = [
    "sagemaker:CreateModel", "sagemaker:DeleteModel",
    "sagemaker:CreateEndpointConfig", "sagemaker:DeleteEndpointConfig",
    "sagemaker:CreateEndpoint", "sagemaker:UpdateEndpoint", "sagemaker:DeleteEndpoint",
    "sagemaker:UpdateEndpointWeightsAndCapacities",
  ]

  raw       = var.bucket_arns["raw"]
  landing   = var.bucket_arns["landing"]
  curated   = var.bucket_arns["curated"]
  artifacts = var.bucket_arns["artifacts"]
  mwaa      = var.bucket_arns["mwaa"]

  # Object-level actions of a read/write pipeline stage (multipart: the extraction streams parts).
  s3_read_write = [
    "s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject",
    "s3:GetObjectTagging", "s3:PutObjectTagging",
    "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts",
  ]
  s3_read = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging"]
  s3_list = ["s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads", "s3:GetBucketLocation"]
  # Using a KMS key for S3 objects, tables, secrets and topics.
  kms_use  = ["kms:Decrypt", "kms:GenerateDataKey", "kms:DescribeKey"]
  kms_read = ["kms:Decrypt", "kms:DescribeKey"]
}

# Trust policy of a role people assume (CI's is in ci.tf).
data "aws_iam_policy_document" "trust_people" {
  for_each = {
    engineer  = var.engineer_principal_arns
    scientist = var.scientist_principal_arns
  }

  statement {
    sid     = "AssumedByNamedPrincipals" # only the listed principals (or the account's IAM-authorised ones)
    actions = ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]
    principals {
      type        = "AWS"
      identifiers = length(each.value) > 0 ? each.value : [local.root]
    }
  }
}
