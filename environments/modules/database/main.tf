# PostgreSQL on RDS for one environment.
#
# - Private subnets only, reachable from the tasks and the bastion (security
#   group), TLS enforced (rds.force_ssl).
# - Encrypted with the environment's data key; automated backups; deletion
#   protection and multi-AZ where the environment asks for them (prod).
# - The master password is generated, stored and rotated by RDS in Secrets
#   Manager (manage_master_user_password): it never appears in a variable, the
#   state or an output. Consumers get the secret's ARN and read it at run time.
# - Observability: exported PostgreSQL logs (slow and DDL statements),
#   Enhanced Monitoring and Performance Insights.

locals {
  log_exports = ["postgresql", "upgrade"]
}

resource "aws_db_subnet_group" "this" {
  name        = var.identifier
  description = "Private subnets of ${var.identifier}"
  subnet_ids  = var.subnet_ids
}

resource "aws_db_parameter_group" "this" {
  name        = "${var.identifier}-postgres${var.engine_major_version}"
  family      = "postgres${var.engine_major_version}"
  description = "PostgreSQL ${var.engine_major_version} settings of ${var.identifier}"

  # Refuse unencrypted client connections.
  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  # Query logging: schema changes always, other statements when slower than 500 ms.
  parameter {
    name  = "log_statement"
    value = "ddl"
  }

  parameter {
    name  = "log_min_duration_statement"
    value = "500"
  }

  parameter {
    name  = "log_connections"
    value = "1"
  }

  lifecycle {
    create_before_destroy = true
  }
}

# Pre-create the log groups RDS exports to, so that they are encrypted and
# expire (RDS would otherwise create them unencrypted and kept forever).
resource "aws_cloudwatch_log_group" "exports" {
  for_each = toset(local.log_exports)

  name              = "/aws/rds/instance/${var.identifier}/${each.key}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
}

resource "aws_iam_role" "monitoring" {
  name        = "${var.identifier}-rds-monitoring"
  description = "Lets RDS Enhanced Monitoring publish OS metrics of ${var.identifier}."

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "monitoring.rds.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = { StringEquals = { "aws:SourceAccount" = var.account_id } }
    }]
  })
}

resource "aws_iam_role_policy_attachment" "monitoring" {
  role       = aws_iam_role.monitoring.name
  policy_arn = "arn:${var.partition}:iam::aws:policy/service-role/AmazonRDSEnhancedMonitoringRole"
}

resource "aws_db_instance" "this" {
  #checkov:skip=CKV_AWS_157:Multi-AZ is an environment setting: on in prod (asserted by prod's terraform test), off in dev and staging to halve their cost.
  #checkov:skip=CKV_AWS_293:Deletion protection is an environment setting: on in staging and prod (asserted by their terraform tests), off in dev so it can be torn down.
  identifier = var.identifier

  engine                      = "postgres"
  engine_version              = var.engine_major_version
  auto_minor_version_upgrade  = true
  allow_major_version_upgrade = false
  instance_class              = var.instance_class
  parameter_group_name        = aws_db_parameter_group.this.name
  ca_cert_identifier          = "rds-ca-rsa2048-g1"

  db_name                       = var.database_name
  username                      = var.master_username
  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.kms_key_arn
  port                          = var.port

  iam_database_authentication_enabled = true

  storage_type          = "gp3"
  allocated_storage     = var.allocated_storage
  max_allocated_storage = var.max_allocated_storage
  storage_encrypted     = true
  kms_key_id            = var.kms_key_arn

  db_subnet_group_name   = aws_db_subnet_group.this.name
  vpc_security_group_ids = [var.security_group_id]
  publicly_accessible    = false
  multi_az               = var.multi_az

  backup_retention_period   = var.backup_retention_days
  backup_window             = "03:00-04:00"
  maintenance_window        = "sun:04:30-sun:05:30"
  copy_tags_to_snapshot     = true
  delete_automated_backups  = false
  deletion_protection       = var.deletion_protection
  skip_final_snapshot       = false
  final_snapshot_identifier = "${var.identifier}-final"

  enabled_cloudwatch_logs_exports       = local.log_exports
  monitoring_interval                   = 60
  monitoring_role_arn                   = aws_iam_role.monitoring.arn
  performance_insights_enabled          = true
  performance_insights_kms_key_id       = var.kms_key_arn
  performance_insights_retention_period = 7

  # Changes wait for the maintenance window instead of restarting the
  # database in the middle of the day.
  apply_immediately = false

  depends_on = [
    aws_cloudwatch_log_group.exports,
    aws_iam_role_policy_attachment.monitoring,
  ]
}
