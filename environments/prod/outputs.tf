# Outputs of the environment, exactly the values its manifests consume:
# `terraform output -json > manifests/<env>/terraform-outputs.json` is what
# the Environment's `values.fromFile` reads, and each output name is a
# `${name}` variable in the manifests. Nothing secret: db_secret_arn names the
# RDS-managed secret, its value stays in Secrets Manager.

output "private_subnet_ids" {
  description = "Private subnets of the awsvpc tasks."
  value       = module.numbers.private_subnet_ids
}

output "task_security_group_id" {
  description = "Security group of the ECS tasks."
  value       = module.numbers.task_security_group_id
}

output "target_group_arn" {
  description = "Target group of the numbers service (proxy container, port 8000)."
  value       = module.numbers.target_group_arn
}

output "alternate_target_group_arn" {
  description = "Alternate target group of the numbers service (blue/green, canary, linear: advancedConfiguration.alternateTargetGroupArn)."
  value       = module.numbers.alternate_target_group_arn
}

output "production_listener_rule_arn" {
  description = "HTTPS listener rule of the app's production traffic (advancedConfiguration.productionListenerRule)."
  value       = module.numbers.production_listener_rule_arn
}

output "test_listener_rule_arn" {
  description = "HTTPS listener rule of blue/green test traffic (advancedConfiguration.testListenerRule)."
  value       = module.numbers.test_listener_rule_arn
}

output "ecs_infrastructure_role_arn" {
  description = "Role ECS assumes to shift load balancer traffic (advancedConfiguration.roleArn)."
  value       = module.numbers.ecs_infrastructure_role_arn
}

output "alarm_5xx_name" {
  description = "CloudWatch alarm on the target 5xx ratio (deploymentConfiguration.alarms)."
  value       = module.numbers.alarm_5xx_name
}

output "alarm_latency_name" {
  description = "CloudWatch alarm on the p99 target response time (deploymentConfiguration.alarms)."
  value       = module.numbers.alarm_latency_name
}

output "load_balancer_arn_suffix" {
  description = "CloudWatch dimension LoadBalancer of the app's metrics (app/<name>/<id>)."
  value       = module.numbers.load_balancer_arn_suffix
}

output "target_group_arn_suffix" {
  description = "CloudWatch dimension TargetGroup of the primary target group (targetgroup/<name>/<id>)."
  value       = module.numbers.target_group_arn_suffix
}

output "alternate_target_group_arn_suffix" {
  description = "CloudWatch dimension TargetGroup of the alternate target group."
  value       = module.numbers.alternate_target_group_arn_suffix
}

output "execution_role_arn" {
  description = "ECS task execution role."
  value       = module.numbers.execution_role_arn
}

output "task_role_arn" {
  description = "ECS task role."
  value       = module.numbers.task_role_arn
}

output "ferry_role_arn" {
  description = "Ferry's own role."
  value       = module.numbers.ferry_role_arn
}

output "log_group_name" {
  description = "CloudWatch log group of the containers."
  value       = module.numbers.log_group_name
}

output "db_host" {
  description = "PostgreSQL endpoint host name (PG_HOST)."
  value       = module.numbers.db_host
}

output "db_port" {
  description = "PostgreSQL port (PG_PORT)."
  value       = module.numbers.db_port
}

output "db_name" {
  description = "PostgreSQL database name (PG_DATABASE)."
  value       = module.numbers.db_name
}

output "db_secret_arn" {
  description = "ARN of the RDS-managed secret holding the database user name and password (\"<arn>:password::\" in task secrets)."
  value       = module.numbers.db_secret_arn
}

output "cluster_name" {
  description = "ECS cluster name."
  value       = module.numbers.cluster_name
}

output "region" {
  description = "AWS region."
  value       = module.numbers.region
}

output "ecr_registry" {
  description = "ECR registry host (the Environment's `registry`)."
  value       = module.numbers.ecr_registry
}
