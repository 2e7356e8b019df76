# Ferry itself, as an ECS service of the environment it reconciles.
#
# Ferry cannot deploy itself from the manifests (it would have to be running
# first), so Terraform runs it: two Fargate tasks that follow the manifests'
# branch and reconcile this environment's services, task definitions and ECR
# repositories through Ferry's own role (modules/iam). What it creates is
# tagged ferry.dev/managed-by and ferry.dev/environment; this service and its
# task definition carry neither tag, so Ferry never adopts, changes or prunes
# them, and its role is denied changes to this service outright.
#
#   git push --> GitHub <--443-- ferry tasks (2) --443--> ECS / ECR APIs
#                                      |
#                                      +--5432--> RDS PostgreSQL, database "ferry"
#
# - Trigger: polling (`--interval`, 60s by default) and the GitHub webhook
#   (FERRY_WEBHOOK_SECRET) at https://ferry.<domain>/webhook/github; `/sync`,
#   `/rollback`, `/resume` take the bearer token FERRY_API_TOKEN (ingress.tf).
# - Status page (port 9000: status JSON/HTML, metrics): through the load
#   balancer's HTTPS listener on Ferry's own host name, behind ALB OIDC
#   sign-in (ingress.tf). Ferry's security group accepts port 9000 from the
#   ALB's group only. ECS Exec is off because it does not work with a
#   read-only root file system.
# - Replicas: two tasks, always. Their history lives in the database "ferry"
#   on the environment's RDS instance (Ferry creates it when it is missing),
#   and they share the environments through leases in it (one owner per
#   environment, takeover within seconds, fencing; see the README). A
#   deployment runs old and new tasks side by side (minimum healthy 50 %,
#   maximum 200 %); the leases keep two controllers off one environment. A new
#   revision that never gets healthy is rolled back by the circuit breaker.
# - Database credentials: FERRY_DATABASE_URL is plain environment and holds no
#   password (postgres://<master user>@<host>:<port>/ferry?sslmode=require);
#   the password is the "password" key of the RDS-managed master user secret,
#   handed to Ferry as the ECS secret FERRY_DATABASE_PASSWORD. RDS rotates that
#   password; tasks read it when they start, so redeploy Ferry (force a new
#   deployment) after a rotation, like the app's services.

locals {
  # Two replicas on the shared PostgreSQL history; see the header.
  replicas = 2

  # Ferry's own database on the environment's instance, and how Ferry reaches
  # it: TLS (the instance enforces rds.force_ssl), no password in the URL.
  database_name = "ferry"
  database_url  = "postgres://${urlencode(var.database_username)}@${var.database_host}:${var.database_port}/${local.database_name}?sslmode=require"
  # The "password" key of the RDS-managed secret's JSON (ECS secret syntax
  # <arn>:<json key>:<version stage>:<version id>).
  database_password_from = "${var.database_secret_arn}:password::"

  service_name   = "${var.name}-ferry"
  container_name = "ferry"
  state_dir      = "/var/lib/ferry"
  status_port    = 9000

  repository_name = (
    var.create_repository
    ? aws_ecr_repository.ferry[0].name
    : data.aws_ecr_repository.ferry[0].name
  )

  image = "${var.ecr_registry}/${local.repository_name}:${var.image_tag}"

  command = [
    "run",
    "--repo", var.manifests_repository_url,
    "--branch", var.manifests_branch,
    "--path", var.manifests_path,
    "--env", join(",", concat([var.environment], var.additional_environments)),
    "--interval", var.poll_interval,
    "--listen", "0.0.0.0:${local.status_port}",
    "--state-dir", local.state_dir,
  ]

  # The Dockerfile's HEALTHCHECK, restated: ECS ignores the image's own.
  health_check = {
    command     = ["CMD", "/usr/local/bin/ferry", "check-health", "--listen", "127.0.0.1:${local.status_port}"]
    interval    = 15
    timeout     = 5
    retries     = 3
    startPeriod = 20
  }

  log_configuration = {
    logDriver = "awslogs"
    options = {
      awslogs-group         = var.log_group_name
      awslogs-region        = var.region
      awslogs-stream-prefix = "ferry"
    }
  }

  container = {
    name      = local.container_name
    image     = local.image
    essential = true
    command   = local.command
    # The image's user (ferry, uid 65532), stated so the task definition
    # never runs it as root.
    user                   = "65532:65532"
    readonlyRootFilesystem = true
    privileged             = false
    secrets = concat(
      [
        for key, secret in aws_secretsmanager_secret.ferry :
        { name = "FERRY_${upper(replace(key, "-", "_"))}", valueFrom = secret.arn }
      ],
      [{ name = "FERRY_DATABASE_PASSWORD", valueFrom = local.database_password_from }],
    )
    environment = [
      { name = "AWS_REGION", value = var.region },
      { name = "FERRY_DATABASE_URL", value = local.database_url },
      # git's scratch files go to the writable state volume.
      { name = "HOME", value = local.state_dir },
      { name = "TMPDIR", value = local.state_dir },
    ]
    portMappings = [{
      name          = "status"
      containerPort = local.status_port
      protocol      = "tcp"
    }]
    mountPoints = [{
      sourceVolume  = "state"
      containerPath = local.state_dir
      readOnly      = false
    }]
    linuxParameters = {
      # Reaps the git processes Ferry spawns.
      initProcessEnabled = true
      capabilities       = { drop = ["ALL"] }
    }
    healthCheck      = local.health_check
    logConfiguration = local.log_configuration
    stopTimeout      = 30
  }
}

# --- Image repository ------------------------------------------------------------

# The environments share one account and registry (promotion only moves
# tags): dev creates the repository, staging and prod look it up, like the
# GitHub OIDC provider. It is not in the manifests because Ferry's image must
# exist before Ferry does.
resource "aws_ecr_repository" "ferry" {
  count = var.create_repository ? 1 : 0

  name                 = var.repository_name
  image_tag_mutability = "IMMUTABLE"

  image_scanning_configuration {
    scan_on_push = true
  }

  # The AWS-managed ECR key, not an environment's data key: the repository
  # serves every environment of the account and must outlive any one of them.
  encryption_configuration {
    encryption_type = "KMS"
  }

  tags = { Name = var.repository_name, Component = "ferry" }
}

# Same rules as the app's repositories (manifests/dev/repositories.yaml):
# untagged images expire after a week, the newest 50 images are kept. Promote
# a tag to prod before it falls out of the newest 50.
resource "aws_ecr_lifecycle_policy" "ferry" {
  count = var.create_repository ? 1 : 0

  repository = aws_ecr_repository.ferry[0].name

  policy = jsonencode({
    rules = [
      {
        rulePriority = 1
        description  = "Expire untagged images after 7 days"
        selection = {
          tagStatus   = "untagged"
          countType   = "sinceImagePushed"
          countUnit   = "days"
          countNumber = 7
        }
        action = { type = "expire" }
      },
      {
        rulePriority = 2
        description  = "Keep the newest 50 images"
        selection = {
          tagStatus   = "any"
          countType   = "imageCountMoreThan"
          countNumber = 50
        }
        action = { type = "expire" }
      },
    ]
  })
}

data "aws_ecr_repository" "ferry" {
  count = var.create_repository ? 0 : 1

  name = var.repository_name
}

# --- Task definition and service -------------------------------------------------

resource "aws_ecs_task_definition" "ferry" {
  family                   = local.service_name
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = var.cpu
  memory                   = var.memory
  execution_role_arn       = var.execution_role_arn
  task_role_arn            = var.task_role_arn

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = "X86_64" # images.yml builds linux/amd64
  }

  # Task-local scratch space (Fargate ephemeral storage) for the state folder:
  # the git cache and snapshots (the history is in PostgreSQL). Lost when the
  # task stops, which is fine: Ferry rebuilds it from git and from what it
  # observes in AWS.
  # Fargate mounts it owned by root unless the image declares
  # VOLUME ["/var/lib/ferry"] (then it starts as the image's directory, owned
  # by uid 65532), so controller/ferry/Dockerfile needs that line.
  volume {
    name = "state"
  }

  container_definitions = jsonencode([local.container])

  tags = { Name = local.service_name, Component = "ferry" }
}

resource "aws_ecs_service" "ferry" {
  name             = local.service_name
  cluster          = var.cluster_arn
  task_definition  = aws_ecs_task_definition.ferry.arn
  desired_count    = local.replicas
  launch_type      = "FARGATE"
  platform_version = "LATEST"

  # Replicas share environments through leases and may overlap during a
  # deployment (see the header).
  deployment_minimum_healthy_percent = 50
  deployment_maximum_percent         = 200

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.subnet_ids
    security_groups  = [var.security_group_id]
    assign_public_ip = false
  }

  # Off: ECS Exec needs a writable root file system.
  load_balancer {
    target_group_arn = aws_lb_target_group.ferry.arn
    container_name   = local.container_name
    container_port   = local.status_port
  }

  health_check_grace_period_seconds = 60

  enable_execute_command  = false
  enable_ecs_managed_tags = true
  propagate_tags          = "SERVICE"

  # The target group must be behind a listener, and the secrets readable,
  # before a task starts.
  depends_on = [
    aws_lb_listener_rule.ferry_open,
    aws_iam_role_policy.ferry_secrets,
    aws_secretsmanager_secret_version.ferry,
  ]

  tags = { Name = local.service_name, Component = "ferry" }
}
