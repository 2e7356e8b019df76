# Tests of the environment module on its own, run with `terraform test` in
# environments/modules/environment (AWS mocked). Everything the environment
# module decides the same way in every environment is checked here, once,
# for staging (its settings as a shape; the roots check their own sizes and
# protections); the roots' tests (environments/<env>/tests) hold only what
# differs between dev, staging and prod (sizes, protections, names within
# AWS limits, the committed terraform-outputs.json).
#
# The plan run checks what the configuration decides (encryption, IMDSv2,
# TLS policy, firewall, Ferry's service); the "outputs" run applies against
# the mock, which fills every computed attribute, and checks that each output
# the manifests consume comes from the right resource and that the CI roles
# trust only this repository's workflows; "three_accounts" checks the roles a
# tooling account's Ferry assumes (modules/target_account).

mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  environment              = "staging"
  region                   = "us-east-1"
  availability_zones       = ["us-east-1a", "us-east-1b"]
  vpc_cidr                 = "10.40.0.0/16"
  nat_gateway_per_az       = false
  db_instance_class        = "db.t4g.small"
  db_multi_az              = false
  db_backup_retention_days = 7
  deletion_protection      = false
  log_retention_days       = 365
  hosted_zone_name         = "numbers.example.com"
  domain_name              = "staging.numbers.example.com"
  ferry_image_tag          = "bootstrap"
  github_repository        = "example-org/ferry"
  terraform_state_bucket   = "example-org-terraform-state"
  terraform_state_key      = "environments/staging/terraform.tfstate"
}

# The certificate's DNS validation record is looked up by domain name.
override_resource {
  target = module.load_balancer.aws_acm_certificate.this
  values = {
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
    domain_validation_options = [{
      domain_name           = "staging.numbers.example.com"
      resource_record_name  = "_0123456789abcdef.staging.numbers.example.com."
      resource_record_type  = "CNAME"
      resource_record_value = "_fedcba9876543210.acm-validations.aws."
      }, {
      domain_name           = "ferry.staging.numbers.example.com"
      resource_record_name  = "_1123456789abcdef.ferry.staging.numbers.example.com."
      resource_record_type  = "CNAME"
      resource_record_value = "_0edcba9876543210.acm-validations.aws."
    }]
  }
}

# Distinct ARNs for the resources behind the outputs, so that the outputs
# test can tell which resource each output comes from.
override_resource {
  target = module.iam.aws_iam_role.task_execution
  values = { arn = "arn:aws:iam::123456789012:role/numbers-staging-task-execution" }
}

override_resource {
  target = module.iam.aws_iam_role.task
  values = { arn = "arn:aws:iam::123456789012:role/numbers-staging-task" }
}

override_resource {
  target = module.iam.aws_iam_role.ferry
  values = { arn = "arn:aws:iam::123456789012:role/numbers-staging-ferry" }
}

override_resource {
  target = module.load_balancer.aws_lb_target_group.proxy
  values = {
    arn        = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/numbers-staging-proxy/0123456789abcdef"
    arn_suffix = "targetgroup/numbers-staging-proxy/0123456789abcdef"
  }
}

override_resource {
  target = module.load_balancer.aws_lb_target_group.proxy_alternate
  values = {
    arn        = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/numbers-staging-proxy-alt/1123456789abcdef"
    arn_suffix = "targetgroup/numbers-staging-proxy-alt/1123456789abcdef"
  }
}

override_resource {
  target = module.load_balancer.aws_lb.this
  values = {
    arn        = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/numbers-staging-alb/2123456789abcdef"
    arn_suffix = "app/numbers-staging-alb/2123456789abcdef"
    dns_name   = "numbers-staging-alb-0123456789.us-east-1.elb.amazonaws.com"
    zone_id    = "Z35SXDOTRQ7X7K"
  }
}

override_resource {
  target = module.load_balancer.aws_lb_listener_rule.production
  values = { arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/numbers-staging-alb/2123456789abcdef/3123456789abcdef/4123456789abcdef" }
}

override_resource {
  target = module.load_balancer.aws_lb_listener_rule.test
  values = { arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/numbers-staging-alb/2123456789abcdef/3123456789abcdef/5123456789abcdef" }
}

override_resource {
  target = module.iam.aws_iam_role.ecs_infrastructure
  values = { arn = "arn:aws:iam::123456789012:role/numbers-staging-ecs-infrastructure" }
}

run "plan" {
  command = plan

  # --- Environment-specific protections and sizes -----------------------------

  assert {
    condition     = output.nat_gateway_count == 1
    error_message = "dev must have 1 NAT gateway(s)."
  }

  assert {
    condition     = output.database.multi_az == false
    error_message = "dev's database multi_az must be false."
  }

  assert {
    condition     = output.database.deletion_protection == false
    error_message = "dev's database deletion_protection must be false."
  }

  assert {
    condition     = output.load_balancer.deletion_protection == false
    error_message = "dev's load balancer deletion protection must be false."
  }

  assert {
    condition     = output.database.backup_retention_period == 7
    error_message = "dev must keep 7 days of database backups."
  }

  # --- Protections every environment has ----------------------------------------

  assert {
    condition     = output.database.storage_encrypted
    error_message = "The database storage must be encrypted."
  }

  assert {
    condition     = !output.database.publicly_accessible
    error_message = "The database must not be publicly accessible."
  }

  assert {
    condition     = output.bastion.metadata_http_tokens == "required"
    error_message = "The bastion must require IMDSv2 tokens."
  }

  assert {
    condition     = output.bastion.root_volume_encrypted
    error_message = "The bastion's root volume must be encrypted."
  }

  assert {
    condition = (
      output.load_balancer.https_listener.protocol == "HTTPS"
      && output.load_balancer.https_listener.port == 443
      && startswith(output.load_balancer.https_listener.ssl_policy, "ELBSecurityPolicy-TLS13-")
    )
    error_message = "The HTTPS listener must use a TLS 1.3 security policy."
  }

  assert {
    condition     = output.load_balancer.drop_invalid_header_fields
    error_message = "The load balancer must drop invalid header fields."
  }

  assert {
    condition     = length(distinct(output.availability_zones)) == 2
    error_message = "The environment must span two availability zones."
  }

  # --- Ferry's own service -------------------------------------------------------

  assert {
    condition = (
      output.ferry.repository.name == "ferry"
      && output.ferry.repository.image_tag_mutability == "IMMUTABLE"
      && output.ferry.repository.scan_on_push
      && output.ferry.repository.encryption_type == "KMS"
    )
    error_message = "Ferry's ECR repository, when the environment creates it: immutable tags, scanned on push, KMS-encrypted."
  }

  assert {
    condition = (
      output.ferry.service.desired_count == 2
      && output.ferry.service.launch_type == "FARGATE"
      && output.ferry.service.cpu == "256"
      && output.ferry.service.memory == "512"
      && output.ferry.service.assign_public_ip == false
      && output.ferry.service.enable_execute_command == false
    )
    error_message = "Ferry must run as two Fargate tasks (256 CPU, 512 MiB each) without a public address."
  }

  assert {
    condition = (
      output.ferry.service.circuit_breaker.enable
      && output.ferry.service.circuit_breaker.rollback
      && output.ferry.service.minimum_healthy_percent == 50
      && output.ferry.service.maximum_percent == 200
    )
    error_message = "Ferry's deployments must roll back on failure and run old and new replicas side by side (minimum healthy 50 %, maximum 200 %): the leases in the shared database keep them off each other's environments."
  }

  assert {
    condition = (
      output.ferry.container.image == "123456789012.dkr.ecr.us-east-1.amazonaws.com/ferry:bootstrap"
      && output.ferry.image == output.ferry.container.image
    )
    error_message = "Ferry's image must come from the account's ECR registry, repository ferry, tag ferry_image_tag."
  }

  assert {
    condition = (
      output.ferry.container.logConfiguration.logDriver == "awslogs"
      && output.ferry.container.logConfiguration.options["awslogs-group"] == "/ecs/numbers-staging"
      && output.ferry.container.logConfiguration.options["awslogs-region"] == "us-east-1"
      && output.ferry.container.logConfiguration.options["awslogs-stream-prefix"] == "ferry"
    )
    error_message = "Ferry must log with awslogs to the environment's log group, stream prefix ferry."
  }

  assert {
    condition = (
      output.ferry.container.readonlyRootFilesystem
      && output.ferry.container.privileged == false
      && output.ferry.container.user == "65532:65532"
      && output.ferry.container.linuxParameters.capabilities.drop == ["ALL"]
      && output.ferry.service.volumes == ["state"]
      && output.ferry.container.mountPoints == [{ sourceVolume = "state", containerPath = "/var/lib/ferry", readOnly = false }]
    )
    error_message = "Ferry must run as uid 65532 on a read-only root file system, writing only to its task-local state volume."
  }

  assert {
    condition     = output.ferry.container.healthCheck.command == ["CMD", "/usr/local/bin/ferry", "check-health", "--listen", "127.0.0.1:9000"]
    error_message = "Ferry's container health check must mirror the Dockerfile's HEALTHCHECK."
  }

  assert {
    condition = output.ferry.container.command == [
      "run", "--repo", "https://github.com/example-org/ferry.git", "--branch", "main", "--path", "manifests",
      "--env", "staging", "--interval", "60s", "--listen", "0.0.0.0:9000", "--state-dir", "/var/lib/ferry",
    ]
    error_message = "Ferry must follow main of this repository's manifests for staging only, polling every 60s."
  }

  assert {
    condition = (
      can(regex("^[A-Za-z0-9_-]{1,255}$", output.ferry.service.name))
      && can(regex("^[A-Za-z0-9_-]{1,255}$", output.ferry.service.family))
      && output.ferry.service.name == "numbers-staging-ferry"
      && output.ferry.service.family == "numbers-staging-ferry"
    )
    error_message = "Ferry's service and task family must be numbers-staging-ferry (ECS names: 255 letters, digits, - and _)."
  }
}

run "outputs" {
  command = apply

  assert {
    condition     = length(output.private_subnet_ids) == 2 && alltrue([for id in output.private_subnet_ids : id != ""])
    error_message = "private_subnet_ids must list the two private subnets."
  }

  assert {
    condition     = output.task_security_group_id == output.security_group_ids.tasks
    error_message = "task_security_group_id must be the tasks' security group."
  }

  assert {
    condition     = output.target_group_arn == "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/numbers-staging-proxy/0123456789abcdef"
    error_message = "target_group_arn must be the proxy target group's ARN."
  }

  assert {
    condition     = output.execution_role_arn == "arn:aws:iam::123456789012:role/numbers-staging-task-execution"
    error_message = "execution_role_arn must be the task execution role's ARN."
  }

  assert {
    condition     = output.task_role_arn == "arn:aws:iam::123456789012:role/numbers-staging-task"
    error_message = "task_role_arn must be the task role's ARN."
  }

  assert {
    condition     = output.ferry_role_arn == "arn:aws:iam::123456789012:role/numbers-staging-ferry"
    error_message = "ferry_role_arn must be Ferry's role ARN."
  }

  assert {
    condition     = output.log_group_name == "/ecs/numbers-staging"
    error_message = "log_group_name must be /ecs/numbers-staging."
  }

  assert {
    condition     = output.db_host != "" && output.db_port == 5432 && output.db_name == "numbers"
    error_message = "db_host, db_port (5432) and db_name (numbers) must be set."
  }

  assert {
    condition     = startswith(output.db_secret_arn, "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!")
    error_message = "db_secret_arn must be the ARN of the RDS-managed master user secret."
  }

  assert {
    condition     = output.cluster_name == "numbers-staging"
    error_message = "cluster_name must be numbers-staging."
  }

  assert {
    condition     = output.region == "us-east-1"
    error_message = "region must be us-east-1."
  }

  # With real ids known, check whose rules the internet-facing ones are.
  assert {
    condition = alltrue([
      for rule in output.ingress_rules :
      rule.security_group_id == output.security_group_ids.alb if rule.cidr_ipv4 != null
    ])
    error_message = "Only the ALB's security group may be open to an address range."
  }

  assert {
    condition = !anytrue([
      for rule in output.ingress_rules : rule.security_group_id == output.security_group_ids.bastion
    ])
    error_message = "The bastion must have no ingress rule."
  }

  assert {
    condition = toset([
      for rule in output.ingress_rules : rule.referenced_security_group_id
      if rule.security_group_id == output.security_group_ids.database
      ]) == toset([
      output.security_group_ids.tasks,
      output.security_group_ids.bastion,
      output.security_group_ids.ferry,
    ])
    error_message = "The database must accept connections from the tasks, the bastion and Ferry only."
  }

  assert {
    condition = toset([
      for rule in output.ingress_rules : rule.referenced_security_group_id
      if rule.security_group_id == output.security_group_ids.tasks
    ]) == toset([output.security_group_ids.alb])
    error_message = "The tasks must accept connections from the ALB only."
  }

  # The CI roles trust this repository's workflows only, for the STS audience.
  assert {
    condition = length(output.ci_trust_policies) == 4 && alltrue([
      for policy in values(output.ci_trust_policies) : alltrue([
        for statement in jsondecode(policy).Statement :
        statement.Action == "sts:AssumeRoleWithWebIdentity"
        && keys(statement.Condition) == ["StringEquals"]
        && statement.Condition.StringEquals["token.actions.githubusercontent.com:aud"] == "sts.amazonaws.com"
        && alltrue([
          for subject in flatten([statement.Condition.StringEquals["token.actions.githubusercontent.com:sub"]]) :
          startswith(subject, "repo:example-org/ferry:") && !strcontains(subject, "*")
        ])
      ])
    ])
    error_message = "CI roles must trust exactly this repository's workflows (no wildcards) for the STS audience."
  }

  assert {
    condition     = jsondecode(output.ci_trust_policies.terraform_apply).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"] == "repo:example-org/ferry:environment:staging"
    error_message = "The apply role must trust only jobs in the dev GitHub environment."
  }

  # Ferry's own service: port 9000 from the ALB only, HTTPS out, Ferry's role, private subnets.
  assert {
    condition = [
      for rule in output.ingress_rules : {
        protocol = rule.ip_protocol, from = rule.from_port, to = rule.to_port, source = rule.referenced_security_group_id, open = rule.cidr_ipv4 != null
      } if rule.security_group_id == output.security_group_ids.ferry
    ] == [{ protocol = "tcp", from = 9000, to = 9000, source = output.security_group_ids.alb, open = false }]
    error_message = "Ferry's security group must accept port 9000 from the ALB's security group only."
  }

  assert {
    condition = toset([
      for rule in output.egress_rules : {
        protocol = rule.ip_protocol, from = rule.from_port, to = rule.to_port, cidr = rule.cidr_ipv4, target = rule.referenced_security_group_id
      } if rule.security_group_id == output.security_group_ids.ferry
      ]) == toset([
      { protocol = "tcp", from = 443, to = 443, cidr = "0.0.0.0/0", target = null },
      { protocol = "tcp", from = 5432, to = 5432, cidr = null, target = output.security_group_ids.database },
    ])
    error_message = "Ferry's security group must allow egress on TCP 443 and to the database's security group on 5432 only."
  }

  # Ferry's two replicas share their history in database "ferry" on the
  # environment's RDS instance.
  assert {
    condition = [
      for rule in output.ingress_rules : {
        protocol = rule.ip_protocol, from = rule.from_port, to = rule.to_port, source = rule.referenced_security_group_id
      } if rule.security_group_id == output.security_group_ids.database && rule.referenced_security_group_id == output.security_group_ids.ferry
    ] == [{ protocol = "tcp", from = 5432, to = 5432, source = output.security_group_ids.ferry }]
    error_message = "The database's security group must accept PostgreSQL (5432) from Ferry's security group."
  }

  assert {
    condition     = output.ferry.database.url == "postgres://numbers@${output.db_host}:${output.db_port}/ferry?sslmode=require"
    error_message = "FERRY_DATABASE_URL must name database ferry on the environment's instance, as its master user, over TLS."
  }

  assert {
    condition = (
      can(regex("^postgres://[^:@/]+@[^@]+$", output.ferry.database.url))
      && strcontains(lower(output.ferry.database.url), "password") == false
      && contains([for e in output.ferry.container.environment : e.name], "FERRY_DATABASE_URL")
      && contains([for s in output.ferry.container.secrets : s.name], "FERRY_DATABASE_URL") == false
    )
    error_message = "FERRY_DATABASE_URL is plain task environment and must carry no password."
  }

  assert {
    condition = (
      output.ferry.database.password_from == "${output.db_secret_arn}:password::"
      && contains(output.ferry.container.secrets, { name = "FERRY_DATABASE_PASSWORD", valueFrom = "${output.db_secret_arn}:password::" })
      && contains([for e in output.ferry.container.environment : e.name], "FERRY_DATABASE_PASSWORD") == false
    )
    error_message = "FERRY_DATABASE_PASSWORD must be an ECS secret: the password key of the RDS-managed master user secret (db_secret_arn)."
  }

  assert {
    condition     = contains(output.ferry.database.readable_secrets, output.db_secret_arn)
    error_message = "The execution role must be allowed to read the RDS-managed master user secret for Ferry."
  }

  assert {
    condition     = output.ferry.service.security_groups == toset([output.security_group_ids.ferry])
    error_message = "Ferry's service must use Ferry's own security group only."
  }

  assert {
    condition     = output.ferry.service.subnets == toset(output.private_subnet_ids)
    error_message = "Ferry's service must run in the private subnets."
  }

  assert {
    condition     = output.ferry.service.task_role_arn == output.ferry_role_arn && output.ferry_role_arn == "arn:aws:iam::123456789012:role/numbers-staging-ferry"
    error_message = "Ferry's task role must be Ferry's role."
  }

  assert {
    condition     = output.ferry.service.execution_role_arn == output.execution_role_arn
    error_message = "Ferry's task must start through the environment's task execution role."
  }

  assert {
    condition     = startswith(output.ferry.image, "${output.ecr_registry}/ferry:")
    error_message = "Ferry's image must come from the ecr_registry output's registry."
  }

  # Ferry's role: every ECS/ECR call `ferry run` makes, roles passed to ECS
  # limited to the task and execution roles, its own service off limits.
  assert {
    condition = length(setsubtract([
      "ecs:DescribeClusters", "ecs:ListServices", "ecs:DescribeServices", "ecs:CreateService",
      "ecs:UpdateService", "ecs:DeleteService", "ecs:DescribeTasks", "ecs:RunTask", "ecs:StopTask", "ecs:RegisterTaskDefinition",
      "ecs:DeregisterTaskDefinition", "ecs:DescribeTaskDefinition", "ecs:ListTaskDefinitions",
      "ecs:TagResource", "ecs:ListTagsForResource", "ecr:DescribeRepositories", "ecr:CreateRepository",
      "ecr:DescribeImages", "ecr:GetLifecyclePolicy", "ecr:PutLifecyclePolicy", "ecr:DeleteLifecyclePolicy",
      "ecr:PutImageScanningConfiguration", "ecr:PutImageTagMutability", "ecr:TagResource",
      "ecr:ListTagsForResource", "iam:PassRole",
      ], flatten([
        for statement in jsondecode(output.ferry_policy).Statement :
        statement.Action if statement.Effect == "Allow"
    ]))) == 0
    error_message = "Ferry's role must allow every ECS and ECR call that ferry run makes."
  }

  # Autoscaling (EcsService.spec.autoscaling): every Application Auto Scaling
  # call, writes only for ECS's desired count, and the service-linked role.
  assert {
    condition = length(setsubtract([
      "application-autoscaling:DescribeScalableTargets", "application-autoscaling:DescribeScalingPolicies",
      "application-autoscaling:DescribeScheduledActions", "application-autoscaling:RegisterScalableTarget",
      "application-autoscaling:DeregisterScalableTarget", "application-autoscaling:PutScalingPolicy",
      "application-autoscaling:DeleteScalingPolicy", "application-autoscaling:PutScheduledAction",
      "application-autoscaling:DeleteScheduledAction", "application-autoscaling:TagResource",
      "iam:CreateServiceLinkedRole",
      ], flatten([
        for statement in jsondecode(output.ferry_policy).Statement :
        statement.Action if statement.Effect == "Allow"
    ]))) == 0
    error_message = "Ferry's role must allow every Application Auto Scaling call that ferry run makes."
  }

  assert {
    condition = alltrue([
      for statement in jsondecode(output.ferry_policy).Statement :
      try(statement.Condition.StringEquals["application-autoscaling:scalable-dimension"], "") == "ecs:service:DesiredCount"
      if anytrue([for a in flatten([statement.Action]) : a == "application-autoscaling:RegisterScalableTarget" || a == "application-autoscaling:DeregisterScalableTarget"])
    ])
    error_message = "Ferry may register and deregister scalable targets of ECS services' desired count only."
  }

  assert {
    condition = alltrue([
      for statement in jsondecode(output.ferry_policy).Statement :
      statement.Condition.StringEquals["iam:AWSServiceName"] == "ecs.application-autoscaling.amazonaws.com"
      && endswith(statement.Resource, "/AWSServiceRoleForApplicationAutoScaling_ECSService")
      if contains(flatten([statement.Action]), "iam:CreateServiceLinkedRole")
    ])
    error_message = "Ferry may create Application Auto Scaling's service-linked role for ECS and no other."
  }

  assert {
    condition = {
      for statement in jsondecode(output.ferry_policy).Statement :
      statement.Condition.StringEquals["iam:PassedToService"] => toset(flatten([statement.Resource]))
      if statement.Effect == "Allow" && contains(flatten([statement.Action]), "iam:PassRole")
      } == {
      "ecs-tasks.amazonaws.com" = toset([
        "arn:aws:iam::123456789012:role/numbers-staging-task-execution",
        "arn:aws:iam::123456789012:role/numbers-staging-task",
      ])
      "ecs.amazonaws.com" = toset([
        "arn:aws:iam::123456789012:role/numbers-staging-ecs-infrastructure",
      ])
    }
    error_message = "Ferry may pass the task and execution roles to ECS tasks, and the ECS infrastructure role to ECS, and no other role."
  }

  assert {
    condition = anytrue([
      for statement in jsondecode(output.ferry_policy).Statement :
      statement.Effect == "Deny"
      && statement.Resource == "arn:aws:ecs:us-east-1:123456789012:service/numbers-staging/numbers-staging-ferry"
      && contains(flatten([statement.Action]), "ecs:UpdateService") && contains(flatten([statement.Action]), "ecs:DeleteService")
    ])
    error_message = "Ferry's role must be denied changes to Ferry's own service."
  }
}

# Progressive delivery (ECS blue/green, canary, linear): the alternate target
# group, the production and test listener rules whose weights ECS moves, the
# role it moves them with, the alarms it rolls back on, and Ferry's calls
# (follow, resume a PAUSE lifecycle hook, stop).
run "progressive_delivery" {
  command = apply

  assert {
    condition = (
      output.alternate_target_group_arn == "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/numbers-staging-proxy-alt/1123456789abcdef"
      && output.production_listener_rule_arn == "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/numbers-staging-alb/2123456789abcdef/3123456789abcdef/4123456789abcdef"
      && output.test_listener_rule_arn == "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/numbers-staging-alb/2123456789abcdef/3123456789abcdef/5123456789abcdef"
      && output.ecs_infrastructure_role_arn == "arn:aws:iam::123456789012:role/numbers-staging-ecs-infrastructure"
    )
    error_message = "alternate_target_group_arn, production_listener_rule_arn, test_listener_rule_arn and ecs_infrastructure_role_arn must come from the alternate target group, the two listener rules and the ECS infrastructure role."
  }

  assert {
    condition = (
      output.load_balancer_arn_suffix == "app/numbers-staging-alb/2123456789abcdef"
      && output.target_group_arn_suffix == "targetgroup/numbers-staging-proxy/0123456789abcdef"
      && output.alternate_target_group_arn_suffix == "targetgroup/numbers-staging-proxy-alt/1123456789abcdef"
    )
    error_message = "The *_arn_suffix outputs must be the CloudWatch dimension values of the load balancer and of the primary and alternate target groups."
  }

  assert {
    condition = (
      output.alarm_5xx_name == "numbers-staging-proxy-5xx"
      && output.alarm_latency_name == "numbers-staging-proxy-p99-latency"
    )
    error_message = "alarm_5xx_name and alarm_latency_name must come from the two alarms."
  }

  # --- Target groups and listener rules --------------------------------------------

  assert {
    condition = (
      output.load_balancer.target_groups.primary == output.load_balancer.target_groups.alternate
      && output.load_balancer.target_groups.primary.port == 8000
      && output.load_balancer.target_groups.primary.target_type == "ip"
      && output.load_balancer.target_groups.primary.health_check[0].path == "/healthz"
    )
    error_message = "The alternate target group must have the primary's settings (ip targets on 8000, health check on /healthz)."
  }

  assert {
    condition = (
      output.load_balancer.alternate_target_group_name == "numbers-staging-proxy-alt"
      && length(output.load_balancer.alternate_target_group_name) <= 32
    )
    error_message = "The alternate target group must be numbers-staging-proxy-alt (target group names: 32 characters)."
  }

  assert {
    condition = jsonencode(output.load_balancer.listener_rules.production) == jsonencode({
      priority     = output.load_balancer.listener_rules.production.priority
      listener_arn = output.load_balancer.https_listener_arn
      hosts        = ["staging.numbers.example.com"]
      headers      = {}
      source_ips   = []
      action_types = ["forward"]
      forward = {
        (output.target_group_arn)           = 100
        (output.alternate_target_group_arn) = 0
      }
    })
    error_message = "The production rule must take every request for staging.numbers.example.com on the HTTPS listener and only forward it, all to the primary target group, none to the alternate one, until ECS moves the weights."
  }

  assert {
    condition = (
      output.load_balancer.listener_rules.test.listener_arn == output.load_balancer.https_listener_arn
      && jsonencode(output.load_balancer.listener_rules.test.hosts) == jsonencode(["staging.numbers.example.com"])
      && jsonencode(output.load_balancer.listener_rules.test.headers) == jsonencode({ "X-Ferry-Traffic" = ["test"] })
      && jsonencode(output.load_balancer.listener_rules.test.action_types) == jsonencode(["forward"])
      && output.load_balancer.listener_rules.test.forward == output.load_balancer.listener_rules.production.forward
      && output.load_balancer.listener_rules.test.priority < output.load_balancer.listener_rules.production.priority
    )
    error_message = "The test rule must be on the HTTPS listener (TLS, WAF), for staging.numbers.example.com with the header X-Ferry-Traffic: test, forward only, to the same target groups, and come before the production rule."
  }

  assert {
    # The mock gives every NAT gateway the address 203.0.113.10.
    condition     = toset(output.load_balancer.listener_rules.test.source_ips) == toset(["203.0.113.10/32"])
    error_message = "Test traffic must come from the VPC's NAT gateways only (their /32), never from the whole internet."
  }

  assert {
    condition = alltrue([
      for rule in output.ferry.ingress.rules :
      !contains([for r in values(output.load_balancer.listener_rules) : r.priority], rule.priority)
    ])
    error_message = "The app's listener rules must not take the priorities of Ferry's rules."
  }

  assert {
    condition     = output.load_balancer.default_action == [{ type = "fixed-response", status_code = "404" }]
    error_message = "The HTTPS listener must answer 404 to other host names, not forward to a target group (which one serves changes with every blue/green deployment)."
  }

  # --- ECS infrastructure role ---------------------------------------------------------

  assert {
    condition = (
      output.progressive_delivery.ecs_infrastructure_role.policy_arns == ["arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"]
      && [
        for statement in jsondecode(output.progressive_delivery.ecs_infrastructure_role.assume_role_policy).Statement :
        { effect = statement.Effect, principal = statement.Principal, action = statement.Action }
      ] == [{ effect = "Allow", principal = { Service = "ecs.amazonaws.com" }, action = "sts:AssumeRole" }]
    )
    error_message = "The ECS infrastructure role must be assumable by ECS only and carry AmazonECSInfrastructureRolePolicyForLoadBalancers only."
  }

  assert {
    condition = alltrue([
      for arn in output.progressive_delivery.ecs_infrastructure_role.policy_arns : anytrue([
        for statement in jsondecode(output.terraform_apply_policy).Statement :
        contains(try(statement.Condition.ArnEquals["iam:PolicyARN"], []), arn) && contains(flatten([statement.Action]), "iam:AttachRolePolicy")
      ])
    ])
    error_message = "infra.yml's terraform apply role must be allowed to attach the ECS infrastructure role's managed policy."
  }

  # --- Ferry's role: the calls progressive delivery adds ---------------------------------

  assert {
    condition = length(setsubtract([
      "ecs:ListServiceDeployments", "ecs:DescribeServiceDeployments", "ecs:DescribeServiceRevisions",
      "ecs:ContinueServiceDeployment", "ecs:StopServiceDeployment", "cloudwatch:GetMetricData",
      ], flatten([
        for statement in jsondecode(output.ferry_policy).Statement :
        statement.Action if statement.Effect == "Allow"
    ]))) == 0
    error_message = "Ferry's role must allow following service deployments, resuming (continue or roll back) and stopping one, and reading CloudWatch metrics."
  }

  assert {
    condition = alltrue(flatten([
      for statement in jsondecode(output.ferry_policy).Statement : [
        for resource in flatten([statement.Resource]) :
        startswith(resource, "arn:aws:ecs:us-east-1:123456789012:service/numbers-staging/")
        || startswith(resource, "arn:aws:ecs:us-east-1:123456789012:service-deployment/numbers-staging/")
        || startswith(resource, "arn:aws:ecs:us-east-1:123456789012:service-revision/numbers-staging/")
      ]
      if statement.Effect == "Allow" && anytrue([for a in flatten([statement.Action]) : contains(["ecs:ListServiceDeployments", "ecs:DescribeServiceDeployments", "ecs:DescribeServiceRevisions", "ecs:ContinueServiceDeployment", "ecs:StopServiceDeployment"], a)])
    ]))
    error_message = "Ferry may follow, resume and stop the deployments of this environment's cluster only."
  }

  assert {
    condition = alltrue([
      for action in ["ecs:ContinueServiceDeployment", "ecs:StopServiceDeployment"] : anytrue([
        for statement in jsondecode(output.ferry_policy).Statement :
        statement.Effect == "Deny" && contains(flatten([statement.Action]), action)
        && statement.Resource == "arn:aws:ecs:us-east-1:123456789012:service-deployment/numbers-staging/numbers-staging-ferry/*"
      ])
    ])
    error_message = "Ferry's role must be denied resuming and stopping the deployments of Ferry's own service."
  }

  assert {
    condition = alltrue([
      for statement in jsondecode(output.ferry_policy).Statement :
      statement.Resource == "arn:aws:ecs:us-east-1:123456789012:service-deployment/numbers-staging/*"
      if statement.Effect == "Allow" && contains(flatten([statement.Action]), "ecs:ContinueServiceDeployment")
    ])
    error_message = "Ferry may resume the service deployments of this environment's cluster, and nothing else, with ContinueServiceDeployment."
  }

  assert {
    condition = !anytrue([
      for statement in jsondecode(output.ferry_policy).Statement :
      statement.Effect == "Allow" && contains(flatten([statement.Action]), "ecs:UntagResource")
    ])
    error_message = "Ferry's role may not remove tags from services (the manual gate is resumed with ContinueServiceDeployment, not through tags)."
  }

  # --- Alarms (ECS's alarm-based rollback) ------------------------------------------------

  assert {
    condition = (
      output.progressive_delivery.alarms["5xx"].threshold == 5
      && output.progressive_delivery.alarms["5xx"].comparison_operator == "GreaterThanThreshold"
      && output.progressive_delivery.alarms["5xx"].treat_missing_data == "notBreaching"
      && startswith(output.progressive_delivery.alarms["5xx"].expression, "IF(requests >= ")
      && toset([
        for m in output.progressive_delivery.alarms["5xx"].metrics : "${m.metric_name} ${m.stat} ${m.dimensions.LoadBalancer} ${m.dimensions.TargetGroup}"
        ]) == toset(flatten([
          for metric in ["HTTPCode_Target_5XX_Count", "RequestCount"] : [
            for tg in [output.target_group_arn_suffix, output.alternate_target_group_arn_suffix] : "${metric} Sum ${output.load_balancer_arn_suffix} ${tg}"
          ]
      ]))
    )
    error_message = "The 5xx alarm must fire above 5% of target 5xx responses over the requests of both target groups (primary and alternate) of the app's load balancer."
  }

  assert {
    condition = (
      output.progressive_delivery.alarms.latency.threshold == 1
      && output.progressive_delivery.alarms.latency.comparison_operator == "GreaterThanThreshold"
      && output.progressive_delivery.alarms.latency.treat_missing_data == "notBreaching"
      && startswith(output.progressive_delivery.alarms.latency.expression, "MAX(")
      && toset([
        for m in output.progressive_delivery.alarms.latency.metrics : "${m.metric_name} ${m.stat} ${m.dimensions.LoadBalancer} ${m.dimensions.TargetGroup}"
        ]) == toset([
        for tg in [output.target_group_arn_suffix, output.alternate_target_group_arn_suffix] : "TargetResponseTime p99 ${output.load_balancer_arn_suffix} ${tg}"
      ])
    )
    error_message = "The latency alarm must fire when the p99 TargetResponseTime of either target group exceeds 1 s."
  }

}

# Ferry through the load balancer (modules/ferry/ingress.tf), the same in every
# environment: its own host name; only the webhook and the endpoints Ferry
# guards with its bearer token pass without the ALB's OIDC sign-in; the rest
# (status page, /status, /metrics) is closed until an OIDC provider is given.
run "ferry_ingress_without_oidc" {
  command = plan

  assert {
    condition = (
      output.ferry.ingress.host_name == "ferry.staging.numbers.example.com"
      && alltrue([for rule in output.ferry.ingress.rules : rule.hosts == ["ferry.staging.numbers.example.com"]])
    )
    error_message = "Every Ferry listener rule must match Ferry's own host name, ferry.staging.numbers.example.com."
  }

  assert {
    condition = toset(flatten([
      for rule in output.ferry.ingress.rules : rule.paths
      if !contains(rule.actions, "authenticate-oidc") && contains(rule.actions, "forward")
    ])) == toset(["/webhook/github", "/sync", "/rollback", "/resume"])
    error_message = "Without sign-in, only /webhook/github (HMAC) and /sync, /rollback, /resume (Ferry's bearer token) may be forwarded to Ferry."
  }

  assert {
    condition = alltrue([
      for rule in output.ferry.ingress.rules : length(rule.paths) > 0 || rule.actions == ["fixed-response"]
    ])
    error_message = "Without ferry_oidc, Ferry's status page, /status and /metrics must stay closed (a fixed 403)."
  }

  assert {
    condition = alltrue([
      for rule in output.ferry.ingress.rules : rule.priority < one([for r in output.ferry.ingress.rules : r.priority if r.name == "status"])
      if rule.name != "status"
    ])
    error_message = "The path rules must come before Ferry's catch-all status rule."
  }

  assert {
    condition     = toset(output.ferry.ingress.secrets) == toset(["FERRY_API_TOKEN", "FERRY_WEBHOOK_SECRET", "FERRY_DATABASE_PASSWORD"])
    error_message = "Ferry must get its bearer token and webhook secret (ECS task secrets), or /sync and the webhook would be off, and its database password, nothing else."
  }

  assert {
    condition = (
      output.ferry.ingress.target_group_port == 9000
      && output.ferry.ingress.health_check_path == "/healthz"
      && output.ferry.ingress.service_target_groups == [{ container = "ferry", port = 9000 }]
    )
    error_message = "Ferry's target group must reach its container on 9000, health-checked on /healthz."
  }
}

run "ferry_ingress_with_oidc" {
  command = plan

  variables {
    ferry_oidc = {
      issuer                 = "https://id.example.com"
      authorization_endpoint = "https://id.example.com/authorize"
      token_endpoint         = "https://id.example.com/token"
      user_info_endpoint     = "https://id.example.com/userinfo"
      client_id              = "ferry-staging"
    }
    ferry_oidc_client_secret = "x"
  }

  assert {
    condition = [
      for rule in output.ferry.ingress.rules : { actions = rule.actions, issuer = rule.issuer } if rule.name == "status"
    ] == [{ actions = ["authenticate-oidc", "forward"], issuer = "https://id.example.com" }]
    error_message = "With ferry_oidc, Ferry's status must be forwarded only after OIDC sign-in with the configured issuer."
  }

  assert {
    condition = toset(flatten([
      for rule in output.ferry.ingress.rules : rule.paths if !contains(rule.actions, "authenticate-oidc")
    ])) == toset(["/webhook/github", "/sync", "/rollback", "/resume"])
    error_message = "Only the webhook and the bearer-token endpoints may skip the OIDC sign-in."
  }
}

# plan.yml's role: pull requests only, and only the reads `ferry plan` makes.
run "ferry_plan_role" {
  command = plan

  assert {
    condition     = jsondecode(output.ci_trust_policies.ferry_plan).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"] == "repo:example-org/ferry:pull_request"
    error_message = "The ferry plan role must trust this repository's pull requests only."
  }

  assert {
    condition = alltrue(flatten([
      for statement in jsondecode(output.ferry_plan_policy).Statement : [
        for action in flatten([statement.Action]) :
        statement.Effect == "Allow" && can(regex("^(ecs|ecr|application-autoscaling):(Describe|List|Get)", action))
      ]
    ]))
    error_message = "The ferry plan role may only describe, list and get (no write, no secret)."
  }
}
# --- Three accounts (README: "Three accounts") ------------------------------------

# By default one account, as before: no roles for another account's Ferry,
# and Ferry assumes nothing.
run "one_account_by_default" {
  command = plan

  assert {
    condition     = output.ferry_target_roles == null && output.ferry_assume_roles_policy == null
    error_message = "Without ferry_tooling_account and ferry_assume_role_arns nothing may change: no target roles, no sts:AssumeRole."
  }
}

# A target account: the deploy and plan-only roles for the tooling account's
# Ferry, with the same least privilege as Ferry's own role here.
run "target_account" {
  command = apply

  variables {
    ferry_tooling_account = {
      principal_arns = ["arn:aws:iam::111111111111:role/numbers-tooling-ferry"]
      external_id    = "ferry-staging-5d1e"
    }
  }

  assert {
    condition = (
      output.ferry_target_roles.roles.deploy.name == "numbers-staging-ferry-deploy"
      && output.ferry_target_roles.roles.plan.name == "numbers-staging-ferry-plan"
      && output.ferry_target_roles.deploy_role_arn != null
      && output.ferry_target_roles.plan_role_arn != null
    )
    error_message = "A target account must get numbers-<env>-ferry-deploy and numbers-<env>-ferry-plan, and output their ARNs."
  }

  assert {
    condition     = output.ferry == null
    error_message = "An environment that the tooling account's Ferry deploys must not run a Ferry of its own (two controllers on one environment)."
  }

  assert {
    condition     = output.ferry_target_roles.roles.deploy.policy == output.ferry_policy
    error_message = "The deploy role must hold exactly Ferry's own policy (this cluster, these task roles, Ferry's own service and repository denied)."
  }

  assert {
    condition = alltrue([
      for role in ["deploy", "plan"] :
      jsondecode(output.ferry_target_roles.roles[role].assume_role_policy).Statement == [{
        Sid       = "FerryOfTheToolingAccount"
        Effect    = "Allow"
        Principal = { AWS = ["arn:aws:iam::111111111111:role/numbers-tooling-ferry"] }
        Action    = "sts:AssumeRole"
        Condition = { StringEquals = { "sts:ExternalId" = "ferry-staging-5d1e" } }
      }]
    ])
    error_message = "Both roles must trust the tooling account's Ferry role only, with the environment's external ID."
  }

  assert {
    condition = alltrue(flatten([
      for statement in jsondecode(output.ferry_target_roles.roles.plan.policy).Statement : [
        for action in flatten([statement.Action]) :
        statement.Effect == "Allow" && can(regex("^(ecs|ecr|application-autoscaling):(Describe|List|Get)", action))
      ]
    ]))
    error_message = "The plan-only role may only describe, list and get."
  }

  assert {
    condition     = alltrue([for name in [output.ferry_target_roles.roles.deploy.name, output.ferry_target_roles.roles.plan.name] : length(name) <= 64])
    error_message = "IAM role names are limited to 64 characters."
  }
}

# The tooling account: its Ferry runs the other accounts' environments too and
# may assume exactly the target accounts' roles it is given.
run "tooling_account" {
  command = apply

  variables {
    ferry_assume_role_arns = [
      "arn:aws:iam::222222222222:role/numbers-dev-ferry-deploy",
      "arn:aws:iam::222222222222:role/numbers-dev-ferry-plan",
    ]
    ferry_additional_environments = ["dev"]
  }

  assert {
    condition     = slice(output.ferry.container.command, 7, 9) == ["--env", "staging,dev"]
    error_message = "The tooling account's Ferry must run its own environment and the ones it reaches through the roles."
  }

  assert {
    condition = jsondecode(output.ferry_assume_roles_policy).Statement == [{
      Sid      = "AssumeEnvironmentRoles"
      Effect   = "Allow"
      Action   = "sts:AssumeRole"
      Resource = ["arn:aws:iam::222222222222:role/numbers-dev-ferry-deploy", "arn:aws:iam::222222222222:role/numbers-dev-ferry-plan"]
    }]
    error_message = "Ferry's task role may assume exactly the listed roles."
  }
}

run "tooling_account_is_not_a_target" {
  command = plan

  variables {
    ferry_tooling_account = {
      principal_arns = ["arn:aws:iam::111111111111:role/numbers-tooling-ferry"]
      external_id    = "ferry-staging-5d1e"
    }
    ferry_assume_role_arns = ["arn:aws:iam::222222222222:role/numbers-dev-ferry-deploy"]
  }

  expect_failures = [var.ferry_tooling_account]
}
