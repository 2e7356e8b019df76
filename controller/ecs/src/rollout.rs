//! Rollouts after an apply: one batched poll of the services being rolled out (the
//! controller's cheap follow-up, `DescribeServices` 10 at a time, nothing else), and a
//! rollback that points owned services at revisions they ran before, changing nothing else.

use std::collections::BTreeMap;

use ferry_core::DesiredState;
use ferry_core::health::{service_health, short_revision};
use ferry_core::live::LiveService;
use ferry_core::plan::{Op, ResourceKey, ResourceKind};
use ferry_core::platform::{
    HealthCode, PlatformError, ResourceHealth, ResourceResult, ResultCode, Rollout,
};
use ferry_core::render::UpdateService;
use futures::{StreamExt, stream};

use crate::api::{ApiError, EcsApi};
use crate::observe::{DESCRIBE_BATCH, cluster, platform_error};
use crate::platform::EcsPlatform;

impl<A: EcsApi> EcsPlatform<A> {
    /// The active services among `names`, described in batches of 10.
    pub(crate) async fn describe_active(
        &self,
        cluster: &str,
        names: &[String],
    ) -> Result<BTreeMap<String, LiveService>, ApiError> {
        let chunks: Vec<Vec<String>> = names
            .chunks(DESCRIBE_BATCH)
            .map(<[String]>::to_vec)
            .collect();
        let batches: Vec<Result<Vec<LiveService>, ApiError>> = stream::iter(chunks)
            .map(|b| async move { self.api.describe_services(cluster, &b).await })
            .buffer_unordered(self.options.read_concurrency.max(1))
            .collect()
            .await;
        let mut seen = BTreeMap::new();
        for batch in batches {
            for s in batch?.into_iter().filter(LiveService::is_active) {
                seen.insert(s.service_name.clone(), s);
            }
        }
        Ok(seen)
    }

    /// Health of each rollout's service now (`Missing` when it is gone).
    pub(crate) async fn poll_rollouts(
        &self,
        cluster: &str,
        rollouts: &[Rollout],
        desired: Option<&DesiredState>,
    ) -> Result<BTreeMap<String, ResourceHealth>, ApiError> {
        let names: Vec<String> = rollouts.iter().map(|r| r.service.clone()).collect();
        let seen = self.describe_active(cluster, &names).await?;
        let mut out = BTreeMap::new();
        for r in rollouts {
            let health = match seen.get(&r.service) {
                None => ResourceHealth {
                    code: HealthCode::Missing,
                    message: "the service no longer exists".into(),
                    ..ResourceHealth::default()
                },
                Some(live) => {
                    let health = service_health(live, r.expected_revision.as_deref());
                    let spec = desired
                        .and_then(|d| d.services.get(&r.service))
                        .map(|s| &s.spec);
                    self.with_deployment(cluster, live, health, spec).await
                }
            };
            out.insert(r.service.clone(), health);
        }
        Ok(out)
    }

    pub(crate) async fn follow_environment(
        &self,
        desired: &DesiredState,
        rollouts: &[Rollout],
    ) -> Result<BTreeMap<String, ResourceHealth>, PlatformError> {
        let cluster = cluster(desired)?;
        self.poll_rollouts(cluster, rollouts, Some(desired))
            .await
            .map_err(|e| platform_error(&e))
    }

    /// Point each owned service of `revisions` at its recorded task definition; every other
    /// setting is sent as it is live (the count not at all: an autoscaler may own it), so
    /// nothing else changes.
    pub(crate) async fn redeploy_services(
        &self,
        desired: &DesiredState,
        revisions: &BTreeMap<String, String>,
    ) -> Vec<ResourceResult> {
        let outcome = |name: &str, code, message: String, rollout| ResourceResult {
            key: ResourceKey {
                env: desired.env.clone(),
                kind: ResourceKind::EcsService,
                name: name.to_owned(),
            },
            op: Op::Update,
            code,
            message,
            rollout,
        };
        let cluster = match cluster(desired) {
            Ok(c) => c,
            Err(e) => {
                return revisions
                    .keys()
                    .map(|n| outcome(n, ResultCode::Failed, e.message.clone(), None))
                    .collect();
            }
        };
        let names: Vec<String> = revisions.keys().cloned().collect();
        let live = match self.describe_active(cluster, &names).await {
            Ok(l) => l,
            Err(e) => {
                return names
                    .iter()
                    .map(|n| outcome(n, ResultCode::Failed, e.to_string(), None))
                    .collect();
            }
        };
        let live = &live;
        let outcome = &outcome;
        stream::iter(revisions.clone())
            .map(|(name, arn)| async move {
                let (name, arn) = (&name, &arn);
                let Some(service) = live.get(name) else {
                    return outcome(
                        name,
                        ResultCode::Skipped,
                        "not rolled back: the service does not exist".into(),
                        None,
                    );
                };
                if !service.owned_by(&desired.env) {
                    return outcome(
                        name,
                        ResultCode::Skipped,
                        format!(
                            "not rolled back: the service is not managed by Ferry for `{}`",
                            desired.env
                        ),
                        None,
                    );
                }
                if service.task_definition == *arn {
                    return outcome(
                        name,
                        ResultCode::Synced,
                        format!("already runs {}", short_revision(arn)),
                        Some(Rollout {
                            service: name.clone(),
                            expected_revision: Some(arn.clone()),
                        }),
                    );
                }
                let input = UpdateService {
                    cluster: cluster.to_owned(),
                    service: name.clone(),
                    task_definition: arn.clone(),
                    desired_count: None,
                    capacity_provider_strategy: service.capacity_provider_strategy.clone(),
                    network_configuration: service.network_configuration.clone(),
                    load_balancers: service.load_balancers.clone(),
                    deployment_configuration: service
                        .deployment_configuration
                        .clone()
                        .unwrap_or_default(),
                    health_check_grace_period_seconds: service.health_check_grace_period_seconds,
                    ..UpdateService::default()
                };
                match self.api.update_service(&input).await {
                    Ok(_) => outcome(
                        name,
                        ResultCode::Synced,
                        format!(
                            "rolled back from {} to {}",
                            short_revision(&service.task_definition),
                            short_revision(arn)
                        ),
                        Some(Rollout {
                            service: name.clone(),
                            expected_revision: Some(arn.clone()),
                        }),
                    ),
                    Err(e) => outcome(name, ResultCode::Failed, e.to_string(), None),
                }
            })
            .buffer_unordered(self.options.write_concurrency.max(1))
            .collect()
            .await
    }
}
