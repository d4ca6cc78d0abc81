# The S3 server access log bucket of one account and environment: every request to the source
# buckets (who, what, when, from where) lands here under <prefix>/. Server access log delivery
# writes only to buckets with SSE-S3 default encryption (SSE-KMS is not supported for the
# destination), so this bucket, alone of ours, uses SSE-S3; it holds request metadata (requester
# ARNs, object keys), never object contents. Nobody but the account's administrators is granted it.

variable "bucket_name" {
  description = "Name of the access log bucket."
  type        = string
}

variable "account_id" {
  description = "AWS account id (log delivery is accepted from this account's buckets only)."
  type        = string
}

variable "source_bucket_names" {
  description = "Buckets whose access logs come here, by log prefix (e.g. raw => mlops-dev-raw-<account>)."
  type        = map(string)
}

variable "expiration_days" {
  description = "Days an access log object is kept."
  type        = number
  default     = 365
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete a non-empty bucket (never in prod)."
  type        = bool
  default     = false
}

resource "aws_s3_bucket" "logs" {
  # checkov:skip=CKV_AWS_18:this is the access log destination; logging its own requests into itself would loop
  # checkov:skip=CKV_AWS_145:S3 server access log delivery supports only SSE-S3 default encryption on the destination bucket
  # checkov:skip=CKV_AWS_144:cross-region replication is a disaster-recovery decision per environment, not in this increment
  # checkov:skip=CKV2_AWS_62:nothing consumes events of new log objects; logs are read by audits and Athena
  bucket        = var.bucket_name
  force_destroy = var.force_destroy
}

# Versioned, public access blocked, ACLs off, SSE-S3 (no key: the only default encryption log
# delivery supports), TLS only, no access logging of its own, plus: S3 delivers our buckets' logs.
module "bucket" {
  source = "../secure_bucket"

  bucket             = aws_s3_bucket.logs
  sse_algorithm      = "AES256" # the only default encryption server access log delivery supports
  tls_principal_type = "AWS"    # {"AWS": "*"}: every principal, like "*" (IAM treats both the same; moto's PutBucketLogging check reads only this form)
  policy_documents   = [data.aws_iam_policy_document.log_delivery.json]
  lifecycle_rules = [{
    id                                 = "expire-old-access-logs"
    expiration_days                    = var.expiration_days
    noncurrent_version_expiration_days = 30
  }]
}

data "aws_iam_policy_document" "log_delivery" {
  statement {
    sid       = "ServerAccessLogDelivery" # S3 delivers the access logs of our own source buckets, and of no one else's
    actions   = ["s3:PutObject"]
    resources = ["${aws_s3_bucket.logs.arn}/*"]
    principals {
      type        = "Service"
      identifiers = ["logging.s3.amazonaws.com"]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = [for name in values(var.source_bucket_names) : "arn:aws:s3:::${name}"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [var.account_id]
    }
  }
}

output "bucket_name" {
  description = "Name of the access log bucket, once its policy lets S3 deliver logs (pass it as the logging target)."
  value       = module.bucket.bucket_name
}

output "bucket_arn" {
  description = "ARN of the access log bucket."
  value       = aws_s3_bucket.logs.arn
}

output "ready" {
  description = "The bucket policy that lets S3 deliver logs (aws_s3_bucket_logging depends on it)."
  value       = module.bucket.bucket_name
}
