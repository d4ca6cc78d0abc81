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
  description = "Principals that may assume the CI deploy role (e.g. the CI runner's OIDC role). Empty: any principal of this account that IAM allows to."
  type        = list(string)
  default     = []
}
