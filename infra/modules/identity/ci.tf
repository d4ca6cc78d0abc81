# CI deploy: syncs dags/, plugins.zip, requirements.txt to the MWAA bucket, and nothing else.

resource "aws_iam_role" "ci" {
  name                 = "${var.name_prefix}-ci-deploy"
  assume_role_policy   = data.aws_iam_policy_document.trust_people["ci"].json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "ci" {
  statement {
    sid       = "ListDeployBucket" # the DAG sync compares what is there
    actions   = ["s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketLocation"]
    resources = [local.mwaa]
  }
  statement {
    sid       = "UpdateDeployBucket" # upload and remove DAGs, plugins and requirements, read back object versions
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload"]
    resources = ["${local.mwaa}/*"]
  }
  statement {
    sid       = "PlatformKey" # the MWAA bucket is encrypted with the platform key
    actions   = local.kms_use
    resources = [var.kms_key_arns["platform"]]
  }
}

resource "aws_iam_role_policy" "ci" {
  name   = "deploy-mwaa-bucket"
  role   = aws_iam_role.ci.id
  policy = data.aws_iam_policy_document.ci.json
}
