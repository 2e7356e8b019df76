# Inputs of the github_ci module.

variable "name" {
  description = "Name prefix of the environment, e.g. \"numbers-dev\"."
  type        = string
}

variable "environment" {
  description = "Environment name; also the GitHub environment whose jobs may apply Terraform."
  type        = string
}

variable "github_repository" {
  description = "GitHub repository (\"owner/name\") whose workflows may assume the CI roles."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be \"owner/name\", without wildcards."
  }
}

variable "create_oidc_provider" {
  description = "Create the account's GitHub OIDC provider. Set false in all but one environment when several share an AWS account (the provider is account-wide)."
  type        = bool
  default     = true
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

variable "ecr_repository_names" {
  description = "ECR repositories the image workflow pushes to."
  type        = list(string)
}

variable "terraform_state_bucket" {
  description = "S3 bucket holding the Terraform state (the backend's bucket)."
  type        = string
}

variable "terraform_state_key" {
  description = "Object key of this environment's state in the bucket (the backend's key)."
  type        = string
}
