# Tests of the ferry module's assumable roles (three-account layout), run with
# `terraform test` in environments/modules/ferry (AWS mocked): Ferry's task
# role may assume exactly the roles listed, and nothing about them reaches the
# container.

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

run "one_account_assumes_nothing" {
  command = plan

  assert {
    condition     = length(aws_iam_role_policy.assume_roles) == 0 && output.assume_roles_policy == null
    error_message = "Without assume_role_arns Ferry's task role must get no sts:AssumeRole at all."
  }
}

run "assumes_exactly_the_listed_roles" {
  command = plan

  variables {
    assume_role_arns = [
      "arn:aws:iam::222222222222:role/numbers-dev-ferry-deploy",
      "arn:aws:iam::222222222222:role/numbers-dev-ferry-plan",
      "arn:aws:iam::333333333333:role/numbers-prod-ferry-deploy",
    ]
  }

  assert {
    condition = jsondecode(output.assume_roles_policy).Statement == [{
      Sid    = "AssumeEnvironmentRoles"
      Effect = "Allow"
      Action = "sts:AssumeRole"
      Resource = [
        "arn:aws:iam::222222222222:role/numbers-dev-ferry-deploy",
        "arn:aws:iam::222222222222:role/numbers-dev-ferry-plan",
        "arn:aws:iam::333333333333:role/numbers-prod-ferry-deploy",
      ]
    }]
    error_message = "Ferry may call sts:AssumeRole on exactly the listed roles, nothing else."
  }

  assert {
    condition     = aws_iam_role_policy.assume_roles[0].role == "numbers-test-ferry"
    error_message = "The policy must belong to Ferry's task role."
  }

  assert {
    # Nothing about the other accounts reaches the container: the roles and
    # their external IDs come from the Environment manifests.
    condition = (
      toset([for s in local.container.secrets : s.name]) == toset(["FERRY_API_TOKEN", "FERRY_WEBHOOK_SECRET", "FERRY_DATABASE_PASSWORD"])
      && alltrue([for e in local.container.environment : !strcontains(e.value, "arn:aws:iam::")])
    )
    error_message = "The assumable roles must not change Ferry's container (no new secret, no role in its environment)."
  }
}

run "refuses_a_wildcard_role" {
  command = plan

  variables {
    assume_role_arns = ["arn:aws:iam::222222222222:role/*"]
  }

  expect_failures = [var.assume_role_arns]
}

run "runs_the_environments_it_reaches" {
  command = plan

  variables {
    assume_role_arns        = ["arn:aws:iam::222222222222:role/numbers-dev-ferry-deploy"]
    additional_environments = ["dev", "staging"]
  }

  assert {
    condition     = slice(local.container.command, 7, 9) == ["--env", "test,dev,staging"]
    error_message = "Ferry must run its own environment and the additional ones, comma separated (ferry run --env)."
  }
}

run "refuses_a_repeated_environment" {
  command = plan

  variables {
    additional_environments = ["dev", "dev"]
  }

  expect_failures = [var.additional_environments]
}
