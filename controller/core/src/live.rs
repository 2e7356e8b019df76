//! Observed state, in the JSON shapes the AWS APIs return (`DescribeServices`,
//! `DescribeTaskDefinition`, `DescribeRepositories` + `ListTagsForResource` +
//! `GetLifecyclePolicy`). Unknown fields are ignored: AWS adds fields over time.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::autoscaling::LiveScalableTarget;
use crate::kinds::{ENVIRONMENT_TAG, MANAGED_BY_TAG, MANAGED_BY_VALUE};
use crate::render::{
    CapacityProviderStrategyItem, DeploymentConfiguration, EncryptionConfiguration,
    ImageScanningConfiguration, LoadBalancer, NetworkConfiguration, Tag, TagOut, TaskDefinition,
};

/// Everything observed in one environment's cluster and registry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ActualState {
    /// Services by name (every status; diff only considers ACTIVE ones).
    pub services: BTreeMap<String, LiveService>,
    /// Task definitions by ARN (immutable, so safe to cache).
    pub task_definitions: BTreeMap<String, TaskDefinition>,
    /// Repositories by name.
    pub repositories: BTreeMap<String, LiveRepository>,
    /// Application Auto Scaling targets by service name (those of services declaring
    /// autoscaling, or tagged as Ferry's).
    pub scalable_targets: BTreeMap<String, LiveScalableTarget>,
}

/// A service as `DescribeServices` (with `include: [TAGS]`) returns it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LiveService {
    /// Name.
    pub service_name: String,
    /// ARN.
    pub service_arn: String,
    /// `ACTIVE`, `DRAINING` or `INACTIVE`.
    pub status: String,
    /// Desired tasks.
    pub desired_count: u32,
    /// Running tasks.
    pub running_count: u32,
    /// Pending tasks.
    pub pending_count: u32,
    /// Task definition ARN.
    pub task_definition: String,
    /// Launch type.
    pub launch_type: Option<String>,
    /// Capacity provider strategy.
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    /// Network configuration.
    pub network_configuration: Option<NetworkConfiguration>,
    /// Load balancers.
    pub load_balancers: Vec<LoadBalancer>,
    /// Deployment configuration.
    pub deployment_configuration: Option<DeploymentConfiguration>,
    /// Grace period.
    pub health_check_grace_period_seconds: Option<u32>,
    /// Tags.
    pub tags: Vec<Tag>,
    /// Deployments (PRIMARY first).
    pub deployments: Vec<LiveDeployment>,
    /// ECS Exec.
    pub enable_execute_command: bool,
    /// Placement constraints.
    pub placement_constraints: Vec<crate::ecs_features::PlacementConstraint>,
    /// Placement strategy.
    pub placement_strategy: Vec<crate::ecs_features::PlacementStrategy>,
    /// Cloud Map registries.
    pub service_registries: Vec<crate::ecs_features::ServiceRegistry>,
    /// Service Connect (ECS reports it on the PRIMARY deployment).
    pub service_connect_configuration: Option<crate::ecs_features::ServiceConnect>,
    /// Every other member DescribeServices returns, as ECS spells it (`propagateTags`,
    /// `platformVersion`, `schedulingStrategy`, `deploymentController`...).
    #[serde(flatten)]
    pub ecs: serde_json::Map<String, serde_json::Value>,
}

impl LiveService {
    /// Whether the service says Ferry manages its scalable target (its
    /// [`AUTOSCALING_TAG`](crate::autoscaling::AUTOSCALING_TAG) is set and not `off`).
    pub fn scaling_managed_by_ferry(&self) -> bool {
        self.tag(crate::autoscaling::AUTOSCALING_TAG)
            .is_some_and(|v| !v.is_empty() && v != crate::autoscaling::AUTOSCALING_OFF)
    }

    /// Tag value by key.
    pub fn tag(&self, key: &str) -> Option<&str> {
        self.tags
            .iter()
            .find(|t| t.key == key)
            .map(|t| t.value.as_str())
    }

    /// Whether Ferry manages it for `env`.
    pub fn owned_by(&self, env: &str) -> bool {
        self.tag(MANAGED_BY_TAG) == Some(MANAGED_BY_VALUE) && self.tag(ENVIRONMENT_TAG) == Some(env)
    }

    /// Whether it exists for practical purposes (not being or already deleted).
    pub fn is_active(&self) -> bool {
        self.status.is_empty() || self.status == "ACTIVE"
    }
}

/// One deployment of a service.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LiveDeployment {
    /// Deployment id.
    pub id: String,
    /// `PRIMARY`, `ACTIVE` or `INACTIVE`.
    pub status: String,
    /// Task definition ARN.
    pub task_definition: String,
    /// Desired tasks.
    pub desired_count: u32,
    /// Running tasks.
    pub running_count: u32,
    /// Pending tasks.
    pub pending_count: u32,
    /// Failed tasks.
    pub failed_tasks: u32,
    /// `COMPLETED`, `FAILED` or `IN_PROGRESS`.
    pub rollout_state: Option<String>,
    /// Why.
    pub rollout_state_reason: Option<String>,
}

/// A repository as `DescribeRepositories` returns it, with its tags and lifecycle policy.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LiveRepository {
    /// Name.
    pub repository_name: String,
    /// ARN.
    pub repository_arn: String,
    /// URI (`<registry>/<name>`).
    pub repository_uri: String,
    /// `IMMUTABLE` or `MUTABLE`.
    pub image_tag_mutability: String,
    /// Scanning.
    pub image_scanning_configuration: ImageScanningConfiguration,
    /// Encryption.
    pub encryption_configuration: Option<EncryptionConfiguration>,
    /// Tags (`ListTagsForResource`).
    pub tags: Vec<TagOut>,
    /// Lifecycle policy JSON (`GetLifecyclePolicy`), if any.
    pub lifecycle_policy_text: Option<String>,
}

impl LiveRepository {
    /// Whether Ferry manages it for `env`.
    pub fn owned_by(&self, env: &str) -> bool {
        let tag = |k: &str| {
            self.tags
                .iter()
                .find(|t| t.key == k)
                .map(|t| t.value.as_str())
        };
        tag(MANAGED_BY_TAG) == Some(MANAGED_BY_VALUE) && tag(ENVIRONMENT_TAG) == Some(env)
    }
}
