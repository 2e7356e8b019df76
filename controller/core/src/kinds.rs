//! The manifest kinds (`apiVersion: ferry.dev/v1alpha1`): `Environment`, `EcsService`,
//! `EcrRepository`. Field names follow ECS's own JSON (camelCase) so users can paste from the
//! console. Types only: loading is in `load`, rules are in `validate`.

pub mod account;
pub mod autoscaling;
pub mod ecs;
pub mod progressive;

use std::collections::BTreeMap;

use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Deserializer, Serialize};

/// The API group and version every kind uses.
pub const API_VERSION: &str = "ferry.dev/v1alpha1";

/// Tag (and label) naming the manager of a resource.
pub const MANAGED_BY_TAG: &str = "ferry.dev/managed-by";
/// Value of [`MANAGED_BY_TAG`] on everything Ferry creates.
pub const MANAGED_BY_VALUE: &str = "ferry";
/// Tag naming the environment a resource belongs to.
pub const ENVIRONMENT_TAG: &str = "ferry.dev/environment";
/// Annotation that lets Ferry take over an existing service it did not create.
pub const ADOPT_ANNOTATION: &str = "ferry.dev/adopt";
/// Annotation listing environment variables (comma-separated) whose names read like secrets
/// but whose literal values are meant (a sample's `MYSQL_ROOT_PASSWORD`): validation lets them
/// through, and plans never print their values. `ferry import` writes it when the source has
/// such variables. Values that are credentials by their form (AWS keys, tokens) stay refused.
pub const PLAINTEXT_ANNOTATION: &str = "ferry.dev/plaintext-environment";

/// The variable names listed in a [`PLAINTEXT_ANNOTATION`].
pub fn plaintext_environment(
    annotations: &std::collections::BTreeMap<String, String>,
) -> std::collections::BTreeSet<&str> {
    annotations
        .get(PLAINTEXT_ANNOTATION)
        .map(|v| {
            v.split(',')
                .map(str::trim)
                .filter(|n| !n.is_empty())
                .collect()
        })
        .unwrap_or_default()
}

/// Where an environment runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum PlatformKind {
    /// Amazon ECS (Fargate) and ECR.
    #[default]
    Ecs,
    /// Local processes on this machine.
    Local,
}

/// What to do when the live state drifts from git.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum DriftMode {
    /// Put it back as git says.
    #[default]
    Heal,
    /// Only report it.
    Detect,
}

/// One environment (dev, staging, prod, local): where and how its stack runs.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ferry.dev",
    version = "v1alpha1",
    kind = "Environment",
    namespaced
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvironmentSpec {
    /// `ecs` (default) or `local`.
    #[serde(default)]
    pub platform: PlatformKind,
    /// AWS region (ecs). The older place of `aws.region`, still read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    /// The AWS account, region and role of the environment (ecs): see `account`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aws: Option<account::AwsSpec>,
    /// ECS cluster name (ecs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<String>,
    /// ECR registry host, e.g. `123456789012.dkr.ecr.us-east-1.amazonaws.com`, used to turn a
    /// repository name into an image reference. Default: that of `aws.accountId` and the region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<String>,
    /// awsvpc networking shared by the environment's services.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkSpec>,
    /// Default task execution role ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// Default task role ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    /// CloudWatch log group for containers without their own logging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_group: Option<String>,
    /// Folders (or files) of resources, relative to this environment's folder.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub resources: Vec<String>,
    /// Image overrides per repository name: what CI bumps.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub images: BTreeMap<String, ImageOverride>,
    /// Values substituted for `${name}` in resources.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub values: Option<ValuesSpec>,
    /// JSON merge patches applied to base resources.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patches: Vec<Patch>,
    /// Delete owned services that left the manifests.
    #[serde(default)]
    pub prune: bool,
    /// `heal` (default) or `detect`.
    #[serde(default)]
    pub drift: DriftMode,
    /// Stop reconciling this environment.
    #[serde(default)]
    pub suspend: bool,
    /// How long `ferry run` follows a rollout before calling it failed (`RolloutTimedOut`),
    /// e.g. `10m`, `90s`, `1h 30m`. Default 10m.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout_timeout: Option<String>,
    /// How images run on the local platform.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local: Option<LocalSpec>,
    /// What a bare image name that is no repository of the stack (`nginx`) means: `repository`
    /// (the default: an error, most likely a misspelled repository) or `reference` (an image
    /// ECS pulls by that name, e.g. from Docker Hub, as imported task definitions have them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bare_images: Option<BareImages>,
}

/// See [`EnvironmentSpec::bare_images`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum BareImages {
    /// A bare name must be a repository of the stack.
    #[default]
    Repository,
    /// A bare name that is no repository of the stack is an image reference as written.
    Reference,
}

/// awsvpc network configuration.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct NetworkSpec {
    /// Subnet ids.
    #[serde(default)]
    pub subnets: Vec<String>,
    /// Security group ids.
    #[serde(default)]
    pub security_groups: Vec<String>,
    /// Give tasks a public IP.
    #[serde(default)]
    pub assign_public_ip: bool,
}

/// An image override: a tag or a digest (a digest wins).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ImageOverride {
    /// Image tag, e.g. a commit SHA.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Image digest, `sha256:...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// Values for `${name}` substitution.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValuesSpec {
    /// Values written in the manifest (win over `fromFile`).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub inline: BTreeMap<String, serde_json::Value>,
    /// A `terraform output -json` file, relative to this environment's folder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_file: Option<String>,
}

/// A JSON merge patch (RFC 7396) for one resource.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Patch {
    /// Which resource.
    pub target: PatchTarget,
    /// The merge patch, applied to the whole resource document.
    pub merge: serde_json::Value,
}

/// The resource a patch applies to.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchTarget {
    /// `EcsService` or `EcrRepository`.
    pub kind: String,
    /// `metadata.name` of the resource.
    pub name: String,
}

/// The local platform: what to run for each image.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalSpec {
    /// Command per image (repository name or image reference).
    #[serde(default)]
    pub commands: BTreeMap<String, LocalCommand>,
}

/// A local process standing in for a container image.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LocalCommand {
    /// Program and arguments.
    pub command: Vec<String>,
    /// Working folder, relative to the manifests root's parent (the repository); default: a
    /// data folder of its own that survives restarts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
    /// HTTP path answering 2xx when the process is healthy (on its first container port);
    /// without it, healthy means the port accepts connections (or, with no port, running).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_path: Option<String>,
}

/// An ECS service with its task definition inline.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ferry.dev",
    version = "v1alpha1",
    kind = "EcsService",
    namespaced
)]
#[serde(rename_all = "camelCase")]
pub struct EcsServiceSpec {
    /// How many tasks to run (with `autoscaling`: only at creation, kept within its bounds).
    #[serde(default = "one")]
    pub desired_count: u32,
    /// `FARGATE` (default) or `EC2`; ignored when a capacity provider strategy is set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub launch_type: Option<LaunchType>,
    /// Capacity provider strategy (e.g. FARGATE_SPOT).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capacity_provider_strategy: Vec<CapacityProviderItem>,
    /// The task definition.
    pub task_definition: TaskDefinitionSpec,
    /// Load balancer attachments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub load_balancers: Vec<LoadBalancerSpec>,
    /// Rolling deployment settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentSpec>,
    /// Seconds to ignore load balancer health checks after a task starts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check_grace_period_seconds: Option<u32>,
    /// Per-service network override (defaults to the Environment's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkSpec>,
    /// Extra tags (Ferry adds its ownership tags).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
    /// Services that must be applied (and healthy) before this one.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<String>,
    /// Application Auto Scaling of the desired count (then `desiredCount` is never healed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoscaling: Option<autoscaling::AutoscalingSpec>,
    /// ECS Exec (`aws ecs execute-command`) into the service's tasks; the task role needs the
    /// `ssmmessages:*Channel` permissions.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub enable_execute_command: bool,
    /// Where tasks may be placed (EC2 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement_constraints: Vec<ecs::PlacementConstraint>,
    /// How tasks are spread or packed, in order (EC2 only).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub placement_strategy: Vec<ecs::PlacementStrategy>,
    /// Cloud Map service the tasks register in (at most one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub service_registries: Vec<ecs::ServiceRegistry>,
    /// Service Connect: named ports offered to, and reached from, other services of the
    /// namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_connect: Option<ecs::ServiceConnect>,
    /// One-off tasks run to completion, in order, before the service gets a new task
    /// definition or is created (e.g. database migrations). See [`PreDeployTask`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pre_deploy: Vec<PreDeployTask>,
    /// Any other field of ECS's CreateService / UpdateService, by ECS's own name
    /// (`platformVersion`, `schedulingStrategy`, `propagateTags`, `volumeConfigurations`...),
    /// checked against the ECS API model.
    #[serde(flatten)]
    #[schemars(skip)]
    pub ecs: serde_json::Map<String, serde_json::Value>,
}

/// A one-off task of a service (a Kubernetes Job's role, or Helm's pre-upgrade hook): run with
/// `RunTask` and waited until it stops, before the service is created or gets a new task
/// definition, and again whenever its own task definition changes. It succeeds when every
/// essential container exits 0; a failure or timeout fails the sync and the service is left
/// as it is.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PreDeployTask {
    /// Name, unique within the service (the default task family is `{env}-{service}-{name}`).
    pub name: String,
    /// The task definition (the same schema as a service's); a container's `command` is what
    /// the task runs.
    pub task_definition: TaskDefinitionSpec,
    /// Network override (defaults to the service's, then the Environment's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkSpec>,
    /// How long the task may take before it is stopped and the sync fails (default `10m`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

impl EcsServiceSpec {
    /// Every container the service runs: its task's, then its pre-deploy tasks'.
    pub fn containers(&self) -> impl Iterator<Item = &ContainerSpec> {
        self.task_definition.containers.iter().chain(
            self.pre_deploy
                .iter()
                .flat_map(|t| t.task_definition.containers.iter()),
        )
    }
}

/// Default time a pre-deploy task may run.
pub const DEFAULT_PRE_DEPLOY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

impl PreDeployTask {
    /// The timeout (`timeout`, or 10 minutes; an unparsable one is a validation error).
    pub fn timeout(&self) -> std::time::Duration {
        self.timeout
            .as_deref()
            .and_then(|t| humantime::parse_duration(t).ok())
            .unwrap_or(DEFAULT_PRE_DEPLOY_TIMEOUT)
    }
}

fn one() -> u32 {
    1
}

/// ECS launch type.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum LaunchType {
    /// AWS Fargate.
    Fargate,
    /// EC2 container instances.
    Ec2,
}

/// One capacity provider of a strategy.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CapacityProviderItem {
    /// e.g. `FARGATE` or `FARGATE_SPOT`.
    pub capacity_provider: String,
    /// Relative weight.
    #[serde(default)]
    pub weight: u32,
    /// Tasks to run on this provider first.
    #[serde(default)]
    pub base: u32,
}

/// The inline task definition.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct TaskDefinitionSpec {
    /// Family; default `<environment>-<service>`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub family: Option<String>,
    /// Task CPU units (Fargate pairs with memory; optional on EC2).
    #[serde(
        default,
        deserialize_with = "opt_scalar_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub cpu: Option<String>,
    /// Task memory in MiB (optional on EC2).
    #[serde(
        default,
        deserialize_with = "opt_scalar_string",
        skip_serializing_if = "Option::is_none"
    )]
    pub memory: Option<String>,
    /// Execution role ARN (defaults to the Environment's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_role_arn: Option<String>,
    /// Task role ARN (defaults to the Environment's).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_role_arn: Option<String>,
    /// The containers (ECS's `containerDefinitions`).
    #[serde(alias = "containerDefinitions")]
    pub containers: Vec<ContainerSpec>,
    /// CPU architecture and operating system (`ARM64` for Graviton; default X86_64 Linux).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runtime_platform: Option<ecs::RuntimePlatform>,
    /// Volumes the containers mount: EFS, or scratch space shared by the task's containers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<ecs::Volume>,
    /// Fargate ephemeral storage above the default 20 GiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ephemeral_storage: Option<ecs::EphemeralStorage>,
    /// Any other field of ECS's RegisterTaskDefinition, by ECS's own name (`networkMode`,
    /// `requiresCompatibilities`, `pidMode`, `proxyConfiguration`, `placementConstraints`...),
    /// checked against the ECS API model.
    #[serde(flatten)]
    #[schemars(skip)]
    pub ecs: serde_json::Map<String, serde_json::Value>,
}

impl TaskDefinitionSpec {
    /// `networkMode`: `awsvpc` unless the manifest says otherwise.
    pub fn network_mode(&self) -> &str {
        self.ecs
            .get("networkMode")
            .and_then(serde_json::Value::as_str)
            .unwrap_or("awsvpc")
    }
}

/// One container of a task.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct ContainerSpec {
    /// Container name, unique in the task.
    pub name: String,
    /// An `EcrRepository` name of the stack, or a full image reference.
    pub image: String,
    /// CPU units reserved for the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    /// Hard memory limit (MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory: Option<u32>,
    /// Soft memory limit (MiB).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_reservation: Option<u32>,
    /// Whether the task stops when this container stops (default true).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub essential: Option<bool>,
    /// Overrides the image's CMD.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// Overrides the image's ENTRYPOINT.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entry_point: Vec<String>,
    /// Ports the container listens on.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub port_mappings: Vec<PortMapping>,
    /// Plain environment variables (never secrets): a mapping, or ECS's `[{name, value}]`.
    #[serde(
        default,
        deserialize_with = "scalar_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub environment: BTreeMap<String, String>,
    /// Secret environment variables: name → Secrets Manager or SSM parameter ARN (a mapping,
    /// or ECS's `[{name, valueFrom}]`).
    #[serde(
        default,
        deserialize_with = "secret_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub secrets: BTreeMap<String, String>,
    /// Container health check.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
    /// Start order inside the task.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub depends_on: Vec<ContainerDependency>,
    /// Log configuration, ECS's `logConfiguration` (default: awslogs to the Environment's log
    /// group).
    #[serde(
        default,
        alias = "logConfiguration",
        skip_serializing_if = "Option::is_none"
    )]
    pub logging: Option<LogConfiguration>,
    /// Working directory inside the container.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    /// Read-only root file system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readonly_root_filesystem: Option<bool>,
    /// User to run as.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// Volumes of the task mounted in this container.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mount_points: Vec<ecs::MountPoint>,
    /// Resource limits (`nofile`...).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ulimits: Vec<ecs::Ulimit>,
    /// Seconds between SIGTERM and SIGKILL when the task stops (Fargate: at most 120,
    /// default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_timeout: Option<u32>,
    /// Any other field of ECS's ContainerDefinition, by ECS's own name (`linuxParameters`,
    /// `firelensConfiguration`, `links`, `privileged`, `dockerLabels`...), checked against the
    /// ECS API model.
    #[serde(flatten)]
    #[schemars(skip)]
    pub ecs: serde_json::Map<String, serde_json::Value>,
}

/// A container port.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct PortMapping {
    /// Port inside the container.
    pub container_port: u16,
    /// Host port (under awsvpc it must equal containerPort; defaulted to it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host_port: Option<u16>,
    /// `tcp` (default) or `udp`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Protocol>,
    /// Port name (Service Connect).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Any other field of ECS's PortMapping (`appProtocol`, `containerPortRange`).
    #[serde(flatten)]
    #[schemars(skip)]
    pub ecs: serde_json::Map<String, serde_json::Value>,
}

/// Transport protocol of a port.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// TCP.
    Tcp,
    /// UDP.
    Udp,
}

/// Container health check (ECS semantics; the local platform runs the same command).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HealthCheck {
    /// `["CMD", ...]` or `["CMD-SHELL", "..."]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub command: Vec<String>,
    /// An HTTP check (local platform): GET this path on this port must answer 2xx.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<HttpCheck>,
    /// Seconds between checks (5-300, default 30).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub interval: Option<u32>,
    /// Seconds before a check fails (2-120, default 5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<u32>,
    /// Failures before unhealthy (1-10, default 3).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<u32>,
    /// Grace seconds after start (0-300, default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_period: Option<u32>,
}

/// An HTTP health check.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct HttpCheck {
    /// Path, e.g. `/healthz`.
    pub path: String,
    /// Container port.
    pub port: u16,
}

/// Start-order dependency on another container of the task.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ContainerDependency {
    /// The other container.
    pub container_name: String,
    /// `START`, `COMPLETE`, `SUCCESS` or `HEALTHY`.
    pub condition: String,
}

/// Container log configuration (as ECS's `logConfiguration`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct LogConfiguration {
    /// e.g. `awslogs`.
    pub log_driver: String,
    /// Driver options.
    #[serde(default)]
    pub options: BTreeMap<String, String>,
    /// Any other field of ECS's LogConfiguration (`secretOptions`).
    #[serde(flatten)]
    #[schemars(skip)]
    pub ecs: serde_json::Map<String, serde_json::Value>,
}

/// A load balancer target group attachment.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct LoadBalancerSpec {
    /// Target group ARN.
    pub target_group_arn: String,
    /// Container receiving traffic.
    pub container_name: String,
    /// Its port.
    pub container_port: u16,
    /// Second target group for blue/green, canary and linear deployments.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alternate_target_group_arn: Option<String>,
    /// Listener rule whose weights ECS moves for production traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub production_listener_rule: Option<String>,
    /// Listener rule of test traffic (the new version only, before production traffic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_listener_rule: Option<String>,
    /// Role ECS assumes to move traffic (the infrastructure role for load balancers).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
}

/// Deployment settings: the rolling bounds, and the progressive strategies.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeploymentSpec {
    /// Lower bound of running tasks during a deployment, percent (default 100).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub minimum_healthy_percent: Option<u32>,
    /// Upper bound, percent (default 200).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub maximum_percent: Option<u32>,
    /// Deployment circuit breaker.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub circuit_breaker: Option<CircuitBreaker>,
    /// `rolling` (default), `blueGreen`, `canary` or `linear` (ECS's native strategies).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strategy: Option<progressive::Strategy>,
    /// Canary settings (strategy canary).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<progressive::CanarySpec>,
    /// Linear settings (strategy linear).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub linear: Option<progressive::LinearSpec>,
    /// Time both versions stay up after all traffic moved (whole minutes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bake_time: Option<String>,
    /// CloudWatch alarms ECS watches, rolling back when one fires.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarms: Option<progressive::AlarmsSpec>,
    /// Hold the deployment at this stage until `ferry promote` (or `ferry abort`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause: Option<progressive::Pause>,
    /// Metric checks Ferry runs while traffic moves; a failure stops and rolls back.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub analysis: Option<progressive::AnalysisSpec>,
}

/// ECS deployment circuit breaker.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CircuitBreaker {
    /// Stop failing deployments.
    pub enable: bool,
    /// Roll back to the last good deployment.
    pub rollback: bool,
}

/// An ECR repository.
#[derive(CustomResource, Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[kube(
    group = "ferry.dev",
    version = "v1alpha1",
    kind = "EcrRepository",
    namespaced
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EcrRepositorySpec {
    /// `IMMUTABLE` (default) or `MUTABLE`.
    #[serde(default)]
    pub image_tag_mutability: TagMutability,
    /// Scan images on push (default true).
    #[serde(default = "yes")]
    pub scan_on_push: bool,
    /// Encryption at rest (default AES256).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption: Option<Encryption>,
    /// Image lifecycle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lifecycle: Option<Lifecycle>,
    /// Extra tags (Ferry adds its ownership tags).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub tags: BTreeMap<String, String>,
}

fn yes() -> bool {
    true
}

/// ECR tag mutability.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "UPPERCASE")]
pub enum TagMutability {
    /// Tags cannot be moved (default).
    #[default]
    Immutable,
    /// Tags can be overwritten.
    Mutable,
}

/// ECR encryption.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Encryption {
    /// `AES256` or `KMS`.
    pub encryption_type: String,
    /// KMS key ARN when `KMS`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kms_key: Option<String>,
}

/// Image lifecycle rules.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Lifecycle {
    /// Keep only the newest N images.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_last: Option<u32>,
    /// Expire untagged images after D days.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expire_untagged_after_days: Option<u32>,
}

/// What kind of JSON value `value` is (messages name the kind, never the value).
fn json_kind(value: &serde_json::Value) -> &'static str {
    match value {
        serde_json::Value::Null => "null",
        serde_json::Value::Bool(_) => "a boolean",
        serde_json::Value::Number(_) => "a number",
        serde_json::Value::String(_) => "a string",
        serde_json::Value::Array(_) => "a list",
        serde_json::Value::Object(_) => "a mapping",
    }
}

/// An optional string that may be written as any scalar.
fn opt_scalar_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => Ok(None),
        serde_json::Value::String(s) => Ok(Some(s)),
        serde_json::Value::Number(n) => Ok(Some(n.to_string())),
        serde_json::Value::Bool(b) => Ok(Some(b.to_string())),
        other => Err(serde::de::Error::custom(format!(
            "expected a string or number, got {}",
            json_kind(&other)
        ))),
    }
}

/// ECS's `[{name, <value_key>}]` list as a map (a name twice is an error).
fn pairs_to_map<E: serde::de::Error>(
    items: Vec<serde_json::Value>,
    value_key: &str,
) -> Result<BTreeMap<String, serde_json::Value>, E> {
    let mut out = BTreeMap::new();
    for item in items {
        let serde_json::Value::Object(mut o) = item else {
            return Err(E::custom(format!(
                "expected `{{name, {value_key}}}` entries"
            )));
        };
        let name = match o.remove("name") {
            Some(serde_json::Value::String(n)) => n,
            _ => return Err(E::custom("an entry has no `name`")),
        };
        let value = o
            .remove(value_key)
            .unwrap_or(serde_json::Value::String(String::new()));
        if let Some(k) = o.keys().next() {
            return Err(E::custom(format!(
                "unknown field `{k}` in `{name}`'s entry"
            )));
        }
        if out.insert(name.clone(), value).is_some() {
            return Err(E::custom(format!("`{name}` is listed twice")));
        }
    }
    Ok(out)
}

/// Secrets as a map, or as ECS's `[{name, valueFrom}]`.
fn secret_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => return Ok(BTreeMap::new()),
        serde_json::Value::Array(items) => pairs_to_map::<D::Error>(items, "valueFrom")?,
        serde_json::Value::Object(o) => o.into_iter().collect(),
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected a mapping of name: ARN, got {}",
                json_kind(&other)
            )));
        }
    };
    raw.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            other => Err(serde::de::Error::custom(format!(
                "secret `{k}` must be an ARN string, got {}",
                json_kind(&other)
            ))),
        })
        .collect()
}

/// A map whose values may be written as any scalar (`PORT: 5000`), kept as strings.
fn scalar_map<'de, D: Deserializer<'de>>(d: D) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = match serde_json::Value::deserialize(d)? {
        serde_json::Value::Null => return Ok(BTreeMap::new()),
        serde_json::Value::Array(items) => pairs_to_map::<D::Error>(items, "value")?,
        serde_json::Value::Object(o) => o.into_iter().collect(),
        other => {
            return Err(serde::de::Error::custom(format!(
                "expected a mapping of NAME: value, got {}",
                json_kind(&other)
            )));
        }
    };
    raw.into_iter()
        .map(|(k, v)| match v {
            serde_json::Value::String(s) => Ok((k, s)),
            serde_json::Value::Number(n) => Ok((k, n.to_string())),
            serde_json::Value::Bool(b) => Ok((k, b.to_string())),
            other => Err(serde::de::Error::custom(format!(
                "environment variable `{k}` must be a string, number or boolean, got {}",
                json_kind(&other)
            ))),
        })
        .collect()
}

/// The rollout timeout when an Environment sets none.
pub const DEFAULT_ROLLOUT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// Parse `spec.rolloutTimeout` (`10m`, `90s`, `1h 30m`): between 1 s and 24 h.
pub fn parse_rollout_timeout(text: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(text.trim())
        .map_err(|e| format!("`{text}` is not a duration like 10m, 90s or 1h 30m ({e})"))?;
    if d < std::time::Duration::from_secs(1) || d > std::time::Duration::from_secs(86_400) {
        return Err(format!(
            "rollout timeout `{text}` must be between 1s and 24h"
        ));
    }
    Ok(d)
}

impl EnvironmentSpec {
    /// The rollout timeout in effect (validated: an invalid value never gets here).
    pub fn rollout_timeout(&self) -> std::time::Duration {
        self.rollout_timeout
            .as_deref()
            .and_then(|t| parse_rollout_timeout(t).ok())
            .unwrap_or(DEFAULT_ROLLOUT_TIMEOUT)
    }
}
