# Outputs of the database module. The master password itself is never an
# output: only the ARN of the RDS-managed secret that holds it.

output "address" {
  description = "Host name of the instance endpoint."
  value       = aws_db_instance.this.address
}

output "port" {
  description = "PostgreSQL port."
  value       = aws_db_instance.this.port
}

output "database_name" {
  description = "Name of the application database."
  value       = aws_db_instance.this.db_name
}

output "master_username" {
  description = "Master user name (its password is in master_user_secret_arn)."
  value       = aws_db_instance.this.username
}

output "master_user_secret_arn" {
  description = "ARN of the RDS-managed Secrets Manager secret holding the master user name and password."
  value       = one(aws_db_instance.this.master_user_secret[*].secret_arn)
}

output "identifier" {
  description = "RDS instance identifier."
  value       = aws_db_instance.this.identifier
}

output "storage_encrypted" {
  description = "Whether storage is encrypted at rest."
  value       = aws_db_instance.this.storage_encrypted
}

output "deletion_protection" {
  description = "Whether deletion protection is on."
  value       = aws_db_instance.this.deletion_protection
}

output "multi_az" {
  description = "Whether a standby runs in the second zone."
  value       = aws_db_instance.this.multi_az
}

output "backup_retention_period" {
  description = "Days of automated backups."
  value       = aws_db_instance.this.backup_retention_period
}

output "publicly_accessible" {
  description = "Whether the instance has a public endpoint (never)."
  value       = aws_db_instance.this.publicly_accessible
}
