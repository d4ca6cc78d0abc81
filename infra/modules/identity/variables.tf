variable "name_prefix" {
  description = "Prefix of every name, e.g. mlops-dev."
  type        = string
}

variable "account_id" {
  description = "AWS account id."
  type        = string
}

variable "region" {
  description = "AWS region."
  type        = string
}

variable "bucket_arns" {
  description = "Bucket ARNs by role: raw, landing, curated, artifacts, mwaa."
  type        = map(string)
}

variable "kms_key_arns" {
  description = "KMS key ARNs by zone: sources, curated, artifacts, platform."
  type        = map(string)
}

variable "alerts_topic_arn" {
  description = "SNS alerts topic."
  type        = string
}

variable "table_arns" {
  description = "DynamoDB table ARNs: versions, metrics."
  type        = map(string)
}

variable "mwaa_environment_name" {
  description = "MWAA environment name (its ARN, log groups and web login roles derive from it)."
  type        = string
}

variable "glue_database_name" {
  description = "Glue database of the curated datasets."
  type        = string
}

variable "endpoint_names" {
  description = "The project's SageMaker endpoints (one per model, named after its package group); their models and endpoint configs are named <endpoint>-<version>-<digest>. Policies scope SageMaker serving to these names."
  type        = list(string)
  validation {
    # SageMaker ARNs carry names in lower case; plugins/mlops/deployment/requests.py shortens the
    # model part of a name beyond 63 - len("-<version>-<digest>") characters, so 40 keeps the prefix whole.
    condition     = alltrue([for n in var.endpoint_names : can(regex("^[a-z0-9](-?[a-z0-9])*$", n)) && length(n) <= 40])
    error_message = "endpoint names are lower-case letters, digits and single hyphens, at most 40 characters."
  }
}

variable "capture_prefix" {
  description = "Prefix of the endpoints' data capture in the artifacts bucket."
  type        = string
}

variable "engineer_principal_arns" {
  description = "Principals that may assume the data engineer role (SSO roles, users). Empty: any principal of this account that IAM allows to."
  type        = list(string)
  default     = []
}

variable "scientist_principal_arns" {
  description = "Principals that may assume the data scientist role. Empty: any principal of this account that IAM allows to."
  type        = list(string)
  default     = []
}

variable "ci_principal_arns" {
  description = "Principals (besides GitHub Actions) that may assume the CI deploy role, e.g. another runner's role. Empty and no github_repository: any principal of this account that IAM allows to."
  type        = list(string)
  default     = []
}

variable "github_repository" {
  description = "GitHub repository (owner/name) whose Actions may assume the CI deploy role through OIDC. Null: no GitHub trust."
  type        = string
  default     = null
  validation {
    condition     = var.github_repository == null || can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository is owner/name, without wildcards."
  }
}

variable "github_deploy_branch" {
  description = "The branch whose pushes may deploy (the token subject repo:<owner/name>:ref:refs/heads/<branch>)."
  type        = string
  default     = "main"
  validation {
    condition     = can(regex("^[A-Za-z0-9_./-]+$", var.github_deploy_branch))
    error_message = "github_deploy_branch is a branch name, without wildcards."
  }
}

variable "github_deploy_environment" {
  description = "GitHub environment a deploy job may name instead (subject repo:<owner/name>:environment:<name>); null: branch only."
  type        = string
  default     = null
  validation {
    condition     = var.github_deploy_environment == null || can(regex("^[A-Za-z0-9_.-]+$", var.github_deploy_environment))
    error_message = "github_deploy_environment is an environment name, without wildcards."
  }
}

variable "github_oidc_provider_arn" {
  description = "ARN of the account's existing token.actions.githubusercontent.com OIDC provider; null: create it."
  type        = string
  default     = null
}
