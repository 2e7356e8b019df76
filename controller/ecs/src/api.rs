//! The thin seam between Ferry and AWS: one method per ECS/ECR API call Ferry makes, in
//! ferry-core's shapes. The SDK implementation (`sdk`) and the in-process fake (`fake`) sit
//! behind it; [`Metered`] counts calls per API around either. No decisions are made here.

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::{Arc, Mutex};

use ferry_core::live::{LiveRepository, LiveService};

use crate::pace::{Pace, PaceLimits, is_throttling};
use ferry_core::render::{
    CreateRepository, CreateService, RunTask, Tag, TagOut, TaskDefinition, UpdateService,
};

/// A failed API call, classified.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{operation}: {message}")]
pub struct ApiError {
    /// The API, e.g. `RegisterTaskDefinition`.
    pub operation: &'static str,
    /// AWS's error code, e.g. `ClusterNotFoundException`, when there is one.
    pub code: Option<String>,
    /// What AWS (or the connection) said.
    pub message: String,
    /// Worth retrying later (throttling, 5xx, network) rather than a refusal.
    pub transient: bool,
}

impl ApiError {
    /// A refusal with an AWS error code.
    pub fn refused(operation: &'static str, code: &str, message: impl Into<String>) -> Self {
        Self {
            operation,
            code: Some(code.to_owned()),
            message: message.into(),
            transient: false,
        }
    }

    /// Whether AWS answered with `code`.
    pub fn is(&self, code: &str) -> bool {
        self.code.as_deref() == Some(code)
    }
}

/// Result of an API call.
pub type ApiResult<T> = Result<T, ApiError>;

/// A task as `DescribeTasks` shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveTask {
    /// Task ARN.
    pub arn: String,
    /// `PROVISIONING`, `PENDING`, `RUNNING`, ..., `STOPPED`.
    pub last_status: String,
    /// Why it stopped, once it has.
    pub stopped_reason: Option<String>,
    /// Its containers.
    pub containers: Vec<LiveContainer>,
}

/// One container of a [`LiveTask`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveContainer {
    /// Container name.
    pub name: String,
    /// Exit code, once it has exited.
    pub exit_code: Option<i32>,
    /// Why it stopped (e.g. `CannotPullContainerError`), when ECS says.
    pub reason: Option<String>,
}

/// One ECS service deployment (`DescribeServiceDeployments`), as Ferry follows it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct LiveServiceDeployment {
    /// Its ARN.
    pub arn: String,
    /// `PENDING`, `IN_PROGRESS`, `SUCCESSFUL`, `STOPPED`, `STOP_REQUESTED`,
    /// `ROLLBACK_REQUESTED`, `ROLLBACK_IN_PROGRESS`, `ROLLBACK_SUCCESSFUL`, `ROLLBACK_FAILED`.
    pub status: String,
    /// Why, when ECS says.
    pub status_reason: Option<String>,
    /// `SCALE_UP`, `PRODUCTION_TRAFFIC_SHIFT`, `BAKE_TIME`...
    pub lifecycle_stage: Option<String>,
    /// `ROLLING`, `BLUE_GREEN`, `CANARY` or `LINEAR`.
    pub strategy: Option<String>,
    /// The service revision deployed.
    pub target_revision: Option<String>,
    /// Production traffic asked of the target revision, percent.
    pub production_traffic: Option<f64>,
    /// Test traffic asked of the target revision, percent.
    pub test_traffic: Option<f64>,
    /// Tasks of the target revision running / wanted.
    pub running_tasks: u32,
    /// Wanted.
    pub requested_tasks: u32,
    /// Lifecycle hooks, with their status (`AWAITING_ACTION` for a pause waiting on promote).
    pub hooks: Vec<LiveHook>,
    /// When the deployment started.
    pub started_at: Option<std::time::SystemTime>,
    /// When the current stage was last updated.
    pub updated_at: Option<std::time::SystemTime>,
    /// Why it is being rolled back, when it is.
    pub rollback_reason: Option<String>,
}

/// A lifecycle hook of a [`LiveServiceDeployment`].
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LiveHook {
    /// The id `ContinueServiceDeployment` takes.
    pub id: String,
    /// `PAUSE` or `AWS_LAMBDA`.
    pub target_type: String,
    /// `AWAITING_ACTION`, `IN_PROGRESS`, `SUCCEEDED`, `FAILED`, `TIMED_OUT`.
    pub status: String,
}

impl LiveServiceDeployment {
    /// Still moving (not ended, not rolled back).
    pub fn in_progress(&self) -> bool {
        matches!(self.status.as_str(), "PENDING" | "IN_PROGRESS")
    }
    /// The pause hook waiting for a promote, if any.
    pub fn awaiting(&self) -> Option<&LiveHook> {
        self.hooks
            .iter()
            .find(|h| h.status == "AWAITING_ACTION" && h.target_type == "PAUSE")
    }
}

/// Every ECS and ECR call Ferry makes (and, through the supertrait, every Application Auto
/// Scaling one). Reads return ferry-core's live shapes; writes take its rendered inputs.
pub trait EcsApi:
    crate::autoscaling::AutoscalingApi + crate::analysis::MetricsApi + Send + Sync + 'static
{
    /// Make sure the credentials act in the environment's account (and can be had at all)
    /// before anything is read or written: a cheap check of cached credentials, a call to STS
    /// only for new ones. APIs without an account (the fake) have nothing to check.
    fn verify_account(
        &self,
    ) -> impl Future<Output = Result<(), crate::account::AccountError>> + Send {
        async { Ok(()) }
    }
    /// `ListServices` of `cluster`, every page: service names.
    fn list_services(&self, cluster: &str) -> impl Future<Output = ApiResult<Vec<String>>> + Send;
    /// `DescribeServices` (at most 10 names, `include: [TAGS]`); names ECS does not know are absent.
    fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> impl Future<Output = ApiResult<Vec<LiveService>>> + Send;
    /// `DescribeTaskDefinition` of an ARN or a family (its latest ACTIVE revision): the ARN and
    /// the definition. `None` when there is no such task definition.
    fn describe_task_definition(
        &self,
        arn_or_family: &str,
    ) -> impl Future<Output = ApiResult<Option<(String, TaskDefinition)>>> + Send;
    /// `ListTaskDefinitions` of a family, ACTIVE only, newest first: ARNs.
    fn list_task_definitions(
        &self,
        family: &str,
    ) -> impl Future<Output = ApiResult<Vec<String>>> + Send;
    /// `RegisterTaskDefinition`: the new revision's ARN. Never retried by the SDK (a lost
    /// answer would register a second revision); the caller checks and retries.
    fn register_task_definition(
        &self,
        td: &TaskDefinition,
    ) -> impl Future<Output = ApiResult<String>> + Send;
    /// `DeregisterTaskDefinition`.
    fn deregister_task_definition(&self, arn: &str) -> impl Future<Output = ApiResult<()>> + Send;
    /// `CreateService` with `taskDefinition` already an ARN, idempotent through `client_token`.
    fn create_service(
        &self,
        input: &CreateService,
        client_token: &str,
    ) -> impl Future<Output = ApiResult<LiveService>> + Send;
    /// `UpdateService`; an empty `taskDefinition` leaves the service's revision as it is.
    fn update_service(
        &self,
        input: &UpdateService,
    ) -> impl Future<Output = ApiResult<LiveService>> + Send;
    /// ECS `TagResource`.
    fn tag_service(&self, arn: &str, tags: &[Tag]) -> impl Future<Output = ApiResult<()>> + Send;
    /// `DeleteService` with `force`.
    fn delete_service(
        &self,
        cluster: &str,
        name: &str,
    ) -> impl Future<Output = ApiResult<()>> + Send;

    /// `DescribeRepositories`, every page (tags and lifecycle policy not filled in).
    fn describe_repositories(&self) -> impl Future<Output = ApiResult<Vec<LiveRepository>>> + Send;
    /// ECR `ListTagsForResource`.
    fn list_repository_tags(
        &self,
        arn: &str,
    ) -> impl Future<Output = ApiResult<Vec<TagOut>>> + Send;
    /// `GetLifecyclePolicy`: `None` when the repository has none.
    fn get_lifecycle_policy(
        &self,
        repository: &str,
    ) -> impl Future<Output = ApiResult<Option<String>>> + Send;
    /// `DescribeImages` of one tag: its digest, `None` when the tag is not in the repository.
    fn describe_image(
        &self,
        repository: &str,
        tag: &str,
    ) -> impl Future<Output = ApiResult<Option<String>>> + Send;
    /// `CreateRepository`.
    fn create_repository(
        &self,
        input: &CreateRepository,
    ) -> impl Future<Output = ApiResult<LiveRepository>> + Send;
    /// `PutImageTagMutability`.
    fn put_image_tag_mutability(
        &self,
        repository: &str,
        mutability: &str,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    /// `PutImageScanningConfiguration`.
    fn put_image_scanning_configuration(
        &self,
        repository: &str,
        scan_on_push: bool,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    /// `PutLifecyclePolicy`.
    fn put_lifecycle_policy(
        &self,
        repository: &str,
        text: &str,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    /// `DeleteLifecyclePolicy`.
    fn delete_lifecycle_policy(
        &self,
        repository: &str,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    /// ECR `TagResource`.
    fn tag_repository(
        &self,
        arn: &str,
        tags: &[TagOut],
    ) -> impl Future<Output = ApiResult<()>> + Send;
    /// `RunTask` of `input` with `task_definition` (an ARN): the started task's ARN.
    fn run_task(
        &self,
        input: &RunTask,
        task_definition: &str,
        client_token: &str,
    ) -> impl Future<Output = ApiResult<String>> + Send;
    /// `DescribeTasks` of one task (None when ECS does not know it).
    fn describe_task(
        &self,
        cluster: &str,
        arn: &str,
    ) -> impl Future<Output = ApiResult<Option<LiveTask>>> + Send;
    /// `StopTask`.
    fn stop_task(
        &self,
        cluster: &str,
        arn: &str,
        reason: &str,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    /// The newest service deployment of a service (`ListServiceDeployments` then
    /// `DescribeServiceDeployments`), `None` when it has none.
    fn latest_service_deployment(
        &self,
        cluster: &str,
        service: &str,
    ) -> impl Future<Output = ApiResult<Option<LiveServiceDeployment>>> + Send;
    /// `ContinueServiceDeployment` of a paused hook: go on (`rollback` false) or roll back.
    fn continue_service_deployment(
        &self,
        arn: &str,
        hook_id: &str,
        rollback: bool,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    /// `StopServiceDeployment` with stop type `ROLLBACK`.
    fn rollback_service_deployment(&self, arn: &str) -> impl Future<Output = ApiResult<()>> + Send;
}

/// APIs that change something: the no-op reconcile must call none of them.
pub const WRITE_APIS: &[&str] = &[
    "RegisterTaskDefinition",
    "DeregisterTaskDefinition",
    "CreateService",
    "UpdateService",
    "ecs:TagResource",
    "DeleteService",
    "CreateRepository",
    "PutImageTagMutability",
    "PutImageScanningConfiguration",
    "PutLifecyclePolicy",
    "DeleteLifecyclePolicy",
    "ecr:TagResource",
    "RegisterScalableTarget",
    "DeregisterScalableTarget",
    "PutScalingPolicy",
    "DeleteScalingPolicy",
    "PutScheduledAction",
    "DeleteScheduledAction",
    "RunTask",
    "StopTask",
    "ContinueServiceDeployment",
    "StopServiceDeployment",
];

/// Calls per API (logical calls: the SDK's own retries are not counted), shared and cheap to clone.
#[derive(Clone, Debug, Default)]
pub struct CallCounts(Arc<Mutex<BTreeMap<&'static str, u64>>>);

impl CallCounts {
    pub(crate) fn add(&self, api: &'static str) {
        if let Ok(mut map) = self.0.lock() {
            *map.entry(api).or_default() += 1;
        }
    }

    /// A copy of the counts so far.
    pub fn snapshot(&self) -> BTreeMap<&'static str, u64> {
        self.0.lock().map(|m| m.clone()).unwrap_or_default()
    }

    /// Calls to `api` so far.
    pub fn get(&self, api: &str) -> u64 {
        self.snapshot().get(api).copied().unwrap_or(0)
    }

    /// Calls to APIs that change something, so far.
    pub fn writes(&self) -> u64 {
        self.snapshot()
            .iter()
            .filter(|(k, _)| WRITE_APIS.contains(k))
            .map(|(_, v)| v)
            .sum()
    }

    /// Forget every count.
    pub fn reset(&self) {
        if let Ok(mut map) = self.0.lock() {
            map.clear();
        }
    }
}

/// An [`EcsApi`] that counts every call per API and paces calls under Ferry's own rate
/// limit ([`Pace`]) before passing them on.
#[derive(Debug)]
pub struct Metered<A> {
    inner: A,
    counts: CallCounts,
    pace: Arc<Pace>,
}

impl<A> Metered<A> {
    /// Count and pace calls to `inner` (default limits).
    pub fn new(inner: A) -> Self {
        Self::with_pace(inner, PaceLimits::default())
    }

    /// Count and pace calls to `inner` within `limits`.
    pub fn with_pace(inner: A, limits: PaceLimits) -> Self {
        Self {
            inner,
            counts: CallCounts::default(),
            pace: Arc::new(Pace::new(limits)),
        }
    }

    /// Pace calls with `pace`, shared with every other caller of one account and region.
    pub fn share_pace(&mut self, pace: Arc<Pace>) {
        self.pace = pace;
    }

    /// The pace (its current rate).
    pub fn pace(&self) -> &Arc<Pace> {
        &self.pace
    }

    async fn call<T>(
        &self,
        api: &'static str,
        call: impl Future<Output = ApiResult<T>>,
    ) -> ApiResult<T> {
        self.counts.add(api);
        self.pace.acquire().await;
        let out = call.await;
        self.pace.record(
            out.as_ref()
                .err()
                .is_some_and(|e| is_throttling(e.code.as_deref())),
        );
        out
    }

    /// The counts (shared: clones see later calls too).
    pub fn counts(&self) -> &CallCounts {
        &self.counts
    }

    /// The wrapped API.
    pub fn inner(&self) -> &A {
        &self.inner
    }
}

impl<A: EcsApi> EcsApi for Metered<A> {
    async fn verify_account(&self) -> Result<(), crate::account::AccountError> {
        self.inner.verify_account().await
    }
    async fn list_services(&self, cluster: &str) -> ApiResult<Vec<String>> {
        self.call("ListServices", self.inner.list_services(cluster))
            .await
    }
    async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> ApiResult<Vec<LiveService>> {
        self.call(
            "DescribeServices",
            self.inner.describe_services(cluster, names),
        )
        .await
    }
    async fn describe_task_definition(
        &self,
        arn_or_family: &str,
    ) -> ApiResult<Option<(String, TaskDefinition)>> {
        self.call(
            "DescribeTaskDefinition",
            self.inner.describe_task_definition(arn_or_family),
        )
        .await
    }
    async fn list_task_definitions(&self, family: &str) -> ApiResult<Vec<String>> {
        self.call(
            "ListTaskDefinitions",
            self.inner.list_task_definitions(family),
        )
        .await
    }
    async fn register_task_definition(&self, td: &TaskDefinition) -> ApiResult<String> {
        self.call(
            "RegisterTaskDefinition",
            self.inner.register_task_definition(td),
        )
        .await
    }
    async fn deregister_task_definition(&self, arn: &str) -> ApiResult<()> {
        self.call(
            "DeregisterTaskDefinition",
            self.inner.deregister_task_definition(arn),
        )
        .await
    }
    async fn create_service(
        &self,
        input: &CreateService,
        client_token: &str,
    ) -> ApiResult<LiveService> {
        self.call(
            "CreateService",
            self.inner.create_service(input, client_token),
        )
        .await
    }
    async fn update_service(&self, input: &UpdateService) -> ApiResult<LiveService> {
        self.call("UpdateService", self.inner.update_service(input))
            .await
    }
    async fn tag_service(&self, arn: &str, tags: &[Tag]) -> ApiResult<()> {
        self.call("ecs:TagResource", self.inner.tag_service(arn, tags))
            .await
    }
    async fn delete_service(&self, cluster: &str, name: &str) -> ApiResult<()> {
        self.call("DeleteService", self.inner.delete_service(cluster, name))
            .await
    }
    async fn describe_repositories(&self) -> ApiResult<Vec<LiveRepository>> {
        self.call("DescribeRepositories", self.inner.describe_repositories())
            .await
    }
    async fn list_repository_tags(&self, arn: &str) -> ApiResult<Vec<TagOut>> {
        self.call(
            "ecr:ListTagsForResource",
            self.inner.list_repository_tags(arn),
        )
        .await
    }
    async fn get_lifecycle_policy(&self, repository: &str) -> ApiResult<Option<String>> {
        self.call(
            "GetLifecyclePolicy",
            self.inner.get_lifecycle_policy(repository),
        )
        .await
    }
    async fn describe_image(&self, repository: &str, tag: &str) -> ApiResult<Option<String>> {
        self.call("DescribeImages", self.inner.describe_image(repository, tag))
            .await
    }
    async fn create_repository(&self, input: &CreateRepository) -> ApiResult<LiveRepository> {
        self.call("CreateRepository", self.inner.create_repository(input))
            .await
    }
    async fn put_image_tag_mutability(&self, repository: &str, mutability: &str) -> ApiResult<()> {
        self.call(
            "PutImageTagMutability",
            self.inner.put_image_tag_mutability(repository, mutability),
        )
        .await
    }
    async fn put_image_scanning_configuration(
        &self,
        repository: &str,
        scan_on_push: bool,
    ) -> ApiResult<()> {
        self.call(
            "PutImageScanningConfiguration",
            self.inner
                .put_image_scanning_configuration(repository, scan_on_push),
        )
        .await
    }
    async fn put_lifecycle_policy(&self, repository: &str, text: &str) -> ApiResult<()> {
        self.call(
            "PutLifecyclePolicy",
            self.inner.put_lifecycle_policy(repository, text),
        )
        .await
    }
    async fn delete_lifecycle_policy(&self, repository: &str) -> ApiResult<()> {
        self.call(
            "DeleteLifecyclePolicy",
            self.inner.delete_lifecycle_policy(repository),
        )
        .await
    }
    async fn tag_repository(&self, arn: &str, tags: &[TagOut]) -> ApiResult<()> {
        self.call("ecr:TagResource", self.inner.tag_repository(arn, tags))
            .await
    }
    async fn run_task(
        &self,
        input: &RunTask,
        task_definition: &str,
        client_token: &str,
    ) -> ApiResult<String> {
        self.call(
            "RunTask",
            self.inner.run_task(input, task_definition, client_token),
        )
        .await
    }
    async fn describe_task(&self, cluster: &str, arn: &str) -> ApiResult<Option<LiveTask>> {
        self.call("DescribeTasks", self.inner.describe_task(cluster, arn))
            .await
    }
    async fn stop_task(&self, cluster: &str, arn: &str, reason: &str) -> ApiResult<()> {
        self.call("StopTask", self.inner.stop_task(cluster, arn, reason))
            .await
    }
    async fn latest_service_deployment(
        &self,
        cluster: &str,
        service: &str,
    ) -> ApiResult<Option<LiveServiceDeployment>> {
        self.call(
            "DescribeServiceDeployments",
            self.inner.latest_service_deployment(cluster, service),
        )
        .await
    }
    async fn continue_service_deployment(
        &self,
        arn: &str,
        hook_id: &str,
        rollback: bool,
    ) -> ApiResult<()> {
        self.call(
            "ContinueServiceDeployment",
            self.inner
                .continue_service_deployment(arn, hook_id, rollback),
        )
        .await
    }
    async fn rollback_service_deployment(&self, arn: &str) -> ApiResult<()> {
        self.call(
            "StopServiceDeployment",
            self.inner.rollback_service_deployment(arn),
        )
        .await
    }
}
