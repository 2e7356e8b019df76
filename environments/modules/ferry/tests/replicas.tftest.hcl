# Tests of the ferry module on its own, run with `terraform test` in
# environments/modules/ferry (AWS mocked): how many Ferry tasks run, how a
# deployment replaces them, and how they reach their shared history database
# (database "ferry" on the environment's RDS instance).

mock_provider "aws" {
  source = "../../tests/mocks"
}

variables {
  name                     = "numbers-test"
  environment              = "test"
  region                   = "us-east-1"
  cluster_arn              = "arn:aws:ecs:us-east-1:123456789012:cluster/numbers-test"
  log_group_name           = "/ecs/numbers-test"
  subnet_ids               = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
  security_group_id        = "sg-0123456789abcdef0"
  execution_role_arn       = "arn:aws:iam::123456789012:role/numbers-test-execution"
  task_role_arn            = "arn:aws:iam::123456789012:role/numbers-test-ferry"
  ecr_registry             = "123456789012.dkr.ecr.us-east-1.amazonaws.com"
  create_repository        = false
  image_tag                = "0123456789abcdef0123456789abcdef01234567"
  manifests_repository_url = "https://github.com/example-org/ferry.git"
  vpc_id                   = "vpc-0123456789abcdef0"
  listener_arn             = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/numbers-test/0123456789abcdef/0123456789abcdef"
  host_name                = "ferry.test.numbers.example.com"
  secrets_kms_key_arn      = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  database_host            = "numbers-test.abcdefghijkl.us-east-1.rds.amazonaws.com"
  database_username        = "numbers"
  database_secret_arn      = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-00000000-0000-0000-0000-000000000000-AbCdEf"
}

run "two_replicas_that_may_overlap" {
  command = plan

  assert {
    condition = (
      aws_ecs_service.ferry.desired_count == 2
      && aws_ecs_service.ferry.deployment_minimum_healthy_percent == 50
      && aws_ecs_service.ferry.deployment_maximum_percent == 200
      && aws_ecs_service.ferry.deployment_circuit_breaker[0].enable
      && aws_ecs_service.ferry.deployment_circuit_breaker[0].rollback
    )
    error_message = "Two Ferry replicas must run, old and new side by side during a deployment (50 %/200 %), rolled back on failure."
  }
}

run "history_database_on_the_environments_rds" {
  # Applied against the mock: the secrets policy is known only then.
  command = apply

  assert {
    condition = (
      output.database.url == "postgres://numbers@numbers-test.abcdefghijkl.us-east-1.rds.amazonaws.com:5432/ferry?sslmode=require"
      && contains(local.container.environment, {
        name  = "FERRY_DATABASE_URL"
        value = "postgres://numbers@numbers-test.abcdefghijkl.us-east-1.rds.amazonaws.com:5432/ferry?sslmode=require"
      })
    )
    error_message = "FERRY_DATABASE_URL must name database ferry on the instance, as its master user, over TLS."
  }

  assert {
    # No "user:password@" userinfo, and nothing secret-looking in the URL.
    condition = (
      can(regex("^postgres://[^:@/]+@[^@]+$", output.database.url))
      && strcontains(lower(output.database.url), "password") == false
      && contains([for s in local.container.secrets : s.name], "FERRY_DATABASE_URL") == false
    )
    error_message = "FERRY_DATABASE_URL is plain environment and must carry no password."
  }

  assert {
    condition = (
      output.database.password_from == "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-00000000-0000-0000-0000-000000000000-AbCdEf:password::"
      && contains([for e in local.container.environment : e.name], "FERRY_DATABASE_PASSWORD") == false
    )
    error_message = "FERRY_DATABASE_PASSWORD must be an ECS secret: the password key of the RDS-managed master user secret."
  }

  assert {
    condition     = contains(output.database.readable_secrets, "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-00000000-0000-0000-0000-000000000000-AbCdEf")
    error_message = "The execution role must be allowed to read the RDS-managed master user secret for Ferry."
  }

  assert {
    condition     = toset([for s in local.container.secrets : s.name]) == toset(["FERRY_API_TOKEN", "FERRY_WEBHOOK_SECRET", "FERRY_DATABASE_PASSWORD"])
    error_message = "Ferry's secrets must be its bearer token, its webhook secret and the database password, nothing else."
  }
}

run "database_secret_must_be_a_secret_arn" {
  command = plan

  variables {
    database_secret_arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
  }

  expect_failures = [var.database_secret_arn]
}
