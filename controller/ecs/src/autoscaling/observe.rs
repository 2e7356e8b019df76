//! Observe the scalable targets of one environment's services, batched: the services that
//! declare autoscaling or carry Ferry's autoscaling tag are described 50 per
//! `DescribeScalableTargets` call; only when one exists are the `ecs` namespace's policies and
//! scheduled actions listed (page by page, both listings at once). No service scaling: no call.

use std::collections::{BTreeMap, BTreeSet};

use ferry_core::DesiredState;
use ferry_core::autoscaling::{LiveScalableTarget, resource_id, service_of};
use ferry_core::live::LiveService;
use ferry_core::platform::PlatformError;
use futures::{StreamExt, TryStreamExt, stream};

use super::api::{AutoscalingApi, Page};
use crate::api::{ApiError, ApiResult, EcsApi};
use crate::observe::platform_error;
use crate::platform::EcsPlatform;

/// `DescribeScalableTargets` resource ids per call (its page size, so no call needs a second page).
pub(crate) const TARGET_BATCH: usize = 50;

/// Pages of a listing before giving up on a endpoint that keeps answering with a token.
const MAX_PAGES: usize = 10_000;

/// Every page of a listing, following `NextToken` (a repeated token ends it).
async fn all_pages<T, F, Fut>(mut page: F) -> ApiResult<Vec<T>>
where
    F: FnMut(Option<String>) -> Fut,
    Fut: Future<Output = ApiResult<Page<T>>>,
{
    let mut out = Vec::new();
    let mut token = None;
    let mut seen = BTreeSet::new();
    for _ in 0..MAX_PAGES {
        let (items, next) = page(token).await?;
        out.extend(items);
        match next.filter(|t| !t.is_empty() && seen.insert(t.clone())) {
            Some(t) => token = Some(t),
            None => break,
        }
    }
    Ok(out)
}

impl<A: EcsApi> EcsPlatform<A> {
    /// Scalable targets by service name, for the services whose target Ferry may manage.
    pub(crate) async fn observe_scalable_targets(
        &self,
        desired: &DesiredState,
        cluster: &str,
        services: &BTreeMap<String, LiveService>,
    ) -> Result<BTreeMap<String, LiveScalableTarget>, PlatformError> {
        let names: BTreeSet<&str> = services
            .values()
            .filter(|s| s.is_active())
            .filter(|s| {
                desired
                    .services
                    .get(&s.service_name)
                    .is_some_and(|d| d.spec.autoscaling.is_some())
                    || (s.owned_by(&desired.env) && s.scaling_managed_by_ferry())
            })
            .map(|s| s.service_name.as_str())
            .collect();
        if names.is_empty() {
            return Ok(BTreeMap::new());
        }
        let ids: Vec<String> = names.iter().map(|n| resource_id(cluster, n)).collect();
        let chunks: Vec<Vec<String>> = ids.chunks(TARGET_BATCH).map(<[String]>::to_vec).collect();
        let found: Vec<Vec<LiveScalableTarget>> = stream::iter(chunks)
            .map(|batch| async move { self.api.describe_scalable_targets(&batch).await })
            .buffer_unordered(self.options.read_concurrency.max(1))
            .try_collect()
            .await
            .map_err(|e| platform_error(&e))?;
        let mut targets: BTreeMap<String, LiveScalableTarget> = found
            .into_iter()
            .flatten()
            .filter_map(|t| {
                let name = service_of(cluster, &t.resource_id)?.to_owned();
                names.contains(name.as_str()).then_some((name, t))
            })
            .collect();
        if targets.is_empty() {
            return Ok(targets);
        }
        let (policies, actions) = futures::join!(
            all_pages(|token| self.api.describe_scaling_policies(token)),
            all_pages(|token| self.api.describe_scheduled_actions(token)),
        );
        let by_id = |id: &str| service_of(cluster, id).map(str::to_owned);
        for p in policies.map_err(|e: ApiError| platform_error(&e))? {
            if let Some(t) = by_id(&p.resource_id).and_then(|n| targets.get_mut(&n)) {
                t.policies.push(p);
            }
        }
        for a in actions.map_err(|e: ApiError| platform_error(&e))? {
            if let Some(t) = by_id(&a.resource_id).and_then(|n| targets.get_mut(&n)) {
                t.scheduled_actions.push(a);
            }
        }
        Ok(targets)
    }
}
