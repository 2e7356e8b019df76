# The roles through which a Ferry of another account (the tooling account)
# works in this environment's account:
#
#   role                  assumed by                                  may
#   <name>-ferry-deploy   Ferry's task role in the tooling account    reconcile this environment, as Ferry's own role (modules/iam)
#   <name>-ferry-plan     the same, for `ferry plan` of pull requests  read this cluster and the managed repositories
#
# Both trust exactly the principals in ferry_principal_arns (the tooling
# account's Ferry task role), and only with this environment's external ID
# (sts:ExternalId), which the Environment manifest carries as
# spec.aws.externalId: a role ARN alone is not enough to act in this account
# (AWS's "confused deputy" guard). Nothing here is secret; the external ID is
# an identifier, not a password.

# The deploy role's policy has the same statements as Ferry's own role in a
# one-account layout (modules/iam, aws_iam_role_policy.ferry), each with its
# reason there. They are written twice because checkov 3.3 reads a policy
# only where it is written: handed through a module (a document output, or a
# module both call) it is no longer checked (measured: removing the
# CKV_AWS_355 skip then gives no finding). The environment module's test
# (modules/environment/tests, run "target_account") fails on any difference
# between the two.

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

# --- Deploy role -----------------------------------------------------------------

resource "aws_iam_role" "deploy" {
  name                 = "${var.name}-ferry-deploy"
  description          = "Assumed by Ferry of the tooling account to reconcile ${var.name}: ECS services, task definitions, ECR repositories of this cluster."
  max_session_duration = var.max_session_duration

  assume_role_policy = local.trust_policy
}

resource "aws_iam_role_policy" "deploy" {
  #checkov:skip=CKV_AWS_355:The one restrictable action on "*" without a condition is ObserveAutoscaling's cloudwatch:DescribeAlarms, read only, which Application Auto Scaling's scaling-policy calls use in the caller's name; every other "*" statement names actions without resource-level permissions or is scoped by a condition (cluster, namespace and dimension, request tag).
  name = "reconcile-${var.environment}"
  role = aws_iam_role.deploy.id

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
        Resource = var.task_role_arns
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
        Resource = var.infrastructure_role_arn
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

# --- Plan-only role ----------------------------------------------------------------

resource "aws_iam_role" "plan" {
  name                 = "${var.name}-ferry-plan"
  description          = "Assumed by Ferry of the tooling account for ferry plan of ${var.name} (pull requests): read only."
  max_session_duration = var.max_session_duration

  assume_role_policy = local.trust_policy
}

# What `ferry plan` reads (the actions of github_ci's plan.yml role),
# scoped to this cluster and the managed repositories; no write, no secret
# value. DescribeRepositories is authorized against repository/* because
# observation lists the registry (settings only, never images);
# DescribeTaskDefinition, ListTaskDefinitions and Application Auto
# Scaling's describes have no resource-level permissions.
resource "aws_iam_role_policy" "plan" {
  name = "plan-${var.environment}"
  role = aws_iam_role.plan.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "DescribeCluster"
        Effect   = "Allow"
        Action   = "ecs:DescribeClusters"
        Resource = local.cluster_arn
      },
      {
        Sid      = "ListServicesInCluster"
        Effect   = "Allow"
        Action   = "ecs:ListServices"
        Resource = "*"
        Condition = {
          ArnEquals = { "ecs:cluster" = local.cluster_arn }
        }
      },
      {
        Sid      = "DescribeServices"
        Effect   = "Allow"
        Action   = ["ecs:DescribeServices", "ecs:ListTagsForResource"]
        Resource = [local.service_arns, local.task_definition_arn]
      },
      {
        Sid      = "ListRepositories"
        Effect   = "Allow"
        Action   = "ecr:DescribeRepositories"
        Resource = local.all_repositories
      },
      {
        Sid      = "DescribeRepositories"
        Effect   = "Allow"
        Action   = ["ecr:DescribeImages", "ecr:GetLifecyclePolicy", "ecr:ListTagsForResource"]
        Resource = local.repository_arns
      },
      {
        Sid    = "DescribeWithoutResourceLevelPermissions"
        Effect = "Allow"
        Action = [
          "ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions",
          "application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies",
          "application-autoscaling:DescribeScheduledActions",
        ]
        Resource = "*"
      },
    ]
  })
}
