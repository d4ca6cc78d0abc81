# dev: its own AWS account. No secrets here: connection values go to Secrets Manager out of
# band, bundle versions come from CI, network ids from the account's VPC.
environment                = "dev"
region                     = "eu-west-1"
force_destroy_buckets      = true
deletion_protection        = false
quarantine_expiration_days = 14

create_mwaa            = true
mwaa_environment_class = "mw1.small"
mwaa_max_workers       = 2
create_notebook        = true

# Set per account (or pass with -var): the VPC and two private subnets, e.g.
# vpc_id             = "vpc-0123456789abcdef0"
# private_subnet_ids = ["subnet-0123456789abcdef0", "subnet-0fedcba9876543210"]
# notebook_security_group_ids = ["sg-0123456789abcdef0"]
# plugins_s3_object_version, requirements_s3_object_version, startup_script_s3_object_version:
# from the CI deploy output (make package builds the bundle).

# CI deploy through GitHub Actions OIDC (no AWS keys in GitHub): the repository whose workflows,
# on the deploy branch, may assume mlops-dev-ci-deploy. Null (unset): no GitHub trust.
# github_repository    = "<owner>/<repo>"
github_deploy_branch = "main"
# github_oidc_provider_arn = "arn:aws:iam::<account>:oidc-provider/token.actions.githubusercontent.com" # if the account has one
