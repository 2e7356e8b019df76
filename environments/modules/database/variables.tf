# Inputs of the database module.

variable "identifier" {
  description = "RDS instance identifier, e.g. \"numbers-dev\" (at most 63 characters)."
  type        = string

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,62}$", var.identifier)) && !endswith(var.identifier, "-") && !strcontains(var.identifier, "--")
    error_message = "identifier must be 1-63 lowercase letters, digits or single hyphens, start with a letter and not end with a hyphen."
  }
}

variable "subnet_ids" {
  description = "Private subnets (two zones) of the DB subnet group."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group of the instance (5432 from the tasks and the bastion only)."
  type        = string
}

variable "engine_major_version" {
  description = "PostgreSQL major version; RDS picks (and upgrades) the minor version."
  type        = string
  default     = "17"

  validation {
    condition     = contains(["16", "17"], var.engine_major_version)
    error_message = "Use a PostgreSQL major version that RDS supports in standard support (16 or 17)."
  }
}

variable "instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "allocated_storage" {
  description = "Initial storage, in GiB."
  type        = number
  default     = 20
}

variable "max_allocated_storage" {
  description = "Storage autoscaling ceiling, in GiB."
  type        = number
  default     = 100
}

variable "multi_az" {
  description = "Keep a synchronous standby in the second zone (prod)."
  type        = bool
}

variable "deletion_protection" {
  description = "Refuse to delete the instance until this is turned off."
  type        = bool
}

variable "backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number

  validation {
    condition     = var.backup_retention_days >= 1 && var.backup_retention_days <= 35
    error_message = "Automated backups must be on: 1 to 35 days."
  }
}

variable "database_name" {
  description = "Name of the application database created with the instance."
  type        = string
  default     = "numbers"
}

variable "master_username" {
  description = "Master user name. Its password is generated and rotated by RDS in Secrets Manager."
  type        = string
  default     = "numbers"
}

variable "port" {
  description = "PostgreSQL port."
  type        = number
  default     = 5432
}

variable "kms_key_arn" {
  description = "KMS key for storage, Performance Insights and the master user secret."
  type        = string
}

variable "logs_kms_key_arn" {
  description = "KMS key for the exported PostgreSQL log groups."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the exported PostgreSQL log groups, in days."
  type        = number
}

variable "partition" {
  description = "AWS partition, e.g. \"aws\" (for AWS-managed policy ARNs)."
  type        = string
}

variable "account_id" {
  description = "AWS account id (scopes the monitoring role's trust policy)."
  type        = string
}
