# Customer-managed KMS keys of one environment.
#
# Two keys with separate policies instead of one shared key:
# - `logs`: CloudWatch Logs encryption (application, VPC flow, WAF and RDS log
#   groups). Its policy lets the regional CloudWatch Logs service use the key,
#   but only for log groups of this account and region.
# - `data`: data at rest (RDS storage, Performance Insights and the
#   RDS-managed master user secret). Its policy delegates to IAM, so only
#   principals whose IAM policies name this key (e.g. the task execution role,
#   via Secrets Manager) can use it.

locals {
  account_root = "arn:${var.partition}:iam::${var.account_id}:root"

  # Statement shared by both key policies: the account (that is, IAM policies
  # in it) administers the key. Without it the key becomes unmanageable.
  account_administration = {
    Sid       = "AccountAdministration"
    Effect    = "Allow"
    Principal = { AWS = local.account_root }
    Action    = "kms:*"
    Resource  = "*"
  }
}

resource "aws_kms_key" "logs" {
  description             = "${var.name}: CloudWatch Logs encryption"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.deletion_window_in_days

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      local.account_administration,
      {
        Sid       = "CloudWatchLogsUse"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action = [
          "kms:Encrypt*",
          "kms:Decrypt*",
          "kms:ReEncrypt*",
          "kms:GenerateDataKey*",
          "kms:Describe*",
        ]
        Resource = "*"
        Condition = {
          ArnLike = {
            "kms:EncryptionContext:aws:logs:arn" = "arn:${var.partition}:logs:${var.region}:${var.account_id}:log-group:*"
          }
        }
      },
    ]
  })
}

resource "aws_kms_alias" "logs" {
  name          = "alias/${var.name}-logs"
  target_key_id = aws_kms_key.logs.key_id
}

resource "aws_kms_key" "data" {
  description             = "${var.name}: data at rest (RDS, Performance Insights, database secret)"
  enable_key_rotation     = true
  rotation_period_in_days = 365
  deletion_window_in_days = var.deletion_window_in_days

  policy = jsonencode({
    Version   = "2012-10-17"
    Statement = [local.account_administration]
  })
}

resource "aws_kms_alias" "data" {
  name          = "alias/${var.name}-data"
  target_key_id = aws_kms_key.data.key_id
}
