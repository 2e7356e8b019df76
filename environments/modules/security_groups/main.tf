# Security groups of one environment, with least-privilege rules.
#
# Traffic allowed, and nothing else:
#
#   internet --443/80--> alb --8000--> tasks --5432--> database <--5432-- bastion
#                        alb --9000--> ferry --5432--> database (Ferry's history, database "ferry")
#                                      tasks --443--> AWS APIs (ECR, Logs, Secrets Manager) via NAT
#                                                     bastion --443--> SSM endpoints via NAT
#                                                       ferry --443--> GitHub (git fetch), ECS/ECR APIs via NAT
#
# The bastion accepts no inbound connection at all: operators reach it through
# SSM Session Manager, which the instance's agent dials out to. Ferry accepts
# only its status server and webhook from the ALB (see modules/ferry).
#
# Each rule is its own resource (aws_vpc_security_group_*_rule), so that every
# rule carries a description and changes one rule at a time. The rules that
# reference another group by id are the reason all groups live in one module.

locals {
  anywhere_ipv4 = "0.0.0.0/0"
}

resource "aws_security_group" "alb" {
  #checkov:skip=CKV2_AWS_5:Attached to the load balancer in modules/load_balancer (security_group_id input); checkov's graph does not follow module outputs into sibling modules.
  name        = "${var.name}-alb"
  description = "Public application load balancer of ${var.name}: HTTPS and HTTP (redirect) from the internet."
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-alb" }
}

resource "aws_security_group" "tasks" {
  #checkov:skip=CKV2_AWS_5:Ferry attaches this group to the ECS service from the manifests (task_security_group_id output), not Terraform.
  name        = "${var.name}-tasks"
  description = "ECS tasks of ${var.name}: reachable only from the ALB on the container port."
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-tasks" }
}

resource "aws_security_group" "bastion" {
  #checkov:skip=CKV2_AWS_5:Attached to the bastion instance in modules/bastion (security_group_id input); checkov's graph does not follow module outputs into sibling modules.
  name        = "${var.name}-bastion"
  description = "Bastion of ${var.name}: no inbound rules (SSM Session Manager only)."
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-bastion" }
}

resource "aws_security_group" "ferry" {
  #checkov:skip=CKV2_AWS_5:Attached to Ferry's ECS service in modules/ferry (security_group_id input); checkov's graph does not follow module outputs into sibling modules.
  name        = "${var.name}-ferry"
  description = "Ferry, the GitOps controller of ${var.name}: no inbound rules, HTTPS out only."
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-ferry" }
}

resource "aws_security_group" "database" {
  #checkov:skip=CKV2_AWS_5:Attached to the RDS instance in modules/database (security_group_id input); checkov's graph does not follow module outputs into sibling modules.
  name        = "${var.name}-database"
  description = "RDS PostgreSQL of ${var.name}: reachable only from the tasks and the bastion."
  vpc_id      = var.vpc_id

  tags = { Name = "${var.name}-database" }
}

# --- ALB ---------------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from the internet to the public load balancer"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = local.anywhere_ipv4
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  #checkov:skip=CKV_AWS_260:Port 80 is open only so the ALB listener can answer with a permanent redirect to HTTPS; it forwards nothing.
  security_group_id = aws_security_group.alb.id
  description       = "HTTP from the internet, answered only by a redirect to HTTPS"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = local.anywhere_ipv4
}

resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  security_group_id            = aws_security_group.alb.id
  description                  = "Forward requests and health checks to the tasks' container port"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = aws_security_group.tasks.id
}

# --- ECS tasks ---------------------------------------------------------------

resource "aws_vpc_security_group_ingress_rule" "tasks_from_alb" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "Requests and health checks from the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = var.container_port
  to_port                      = var.container_port
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_https" {
  security_group_id = aws_security_group.tasks.id
  description       = "HTTPS to AWS APIs (ECR image pulls, CloudWatch Logs, Secrets Manager, ECS) through NAT"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = local.anywhere_ipv4
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_database" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "PostgreSQL to the environment's database"
  ip_protocol                  = "tcp"
  from_port                    = var.database_port
  to_port                      = var.database_port
  referenced_security_group_id = aws_security_group.database.id
}

# --- Bastion (no ingress rules on purpose) -----------------------------------

resource "aws_vpc_security_group_egress_rule" "bastion_to_https" {
  security_group_id = aws_security_group.bastion.id
  description       = "HTTPS to the SSM Session Manager endpoints through NAT"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = local.anywhere_ipv4
}

resource "aws_vpc_security_group_egress_rule" "bastion_to_database" {
  security_group_id            = aws_security_group.bastion.id
  description                  = "PostgreSQL to the environment's database (port forwarding for operators)"
  ip_protocol                  = "tcp"
  from_port                    = var.database_port
  to_port                      = var.database_port
  referenced_security_group_id = aws_security_group.database.id
}

# --- Ferry: its status server and webhook from the ALB only ---------------------

resource "aws_vpc_security_group_egress_rule" "alb_to_ferry" {
  security_group_id            = aws_security_group.alb.id
  description                  = "Ferry's status server and webhook (9000), behind the HTTPS listener's rules"
  ip_protocol                  = "tcp"
  from_port                    = 9000
  to_port                      = 9000
  referenced_security_group_id = aws_security_group.ferry.id
}

resource "aws_vpc_security_group_ingress_rule" "ferry_from_alb" {
  security_group_id            = aws_security_group.ferry.id
  description                  = "Ferry's status server and webhook (9000) from the ALB only"
  ip_protocol                  = "tcp"
  from_port                    = 9000
  to_port                      = 9000
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_vpc_security_group_egress_rule" "ferry_to_https" {
  security_group_id = aws_security_group.ferry.id
  description       = "HTTPS to GitHub (git fetch of the manifests) and the AWS APIs (ECS, ECR, CloudWatch Logs) through NAT"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = local.anywhere_ipv4
}

resource "aws_vpc_security_group_egress_rule" "ferry_to_database" {
  security_group_id            = aws_security_group.ferry.id
  description                  = "PostgreSQL to the environment's database (Ferry's shared history, database ferry)"
  ip_protocol                  = "tcp"
  from_port                    = var.database_port
  to_port                      = var.database_port
  referenced_security_group_id = aws_security_group.database.id
}

# --- Database (no egress rules: RDS answers on established connections) ------

resource "aws_vpc_security_group_ingress_rule" "database_from_tasks" {
  security_group_id            = aws_security_group.database.id
  description                  = "PostgreSQL from the ECS tasks"
  ip_protocol                  = "tcp"
  from_port                    = var.database_port
  to_port                      = var.database_port
  referenced_security_group_id = aws_security_group.tasks.id
}

resource "aws_vpc_security_group_ingress_rule" "database_from_bastion" {
  security_group_id            = aws_security_group.database.id
  description                  = "PostgreSQL from the bastion (operators via SSM port forwarding)"
  ip_protocol                  = "tcp"
  from_port                    = var.database_port
  to_port                      = var.database_port
  referenced_security_group_id = aws_security_group.bastion.id
}

resource "aws_vpc_security_group_ingress_rule" "database_from_ferry" {
  security_group_id            = aws_security_group.database.id
  description                  = "PostgreSQL from Ferry (its replicas' shared history, database ferry)"
  ip_protocol                  = "tcp"
  from_port                    = var.database_port
  to_port                      = var.database_port
  referenced_security_group_id = aws_security_group.ferry.id
}
