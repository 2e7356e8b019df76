# Outputs of the load_balancer module.

output "target_group_arn" {
  description = "ARN of the target group the ECS service \"numbers\" registers with."
  value       = aws_lb_target_group.proxy.arn
}

output "alb_name" {
  description = "Name of the load balancer."
  value       = aws_lb.this.name
}

output "alb_dns_name" {
  description = "DNS name of the load balancer."
  value       = aws_lb.this.dns_name
}

output "target_group_name" {
  description = "Name of the target group."
  value       = aws_lb_target_group.proxy.name
}

output "access_log_bucket" {
  description = "Name of the access-log bucket."
  value       = aws_s3_bucket.access_logs.bucket
}

output "url" {
  description = "Public URL of the environment."
  value       = "https://${var.domain_name}"
}

output "https_listener" {
  description = "Settings of the HTTPS listener (for tests): port, protocol, TLS policy."
  value = {
    port       = aws_lb_listener.https.port
    protocol   = aws_lb_listener.https.protocol
    ssl_policy = aws_lb_listener.https.ssl_policy
  }
}

output "drop_invalid_header_fields" {
  description = "Whether the ALB drops requests' invalid header fields."
  value       = aws_lb.this.drop_invalid_header_fields
}

output "deletion_protection" {
  description = "Whether deletion protection is on."
  value       = aws_lb.this.enable_deletion_protection
}

output "https_listener_arn" {
  description = "ARN of the HTTPS listener (Ferry's rules are added to it)."
  value       = aws_lb_listener.https.arn
}
