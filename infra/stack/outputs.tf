output "pipeline_environment" {
  description = "The settings the pipelines read (also in the MWAA startup script)."
  value       = local.pipeline_environment
}

output "bucket_names" {
  description = "Buckets by role."
  value       = module.storage.bucket_names
}

output "kms_key_arns" {
  description = "KMS keys by zone."
  value       = module.storage.kms_key_arns
}

output "role_arns" {
  description = "IAM roles by identity."
  value       = module.identity.role_arns
}

output "connection_secret_arns" {
  description = "Secrets of the sources' connections (values set out of band)."
  value       = module.platform.connection_secret_arns
}

output "model_package_group_arns" {
  description = "Model package groups."
  value       = module.platform.model_package_group_arns
}

output "glue_database_name" {
  description = "Glue database of the curated datasets."
  value       = module.platform.glue_database_name
}

output "mwaa_environment_name" {
  description = "MWAA environment name."
  value       = local.mwaa_name
}

output "mwaa_webserver_url" {
  description = "Private web server address of MWAA (null when not created)."
  value       = module.mwaa.webserver_url
}

output "access_log_bucket_name" {
  description = "Server access logs of the five buckets (prefix per bucket role)."
  value       = module.storage.access_log_bucket_name
}

output "github_oidc_provider_arn" {
  description = "The GitHub Actions OIDC provider the CI deploy role trusts (null without github_repository)."
  value       = module.identity.github_oidc_provider_arn
}
