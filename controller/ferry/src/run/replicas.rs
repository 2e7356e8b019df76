//! Replicas of `ferry run` on one PostgreSQL history database: the coordinator that renews
//! this replica's heartbeat and leases, splits the environments with the other replicas
//! (takes free ones up to its share, keeps what it holds unless that is more than its share
//! plus a slack, then hands back the excess), starts and stops the
//! reconcile loops accordingly, and shares status: it publishes the environments it owns and
//! reads the others', so every replica's `/status` and page show every environment with its
//! owner. It never reconciles or writes a platform itself.

use std::collections::{BTreeMap, BTreeSet};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::gauge::Gauge;
use tokio::sync::watch;
use tokio::task::JoinHandle;

use super::history::History;
use super::lease::{Fence, Guard, LeaseTable, moves};
use super::reconcile::Command;
use super::status::{EnvStatus, ReplicaStatus, StatusSnapshot};

/// Starts an environment's loop under a lease guard.
pub(crate) type StartLoop = Arc<
    dyn Fn(String, Guard) -> Pin<Box<dyn Future<Output = JoinHandle<()>> + Send>> + Send + Sync,
>;

/// Stops what this replica runs locally for an environment (local platform processes).
pub(crate) type StopEnv =
    Arc<dyn Fn(String) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// How long a loop may take to stop before its lease is handed back anyway.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// Most leases taken in one round.
const ACQUIRE_PER_ROUND: usize = 64;

/// The coordinator of one replica.
pub(crate) struct Coordinator {
    pub(crate) table: LeaseTable,
    /// This replica's status server address (stored with its heartbeat, for operators).
    pub(crate) address: String,
    /// The environments to share.
    pub(crate) envs: Vec<String>,
    pub(crate) start: StartLoop,
    pub(crate) stop: StopEnv,
    pub(crate) history: History,
    pub(crate) fence: Fence,
    pub(crate) status: watch::Sender<StatusSnapshot>,
    pub(crate) shutdown: watch::Receiver<bool>,
    /// The loops running here, to hand them commands other replicas received.
    pub(crate) commands: super::server::Loops,
    /// Fetches the git source now (a push webhook another replica received).
    pub(crate) fetch_now: Option<Arc<tokio::sync::Notify>>,
    pub(crate) metrics: Arc<super::metrics::Metrics>,
}

/// The coordinator's metrics.
#[derive(Default)]
struct LeaseMetrics {
    held: Gauge,
    alive: Gauge,
    acquired: Counter,
    lost: Counter,
    renew_failures: Counter,
}

impl LeaseMetrics {
    fn registered(metrics: &super::metrics::Metrics) -> Self {
        let m = Self::default();
        metrics.register(
            "ferry_leases_held",
            "Environments whose lease this replica holds",
            m.held.clone(),
        );
        metrics.register(
            "ferry_replicas_alive",
            "Replicas whose heartbeat is current, this one included",
            m.alive.clone(),
        );
        metrics.register(
            "ferry_lease_acquisitions",
            "Leases this replica took (start, takeover, rebalancing)",
            m.acquired.clone(),
        );
        metrics.register(
            "ferry_lease_losses",
            "Leases this replica lost without handing them back (expired, or taken over)",
            m.lost.clone(),
        );
        metrics.register(
            "ferry_lease_renewal_failures",
            "Rounds in which the history database did not renew this replica's leases",
            m.renew_failures.clone(),
        );
        m
    }
}

/// An environment this replica holds.
struct Held {
    guard: Guard,
    task: JoinHandle<()>,
}

/// What the coordinator carries from one tick to the next.
#[derive(Default)]
struct State {
    held: BTreeMap<String, Held>,
    /// When this replica's current membership began (its first heartbeat, or the first one
    /// after its heartbeat lapsed).
    joined: Option<Instant>,
    /// When the last heartbeat was sent that the database took.
    last_beat: Option<Instant>,
    /// The status JSON last published per held environment.
    published: BTreeMap<String, String>,
    /// The shared status version last read per environment held elsewhere.
    seen: BTreeMap<String, i64>,
    /// The newest signal read.
    signals: Option<i64>,
    /// Environments given up whose loop is still stopping: not taken again until it has.
    stopping: BTreeMap<String, JoinHandle<()>>,
    metrics: LeaseMetrics,
}

impl Coordinator {
    /// Run until shutdown, then stop this replica's loops and hand their leases back.
    pub(crate) async fn run(mut self) {
        let mut state = State {
            metrics: LeaseMetrics::registered(&self.metrics),
            ..State::default()
        };
        let every = self.table.settings.renew_every;
        let mut ticker = tokio::time::interval(every);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        self.status.send_modify(|s| {
            s.replica = Some(ReplicaStatus {
                id: self.table.me.clone(),
                renew_deadline: self.table.settings.safe_for(),
                problem: Some("joining".into()),
                ..ReplicaStatus::default()
            });
        });
        loop {
            tokio::select! {
                _ = ticker.tick() => {}
                _ = self.shutdown.changed() => {}
            }
            if *self.shutdown.borrow() {
                break;
            }
            let sent = Instant::now();
            // The database may hang: guards end on their own meanwhile, and the tick is cut
            // short so finished loops are still noticed.
            let tick =
                tokio::time::timeout(self.table.settings.safe_for(), self.tick(&mut state, sent));
            let problem = match tick.await {
                Ok(Ok(())) => None,
                Ok(Err(e)) => Some(format!("the history database: {e}")),
                Err(_) => Some("the history database does not answer".into()),
            };
            if let Some(problem) = &problem {
                tracing::warn!(problem = %problem, "leases not renewed");
                state.metrics.renew_failures.inc();
            }
            state
                .metrics
                .held
                .set(i64::try_from(state.held.len()).unwrap_or(i64::MAX));
            self.status.send_modify(|s| {
                if let Some(r) = &mut s.replica {
                    r.problem.clone_from(&problem);
                    if problem.is_none() {
                        r.renewed = Some(sent);
                    }
                }
            });
        }
        self.leave(&mut state).await;
    }

    /// One round: notice loops whose guard ended, heartbeat, renew, split, share status.
    async fn tick(&self, state: &mut State, sent: Instant) -> Result<(), sea_orm::DbErr> {
        let settings = self.table.settings;
        // Loops that ended on their own (their guard ran out): the lease is gone.
        let ended: Vec<String> = state
            .held
            .iter()
            .filter(|(_, h)| h.task.is_finished())
            .map(|(env, _)| env.clone())
            .collect();
        for env in ended {
            state.metrics.lost.inc();
            self.drop_env(state, &env, "its guard ran out before a renewal", false);
        }

        self.table.heartbeat(&self.address).await?;
        let away = state
            .last_beat
            .is_none_or(|last| sent.duration_since(last) >= settings.duration);
        if away {
            if state.last_beat.is_some() {
                tracing::warn!("this replica's heartbeat lapsed; joining again");
            }
            state.joined = Some(sent);
        }
        state.last_beat = Some(sent);

        let epochs: BTreeMap<String, i64> = state
            .held
            .iter()
            .map(|(env, h)| (env.clone(), h.guard.epoch()))
            .collect();
        let renewed = self.table.renew(&epochs).await?;
        let lost: Vec<String> = epochs
            .keys()
            .filter(|env| !renewed.contains(*env))
            .cloned()
            .collect();
        for env in &lost {
            state.metrics.lost.inc();
            self.drop_env(
                state,
                env,
                "the lease expired or another replica took it",
                false,
            );
        }
        for env in &renewed {
            if let Some(h) = state.held.get(env) {
                h.guard.extend(sent + settings.safe_for());
            }
        }

        let alive = self.table.alive().await?;
        state
            .metrics
            .alive
            .set(i64::try_from(alive.len()).unwrap_or(i64::MAX));
        let leases = self.table.leases().await?;
        let holders: BTreeMap<String, String> = leases
            .iter()
            .filter(|l| l.live)
            .map(|l| (l.env.clone(), l.holder.clone()))
            .collect();
        let settled = state
            .joined
            .is_some_and(|j| sent.duration_since(j) >= settings.join_delay);
        if settled {
            let m = moves(&self.envs, &alive, &holders, &self.table.me);
            for env in m.release {
                // Handed over between reconciles: an apply or a rollout being followed
                // finishes here first (the joining replica takes it a round later).
                if self.busy(&env) {
                    continue;
                }
                self.drop_env(
                    state,
                    &env,
                    "handed over: this replica holds more than its share and the slack",
                    true,
                );
            }
            // A bounded number per round, so a round stays short at thousands of environments.
            state.stopping.retain(|_, h| !h.is_finished());
            let acquire = m
                .acquire
                .into_iter()
                .filter(|env| !state.stopping.contains_key(env));
            for env in acquire.take(ACQUIRE_PER_ROUND) {
                let asked = Instant::now();
                let Some(epoch) = self.table.acquire(&env).await? else {
                    continue;
                };
                tracing::info!(env = %env, epoch, "lease acquired: reconciling the environment");
                state.metrics.acquired.inc();
                self.fence.insert(&env, epoch);
                if let Err(e) = self.history.mark_interrupted(&env, epoch).await {
                    tracing::warn!(env = %env, error = %e, "cannot mark the previous owner's interrupted applies");
                }
                let guard = Guard::new(&env, epoch, asked + settings.safe_for());
                let task = (self.start)(env.clone(), guard.clone()).await;
                state.published.remove(&env);
                state.held.insert(env, Held { guard, task });
            }
        }

        self.share_status(state, &holders).await?;
        self.deliver_signals(state).await?;
        self.status.send_modify(|s| {
            if let Some(r) = &mut s.replica {
                r.alive.clone_from(&alive);
                r.holds = state.held.keys().cloned().collect();
            }
        });
        Ok(())
    }

    /// Whether `env`'s loop is applying or following a rollout right now.
    fn busy(&self, env: &str) -> bool {
        self.status.borrow().environments.get(env).is_some_and(|e| {
            e.conditions.iter().any(|c| {
                c.kind == "Reconciling"
                    && c.status == "True"
                    && (c.reason == "Progressing" || c.reason == "RolloutInProgress")
            })
        })
    }

    /// Stop reconciling `env` here: end its guard and forget the lease at once (history
    /// refuses its rows from now on); in the background, wait for its loop to stop (it stops
    /// its local processes) and, when `release`, hand the lease back so another replica takes
    /// it without waiting for it to expire.
    fn drop_env(&self, state: &mut State, env: &str, why: &str, release: bool) {
        let Some(held) = state.held.remove(env) else {
            return;
        };
        tracing::warn!(env = %env, epoch = held.guard.epoch(), why, "lease given up");
        held.guard.revoke();
        self.fence.remove(env);
        state.published.remove(env);
        state.seen.remove(env);
        let table = self.table.clone();
        let name = env.to_owned();
        // The loop's task stops the local processes itself once its guard has ended.
        let stopping = tokio::spawn(async move {
            if tokio::time::timeout(STOP_TIMEOUT, held.task).await.is_err() {
                tracing::warn!(env = %name, "the loop did not stop in time");
            }
            if release && let Err(e) = table.release(&name, held.guard.epoch()).await {
                tracing::warn!(env = %name, error = %e, "cannot hand the lease back; it expires on its own");
            }
        });
        state.stopping.insert(env.to_owned(), stopping);
    }

    /// Hand this replica's loops the commands other replicas received for them, and fetch
    /// when another replica received a push webhook.
    async fn deliver_signals(&self, state: &mut State) -> Result<(), sea_orm::DbErr> {
        let Some(after) = state.signals else {
            state.signals = Some(self.table.last_signal().await?);
            return Ok(());
        };
        for signal in self.table.signals_after(after).await? {
            state.signals = Some(signal.id);
            if signal.origin == self.table.me {
                continue;
            }
            if signal.kind == "fetch" {
                if let Some(fetch) = &self.fetch_now {
                    fetch.notify_one();
                }
                continue;
            }
            let targets: Vec<String> = match &signal.env {
                Some(env) if state.held.contains_key(env) => vec![env.clone()],
                Some(_) => continue,
                None => state.held.keys().cloned().collect(),
            };
            for env in targets {
                let command = match (signal.kind.as_str(), &signal.target) {
                    ("sync", _) => Command::Sync,
                    ("resume", _) => Command::Resume,
                    (kind @ ("promote" | "abort"), Some(service)) => {
                        // The answer stays with the owner (its log and status): the asker got
                        // 202 with the owner's name.
                        let (reply, _) = tokio::sync::oneshot::channel();
                        Command::Deployment {
                            service: service.clone(),
                            action: if kind == "promote" {
                                ferry_core::platform::DeploymentAction::Promote
                            } else {
                                ferry_core::platform::DeploymentAction::Abort
                            },
                            reply,
                        }
                    }
                    ("rollback", Some(to)) => {
                        match self.history.good_revision(&env, Some(to), None).await? {
                            Some(target) => Command::Rollback(target),
                            None => continue,
                        }
                    }
                    _ => continue,
                };
                tracing::info!(env = %env, kind = %signal.kind, from = %signal.origin, "command forwarded by another replica");
                let loop_ = self.commands.read().ok().and_then(|l| l.get(&env).cloned());
                if let Some(loop_) = loop_ {
                    let _ = loop_.send(command);
                }
            }
        }
        Ok(())
    }

    /// Publish the status of the environments held here (when it changed) and read the
    /// others' (when theirs changed) into this replica's snapshot, with each owner.
    async fn share_status(
        &self,
        state: &mut State,
        holders: &BTreeMap<String, String>,
    ) -> Result<(), sea_orm::DbErr> {
        let mine: Vec<(String, i64, String)> = {
            let s = self.status.borrow();
            state
                .held
                .iter()
                .filter_map(|(env, h)| {
                    let json = serde_json::to_string(s.environments.get(env)?).ok()?;
                    (state.published.get(env) != Some(&json))
                        .then(|| (env.clone(), h.guard.epoch(), json))
                })
                .collect()
        };
        for (env, epoch, json) in mine {
            if self.table.publish_status(&env, epoch, &json).await? {
                state.published.insert(env, json);
            }
        }

        let versions = self.table.status_versions().await?;
        let changed: Vec<String> = self
            .envs
            .iter()
            .filter(|env| !state.held.contains_key(*env))
            .filter(|env| {
                versions
                    .get(*env)
                    .is_some_and(|v| state.seen.get(*env) != Some(v))
            })
            .cloned()
            .collect();
        let fresh = self.table.statuses(&changed).await?;
        let mut parsed: Vec<(String, EnvStatus)> = Vec::new();
        for (env, json) in fresh {
            match serde_json::from_str::<EnvStatus>(&json) {
                Ok(status) => parsed.push((env, status)),
                Err(e) => {
                    tracing::warn!(env = %env, error = %e, "cannot read another replica's status")
                }
            }
        }
        for env in &changed {
            if let Some(v) = versions.get(env) {
                state.seen.insert(env.clone(), *v);
            }
        }
        let held: BTreeSet<&String> = state.held.keys().collect();
        self.status.send_modify(|s| {
            for (env, status) in parsed {
                s.environments.insert(env, status);
            }
            for env in &self.envs {
                if held.contains(env) {
                    continue;
                }
                let e = s.environments.entry(env.clone()).or_default();
                e.owner = holders.get(env).cloned();
            }
        });
        Ok(())
    }

    /// Shutting down: the loops stop on the shutdown signal; once they have, their local
    /// processes are stopped and the leases handed back, so the other replicas take over at
    /// once instead of waiting for them to expire.
    async fn leave(&self, state: &mut State) {
        let envs: Vec<String> = state.held.keys().cloned().collect();
        for env in envs {
            let Some(held) = state.held.remove(&env) else {
                continue;
            };
            let _ = tokio::time::timeout(STOP_TIMEOUT, held.task).await;
            held.guard.revoke();
            (self.stop)(env.clone()).await;
            self.fence.remove(&env);
            if let Err(e) = self.table.release(&env, held.guard.epoch()).await {
                tracing::warn!(env = %env, error = %e, "cannot hand the lease back; it expires on its own");
            }
        }
        if let Err(e) = self.table.leave().await {
            tracing::warn!(error = %e, "cannot remove this replica's heartbeat; it expires on its own");
        }
    }
}
