output "state_bucket" {
  description = "The Terraform state bucket."
  value       = aws_s3_bucket.state.bucket
}

output "kms_key_arn" {
  description = "The key the state is encrypted with (backend kms_key_id)."
  value       = aws_kms_key.state.arn
}

output "backend_config" {
  description = "The S3 backend settings of envs/<environment> (what backend.hcl holds)."
  value = {
    bucket       = aws_s3_bucket.state.bucket
    key          = "mlops/${var.environment}/terraform.tfstate"
    region       = var.region
    encrypt      = true
    kms_key_id   = aws_kms_key.state.arn
    use_lockfile = true
  }
}

output "backend_hcl" {
  description = "backend.hcl of envs/<environment>: terraform output -raw backend_hcl > infra/envs/<environment>/backend.hcl"
  value       = <<-HCL
    # written from infra/bootstrap (terraform output -raw backend_hcl)
    bucket       = "${aws_s3_bucket.state.bucket}"
    key          = "mlops/${var.environment}/terraform.tfstate"
    region       = "${var.region}"
    encrypt      = true
    kms_key_id   = "${aws_kms_key.state.arn}"
    use_lockfile = true
  HCL
}
