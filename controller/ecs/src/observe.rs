//! Observe: what exists in one environment's cluster and registry, in ferry-core's shapes.
//!
//! `ListServices` (every page), `DescribeServices` in batches of 10 with tags,
//! `DescribeTaskDefinition` only for revisions not seen before (revisions are immutable) and not
//! vouched for by the service's `ferry.dev/task-definition` tag (a cold process skips those too),
//! `DescribeRepositories` + tags + lifecycle policy of the stack's repositories, and
//! `DescribeImages` to pin each image tag to its digest. Reads only; bounded concurrency.

use std::collections::{BTreeMap, BTreeSet};

use ferry_core::DesiredState;
use ferry_core::health::service_health;
use ferry_core::live::{ActualState, LiveRepository, LiveService};
use ferry_core::platform::{HealthCode, Observed, PlatformError, ResourceHealth};
use ferry_core::render::{Digests, TaskDefinition};
use futures::{StreamExt, TryStreamExt, stream};

use crate::api::{ApiError, EcsApi};
use crate::apply::{TASK_DEFINITION_TAG, family_revision, task_definition_hash};
use crate::platform::EcsPlatform;

/// `DescribeServices` takes at most this many names.
pub(crate) const DESCRIBE_BATCH: usize = 10;

pub(crate) fn platform_error(err: &ApiError) -> PlatformError {
    let hint = match err.code.as_deref() {
        Some("ClusterNotFoundException") => " (does the Environment's spec.cluster exist?)",
        Some(c) if c.contains("AccessDenied") || c.contains("Unrecognized") => {
            " (check the AWS credentials and the controller's IAM role)"
        }
        _ => "",
    };
    PlatformError {
        transient: err.transient,
        message: format!("{err}{hint}"),
        reason: None,
    }
}

/// The cluster of an ECS environment.
pub(crate) fn cluster(desired: &DesiredState) -> Result<&str, PlatformError> {
    desired
        .environment
        .spec
        .cluster
        .as_deref()
        .filter(|c| !c.is_empty())
        .ok_or_else(|| PlatformError {
            transient: false,
            message: format!(
                "environment `{}` has no spec.cluster: the ECS platform needs one",
                desired.env
            ),
            reason: None,
        })
}

/// Other revisions of the families now live are history: forget them, or the cache would grow
/// by a stack's worth of task definitions with every deploy.
fn forget_other_revisions(
    cache: &mut std::collections::HashMap<String, TaskDefinition>,
    found: &BTreeMap<String, TaskDefinition>,
) {
    let families: BTreeSet<&str> = found.values().map(|td| td.family.as_str()).collect();
    cache.retain(|arn, td| found.contains_key(arn) || !families.contains(td.family.as_str()));
}

impl<A: EcsApi> EcsPlatform<A> {
    pub(crate) async fn observe_environment(
        &self,
        desired: &DesiredState,
    ) -> Result<Observed, PlatformError> {
        let cluster = cluster(desired)?;
        let (services, repositories) = futures::join!(
            async {
                let services = self.observe_services(cluster).await?;
                let targets = self
                    .observe_scalable_targets(desired, cluster, &services)
                    .await?;
                Ok::<_, PlatformError>((services, targets))
            },
            self.observe_repositories(desired)
        );
        let (services, scalable_targets) = services?;
        let (repositories, digests) = repositories?;
        let task_definitions = self
            .live_task_definitions(desired, &services, &digests)
            .await?;

        let mut health = BTreeMap::new();
        for name in desired.services.keys() {
            let h = match services.get(name).filter(|s| s.is_active()) {
                Some(live) => {
                    let h = self.health_of(live, &task_definitions);
                    // A blue/green, canary or linear deployment in progress: where it stands
                    // (one call, only while one runs; analysis is for the follow, not here).
                    if h.code == HealthCode::Progressing {
                        self.with_deployment(cluster, live, h, None).await
                    } else {
                        h
                    }
                }
                None => ResourceHealth {
                    code: HealthCode::Missing,
                    message: "the service does not exist".into(),
                    desired: desired.services[name].spec.desired_count,
                    ..ResourceHealth::default()
                },
            };
            health.insert(name.clone(), h);
        }
        for (name, live) in &services {
            if live.is_active() && live.owned_by(&desired.env) && !health.contains_key(name) {
                health.insert(name.clone(), self.health_of(live, &task_definitions));
            }
        }
        if let Ok(mut last) = self.last_services.lock() {
            last.clone_from(&services);
        }
        Ok(Observed {
            actual: ActualState {
                services,
                task_definitions,
                repositories,
                scalable_targets,
            },
            digests,
            health,
        })
    }

    fn health_of(
        &self,
        live: &LiveService,
        task_definitions: &BTreeMap<String, TaskDefinition>,
    ) -> ResourceHealth {
        let mut h = service_health(live, None);
        if let Some(td) = task_definitions.get(&live.task_definition) {
            h.images = td
                .container_definitions
                .iter()
                .map(|c| (c.name.clone(), c.image.clone()))
                .collect();
        }
        h
    }

    async fn observe_services(
        &self,
        cluster: &str,
    ) -> Result<BTreeMap<String, LiveService>, PlatformError> {
        let names = self
            .api
            .list_services(cluster)
            .await
            .map_err(|e| platform_error(&e))?;
        let unique: BTreeSet<String> = names.into_iter().collect();
        let names: Vec<String> = unique.into_iter().collect();
        let chunks: Vec<Vec<String>> = names
            .chunks(DESCRIBE_BATCH)
            .map(<[String]>::to_vec)
            .collect();
        let batches: Vec<Vec<LiveService>> = stream::iter(chunks)
            .map(|batch| async move { self.api.describe_services(cluster, &batch).await })
            .buffer_unordered(self.options.read_concurrency.max(1))
            .try_collect()
            .await
            .map_err(|e| platform_error(&e))?;
        let mut services = BTreeMap::new();
        for live in batches.into_iter().flatten() {
            // ECS may list a deleted service next to its re-created namesake: keep the active one.
            let keep = services
                .get(&live.service_name)
                .is_none_or(|old: &LiveService| !old.is_active() || live.is_active());
            if keep {
                services.insert(live.service_name.clone(), live);
            }
        }
        Ok(services)
    }

    /// The task definitions the desired services run now. A service whose
    /// [`TASK_DEFINITION_TAG`] says Ferry set this very revision with the content git wants
    /// now runs exactly the rendered task definition (task definitions are immutable): no
    /// `DescribeTaskDefinition` for it, even in a fresh process. Every other one (changed in
    /// git, pointed elsewhere out of band, deployed before the tag existed) is described.
    async fn live_task_definitions(
        &self,
        desired: &DesiredState,
        services: &BTreeMap<String, LiveService>,
        digests: &Digests,
    ) -> Result<BTreeMap<String, TaskDefinition>, PlatformError> {
        let live: Vec<&LiveService> = services
            .values()
            .filter(|s| s.is_active() && desired.services.contains_key(&s.service_name))
            .filter(|s| !s.task_definition.is_empty())
            .collect();
        let tagged = live.iter().any(|s| s.tag(TASK_DEFINITION_TAG).is_some());
        let rendered = tagged.then(|| ferry_core::render::render(desired, digests));
        let by_name: BTreeMap<&str, &TaskDefinition> = rendered
            .iter()
            .flat_map(|r| r.services.iter())
            .map(|s| (s.name.as_str(), &s.register_task_definition))
            .collect();
        let mut known = BTreeMap::new();
        let mut wanted = BTreeSet::new();
        for service in live {
            let arn = &service.task_definition;
            let same = match (
                by_name.get(service.service_name.as_str()),
                service.tag(TASK_DEFINITION_TAG),
                family_revision(arn),
            ) {
                (Some(td), Some(tag), Some((family, revision))) => {
                    family == td.family && tag == format!("{revision}.{}", task_definition_hash(td))
                }
                _ => false,
            };
            if same && let Some(td) = by_name.get(service.service_name.as_str()) {
                let mut td = (*td).clone();
                td.tags.clear();
                known.insert(arn.clone(), td);
            } else {
                wanted.insert(arn.clone());
            }
        }
        let mut found = self.task_definitions(wanted).await?;
        if !known.is_empty() {
            for (arn, td) in known {
                found.entry(arn).or_insert(td);
            }
            if let Ok(mut cache) = self.td_cache.lock() {
                for (arn, td) in &found {
                    cache.entry(arn.clone()).or_insert_with(|| td.clone());
                }
                forget_other_revisions(&mut cache, &found);
            }
        }
        Ok(found)
    }

    /// Task definitions by ARN, from the cache or `DescribeTaskDefinition`.
    pub(crate) async fn task_definitions(
        &self,
        arns: BTreeSet<String>,
    ) -> Result<BTreeMap<String, TaskDefinition>, PlatformError> {
        let mut found = BTreeMap::new();
        let mut missing = Vec::new();
        if let Ok(cache) = self.td_cache.lock() {
            for arn in arns {
                match cache.get(&arn) {
                    Some(td) => {
                        found.insert(arn, td.clone());
                    }
                    None => missing.push(arn),
                }
            }
        }
        let fetched: Vec<Option<(String, TaskDefinition)>> = stream::iter(missing)
            .map(|arn| async move { self.api.describe_task_definition(&arn).await })
            .buffer_unordered(self.options.read_concurrency.max(1))
            .try_collect()
            .await
            .map_err(|e| platform_error(&e))?;
        let mut cache = self.td_cache.lock().ok();
        for (arn, td) in fetched.into_iter().flatten() {
            if let Some(cache) = cache.as_mut() {
                cache.insert(arn.clone(), td.clone());
            }
            found.insert(arn, td);
        }
        if let Some(cache) = cache.as_mut() {
            forget_other_revisions(cache, &found);
        }
        Ok(found)
    }

    async fn observe_repositories(
        &self,
        desired: &DesiredState,
    ) -> Result<(BTreeMap<String, LiveRepository>, Digests), PlatformError> {
        let pins: Vec<(String, String)> = desired
            .environment
            .spec
            .images
            .iter()
            .filter(|(_, pin)| pin.digest.is_none())
            .filter_map(|(repo, pin)| pin.tag.clone().map(|tag| (repo.clone(), tag)))
            .collect();
        if desired.repositories.is_empty() && pins.is_empty() {
            return Ok((BTreeMap::new(), Digests::new()));
        }
        let all = self
            .api
            .describe_repositories()
            .await
            .map_err(|e| platform_error(&e))?;
        let immutable: BTreeSet<String> = all
            .iter()
            .filter(|r| r.image_tag_mutability == "IMMUTABLE")
            .map(|r| r.repository_name.clone())
            .collect();
        let existing: BTreeSet<String> = all.iter().map(|r| r.repository_name.clone()).collect();
        let ours: Vec<LiveRepository> = all
            .into_iter()
            .filter(|r| desired.repositories.contains_key(&r.repository_name))
            .collect();
        let repositories: Vec<LiveRepository> = stream::iter(ours)
            .map(|mut repo| async move {
                let (tags, policy) = futures::join!(
                    self.api.list_repository_tags(&repo.repository_arn),
                    self.api.get_lifecycle_policy(&repo.repository_name)
                );
                repo.tags = tags?;
                repo.lifecycle_policy_text = policy?;
                Ok::<_, ApiError>(repo)
            })
            .buffer_unordered(self.options.read_concurrency.max(1))
            .try_collect()
            .await
            .map_err(|e| platform_error(&e))?;

        let mut digests = Digests::new();
        let mut to_resolve = Vec::new();
        {
            let cache = self.digest_cache.lock().ok();
            for (repo, tag) in pins {
                let key = format!("{repo}:{tag}");
                match cache.as_ref().and_then(|c| c.get(&key)) {
                    Some(d) if immutable.contains(&repo) => {
                        digests.insert(key, d.clone());
                    }
                    _ if existing.contains(&repo) => to_resolve.push((repo, tag)),
                    _ => {}
                }
            }
        }
        let resolved: Vec<(String, Option<String>)> = stream::iter(to_resolve)
            .map(|(repo, tag)| async move {
                let digest = self.api.describe_image(&repo, &tag).await?;
                Ok::<_, ApiError>((format!("{repo}:{tag}"), digest))
            })
            .buffer_unordered(self.options.read_concurrency.max(1))
            .try_collect()
            .await
            .map_err(|e| platform_error(&e))?;
        let mut cache = self.digest_cache.lock().ok();
        for (key, digest) in resolved {
            if let Some(d) = digest {
                if let Some(c) = cache.as_mut() {
                    c.insert(key.clone(), d.clone());
                }
                digests.insert(key, d);
            }
        }
        Ok((
            repositories
                .into_iter()
                .map(|r| (r.repository_name.clone(), r))
                .collect(),
            digests,
        ))
    }
}
