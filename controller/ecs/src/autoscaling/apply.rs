//! Apply ferry-core's `ScalableTarget` changes after the services they scale exist: create
//! (register, every policy, every scheduled action), update exactly what the change names (a
//! changed policy is one `PutScalingPolicy`), or deregister (then record on the service that
//! Ferry no longer scales it). A target whose service did not sync is skipped.

use std::collections::BTreeMap;

use ferry_core::DesiredState;
use ferry_core::autoscaling::{
    AUTOSCALING_OFF, AUTOSCALING_TAG, RenderedAutoscaling, fingerprint, resource_id, touched_names,
};
use ferry_core::kinds::DriftMode;
use ferry_core::plan::{Change, Op, Plan, ResourceKind};
use ferry_core::platform::{ResourceResult, ResultCode};
use ferry_core::render::{Rendered, Tag};
use futures::{StreamExt, stream};

use super::api::AutoscalingApi;
use crate::api::{ApiError, EcsApi};
use crate::platform::EcsPlatform;

fn result(change: &Change, code: ResultCode, message: impl Into<String>) -> ResourceResult {
    ResourceResult {
        key: change.key.clone(),
        op: change.op,
        code,
        message: message.into(),
        rollout: None,
    }
}

impl<A: EcsApi> EcsPlatform<A> {
    /// Every `ScalableTarget` change of `plan`: (index in the plan, result).
    pub(crate) async fn apply_autoscaling(
        &self,
        desired: &DesiredState,
        cluster: &str,
        rendered: &Rendered,
        plan: &Plan,
        service_code: &BTreeMap<String, ResultCode>,
    ) -> Vec<(usize, ResourceResult)> {
        let indices: Vec<usize> = plan
            .changes
            .iter()
            .enumerate()
            .filter(|(_, c)| c.key.kind == ResourceKind::ScalableTarget)
            .map(|(i, _)| i)
            .collect();
        stream::iter(indices)
            .map(|i| async move {
                let change = &plan.changes[i];
                let name = change.key.name.as_str();
                if change.op == Op::Prune {
                    return (i, self.deregister(desired, cluster, change).await);
                }
                if let Some(code) = service_code.get(name)
                    && *code != ResultCode::Synced
                {
                    let r = result(
                        change,
                        ResultCode::Skipped,
                        format!("service `{name}` did not sync"),
                    );
                    return (i, r);
                }
                let Some(want) = rendered
                    .services
                    .iter()
                    .find(|s| s.name == name)
                    .and_then(|s| s.autoscaling.as_ref())
                else {
                    return (
                        i,
                        result(change, ResultCode::Skipped, "not in the rendered manifests"),
                    );
                };
                if desired.environment.spec.drift == DriftMode::Detect
                    && self.autoscaling_unchanged_in_git(name, want)
                {
                    let r = result(
                        change,
                        ResultCode::Skipped,
                        "drift not reverted (the Environment's drift mode is detect): the scalable target changed, git did not",
                    );
                    return (i, r);
                }
                let r = match self.put_target(change, want).await {
                    Ok(message) => result(change, ResultCode::Synced, message),
                    Err(e) => result(change, ResultCode::Failed, e.to_string()),
                };
                (i, r)
            })
            .buffer_unordered(self.options.write_concurrency.max(1))
            .collect()
            .await
    }

    /// Whether the service already carries the fingerprint of what git declares now: then a
    /// difference is drift, not a git change.
    fn autoscaling_unchanged_in_git(&self, service: &str, want: &RenderedAutoscaling) -> bool {
        let applied = self.last_services.lock().ok().and_then(|m| {
            m.get(service)
                .and_then(|s| s.tag(AUTOSCALING_TAG).map(str::to_owned))
        });
        applied.is_some_and(|v| v == fingerprint(want))
    }

    async fn put_target(
        &self,
        change: &Change,
        want: &RenderedAutoscaling,
    ) -> Result<String, ApiError> {
        let target = &want.register_scalable_target;
        let id = target.resource_id.as_str();
        if change.op == Op::Create {
            self.api.register_scalable_target(target).await?;
            for p in &want.put_scaling_policies {
                self.api.put_scaling_policy(p).await?;
            }
            for a in &want.put_scheduled_actions {
                self.api.put_scheduled_action(a).await?;
            }
            return Ok(format!(
                "registered {}..{} tasks, {} policies, {} scheduled actions",
                target.min_capacity,
                target.max_capacity,
                want.put_scaling_policies.len(),
                want.put_scheduled_actions.len()
            ));
        }
        let mut done = Vec::new();
        if change
            .fields
            .iter()
            .any(|f| f.path == "minCapacity" || f.path == "maxCapacity")
        {
            self.api.register_scalable_target(target).await?;
            done.push(format!(
                "capacity {}..{}",
                target.min_capacity, target.max_capacity
            ));
        }
        for name in touched_names(change, "policies") {
            match want
                .put_scaling_policies
                .iter()
                .find(|p| p.policy_name == name)
            {
                Some(p) => {
                    self.api.put_scaling_policy(p).await?;
                    done.push(format!("put policy {name}"));
                }
                None => {
                    self.api.delete_scaling_policy(id, &name).await?;
                    done.push(format!("deleted policy {name}"));
                }
            }
        }
        for name in touched_names(change, "scheduledActions") {
            match want
                .put_scheduled_actions
                .iter()
                .find(|a| a.scheduled_action_name == name)
            {
                Some(a) => {
                    self.api.put_scheduled_action(a).await?;
                    done.push(format!("put scheduled action {name}"));
                }
                None => {
                    self.api.delete_scheduled_action(id, &name).await?;
                    done.push(format!("deleted scheduled action {name}"));
                }
            }
        }
        Ok(format!("updated: {}", done.join(", ")))
    }

    /// Deregister a target Ferry registered, then mark the service (if it stays) as no longer
    /// scaled by Ferry, so a target someone registers by hand later is left alone.
    async fn deregister(
        &self,
        desired: &DesiredState,
        cluster: &str,
        change: &Change,
    ) -> ResourceResult {
        let name = &change.key.name;
        let id = resource_id(cluster, name);
        match self.api.deregister_scalable_target(&id).await {
            Ok(()) => {}
            Err(e) if e.is("ObjectNotFoundException") => {}
            Err(e) => return result(change, ResultCode::Failed, e.to_string()),
        }
        if desired.services.contains_key(name) {
            let arn = self
                .last_services
                .lock()
                .ok()
                .and_then(|m| m.get(name).map(|s| s.service_arn.clone()))
                .filter(|a| !a.is_empty());
            let tagged = match arn {
                Some(arn) => {
                    let tag = Tag {
                        key: AUTOSCALING_TAG.into(),
                        value: AUTOSCALING_OFF.into(),
                    };
                    self.api.tag_service(&arn, &[tag]).await
                }
                None => Ok(()),
            };
            if let Err(e) = tagged {
                return result(
                    change,
                    ResultCode::Failed,
                    format!("deregistered, but tagging the service failed: {e}"),
                );
            }
        }
        result(
            change,
            ResultCode::Synced,
            "deregistered (with its policies and scheduled actions)",
        )
    }
}
