//! Service autoscaling with Application Auto Scaling (the `ecs:service:DesiredCount` of one
//! service): the manifest block (`EcsService.spec.autoscaling`), its rules (at `file:line`), its
//! rendering to `RegisterScalableTarget` / `PutScalingPolicy` / `PutScheduledAction` inputs, the
//! observed shape and the field-by-field diff. Pure: no AWS SDK, no I/O.
//!
//! Ownership: Ferry manages the scalable target of a service it owns when the manifest declares
//! `autoscaling`, and records that on the service itself (tag [`AUTOSCALING_TAG`], read for free
//! with `DescribeServices`). A scalable target registered by someone else on a service whose
//! manifest declares no autoscaling is never touched. While autoscaling is declared,
//! `desiredCount` is only the count at creation: Application Auto Scaling owns it afterwards.

use std::collections::{BTreeMap, BTreeSet};

use crate::kinds::DriftMode;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::kinds::EcsServiceSpec;
use crate::load::{DesiredState, Diagnostic, Loaded};
use crate::plan::Change;

/// Application Auto Scaling's namespace for ECS.
pub const ECS_NAMESPACE: &str = "ecs";
/// The scalable dimension of an ECS service.
pub const DESIRED_COUNT_DIMENSION: &str = "ecs:service:DesiredCount";
/// Tag on an ECS service whose scalable target Ferry manages: `on`, or in drift mode `detect`
/// the [`fingerprint`] of what git declared (to tell drift from a git change, as the service's
/// own desired-hash tag does), or [`AUTOSCALING_OFF`] once Ferry deregistered it.
pub const AUTOSCALING_TAG: &str = "ferry.dev/autoscaling";
/// [`AUTOSCALING_TAG`]'s value after Ferry deregistered the service's target.
pub const AUTOSCALING_OFF: &str = "off";
/// The policy type Ferry writes.
pub const TARGET_TRACKING: &str = "TargetTrackingScaling";
/// Cooldown Application Auto Scaling applies to ECS when none is given (seconds).
pub const DEFAULT_COOLDOWN: u32 = 300;

pub use crate::kinds::autoscaling::*;

/// `RegisterScalableTarget` input (`aws application-autoscaling register-scalable-target
/// --cli-input-json`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RegisterScalableTarget {
    /// `ecs`.
    pub service_namespace: String,
    /// `service/<cluster>/<service>`.
    pub resource_id: String,
    /// `ecs:service:DesiredCount`.
    pub scalable_dimension: String,
    /// Fewest tasks.
    pub min_capacity: u32,
    /// Most tasks.
    pub max_capacity: u32,
    /// Ferry's ownership tags (on creation).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

/// `PredefinedMetricSpecification`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PredefinedMetricSpecification {
    /// e.g. `ECSServiceAverageCPUUtilization`.
    pub predefined_metric_type: String,
    /// ALB request count: `app/<alb>/<id>/targetgroup/<tg>/<id>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_label: Option<String>,
}

/// `TargetTrackingScalingPolicyConfiguration`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TargetTrackingConfiguration {
    /// Value to hold.
    pub target_value: f64,
    /// The metric.
    #[serde(default)]
    pub predefined_metric_specification: PredefinedMetricSpecification,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_out_cooldown: Option<u32>,
    /// Seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scale_in_cooldown: Option<u32>,
    /// Never scale in.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disable_scale_in: Option<bool>,
}

/// `PutScalingPolicy` input (and a policy as `DescribeScalingPolicies` returns it).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutScalingPolicy {
    /// Name.
    pub policy_name: String,
    /// `ecs`.
    pub service_namespace: String,
    /// `service/<cluster>/<service>`.
    pub resource_id: String,
    /// `ecs:service:DesiredCount`.
    pub scalable_dimension: String,
    /// `TargetTrackingScaling` (others are only observed).
    pub policy_type: String,
    /// The target-tracking settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_tracking_scaling_policy_configuration: Option<TargetTrackingConfiguration>,
}

/// `ScalableTargetAction`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ScalableTargetAction {
    /// New minimum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_capacity: Option<u32>,
    /// New maximum.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_capacity: Option<u32>,
}

/// `PutScheduledAction` input (and an action as `DescribeScheduledActions` returns it).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct PutScheduledAction {
    /// `ecs`.
    pub service_namespace: String,
    /// Name.
    pub scheduled_action_name: String,
    /// `service/<cluster>/<service>`.
    pub resource_id: String,
    /// `ecs:service:DesiredCount`.
    pub scalable_dimension: String,
    /// `cron(...)`, `rate(...)` or `at(...)`.
    pub schedule: String,
    /// IANA time zone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// What to set.
    #[serde(default)]
    pub scalable_target_action: ScalableTargetAction,
}

/// Everything Ferry sends to Application Auto Scaling for one service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderedAutoscaling {
    /// `aws application-autoscaling register-scalable-target --cli-input-json`.
    pub register_scalable_target: RegisterScalableTarget,
    /// `aws application-autoscaling put-scaling-policy --cli-input-json`, one per policy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub put_scaling_policies: Vec<PutScalingPolicy>,
    /// `aws application-autoscaling put-scheduled-action --cli-input-json`, one per action.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub put_scheduled_actions: Vec<PutScheduledAction>,
}

/// A scalable target as `DescribeScalableTargets` returns it, with its policies
/// (`DescribeScalingPolicies`) and scheduled actions (`DescribeScheduledActions`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LiveScalableTarget {
    /// `service/<cluster>/<service>`.
    pub resource_id: String,
    /// ARN (absent on older endpoints).
    pub scalable_target_arn: Option<String>,
    /// Fewest tasks.
    pub min_capacity: u32,
    /// Most tasks.
    pub max_capacity: u32,
    /// Its scaling policies.
    pub policies: Vec<PutScalingPolicy>,
    /// Its scheduled actions.
    pub scheduled_actions: Vec<PutScheduledAction>,
}

impl LiveScalableTarget {
    /// A live target exactly as `rendered` would make it (platforms that only pretend).
    pub fn as_rendered(rendered: &RenderedAutoscaling) -> Self {
        let t = &rendered.register_scalable_target;
        Self {
            resource_id: t.resource_id.clone(),
            scalable_target_arn: None,
            min_capacity: t.min_capacity,
            max_capacity: t.max_capacity,
            policies: rendered.put_scaling_policies.clone(),
            scheduled_actions: rendered.put_scheduled_actions.clone(),
        }
    }
}

/// A short stable hash of everything Ferry sends for a service's autoscaling (FNV-1a of its JSON).
pub fn fingerprint(rendered: &RenderedAutoscaling) -> String {
    let text = serde_json::to_string(rendered).unwrap_or_default();
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for byte in text.bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016x}")
}

/// The value of [`AUTOSCALING_TAG`] for a service declaring `rendered`.
pub fn ownership_value(rendered: &RenderedAutoscaling, drift: DriftMode) -> String {
    match drift {
        DriftMode::Heal => "on".into(),
        DriftMode::Detect => fingerprint(rendered),
    }
}

/// `service/<cluster>/<service>`: the resource id of a service's scalable target.
pub fn resource_id(cluster: &str, service: &str) -> String {
    format!("service/{cluster}/{service}")
}

/// The service name of a resource id of `cluster`, if it is one.
pub fn service_of<'a>(cluster: &str, resource_id: &'a str) -> Option<&'a str> {
    resource_id
        .strip_prefix("service/")?
        .strip_prefix(cluster)?
        .strip_prefix('/')
        .filter(|s| !s.is_empty() && !s.contains('/'))
}

/// The tail of an Elastic Load Balancing ARN after `<kind>/`, e.g. `app/web/50dc6c495c0c9188`
/// for a load balancer or `web-tg/6d0ecf831eec9f09` for a target group.
fn elb_resource<'a>(arn: &'a str, kind: &str) -> Option<&'a str> {
    let (head, rest) = arn.split_once(&format!(":{kind}/"))?;
    let ok = head.starts_with("arn:")
        && head.split(':').nth(2) == Some("elasticloadbalancing")
        && !rest.is_empty()
        && !rest.ends_with('/');
    ok.then_some(rest)
}

/// The `ALBRequestCountPerTarget` resource label of a policy on `service`, or why it cannot be
/// made: `app/<alb-name>/<alb-id>/targetgroup/<tg-name>/<tg-id>`.
pub fn alb_resource_label(
    policy: &TargetTrackingSpec,
    service: &EcsServiceSpec,
) -> Result<String, String> {
    if let Some(label) = &policy.resource_label {
        let parts: Vec<&str> = label.split('/').collect();
        return if parts.len() == 6
            && parts[0] == "app"
            && parts[3] == "targetgroup"
            && parts.iter().all(|p| !p.is_empty())
        {
            Ok(label.clone())
        } else {
            Err(format!(
                "resourceLabel `{label}` is not app/<alb-name>/<alb-id>/targetgroup/<tg-name>/<tg-id>"
            ))
        };
    }
    let target_group = match &policy.target_group_arn {
        Some(tg) => {
            if !service
                .load_balancers
                .iter()
                .any(|lb| &lb.target_group_arn == tg)
            {
                return Err(format!(
                    "targetGroupArn `{tg}` is not one of the service's loadBalancers"
                ));
            }
            tg.clone()
        }
        None => match service.load_balancers.as_slice() {
            [only] => only.target_group_arn.clone(),
            [] => {
                return Err(
                    "albRequestsPerTarget needs the service to have a loadBalancers entry".into(),
                );
            }
            _ => {
                return Err(
                    "the service has several target groups: set targetGroupArn to choose one"
                        .into(),
                );
            }
        },
    };
    let Some(tg) = elb_resource(&target_group, "targetgroup") else {
        return Err(format!(
            "target group `{target_group}` is not an elasticloadbalancing targetgroup ARN"
        ));
    };
    let Some(alb) = &policy.load_balancer_arn else {
        return Err(
            "a target group ARN does not name its load balancer: set loadBalancerArn \
                    (the ALB's ARN, e.g. ${alb_arn} from Terraform) or resourceLabel \
                    (app/<alb-name>/<alb-id>/targetgroup/<tg-name>/<tg-id>)"
                .into(),
        );
    };
    match elb_resource(alb, "loadbalancer") {
        Some(lb) if lb.starts_with("app/") && lb.split('/').count() == 3 => {
            Ok(format!("{lb}/targetgroup/{tg}"))
        }
        _ => Err(format!(
            "loadBalancerArn `{alb}` is not an application load balancer ARN (…:loadbalancer/app/<name>/<id>)"
        )),
    }
}

/// Everything Ferry would send to Application Auto Scaling for `svc`, if it declares autoscaling.
/// The ownership tags go on the scalable target at registration.
pub fn render(
    cluster: &str,
    svc: &Loaded<EcsServiceSpec>,
    tags: &BTreeMap<String, String>,
) -> Option<RenderedAutoscaling> {
    let spec = svc.spec.autoscaling.as_ref()?;
    let resource_id = resource_id(cluster, &svc.name);
    let common = |name: &str| (ECS_NAMESPACE.to_owned(), name.to_owned());
    let policies = spec
        .target_tracking
        .iter()
        .map(|p| {
            let (service_namespace, policy_name) = common(&p.policy_name());
            PutScalingPolicy {
                policy_name,
                service_namespace,
                resource_id: resource_id.clone(),
                scalable_dimension: DESIRED_COUNT_DIMENSION.into(),
                policy_type: TARGET_TRACKING.into(),
                target_tracking_scaling_policy_configuration: Some(TargetTrackingConfiguration {
                    target_value: p.target,
                    predefined_metric_specification: PredefinedMetricSpecification {
                        predefined_metric_type: p.metric.metric_type().into(),
                        resource_label: (p.metric == ScalingMetric::AlbRequestsPerTarget)
                            .then(|| alb_resource_label(p, &svc.spec).unwrap_or_default()),
                    },
                    scale_out_cooldown: p.scale_out_cooldown,
                    scale_in_cooldown: p.scale_in_cooldown,
                    disable_scale_in: p.disable_scale_in.then_some(true),
                }),
            }
        })
        .collect();
    let actions = spec
        .scheduled
        .iter()
        .map(|a| PutScheduledAction {
            service_namespace: ECS_NAMESPACE.into(),
            scheduled_action_name: a.name.clone(),
            resource_id: resource_id.clone(),
            scalable_dimension: DESIRED_COUNT_DIMENSION.into(),
            schedule: a.schedule.clone(),
            timezone: a.timezone.clone(),
            scalable_target_action: ScalableTargetAction {
                min_capacity: a.min_capacity,
                max_capacity: a.max_capacity,
            },
        })
        .collect();
    Some(RenderedAutoscaling {
        register_scalable_target: RegisterScalableTarget {
            service_namespace: ECS_NAMESPACE.into(),
            resource_id: resource_id.clone(),
            scalable_dimension: DESIRED_COUNT_DIMENSION.into(),
            min_capacity: spec.min_capacity,
            max_capacity: spec.max_capacity,
            tags: tags.clone(),
        },
        put_scaling_policies: policies,
        put_scheduled_actions: actions,
    })
}

/// The desired count a service is created with: `desiredCount`, kept within the autoscaling
/// bounds when autoscaling is declared (Application Auto Scaling would move it there at once).
pub fn initial_count(spec: &EcsServiceSpec) -> u32 {
    match &spec.autoscaling {
        Some(a) if a.min_capacity <= a.max_capacity => {
            spec.desired_count.clamp(a.min_capacity, a.max_capacity)
        }
        _ => spec.desired_count,
    }
}

/// The policy (`policies`) or scheduled action (`scheduledActions`) names a change touches.
pub fn touched_names(change: &Change, section: &str) -> BTreeSet<String> {
    let prefix = format!("{section}.");
    change
        .fields
        .iter()
        .filter_map(|f| {
            let rest = f.path.strip_prefix(&prefix)?;
            // A whole policy or action that only exists live is one field named by it.
            if f.desired.is_none() && f.live.as_ref().is_some_and(Value::is_object) {
                return Some(rest.to_owned());
            }
            rest.rsplit_once('.').map(|(name, _)| name.to_owned())
        })
        .collect()
}

fn is_action_name(name: &str) -> bool {
    (1..=256).contains(&name.len())
        && !name.starts_with(' ')
        && !name.ends_with(' ')
        && !name.chars().any(|c| c.is_control() || ":/|".contains(c))
}

/// Whether `schedule` is `at(yyyy-mm-ddThh:mm:ss)`, `rate(n unit)` or a 6-field `cron(...)`.
pub fn check_schedule(schedule: &str) -> Result<(), String> {
    let inner = |prefix: &str| {
        schedule
            .strip_prefix(prefix)
            .and_then(|s| s.strip_suffix(')'))
    };
    if let Some(at) = inner("at(") {
        let b = at.as_bytes();
        let digits = |r: std::ops::Range<usize>| r.clone().all(|i| b[i].is_ascii_digit());
        let ok = b.len() == 19
            && digits(0..4)
            && b[4] == b'-'
            && digits(5..7)
            && b[7] == b'-'
            && digits(8..10)
            && b[10] == b'T'
            && digits(11..13)
            && b[13] == b':'
            && digits(14..16)
            && b[16] == b':'
            && digits(17..19);
        return if ok {
            Ok(())
        } else {
            Err(format!(
                "`{schedule}`: at() takes yyyy-mm-ddThh:mm:ss, e.g. at(2026-12-24T18:00:00)"
            ))
        };
    }
    if let Some(rate) = inner("rate(") {
        let mut parts = rate.split(' ');
        let (Some(n), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
            return Err(format!(
                "`{schedule}`: rate() takes a number and a unit, e.g. rate(5 minutes)"
            ));
        };
        let Ok(n) = n.parse::<u32>() else {
            return Err(format!(
                "`{schedule}`: `{n}` is not a positive whole number"
            ));
        };
        let units: &[&str] = if n == 1 {
            &["minute", "hour", "day"]
        } else {
            &["minutes", "hours", "days"]
        };
        return if n > 0 && units.contains(&unit) {
            Ok(())
        } else {
            Err(format!(
                "`{schedule}`: the unit must be {} for {n}",
                units.join(", ")
            ))
        };
    }
    if let Some(cron) = inner("cron(") {
        let fields: Vec<&str> = cron.split_whitespace().collect();
        let allowed = |f: &str| {
            !f.is_empty()
                && f.chars()
                    .all(|c| c.is_ascii_alphanumeric() || ",-*?/LW#".contains(c))
        };
        return if fields.len() == 6 && fields.iter().all(|f| allowed(f)) {
            Ok(())
        } else {
            Err(format!(
                "`{schedule}`: cron() takes 6 fields (minutes hours day-of-month month day-of-week year), e.g. cron(0 20 * * ? *)"
            ))
        };
    }
    Err(format!(
        "`{schedule}` is not cron(...), rate(...) or at(...)"
    ))
}

fn is_timezone(tz: &str) -> bool {
    (1..=64).contains(&tz.len())
        && tz.split('/').all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_+-".contains(c))
        })
        && tz.starts_with(|c: char| c.is_ascii_uppercase())
}

/// Every rule of `spec.autoscaling` of every service, at `file:line`.
pub fn validate(state: &DesiredState) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for svc in state.services.values() {
        validate_service(svc, &mut out);
    }
    out
}

fn validate_service(svc: &Loaded<EcsServiceSpec>, out: &mut Vec<Diagnostic>) {
    let d = |path: &str, msg: String| svc.origins.diagnostic(path, msg);
    if svc.spec.tags.contains_key(AUTOSCALING_TAG) {
        out.push(d(
            &format!("spec.tags.{AUTOSCALING_TAG}"),
            format!("tag `{AUTOSCALING_TAG}` is reserved"),
        ));
    }
    let Some(a) = &svc.spec.autoscaling else {
        return;
    };
    const MAX_TASKS: u32 = 5000;
    if a.max_capacity == 0 {
        out.push(d(
            "spec.autoscaling.maxCapacity",
            "maxCapacity must be at least 1".into(),
        ));
    }
    if a.max_capacity > MAX_TASKS {
        out.push(d(
            "spec.autoscaling.maxCapacity",
            format!(
                "{} is above ECS's {MAX_TASKS} tasks per service",
                a.max_capacity
            ),
        ));
    }
    if a.min_capacity > a.max_capacity {
        out.push(d(
            "spec.autoscaling.minCapacity",
            format!(
                "minCapacity {} is above maxCapacity {}",
                a.min_capacity, a.max_capacity
            ),
        ));
    }
    let mut names: BTreeMap<String, usize> = BTreeMap::new();
    for (i, p) in a.target_tracking.iter().enumerate() {
        let path = format!("spec.autoscaling.targetTracking[{i}]");
        let name = p.policy_name();
        if !(1..=256).contains(&name.len()) || name.chars().any(char::is_control) {
            out.push(d(
                &format!("{path}.name"),
                format!(
                    "policy name `{}` must be 1-256 printable characters",
                    name.escape_debug()
                ),
            ));
        }
        if let Some(first) = names.insert(name.clone(), i) {
            out.push(d(
                &format!("{path}.name"),
                format!(
                    "policy name `{name}` is already used by targetTracking[{first}]{}",
                    if p.name.is_none() {
                        " (the name defaults to the metric: set `name` to tell them apart)"
                    } else {
                        ""
                    }
                ),
            ));
        }
        match p.metric {
            ScalingMetric::Cpu | ScalingMetric::Memory => {
                if !(p.target > 0.0 && p.target <= 100.0) {
                    out.push(d(
                        &format!("{path}.target"),
                        format!("{} is not a utilization percentage in (0, 100]", p.target),
                    ));
                }
                for (field, set) in [
                    ("targetGroupArn", p.target_group_arn.is_some()),
                    ("loadBalancerArn", p.load_balancer_arn.is_some()),
                    ("resourceLabel", p.resource_label.is_some()),
                ] {
                    if set {
                        out.push(d(
                            &format!("{path}.{field}"),
                            format!("{field} only applies to metric albRequestsPerTarget"),
                        ));
                    }
                }
            }
            ScalingMetric::AlbRequestsPerTarget => {
                if !(p.target.is_finite() && p.target > 0.0) {
                    out.push(d(
                        &format!("{path}.target"),
                        format!("{} is not a positive number of requests per task", p.target),
                    ));
                }
                if let Err(msg) = alb_resource_label(p, &svc.spec) {
                    out.push(d(&path, msg));
                }
            }
        }
        for (field, value) in [
            ("scaleInCooldown", p.scale_in_cooldown),
            ("scaleOutCooldown", p.scale_out_cooldown),
        ] {
            if let Some(v) = value
                && v > 86_400
            {
                out.push(d(
                    &format!("{path}.{field}"),
                    format!("{v} seconds is more than a day"),
                ));
            }
        }
    }
    let mut actions: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, s) in a.scheduled.iter().enumerate() {
        let path = format!("spec.autoscaling.scheduled[{i}]");
        if !is_action_name(&s.name) {
            out.push(d(
                &format!("{path}.name"),
                format!(
                    "scheduled action name `{}` must be 1-256 characters without : / | or control characters",
                    s.name.escape_debug()
                ),
            ));
        }
        if let Some(first) = actions.insert(&s.name, i) {
            out.push(d(
                &format!("{path}.name"),
                format!(
                    "scheduled action name `{}` is already used by scheduled[{first}]",
                    s.name
                ),
            ));
        }
        if let Err(msg) = check_schedule(&s.schedule) {
            out.push(d(&format!("{path}.schedule"), msg));
        }
        if let Some(tz) = &s.timezone
            && !is_timezone(tz)
        {
            out.push(d(
                &format!("{path}.timezone"),
                format!(
                    "`{}` is not an IANA time zone name like UTC or Europe/Berlin",
                    tz.escape_debug()
                ),
            ));
        }
        match (s.min_capacity, s.max_capacity) {
            (None, None) => out.push(d(
                &path,
                "a scheduled action sets minCapacity, maxCapacity or both".into(),
            )),
            (Some(min), Some(max)) if min > max => out.push(d(
                &format!("{path}.minCapacity"),
                format!("minCapacity {min} is above maxCapacity {max}"),
            )),
            _ => {}
        }
        if let Some(max) = s.max_capacity
            && max > MAX_TASKS
        {
            out.push(d(
                &format!("{path}.maxCapacity"),
                format!("{max} is above ECS's {MAX_TASKS} tasks per service"),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schedules() {
        for ok in [
            "cron(0 20 * * ? *)",
            "cron(15 10 ? * MON-FRI *)",
            "rate(5 minutes)",
            "rate(1 hour)",
            "at(2026-12-24T18:00:00)",
        ] {
            assert_eq!(check_schedule(ok), Ok(()), "{ok}");
        }
        for bad in [
            "cron(0 20 * * ?)",
            "rate(1 hours)",
            "rate(0 minutes)",
            "rate(five minutes)",
            "at(2026-12-24 18:00)",
            "every day",
            "cron(0 20 * * ? *",
        ] {
            assert!(check_schedule(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn resource_ids_round_trip() {
        assert_eq!(resource_id("c", "web"), "service/c/web");
        assert_eq!(service_of("c", "service/c/web"), Some("web"));
        assert_eq!(service_of("c", "service/cd/web"), None);
        assert_eq!(service_of("c", "service/c/"), None);
    }

    #[test]
    fn alb_label_is_derived_from_the_alb_and_target_group_arns() {
        let service = EcsServiceSpec {
            load_balancers: vec![crate::kinds::LoadBalancerSpec {
                target_group_arn:
                    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/6d0ecf831eec9f09"
                        .into(),
                container_name: "proxy".into(),
                container_port: 8000,
                ..crate::kinds::LoadBalancerSpec::default()
            }],
            ..EcsServiceSpec::default()
        };
        let mut policy = TargetTrackingSpec {
            name: None,
            metric: ScalingMetric::AlbRequestsPerTarget,
            target: 100.0,
            scale_in_cooldown: None,
            scale_out_cooldown: None,
            disable_scale_in: false,
            target_group_arn: None,
            load_balancer_arn: None,
            resource_label: None,
        };
        let err = alb_resource_label(&policy, &service).unwrap_err();
        assert!(err.contains("loadBalancerArn"), "{err}");
        policy.load_balancer_arn = Some(
            "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/numbers/50dc6c495c0c9188"
                .into(),
        );
        assert_eq!(
            alb_resource_label(&policy, &service).as_deref(),
            Ok("app/numbers/50dc6c495c0c9188/targetgroup/web/6d0ecf831eec9f09")
        );
        policy.load_balancer_arn =
            Some("arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/net/n/1".into());
        assert!(alb_resource_label(&policy, &service).is_err());
        policy.resource_label = Some("app/a/1/targetgroup/t/2".into());
        assert_eq!(
            alb_resource_label(&policy, &service).as_deref(),
            Ok("app/a/1/targetgroup/t/2")
        );
    }
}
