variable "name_prefix" {
  description = "Prefix of every name, e.g. mlops-dev."
  type        = string
}

variable "platform_kms_key_arn" {
  description = "KMS key of the platform zone (topic, tables)."
  type        = string
}

variable "sources_kms_key_arn" {
  description = "KMS key of the sources zone (the sources' secrets)."
  type        = string
}

variable "model_package_groups" {
  description = "SageMaker model package groups, one per model (names as plugins/mlops/work/registry.py derives them)."
  type        = list(string)
}

variable "source_connection_ids" {
  description = "Airflow connection ids of the sources; each gets an empty secret airflow/connections/<id> whose value is set out of band."
  type        = list(string)
}

variable "glue_database_name" {
  description = "Glue database for the curated datasets (letters, digits, underscores)."
  type        = string
}

variable "curated_bucket_name" {
  description = "Curated bucket, the Glue database's location."
  type        = string
}

variable "mwaa_environment_name" {
  description = "Name of the MWAA environment whose metrics the alarms watch."
  type        = string
}

variable "deletion_protection" {
  description = "Protect the tables from deletion (prod)."
  type        = bool
  default     = true
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret can be restored."
  type        = number
  default     = 30
}
