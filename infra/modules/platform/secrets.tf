# The sources' connections for Airflow's Secrets Manager backend. Terraform creates the secret
# and its encryption only: the value (the connection URI) is put by an engineer out of band,
# so it never appears in code, plans or state:
#   aws secretsmanager put-secret-value --secret-id airflow/connections/clinic_db --secret-string 'postgresql://...'
resource "aws_secretsmanager_secret" "connection" {
  for_each = toset(var.source_connection_ids)

  # checkov:skip=CKV2_AWS_57:rotation belongs to the database owner (RDS-managed credentials); this secret holds the connection they hand over
  name                    = "airflow/connections/${each.key}"
  description             = "Airflow connection ${each.key} (value set out of band)."
  kms_key_id              = var.sources_kms_key_arn
  recovery_window_in_days = var.secret_recovery_window_days
}
