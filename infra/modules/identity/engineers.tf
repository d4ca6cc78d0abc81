# Data engineers: the sources (landing drops, connection secrets), raw and curated, the Airflow
# UI as operators (Airflow role "Op").

resource "aws_iam_role" "engineer" {
  name                 = "${var.name_prefix}-data-engineer"
  assume_role_policy   = data.aws_iam_policy_document.trust_people["engineer"].json
  max_session_duration = 3600 * 8
}

data "aws_iam_policy_document" "engineer" {
  statement {
    sid       = "ListDataBuckets" # browse landing, raw (with quarantine) and curated
    actions   = local.s3_list
    resources = [local.landing, local.raw, local.curated]
  }
  statement {
    sid       = "ManageSourcesRawCurated" # drop test files, inspect and repair raw, quarantine and curated partitions
    actions   = local.s3_read_write
    resources = ["${local.landing}/*", "${local.raw}/*", "${local.curated}/*"]
  }
  statement {
    sid       = "SourcesAndCuratedKeys" # the objects above are encrypted with these keys
    actions   = local.kms_use
    resources = [var.kms_key_arns["sources"], var.kms_key_arns["curated"]]
  }
  statement {
    sid = "ManageSourceConnections" # put and rotate the sources' connection values (Terraform creates the secrets empty)
    actions = [
      "secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret", "secretsmanager:PutSecretValue",
      "secretsmanager:UpdateSecretVersionStage",
    ]
    resources = ["${local.secret_prefix}/connections/*", "${local.secret_prefix}/variables/*"]
  }
  statement {
    sid       = "ListSecrets" # find the secrets in the console (ListSecrets has no resource-level permission)
    actions   = ["secretsmanager:ListSecrets"]
    resources = ["*"]
  }
  statement {
    sid       = "AirflowUiAsOperator" # web login to the environment with Airflow's Op role
    actions   = ["airflow:CreateWebLoginToken"]
    resources = ["arn:aws:airflow:${var.region}:${var.account_id}:role/${var.mwaa_environment_name}/Op"]
  }
  statement {
    sid       = "SeeEnvironment" # find the environment and its web server address
    actions   = ["airflow:GetEnvironment"]
    resources = [local.mwaa_environment_arn]
  }
  statement {
    sid = "ReadCatalog" # look at the curated datasets' Glue database and tables
    actions = [
      "glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions",
    ]
    resources = [
      "arn:aws:glue:${var.region}:${var.account_id}:catalog",
      "arn:aws:glue:${var.region}:${var.account_id}:database/${var.glue_database_name}",
      "arn:aws:glue:${var.region}:${var.account_id}:table/${var.glue_database_name}/*",
    ]
  }
}

resource "aws_iam_role_policy" "engineer" {
  name   = "data-engineering"
  role   = aws_iam_role.engineer.id
  policy = data.aws_iam_policy_document.engineer.json
}
