# The MWAA execution role: what the DAGs do (extract, validate, publish, train, register,
# deploy, alert) plus what MWAA itself needs to run the environment.

data "aws_iam_policy_document" "mwaa_trust" {
  statement {
    sid     = "MwaaService" # MWAA runs the scheduler, workers and web server with this role
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["airflow.amazonaws.com", "airflow-env.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "mwaa" {
  name               = "${var.name_prefix}-mwaa-execution"
  assume_role_policy = data.aws_iam_policy_document.mwaa_trust.json
}

data "aws_iam_policy_document" "mwaa" {
  # --- what MWAA needs to run the environment ---
  statement {
    sid       = "ReadDeployBundle" # workers load dags/, plugins.zip, requirements.txt and startup.sh
    actions   = concat(local.s3_read, local.s3_list)
    resources = [local.mwaa, "${local.mwaa}/*"]
  }
  statement {
    sid       = "CheckPublicAccessBlock" # MWAA verifies the account's public access block before it uses the bucket
    actions   = ["s3:GetAccountPublicAccessBlock"]
    resources = ["*"]
  }
  statement {
    sid       = "PublishEnvironmentMetrics" # MWAA reports its own health metrics
    actions   = ["airflow:PublishMetrics"]
    resources = [local.mwaa_environment_arn]
  }
  statement {
    sid = "WriteAirflowLogs" # task, scheduler, worker and web server logs go to CloudWatch Logs
    actions = [
      "logs:CreateLogStream", "logs:CreateLogGroup", "logs:PutLogEvents", "logs:GetLogEvents",
      "logs:GetLogRecord", "logs:GetLogGroupFields", "logs:GetQueryResults",
    ]
    resources = ["arn:aws:logs:${var.region}:${var.account_id}:log-group:airflow-${var.mwaa_environment_name}-*"]
  }
  statement {
    sid       = "DescribeLogGroups" # needed to find the log groups (no resource-level permission exists)
    actions   = ["logs:DescribeLogGroups"]
    resources = ["*"]
  }
  statement {
    sid = "CeleryQueue" # MWAA's Celery executor uses an SQS queue it owns
    actions = [
      "sqs:ChangeMessageVisibility", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl",
      "sqs:ReceiveMessage", "sqs:SendMessage",
    ]
    resources = ["arn:aws:sqs:${var.region}:*:airflow-celery-*"]
  }
  statement {
    sid       = "PlatformKey" # the MWAA bucket, logs, Celery queue, topic and tables are encrypted with the platform key
    actions   = concat(local.kms_use, ["kms:Encrypt"])
    resources = [var.kms_key_arns["platform"]]
  }

  # --- what the DAGs do ---
  statement {
    sid       = "ReadSourceSecrets" # the Secrets Manager backend resolves connections and variables
    actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
    resources = ["${local.secret_prefix}/connections/*", "${local.secret_prefix}/variables/*"]
  }
  statement {
    sid       = "SourcesKey" # decrypt the source secrets, read landing files, write raw objects
    actions   = local.kms_use
    resources = [var.kms_key_arns["sources"]]
  }
  statement {
    sid       = "ListPipelineBuckets" # extraction, validation and publishing list prefixes
    actions   = local.s3_list
    resources = [local.raw, local.landing, local.curated, local.artifacts]
  }
  statement {
    sid       = "TakeLandingFiles" # read partner drops and tag each with the interval that took it
    actions   = ["s3:GetObject", "s3:GetObjectVersion", "s3:GetObjectTagging", "s3:PutObjectTagging"]
    resources = ["${local.landing}/*"]
  }
  statement {
    sid       = "WriteRawAndCurated" # extract to raw, quarantine rejects, publish curated partitions
    actions   = local.s3_read_write
    resources = ["${local.raw}/*", "${local.curated}/*"]
  }
  statement {
    sid       = "CuratedKey" # curated objects are encrypted with the curated key
    actions   = local.kms_use
    resources = [var.kms_key_arns["curated"]]
  }
  statement {
    sid       = "WriteTrainingInputs" # splits, code bundles and reports under models/; reads the endpoints' data capture
    actions   = local.s3_read_write
    resources = ["${local.artifacts}/*"]
  }
  statement {
    sid       = "ArtifactsKey" # artifacts are encrypted with the artifacts key
    actions   = local.kms_use
    resources = [var.kms_key_arns["artifacts"]]
  }
  statement {
    sid = "RunTrainingJobs" # start, watch and stop training jobs
    actions = [
      "sagemaker:CreateTrainingJob", "sagemaker:DescribeTrainingJob", "sagemaker:StopTrainingJob", "sagemaker:AddTags",
    ]
    resources = ["${local.sagemaker_arn}:training-job/*"]
  }
  statement {
    sid = "DeployProjectEndpoints" # models, endpoint configs and endpoints of the project's models only (deploy_<model>)
    actions = concat(local.serving_changes, [
      "sagemaker:DescribeModel", "sagemaker:DescribeEndpointConfig", "sagemaker:DescribeEndpoint",
      "sagemaker:InvokeEndpoint", "sagemaker:AddTags", "sagemaker:ListTags",
    ])
    resources = local.serving_arns
  }
  statement {
    sid = "UseModelRegistry" # register candidates, read and approve versions in the model package groups
    actions = [
      "sagemaker:CreateModelPackage", "sagemaker:DescribeModelPackage", "sagemaker:UpdateModelPackage",
      "sagemaker:ListModelPackages", "sagemaker:DescribeModelPackageGroup", "sagemaker:CreateModelPackageGroup",
      "sagemaker:AddTags",
    ]
    resources = ["${local.sagemaker_arn}:model-package/*", "${local.sagemaker_arn}:model-package-group/*"]
  }
  statement {
    sid = "ListSageMaker" # list calls have no resource-level permissions
    actions = [
      "sagemaker:ListTrainingJobs", "sagemaker:ListModelPackageGroups", "sagemaker:ListEndpoints",
      "sagemaker:ListEndpointConfigs", "sagemaker:ListModels",
    ]
    resources = ["*"]
  }
  statement {
    sid       = "ReadTrainingLogs" # the training operator prints the job's logs into the task log
    actions   = ["logs:GetLogEvents", "logs:DescribeLogStreams"]
    resources = ["arn:aws:logs:${var.region}:${var.account_id}:log-group:/aws/sagemaker/*"]
  }
  statement {
    sid       = "PassSageMakerRole" # training jobs and models run as the SageMaker execution role, and only that
    actions   = ["iam:PassRole"]
    resources = [aws_iam_role.sagemaker.arn]
    condition {
      test     = "StringEquals"
      variable = "iam:PassedToService"
      values   = ["sagemaker.amazonaws.com"]
    }
  }
  statement {
    sid       = "PublishAlerts" # rejected batches, failed tasks and training summaries
    actions   = ["sns:Publish"]
    resources = [var.alerts_topic_arn]
  }
  statement {
    sid       = "ModelTables" # model versions and the metrics history
    actions   = ["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:Query", "dynamodb:DescribeTable"]
    resources = [var.table_arns["versions"], var.table_arns["metrics"]]
  }
  statement {
    sid       = "WriteMetrics" # pipeline metrics (rows, rejects, durations); PutMetricData has no resource-level permission
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringLike"
      variable = "cloudwatch:namespace"
      values   = ["MLOps*", "AmazonMWAA"]
    }
  }
}

resource "aws_iam_role_policy" "mwaa" {
  name   = "pipelines"
  role   = aws_iam_role.mwaa.id
  policy = data.aws_iam_policy_document.mwaa.json
}
