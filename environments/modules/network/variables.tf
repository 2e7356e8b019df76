# Inputs of the network module.

variable "name" {
  description = "Name prefix of the environment, e.g. \"numbers-dev\"."
  type        = string
}

variable "cidr_block" {
  description = "IPv4 CIDR of the VPC; a /16 leaves room for the /24 public and /20 private subnets."
  type        = string

  validation {
    condition     = can(cidrnetmask(var.cidr_block)) && tonumber(split("/", var.cidr_block)[1]) <= 16
    error_message = "cidr_block must be an IPv4 CIDR of /16 or larger."
  }
}

variable "availability_zones" {
  description = "The two availability zones the VPC spans (one public and one private subnet in each)."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) == 2 && length(distinct(var.availability_zones)) == 2
    error_message = "Exactly two distinct availability zones are required."
  }
}

variable "nat_gateway_per_az" {
  description = "true: one NAT gateway per availability zone (no cross-AZ dependency, for prod); false: one NAT gateway shared by both private subnets (cheaper)."
  type        = bool
}

variable "flow_log_retention_days" {
  description = "Retention of the VPC flow log group, in days."
  type        = number
}

variable "logs_kms_key_arn" {
  description = "KMS key that encrypts the VPC flow log group."
  type        = string
}

variable "account_id" {
  description = "AWS account id (scopes the flow-log role's trust policy)."
  type        = string
}
