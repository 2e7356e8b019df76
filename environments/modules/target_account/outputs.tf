# Outputs of the target_account module.

output "deploy_role_arn" {
  description = "ARN of the deploy role (the Environment manifest's spec.aws.roleArn)."
  value       = aws_iam_role.deploy.arn
}

output "plan_role_arn" {
  description = "ARN of the plan-only role (read only; `ferry plan` of pull requests)."
  value       = aws_iam_role.plan.arn
}

output "roles" {
  description = "Both roles' names, trust and permissions policies (JSON), for the tests."
  value = {
    deploy = {
      name               = aws_iam_role.deploy.name
      assume_role_policy = aws_iam_role.deploy.assume_role_policy
      policy             = aws_iam_role_policy.deploy.policy
    }
    plan = {
      name               = aws_iam_role.plan.name
      assume_role_policy = aws_iam_role.plan.assume_role_policy
      policy             = aws_iam_role_policy.plan.policy
    }
  }
}
