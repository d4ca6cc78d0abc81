# One environment of the platform: storage, platform services, identities, MWAA, notebook.

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}

locals {
  name_prefix = "${var.project}-${var.environment}"
  account_id  = data.aws_caller_identity.current.account_id
  region      = data.aws_region.current.name
  mwaa_name   = "${local.name_prefix}-airflow"
  glue_db     = replace("${local.name_prefix}_curated", "-", "_")
}

module "storage" {
  source = "../modules/storage"

  name_prefix                = local.name_prefix
  account_id                 = local.account_id
  region                     = local.region
  quarantine_expiration_days = var.quarantine_expiration_days
  raw_infrequent_access_days = var.raw_infrequent_access_days
  raw_archive_days           = var.raw_archive_days
  capture_prefix             = var.capture_prefix
  capture_expiration_days    = var.capture_expiration_days
  force_destroy              = var.force_destroy_buckets
}

module "platform" {
  source = "../modules/platform"

  name_prefix           = local.name_prefix
  platform_kms_key_arn  = module.storage.kms_key_arns["platform"]
  sources_kms_key_arn   = module.storage.kms_key_arns["sources"]
  model_package_groups  = var.model_package_groups
  source_connection_ids = var.source_connection_ids
  glue_database_name    = local.glue_db
  curated_bucket_name   = module.storage.bucket_names["curated"]
  mwaa_environment_name = local.mwaa_name
  deletion_protection   = var.deletion_protection
}

module "identity" {
  source = "../modules/identity"

  name_prefix               = local.name_prefix
  account_id                = local.account_id
  region                    = local.region
  bucket_arns               = module.storage.bucket_arns
  kms_key_arns              = module.storage.kms_key_arns
  alerts_topic_arn          = module.platform.alerts_topic_arn
  table_arns                = module.platform.table_arns
  mwaa_environment_name     = local.mwaa_name
  glue_database_name        = local.glue_db
  endpoint_names            = var.model_package_groups # an endpoint is named after its model's package group
  capture_prefix            = var.capture_prefix
  engineer_principal_arns   = var.engineer_principal_arns
  scientist_principal_arns  = var.scientist_principal_arns
  ci_principal_arns         = var.ci_principal_arns
  github_repository         = var.github_repository
  github_deploy_branch      = var.github_deploy_branch
  github_deploy_environment = var.github_deploy_environment
  github_oidc_provider_arn  = var.github_oidc_provider_arn
}

module "mwaa" {
  source = "../modules/mwaa"

  name                             = local.mwaa_name
  create_environment               = var.create_mwaa
  environment_class                = var.mwaa_environment_class
  max_workers                      = var.mwaa_max_workers
  execution_role_arn               = module.identity.role_arns["mwaa"]
  bucket_name                      = module.storage.bucket_names["mwaa"]
  bucket_arn                       = module.storage.bucket_arns["mwaa"]
  kms_key_arn                      = module.storage.kms_key_arns["platform"]
  plugins_s3_object_version        = var.plugins_s3_object_version
  requirements_s3_object_version   = var.requirements_s3_object_version
  startup_script_s3_object_version = var.startup_script_s3_object_version
  vpc_id                           = var.vpc_id
  private_subnet_ids               = var.private_subnet_ids
}

module "notebook" {
  source = "../modules/notebook"

  create             = var.create_notebook
  name               = module.identity.notebook_instance_name
  role_arn           = module.identity.role_arns["notebook"]
  kms_key_arn        = module.storage.kms_key_arns["curated"]
  subnet_id          = length(var.private_subnet_ids) > 0 ? var.private_subnet_ids[0] : null
  security_group_ids = var.notebook_security_group_ids
}

# What the pipelines read (plugins/mlops/settings.py); on MWAA the startup script built by
# `make package` from deploy/environments/<env>.env exports them: keep that file equal to this.
locals {
  pipeline_environment = {
    MLOPS_ENVIRONMENT        = var.environment
    MLOPS_RAW_BUCKET         = module.storage.bucket_names["raw"]
    MLOPS_CURATED_BUCKET     = module.storage.bucket_names["curated"]
    MLOPS_LANDING_BUCKET     = module.storage.bucket_names["landing"]
    MLOPS_ARTIFACTS_BUCKET   = module.storage.bucket_names["artifacts"]
    MLOPS_ALERTS_TOPIC_ARN   = module.platform.alerts_topic_arn
    MLOPS_SAGEMAKER_ROLE_ARN = module.identity.role_arns["sagemaker"]
    MLOPS_METRICS_TABLE      = module.platform.table_names["metrics"]
    MLOPS_VERSIONS_TABLE     = module.platform.table_names["versions"]
    # Endpoint data capture names the artifacts key by its alias ARN (a name deploy/environments/*.env
    # can carry; the key id is per account): the bucket accepts the key's ARN or this alias and refuses
    # uploads naming any other key, and without a key SageMaker would ask for the account's aws/s3 key.
    MLOPS_CAPTURE_KMS_KEY_ID = module.storage.kms_alias_arns["artifacts"]
  }
}
