output "bucket_name" {
  description = "The bucket's name once its policy is in place: a log destination's policy must exist before a source bucket switches logging on, so pass this output as the target."
  value       = aws_s3_bucket_policy.this.bucket
}
