# Root of one environment. The same file is in every envs/<env>/ (a test checks it); what
# differs is terraform.tfvars and the state backend (backend.hcl).

terraform {
  required_version = ">= 1.10" # the S3 backend's native lock file (use_lockfile)
  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = ">= 5.90, < 6.0"
    }
  }
  # State in S3 with locking (a lock file beside the state); bucket, key, region and key id come
  # from backend.hcl at init: infra/bootstrap creates the bucket and prints them (backend.hcl.example).
  backend "s3" {}
}

provider "aws" {
  region = var.region
  default_tags {
    tags = {
      Project     = "mlops"
      Environment = var.environment
      ManagedBy   = "terraform"
    }
  }
}

module "stack" {
  source = "../../stack"

  environment                      = var.environment
  force_destroy_buckets            = var.force_destroy_buckets
  deletion_protection              = var.deletion_protection
  quarantine_expiration_days       = var.quarantine_expiration_days
  engineer_principal_arns          = var.engineer_principal_arns
  scientist_principal_arns         = var.scientist_principal_arns
  ci_principal_arns                = var.ci_principal_arns
  github_repository                = var.github_repository
  github_deploy_branch             = var.github_deploy_branch
  github_deploy_environment        = var.github_deploy_environment
  github_oidc_provider_arn         = var.github_oidc_provider_arn
  create_mwaa                      = var.create_mwaa
  mwaa_environment_class           = var.mwaa_environment_class
  mwaa_max_workers                 = var.mwaa_max_workers
  plugins_s3_object_version        = var.plugins_s3_object_version
  requirements_s3_object_version   = var.requirements_s3_object_version
  startup_script_s3_object_version = var.startup_script_s3_object_version
  vpc_id                           = var.vpc_id
  private_subnet_ids               = var.private_subnet_ids
  create_notebook                  = var.create_notebook
  notebook_security_group_ids      = var.notebook_security_group_ids
}

output "pipeline_environment" {
  description = "The settings the pipelines read."
  value       = module.stack.pipeline_environment
}

output "role_arns" {
  description = "IAM roles by identity."
  value       = module.stack.role_arns
}

output "bucket_names" {
  description = "Buckets by role."
  value       = module.stack.bucket_names
}

output "kms_key_arns" {
  description = "KMS keys by zone."
  value       = module.stack.kms_key_arns
}

output "connection_secret_arns" {
  description = "Secrets of the sources' connections (put their values out of band)."
  value       = module.stack.connection_secret_arns
}

output "mwaa_environment_name" {
  description = "MWAA environment name."
  value       = module.stack.mwaa_environment_name
}

output "mwaa_webserver_url" {
  description = "Private web server address of MWAA."
  value       = module.stack.mwaa_webserver_url
}

output "access_log_bucket_name" {
  description = "Server access logs of the buckets."
  value       = module.stack.access_log_bucket_name
}

output "ci_deploy_role_arn" {
  description = "The role GitHub Actions assume to deploy (aws-actions/configure-aws-credentials role-to-assume)."
  value       = module.stack.role_arns["ci"]
}
