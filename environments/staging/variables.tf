# Inputs of the root module that the repository cannot know: where the
# GitHub repository, the DNS zone and the Terraform state live. In CI they come
# from repository variables (TF_VAR_*); see .github/workflows/infra.yml.

variable "github_repository" {
  description = "GitHub repository (\"owner/name\") whose workflows may assume the CI roles."
  type        = string
}

variable "hosted_zone_name" {
  description = "Existing public Route 53 hosted zone of the app, e.g. \"numbers.example.com\"."
  type        = string
}

variable "terraform_state_bucket" {
  description = "S3 bucket of the Terraform state (the same one given to terraform init)."
  type        = string
}

# The environments share one AWS account by default (one ECR registry, so
# that promotion only moves tags): dev creates the account-wide GitHub OIDC
# provider and this environment uses it. Set true when this environment has
# an AWS account of its own.
variable "create_github_oidc_provider" {
  description = "Create the account-wide GitHub OIDC provider; false when another environment in the same AWS account already does."
  type        = bool
  default     = false
}

variable "ferry_trusted_role_arns" {
  description = "IAM roles, besides ECS tasks, allowed to assume Ferry's role (e.g. to run Ferry from an operator's machine)."
  type        = list(string)
  default     = []
}

# Ferry's image repository is account-wide like the OIDC provider: dev
# creates it and this environment uses it. Set true when this environment has
# an AWS account of its own.
variable "create_ferry_repository" {
  description = "Create the account-wide ECR repository of Ferry's image; false when another environment in the same AWS account already does."
  type        = bool
  default     = false
}

# Ferry's own image, run by Terraform (Ferry cannot deploy itself). Change it
# here, in a pull request, to upgrade this environment's Ferry: infra.yml
# plans and applies it like any other change. "bootstrap" is a placeholder
# until images.yml has pushed a first image (the service cannot start before).
variable "ferry_image_tag" {
  description = "Tag of Ferry's image (a commit SHA pushed by images.yml) that this environment's Ferry service runs."
  type        = string
  default     = "bootstrap"
}

variable "manifests_repository_url" {
  description = "Git repository (HTTPS) that Ferry follows; null means https://github.com/<github_repository>.git."
  type        = string
  default     = null
}

# Kept on in AWS; the end-to-end test turns it off against moto, which does
# not implement EC2 detailed monitoring.
variable "bastion_detailed_monitoring" {
  description = "EC2 detailed monitoring of the bastion."
  type        = bool
  default     = true
}

# Who may open Ferry's status page: an OIDC provider of your choice (Google,
# Okta, Auth0, Cognito...); in CI: TF_VAR_ferry_oidc (JSON) and
# TF_VAR_ferry_oidc_client_secret.

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

# --- Accounts (README: "Three accounts") -------------------------------------------

variable "account_id" {
  description = "The AWS account staging lives in. When set, Terraform refuses credentials of any other account (the provider's allowed_account_ids). null: whatever account the credentials are in (one account, as before)."
  type        = string
  default     = null
}

variable "account_role_arn" {
  description = "Role Terraform assumes in staging's account, e.g. from the tooling account's CI. null: the credentials at hand already act in staging's account."
  type        = string
  default     = null
}

variable "ferry_tooling_account" {
  description = "Ferry runs in another account (the tooling account): its task role (principal_arns) may assume staging's numbers-staging-ferry-deploy and numbers-staging-ferry-plan roles with external_id as sts:ExternalId. null: one account, no such roles."
  type = object({
    principal_arns = list(string)
    external_id    = string
  })
  default = null
}

variable "ferry_assume_role_arns" {
  description = "When staging's account is the tooling account: the other accounts' deploy and plan-only roles that this Ferry may assume (sts:AssumeRole on exactly these). Empty by default."
  type        = list(string)
  default     = []
}

variable "ferry_additional_environments" {
  description = "When staging's account is the tooling account: the other environments this Ferry also runs (ferry run --env staging,<these>), reached through ferry_assume_role_arns. Empty by default."
  type        = list(string)
  default     = []
}
