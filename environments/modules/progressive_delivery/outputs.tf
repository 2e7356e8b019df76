# Outputs of the progressive_delivery module.

output "alarm_5xx_name" {
  description = "Name of the target 5xx ratio alarm (deploymentConfiguration.alarms)."
  value       = aws_cloudwatch_metric_alarm.target_5xx.alarm_name
}

output "alarm_latency_name" {
  description = "Name of the p99 target response time alarm (deploymentConfiguration.alarms)."
  value       = aws_cloudwatch_metric_alarm.target_latency.alarm_name
}

output "alarms" {
  description = "Settings of the alarms (for tests): threshold, comparison, missing data, and every metric they read."
  value = {
    for key, alarm in { "5xx" = aws_cloudwatch_metric_alarm.target_5xx, latency = aws_cloudwatch_metric_alarm.target_latency } : key => {
      name                    = alarm.alarm_name
      threshold               = alarm.threshold
      comparison_operator     = alarm.comparison_operator
      treat_missing_data      = alarm.treat_missing_data
      expression              = one([for q in alarm.metric_query : q.expression if q.return_data == true])
      metrics = [for q in alarm.metric_query : {
        id          = q.id
        metric_name = q.metric[0].metric_name
        stat        = q.metric[0].stat
        dimensions  = q.metric[0].dimensions
      } if length(q.metric) > 0]
    }
  }
}
