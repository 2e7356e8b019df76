//! The reconcile loop of one environment: serialized (one reconcile at a time), triggered by
//! a new revision, the drift timer, `POST /sync` or a retry after backoff. Like Flux's
//! kustomize-controller: a thin outer loop (triggers, backoff, status finalization) around an
//! inner reconcile whose steps read like the pipeline: load → observe → render → diff → apply →
//! follow the rollouts.
//!
//! A sync is `Succeeded` only when every rollout it started completed. A revision whose
//! rollout failed (rolled back by ECS, failed, timed out) is held back: timers, retries and
//! restarts do not apply it again; a new revision or `POST /sync` does. A rollback
//! (`POST /rollback`) deploys the revisions a good sync recorded and pauses automatic sync
//! until the next revision or `POST /resume` (Argo CD's rule).

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferry_core::diff::diff;
use ferry_core::kinds::{DriftMode, PlatformKind};
use ferry_core::load::DesiredState;
use ferry_core::plan::{Plan, ResourceKind};
use std::collections::BTreeMap;

use ferry_core::platform::{
    ApplyOptions, HealthCode, Observed, Platform, ResourceHealth, ResourceResult, ResultCode,
    Rollout, RolloutOutcome, SyncStatus,
};
use ferry_core::render::render;
use tokio::sync::watch;

use super::history::{GoodRevision, Remembered};
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

/// What `POST /sync`, `/rollback`, `/resume`, `/promote` and `/abort` ask of a loop.
#[derive(Debug)]
pub(crate) enum Command {
    /// Promote or abort the deployment in progress of a service; the answer goes to `reply`.
    Deployment {
        /// The service.
        service: String,
        /// What to do.
        action: ferry_core::platform::DeploymentAction,
        /// What was done (or why not).
        reply: tokio::sync::oneshot::Sender<Result<String, String>>,
    },
    /// Reconcile now (also retries a held-back revision and ends a pause).
    Sync,
    /// Deploy a good revision again and pause automatic sync.
    Rollback(GoodRevision),
    /// End a pause and reconcile.
    Resume,
}

/// The next thing a loop does, when something asked for it before the loop was idle.
#[derive(Clone, Debug)]
enum Work {
    Reconcile(Trigger),
    Rollback(GoodRevision),
    Resume,
}

/// What cut a rollout short while it was followed.
enum Interrupt {
    /// A newer revision arrived: the rollout is superseded.
    Revision,
    /// A rollback was asked for.
    Rollback(GoodRevision),
    /// Ferry is stopping.
    Shutdown,
}

/// A revision whose rollout failed, held back from automatic re-application.
#[derive(Clone, Debug)]
struct Held {
    revision: String,
    reason: String,
    errors: Vec<String>,
    /// Service → (the revision git wants, why it is not live), when known.
    expected: BTreeMap<String, (String, String)>,
}

/// Automatic sync paused by a rollback.
#[derive(Clone, Debug)]
struct Paused {
    /// The revision rolled back to.
    to: String,
    /// The newest source revision at the time: a different one ends the pause.
    head: String,
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
    /// How often a rollout is polled while it is followed.
    pub(crate) rollout_poll: Duration,
}

/// Everything one environment's loop needs.
pub(crate) struct EnvLoop<P: Platform> {
    pub(crate) env: String,
    pub(crate) platform: Arc<P>,
    pub(crate) options: LoopOptions,
    pub(crate) revisions: watch::Receiver<Option<Revision>>,
    pub(crate) commands: tokio::sync::mpsc::UnboundedReceiver<Command>,
    pub(crate) status: watch::Sender<StatusSnapshot>,
    pub(crate) shutdown: watch::Receiver<bool>,
    pub(crate) metrics: Arc<Metrics>,
    /// Where finished attempts go to be stored.
    pub(crate) history: tokio::sync::mpsc::UnboundedSender<(String, SyncAttempt)>,
    /// The store itself, to write an apply ahead before it starts.
    pub(crate) journal: super::history::History,
    /// What history says about before this process started.
    pub(crate) remembered: Remembered,
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
    /// A revision whose rollout failed: not applied again without a new revision or a sync.
    held: Option<Held>,
    /// Automatic sync paused by a rollback.
    paused: Option<Paused>,
    /// The drift last written to history (a drift tick records it only when it changes).
    reported_drift: Option<Vec<String>>,
}

impl<P: Platform> EnvLoop<P> {
    /// Run until shutdown.
    pub(crate) async fn run(mut self) {
        let remembered = std::mem::take(&mut self.remembered);
        let mut memory = Memory {
            applied: remembered.applied,
            held: remembered.failed.map(|(revision, reason, errors)| Held {
                revision,
                reason,
                errors,
                expected: BTreeMap::new(),
            }),
            paused: remembered.paused.map(|(to, head)| Paused { to, head }),
            ..Memory::default()
        };
        self.metrics.set_paused(&self.env, memory.paused.is_some());
        let mut next_drift = Instant::now() + self.options.drift_interval;
        let mut pending = self
            .revisions
            .borrow()
            .is_some()
            .then_some(Work::Reconcile(Trigger::Revision));
        loop {
            let work = match pending.take() {
                Some(w) => w,
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
                            Work::Reconcile(Trigger::Revision)
                        }
                        command = self.commands.recv() => match command {
                            Some(Command::Sync) => Work::Reconcile(Trigger::Sync),
                            Some(Command::Rollback(target)) => Work::Rollback(target),
                            Some(Command::Resume) => Work::Resume,
                            Some(Command::Deployment { service, action, reply }) => {
                                let state = memory.last_good.as_ref().map(|(_, s)| s.clone());
                                self.deployment_action(state.as_deref(), &service, action, reply).await;
                                continue;
                            }
                            None => return,
                        },
                        () = tokio::time::sleep_until(next_drift.into()) => Work::Reconcile(Trigger::Drift),
                        () = tokio::time::sleep(retry) => Work::Reconcile(Trigger::Retry),
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
            pending = match work {
                Work::Reconcile(trigger) => {
                    if trigger == Trigger::Drift {
                        next_drift = Instant::now() + self.options.drift_interval;
                    }
                    self.reconcile(trigger, &mut memory).await
                }
                Work::Rollback(target) => self.rollback(target, &mut memory).await,
                Work::Resume => {
                    self.resume(&mut memory);
                    Some(Work::Reconcile(Trigger::Sync))
                }
            };
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
            let mut resources = resource_statuses(state, &plan, &observed, None);
            annotate(&mut resources, memory.held.as_ref());
            self.publish(|s| {
                set_resources(
                    s,
                    merge_results(resources, &s.resources),
                    memory.held.is_some(),
                );
                s.sync = if plan.is_empty() {
                    SyncStatus::Synced
                } else {
                    SyncStatus::OutOfSync
                };
            });
            self.metrics.set_drift(&self.env, drift_count(&plan));
        }
    }

    /// The newest revision the source produced.
    fn head(&self) -> Option<String> {
        self.revisions.borrow().as_ref().map(|r| r.id.clone())
    }

    /// One reconcile: load → observe → render → diff → apply → follow → status. Returns work
    /// that arrived while a rollout was followed and cut it short.
    async fn reconcile(&mut self, trigger: Trigger, memory: &mut Memory) -> Option<Work> {
        let revision = self.revisions.borrow().clone()?;
        let started = Instant::now();
        let mut attempt = SyncAttempt {
            revision: revision.id.clone(),
            trigger: trigger.as_str().into(),
            started: now_rfc3339(),
            head: Some(revision.id.clone()),
            ..SyncAttempt::default()
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
                    return None;
                }
                Err(e) => {
                    attempt.result = "Failed".into();
                    attempt.errors.push(format!("load task failed: {e}"));
                    self.finish(attempt, started, "failed");
                    return None;
                }
            }
        }
        if memory.invalid.as_deref() == Some(revision.id.as_str()) && trigger == Trigger::Revision {
            return None;
        }
        let (good, state) = memory.last_good.clone()?;
        attempt.revision.clone_from(&good.id);
        let fresh_revision = good.id == revision.id;

        // Paused by a rollback: only a new revision or an explicit sync ends it.
        if let Some(paused) = &memory.paused {
            let new_revision =
                trigger == Trigger::Revision && fresh_revision && good.id != paused.head;
            if new_revision || trigger == Trigger::Sync {
                tracing::info!(env = %self.env, revision = %good.id, "automatic sync resumed");
                memory.paused = None;
                self.metrics.set_paused(&self.env, false);
                self.publish(|s| s.paused = None);
            } else {
                self.publish_paused(memory);
                self.refresh(memory).await;
                return None;
            }
        }
        // A revision whose rollout failed is not applied again on its own.
        if let Some(held) = &memory.held {
            if held.revision == good.id && trigger != Trigger::Sync {
                self.publish_held(held);
                self.refresh(memory).await;
                return None;
            }
            memory.held = None;
            self.publish(|s| s.held_back = None);
        }

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
            return None;
        }

        let observed = match self.platform.observe(&state).await {
            Ok(o) => o,
            Err(e) => {
                memory.failures += 1;
                // A refused account or role has its own reason, and stalls the environment
                // (nothing was read); it is still checked again after the backoff, so fixed
                // credentials recover without a new revision.
                let reason = e.reason.unwrap_or("ObserveFailed");
                attempt.result = "Failed".into();
                attempt.reason = Some(reason.into());
                attempt.errors.push(format!("observe: {e}"));
                let retry = super::backoff(memory.failures);
                self.publish(|s| {
                    let message = format!("{e}; retrying in {}s", retry.as_secs());
                    s.conditions = vec![cond("Ready", false, reason, &message)];
                    if e.reason.is_some() {
                        s.errors = vec![e.message.clone()];
                        s.conditions.push(cond("Stalled", true, reason, &message));
                    } else {
                        s.conditions.push(cond(
                            "Reconciling",
                            true,
                            "ProgressingWithRetry",
                            "waiting to retry",
                        ));
                    }
                });
                self.finish(attempt, started, "failed");
                return None;
            }
        };
        let rendered = render(&state, &observed.digests);
        let plan = diff(&state, &rendered, &observed.actual);
        self.metrics.set_drift(&self.env, drift_count(&plan));
        let detect = state.environment.spec.drift == DriftMode::Detect;

        let only_drift = !fresh_revision || memory.applied.as_deref() == Some(good.id.as_str());
        let detect_only = detect && only_drift && trigger == Trigger::Drift;
        if plan.is_empty() || detect_only {
            memory.failures = 0;
            if plan.is_empty() {
                memory.applied = Some(good.id.clone());
                self.metrics.applied(&self.env, &good.id, good.created);
                attempt.deployed = deployed_revisions(&state, &observed);
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
                set_resources(s, merge_results(resources, &s.resources), false);
                s.last_applied_revision = applied;
                s.conditions = ready_conditions(
                    if plan.is_empty() {
                        "ReconciliationSucceeded"
                    } else {
                        "DriftDetected"
                    },
                    &message,
                    (!plan.is_empty()).then(|| drift_count(&plan)),
                );
            });
            let drift_summary: Vec<String> = plan
                .changes
                .iter()
                .map(|c| format!("{} {}/{}", c.op, c.key.kind, c.key.name))
                .collect();
            let new_drift = memory.reported_drift.as_ref() != Some(&drift_summary);
            memory.reported_drift = Some(drift_summary);
            if trigger != Trigger::Drift || (!plan.is_empty() && new_drift) {
                attempt.result = result.into();
                self.finish(attempt, started, "succeeded");
            } else {
                self.metrics
                    .observe_reconcile(&self.env, "succeeded", started.elapsed());
            }
            return None;
        }

        attempt.changes = plan
            .changes
            .iter()
            .map(|c| format!("{} {}/{}", c.op, c.key.kind, c.key.name))
            .collect();
        attempt.row = self.write_ahead(&attempt).await;
        let results = self
            .platform
            .apply(
                &state,
                &rendered,
                &plan,
                &ApplyOptions {
                    wait: false,
                    // How long a wave waits for the services it depends on.
                    timeout: state.environment.spec.rollout_timeout(),
                },
            )
            .await;
        // The first plan is done with: free it before a second copy of everything is built.
        drop((rendered, plan));
        let failed: Vec<String> = results
            .iter()
            .filter(|r| r.code == ResultCode::Failed)
            .map(|r| format!("{} {}/{}: {}", r.op, r.key.kind, r.key.name, r.message))
            .collect();
        if !failed.is_empty() {
            let after = self.platform.observe(&state).await.unwrap_or(observed);
            let plan_after = diff(&state, &render(&state, &after.digests), &after.actual);
            let resources = resource_statuses(&state, &plan_after, &after, Some(&results));
            memory.failures += 1;
            attempt.result = "Failed".into();
            let pre_deploy = results
                .iter()
                .any(|r| r.code == ResultCode::Failed && r.key.kind == ResourceKind::PreDeployTask);
            attempt.reason = Some(
                if pre_deploy {
                    "PreDeployFailed"
                } else {
                    "ApplyFailed"
                }
                .into(),
            );
            attempt.errors.clone_from(&failed);
            let retry = super::backoff(memory.failures);
            self.publish(|s| {
                s.sync = SyncStatus::OutOfSync;
                set_resources(s, resources, false);
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
            return None;
        }
        drop(observed);

        // Follow the rollouts this apply started, to their end.
        let rollouts: Vec<Rollout> = results.iter().filter_map(|r| r.rollout.clone()).collect();
        let deadline = Instant::now() + state.environment.spec.rollout_timeout();
        let ended = self.follow(&state, &rollouts, deadline, &good.id).await;
        let outcomes = match ended {
            Ok(outcomes) => outcomes,
            Err(interrupt) => return self.interrupted(interrupt, attempt, started, &rollouts),
        };
        self.conclude(attempt, started, &state, &good, &results, &outcomes, memory)
            .await;
        None
    }

    /// A rollout cut short: record the attempt as superseded (or interrupted) and say what
    /// comes next.
    fn interrupted(
        &self,
        interrupt: Interrupt,
        mut attempt: SyncAttempt,
        started: Instant,
        rollouts: &[Rollout],
    ) -> Option<Work> {
        for _ in rollouts {
            self.metrics.rollout(&self.env, "Superseded");
        }
        match interrupt {
            Interrupt::Shutdown => {
                attempt.result = "Interrupted".into();
                attempt.errors.push(
                    "ferry stopped while following the rollout; the next start converges".into(),
                );
                self.finish(attempt, started, "interrupted");
                None
            }
            Interrupt::Revision => {
                attempt.result = "Superseded".into();
                attempt.errors.push(
                    "a newer revision arrived while this rollout was followed; it replaces it"
                        .into(),
                );
                self.finish(attempt, started, "superseded");
                Some(Work::Reconcile(Trigger::Revision))
            }
            Interrupt::Rollback(target) => {
                attempt.result = "Superseded".into();
                attempt.errors.push(format!(
                    "a rollback to {} was asked for while this rollout was followed",
                    short(&target.revision)
                ));
                self.finish(attempt, started, "superseded");
                Some(Work::Rollback(target))
            }
        }
    }

    /// Poll `rollouts` until each settles or `deadline` passes (then `RolloutTimedOut`).
    /// A newer revision, a rollback or shutdown cut it short; a sync asked for meanwhile is
    /// what is being done already.
    async fn follow(
        &mut self,
        state: &DesiredState,
        rollouts: &[Rollout],
        mut deadline: Instant,
        revision: &str,
    ) -> Result<BTreeMap<String, (RolloutOutcome, ResourceHealth)>, Interrupt> {
        let mut done: BTreeMap<String, (RolloutOutcome, ResourceHealth)> = BTreeMap::new();
        let mut pending: Vec<Rollout> = rollouts.to_vec();
        let mut last: BTreeMap<String, ResourceHealth> = BTreeMap::new();
        // The first poll comes one interval after the apply, past DescribeServices' lag.
        if !pending.is_empty()
            && let Some(interrupt) = self
                .wait_poll(self.options.rollout_poll, revision, state)
                .await
        {
            return Err(interrupt);
        }
        while !pending.is_empty() {
            match self.platform.follow(state, &pending).await {
                Ok(healths) => {
                    self.publish(|s| {
                        for (name, h) in &healths {
                            let row = match s
                                .resources
                                .iter_mut()
                                .position(|r| r.kind == "EcsService" && &r.name == name)
                            {
                                Some(i) => &mut s.resources[i],
                                None => {
                                    s.resources.push(ResourceStatus {
                                        kind: "EcsService".into(),
                                        name: name.clone(),
                                        ..ResourceStatus::default()
                                    });
                                    let last = s.resources.len() - 1;
                                    &mut s.resources[last]
                                }
                            };
                            row.health = h.code;
                            row.message.clone_from(&h.message);
                            row.live_revision.clone_from(&h.live_revision);
                            row.deployment.clone_from(&h.progress);
                        }
                    });
                    for (name, h) in &healths {
                        self.metrics
                            .deployment(&self.env, name, h.progress.as_ref());
                    }
                    // A deployment paused for a person is not late: the timeout counts the
                    // rollout's own time, not the wait for `ferry promote`.
                    if healths
                        .values()
                        .any(|h| h.progress.as_ref().is_some_and(|p| p.awaiting_promote))
                    {
                        deadline = deadline.max(Instant::now() + self.options.rollout_poll * 2);
                    }
                    pending.retain(|r| {
                        let Some(h) = healths.get(&r.service) else {
                            return true;
                        };
                        last.insert(r.service.clone(), h.clone());
                        match RolloutOutcome::judge(r, h) {
                            Some(outcome) => {
                                done.insert(r.service.clone(), (outcome, h.clone()));
                                false
                            }
                            None => true,
                        }
                    });
                }
                Err(e) => {
                    tracing::warn!(env = %self.env, error = %e, "following rollouts");
                }
            }
            if pending.is_empty() {
                break;
            }
            let now = Instant::now();
            if now >= deadline {
                for r in pending.drain(..) {
                    let mut h = last.remove(&r.service).unwrap_or_default();
                    h.message = format!(
                        "the rollout did not finish within the rollout timeout ({}); last seen: {}",
                        humantime::format_duration(state.environment.spec.rollout_timeout()),
                        if h.message.is_empty() {
                            "never observed"
                        } else {
                            &h.message
                        }
                    );
                    done.insert(r.service.clone(), (RolloutOutcome::RolloutTimedOut, h));
                }
                break;
            }
            let progress: Vec<String> = pending
                .iter()
                .map(|r| {
                    let h = last.get(&r.service);
                    format!(
                        "{}: {}",
                        r.service,
                        h.map_or("waiting for ECS", |h| h.message.as_str())
                    )
                })
                .collect();
            let left = deadline.saturating_duration_since(now);
            self.publish(|s| {
                s.conditions = vec![cond(
                    "Reconciling",
                    true,
                    "RolloutInProgress",
                    &format!(
                        "rolling out {} ({} of {} done, timeout in {}s): {}",
                        short(revision),
                        done.len(),
                        rollouts.len(),
                        left.as_secs(),
                        progress.join("; ")
                    ),
                )];
            });
            if let Some(interrupt) = self
                .wait_poll(self.options.rollout_poll.min(left), revision, state)
                .await
            {
                return Err(interrupt);
            }
        }
        Ok(done)
    }

    /// Sleep `wait` between two polls of a rollout of `revision`, unless a newer revision, a
    /// rollback or shutdown cuts it short. A sync asked for meanwhile is the work in hand.
    async fn wait_poll(
        &mut self,
        wait: Duration,
        revision: &str,
        state: &DesiredState,
    ) -> Option<Interrupt> {
        let sleep = tokio::time::sleep(wait);
        tokio::pin!(sleep);
        loop {
            tokio::select! {
                () = &mut sleep => return None,
                changed = self.revisions.changed() => {
                    if changed.is_err() {
                        return Some(Interrupt::Shutdown);
                    }
                    if self.head().as_deref() != Some(revision) {
                        return Some(Interrupt::Revision);
                    }
                }
                command = self.commands.recv() => match command {
                    Some(Command::Rollback(target)) => return Some(Interrupt::Rollback(target)),
                    Some(Command::Sync | Command::Resume) => {}
                    Some(Command::Deployment { service, action, reply }) => {
                        self.deployment_action(Some(state), &service, action, reply).await;
                    }
                    None => return Some(Interrupt::Shutdown),
                },
                _ = self.shutdown.changed() => return Some(Interrupt::Shutdown),
            }
        }
    }

    /// Record how an apply ended once its rollouts settled.
    #[allow(clippy::too_many_arguments)]
    async fn conclude(
        &self,
        mut attempt: SyncAttempt,
        started: Instant,
        state: &DesiredState,
        good: &Revision,
        results: &[ResourceResult],
        outcomes: &BTreeMap<String, (RolloutOutcome, ResourceHealth)>,
        memory: &mut Memory,
    ) {
        for (outcome, _) in outcomes.values() {
            self.metrics.rollout(&self.env, outcome.as_str());
        }
        let after = self.platform.observe(state).await.ok();
        let rollout_failures: Vec<(&String, &RolloutOutcome, &ResourceHealth)> = outcomes
            .iter()
            .filter(|(_, (o, _))| *o != RolloutOutcome::Completed)
            .map(|(name, (o, h))| (name, o, h))
            .collect();
        let (plan_after, mut resources) = match &after {
            Some(after) => {
                let plan = diff(state, &render(state, &after.digests), &after.actual);
                let resources = resource_statuses(state, &plan, after, Some(results));
                (Some(plan), resources)
            }
            None => (None, Vec::new()),
        };
        let plan_empty = plan_after.as_ref().is_some_and(Plan::is_empty);
        if rollout_failures.is_empty() {
            memory.failures = 0;
            memory.applied = Some(good.id.clone());
            self.metrics.applied(&self.env, &good.id, good.created);
            attempt.result = "Succeeded".into();
            if let Some(after) = &after {
                attempt.deployed = deployed_revisions(state, after);
            }
            let applied = memory.applied.clone();
            let detect = state.environment.spec.drift == DriftMode::Detect;
            let drifted = plan_after.as_ref().map_or(0, drift_count);
            let skipped = results
                .iter()
                .filter(|r| r.code == ResultCode::Skipped)
                .count();
            self.publish(|s| {
                s.sync = if plan_empty {
                    SyncStatus::Synced
                } else {
                    SyncStatus::OutOfSync
                };
                set_resources(s, resources, false);
                s.last_applied_revision = applied;
                let mut message = format!(
                    "applied {} ({} change(s)); every rollout completed",
                    short(&good.id),
                    results.len() - skipped
                );
                if detect && drifted > 0 {
                    message.push_str(&format!(
                        "; {drifted} resource(s) drifted and were left as they are (drift mode detect)"
                    ));
                }
                s.conditions = ready_conditions(
                    "ReconciliationSucceeded",
                    &message,
                    (detect && drifted > 0).then_some(drifted),
                );
            });
            self.finish(attempt, started, "succeeded");
            return;
        }

        // The worst outcome names the failure.
        let worst = [
            RolloutOutcome::AnalysisFailed,
            RolloutOutcome::RolledBack,
            RolloutOutcome::RolloutFailed,
            RolloutOutcome::RolloutTimedOut,
        ]
        .into_iter()
        .find(|o| rollout_failures.iter().any(|(_, f, _)| *f == o))
        .unwrap_or(RolloutOutcome::RolloutFailed);
        let errors: Vec<String> = rollout_failures
            .iter()
            .map(|(name, o, h)| format!("{name}: {}: {}", o.as_str(), h.message))
            .collect();
        let expected: BTreeMap<String, (String, String)> = results
            .iter()
            .filter_map(|r| r.rollout.as_ref())
            .filter_map(|r| {
                let (o, h) = outcomes.get(&r.service)?;
                let want = r.expected_revision.clone()?;
                (*o != RolloutOutcome::Completed).then(|| {
                    (
                        r.service.clone(),
                        (want, format!("{}: {}", o.as_str(), h.message)),
                    )
                })
            })
            .collect();
        let held = Held {
            revision: good.id.clone(),
            reason: worst.as_str().into(),
            errors: errors.clone(),
            expected,
        };
        annotate(&mut resources, Some(&held));
        tracing::warn!(env = %self.env, revision = %good.id, reason = worst.as_str(), "rollout did not complete: {}", errors.join("; "));
        memory.failures = 0;
        attempt.result = "Failed".into();
        attempt.reason = Some(worst.as_str().into());
        attempt.errors = errors;
        self.publish(|s| {
            s.sync = SyncStatus::OutOfSync;
            if !resources.is_empty() {
                set_resources(s, resources, true);
            }
            s.health = HealthCode::Degraded;
        });
        self.publish_held(&held);
        memory.held = Some(held);
        self.finish(attempt, started, "failed");
    }

    /// `POST /promote` / `POST /abort`: act on the deployment in progress of `service`.
    async fn deployment_action(
        &self,
        state: Option<&DesiredState>,
        service: &str,
        action: ferry_core::platform::DeploymentAction,
        reply: tokio::sync::oneshot::Sender<Result<String, String>>,
    ) {
        let answer = match state {
            None => Err("nothing loaded yet for this environment".to_owned()),
            Some(state) if !state.services.contains_key(service) => Err(format!(
                "no EcsService `{}` in environment `{}`",
                ferry_core::printable::escape(service),
                self.env
            )),
            Some(state) => self
                .platform
                .deployment_action(state, service, action)
                .await
                .map_err(|e| e.message),
        };
        match &answer {
            Ok(said) => tracing::info!(env = %self.env, service, "{said}"),
            Err(e) => tracing::warn!(env = %self.env, service, "{action:?} refused: {e}"),
        }
        let _ = reply.send(answer);
    }

    /// Status of an environment whose newest revision is held back.
    fn publish_held(&self, held: &Held) {
        let what = match held.reason.as_str() {
            "RolledBack" => "was rolled back by ECS (deployment circuit breaker)",
            "AnalysisFailed" => {
                "failed its metric analysis: Ferry stopped the deployment and ECS rolled it back, the old version keeps production traffic"
            }
            "RolloutTimedOut" => "did not finish rolling out within the rollout timeout",
            _ => "failed to roll out",
        };
        let message = format!(
            "revision {} {what}: {}. Ferry will not apply it again on its own: push a new commit to fix it, or POST /sync to retry this one",
            short(&held.revision),
            held.errors.join("; ")
        );
        let reason: &'static str = match held.reason.as_str() {
            "RolledBack" => "RolledBack",
            "AnalysisFailed" => "AnalysisFailed",
            "RolloutTimedOut" => "RolloutTimedOut",
            _ => "RolloutFailed",
        };
        self.publish(|s| {
            s.health = HealthCode::Degraded;
            s.last_reconcile = Some(now_rfc3339());
            s.held_back = Some(message.clone());
            s.conditions = vec![
                cond("Ready", false, reason, &message),
                cond(
                    "Stalled",
                    true,
                    reason,
                    "waiting for a new revision or POST /sync",
                ),
            ];
        });
    }

    /// Status of an environment paused by a rollback.
    fn publish_paused(&self, memory: &Memory) {
        let Some(p) = &memory.paused else {
            return;
        };
        let message = format!(
            "rolled back to {}, auto-sync paused: git's {} is not applied until a new revision arrives, POST /resume or POST /sync",
            short(&p.to),
            short(&p.head)
        );
        self.metrics.set_paused(&self.env, true);
        self.publish(|s| {
            s.last_reconcile = Some(now_rfc3339());
            s.paused = Some(message.clone());
            s.last_applied_revision = Some(p.to.clone());
            s.conditions = vec![cond("Ready", true, "AutoSyncPaused", &message)];
        });
    }

    /// `POST /rollback`: deploy what `target` ran, follow it, pause automatic sync.
    async fn rollback(&mut self, target: GoodRevision, memory: &mut Memory) -> Option<Work> {
        let Some((_, state)) = memory.last_good.clone() else {
            self.publish(|s| {
                s.conditions = vec![cond(
                    "Ready",
                    false,
                    "RollbackFailed",
                    "nothing loaded yet to roll back",
                )];
            });
            return None;
        };
        let started = Instant::now();
        let head = self.head().unwrap_or_default();
        // Only services git still declares: a rollback never brings back a pruned service.
        let revisions: BTreeMap<String, String> = target
            .deployed
            .iter()
            .filter(|(name, _)| state.services.contains_key(*name))
            .map(|(n, r)| (n.clone(), r.clone()))
            .collect();
        let mut attempt = SyncAttempt {
            revision: target.revision.clone(),
            trigger: "rollback".into(),
            started: now_rfc3339(),
            head: Some(head.clone()),
            changes: revisions
                .iter()
                .map(|(n, r)| {
                    format!(
                        "rollback EcsService/{n} to {}",
                        ferry_core::health::short_revision(r)
                    )
                })
                .collect(),
            ..SyncAttempt::default()
        };
        tracing::info!(env = %self.env, to = %target.revision, "rolling back");
        memory.paused = Some(Paused {
            to: target.revision.clone(),
            head: head.clone(),
        });
        memory.held = None;
        memory.failures = 0;
        self.publish(|s| s.held_back = None);
        self.publish_paused(memory);
        attempt.row = self.write_ahead(&attempt).await;
        let results = self.platform.redeploy(&state, &revisions).await;
        let failed: Vec<String> = results
            .iter()
            .filter(|r| r.code == ResultCode::Failed)
            .map(|r| format!("{}: {}", r.key.name, r.message))
            .collect();
        let rollouts: Vec<Rollout> = results.iter().filter_map(|r| r.rollout.clone()).collect();
        let deadline = Instant::now() + state.environment.spec.rollout_timeout();
        let outcomes = if failed.is_empty() {
            match self.follow(&state, &rollouts, deadline, &head).await {
                Ok(o) => o,
                Err(interrupt) => {
                    return self.interrupted(interrupt, attempt, started, &rollouts);
                }
            }
        } else {
            BTreeMap::new()
        };
        let mut errors = failed;
        errors.extend(
            outcomes
                .iter()
                .filter(|(_, (o, _))| *o != RolloutOutcome::Completed)
                .map(|(n, (o, h))| format!("{n}: {}: {}", o.as_str(), h.message)),
        );
        for (o, _) in outcomes.values() {
            self.metrics.rollout(&self.env, o.as_str());
        }
        if errors.is_empty() {
            attempt.result = "Succeeded".into();
            attempt.deployed = revisions;
            memory.applied = Some(target.revision.clone());
        } else {
            attempt.result = "Failed".into();
            attempt.reason = Some("RollbackFailed".into());
            attempt.errors.clone_from(&errors);
        }
        self.finish(
            attempt,
            started,
            if errors.is_empty() {
                "succeeded"
            } else {
                "failed"
            },
        );
        self.refresh(memory).await;
        self.publish_paused(memory);
        if !errors.is_empty() {
            let message = format!(
                "the rollback to {} did not complete: {}",
                short(&target.revision),
                errors.join("; ")
            );
            self.publish(|s| {
                s.health = HealthCode::Degraded;
                s.conditions = vec![
                    cond("Ready", false, "RollbackFailed", &message),
                    cond(
                        "Stalled",
                        true,
                        "RollbackFailed",
                        "auto-sync stays paused; push a fix, POST /sync or POST /resume",
                    ),
                ];
            });
        }
        None
    }

    /// `POST /resume`: end a pause (the reconcile that follows applies git).
    fn resume(&self, memory: &mut Memory) {
        if memory.paused.take().is_none() {
            return;
        }
        self.metrics.set_paused(&self.env, false);
        self.publish(|s| s.paused = None);
        let attempt = SyncAttempt {
            revision: self.head().unwrap_or_default(),
            trigger: "resume".into(),
            started: now_rfc3339(),
            result: "Resumed".into(),
            head: self.head(),
            ..SyncAttempt::default()
        };
        self.finish(attempt, Instant::now(), "resumed");
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
        tracing::info!(env = %self.env, revision = %attempt.revision, trigger = %attempt.trigger, result = %attempt.result, reason = attempt.reason.as_deref().unwrap_or(""), ms = attempt.duration_ms, "reconcile finished");
        let _ = self.history.send((self.env.clone(), attempt.clone()));
        self.publish(|s| {
            s.last_reconcile = Some(now_rfc3339());
            s.history.insert(0, attempt);
            s.history.truncate(50);
        });
    }
}

/// `Ready` (true), plus `DriftDetected` when drift is reported but not reverted.
fn ready_conditions(reason: &'static str, message: &str, drifted: Option<usize>) -> Vec<Condition> {
    let mut out = vec![cond("Ready", true, reason, message)];
    if let Some(n) = drifted {
        out.push(cond(
            "DriftDetected",
            true,
            "DriftDetected",
            &format!("{n} resource(s) differ from git; drift mode is detect, so they are reported, not reverted"),
        ));
    }
    out
}

/// What each desired service runs now (its live revision), for a later rollback.
fn deployed_revisions(state: &DesiredState, observed: &Observed) -> BTreeMap<String, String> {
    let all_healthy = state.services.keys().all(|name| {
        observed
            .health
            .get(name)
            .is_some_and(|h| h.code == HealthCode::Healthy)
    });
    if !all_healthy {
        // Not a revision to roll back to.
        return BTreeMap::new();
    }
    state
        .services
        .keys()
        .filter_map(|name| {
            let live = observed.health.get(name)?.live_revision.clone()?;
            Some((name.clone(), live))
        })
        .collect()
}

/// Resources, and the environment's health as the worst of theirs.
fn set_resources(s: &mut EnvStatus, resources: Vec<ResourceStatus>, degraded: bool) {
    let rank = |h: HealthCode| match h {
        HealthCode::Degraded => 5,
        HealthCode::Missing => 4,
        HealthCode::Progressing => 3,
        HealthCode::Unknown => 2,
        HealthCode::Suspended => 1,
        HealthCode::Healthy => 0,
    };
    let worst = resources
        .iter()
        .map(|r| r.health)
        .max_by_key(|h| rank(*h))
        .unwrap_or(HealthCode::Unknown);
    s.health = if degraded {
        HealthCode::Degraded
    } else {
        worst
    };
    s.resources = resources;
}

/// Mark the services of a held-back revision: the revision git wants next to the live one.
fn annotate(resources: &mut [ResourceStatus], held: Option<&Held>) {
    let Some(held) = held else {
        return;
    };
    for r in resources.iter_mut().filter(|r| r.kind == "EcsService") {
        if let Some((want, why)) = held.expected.get(&r.name) {
            r.desired_revision = Some(want.clone());
            r.message = format!(
                "wants {}, runs {}: {why}",
                ferry_core::health::short_revision(want),
                r.live_revision
                    .as_deref()
                    .map_or("nothing", ferry_core::health::short_revision)
            );
        }
    }
}

fn cond(kind: &'static str, status: bool, reason: &'static str, message: &str) -> Condition {
    Condition {
        kind: kind.into(),
        status: if status { "True" } else { "False" }.into(),
        reason: reason.into(),
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
            desired_revision: None,
            deployment: health.progress,
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
