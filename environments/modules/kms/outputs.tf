# Outputs of the kms module.

output "logs_key_arn" {
  description = "ARN of the key that encrypts CloudWatch log groups."
  value       = aws_kms_key.logs.arn
}

output "data_key_arn" {
  description = "ARN of the key that encrypts RDS storage, Performance Insights and the database secret."
  value       = aws_kms_key.data.arn
}
