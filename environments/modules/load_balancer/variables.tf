# Inputs of the load_balancer module.

variable "name" {
  description = "Name prefix of the environment, e.g. \"numbers-dev\"; the ALB and target group names derive from it (at most 32 characters each)."
  type        = string
}

variable "vpc_id" {
  description = "VPC of the target group."
  type        = string
}

variable "public_subnet_ids" {
  description = "Public subnets (two zones) of the load balancer."
  type        = list(string)
}

variable "security_group_id" {
  description = "Security group of the load balancer."
  type        = string
}

variable "container_port" {
  description = "Port of the entry container (the numbers proxy) the target group sends to."
  type        = number
  default     = 8000
}

variable "health_check_path" {
  description = "HTTP path the target group health check requests from the proxy."
  type        = string
  default     = "/healthz"
}

variable "hosted_zone_name" {
  description = "Existing public Route 53 hosted zone, e.g. \"numbers.example.com\"."
  type        = string
}

variable "domain_name" {
  description = "Host name users reach the app at; must be in hosted_zone_name, e.g. \"dev.numbers.example.com\"."
  type        = string
}

variable "ssl_policy" {
  description = "TLS negotiation policy of the HTTPS listener (TLS 1.3 and 1.2 with forward-secret AEAD ciphers only)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-Res-2021-06"
}

variable "deletion_protection" {
  description = "Refuse to delete the load balancer until this is turned off."
  type        = bool
}

variable "access_log_retention_days" {
  description = "Days access-log objects are kept."
  type        = number
  default     = 90
}

variable "waf_log_retention_days" {
  description = "Retention of the WAF log group, in days."
  type        = number
}

variable "waf_rate_limit" {
  description = "Requests per client IP per 5 minutes above which WAF blocks the client."
  type        = number
  default     = 2000
}

variable "logs_kms_key_arn" {
  description = "KMS key that encrypts the WAF log group."
  type        = string
}

variable "account_id" {
  description = "AWS account id (names the access-log bucket, scopes its policy)."
  type        = string
}

variable "ferry_host_name" {
  description = "Ferry's host name on this load balancer (a name in the certificate and a DNS alias)."
  type        = string
}

variable "production_rule_priority" {
  description = "Priority of the app's production listener rule on the HTTPS listener (after the test rule)."
  type        = number
  default     = 1000
}

variable "test_rule_priority" {
  description = "Priority of the blue/green test traffic listener rule (before the production rule)."
  type        = number
  default     = 900

  validation {
    condition     = var.test_rule_priority < var.production_rule_priority
    error_message = "The test rule must come before the production rule (a lower priority number)."
  }
}

variable "test_traffic_source_cidrs" {
  description = "Address ranges (CIDR) whose requests with the test header reach blue/green test traffic; one to three."
  type        = list(string)

  validation {
    # An ALB rule takes five condition values: host, header and these.
    condition     = length(var.test_traffic_source_cidrs) >= 1 && length(var.test_traffic_source_cidrs) <= 3 && alltrue([for cidr in var.test_traffic_source_cidrs : can(cidrhost(cidr, 0))])
    error_message = "test_traffic_source_cidrs must list one to three CIDR ranges."
  }
}
