//! More of ECS in the manifest model: the task's runtime platform (ARM64 / X86_64 on Linux),
//! volumes (EFS, or scratch space shared by the task's containers) and container mount points,
//! ephemeral storage, ulimits, stop timeout, and on the service ECS Exec, placement, Cloud Map
//! service registries and Service Connect.
//!
//! The types keep ECS's own JSON shape (camelCase, ECS's enum spellings), so one value serves
//! the manifest, the rendered API input and the observed state. This module also holds their
//! rules (refusing at `file:line` what ECS would refuse) and their normalization for diff
//! (ECS's defaults made explicit on both sides). Pure: no AWS SDK, no I/O.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value, json};

use crate::kinds::{EcsServiceSpec, LaunchType, PlatformKind};
use crate::load::{DesiredState, Diagnostic, Loaded, Origins};
use crate::printable::{HIDDEN, quote};

pub use crate::kinds::ecs::*;

// ---------------------------------------------------------------------------------------------
// Rendering helpers

/// The runtime platform as rendered: the operating system made explicit.
pub fn render_runtime_platform(p: Option<&RuntimePlatform>) -> Option<RuntimePlatform> {
    p.map(|p| RuntimePlatform {
        cpu_architecture: Some(p.cpu_architecture.unwrap_or(CpuArchitecture::X86_64)),
        operating_system_family: Some(
            p.operating_system_family
                .clone()
                .unwrap_or_else(OperatingSystemFamily::linux),
        ),
    })
}

/// Service Connect as `CreateService` takes it: `None` when not declared.
pub fn render_service_connect(sc: Option<&ServiceConnect>) -> Option<ServiceConnect> {
    sc.cloned()
}

/// Whether a service's tasks run on Fargate (its launch type or its capacity providers).
pub fn is_fargate(spec: &EcsServiceSpec) -> bool {
    spec.capacity_provider_strategy.is_empty() && spec.launch_type != Some(LaunchType::Ec2)
        || spec
            .capacity_provider_strategy
            .iter()
            .any(|c| c.capacity_provider.starts_with("FARGATE"))
}

// ---------------------------------------------------------------------------------------------
// Normalization for diff (both sides go through the same functions)

/// Insert `value` unless it is null or an empty list/map.
fn put(map: &mut Map<String, Value>, key: &str, value: Value) {
    let empty = match &value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        _ => false,
    };
    if !empty {
        map.insert(key.to_owned(), value);
    }
}

/// Task-level fields: `runtimePlatform` (X86_64 on Linux is the same as none),
/// `volumes` by name (EFS `rootDirectory` `/`, transit encryption and IAM `DISABLED` by
/// default), `ephemeralStorage`.
pub fn normalize_task(
    m: &mut Map<String, Value>,
    runtime_platform: Option<&RuntimePlatform>,
    volumes: &[Volume],
    ephemeral_storage: Option<&EphemeralStorage>,
) {
    let default = RuntimePlatform {
        cpu_architecture: Some(CpuArchitecture::X86_64),
        operating_system_family: Some(OperatingSystemFamily::linux()),
    };
    if let Some(p) = render_runtime_platform(runtime_platform)
        && p != default
    {
        m.insert("runtimePlatform".into(), json!(p));
    }
    let volumes: Map<String, Value> = volumes
        .iter()
        .map(|v| {
            let efs = v.efs_volume_configuration.as_ref().map(|e| {
                let auth = e.authorization_config.clone().unwrap_or_default();
                json!({
                    "fileSystemId": e.file_system_id,
                    "rootDirectory": e.root_directory.as_deref().filter(|r| !r.is_empty()).unwrap_or("/"),
                    "transitEncryption": e.transit_encryption.unwrap_or(Toggle::Disabled),
                    "transitEncryptionPort": e.transit_encryption_port,
                    "accessPointId": auth.access_point_id,
                    "iam": auth.iam.unwrap_or(Toggle::Disabled),
                })
            });
            let mut vm = Map::new();
            put(&mut vm, "efs", json!(efs));
            crate::ecs_model::merge_normalized(&mut vm, &v.ecs, "Volume");
            (v.name.clone(), Value::Object(vm))
        })
        .collect();
    put(m, "volumes", Value::Object(volumes));
    if let Some(e) = ephemeral_storage {
        m.insert("ephemeralStorage".into(), json!(e.size_in_gib));
    }
}

/// Container-level fields: `mountPoints` by path (`readOnly` false by default), `ulimits` by
/// name, `stopTimeout`.
pub fn normalize_container(
    m: &mut Map<String, Value>,
    mount_points: &[MountPoint],
    ulimits: &[Ulimit],
    stop_timeout: Option<u32>,
) {
    let mounts: Map<String, Value> = mount_points
        .iter()
        .map(|p| {
            (
                p.container_path.clone(),
                json!({"sourceVolume": p.source_volume, "readOnly": p.read_only.unwrap_or(false)}),
            )
        })
        .collect();
    put(m, "mountPoints", Value::Object(mounts));
    let limits: Map<String, Value> = ulimits
        .iter()
        .map(|u| {
            (
                u.name.as_str().to_owned(),
                json!({"softLimit": u.soft_limit, "hardLimit": u.hard_limit}),
            )
        })
        .collect();
    put(m, "ulimits", Value::Object(limits));
    put(m, "stopTimeout", json!(stop_timeout));
}

/// The service-level fields of one side, ECS's way: what both sides share.
pub struct ServiceFields<'a> {
    /// ECS Exec.
    pub enable_execute_command: bool,
    /// Constraints (any order).
    pub placement_constraints: &'a [PlacementConstraint],
    /// Strategy (in order).
    pub placement_strategy: &'a [PlacementStrategy],
    /// Cloud Map registries (any order).
    pub service_registries: &'a [ServiceRegistry],
    /// Service Connect.
    pub service_connect: Option<&'a ServiceConnect>,
}

/// Service-level fields. `desired` is the manifest's Service Connect, used on the live side
/// to compare only what ECS can be compared on: a namespace given by name and reported as an
/// ARN, and client alias DNS names the manifest leaves to ECS, are not drift.
pub fn normalize_service(
    m: &mut Map<String, Value>,
    fields: &ServiceFields<'_>,
    desired: Option<&ServiceConnect>,
) {
    if fields.enable_execute_command {
        m.insert("enableExecuteCommand".into(), json!(true));
    }
    let mut constraints = fields.placement_constraints.to_vec();
    constraints.sort();
    put(m, "placementConstraints", json!(constraints));
    put(m, "placementStrategy", json!(fields.placement_strategy));
    let mut registries = fields.service_registries.to_vec();
    registries.sort();
    put(m, "serviceRegistries", json!(registries));
    put(
        m,
        "serviceConnect",
        normalize_service_connect(fields.service_connect, desired),
    );
}

fn normalize_service_connect(
    sc: Option<&ServiceConnect>,
    desired: Option<&ServiceConnect>,
) -> Value {
    let Some(sc) = sc.filter(|s| s.enabled) else {
        return Value::Null;
    };
    let desired = desired.filter(|d| d.enabled);
    // Without a namespace in the manifest, the cluster's default is ECS's to choose.
    let namespace = match (&sc.namespace, desired.and_then(|d| d.namespace.as_ref())) {
        (_, None) => None,
        (Some(live), Some(want)) if live.starts_with("arn:") != want.starts_with("arn:") => {
            Some(want.clone())
        }
        (ns, Some(_)) => ns.clone(),
    };
    let services: Map<String, Value> = sc
        .services
        .iter()
        .map(|s| {
            let want = desired.and_then(|d| d.services.iter().find(|w| w.port_name == s.port_name));
            let aliases: Map<String, Value> = s
                .client_aliases
                .iter()
                .map(|a| {
                    let want_dns = want
                        .and_then(|w| w.client_aliases.iter().find(|x| x.port == a.port))
                        .map(|x| x.dns_name.is_some());
                    // A DNS name the manifest leaves out is ECS's to choose.
                    let dns = if want_dns == Some(false) { None } else { a.dns_name.clone() };
                    (a.port.to_string(), json!({"port": a.port, "dnsName": dns}))
                })
                .collect();
            (
                s.port_name.clone(),
                json!({
                    "discoveryName": s.discovery_name.clone().unwrap_or_else(|| s.port_name.clone()),
                    "clientAliases": aliases,
                    "ingressPortOverride": s.ingress_port_override,
                }),
            )
        })
        .collect();
    json!({"namespace": namespace, "services": services})
}

// ---------------------------------------------------------------------------------------------
// Rules

/// Every rule of this module's fields, over every service of `state`.
pub fn validate(state: &DesiredState) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for svc in state.services.values() {
        validate_service(state, svc, &mut out);
    }
    out
}

fn shown(origins: &Origins, path: &str, value: &str) -> String {
    if origins.is_substituted(path) {
        HIDDEN.to_owned()
    } else {
        quote(value)
    }
}

/// Most EFS volumes / Cloud Map registries / constraints / strategies ECS accepts.
const MAX_CONSTRAINTS: usize = 10;
const MAX_STRATEGIES: usize = 5;
const MAX_CAPACITY_PROVIDERS: usize = 20;

fn validate_service(state: &DesiredState, svc: &Loaded<EcsServiceSpec>, out: &mut Vec<Diagnostic>) {
    let spec = &svc.spec;
    let td = &spec.task_definition;
    let o = &svc.origins;
    let d = |path: &str, msg: String| o.diagnostic(path, msg);
    let ecs = state.environment.spec.platform == PlatformKind::Ecs;
    let fargate = is_fargate(spec);
    let arm = td
        .runtime_platform
        .as_ref()
        .and_then(|p| p.cpu_architecture)
        == Some(CpuArchitecture::Arm64);

    // Capacity providers.
    let strategy = &spec.capacity_provider_strategy;
    if strategy.len() > MAX_CAPACITY_PROVIDERS {
        out.push(d(
            "spec.capacityProviderStrategy",
            format!(
                "{} capacity providers, over ECS's {MAX_CAPACITY_PROVIDERS}",
                strategy.len()
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    for (i, c) in strategy.iter().enumerate() {
        let path = format!("spec.capacityProviderStrategy[{i}]");
        if !seen.insert(c.capacity_provider.as_str()) {
            out.push(d(
                &format!("{path}.capacityProvider"),
                format!(
                    "capacity provider {} is listed twice",
                    shown(o, &format!("{path}.capacityProvider"), &c.capacity_provider)
                ),
            ));
        }
        if c.weight > 1000 {
            out.push(d(
                &format!("{path}.weight"),
                format!("weight {} is above 1000", c.weight),
            ));
        }
        if c.base > 100_000 {
            out.push(d(
                &format!("{path}.base"),
                format!("base {} is above 100000", c.base),
            ));
        }
        if arm && c.capacity_provider == "FARGATE_SPOT" {
            out.push(d(
                &format!("{path}.capacityProvider"),
                "FARGATE_SPOT does not run ARM64 tasks (runtimePlatform.cpuArchitecture: ARM64): use FARGATE, or X86_64".into(),
            ));
        }
    }
    if !strategy.is_empty() {
        let fargate_providers = strategy
            .iter()
            .filter(|c| c.capacity_provider.starts_with("FARGATE"))
            .count();
        if fargate_providers != 0 && fargate_providers != strategy.len() {
            out.push(d(
                "spec.capacityProviderStrategy",
                "a strategy cannot mix FARGATE / FARGATE_SPOT with Auto Scaling group capacity providers".into(),
            ));
        }
        if strategy.iter().filter(|c| c.base > 0).count() > 1 {
            out.push(d(
                "spec.capacityProviderStrategy",
                "only one capacity provider of a strategy may have a base".into(),
            ));
        }
        if strategy.iter().all(|c| c.weight == 0) {
            out.push(d(
                "spec.capacityProviderStrategy",
                "at least one capacity provider needs a weight above 0".into(),
            ));
        }
    }

    // Runtime platform, ephemeral storage.
    if let Some(e) = &td.ephemeral_storage {
        let path = "spec.taskDefinition.ephemeralStorage.sizeInGiB";
        if !(21..=200).contains(&e.size_in_gib) {
            out.push(d(
                path,
                format!(
                    "{} GiB is outside 21-200 (Fargate gives 20 GiB without it)",
                    e.size_in_gib
                ),
            ));
        }
        if !fargate {
            out.push(d(
                "spec.taskDefinition.ephemeralStorage",
                "ephemeralStorage is a Fargate setting; on EC2 the instance's disk applies".into(),
            ));
        }
    }

    // Volumes.
    let mut volume_names: BTreeMap<&str, usize> = BTreeMap::new();
    for (i, v) in td.volumes.iter().enumerate() {
        let path = format!("spec.taskDefinition.volumes[{i}]");
        if !is_ecs_name(&v.name) {
            out.push(d(
                &format!("{path}.name"),
                format!(
                    "volume name {} must be 1-255 letters, digits, - or _",
                    shown(o, &format!("{path}.name"), &v.name)
                ),
            ));
        }
        if let Some(first) = volume_names.insert(&v.name, i) {
            out.push(d(
                &format!("{path}.name"),
                format!("volume name is already used by volumes[{first}]"),
            ));
        }
        if let Some(efs) = &v.efs_volume_configuration {
            efs_rules(o, &format!("{path}.efsVolumeConfiguration"), efs, out);
            let net = spec
                .network
                .as_ref()
                .or(state.environment.spec.network.as_ref());
            if ecs
                && spec.task_definition.network_mode() == "awsvpc"
                && net.is_none_or(|n| n.subnets.is_empty())
            {
                out.push(d(
                    &format!("{path}.efsVolumeConfiguration"),
                    "an EFS volume needs awsvpc networking with subnets that reach the file system's mount targets: set spec.network.subnets".into(),
                ));
            }
        }
    }

    // Containers.
    let mut port_names = BTreeSet::new();
    for (i, c) in td.containers.iter().enumerate() {
        let path = format!("spec.taskDefinition.containers[{i}]");
        port_names.extend(c.port_mappings.iter().filter_map(|p| p.name.as_deref()));
        let mut paths = BTreeSet::new();
        for (j, m) in c.mount_points.iter().enumerate() {
            let mp = format!("{path}.mountPoints[{j}]");
            if !volume_names.contains_key(m.source_volume.as_str()) {
                out.push(d(
                    &format!("{mp}.sourceVolume"),
                    format!(
                        "no volume {} in spec.taskDefinition.volumes",
                        shown(o, &format!("{mp}.sourceVolume"), &m.source_volume)
                    ),
                ));
            }
            let windows_drive = m
                .container_path
                .get(1..3)
                .is_some_and(|d| d == ":\\" || d == ":/")
                && m.container_path
                    .starts_with(|c: char| c.is_ascii_alphabetic());
            if !(m.container_path.starts_with('/') || windows_drive)
                || m.container_path.chars().any(char::is_control)
            {
                out.push(d(
                    &format!("{mp}.containerPath"),
                    format!(
                        "containerPath {} must be an absolute path",
                        shown(o, &format!("{mp}.containerPath"), &m.container_path)
                    ),
                ));
            } else if !paths.insert(m.container_path.trim_end_matches('/')) {
                out.push(d(
                    &format!("{mp}.containerPath"),
                    "two volumes are mounted at the same path".into(),
                ));
            }
        }
        if let Some(t) = c.stop_timeout
            && fargate
            && t > 120
        {
            out.push(d(
                &format!("{path}.stopTimeout"),
                format!("{t} s is above Fargate's 120"),
            ));
        }
        let mut limits = BTreeSet::new();
        for (j, u) in c.ulimits.iter().enumerate() {
            let up = format!("{path}.ulimits[{j}]");
            if !limits.insert(u.name) {
                out.push(d(
                    &format!("{up}.name"),
                    format!("ulimit {} is set twice", u.name.as_str()),
                ));
            }
            if u.soft_limit > u.hard_limit {
                out.push(d(
                    &format!("{up}.softLimit"),
                    format!(
                        "softLimit {} is above hardLimit {}",
                        u.soft_limit, u.hard_limit
                    ),
                ));
            }
            if fargate && u.name == UlimitName::Nofile && u.hard_limit > 1_048_576 {
                out.push(d(
                    &format!("{up}.hardLimit"),
                    format!("nofile {} is above Fargate's 1048576", u.hard_limit),
                ));
            }
        }
        if let Some(user) = &c.user
            && (user.is_empty()
                || user.len() > 255
                || user.chars().any(|ch| ch.is_control() || ch.is_whitespace()))
        {
            out.push(d(
                &format!("{path}.user"),
                "user must be a name or uid, optionally `:group` or `:gid`, without spaces".into(),
            ));
        }
    }

    // ECS Exec's agent writes into the container: a read-only root file system shuts it out.
    if spec.enable_execute_command
        && !td.containers.is_empty()
        && td
            .containers
            .iter()
            .all(|c| c.readonly_root_filesystem == Some(true))
    {
        out.push(d(
            "spec.enableExecuteCommand",
            "ECS Exec needs a container with a writable root file system (its SSM agent writes there), but every container sets readonlyRootFilesystem".into(),
        ));
    }

    // Placement (EC2 only).
    for (field, count, max) in [
        (
            "placementConstraints",
            spec.placement_constraints.len(),
            MAX_CONSTRAINTS,
        ),
        (
            "placementStrategy",
            spec.placement_strategy.len(),
            MAX_STRATEGIES,
        ),
    ] {
        let path = format!("spec.{field}");
        if count > 0 && fargate {
            out.push(d(
                &path,
                format!("Fargate places tasks itself: {field} needs launchType EC2 or an EC2 capacity provider"),
            ));
        }
        if count > max {
            out.push(d(&path, format!("{count} entries, over ECS's {max}")));
        }
    }
    for (i, c) in spec.placement_constraints.iter().enumerate() {
        let path = format!("spec.placementConstraints[{i}]");
        match (c.kind, &c.expression) {
            (PlacementConstraintType::MemberOf, None) => out.push(d(
                &path,
                "memberOf needs an expression (cluster query language)".into(),
            )),
            (PlacementConstraintType::DistinctInstance, Some(_)) => out.push(d(
                &format!("{path}.expression"),
                "distinctInstance takes no expression".into(),
            )),
            (_, Some(e)) if e.len() > 2000 || e.chars().any(char::is_control) => out.push(d(
                &format!("{path}.expression"),
                "the expression must be at most 2000 characters, without control characters".into(),
            )),
            _ => {}
        }
    }
    for (i, s) in spec.placement_strategy.iter().enumerate() {
        let path = format!("spec.placementStrategy[{i}]");
        match (s.kind, s.field.as_deref()) {
            (PlacementStrategyType::Random, Some(_)) => out.push(d(
                &format!("{path}.field"),
                "random takes no field".into(),
            )),
            (PlacementStrategyType::Spread, None) => out.push(d(
                &path,
                "spread needs a field: instanceId, host or attribute:<name> (e.g. attribute:ecs.availability-zone)".into(),
            )),
            (PlacementStrategyType::Spread, Some(f))
                if !(f == "instanceId" || f == "host" || f.starts_with("attribute:")) =>
            {
                out.push(d(
                    &format!("{path}.field"),
                    format!(
                        "{} is not instanceId, host or attribute:<name>",
                        shown(o, &format!("{path}.field"), f)
                    ),
                ));
            }
            (PlacementStrategyType::Binpack, f) if !matches!(f, Some("cpu" | "memory")) => out.push(d(
                &path,
                "binpack needs field cpu or memory".into(),
            )),
            _ => {}
        }
    }

    // Cloud Map registries.
    if spec.service_registries.len() > 1 {
        out.push(d(
            "spec.serviceRegistries",
            "ECS takes one service registry per service".into(),
        ));
    }
    for (i, r) in spec.service_registries.iter().enumerate() {
        let path = format!("spec.serviceRegistries[{i}]");
        let arn_path = format!("{path}.registryArn");
        let mut parts = r.registry_arn.splitn(6, ':');
        let arn_ok = parts.next() == Some("arn")
            && parts.next().is_some_and(|p| p.starts_with("aws"))
            && parts.next() == Some("servicediscovery")
            && parts
                .nth(2)
                .is_some_and(|rest| rest.starts_with("service/"));
        if !arn_ok {
            out.push(d(
                &arn_path,
                format!(
                    "{} is not a Cloud Map service ARN (arn:aws:servicediscovery:<region>:<account>:service/srv-...)",
                    shown(o, &arn_path, &r.registry_arn)
                ),
            ));
        }
        match (&r.container_name, r.container_port) {
            (Some(name), port) => match td.containers.iter().find(|c| &c.name == name) {
                None => out.push(d(
                    &format!("{path}.containerName"),
                    format!(
                        "no container {} in this task",
                        shown(o, &format!("{path}.containerName"), name)
                    ),
                )),
                Some(c) => {
                    if let Some(port) = port
                        && !c.port_mappings.iter().any(|p| p.container_port == port)
                    {
                        out.push(d(
                            &format!("{path}.containerPort"),
                            format!("container {} has no portMapping for {port}", quote(name)),
                        ));
                    }
                }
            },
            (None, Some(_)) => out.push(d(
                &format!("{path}.containerPort"),
                "containerPort needs containerName".into(),
            )),
            (None, None) => {}
        }
        if r.port.is_some() && r.container_name.is_some() {
            out.push(d(
                &format!("{path}.port"),
                "give either port or containerName + containerPort".into(),
            ));
        }
    }

    // Service Connect.
    if let Some(sc) = spec.service_connect.as_ref().filter(|s| s.enabled) {
        if let Some(ns) = &sc.namespace
            && (ns.is_empty()
                || ns.len() > 1024
                || ns.chars().any(|c| c.is_control() || c.is_whitespace()))
        {
            out.push(d(
                "spec.serviceConnect.namespace",
                "namespace must be a Cloud Map namespace name or ARN (1-1024 characters, no spaces)".into(),
            ));
        }
        let mut used = BTreeSet::new();
        let mut discovery = BTreeSet::new();
        for (i, s) in sc.services.iter().enumerate() {
            let path = format!("spec.serviceConnect.services[{i}]");
            let pn = format!("{path}.portName");
            if !port_names.contains(s.port_name.as_str()) {
                out.push(d(
                    &pn,
                    format!(
                        "no container declares a port named {}: name it in portMappings[].name",
                        shown(o, &pn, &s.port_name)
                    ),
                ));
            }
            if !used.insert(s.port_name.as_str()) {
                out.push(d(&pn, "this port is offered twice".into()));
            }
            let name = s.discovery_name.as_deref().unwrap_or(&s.port_name);
            if !discovery.insert(name) {
                out.push(d(
                    &path,
                    format!("discovery name {} is used twice", shown(o, &pn, name)),
                ));
            }
            if let Some(dn) = &s.discovery_name
                && !is_dns_label_text(dn, 64)
            {
                out.push(d(
                    &format!("{path}.discoveryName"),
                    "discoveryName must be 1-64 letters, digits, - or _, starting with a letter or digit".into(),
                ));
            }
            if s.ingress_port_override == Some(0) {
                out.push(d(
                    &format!("{path}.ingressPortOverride"),
                    "port 0 is not a port".into(),
                ));
            }
            let mut ports = BTreeSet::new();
            for (j, a) in s.client_aliases.iter().enumerate() {
                let ap = format!("{path}.clientAliases[{j}]");
                if a.port == 0 {
                    out.push(d(&format!("{ap}.port"), "port 0 is not a port".into()));
                }
                if !ports.insert(a.port) {
                    out.push(d(
                        &format!("{ap}.port"),
                        format!("client alias port {} is used twice", a.port),
                    ));
                }
                if let Some(dns) = &a.dns_name
                    && !is_dns_name(dns)
                {
                    out.push(d(
                        &format!("{ap}.dnsName"),
                        format!(
                            "{} is not a DNS name (labels of letters, digits and -, joined by .)",
                            shown(o, &format!("{ap}.dnsName"), dns)
                        ),
                    ));
                }
            }
        }
    }
}

fn efs_rules(o: &Origins, path: &str, efs: &EfsVolumeConfiguration, out: &mut Vec<Diagnostic>) {
    let d = |p: &str, msg: String| o.diagnostic(p, msg);
    let fs = format!("{path}.fileSystemId");
    if !is_aws_id(&efs.file_system_id, "fs-") {
        out.push(d(
            &fs,
            format!(
                "{} is not an EFS file system id (fs- and 8 or 17 hex digits)",
                shown(o, &fs, &efs.file_system_id)
            ),
        ));
    }
    let encrypted = efs.transit_encryption == Some(Toggle::Enabled);
    let auth = efs.authorization_config.clone().unwrap_or_default();
    if let Some(ap) = &auth.access_point_id {
        let ap_path = format!("{path}.authorizationConfig.accessPointId");
        if !is_aws_id(ap, "fsap-") {
            out.push(d(
                &ap_path,
                format!(
                    "{} is not an EFS access point id (fsap- and 17 hex digits)",
                    shown(o, &ap_path, ap)
                ),
            ));
        }
        if !encrypted {
            out.push(d(
                &ap_path,
                "an access point needs transitEncryption: ENABLED".into(),
            ));
        }
        if efs.root_directory.as_deref().is_some_and(|r| r != "/") {
            out.push(d(
                &format!("{path}.rootDirectory"),
                "with an access point, the access point sets the root: leave rootDirectory out (or /)".into(),
            ));
        }
    }
    if auth.iam == Some(Toggle::Enabled) && !encrypted {
        out.push(d(
            &format!("{path}.authorizationConfig.iam"),
            "IAM authorization needs transitEncryption: ENABLED".into(),
        ));
    }
    if efs.transit_encryption_port.is_some() && !encrypted {
        out.push(d(
            &format!("{path}.transitEncryptionPort"),
            "transitEncryptionPort needs transitEncryption: ENABLED".into(),
        ));
    }
    if let Some(root) = &efs.root_directory
        && (!root.starts_with('/') || root.len() > 255 || root.chars().any(char::is_control))
    {
        out.push(d(
            &format!("{path}.rootDirectory"),
            "rootDirectory must be an absolute path of at most 255 characters".into(),
        ));
    }
}

fn is_ecs_name(name: &str) -> bool {
    (1..=255).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `fs-` / `fsap-` followed by 8 or 17 lowercase hex digits.
fn is_aws_id(id: &str, prefix: &str) -> bool {
    id.strip_prefix(prefix).is_some_and(|hex| {
        (hex.len() == 17 || (prefix == "fs-" && hex.len() == 8))
            && hex
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    })
}

fn is_dns_label_text(text: &str, max: usize) -> bool {
    (1..=max).contains(&text.len())
        && text
            .bytes()
            .next()
            .is_some_and(|b| b.is_ascii_alphanumeric())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

fn is_dns_name(name: &str) -> bool {
    (1..=253).contains(&name.len())
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_names() {
        assert!(is_aws_id("fs-12345678", "fs-"));
        assert!(is_aws_id("fs-0123456789abcdef0", "fs-"));
        assert!(!is_aws_id("fs-1234", "fs-"));
        assert!(!is_aws_id("fsap-12345678", "fsap-"));
        assert!(is_aws_id("fsap-0123456789abcdef0", "fsap-"));
        assert!(is_dns_name("api.numbers.internal"));
        assert!(!is_dns_name("api..internal"));
        assert!(!is_dns_name("-api"));
        assert_eq!(UlimitName::parse("nofile"), Some(UlimitName::Nofile));
        assert_eq!(UlimitName::parse("nope"), None);
    }

    #[test]
    fn default_runtime_platform_is_no_runtime_platform() {
        let mut a = Map::new();
        normalize_task(
            &mut a,
            Some(&RuntimePlatform {
                cpu_architecture: Some(CpuArchitecture::X86_64),
                operating_system_family: None,
            }),
            &[],
            None,
        );
        assert!(a.is_empty(), "{a:?}");
        normalize_task(
            &mut a,
            Some(&RuntimePlatform {
                cpu_architecture: Some(CpuArchitecture::Arm64),
                operating_system_family: None,
            }),
            &[],
            None,
        );
        assert_eq!(
            a["runtimePlatform"],
            json!({"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"})
        );
    }
}
