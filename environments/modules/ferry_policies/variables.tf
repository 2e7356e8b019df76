# Inputs of the ferry_policies module: what scopes Ferry's permissions.

variable "environment" {
  description = "Environment name as Ferry tags it (ferry.dev/environment), e.g. \"dev\"."
  type        = string
}

variable "account_id" {
  description = "AWS account id of the environment."
  type        = string
}

variable "region" {
  description = "AWS region of the environment."
  type        = string
}

variable "partition" {
  description = "AWS partition, e.g. \"aws\"."
  type        = string
}

variable "cluster_name" {
  description = "ECS cluster that Ferry manages services in."
  type        = string
}

variable "ecr_repository_names" {
  description = "ECR repositories (created by Ferry from the manifests) that Ferry manages."
  type        = list(string)
}

variable "ferry_service_name" {
  description = "Name of Ferry's own ECS service in the cluster (managed by Terraform); Ferry may not change it."
  type        = string
}

variable "ferry_repository_name" {
  description = "ECR repository of Ferry's own image (managed by Terraform); Ferry may read it but not reconfigure it."
  type        = string
}

variable "task_role_arns" {
  description = "The app's task execution and task roles, which Ferry passes to ECS tasks (iam:PassRole to ecs-tasks.amazonaws.com only)."
  type        = list(string)
}

variable "infrastructure_role_arn" {
  description = "The ECS infrastructure role for load balancers, which Ferry passes to ECS (iam:PassRole to ecs.amazonaws.com only)."
  type        = string
}
