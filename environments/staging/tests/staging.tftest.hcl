# Tests of the staging environment, run with `terraform test` in environments/staging.
#
# Only what differs between dev, staging and prod: sizes and protections,
# whether this environment creates the account's ECR repository of Ferry,
# names within AWS limits (they grow with the environment's name), and the
# committed manifests/staging/terraform-outputs.json. What the environment
# module does the same way everywhere (encryption, firewall, outputs, CI
# roles, progressive delivery, Ferry's service and ingress, three accounts)
# is tested once, in environments/modules/environment/tests.
#
# AWS is mocked (no credentials, no network).

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

  # --- Ferry's image repository: account-wide, created once per account ---------

  assert {
    condition     = module.numbers.ferry.repository == null
    error_message = "staging must use dev's ECR repository of Ferry (one registry per account), not create one."
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
