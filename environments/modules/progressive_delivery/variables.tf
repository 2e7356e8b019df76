# Inputs of the progressive_delivery module.

variable "name" {
  description = "Name prefix of the environment, e.g. \"numbers-dev\"."
  type        = string
}

variable "load_balancer_arn_suffix" {
  description = "The load balancer's CloudWatch dimension value (app/<name>/<id>)."
  type        = string
}

variable "target_group_arn_suffixes" {
  description = "CloudWatch dimension values of the primary and the alternate target group, in that order."
  type        = list(string)

  validation {
    condition     = length(var.target_group_arn_suffixes) == 2
    error_message = "Name the primary and the alternate target group."
  }
}

variable "alarm_5xx_percent" {
  description = "The 5xx alarm fires above this share of the app's requests answered 5xx by its targets, in percent."
  type        = number
  default     = 5
}

variable "alarm_min_requests" {
  description = "Requests per period below which the 5xx ratio counts as 0 (too few to judge)."
  type        = number
  default     = 20
}

variable "alarm_latency_p99_seconds" {
  description = "The latency alarm fires above this p99 TargetResponseTime, in seconds."
  type        = number
  default     = 1
}

variable "alarm_period_seconds" {
  description = "Period of the alarms' metrics, in seconds."
  type        = number
  default     = 60
}

variable "alarm_evaluation_periods" {
  description = "Periods the alarms look at."
  type        = number
  default     = 3
}

variable "alarm_datapoints_to_alarm" {
  description = "Breaching periods among alarm_evaluation_periods that fire an alarm."
  type        = number
  default     = 2
}
