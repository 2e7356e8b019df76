//! The diff of a service's scalable target: desired (rendered) and live normalized to one
//! shape (Application Auto Scaling's defaults made explicit), then compared field by field.

use serde_json::{Map, Value, json};

use crate::autoscaling::{
    DEFAULT_COOLDOWN, LiveScalableTarget, PutScalingPolicy, PutScheduledAction, RenderedAutoscaling,
};
use crate::kinds::ADOPT_ANNOTATION;
use crate::live::{ActualState, LiveService};
use crate::load::DesiredState;
use crate::plan::{Change, FieldDiff, Op, ResourceKey, ResourceKind};
use crate::render::Rendered;

fn policy_value(p: &PutScalingPolicy) -> Value {
    let mut m = Map::new();
    m.insert("policyType".into(), json!(p.policy_type));
    if let Some(c) = &p.target_tracking_scaling_policy_configuration {
        let metric = &c.predefined_metric_specification;
        m.insert("metric".into(), json!(metric.predefined_metric_type));
        if let Some(label) = metric.resource_label.as_ref().filter(|l| !l.is_empty()) {
            m.insert("resourceLabel".into(), json!(label));
        }
        m.insert("targetValue".into(), json!(c.target_value));
        m.insert(
            "scaleInCooldown".into(),
            json!(c.scale_in_cooldown.unwrap_or(DEFAULT_COOLDOWN)),
        );
        m.insert(
            "scaleOutCooldown".into(),
            json!(c.scale_out_cooldown.unwrap_or(DEFAULT_COOLDOWN)),
        );
        m.insert(
            "disableScaleIn".into(),
            json!(c.disable_scale_in.unwrap_or(false)),
        );
    }
    Value::Object(m)
}

fn action_value(a: &PutScheduledAction) -> Value {
    let mut m = Map::new();
    m.insert("schedule".into(), json!(a.schedule));
    m.insert(
        "timezone".into(),
        json!(a.timezone.clone().unwrap_or_else(|| "UTC".into())),
    );
    let t = &a.scalable_target_action;
    if let Some(min) = t.min_capacity {
        m.insert("minCapacity".into(), json!(min));
    }
    if let Some(max) = t.max_capacity {
        m.insert("maxCapacity".into(), json!(max));
    }
    Value::Object(m)
}

fn normalized(
    min: u32,
    max: u32,
    policies: &[PutScalingPolicy],
    actions: &[PutScheduledAction],
) -> Value {
    let policies: Map<String, Value> = policies
        .iter()
        .map(|p| (p.policy_name.clone(), policy_value(p)))
        .collect();
    let actions: Map<String, Value> = actions
        .iter()
        .map(|a| (a.scheduled_action_name.clone(), action_value(a)))
        .collect();
    json!({
        "minCapacity": min,
        "maxCapacity": max,
        "policies": policies,
        "scheduledActions": actions,
    })
}

/// The desired target in the shape diff compares.
pub fn normalize_desired(r: &RenderedAutoscaling) -> Value {
    let t = &r.register_scalable_target;
    normalized(
        t.min_capacity,
        t.max_capacity,
        &r.put_scaling_policies,
        &r.put_scheduled_actions,
    )
}

/// The live target in the shape diff compares.
pub fn normalize_live(l: &LiveScalableTarget) -> Value {
    normalized(
        l.min_capacity,
        l.max_capacity,
        &l.policies,
        &l.scheduled_actions,
    )
}

/// The scalable target changes of a plan: create, update field by field, or deregister (when
/// the manifest dropped `autoscaling` from a service whose target Ferry registered, or prune
/// removes the service). Services Ferry may not touch are skipped (their conflict is reported
/// by the service diff).
pub fn diff(state: &DesiredState, rendered: &Rendered, actual: &ActualState) -> Vec<Change> {
    let env = &state.env;
    let key = |name: &str| ResourceKey {
        env: env.clone(),
        kind: ResourceKind::ScalableTarget,
        name: name.to_owned(),
    };
    let field_diffs = |desired: &Value, live: &Value| {
        let mut out = Vec::new();
        crate::diff::diff_values(desired, live, "", &mut out);
        out
    };
    let mut changes = Vec::new();
    for svc in &rendered.services {
        let live_service = actual.services.get(&svc.name).filter(|s| s.is_active());
        let adopt = state
            .services
            .get(&svc.name)
            .and_then(|s| s.annotations.get(ADOPT_ANNOTATION))
            .is_some_and(|v| v == "true");
        if live_service.is_some_and(|l| !l.owned_by(env) && !adopt) {
            continue;
        }
        let live = actual.scalable_targets.get(&svc.name);
        match (&svc.autoscaling, live) {
            (Some(want), None) => changes.push(Change {
                key: key(&svc.name),
                op: Op::Create,
                fields: field_diffs(&normalize_desired(want), &Value::Null),
            }),
            (Some(want), Some(live)) => {
                let fields = field_diffs(&normalize_desired(want), &normalize_live(live));
                if !fields.is_empty() {
                    changes.push(Change {
                        key: key(&svc.name),
                        op: Op::Update,
                        fields,
                    });
                }
            }
            (None, Some(live))
                if live_service.is_some_and(LiveService::scaling_managed_by_ferry) =>
            {
                changes.push(Change {
                    key: key(&svc.name),
                    op: Op::Prune,
                    fields: vec![FieldDiff {
                        path: "resourceId".into(),
                        desired: None,
                        live: Some(json!(live.resource_id)),
                    }],
                });
            }
            _ => {}
        }
    }
    // Services prune will delete take their scalable target with them.
    let may_prune = state.environment.spec.prune && !state.services.is_empty();
    if may_prune {
        for s in actual.services.values().filter(|s| {
            s.is_active()
                && s.owned_by(env)
                && !state.services.contains_key(&s.service_name)
                && s.scaling_managed_by_ferry()
        }) {
            if let Some(live) = actual.scalable_targets.get(&s.service_name) {
                changes.push(Change {
                    key: key(&s.service_name),
                    op: Op::Prune,
                    fields: vec![FieldDiff {
                        path: "resourceId".into(),
                        desired: None,
                        live: Some(json!(live.resource_id)),
                    }],
                });
            }
        }
    }
    changes
}
