//! The reconcile loop of one environment: serialized (one reconcile at a time), triggered by
//! a new revision, the drift timer, `POST /sync` or a retry after backoff. Like Flux's
//! kustomize-controller: a thin outer loop (triggers, backoff, status finalization) around an
//! inner reconcile whose steps read like the pipeline: load → observe → render → diff → apply.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_core::diff::diff;
use ferry_core::kinds::{DriftMode, PlatformKind};
use ferry_core::load::DesiredState;
use ferry_core::plan::{Plan, ResourceKind};
use ferry_core::platform::{ApplyOptions, HealthCode, Observed, Platform, ResultCode, SyncStatus};
use ferry_core::render::render;
use tokio::sync::{Notify, watch};

use super::metrics::Metrics;
use super::source::Revision;
use super::status::{
    Condition, EnvStatus, ResourceStatus, StatusSnapshot, SyncAttempt, result_text,
};

/// Why a reconcile runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// A new revision arrived.
    Revision,
    /// The drift timer fired.
    Drift,
    /// `POST /sync`.
    Sync,
    /// Retrying after a failure.
    Retry,
}

impl Trigger {
    fn as_str(self) -> &'static str {
        match self {
            Self::Revision => "revision",
            Self::Drift => "drift",
            Self::Sync => "sync",
            Self::Retry => "retry",
        }
    }
}

/// Shortest health refresh interval for ECS environments (each refresh is a full observe).
const ECS_MIN_HEALTH_INTERVAL: Duration = Duration::from_secs(30);

/// Settings of a loop.
#[derive(Clone, Debug)]
pub(crate) struct LoopOptions {
    /// Drift check interval.
    pub(crate) drift_interval: Duration,
    /// Health refresh interval (observe only, no apply).
    pub(crate) health_interval: Duration,
}

/// Everything one environment's loop needs.
pub(crate) struct EnvLoop<P: Platform> {
    pub(crate) env: String,
    pub(crate) platform: Arc<P>,
    pub(crate) options: LoopOptions,
    pub(crate) revisions: watch::Receiver<Option<Revision>>,
    pub(crate) sync: Arc<Notify>,
    pub(crate) status: watch::Sender<StatusSnapshot>,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) metrics: Arc<Metrics>,
    /// Where finished attempts go to be stored.
    pub(crate) history: tokio::sync::mpsc::UnboundedSender<(String, SyncAttempt)>,
    /// The store itself, to write an apply ahead before it starts.
    pub(crate) journal: super::history::History,
    /// The revision applied before this process started (from history).
    pub(crate) applied: Option<String>,
}

/// The state the loop carries between reconciles.
#[derive(Default)]
struct Memory {
    /// The last revision that loaded and validated, with its desired state.
    /// Shared (`Arc`): a reconcile borrows it instead of copying thousands of services.
    last_good: Option<(Revision, Arc<DesiredState>)>,
    /// The last revision that failed to load (not retried until a new one arrives).
    invalid: Option<String>,
    /// The revision last applied successfully.
    applied: Option<String>,
    /// Consecutive failures (for backoff).
    failures: u32,
}

impl<P: Platform> EnvLoop<P> {
    /// Run until shutdown.
    pub(crate) async fn run(mut self) {
        let mut memory = Memory {
            applied: self.applied.clone(),
            ..Memory::default()
        };
        let mut next_drift = Instant::now() + self.options.drift_interval;
        let mut pending = self
            .revisions
            .borrow()
            .is_some()
            .then_some(Trigger::Revision);
        loop {
            let trigger = match pending.take() {
                Some(t) => t,
                None => {
                    let retry = if memory.failures > 0 {
                        super::backoff(memory.failures)
                    } else {
                        Duration::from_secs(86_400)
                    };
                    let health_every = self.health_interval(&memory);
                    tokio::select! {
                        changed = self.revisions.changed() => {
                            if changed.is_err() { return; }
                            Trigger::Revision
                        }
                        () = self.sync.notified() => Trigger::Sync,
                        () = tokio::time::sleep_until(next_drift.into()) => Trigger::Drift,
                        () = tokio::time::sleep(retry) => Trigger::Retry,
                        () = tokio::time::sleep(health_every) => {
                            self.refresh(&memory).await;
                            continue;
                        }
                        _ = self.shutdown.changed() => return,
                    }
                }
            };
            if *self.shutdown.borrow() {
                return;
            }
            if trigger == Trigger::Drift {
                next_drift = Instant::now() + self.options.drift_interval;
            }
            self.reconcile(trigger, &mut memory).await;
        }
    }

    /// Between reconciles, health is refreshed by a full observe. That is free for local
    /// processes but costs API calls on ECS, so ECS environments refresh at most every 30 s.
    fn health_interval(&self, memory: &Memory) -> Duration {
        let ecs = memory
            .last_good
            .as_ref()
            .is_some_and(|(_, s)| s.environment.spec.platform == PlatformKind::Ecs);
        if ecs {
            self.options.health_interval.max(ECS_MIN_HEALTH_INTERVAL)
        } else {
            self.options.health_interval
        }
    }

    fn publish(&self, f: impl FnOnce(&mut EnvStatus)) {
        self.status
            .send_modify(|s| f(s.environments.entry(self.env.clone()).or_default()));
    }

    /// Observe only: refresh health and drift in status between reconciles.
    async fn refresh(&self, memory: &Memory) {
        let Some((_, state)) = &memory.last_good else {
            return;
        };
        if let Ok(observed) = self.platform.observe(state).await {
            let rendered = render(state, &observed.digests);
            let plan = diff(state, &rendered, &observed.actual);
            let resources = resource_statuses(state, &plan, &observed, None);
            self.publish(|s| {
                s.resources = merge_results(resources, &s.resources);
                s.sync = if plan.is_empty() {
                    SyncStatus::Synced
                } else {
                    SyncStatus::OutOfSync
                };
            });
            self.metrics.set_drift(&self.env, drift_count(&plan));
        }
    }

    /// One reconcile: load → observe → render → diff → apply → status.
    async fn reconcile(&self, trigger: Trigger, memory: &mut Memory) {
        let Some(revision) = self.revisions.borrow().clone() else {
            return;
        };
        let started = Instant::now();
        let started_at = now_rfc3339();
        let mut attempt = SyncAttempt {
            revision: revision.id.clone(),
            trigger: trigger.as_str().into(),
            started: started_at,
            duration_ms: 0,
            result: String::new(),
            changes: Vec::new(),
            errors: Vec::new(),
            row: None,
        };

        // Load and validate, unless this revision is already known good or known broken.
        let known_good = memory
            .last_good
            .as_ref()
            .is_some_and(|(r, _)| r.id == revision.id);
        if !known_good && memory.invalid.as_deref() != Some(revision.id.as_str()) {
            let root = revision.root.clone();
            let env = self.env.clone();
            let loaded = tokio::task::spawn_blocking(move || {
                ferry_core::load_environment(&root, &env).map(|mut state| {
                    state.forget_origins();
                    state
                })
            })
            .await;
            match loaded {
                Ok(Ok(state)) => {
                    memory.last_good = Some((revision.clone(), Arc::new(state)));
                    memory.invalid = None;
                }
                Ok(Err(diags)) => {
                    memory.invalid = Some(revision.id.clone());
                    let errors: Vec<String> = diags.0.iter().map(ToString::to_string).collect();
                    tracing::warn!(env = %self.env, revision = %revision.id, errors = errors.len(), "revision is invalid; nothing of it is applied");
                    attempt.result = "Invalid".into();
                    attempt.errors.clone_from(&errors);
                    self.finish(attempt, started, "invalid");
                    self.publish(|s| {
                        s.last_attempted_revision = Some(revision.id.clone());
                        s.errors = errors;
                        s.conditions = vec![
                            cond(
                                "Ready",
                                false,
                                "ValidationFailed",
                                "the newest revision is invalid; the last good one keeps running",
                            ),
                            cond(
                                "Stalled",
                                true,
                                "ValidationFailed",
                                &format!("revision {} has manifest errors", short(&revision.id)),
                            ),
                        ];
                    });
                    return;
                }
                Err(e) => {
                    attempt.result = "Failed".into();
                    attempt.errors.push(format!("load task failed: {e}"));
                    self.finish(attempt, started, "failed");
                    return;
                }
            }
        }
        if memory.invalid.as_deref() == Some(revision.id.as_str()) && trigger == Trigger::Revision {
            return;
        }
        let Some((good, state)) = memory.last_good.clone() else {
            return;
        };
        attempt.revision.clone_from(&good.id);
        let fresh_revision = good.id == revision.id;

        self.publish(|s| {
            s.platform = match state.environment.spec.platform {
                PlatformKind::Ecs => "ecs".into(),
                PlatformKind::Local => "local".into(),
            };
            if fresh_revision {
                s.last_attempted_revision = Some(good.id.clone());
                s.errors.clear();
            }
            s.conditions = vec![cond(
                "Reconciling",
                true,
                "Progressing",
                &format!("reconciling {} ({})", short(&good.id), trigger.as_str()),
            )];
        });

        if state.environment.spec.suspend {
            self.publish(|s| {
                s.conditions = vec![cond(
                    "Ready",
                    false,
                    "Suspended",
                    "spec.suspend is true; not reconciling",
                )]
            });
            return;
        }

        let observed = match self.platform.observe(&state).await {
            Ok(o) => o,
            Err(e) => {
                memory.failures += 1;
                attempt.result = "Failed".into();
                attempt.errors.push(format!("observe: {e}"));
                let retry = super::backoff(memory.failures);
                self.publish(|s| {
                    s.conditions = vec![
                        cond(
                            "Ready",
                            false,
                            "ObserveFailed",
                            &format!("{e}; retrying in {}s", retry.as_secs()),
                        ),
                        cond(
                            "Reconciling",
                            true,
                            "ProgressingWithRetry",
                            "waiting to retry",
                        ),
                    ];
                });
                self.finish(attempt, started, "failed");
                return;
            }
        };
        let rendered = render(&state, &observed.digests);
        let plan = diff(&state, &rendered, &observed.actual);
        self.metrics.set_drift(&self.env, drift_count(&plan));

        let only_drift = !fresh_revision || memory.applied.as_deref() == Some(good.id.as_str());
        let detect_only = state.environment.spec.drift == DriftMode::Detect
            && only_drift
            && trigger == Trigger::Drift;
        if plan.is_empty() || detect_only {
            memory.failures = 0;
            if plan.is_empty() {
                memory.applied = Some(good.id.clone());
                self.metrics.applied(&self.env, &good.id, good.created);
            }
            let (result, message) = if plan.is_empty() {
                (
                    "NoChanges",
                    format!("{} applied; live matches git", short(&good.id)),
                )
            } else {
                (
                    "DriftDetected",
                    format!(
                        "{} resource(s) drifted; drift mode is detect, so nothing was changed",
                        drift_count(&plan)
                    ),
                )
            };
            let resources = resource_statuses(&state, &plan, &observed, None);
            let applied = memory.applied.clone();
            self.publish(|s| {
                s.sync = if plan.is_empty() {
                    SyncStatus::Synced
                } else {
                    SyncStatus::OutOfSync
                };
                s.resources = merge_results(resources, &s.resources);
                s.last_applied_revision = applied;
                s.conditions = vec![cond(
                    "Ready",
                    true,
                    if plan.is_empty() {
                        "ReconciliationSucceeded"
                    } else {
                        "DriftDetected"
                    },
                    &message,
                )];
            });
            if trigger != Trigger::Drift || !plan.is_empty() {
                attempt.result = result.into();
                self.finish(attempt, started, "succeeded");
            } else {
                self.metrics
                    .observe_reconcile(&self.env, "succeeded", started.elapsed());
            }
            return;
        }

        attempt.changes = plan
            .changes
            .iter()
            .map(|c| format!("{} {}/{}", c.op, c.key.kind, c.key.name))
            .collect();
        attempt.row = self.write_ahead(&attempt).await;
        let results = self
            .platform
            .apply(&state, &rendered, &plan, &ApplyOptions::default())
            .await;
        let failed: Vec<String> = results
            .iter()
            .filter(|r| r.code != ResultCode::Synced)
            .map(|r| format!("{} {}/{}: {}", r.op, r.key.kind, r.key.name, r.message))
            .collect();
        // Observe again so status shows what now runs (the first plan is done with: free it
        // before a second copy of everything is built).
        drop((rendered, plan));
        let after = self.platform.observe(&state).await.unwrap_or(observed);
        let rendered_after = render(&state, &after.digests);
        let plan_after = diff(&state, &rendered_after, &after.actual);
        let resources = resource_statuses(&state, &plan_after, &after, Some(&results));
        if failed.is_empty() {
            memory.failures = 0;
            memory.applied = Some(good.id.clone());
            self.metrics.applied(&self.env, &good.id, good.created);
            attempt.result = "Succeeded".into();
            let applied = memory.applied.clone();
            self.publish(|s| {
                s.sync = if plan_after.is_empty() {
                    SyncStatus::Synced
                } else {
                    SyncStatus::OutOfSync
                };
                s.resources = resources;
                s.last_applied_revision = applied;
                s.conditions = vec![cond(
                    "Ready",
                    true,
                    "ReconciliationSucceeded",
                    &format!("applied {} ({} change(s))", short(&good.id), results.len()),
                )];
            });
            self.finish(attempt, started, "succeeded");
        } else {
            memory.failures += 1;
            attempt.result = "Failed".into();
            attempt.errors.clone_from(&failed);
            let retry = super::backoff(memory.failures);
            self.publish(|s| {
                s.sync = SyncStatus::OutOfSync;
                s.resources = resources;
                s.conditions = vec![
                    cond(
                        "Ready",
                        false,
                        "ApplyFailed",
                        &format!("{}; retrying in {}s", failed.join("; "), retry.as_secs()),
                    ),
                    cond(
                        "Reconciling",
                        true,
                        "ProgressingWithRetry",
                        "waiting to retry",
                    ),
                ];
            });
            self.finish(attempt, started, "failed");
        }
    }

    /// Store the attempt as `Applying` before the apply, so a crash during it leaves a trace.
    /// A slow or failing history store never holds the apply back for more than 5 s.
    async fn write_ahead(&self, attempt: &SyncAttempt) -> Option<i64> {
        let write = self.journal.begin(&self.env, attempt);
        match tokio::time::timeout(Duration::from_secs(5), write).await {
            Ok(Ok(row)) => Some(row),
            Ok(Err(e)) => {
                tracing::warn!(env = %self.env, error = %e, "cannot write the apply ahead to history");
                None
            }
            Err(_) => {
                tracing::warn!(env = %self.env, "history store too slow; applying without writing ahead");
                None
            }
        }
    }

    fn finish(&self, mut attempt: SyncAttempt, started: Instant, result: &str) {
        attempt.duration_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.metrics
            .observe_reconcile(&self.env, result, started.elapsed());
        tracing::info!(env = %self.env, revision = %attempt.revision, trigger = %attempt.trigger, result = %attempt.result, ms = attempt.duration_ms, "reconcile finished");
        let _ = self.history.send((self.env.clone(), attempt.clone()));
        self.publish(|s| {
            s.last_reconcile = Some(now_rfc3339());
            s.history.insert(0, attempt);
            s.history.truncate(50);
        });
    }
}

fn cond(kind: &'static str, status: bool, reason: &'static str, message: &str) -> Condition {
    Condition {
        kind,
        status: if status { "True" } else { "False" },
        reason,
        message: message.to_owned(),
    }
}

fn short(id: &str) -> &str {
    if id.len() == 40 { &id[..12] } else { id }
}

fn drift_count(plan: &Plan) -> usize {
    plan.changes.len()
}

/// Per-resource status from a plan (sync, drifted fields) and observed health.
fn resource_statuses(
    state: &DesiredState,
    plan: &Plan,
    observed: &Observed,
    results: Option<&[ferry_core::platform::ResourceResult]>,
) -> Vec<ResourceStatus> {
    let mut out = Vec::new();
    for name in state.repositories.keys() {
        let changes: Vec<String> = plan
            .changes
            .iter()
            .filter(|c| c.key.kind == ResourceKind::EcrRepository && &c.key.name == name)
            .flat_map(|c| c.fields.iter().map(|f| f.path.clone()))
            .collect();
        out.push(ResourceStatus {
            kind: "EcrRepository".into(),
            name: name.clone(),
            sync: if changes.is_empty() {
                SyncStatus::Synced
            } else {
                SyncStatus::OutOfSync
            },
            health: if observed.actual.repositories.contains_key(name) {
                HealthCode::Healthy
            } else {
                HealthCode::Missing
            },
            drift: changes,
            last_result: last_result(results, ResourceKind::EcrRepository, name),
            ..ResourceStatus::default()
        });
    }
    for (name, svc) in &state.services {
        let family = ferry_core::render::family(state, svc);
        let drift: Vec<String> = plan
            .changes
            .iter()
            .filter(|c| {
                (c.key.kind == ResourceKind::EcsService && &c.key.name == name)
                    || (c.key.kind == ResourceKind::TaskDefinition && c.key.name == family)
            })
            .flat_map(|c| c.fields.iter().map(|f| f.path.clone()))
            .collect();
        let health = observed.health.get(name).cloned().unwrap_or_default();
        out.push(ResourceStatus {
            kind: "EcsService".into(),
            name: name.clone(),
            sync: if drift.is_empty() {
                SyncStatus::Synced
            } else {
                SyncStatus::OutOfSync
            },
            health: health.code,
            message: health.message,
            live_revision: health.live_revision,
            images: health.images,
            drift,
            last_result: last_result(results, ResourceKind::EcsService, name),
        });
    }
    for change in plan
        .changes
        .iter()
        .filter(|c| c.op == ferry_core::Op::Prune)
    {
        out.push(ResourceStatus {
            kind: change.key.kind.to_string(),
            name: change.key.name.clone(),
            sync: SyncStatus::OutOfSync,
            health: HealthCode::Unknown,
            message: "owned but no longer in git: will be pruned".into(),
            ..ResourceStatus::default()
        });
    }
    out
}

fn last_result(
    results: Option<&[ferry_core::platform::ResourceResult]>,
    kind: ResourceKind,
    name: &str,
) -> Option<String> {
    results?
        .iter()
        .rfind(|r| r.key.kind == kind && r.key.name == name)
        .map(|r| format!("{} {}: {}", r.op, result_text(r.code), r.message))
}

/// Keep the last apply results when only health is refreshed.
fn merge_results(
    mut fresh: Vec<ResourceStatus>,
    previous: &[ResourceStatus],
) -> Vec<ResourceStatus> {
    for r in &mut fresh {
        if r.last_result.is_none() {
            r.last_result = previous
                .iter()
                .find(|p| p.kind == r.kind && p.name == r.name)
                .and_then(|p| p.last_result.clone());
        }
    }
    fresh
}

/// Now as RFC 3339 (UTC, seconds).
pub(crate) fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
