# Inputs of the bastion module.

variable "name" {
  description = "Name prefix of the environment, e.g. \"numbers-dev\"."
  type        = string
}

variable "subnet_id" {
  description = "Private subnet for the instance (it has no public address)."
  type        = string
}

variable "security_group_id" {
  description = "Security group of the bastion (no ingress; egress to HTTPS and the database)."
  type        = string
}

variable "instance_type" {
  description = "EC2 instance type; the bastion only relays SSM sessions."
  type        = string
  default     = "t3.micro"
}

variable "root_volume_size" {
  description = "Size of the encrypted root volume, in GiB."
  type        = number
  default     = 8
}

variable "partition" {
  description = "AWS partition, e.g. \"aws\" (for AWS-managed policy ARNs)."
  type        = string
}

# Off only where the EC2 API cannot do it (moto answers NotImplemented to
# MonitorInstances and the provider retries until it times out).
variable "detailed_monitoring" {
  description = "EC2 detailed (1-minute) monitoring of the bastion."
  type        = bool
  default     = true
}
