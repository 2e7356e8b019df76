# The roles through which a Ferry of another account (the tooling account)
# works in this environment's account:
#
#   role                  assumed by                                  may
#   <name>-ferry-deploy   Ferry's task role in the tooling account    reconcile this environment (modules/ferry_policies)
#   <name>-ferry-plan     the same, for `ferry plan` of pull requests  read this cluster and the managed repositories
#
# Both trust exactly the principals in ferry_principal_arns (the tooling
# account's Ferry task role), and only with this environment's external ID
# (sts:ExternalId), which the Environment manifest carries as
# spec.aws.externalId: a role ARN alone is not enough to act in this account
# (AWS's "confused deputy" guard). Nothing here is secret; the external ID is
# an identifier, not a password.

locals {
  trust_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "FerryOfTheToolingAccount"
      Effect    = "Allow"
      Principal = { AWS = var.ferry_principal_arns }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "sts:ExternalId" = var.external_id }
      }
    }]
  })
}

module "ferry_policies" {
  source = "../ferry_policies"

  environment             = var.environment
  account_id              = var.account_id
  region                  = var.region
  partition               = var.partition
  cluster_name            = var.cluster_name
  ecr_repository_names    = var.ecr_repository_names
  ferry_service_name      = var.ferry_service_name
  ferry_repository_name   = var.ferry_repository_name
  task_role_arns          = var.task_role_arns
  infrastructure_role_arn = var.infrastructure_role_arn
}

# --- Deploy role -----------------------------------------------------------------

resource "aws_iam_role" "deploy" {
  name                 = "${var.name}-ferry-deploy"
  description          = "Assumed by Ferry of the tooling account to reconcile ${var.name}: ECS services, task definitions, ECR repositories of this cluster."
  max_session_duration = var.max_session_duration

  assume_role_policy = local.trust_policy
}

# The statements, each with its reason, are in modules/ferry_policies: the
# same least privilege as Ferry's own role in a one-account layout.
resource "aws_iam_role_policy" "deploy" {
  #checkov:skip=CKV_AWS_355:The one restrictable action on "*" without a condition is ObserveAutoscaling's cloudwatch:DescribeAlarms, read only, which Application Auto Scaling's scaling-policy calls use in the caller's name; every other "*" statement names actions without resource-level permissions or is scoped by a condition (cluster, namespace and dimension, request tag).
  name = "reconcile-${var.environment}"
  role = aws_iam_role.deploy.id

  policy = module.ferry_policies.deploy_policy
}

# --- Plan-only role ----------------------------------------------------------------

resource "aws_iam_role" "plan" {
  name                 = "${var.name}-ferry-plan"
  description          = "Assumed by Ferry of the tooling account for ferry plan of ${var.name} (pull requests): read only."
  max_session_duration = var.max_session_duration

  assume_role_policy = local.trust_policy
}

resource "aws_iam_role_policy" "plan" {
  name = "plan-${var.environment}"
  role = aws_iam_role.plan.id

  policy = module.ferry_policies.plan_policy
}
