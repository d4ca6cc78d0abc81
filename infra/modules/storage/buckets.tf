# The five buckets. Every one (infra/modules/secure_bucket): SSE-KMS by default with its zone's key
# (bucket keys on), versioning, all public access blocked, ACLs disabled, a policy that refuses
# plain HTTP and uploads that ask for another encryption, another key or SSE-C, lifecycle rules
# (lifecycle.tf), and server access logs (access_logs.tf).

locals {
  buckets = {
    raw = {
      name = "${var.name_prefix}-raw-${var.account_id}"
      zone = "sources"
    }
    landing = {
      name = "${var.name_prefix}-landing-${var.account_id}"
      zone = "sources"
    }
    curated = {
      name = "${var.name_prefix}-curated-${var.account_id}"
      zone = "curated"
    }
    artifacts = {
      name = "${var.name_prefix}-artifacts-${var.account_id}"
      zone = "artifacts"
    }
    # MWAA requires its bucket's name to start with "airflow-".
    mwaa = {
      name = "airflow-${var.name_prefix}-${var.account_id}"
      zone = "platform"
    }
  }
}

resource "aws_s3_bucket" "this" {
  for_each = local.buckets

  # checkov:skip=CKV_AWS_144:cross-region replication is a disaster-recovery decision per environment, not in this increment
  # checkov:skip=CKV2_AWS_62:no consumer of S3 event notifications yet (ingestion is scheduled, not event driven)
  bucket        = each.value.name
  force_destroy = var.force_destroy
}

module "bucket" {
  for_each = local.buckets
  source   = "../secure_bucket"

  bucket            = aws_s3_bucket.this[each.key]
  kms_key_arn       = aws_kms_key.zone[each.value.zone].arn
  kms_key_alias_arn = aws_kms_alias.zone[each.value.zone].arn # a setting can name the key by its alias (MLOPS_CAPTURE_KMS_KEY_ID)
  policy_documents  = [data.aws_iam_policy_document.bucket[each.key].json]
  lifecycle_rules   = local.lifecycle_rules[each.key]
  access_logging = {
    target_bucket = module.access_logs.bucket_name # after the log bucket's policy: S3 checks it when logging is switched on
    target_prefix = "${each.key}/"
  }
}

# Appended to the module's base policy (TLS only, no other encryption, no other key).
data "aws_iam_policy_document" "bucket" {
  for_each = local.buckets

  statement {
    sid       = "DenyCustomerProvidedKeys" # SSE-C objects could not be read by anyone but the uploader
    effect    = "Deny"
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.this[each.key].arn}/*"]
    principals {
      type        = "*"
      identifiers = ["*"]
    }
    condition {
      test     = "Null"
      variable = "s3:x-amz-server-side-encryption-customer-algorithm"
      values   = ["false"]
    }
  }
}
