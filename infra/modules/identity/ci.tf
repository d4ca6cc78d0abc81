# CI deploy: uploads the bundle (dags/, plugins.zip, requirements.txt, startup.sh) to the MWAA
# bucket, points the environment at the new object versions and triggers the training pipeline;
# nothing else. GitHub Actions of one repository assume it with OIDC (no stored AWS keys), and
# only from the deploy branch (or the deploy environment, when the workflow job names one).

locals {
  github_oidc_url      = "token.actions.githubusercontent.com"
  github_oidc_enabled  = var.github_repository != null
  create_github_oidc   = local.github_oidc_enabled && var.github_oidc_provider_arn == null
  github_oidc_provider = local.create_github_oidc ? aws_iam_openid_connect_provider.github[0].arn : var.github_oidc_provider_arn
  # The token's subject: the branch of a push to it, or the environment of a job that names one.
  github_subjects = concat(
    ["repo:${coalesce(var.github_repository, "-")}:ref:refs/heads/${var.github_deploy_branch}"],
    var.github_deploy_environment == null ? [] : ["repo:${coalesce(var.github_repository, "-")}:environment:${var.github_deploy_environment}"],
  )
}

# One per account and URL: pass github_oidc_provider_arn instead where it already exists.
resource "aws_iam_openid_connect_provider" "github" {
  count = local.create_github_oidc ? 1 : 0

  url            = "https://${local.github_oidc_url}"
  client_id_list = ["sts.amazonaws.com"]
  # No thumbprint_list: IAM trusts GitHub's OIDC endpoint through its own root CAs.
}

data "aws_iam_policy_document" "ci_trust" {
  dynamic "statement" {
    for_each = local.github_oidc_enabled ? [1] : []
    content {
      sid     = "GitHubActionsDeployBranch" # workflows of the configured repository, on the deploy branch or environment only
      actions = ["sts:AssumeRoleWithWebIdentity"]
      principals {
        type        = "Federated"
        identifiers = [local.github_oidc_provider]
      }
      condition {
        test     = "StringEquals"
        variable = "${local.github_oidc_url}:aud"
        values   = ["sts.amazonaws.com"]
      }
      condition {
        test     = "StringEquals"
        variable = "${local.github_oidc_url}:sub"
        values   = local.github_subjects
      }
    }
  }

  dynamic "statement" {
    # Named principals (another CI runner's role); with no GitHub repository and no names, the
    # account's own IAM-authorised principals (as for the human roles).
    for_each = length(var.ci_principal_arns) > 0 || !local.github_oidc_enabled ? [1] : []
    content {
      sid     = "AssumedByNamedPrincipals" # only the listed principals (or the account's IAM-authorised ones)
      actions = ["sts:AssumeRole", "sts:TagSession", "sts:SetSourceIdentity"]
      principals {
        type        = "AWS"
        identifiers = length(var.ci_principal_arns) > 0 ? var.ci_principal_arns : [local.root]
      }
    }
  }
}

resource "aws_iam_role" "ci" {
  name                 = "${var.name_prefix}-ci-deploy"
  assume_role_policy   = data.aws_iam_policy_document.ci_trust.json
  max_session_duration = 3600
}

data "aws_iam_policy_document" "ci" {
  statement {
    sid       = "ListDeployBucket" # the DAG sync compares what is there; deploy checks the bucket keeps versions
    actions   = ["s3:ListBucket", "s3:ListBucketVersions", "s3:GetBucketLocation", "s3:GetBucketVersioning"]
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
  statement {
    sid       = "UpdateEnvironment" # point the environment at the uploaded plugins, requirements and startup versions
    actions   = ["airflow:UpdateEnvironment"]
    resources = [local.mwaa_environment_arn]
  }
  statement {
    sid       = "ReadEnvironment" # deploy checks the environment reads this bucket and waits for the update to finish
    actions   = ["airflow:GetEnvironment"]
    resources = [local.mwaa_environment_arn]
  }
  statement {
    sid       = "TriggerPipelines" # Airflow REST API as the User role: can trigger DAG runs, cannot change the environment's settings
    actions   = ["airflow:InvokeRestApi"]
    resources = ["arn:aws:airflow:${var.region}:${var.account_id}:role/${var.mwaa_environment_name}/User"]
  }
}

resource "aws_iam_role_policy" "ci" {
  name   = "deploy-mwaa-bucket"
  role   = aws_iam_role.ci.id
  policy = data.aws_iam_policy_document.ci.json
}
