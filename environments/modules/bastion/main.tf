# Bastion of one environment: a small instance in a private subnet that
# operators reach through AWS Systems Manager Session Manager (no SSH, no
# inbound rule, no public address), e.g. to port-forward to the database:
#
#   aws ssm start-session --target <instance-id> \
#     --document-name AWS-StartPortForwardingSessionToRemoteHost \
#     --parameters host=<db_host>,portNumber=5432,localPortNumber=5432
#
# Hardening: IMDSv2 only, encrypted root volume, detailed monitoring.

# Latest Amazon Linux 2023 image, which ships the SSM agent. Owner pinned to
# Amazon so that a look-alike public AMI can never be picked.
data "aws_ami" "al2023" {
  most_recent = true
  owners      = ["amazon"]

  filter {
    name   = "name"
    values = ["al2023-ami-2023.*-x86_64"]
  }

  filter {
    name   = "architecture"
    values = ["x86_64"]
  }
}

resource "aws_iam_role" "this" {
  name        = "${var.name}-bastion"
  description = "Instance role of the ${var.name} bastion: SSM Session Manager only."

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ec2.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

# AWS's managed policy for the SSM agent (sessions, inventory, patching).
resource "aws_iam_role_policy_attachment" "ssm_core" {
  role       = aws_iam_role.this.name
  policy_arn = "arn:${var.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_instance_profile" "this" {
  name = "${var.name}-bastion"
  role = aws_iam_role.this.name
}

resource "aws_instance" "this" {
  ami                         = data.aws_ami.al2023.id
  instance_type               = var.instance_type
  subnet_id                   = var.subnet_id
  vpc_security_group_ids      = [var.security_group_id]
  iam_instance_profile        = aws_iam_instance_profile.this.name
  associate_public_ip_address = false
  monitoring                  = var.detailed_monitoring
  ebs_optimized               = true

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required" # IMDSv2 only
    http_put_response_hop_limit = 1
    instance_metadata_tags      = "disabled"
  }

  root_block_device {
    encrypted             = true
    volume_type           = "gp3"
    volume_size           = var.root_volume_size
    delete_on_termination = true
  }

  tags = { Name = "${var.name}-bastion" }

  lifecycle {
    # A newer AMI must not replace the running bastion on every plan; it is
    # picked up when the instance is replaced on purpose (taint / -replace).
    ignore_changes = [ami]
  }
}
