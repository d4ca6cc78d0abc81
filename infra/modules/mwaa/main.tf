# The MWAA environment: Airflow 3.3.1, private web server, plugins, requirements and the startup
# script pinned by object version (the bundle is built by `make package` and uploaded by the CI
# deploy role; Terraform only points the environment at the versions), connections and
# variables from Secrets Manager.

resource "aws_security_group" "mwaa" {
  # checkov:skip=CKV_AWS_382:workers reach AWS APIs and the source databases; egress is limited by the VPC routing (NAT or endpoints)
  count = var.create_environment ? 1 : 0

  name        = "${var.name}-mwaa"
  description = "MWAA ${var.name}: components talk to each other only"
  vpc_id      = var.vpc_id

  ingress {
    description = "MWAA components and the private web server endpoint, from this group only"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    self        = true
  }

  egress {
    description = "AWS APIs and source databases through the VPC NAT or endpoints"
    from_port   = 0
    to_port     = 0
    protocol    = "-1"
    cidr_blocks = ["0.0.0.0/0"]
  }
}

resource "aws_mwaa_environment" "this" {
  count = var.create_environment ? 1 : 0

  name               = var.name
  airflow_version    = var.airflow_version
  environment_class  = var.environment_class
  min_workers        = var.min_workers
  max_workers        = var.max_workers
  execution_role_arn = var.execution_role_arn
  kms_key            = var.kms_key_arn

  source_bucket_arn                = var.bucket_arn
  dag_s3_path                      = "dags/"
  plugins_s3_path                  = "plugins.zip"
  plugins_s3_object_version        = var.plugins_s3_object_version
  requirements_s3_path             = "requirements.txt"
  requirements_s3_object_version   = var.requirements_s3_object_version
  startup_script_s3_path           = "startup.sh"
  startup_script_s3_object_version = var.startup_script_s3_object_version

  webserver_access_mode = "PRIVATE_ONLY"

  airflow_configuration_options = {
    "secrets.backend"        = "airflow.providers.amazon.aws.secrets.secrets_manager.SecretsManagerBackend"
    "secrets.backend_kwargs" = jsonencode({ connections_prefix = "airflow/connections", variables_prefix = "airflow/variables" })
    "core.load_examples"     = "False"
  }

  network_configuration {
    security_group_ids = [aws_security_group.mwaa[0].id]
    subnet_ids         = var.private_subnet_ids
  }

  logging_configuration {
    dag_processing_logs {
      enabled   = true
      log_level = "INFO"
    }
    scheduler_logs {
      enabled   = true
      log_level = "INFO"
    }
    task_logs {
      enabled   = true
      log_level = "INFO"
    }
    webserver_logs {
      enabled   = true
      log_level = "WARNING"
    }
    worker_logs {
      enabled   = true
      log_level = "INFO"
    }
  }

  lifecycle {
    # After the first apply the CI deploy role owns these (it uploads the bundle and calls
    # UpdateEnvironment with the new object versions): Terraform must not roll them back.
    ignore_changes = [plugins_s3_object_version, requirements_s3_object_version, startup_script_s3_object_version]
    precondition {
      condition     = length(var.private_subnet_ids) == 2 && var.vpc_id != null
      error_message = "MWAA needs vpc_id and exactly two private subnets in different availability zones."
    }
    precondition {
      condition     = alltrue([for v in [var.plugins_s3_object_version, var.requirements_s3_object_version, var.startup_script_s3_object_version] : v != null])
      error_message = "Set plugins_s3_object_version, requirements_s3_object_version and startup_script_s3_object_version to the versions CI uploaded."
    }
  }
}
