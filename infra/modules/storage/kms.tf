# One customer managed key per trust zone, so a grant on one zone's data cannot decrypt another's:
#   sources:   raw and landing buckets, the sources' secrets (engineers, MWAA)
#   curated:   curated bucket (engineers, MWAA, scientists read)
#   artifacts: models, evaluation reports, captured inference data (SageMaker, MWAA; scientists read
#              all but the captures, which an S3 deny keeps from them)
#   platform:  the MWAA bucket, alerts topic, tables, MWAA logs
# Who may use a key is decided by IAM policies (the key policies delegate to the account);
# the key policies add only the AWS services that must use a key on their own.

locals {
  kms_zones = toset(["sources", "curated", "artifacts", "platform"])
}

data "aws_iam_policy_document" "key" {
  for_each = local.kms_zones

  # checkov:skip=CKV_AWS_109:a key policy's Resource "*" means this key only; the account root statement delegates to IAM policies
  # checkov:skip=CKV_AWS_111:same: key policies are attached to exactly one key
  # checkov:skip=CKV_AWS_356:same: "*" in a key policy is the key itself
  statement {
    sid       = "DelegateToIamPolicies" # who may use the key is decided by least-privilege IAM policies
    actions   = ["kms:*"]
    resources = ["*"]
    principals {
      type        = "AWS"
      identifiers = ["arn:aws:iam::${var.account_id}:root"]
    }
  }

  dynamic "statement" {
    for_each = each.key == "platform" ? [1] : []
    content {
      sid       = "CloudWatchLogs" # MWAA's log groups are encrypted with this key
      actions   = ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
      resources = ["*"]
      principals {
        type        = "Service"
        identifiers = ["logs.${var.region}.amazonaws.com"]
      }
      condition {
        test     = "ArnLike"
        variable = "kms:EncryptionContext:aws:logs:arn"
        values   = ["arn:aws:logs:${var.region}:${var.account_id}:*"]
      }
    }
  }

  dynamic "statement" {
    for_each = each.key == "platform" ? [1] : []
    content {
      sid       = "CloudWatchAlarmsToEncryptedTopic" # alarms publish to the KMS-encrypted alerts topic
      actions   = ["kms:Decrypt", "kms:GenerateDataKey*"]
      resources = ["*"]
      principals {
        type        = "Service"
        identifiers = ["cloudwatch.amazonaws.com"]
      }
    }
  }
}

resource "aws_kms_key" "zone" {
  for_each = local.kms_zones

  description             = "${var.name_prefix} ${each.key} data"
  enable_key_rotation     = true
  deletion_window_in_days = var.kms_deletion_window_days
  policy                  = data.aws_iam_policy_document.key[each.key].json
}

resource "aws_kms_alias" "zone" {
  for_each = local.kms_zones

  name          = "alias/${var.name_prefix}-${each.key}"
  target_key_id = aws_kms_key.zone[each.key].key_id
}
