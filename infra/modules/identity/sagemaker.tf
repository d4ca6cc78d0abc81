# The SageMaker execution role: training jobs read their channels and write their model; endpoints
# read the model.tar.gz they serve (under models/, as the channels) and write their data capture.
# Nothing else.

data "aws_iam_policy_document" "sagemaker_trust" {
  statement {
    sid     = "SageMakerService" # training jobs and endpoints run as this role
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["sagemaker.amazonaws.com"]
    }
  }
}

resource "aws_iam_role" "sagemaker" {
  name               = "${var.name_prefix}-sagemaker-execution"
  assume_role_policy = data.aws_iam_policy_document.sagemaker_trust.json
}

data "aws_iam_policy_document" "sagemaker" {
  statement {
    sid       = "ReadTrainingChannels" # splits, code bundles, the production model and the served models.tar.gz are under models/
    actions   = ["s3:GetObject", "s3:GetObjectVersion"]
    resources = ["${local.artifacts}/models/*"]
  }
  statement {
    sid       = "ListTrainingChannels" # File mode lists the channel prefix before it downloads
    actions   = ["s3:ListBucket"]
    resources = [local.artifacts]
  }
  statement {
    sid       = "WriteModelArtifacts" # the trained model and its output under models/<model>/runs/<run>/output/
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts"]
    resources = ["${local.artifacts}/models/*/runs/*/output/*"]
  }
  statement {
    sid       = "WriteDataCapture" # endpoints write sampled requests and answers as JSONL under the capture prefix
    actions   = ["s3:PutObject", "s3:AbortMultipartUpload"]
    resources = [local.captures]
  }
  statement {
    sid       = "ArtifactsKey" # artifacts are encrypted with the artifacts key; data capture names it (KmsKeyId: kms:Encrypt)
    actions   = concat(local.kms_use, ["kms:Encrypt"])
    resources = [var.kms_key_arns["artifacts"]]
  }
  statement {
    sid       = "JobLogs" # a job cannot start without writing its CloudWatch log stream
    actions   = ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
    resources = ["arn:aws:logs:${var.region}:${var.account_id}:log-group:/aws/sagemaker/*"]
  }
  statement {
    sid       = "JobMetrics" # training metrics are published by the job itself
    actions   = ["cloudwatch:PutMetricData"]
    resources = ["*"]
    condition {
      test     = "StringLike"
      variable = "cloudwatch:namespace"
      values   = ["/aws/sagemaker/*"]
    }
  }
  statement {
    sid       = "EcrLogin" # the job logs in to ECR to pull its image (the action has no resource-level permission)
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }
  statement {
    sid       = "PullTrainingImage" # the AWS framework images (scikit-learn) live in AWS-owned ECR repositories
    actions   = ["ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:BatchCheckLayerAvailability"]
    resources = ["arn:aws:ecr:${var.region}:*:repository/*"]
  }
}

resource "aws_iam_role_policy" "sagemaker" {
  name   = "training"
  role   = aws_iam_role.sagemaker.id
  policy = data.aws_iam_policy_document.sagemaker.json
}
