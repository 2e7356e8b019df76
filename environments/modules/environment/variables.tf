# Inputs of the environment module: everything that differs between dev,
# staging and prod is a variable here and is set by the root module of that
# environment.

variable "environment" {
  description = "Environment name: dev, staging or prod."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "prod"], var.environment)
    error_message = "environment must be dev, staging or prod."
  }
}

variable "app_name" {
  description = "Application name; resources are named \"<app_name>-<environment>\"."
  type        = string
  default     = "numbers"

  validation {
    # Leaves room for the longest suffix ("-ci-terraform-apply", 19 characters)
    # within IAM's 64 and for "-proxy-alt" within the target group's 32.
    condition     = can(regex("^[a-z][a-z0-9]{1,11}$", var.app_name))
    error_message = "app_name must be 2-12 lowercase letters or digits, starting with a letter."
  }
}

variable "region" {
  description = "AWS region of the environment (the provider's region)."
  type        = string
}

variable "availability_zones" {
  description = "The two availability zones the environment spans, named explicitly so that the set never changes when AWS adds a zone."
  type        = list(string)

  validation {
    condition     = length(var.availability_zones) == 2 && alltrue([for zone in var.availability_zones : startswith(zone, var.region)])
    error_message = "Name exactly two availability zones of the environment's region."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the environment's VPC (a /16)."
  type        = string
}

variable "nat_gateway_per_az" {
  description = "One NAT gateway per availability zone (true, prod) or one shared NAT gateway (false)."
  type        = bool
}

variable "db_instance_class" {
  description = "RDS instance class."
  type        = string
}

variable "db_engine_major_version" {
  description = "PostgreSQL major version."
  type        = string
  default     = "17"
}

variable "db_allocated_storage" {
  description = "Initial database storage, in GiB."
  type        = number
  default     = 20
}

variable "db_max_allocated_storage" {
  description = "Database storage autoscaling ceiling, in GiB."
  type        = number
  default     = 100
}

variable "db_multi_az" {
  description = "Run a synchronous database standby in the second zone."
  type        = bool
}

variable "db_backup_retention_days" {
  description = "Days of automated database backups."
  type        = number
}

variable "deletion_protection" {
  description = "Deletion protection of the database and the load balancer."
  type        = bool
}

variable "log_retention_days" {
  description = "Retention of every log group of the environment, in days (at least a year)."
  type        = number

  validation {
    condition     = contains([365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value of at least 365 days."
  }
}

variable "bastion_instance_type" {
  description = "EC2 instance type of the bastion."
  type        = string
  default     = "t3.micro"
}

variable "hosted_zone_name" {
  description = "Existing public Route 53 hosted zone of the app's domain."
  type        = string
}

variable "domain_name" {
  description = "Host name of the environment's app, inside hosted_zone_name."
  type        = string
}

variable "ecr_repository_names" {
  description = "ECR repositories of the images (the app's are created by Ferry from the manifests, \"ferry\" by modules/ferry)."
  type        = list(string)
  default     = ["numbers-api", "numbers-frontend", "numbers-proxy", "ferry"]

  validation {
    # Ferry's own image: the execution role pulls it, images.yml pushes it.
    condition     = contains(var.ecr_repository_names, "ferry")
    error_message = "ecr_repository_names must include \"ferry\" (Ferry's own image)."
  }
}

variable "ferry_trusted_role_arns" {
  description = "IAM roles, besides ECS tasks, allowed to assume Ferry's role."
  type        = list(string)
  default     = []
}

# --- Three accounts (README: "Three accounts") ------------------------------------

variable "ferry_tooling_account" {
  description = <<-EOT
    Set when Ferry runs in another AWS account (the tooling account) and
    reaches this environment's account through roles: this account then gets
    <name>-ferry-deploy and <name>-ferry-plan (modules/target_account), which
    trust exactly principal_arns (Ferry's task role there) with external_id
    as sts:ExternalId, and this environment runs no Ferry of its own (one
    controller per environment). null (the default): one account, as
    before; Ferry runs here as its own role.
  EOT
  type = object({
    principal_arns = list(string)
    external_id    = string
  })
  default = null

  validation {
    # An environment is either reached by another account's Ferry or runs
    # one (which may reach others), never both.
    condition     = var.ferry_tooling_account == null || (length(var.ferry_assume_role_arns) == 0 && length(var.ferry_additional_environments) == 0)
    error_message = "ferry_tooling_account excludes ferry_assume_role_arns and ferry_additional_environments: this environment then runs no Ferry."
  }
}

variable "ferry_assume_role_arns" {
  description = "Deploy and plan-only roles of other accounts that this environment's Ferry may assume (when this environment's account is the tooling account). Empty by default."
  type        = list(string)
  default     = []
}

variable "ferry_additional_environments" {
  description = "Environments of other accounts that this environment's Ferry also runs (`ferry run --env`), through ferry_assume_role_arns. Empty by default."
  type        = list(string)
  default     = []
}

variable "create_ferry_repository" {
  description = "Create the account-wide ECR repository of Ferry's image (false when another environment in the same account already does)."
  type        = bool
  default     = true
}

variable "ferry_image_tag" {
  description = "Tag of Ferry's own image (ferry repository) that Ferry's ECS service runs: a commit SHA pushed by images.yml."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$", var.ferry_image_tag))
    error_message = "ferry_image_tag must be a valid image tag (letters, digits, _ . -; at most 128 characters)."
  }
}

variable "manifests_repository_url" {
  description = "Git repository that Ferry follows (HTTPS URL); null means https://github.com/<github_repository>.git."
  type        = string
  default     = null
}

variable "github_repository" {
  description = "GitHub repository (\"owner/name\") whose workflows may assume the CI roles."
  type        = string
}

variable "create_github_oidc_provider" {
  description = "Create the account-wide GitHub OIDC provider (false when another environment in the same account already does)."
  type        = bool
  default     = true
}

variable "terraform_state_bucket" {
  description = "S3 bucket of the Terraform state."
  type        = string
}

variable "terraform_state_key" {
  description = "Object key of this environment's Terraform state."
  type        = string
}

variable "bastion_detailed_monitoring" {
  description = "EC2 detailed monitoring of the bastion (off only for API emulators that lack it)."
  type        = bool
  default     = true
}

variable "ferry_oidc" {
  description = "OIDC identity provider (issuer, endpoints, client id) of the ALB sign-in in front of Ferry's status page; null keeps it closed."
  type = object({
    issuer                 = string
    authorization_endpoint = string
    token_endpoint         = string
    user_info_endpoint     = string
    client_id              = string
    scope                  = optional(string, "openid")
    session_timeout        = optional(number, 3600)
  })
  default = null
}

variable "ferry_oidc_client_secret" {
  description = "Client secret of ferry_oidc's client."
  type        = string
  default     = null
  sensitive   = true
}

variable "test_traffic_source_cidrs" {
  description = "Address ranges (CIDR), besides the VPC's NAT gateways, whose requests may reach blue/green test traffic (with the X-Ferry-Traffic: test header)."
  type        = list(string)
  default     = []
}

variable "alarm_5xx_percent" {
  description = "Share of the app's requests answered 5xx by its targets above which the 5xx alarm fires (ECS rolls back), in percent."
  type        = number
  default     = 5
}

variable "alarm_latency_p99_seconds" {
  description = "p99 target response time above which the latency alarm fires (ECS rolls back), in seconds."
  type        = number
  default     = 1
}
