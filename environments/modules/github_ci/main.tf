# GitHub Actions access to AWS, without static keys: the account's GitHub OIDC
# identity provider and the roles the workflows assume.
#
#   role                      assumed by (token "sub" claim)              may
#   <name>-ci-images          images.yml on main                          push images to the ECR repositories
#   <name>-ci-terraform-plan  infra.yml on pull requests and on main      read everything, lock and read the state
#   <name>-ci-terraform-apply infra.yml jobs in GitHub environment <env>  change the environment's infrastructure
#   <name>-ci-ferry-plan      plan.yml on pull requests                   describe ECS, ECR and scaling (ferry plan)
#
# Every trust policy pins the audience to STS and the subject to this one
# repository; the apply role additionally requires the GitHub environment,
# whose protection rules (reviewers on prod) gate each apply.

locals {
  oidc_host = "token.actions.githubusercontent.com"

  oidc_provider_arn = (
    var.create_oidc_provider
    ? aws_iam_openid_connect_provider.github[0].arn
    : data.aws_iam_openid_connect_provider.github[0].arn
  )

  repository_arns = [
    for repository in var.ecr_repository_names :
    "arn:${var.partition}:ecr:${var.region}:${var.account_id}:repository/${repository}"
  ]

  state_bucket_arn = "arn:${var.partition}:s3:::${var.terraform_state_bucket}"
  state_object_arn = "${local.state_bucket_arn}/${var.terraform_state_key}"
  # The S3 backend's native lock file (use_lockfile = true).
  state_lock_arn = "${local.state_object_arn}.tflock"

  # Both Terraform roles read and lock this environment's state and nothing
  # else in the bucket.
  state_access_statements = [
    {
      # The backend lists the bucket (workspaces) at init; listing shows
      # object names only.
      Sid      = "ListStateBucket"
      Effect   = "Allow"
      Action   = "s3:ListBucket"
      Resource = local.state_bucket_arn
    },
    {
      Sid      = "ReadState"
      Effect   = "Allow"
      Action   = "s3:GetObject"
      Resource = [local.state_object_arn, local.state_lock_arn]
    },
    {
      Sid      = "Lock"
      Effect   = "Allow"
      Action   = ["s3:PutObject", "s3:DeleteObject"]
      Resource = local.state_lock_arn
    },
  ]
}

# Trust policies of the CI roles. Each admits web identities from GitHub's
# OIDC provider with the STS audience and the given token subjects only.
locals {
  trust_policies = {
    # images.yml, on main only.
    images = jsonencode({
      Version = "2012-10-17"
      Statement = [{
        Effect    = "Allow"
        Principal = { Federated = local.oidc_provider_arn }
        Action    = "sts:AssumeRoleWithWebIdentity"
        Condition = {
          StringEquals = {
            "${local.oidc_host}:aud" = "sts.amazonaws.com"
            "${local.oidc_host}:sub" = "repo:${var.github_repository}:ref:refs/heads/main"
          }
        }
      }]
    })

    # infra.yml plans, on pull requests and on main.
    terraform_plan = jsonencode({
      Version = "2012-10-17"
      Statement = [{
        Effect    = "Allow"
        Principal = { Federated = local.oidc_provider_arn }
        Action    = "sts:AssumeRoleWithWebIdentity"
        Condition = {
          StringEquals = {
            "${local.oidc_host}:aud" = "sts.amazonaws.com"
            "${local.oidc_host}:sub" = [
              "repo:${var.github_repository}:pull_request",
              "repo:${var.github_repository}:ref:refs/heads/main",
            ]
          }
        }
      }]
    })

    # plan.yml: `ferry plan` of pull requests that change manifests/.
    ferry_plan = jsonencode({
      Version = "2012-10-17"
      Statement = [{
        Effect    = "Allow"
        Principal = { Federated = local.oidc_provider_arn }
        Action    = "sts:AssumeRoleWithWebIdentity"
        Condition = {
          StringEquals = {
            "${local.oidc_host}:aud" = "sts.amazonaws.com"
            "${local.oidc_host}:sub" = "repo:${var.github_repository}:pull_request"
          }
        }
      }]
    })

    # infra.yml applies: only jobs bound to this environment's GitHub
    # environment (whose protection rules gate them).
    terraform_apply = jsonencode({
      Version = "2012-10-17"
      Statement = [{
        Effect    = "Allow"
        Principal = { Federated = local.oidc_provider_arn }
        Action    = "sts:AssumeRoleWithWebIdentity"
        Condition = {
          StringEquals = {
            "${local.oidc_host}:aud" = "sts.amazonaws.com"
            "${local.oidc_host}:sub" = "repo:${var.github_repository}:environment:${var.environment}"
          }
        }
      }]
    })
  }
}

resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 1 : 0

  url            = "https://${local.oidc_host}"
  client_id_list = ["sts.amazonaws.com"]
}

data "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 0 : 1

  url = "https://${local.oidc_host}"
}

# --- Image pushes (images.yml) ---------------------------------------------------

resource "aws_iam_role" "images" {
  name                 = "${var.name}-ci-images"
  description          = "GitHub Actions (images.yml on main of ${var.github_repository}): push images to ECR."
  max_session_duration = 3600

  assume_role_policy = local.trust_policies.images
}

resource "aws_iam_role_policy" "images" {
  name = "push-images"
  role = aws_iam_role.images.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        # Registry login; no resource-level permissions exist for it.
        Sid      = "EcrLogin"
        Effect   = "Allow"
        Action   = "ecr:GetAuthorizationToken"
        Resource = "*"
      },
      {
        Sid    = "PushImages"
        Effect = "Allow"
        Action = [
          "ecr:BatchCheckLayerAvailability",
          "ecr:InitiateLayerUpload",
          "ecr:UploadLayerPart",
          "ecr:CompleteLayerUpload",
          "ecr:PutImage",
          "ecr:BatchGetImage",
          "ecr:GetDownloadUrlForLayer",
          "ecr:DescribeImages",
        ]
        Resource = local.repository_arns
      },
    ]
  })
}

# --- Terraform plan (infra.yml, pull requests and main) -------------------------

resource "aws_iam_role" "terraform_plan" {
  name                 = "${var.name}-ci-terraform-plan"
  description          = "GitHub Actions (infra.yml of ${var.github_repository}): terraform plan of ${var.environment}, read-only."
  max_session_duration = 3600

  assume_role_policy = local.trust_policies.terraform_plan
}

# Refreshing state needs to describe every resource type the configuration
# uses; AWS's read-only policy covers them (it has no secret-value reads).
resource "aws_iam_role_policy_attachment" "terraform_plan_read_only" {
  role       = aws_iam_role.terraform_plan.name
  policy_arn = "arn:${var.partition}:iam::aws:policy/ReadOnlyAccess"
}

resource "aws_iam_role_policy" "terraform_plan_state" {
  name = "terraform-state"
  role = aws_iam_role.terraform_plan.id

  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = local.state_access_statements
  })
}

# --- Ferry plan (plan.yml, pull requests) ----------------------------------------

resource "aws_iam_role" "ferry_plan" {
  name                 = "${var.name}-ci-ferry-plan"
  description          = "GitHub Actions (plan.yml of ${var.github_repository}): ferry plan of ${var.environment}, read-only."
  max_session_duration = 3600

  assume_role_policy = local.trust_policies.ferry_plan
}

# Exactly what `ferry plan` reads: no write, no secret value. ECS and ECR reads
# are limited to this account and region; DescribeTaskDefinition,
# ListTaskDefinitions and Application Auto Scaling's describes have no
# resource-level permissions.
resource "aws_iam_role_policy" "ferry_plan" {
  name = "ferry-plan"
  role = aws_iam_role.ferry_plan.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "DescribeEcs"
        Effect   = "Allow"
        Action   = ["ecs:DescribeClusters", "ecs:ListServices", "ecs:DescribeServices", "ecs:ListTagsForResource"]
        Resource = "arn:${var.partition}:ecs:${var.region}:${var.account_id}:*"
      },
      {
        Sid      = "DescribeEcr"
        Effect   = "Allow"
        Action   = ["ecr:DescribeRepositories", "ecr:DescribeImages", "ecr:GetLifecyclePolicy", "ecr:ListTagsForResource"]
        Resource = "arn:${var.partition}:ecr:${var.region}:${var.account_id}:repository/*"
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

# --- Terraform apply (infra.yml, GitHub environment <env>) ----------------------

resource "aws_iam_role" "terraform_apply" {
  name                 = "${var.name}-ci-terraform-apply"
  description          = "GitHub Actions (infra.yml of ${var.github_repository}, environment ${var.environment}): terraform apply."
  max_session_duration = 3600

  assume_role_policy = local.trust_policies.terraform_apply
}

# Everything except IAM and account administration...
resource "aws_iam_role_policy_attachment" "terraform_apply_power_user" {
  role       = aws_iam_role.terraform_apply.name
  policy_arn = "arn:${var.partition}:iam::aws:policy/PowerUserAccess"
}

# ...plus IAM, limited to this environment's own roles and instance profiles,
# the GitHub OIDC provider, and attaching only the AWS-managed policies that
# this configuration uses.
resource "aws_iam_role_policy" "terraform_apply" {
  name = "terraform-apply"
  role = aws_iam_role.terraform_apply.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = concat(local.state_access_statements, [
      {
        Sid      = "WriteState"
        Effect   = "Allow"
        Action   = "s3:PutObject"
        Resource = local.state_object_arn
      },
      {
        Sid    = "ManageEnvironmentRoles"
        Effect = "Allow"
        Action = [
          "iam:CreateRole",
          "iam:DeleteRole",
          "iam:GetRole",
          "iam:UpdateRole",
          "iam:UpdateRoleDescription",
          "iam:UpdateAssumeRolePolicy",
          "iam:TagRole",
          "iam:UntagRole",
          "iam:ListRoleTags",
          "iam:PutRolePolicy",
          "iam:GetRolePolicy",
          "iam:DeleteRolePolicy",
          "iam:ListRolePolicies",
          "iam:ListAttachedRolePolicies",
          "iam:ListInstanceProfilesForRole",
          "iam:PassRole",
          "iam:CreateInstanceProfile",
          "iam:DeleteInstanceProfile",
          "iam:GetInstanceProfile",
          "iam:TagInstanceProfile",
          "iam:UntagInstanceProfile",
          "iam:AddRoleToInstanceProfile",
          "iam:RemoveRoleFromInstanceProfile",
        ]
        Resource = [
          "arn:${var.partition}:iam::${var.account_id}:role/${var.name}-*",
          "arn:${var.partition}:iam::${var.account_id}:instance-profile/${var.name}-*",
        ]
      },
      {
        Sid      = "AttachKnownManagedPolicies"
        Effect   = "Allow"
        Action   = ["iam:AttachRolePolicy", "iam:DetachRolePolicy"]
        Resource = "arn:${var.partition}:iam::${var.account_id}:role/${var.name}-*"
        Condition = {
          ArnEquals = {
            "iam:PolicyARN" = [
              "arn:${var.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore",
              "arn:${var.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole",
              "arn:${var.partition}:iam::aws:policy/ReadOnlyAccess",
              "arn:${var.partition}:iam::aws:policy/PowerUserAccess",
              "arn:${var.partition}:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers",
            ]
          }
        }
      },
      {
        Sid    = "ManageGithubOidcProvider"
        Effect = "Allow"
        Action = [
          "iam:CreateOpenIDConnectProvider",
          "iam:DeleteOpenIDConnectProvider",
          "iam:GetOpenIDConnectProvider",
          "iam:TagOpenIDConnectProvider",
          "iam:UntagOpenIDConnectProvider",
          "iam:UpdateOpenIDConnectProviderThumbprint",
          "iam:AddClientIDToOpenIDConnectProvider",
          "iam:RemoveClientIDFromOpenIDConnectProvider",
        ]
        Resource = "arn:${var.partition}:iam::${var.account_id}:oidc-provider/${local.oidc_host}"
      },
    ])
  })
}
