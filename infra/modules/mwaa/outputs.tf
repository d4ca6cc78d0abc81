output "webserver_url" {
  description = "Private web server address (null when the environment is not created)."
  value       = var.create_environment ? aws_mwaa_environment.this[0].webserver_url : null
}
