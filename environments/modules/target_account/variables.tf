# Inputs of the target_account module.

variable "name" {
  description = "Name prefix of the environment, e.g. \"numbers-dev\"; the roles are <name>-ferry-deploy and <name>-ferry-plan."
  type        = string

  validation {
    # IAM role names: 64 characters; the longer suffix is "-ferry-deploy".
    condition     = length(var.name) <= 51
    error_message = "name must be at most 51 characters (IAM role names are at most 64)."
  }
}

variable "environment" {
  description = "Environment name as Ferry tags it (ferry.dev/environment), e.g. \"dev\"."
  type        = string
}

variable "account_id" {
  description = "AWS account id of the environment (this account)."
  type        = string

  validation {
    condition     = can(regex("^[0-9]{12}$", var.account_id))
    error_message = "account_id must be a 12-digit AWS account id."
  }
}

variable "region" {
  description = "AWS region of the environment."
  type        = string
}

variable "partition" {
  description = "AWS partition, e.g. \"aws\"."
  type        = string
  default     = "aws"
}

variable "cluster_name" {
  description = "ECS cluster of the environment: the deploy role reconciles services in it only, the plan role reads it only."
  type        = string
}

variable "ecr_repository_names" {
  description = "ECR repositories (created by Ferry from the manifests) that Ferry manages."
  type        = list(string)
}

variable "ferry_service_name" {
  description = "Ferry's own ECS service in the cluster, if any (Terraform's): the deploy role may not change it."
  type        = string
}

variable "ferry_repository_name" {
  description = "ECR repository of Ferry's own image (Terraform's): the deploy role may not reconfigure it."
  type        = string
}

variable "task_role_arns" {
  description = "The app's task execution and task roles, which the deploy role passes to ECS tasks."
  type        = list(string)
}

variable "infrastructure_role_arn" {
  description = "The ECS infrastructure role for load balancers, which the deploy role passes to ECS."
  type        = string
}

variable "ferry_principal_arns" {
  description = "Ferry's task role in the tooling account (one ARN, or a few for a second Ferry during a migration): the only principals both roles trust."
  type        = list(string)

  validation {
    condition     = length(var.ferry_principal_arns) > 0
    error_message = "ferry_principal_arns must name Ferry's task role in the tooling account."
  }

  validation {
    # Whole roles only: no account root (":root" trusts every principal of
    # the account that its IAM allows) and no wildcard.
    condition = alltrue([
      for arn in var.ferry_principal_arns :
      can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$", arn))
    ])
    error_message = "ferry_principal_arns must be IAM role ARNs (arn:aws:iam::<account>:role/<name>), without wildcards."
  }
}

variable "external_id" {
  description = "External ID the tooling account's Ferry must present (sts:ExternalId); the Environment manifest's spec.aws.externalId. An identifier agreed between the accounts, not a secret."
  type        = string

  validation {
    # AWS's limits of an ExternalId.
    condition = (
      length(var.external_id) >= 2 && length(var.external_id) <= 1224
      && can(regex("^[A-Za-z0-9+=,.@:/_-]+$", var.external_id))
    )
    error_message = "external_id must be 2 to 1224 characters of letters, digits and +=,.@:/_-."
  }
}

variable "max_session_duration" {
  description = "Longest session of either role, in seconds (1 to 12 hours); Ferry renews its credentials before they expire."
  type        = number
  default     = 3600

  validation {
    condition     = var.max_session_duration >= 3600 && var.max_session_duration <= 43200
    error_message = "max_session_duration must be between 3600 and 43200 seconds."
  }
}
