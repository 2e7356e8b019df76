# Outputs of the network module.

output "vpc_id" {
  description = "Id of the VPC."
  value       = aws_vpc.this.id
}

output "public_subnet_ids" {
  description = "Ids of the public subnets, in availability-zone order."
  value       = [for zone in var.availability_zones : aws_subnet.public[zone].id]
}

output "private_subnet_ids" {
  description = "Ids of the private subnets, in availability-zone order."
  value       = [for zone in var.availability_zones : aws_subnet.private[zone].id]
}

output "nat_gateway_ids" {
  description = "Ids of the NAT gateways (one per zone, or a single shared one)."
  value       = [for zone in local.nat_zones : aws_nat_gateway.this[zone].id]
}

output "flow_log_group_name" {
  description = "Name of the VPC flow log group."
  value       = aws_cloudwatch_log_group.flow_logs.name
}

output "nat_public_ips" {
  description = "Public addresses of the NAT gateways: where the VPC's outbound traffic to the internet comes from."
  value       = [for zone in local.nat_zones : aws_eip.nat[zone].public_ip]
}
