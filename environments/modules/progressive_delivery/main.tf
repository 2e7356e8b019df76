# What ECS's native progressive deployments (blue/green, canary, linear) of
# one environment need besides the load balancer's target groups and
# listener rules (modules/load_balancer) and the ECS infrastructure role
# (modules/iam): CloudWatch alarms on the app's target groups, for ECS's own
# alarm-based rollback (deploymentConfiguration.alarms): the target 5xx ratio
# and the p99 TargetResponseTime. Both look at the primary and the alternate
# target group together, because the two swap roles at every deployment.
#
# The manual gate of blue/green deployments (`pause:`) needs nothing here: it
# is an ECS PAUSE lifecycle hook that `ferry promote` resumes with
# ecs:ContinueServiceDeployment (Ferry's role, modules/iam).

locals {
  alarm_5xx_name     = "${var.name}-proxy-5xx"
  alarm_latency_name = "${var.name}-proxy-p99-latency"

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
