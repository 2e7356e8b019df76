# Terraform settings of the dev environment: versions, state backend and the
# AWS provider.

terraform {
  required_version = ">= 1.11"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "~> 5.100"
    }
  }

  # Remote state with S3-native locking (a .tflock object next to the state).
  # The bucket is account-specific and passed at init:
  #   terraform init -backend-config="bucket=<state bucket>"
  # The key is this environment's own; keep it in sync with
  # local.terraform_state_key in main.tf.
  backend "s3" {
    key          = "environments/dev/terraform.tfstate"
    region       = "us-east-1"
    encrypt      = true
    use_lockfile = true
  }
}

provider "aws" {
  region = local.region

  # Three accounts: never act in an account other than dev's, and reach it
  # through account_role_arn when set (README: "Three accounts").
  allowed_account_ids = var.account_id == null ? null : [var.account_id]

  dynamic "assume_role" {
    for_each = var.account_role_arn == null ? [] : [var.account_role_arn]
    content {
      role_arn     = assume_role.value
      session_name = "terraform-dev"
    }
  }

  default_tags {
    tags = {
      Project     = "ferry"
      Application = "numbers"
      Environment = "dev"
      ManagedBy   = "terraform"
    }
  }
}
