//! The ECS shapes of the manifest model that Ferry types itself (runtime platform, volumes,
//! mount points, ulimits, placement, Cloud Map, Service Connect), in ECS's own JSON shape so
//! that one value serves the manifest, the rendered input and the observed state. Types only:
//! their rules, rendering and normalization are in `ecs_features`.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// `runtimePlatform`: the CPU architecture and operating system a task needs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuntimePlatform {
    /// `X86_64` (ECS's default) or `ARM64` (Graviton).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_architecture: Option<CpuArchitecture>,
    /// `LINUX` (the default; Ferry renders it explicitly, as Fargate on ARM64 requires).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operating_system_family: Option<OperatingSystemFamily>,
}

/// CPU architecture of a task.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
pub enum CpuArchitecture {
    /// 64-bit x86 (ECS's default).
    #[serde(rename = "X86_64")]
    X86_64,
    /// 64-bit ARM (AWS Graviton).
    #[serde(rename = "ARM64")]
    Arm64,
}

impl CpuArchitecture {
    /// ECS's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::X86_64 => "X86_64",
            Self::Arm64 => "ARM64",
        }
    }
}

/// Operating system family of a task: `LINUX` or one of ECS's `WINDOWS_SERVER_*` values
/// (checked against the ECS API model).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OperatingSystemFamily(pub String);

impl JsonSchema for OperatingSystemFamily {
    fn schema_name() -> std::borrow::Cow<'static, str> {
        "OperatingSystemFamily".into()
    }

    fn json_schema(_: &mut schemars::SchemaGenerator) -> schemars::Schema {
        let values = crate::ecs_model::shape("OSFamily")
            .map(|s| s.values.clone())
            .unwrap_or_default();
        schemars::json_schema!({"type": "string", "enum": values})
    }
}

impl OperatingSystemFamily {
    /// Linux, ECS's default.
    pub fn linux() -> Self {
        Self("LINUX".into())
    }

    /// ECS's spelling.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// `ENABLED` or `DISABLED`, as EFS volume settings spell it.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "UPPERCASE")]
pub enum Toggle {
    /// On.
    Enabled,
    /// Off.
    Disabled,
}

impl Toggle {
    /// ECS's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Enabled => "ENABLED",
            Self::Disabled => "DISABLED",
        }
    }
}

/// One task volume: an EFS file system, or (without `efsVolumeConfiguration`) scratch space
/// that lives as long as the task and can be shared by its containers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct Volume {
    /// Name that containers' `mountPoints[].sourceVolume` refer to.
    pub name: String,
    /// An Amazon EFS file system.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub efs_volume_configuration: Option<EfsVolumeConfiguration>,
    /// Any other field of ECS's Volume (`host`, `dockerVolumeConfiguration`,
    /// `fsxWindowsFileServerVolumeConfiguration`, `configuredAtLaunch`).
    #[serde(flatten)]
    #[schemars(skip)]
    pub ecs: Map<String, Value>,
}

/// `efsVolumeConfiguration`.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EfsVolumeConfiguration {
    /// File system id, `fs-...`.
    pub file_system_id: String,
    /// Folder of the file system mounted as the volume's root (default `/`; with an access
    /// point, the access point's own root applies and this must be absent or `/`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root_directory: Option<String>,
    /// Encrypt NFS traffic in transit (TLS); required by an access point or IAM authorization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transit_encryption: Option<Toggle>,
    /// Port of the TLS tunnel (default chosen by the EFS mount helper).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transit_encryption_port: Option<u16>,
    /// Access point and IAM authorization.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_config: Option<EfsAuthorizationConfig>,
}

/// `authorizationConfig` of an EFS volume.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EfsAuthorizationConfig {
    /// Access point id, `fsap-...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_point_id: Option<String>,
    /// Mount with the task role's IAM identity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iam: Option<Toggle>,
}

/// `ephemeralStorage` of a Fargate task.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct EphemeralStorage {
    /// GiB, 21-200 (Fargate gives 20 without it).
    #[serde(rename = "sizeInGiB")]
    pub size_in_gib: u32,
}

/// A container's `mountPoints` entry.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MountPoint {
    /// A `volumes[].name` of the task.
    pub source_volume: String,
    /// Absolute path inside the container.
    pub container_path: String,
    /// Mount read-only (default false).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub read_only: Option<bool>,
}

/// Resource a ulimit applies to.
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum UlimitName {
    Core,
    Cpu,
    Data,
    Fsize,
    Locks,
    Memlock,
    Msgqueue,
    Nice,
    Nofile,
    Nproc,
    Rss,
    Rtprio,
    Rttime,
    Sigpending,
    Stack,
}

impl UlimitName {
    /// ECS's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Core => "core",
            Self::Cpu => "cpu",
            Self::Data => "data",
            Self::Fsize => "fsize",
            Self::Locks => "locks",
            Self::Memlock => "memlock",
            Self::Msgqueue => "msgqueue",
            Self::Nice => "nice",
            Self::Nofile => "nofile",
            Self::Nproc => "nproc",
            Self::Rss => "rss",
            Self::Rtprio => "rtprio",
            Self::Rttime => "rttime",
            Self::Sigpending => "sigpending",
            Self::Stack => "stack",
        }
    }

    /// Parse ECS's spelling.
    pub fn parse(text: &str) -> Option<Self> {
        serde_json::from_value(Value::String(text.to_owned())).ok()
    }
}

/// A container's `ulimits` entry.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Ulimit {
    /// e.g. `nofile`.
    pub name: UlimitName,
    /// Soft limit (at most the hard limit).
    pub soft_limit: u32,
    /// Hard limit.
    pub hard_limit: u32,
}

/// Kind of placement constraint (EC2 only).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum PlacementConstraintType {
    /// Every task on a different container instance.
    DistinctInstance,
    /// Only instances matching a cluster query language `expression`.
    MemberOf,
}

impl PlacementConstraintType {
    /// ECS's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DistinctInstance => "distinctInstance",
            Self::MemberOf => "memberOf",
        }
    }
}

/// `placementConstraints` entry of a service (EC2 only).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlacementConstraint {
    /// `distinctInstance` or `memberOf`.
    #[serde(rename = "type")]
    pub kind: PlacementConstraintType,
    /// Cluster query language expression (`memberOf` only), e.g.
    /// `attribute:ecs.instance-type =~ t3.*`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expression: Option<String>,
}

/// Kind of placement strategy (EC2 only).
#[derive(
    Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase")]
pub enum PlacementStrategyType {
    /// Anywhere.
    Random,
    /// Evenly over the values of `field` (`instanceId`, `host` or `attribute:...`).
    Spread,
    /// Fewest instances by `field` (`cpu` or `memory`).
    Binpack,
}

impl PlacementStrategyType {
    /// ECS's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Random => "random",
            Self::Spread => "spread",
            Self::Binpack => "binpack",
        }
    }
}

/// `placementStrategy` entry of a service (EC2 only); order matters.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlacementStrategy {
    /// `random`, `spread` or `binpack`.
    #[serde(rename = "type")]
    pub kind: PlacementStrategyType,
    /// What to spread or pack by.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

/// `serviceRegistries` entry: a Cloud Map service the tasks register in.
#[derive(
    Clone, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema,
)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceRegistry {
    /// Cloud Map service ARN (`arn:aws:servicediscovery:...:service/srv-...`).
    pub registry_arn: String,
    /// Container whose port SRV records name (with `containerPort`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    /// That container's port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub container_port: Option<u16>,
    /// Port for SRV records, when no container is named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
}

/// `serviceConnect` of a service (ECS's `serviceConnectConfiguration`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceConnect {
    /// On (default true).
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// Cloud Map namespace name or ARN (default: the cluster's Service Connect namespace).
    /// Give the ARN for drift of the namespace itself to be detected: ECS reports the ARN.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    /// Ports this service offers to others; without any, it is a client only.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub services: Vec<ServiceConnectService>,
}

fn enabled() -> bool {
    true
}

/// One Service Connect endpoint: a named container port offered under aliases.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ServiceConnectService {
    /// A `portMappings[].name` of one of the task's containers.
    pub port_name: String,
    /// Name in the namespace (default: `portName`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub discovery_name: Option<String>,
    /// Names and ports clients use.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub client_aliases: Vec<ClientAlias>,
    /// Port the Service Connect proxy listens on (default: the container port).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ingress_port_override: Option<u16>,
}

/// A Service Connect client alias.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ClientAlias {
    /// Port clients connect to.
    pub port: u16,
    /// DNS name clients use (default: `<discoveryName>.<namespace>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dns_name: Option<String>,
}
