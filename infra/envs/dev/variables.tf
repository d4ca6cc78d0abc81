variable "environment" {
  description = "dev or prod."
  type        = string
}

variable "region" {
  description = "AWS region."
  type        = string
}

variable "force_destroy_buckets" {
  description = "Allow destroying non-empty buckets."
  type        = bool
}

variable "deletion_protection" {
  description = "Deletion protection of the tables."
  type        = bool
}

variable "quarantine_expiration_days" {
  description = "Days quarantined batches are kept for review."
  type        = number
}

variable "engineer_principal_arns" {
  description = "Principals that may assume the data engineer role (empty: the account's IAM-authorised principals)."
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
  description = "GitHub repository (owner/name) whose Actions may assume the CI deploy role through OIDC; null: none."
  type        = string
  default     = null
}

variable "github_deploy_branch" {
  description = "Branch whose pushes may deploy to this environment."
  type        = string
  default     = "main"
}

variable "github_deploy_environment" {
  description = "GitHub environment a deploy job may name instead of the branch (e.g. prod with required reviewers); null: branch only."
  type        = string
  default     = null
}

variable "github_oidc_provider_arn" {
  description = "The account's existing token.actions.githubusercontent.com OIDC provider; null: create it."
  type        = string
  default     = null
}

variable "create_mwaa" {
  description = "Create the MWAA environment."
  type        = bool
}

variable "mwaa_environment_class" {
  description = "MWAA environment class."
  type        = string
}

variable "mwaa_max_workers" {
  description = "Maximum Celery workers."
  type        = number
}

variable "plugins_s3_object_version" {
  description = "Object version of plugins.zip (from the CI upload)."
  type        = string
  default     = null
}

variable "requirements_s3_object_version" {
  description = "Object version of requirements.txt (from the CI upload)."
  type        = string
  default     = null
}

variable "startup_script_s3_object_version" {
  description = "Object version of startup.sh (from the CI upload)."
  type        = string
  default     = null
}

variable "vpc_id" {
  description = "VPC of MWAA and the notebook."
  type        = string
  default     = null
}

variable "private_subnet_ids" {
  description = "Two private subnets in different AZs."
  type        = list(string)
  default     = []
}

variable "create_notebook" {
  description = "Create the scientists' notebook instance."
  type        = bool
}

variable "notebook_security_group_ids" {
  description = "Security groups of the notebook instance."
  type        = list(string)
  default     = []
}
