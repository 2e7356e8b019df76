# Tests of the staging environment, run with `terraform test` in environments/staging.
#
# AWS is mocked (no credentials, no network): the first run plans the
# environment and checks what the configuration decides (protections, sizes,
# names, firewall rules); the second "applies" it against the mock, which
# fills every computed attribute, and checks that each output the manifests
# consume is present and comes from the right resource, and that the CI roles
# trust only this repository's workflows.

mock_provider "aws" {
  source = "../tests/mocks"
}

variables {
  github_repository      = "example-org/ferry"
  hosted_zone_name       = "numbers.example.com"
  terraform_state_bucket = "example-org-terraform-state"
}

# The certificate's DNS validation record is looked up by domain name.
override_resource {
  target = module.numbers.module.load_balancer.aws_acm_certificate.this
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
  target = module.numbers.module.iam.aws_iam_role.task_execution
  values = { arn = "arn:aws:iam::123456789012:role/numbers-staging-task-execution" }
}

override_resource {
  target = module.numbers.module.iam.aws_iam_role.task
  values = { arn = "arn:aws:iam::123456789012:role/numbers-staging-task" }
}

override_resource {
  target = module.numbers.module.iam.aws_iam_role.ferry
  values = { arn = "arn:aws:iam::123456789012:role/numbers-staging-ferry" }
}

override_resource {
  target = module.numbers.module.load_balancer.aws_lb_target_group.proxy
  values = {
    arn        = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/numbers-staging-proxy/0123456789abcdef"
    arn_suffix = "targetgroup/numbers-staging-proxy/0123456789abcdef"
  }
}

override_resource {
  target = module.numbers.module.load_balancer.aws_lb_target_group.proxy_alternate
  values = {
    arn        = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/numbers-staging-proxy-alt/1123456789abcdef"
    arn_suffix = "targetgroup/numbers-staging-proxy-alt/1123456789abcdef"
  }
}

override_resource {
  target = module.numbers.module.load_balancer.aws_lb.this
  values = {
    arn        = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/numbers-staging-alb/2123456789abcdef"
    arn_suffix = "app/numbers-staging-alb/2123456789abcdef"
    dns_name   = "numbers-staging-alb-0123456789.us-east-1.elb.amazonaws.com"
    zone_id    = "Z35SXDOTRQ7X7K"
  }
}

override_resource {
  target = module.numbers.module.load_balancer.aws_lb_listener_rule.production
  values = { arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/numbers-staging-alb/2123456789abcdef/3123456789abcdef/4123456789abcdef" }
}

override_resource {
  target = module.numbers.module.load_balancer.aws_lb_listener_rule.test
  values = { arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/numbers-staging-alb/2123456789abcdef/3123456789abcdef/5123456789abcdef" }
}

override_resource {
  target = module.numbers.module.iam.aws_iam_role.ecs_infrastructure
  values = { arn = "arn:aws:iam::123456789012:role/numbers-staging-ecs-infrastructure" }
}

run "plan" {
  command = plan

  # --- Environment-specific protections and sizes -----------------------------

  assert {
    condition     = module.numbers.nat_gateway_count == 1
    error_message = "staging must have 1 NAT gateway(s)."
  }

  assert {
    condition     = module.numbers.database.multi_az == false
    error_message = "staging's database multi_az must be false."
  }

  assert {
    condition     = module.numbers.database.deletion_protection == true
    error_message = "staging's database deletion_protection must be true."
  }

  assert {
    condition     = module.numbers.load_balancer.deletion_protection == true
    error_message = "staging's load balancer deletion protection must be true."
  }

  assert {
    condition     = module.numbers.database.backup_retention_period == 14
    error_message = "staging must keep 14 days of database backups."
  }

  # --- Protections every environment has ----------------------------------------

  assert {
    condition     = module.numbers.database.storage_encrypted
    error_message = "The database storage must be encrypted."
  }

  assert {
    condition     = !module.numbers.database.publicly_accessible
    error_message = "The database must not be publicly accessible."
  }

  assert {
    condition     = module.numbers.bastion.metadata_http_tokens == "required"
    error_message = "The bastion must require IMDSv2 tokens."
  }

  assert {
    condition     = module.numbers.bastion.root_volume_encrypted
    error_message = "The bastion's root volume must be encrypted."
  }

  assert {
    condition = (
      module.numbers.load_balancer.https_listener.protocol == "HTTPS"
      && module.numbers.load_balancer.https_listener.port == 443
      && startswith(module.numbers.load_balancer.https_listener.ssl_policy, "ELBSecurityPolicy-TLS13-")
    )
    error_message = "The HTTPS listener must use a TLS 1.3 security policy."
  }

  assert {
    condition     = module.numbers.load_balancer.drop_invalid_header_fields
    error_message = "The load balancer must drop invalid header fields."
  }

  assert {
    condition     = length(distinct(module.numbers.availability_zones)) == 2
    error_message = "The environment must span two availability zones."
  }

  # --- Firewall: only the ALB is open to the internet, on 80 and 443 -----------

  assert {
    condition = toset([
      for name, rule in module.numbers.ingress_rules : name if rule.cidr_ipv4 != null
    ]) == toset(["alb_http", "alb_https"])
    error_message = "Only the ALB's HTTP and HTTPS rules may take traffic from an address range."
  }

  assert {
    condition = alltrue([
      for rule in module.numbers.ingress_rules :
      rule.cidr_ipv4 == null || (
        rule.cidr_ipv4 == "0.0.0.0/0" && rule.ip_protocol == "tcp"
        && rule.from_port == rule.to_port && contains([80, 443], rule.from_port)
      )
    ])
    error_message = "Internet ingress must be TCP 80 or 443 only."
  }

  assert {
    condition = alltrue([
      for rule in values(merge(module.numbers.ingress_rules, module.numbers.egress_rules)) :
      rule.cidr_ipv6 == null && rule.ip_protocol == "tcp" && rule.from_port == rule.to_port
    ])
    error_message = "Every rule must name one TCP port and no IPv6 range (no all-traffic rules)."
  }

  assert {
    condition = !anytrue([
      for rule in module.numbers.ingress_rules : rule.from_port <= 22 && rule.to_port >= 22
    ])
    error_message = "No security group may allow SSH: the bastion is reached through SSM."
  }

  assert {
    condition = alltrue([
      for rule in values(merge(module.numbers.ingress_rules, module.numbers.egress_rules)) :
      length(rule.description) > 0
    ])
    error_message = "Every security group rule must be described."
  }

  # --- Names within AWS limits -------------------------------------------------

  assert {
    condition     = length(module.numbers.load_balancer.alb_name) <= 32
    error_message = "ALB names are limited to 32 characters."
  }

  assert {
    condition     = length(module.numbers.load_balancer.target_group_name) <= 32
    error_message = "Target group names are limited to 32 characters."
  }

  assert {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", module.numbers.load_balancer.access_log_bucket))
    error_message = "The access-log bucket name must be a valid S3 bucket name (3-63 characters)."
  }

  assert {
    condition     = alltrue([for name in module.numbers.iam_role_names : length(name) <= 64])
    error_message = "IAM role names are limited to 64 characters."
  }

  assert {
    condition     = length(module.numbers.database.identifier) <= 63
    error_message = "RDS identifiers are limited to 63 characters."
  }

  # --- Ferry's own service -------------------------------------------------------

  assert {
    condition     = module.numbers.ferry.repository == null
    error_message = "staging must use dev's ECR repository of Ferry (one registry per account), not create one."
  }

  assert {
    condition = (
      module.numbers.ferry.service.desired_count == 2
      && module.numbers.ferry.service.launch_type == "FARGATE"
      && module.numbers.ferry.service.cpu == "256"
      && module.numbers.ferry.service.memory == "512"
      && module.numbers.ferry.service.assign_public_ip == false
      && module.numbers.ferry.service.enable_execute_command == false
    )
    error_message = "Ferry must run as two Fargate tasks (256 CPU, 512 MiB each) without a public address."
  }

  assert {
    condition = (
      module.numbers.ferry.service.circuit_breaker.enable
      && module.numbers.ferry.service.circuit_breaker.rollback
      && module.numbers.ferry.service.minimum_healthy_percent == 50
      && module.numbers.ferry.service.maximum_percent == 200
    )
    error_message = "Ferry's deployments must roll back on failure and run old and new replicas side by side (minimum healthy 50 %, maximum 200 %): the leases in the shared database keep them off each other's environments."
  }

  assert {
    condition = (
      module.numbers.ferry.container.image == "123456789012.dkr.ecr.us-east-1.amazonaws.com/ferry:bootstrap"
      && module.numbers.ferry.image == module.numbers.ferry.container.image
    )
    error_message = "Ferry's image must come from the account's ECR registry, repository ferry, tag ferry_image_tag."
  }

  assert {
    condition = (
      module.numbers.ferry.container.logConfiguration.logDriver == "awslogs"
      && module.numbers.ferry.container.logConfiguration.options["awslogs-group"] == "/ecs/numbers-staging"
      && module.numbers.ferry.container.logConfiguration.options["awslogs-region"] == "us-east-1"
      && module.numbers.ferry.container.logConfiguration.options["awslogs-stream-prefix"] == "ferry"
    )
    error_message = "Ferry must log with awslogs to the environment's log group, stream prefix ferry."
  }

  assert {
    condition = (
      module.numbers.ferry.container.readonlyRootFilesystem
      && module.numbers.ferry.container.privileged == false
      && module.numbers.ferry.container.user == "65532:65532"
      && module.numbers.ferry.container.linuxParameters.capabilities.drop == ["ALL"]
      && module.numbers.ferry.service.volumes == ["state"]
      && module.numbers.ferry.container.mountPoints == [{ sourceVolume = "state", containerPath = "/var/lib/ferry", readOnly = false }]
    )
    error_message = "Ferry must run as uid 65532 on a read-only root file system, writing only to its task-local state volume."
  }

  assert {
    condition     = module.numbers.ferry.container.healthCheck.command == ["CMD", "/usr/local/bin/ferry", "check-health", "--listen", "127.0.0.1:9000"]
    error_message = "Ferry's container health check must mirror the Dockerfile's HEALTHCHECK."
  }

  assert {
    condition = module.numbers.ferry.container.command == [
      "run", "--repo", "https://github.com/example-org/ferry.git", "--branch", "main", "--path", "manifests",
      "--env", "staging", "--interval", "60s", "--listen", "0.0.0.0:9000", "--state-dir", "/var/lib/ferry",
    ]
    error_message = "Ferry must follow main of this repository's manifests for staging only, polling every 60s."
  }

  assert {
    condition = (
      can(regex("^[A-Za-z0-9_-]{1,255}$", module.numbers.ferry.service.name))
      && can(regex("^[A-Za-z0-9_-]{1,255}$", module.numbers.ferry.service.family))
      && module.numbers.ferry.service.name == "numbers-staging-ferry"
      && module.numbers.ferry.service.family == "numbers-staging-ferry"
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
    condition     = output.task_security_group_id == module.numbers.security_group_ids.tasks
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
      for rule in module.numbers.ingress_rules :
      rule.security_group_id == module.numbers.security_group_ids.alb if rule.cidr_ipv4 != null
    ])
    error_message = "Only the ALB's security group may be open to an address range."
  }

  assert {
    condition = !anytrue([
      for rule in module.numbers.ingress_rules : rule.security_group_id == module.numbers.security_group_ids.bastion
    ])
    error_message = "The bastion must have no ingress rule."
  }

  assert {
    condition = toset([
      for rule in module.numbers.ingress_rules : rule.referenced_security_group_id
      if rule.security_group_id == module.numbers.security_group_ids.database
      ]) == toset([
      module.numbers.security_group_ids.tasks,
      module.numbers.security_group_ids.bastion,
      module.numbers.security_group_ids.ferry,
    ])
    error_message = "The database must accept connections from the tasks, the bastion and Ferry only."
  }

  assert {
    condition = toset([
      for rule in module.numbers.ingress_rules : rule.referenced_security_group_id
      if rule.security_group_id == module.numbers.security_group_ids.tasks
    ]) == toset([module.numbers.security_group_ids.alb])
    error_message = "The tasks must accept connections from the ALB only."
  }

  # The CI roles trust this repository's workflows only, for the STS audience.
  assert {
    condition = length(module.numbers.ci_trust_policies) == 4 && alltrue([
      for policy in values(module.numbers.ci_trust_policies) : alltrue([
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
    condition     = jsondecode(module.numbers.ci_trust_policies.terraform_apply).Statement[0].Condition.StringEquals["token.actions.githubusercontent.com:sub"] == "repo:example-org/ferry:environment:staging"
    error_message = "The apply role must trust only jobs in the staging GitHub environment."
  }

  # Ferry's own service: port 9000 from the ALB only, HTTPS out, Ferry's role, private subnets.
  assert {
    condition = [
      for rule in module.numbers.ingress_rules : {
        protocol = rule.ip_protocol, from = rule.from_port, to = rule.to_port, source = rule.referenced_security_group_id, open = rule.cidr_ipv4 != null
      } if rule.security_group_id == module.numbers.security_group_ids.ferry
    ] == [{ protocol = "tcp", from = 9000, to = 9000, source = module.numbers.security_group_ids.alb, open = false }]
    error_message = "Ferry's security group must accept port 9000 from the ALB's security group only."
  }

  assert {
    condition = toset([
      for rule in module.numbers.egress_rules : {
        protocol = rule.ip_protocol, from = rule.from_port, to = rule.to_port, cidr = rule.cidr_ipv4, target = rule.referenced_security_group_id
      } if rule.security_group_id == module.numbers.security_group_ids.ferry
      ]) == toset([
      { protocol = "tcp", from = 443, to = 443, cidr = "0.0.0.0/0", target = null },
      { protocol = "tcp", from = 5432, to = 5432, cidr = null, target = module.numbers.security_group_ids.database },
    ])
    error_message = "Ferry's security group must allow egress on TCP 443 and to the database's security group on 5432 only."
  }

  # Ferry's two replicas share their history in database "ferry" on the
  # environment's RDS instance.
  assert {
    condition = [
      for rule in module.numbers.ingress_rules : {
        protocol = rule.ip_protocol, from = rule.from_port, to = rule.to_port, source = rule.referenced_security_group_id
      } if rule.security_group_id == module.numbers.security_group_ids.database && rule.referenced_security_group_id == module.numbers.security_group_ids.ferry
    ] == [{ protocol = "tcp", from = 5432, to = 5432, source = module.numbers.security_group_ids.ferry }]
    error_message = "The database's security group must accept PostgreSQL (5432) from Ferry's security group."
  }

  assert {
    condition     = module.numbers.ferry.database.url == "postgres://numbers@${output.db_host}:${output.db_port}/ferry?sslmode=require"
    error_message = "FERRY_DATABASE_URL must name database ferry on the environment's instance, as its master user, over TLS."
  }

  assert {
    condition = (
      can(regex("^postgres://[^:@/]+@[^@]+$", module.numbers.ferry.database.url))
      && strcontains(lower(module.numbers.ferry.database.url), "password") == false
      && contains([for e in module.numbers.ferry.container.environment : e.name], "FERRY_DATABASE_URL")
      && contains([for s in module.numbers.ferry.container.secrets : s.name], "FERRY_DATABASE_URL") == false
    )
    error_message = "FERRY_DATABASE_URL is plain task environment and must carry no password."
  }

  assert {
    condition = (
      module.numbers.ferry.database.password_from == "${output.db_secret_arn}:password::"
      && contains(module.numbers.ferry.container.secrets, { name = "FERRY_DATABASE_PASSWORD", valueFrom = "${output.db_secret_arn}:password::" })
      && contains([for e in module.numbers.ferry.container.environment : e.name], "FERRY_DATABASE_PASSWORD") == false
    )
    error_message = "FERRY_DATABASE_PASSWORD must be an ECS secret: the password key of the RDS-managed master user secret (db_secret_arn)."
  }

  assert {
    condition     = contains(module.numbers.ferry.database.readable_secrets, output.db_secret_arn)
    error_message = "The execution role must be allowed to read the RDS-managed master user secret for Ferry."
  }

  assert {
    condition     = module.numbers.ferry.service.security_groups == toset([module.numbers.security_group_ids.ferry])
    error_message = "Ferry's service must use Ferry's own security group only."
  }

  assert {
    condition     = module.numbers.ferry.service.subnets == toset(output.private_subnet_ids)
    error_message = "Ferry's service must run in the private subnets."
  }

  assert {
    condition     = module.numbers.ferry.service.task_role_arn == output.ferry_role_arn && output.ferry_role_arn == "arn:aws:iam::123456789012:role/numbers-staging-ferry"
    error_message = "Ferry's task role must be Ferry's role."
  }

  assert {
    condition     = module.numbers.ferry.service.execution_role_arn == output.execution_role_arn
    error_message = "Ferry's task must start through the environment's task execution role."
  }

  assert {
    condition     = startswith(module.numbers.ferry.image, "${output.ecr_registry}/ferry:")
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
        for statement in jsondecode(module.numbers.ferry_policy).Statement :
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
        for statement in jsondecode(module.numbers.ferry_policy).Statement :
        statement.Action if statement.Effect == "Allow"
    ]))) == 0
    error_message = "Ferry's role must allow every Application Auto Scaling call that ferry run makes."
  }

  assert {
    condition = alltrue([
      for statement in jsondecode(module.numbers.ferry_policy).Statement :
      try(statement.Condition.StringEquals["application-autoscaling:scalable-dimension"], "") == "ecs:service:DesiredCount"
      if anytrue([for a in flatten([statement.Action]) : a == "application-autoscaling:RegisterScalableTarget" || a == "application-autoscaling:DeregisterScalableTarget"])
    ])
    error_message = "Ferry may register and deregister scalable targets of ECS services' desired count only."
  }

  assert {
    condition = alltrue([
      for statement in jsondecode(module.numbers.ferry_policy).Statement :
      statement.Condition.StringEquals["iam:AWSServiceName"] == "ecs.application-autoscaling.amazonaws.com"
      && endswith(statement.Resource, "/AWSServiceRoleForApplicationAutoScaling_ECSService")
      if contains(flatten([statement.Action]), "iam:CreateServiceLinkedRole")
    ])
    error_message = "Ferry may create Application Auto Scaling's service-linked role for ECS and no other."
  }

  assert {
    condition = {
      for statement in jsondecode(module.numbers.ferry_policy).Statement :
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
      for statement in jsondecode(module.numbers.ferry_policy).Statement :
      statement.Effect == "Deny"
      && statement.Resource == "arn:aws:ecs:us-east-1:123456789012:service/numbers-staging/numbers-staging-ferry"
      && contains(flatten([statement.Action]), "ecs:UpdateService") && contains(flatten([statement.Action]), "ecs:DeleteService")
    ])
    error_message = "Ferry's role must be denied changes to Ferry's own service."
  }
}

# The committed manifests/staging/terraform-outputs.json (values.fromFile of the
# staging Environment) against what Terraform derives from names alone: a file
# that drifted from the configuration (e.g. a renamed target group) fails
# here rather than on the first deploy. Account-specific parts (ids, account
# number, random suffixes) are only checked for their shape.
run "committed_outputs" {
  command = apply

  variables {
    committed = jsondecode(file("../../manifests/staging/terraform-outputs.json"))
  }

  assert {
    condition     = var.committed.cluster_name.value == output.cluster_name
    error_message = "manifests/staging/terraform-outputs.json: cluster_name must be ${output.cluster_name}."
  }

  assert {
    condition     = var.committed.log_group_name.value == output.log_group_name
    error_message = "manifests/staging/terraform-outputs.json: log_group_name must be ${output.log_group_name}."
  }

  assert {
    condition     = var.committed.region.value == output.region
    error_message = "manifests/staging/terraform-outputs.json: region must be ${output.region}."
  }

  assert {
    condition     = var.committed.db_name.value == output.db_name && var.committed.db_port.value == output.db_port
    error_message = "manifests/staging/terraform-outputs.json: db_name and db_port must be ${output.db_name} and ${output.db_port}."
  }

  assert {
    condition     = can(regex("^[0-9]{12}\\.dkr\\.ecr\\.${output.region}\\.amazonaws\\.com$", var.committed.ecr_registry.value))
    error_message = "manifests/staging/terraform-outputs.json: ecr_registry must be <account>.dkr.ecr.${output.region}.amazonaws.com."
  }

  assert {
    condition     = can(regex("^arn:aws:elasticloadbalancing:${output.region}:[0-9]{12}:targetgroup/${module.numbers.load_balancer.target_group_name}/[0-9a-f]+$", var.committed.target_group_arn.value))
    error_message = "manifests/staging/terraform-outputs.json: target_group_arn must name the target group ${module.numbers.load_balancer.target_group_name}."
  }

  assert {
    condition = [
      for name in ["execution_role_arn", "task_role_arn", "ferry_role_arn"] :
      regex("^arn:aws:iam::[0-9]{12}:role/(.+)$", var.committed[name].value)[0]
    ] == slice(module.numbers.iam_role_names, 0, 3)
    error_message = "manifests/staging/terraform-outputs.json: execution_role_arn, task_role_arn and ferry_role_arn must name the roles ${join(", ", slice(module.numbers.iam_role_names, 0, 3))}."
  }

  assert {
    condition     = can(regex("^arn:aws:secretsmanager:${output.region}:[0-9]{12}:secret:rds!", var.committed.db_secret_arn.value))
    error_message = "manifests/staging/terraform-outputs.json: db_secret_arn must be an RDS-managed secret in ${output.region}."
  }

  assert {
    condition = (
      length(var.committed.private_subnet_ids.value) == length(output.private_subnet_ids)
      && alltrue([for id in var.committed.private_subnet_ids.value : can(regex("^subnet-[0-9a-f]+$", id))])
      && can(regex("^sg-[0-9a-f]+$", var.committed.task_security_group_id.value))
    )
    error_message = "manifests/staging/terraform-outputs.json: private_subnet_ids must list ${length(output.private_subnet_ids)} subnet ids and task_security_group_id be a security group id."
  }

  assert {
    condition = (
      can(regex("^arn:aws:elasticloadbalancing:${output.region}:[0-9]{12}:targetgroup/${module.numbers.load_balancer.alternate_target_group_name}/[0-9a-f]+$", var.committed.alternate_target_group_arn.value))
      && var.committed.target_group_arn_suffix.value == regex("targetgroup/.*$", var.committed.target_group_arn.value)
      && var.committed.alternate_target_group_arn_suffix.value == regex("targetgroup/.*$", var.committed.alternate_target_group_arn.value)
    )
    error_message = "manifests/staging/terraform-outputs.json: alternate_target_group_arn must name the target group ${module.numbers.load_balancer.alternate_target_group_name}, and the *_arn_suffix values be the target groups' ARNs from targetgroup/ on."
  }

  assert {
    condition = alltrue([
      for name in ["production_listener_rule_arn", "test_listener_rule_arn"] :
      startswith(var.committed[name].value, "arn:aws:elasticloadbalancing:${output.region}:${regex("^[0-9]{12}", var.committed.ecr_registry.value)}:listener-rule/${var.committed.load_balancer_arn_suffix.value}/")
    ]) && can(regex("^app/${module.numbers.load_balancer.alb_name}/[0-9a-f]+$", var.committed.load_balancer_arn_suffix.value))
    error_message = "manifests/staging/terraform-outputs.json: load_balancer_arn_suffix must be app/${module.numbers.load_balancer.alb_name}/<id>, and the production and test listener rules rules of that load balancer."
  }

  assert {
    condition     = var.committed.production_listener_rule_arn.value != var.committed.test_listener_rule_arn.value
    error_message = "manifests/staging/terraform-outputs.json: the production and the test listener rule must be two rules."
  }

  assert {
    condition = (
      var.committed.alarm_5xx_name.value == output.alarm_5xx_name
      && var.committed.alarm_latency_name.value == output.alarm_latency_name
    )
    error_message = "manifests/staging/terraform-outputs.json: alarm_5xx_name and alarm_latency_name must be ${output.alarm_5xx_name} and ${output.alarm_latency_name}."
  }

  assert {
    condition     = regex("^arn:aws:iam::[0-9]{12}:role/(.+)$", var.committed.ecs_infrastructure_role_arn.value)[0] == module.numbers.progressive_delivery.ecs_infrastructure_role.name
    error_message = "manifests/staging/terraform-outputs.json: ecs_infrastructure_role_arn must name ${module.numbers.progressive_delivery.ecs_infrastructure_role.name}."
  }

  assert {
    condition = alltrue([
      for name, o in var.committed : o.sensitive == false && (o.type == "string" || o.type == "number" || o.type == ["list", "string"])
    ])
    error_message = "manifests/staging/terraform-outputs.json must be `terraform output -json` (no sensitive value)."
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
      module.numbers.load_balancer.target_groups.primary == module.numbers.load_balancer.target_groups.alternate
      && module.numbers.load_balancer.target_groups.primary.port == 8000
      && module.numbers.load_balancer.target_groups.primary.target_type == "ip"
      && module.numbers.load_balancer.target_groups.primary.health_check[0].path == "/healthz"
    )
    error_message = "The alternate target group must have the primary's settings (ip targets on 8000, health check on /healthz)."
  }

  assert {
    condition = (
      module.numbers.load_balancer.alternate_target_group_name == "numbers-staging-proxy-alt"
      && length(module.numbers.load_balancer.alternate_target_group_name) <= 32
    )
    error_message = "The alternate target group must be numbers-staging-proxy-alt (target group names: 32 characters)."
  }

  assert {
    condition = jsonencode(module.numbers.load_balancer.listener_rules.production) == jsonencode({
      priority     = module.numbers.load_balancer.listener_rules.production.priority
      listener_arn = module.numbers.load_balancer.https_listener_arn
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
      module.numbers.load_balancer.listener_rules.test.listener_arn == module.numbers.load_balancer.https_listener_arn
      && jsonencode(module.numbers.load_balancer.listener_rules.test.hosts) == jsonencode(["staging.numbers.example.com"])
      && jsonencode(module.numbers.load_balancer.listener_rules.test.headers) == jsonencode({ "X-Ferry-Traffic" = ["test"] })
      && jsonencode(module.numbers.load_balancer.listener_rules.test.action_types) == jsonencode(["forward"])
      && module.numbers.load_balancer.listener_rules.test.forward == module.numbers.load_balancer.listener_rules.production.forward
      && module.numbers.load_balancer.listener_rules.test.priority < module.numbers.load_balancer.listener_rules.production.priority
    )
    error_message = "The test rule must be on the HTTPS listener (TLS, WAF), for staging.numbers.example.com with the header X-Ferry-Traffic: test, forward only, to the same target groups, and come before the production rule."
  }

  assert {
    # The mock gives every NAT gateway the address 203.0.113.10.
    condition     = toset(module.numbers.load_balancer.listener_rules.test.source_ips) == toset(["203.0.113.10/32"])
    error_message = "Test traffic must come from the VPC's NAT gateways only (their /32), never from the whole internet."
  }

  assert {
    condition = alltrue([
      for rule in module.numbers.ferry.ingress.rules :
      !contains([for r in values(module.numbers.load_balancer.listener_rules) : r.priority], rule.priority)
    ])
    error_message = "The app's listener rules must not take the priorities of Ferry's rules."
  }

  assert {
    condition     = module.numbers.load_balancer.default_action == [{ type = "fixed-response", status_code = "404" }]
    error_message = "The HTTPS listener must answer 404 to other host names, not forward to a target group (which one serves changes with every blue/green deployment)."
  }

  # --- ECS infrastructure role ---------------------------------------------------------

  assert {
    condition = (
      module.numbers.progressive_delivery.ecs_infrastructure_role.policy_arns == ["arn:aws:iam::aws:policy/AmazonECSInfrastructureRolePolicyForLoadBalancers"]
      && [
        for statement in jsondecode(module.numbers.progressive_delivery.ecs_infrastructure_role.assume_role_policy).Statement :
        { effect = statement.Effect, principal = statement.Principal, action = statement.Action }
      ] == [{ effect = "Allow", principal = { Service = "ecs.amazonaws.com" }, action = "sts:AssumeRole" }]
    )
    error_message = "The ECS infrastructure role must be assumable by ECS only and carry AmazonECSInfrastructureRolePolicyForLoadBalancers only."
  }

  assert {
    condition = alltrue([
      for arn in module.numbers.progressive_delivery.ecs_infrastructure_role.policy_arns : anytrue([
        for statement in jsondecode(module.numbers.terraform_apply_policy).Statement :
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
        for statement in jsondecode(module.numbers.ferry_policy).Statement :
        statement.Action if statement.Effect == "Allow"
    ]))) == 0
    error_message = "Ferry's role must allow following service deployments, resuming (continue or roll back) and stopping one, and reading CloudWatch metrics."
  }

  assert {
    condition = alltrue(flatten([
      for statement in jsondecode(module.numbers.ferry_policy).Statement : [
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
        for statement in jsondecode(module.numbers.ferry_policy).Statement :
        statement.Effect == "Deny" && contains(flatten([statement.Action]), action)
        && statement.Resource == "arn:aws:ecs:us-east-1:123456789012:service-deployment/numbers-staging/numbers-staging-ferry/*"
      ])
    ])
    error_message = "Ferry's role must be denied resuming and stopping the deployments of Ferry's own service."
  }

  assert {
    condition = alltrue([
      for statement in jsondecode(module.numbers.ferry_policy).Statement :
      statement.Resource == "arn:aws:ecs:us-east-1:123456789012:service-deployment/numbers-staging/*"
      if statement.Effect == "Allow" && contains(flatten([statement.Action]), "ecs:ContinueServiceDeployment")
    ])
    error_message = "Ferry may resume the service deployments of this environment's cluster, and nothing else, with ContinueServiceDeployment."
  }

  assert {
    condition = !anytrue([
      for statement in jsondecode(module.numbers.ferry_policy).Statement :
      statement.Effect == "Allow" && contains(flatten([statement.Action]), "ecs:UntagResource")
    ])
    error_message = "Ferry's role may not remove tags from services (the manual gate is resumed with ContinueServiceDeployment, not through tags)."
  }

  # --- Alarms (ECS's alarm-based rollback) ------------------------------------------------

  assert {
    condition = (
      module.numbers.progressive_delivery.alarms["5xx"].threshold == 5
      && module.numbers.progressive_delivery.alarms["5xx"].comparison_operator == "GreaterThanThreshold"
      && module.numbers.progressive_delivery.alarms["5xx"].treat_missing_data == "notBreaching"
      && startswith(module.numbers.progressive_delivery.alarms["5xx"].expression, "IF(requests >= ")
      && toset([
        for m in module.numbers.progressive_delivery.alarms["5xx"].metrics : "${m.metric_name} ${m.stat} ${m.dimensions.LoadBalancer} ${m.dimensions.TargetGroup}"
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
      module.numbers.progressive_delivery.alarms.latency.threshold == 1
      && module.numbers.progressive_delivery.alarms.latency.comparison_operator == "GreaterThanThreshold"
      && module.numbers.progressive_delivery.alarms.latency.treat_missing_data == "notBreaching"
      && startswith(module.numbers.progressive_delivery.alarms.latency.expression, "MAX(")
      && toset([
        for m in module.numbers.progressive_delivery.alarms.latency.metrics : "${m.metric_name} ${m.stat} ${m.dimensions.LoadBalancer} ${m.dimensions.TargetGroup}"
        ]) == toset([
        for tg in [output.target_group_arn_suffix, output.alternate_target_group_arn_suffix] : "TargetResponseTime p99 ${output.load_balancer_arn_suffix} ${tg}"
      ])
    )
    error_message = "The latency alarm must fire when the p99 TargetResponseTime of either target group exceeds 1 s."
  }

}
