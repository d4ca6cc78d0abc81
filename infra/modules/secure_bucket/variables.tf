variable "bucket" {
  description = "The bucket to harden: the caller's aws_s3_bucket (its id and arn). The caller keeps the bucket resource itself, with its lifecycle settings and its checkov suppressions."
  type = object({
    id  = string
    arn = string
  })
}

variable "sse_algorithm" {
  description = "Default encryption: aws:kms (with kms_key_arn; uploads asking for another encryption or key are refused) or AES256 (SSE-S3, without a key: e.g. a server access log destination)."
  type        = string
  default     = "aws:kms"
  validation {
    condition     = contains(["aws:kms", "AES256"], var.sse_algorithm)
    error_message = "sse_algorithm is aws:kms or AES256."
  }
}

variable "kms_key_arn" {
  description = "KMS key of the default encryption (bucket keys on) when sse_algorithm is aws:kms; null with AES256."
  type        = string
  default     = null
}

variable "kms_key_alias_arn" {
  description = "An alias ARN of kms_key_arn that uploads may name instead of the key ARN (S3 compares the header as sent, it does not resolve aliases); null: only the key ARN."
  type        = string
  default     = null
}

variable "tls_principal_type" {
  description = "Principal type of the TLS-only statement: \"*\", or \"AWS\" ({\"AWS\": \"*\"}, the same to IAM) for log destinations, whose policy moto's PutBucketLogging check cannot read with a bare \"*\"."
  type        = string
  default     = "*"
}

variable "policy_documents" {
  description = "Further policy documents (JSON) whose statements are appended to the base policy (TLS only, and with a KMS key: no other encryption or key). Sids must be unique."
  type        = list(string)
  default     = []
}

variable "access_logging" {
  description = "Where the bucket's server access logs go: target_bucket (pass the log bucket's name from an output that depends on its policy: S3 checks it when logging is switched on) and target_prefix. null: no access logging."
  type = object({
    target_bucket = string
    target_prefix = string
  })
  default = null
}

variable "lifecycle_rules" {
  description = "Lifecycle rules after the abort-incomplete-multipart-uploads rule every bucket gets: id, optional prefix filter, expiration_days, noncurrent_version_expiration_days and transitions ({days, storage_class})."
  type = list(object({
    id                                 = string
    prefix                             = optional(string)
    expiration_days                    = optional(number)
    noncurrent_version_expiration_days = optional(number)
    transitions = optional(list(object({
      days          = number
      storage_class = string
    })), [])
  }))
  default = []
}
