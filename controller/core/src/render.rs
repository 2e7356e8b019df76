//! Rendering: a validated [`DesiredState`] → the exact ECS/ECR API inputs, in the JSON shape
//! `aws ... --cli-input-json` accepts. The same types read the live `Describe*` output (a
//! superset of the inputs), so diff compares like with like.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::ecs_features::{
    EphemeralStorage, MountPoint, PlacementConstraint, PlacementStrategy, RuntimePlatform,
    ServiceConnect, ServiceRegistry, Ulimit, Volume,
};
use crate::kinds::{
    ContainerSpec, ENVIRONMENT_TAG, EcrRepositorySpec, EcsServiceSpec, LaunchType, MANAGED_BY_TAG,
    MANAGED_BY_VALUE, PlatformKind, Protocol, TagMutability,
};
use crate::load::{DesiredState, Loaded, Origins};

/// Image digests known for `repository:tag` (the platform resolves them; empty is fine).
pub type Digests = BTreeMap<String, String>;

/// `{key, value}` as ECS and ECR tag lists.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tag {
    /// Tag key.
    pub key: String,
    /// Tag value.
    pub value: String,
}

/// `{name, value}` environment entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct KeyValuePair {
    /// Variable name.
    pub name: String,
    /// Value.
    pub value: String,
}

/// `{name, valueFrom}` secret entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Secret {
    /// Variable name.
    pub name: String,
    /// Secrets Manager / SSM ARN.
    pub value_from: String,
}

/// A port mapping as ECS writes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct PortMappingOut {
    /// Container port.
    pub container_port: u16,
    /// Host port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_port: Option<u16>,
    /// `tcp` or `udp`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// Port name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// ECS's other members (`appProtocol`, `containerPortRange`).
    #[serde(flatten)]
    pub ecs: Map<String, Value>,
}

/// Container health check as ECS writes it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct HealthCheckOut {
    /// Command.
    pub command: Vec<String>,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub interval: Option<u32>,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// Count.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Seconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub start_period: Option<u32>,
}

/// Container dependency as ECS writes it.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContainerDependencyOut {
    /// The other container.
    pub container_name: String,
    /// Condition.
    pub condition: String,
}

/// Log configuration as ECS writes it.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LogConfigurationOut {
    /// Driver.
    pub log_driver: String,
    /// Options.
    pub options: BTreeMap<String, String>,
    /// ECS's other members (`secretOptions`).
    #[serde(flatten)]
    pub ecs: Map<String, Value>,
}

/// One `containerDefinitions` entry.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ContainerDefinition {
    /// Name.
    pub name: String,
    /// Image reference.
    pub image: String,
    /// CPU units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    /// Hard memory limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<u32>,
    /// Soft memory limit.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<u32>,
    /// Essential.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub essential: Option<bool>,
    /// Command.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Entry point.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub entry_point: Vec<String>,
    /// Ports.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMappingOut>,
    /// Environment, sorted by name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub environment: Vec<KeyValuePair>,
    /// Secrets, sorted by name.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub secrets: Vec<Secret>,
    /// Health check.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheckOut>,
    /// Start order.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<ContainerDependencyOut>,
    /// Logs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_configuration: Option<LogConfigurationOut>,
    /// Working directory.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    /// Read-only root file system.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub readonly_root_filesystem: Option<bool>,
    /// User.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Mounted volumes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub mount_points: Vec<MountPoint>,
    /// Resource limits.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ulimits: Vec<Ulimit>,
    /// Seconds from SIGTERM to SIGKILL.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<u32>,
    /// Every other member of ECS's ContainerDefinition, as ECS spells it.
    #[serde(flatten)]
    pub ecs: Map<String, Value>,
}

/// `RegisterTaskDefinition` input (and the `taskDefinition` of `DescribeTaskDefinition`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct TaskDefinition {
    /// Family.
    pub family: String,
    /// `awsvpc`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// `["FARGATE"]`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub requires_compatibilities: Vec<String>,
    /// Task CPU units.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpu: Option<String>,
    /// Task memory (MiB).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<String>,
    /// Execution role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// Task role.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    /// Containers.
    pub container_definitions: Vec<ContainerDefinition>,
    /// Tags (input only; ECS does not return them in the task definition).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    /// CPU architecture and operating system.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub runtime_platform: Option<RuntimePlatform>,
    /// Volumes.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<Volume>,
    /// Fargate ephemeral storage.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage: Option<EphemeralStorage>,
    /// Every other member (of RegisterTaskDefinition's input, or what DescribeTaskDefinition
    /// returns beyond it), as ECS spells it.
    #[serde(flatten)]
    pub ecs: Map<String, Value>,
}

/// `awsvpcConfiguration`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct AwsVpcConfiguration {
    /// Subnets.
    pub subnets: Vec<String>,
    /// Security groups.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub security_groups: Vec<String>,
    /// `ENABLED` or `DISABLED`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub assign_public_ip: Option<String>,
}

/// `networkConfiguration`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct NetworkConfiguration {
    /// awsvpc settings.
    pub awsvpc_configuration: AwsVpcConfiguration,
}

/// `loadBalancers` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct LoadBalancer {
    /// Target group.
    pub target_group_arn: String,
    /// Container.
    pub container_name: String,
    /// Port.
    pub container_port: u16,
    /// Blue/green settings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advanced_configuration: Option<crate::progressive::AdvancedConfiguration>,
}

/// `deploymentCircuitBreaker`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeploymentCircuitBreaker {
    /// Enabled.
    pub enable: bool,
    /// Roll back.
    pub rollback: bool,
}

/// `deploymentConfiguration`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct DeploymentConfiguration {
    /// Percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub minimum_healthy_percent: Option<u32>,
    /// Percent.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub maximum_percent: Option<u32>,
    /// Circuit breaker.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deployment_circuit_breaker: Option<DeploymentCircuitBreaker>,
    /// Strategy, bake, alarms, hooks.
    #[serde(flatten)]
    pub strategy: crate::progressive::StrategyConfiguration,
}

/// `capacityProviderStrategy` entry.
#[derive(Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct CapacityProviderStrategyItem {
    /// Provider.
    pub capacity_provider: String,
    /// Weight.
    pub weight: u32,
    /// Base.
    pub base: u32,
}

/// `CreateService` input.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateService {
    /// Cluster.
    pub cluster: String,
    /// Service name.
    pub service_name: String,
    /// Family (the platform substitutes the registered revision's ARN).
    pub task_definition: String,
    /// Count (absent for a DAEMON service).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub desired_count: Option<u32>,
    /// Launch type (absent with a capacity provider strategy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    /// Strategy.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    /// Network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,
    /// Load balancers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub load_balancers: Vec<LoadBalancer>,
    /// Deployment settings.
    pub deployment_configuration: DeploymentConfiguration,
    /// Grace period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check_grace_period_seconds: Option<u32>,
    /// Tags, Ferry's ownership tags included.
    pub tags: Vec<Tag>,
    /// `SERVICE`: tasks carry the service's tags.
    pub propagate_tags: String,
    /// ECS-managed tags on tasks.
    #[serde(rename = "enableECSManagedTags")]
    pub enable_ecs_managed_tags: bool,
    /// ECS Exec.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enable_execute_command: bool,
    /// Placement constraints (EC2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement_constraints: Vec<PlacementConstraint>,
    /// Placement strategy (EC2).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement_strategy: Vec<PlacementStrategy>,
    /// Cloud Map registries.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_registries: Vec<ServiceRegistry>,
    /// Service Connect.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_connect_configuration: Option<ServiceConnect>,
    /// Every other member of ECS's CreateService input, as ECS spells it.
    #[serde(flatten)]
    pub ecs: Map<String, Value>,
}

/// `UpdateService` input (tags are changed with `TagResource`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateService {
    /// Cluster.
    pub cluster: String,
    /// Service name.
    pub service: String,
    /// Family (the platform substitutes the registered revision's ARN).
    pub task_definition: String,
    /// Count; absent when Application Auto Scaling owns it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub desired_count: Option<u32>,
    /// Strategy.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    /// Network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,
    /// Load balancers.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub load_balancers: Vec<LoadBalancer>,
    /// Deployment settings.
    pub deployment_configuration: DeploymentConfiguration,
    /// Grace period.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check_grace_period_seconds: Option<u32>,
    /// ECS Exec; absent = unchanged (apply sends `false` to turn it off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enable_execute_command: Option<bool>,
    /// Placement constraints; absent = unchanged (apply sends `[]` to remove them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement_constraints: Option<Vec<PlacementConstraint>>,
    /// Placement strategy; absent = unchanged (apply sends `[]` to remove it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placement_strategy: Option<Vec<PlacementStrategy>>,
    /// Cloud Map registries; absent = unchanged (apply sends `[]` to remove them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_registries: Option<Vec<ServiceRegistry>>,
    /// Service Connect; absent = unchanged (apply sends `enabled: false` to turn it off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_connect_configuration: Option<ServiceConnect>,
    /// Every other member of ECS's UpdateService input the manifest sets, as ECS spells it.
    #[serde(flatten)]
    pub ecs: Map<String, Value>,
}

/// `CreateRepository` input.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateRepository {
    /// Name.
    pub repository_name: String,
    /// `IMMUTABLE` or `MUTABLE`.
    pub image_tag_mutability: String,
    /// Scanning.
    pub image_scanning_configuration: ImageScanningConfiguration,
    /// Encryption.
    pub encryption_configuration: EncryptionConfiguration,
    /// Tags.
    pub tags: Vec<TagOut>,
}

/// ECR tags are `{Key, Value}`.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TagOut {
    /// Key.
    pub key: String,
    /// Value.
    pub value: String,
}

/// `imageScanningConfiguration`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct ImageScanningConfiguration {
    /// Scan on push.
    pub scan_on_push: bool,
}

/// `encryptionConfiguration`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", default)]
pub struct EncryptionConfiguration {
    /// `AES256` or `KMS`.
    pub encryption_type: String,
    /// KMS key.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
}

/// `PutLifecyclePolicy` input.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PutLifecyclePolicy {
    /// Repository.
    pub repository_name: String,
    /// The policy document, as a JSON string.
    pub lifecycle_policy_text: String,
}

/// Everything Ferry would send for one service.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderedService {
    /// Service name.
    pub name: String,
    /// `aws ecs register-task-definition --cli-input-json`.
    pub register_task_definition: TaskDefinition,
    /// `aws ecs create-service --cli-input-json`.
    pub create_service: CreateService,
    /// `aws ecs update-service --cli-input-json`.
    pub update_service: UpdateService,
    /// Application Auto Scaling inputs, when the service declares `autoscaling`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<crate::autoscaling::RenderedAutoscaling>,
    /// Pre-deploy tasks, in the order they run.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_deploy: Vec<RenderedTask>,
}

/// Tag on a service recording a hash of its rendered pre-deploy tasks: when it differs from
/// what git renders now, the tasks changed and run again before the service is touched.
pub const PRE_DEPLOY_TAG: &str = "ferry.dev/pre-deploy";

/// Everything Ferry would send to run one pre-deploy task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderedTask {
    /// The task's name within its service.
    pub name: String,
    /// `aws ecs register-task-definition --cli-input-json`.
    pub register_task_definition: TaskDefinition,
    /// `aws ecs run-task --cli-input-json` (the platform substitutes the registered ARN).
    pub run_task: RunTask,
    /// Seconds the task may take before it is stopped and the sync fails.
    pub timeout_seconds: u64,
}

/// `RunTask` input.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunTask {
    /// Cluster.
    pub cluster: String,
    /// Family (the platform substitutes the registered revision's ARN).
    pub task_definition: String,
    /// Launch type (absent with a capacity provider strategy).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<String>,
    /// Strategy.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub capacity_provider_strategy: Vec<CapacityProviderStrategyItem>,
    /// Network.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_configuration: Option<NetworkConfiguration>,
    /// Always 1.
    pub count: u32,
    /// `ferry:{env}/{service}/{task}` (at most 128 characters), to find it among a cluster's tasks.
    pub started_by: String,
    /// Ferry's ownership tags.
    pub tags: Vec<Tag>,
    /// `TASK_DEFINITION`: tasks carry the task definition's tags.
    pub propagate_tags: String,
}

/// Everything Ferry would send for one repository.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RenderedRepository {
    /// Repository name.
    pub name: String,
    /// `aws ecr create-repository --cli-input-json`.
    pub create_repository: CreateRepository,
    /// `aws ecr put-lifecycle-policy --cli-input-json`, when a lifecycle is set.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub put_lifecycle_policy: Option<PutLifecyclePolicy>,
}

/// The whole environment rendered.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Rendered {
    /// Environment.
    pub env: String,
    /// Repositories by name.
    pub repositories: Vec<RenderedRepository>,
    /// Services in dependency order.
    pub services: Vec<RenderedService>,
}

/// Render every resource of `state`.
pub fn render(state: &DesiredState, digests: &Digests) -> Rendered {
    let order = crate::plan::service_order(state)
        .unwrap_or_else(|_| state.services.keys().cloned().collect());
    Rendered {
        env: state.env.clone(),
        repositories: state
            .repositories
            .values()
            .map(|r| render_repository(state, r))
            .collect(),
        services: order
            .iter()
            .filter_map(|n| state.services.get(n))
            .map(|s| with_pre_deploy(state, s, render_service(state, s, digests), digests))
            .collect(),
    }
}

/// Render `svc`'s pre-deploy tasks into `rendered` (each as a service of its own would be
/// rendered, so a task definition has every field a service's has), and tag the service with
/// their hash.
fn with_pre_deploy(
    state: &DesiredState,
    svc: &Loaded<EcsServiceSpec>,
    mut rendered: RenderedService,
    digests: &Digests,
) -> RenderedService {
    if svc.spec.pre_deploy.is_empty() {
        return rendered;
    }
    for task in &svc.spec.pre_deploy {
        let as_service = Loaded {
            name: format!("{}-{}", svc.name, task.name),
            annotations: BTreeMap::new(),
            spec: EcsServiceSpec {
                launch_type: svc.spec.launch_type,
                capacity_provider_strategy: svc.spec.capacity_provider_strategy.clone(),
                task_definition: task.task_definition.clone(),
                network: task.network.clone().or_else(|| svc.spec.network.clone()),
                tags: svc.spec.tags.clone(),
                ..EcsServiceSpec::default()
            },
            origins: Origins::default(),
        };
        let r = render_service(state, &as_service, digests);
        let started_by: String = format!("ferry:{}/{}/{}", state.env, svc.name, task.name)
            .chars()
            .take(128)
            .collect();
        rendered.pre_deploy.push(RenderedTask {
            name: task.name.clone(),
            run_task: RunTask {
                cluster: r.create_service.cluster,
                task_definition: r.register_task_definition.family.clone(),
                launch_type: r.create_service.launch_type,
                capacity_provider_strategy: r.create_service.capacity_provider_strategy,
                network_configuration: r.create_service.network_configuration,
                count: 1,
                started_by,
                tags: r.register_task_definition.tags.clone(),
                propagate_tags: "TASK_DEFINITION".into(),
            },
            register_task_definition: r.register_task_definition,
            timeout_seconds: task.timeout().as_secs(),
        });
    }
    let hash = pre_deploy_hash(&rendered.pre_deploy);
    rendered.create_service.tags.push(Tag {
        key: PRE_DEPLOY_TAG.into(),
        value: hash,
    });
    rendered.create_service.tags.sort();
    rendered
}

/// A short hash of rendered pre-deploy tasks (what the service's [`PRE_DEPLOY_TAG`] records).
fn pre_deploy_hash(tasks: &[RenderedTask]) -> String {
    use sha2::Digest;
    let text = serde_json::to_string(tasks).unwrap_or_default();
    let digest = sha2::Sha256::digest(text.as_bytes());
    digest.iter().take(8).map(|b| format!("{b:02x}")).collect()
}

/// Ferry's ownership tags plus the resource's own, sorted by key.
pub fn ownership_tags(env: &str, extra: &BTreeMap<String, String>) -> BTreeMap<String, String> {
    let mut tags = extra.clone();
    tags.insert(MANAGED_BY_TAG.into(), MANAGED_BY_VALUE.into());
    tags.insert(ENVIRONMENT_TAG.into(), env.into());
    tags
}

/// The task definition family of a service: `spec.taskDefinition.family` or `<env>-<name>`.
pub fn family(state: &DesiredState, svc: &Loaded<EcsServiceSpec>) -> String {
    svc.spec
        .task_definition
        .family
        .clone()
        .unwrap_or_else(|| format!("{}-{}", state.env, svc.name))
}

/// Whether `image` names a repository in the environment's registry: an `EcrRepository` of
/// the stack, or a repository the Environment pins in `spec.images` (declared elsewhere, e.g.
/// by the environment that owns the shared registry).
pub fn is_registry_image(state: &DesiredState, image: &str) -> bool {
    state.repositories.contains_key(image) || state.environment.spec.images.contains_key(image)
}

/// The image reference a container runs: a stack repository becomes
/// `<registry>/<repo>:<tag>` (with `@<digest>` when known or pinned), anything else is kept.
pub fn image_reference(state: &DesiredState, image: &str, digests: &Digests) -> String {
    let env = &state.environment.spec;
    if !is_registry_image(state, image) || env.platform == PlatformKind::Local {
        return image.to_owned();
    }
    let base = match env.registry_host().as_deref() {
        Some(registry) => {
            format!("{}/{image}", registry.trim_end_matches('/'))
        }
        _ => image.to_owned(),
    };
    let Some(pin) = env.images.get(image) else {
        return base;
    };
    let tagged = pin
        .tag
        .as_ref()
        .map_or_else(|| base.clone(), |t| format!("{base}:{t}"));
    let digest = pin.digest.clone().or_else(|| {
        pin.tag
            .as_ref()
            .and_then(|t| digests.get(&format!("{image}:{t}")).cloned())
    });
    match digest {
        Some(d) => format!("{tagged}@{d}"),
        None => tagged,
    }
}

fn render_service(
    state: &DesiredState,
    svc: &Loaded<EcsServiceSpec>,
    digests: &Digests,
) -> RenderedService {
    let env = &state.environment.spec;
    let spec = &svc.spec;
    let td = &spec.task_definition;
    let family = family(state, svc);
    let tags: Vec<Tag> = ownership_tags(&state.env, &spec.tags)
        .into_iter()
        .map(|(key, value)| Tag { key, value })
        .collect();
    let autoscaling = crate::autoscaling::render(
        env.cluster.as_deref().unwrap_or_default(),
        svc,
        &ownership_tags(&state.env, &spec.tags),
    );
    // The service records that its scalable target is Ferry's (see `autoscaling`).
    let mut service_tags = tags.clone();
    if let Some(a) = &autoscaling {
        service_tags.push(Tag {
            key: crate::autoscaling::AUTOSCALING_TAG.into(),
            value: crate::autoscaling::ownership_value(a, env.drift),
        });
        service_tags.sort();
    }
    let fargate =
        spec.capacity_provider_strategy.is_empty() && spec.launch_type != Some(LaunchType::Ec2);
    let mut td_extra = td.ecs.clone();
    let network_mode = td.network_mode().to_owned();
    td_extra.remove("networkMode");
    let requires_compatibilities: Vec<String> = match td_extra.remove("requiresCompatibilities") {
        Some(Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_owned))
            .collect(),
        _ => vec![if fargate
            || spec
                .capacity_provider_strategy
                .iter()
                .any(|c| c.capacity_provider.starts_with("FARGATE"))
        {
            "FARGATE".into()
        } else {
            "EC2".into()
        }],
    };
    let task_definition = TaskDefinition {
        family: family.clone(),
        network_mode: Some(network_mode.clone()),
        requires_compatibilities,
        cpu: td.cpu.clone(),
        memory: td.memory.clone(),
        execution_role_arn: td
            .execution_role_arn
            .clone()
            .or_else(|| env.execution_role_arn.clone()),
        task_role_arn: td
            .task_role_arn
            .clone()
            .or_else(|| env.task_role_arn.clone()),
        container_definitions: td
            .containers
            .iter()
            .map(|c| container(state, &svc.name, c, &network_mode, digests))
            .collect(),
        tags,
        runtime_platform: crate::ecs_features::render_runtime_platform(
            td.runtime_platform.as_ref(),
        ),
        volumes: td.volumes.clone(),
        ephemeral_storage: td.ephemeral_storage.clone(),
        ecs: td_extra,
    };
    let network = spec
        .network
        .as_ref()
        .or(env.network.as_ref())
        .filter(|_| network_mode == "awsvpc")
        .map(|n| NetworkConfiguration {
            awsvpc_configuration: AwsVpcConfiguration {
                subnets: n.subnets.clone(),
                security_groups: n.security_groups.clone(),
                assign_public_ip: Some(
                    if n.assign_public_ip {
                        "ENABLED"
                    } else {
                        "DISABLED"
                    }
                    .into(),
                ),
            },
        });
    let load_balancers: Vec<LoadBalancer> = spec
        .load_balancers
        .iter()
        .map(|lb| LoadBalancer {
            target_group_arn: lb.target_group_arn.clone(),
            container_name: lb.container_name.clone(),
            container_port: lb.container_port,
            advanced_configuration: lb.alternate_target_group_arn.as_ref().map(|alt| {
                crate::progressive::AdvancedConfiguration {
                    alternate_target_group_arn: alt.clone(),
                    production_listener_rule: lb
                        .production_listener_rule
                        .clone()
                        .unwrap_or_default(),
                    test_listener_rule: lb.test_listener_rule.clone(),
                    role_arn: lb.role_arn.clone().unwrap_or_default(),
                }
            }),
        })
        .collect();
    let deployment = spec.deployment.clone().unwrap_or_default();
    let deployment_configuration = DeploymentConfiguration {
        minimum_healthy_percent: Some(deployment.minimum_healthy_percent.unwrap_or(100)),
        maximum_percent: Some(deployment.maximum_percent.unwrap_or(200)),
        deployment_circuit_breaker: Some(deployment.circuit_breaker.map_or(
            DeploymentCircuitBreaker {
                enable: false,
                rollback: false,
            },
            |c| DeploymentCircuitBreaker {
                enable: c.enable,
                rollback: c.rollback,
            },
        )),
        strategy: crate::progressive::render_strategy(spec.deployment.as_ref()),
    };
    let strategy: Vec<CapacityProviderStrategyItem> = spec
        .capacity_provider_strategy
        .iter()
        .map(|c| CapacityProviderStrategyItem {
            capacity_provider: c.capacity_provider.clone(),
            weight: c.weight,
            base: c.base,
        })
        .collect();
    let cluster = env.cluster.clone().unwrap_or_default();
    let mut service_extra = spec.ecs.clone();
    let propagate_tags = match service_extra.remove("propagateTags") {
        Some(Value::String(p)) => p,
        _ => "SERVICE".into(),
    };
    let enable_ecs_managed_tags = service_extra
        .remove("enableECSManagedTags")
        .and_then(|v| v.as_bool())
        .unwrap_or(true);
    let daemon = is_daemon(spec);
    // UpdateService takes the members it has (the others are set at creation only).
    let mut update_extra: Map<String, Value> = service_extra
        .iter()
        .filter(|(k, _)| crate::ecs_model::member_shape("UpdateServiceRequest", k).is_some())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    update_extra.insert(
        "propagateTags".into(),
        Value::String(propagate_tags.clone()),
    );
    update_extra.insert(
        "enableECSManagedTags".into(),
        Value::Bool(enable_ecs_managed_tags),
    );
    RenderedService {
        name: svc.name.clone(),
        register_task_definition: task_definition,
        create_service: CreateService {
            cluster: cluster.clone(),
            service_name: svc.name.clone(),
            task_definition: family.clone(),
            desired_count: (!daemon).then(|| crate::autoscaling::initial_count(spec)),
            launch_type: strategy
                .is_empty()
                .then(|| if fargate { "FARGATE" } else { "EC2" }.to_owned()),
            capacity_provider_strategy: strategy.clone(),
            network_configuration: network.clone(),
            load_balancers: load_balancers.clone(),
            deployment_configuration: deployment_configuration.clone(),
            health_check_grace_period_seconds: spec.health_check_grace_period_seconds,
            tags: service_tags,
            propagate_tags,
            enable_ecs_managed_tags,
            enable_execute_command: spec.enable_execute_command,
            placement_constraints: spec.placement_constraints.clone(),
            placement_strategy: spec.placement_strategy.clone(),
            service_registries: spec.service_registries.clone(),
            service_connect_configuration: crate::ecs_features::render_service_connect(
                spec.service_connect.as_ref(),
            ),
            ecs: service_extra,
        },
        update_service: UpdateService {
            cluster,
            service: svc.name.clone(),
            task_definition: family,
            desired_count: (spec.autoscaling.is_none() && !daemon).then_some(spec.desired_count),
            capacity_provider_strategy: strategy,
            network_configuration: network,
            load_balancers,
            deployment_configuration,
            health_check_grace_period_seconds: spec.health_check_grace_period_seconds,
            enable_execute_command: spec.enable_execute_command.then_some(true),
            placement_constraints: (!spec.placement_constraints.is_empty())
                .then(|| spec.placement_constraints.clone()),
            placement_strategy: (!spec.placement_strategy.is_empty())
                .then(|| spec.placement_strategy.clone()),
            service_registries: (!spec.service_registries.is_empty())
                .then(|| spec.service_registries.clone()),
            service_connect_configuration: crate::ecs_features::render_service_connect(
                spec.service_connect.as_ref(),
            ),
            ecs: update_extra,
        },
        autoscaling,
        pre_deploy: Vec::new(),
    }
}

/// Whether a service runs one task per container instance (`schedulingStrategy: DAEMON`).
pub fn is_daemon(spec: &EcsServiceSpec) -> bool {
    spec.ecs.get("schedulingStrategy").and_then(Value::as_str) == Some("DAEMON")
}

fn container(
    state: &DesiredState,
    service: &str,
    c: &ContainerSpec,
    network_mode: &str,
    digests: &Digests,
) -> ContainerDefinition {
    let env = &state.environment.spec;
    let log_configuration = c
        .logging
        .as_ref()
        .map(|l| LogConfigurationOut {
            log_driver: l.log_driver.clone(),
            options: l.options.clone(),
            ecs: l.ecs.clone(),
        })
        .or_else(|| {
            env.log_group.as_ref().map(|group| LogConfigurationOut {
                ecs: Map::new(),
                log_driver: "awslogs".into(),
                options: BTreeMap::from([
                    ("awslogs-group".to_owned(), group.clone()),
                    (
                        "awslogs-region".to_owned(),
                        env.aws_region().unwrap_or_default().to_owned(),
                    ),
                    ("awslogs-stream-prefix".to_owned(), service.to_owned()),
                ]),
            })
        });
    ContainerDefinition {
        name: c.name.clone(),
        image: image_reference(state, &c.image, digests),
        cpu: c.cpu,
        memory: c.memory,
        memory_reservation: c.memory_reservation,
        essential: Some(c.essential.unwrap_or(true)),
        command: c.command.clone(),
        entry_point: c.entry_point.clone(),
        port_mappings: c
            .port_mappings
            .iter()
            .map(|p| PortMappingOut {
                container_port: p.container_port,
                // Under bridge networking no host port means a dynamic one.
                host_port: p.host_port.or_else(|| {
                    matches!(network_mode, "awsvpc" | "host").then_some(p.container_port)
                }),
                protocol: Some(match p.protocol.unwrap_or(Protocol::Tcp) {
                    Protocol::Tcp => "tcp".into(),
                    Protocol::Udp => "udp".into(),
                }),
                name: p.name.clone(),
                ecs: p.ecs.clone(),
            })
            .collect(),
        environment: c
            .environment
            .iter()
            .map(|(k, v)| KeyValuePair {
                name: k.clone(),
                value: v.clone(),
            })
            .collect(),
        secrets: c
            .secrets
            .iter()
            .map(|(k, v)| Secret {
                name: k.clone(),
                value_from: v.clone(),
            })
            .collect(),
        health_check: c
            .health_check
            .as_ref()
            .filter(|h| !h.command.is_empty())
            .map(|h| HealthCheckOut {
                command: h.command.clone(),
                interval: Some(h.interval.unwrap_or(30)),
                timeout: Some(h.timeout.unwrap_or(5)),
                retries: Some(h.retries.unwrap_or(3)),
                start_period: h.start_period,
            }),
        depends_on: c
            .depends_on
            .iter()
            .map(|d| ContainerDependencyOut {
                container_name: d.container_name.clone(),
                condition: d.condition.clone(),
            })
            .collect(),
        log_configuration,
        working_directory: c.working_directory.clone(),
        readonly_root_filesystem: c.readonly_root_filesystem,
        user: c.user.clone(),
        mount_points: c.mount_points.clone(),
        ulimits: c.ulimits.clone(),
        stop_timeout: c.stop_timeout,
        ecs: c.ecs.clone(),
    }
}

fn render_repository(state: &DesiredState, repo: &Loaded<EcrRepositorySpec>) -> RenderedRepository {
    let spec = &repo.spec;
    let encryption = spec.encryption.clone().unwrap_or_default();
    RenderedRepository {
        name: repo.name.clone(),
        create_repository: CreateRepository {
            repository_name: repo.name.clone(),
            image_tag_mutability: match spec.image_tag_mutability {
                TagMutability::Immutable => "IMMUTABLE".into(),
                TagMutability::Mutable => "MUTABLE".into(),
            },
            image_scanning_configuration: ImageScanningConfiguration {
                scan_on_push: spec.scan_on_push,
            },
            encryption_configuration: EncryptionConfiguration {
                encryption_type: if encryption.encryption_type.is_empty() {
                    "AES256".into()
                } else {
                    encryption.encryption_type
                },
                kms_key: encryption.kms_key,
            },
            tags: ownership_tags(&state.env, &spec.tags)
                .into_iter()
                .map(|(key, value)| TagOut { key, value })
                .collect(),
        },
        put_lifecycle_policy: lifecycle_policy_text(spec).map(|text| PutLifecyclePolicy {
            repository_name: repo.name.clone(),
            lifecycle_policy_text: text,
        }),
    }
}

/// The ECR lifecycle policy document for a repository's `lifecycle`, if any.
pub fn lifecycle_policy_text(spec: &EcrRepositorySpec) -> Option<String> {
    let lifecycle = spec.lifecycle.as_ref()?;
    let mut rules = Vec::new();
    if let Some(days) = lifecycle.expire_untagged_after_days {
        rules.push(serde_json::json!({
            "rulePriority": rules.len() + 1,
            "description": format!("expire untagged images after {days} days"),
            "selection": {"tagStatus": "untagged", "countType": "sinceImagePushed", "countUnit": "days", "countNumber": days},
            "action": {"type": "expire"}
        }));
    }
    if let Some(keep) = lifecycle.keep_last {
        rules.push(serde_json::json!({
            "rulePriority": rules.len() + 1,
            "description": format!("keep the newest {keep} images"),
            "selection": {"tagStatus": "any", "countType": "imageCountMoreThan", "countNumber": keep},
            "action": {"type": "expire"}
        }));
    }
    (!rules.is_empty()).then(|| serde_json::json!({ "rules": rules }).to_string())
}
