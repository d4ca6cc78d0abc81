variable "environment" {
  description = "dev or prod: the environment (and account) whose state bucket this is."
  type        = string
  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*$", var.environment))
    error_message = "environment is lower case letters, digits and dashes (dev, prod)."
  }
}

variable "region" {
  description = "AWS region of the state bucket (the environments' backend.hcl names it)."
  type        = string
  default     = "eu-west-1"
}

variable "project" {
  description = "Prefix of the names (the environment roots use mlops)."
  type        = string
  default     = "mlops"
}

variable "state_version_retention_days" {
  description = "Days a replaced state version is kept (versioning restores any of them)."
  type        = number
  default     = 90
}

variable "access_log_expiration_days" {
  description = "Days the state bucket's access logs are kept."
  type        = number
  default     = 365
}
