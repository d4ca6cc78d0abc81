# Addresses before infra/modules/secure_bucket (the log bucket's hardening moved into module.bucket):
# terraform moves them in the state, nothing is replaced. Needed until every state that holds
# this module has been applied once with this code; then this file may go.

moved {
  from = aws_s3_bucket_ownership_controls.logs
  to   = module.bucket.aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_public_access_block.logs
  to   = module.bucket.aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_versioning.logs
  to   = module.bucket.aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.logs
  to   = module.bucket.aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.logs
  to   = module.bucket.aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_policy.logs
  to   = module.bucket.aws_s3_bucket_policy.this
}
