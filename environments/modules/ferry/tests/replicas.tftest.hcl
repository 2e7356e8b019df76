# Tests of the ferry module on its own, run with `terraform test` in
# environments/modules/ferry (AWS mocked): how many Ferry tasks run, and how a
# deployment replaces them, with and without a shared history database.

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
}

run "sqlite_history_runs_one_task_never_two_at_once" {
  command = plan

  assert {
    condition = (
      aws_ecs_service.ferry.desired_count == 1
      && aws_ecs_service.ferry.deployment_minimum_healthy_percent == 0
      && aws_ecs_service.ferry.deployment_maximum_percent == 100
    )
    error_message = "Without a shared history database exactly one Ferry task runs, and a deployment stops it before starting the next."
  }

  assert {
    condition     = !contains([for s in local.container.secrets : s.name], "FERRY_DATABASE_URL")
    error_message = "Without a shared history database Ferry keeps SQLite history."
  }
}

run "postgresql_history_runs_two_replicas_that_may_overlap" {
  # Applied against the mock: the secrets policy is known only then.
  command = apply

  variables {
    history_database_url_secret_arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:numbers-test/ferry/database-url-AbCdEf"
  }

  assert {
    condition = (
      aws_ecs_service.ferry.desired_count == 2
      && aws_ecs_service.ferry.deployment_minimum_healthy_percent == 50
      && aws_ecs_service.ferry.deployment_maximum_percent == 200
      && aws_ecs_service.ferry.deployment_circuit_breaker[0].rollback
    )
    error_message = "With a shared history database two Ferry replicas run, old and new side by side during a deployment, rolled back on failure."
  }

  assert {
    condition = contains(
      [for s in local.container.secrets : "${s.name}=${s.valueFrom}"],
      "FERRY_DATABASE_URL=arn:aws:secretsmanager:us-east-1:123456789012:secret:numbers-test/ferry/database-url-AbCdEf",
    )
    error_message = "The database URL reaches Ferry as the FERRY_DATABASE_URL secret, never as plain environment."
  }

  assert {
    condition     = strcontains(aws_iam_role_policy.ferry_secrets.policy, "numbers-test/ferry/database-url-AbCdEf")
    error_message = "The execution role may read the database URL secret."
  }
}
