# Tests of the target_account module on its own, run with `terraform test` in
# environments/modules/target_account (AWS mocked): the deploy and plan-only
# roles a tooling account's Ferry assumes in an environment's account.

mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name                    = "numbers-prod"
  environment             = "prod"
  account_id              = "333333333333"
  region                  = "eu-west-1"
  cluster_name            = "numbers-prod"
  ecr_repository_names    = ["numbers-api", "numbers-frontend", "numbers-proxy", "ferry"]
  ferry_service_name      = "numbers-prod-ferry"
  ferry_repository_name   = "ferry"
  task_role_arns          = ["arn:aws:iam::333333333333:role/numbers-prod-task-execution", "arn:aws:iam::333333333333:role/numbers-prod-task"]
  infrastructure_role_arn = "arn:aws:iam::333333333333:role/numbers-prod-ecs-infrastructure"
  ferry_principal_arns    = ["arn:aws:iam::111111111111:role/numbers-tooling-ferry"]
  external_id             = "ferry-prod-7f3a9c"
}

run "trust" {
  command = plan

  assert {
    condition     = output.roles.deploy.name == "numbers-prod-ferry-deploy" && output.roles.plan.name == "numbers-prod-ferry-plan"
    error_message = "The roles must be <name>-ferry-deploy and <name>-ferry-plan."
  }

  assert {
    condition = alltrue([
      for role in [output.roles.deploy, output.roles.plan] :
      jsondecode(role.assume_role_policy).Statement == [{
        Sid       = "FerryOfTheToolingAccount"
        Effect    = "Allow"
        Principal = { AWS = ["arn:aws:iam::111111111111:role/numbers-tooling-ferry"] }
        Action    = "sts:AssumeRole"
        Condition = { StringEquals = { "sts:ExternalId" = "ferry-prod-7f3a9c" } }
      }]
    ])
    error_message = "Both roles must trust exactly the tooling account's Ferry role, for sts:AssumeRole only, and only with the environment's external ID."
  }

  assert {
    condition     = aws_iam_role.deploy.max_session_duration == 3600 && aws_iam_role.plan.max_session_duration == 3600
    error_message = "Sessions must last at most an hour by default (Ferry renews them)."
  }
}

run "deploy_role_least_privilege" {
  command = plan

  # Every ECS resource the deploy role may touch is in this account, region
  # and cluster (task definitions, which ECS does not scope by cluster, are
  # in this account and region).
  assert {
    condition = alltrue(flatten([
      for statement in jsondecode(output.roles.deploy.policy).Statement : [
        for resource in flatten([statement.Resource]) :
        resource == "*" || can(regex("^arn:aws:(ecs|ecr|cloudwatch|iam):(eu-west-1)?:333333333333:", resource))
      ]
    ]))
    error_message = "The deploy role may act in this account (and region) only."
  }

  assert {
    condition = alltrue(flatten([
      for statement in jsondecode(output.roles.deploy.policy).Statement : [
        for resource in flatten([statement.Resource]) :
        !startswith(resource, "arn:aws:ecs:") || startswith(resource, "arn:aws:ecs:eu-west-1:333333333333:task-definition/")
        || can(regex("^arn:aws:ecs:eu-west-1:333333333333:[a-z-]+/numbers-prod(/|$)", resource))
      ]
    ]))
    error_message = "The deploy role's ECS services, tasks, deployments and revisions must be this cluster's."
  }

  assert {
    condition = [
      for statement in jsondecode(output.roles.deploy.policy).Statement : statement.Condition
      if statement.Sid == "ListInCluster" || statement.Sid == "RunPreDeployTasks"
      ] == [
      { ArnEquals = { "ecs:cluster" = "arn:aws:ecs:eu-west-1:333333333333:cluster/numbers-prod" } },
      { ArnEquals = { "ecs:cluster" = "arn:aws:ecs:eu-west-1:333333333333:cluster/numbers-prod" } },
    ]
    error_message = "Listing and running tasks must be limited to this cluster."
  }

  assert {
    condition = {
      for statement in jsondecode(output.roles.deploy.policy).Statement :
      statement.Sid => { resource = statement.Resource, to = statement.Condition.StringEquals["iam:PassedToService"] }
      if contains(flatten([statement.Action]), "iam:PassRole")
      } == {
      PassTaskRolesToEcs = {
        resource = ["arn:aws:iam::333333333333:role/numbers-prod-task-execution", "arn:aws:iam::333333333333:role/numbers-prod-task"]
        to       = "ecs-tasks.amazonaws.com"
      }
      PassInfrastructureRoleToEcs = {
        resource = "arn:aws:iam::333333333333:role/numbers-prod-ecs-infrastructure"
        to       = "ecs.amazonaws.com"
      }
    }
    error_message = "The deploy role may pass the app's task roles to ECS tasks and the infrastructure role to ECS, nothing else."
  }

  assert {
    condition = [
      for statement in jsondecode(output.roles.deploy.policy).Statement : statement.Resource
      if statement.Effect == "Deny"
      ] == [
      "arn:aws:ecs:eu-west-1:333333333333:service/numbers-prod/numbers-prod-ferry",
      "arn:aws:ecs:eu-west-1:333333333333:service-deployment/numbers-prod/numbers-prod-ferry/*",
      "arn:aws:ecr:eu-west-1:333333333333:repository/ferry",
    ]
    error_message = "Ferry's own service, its deployments and its image repository must stay off limits."
  }

  assert {
    condition = alltrue(flatten([
      for statement in jsondecode(output.roles.deploy.policy).Statement : [
        for action in flatten([statement.Action]) :
        !startswith(action, "sts:") && action != "iam:*" && !endswith(action, ":*")
      ]
    ]))
    error_message = "The deploy role must not assume further roles nor hold wildcard actions."
  }
}

run "plan_role_reads_only" {
  command = plan

  assert {
    condition = alltrue(flatten([
      for statement in jsondecode(output.roles.plan.policy).Statement : [
        for action in flatten([statement.Action]) :
        statement.Effect == "Allow" && can(regex("^(ecs|ecr|application-autoscaling):(Describe|List|Get)", action))
      ]
    ]))
    error_message = "The plan-only role may only describe, list and get (no write, no secret)."
  }

  assert {
    condition = alltrue(flatten([
      for statement in jsondecode(output.roles.plan.policy).Statement : [
        for resource in flatten([statement.Resource]) :
        resource == "*" || can(regex("^arn:aws:(ecs:eu-west-1:333333333333:(cluster|service|task-definition)/|ecr:eu-west-1:333333333333:repository/)", resource))
      ]
    ]))
    error_message = "The plan-only role may read this account's cluster, services, task definitions and repositories only."
  }

  assert {
    condition = [
      for statement in jsondecode(output.roles.plan.policy).Statement : statement.Condition
      if statement.Resource == "*" && contains(flatten([statement.Action]), "ecs:ListServices")
    ] == [{ ArnEquals = { "ecs:cluster" = "arn:aws:ecs:eu-west-1:333333333333:cluster/numbers-prod" } }]
    error_message = "The plan-only role may list the services of this cluster only."
  }
}

run "refuses_a_wildcard_principal" {
  command = plan

  variables {
    ferry_principal_arns = ["arn:aws:iam::111111111111:role/*"]
  }

  expect_failures = [var.ferry_principal_arns]
}

run "refuses_an_account_root_principal" {
  command = plan

  variables {
    ferry_principal_arns = ["arn:aws:iam::111111111111:root"]
  }

  expect_failures = [var.ferry_principal_arns]
}

run "refuses_no_principal" {
  command = plan

  variables {
    ferry_principal_arns = []
  }

  expect_failures = [var.ferry_principal_arns]
}

run "refuses_a_malformed_external_id" {
  command = plan

  variables {
    external_id = "x"
  }

  expect_failures = [var.external_id]
}
