# Inputs of the ecs_cluster module.

variable "name" {
  description = "Cluster name, e.g. \"numbers-dev\"; the manifests' Environment.spec.cluster."
  type        = string
}

variable "log_retention_days" {
  description = "Retention of the workloads' log group, in days."
  type        = number
}

variable "logs_kms_key_arn" {
  description = "KMS key that encrypts the workloads' log group."
  type        = string
}
