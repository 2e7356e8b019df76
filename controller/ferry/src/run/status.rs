//! The status model the loop publishes (one immutable snapshot at a time through a
//! `tokio::sync::watch` channel) and the HTTP handlers only read. Nothing secret goes in:
//! environment values and secret ARNs are not part of it, only names, images and revisions.

use std::borrow::Cow;
use std::collections::BTreeMap;

use ferry_core::platform::{HealthCode, ResultCode, SyncStatus};
use serde::{Deserialize, Serialize};

/// Everything `/status` shows.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct StatusSnapshot {
    /// Where manifests come from (folder path or repository URL, without credentials).
    pub(crate) source: String,
    /// The newest revision the source produced.
    pub(crate) source_revision: Option<String>,
    /// The source's last error (fetch failure...), if any.
    pub(crate) source_error: Option<String>,
    /// Per environment.
    pub(crate) environments: BTreeMap<String, EnvStatus>,
    /// This replica and the others alive on the same history database (PostgreSQL only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) replica: Option<ReplicaStatus>,
}

/// Where this process stands among the replicas sharing a PostgreSQL history database.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct ReplicaStatus {
    /// This replica's id (`--replica-id`, default `hostname-pid`).
    pub(crate) id: String,
    /// The replicas whose heartbeat is current, this one included, sorted.
    pub(crate) alive: Vec<String>,
    /// The environments this replica holds the lease of.
    pub(crate) holds: Vec<String>,
    /// Why this replica is not healthy (database unreachable, leases not renewing), if so.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) problem: Option<String>,
    /// When leases were last renewed (monotonic; `/readyz` judges its age).
    #[serde(skip)]
    pub(crate) renewed: Option<std::time::Instant>,
    /// How old `renewed` may get before this replica is not ready.
    #[serde(skip)]
    pub(crate) renew_deadline: std::time::Duration,
}

/// A condition in the Kubernetes/Flux style. (`Cow`: this replica's loop names them with
/// constants; conditions read back from another replica's status are owned strings.)
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Condition {
    /// `Ready`, `Reconciling` or `Stalled`.
    #[serde(rename = "type")]
    pub(crate) kind: Cow<'static, str>,
    /// `True` or `False`.
    pub(crate) status: Cow<'static, str>,
    /// Typed reason, e.g. `ReconciliationSucceeded`, `ValidationFailed`.
    pub(crate) reason: Cow<'static, str>,
    /// Human-readable detail.
    pub(crate) message: String,
}

/// One environment's state. Replicas share it through the database, so it reads back too
/// (fields a replica of another version does not know are left at their defaults).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct EnvStatus {
    /// `ecs` or `local`.
    pub(crate) platform: String,
    /// The replica that holds the environment's lease and reconciles it (replicas on
    /// PostgreSQL; a single process on SQLite owns every environment).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) owner: Option<String>,
    /// Ready / Reconciling / Stalled.
    pub(crate) conditions: Vec<Condition>,
    /// Whether live matches git.
    pub(crate) sync: SyncStatus,
    /// The worst health of its resources; `Degraded` after a failed rollout.
    pub(crate) health: HealthCode,
    /// Set while automatic sync is paused after a rollback: what happened, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) paused: Option<String>,
    /// Set while a revision whose rollout failed is held back: what happened, in words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) held_back: Option<String>,
    /// The revision whose apply last succeeded.
    pub(crate) last_applied_revision: Option<String>,
    /// The revision last tried.
    pub(crate) last_attempted_revision: Option<String>,
    /// Manifest errors of the last attempted revision (file:line: field: message).
    pub(crate) errors: Vec<String>,
    /// Per resource.
    pub(crate) resources: Vec<ResourceStatus>,
    /// Recent sync attempts, newest first.
    pub(crate) history: Vec<SyncAttempt>,
    /// When the last reconcile finished (RFC 3339).
    pub(crate) last_reconcile: Option<String>,
}

/// One resource's state.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct ResourceStatus {
    /// `EcsService`, `EcrRepository`.
    pub(crate) kind: String,
    /// Name.
    pub(crate) name: String,
    /// Synced / OutOfSync.
    pub(crate) sync: SyncStatus,
    /// Health.
    pub(crate) health: HealthCode,
    /// Why.
    pub(crate) message: String,
    /// The live revision (task definition ARN or local hash).
    pub(crate) live_revision: Option<String>,
    /// Images per container as running.
    pub(crate) images: BTreeMap<String, String>,
    /// Fields that differ from git (paths only; values may be sensitive).
    pub(crate) drift: Vec<String>,
    /// The last apply's result for it.
    pub(crate) last_result: Option<String>,
    /// The revision git wants it to run, when it differs from the live one (after a failed
    /// rollout or a rollback), with why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) desired_revision: Option<String>,
    /// A blue/green, canary or linear deployment being followed: stage, traffic, bake left.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) deployment: Option<ferry_core::platform::DeploymentProgress>,
}

/// One sync attempt.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub(crate) struct SyncAttempt {
    /// Revision.
    pub(crate) revision: String,
    /// What started it: `revision`, `drift`, `sync`, `retry`.
    pub(crate) trigger: String,
    /// Start (RFC 3339).
    pub(crate) started: String,
    /// Duration in milliseconds.
    pub(crate) duration_ms: u64,
    /// `Succeeded`, `Failed`, `Invalid`, `NoChanges`, `DriftDetected`, `Superseded` (a newer
    /// revision arrived during its rollout), `Resumed`; `Applying` while an apply runs,
    /// `Interrupted` when the process died during one.
    pub(crate) result: String,
    /// Why it failed: `ApplyFailed`, `RolledBack`, `RolloutFailed`, `RolloutTimedOut`...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
    /// Changes made (`op kind/name`).
    pub(crate) changes: Vec<String>,
    /// Errors.
    pub(crate) errors: Vec<String>,
    /// What each service ran when it ended well (service → task definition revision): what
    /// a rollback to this revision deploys again.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) deployed: BTreeMap<String, String>,
    /// The newest source revision when it ran.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) head: Option<String>,
    /// Its history row, once written ahead of an apply.
    #[serde(skip)]
    pub(crate) row: Option<i64>,
}

/// Short text for a result code.
pub(crate) fn result_text(code: ResultCode) -> &'static str {
    match code {
        ResultCode::Synced => "Synced",
        ResultCode::Failed => "Failed",
        ResultCode::Skipped => "Skipped",
    }
}
