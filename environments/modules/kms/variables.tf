# Inputs of the kms module.

variable "name" {
  description = "Name prefix of the environment, e.g. \"numbers-dev\"; used in key aliases."
  type        = string
}

variable "account_id" {
  description = "AWS account id that owns the keys."
  type        = string
}

variable "region" {
  description = "AWS region of the keys (CloudWatch Logs' service principal is regional)."
  type        = string
}

variable "partition" {
  description = "AWS partition, e.g. \"aws\"."
  type        = string
}

variable "deletion_window_in_days" {
  description = "Waiting period before a scheduled key deletion takes effect."
  type        = number
  default     = 30

  validation {
    condition     = var.deletion_window_in_days >= 7 && var.deletion_window_in_days <= 30
    error_message = "KMS allows a deletion window of 7 to 30 days."
  }
}
