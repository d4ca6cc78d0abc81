output "role_arns" {
  description = "Role ARNs: mwaa, sagemaker, engineer, scientist, notebook, ci."
  value = {
    mwaa      = aws_iam_role.mwaa.arn
    sagemaker = aws_iam_role.sagemaker.arn
    engineer  = aws_iam_role.engineer.arn
    scientist = aws_iam_role.scientist.arn
    notebook  = aws_iam_role.notebook.arn
    ci        = aws_iam_role.ci.arn
  }
}

output "notebook_instance_name" {
  description = "Name of the scientists' notebook instance (the scientist role may open only this one)."
  value       = local.notebook_name
}

output "github_oidc_provider_arn" {
  description = "The GitHub Actions OIDC provider the CI role trusts (null without github_repository)."
  value       = local.github_oidc_enabled ? local.github_oidc_provider : null
}
