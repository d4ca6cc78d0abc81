# Data scientists: curated read only, artifacts and the registry read, predictions from the
# project's endpoints, their notebooks, the Airflow UI as viewers, and never the raw data, the
# quarantine, the endpoints' raw data capture, the sources' secrets, or a change to what is served.
# The data part is a managed policy shared with the notebook instances' role, so a notebook
# can do exactly what its scientist can.

resource "aws_iam_role" "scientist" {
  name                 = "${var.name_prefix}-data-scientist"
  assume_role_policy   = data.aws_iam_policy_document.trust_people["scientist"].json
  max_session_duration = 3600 * 8
}

data "aws_iam_policy_document" "scientist_data" {
  statement {
    sid       = "ListCuratedAndArtifacts" # browse datasets, models and evaluation reports
    actions   = ["s3:ListBucket", "s3:GetBucketLocation"]
    resources = [local.curated, local.artifacts]
  }
  statement {
    sid       = "ReadCuratedAndArtifacts" # read datasets through their manifests, models and reports
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${local.curated}/*", "${local.artifacts}/*"]
  }
  statement {
    sid       = "DecryptCuratedAndArtifacts" # the objects above are encrypted with these keys
    actions   = local.kms_read
    resources = [var.kms_key_arns["curated"], var.kms_key_arns["artifacts"]]
  }
  statement {
    sid = "ReadRegistry" # model versions, their metrics and approval status
    actions = [
      "sagemaker:DescribeModelPackage", "sagemaker:DescribeModelPackageGroup", "sagemaker:ListModelPackages",
    ]
    resources = ["${local.sagemaker_arn}:model-package/*", "${local.sagemaker_arn}:model-package-group/*"]
  }
  statement {
    sid       = "ListRegistry" # listing has no resource-level permission
    actions   = ["sagemaker:ListModelPackageGroups"]
    resources = ["*"]
  }
  statement {
    sid       = "InvokeProjectEndpoints" # predictions from the models in production (mlops.predict, notebooks)
    actions   = ["sagemaker:InvokeEndpoint"]
    resources = local.endpoint_arns
  }
  statement {
    sid       = "ReadProjectEndpoints" # which version an endpoint serves, its status and its variants
    actions   = ["sagemaker:DescribeEndpoint", "sagemaker:DescribeEndpointConfig", "sagemaker:DescribeModel"]
    resources = local.serving_arns
  }
  statement {
    sid       = "ListEndpoints" # listing has no resource-level permission
    actions   = ["sagemaker:ListEndpoints", "sagemaker:ListEndpointConfigs", "sagemaker:ListModels"]
    resources = ["*"]
  }
  statement {
    sid       = "ReadModelTables" # version history and the metrics history of every evaluation
    actions   = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:DescribeTable"]
    resources = [var.table_arns["versions"], var.table_arns["metrics"]]
  }
  statement {
    sid       = "DecryptModelTables" # the tables are encrypted with the platform key
    actions   = local.kms_read
    resources = [var.kms_key_arns["platform"]]
  }
  statement {
    sid = "ReadCatalog" # query curated datasets through the Glue catalog
    actions = [
      "glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:GetPartition", "glue:GetPartitions",
    ]
    resources = [
      "arn:aws:glue:${var.region}:${var.account_id}:catalog",
      "arn:aws:glue:${var.region}:${var.account_id}:database/${var.glue_database_name}",
      "arn:aws:glue:${var.region}:${var.account_id}:table/${var.glue_database_name}/*",
    ]
  }

  # Explicit denies: they win over any allow another policy might add later.
  statement {
    sid       = "DenyRaw" # scientists work from validated, curated data only
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.raw, "${local.raw}/*"]
  }
  statement {
    sid       = "DenyQuarantine" # rejected batches may hold anything the sources emitted
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = ["${local.raw}/_quarantine/*"]
  }
  statement {
    sid       = "DenyLanding" # partner drops are unvalidated source data
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.landing, "${local.landing}/*"]
  }
  statement {
    sid       = "DenyDataCapture" # captured requests are unvalidated caller input, like raw; the curated predictions dataset is theirs
    effect    = "Deny"
    actions   = ["s3:*"]
    resources = [local.captures]
  }
  statement {
    sid       = "DenyEndpointChanges" # only the deployment pipeline creates, updates or deletes what is served, in any endpoint
    effect    = "Deny"
    actions   = local.serving_changes
    resources = ["*"]
  }
  statement {
    sid       = "DenySourceSecrets" # database credentials of the sources
    effect    = "Deny"
    actions   = ["secretsmanager:*"]
    resources = ["${local.secret_prefix}/connections/*", "${local.secret_prefix}/variables/*"]
  }
  statement {
    sid       = "DenySourcesKey" # nothing encrypted with the sources key (raw, landing, secrets) can be decrypted
    effect    = "Deny"
    actions   = ["kms:*"]
    resources = [var.kms_key_arns["sources"]]
  }
}

resource "aws_iam_policy" "scientist_data" {
  name        = "${var.name_prefix}-scientist-data"
  description = "Data scientists (and their notebooks): curated, artifacts and registry read, endpoint predictions; raw, quarantine, landing, data capture, source secrets and endpoint changes denied."
  policy      = data.aws_iam_policy_document.scientist_data.json
}

resource "aws_iam_role_policy_attachment" "scientist_data" {
  role       = aws_iam_role.scientist.name
  policy_arn = aws_iam_policy.scientist_data.arn
}

data "aws_iam_policy_document" "scientist_tools" {
  statement {
    sid = "UseNotebook" # open, start and stop the team's notebook instance
    actions = [
      "sagemaker:CreatePresignedNotebookInstanceUrl", "sagemaker:DescribeNotebookInstance",
      "sagemaker:StartNotebookInstance", "sagemaker:StopNotebookInstance",
    ]
    resources = ["${local.sagemaker_arn}:notebook-instance/${local.notebook_name}"]
  }
  statement {
    sid       = "AirflowUiAsViewer" # web login to the environment with Airflow's Viewer role
    actions   = ["airflow:CreateWebLoginToken"]
    resources = ["arn:aws:airflow:${var.region}:${var.account_id}:role/${var.mwaa_environment_name}/Viewer"]
  }
  statement {
    sid       = "SeeEnvironment" # find the environment and its web server address
    actions   = ["airflow:GetEnvironment"]
    resources = [local.mwaa_environment_arn]
  }
}

resource "aws_iam_role_policy" "scientist_tools" {
  name   = "notebook-and-airflow-viewer"
  role   = aws_iam_role.scientist.id
  policy = data.aws_iam_policy_document.scientist_tools.json
}

# The notebook instances run as this role: the scientists' data access and nothing more.
data "aws_iam_policy_document" "notebook_trust" {
  statement {
    sid     = "SageMakerNotebooks" # the notebook instance runs as this role
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "notebook" {
  name               = "${var.name_prefix}-scientist-notebook"
  assume_role_policy = data.aws_iam_policy_document.notebook_trust.json
}

resource "aws_iam_role_policy_attachment" "notebook_data" {
  role       = aws_iam_role.notebook.name
  policy_arn = aws_iam_policy.scientist_data.arn
}
