//! Leases per environment in PostgreSQL, with fencing: which replica of `ferry run` may write
//! an environment to its platform. Pure parts (the guard, the split of environments between
//! replicas) and the SQL of the lease table; the coordinator that uses them lives in
//! `replicas.rs`. Nothing here reconciles anything.
//!
//! A lease is a row of `ferry_leases` (environment, holder, epoch, expiry in the database's
//! clock). Taking a free or expired lease bumps its epoch, the fencing token: history rows are
//! written only while the row still names this holder and epoch and has not expired, and the
//! platform is written only while the local [`Guard`] says the lease is safely held. The guard
//! ends *before* the database would let another replica take the lease: a renewal sent at
//! local time `t` keeps the guard until `t + duration - margin` (the monotonic clock keeps
//! running while a process is stopped, so a replica woken from SIGSTOP sees its guard ended).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use ferry_core::load::DesiredState;
use ferry_core::plan::Plan;
use ferry_core::platform::{
    ApplyOptions, Observed, Platform, PlatformError, ResourceHealth, ResourceResult, ResultCode,
    Rollout,
};
use ferry_core::render::Rendered;
use sea_orm::{ConnectionTrait, DatabaseBackend, DatabaseConnection, DbErr, Statement, Value};
use sha2::Digest;
use tokio::sync::watch;

/// Timing of leases.
#[derive(Clone, Copy, Debug)]
pub(crate) struct LeaseSettings {
    /// How long a lease lasts after its last renewal (database clock).
    pub(crate) duration: Duration,
    /// How often leases are renewed and the split of environments is revisited.
    pub(crate) renew_every: Duration,
    /// How long a replica that just joined (or came back after its heartbeat expired) waits
    /// before it takes environments, so that replicas starting together see each other.
    pub(crate) join_delay: Duration,
}

impl LeaseSettings {
    /// How long after sending a renewal this replica still writes: the lease's duration less
    /// a third of it, the margin that covers a write in flight and clock rate differences.
    pub(crate) fn safe_for(&self) -> Duration {
        self.duration - self.duration / 3
    }

    /// Settings that hold together: renewals come several times within the safe window.
    pub(crate) fn check(&self) -> Result<(), String> {
        if self.duration < Duration::from_secs(1) {
            return Err("--lease-duration must be at least 1s".into());
        }
        if self.renew_every.is_zero() || self.renew_every * 3 > self.safe_for() {
            return Err(format!(
                "--lease-renew-interval must be at most a third of two thirds of --lease-duration ({}ms)",
                self.safe_for().as_millis() / 3
            ));
        }
        Ok(())
    }
}

/// The local view of one held lease: until when this replica may write the environment.
/// `None` once the lease is revoked (lost, released, or shutting down).
#[derive(Clone, Debug)]
pub(crate) struct Guard {
    env: String,
    epoch: i64,
    until: Arc<watch::Sender<Option<Instant>>>,
}

impl Guard {
    /// A guard of `env` at `epoch`, safe until `until`.
    pub(crate) fn new(env: &str, epoch: i64, until: Instant) -> Self {
        Self {
            env: env.to_owned(),
            epoch,
            until: Arc::new(watch::Sender::new(Some(until))),
        }
    }

    /// The environment.
    pub(crate) fn env(&self) -> &str {
        &self.env
    }

    /// The fencing token.
    pub(crate) fn epoch(&self) -> i64 {
        self.epoch
    }

    /// Whether this replica may write the environment now.
    pub(crate) fn valid(&self) -> bool {
        matches!(*self.until.borrow(), Some(until) if Instant::now() < until)
    }

    /// A renewal sent at `sent` succeeded: safe until `sent + safe_for`. A guard that has
    /// already ended stays ended (the lease must be taken again, with a new epoch).
    pub(crate) fn extend(&self, until: Instant) {
        self.until.send_if_modified(|current| match current {
            Some(old) if Instant::now() < *old && until > *old => {
                *current = Some(until);
                true
            }
            _ => false,
        });
    }

    /// End the guard now.
    pub(crate) fn revoke(&self) {
        self.until.send_replace(None);
    }

    /// Completes when the guard ends: its time passed without a renewal, or it was revoked.
    pub(crate) async fn ended(&self) {
        let mut rx = self.until.subscribe();
        loop {
            let until = *rx.borrow_and_update();
            let Some(until) = until else { return };
            if Instant::now() >= until {
                return;
            }
            tokio::select! {
                () = tokio::time::sleep_until(until.into()) => {}
                changed = rx.changed() => if changed.is_err() { return },
            }
        }
    }
}

/// The leases this replica holds (environment → epoch), as the history store checks them.
#[derive(Clone, Debug)]
pub(crate) struct Fence {
    /// This replica.
    pub(crate) replica: String,
    held: Arc<RwLock<BTreeMap<String, i64>>>,
}

impl Fence {
    /// An empty fence for `replica`.
    pub(crate) fn new(replica: &str) -> Self {
        Self {
            replica: replica.to_owned(),
            held: Arc::default(),
        }
    }

    /// The epoch this replica holds `env` at, if it holds it.
    pub(crate) fn epoch(&self, env: &str) -> Option<i64> {
        self.held.read().ok()?.get(env).copied()
    }

    pub(crate) fn insert(&self, env: &str, epoch: i64) {
        if let Ok(mut held) = self.held.write() {
            held.insert(env.to_owned(), epoch);
        }
    }

    pub(crate) fn remove(&self, env: &str) {
        if let Ok(mut held) = self.held.write() {
            held.remove(env);
        }
    }
}

/// A platform that refuses to write once the environment's lease guard has ended: checked
/// before every apply and redeploy (the reconcile task is also cancelled when it ends, so a
/// multi-call apply stops at its next call). Reads pass through.
pub(crate) struct Fenced<P> {
    pub(crate) inner: Arc<P>,
    pub(crate) guard: Option<Guard>,
}

impl<P> Fenced<P> {
    fn refused(&self) -> Option<String> {
        let guard = self.guard.as_ref()?;
        (!guard.valid()).then(|| {
            format!(
                "not applied: this replica's lease on `{}` (epoch {}) has ended; another replica may own it now",
                guard.env(),
                guard.epoch()
            )
        })
    }
}

impl<P: Platform> Platform for Fenced<P> {
    async fn observe(&self, desired: &DesiredState) -> Result<Observed, PlatformError> {
        self.inner.observe(desired).await
    }

    async fn apply(
        &self,
        desired: &DesiredState,
        rendered: &Rendered,
        plan: &Plan,
        options: &ApplyOptions,
    ) -> Vec<ResourceResult> {
        if let Some(message) = self.refused() {
            return plan
                .changes
                .iter()
                .map(|c| ResourceResult {
                    key: c.key.clone(),
                    op: c.op,
                    code: ResultCode::Failed,
                    message: message.clone(),
                    rollout: None,
                })
                .collect();
        }
        self.inner.apply(desired, rendered, plan, options).await
    }

    async fn follow(
        &self,
        desired: &DesiredState,
        rollouts: &[Rollout],
    ) -> Result<BTreeMap<String, ResourceHealth>, PlatformError> {
        self.inner.follow(desired, rollouts).await
    }

    async fn redeploy(
        &self,
        desired: &DesiredState,
        revisions: &BTreeMap<String, String>,
    ) -> Vec<ResourceResult> {
        if let Some(message) = self.refused() {
            return revisions
                .keys()
                .map(|name| ResourceResult {
                    key: ferry_core::plan::ResourceKey {
                        env: desired.env.clone(),
                        kind: ferry_core::plan::ResourceKind::EcsService,
                        name: name.clone(),
                    },
                    op: ferry_core::Op::Update,
                    code: ResultCode::Failed,
                    message: message.clone(),
                    rollout: None,
                })
                .collect();
        }
        self.inner.redeploy(desired, revisions).await
    }

    async fn deployment_action(
        &self,
        desired: &DesiredState,
        service: &str,
        action: ferry_core::platform::DeploymentAction,
    ) -> Result<String, PlatformError> {
        if let Some(message) = self.refused() {
            return Err(PlatformError {
                transient: false,
                message,
                reason: None,
            });
        }
        self.inner.deployment_action(desired, service, action).await
    }
}

/// The rendezvous score of `replica` for `env`: stable across processes and versions.
fn score(env: &str, replica: &str) -> u64 {
    let digest = sha2::Sha256::new()
        .chain_update(env.as_bytes())
        .chain_update([0u8])
        .chain_update(replica.as_bytes())
        .finalize();
    let mut first = [0u8; 8];
    first.copy_from_slice(&digest[..8]);
    u64::from_be_bytes(first)
}

/// What one replica should do about the split of environments.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Moves {
    /// Free environments to take.
    pub(crate) acquire: Vec<String>,
    /// Held environments to hand back (this replica holds more than its share).
    pub(crate) release: Vec<String>,
}

/// The fair share of `envs` environments among `replicas` replicas: ceil(envs / replicas).
pub(crate) fn share(envs: usize, replicas: usize) -> usize {
    envs.div_ceil(replicas.max(1))
}

/// How many environments a replica may hold beyond its share before it hands any back.
/// Moving an environment costs a restart of its local processes and a reconcile by a cold
/// owner, so a split one off the fair one is left as it is.
pub(crate) const REBALANCE_SLACK: usize = 1;

/// The moves of replica `me`, given the environments, the replicas alive (`me` among them)
/// and who holds a live lease on which environment. Every replica computes the same split
/// from the same view. Ownership is sticky: a live owner keeps every environment it holds
/// while it holds at most its share plus [`REBALANCE_SLACK`]; beyond that (a real
/// imbalance, e.g. it took over a frozen replica's environments and that replica came back)
/// it keeps its share, the environments it scores highest, and hands back the rest. Free
/// environments (no live owner) go, best rendezvous score first, to replicas below their
/// share. So a replica dying moves only its own environments, and one coming back takes only
/// free environments and the excess of overloaded replicas.
pub(crate) fn moves(
    envs: &[String],
    alive: &[String],
    holders: &BTreeMap<String, String>,
    me: &str,
) -> Moves {
    let alive_set: BTreeSet<&str> = alive.iter().map(String::as_str).collect();
    if !alive_set.contains(me) {
        return Moves::default();
    }
    let cap = share(envs.len(), alive.len());
    let mut load: BTreeMap<&str, usize> = alive.iter().map(|r| (r.as_str(), 0)).collect();
    let mut out = Moves::default();
    let mut held_by: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
    let mut free: Vec<&str> = Vec::new();
    for env in envs {
        match holders.get(env) {
            Some(holder) if alive_set.contains(holder.as_str()) => {
                held_by.entry(holder.as_str()).or_default().push(env);
            }
            // Held by a replica whose heartbeat lapsed: its lease lapses too; not free yet.
            Some(_) => {}
            None => free.push(env),
        }
    }
    for (holder, mut held) in held_by {
        held.sort_by_key(|env| (std::cmp::Reverse(score(env, holder)), *env));
        let keep = if held.len() > cap + REBALANCE_SLACK {
            cap
        } else {
            held.len()
        };
        load.insert(holder, keep);
        if holder == me {
            out.release = held[keep..].iter().map(|e| (*e).to_owned()).collect();
        }
    }
    let mut pairs: Vec<(u64, &str, &str)> = free
        .iter()
        .flat_map(|env| alive.iter().map(move |r| (score(env, r), *env, r.as_str())))
        .collect();
    pairs.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(b.1)).then(a.2.cmp(b.2)));
    let mut assigned: BTreeSet<&str> = BTreeSet::new();
    for (_, env, replica) in pairs {
        if assigned.contains(env) {
            continue;
        }
        let l = load.entry(replica).or_default();
        if *l >= cap {
            continue;
        }
        *l += 1;
        assigned.insert(env);
        if replica == me {
            out.acquire.push(env.to_owned());
        }
    }
    out.acquire.sort();
    out.release.sort();
    out
}

/// A lease row as read back.
#[derive(Clone, Debug)]
pub(crate) struct LeaseRow {
    pub(crate) env: String,
    pub(crate) holder: String,
    /// Unexpired in the database's clock.
    pub(crate) live: bool,
}

fn stmt(sql: &str, values: Vec<Value>) -> Statement {
    Statement::from_sql_and_values(DatabaseBackend::Postgres, sql, values)
}

fn millis(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The SQL of leases, replicas' heartbeats and shared statuses (PostgreSQL).
#[derive(Clone, Debug)]
pub(crate) struct LeaseTable {
    pub(crate) db: DatabaseConnection,
    pub(crate) me: String,
    pub(crate) settings: LeaseSettings,
}

impl LeaseTable {
    /// Say this replica is alive for another lease duration.
    pub(crate) async fn heartbeat(&self, address: &str) -> Result<(), DbErr> {
        self.db
            .execute_raw(stmt(
                "INSERT INTO ferry_replicas (id, address, started_at, expires_at) \
                 VALUES ($1, $2, now(), now() + $3 * interval '1 millisecond') \
                 ON CONFLICT (id) DO UPDATE SET address = EXCLUDED.address, expires_at = EXCLUDED.expires_at",
                vec![
                    self.me.clone().into(),
                    address.to_owned().into(),
                    millis(self.settings.duration).into(),
                ],
            ))
            .await
            .map(|_| ())
    }

    /// Renew the leases this replica holds (env → epoch); the environments whose lease was
    /// renewed (the others were lost: expired, or taken at a newer epoch).
    pub(crate) async fn renew(
        &self,
        held: &BTreeMap<String, i64>,
    ) -> Result<BTreeSet<String>, DbErr> {
        if held.is_empty() {
            return Ok(BTreeSet::new());
        }
        let pairs: Vec<serde_json::Value> = held
            .iter()
            .map(|(env, epoch)| serde_json::json!({"env": env, "epoch": epoch}))
            .collect();
        let rows = self
            .db
            .query_all_raw(stmt(
                "UPDATE ferry_leases AS l SET expires_at = now() + $2 * interval '1 millisecond' \
                 FROM jsonb_to_recordset($3::jsonb) AS h(env text, epoch bigint) \
                 WHERE l.env = h.env AND l.epoch = h.epoch AND l.holder = $1 AND l.expires_at > now() \
                 RETURNING l.env",
                vec![
                    self.me.clone().into(),
                    millis(self.settings.duration).into(),
                    serde_json::Value::Array(pairs).to_string().into(),
                ],
            ))
            .await?;
        rows.iter()
            .map(|r| r.try_get::<String>("", "env"))
            .collect()
    }

    /// The replicas whose heartbeat is current, sorted.
    pub(crate) async fn alive(&self) -> Result<Vec<String>, DbErr> {
        let rows = self
            .db
            .query_all_raw(stmt(
                "SELECT id FROM ferry_replicas WHERE expires_at > now() ORDER BY id",
                vec![],
            ))
            .await?;
        rows.iter().map(|r| r.try_get::<String>("", "id")).collect()
    }

    /// Every lease row.
    pub(crate) async fn leases(&self) -> Result<Vec<LeaseRow>, DbErr> {
        let rows = self
            .db
            .query_all_raw(stmt(
                "SELECT env, holder, expires_at > now() AS live FROM ferry_leases",
                vec![],
            ))
            .await?;
        rows.iter()
            .map(|r| {
                Ok(LeaseRow {
                    env: r.try_get("", "env")?,
                    holder: r.try_get("", "holder")?,
                    live: r.try_get("", "live")?,
                })
            })
            .collect()
    }

    /// Take `env`'s lease if it is free or expired: its new epoch, or `None` when another
    /// replica holds it.
    pub(crate) async fn acquire(&self, env: &str) -> Result<Option<i64>, DbErr> {
        let row = self
            .db
            .query_one_raw(stmt(
                "INSERT INTO ferry_leases (env, holder, epoch, expires_at, acquired_at) \
                 VALUES ($1, $2, 1, now() + $3 * interval '1 millisecond', now()) \
                 ON CONFLICT (env) DO UPDATE SET holder = EXCLUDED.holder, epoch = ferry_leases.epoch + 1, \
                 expires_at = EXCLUDED.expires_at, acquired_at = now() \
                 WHERE ferry_leases.expires_at <= now() RETURNING epoch",
                vec![
                    env.to_owned().into(),
                    self.me.clone().into(),
                    millis(self.settings.duration).into(),
                ],
            ))
            .await?;
        row.map(|r| r.try_get::<i64>("", "epoch")).transpose()
    }

    /// Hand `env` back (its writes have stopped): it is free at once.
    pub(crate) async fn release(&self, env: &str, epoch: i64) -> Result<(), DbErr> {
        self.db
            .execute_raw(stmt(
                "UPDATE ferry_leases SET expires_at = now() WHERE env = $1 AND holder = $2 AND epoch = $3",
                vec![env.to_owned().into(), self.me.clone().into(), epoch.into()],
            ))
            .await
            .map(|_| ())
    }

    /// Leave: this replica's heartbeat row goes, and rows of replicas gone for an hour.
    pub(crate) async fn leave(&self) -> Result<(), DbErr> {
        self.db
            .execute_raw(stmt(
                "DELETE FROM ferry_replicas WHERE id = $1 OR expires_at < now() - interval '1 hour'",
                vec![self.me.clone().into()],
            ))
            .await
            .map(|_| ())
    }

    /// Store the status of an environment this replica holds (only while it holds it).
    pub(crate) async fn publish_status(
        &self,
        env: &str,
        epoch: i64,
        status: &str,
    ) -> Result<bool, DbErr> {
        let done = self
            .db
            .execute_raw(stmt(
                "INSERT INTO ferry_env_status (env, holder, epoch, status, updated_at) \
                 SELECT $1, $2, $3, $4, clock_timestamp() WHERE EXISTS ( \
                   SELECT 1 FROM ferry_leases WHERE env = $1 AND holder = $2 AND epoch = $3 AND expires_at > now()) \
                 ON CONFLICT (env) DO UPDATE SET holder = EXCLUDED.holder, epoch = EXCLUDED.epoch, \
                 status = EXCLUDED.status, updated_at = EXCLUDED.updated_at",
                vec![
                    env.to_owned().into(),
                    self.me.clone().into(),
                    epoch.into(),
                    status.to_owned().into(),
                ],
            ))
            .await?;
        Ok(done.rows_affected() > 0)
    }

    /// When each environment's shared status last changed (ms since the epoch).
    pub(crate) async fn status_versions(&self) -> Result<BTreeMap<String, i64>, DbErr> {
        let rows = self
            .db
            .query_all_raw(stmt(
                "SELECT env, (extract(epoch FROM updated_at) * 1000000)::bigint AS version FROM ferry_env_status",
                vec![],
            ))
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("", "env")?, r.try_get("", "version")?)))
            .collect()
    }

    /// The shared statuses of `envs` (JSON text each).
    pub(crate) async fn statuses(&self, envs: &[String]) -> Result<Vec<(String, String)>, DbErr> {
        if envs.is_empty() {
            return Ok(Vec::new());
        }
        let rows = self
            .db
            .query_all_raw(stmt(
                "SELECT env, status FROM ferry_env_status WHERE env IN (SELECT jsonb_array_elements_text($1::jsonb))",
                vec![serde_json::to_string(envs).unwrap_or_default().into()],
            ))
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("", "env")?, r.try_get("", "status")?)))
            .collect()
    }
}

/// What one replica asks of the others: a command for an environment's owner (`sync`,
/// `rollback` to `target`, `resume`), or `fetch` (a verified push webhook) for everyone.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Signal {
    pub(crate) id: i64,
    pub(crate) origin: String,
    pub(crate) env: Option<String>,
    pub(crate) kind: String,
    pub(crate) target: Option<String>,
}

impl LeaseTable {
    /// Leave a signal for the other replicas (read within a renewal interval).
    pub(crate) async fn signal(
        &self,
        env: Option<&str>,
        kind: &str,
        target: Option<&str>,
    ) -> Result<(), DbErr> {
        self.db
            .execute_raw(stmt(
                "INSERT INTO ferry_signals (origin, env, kind, target, created_at) VALUES ($1, $2, $3, $4, now())",
                vec![
                    self.me.clone().into(),
                    env.map(str::to_owned).into(),
                    kind.to_owned().into(),
                    target.map(str::to_owned).into(),
                ],
            ))
            .await
            .map(|_| ())
    }

    /// Signals newer than `after`, oldest first (older than an hour are deleted on the way).
    pub(crate) async fn signals_after(&self, after: i64) -> Result<Vec<Signal>, DbErr> {
        self.db
            .execute_raw(stmt(
                "DELETE FROM ferry_signals WHERE created_at < now() - interval '1 hour'",
                vec![],
            ))
            .await?;
        let rows = self
            .db
            .query_all_raw(stmt(
                "SELECT id, origin, env, kind, target FROM ferry_signals WHERE id > $1 ORDER BY id",
                vec![after.into()],
            ))
            .await?;
        rows.iter()
            .map(|r| {
                Ok(Signal {
                    id: r.try_get("", "id")?,
                    origin: r.try_get("", "origin")?,
                    env: r.try_get("", "env")?,
                    kind: r.try_get("", "kind")?,
                    target: r.try_get("", "target")?,
                })
            })
            .collect()
    }

    /// The newest signal's id (a replica starting reads only what comes after it).
    pub(crate) async fn last_signal(&self) -> Result<i64, DbErr> {
        let row = self
            .db
            .query_one_raw(stmt(
                "SELECT coalesce(max(id), 0)::bigint AS id FROM ferry_signals",
                vec![],
            ))
            .await?;
        Ok(row.map(|r| r.try_get("", "id")).transpose()?.unwrap_or(0))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(prefix: &str, n: usize) -> Vec<String> {
        (0..n).map(|i| format!("{prefix}{i:02}")).collect()
    }

    /// Run every replica's moves against one view until nothing moves (acquires and
    /// releases take effect at once, as the database would grant them).
    fn settle(envs: &[String], alive: &[String], holders: &mut BTreeMap<String, String>) {
        for _ in 0..10 {
            let mut moved = false;
            for me in alive {
                let m = moves(envs, alive, holders, me);
                for env in m.release {
                    holders.remove(&env);
                    moved = true;
                }
                for env in m.acquire {
                    if let std::collections::btree_map::Entry::Vacant(slot) = holders.entry(env) {
                        slot.insert(me.clone());
                        moved = true;
                    }
                }
            }
            if !moved {
                return;
            }
        }
        panic!("the split does not settle: {holders:?}");
    }

    fn loads(holders: &BTreeMap<String, String>) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for h in holders.values() {
            *out.entry(h.clone()).or_default() += 1;
        }
        out
    }

    #[test]
    fn thirty_environments_split_ten_each_between_three_replicas() {
        let envs = names("env", 30);
        let alive = names("replica-", 3);
        let mut holders = BTreeMap::new();
        settle(&envs, &alive, &mut holders);
        assert_eq!(holders.len(), 30, "every environment has an owner");
        assert!(loads(&holders).values().all(|n| *n == 10), "{holders:?}");
    }

    #[test]
    fn a_replica_dying_moves_only_its_own_environments() {
        let envs = names("env", 30);
        let alive = names("replica-", 3);
        let mut holders = BTreeMap::new();
        settle(&envs, &alive, &mut holders);
        let before = holders.clone();
        let survivors: Vec<String> = alive[1..].to_vec();
        // The dead replica's leases lapse: they are free.
        holders.retain(|_, h| h != &alive[0]);
        settle(&envs, &survivors, &mut holders);
        assert_eq!(holders.len(), 30);
        for (env, was) in &before {
            if was != &alive[0] {
                assert_eq!(&holders[env], was, "{env} moved between survivors");
            }
        }
        assert!(loads(&holders).values().all(|n| *n == 15), "{holders:?}");
    }

    #[test]
    fn a_replica_joining_gets_its_share_from_the_others() {
        let envs = names("env", 31);
        let alive = names("replica-", 2);
        let mut holders = BTreeMap::new();
        settle(&envs, &alive, &mut holders);
        let all = names("replica-", 3);
        settle(&envs, &all, &mut holders);
        assert_eq!(holders.len(), 31);
        let l = loads(&holders);
        assert_eq!(l.len(), 3);
        assert!(
            l.values().all(|n| *n <= 11),
            "at most the share each: {l:?}"
        );
        assert!(l.values().all(|n| *n >= 9), "the newcomer gets work: {l:?}");
    }

    #[test]
    fn a_replica_coming_back_takes_nothing_while_the_split_is_within_the_bound() {
        // Three environments, two replicas: r0 took r1's while r1 was frozen.
        let envs = names("env", 3);
        let alive = names("r", 2);
        let mut holders: BTreeMap<String, String> =
            envs.iter().map(|e| (e.clone(), alive[0].clone())).collect();
        let before = holders.clone();
        for me in &alive {
            assert_eq!(moves(&envs, &alive, &holders, me), Moves::default(), "{me}");
        }
        settle(&envs, &alive, &mut holders);
        assert_eq!(holders, before, "no environment moves back");
    }

    #[test]
    fn an_overloaded_replica_hands_back_only_its_excess() {
        // r0 took everything while r1 was frozen; r1 is back: 30 > 15 + slack.
        let envs = names("env", 30);
        let alive = names("r", 2);
        let mut holders: BTreeMap<String, String> =
            envs.iter().map(|e| (e.clone(), alive[0].clone())).collect();
        let m = moves(&envs, &alive, &holders, &alive[0]);
        assert_eq!(m.release.len(), 15, "down to its share: {m:?}");
        assert!(m.acquire.is_empty());
        settle(&envs, &alive, &mut holders);
        assert!(loads(&holders).values().all(|n| *n == 15), "{holders:?}");
        // Settled: nothing moves any more.
        for me in &alive {
            assert_eq!(moves(&envs, &alive, &holders, me), Moves::default());
        }
    }

    #[test]
    fn free_environments_still_go_to_replicas_below_their_share() {
        // r0 holds one over its share (kept); the free one goes to r1, not to r0.
        let envs = names("env", 4);
        let alive = names("r", 2);
        let mut holders: BTreeMap<String, String> = envs[..3]
            .iter()
            .map(|e| (e.clone(), alive[0].clone()))
            .collect();
        assert_eq!(
            moves(&envs, &alive, &holders, &alive[1]).acquire,
            vec![envs[3].clone()]
        );
        assert_eq!(moves(&envs, &alive, &holders, &alive[0]), Moves::default());
        settle(&envs, &alive, &mut holders);
        assert_eq!(loads(&holders)[&alive[0]], 3);
        assert_eq!(loads(&holders)[&alive[1]], 1);
    }

    #[test]
    fn a_replica_that_is_not_alive_takes_nothing() {
        let envs = names("env", 3);
        let m = moves(&envs, &names("r", 2), &BTreeMap::new(), "stranger");
        assert_eq!(m, Moves::default());
    }

    #[test]
    fn the_share_is_rounded_up() {
        assert_eq!(share(30, 3), 10);
        assert_eq!(share(31, 3), 11);
        assert_eq!(share(1, 3), 1);
        assert_eq!(share(5, 0), 5);
    }

    #[tokio::test]
    async fn a_guard_ends_when_not_renewed_and_never_comes_back() {
        let guard = Guard::new("dev", 3, Instant::now() + Duration::from_millis(100));
        assert!(guard.valid());
        guard.extend(Instant::now() + Duration::from_millis(300));
        let started = Instant::now();
        tokio::time::timeout(Duration::from_secs(10), guard.ended())
            .await
            .expect("the guard ends at its time");
        assert!(started.elapsed() >= Duration::from_millis(200), "extended");
        assert!(!guard.valid());
        guard.extend(Instant::now() + Duration::from_secs(60));
        assert!(!guard.valid(), "an ended guard is not renewed");
        let revoked = Guard::new("dev", 4, Instant::now() + Duration::from_secs(60));
        revoked.revoke();
        assert!(!revoked.valid());
        tokio::time::timeout(Duration::from_secs(1), revoked.ended())
            .await
            .expect("a revoked guard has ended");
    }

    #[test]
    fn lease_settings_keep_renewals_inside_the_safe_window() {
        let ok = LeaseSettings {
            duration: Duration::from_secs(6),
            renew_every: Duration::from_secs(1),
            join_delay: Duration::from_secs(2),
        };
        assert!(ok.check().is_ok());
        assert_eq!(ok.safe_for(), Duration::from_secs(4));
        let slow = LeaseSettings {
            renew_every: Duration::from_secs(3),
            ..ok
        };
        assert!(slow.check().is_err());
    }
}
