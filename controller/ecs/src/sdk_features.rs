//! Conversions between the AWS SDK's types and ferry-core's [`ecs_features`] (runtime
//! platform, volumes, mount points, ulimits, placement, Cloud Map registries, Service Connect),
//! both ways. An enum value the SDK knows and Ferry does not is read as absent, so it shows as
//! a difference rather than failing the observation.

use aws_sdk_ecs::types as ecs;
use ferry_core::ecs_features::{
    ClientAlias, CpuArchitecture, EfsAuthorizationConfig, EfsVolumeConfiguration, EphemeralStorage,
    MountPoint, OperatingSystemFamily, PlacementConstraint, PlacementStrategy, RuntimePlatform,
    ServiceConnect, ServiceConnectService, ServiceRegistry, Toggle, Ulimit, UlimitName, Volume,
};

use crate::api::{ApiError, ApiResult};

fn build_error(operation: &'static str, err: impl std::fmt::Display) -> ApiError {
    ApiError {
        operation,
        code: None,
        message: format!("invalid input: {err}"),
        transient: false,
    }
}

/// Ferry's enum from ECS's spelling.
fn parse<T: serde::de::DeserializeOwned>(text: &str) -> Option<T> {
    serde_json::from_value(serde_json::Value::String(text.to_owned())).ok()
}

fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn port(n: Option<i32>) -> Option<u16> {
    n.and_then(|p| u16::try_from(p).ok())
}

// --- task definition -------------------------------------------------------------------------

pub(crate) fn runtime_platform_to(p: &RuntimePlatform) -> ecs::RuntimePlatform {
    ecs::RuntimePlatform::builder()
        .set_cpu_architecture(
            p.cpu_architecture
                .map(|c| ecs::CpuArchitecture::from(c.as_str())),
        )
        .set_operating_system_family(
            p.operating_system_family
                .map(|o| ecs::OsFamily::from(o.as_str())),
        )
        .build()
}

pub(crate) fn runtime_platform_from(p: &ecs::RuntimePlatform) -> RuntimePlatform {
    RuntimePlatform {
        cpu_architecture: p
            .cpu_architecture()
            .and_then(|c| parse::<CpuArchitecture>(c.as_str())),
        operating_system_family: p
            .operating_system_family()
            .and_then(|o| parse::<OperatingSystemFamily>(o.as_str())),
    }
}

pub(crate) fn volume_to(operation: &'static str, v: &Volume) -> ApiResult<ecs::Volume> {
    let efs = v
        .efs_volume_configuration
        .as_ref()
        .map(|e| {
            ecs::EfsVolumeConfiguration::builder()
                .file_system_id(&e.file_system_id)
                .set_root_directory(e.root_directory.clone())
                .set_transit_encryption(
                    e.transit_encryption
                        .map(|t| ecs::EfsTransitEncryption::from(t.as_str())),
                )
                .set_transit_encryption_port(e.transit_encryption_port.map(i32::from))
                .set_authorization_config(e.authorization_config.as_ref().map(|a| {
                    ecs::EfsAuthorizationConfig::builder()
                        .set_access_point_id(a.access_point_id.clone())
                        .set_iam(
                            a.iam
                                .map(|t| ecs::EfsAuthorizationConfigIam::from(t.as_str())),
                        )
                        .build()
                }))
                .build()
                .map_err(|err| build_error(operation, err))
        })
        .transpose()?;
    Ok(ecs::Volume::builder()
        .name(&v.name)
        .set_efs_volume_configuration(efs)
        .build())
}

pub(crate) fn volume_from(v: &ecs::Volume) -> Volume {
    Volume {
        name: v.name().unwrap_or_default().to_owned(),
        efs_volume_configuration: v
            .efs_volume_configuration()
            .map(|e| EfsVolumeConfiguration {
                file_system_id: e.file_system_id().to_owned(),
                root_directory: e.root_directory().map(str::to_owned),
                transit_encryption: e
                    .transit_encryption()
                    .and_then(|t| parse::<Toggle>(t.as_str())),
                transit_encryption_port: port(e.transit_encryption_port()),
                authorization_config: e.authorization_config().map(|a| EfsAuthorizationConfig {
                    access_point_id: a.access_point_id().map(str::to_owned),
                    iam: a.iam().and_then(|t| parse::<Toggle>(t.as_str())),
                }),
            }),
    }
}

pub(crate) fn ephemeral_storage_to(e: &EphemeralStorage) -> ecs::EphemeralStorage {
    ecs::EphemeralStorage::builder()
        .size_in_gib(int(e.size_in_gib))
        .build()
}

pub(crate) fn ephemeral_storage_from(e: &ecs::EphemeralStorage) -> EphemeralStorage {
    EphemeralStorage {
        size_in_gib: count(e.size_in_gib()),
    }
}

// --- containers ------------------------------------------------------------------------------

pub(crate) fn mount_point_to(m: &MountPoint) -> ecs::MountPoint {
    ecs::MountPoint::builder()
        .source_volume(&m.source_volume)
        .container_path(&m.container_path)
        .set_read_only(m.read_only)
        .build()
}

pub(crate) fn mount_point_from(m: &ecs::MountPoint) -> MountPoint {
    MountPoint {
        source_volume: m.source_volume().unwrap_or_default().to_owned(),
        container_path: m.container_path().unwrap_or_default().to_owned(),
        read_only: m.read_only(),
    }
}

pub(crate) fn ulimit_to(operation: &'static str, u: &Ulimit) -> ApiResult<ecs::Ulimit> {
    ecs::Ulimit::builder()
        .name(ecs::UlimitName::from(u.name.as_str()))
        .soft_limit(int(u.soft_limit))
        .hard_limit(int(u.hard_limit))
        .build()
        .map_err(|e| build_error(operation, e))
}

pub(crate) fn ulimit_from(u: &ecs::Ulimit) -> Option<Ulimit> {
    Some(Ulimit {
        name: UlimitName::parse(u.name().as_str())?,
        soft_limit: count(u.soft_limit()),
        hard_limit: count(u.hard_limit()),
    })
}

// --- services --------------------------------------------------------------------------------

pub(crate) fn placement_constraints_to(
    items: &[PlacementConstraint],
) -> Vec<ecs::PlacementConstraint> {
    items
        .iter()
        .map(|c| {
            ecs::PlacementConstraint::builder()
                .set_type(Some(ecs::PlacementConstraintType::from(c.kind.as_str())))
                .set_expression(c.expression.clone())
                .build()
        })
        .collect()
}

pub(crate) fn placement_constraints_from(
    items: &[ecs::PlacementConstraint],
) -> Vec<PlacementConstraint> {
    items
        .iter()
        .filter_map(|c| {
            Some(PlacementConstraint {
                kind: parse(c.r#type()?.as_str())?,
                expression: c.expression().map(str::to_owned),
            })
        })
        .collect()
}

pub(crate) fn placement_strategy_to(items: &[PlacementStrategy]) -> Vec<ecs::PlacementStrategy> {
    items
        .iter()
        .map(|s| {
            ecs::PlacementStrategy::builder()
                .set_type(Some(ecs::PlacementStrategyType::from(s.kind.as_str())))
                .set_field(s.field.clone())
                .build()
        })
        .collect()
}

pub(crate) fn placement_strategy_from(items: &[ecs::PlacementStrategy]) -> Vec<PlacementStrategy> {
    items
        .iter()
        .filter_map(|s| {
            Some(PlacementStrategy {
                kind: parse(s.r#type()?.as_str())?,
                field: s.field().map(str::to_owned),
            })
        })
        .collect()
}

pub(crate) fn service_registries_to(items: &[ServiceRegistry]) -> Vec<ecs::ServiceRegistry> {
    items
        .iter()
        .map(|r| {
            ecs::ServiceRegistry::builder()
                .registry_arn(&r.registry_arn)
                .set_container_name(r.container_name.clone())
                .set_container_port(r.container_port.map(i32::from))
                .set_port(r.port.map(i32::from))
                .build()
        })
        .collect()
}

pub(crate) fn service_registries_from(items: &[ecs::ServiceRegistry]) -> Vec<ServiceRegistry> {
    items
        .iter()
        .map(|r| ServiceRegistry {
            registry_arn: r.registry_arn().unwrap_or_default().to_owned(),
            container_name: r.container_name().map(str::to_owned),
            container_port: port(r.container_port()),
            port: port(r.port()),
        })
        .collect()
}

pub(crate) fn service_connect_to(
    operation: &'static str,
    sc: &ServiceConnect,
) -> ApiResult<ecs::ServiceConnectConfiguration> {
    let services = sc
        .services
        .iter()
        .map(|s| {
            let aliases = s
                .client_aliases
                .iter()
                .map(|a| {
                    ecs::ServiceConnectClientAlias::builder()
                        .port(i32::from(a.port))
                        .set_dns_name(a.dns_name.clone())
                        .build()
                        .map_err(|e| build_error(operation, e))
                })
                .collect::<ApiResult<Vec<_>>>()?;
            ecs::ServiceConnectService::builder()
                .port_name(&s.port_name)
                .set_discovery_name(s.discovery_name.clone())
                .set_client_aliases((!aliases.is_empty()).then_some(aliases))
                .set_ingress_port_override(s.ingress_port_override.map(i32::from))
                .build()
                .map_err(|e| build_error(operation, e))
        })
        .collect::<ApiResult<Vec<_>>>()?;
    Ok(ecs::ServiceConnectConfiguration::builder()
        .enabled(sc.enabled)
        .set_namespace(sc.namespace.clone())
        .set_services((!services.is_empty()).then_some(services))
        .build())
}

pub(crate) fn service_connect_from(sc: &ecs::ServiceConnectConfiguration) -> ServiceConnect {
    ServiceConnect {
        enabled: sc.enabled(),
        namespace: sc.namespace().map(str::to_owned),
        services: sc
            .services()
            .iter()
            .map(|s| ServiceConnectService {
                port_name: s.port_name().to_owned(),
                discovery_name: s.discovery_name().map(str::to_owned),
                client_aliases: s
                    .client_aliases()
                    .iter()
                    .map(|a| ClientAlias {
                        port: port(Some(a.port())).unwrap_or(0),
                        dns_name: a.dns_name().map(str::to_owned),
                    })
                    .collect(),
                ingress_port_override: port(s.ingress_port_override()),
            })
            .collect(),
    }
}
