# ECS cluster of one environment and the log group its workloads write to.
#
# The services and task definitions in the cluster are not managed here:
# Ferry creates and updates them from the manifests (git is the only way
# anything reaches ECS). Terraform provides the place they run in.

resource "aws_ecs_cluster" "this" {
  name = var.name

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

# Fargate only; FARGATE_SPOT is available for services whose manifests ask
# for it (capacityProviderStrategy).
resource "aws_ecs_cluster_capacity_providers" "this" {
  cluster_name       = aws_ecs_cluster.this.name
  capacity_providers = ["FARGATE", "FARGATE_SPOT"]

  default_capacity_provider_strategy {
    capacity_provider = "FARGATE"
    base              = 1
    weight            = 1
  }
}

# One log group for every container of the environment (awslogs driver,
# stream prefix per service and container).
resource "aws_cloudwatch_log_group" "workloads" {
  name              = "/ecs/${var.name}"
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
}
