# Outputs of the github_ci module. The role names are deterministic
# ("<name>-ci-..."), so workflows are configured with them (repository
# variables) rather than with Terraform outputs.

output "images_role_arn" {
  description = "Role images.yml assumes to push images."
  value       = aws_iam_role.images.arn
}

output "terraform_plan_role_arn" {
  description = "Role infra.yml assumes to plan."
  value       = aws_iam_role.terraform_plan.arn
}

output "terraform_apply_role_arn" {
  description = "Role infra.yml assumes to apply (in the GitHub environment)."
  value       = aws_iam_role.terraform_apply.arn
}

output "role_names" {
  description = "Names of the CI roles, for name-length checks."
  value       = [aws_iam_role.images.name, aws_iam_role.terraform_plan.name, aws_iam_role.terraform_apply.name, aws_iam_role.ferry_plan.name]
}

output "trust_policies" {
  description = "Trust policies (JSON) of the CI roles, by role; the environment tests check their subjects."
  value       = local.trust_policies
}

output "ferry_plan_role_arn" {
  description = "Role plan.yml assumes to run ferry plan (read-only)."
  value       = aws_iam_role.ferry_plan.arn
}

output "ferry_plan_policy" {
  description = "The ferry plan role's permissions policy (JSON)."
  value       = aws_iam_role_policy.ferry_plan.policy
}

output "terraform_apply_policy" {
  description = "Permissions policy (JSON) of the terraform apply CI role, besides PowerUserAccess (for tests)."
  value       = aws_iam_role_policy.terraform_apply.policy
}
