# IAM roles of one environment's workloads and of Ferry itself.
#
# - task execution role: what ECS needs to start the numbers tasks: pull the
#   images from ECR, write logs, read the database secret.
# - task role: what the application code may call in AWS (nothing today).
# - Ferry's role: reconcile the environment: ECS services of this cluster,
#   task definitions tagged for this environment, the ECR repositories named
#   in the manifests, and iam:PassRole of the two roles above, to ECS only;
#   Application Auto Scaling of ECS services' desired count (targets,
#   target-tracking policies and their CloudWatch alarms, scheduled actions),
#   creating Application Auto Scaling's service-linked role for ECS on first
#   use; progressive delivery: following service deployments and their
#   revisions, resuming one paused at a PAUSE lifecycle hook (continue or
#   roll back), stopping one with rollback, reading CloudWatch metrics for
#   its analysis, and iam:PassRole of the ECS infrastructure role, to ECS
#   only.
# - ECS infrastructure role for load balancers: what ECS itself assumes to
#   move traffic between the target groups in blue/green, canary and linear
#   deployments (the AWS-managed policy for it).
#   Ferry's own service and image repository (modules/ferry, Terraform's)
#   are off limits to it.

locals {
  arn_prefix = "arn:${var.partition}"

  repository_arns = [
    for repository in var.ecr_repository_names :
    "${local.arn_prefix}:ecr:${var.region}:${var.account_id}:repository/${repository}"
  ]

  # Trust policy statement for roles that ECS tasks of this account assume.
  ecs_tasks_trust = {
    Effect    = "Allow"
    Principal = { Service = "ecs-tasks.amazonaws.com" }
    Action    = "sts:AssumeRole"
    Condition = {
      StringEquals = { "aws:SourceAccount" = var.account_id }
    }
  }
}

# --- Task execution role -----------------------------------------------------

resource "aws_iam_role" "task_execution" {
  name        = "${var.name}-task-execution"
  description = "ECS task execution role of ${var.name}: pull images, write logs, read the database secret."

  assume_role_policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [local.ecs_tasks_trust]
  })
}

resource "aws_iam_role_policy" "task_execution" {
  name = "start-tasks"
  role = aws_iam_role.task_execution.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # The registry login token; it grants no image access by itself
        # (the API has no resource-level permissions).
        Sid      = "EcrLogin"
        Effect   = "Allow"
        Action   = "ecr:GetAuthorizationToken"
        Resource = "*"
      },
      {
        Sid    = "EcrPull"
        Effect = "Allow"
        Action = [
          "ecr:BatchCheckLayerAvailability",
          "ecr:GetDownloadUrlForLayer",
          "ecr:BatchGetImage",
        ]
        Resource = local.repository_arns
      },
      {
        Sid      = "WriteLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = [var.log_group_arn, "${var.log_group_arn}:*"]
      },
      {
        Sid      = "ReadDatabaseSecret"
        Effect   = "Allow"
        Action   = "secretsmanager:GetSecretValue"
        Resource = var.db_secret_arn
      },
      {
        Sid      = "DecryptDatabaseSecret"
        Effect   = "Allow"
        Action   = "kms:Decrypt"
        Resource = var.data_kms_key_arn
        Condition = {
          StringEquals = { "kms:ViaService" = "secretsmanager.${var.region}.amazonaws.com" }
        }
      },
    ]
  })
}

# --- Task role -----------------------------------------------------------------

# The numbers containers call no AWS API; the role exists so that the task
# definition names one and a future need is a policy away, not a new role.
resource "aws_iam_role" "task" {
  name        = "${var.name}-task"
  description = "ECS task role of the ${var.name} workloads (ECS Exec channels only)."

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [merge(local.ecs_tasks_trust, {
      Condition = {
        StringEquals = { "aws:SourceAccount" = var.account_id }
        ArnLike      = { "aws:SourceArn" = "${local.arn_prefix}:ecs:${var.region}:${var.account_id}:*" }
      }
    })]
  })
}

# ECS Exec (`enableExecuteCommand`): the agent in each task opens its SSM
# message channels with the task role. Nothing else.
resource "aws_iam_role_policy" "task_exec" {
  name = "ecs-exec"
  role = aws_iam_role.task.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid    = "EcsExecChannels"
      Effect = "Allow"
      Action = [
        "ssmmessages:CreateControlChannel",
        "ssmmessages:CreateDataChannel",
        "ssmmessages:OpenControlChannel",
        "ssmmessages:OpenDataChannel",
      ]
      # These actions have no resource-level permissions.
      Resource = "*"
    }]
  })
}

# --- ECS infrastructure role for load balancers ----------------------------------

# Assumed by ECS (not by tasks) during blue/green, canary and linear
# deployments: it registers the new revision's tasks with the target group
# that is not serving and moves the weights of the production and test
# listener rules (modules/load_balancer). The services name it in
# loadBalancers[].advancedConfiguration.roleArn (ecs_infrastructure_role_arn).
# The trust policy is the one AWS documents for this role; ECS does not send
# aws:SourceAccount / aws:SourceArn when it assumes it.
resource "aws_iam_role" "ecs_infrastructure" {
  name        = "${var.name}-ecs-infrastructure"
  description = "Assumed by ECS to shift load balancer traffic in ${var.name}'s blue/green, canary and linear deployments."

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "EcsManagesLoadBalancers"
      Effect    = "Allow"
      Principal = { Service = "ecs.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy_attachment" "ecs_infrastructure" {
  role       = aws_iam_role.ecs_infrastructure.name
  policy_arn = "${local.arn_prefix}:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"
}

# --- Ferry ---------------------------------------------------------------------

resource "aws_iam_role" "ferry" {
  name        = "${var.name}-ferry"
  description = "Ferry, the GitOps controller of ${var.name}: reconciles ECS services, task definitions and ECR repositories."

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(
      [local.ecs_tasks_trust],
      length(var.ferry_trusted_role_arns) == 0 ? [] : [{
        Effect    = "Allow"
        Principal = { AWS = var.ferry_trusted_role_arns }
        Action    = "sts:AssumeRole"
      }],
    )
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
  task_role_arns          = [aws_iam_role.task_execution.arn, aws_iam_role.task.arn]
  infrastructure_role_arn = aws_iam_role.ecs_infrastructure.arn
}

# The statements, each with its reason, are in modules/ferry_policies.
resource "aws_iam_role_policy" "ferry" {
  #checkov:skip=CKV_AWS_355:The one restrictable action on "*" without a condition is ObserveAutoscaling's cloudwatch:DescribeAlarms, read only, which Application Auto Scaling's scaling-policy calls use in the caller's name; every other "*" statement names actions without resource-level permissions or is scoped by a condition (cluster, namespace and dimension, request tag).
  name = "reconcile-${var.environment}"
  role = aws_iam_role.ferry.id

  policy = module.ferry_policies.deploy_policy
}
