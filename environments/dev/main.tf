# The dev environment of the numbers app: its sizes and protections, and one
# call of the shared environment module that builds it.

locals {
  region              = "us-east-1"
  terraform_state_key = "environments/dev/terraform.tfstate" # = backend key
}

module "numbers" {
  source = "../modules/environment"

  environment        = "dev"
  region             = local.region
  availability_zones = ["us-east-1a", "us-east-1b"]
  vpc_cidr           = "10.10.0.0/16"

  # One NAT gateway shared by both zones: cheaper; losing its zone cuts
  # outbound traffic (image pulls, AWS APIs) until the zone recovers.
  nat_gateway_per_az = false

  # Small and disposable: single-AZ database, a week of backups, and no
  # deletion protection so the environment can be torn down.
  db_instance_class        = "db.t4g.small"
  db_multi_az              = false
  db_backup_retention_days = 7
  deletion_protection      = false
  log_retention_days       = 365

  hosted_zone_name = var.hosted_zone_name
  domain_name      = "dev.${var.hosted_zone_name}"

  github_repository           = var.github_repository
  create_github_oidc_provider = var.create_github_oidc_provider
  terraform_state_bucket      = var.terraform_state_bucket
  terraform_state_key         = local.terraform_state_key
  ferry_trusted_role_arns     = var.ferry_trusted_role_arns

  # Three accounts (README: "Three accounts"); null and empty by default.
  ferry_tooling_account         = var.ferry_tooling_account
  ferry_assume_role_arns        = var.ferry_assume_role_arns
  ferry_additional_environments = var.ferry_additional_environments

  # Ferry's own ECS service (modules/ferry).
  create_ferry_repository  = var.create_ferry_repository
  ferry_image_tag          = var.ferry_image_tag
  manifests_repository_url = var.manifests_repository_url

  bastion_detailed_monitoring = var.bastion_detailed_monitoring

  ferry_oidc               = var.ferry_oidc
  ferry_oidc_client_secret = var.ferry_oidc_client_secret
}
