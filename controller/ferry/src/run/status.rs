//! The status model the loop publishes (one immutable snapshot at a time through a
//! `tokio::sync::watch` channel) and the HTTP handlers only read. Nothing secret goes in:
//! environment values and secret ARNs are not part of it, only names, images and revisions.

use std::collections::BTreeMap;

use ferry_core::platform::{HealthCode, ResultCode, SyncStatus};
use serde::Serialize;

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
}

/// A condition in the Kubernetes/Flux style.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Condition {
    /// `Ready`, `Reconciling` or `Stalled`.
    #[serde(rename = "type")]
    pub(crate) kind: &'static str,
    /// `True` or `False`.
    pub(crate) status: &'static str,
    /// Typed reason, e.g. `ReconciliationSucceeded`, `ValidationFailed`.
    pub(crate) reason: &'static str,
    /// Human-readable detail.
    pub(crate) message: String,
}

/// One environment's state.
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct EnvStatus {
    /// `ecs` or `local`.
    pub(crate) platform: String,
    /// Ready / Reconciling / Stalled.
    pub(crate) conditions: Vec<Condition>,
    /// Whether live matches git.
    pub(crate) sync: SyncStatus,
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
#[derive(Clone, Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
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
}

/// One sync attempt.
#[derive(Clone, Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct SyncAttempt {
    /// Revision.
    pub(crate) revision: String,
    /// What started it: `revision`, `drift`, `sync`, `retry`.
    pub(crate) trigger: String,
    /// Start (RFC 3339).
    pub(crate) started: String,
    /// Duration in milliseconds.
    pub(crate) duration_ms: u64,
    /// `Succeeded`, `Failed`, `Invalid`, `NoChanges`, `DriftDetected`; `Applying` while an
    /// apply runs, `Interrupted` when the process died during one.
    pub(crate) result: String,
    /// Changes made (`op kind/name`).
    pub(crate) changes: Vec<String>,
    /// Errors.
    pub(crate) errors: Vec<String>,
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
