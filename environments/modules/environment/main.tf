# One environment of the numbers platform, wired from the building-block
# modules:
#
#   kms ─┬─ network ── security_groups ─┬─ bastion
#        │                              ├─ database ──┐
#        ├─ ecs_cluster ────────────────┼─────────────┴─ iam (execution, task, Ferry, ECS infrastructure roles)
#        │                              ├─ load_balancer (ALB, primary + alternate target groups,
#        │                              │                 production + test listener rules, ACM, DNS, WAF)
#        │                              │    └─ progressive_delivery (5xx + latency alarms)
#        │                              └─ ferry (Ferry's own ECS service, its ECR repository;
#        │                                        its history in the database's instance;
#        │                                        not when a tooling account's Ferry deploys here)
#        ├─ github_ci (OIDC provider, CI roles)
#        └─ target_account (three accounts only: the deploy and plan-only
#                           roles a tooling account's Ferry assumes)
#
# The root modules (dev, staging, prod) call this module once each, with
# their sizes and protections, and publish its outputs for the manifests.

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  name       = "${var.app_name}-${var.environment}"
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition

  ecr_registry       = "${local.account_id}.dkr.ecr.${var.region}.amazonaws.com"
  ferry_service_name = "${local.name}-ferry"
  ferry_host_name    = "ferry.${var.domain_name}"
  # Ferry's image repository; also in ecr_repository_names (image pulls, pushes).
  ferry_repository_name = "ferry"

  manifests_repository_url = coalesce(var.manifests_repository_url, "https://github.com/${var.github_repository}.git")
}

module "kms" {
  source = "../kms"

  name       = local.name
  account_id = local.account_id
  region     = var.region
  partition  = local.partition
}

module "network" {
  source = "../network"

  name                    = local.name
  cidr_block              = var.vpc_cidr
  availability_zones      = var.availability_zones
  nat_gateway_per_az      = var.nat_gateway_per_az
  flow_log_retention_days = var.log_retention_days
  logs_kms_key_arn        = module.kms.logs_key_arn
  account_id              = local.account_id
}

module "security_groups" {
  source = "../security_groups"

  name   = local.name
  vpc_id = module.network.vpc_id
}

module "bastion" {
  source = "../bastion"

  name                = local.name
  subnet_id           = module.network.private_subnet_ids[0]
  security_group_id   = module.security_groups.bastion_security_group_id
  instance_type       = var.bastion_instance_type
  partition           = local.partition
  detailed_monitoring = var.bastion_detailed_monitoring
}

module "database" {
  source = "../database"

  identifier            = local.name
  subnet_ids            = module.network.private_subnet_ids
  security_group_id     = module.security_groups.database_security_group_id
  engine_major_version  = var.db_engine_major_version
  instance_class        = var.db_instance_class
  allocated_storage     = var.db_allocated_storage
  max_allocated_storage = var.db_max_allocated_storage
  multi_az              = var.db_multi_az
  deletion_protection   = var.deletion_protection
  backup_retention_days = var.db_backup_retention_days
  kms_key_arn           = module.kms.data_key_arn
  logs_kms_key_arn      = module.kms.logs_key_arn
  log_retention_days    = var.log_retention_days
  partition             = local.partition
  account_id            = local.account_id
}

module "ecs_cluster" {
  source = "../ecs_cluster"

  name               = local.name
  log_retention_days = var.log_retention_days
  logs_kms_key_arn   = module.kms.logs_key_arn
}

module "iam" {
  source = "../iam"

  name                    = local.name
  environment             = var.environment
  account_id              = local.account_id
  region                  = var.region
  partition               = local.partition
  cluster_name            = module.ecs_cluster.cluster_name
  log_group_arn           = module.ecs_cluster.log_group_arn
  db_secret_arn           = module.database.master_user_secret_arn
  data_kms_key_arn        = module.kms.data_key_arn
  ecr_repository_names    = var.ecr_repository_names
  ferry_trusted_role_arns = var.ferry_trusted_role_arns
  ferry_service_name      = local.ferry_service_name
  ferry_repository_name   = local.ferry_repository_name
}

# Three accounts: the roles a tooling account's Ferry assumes to work here.
module "target_account" {
  source = "../target_account"
  # One instance, only when a tooling account is set.
  for_each = var.ferry_tooling_account == null ? {} : { (var.environment) = var.ferry_tooling_account }

  name                  = local.name
  environment           = var.environment
  account_id            = local.account_id
  region                = var.region
  partition             = local.partition
  cluster_name          = module.ecs_cluster.cluster_name
  ecr_repository_names  = var.ecr_repository_names
  ferry_service_name    = local.ferry_service_name
  ferry_repository_name = local.ferry_repository_name
  # The ARNs modules/iam gives these roles, as strings (checkov reads the
  # policy only then); the test run "target_account" holds them to modules/iam's.
  task_role_arns = [
    "arn:${local.partition}:iam::${local.account_id}:role/${local.name}-task-execution",
    "arn:${local.partition}:iam::${local.account_id}:role/${local.name}-task",
  ]
  infrastructure_role_arn = "arn:${local.partition}:iam::${local.account_id}:role/${local.name}-ecs-infrastructure"
  ferry_principal_arns    = each.value.principal_arns
  external_id             = each.value.external_id
}

module "load_balancer" {
  source = "../load_balancer"

  name                   = local.name
  vpc_id                 = module.network.vpc_id
  public_subnet_ids      = module.network.public_subnet_ids
  security_group_id      = module.security_groups.alb_security_group_id
  hosted_zone_name       = var.hosted_zone_name
  domain_name            = var.domain_name
  ferry_host_name        = local.ferry_host_name
  deletion_protection    = var.deletion_protection
  waf_log_retention_days = var.log_retention_days
  logs_kms_key_arn       = module.kms.logs_key_arn
  account_id             = local.account_id

  # Blue/green test traffic from inside the VPC (through its NAT gateways)
  # and from the ranges the environment adds.
  test_traffic_source_cidrs = concat(
    [for ip in module.network.nat_public_ips : "${ip}/32"],
    var.test_traffic_source_cidrs,
  )
}

module "progressive_delivery" {
  source = "../progressive_delivery"

  name = local.name

  load_balancer_arn_suffix = module.load_balancer.load_balancer_arn_suffix
  target_group_arn_suffixes = [
    module.load_balancer.target_group_arn_suffix,
    module.load_balancer.alternate_target_group_arn_suffix,
  ]
  alarm_5xx_percent         = var.alarm_5xx_percent
  alarm_latency_p99_seconds = var.alarm_latency_p99_seconds
}

module "github_ci" {
  source = "../github_ci"

  name                   = local.name
  environment            = var.environment
  github_repository      = var.github_repository
  create_oidc_provider   = var.create_github_oidc_provider
  account_id             = local.account_id
  region                 = var.region
  partition              = local.partition
  ecr_repository_names   = var.ecr_repository_names
  terraform_state_bucket = var.terraform_state_bucket
  terraform_state_key    = var.terraform_state_key
}

# Ferry's own service runs here unless another account's Ferry deploys this
# environment (three accounts): one controller per environment.
module "ferry" {
  source = "../ferry"
  count  = var.ferry_tooling_account == null ? 1 : 0

  name                     = local.name
  environment              = var.environment
  region                   = var.region
  cluster_arn              = module.ecs_cluster.cluster_arn
  log_group_name           = module.ecs_cluster.log_group_name
  subnet_ids               = module.network.private_subnet_ids
  security_group_id        = module.security_groups.ferry_security_group_id
  execution_role_arn       = module.iam.task_execution_role_arn
  task_role_arn            = module.iam.ferry_role_arn
  ecr_registry             = local.ecr_registry
  repository_name          = local.ferry_repository_name
  create_repository        = var.create_ferry_repository
  image_tag                = var.ferry_image_tag
  manifests_repository_url = local.manifests_repository_url
  assume_role_arns         = var.ferry_assume_role_arns
  additional_environments  = var.ferry_additional_environments

  vpc_id              = module.network.vpc_id
  listener_arn        = module.load_balancer.https_listener_arn
  host_name           = local.ferry_host_name
  oidc                = var.ferry_oidc
  oidc_client_secret  = var.ferry_oidc_client_secret
  secrets_kms_key_arn = module.kms.data_key_arn

  # Ferry's history: database "ferry" on the environment's instance, as its
  # master user (password from the RDS-managed secret).
  database_host       = module.database.address
  database_port       = module.database.port
  database_username   = module.database.master_username
  database_secret_arn = module.database.master_user_secret_arn
}

# Ferry's service became optional (three accounts): existing state keeps it.
moved {
  from = module.ferry
  to   = module.ferry[0]
}
