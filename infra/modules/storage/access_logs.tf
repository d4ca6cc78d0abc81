# Server access logs of the five buckets go to one log bucket per environment, under <role>/
# (raw/, landing/, curated/, artifacts/, mwaa/): who read or wrote which object, when. Each
# bucket's logging is switched on in module.bucket (buckets.tf).

module "access_logs" {
  source = "../access_logs"

  bucket_name         = "${var.name_prefix}-access-logs-${var.account_id}"
  account_id          = var.account_id
  source_bucket_names = { for k, b in local.buckets : k => b.name }
  expiration_days     = var.access_log_expiration_days
  force_destroy       = var.force_destroy
}
