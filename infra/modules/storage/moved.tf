# Addresses before infra/modules/secure_bucket (the hardening of each bucket moved into
# module.bucket["<role>"]): terraform moves them in the state, nothing is replaced. Needed until
# every environment's state has been applied once with this code; then this file may go.

moved {
  from = aws_s3_bucket_ownership_controls.this["raw"]
  to   = module.bucket["raw"].aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_public_access_block.this["raw"]
  to   = module.bucket["raw"].aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_versioning.this["raw"]
  to   = module.bucket["raw"].aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.this["raw"]
  to   = module.bucket["raw"].aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_policy.this["raw"]
  to   = module.bucket["raw"].aws_s3_bucket_policy.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.raw
  to   = module.bucket["raw"].aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_logging.this["raw"]
  to   = module.bucket["raw"].aws_s3_bucket_logging.this[0]
}

moved {
  from = aws_s3_bucket_ownership_controls.this["landing"]
  to   = module.bucket["landing"].aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_public_access_block.this["landing"]
  to   = module.bucket["landing"].aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_versioning.this["landing"]
  to   = module.bucket["landing"].aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.this["landing"]
  to   = module.bucket["landing"].aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_policy.this["landing"]
  to   = module.bucket["landing"].aws_s3_bucket_policy.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.landing
  to   = module.bucket["landing"].aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_logging.this["landing"]
  to   = module.bucket["landing"].aws_s3_bucket_logging.this[0]
}

moved {
  from = aws_s3_bucket_ownership_controls.this["curated"]
  to   = module.bucket["curated"].aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_public_access_block.this["curated"]
  to   = module.bucket["curated"].aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_versioning.this["curated"]
  to   = module.bucket["curated"].aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.this["curated"]
  to   = module.bucket["curated"].aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_policy.this["curated"]
  to   = module.bucket["curated"].aws_s3_bucket_policy.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.curated
  to   = module.bucket["curated"].aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_logging.this["curated"]
  to   = module.bucket["curated"].aws_s3_bucket_logging.this[0]
}

moved {
  from = aws_s3_bucket_ownership_controls.this["artifacts"]
  to   = module.bucket["artifacts"].aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_public_access_block.this["artifacts"]
  to   = module.bucket["artifacts"].aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_versioning.this["artifacts"]
  to   = module.bucket["artifacts"].aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.this["artifacts"]
  to   = module.bucket["artifacts"].aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_policy.this["artifacts"]
  to   = module.bucket["artifacts"].aws_s3_bucket_policy.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.artifacts
  to   = module.bucket["artifacts"].aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_logging.this["artifacts"]
  to   = module.bucket["artifacts"].aws_s3_bucket_logging.this[0]
}

moved {
  from = aws_s3_bucket_ownership_controls.this["mwaa"]
  to   = module.bucket["mwaa"].aws_s3_bucket_ownership_controls.this
}

moved {
  from = aws_s3_bucket_public_access_block.this["mwaa"]
  to   = module.bucket["mwaa"].aws_s3_bucket_public_access_block.this
}

moved {
  from = aws_s3_bucket_versioning.this["mwaa"]
  to   = module.bucket["mwaa"].aws_s3_bucket_versioning.this
}

moved {
  from = aws_s3_bucket_server_side_encryption_configuration.this["mwaa"]
  to   = module.bucket["mwaa"].aws_s3_bucket_server_side_encryption_configuration.this
}

moved {
  from = aws_s3_bucket_policy.this["mwaa"]
  to   = module.bucket["mwaa"].aws_s3_bucket_policy.this
}

moved {
  from = aws_s3_bucket_lifecycle_configuration.mwaa
  to   = module.bucket["mwaa"].aws_s3_bucket_lifecycle_configuration.this
}

moved {
  from = aws_s3_bucket_logging.this["mwaa"]
  to   = module.bucket["mwaa"].aws_s3_bucket_logging.this[0]
}
