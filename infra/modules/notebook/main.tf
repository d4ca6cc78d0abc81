# The scientists' notebook instance: no internet access from the notebook, no root, encrypted
# storage, runs as the notebook role (the scientists' data access and nothing more).

variable "create" {
  description = "Create the notebook instance."
  type        = bool
  default     = true
}

variable "name" {
  description = "Notebook instance name (the scientist role may open only this one)."
  type        = string
}

variable "role_arn" {
  description = "The notebook role."
  type        = string
}

variable "kms_key_arn" {
  description = "Key of the notebook's storage volume (the curated zone's key)."
  type        = string
}

variable "subnet_id" {
  description = "Private subnet of the notebook (no direct internet access)."
  type        = string
  default     = null
}

variable "security_group_ids" {
  description = "Security groups of the notebook."
  type        = list(string)
  default     = []
}

variable "instance_type" {
  description = "Notebook instance type."
  type        = string
  default     = "ml.t3.medium"
}

resource "aws_sagemaker_notebook_instance" "this" {
  # checkov:skip=CKV2_AWS_68:checkov cannot follow a role ARN handed over from another module's output and fails the link, not the policy; the notebook role allows no "*" action (tests/infra checks the applied documents)
  count = var.create ? 1 : 0

  name                   = var.name
  role_arn               = var.role_arn
  instance_type          = var.instance_type
  kms_key_id             = var.kms_key_arn
  direct_internet_access = "Disabled"
  root_access            = "Disabled"
  subnet_id              = var.subnet_id
  security_groups        = var.security_group_ids
  volume_size            = 20

  instance_metadata_service_configuration {
    minimum_instance_metadata_service_version = "2" # IMDSv2 only: session tokens, no SSRF-readable credentials
  }

  lifecycle {
    precondition {
      condition     = var.subnet_id != null && length(var.security_group_ids) > 0
      error_message = "A notebook without direct internet access needs subnet_id and security_group_ids."
    }
  }
}

output "name" {
  description = "Notebook instance name (null when not created)."
  value       = var.create ? aws_sagemaker_notebook_instance.this[0].name : null
}
