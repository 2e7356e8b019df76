//! The contract between the controller and a platform (`ecs`, `local`): observe what exists,
//! apply a plan, report results and health in the shared vocabulary. Types and the trait only;
//! implementations live in their own crates.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::live::ActualState;
use crate::load::DesiredState;
use crate::plan::{Op, Plan, ResourceKey};
use crate::render::{Digests, Rendered};

/// Health of a resource (Argo CD's vocabulary).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum HealthCode {
    /// Running as desired.
    Healthy,
    /// Getting there (a rollout in progress).
    Progressing,
    /// Failing (crash loop, failed rollout, rollback).
    Degraded,
    /// Does not exist.
    Missing,
    /// Deliberately not reconciled.
    Suspended,
    /// Cannot tell.
    #[default]
    Unknown,
}

/// Whether live matches git.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SyncStatus {
    /// Live matches the desired state.
    Synced,
    /// A plan has changes.
    OutOfSync,
    /// Not compared (yet).
    #[default]
    Unknown,
}

/// Health of one service, as a platform sees it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceHealth {
    /// The verdict.
    pub code: HealthCode,
    /// Why, in a sentence (ECS's rollout reason, a crash reason...).
    pub message: String,
    /// The live task definition revision (ARN, or a local content hash).
    pub live_revision: Option<String>,
    /// Image digest (or resolved image) per container.
    pub images: BTreeMap<String, String>,
    /// Tasks (or processes) running, and wanted.
    pub running: u32,
    /// Wanted.
    pub desired: u32,
}

/// What a platform observed of one environment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Observed {
    /// Live objects, in the shapes diff compares.
    pub actual: ActualState,
    /// Digests of the desired `repository:tag` images, where the registry knows them.
    pub digests: Digests,
    /// Health per service name.
    pub health: BTreeMap<String, ResourceHealth>,
}

/// How one change ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum ResultCode {
    /// Applied (and, when waiting, rolled out).
    Synced,
    /// The platform refused or the rollout failed.
    Failed,
    /// Not attempted (a change it depended on failed, or it is not ours).
    Skipped,
}

/// The outcome of one change.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResourceResult {
    /// Which resource.
    pub key: ResourceKey,
    /// What was attempted.
    pub op: Op,
    /// How it ended.
    pub code: ResultCode,
    /// What happened, for a human (never a secret value).
    pub message: String,
}

/// How to apply.
#[derive(Clone, Debug, PartialEq)]
pub struct ApplyOptions {
    /// Follow rollouts until they complete or fail.
    pub wait: bool,
    /// Give up waiting after this long (the rollout is then reported failed).
    pub timeout: Duration,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            wait: false,
            timeout: Duration::from_secs(600),
        }
    }
}

/// A platform failure that stopped observe or apply as a whole.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct PlatformError {
    /// Worth retrying with backoff (throttling, network), as opposed to a configuration error.
    pub transient: bool,
    /// What failed.
    pub message: String,
}

/// Something Ferry can deploy to.
pub trait Platform: Send + Sync {
    /// What exists now for `desired`'s environment (owned or not), digests of its images and
    /// the health of its services.
    fn observe(
        &self,
        desired: &DesiredState,
    ) -> impl Future<Output = Result<Observed, PlatformError>> + Send;

    /// Execute `plan` in order, one result per change; a failed change does not abort
    /// unrelated ones (a service whose task definition failed to register is skipped).
    fn apply(
        &self,
        desired: &DesiredState,
        rendered: &Rendered,
        plan: &Plan,
        options: &ApplyOptions,
    ) -> impl Future<Output = Vec<ResourceResult>> + Send;
}
