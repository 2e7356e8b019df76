//! Progressive delivery on ECS: the manifest's deployment strategies (ECS's native
//! `BLUE_GREEN`, `CANARY` and `LINEAR`, with bake time, CloudWatch alarm rollback, a manual gate
//! through a lifecycle hook), the metric analysis Ferry runs itself while traffic moves, their
//! rules (refused at `file:line` where ECS would refuse them) and their rendering into ECS's
//! `deploymentConfiguration` / `loadBalancers[].advancedConfiguration`.
//!
//! Pure: no AWS SDK, no I/O. The ECS platform follows the deployments and evaluates the
//! analysis (controller/ecs).

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::kinds::{DeploymentSpec, EcsServiceSpec, PlatformKind};
use crate::load::{DesiredState, Diagnostic, Loaded};
use crate::printable::{HIDDEN, quote};

pub use crate::kinds::progressive::*;

/// `deploymentConfiguration.canaryConfiguration`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CanaryConfiguration {
    /// Percent.
    pub canary_percent: f64,
    /// Minutes.
    pub canary_bake_time_in_minutes: i32,
}

/// `deploymentConfiguration.linearConfiguration`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LinearConfiguration {
    /// Percent.
    pub step_percent: f64,
    /// Minutes.
    pub step_bake_time_in_minutes: i32,
}

/// `deploymentConfiguration.alarms`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeploymentAlarms {
    /// Names.
    pub alarm_names: Vec<String>,
    /// Watched.
    pub enable: bool,
    /// Roll back when one fires.
    pub rollback: bool,
}

/// `deploymentConfiguration.lifecycleHooks` entry (Ferry renders `PAUSE` hooks: ECS holds the
/// deployment until `ContinueServiceDeployment`).
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LifecycleHook {
    /// `PAUSE` or `AWS_LAMBDA`.
    pub target_type: String,
    /// Lambda ARN (Lambda hooks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hook_target_arn: Option<String>,
    /// Role ECS assumes (Lambda hooks).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    /// Stages.
    pub lifecycle_stages: Vec<String>,
}

/// `loadBalancers[].advancedConfiguration`.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AdvancedConfiguration {
    /// The second target group.
    pub alternate_target_group_arn: String,
    /// Listener rule of production traffic.
    pub production_listener_rule: String,
    /// Listener rule of test traffic.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test_listener_rule: Option<String>,
    /// Role ECS assumes to move traffic.
    pub role_arn: String,
}

/// The strategy fields of `deploymentConfiguration` (absent for a rolling service, so
/// rolling services render exactly as before).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct StrategyConfiguration {
    /// `BLUE_GREEN`, `CANARY` or `LINEAR` (`None`: ECS's `ROLLING`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub strategy: Option<String>,
    /// Minutes both versions stay up after all traffic moved.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bake_time_in_minutes: Option<i32>,
    /// Canary.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub canary_configuration: Option<CanaryConfiguration>,
    /// Linear.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub linear_configuration: Option<LinearConfiguration>,
    /// Alarms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub alarms: Option<DeploymentAlarms>,
    /// Hooks (the manual gate).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub lifecycle_hooks: Vec<LifecycleHook>,
}

/// Whole minutes of a manifest duration (`5m`, `90s` is refused by validation).
pub fn minutes(text: &str) -> Option<i32> {
    let d = humantime::parse_duration(text.trim()).ok()?;
    (d.as_secs() % 60 == 0)
        .then(|| i32::try_from(d.as_secs() / 60).ok())
        .flatten()
}

/// The strategy part of the service's `deploymentConfiguration`.
pub fn render_strategy(dep: Option<&DeploymentSpec>) -> StrategyConfiguration {
    let Some(dep) = dep else {
        return StrategyConfiguration::default();
    };
    let strategy = dep.strategy.unwrap_or_default();
    let alarms = dep.alarms.as_ref().map(|a| DeploymentAlarms {
        alarm_names: a.names.clone(),
        enable: true,
        rollback: a.rollback,
    });
    if strategy == Strategy::Rolling {
        return StrategyConfiguration {
            alarms,
            ..StrategyConfiguration::default()
        };
    }
    StrategyConfiguration {
        strategy: Some(strategy.as_ecs().into()),
        bake_time_in_minutes: Some(dep.bake_time.as_deref().and_then(minutes).unwrap_or(0)),
        canary_configuration: (strategy == Strategy::Canary).then(|| {
            let c = dep.canary.clone().unwrap_or_default();
            CanaryConfiguration {
                canary_percent: c.percent,
                canary_bake_time_in_minutes: minutes(&c.bake).unwrap_or(0),
            }
        }),
        linear_configuration: (strategy == Strategy::Linear).then(|| {
            let l = dep.linear.clone().unwrap_or_default();
            LinearConfiguration {
                step_percent: l.step_percent,
                step_bake_time_in_minutes: minutes(&l.step_bake).unwrap_or(0),
            }
        }),
        alarms,
        lifecycle_hooks: dep
            .pause
            .map(|p| LifecycleHook {
                target_type: "PAUSE".into(),
                lifecycle_stages: vec![p.stage().into()],
                ..LifecycleHook::default()
            })
            .into_iter()
            .collect(),
    }
}

/// The strategy fields in diff's shape. `desired` decides what is compared: ECS fills in
/// defaults Ferry never sent (alarms off, a bake of 0), which are no drift.
pub fn normalize(
    live: &StrategyConfiguration,
    desired: &StrategyConfiguration,
) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert(
        "strategy".into(),
        json!(live.strategy.clone().unwrap_or_else(|| "ROLLING".into())),
    );
    if desired.strategy.is_some() {
        m.insert(
            "bakeTimeInMinutes".into(),
            json!(live.bake_time_in_minutes.unwrap_or(0)),
        );
        if let Some(c) = &live.canary_configuration {
            m.insert(
                "canary".into(),
                json!([c.canary_percent, c.canary_bake_time_in_minutes]),
            );
        }
        if let Some(l) = &live.linear_configuration {
            m.insert(
                "linear".into(),
                json!([l.step_percent, l.step_bake_time_in_minutes]),
            );
        }
    }
    let alarms = live
        .alarms
        .as_ref()
        .filter(|a| a.enable && !a.alarm_names.is_empty());
    if desired.alarms.is_some() || alarms.is_some() {
        let mut names = alarms.map(|a| a.alarm_names.clone()).unwrap_or_default();
        names.sort();
        m.insert(
            "alarms".into(),
            json!({"names": names, "rollback": alarms.is_some_and(|a| a.rollback)}),
        );
    }
    if !desired.lifecycle_hooks.is_empty() || !live.lifecycle_hooks.is_empty() {
        let mut hooks = live.lifecycle_hooks.clone();
        hooks.sort();
        m.insert("lifecycleHooks".into(), json!(hooks));
    }
    m
}

/// The service's strategy.
pub fn strategy_of(spec: &EcsServiceSpec) -> Strategy {
    spec.deployment
        .as_ref()
        .and_then(|d| d.strategy)
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------------------------
// Rules

/// Every rule of this module's fields, over every service of `state`.
pub fn validate(state: &DesiredState) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    let ecs = state.environment.spec.platform == PlatformKind::Ecs;
    for svc in state.services.values() {
        validate_service(svc, ecs, &mut out);
    }
    out
}

fn shown(svc: &Loaded<EcsServiceSpec>, path: &str, value: &str) -> String {
    if svc.origins.is_substituted(path) {
        HIDDEN.to_owned()
    } else {
        quote(value)
    }
}

fn validate_service(svc: &Loaded<EcsServiceSpec>, ecs: bool, out: &mut Vec<Diagnostic>) {
    let spec = &svc.spec;
    let d = |path: &str, msg: String| svc.origins.diagnostic(path, msg);
    let arn = |path: &str, value: &str, out: &mut Vec<Diagnostic>| {
        if !value.starts_with("arn:") {
            out.push(d(
                path,
                format!("{} is not an ARN", shown(svc, path, value)),
            ));
        }
    };
    let whole_minutes =
        |path: &str, text: &str, max: i32, out: &mut Vec<Diagnostic>| match minutes(text) {
            Some(m) if (0..=max).contains(&m) => {}
            Some(m) => out.push(d(path, format!("{m} minutes is outside ECS's 0-{max}"))),
            None => out.push(d(
                path,
                format!(
                    "{} is not a whole number of minutes (e.g. `5m`): ECS bakes in minutes",
                    shown(svc, path, text)
                ),
            )),
        };
    for (i, lb) in spec.load_balancers.iter().enumerate() {
        let path = format!("spec.loadBalancers[{i}]");
        for (field, value) in [
            ("alternateTargetGroupArn", &lb.alternate_target_group_arn),
            ("productionListenerRule", &lb.production_listener_rule),
            ("testListenerRule", &lb.test_listener_rule),
            ("roleArn", &lb.role_arn),
        ] {
            if let Some(v) = value {
                arn(&format!("{path}.{field}"), v, out);
            }
        }
        if lb.alternate_target_group_arn.is_some()
            && lb.alternate_target_group_arn.as_deref() == Some(lb.target_group_arn.as_str())
        {
            out.push(d(
                &format!("{path}.alternateTargetGroupArn"),
                "the alternate target group is the primary one: blue and green need two".into(),
            ));
        }
        let required = [
            ("alternateTargetGroupArn", &lb.alternate_target_group_arn),
            ("productionListenerRule", &lb.production_listener_rule),
            ("roleArn", &lb.role_arn),
        ];
        if required.iter().any(|(_, v)| v.is_some()) || lb.test_listener_rule.is_some() {
            for (field, value) in required {
                if value.is_none() {
                    out.push(d(
                        &path,
                        format!(
                            "`{field}` is missing: an advanced load balancer configuration needs alternateTargetGroupArn, productionListenerRule and roleArn"
                        ),
                    ));
                }
            }
        }
    }
    let Some(dep) = &spec.deployment else {
        return;
    };
    let strategy = dep.strategy.unwrap_or_default();
    let at = "spec.deployment";
    if strategy != Strategy::Rolling && !ecs {
        out.push(d(
            &format!("{at}.strategy"),
            format!(
                "`{}` is an ECS deployment strategy; the local platform only replaces processes in place (use `rolling` or leave it out)",
                strategy.as_manifest()
            ),
        ));
    }
    if let Some(b) = &dep.bake_time {
        whole_minutes(&format!("{at}.bakeTime"), b, 1440, out);
        if strategy == Strategy::Rolling {
            out.push(d(
                &format!("{at}.bakeTime"),
                "bakeTime needs strategy blueGreen, canary or linear".into(),
            ));
        }
    }
    match (strategy, &dep.canary) {
        (Strategy::Canary, None) => out.push(d(
            &format!("{at}.strategy"),
            "strategy canary needs `canary: {percent, bake}`".into(),
        )),
        (Strategy::Canary, Some(c)) => {
            if !(0.1..=100.0).contains(&c.percent) {
                out.push(d(
                    &format!("{at}.canary.percent"),
                    format!("{} is outside ECS's 0.1-100", c.percent),
                ));
            }
            whole_minutes(&format!("{at}.canary.bake"), &c.bake, 1440, out);
        }
        (_, Some(_)) => out.push(d(
            &format!("{at}.canary"),
            "`canary` is set but the strategy is not canary".into(),
        )),
        _ => {}
    }
    match (strategy, &dep.linear) {
        (Strategy::Linear, None) => out.push(d(
            &format!("{at}.strategy"),
            "strategy linear needs `linear: {stepPercent, stepBake}`".into(),
        )),
        (Strategy::Linear, Some(l)) => {
            if !(3.0..=100.0).contains(&l.step_percent) {
                out.push(d(
                    &format!("{at}.linear.stepPercent"),
                    format!("{} is outside ECS's 3-100", l.step_percent),
                ));
            }
            whole_minutes(&format!("{at}.linear.stepBake"), &l.step_bake, 1440, out);
        }
        (_, Some(_)) => out.push(d(
            &format!("{at}.linear"),
            "`linear` is set but the strategy is not linear".into(),
        )),
        _ => {}
    }
    if strategy != Strategy::Rolling {
        if spec.load_balancers.is_empty() {
            out.push(d(
                &format!("{at}.strategy"),
                format!(
                    "strategy {} moves load balancer traffic: the service needs a loadBalancers entry with alternateTargetGroupArn, productionListenerRule and roleArn",
                    strategy.as_manifest()
                ),
            ));
        }
        for (i, lb) in spec.load_balancers.iter().enumerate() {
            if lb.alternate_target_group_arn.is_none() {
                out.push(d(
                    &format!("spec.loadBalancers[{i}]"),
                    format!(
                        "strategy {} needs an alternate target group here (alternateTargetGroupArn, productionListenerRule, roleArn)",
                        strategy.as_manifest()
                    ),
                ));
            }
        }
    }
    if let Some(a) = &dep.alarms {
        if a.names.is_empty() {
            out.push(d(
                &format!("{at}.alarms.names"),
                "no alarm names: leave `alarms` out instead".into(),
            ));
        }
        if a.names.len() > 10 {
            out.push(d(
                &format!("{at}.alarms.names"),
                format!("{} alarms, over ECS's 10", a.names.len()),
            ));
        }
        for (i, n) in a.names.iter().enumerate() {
            if n.trim().is_empty() || n.len() > 255 {
                out.push(d(
                    &format!("{at}.alarms.names[{i}]"),
                    "an alarm name is 1-255 characters".into(),
                ));
            }
        }
    }
    if dep.pause.is_some() && strategy == Strategy::Rolling {
        out.push(d(
            &format!("{at}.pause"),
            "pause needs strategy blueGreen, canary or linear (a rolling deployment has no lifecycle stages to hold)".into(),
        ));
    }
    if let Some(a) = &dep.analysis {
        validate_analysis(svc, a, strategy, out);
    }
}

fn validate_analysis(
    svc: &Loaded<EcsServiceSpec>,
    a: &AnalysisSpec,
    strategy: Strategy,
    out: &mut Vec<Diagnostic>,
) {
    let d = |path: &str, msg: String| svc.origins.diagnostic(path, msg);
    let at = "spec.deployment.analysis";
    if strategy == Strategy::Rolling {
        out.push(d(
            at,
            "analysis runs while traffic moves: it needs strategy blueGreen, canary or linear"
                .into(),
        ));
    }
    if let Some(i) = &a.interval {
        match humantime::parse_duration(i.trim()) {
            Ok(d2) if d2 >= Duration::from_secs(1) && d2 <= Duration::from_secs(3600) => {}
            Ok(_) => out.push(d(
                &format!("{at}.interval"),
                format!(
                    "{} is outside 1s-1h",
                    shown(svc, &format!("{at}.interval"), i)
                ),
            )),
            Err(e) => out.push(d(
                &format!("{at}.interval"),
                format!(
                    "{} is not a duration ({e})",
                    shown(svc, &format!("{at}.interval"), i)
                ),
            )),
        }
    }
    if a.checks.is_empty() {
        out.push(d(&format!("{at}.checks"), "no checks".into()));
    }
    let mut seen = std::collections::BTreeSet::new();
    for (i, c) in a.checks.iter().enumerate() {
        let path = format!("{at}.checks[{i}]");
        if c.name.trim().is_empty() {
            out.push(d(&format!("{path}.name"), "a check needs a name".into()));
        } else if !seen.insert(c.name.clone()) {
            out.push(d(
                &format!("{path}.name"),
                format!("another check is named {}", quote(&c.name)),
            ));
        }
        match (&c.metric, &c.ratio) {
            (Some(_), Some(_)) => out.push(d(
                &path,
                "a check has either `metric` or `ratio`, not both".into(),
            )),
            (None, None) => out.push(d(&path, "a check needs `metric` or `ratio`".into())),
            (Some(m), None) => metric(svc, m, &format!("{path}.metric"), out),
            (None, Some(r)) => {
                metric(svc, &r.numerator, &format!("{path}.ratio.numerator"), out);
                metric(
                    svc,
                    &r.denominator,
                    &format!("{path}.ratio.denominator"),
                    out,
                );
            }
        }
        match (c.min, c.max) {
            (None, None) => out.push(d(&path, "a check needs `max` or `min`".into())),
            (Some(lo), Some(hi)) if lo > hi => out.push(d(
                &format!("{path}.min"),
                format!("min {lo} is above max {hi}"),
            )),
            _ => {}
        }
        for (field, v) in [("max", c.max), ("min", c.min)] {
            if v.is_some_and(|v| !v.is_finite()) {
                out.push(d(&format!("{path}.{field}"), "not a finite number".into()));
            }
        }
    }
}

fn metric(svc: &Loaded<EcsServiceSpec>, m: &MetricQuery, path: &str, out: &mut Vec<Diagnostic>) {
    let d = |p: &str, msg: String| svc.origins.diagnostic(p, msg);
    if m.metric_name.trim().is_empty() || m.metric_name.len() > 255 {
        out.push(d(
            &format!("{path}.metricName"),
            "a metric name is 1-255 characters".into(),
        ));
    }
    if let Some(ns) = &m.namespace
        && (ns.trim().is_empty() || ns.len() > 255)
    {
        out.push(d(
            &format!("{path}.namespace"),
            "a namespace is 1-255 characters".into(),
        ));
    }
    let stat = m.stat();
    let plain = ["Sum", "Average", "Minimum", "Maximum", "SampleCount"].contains(&stat);
    let percentile = stat
        .strip_prefix('p')
        .and_then(|n| n.parse::<f64>().ok())
        .is_some_and(|n| (0.0..=100.0).contains(&n));
    if !plain && !percentile {
        out.push(d(
            &format!("{path}.stat"),
            format!(
                "{} is not Sum, Average, Minimum, Maximum, SampleCount or a percentile like p99",
                quote(stat)
            ),
        ));
    }
    if m.dimensions.len() > 30 {
        out.push(d(
            &format!("{path}.dimensions"),
            "over CloudWatch's 30 dimensions".into(),
        ));
    }
}
