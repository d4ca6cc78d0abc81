variable "project" {
  description = "Project name, the first part of every name."
  type        = string
  default     = "mlops"
}

variable "environment" {
  description = "Environment: dev or prod (one AWS account each; model package group names are per account)."
  type        = string
  validation {
    condition     = contains(["dev", "prod"], var.environment)
    error_message = "environment must be dev or prod."
  }
}

variable "model_package_groups" {
  description = "SageMaker model package groups (one per include/models/*.yaml, underscores as dashes)."
  type        = list(string)
  default     = ["diabetes-progression", "digits-classifier"]
}

variable "capture_prefix" {
  description = "Prefix of the endpoints' data capture in the artifacts bucket (deployment.data_capture.prefix of include/models/*.yaml; the default there)."
  type        = string
  default     = "data-capture"
  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+(/[A-Za-z0-9_.-]+)*$", var.capture_prefix)) && !startswith(var.capture_prefix, "models")
    error_message = "capture_prefix is an S3 key prefix without leading or trailing '/', outside models/ (the SageMaker role reads models/)."
  }
}

variable "capture_expiration_days" {
  description = "Days captured requests and answers are kept (the pipeline publishes them as the curated predictions dataset)."
  type        = number
  default     = 365
}

variable "source_connection_ids" {
  description = "Airflow connection ids of the sources (include/sources/*.yaml connection_id)."
  type        = list(string)
  default     = ["clinic_db"]
}

variable "quarantine_expiration_days" {
  description = "Days quarantined batches are kept for review."
  type        = number
  default     = 30
}

variable "raw_infrequent_access_days" {
  description = "Age at which raw partitions move to STANDARD_IA."
  type        = number
  default     = 30
}

variable "raw_archive_days" {
  description = "Age at which raw partitions move to GLACIER_IR."
  type        = number
  default     = 180
}

variable "force_destroy_buckets" {
  description = "Allow destroying non-empty buckets (dev only)."
  type        = bool
  default     = false
}

variable "deletion_protection" {
  description = "Deletion protection of the tables."
  type        = bool
  default     = true
}

variable "engineer_principal_arns" {
  description = "Principals that may assume the data engineer role."
  type        = list(string)
  default     = []
}

variable "scientist_principal_arns" {
  description = "Principals that may assume the data scientist role."
  type        = list(string)
  default     = []
}

variable "ci_principal_arns" {
  description = "Principals (besides GitHub Actions) that may assume the CI deploy role."
  type        = list(string)
  default     = []
}

variable "github_repository" {
  description = "GitHub repository (owner/name) whose Actions may assume the CI deploy role (OIDC); null: none."
  type        = string
  default     = null
}

variable "github_deploy_branch" {
  description = "Branch whose pushes may deploy."
  type        = string
  default     = "main"
}

variable "github_deploy_environment" {
  description = "GitHub environment a deploy job may name instead of the branch; null: branch only."
  type        = string
  default     = null
}

variable "github_oidc_provider_arn" {
  description = "The account's existing GitHub OIDC provider; null: create it."
  type        = string
  default     = null
}

variable "create_mwaa" {
  description = "Create the MWAA environment (needs the network and the uploaded bundle versions)."
  type        = bool
  default     = true
}

variable "mwaa_environment_class" {
  description = "MWAA environment class."
  type        = string
  default     = "mw1.small"
}

variable "mwaa_max_workers" {
  description = "Maximum Celery workers."
  type        = number
  default     = 5
}

variable "plugins_s3_object_version" {
  description = "Object version of plugins.zip in the MWAA bucket."
  type        = string
  default     = null
}

variable "requirements_s3_object_version" {
  description = "Object version of requirements.txt in the MWAA bucket."
  type        = string
  default     = null
}

variable "startup_script_s3_object_version" {
  description = "Object version of startup.sh in the MWAA bucket."
  type        = string
  default     = null
}

variable "vpc_id" {
  description = "VPC of MWAA and the notebook."
  type        = string
  default     = null
}

variable "private_subnet_ids" {
  description = "Two private subnets (different AZs) for MWAA; the first also hosts the notebook."
  type        = list(string)
  default     = []
}

variable "create_notebook" {
  description = "Create the scientists' notebook instance."
  type        = bool
  default     = true
}

variable "notebook_security_group_ids" {
  description = "Security groups of the notebook instance."
  type        = list(string)
  default     = []
}
