output "bucket_names" {
  description = "Bucket names by role: raw, landing, curated, artifacts, mwaa."
  value       = { for k, b in aws_s3_bucket.this : k => b.bucket }
}

output "bucket_arns" {
  description = "Bucket ARNs by role."
  value       = { for k, b in aws_s3_bucket.this : k => b.arn }
}

output "kms_key_arns" {
  description = "KMS key ARNs by zone: sources, curated, artifacts, platform."
  value       = { for k, key in aws_kms_key.zone : k => key.arn }
}

output "kms_alias_arns" {
  description = "KMS alias ARNs by zone (alias/<name_prefix>-<zone>): the names settings files can carry, unlike the key ids."
  value       = { for k, alias in aws_kms_alias.zone : k => alias.arn }
}

output "access_log_bucket_name" {
  description = "Bucket of the five buckets' server access logs (prefix per bucket role)."
  value       = module.access_logs.bucket_name
}
