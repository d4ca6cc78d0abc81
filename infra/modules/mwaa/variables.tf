variable "name" {
  description = "MWAA environment name."
  type        = string
}

variable "create_environment" {
  description = "Create the environment (false where MWAA is not available, e.g. moto)."
  type        = bool
  default     = true
}

variable "airflow_version" {
  description = "Airflow version MWAA runs; pinned to what requirements.txt is built for."
  type        = string
  default     = "3.3.1"
}

variable "environment_class" {
  description = "MWAA environment class."
  type        = string
  default     = "mw1.small"
}

variable "min_workers" {
  description = "Minimum Celery workers."
  type        = number
  default     = 1
}

variable "max_workers" {
  description = "Maximum Celery workers."
  type        = number
  default     = 5
}

variable "execution_role_arn" {
  description = "The MWAA execution role."
  type        = string
}

variable "bucket_name" {
  description = "The MWAA bucket (dags/, plugins.zip, requirements.txt, startup.sh), uploaded by the CI deploy role."
  type        = string
}

variable "bucket_arn" {
  description = "ARN of the MWAA bucket."
  type        = string
}

variable "kms_key_arn" {
  description = "Platform key: the environment's data, logs and the startup script."
  type        = string
}

variable "plugins_s3_object_version" {
  description = "Object version of plugins.zip the environment runs (CI prints it after the upload)."
  type        = string
  default     = null
}

variable "requirements_s3_object_version" {
  description = "Object version of requirements.txt the environment installs (CI prints it after the upload)."
  type        = string
  default     = null
}

variable "startup_script_s3_object_version" {
  description = "Object version of startup.sh (exports the MLOPS_* settings; built by make package)."
  type        = string
  default     = null
}

variable "vpc_id" {
  description = "VPC of the environment."
  type        = string
  default     = null
}

variable "private_subnet_ids" {
  description = "Two private subnets in different availability zones (with NAT or VPC endpoints)."
  type        = list(string)
  default     = []
}
