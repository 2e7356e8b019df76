//! [`EcsPlatform`]: ferry-core's `Platform` on any [`EcsApi`] (the SDK, or the fake), with the
//! caches that make a no-op reconcile cheap (task definitions by ARN, digests of immutable tags)
//! and the call counts exposed for status and metrics.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_core::DesiredState;
use ferry_core::live::LiveService;
use ferry_core::plan::{Op, Plan, ResourceKey, ResourceKind};
use ferry_core::platform::{
    ApplyOptions, DeploymentAction, Observed, Platform, PlatformError, ResourceHealth,
    ResourceResult, ResultCode, Rollout,
};
use ferry_core::render::{Rendered, TaskDefinition};

use crate::api::{CallCounts, EcsApi, Metered};
use crate::sdk::{AwsSettings, SdkApi};

/// Tuning of the ECS platform.
#[derive(Clone, Debug)]
pub struct EcsOptions {
    /// Read calls in flight at once (describe batches, task definitions, tags...).
    pub read_concurrency: usize,
    /// Write calls in flight at once.
    pub write_concurrency: usize,
    /// Task definition revisions kept per managed family (older ones not in use are deregistered).
    pub keep_task_definitions: usize,
    /// How often a rollout is polled while waiting.
    pub poll_interval: Duration,
    /// Attempts at `RegisterTaskDefinition` on transient errors (each checked first, so a lost
    /// answer never registers a second revision).
    pub register_attempts: u32,
    /// Pause between those attempts.
    pub register_backoff: Duration,
    /// How late CloudWatch has a minute's load balancer datapoints: an analysis measures the
    /// window that ended this long ago (and starts measuring this much later).
    pub metrics_lag: Duration,
}

impl Default for EcsOptions {
    fn default() -> Self {
        Self {
            read_concurrency: 8,
            write_concurrency: 4,
            keep_task_definitions: 5,
            poll_interval: Duration::from_secs(5),
            register_attempts: 6,
            register_backoff: Duration::from_millis(25),
            metrics_lag: Duration::from_secs(60),
        }
    }
}

/// A line of progress while applying (`ferry apply` prints them).
pub type ProgressFn = Arc<dyn Fn(&str) + Send + Sync>;

/// What the last task definition GC did, per family.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct GcReport {
    /// Deregistered ARNs per family.
    pub deregistered: BTreeMap<String, Vec<String>>,
    /// Failures, one line each.
    pub errors: Vec<String>,
}

/// Amazon ECS and ECR as a Ferry platform.
pub struct EcsPlatform<A: EcsApi = SdkApi> {
    pub(crate) api: Metered<A>,
    pub(crate) options: EcsOptions,
    pub(crate) td_cache: Mutex<HashMap<String, TaskDefinition>>,
    pub(crate) digest_cache: Mutex<HashMap<String, String>>,
    pub(crate) last_services: Mutex<BTreeMap<String, LiveService>>,
    pub(crate) last_gc: Mutex<GcReport>,
    pub(crate) progress: Option<ProgressFn>,
    /// Analyses that failed, by service deployment ARN (the deployment is rolling back).
    pub(crate) analysis_failures: Mutex<HashMap<String, String>>,
    /// Analyses in progress, by service deployment ARN.
    pub(crate) analysis_runs: Mutex<HashMap<String, crate::analysis::AnalysisRun>>,
}

impl EcsPlatform<SdkApi> {
    /// The platform on the AWS SDK, configured from the default chain plus `settings`.
    pub async fn connect(settings: &AwsSettings, options: EcsOptions) -> Self {
        Self::new(SdkApi::connect(settings).await, options)
    }
}

impl<A: EcsApi> EcsPlatform<A> {
    /// The platform on `api`.
    pub fn new(api: A, options: EcsOptions) -> Self {
        Self {
            api: Metered::new(api),
            options,
            td_cache: Mutex::new(HashMap::new()),
            digest_cache: Mutex::new(HashMap::new()),
            last_services: Mutex::new(BTreeMap::new()),
            last_gc: Mutex::new(GcReport::default()),
            progress: None,
            analysis_failures: Mutex::new(HashMap::new()),
            analysis_runs: Mutex::new(HashMap::new()),
        }
    }

    /// Pace calls with `pace` (shared by every platform of one account and region).
    #[must_use]
    pub fn with_pace(mut self, pace: Arc<crate::pace::Pace>) -> Self {
        self.api.share_pace(pace);
        self
    }

    /// Check the account before anything is read or written (see [`EcsApi::verify_account`]).
    pub async fn verify_account(&self) -> Result<(), PlatformError> {
        self.api.verify_account().await.map_err(|e| PlatformError {
            transient: e.transient(),
            message: e.to_string(),
            reason: Some(e.reason()),
        })
    }

    /// Report progress lines (rollouts being followed, GC) to `f`.
    #[must_use]
    pub fn with_progress(mut self, f: ProgressFn) -> Self {
        self.progress = Some(f);
        self
    }

    /// How many task definitions are cached (only the live revisions of observed families).
    pub fn cached_task_definitions(&self) -> usize {
        self.td_cache.lock().map_or(0, |c| c.len())
    }

    /// Calls made so far, per API.
    pub fn calls(&self) -> &CallCounts {
        self.api.counts()
    }

    /// The API underneath (tests reach the fake or the SDK clients through it).
    pub fn api(&self) -> &A {
        self.api.inner()
    }

    /// What the last apply's task definition GC did.
    pub fn last_gc(&self) -> GcReport {
        self.last_gc.lock().map(|g| g.clone()).unwrap_or_default()
    }

    pub(crate) fn say(&self, line: &str) {
        tracing::info!("{line}");
        if let Some(p) = &self.progress {
            p(line);
        }
    }
}

impl<A: EcsApi> Platform for EcsPlatform<A> {
    async fn observe(&self, desired: &DesiredState) -> Result<Observed, PlatformError> {
        self.verify_account().await?;
        self.observe_environment(desired).await
    }

    async fn apply(
        &self,
        desired: &DesiredState,
        rendered: &Rendered,
        plan: &Plan,
        options: &ApplyOptions,
    ) -> Vec<ResourceResult> {
        if let Err(e) = self.verify_account().await {
            return refused(plan.changes.iter().map(|c| (c.key.clone(), c.op)), &e);
        }
        self.apply_plan(desired, rendered, plan, options).await
    }

    async fn follow(
        &self,
        desired: &DesiredState,
        rollouts: &[Rollout],
    ) -> Result<BTreeMap<String, ResourceHealth>, PlatformError> {
        self.verify_account().await?;
        self.follow_environment(desired, rollouts).await
    }

    async fn redeploy(
        &self,
        desired: &DesiredState,
        revisions: &BTreeMap<String, String>,
    ) -> Vec<ResourceResult> {
        if let Err(e) = self.verify_account().await {
            let keys = revisions.keys().map(|name| {
                let key = ResourceKey {
                    env: desired.env.clone(),
                    kind: ResourceKind::EcsService,
                    name: name.clone(),
                };
                (key, Op::Update)
            });
            return refused(keys, &e);
        }
        self.redeploy_services(desired, revisions).await
    }

    async fn deployment_action(
        &self,
        desired: &DesiredState,
        service: &str,
        action: DeploymentAction,
    ) -> Result<String, PlatformError> {
        self.verify_account().await?;
        self.act_on_deployment(desired, service, action).await
    }
}

/// Every change refused because the account check failed: nothing was attempted.
fn refused(
    keys: impl Iterator<Item = (ResourceKey, Op)>,
    e: &PlatformError,
) -> Vec<ResourceResult> {
    keys.map(|(key, op)| ResourceResult {
        key,
        op,
        code: ResultCode::Failed,
        message: e.message.clone(),
        rollout: None,
    })
    .collect()
}
