# Model versions (MLOPS_VERSIONS_TABLE) and the metrics history (MLOPS_METRICS_TABLE), with the
# keys plugins/mlops/work/versioning.py and registry.py create locally.
locals {
  tables = {
    versions = { name = "${var.name_prefix}-model-versions", range_key = "record" }
    metrics  = { name = "${var.name_prefix}-model-metrics", range_key = "evaluation" }
  }
}

resource "aws_dynamodb_table" "this" {
  for_each = local.tables

  name                        = each.value.name
  billing_mode                = "PAY_PER_REQUEST"
  hash_key                    = "model"
  range_key                   = each.value.range_key
  deletion_protection_enabled = var.deletion_protection

  attribute {
    name = "model"
    type = "S"
  }
  attribute {
    name = each.value.range_key
    type = "S"
  }

  server_side_encryption {
    enabled     = true
    kms_key_arn = var.platform_kms_key_arn
  }

  point_in_time_recovery {
    enabled = true
  }
}
