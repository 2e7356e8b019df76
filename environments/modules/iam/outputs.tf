# Outputs of the iam module.

output "task_execution_role_arn" {
  description = "ARN of the ECS task execution role."
  value       = aws_iam_role.task_execution.arn
}

output "task_role_arn" {
  description = "ARN of the ECS task role."
  value       = aws_iam_role.task.arn
}

output "ferry_role_arn" {
  description = "ARN of Ferry's own role."
  value       = aws_iam_role.ferry.arn
}

output "ecs_infrastructure_role_arn" {
  description = "ARN of the ECS infrastructure role for load balancers (blue/green, canary, linear traffic shifts)."
  value       = aws_iam_role.ecs_infrastructure.arn
}

output "ecs_infrastructure_role" {
  description = "The ECS infrastructure role's trust policy (JSON) and managed policy, for the environment tests."
  value = {
    name               = aws_iam_role.ecs_infrastructure.name
    assume_role_policy = aws_iam_role.ecs_infrastructure.assume_role_policy
    policy_arns        = [aws_iam_role_policy_attachment.ecs_infrastructure.policy_arn]
  }
}

output "role_names" {
  description = "Names of the roles, for name-length checks (task execution, task and Ferry's first)."
  value       = [aws_iam_role.task_execution.name, aws_iam_role.task.name, aws_iam_role.ferry.name, aws_iam_role.ecs_infrastructure.name]
}

output "ferry_policy" {
  description = "Ferry's permissions policy (JSON), for the environment tests."
  value       = aws_iam_role_policy.ferry.policy
}
