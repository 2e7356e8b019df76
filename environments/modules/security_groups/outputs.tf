# Outputs of the security_groups module.

output "alb_security_group_id" {
  description = "Security group of the public load balancer."
  value       = aws_security_group.alb.id
}

output "task_security_group_id" {
  description = "Security group for the ECS tasks (attached by Ferry from the manifests)."
  value       = aws_security_group.tasks.id
}

output "bastion_security_group_id" {
  description = "Security group of the bastion instance."
  value       = aws_security_group.bastion.id
}

output "ferry_security_group_id" {
  description = "Security group of Ferry's own ECS service (9000 from the ALB; HTTPS and PostgreSQL to the database out)."
  value       = aws_security_group.ferry.id
}

output "database_security_group_id" {
  description = "Security group of the RDS instance."
  value       = aws_security_group.database.id
}

# Every rule, as configured, so that the environment tests can assert the
# least-privilege properties (e.g. only the ALB is open to the internet).
output "ingress_rules" {
  description = "All ingress rules, by name: security group, protocol, ports and source."
  value = {
    for name, rule in {
      alb_https             = aws_vpc_security_group_ingress_rule.alb_https
      alb_http              = aws_vpc_security_group_ingress_rule.alb_http
      tasks_from_alb        = aws_vpc_security_group_ingress_rule.tasks_from_alb
      ferry_from_alb        = aws_vpc_security_group_ingress_rule.ferry_from_alb
      database_from_tasks   = aws_vpc_security_group_ingress_rule.database_from_tasks
      database_from_bastion = aws_vpc_security_group_ingress_rule.database_from_bastion
      database_from_ferry   = aws_vpc_security_group_ingress_rule.database_from_ferry
    } :
    name => {
      security_group_id            = rule.security_group_id
      description                  = rule.description
      ip_protocol                  = rule.ip_protocol
      from_port                    = rule.from_port
      to_port                      = rule.to_port
      cidr_ipv4                    = rule.cidr_ipv4
      cidr_ipv6                    = rule.cidr_ipv6
      referenced_security_group_id = rule.referenced_security_group_id
    }
  }
}

output "egress_rules" {
  description = "All egress rules, by name: security group, protocol, ports and destination."
  value = {
    for name, rule in {
      alb_to_tasks        = aws_vpc_security_group_egress_rule.alb_to_tasks
      alb_to_ferry        = aws_vpc_security_group_egress_rule.alb_to_ferry
      tasks_to_https      = aws_vpc_security_group_egress_rule.tasks_to_https
      tasks_to_database   = aws_vpc_security_group_egress_rule.tasks_to_database
      bastion_to_https    = aws_vpc_security_group_egress_rule.bastion_to_https
      bastion_to_database = aws_vpc_security_group_egress_rule.bastion_to_database
      ferry_to_https      = aws_vpc_security_group_egress_rule.ferry_to_https
      ferry_to_database   = aws_vpc_security_group_egress_rule.ferry_to_database
    } :
    name => {
      security_group_id            = rule.security_group_id
      description                  = rule.description
      ip_protocol                  = rule.ip_protocol
      from_port                    = rule.from_port
      to_port                      = rule.to_port
      cidr_ipv4                    = rule.cidr_ipv4
      cidr_ipv6                    = rule.cidr_ipv6
      referenced_security_group_id = rule.referenced_security_group_id
    }
  }
}
