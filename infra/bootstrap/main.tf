# Bootstrap: the Terraform state bucket of one account, applied once per account before the
# environment roots (which keep their state in it). Local state (workspace per environment,
# ignored by git): see infra/README.md "Stand up an environment from zero".
#
#   infra/bin/tf -chdir=infra/bootstrap init
#   infra/bin/tf -chdir=infra/bootstrap workspace select -or-create dev
#   infra/bin/tf -chdir=infra/bootstrap apply -var environment=dev
#   infra/bin/tf -chdir=infra/bootstrap output -raw backend_hcl > infra/envs/dev/backend.hcl
#
# The bucket: SSE-KMS with its own key (rotation on), versioning (every state version can be
# restored), all public access blocked, ACLs off, TLS only, uploads with another encryption or
# key refused, server access logs, old state versions expire after a while. Locking is the S3
# backend's lock file beside the state (use_lockfile, Terraform >= 1.10): no DynamoDB table.

terraform {
  required_version = ">= 1.10"
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.90, < 6.0"
    }
  }
}

provider "aws" {
  region = var.region
  default_tags {
    tags = {
      Project     = var.project
      Environment = var.environment
      ManagedBy   = "terraform"
      Purpose     = "terraform-state"
    }
  }
}

data "aws_caller_identity" "current" {}

locals {
  account_id  = data.aws_caller_identity.current.account_id
  name_prefix = "${var.project}-${var.environment}"
  bucket_name = "${local.name_prefix}-tfstate-${local.account_id}"
}

data "aws_iam_policy_document" "key" {
  # checkov:skip=CKV_AWS_109:a key policy's Resource "*" means this key only; the account root statement delegates to IAM policies
  # checkov:skip=CKV_AWS_111:same: key policies are attached to exactly one key
  # checkov:skip=CKV_AWS_356:same: "*" in a key policy is the key itself
  statement {
    sid       = "DelegateToIamPolicies" # who may read or write the state is decided by the administrators' IAM policies
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${local.account_id}:root"]
    }
  }
}

resource "aws_kms_key" "state" {
  description             = "${local.name_prefix} Terraform state"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.key.json
}

resource "aws_kms_alias" "state" {
  name          = "alias/${local.name_prefix}-tfstate"
  target_key_id = aws_kms_key.state.key_id
}

resource "aws_s3_bucket" "state" {
  # checkov:skip=CKV_AWS_144:cross-region replication of the state is a disaster-recovery decision per account; versioning keeps every state version
  # checkov:skip=CKV2_AWS_62:nothing consumes events of state writes
  bucket = local.bucket_name

  lifecycle {
    prevent_destroy = true # losing the state orphans every resource of the environment
  }
}

# Versioned, public access blocked, ACLs off, SSE-KMS with the state key, TLS only, uploads with
# another encryption or key refused, access logs, replaced state versions expire.
module "state_bucket" {
  source = "../modules/secure_bucket"

  bucket      = aws_s3_bucket.state
  kms_key_arn = aws_kms_key.state.arn
  lifecycle_rules = [{
    id                                 = "expire-old-state-versions"
    noncurrent_version_expiration_days = var.state_version_retention_days
  }]
  access_logging = {
    target_bucket = module.access_logs.bucket_name # after the log bucket's policy: S3 checks it when logging is switched on
    target_prefix = "tfstate/"
  }
}

module "access_logs" {
  source = "../modules/access_logs"

  bucket_name         = "${local.name_prefix}-tfstate-logs-${local.account_id}"
  account_id          = local.account_id
  source_bucket_names = { tfstate = local.bucket_name }
  expiration_days     = var.access_log_expiration_days
}
