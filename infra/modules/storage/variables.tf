variable "name_prefix" {
  description = "Prefix of every name, e.g. mlops-dev."
  type        = string
}

variable "account_id" {
  description = "AWS account id; bucket names carry it to be globally unique."
  type        = string
}

variable "region" {
  description = "AWS region of the buckets and keys."
  type        = string
}

variable "kms_deletion_window_days" {
  description = "Waiting period before a scheduled key deletion takes effect."
  type        = number
  default     = 30
}

variable "quarantine_expiration_days" {
  description = "Days a quarantined batch (raw _quarantine/) is kept for review before it expires."
  type        = number
  default     = 30
}

variable "raw_infrequent_access_days" {
  description = "Age at which raw partitions move to STANDARD_IA (reruns of old intervals are rare)."
  type        = number
  default     = 30
}

variable "raw_archive_days" {
  description = "Age at which raw partitions move to GLACIER_IR (kept for audits, read seldom)."
  type        = number
  default     = 180
}

variable "landing_expiration_days" {
  description = "Days partner files stay in the landing bucket after they arrive (they are converted to raw on ingestion)."
  type        = number
  default     = 90
}

variable "noncurrent_version_expiration_days" {
  description = "Days an overwritten or deleted object version is kept (raw, curated, landing)."
  type        = number
  default     = 30
}

variable "force_destroy" {
  description = "Allow terraform destroy to delete non-empty buckets (never in prod)."
  type        = bool
  default     = false
}

variable "access_log_expiration_days" {
  description = "Days the buckets' server access logs are kept."
  type        = number
  default     = 365
}

variable "capture_prefix" {
  description = "Prefix of the endpoints' data capture in the artifacts bucket (SSE-KMS with the artifacts key)."
  type        = string
  default     = "data-capture"
}

variable "capture_expiration_days" {
  description = "Days captured inference requests and answers are kept (they are published as a curated dataset)."
  type        = number
  default     = 365
}
