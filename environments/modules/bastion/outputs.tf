# Outputs of the bastion module.

output "instance_id" {
  description = "Id of the bastion instance (the target of `aws ssm start-session`)."
  value       = aws_instance.this.id
}

output "metadata_http_tokens" {
  description = "IMDS token setting of the instance (\"required\" = IMDSv2 only)."
  value       = aws_instance.this.metadata_options[0].http_tokens
}

output "root_volume_encrypted" {
  description = "Whether the root volume is encrypted."
  value       = aws_instance.this.root_block_device[0].encrypted
}
