# Inputs of the security_groups module.

variable "name" {
  description = "Name prefix of the environment, e.g. \"numbers-dev\"."
  type        = string
}

variable "vpc_id" {
  description = "VPC the security groups belong to."
  type        = string
}

variable "container_port" {
  description = "Port of the task's entry container (the numbers proxy) that the ALB forwards to."
  type        = number
  default     = 8000
}

variable "database_port" {
  description = "PostgreSQL port."
  type        = number
  default     = 5432
}
