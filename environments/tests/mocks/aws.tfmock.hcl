# Mocked AWS answers shared by the environment tests (dev, staging, prod).
#
# `mock_provider "aws"` makes up values for computed attributes: random
# strings, zeros and empty lists. That is enough for most resources, but a
# few data sources must look real for the configuration to plan: account and
# partition end up in ARNs and policies, the DNS zone id in records, and so
# on. These defaults provide realistic, fixed values.

mock_data "aws_caller_identity" {
  defaults = {
    account_id = "123456789012"
    arn        = "arn:aws:iam::123456789012:user/terraform-test"
    user_id    = "AIDATERRAFORMTEST"
  }
}

mock_data "aws_partition" {
  defaults = {
    partition          = "aws"
    dns_suffix         = "amazonaws.com"
    reverse_dns_prefix = "com.amazonaws"
  }
}

mock_data "aws_route53_zone" {
  defaults = {
    zone_id = "Z0123456789EXAMPLE"
    name    = "numbers.example.com"
  }
}

mock_data "aws_elb_service_account" {
  defaults = {
    arn = "arn:aws:iam::127311923021:root"
  }
}

mock_data "aws_ami" {
  defaults = {
    id           = "ami-0123456789abcdef0"
    architecture = "x86_64"
  }
}

mock_data "aws_iam_openid_connect_provider" {
  defaults = {
    arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
  }
}

mock_resource "aws_iam_openid_connect_provider" {
  defaults = {
    arn = "arn:aws:iam::123456789012:oidc-provider/token.actions.githubusercontent.com"
  }
}

# RDS creates the master user secret itself (manage_master_user_password);
# the mock stands in for the ARN it reports.
mock_resource "aws_db_instance" {
  defaults = {
    address = "numbers.abcdefghijkl.us-east-1.rds.amazonaws.com"
    master_user_secret = [{
      secret_arn    = "arn:aws:secretsmanager:us-east-1:123456789012:secret:rds!db-00000000-0000-0000-0000-000000000000-AbCdEf"
      kms_key_id    = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
      secret_status = "active"
    }]
  }
}

# Resources whose ARNs other resources take as input: the provider validates
# those arguments as ARNs, so the mock must return ARN-shaped values.

mock_resource "aws_kms_key" {
  defaults = {
    arn    = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000"
    key_id = "00000000-0000-0000-0000-000000000000"
  }
}

mock_resource "aws_iam_role" {
  defaults = {
    arn = "arn:aws:iam::123456789012:role/mock"
  }
}

mock_resource "aws_cloudwatch_log_group" {
  defaults = {
    arn = "arn:aws:logs:us-east-1:123456789012:log-group:mock"
  }
}

mock_resource "aws_acm_certificate" {
  defaults = {
    arn = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
  }
}

mock_resource "aws_lb" {
  defaults = {
    arn      = "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/mock/0123456789abcdef"
    dns_name = "mock-0123456789.us-east-1.elb.amazonaws.com"
    zone_id  = "Z35SXDOTRQ7X7K"
  }
}

mock_resource "aws_lb_target_group" {
  defaults = {
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/mock/0123456789abcdef"
  }
}

mock_resource "aws_wafv2_web_acl" {
  defaults = {
    arn = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/mock/00000000-0000-0000-0000-000000000000"
  }
}

# Listener rules check that they name a listener by ARN.
mock_resource "aws_lb_listener" {
  defaults = {
    arn = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/numbers-alb/0123456789abcdef/0123456789abcdef"
  }
}


# The NAT gateways' addresses become /32 ranges of the test listener rule.
mock_resource "aws_eip" {
  defaults = {
    public_ip = "203.0.113.10"
  }
}
