# One SageMaker model package group per model: the registry the training DAGs write to.
resource "aws_sagemaker_model_package_group" "model" {
  for_each = toset(var.model_package_groups)

  model_package_group_name        = each.key
  model_package_group_description = "Versions of model ${each.key}"
}

# Curated datasets as Glue tables (tables come with the catalog work; they must read through
# the partition manifests).
resource "aws_glue_catalog_database" "curated" {
  name         = var.glue_database_name
  description  = "Curated datasets of ${var.name_prefix} (read-only for data scientists)."
  location_uri = "s3://${var.curated_bucket_name}/"
}
