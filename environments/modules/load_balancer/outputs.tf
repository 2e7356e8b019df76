# Outputs of the load_balancer module.

output "target_group_arn" {
  description = "ARN of the target group the ECS service \"numbers\" registers with."
  value       = aws_lb_target_group.proxy.arn
}

output "alternate_target_group_arn" {
  description = "ARN of the alternate target group of the ECS service \"numbers\" (blue/green, canary, linear)."
  value       = aws_lb_target_group.proxy_alternate.arn
}

output "production_listener_rule_arn" {
  description = "ARN of the HTTPS listener rule that forwards the app's traffic to the two target groups (ECS moves its weights)."
  value       = aws_lb_listener_rule.production.arn
}

output "test_listener_rule_arn" {
  description = "ARN of the HTTPS listener rule of blue/green test traffic (ECS points it at the new revision)."
  value       = aws_lb_listener_rule.test.arn
}

output "load_balancer_arn_suffix" {
  description = "The load balancer's CloudWatch dimension value (LoadBalancer), app/<name>/<id>."
  value       = aws_lb.this.arn_suffix
}

output "target_group_arn_suffix" {
  description = "The primary target group's CloudWatch dimension value (TargetGroup), targetgroup/<name>/<id>."
  value       = aws_lb_target_group.proxy.arn_suffix
}

output "alternate_target_group_arn_suffix" {
  description = "The alternate target group's CloudWatch dimension value (TargetGroup)."
  value       = aws_lb_target_group.proxy_alternate.arn_suffix
}

output "alb_name" {
  description = "Name of the load balancer."
  value       = aws_lb.this.name
}

output "alb_dns_name" {
  description = "DNS name of the load balancer."
  value       = aws_lb.this.dns_name
}

output "target_group_name" {
  description = "Name of the primary target group."
  value       = aws_lb_target_group.proxy.name
}

output "alternate_target_group_name" {
  description = "Name of the alternate target group."
  value       = aws_lb_target_group.proxy_alternate.name
}

output "target_groups" {
  description = "Settings of the primary and the alternate target group (for tests: they must be the same)."
  value = {
    for role, group in { primary = aws_lb_target_group.proxy, alternate = aws_lb_target_group.proxy_alternate } : role => {
      target_type                = group.target_type
      protocol                   = group.protocol
      port                       = group.port
      vpc_id                     = group.vpc_id
      deregistration_delay       = group.deregistration_delay
      health_check = [for check in group.health_check : {
        enabled             = check.enabled
        protocol            = check.protocol
        path                = check.path
        port                = check.port
        matcher             = check.matcher
        interval            = check.interval
        timeout             = check.timeout
        healthy_threshold   = check.healthy_threshold
        unhealthy_threshold = check.unhealthy_threshold
      }]
    }
  }
}

output "listener_rules" {
  description = "The production and test listener rules (for tests): priority, conditions (sorted), action types, and weight by target group ARN."
  value = {
    for role, rule in { production = aws_lb_listener_rule.production, test = aws_lb_listener_rule.test } : role => {
      priority                     = rule.priority
      listener_arn                 = rule.listener_arn
      hosts                        = sort(flatten([for c in rule.condition : [for h in c.host_header : h.values]]))
      headers = merge({}, [for c in rule.condition : {
        for h in c.http_header : h.http_header_name => sort(h.values)
      }]...)
      source_ips   = sort(flatten([for c in rule.condition : [for ip in c.source_ip : ip.values]]))
      action_types = [for a in rule.action : a.type]
      forward = merge({}, flatten([for a in rule.action : [
        for f in a.forward : [for tg in f.target_group : { (tg.arn) = tg.weight }]
      ]])...)
    }
  }
}

output "https_listener_default_action" {
  description = "Type and status code of the HTTPS listener's default action (for tests)."
  value = [for a in aws_lb_listener.https.default_action : {
    type        = a.type
    status_code = try(a.fixed_response[0].status_code, null)
  }]
}

output "access_log_bucket" {
  description = "Name of the access-log bucket."
  value       = aws_s3_bucket.access_logs.bucket
}

output "url" {
  description = "Public URL of the environment."
  value       = "https://${var.domain_name}"
}

output "https_listener" {
  description = "Settings of the HTTPS listener (for tests): port, protocol, TLS policy."
  value = {
    port       = aws_lb_listener.https.port
    protocol   = aws_lb_listener.https.protocol
    ssl_policy = aws_lb_listener.https.ssl_policy
  }
}

output "drop_invalid_header_fields" {
  description = "Whether the ALB drops requests' invalid header fields."
  value       = aws_lb.this.drop_invalid_header_fields
}

output "deletion_protection" {
  description = "Whether deletion protection is on."
  value       = aws_lb.this.enable_deletion_protection
}

output "https_listener_arn" {
  description = "ARN of the HTTPS listener (Ferry's rules are added to it)."
  value       = aws_lb_listener.https.arn
}
