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

output "policy_documents" {
  description = "Permission policies (JSON) by role: mwaa, sagemaker, engineer, scientist_data, scientist_tools. The embedded stack gives them to local identities where moto cannot assume a service role."
  value = {
    mwaa            = data.aws_iam_policy_document.mwaa.json
    sagemaker       = data.aws_iam_policy_document.sagemaker.json
    engineer        = data.aws_iam_policy_document.engineer.json
    scientist_data  = data.aws_iam_policy_document.scientist_data.json
    scientist_tools = data.aws_iam_policy_document.scientist_tools.json
  }
}
