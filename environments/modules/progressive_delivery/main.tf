# What ECS's native progressive deployments (blue/green, canary, linear) of
# one environment need besides the load balancer's target groups and
# listener rules (modules/load_balancer) and the ECS infrastructure role
# (modules/iam):
#
# - CloudWatch alarms on the app's target groups, for ECS's own alarm-based
#   rollback (deploymentConfiguration.alarms): the target 5xx ratio and the
#   p99 TargetResponseTime. Both look at the primary and the alternate target
#   group together, because the two swap roles at every deployment.
# - The deployment gate: an ECS lifecycle hook (a small Lambda function,
#   gate/deployment_gate.py) that holds a blue/green deployment until Ferry promotes or
#   aborts it through a tag on the service, and the role ECS invokes it with
#   (hookTargetArn and roleArn of the service's lifecycleHooks). Its package,
#   gate/gate.zip, is built by gate/build.py and committed (no archive
#   provider here); the plan fails if it is older than the source.

locals {
  arn_prefix   = "arn:${var.partition}"
  service_arns = "${local.arn_prefix}:ecs:${var.region}:${var.account_id}:service/${var.cluster_name}/*"

  alarm_5xx_name     = "${var.name}-proxy-5xx"
  alarm_latency_name = "${var.name}-proxy-p99-latency"

  gate_name    = "${var.name}-deployment-gate"
  gate_source  = "${path.module}/gate/deployment_gate.py"
  gate_package = "${path.module}/gate/gate.zip"
  # The package stores the source uncompressed after a 48-byte header, so
  # the source's base64 (whole 3-byte groups) is the package's from
  # character 64 on: a package not rebuilt after a change fails the plan.
  gate_source_groups = 4 * floor(length(file(local.gate_source)) / 3)
  gate_package_fresh = (
    substr(filebase64(local.gate_package), 64, local.gate_source_groups)
    == substr(filebase64(local.gate_source), 0, local.gate_source_groups)
  )
  gate_log_group = "/aws/lambda/${local.gate_name}"

  # The target groups a deployment moves traffic between, by metric id.
  target_groups = {
    primary   = var.target_group_arn_suffixes[0]
    alternate = var.target_group_arn_suffixes[1]
  }
  metric_ids = { primary = "1", alternate = "2" }
}

# --- Alarms (ECS's alarm-based rollback) -----------------------------------------

# Share of the target groups' requests answered with a 5xx by the app, in
# percent, per minute; 0 while fewer than alarm_min_requests requests came
# (a single failed request of three is not a failed release).
resource "aws_cloudwatch_metric_alarm" "target_5xx" {
  alarm_name          = local.alarm_5xx_name
  alarm_description   = "More than ${var.alarm_5xx_percent}% of the requests to ${var.name}'s app (primary and alternate target groups) answered 5xx by the targets. ECS rolls a deployment back on it."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_5xx_percent
  evaluation_periods  = var.alarm_evaluation_periods
  datapoints_to_alarm = var.alarm_datapoints_to_alarm
  treat_missing_data  = "notBreaching"

  metric_query {
    id          = "ratio"
    label       = "Target 5xx, % of requests"
    expression  = "IF(requests >= ${var.alarm_min_requests}, 100 * errors / requests, 0)"
    return_data = true
  }

  metric_query {
    id         = "errors"
    label      = "Target 5xx responses"
    expression = join(" + ", [for role, id in local.metric_ids : "FILL(e${id}, 0)"])
  }

  metric_query {
    id         = "requests"
    label      = "Requests"
    expression = join(" + ", [for role, id in local.metric_ids : "FILL(r${id}, 0)"])
  }

  dynamic "metric_query" {
    for_each = local.metric_ids
    content {
      id = "e${metric_query.value}"

      metric {
        namespace   = "AWS/ApplicationELB"
        metric_name = "HTTPCode_Target_5XX_Count"
        period      = var.alarm_period_seconds
        stat        = "Sum"
        dimensions = {
          LoadBalancer = var.load_balancer_arn_suffix
          TargetGroup  = local.target_groups[metric_query.key]
        }
      }
    }
  }

  dynamic "metric_query" {
    for_each = local.metric_ids
    content {
      id = "r${metric_query.value}"

      metric {
        namespace   = "AWS/ApplicationELB"
        metric_name = "RequestCount"
        period      = var.alarm_period_seconds
        stat        = "Sum"
        dimensions = {
          LoadBalancer = var.load_balancer_arn_suffix
          TargetGroup  = local.target_groups[metric_query.key]
        }
      }
    }
  }
}

# The slower of the two target groups' p99 response time, in seconds.
resource "aws_cloudwatch_metric_alarm" "target_latency" {
  alarm_name          = local.alarm_latency_name
  alarm_description   = "p99 TargetResponseTime of ${var.name}'s app (primary or alternate target group) above ${var.alarm_latency_p99_seconds} s. ECS rolls a deployment back on it."
  comparison_operator = "GreaterThanThreshold"
  threshold           = var.alarm_latency_p99_seconds
  evaluation_periods  = var.alarm_evaluation_periods
  datapoints_to_alarm = var.alarm_datapoints_to_alarm
  treat_missing_data  = "notBreaching"

  metric_query {
    id          = "p99"
    label       = "p99 TargetResponseTime, slower target group (s)"
    expression  = "MAX([${join(", ", [for role, id in local.metric_ids : "FILL(l${id}, 0)"])}])"
    return_data = true
  }

  dynamic "metric_query" {
    for_each = local.metric_ids
    content {
      id = "l${metric_query.value}"

      metric {
        namespace   = "AWS/ApplicationELB"
        metric_name = "TargetResponseTime"
        period      = var.alarm_period_seconds
        stat        = "p99"
        dimensions = {
          LoadBalancer = var.load_balancer_arn_suffix
          TargetGroup  = local.target_groups[metric_query.key]
        }
      }
    }
  }
}

# --- Deployment gate (lifecycle hook) --------------------------------------------

resource "aws_cloudwatch_log_group" "gate" {
  name              = local.gate_log_group
  retention_in_days = var.log_retention_days
  kms_key_id        = var.logs_kms_key_arn
}

# The function's own role: read the deployments and tags of this cluster's
# services, write its log group and X-Ray traces. Nothing else.
resource "aws_iam_role" "gate" {
  name        = local.gate_name
  description = "The deployment gate function of ${var.name}: reads service deployments and tags."

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "lambda.amazonaws.com" }
      Action    = "sts:AssumeRole"
      Condition = {
        StringEquals = { "aws:SourceAccount" = var.account_id }
      }
    }]
  })
}

resource "aws_iam_role_policy" "gate" {
  name = "read-deployments"
  role = aws_iam_role.gate.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid      = "ReadServiceDeploymentsAndTags"
        Effect   = "Allow"
        Action   = ["ecs:ListServiceDeployments", "ecs:ListTagsForResource"]
        Resource = local.service_arns
      },
      {
        Sid      = "WriteLogs"
        Effect   = "Allow"
        Action   = ["logs:CreateLogStream", "logs:PutLogEvents"]
        Resource = "${aws_cloudwatch_log_group.gate.arn}:*"
      },
      {
        # X-Ray's write calls have no resource-level permissions.
        Sid      = "WriteTraces"
        Effect   = "Allow"
        Action   = ["xray:PutTraceSegments", "xray:PutTelemetryRecords"]
        Resource = "*"
      },
    ]
  })
}

resource "aws_lambda_function" "gate" {
  #checkov:skip=CKV_AWS_116:ECS invokes the hook synchronously and reads its answer; a dead-letter queue only receives asynchronous invocations.
  #checkov:skip=CKV_AWS_117:The gate only calls the ECS API and reaches nothing inside the VPC; running it there would add network interfaces and a NAT dependency, no protection.
  #checkov:skip=CKV_AWS_272:The package is built reproducibly from gate/deployment_gate.py in this repository (gate/build.py; the plan fails on a stale package) and deployed by Terraform from reviewed commits; there is no signing profile to check it against.
  function_name    = local.gate_name
  description      = "Ferry's deployment gate: holds ${var.name}'s blue/green deployments until the service is tagged ferry.dev/promote (or ferry.dev/abort) with the deployment's id."
  role             = aws_iam_role.gate.arn
  runtime          = "python3.13"
  handler          = "deployment_gate.handler"
  filename         = local.gate_package
  source_code_hash = filebase64sha256(local.gate_package)
  memory_size      = 128
  timeout          = 30
  architectures    = ["arm64"]

  # One invocation per gated deployment every 15 s is all it ever gets.
  reserved_concurrent_executions = 5

  tracing_config {
    mode = "Active"
  }

  lifecycle {
    precondition {
      condition     = local.gate_package_fresh
      error_message = "environments/modules/progressive_delivery/gate/gate.zip is not built from deployment_gate.py: run gate/build.py and commit gate.zip."
    }
  }

  depends_on = [aws_cloudwatch_log_group.gate, aws_iam_role_policy.gate]
}

# The role ECS assumes to invoke the gate (lifecycleHooks[].roleArn): the
# gate function only.
resource "aws_iam_role" "gate_hook" {
  name        = "${local.gate_name}-hook"
  description = "Assumed by ECS to invoke ${var.name}'s deployment gate (deployment lifecycle hooks)."

  assume_role_policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect    = "Allow"
      Principal = { Service = "ecs.amazonaws.com" }
      Action    = "sts:AssumeRole"
    }]
  })
}

resource "aws_iam_role_policy" "gate_hook" {
  name = "invoke-deployment-gate"
  role = aws_iam_role.gate_hook.id

  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid      = "InvokeDeploymentGate"
      Effect   = "Allow"
      Action   = "lambda:InvokeFunction"
      Resource = aws_lambda_function.gate.arn
    }]
  })
}
