//! Metric analysis by Ferry while a deployment moves traffic: the checks of
//! `spec.deployment.analysis` measured from CloudWatch (one `GetMetricData` call per measurement
//! for every check), each judged against its thresholds ([`measure`]), and the count of failed
//! measurements across one deployment that decides when to stop it ([`AnalysisRun`]).
//!
//! The API seam is [`MetricsApi`] (a supertrait of `EcsApi`, implemented by the SDK, the fake
//! and [`Metered`]). This module decides nothing about the deployment itself: it answers
//! [`Verdict::Continue`] or [`Verdict::Failed`], and the caller stops and rolls back.

mod sdk;

use std::collections::BTreeMap;
use std::future::Future;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ferry_core::progressive::{
    ALB_NAMESPACE, AnalysisCheck, AnalysisSpec, MetricQuery, MissingData,
};
use serde::Serialize;

use crate::api::{ApiResult, EcsApi, Metered};

/// One metric of a `GetMetricData` call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetricQueryInput {
    /// Query id (`m0`, `n1`, `d1`...): the key of the answer.
    pub id: String,
    /// Namespace, e.g. `AWS/ApplicationELB`.
    pub namespace: String,
    /// Metric name, e.g. `RequestCount`.
    pub metric_name: String,
    /// Dimensions (the metric is the one with exactly these).
    pub dimensions: BTreeMap<String, String>,
    /// CloudWatch statistic: `Sum`, `Average`, `Minimum`, `Maximum`, `SampleCount`, `p99`...
    pub stat: String,
    /// Seconds per datapoint (a multiple of 60).
    pub period_secs: u32,
}

/// The CloudWatch call the analysis makes. Every `EcsApi` is one (it is a supertrait).
pub trait MetricsApi: Send + Sync {
    /// `GetMetricData` of `queries` over `[start, end)`, every page: each query's datapoint
    /// values by id (a query without datapoints is absent or empty).
    fn get_metric_data(
        &self,
        queries: &[MetricQueryInput],
        start: SystemTime,
        end: SystemTime,
    ) -> impl Future<Output = ApiResult<BTreeMap<String, Vec<f64>>>> + Send;
}

impl<A: EcsApi> MetricsApi for Metered<A> {
    async fn get_metric_data(
        &self,
        queries: &[MetricQueryInput],
        start: SystemTime,
        end: SystemTime,
    ) -> ApiResult<BTreeMap<String, Vec<f64>>> {
        self.counts().add("GetMetricData");
        self.inner().get_metric_data(queries, start, end).await
    }
}

// ---------------------------------------------------------------------------------------------
// What is measured

/// The new version's load balancer dimensions for `AWS/ApplicationELB` metrics (ARN suffixes:
/// `app/name/id`, `targetgroup/name/id`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AnalysisTarget {
    /// `LoadBalancer` dimension, used when the analysis names none.
    pub load_balancer: Option<String>,
    /// `TargetGroup` dimension: the target group the new version serves from.
    pub target_group: Option<String>,
}

impl AnalysisTarget {
    /// The dimensions of an ALB and a target group given as ARNs (or already as suffixes).
    pub fn from_arns(load_balancer: Option<&str>, target_group: Option<&str>) -> Self {
        Self {
            load_balancer: load_balancer.and_then(arn_suffix),
            target_group: target_group.and_then(arn_suffix),
        }
    }
}

/// The CloudWatch dimension value of an Elastic Load Balancing ARN: `app/name/id` (or
/// `net/name/id`) of a load balancer, `targetgroup/name/id` of a target group. A value already in
/// that shape is returned as it is; anything else is `None`.
pub fn arn_suffix(arn: &str) -> Option<String> {
    let arn = arn.trim();
    let resource = if arn.starts_with("arn:") {
        let parts: Vec<&str> = arn.splitn(6, ':').collect();
        match parts.as_slice() {
            [_, _, "elasticloadbalancing", _, _, resource] => *resource,
            _ => return None,
        }
    } else {
        arn
    };
    let resource = resource.strip_prefix("loadbalancer/").unwrap_or(resource);
    let mut parts = resource.split('/');
    let kind = parts.next()?;
    let named = parts.next().is_some_and(|n| !n.is_empty());
    let id = parts.next().is_some_and(|n| !n.is_empty());
    (["app", "net", "targetgroup"].contains(&kind) && named && id && parts.next().is_none())
        .then(|| resource.to_owned())
}

/// Seconds per datapoint for an interval: rounded up to whole minutes (ALB publishes per
/// minute; CloudWatch's standard resolution is 60 s).
pub fn period_secs(interval: Duration) -> u32 {
    let minutes = interval.as_secs().div_ceil(60).max(1);
    u32::try_from(minutes * 60).unwrap_or(u32::MAX - 59)
}

fn resolved(q: &MetricQuery, spec: &AnalysisSpec, target: &AnalysisTarget) -> MetricQueryInput {
    let mut dimensions = q.dimensions.clone();
    if q.namespace() == ALB_NAMESPACE {
        let load_balancer = spec
            .load_balancer
            .as_deref()
            .map(|lb| arn_suffix(lb).unwrap_or_else(|| lb.to_owned()))
            .or_else(|| target.load_balancer.clone());
        if let Some(lb) = load_balancer {
            dimensions.entry("LoadBalancer".into()).or_insert(lb);
        }
        if let Some(tg) = &target.target_group {
            dimensions
                .entry("TargetGroup".into())
                .or_insert_with(|| tg.clone());
        }
    }
    MetricQueryInput {
        id: String::new(),
        namespace: q.namespace().to_owned(),
        metric_name: q.metric_name.clone(),
        dimensions,
        stat: q.stat().to_owned(),
        period_secs: period_secs(spec.interval()),
    }
}

/// The `GetMetricData` queries of every check, in check order: `m{i}` for check `i`'s metric,
/// `n{i}` and `d{i}` for its ratio's numerator and denominator.
pub fn queries(spec: &AnalysisSpec, target: &AnalysisTarget) -> Vec<MetricQueryInput> {
    let mut out = Vec::new();
    for (i, check) in spec.checks.iter().enumerate() {
        let mut push = |prefix: &str, q: &MetricQuery| {
            out.push(MetricQueryInput {
                id: format!("{prefix}{i}"),
                ..resolved(q, spec, target)
            });
        };
        if let Some(m) = &check.metric {
            push("m", m);
        } else if let Some(r) = &check.ratio {
            push("n", &r.numerator);
            push("d", &r.denominator);
        }
    }
    out
}

/// One window's value from its datapoints (CloudWatch may split the window in two periods):
/// sums and counts add up, minimum and maximum keep the extreme, percentiles keep the highest
/// (the worse half for a latency check), averages are averaged.
fn combine(stat: &str, values: &[f64]) -> Option<f64> {
    let values: Vec<f64> = values.iter().copied().filter(|v| v.is_finite()).collect();
    if values.is_empty() {
        return None;
    }
    Some(match stat {
        "Sum" | "SampleCount" => values.iter().sum(),
        "Minimum" => values.iter().copied().fold(f64::INFINITY, f64::min),
        "Average" => values.iter().sum::<f64>() / values.len() as f64,
        _ => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
    })
}

/// A CloudWatch statistic of raw samples (the fake's, and a reference for tests): percentiles
/// by nearest rank.
pub fn statistic(stat: &str, samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let n = samples.len() as f64;
    match stat {
        "Sum" => Some(samples.iter().sum()),
        "SampleCount" => Some(n),
        "Average" => Some(samples.iter().sum::<f64>() / n),
        "Minimum" => Some(samples.iter().copied().fold(f64::INFINITY, f64::min)),
        "Maximum" => Some(samples.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
        p => {
            let pct: f64 = p.strip_prefix('p')?.parse().ok()?;
            let mut sorted = samples.to_vec();
            sorted.sort_by(f64::total_cmp);
            let rank = (pct / 100.0 * n).ceil().max(1.0) as usize;
            sorted.get(rank.min(sorted.len()) - 1).copied()
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Measuring

/// How one check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub enum Outcome {
    /// Within its thresholds.
    Pass,
    /// Beyond a threshold.
    Fail,
    /// No datapoints in the window (counted per `missingData`).
    NoData,
}

/// One check measured over one interval.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Measurement {
    /// The check's name.
    pub check: String,
    /// The value (`None`: no data).
    pub value: Option<f64>,
    /// Pass, fail or no data.
    pub outcome: Outcome,
    /// E.g. `5xx-ratio = 0.12, above max 0.01`.
    pub message: String,
}

/// A value for people: four significant digits, no trailing zeros.
fn number(v: f64) -> String {
    if v == 0.0 || !v.is_finite() {
        return format!("{v}");
    }
    let decimals = (3 - v.abs().log10().floor() as i32).clamp(0, 12) as usize;
    let text = format!("{v:.decimals$}");
    if text.contains('.') {
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    } else {
        text
    }
}

fn judge(check: &AnalysisCheck, value: Option<f64>, interval: Duration) -> Measurement {
    let name = &check.name;
    let Some(v) = value else {
        return Measurement {
            check: name.clone(),
            value: None,
            outcome: Outcome::NoData,
            message: format!(
                "{name}: no data in the last {}",
                humantime::format_duration(interval)
            ),
        };
    };
    let shown = number(v);
    let (outcome, message) = match (check.min, check.max) {
        (_, Some(max)) if v > max => (Outcome::Fail, format!("{name} = {shown}, above max {max}")),
        (Some(min), _) if v < min => (Outcome::Fail, format!("{name} = {shown}, below min {min}")),
        (Some(min), Some(max)) => (
            Outcome::Pass,
            format!("{name} = {shown}, within min {min} and max {max}"),
        ),
        (None, Some(max)) => (Outcome::Pass, format!("{name} = {shown}, within max {max}")),
        (Some(min), None) => (Outcome::Pass, format!("{name} = {shown}, within min {min}")),
        (None, None) => (Outcome::Pass, format!("{name} = {shown}")),
    };
    Measurement {
        check: name.clone(),
        value: Some(v),
        outcome,
        message,
    }
}

fn value_of(check: &AnalysisCheck, i: usize, data: &BTreeMap<String, Vec<f64>>) -> Option<f64> {
    let series = |id: String, q: &MetricQuery| {
        combine(
            q.stat(),
            data.get(&id).map(Vec::as_slice).unwrap_or_default(),
        )
    };
    if let Some(m) = &check.metric {
        return series(format!("m{i}"), m);
    }
    let r = check.ratio.as_ref()?;
    let denominator = series(format!("d{i}"), &r.denominator).filter(|d| *d != 0.0)?;
    // ALB publishes no zero error counts: requests without a numerator datapoint had none.
    let numerator = series(format!("n{i}"), &r.numerator).unwrap_or(0.0);
    Some(numerator / denominator)
}

/// Measure every check over `[end - interval, end]` with one `GetMetricData` call and judge each
/// against its thresholds. A ratio is numerator / denominator of each side's statistic; no
/// numerator datapoint with a denominator counts as 0, no (or a zero) denominator is no data.
/// (CloudWatch has a minute's ALB datapoints about a minute later: callers may pass an `end`
/// that lags `now` accordingly.)
pub async fn measure<M: MetricsApi + ?Sized>(
    api: &M,
    spec: &AnalysisSpec,
    target: &AnalysisTarget,
    end: SystemTime,
) -> ApiResult<Vec<Measurement>> {
    let interval = spec.interval();
    let start = end.checked_sub(interval).unwrap_or(UNIX_EPOCH);
    let queries = queries(spec, target);
    let data = if queries.is_empty() {
        BTreeMap::new()
    } else {
        api.get_metric_data(&queries, start, end).await?
    };
    Ok(spec
        .checks
        .iter()
        .enumerate()
        .map(|(i, check)| judge(check, value_of(check, i, &data), interval))
        .collect())
}

/// One step of a deployment's analysis: when a measurement is due at `now`, measure over the
/// interval ending at `now` and record it; `None` when not due yet.
pub async fn analyze_if_due<M: MetricsApi + ?Sized>(
    api: &M,
    spec: &AnalysisSpec,
    target: &AnalysisTarget,
    run: &mut AnalysisRun,
    now: SystemTime,
) -> ApiResult<Option<Verdict>> {
    if !run.due(now) {
        return Ok(None);
    }
    let measurements = measure(api, spec, target, now).await?;
    Ok(Some(run.record(spec, now, measurements)))
}

// ---------------------------------------------------------------------------------------------
// Deciding

/// What the analysis says after a measurement.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// Within the failures allowed: let the deployment go on.
    Continue,
    /// Over the failures allowed: stop the deployment and roll back.
    Failed {
        /// E.g. `analysis failed: 5xx-ratio = 0.12, above max 0.01 (2 failed measurements,
        /// 1 allowed)`.
        message: String,
    },
}

/// The analysis of one deployment: failed measurements so far (per check), when it last
/// measured, and what it measured then.
#[derive(Clone, Debug, PartialEq)]
pub struct AnalysisRun {
    interval: Duration,
    started: SystemTime,
    last_measured: Option<SystemTime>,
    failures: BTreeMap<String, u32>,
    last: Vec<Measurement>,
    failed: Option<String>,
}

impl AnalysisRun {
    /// An analysis of a deployment whose traffic started moving at `started`.
    pub fn new(spec: &AnalysisSpec, started: SystemTime) -> Self {
        Self {
            interval: spec.interval(),
            started,
            last_measured: None,
            failures: BTreeMap::new(),
            last: Vec::new(),
            failed: None,
        }
    }

    /// When the next measurement is due: one interval after the last, the first one interval
    /// after traffic started (a window with the new version's traffic in it).
    pub fn next_due(&self) -> SystemTime {
        self.last_measured.unwrap_or(self.started) + self.interval
    }

    /// Whether a measurement is due at `now`.
    pub fn due(&self, now: SystemTime) -> bool {
        now >= self.next_due()
    }

    /// Count the measurements taken at `at`: a failed check counts one failure, a check
    /// without data one under `missingData: fail` and none under `ignore`. `Failed` once a check
    /// has more failures than `failureLimit` (counted per check), naming each such check with
    /// its value and threshold. A failed analysis stays failed.
    pub fn record(
        &mut self,
        spec: &AnalysisSpec,
        at: SystemTime,
        measurements: Vec<Measurement>,
    ) -> Verdict {
        if let Some(message) = &self.failed {
            return Verdict::Failed {
                message: message.clone(),
            };
        }
        for m in &measurements {
            let failed = match m.outcome {
                Outcome::Pass => false,
                Outcome::Fail => true,
                Outcome::NoData => spec.missing_data == MissingData::Fail,
            };
            let count = self.failures.entry(m.check.clone()).or_default();
            if failed {
                *count += 1;
            }
        }
        self.last_measured = Some(at);
        self.last = measurements;
        let limit = spec.failure_limit;
        let over: Vec<String> = self
            .last
            .iter()
            .filter_map(|m| {
                let n = self.failures.get(&m.check).copied().unwrap_or(0);
                (n > limit).then(|| {
                    let plural = if n == 1 { "" } else { "s" };
                    format!(
                        "{} ({n} failed measurement{plural}, {limit} allowed)",
                        m.message
                    )
                })
            })
            .collect();
        if over.is_empty() {
            return Verdict::Continue;
        }
        let message = format!("analysis failed: {}", over.join("; "));
        self.failed = Some(message.clone());
        Verdict::Failed { message }
    }

    /// Failed measurements so far, by check.
    pub fn failures(&self) -> &BTreeMap<String, u32> {
        &self.failures
    }

    /// When it last measured.
    pub fn last_measured(&self) -> Option<SystemTime> {
        self.last_measured
    }

    /// The last measurements (empty before the first).
    pub fn last_measurements(&self) -> &[Measurement] {
        &self.last
    }
}

#[cfg(test)]
mod tests;
