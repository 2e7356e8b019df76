# Outputs of the ecs_cluster module.

output "cluster_name" {
  description = "Name of the ECS cluster."
  value       = aws_ecs_cluster.this.name
}

output "cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = aws_ecs_cluster.this.arn
}

output "log_group_name" {
  description = "Name of the workloads' log group (awslogs-group)."
  value       = aws_cloudwatch_log_group.workloads.name
}

output "log_group_arn" {
  description = "ARN of the workloads' log group."
  value       = aws_cloudwatch_log_group.workloads.arn
}
