//! The manifest's progressive delivery block (`spec.deployment`'s strategy, canary, linear,
//! alarms, pause and analysis). Types only: their rules and rendering are in `progressive`.

use std::collections::BTreeMap;
use std::time::Duration;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// How ECS replaces a service's tasks.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Strategy {
    /// Replace tasks in place (ECS's `ROLLING`, the default).
    #[default]
    Rolling,
    /// Start the new version beside the old, move all traffic at once (`BLUE_GREEN`).
    BlueGreen,
    /// Move a percentage of traffic first, bake, then the rest (`CANARY`).
    Canary,
    /// Move traffic in equal steps with a bake after each (`LINEAR`).
    Linear,
}

impl Strategy {
    /// ECS's spelling.
    pub fn as_ecs(self) -> &'static str {
        match self {
            Self::Rolling => "ROLLING",
            Self::BlueGreen => "BLUE_GREEN",
            Self::Canary => "CANARY",
            Self::Linear => "LINEAR",
        }
    }

    /// The manifest's spelling.
    pub fn as_manifest(self) -> &'static str {
        match self {
            Self::Rolling => "rolling",
            Self::BlueGreen => "blueGreen",
            Self::Canary => "canary",
            Self::Linear => "linear",
        }
    }
}

/// `canary`: the share of production traffic the new version gets first, and for how long.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CanarySpec {
    /// Percent of production traffic (0.1 to 100).
    pub percent: f64,
    /// How long the canary bakes before the rest moves (whole minutes, e.g. `5m`).
    pub bake: String,
}

/// `linear`: traffic moves in steps of `stepPercent`, baking `stepBake` after each.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LinearSpec {
    /// Percent of production traffic per step (3 to 100).
    pub step_percent: f64,
    /// Bake after each step (whole minutes).
    pub step_bake: String,
}

/// CloudWatch alarms ECS watches during a deployment (ECS's own alarm rollback).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AlarmsSpec {
    /// Alarm names.
    pub names: Vec<String>,
    /// Roll back when one fires (default true).
    #[serde(default = "yes")]
    pub rollback: bool,
}

fn yes() -> bool {
    true
}

/// Where a deployment waits for `ferry promote` (an ECS `PAUSE` lifecycle hook, resumed with
/// `ContinueServiceDeployment`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum Pause {
    /// The new version runs (with test traffic when a test listener rule is set) but gets no
    /// production traffic until promoted (ECS stage `POST_TEST_TRAFFIC_SHIFT`).
    BeforeTraffic,
    /// All production traffic moved, the old version still up: promote to finish, abort to
    /// move traffic back at once (ECS stage `POST_PRODUCTION_TRAFFIC_SHIFT`).
    AfterTraffic,
}

impl Pause {
    /// The ECS lifecycle stage of the gate.
    pub fn stage(self) -> &'static str {
        match self {
            Self::BeforeTraffic => "POST_TEST_TRAFFIC_SHIFT",
            Self::AfterTraffic => "POST_PRODUCTION_TRAFFIC_SHIFT",
        }
    }
}

/// Metric analysis by Ferry while production traffic moves to the new version.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnalysisSpec {
    /// How often the checks are measured, over the last interval (default `1m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<String>,
    /// Failed measurements tolerated before the deployment is stopped (default 0).
    #[serde(default)]
    pub failure_limit: u32,
    /// What a measurement without data counts as (default `fail`).
    #[serde(default)]
    pub missing_data: MissingData,
    /// `LoadBalancer` dimension (`app/name/id`) for `AWS/ApplicationELB` metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub load_balancer: Option<String>,
    /// The checks.
    pub checks: Vec<AnalysisCheck>,
}

/// Default analysis interval.
pub const DEFAULT_ANALYSIS_INTERVAL: Duration = Duration::from_secs(60);

impl AnalysisSpec {
    /// The measuring interval.
    pub fn interval(&self) -> Duration {
        self.interval
            .as_deref()
            .and_then(|t| humantime::parse_duration(t.trim()).ok())
            .unwrap_or(DEFAULT_ANALYSIS_INTERVAL)
    }
}

/// What a measurement without datapoints counts as.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub enum MissingData {
    /// A failed measurement (a release that stopped answering looks like no data).
    #[default]
    Fail,
    /// Not counted either way.
    Ignore,
}

/// One check: a metric (or a ratio of two) against thresholds.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AnalysisCheck {
    /// Name shown in status and errors.
    pub name: String,
    /// One metric.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric: Option<MetricQuery>,
    /// `numerator / denominator` (a missing numerator with a denominator counts as 0: ALB
    /// publishes no zero error counts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ratio: Option<RatioQuery>,
    /// Fail above this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<f64>,
    /// Fail below this.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min: Option<f64>,
}

/// A ratio of two metrics.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RatioQuery {
    /// Numerator (e.g. `HTTPCode_Target_5XX_Count`, `Sum`).
    pub numerator: MetricQuery,
    /// Denominator (e.g. `RequestCount`, `Sum`).
    pub denominator: MetricQuery,
}

/// A CloudWatch metric and statistic.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MetricQuery {
    /// Namespace (default `AWS/ApplicationELB`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Metric name.
    pub metric_name: String,
    /// Statistic: `Sum` (default), `Average`, `Minimum`, `Maximum`, `SampleCount`, `p99`...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stat: Option<String>,
    /// Dimensions. For `AWS/ApplicationELB`, Ferry adds `LoadBalancer` (the analysis's) and
    /// `TargetGroup` (the target group of the new version) unless given here.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub dimensions: BTreeMap<String, String>,
}

/// The ALB namespace, where Ferry fills in the new version's target group.
pub const ALB_NAMESPACE: &str = "AWS/ApplicationELB";

impl MetricQuery {
    /// The namespace.
    pub fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or(ALB_NAMESPACE)
    }
    /// The statistic.
    pub fn stat(&self) -> &str {
        self.stat.as_deref().unwrap_or("Sum")
    }
}

// ---------------------------------------------------------------------------------------------
// Rendering
