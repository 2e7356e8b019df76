# Outputs of the ferry module: what the environment tests assert on.

output "service_name" {
  description = "Name of Ferry's ECS service."
  value       = aws_ecs_service.ferry.name
}

output "repository_name" {
  description = "ECR repository of Ferry's image."
  value       = local.repository_name
}

output "image" {
  description = "Image reference Ferry's task runs."
  value       = local.image
}

output "service" {
  description = "Settings of Ferry's service and task definition."
  value = {
    name                    = aws_ecs_service.ferry.name
    cluster                 = aws_ecs_service.ferry.cluster
    desired_count           = aws_ecs_service.ferry.desired_count
    launch_type             = aws_ecs_service.ferry.launch_type
    subnets                 = aws_ecs_service.ferry.network_configuration[0].subnets
    security_groups         = aws_ecs_service.ferry.network_configuration[0].security_groups
    assign_public_ip        = aws_ecs_service.ferry.network_configuration[0].assign_public_ip
    circuit_breaker         = aws_ecs_service.ferry.deployment_circuit_breaker[0]
    minimum_healthy_percent = aws_ecs_service.ferry.deployment_minimum_healthy_percent
    maximum_percent         = aws_ecs_service.ferry.deployment_maximum_percent
    enable_execute_command  = aws_ecs_service.ferry.enable_execute_command
    family                  = aws_ecs_task_definition.ferry.family
    cpu                     = aws_ecs_task_definition.ferry.cpu
    memory                  = aws_ecs_task_definition.ferry.memory
    execution_role_arn      = aws_ecs_task_definition.ferry.execution_role_arn
    task_role_arn           = aws_ecs_task_definition.ferry.task_role_arn
    volumes                 = [for volume in aws_ecs_task_definition.ferry.volume : volume.name]
  }
}

output "database" {
  description = "How Ferry reaches its history database: the URL (no password), where the password comes from, and the secrets the execution role may read for Ferry."
  value = {
    url              = one([for e in local.container.environment : e.value if e.name == "FERRY_DATABASE_URL"])
    password_from    = one([for s in local.container.secrets : s.valueFrom if s.name == "FERRY_DATABASE_PASSWORD"])
    readable_secrets = jsondecode(aws_iam_role_policy.ferry_secrets.policy).Statement[0].Resource
  }
}

output "container" {
  description = "Ferry's container definition, as registered."
  value       = local.container
}

output "repository" {
  description = "Settings of Ferry's ECR repository (null where it is looked up, not created)."
  value = var.create_repository ? {
    name                 = aws_ecr_repository.ferry[0].name
    image_tag_mutability = aws_ecr_repository.ferry[0].image_tag_mutability
    scan_on_push         = aws_ecr_repository.ferry[0].image_scanning_configuration[0].scan_on_push
    encryption_type      = aws_ecr_repository.ferry[0].encryption_configuration[0].encryption_type
  } : null
}

output "ingress" {
  description = "How Ferry is reached through the load balancer: host name, target group, and every listener rule (paths, action types, OIDC issuer)."
  value = {
    host_name         = var.host_name
    target_group_name = aws_lb_target_group.ferry.name
    target_group_port = aws_lb_target_group.ferry.port
    health_check_path = aws_lb_target_group.ferry.health_check[0].path
    service_target_groups = [
      for lb in aws_ecs_service.ferry.load_balancer : { container = lb.container_name, port = lb.container_port }
    ]
    rules = concat(
      [
        for key, rule in aws_lb_listener_rule.ferry_open : {
          name     = key
          priority = rule.priority
          hosts    = flatten([for c in rule.condition : try(c.host_header[0].values, [])])
          paths    = flatten([for c in rule.condition : try(c.path_pattern[0].values, [])])
          actions  = [for a in rule.action : a.type]
          issuer   = null
        }
      ],
      [{
        name     = "status"
        priority = aws_lb_listener_rule.ferry_status.priority
        hosts    = flatten([for c in aws_lb_listener_rule.ferry_status.condition : try(c.host_header[0].values, [])])
        paths    = []
        actions  = [for a in aws_lb_listener_rule.ferry_status.action : a.type]
        issuer   = try([for a in aws_lb_listener_rule.ferry_status.action : a.authenticate_oidc[0].issuer if a.type == "authenticate-oidc"][0], null)
      }],
    )
    secrets = [for s in local.container.secrets : s.name]
  }
}

output "assume_roles_policy" {
  description = "The policy (JSON) that lets Ferry's task role assume the listed roles, or null when there are none."
  value       = one(aws_iam_role_policy.assume_roles[*].policy)
}
