//! The manifest's `spec.autoscaling` block. Types only: rules, rendering and diff are in
//! `autoscaling` and `diff`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// `spec.autoscaling`: Application Auto Scaling of the service's desired count.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AutoscalingSpec {
    /// Fewest tasks.
    pub min_capacity: u32,
    /// Most tasks.
    pub max_capacity: u32,
    /// Target-tracking policies.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub target_tracking: Vec<TargetTrackingSpec>,
    /// Scheduled changes of min/max capacity.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub scheduled: Vec<ScheduledActionSpec>,
}

/// What a target-tracking policy follows.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum ScalingMetric {
    /// Average CPU utilization of the service's tasks, percent.
    Cpu,
    /// Average memory utilization of the service's tasks, percent.
    Memory,
    /// Requests per target of the service's ALB target group.
    AlbRequestsPerTarget,
}

impl ScalingMetric {
    /// Application Auto Scaling's predefined metric type.
    pub fn metric_type(self) -> &'static str {
        match self {
            Self::Cpu => "ECSServiceAverageCPUUtilization",
            Self::Memory => "ECSServiceAverageMemoryUtilization",
            Self::AlbRequestsPerTarget => "ALBRequestCountPerTarget",
        }
    }

    /// The manifest's word, also the default policy name.
    pub fn word(self) -> &'static str {
        match self {
            Self::Cpu => "cpu",
            Self::Memory => "memory",
            Self::AlbRequestsPerTarget => "albRequestsPerTarget",
        }
    }
}

/// One target-tracking policy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct TargetTrackingSpec {
    /// Policy name (default: the metric, e.g. `cpu`); unique per service.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `cpu`, `memory` or `albRequestsPerTarget`.
    pub metric: ScalingMetric,
    /// The value to hold: percent for cpu/memory, requests per task for the ALB.
    pub target: f64,
    /// Seconds after a scale-in before the next (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_in_cooldown: Option<u32>,
    /// Seconds after a scale-out before the next (default 300).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_out_cooldown: Option<u32>,
    /// Never remove tasks because of this policy.
    #[serde(default)]
    pub disable_scale_in: bool,
    /// albRequestsPerTarget: which of the service's target groups (default: its only one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_group_arn: Option<String>,
    /// albRequestsPerTarget: the ARN of the load balancer in front of that target group (e.g.
    /// `${alb_arn}` from Terraform). A target group ARN does not name its load balancer, and
    /// CloudWatch's metric needs both.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer_arn: Option<String>,
    /// albRequestsPerTarget: the resource label itself,
    /// `app/<alb-name>/<alb-id>/targetgroup/<tg-name>/<tg-id>`, instead of `loadBalancerArn`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_label: Option<String>,
}

impl TargetTrackingSpec {
    /// The policy name.
    pub fn policy_name(&self) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| self.metric.word().to_owned())
    }
}

/// A scheduled action: at these times, set min/max capacity.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduledActionSpec {
    /// Action name, unique per service.
    pub name: String,
    /// `cron(m h dom mon dow year)`, `rate(n unit)` or `at(yyyy-mm-ddThh:mm:ss)`.
    pub schedule: String,
    /// IANA time zone of the schedule (default UTC), e.g. `Europe/Berlin`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// New minimum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_capacity: Option<u32>,
    /// New maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_capacity: Option<u32>,
}
