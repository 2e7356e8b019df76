# Inputs of the iam module.

variable "name" {
  description = "Name prefix of the environment, e.g. \"numbers-dev\"."
  type        = string
}

variable "environment" {
  description = "Environment name as Ferry tags it (ferry.dev/environment), e.g. \"dev\"."
  type        = string
}

variable "account_id" {
  description = "AWS account id."
  type        = string
}

variable "region" {
  description = "AWS region."
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

variable "log_group_arn" {
  description = "Log group the containers write to."
  type        = string
}

variable "db_secret_arn" {
  description = "ARN of the RDS-managed master user secret that tasks read at start-up."
  type        = string
}

variable "data_kms_key_arn" {
  description = "KMS key that encrypts the database secret."
  type        = string
}

variable "ecr_repository_names" {
  description = "ECR repositories (created by Ferry from the manifests) whose images the tasks pull and Ferry manages."
  type        = list(string)
}

variable "ferry_trusted_role_arns" {
  description = "IAM roles, besides ECS tasks, allowed to assume Ferry's role (e.g. an operator role to run Ferry by hand). Empty by default."
  type        = list(string)
  default     = []
}

variable "ferry_service_name" {
  description = "Name of Ferry's own ECS service (managed by Terraform); Ferry's role may not change it."
  type        = string
}

variable "ferry_repository_name" {
  description = "ECR repository of Ferry's own image (managed by Terraform); Ferry's role may read it but not reconfigure it."
  type        = string
}
