# Server access logs of the five buckets go to one log bucket per environment, under <role>/
# (raw/, landing/, curated/, artifacts/, mwaa/): who read or wrote which object, when.

module "access_logs" {
  source = "../access_logs"

  bucket_name         = "${var.name_prefix}-access-logs-${var.account_id}"
  account_id          = var.account_id
  source_bucket_names = { for k, b in local.buckets : k => b.name }
  expiration_days     = var.access_log_expiration_days
  force_destroy       = var.force_destroy
}

resource "aws_s3_bucket_logging" "this" {
  for_each = local.buckets

  bucket        = aws_s3_bucket.this[each.key].id
  target_bucket = module.access_logs.bucket_name
  target_prefix = "${each.key}/"

  depends_on = [module.access_logs] # S3 checks the log bucket's policy when logging is switched on
}
