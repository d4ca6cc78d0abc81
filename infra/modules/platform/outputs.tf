output "alerts_topic_arn" {
  description = "SNS topic of the alerts (MLOPS_ALERTS_TOPIC_ARN)."
  value       = aws_sns_topic.alerts.arn
}

output "table_names" {
  description = "DynamoDB tables: versions, metrics."
  value       = { for k, t in aws_dynamodb_table.this : k => t.name }
}

output "table_arns" {
  description = "DynamoDB table ARNs: versions, metrics."
  value       = { for k, t in aws_dynamodb_table.this : k => t.arn }
}

output "model_package_group_arns" {
  description = "Model package group ARNs by name."
  value       = { for k, g in aws_sagemaker_model_package_group.model : k => g.arn }
}

output "connection_secret_arns" {
  description = "Secret ARNs of the sources' connections by connection id."
  value       = { for k, s in aws_secretsmanager_secret.connection : k => s.arn }
}

output "glue_database_name" {
  description = "Glue database of the curated datasets."
  value       = aws_glue_catalog_database.curated.name
}
