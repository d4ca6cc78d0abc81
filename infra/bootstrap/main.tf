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

resource "aws_s3_bucket_ownership_controls" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    object_ownership = "BucketOwnerEnforced" # ACLs off: access is decided by policies only
  }
}

resource "aws_s3_bucket_public_access_block" "state" {
  bucket                  = aws_s3_bucket.state.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_versioning" "state" {
  bucket = aws_s3_bucket.state.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "state" {
  bucket = aws_s3_bucket.state.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.state.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "state" {
  bucket = aws_s3_bucket.state.id

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }

  rule {
    id     = "expire-old-state-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.state_version_retention_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.state]
}

data "aws_iam_policy_document" "state" {
  statement {
    sid       = "DenyInsecureTransport" # TLS only: plain HTTP requests are refused
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [aws_s3_bucket.state.arn, "${aws_s3_bucket.state.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Bool"
      variable = "aws:SecureTransport"
      values   = ["false"]
    }
  }

  statement {
    sid       = "DenyOtherEncryption" # a state upload asking for SSE-S3, DSSE or anything but SSE-KMS is refused
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.state.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Null"
      variable = "s3:x-amz-server-side-encryption"
      values   = ["false"]
    }
    condition {
      test     = "StringNotEquals"
      variable = "s3:x-amz-server-side-encryption"
      values   = ["aws:kms"]
    }
  }

  statement {
    sid       = "DenyOtherKmsKey" # a state upload naming a KMS key other than the state key is refused
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.state.arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Null"
      variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
      values   = ["false"]
    }
    condition {
      test     = "StringNotEquals"
      variable = "s3:x-amz-server-side-encryption-aws-kms-key-id"
      values   = [aws_kms_key.state.arn]
    }
  }
}

resource "aws_s3_bucket_policy" "state" {
  bucket = aws_s3_bucket.state.id
  policy = data.aws_iam_policy_document.state.json

  depends_on = [aws_s3_bucket_public_access_block.state]
}

module "access_logs" {
  source = "../modules/access_logs"

  bucket_name         = "${local.name_prefix}-tfstate-logs-${local.account_id}"
  account_id          = local.account_id
  source_bucket_names = { tfstate = local.bucket_name }
  expiration_days     = var.access_log_expiration_days
}

resource "aws_s3_bucket_logging" "state" {
  bucket        = aws_s3_bucket.state.id
  target_bucket = module.access_logs.bucket_name
  target_prefix = "tfstate/"

  depends_on = [module.access_logs] # S3 checks the log bucket's policy when logging is switched on
}
