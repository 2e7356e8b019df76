//! Apply: execute a plan's changes in order, one [`ResourceResult`] per change.
//!
//! Repositories (create, settings, lifecycle policy, tags) → task definitions (a revision is
//! registered only when the family's newest one differs, and a lost answer never registers a
//! second) → services (create or update with the registered ARN, tags; in `dependsOn` waves,
//! each followed to the end of its rollout when waiting) → prunes (owned services only,
//! re-checked just before deleting) → task definition GC. A failed change does not abort
//! unrelated ones; a service whose task definition or dependency failed is skipped.
//! Conflicts in the plan are never written.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use ferry_core::DesiredState;
use ferry_core::diff::normalize_task_definition;
use ferry_core::health::{is_settled, short_revision};
use ferry_core::kinds::DriftMode;
use ferry_core::plan::{Change, Op, Plan, ResourceKind};
use ferry_core::platform::{ApplyOptions, HealthCode, ResourceResult, ResultCode, Rollout};
use ferry_core::render::{
    DeploymentConfiguration, Rendered, RenderedRepository, RenderedService, Tag, TaskDefinition,
    is_registry_image,
};
use futures::{StreamExt, stream};

use crate::api::{ApiError, EcsApi};
use crate::observe::cluster;
use crate::platform::{EcsPlatform, GcReport};

/// Results of pre-deploy tasks: (index in the plan, result).
type TaskResults = Vec<(usize, ResourceResult)>;

/// One service of a wave: (index, result, what to follow, task definitions in use, its
/// pre-deploy tasks' results).
type ServiceOutcome = (
    usize,
    ResourceResult,
    Option<Touched>,
    Vec<String>,
    TaskResults,
);

fn result(change: &Change, code: ResultCode, message: impl Into<String>) -> ResourceResult {
    ResourceResult {
        key: change.key.clone(),
        op: change.op,
        code,
        message: message.into(),
        rollout: None,
    }
}

/// A service change that went through, to follow while waiting.
#[derive(Clone, Debug)]
struct Touched {
    index: usize,
    name: String,
    /// The task definition the service must end up running, when this apply set one.
    expected: Option<String>,
}

/// The field paths of a change, shortened for a message.
fn summary(change: &Change) -> String {
    let mut paths: Vec<&str> = change
        .fields
        .iter()
        .map(|f| f.path.split('.').next().unwrap_or(&f.path))
        .collect();
    paths.dedup();
    if paths.len() > 6 {
        let more = paths.len() - 6;
        paths.truncate(6);
        return format!("{} and {more} more", paths.join(", "));
    }
    paths.join(", ")
}

/// Whether live deployment settings are the desired ones (ECS's defaults filled in).
fn same_deployment(live: Option<&DeploymentConfiguration>, want: &DeploymentConfiguration) -> bool {
    let norm = |d: Option<&DeploymentConfiguration>| {
        let d = d.cloned().unwrap_or_default();
        let cb = d.deployment_circuit_breaker.unwrap_or_default();
        (
            d.minimum_healthy_percent.unwrap_or(100),
            d.maximum_percent.unwrap_or(200),
            cb.enable,
            cb.rollback,
        )
    };
    norm(live) == norm(Some(want))
}

/// Tag recording, on a service applied in drift mode `detect`, a hash of what git wanted then:
/// a later difference with the same hash is drift (live changed), not a git change.
pub const DESIRED_HASH_TAG: &str = "ferry.dev/desired-hash";

fn fnv(parts: &[&str]) -> u64 {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for byte in part.bytes().chain([0]) {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
    hash
}

/// The hash of everything Ferry would send for a service.
pub fn desired_hash(service: &RenderedService) -> String {
    let td = serde_json::to_string(&service.register_task_definition).unwrap_or_default();
    let create = serde_json::to_string(&service.create_service).unwrap_or_default();
    format!("{:016x}", fnv(&[&td, &create]))
}

/// Tag on a service Ferry deployed: `<revision>.<content hash>` of the task definition Ferry set
/// on it. Task definitions are immutable, so while the service still runs that revision of the
/// desired family and the desired content has that hash, a cold observe knows the live task
/// definition without `DescribeTaskDefinition`. A service pointed elsewhere out of band runs
/// another revision: it is described as before.
pub const TASK_DEFINITION_TAG: &str = "ferry.dev/task-definition";

/// Content hash of a task definition as Ferry registers it (its own tags left out).
pub fn task_definition_hash(td: &TaskDefinition) -> String {
    let mut copy = td.clone();
    copy.tags.clear();
    let text = serde_json::to_string(&copy).unwrap_or_default();
    format!("{:016x}", fnv(&[&text]))
}

/// `<family>` and `<revision>` of a task definition ARN (`…:task-definition/<family>:<revision>`).
pub(crate) fn family_revision(arn: &str) -> Option<(&str, &str)> {
    let name = arn.rsplit_once('/').map_or(arn, |(_, n)| n);
    let (family, revision) = name.rsplit_once(':')?;
    revision
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then_some((family, revision))
        .filter(|(f, r)| !f.is_empty() && !r.is_empty())
}

/// The [`TASK_DEFINITION_TAG`] for a service set to `arn`, registered from `td`.
pub(crate) fn task_definition_tag(arn: &str, td: &TaskDefinition) -> Option<Tag> {
    let (_, revision) = family_revision(arn)?;
    Some(Tag {
        key: TASK_DEFINITION_TAG.into(),
        value: format!("{revision}.{}", task_definition_hash(td)),
    })
}

/// A short stable token for `CreateService` idempotency (ECS allows 36 characters).
fn client_token(parts: &[&str]) -> String {
    format!("ferry-{:016x}", fnv(parts))
}

/// Images of `service` that should be pinned to a digest but are not: their tag is not in ECR.
fn unresolved_images(desired: &DesiredState, service: &RenderedService) -> Vec<String> {
    let Some(spec) = desired.services.get(&service.name) else {
        return Vec::new();
    };
    let pins = &desired.environment.spec.images;
    spec.spec
        .task_definition
        .containers
        .iter()
        .filter(|c| is_registry_image(desired, &c.image))
        .filter_map(|c| {
            let pin = pins.get(&c.image)?;
            let tag = pin.tag.as_ref().filter(|_| pin.digest.is_none())?;
            let rendered = service
                .register_task_definition
                .container_definitions
                .iter()
                .find(|r| r.name == c.name)?;
            (!rendered.image.contains('@')).then(|| format!("{}:{tag}", c.image))
        })
        .collect()
}

impl<A: EcsApi> EcsPlatform<A> {
    pub(crate) async fn apply_plan(
        &self,
        desired: &DesiredState,
        rendered: &Rendered,
        plan: &Plan,
        options: &ApplyOptions,
    ) -> Vec<ResourceResult> {
        let cluster = match cluster(desired) {
            Ok(c) => c,
            Err(e) => {
                return plan
                    .changes
                    .iter()
                    .map(|c| result(c, ResultCode::Failed, e.message.clone()))
                    .collect();
            }
        };
        let deadline = Instant::now() + options.timeout;
        let mut results: Vec<Option<ResourceResult>> = vec![None; plan.changes.len()];
        let services: HashMap<&str, &RenderedService> = rendered
            .services
            .iter()
            .map(|s| (s.name.as_str(), s))
            .collect();
        let families: HashMap<&str, &RenderedService> = rendered
            .services
            .iter()
            .map(|s| (s.register_task_definition.family.as_str(), s))
            .collect();
        let repositories: HashMap<&str, &RenderedRepository> = rendered
            .repositories
            .iter()
            .map(|r| (r.name.as_str(), r))
            .collect();
        let repositories = &repositories;
        let families = &families;
        let indexed = |kind: ResourceKind, prune: bool| -> Vec<usize> {
            plan.changes
                .iter()
                .enumerate()
                .filter(|(_, c)| c.key.kind == kind && (c.op == Op::Prune) == prune)
                .map(|(i, _)| i)
                .collect()
        };
        let writes = self.options.write_concurrency.max(1);
        let detect = desired.environment.spec.drift == DriftMode::Detect;
        let drift_only: BTreeSet<String> = if detect {
            let last = self
                .last_services
                .lock()
                .map(|m| m.clone())
                .unwrap_or_default();
            plan.changes
                .iter()
                .filter(|c| c.key.kind == ResourceKind::EcsService && c.op == Op::Update)
                .filter_map(|c| {
                    let service = services.get(c.key.name.as_str())?;
                    let live = last.get(&c.key.name)?;
                    (live.tag(DESIRED_HASH_TAG) == Some(desired_hash(service).as_str()))
                        .then(|| c.key.name.clone())
                })
                .collect()
        } else {
            BTreeSet::new()
        };
        let drift_only = &drift_only;
        let detect_message = |change: &Change| {
            format!(
                "drift not reverted (the Environment's drift mode is detect): {}",
                summary(change)
            )
        };

        // 1. Repositories.
        let done: Vec<(usize, ResourceResult)> =
            stream::iter(indexed(ResourceKind::EcrRepository, false))
                .map(|i| async move {
                    let change = &plan.changes[i];
                    let r = match repositories.get(change.key.name.as_str()) {
                        Some(repo) => self.apply_repository(change, repo).await,
                        None => {
                            result(change, ResultCode::Skipped, "not in the rendered manifests")
                        }
                    };
                    (i, r)
                })
                .buffer_unordered(writes)
                .collect()
                .await;
        for (i, r) in done {
            results[i] = Some(r);
        }

        // 2. Task definitions.
        let done: Vec<(usize, ResourceResult, Option<String>)> =
            stream::iter(indexed(ResourceKind::TaskDefinition, false))
                .map(|i| async move {
                    let change = &plan.changes[i];
                    let Some(service) = families.get(change.key.name.as_str()) else {
                        return (
                            i,
                            result(change, ResultCode::Skipped, "not in the rendered manifests"),
                            None,
                        );
                    };
                    if drift_only.contains(&service.name) {
                        let r = result(change, ResultCode::Skipped, detect_message(change));
                        return (i, r, None);
                    }
                    let missing = unresolved_images(desired, service);
                    if !missing.is_empty() {
                        let message = format!(
                            "image tag {} not found in ECR (DescribeImages): push the image or correct spec.images",
                            missing.join(", ")
                        );
                        return (i, result(change, ResultCode::Failed, message), None);
                    }
                    match self.register(&service.register_task_definition).await {
                        Ok((arn, reused)) => {
                            let message = if reused {
                                format!("reused {} (same content)", short_revision(&arn))
                            } else {
                                format!("registered {}", short_revision(&arn))
                            };
                            (i, result(change, ResultCode::Synced, message), Some(arn))
                        }
                        Err(e) => (i, result(change, ResultCode::Failed, e.to_string()), None),
                    }
                })
                .buffer_unordered(writes)
                .collect()
                .await;
        let mut registered: BTreeMap<String, String> = BTreeMap::new();
        let mut td_failed: BTreeMap<String, String> = BTreeMap::new();
        for (i, r, arn) in done {
            let family = plan.changes[i].key.name.clone();
            match arn {
                Some(arn) => {
                    registered.insert(family, arn);
                }
                None if r.code == ResultCode::Skipped && r.message.starts_with("drift") => {}
                None => {
                    td_failed.insert(family, r.message.clone());
                }
            }
            results[i] = Some(r);
        }

        // 3. Services, in dependsOn waves.
        let service_changes = indexed(ResourceKind::EcsService, false);
        let changed: BTreeSet<&str> = service_changes
            .iter()
            .map(|i| plan.changes[*i].key.name.as_str())
            .collect();
        let mut wave_of: BTreeMap<&str, usize> = BTreeMap::new();
        for c in service_changes.iter().map(|i| &plan.changes[*i]) {
            let deps = desired
                .services
                .get(&c.key.name)
                .map(|s| s.spec.depends_on.clone())
                .unwrap_or_default();
            let wave = deps
                .iter()
                .filter(|d| changed.contains(d.as_str()))
                .filter_map(|d| wave_of.get(d.as_str()))
                .map(|w| w + 1)
                .max()
                .unwrap_or(0);
            wave_of.insert(c.key.name.as_str(), wave);
        }
        let waves = wave_of.values().copied().max().map_or(0, |w| w + 1);
        let mut service_code: BTreeMap<String, ResultCode> = BTreeMap::new();
        // Why a dependency that was deployed did not become healthy.
        let mut unhealthy: BTreeMap<String, String> = BTreeMap::new();
        let mut in_use: BTreeSet<String> = registered.values().cloned().collect();
        for wave in 0..waves {
            let members: Vec<usize> = service_changes
                .iter()
                .copied()
                .filter(|i| wave_of.get(plan.changes[*i].key.name.as_str()) == Some(&wave))
                .collect();
            let outcomes: Vec<ServiceOutcome> =
                stream::iter(members)
                    .map(|i| {
                        let change = &plan.changes[i];
                        let service_code = &service_code;
                        let unhealthy = &unhealthy;
                        let registered = &registered;
                        let td_failed = &td_failed;
                        let services = &services;
                        async move {
                            let failed_dep = desired
                                .services
                                .get(&change.key.name)
                                .into_iter()
                                .flat_map(|s| s.spec.depends_on.iter())
                                .find(|d| {
                                    service_code
                                        .get(d.as_str())
                                        .is_some_and(|c| *c != ResultCode::Synced)
                                })
                                .cloned();
                            if let Some(dep) = failed_dep {
                                let r = result(
                                    change,
                                    ResultCode::Skipped,
                                    match unhealthy.get(dep.as_str()) {
                                        Some(why) => format!("dependency `{dep}` is not healthy: {why}"),
                                        None => format!("dependency `{dep}` did not sync"),
                                    },
                                );
                                return (i, r, None, Vec::new(), Vec::new());
                            }
                            let Some(service) = services.get(change.key.name.as_str()) else {
                                let r = result(
                                    change,
                                    ResultCode::Skipped,
                                    "not in the rendered manifests",
                                );
                                return (i, r, None, Vec::new(), Vec::new());
                            };
                            if drift_only.contains(&service.name) {
                                let r = result(change, ResultCode::Skipped, detect_message(change));
                                return (i, r, None, Vec::new(), Vec::new());
                            }
                            let family = service.register_task_definition.family.as_str();
                            if let Some(why) = td_failed.get(family) {
                                let r = result(
                                    change,
                                    ResultCode::Skipped,
                                    format!("task definition `{family}` failed: {why}"),
                                );
                                return (i, r, None, Vec::new(), Vec::new());
                            }
                            // Pre-deploy tasks first, in order; the service is touched only
                            // when every one succeeded.
                            let mut tasks: TaskResults = Vec::new();
                            for task in &service.pre_deploy {
                                let name = format!("{}/{}", service.name, task.name);
                                let Some(t) = plan.changes.iter().position(|c| {
                                    c.key.kind == ResourceKind::PreDeployTask && c.key.name == name
                                }) else {
                                    continue;
                                };
                                let r = self.run_pre_deploy(&plan.changes[t], task).await;
                                let failed = (r.code != ResultCode::Synced).then(|| r.message.clone());
                                tasks.push((t, r));
                                if let Some(why) = failed {
                                    let r = result(
                                        change,
                                        ResultCode::Failed,
                                        format!("pre-deploy task `{}` failed, the service was not touched: {why}", task.name),
                                    );
                                    return (i, r, None, Vec::new(), tasks);
                                }
                            }
                            let arn = registered.get(family).cloned();
                            let (i, r, t, used) = self
                                .apply_service(i, cluster, change, service, arn, detect)
                                .await;
                            (i, r, t, used, tasks)
                        }
                    })
                    .buffer_unordered(writes)
                    .collect()
                    .await;
            let mut touched = Vec::new();
            for (i, r, t, used, tasks) in outcomes {
                for (t, r) in tasks {
                    results[t] = Some(r);
                }
                in_use.extend(used);
                service_code.insert(plan.changes[i].key.name.clone(), r.code);
                results[i] = Some(r);
                touched.extend(t);
            }
            if !options.wait {
                // Health-gated waves: a later wave waits until the services it depends on
                // have rolled out (within the timeout); a dependency that does not become
                // healthy leaves its dependents untouched.
                let later: BTreeSet<&str> = service_changes
                    .iter()
                    .filter(|i| {
                        wave_of
                            .get(plan.changes[**i].key.name.as_str())
                            .is_some_and(|w| *w > wave)
                    })
                    .filter_map(|i| desired.services.get(&plan.changes[*i].key.name))
                    .flat_map(|s| s.spec.depends_on.iter().map(String::as_str))
                    .collect();
                let gates: Vec<Touched> = touched
                    .iter()
                    .filter(|t| later.contains(t.name.as_str()))
                    .cloned()
                    .collect();
                if !gates.is_empty() {
                    let gate_deadline = Instant::now() + options.timeout;
                    for (t, code, message) in self
                        .follow_rollouts(desired, cluster, &gates, gate_deadline, options.timeout)
                        .await
                    {
                        if code != ResultCode::Synced {
                            service_code.insert(t.name.clone(), code);
                            unhealthy.insert(t.name.clone(), message);
                        }
                    }
                }
                for t in &touched {
                    if let Some(r) = results[t.index].as_mut() {
                        r.rollout = Some(Rollout {
                            service: t.name.clone(),
                            expected_revision: t.expected.clone(),
                        });
                    }
                }
            } else if !touched.is_empty() {
                for (t, code, message) in self
                    .follow_rollouts(desired, cluster, &touched, deadline, options.timeout)
                    .await
                {
                    service_code.insert(t.name.clone(), code);
                    if let Some(r) = results[t.index].as_mut() {
                        r.code = code;
                        r.message = format!("{}; {message}", r.message);
                    }
                }
            }
        }

        // 3b. Scalable targets (their services exist now; before prunes, so a pruned service's
        // target goes first).
        for (i, r) in self
            .apply_autoscaling(desired, cluster, rendered, plan, &service_code)
            .await
        {
            results[i] = Some(r);
        }

        // 4. Prunes.
        let done: Vec<(usize, ResourceResult)> = stream::iter(indexed(
            ResourceKind::EcsService,
            true,
        ))
        .map(|i| async move { (i, self.prune(cluster, &desired.env, &plan.changes[i]).await) })
        .buffer_unordered(writes)
        .collect()
        .await;
        for (i, r) in done {
            results[i] = Some(r);
        }

        // 5. Task definition GC of the families that got a new revision.
        if !registered.is_empty() && self.options.keep_task_definitions > 0 {
            self.collect_task_definitions(&registered, in_use).await;
        }

        results
            .into_iter()
            .zip(&plan.changes)
            .map(|(r, c)| r.unwrap_or_else(|| result(c, ResultCode::Skipped, "not attempted")))
            .collect()
    }

    async fn apply_repository(&self, change: &Change, repo: &RenderedRepository) -> ResourceResult {
        let run = async {
            let name = repo.name.as_str();
            let input = &repo.create_repository;
            if change.op == Op::Create {
                self.api.create_repository(input).await?;
                if let Some(p) = &repo.put_lifecycle_policy {
                    self.api
                        .put_lifecycle_policy(name, &p.lifecycle_policy_text)
                        .await?;
                }
                return Ok::<_, ApiError>("created".to_owned());
            }
            let touches = |prefix: &str| change.fields.iter().any(|f| f.path.starts_with(prefix));
            if touches("imageTagMutability") {
                self.api
                    .put_image_tag_mutability(name, &input.image_tag_mutability)
                    .await?;
            }
            if touches("scanOnPush") {
                self.api
                    .put_image_scanning_configuration(
                        name,
                        input.image_scanning_configuration.scan_on_push,
                    )
                    .await?;
            }
            if touches("lifecyclePolicy") {
                match &repo.put_lifecycle_policy {
                    Some(p) => {
                        self.api
                            .put_lifecycle_policy(name, &p.lifecycle_policy_text)
                            .await?;
                    }
                    None => self.api.delete_lifecycle_policy(name).await?,
                }
            }
            if touches("tags") {
                let arn = self
                    .api
                    .describe_repositories()
                    .await?
                    .into_iter()
                    .find(|r| r.repository_name == name)
                    .map(|r| r.repository_arn)
                    .unwrap_or_default();
                self.api.tag_repository(&arn, &input.tags).await?;
            }
            Ok(format!("updated {}", summary(change)))
        };
        match run.await {
            Ok(message) => result(change, ResultCode::Synced, message),
            Err(e) => result(change, ResultCode::Failed, e.to_string()),
        }
    }

    /// The ARN of a revision of `td`'s family with exactly its content: the newest one when it
    /// already matches (true = reused), else a newly registered one. Transient failures are
    /// retried, each time checking first whether the lost attempt went through.
    pub(crate) async fn register(&self, td: &TaskDefinition) -> Result<(String, bool), ApiError> {
        let want = normalize_task_definition(td);
        let mut attempt = 0;
        loop {
            if let Some((arn, latest)) = self.api.describe_task_definition(&td.family).await?
                && normalize_task_definition(&latest) == want
            {
                self.remember(&arn, latest);
                return Ok((arn, attempt == 0));
            }
            match self.api.register_task_definition(td).await {
                Ok(arn) => {
                    let mut copy = td.clone();
                    copy.tags.clear();
                    self.remember(&arn, copy);
                    return Ok((arn, false));
                }
                Err(e) if e.transient && attempt + 1 < self.options.register_attempts => {
                    attempt += 1;
                    tracing::warn!("{e}; checking and retrying ({attempt})");
                    tokio::time::sleep(self.options.register_backoff * attempt).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn remember(&self, arn: &str, td: TaskDefinition) {
        if let Ok(mut cache) = self.td_cache.lock() {
            cache.insert(arn.to_owned(), td);
        }
    }

    /// Create or update one service: (index, result, what to follow, task definitions in use).
    async fn apply_service(
        &self,
        index: usize,
        cluster: &str,
        change: &Change,
        service: &RenderedService,
        registered: Option<String>,
        detect: bool,
    ) -> (usize, ResourceResult, Option<Touched>, Vec<String>) {
        let name = service.name.clone();
        let hash_tag = Tag {
            key: DESIRED_HASH_TAG.into(),
            value: desired_hash(service),
        };
        let run = async {
            let mut used = Vec::new();
            if change.op == Op::Create {
                let mut input = service.create_service.clone();
                if detect {
                    input.tags.push(hash_tag.clone());
                }
                if let Some(arn) = &registered {
                    input.task_definition.clone_from(arn);
                }
                if let Some(tag) =
                    task_definition_tag(&input.task_definition, &service.register_task_definition)
                {
                    input.tags.push(tag);
                }
                let token = client_token(&[cluster, &name, &input.task_definition]);
                let live = self.api.create_service(&input, &token).await?;
                used.push(live.task_definition.clone());
                // Some ECS-compatible endpoints drop the deployment settings on create; put them
                // right at once rather than as drift on the next reconcile.
                if !same_deployment(
                    live.deployment_configuration.as_ref(),
                    &input.deployment_configuration,
                ) || crate::settings::dropped_on_create(&live, &input)
                {
                    let mut update = service.update_service.clone();
                    update.task_definition.clone_from(&input.task_definition);
                    self.api.update_service(&update).await?;
                }
                return Ok::<_, ApiError>((
                    format!("created with {}", short_revision(&input.task_definition)),
                    Some(Some(input.task_definition)),
                    used,
                ));
            }
            let other_fields = change
                .fields
                .iter()
                .any(|f| !f.path.starts_with("tags") && f.path != "taskDefinition");
            let tag_fields = change.fields.iter().any(|f| f.path.starts_with("tags"));
            let mut arn = None;
            let mut deployed = None;
            if registered.is_some() || other_fields {
                let mut input = service.update_service.clone();
                input.task_definition = registered.clone().unwrap_or_default();
                crate::settings::clear_removed(&mut input, change);
                self.keep_blue_green_roles(&mut input);
                let live = self.api.update_service(&input).await?;
                used.push(live.task_definition.clone());
                used.extend(live.deployments.iter().map(|d| d.task_definition.clone()));
                arn = Some(live.service_arn).filter(|a| !a.is_empty());
                deployed = Some(
                    registered
                        .clone()
                        .or_else(|| Some(live.task_definition).filter(|t| !t.is_empty())),
                );
            }
            let td_tag = registered
                .as_deref()
                .and_then(|r| task_definition_tag(r, &service.register_task_definition));
            if tag_fields || detect || td_tag.is_some() {
                let arn = match arn {
                    Some(a) => a,
                    None => self.service_arn(cluster, &name).await?,
                };
                let mut tags = service.create_service.tags.clone();
                if detect {
                    tags.push(hash_tag.clone());
                }
                tags.extend(td_tag);
                self.api.tag_service(&arn, &tags).await?;
            }
            Ok((format!("updated {}", summary(change)), deployed, used))
        };
        match run.await {
            Ok((message, deployed, used)) => (
                index,
                result(change, ResultCode::Synced, message),
                deployed.map(|expected| Touched {
                    index,
                    name: name.clone(),
                    expected,
                }),
                used,
            ),
            Err(e) => (
                index,
                result(change, ResultCode::Failed, e.to_string()),
                None,
                Vec::new(),
            ),
        }
    }

    async fn service_arn(&self, cluster: &str, name: &str) -> Result<String, ApiError> {
        let known = self
            .last_services
            .lock()
            .ok()
            .and_then(|m| m.get(name).map(|s| s.service_arn.clone()))
            .filter(|a| !a.is_empty());
        if let Some(arn) = known {
            return Ok(arn);
        }
        self.api
            .describe_services(cluster, &[name.to_owned()])
            .await?
            .into_iter()
            .find(|s| s.is_active())
            .map(|s| s.service_arn)
            .ok_or_else(|| {
                ApiError::refused(
                    "DescribeServices",
                    "ServiceNotFoundException",
                    format!("service `{name}` not found"),
                )
            })
    }

    /// Delete an owned service, after checking again that it is owned (the plan may be stale).
    async fn prune(&self, cluster: &str, env: &str, change: &Change) -> ResourceResult {
        let name = &change.key.name;
        let live = match self
            .api
            .describe_services(cluster, std::slice::from_ref(name))
            .await
        {
            Ok(found) => found.into_iter().find(|s| s.is_active()),
            Err(e) => return result(change, ResultCode::Failed, e.to_string()),
        };
        let Some(live) = live else {
            return result(change, ResultCode::Synced, "already gone");
        };
        if !live.owned_by(env) {
            return result(
                change,
                ResultCode::Skipped,
                format!("not pruned: the service is not managed by Ferry for `{env}` any more"),
            );
        }
        match self.api.delete_service(cluster, name).await {
            Ok(()) => result(change, ResultCode::Synced, "deleted"),
            Err(e) => result(change, ResultCode::Failed, e.to_string()),
        }
    }

    /// Poll the touched services until each rollout settles or the deadline passes.
    async fn follow_rollouts(
        &self,
        desired: &DesiredState,
        cluster: &str,
        touched: &[Touched],
        deadline: Instant,
        timeout: Duration,
    ) -> Vec<(Touched, ResultCode, String)> {
        let mut pending: Vec<Touched> = touched.to_vec();
        let mut last: BTreeMap<String, String> = BTreeMap::new();
        let mut done = Vec::new();
        while !pending.is_empty() {
            let rollouts: Vec<Rollout> = pending
                .iter()
                .map(|t| Rollout {
                    service: t.name.clone(),
                    expected_revision: t.expected.clone(),
                })
                .collect();
            let seen = match self.poll_rollouts(cluster, &rollouts, Some(desired)).await {
                Ok(seen) => seen,
                Err(e) => {
                    tracing::warn!("following rollouts: {e}");
                    BTreeMap::new()
                }
            };
            let mut still = Vec::new();
            for t in pending {
                let Some(h) = seen.get(&t.name) else {
                    still.push(t);
                    continue;
                };
                if last.get(&t.name) != Some(&h.message) {
                    self.say(&format!("{}: {:?}: {}", t.name, h.code, h.message));
                    last.insert(t.name.clone(), h.message.clone());
                }
                if is_settled(h.code) {
                    let code = if h.code == HealthCode::Healthy {
                        ResultCode::Synced
                    } else {
                        ResultCode::Failed
                    };
                    done.push((t, code, format!("{:?}: {}", h.code, h.message)));
                } else {
                    still.push(t);
                }
            }
            pending = still;
            if pending.is_empty() {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                for t in pending.drain(..) {
                    let seen_last = last
                        .get(&t.name)
                        .cloned()
                        .unwrap_or_else(|| "never observed".into());
                    done.push((
                        t,
                        ResultCode::Failed,
                        format!(
                            "Progressing: the rollout did not finish within {}s ({seen_last})",
                            timeout.as_secs()
                        ),
                    ));
                }
                break;
            }
            tokio::time::sleep(self.options.poll_interval.min(deadline - now)).await;
        }
        done
    }

    /// Deregister revisions of `families` beyond the newest N, never one in use.
    async fn collect_task_definitions(
        &self,
        registered: &BTreeMap<String, String>,
        mut in_use: BTreeSet<String>,
    ) {
        if let Ok(last) = self.last_services.lock() {
            for s in last.values().filter(|s| s.is_active()) {
                in_use.insert(s.task_definition.clone());
                in_use.extend(s.deployments.iter().map(|d| d.task_definition.clone()));
            }
        }
        let keep = self.options.keep_task_definitions;
        let mut report = GcReport::default();
        for family in registered.keys() {
            let arns = match self.api.list_task_definitions(family).await {
                Ok(a) => a,
                Err(e) => {
                    report.errors.push(e.to_string());
                    continue;
                }
            };
            let old: Vec<String> = revisions_beyond(family, arns, keep)
                .into_iter()
                .filter(|a| !in_use.contains(a))
                .collect();
            let outcomes: Vec<(String, Result<(), ApiError>)> = stream::iter(old)
                .map(|arn| async move {
                    let r = self.api.deregister_task_definition(&arn).await;
                    (arn, r)
                })
                .buffer_unordered(self.options.write_concurrency.max(1))
                .collect()
                .await;
            for (arn, r) in outcomes {
                match r {
                    Ok(()) => report
                        .deregistered
                        .entry(family.clone())
                        .or_default()
                        .push(arn),
                    Err(e) => report.errors.push(e.to_string()),
                }
            }
        }
        for (family, arns) in &report.deregistered {
            self.say(&format!(
                "task definition GC: deregistered {} old revision(s) of {family} (keeping the newest {keep})",
                arns.len()
            ));
        }
        if let Ok(mut last) = self.last_gc.lock() {
            *last = report;
        }
    }
}

/// The revision number of a task definition ARN of `family` (`...task-definition/family:N`).
fn revision_number(family: &str, arn: &str) -> Option<u64> {
    let (f, n) = short_revision(arn).rsplit_once(':')?;
    (f == family).then(|| n.parse().ok()).flatten()
}

/// The ARNs of `family` beyond the newest `keep`, newest by revision number as parsed from the
/// ARN (whatever order the server listed them in); ARNs of other families are never returned.
fn revisions_beyond(family: &str, arns: Vec<String>, keep: usize) -> Vec<String> {
    let mut own: Vec<(u64, String)> = arns
        .into_iter()
        .filter_map(|a| revision_number(family, &a).map(|n| (n, a)))
        .collect();
    own.sort_by_key(|(n, _)| std::cmp::Reverse(*n));
    own.dedup_by(|a, b| a.0 == b.0);
    own.into_iter().skip(keep).map(|(_, a)| a).collect()
}

impl<A: EcsApi> EcsPlatform<A> {
    /// ECS swaps a blue/green pair's target groups after each deployment: send them the way
    /// they are live (as last observed), so an update does not move production traffic.
    fn keep_blue_green_roles(&self, input: &mut ferry_core::render::UpdateService) {
        let Ok(seen) = self.last_services.lock() else {
            return;
        };
        let Some(live) = seen.get(&input.service) else {
            return;
        };
        for lb in &mut input.load_balancers {
            let Some(a) = lb.advanced_configuration.as_mut() else {
                continue;
            };
            let swapped = live.load_balancers.iter().any(|l| {
                l.container_name == lb.container_name
                    && l.container_port == lb.container_port
                    && l.target_group_arn == a.alternate_target_group_arn
            });
            if swapped {
                std::mem::swap(&mut lb.target_group_arn, &mut a.alternate_target_group_arn);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn arn(family: &str, n: u32) -> String {
        format!("arn:aws:ecs:us-east-1:123456789012:task-definition/{family}:{n}")
    }

    #[test]
    fn gc_keeps_the_newest_revisions_by_number_whatever_the_listed_order() {
        let listed = vec![
            arn("dev-web", 3),
            arn("dev-web", 10),
            arn("dev-web", 1),
            arn("dev-web-canary", 99),
            arn("dev-web", 7),
            arn("dev-web", 2),
            "not an arn".to_owned(),
        ];
        let gone = revisions_beyond("dev-web", listed.clone(), 2);
        assert_eq!(
            gone,
            vec![arn("dev-web", 3), arn("dev-web", 2), arn("dev-web", 1)]
        );
        let mut reversed = listed;
        reversed.reverse();
        assert_eq!(revisions_beyond("dev-web", reversed, 2), gone);
        assert!(revisions_beyond("dev-web", vec![arn("dev-web", 4)], 5).is_empty());
    }
}
