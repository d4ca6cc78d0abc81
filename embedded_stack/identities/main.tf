# The embedded stack's identities, applied into its moto server at `make up` (embedded_stack/iam.py):
# infra/modules/identity itself, with the stack's bucket, table and topic names, plus IAM users
# that act as each identity. People assume their role as on AWS (the role trusts their user);
# the MWAA and SageMaker roles trust AWS services, which moto cannot evaluate, so the pipeline and
# the local SageMaker plane are users holding exactly those roles' policy documents.

terraform {
  required_version = ">= 1.6"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.90, < 6.0"
    }
  }
}

variable "endpoint" {
  description = "The moto server."
  type        = string
}

variable "account_id" {
  type = string
}

variable "region" {
  type = string
}

variable "endpoint_names" {
  description = "The project's endpoints, one per include/models/*.yaml (embedded_stack/iam.py reads them)."
  type        = list(string)
}

variable "capture_prefix" {
  description = "The endpoints' data capture prefix in the artifacts bucket (deployment.data_capture.prefix)."
  type        = string
}

variable "admin_access_key" {
  description = "The bootstrap administrator moto_state creates (terraform runs as it)."
  type        = string
  sensitive   = true
}

variable "admin_secret_key" {
  type      = string
  sensitive = true
}

provider "aws" {
  region                      = var.region
  access_key                  = var.admin_access_key
  secret_key                  = var.admin_secret_key
  skip_credentials_validation = true
  skip_requesting_account_id  = true
  skip_metadata_api_check     = true
  skip_region_validation      = true
  max_retries                 = 2
  endpoints {
    iam = var.endpoint
    sts = var.endpoint
  }
}

locals {
  prefix = "mlops"
  user   = "arn:aws:iam::${var.account_id}:user"
  people = { engineer = "${local.prefix}-local-engineer", scientist = "${local.prefix}-local-scientist" }
}

module "identity" {
  source = "../../infra/modules/identity"

  name_prefix = local.prefix
  account_id  = var.account_id
  region      = var.region
  bucket_arns = {
    raw       = "arn:aws:s3:::mlops-raw"
    landing   = "arn:aws:s3:::mlops-landing"
    curated   = "arn:aws:s3:::mlops-curated"
    artifacts = "arn:aws:s3:::mlops-artifacts"
    mwaa      = "arn:aws:s3:::mlops-mwaa"
  }
  # No KMS on the stack (buckets use S3-managed keys); the statements keep their shape.
  kms_key_arns = {
    for zone in ["sources", "curated", "artifacts", "platform"] :
    zone => "arn:aws:kms:${var.region}:${var.account_id}:alias/mlops-local-${zone}"
  }
  alerts_topic_arn = "arn:aws:sns:${var.region}:${var.account_id}:mlops-alerts"
  table_arns = {
    versions = "arn:aws:dynamodb:${var.region}:${var.account_id}:table/mlops-model-versions"
    metrics  = "arn:aws:dynamodb:${var.region}:${var.account_id}:table/mlops-model-metrics"
  }
  endpoint_names           = var.endpoint_names
  capture_prefix           = var.capture_prefix
  mwaa_environment_name    = "mlops-local"
  glue_database_name       = "mlops_local"
  engineer_principal_arns  = ["${local.user}/${local.people.engineer}"]
  scientist_principal_arns = ["${local.user}/${local.people.scientist}"]
}

# --- the pipelines (MWAA execution role) and the local SageMaker plane (SageMaker execution role)

resource "aws_iam_user" "service" {
  for_each = { pipeline = "mwaa", sagemaker = "sagemaker" }
  name     = "${local.prefix}-local-${each.key}"
}

resource "aws_iam_user_policy" "service" {
  for_each = { pipeline = "mwaa", sagemaker = "sagemaker" }
  name     = "${each.value}-role-policy"
  user     = aws_iam_user.service[each.key].name
  policy   = module.identity.policy_documents[each.value]
}

# --- people: a user that may only assume its role

resource "aws_iam_user" "person" {
  for_each = local.people
  name     = each.value
}

data "aws_iam_policy_document" "assume" {
  for_each = local.people
  statement {
    sid       = "AssumeOwnRole"
    actions   = ["sts:AssumeRole"]
    resources = [module.identity.role_arns[each.key]]
  }
}

resource "aws_iam_user_policy" "person" {
  for_each = local.people
  name     = "assume-${each.key}-role"
  user     = aws_iam_user.person[each.key].name
  policy   = data.aws_iam_policy_document.assume[each.key].json
}

resource "aws_iam_access_key" "user" {
  for_each = merge(
    { for k, u in aws_iam_user.service : k => u.name },
    { for k, u in aws_iam_user.person : k => u.name },
  )
  user = each.value
}

output "role_arns" {
  value = module.identity.role_arns
}

output "access_keys" {
  description = "Each local identity's key (pipeline, sagemaker, engineer, scientist)."
  sensitive   = true
  value = {
    for k, key in aws_iam_access_key.user : k => { id = key.id, secret = key.secret }
  }
}
