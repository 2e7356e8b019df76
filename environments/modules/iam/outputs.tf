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

output "role_names" {
  description = "Names of the roles, for name-length checks."
  value       = [aws_iam_role.task_execution.name, aws_iam_role.task.name, aws_iam_role.ferry.name]
}

output "ferry_policy" {
  description = "Ferry's permissions policy (JSON), for the environment tests."
  value       = aws_iam_role_policy.ferry.policy
}
