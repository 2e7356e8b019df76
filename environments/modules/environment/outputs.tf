# Outputs of the environment module: first what the manifests consume (the
# root modules publish exactly these), then facts the environment tests
# assert on.

# --- Consumed by the manifests (values.fromFile) -----------------------------

output "private_subnet_ids" {
  description = "Private subnets for the awsvpc tasks."
  value       = module.network.private_subnet_ids
}

output "task_security_group_id" {
  description = "Security group of the ECS tasks."
  value       = module.security_groups.task_security_group_id
}

output "target_group_arn" {
  description = "Target group of the numbers service's proxy container."
  value       = module.load_balancer.target_group_arn
}

output "alternate_target_group_arn" {
  description = "Alternate target group of the numbers service's proxy container (blue/green, canary, linear)."
  value       = module.load_balancer.alternate_target_group_arn
}

output "production_listener_rule_arn" {
  description = "HTTPS listener rule of the app's production traffic (ECS moves its weights)."
  value       = module.load_balancer.production_listener_rule_arn
}

output "test_listener_rule_arn" {
  description = "HTTPS listener rule of blue/green test traffic."
  value       = module.load_balancer.test_listener_rule_arn
}

output "ecs_infrastructure_role_arn" {
  description = "Role ECS assumes to shift load balancer traffic (advancedConfiguration.roleArn)."
  value       = module.iam.ecs_infrastructure_role_arn
}

output "alarm_5xx_name" {
  description = "Target 5xx ratio alarm (deploymentConfiguration.alarms)."
  value       = module.progressive_delivery.alarm_5xx_name
}

output "alarm_latency_name" {
  description = "p99 target response time alarm (deploymentConfiguration.alarms)."
  value       = module.progressive_delivery.alarm_latency_name
}

output "load_balancer_arn_suffix" {
  description = "The load balancer's CloudWatch dimension value (LoadBalancer)."
  value       = module.load_balancer.load_balancer_arn_suffix
}

output "target_group_arn_suffix" {
  description = "The primary target group's CloudWatch dimension value (TargetGroup)."
  value       = module.load_balancer.target_group_arn_suffix
}

output "alternate_target_group_arn_suffix" {
  description = "The alternate target group's CloudWatch dimension value (TargetGroup)."
  value       = module.load_balancer.alternate_target_group_arn_suffix
}

output "execution_role_arn" {
  description = "ECS task execution role."
  value       = module.iam.task_execution_role_arn
}

output "task_role_arn" {
  description = "ECS task role."
  value       = module.iam.task_role_arn
}

output "ferry_role_arn" {
  description = "Ferry's own role."
  value       = module.iam.ferry_role_arn
}

output "log_group_name" {
  description = "Log group of the containers."
  value       = module.ecs_cluster.log_group_name
}

output "db_host" {
  description = "Database endpoint host name."
  value       = module.database.address
}

output "db_port" {
  description = "Database port."
  value       = module.database.port
}

output "db_name" {
  description = "Application database name."
  value       = module.database.database_name
}

output "db_secret_arn" {
  description = "ARN of the RDS-managed secret with the database user name and password (not the value)."
  value       = module.database.master_user_secret_arn
}

output "cluster_name" {
  description = "ECS cluster name."
  value       = module.ecs_cluster.cluster_name
}

output "region" {
  description = "AWS region."
  value       = var.region
}

output "ecr_registry" {
  description = "ECR registry host of this account and region (the Environment's `registry`)."
  value       = local.ecr_registry
}

# --- Facts for tests and operators ---------------------------------------------

output "name" {
  description = "Name prefix of the environment's resources."
  value       = local.name
}

output "availability_zones" {
  description = "The two zones the environment spans."
  value       = var.availability_zones
}

output "nat_gateway_count" {
  description = "Number of NAT gateways."
  value       = length(module.network.nat_gateway_ids)
}

output "security_group_ids" {
  description = "Security groups by role."
  value = {
    alb      = module.security_groups.alb_security_group_id
    tasks    = module.security_groups.task_security_group_id
    bastion  = module.security_groups.bastion_security_group_id
    ferry    = module.security_groups.ferry_security_group_id
    database = module.security_groups.database_security_group_id
  }
}

output "ingress_rules" {
  description = "Every ingress rule of the environment's security groups."
  value       = module.security_groups.ingress_rules
}

output "egress_rules" {
  description = "Every egress rule of the environment's security groups."
  value       = module.security_groups.egress_rules
}

output "database" {
  description = "Protection settings of the database."
  value = {
    identifier              = module.database.identifier
    storage_encrypted       = module.database.storage_encrypted
    deletion_protection     = module.database.deletion_protection
    multi_az                = module.database.multi_az
    backup_retention_period = module.database.backup_retention_period
    publicly_accessible     = module.database.publicly_accessible
  }
}

output "bastion" {
  description = "Hardening settings of the bastion."
  value = {
    instance_id           = module.bastion.instance_id
    metadata_http_tokens  = module.bastion.metadata_http_tokens
    root_volume_encrypted = module.bastion.root_volume_encrypted
  }
}

output "load_balancer" {
  description = "Names and settings of the load balancer."
  value = {
    alb_name                    = module.load_balancer.alb_name
    target_group_name           = module.load_balancer.target_group_name
    alternate_target_group_name = module.load_balancer.alternate_target_group_name
    target_groups               = module.load_balancer.target_groups
    listener_rules              = module.load_balancer.listener_rules
    default_action              = module.load_balancer.https_listener_default_action
    https_listener_arn          = module.load_balancer.https_listener_arn
    access_log_bucket           = module.load_balancer.access_log_bucket
    https_listener              = module.load_balancer.https_listener
    drop_invalid_header_fields  = module.load_balancer.drop_invalid_header_fields
    deletion_protection         = module.load_balancer.deletion_protection
    url                         = module.load_balancer.url
  }
}

output "iam_role_names" {
  description = "Names of every IAM role of the environment."
  value       = concat(module.iam.role_names, module.github_ci.role_names)
}

output "ci_role_arns" {
  description = "Roles the GitHub workflows assume (set them as repository variables)."
  value = {
    images          = module.github_ci.images_role_arn
    terraform_plan  = module.github_ci.terraform_plan_role_arn
    terraform_apply = module.github_ci.terraform_apply_role_arn
    ferry_plan      = module.github_ci.ferry_plan_role_arn
  }
}

output "ci_trust_policies" {
  description = "Trust policies (JSON) of the CI roles, by role."
  value       = module.github_ci.trust_policies
}

output "ferry" {
  description = "Ferry's own ECS service: service and task settings, container definition, image, repository, ingress and history database; null when another account's Ferry deploys this environment."
  value = length(module.ferry) == 0 ? null : {
    service    = module.ferry[0].service
    container  = module.ferry[0].container
    image      = module.ferry[0].image
    repository = module.ferry[0].repository
    ingress    = module.ferry[0].ingress
    database   = module.ferry[0].database
  }
}

output "progressive_delivery" {
  description = "Alarms and ECS infrastructure role of blue/green, canary and linear deployments (for tests)."
  value = {
    alarms                  = module.progressive_delivery.alarms
    ecs_infrastructure_role = module.iam.ecs_infrastructure_role
  }
}

output "ferry_policy" {
  description = "Ferry's permissions policy (JSON)."
  value       = module.iam.ferry_policy
}

output "terraform_apply_policy" {
  description = "Permissions policy (JSON) of the CI role that runs terraform apply, besides PowerUserAccess."
  value       = module.github_ci.terraform_apply_policy
}

output "ferry_plan_policy" {
  description = "Permissions policy (JSON) of the CI role that runs ferry plan on pull requests."
  value       = module.github_ci.ferry_plan_policy
}

output "ferry_target_roles" {
  description = "Three accounts: the deploy and plan-only roles of this account (ARNs, names, trust and permissions policies), or null in a one-account layout."
  value = var.ferry_tooling_account == null ? null : {
    deploy_role_arn = module.target_account[var.environment].deploy_role_arn
    plan_role_arn   = module.target_account[var.environment].plan_role_arn
    roles           = module.target_account[var.environment].roles
  }
}

output "ferry_assume_roles_policy" {
  description = "The policy (JSON) that lets this environment's Ferry assume other accounts' roles, or null."
  value       = one(module.ferry[*].assume_roles_policy)
}
