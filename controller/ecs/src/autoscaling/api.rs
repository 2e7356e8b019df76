//! The Application Auto Scaling calls Ferry makes, one method per API call (one HTTP request,
//! so the call counts are honest), in ferry-core's shapes, and their [`Metered`] counting.

use std::future::Future;

use ferry_core::autoscaling::{
    LiveScalableTarget, PutScalingPolicy, PutScheduledAction, RegisterScalableTarget,
};

use crate::api::{ApiResult, EcsApi, Metered};

/// One page of a listing and the token of the next (`None`: the last page).
pub type Page<T> = (Vec<T>, Option<String>);

/// Application Auto Scaling for the `ecs` namespace and the `ecs:service:DesiredCount`
/// dimension. Every `EcsApi` is one (it is a supertrait).
pub trait AutoscalingApi: Send + Sync + 'static {
    /// `DescribeScalableTargets` of at most 50 resource ids (`service/<cluster>/<name>`):
    /// the ones that exist, without policies or actions.
    fn describe_scalable_targets(
        &self,
        resource_ids: &[String],
    ) -> impl Future<Output = ApiResult<Vec<LiveScalableTarget>>> + Send;
    /// One page of `DescribeScalingPolicies` of the whole `ecs` namespace.
    fn describe_scaling_policies(
        &self,
        next_token: Option<String>,
    ) -> impl Future<Output = ApiResult<Page<PutScalingPolicy>>> + Send;
    /// One page of `DescribeScheduledActions` of the whole `ecs` namespace.
    fn describe_scheduled_actions(
        &self,
        next_token: Option<String>,
    ) -> impl Future<Output = ApiResult<Page<PutScheduledAction>>> + Send;
    /// `RegisterScalableTarget` (creates, or updates min/max of an existing one).
    fn register_scalable_target(
        &self,
        input: &RegisterScalableTarget,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    /// `DeregisterScalableTarget` (its policies and scheduled actions go with it).
    fn deregister_scalable_target(
        &self,
        resource_id: &str,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    /// `PutScalingPolicy` (creates or replaces).
    fn put_scaling_policy(
        &self,
        input: &PutScalingPolicy,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    /// `DeleteScalingPolicy`.
    fn delete_scaling_policy(
        &self,
        resource_id: &str,
        policy_name: &str,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    /// `PutScheduledAction` (creates or replaces).
    fn put_scheduled_action(
        &self,
        input: &PutScheduledAction,
    ) -> impl Future<Output = ApiResult<()>> + Send;
    /// `DeleteScheduledAction`.
    fn delete_scheduled_action(
        &self,
        resource_id: &str,
        action_name: &str,
    ) -> impl Future<Output = ApiResult<()>> + Send;
}

impl<A: EcsApi> AutoscalingApi for Metered<A> {
    async fn describe_scalable_targets(
        &self,
        resource_ids: &[String],
    ) -> ApiResult<Vec<LiveScalableTarget>> {
        self.counts().add("DescribeScalableTargets");
        self.inner().describe_scalable_targets(resource_ids).await
    }
    async fn describe_scaling_policies(
        &self,
        next_token: Option<String>,
    ) -> ApiResult<Page<PutScalingPolicy>> {
        self.counts().add("DescribeScalingPolicies");
        self.inner().describe_scaling_policies(next_token).await
    }
    async fn describe_scheduled_actions(
        &self,
        next_token: Option<String>,
    ) -> ApiResult<Page<PutScheduledAction>> {
        self.counts().add("DescribeScheduledActions");
        self.inner().describe_scheduled_actions(next_token).await
    }
    async fn register_scalable_target(&self, input: &RegisterScalableTarget) -> ApiResult<()> {
        self.counts().add("RegisterScalableTarget");
        self.inner().register_scalable_target(input).await
    }
    async fn deregister_scalable_target(&self, resource_id: &str) -> ApiResult<()> {
        self.counts().add("DeregisterScalableTarget");
        self.inner().deregister_scalable_target(resource_id).await
    }
    async fn put_scaling_policy(&self, input: &PutScalingPolicy) -> ApiResult<()> {
        self.counts().add("PutScalingPolicy");
        self.inner().put_scaling_policy(input).await
    }
    async fn delete_scaling_policy(&self, resource_id: &str, policy_name: &str) -> ApiResult<()> {
        self.counts().add("DeleteScalingPolicy");
        self.inner()
            .delete_scaling_policy(resource_id, policy_name)
            .await
    }
    async fn put_scheduled_action(&self, input: &PutScheduledAction) -> ApiResult<()> {
        self.counts().add("PutScheduledAction");
        self.inner().put_scheduled_action(input).await
    }
    async fn delete_scheduled_action(&self, resource_id: &str, action_name: &str) -> ApiResult<()> {
        self.counts().add("DeleteScheduledAction");
        self.inner()
            .delete_scheduled_action(resource_id, action_name)
            .await
    }
}
