# The roles Ferry may assume in the environments' accounts (three-account
# layout: Ferry runs in a tooling account and deploys through each target
# account's deploy role, modules/target_account). An inline policy of Ferry's
# task role, present only when there are such roles: sts:AssumeRole on exactly
# the listed role ARNs, no wildcard, no other STS action. The roles' trust
# policies require each environment's external ID, which Ferry reads from the
# Environment manifest; nothing secret passes through Terraform.

locals {
  # The role's name: the last segment of its ARN (role/<path>/<name>).
  task_role_name = element(split("/", var.task_role_arn), length(split("/", var.task_role_arn)) - 1)
}

resource "aws_iam_role_policy" "assume_roles" {
  count = length(var.assume_role_arns) == 0 ? 0 : 1

  name = "assume-environment-roles"
  role = local.task_role_name

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "AssumeEnvironmentRoles"
      Effect   = "Allow"
      Action   = "sts:AssumeRole"
      Resource = var.assume_role_arns
    }]
  })
}
