# Inputs of the ferry module.

variable "name" {
  description = "Name prefix of the environment, e.g. \"numbers-dev\"; the task family and the service are \"<name>-ferry\"."
  type        = string
}

variable "environment" {
  description = "Environment Ferry reconciles (`ferry run --env`), e.g. \"dev\"."
  type        = string
}

variable "additional_environments" {
  description = "Further environments this Ferry runs besides its own (`--env <environment>,<these>`): the environments of other accounts that it reaches through assume_role_arns (three-account layout). Empty by default."
  type        = list(string)
  default     = []

  validation {
    condition = alltrue([
      for env in var.additional_environments : can(regex("^[a-z0-9][a-z0-9-]*$", env))
    ]) && length(distinct(var.additional_environments)) == length(var.additional_environments)
    error_message = "additional_environments must be distinct environment names (lower-case letters, digits and -)."
  }
}

variable "region" {
  description = "AWS region (awslogs-region, AWS_REGION)."
  type        = string
}

variable "cluster_arn" {
  description = "ECS cluster Ferry's service runs in (the cluster it reconciles)."
  type        = string
}

variable "log_group_name" {
  description = "Log group of the environment's containers (awslogs-group); Ferry writes under the stream prefix \"ferry\"."
  type        = string
}

variable "subnet_ids" {
  description = "Private subnets of Ferry's task (no public address)."
  type        = list(string)
}

variable "security_group_id" {
  description = "Ferry's own security group (9000 from the ALB; HTTPS and PostgreSQL to the database out)."
  type        = string
}

variable "execution_role_arn" {
  description = "ECS task execution role: pulls Ferry's image, writes its logs."
  type        = string
}

variable "task_role_arn" {
  description = "Ferry's own role: what `ferry run` calls in ECS and ECR."
  type        = string
}

variable "ecr_registry" {
  description = "ECR registry host of the account and region, e.g. \"123456789012.dkr.ecr.us-east-1.amazonaws.com\"."
  type        = string
}

variable "repository_name" {
  description = "ECR repository of Ferry's image (built by .github/workflows/images.yml)."
  type        = string
  default     = "ferry"
}

variable "create_repository" {
  description = "Create Ferry's ECR repository (the environment that owns the account's shared registry, dev); false looks it up."
  type        = bool
}

variable "image_tag" {
  description = "Tag of Ferry's image in the repository (a commit SHA pushed by images.yml)."
  type        = string
}

variable "manifests_repository_url" {
  description = "Git repository of the manifests (`ferry run --repo`), fetched over HTTPS."
  type        = string
}

variable "manifests_branch" {
  description = "Branch Ferry follows (`--branch`)."
  type        = string
  default     = "main"
}

variable "manifests_path" {
  description = "Manifests folder inside the repository (`--path`)."
  type        = string
  default     = "manifests"
}

variable "poll_interval" {
  description = "How often Ferry fetches the branch (`--interval`, a humantime duration). Polling is the only trigger: the webhook is not wired (see main.tf)."
  type        = string
  default     = "60s"
}

variable "cpu" {
  description = "Fargate CPU units of Ferry's task."
  type        = number
  default     = 256
}

variable "memory" {
  description = "Fargate memory of Ferry's task, in MiB."
  type        = number
  default     = 512
}

# --- Ferry's history database (database "ferry" on the environment's RDS) -----

variable "database_host" {
  description = "Host name of the environment's PostgreSQL (RDS) instance. Ferry keeps its history in database \"ferry\" there (creating it when missing); its two replicas share it."
  type        = string
}

variable "database_port" {
  description = "PostgreSQL port of the instance."
  type        = number
  default     = 5432
}

variable "database_username" {
  description = "User Ferry connects as (the instance's master user); it goes into FERRY_DATABASE_URL, the password does not."
  type        = string
}

variable "database_secret_arn" {
  description = "RDS-managed Secrets Manager secret of that user (JSON with username and password); its password key becomes FERRY_DATABASE_PASSWORD. Encrypted with secrets_kms_key_arn (the execution role decrypts with it)."
  type        = string

  validation {
    condition     = can(regex("^arn:[^:]+:secretsmanager:", var.database_secret_arn))
    error_message = "database_secret_arn must be a Secrets Manager secret ARN."
  }
}

# --- Ingress through the environment's load balancer (ingress.tf) --------------

variable "vpc_id" {
  description = "VPC of Ferry's target group."
  type        = string
}

variable "listener_arn" {
  description = "HTTPS listener of the environment's load balancer that gets Ferry's rules."
  type        = string
}

variable "host_name" {
  description = "Ferry's own host name on the load balancer (e.g. ferry.dev.numbers.example.com)."
  type        = string
}

variable "listener_rule_priority" {
  description = "Priority of Ferry's first listener rule (it uses three in a row)."
  type        = number
  default     = 100
}

variable "oidc" {
  description = "OIDC identity provider of the ALB sign-in in front of Ferry's status page, /status and /metrics; null keeps them closed (403)."
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

variable "oidc_client_secret" {
  description = "Client secret of the OIDC client (when oidc is set)."
  type        = string
  default     = null
  sensitive   = true
}

variable "secrets_kms_key_arn" {
  description = "KMS key of Ferry's secrets (the environment's data key)."
  type        = string
}

variable "assume_role_arns" {
  description = "Roles of other accounts Ferry may assume (the deploy and plan-only roles of modules/target_account): sts:AssumeRole on exactly these, nothing else. Empty (the default): Ferry acts through its own task role only, in this account. The external IDs are not given to Ferry here: each Environment manifest carries its own (spec.aws.externalId)."
  type        = list(string)
  default     = []

  validation {
    condition = alltrue([
      for arn in var.assume_role_arns :
      can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/[A-Za-z0-9+=,.@_/-]+$", arn))
    ])
    error_message = "assume_role_arns must be IAM role ARNs (arn:aws:iam::<account>:role/<name>), without wildcards."
  }
}
