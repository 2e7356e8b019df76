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

  cluster_arn         = "${local.arn_prefix}:ecs:${var.region}:${var.account_id}:cluster/${var.cluster_name}"
  service_arns        = "${local.arn_prefix}:ecs:${var.region}:${var.account_id}:service/${var.cluster_name}/*"
  task_arns           = "${local.arn_prefix}:ecs:${var.region}:${var.account_id}:task/${var.cluster_name}/*"
  task_definition_arn = "${local.arn_prefix}:ecs:${var.region}:${var.account_id}:task-definition/*"
  ferry_service_arn   = "${local.arn_prefix}:ecs:${var.region}:${var.account_id}:service/${var.cluster_name}/${var.ferry_service_name}"
  # A service's deployments and revisions: <kind>/<cluster>/<service>/<id>.
  service_deployment_arns   = "${local.arn_prefix}:ecs:${var.region}:${var.account_id}:service-deployment/${var.cluster_name}/*"
  service_revision_arns     = "${local.arn_prefix}:ecs:${var.region}:${var.account_id}:service-revision/${var.cluster_name}/*"
  ferry_service_deployments = "${local.arn_prefix}:ecs:${var.region}:${var.account_id}:service-deployment/${var.cluster_name}/${var.ferry_service_name}/*"

  # Target tracking names its alarms TargetTracking-<resource id>-...
  target_tracking_alarms = "${local.arn_prefix}:cloudwatch:${var.region}:${var.account_id}:alarm:TargetTracking-service/${var.cluster_name}/*"
  # Created by Application Auto Scaling on the first RegisterScalableTarget of
  # an ECS service in the account (one per account, shared by environments).
  autoscaling_service_linked_role = "${local.arn_prefix}:iam::${var.account_id}:role/aws-service-role/ecs.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_ECSService"
  all_repositories                = "${local.arn_prefix}:ecr:${var.region}:${var.account_id}:repository/*"

  repository_arns = [
    for repository in var.ecr_repository_names :
    "${local.arn_prefix}:ecr:${var.region}:${var.account_id}:repository/${repository}"
  ]

  # Ferry tags everything it creates with its environment; the tag scopes the
  # task-definition permissions that AWS cannot scope by resource.
  environment_tag = "ferry.dev/environment"

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

# modules/target_account holds the same statements for the deploy role of a
# target account (three accounts); keep the two in step (the environment
# module's test compares them).
resource "aws_iam_role_policy" "ferry" {
  #checkov:skip=CKV_AWS_355:The one restrictable action on "*" without a condition is ObserveAutoscaling's cloudwatch:DescribeAlarms, read only, which Application Auto Scaling's scaling-policy calls use in the caller's name; every other "*" statement names actions without resource-level permissions or is scoped by a condition (cluster, namespace and dimension, request tag).
  name = "reconcile-${var.environment}"
  role = aws_iam_role.ferry.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ObserveCluster"
        Effect   = "Allow"
        Action   = "ecs:DescribeClusters"
        Resource = local.cluster_arn
      },
      {
        # List calls take the cluster as a parameter, not as a resource.
        Sid      = "ListInCluster"
        Effect   = "Allow"
        Action   = ["ecs:ListServices", "ecs:ListTasks"]
        Resource = "*"
        Condition = {
          ArnEquals = { "ecs:cluster" = local.cluster_arn }
        }
      },
      {
        Sid    = "ReconcileServices"
        Effect = "Allow"
        Action = [
          "ecs:CreateService",
          "ecs:UpdateService",
          "ecs:DeleteService",
          "ecs:DescribeServices",
        ]
        Resource = local.service_arns
      },
      {
        Sid      = "ObserveTasks"
        Effect   = "Allow"
        Action   = "ecs:DescribeTasks"
        Resource = local.task_arns
      },
      {
        # Pre-deploy tasks (database migrations): started in this cluster only,
        # followed with DescribeTasks, stopped at their timeout.
        Sid      = "RunPreDeployTasks"
        Effect   = "Allow"
        Action   = "ecs:RunTask"
        Resource = local.task_definition_arn
        Condition = {
          ArnEquals = { "ecs:cluster" = local.cluster_arn }
        }
      },
      {
        Sid      = "StopPreDeployTasks"
        Effect   = "Allow"
        Action   = "ecs:StopTask"
        Resource = local.task_arns
      },
      {
        # RegisterTaskDefinition has no resource-level permissions; require
        # the environment tag so that Ferry only registers what it owns.
        Sid      = "RegisterTaskDefinitions"
        Effect   = "Allow"
        Action   = "ecs:RegisterTaskDefinition"
        Resource = "*"
        Condition = {
          StringEquals = { "aws:RequestTag/${local.environment_tag}" = var.environment }
        }
      },
      {
        # Task-definition GC: old revisions of the families Ferry manages.
        # DeregisterTaskDefinition has no resource-level permissions and no
        # tag condition keys; a deregistered revision keeps running where it
        # runs (ECS only refuses new tasks and services from it).
        Sid      = "DeregisterTaskDefinitions"
        Effect   = "Allow"
        Action   = "ecs:DeregisterTaskDefinition"
        Resource = "*"
      },
      {
        # Read-only task-definition calls: no resource-level permissions exist.
        Sid    = "ObserveTaskDefinitions"
        Effect = "Allow"
        Action = [
          "ecs:DescribeTaskDefinition",
          "ecs:ListTaskDefinitions",
          "ecs:ListTaskDefinitionFamilies",
        ]
        Resource = "*"
      },
      {
        # Tags are written only as part of creating a service or a task
        # definition, never onto existing resources Ferry does not own.
        Sid      = "TagOnCreate"
        Effect   = "Allow"
        Action   = "ecs:TagResource"
        Resource = [local.service_arns, local.task_definition_arn, local.task_arns]
        Condition = {
          StringEquals = { "ecs:CreateAction" = ["CreateService", "RegisterTaskDefinition", "RunTask"] }
        }
      },
      {
        # Tag changes on services Ferry already owns (tagged for this
        # environment), e.g. a manifest's tags edited after creation.
        Sid      = "RetagOwnedServices"
        Effect   = "Allow"
        Action   = "ecs:TagResource"
        Resource = local.service_arns
        Condition = {
          StringEquals = { "aws:ResourceTag/${local.environment_tag}" = var.environment }
        }
      },
      {
        # Ferry's own service belongs to Terraform: Ferry never changes,
        # retags or deletes it, whatever the manifests say.
        Sid      = "NotFerrysOwnService"
        Effect   = "Deny"
        Action   = ["ecs:CreateService", "ecs:UpdateService", "ecs:DeleteService", "ecs:TagResource", "ecs:UntagResource"]
        Resource = local.ferry_service_arn
      },
      {
        # Progressive delivery: follow a deployment (lifecycle stage,
        # traffic shifted, bake time) and the revisions it moves between.
        Sid    = "FollowServiceDeployments"
        Effect = "Allow"
        Action = [
          "ecs:ListServiceDeployments",
          "ecs:DescribeServiceDeployments",
          "ecs:DescribeServiceRevisions",
        ]
        Resource = [local.service_arns, local.service_deployment_arns, local.service_revision_arns]
      },
      {
        # A failed analysis or `ferry abort`: stop the deployment with
        # rollback, in this cluster only.
        Sid      = "StopServiceDeployments"
        Effect   = "Allow"
        Action   = "ecs:StopServiceDeployment"
        Resource = local.service_deployment_arns
      },
      {
        # The manual gate (`pause:`, an ECS PAUSE lifecycle hook):
        # `ferry promote` resumes the paused deployment (CONTINUE),
        # `ferry abort` rolls it back (ROLLBACK), in this cluster only.
        Sid      = "ContinueServiceDeployments"
        Effect   = "Allow"
        Action   = "ecs:ContinueServiceDeployment"
        Resource = local.service_deployment_arns
      },
      {
        Sid      = "NotFerrysOwnDeployments"
        Effect   = "Deny"
        Action   = ["ecs:StopServiceDeployment", "ecs:ContinueServiceDeployment"]
        Resource = local.ferry_service_deployments
      },
      {
        # Metric analysis during bake time (5xx ratio, p99 latency).
        # GetMetricData has no resource-level permissions; it only reads.
        Sid      = "ReadMetrics"
        Effect   = "Allow"
        Action   = "cloudwatch:GetMetricData"
        Resource = "*"
      },
      {
        Sid      = "ReadTags"
        Effect   = "Allow"
        Action   = "ecs:ListTagsForResource"
        Resource = [local.service_arns, local.task_definition_arn]
      },
      {
        Sid      = "PassTaskRolesToEcs"
        Effect   = "Allow"
        Action   = "iam:PassRole"
        Resource = [aws_iam_role.task_execution.arn, aws_iam_role.task.arn]
        Condition = {
          StringEquals = { "iam:PassedToService" = "ecs-tasks.amazonaws.com" }
        }
      },
      {
        # The role ECS itself assumes during a deployment to move load
        # balancer traffic (PAUSE lifecycle hooks need no role).
        Sid      = "PassInfrastructureRoleToEcs"
        Effect   = "Allow"
        Action   = "iam:PassRole"
        Resource = aws_iam_role.ecs_infrastructure.arn
        Condition = {
          StringEquals = { "iam:PassedToService" = "ecs.amazonaws.com" }
        }
      },
      {
        # Application Auto Scaling's reads have no resource-level permissions.
        Sid    = "ObserveAutoscaling"
        Effect = "Allow"
        Action = [
          "application-autoscaling:DescribeScalableTargets",
          "application-autoscaling:DescribeScalingPolicies",
          "application-autoscaling:DescribeScheduledActions",
          "cloudwatch:DescribeAlarms",
        ]
        Resource = "*"
      },
      {
        # Scalable targets are named by random ids, so the namespace and the
        # dimension scope the writes: the desired count of ECS services only.
        # Registering also needs ecs:DescribeServices and ecs:UpdateService
        # on the service (ReconcileServices).
        Sid    = "ReconcileAutoscaling"
        Effect = "Allow"
        Action = [
          "application-autoscaling:RegisterScalableTarget",
          "application-autoscaling:DeregisterScalableTarget",
          "application-autoscaling:PutScalingPolicy",
          "application-autoscaling:DeleteScalingPolicy",
          "application-autoscaling:PutScheduledAction",
          "application-autoscaling:DeleteScheduledAction",
        ]
        Resource = "*"
        Condition = {
          StringEquals = {
            "application-autoscaling:service-namespace"  = "ecs"
            "application-autoscaling:scalable-dimension" = "ecs:service:DesiredCount"
          }
        }
      },
      {
        # Ownership tags go on a scalable target when it is registered.
        Sid      = "TagScalableTargets"
        Effect   = "Allow"
        Action   = "application-autoscaling:TagResource"
        Resource = "*"
        Condition = {
          StringEquals = { "aws:RequestTag/${local.environment_tag}" = var.environment }
        }
      },
      {
        # A target-tracking policy creates and deletes its alarms in the
        # caller's name.
        Sid      = "TargetTrackingAlarms"
        Effect   = "Allow"
        Action   = ["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"]
        Resource = local.target_tracking_alarms
      },
      {
        # The service-linked role Application Auto Scaling scales ECS with,
        # created by the first registration in the account: that role only.
        Sid      = "AutoscalingServiceLinkedRole"
        Effect   = "Allow"
        Action   = "iam:CreateServiceLinkedRole"
        Resource = local.autoscaling_service_linked_role
        Condition = {
          StringEquals = { "iam:AWSServiceName" = "ecs.application-autoscaling.amazonaws.com" }
        }
      },
      {
        # Observation lists the registry's repositories (DescribeRepositories
        # without names), which IAM authorizes against repository/*; it
        # returns settings only, never images.
        Sid      = "ListRepositories"
        Effect   = "Allow"
        Action   = "ecr:DescribeRepositories"
        Resource = local.all_repositories
      },
      {
        # Ferry's image repository belongs to Terraform (modules/ferry):
        # Ferry reads its images (digest pins) but never reconfigures it.
        Sid    = "NotFerrysOwnRepository"
        Effect = "Deny"
        Action = [
          "ecr:CreateRepository",
          "ecr:PutLifecyclePolicy",
          "ecr:DeleteLifecyclePolicy",
          "ecr:PutImageScanningConfiguration",
          "ecr:PutImageTagMutability",
          "ecr:TagResource",
        ]
        Resource = "${local.arn_prefix}:ecr:${var.region}:${var.account_id}:repository/${var.ferry_repository_name}"
      },
      {
        Sid    = "ReconcileRepositories"
        Effect = "Allow"
        Action = [
          "ecr:CreateRepository",
          "ecr:DescribeImages",
          "ecr:ListImages",
          "ecr:GetLifecyclePolicy",
          "ecr:PutLifecyclePolicy",
          "ecr:DeleteLifecyclePolicy",
          "ecr:PutImageScanningConfiguration",
          "ecr:PutImageTagMutability",
          "ecr:TagResource",
          "ecr:ListTagsForResource",
        ]
        Resource = local.repository_arns
      },
    ]
  })
}
