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
    /// A blue/green, canary or linear deployment in progress (or just ended).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<DeploymentProgress>,
    /// Why it failed when Ferry itself stopped it (`AnalysisFailed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Where a blue/green, canary or linear deployment stands (ECS's service deployment).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentProgress {
    /// `BLUE_GREEN`, `CANARY` or `LINEAR`.
    pub strategy: String,
    /// ECS's status of the service deployment (`IN_PROGRESS`, `SUCCESSFUL`, `ROLLBACK_*`...).
    pub status: String,
    /// The lifecycle stage (`PRODUCTION_TRAFFIC_SHIFT`, `BAKE_TIME`...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<String>,
    /// Production traffic on the new version, percent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_percent: Option<f64>,
    /// Seconds left of the current bake, when baking.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bake_left_seconds: Option<u64>,
    /// Held by a pause until promoted (or aborted).
    #[serde(default)]
    pub awaiting_promote: bool,
    /// The last analysis measurement, one line.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<String>,
    /// The service deployment's ARN.
    pub deployment: String,
}

/// What `ferry promote` / `ferry abort` do to a deployment in progress.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeploymentAction {
    /// Let a paused deployment go on.
    Promote,
    /// Stop it and roll back to what ran before.
    Abort,
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
    /// Set when the change started a rollout (a service created or deployed) that was not
    /// followed to its end: what to follow with [`Platform::follow`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
}

/// A rollout to follow: a service and the revision it must end up running.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rollout {
    /// Service name.
    pub service: String,
    /// The task definition ARN (or local revision) the service must end up running, when the
    /// change set one.
    pub expected_revision: Option<String>,
}

/// How a followed rollout ended (the reasons `ferry run` records).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum RolloutOutcome {
    /// Every task of the new revision runs (`rolloutState` COMPLETED).
    Completed,
    /// ECS rolled the service back (deployment circuit breaker): it runs another revision.
    RolledBack,
    /// The deployment failed (or the service vanished) without a rollback.
    RolloutFailed,
    /// Still in progress when the rollout timeout passed.
    RolloutTimedOut,
    /// Ferry's metric analysis failed; it stopped the deployment with a rollback.
    AnalysisFailed,
}

impl RolloutOutcome {
    /// The reason as written in history and status.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Completed => "Completed",
            Self::RolledBack => "RolledBack",
            Self::RolloutFailed => "RolloutFailed",
            Self::RolloutTimedOut => "RolloutTimedOut",
            Self::AnalysisFailed => "AnalysisFailed",
        }
    }

    /// The outcome of a rollout whose service now has `health`, if it is final.
    pub fn judge(rollout: &Rollout, health: &ResourceHealth) -> Option<Self> {
        match health.code {
            HealthCode::Healthy => Some(Self::Completed),
            HealthCode::Degraded if health.reason.as_deref() == Some("AnalysisFailed") => {
                Some(Self::AnalysisFailed)
            }
            HealthCode::Degraded => {
                let moved = match (&rollout.expected_revision, &health.live_revision) {
                    (Some(want), Some(live)) => want != live,
                    _ => false,
                };
                Some(if moved {
                    Self::RolledBack
                } else {
                    Self::RolloutFailed
                })
            }
            HealthCode::Missing => Some(Self::RolloutFailed),
            HealthCode::Progressing | HealthCode::Suspended | HealthCode::Unknown => None,
        }
    }
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
    /// The typed reason status shows when the failure has its own (e.g. `AccountMismatch`);
    /// else the stage's (`ObserveFailed`).
    pub reason: Option<&'static str>,
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

    /// The health of the services of `rollouts` now, judged against the revision each must end
    /// up running: one cheap poll (batched), not a full observe. A service that no longer
    /// exists is `Missing`.
    fn follow(
        &self,
        desired: &DesiredState,
        rollouts: &[Rollout],
    ) -> impl Future<Output = Result<BTreeMap<String, ResourceHealth>, PlatformError>> + Send;

    /// Deploy existing revisions again (a rollback): point each service of `revisions`
    /// (service name → revision, as recorded when it last ran well) at it and change nothing
    /// else. One result per service, with the rollout to follow.
    fn redeploy(
        &self,
        desired: &DesiredState,
        revisions: &BTreeMap<String, String>,
    ) -> impl Future<Output = Vec<ResourceResult>> + Send;

    /// Promote or abort the deployment in progress of `service`: what was done, in a sentence.
    /// Platforms without progressive deployments refuse (see [`NO_PROGRESSIVE_DEPLOYMENTS`]).
    fn deployment_action(
        &self,
        desired: &DesiredState,
        service: &str,
        action: DeploymentAction,
    ) -> impl Future<Output = Result<String, PlatformError>> + Send;
}

/// What a platform without blue/green, canary or linear deployments answers to promote/abort.
pub const NO_PROGRESSIVE_DEPLOYMENTS: &str =
    "this platform has no blue/green, canary or linear deployments to promote or abort";
