# Outputs of the progressive_delivery module.

output "alarm_5xx_name" {
  description = "Name of the target 5xx ratio alarm (deploymentConfiguration.alarms)."
  value       = aws_cloudwatch_metric_alarm.target_5xx.alarm_name
}

output "alarm_latency_name" {
  description = "Name of the p99 target response time alarm (deploymentConfiguration.alarms)."
  value       = aws_cloudwatch_metric_alarm.target_latency.alarm_name
}

output "gate_hook_arn" {
  description = "ARN of the deployment gate function (lifecycleHooks[].hookTargetArn)."
  value       = aws_lambda_function.gate.arn
}

output "gate_hook_role_arn" {
  description = "ARN of the role ECS invokes the gate with (lifecycleHooks[].roleArn)."
  value       = aws_iam_role.gate_hook.arn
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

output "gate" {
  description = "The deployment gate (for tests): function settings and the policies (JSON) of its two roles."
  value = {
    function_name    = aws_lambda_function.gate.function_name
    runtime          = aws_lambda_function.gate.runtime
    handler          = aws_lambda_function.gate.handler
    tracing_mode     = aws_lambda_function.gate.tracing_config[0].mode
    role_arn         = aws_lambda_function.gate.role
    function_policy  = aws_iam_role_policy.gate.policy
    function_trust   = aws_iam_role.gate.assume_role_policy
    hook_role_name   = aws_iam_role.gate_hook.name
    hook_role_policy = aws_iam_role_policy.gate_hook.policy
    hook_role_trust  = aws_iam_role.gate_hook.assume_role_policy
  }
}
