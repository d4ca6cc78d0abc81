# Lifecycle rules by bucket role, rendered by infra/modules/secure_bucket after the rule every
# bucket gets (incomplete multipart uploads aborted after a day: a killed extraction leaves one
# behind). Old noncurrent versions expire everywhere.

locals {
  lifecycle_rules = {
    raw = [
      {
        id                                 = "expire-quarantine-after-review"
        prefix                             = "_quarantine/"
        expiration_days                    = var.quarantine_expiration_days
        noncurrent_version_expiration_days = 1
      },
      {
        id = "tier-old-raw-partitions"
        transitions = [
          { days = var.raw_infrequent_access_days, storage_class = "STANDARD_IA" },
          { days = var.raw_archive_days, storage_class = "GLACIER_IR" },
        ]
        noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
      },
    ]
    landing = [
      {
        id                                 = "expire-ingested-drops"
        expiration_days                    = var.landing_expiration_days
        noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
      },
    ]
    curated = [
      {
        id                                 = "expire-replaced-partition-files"
        noncurrent_version_expiration_days = var.noncurrent_version_expiration_days
      },
    ]
    artifacts = [
      {
        # Endpoint data capture (<prefix>/<endpoint>/<variant>/yyyy/mm/dd/hh/): read once by the
        # pipeline that publishes the predictions dataset, then seldom; kept for audits, then gone.
        id                                 = "tier-and-expire-captured-inference-data"
        prefix                             = "${var.capture_prefix}/"
        transitions                        = [{ days = 30, storage_class = "STANDARD_IA" }]
        expiration_days                    = var.capture_expiration_days
        noncurrent_version_expiration_days = 30
      },
      {
        # Model versions are kept (the registry points at them); only overwritten copies expire.
        id                                 = "expire-overwritten-versions"
        noncurrent_version_expiration_days = 180
      },
    ]
    mwaa = [
      {
        # MWAA pins plugins.zip, requirements.txt and startup.sh by object version: keep replaced
        # versions a year so a rollback can point at an older one.
        id                                 = "keep-recent-deploys"
        noncurrent_version_expiration_days = 365
      },
    ]
  }
}
