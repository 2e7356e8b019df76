//! Diff: desired (rendered) against observed → an ordered [`Plan`]. Pure.
//!
//! Both sides are normalized for every default ECS fills in (container `cpu: 0`, empty lists,
//! `hostPort` = `containerPort`, `protocol: tcp`, `essential: true`, health check defaults,
//! environment order...), so an unchanged manifest always gives an empty plan. Ferry never
//! plans a write to a resource it does not own.

pub mod autoscaling;

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::kinds::ADOPT_ANNOTATION;
use crate::live::{ActualState, LiveRepository, LiveService};
use crate::load::DesiredState;
use crate::plan::{Change, Conflict, FieldDiff, Op, Plan, ResourceKey, ResourceKind};
use crate::render::{
    ContainerDefinition, DeploymentConfiguration, NetworkConfiguration, Rendered,
    RenderedRepository, RenderedService, TaskDefinition,
};

/// Compare `rendered` (from `state`) with `actual` and plan the changes.
pub fn diff(state: &DesiredState, rendered: &Rendered, actual: &ActualState) -> Plan {
    let env = &state.env;
    let key = |kind, name: &str| ResourceKey {
        env: env.clone(),
        kind,
        name: name.to_owned(),
    };
    let mut plan = Plan {
        env: env.clone(),
        ..Plan::default()
    };
    let mut task_definitions = Vec::new();
    let mut pre_deploy = Vec::new();
    let mut services = Vec::new();

    for repo in &rendered.repositories {
        let k = key(ResourceKind::EcrRepository, &repo.name);
        let adopt = state
            .repositories
            .get(&repo.name)
            .is_some_and(|r| adopting(&r.annotations));
        match actual.repositories.get(&repo.name) {
            None => plan.changes.push(Change { key: k, op: Op::Create, fields: created(&normalize_repository_desired(repo)) }),
            Some(live) if !live.owned_by(env) && !adopt => plan.conflicts.push(Conflict {
                key: k,
                reason: format!("repository exists but is not managed by Ferry for `{env}`; annotate it `{ADOPT_ANNOTATION}: \"true\"` to adopt"),
            }),
            Some(live) => {
                let mut fields = Vec::new();
                diff_values(&normalize_repository_desired(repo), &normalize_repository_live(live, repo), "", &mut fields);
                if fields.iter().any(|f| f.path.starts_with("encryption")) {
                    plan.conflicts.push(Conflict {
                        key: k.clone(),
                        reason: "encryption of an existing repository cannot change; create a new repository".into(),
                    });
                    fields.retain(|f| !f.path.starts_with("encryption"));
                }
                if !fields.is_empty() {
                    plan.changes.push(Change { key: k, op: Op::Update, fields });
                }
            }
        }
    }

    for svc in &rendered.services {
        let family = &svc.register_task_definition.family;
        let adopt = state
            .services
            .get(&svc.name)
            .is_some_and(|s| adopting(&s.annotations));
        let live = actual.services.get(&svc.name).filter(|s| s.is_active());
        match live {
            None => {
                task_definitions.push(Change {
                    key: key(ResourceKind::TaskDefinition, family),
                    op: Op::Create,
                    fields: created(&normalize_task_definition(&svc.register_task_definition)),
                });
                pre_deploy.extend(runs(env, svc, "the service is created"));
                services.push(Change {
                    key: key(ResourceKind::EcsService, &svc.name),
                    op: Op::Create,
                    fields: created(&normalize_service_desired(svc)),
                });
            }
            Some(live) if !live.owned_by(env) && !adopt => plan.conflicts.push(Conflict {
                key: key(ResourceKind::EcsService, &svc.name),
                reason: match live.tag(crate::kinds::ENVIRONMENT_TAG) {
                    Some(other) if live.tag(crate::kinds::MANAGED_BY_TAG).is_some() => {
                        format!("service is managed by Ferry for environment `{other}`, not `{env}`")
                    }
                    _ => format!("service exists but is not managed by Ferry; annotate it `{ADOPT_ANNOTATION}: \"true\"` to adopt"),
                },
            }),
            Some(live) => {
                let desired_td = normalize_task_definition(&svc.register_task_definition);
                let live_td = actual.task_definitions.get(&live.task_definition).map(normalize_task_definition);
                let mut td_fields = Vec::new();
                match &live_td {
                    Some(l) => diff_values(&same_pinned_images(&desired_td, l), l, "", &mut td_fields),
                    None => td_fields = created(&desired_td),
                }
                let mut fields = Vec::new();
                let new_revision = !td_fields.is_empty();
                if new_revision {
                    fields.push(FieldDiff {
                        path: "taskDefinition".into(),
                        desired: Some(json!(format!("{family}:<new revision>"))),
                        live: Some(json!(live.task_definition)),
                    });
                    task_definitions.push(Change { key: key(ResourceKind::TaskDefinition, family), op: Op::Update, fields: td_fields });
                }
                diff_values(&normalize_service_desired(svc), &normalize_service_live(live, svc), "", &mut fields);
                // Render already tagged the service with its tasks' hash: compare, never rehash.
                let tasks_changed = !svc.pre_deploy.is_empty()
                    && live.tag(crate::render::PRE_DEPLOY_TAG)
                        != svc
                            .create_service
                            .tags
                            .iter()
                            .find(|t| t.key == crate::render::PRE_DEPLOY_TAG)
                            .map(|t| t.value.as_str());
                if new_revision {
                    pre_deploy.extend(runs(env, svc, "the service gets a new task definition"));
                } else if tasks_changed {
                    pre_deploy.extend(runs(env, svc, "the task changed"));
                }
                if !fields.is_empty() {
                    services.push(Change { key: key(ResourceKind::EcsService, &svc.name), op: Op::Update, fields });
                }
            }
        }
    }

    plan.changes.extend(task_definitions);
    plan.changes.extend(pre_deploy);
    plan.changes.extend(services);
    plan.changes
        .extend(autoscaling::diff(state, rendered, actual));

    let stale: Vec<&LiveService> = actual
        .services
        .values()
        .filter(|s| {
            s.is_active() && s.owned_by(env) && !state.services.contains_key(&s.service_name)
        })
        .collect();
    let may_prune = state.environment.spec.prune && !state.services.is_empty();
    for s in stale {
        if may_prune {
            plan.changes.push(Change {
                key: key(ResourceKind::EcsService, &s.service_name),
                op: Op::Prune,
                fields: Vec::new(),
            });
        } else {
            plan.prune_skipped.push(s.service_name.clone());
        }
    }
    plan
}

/// `desired` with each container image pinned to a digest (`repo:tag@sha256:…`) taken as the
/// live one where that runs the same `repo:tag` unpinned: the tag resolves to that digest now,
/// so an adopted service (or one registered before pinning) needs no new revision for it. The
/// next change of its own registers the pinned image.
fn same_pinned_images(desired: &Value, live: &Value) -> Value {
    let mut out = desired.clone();
    let Some(containers) = out
        .get_mut("containerDefinitions")
        .and_then(Value::as_object_mut)
    else {
        return out;
    };
    for (name, c) in containers.iter_mut() {
        let live_image = live
            .pointer(&format!(
                "/containerDefinitions/{}/image",
                name.replace('~', "~0").replace('/', "~1")
            ))
            .and_then(Value::as_str);
        if let (Some(Value::String(image)), Some(live_image)) = (c.get("image"), live_image)
            && let Some((unpinned, digest)) = image.split_once('@')
            && unpinned == live_image
            && digest.starts_with("sha256:")
        {
            c["image"] = Value::String(live_image.to_owned());
        }
    }
    out
}

fn adopting(annotations: &BTreeMap<String, String>) -> bool {
    annotations
        .get(ADOPT_ANNOTATION)
        .is_some_and(|v| v == "true")
}

/// Field list for something that does not exist yet.
/// The runs of `svc`'s pre-deploy tasks, each saying why it runs.
fn runs(env: &str, svc: &RenderedService, why: &str) -> Vec<Change> {
    svc.pre_deploy
        .iter()
        .map(|t| Change {
            key: ResourceKey {
                env: env.to_owned(),
                kind: ResourceKind::PreDeployTask,
                name: format!("{}/{}", svc.name, t.name),
            },
            op: Op::Run,
            fields: vec![
                FieldDiff {
                    path: "taskDefinition".into(),
                    desired: Some(json!(t.register_task_definition.family)),
                    live: None,
                },
                FieldDiff {
                    path: "trigger".into(),
                    desired: Some(json!(why)),
                    live: None,
                },
            ],
        })
        .collect()
}

fn created(desired: &Value) -> Vec<FieldDiff> {
    let mut out = Vec::new();
    diff_values(desired, &Value::Null, "", &mut out);
    out
}

/// Every leaf where `desired` and `live` differ.
pub fn diff_values(desired: &Value, live: &Value, path: &str, out: &mut Vec<FieldDiff>) {
    match (desired, live) {
        (Value::Object(d), Value::Object(l)) => {
            let keys: std::collections::BTreeSet<&String> = d.keys().chain(l.keys()).collect();
            for k in keys {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                diff_values(
                    d.get(k).unwrap_or(&Value::Null),
                    l.get(k).unwrap_or(&Value::Null),
                    &child,
                    out,
                );
            }
        }
        (Value::Object(d), Value::Null) => {
            for (k, v) in d {
                let child = if path.is_empty() {
                    k.clone()
                } else {
                    format!("{path}.{k}")
                };
                diff_values(v, &Value::Null, &child, out);
            }
        }
        (d, l) if d == l => {}
        (d, l) => out.push(FieldDiff {
            path: path.to_owned(),
            desired: (!d.is_null()).then(|| d.clone()),
            live: (!l.is_null()).then(|| l.clone()),
        }),
    }
}

/// Insert `value` unless it is null, an empty list/map, or `false`-ish default.
fn put(map: &mut Map<String, Value>, key: &str, value: Value) {
    let empty = match &value {
        Value::Null => true,
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
        Value::String(s) => s.is_empty(),
        _ => false,
    };
    if !empty {
        map.insert(key.to_owned(), value);
    }
}

/// A task definition with every ECS default made explicit and every list in a canonical order.
pub fn normalize_task_definition(td: &TaskDefinition) -> Value {
    let mut m = Map::new();
    put(&mut m, "family", json!(td.family));
    // Left out, ECS registers `bridge` (Ferry always renders it).
    let network_mode = td.network_mode.clone().unwrap_or_else(|| "bridge".into());
    put(&mut m, "networkMode", json!(network_mode));
    let mut compat = td.requires_compatibilities.clone();
    if compat.is_empty() {
        compat.push("EC2".into());
    }
    compat.sort();
    compat.dedup();
    put(&mut m, "requiresCompatibilities", json!(compat));
    // ECS turns `1 vcpu` / `2 gb` into units and MiB at registration.
    let units = |v: &Option<String>, f: fn(&str) -> Option<u32>| {
        v.as_deref()
            .map(|t| f(t).map_or_else(|| t.to_owned(), |n| n.to_string()))
    };
    put(
        &mut m,
        "cpu",
        json!(units(&td.cpu, crate::ecs_model::cpu_units)),
    );
    put(
        &mut m,
        "memory",
        json!(units(&td.memory, crate::ecs_model::memory_mib)),
    );
    put(&mut m, "executionRoleArn", json!(td.execution_role_arn));
    put(&mut m, "taskRoleArn", json!(td.task_role_arn));
    crate::ecs_features::normalize_task(
        &mut m,
        td.runtime_platform.as_ref(),
        &td.volumes,
        td.ephemeral_storage.as_ref(),
    );
    let containers: Map<String, Value> = td
        .container_definitions
        .iter()
        .map(|c| (c.name.clone(), normalize_container(c, &network_mode)))
        .collect();
    put(&mut m, "containerDefinitions", Value::Object(containers));
    crate::ecs_model::merge_normalized(&mut m, &td.ecs, "RegisterTaskDefinitionRequest");
    m.remove("tags");
    Value::Object(m)
}

fn normalize_container(c: &ContainerDefinition, network_mode: &str) -> Value {
    let mut m = Map::new();
    put(&mut m, "image", json!(c.image));
    put(&mut m, "cpu", json!(c.cpu.filter(|cpu| *cpu > 0)));
    put(&mut m, "memory", json!(c.memory));
    put(&mut m, "memoryReservation", json!(c.memory_reservation));
    put(&mut m, "essential", json!(c.essential.unwrap_or(true)));
    put(&mut m, "command", json!(c.command));
    put(&mut m, "entryPoint", json!(c.entry_point));
    let mut ports: Vec<Value> =
        c.port_mappings
            .iter()
            .map(|p| {
                let mut pm = Map::new();
                pm.insert("containerPort".into(), json!(p.container_port));
                // awsvpc and host: the host port is the container port; bridge: none (or 0) is
                // a dynamic one.
                let host_port = p.host_port.filter(|h| *h != 0).or_else(|| {
                    matches!(network_mode, "awsvpc" | "host").then_some(p.container_port)
                });
                put(&mut pm, "hostPort", json!(host_port));
                pm.insert(
                    "protocol".into(),
                    json!(p.protocol.clone().unwrap_or_else(|| "tcp".into())),
                );
                put(&mut pm, "name", json!(p.name));
                crate::ecs_model::merge_normalized(&mut pm, &p.ecs, "PortMapping");
                Value::Object(pm)
            })
            .collect();
    ports.sort_by_key(|v| v.to_string());
    put(&mut m, "portMappings", Value::Array(ports));
    let env: Map<String, Value> = c
        .environment
        .iter()
        .map(|kv| (kv.name.clone(), json!(kv.value)))
        .collect();
    put(&mut m, "environment", Value::Object(env));
    let secrets: Map<String, Value> = c
        .secrets
        .iter()
        .map(|s| (s.name.clone(), json!(s.value_from)))
        .collect();
    put(&mut m, "secrets", Value::Object(secrets));
    if let Some(h) = &c.health_check {
        let mut hm = Map::new();
        put(&mut hm, "command", json!(h.command));
        hm.insert("interval".into(), json!(h.interval.unwrap_or(30)));
        hm.insert("timeout".into(), json!(h.timeout.unwrap_or(5)));
        hm.insert("retries".into(), json!(h.retries.unwrap_or(3)));
        put(
            &mut hm,
            "startPeriod",
            json!(h.start_period.filter(|s| *s > 0)),
        );
        m.insert("healthCheck".into(), Value::Object(hm));
    }
    let mut deps = c.depends_on.clone();
    deps.sort();
    put(&mut m, "dependsOn", json!(deps));
    if let Some(l) = &c.log_configuration {
        let mut lm = Map::new();
        lm.insert("logDriver".into(), json!(l.log_driver));
        put(&mut lm, "options", json!(l.options));
        crate::ecs_model::merge_normalized(&mut lm, &l.ecs, "LogConfiguration");
        m.insert("logConfiguration".into(), Value::Object(lm));
    }
    put(&mut m, "workingDirectory", json!(c.working_directory));
    if c.readonly_root_filesystem == Some(true) {
        m.insert("readonlyRootFilesystem".into(), json!(true));
    }
    put(&mut m, "user", json!(c.user));
    crate::ecs_features::normalize_container(&mut m, &c.mount_points, &c.ulimits, c.stop_timeout);
    crate::ecs_model::merge_normalized(&mut m, &c.ecs, "ContainerDefinition");
    Value::Object(m)
}

fn normalize_network(n: Option<&NetworkConfiguration>) -> Value {
    let Some(n) = n else { return Value::Null };
    let vpc = &n.awsvpc_configuration;
    // Some APIs report an empty awsvpc configuration for a bridge or host service.
    if vpc.subnets.is_empty() && vpc.security_groups.is_empty() {
        return Value::Null;
    }
    let mut subnets = vpc.subnets.clone();
    subnets.sort();
    let mut groups = vpc.security_groups.clone();
    groups.sort();
    json!({
        "subnets": subnets,
        "securityGroups": groups,
        "assignPublicIp": vpc.assign_public_ip.clone().unwrap_or_else(|| "DISABLED".into()),
    })
}

/// Load balancers sorted; of a blue/green pair, the target group that is primary is no drift
/// (ECS swaps the two roles after each deployment).
fn normalize_load_balancers(
    lbs: &[crate::render::LoadBalancer],
) -> Vec<crate::render::LoadBalancer> {
    let mut lbs = lbs.to_vec();
    for lb in &mut lbs {
        if let Some(a) = lb.advanced_configuration.as_mut()
            && a.alternate_target_group_arn < lb.target_group_arn
        {
            std::mem::swap(&mut a.alternate_target_group_arn, &mut lb.target_group_arn);
        }
    }
    lbs.sort();
    lbs
}

fn normalize_deployment(
    d: Option<&DeploymentConfiguration>,
    desired: &crate::progressive::StrategyConfiguration,
) -> Value {
    let d = d.cloned().unwrap_or_default();
    let cb = d.deployment_circuit_breaker.unwrap_or_default();
    let mut m = crate::progressive::normalize(&d.strategy, desired);
    m.insert(
        "minimumHealthyPercent".into(),
        json!(d.minimum_healthy_percent.unwrap_or(100)),
    );
    m.insert(
        "maximumPercent".into(),
        json!(d.maximum_percent.unwrap_or(200)),
    );
    m.insert(
        "circuitBreaker".into(),
        json!({"enable": cb.enable, "rollback": cb.rollback}),
    );
    Value::Object(m)
}

/// The desired service's ECS members beyond Ferry's own (normalized, defaults left out).
fn desired_service_extras(svc: &RenderedService) -> Map<String, Value> {
    let c = &svc.create_service;
    let mut extra = c.ecs.clone();
    extra.insert("propagateTags".into(), json!(c.propagate_tags));
    extra.insert(
        "enableECSManagedTags".into(),
        json!(c.enable_ecs_managed_tags),
    );
    match crate::ecs_model::normalize(&Value::Object(extra), "CreateServiceRequest") {
        Value::Object(o) => o,
        _ => Map::new(),
    }
}

fn normalize_service_desired(svc: &RenderedService) -> Value {
    let c = &svc.create_service;
    let lbs = normalize_load_balancers(&c.load_balancers);
    let mut strategy = c.capacity_provider_strategy.clone();
    strategy.sort();
    let tags: Map<String, Value> = c
        .tags
        .iter()
        .map(|t| (t.key.clone(), json!(t.value)))
        .collect();
    let mut m = Map::new();
    // With autoscaling, Application Auto Scaling owns the count: never drift (nor of a
    // DAEMON service, one task per instance).
    if svc.autoscaling.is_none()
        && let Some(count) = c.desired_count
    {
        m.insert("desiredCount".into(), json!(count));
    }
    m.extend(desired_service_extras(svc));
    put(&mut m, "launchType", json!(c.launch_type));
    put(&mut m, "capacityProviderStrategy", json!(strategy));
    put(
        &mut m,
        "networkConfiguration",
        normalize_network(c.network_configuration.as_ref()),
    );
    put(&mut m, "loadBalancers", json!(lbs));
    m.insert(
        "deploymentConfiguration".into(),
        normalize_deployment(
            Some(&c.deployment_configuration),
            &c.deployment_configuration.strategy,
        ),
    );
    m.insert(
        "healthCheckGracePeriodSeconds".into(),
        json!(c.health_check_grace_period_seconds.unwrap_or(0)),
    );
    crate::ecs_features::normalize_service(
        &mut m,
        &crate::ecs_features::ServiceFields {
            enable_execute_command: c.enable_execute_command,
            placement_constraints: &c.placement_constraints,
            placement_strategy: &c.placement_strategy,
            service_registries: &c.service_registries,
            service_connect: c.service_connect_configuration.as_ref(),
        },
        c.service_connect_configuration.as_ref(),
    );
    m.insert("tags".into(), Value::Object(tags));
    Value::Object(m)
}

/// The live service in the desired shape. Only tags the manifests set are compared: others
/// (added by people or AWS) are not Ferry's business.
fn normalize_service_live(live: &LiveService, desired: &RenderedService) -> Value {
    let lbs = normalize_load_balancers(&live.load_balancers);
    let mut strategy = live.capacity_provider_strategy.clone();
    strategy.sort();
    let tags: Map<String, Value> = desired
        .create_service
        .tags
        .iter()
        .filter_map(|t| live.tag(&t.key).map(|v| (t.key.clone(), json!(v))))
        .collect();
    let launch_type = if strategy.is_empty() {
        live.launch_type.clone().or_else(|| Some("FARGATE".into()))
    } else {
        None
    };
    let mut m = Map::new();
    if desired.autoscaling.is_none() && desired.create_service.desired_count.is_some() {
        m.insert("desiredCount".into(), json!(live.desired_count));
    }
    // ECS's other service members: those the manifest sets (or that differ from ECS's
    // default); what AWS adds on its own is not Ferry's business.
    let wanted = desired_service_extras(desired);
    let live_extra =
        match crate::ecs_model::normalize(&Value::Object(live.ecs.clone()), "CreateServiceRequest")
        {
            Value::Object(o) => o,
            _ => Map::new(),
        };
    for (k, v) in live_extra {
        if wanted.contains_key(&k) || k != "availabilityZoneRebalancing" {
            m.insert(k, v);
        }
    }
    // A member the live service does not report at all cannot be compared (emulators and
    // older APIs leave some out): it is taken as it is desired.
    for (k, v) in wanted {
        if !live.ecs.contains_key(&k) {
            m.insert(k, v);
        }
    }
    put(&mut m, "launchType", json!(launch_type));
    put(&mut m, "capacityProviderStrategy", json!(strategy));
    put(
        &mut m,
        "networkConfiguration",
        normalize_network(live.network_configuration.as_ref()),
    );
    put(&mut m, "loadBalancers", json!(lbs));
    m.insert(
        "deploymentConfiguration".into(),
        normalize_deployment(
            live.deployment_configuration.as_ref(),
            &desired.create_service.deployment_configuration.strategy,
        ),
    );
    m.insert(
        "healthCheckGracePeriodSeconds".into(),
        json!(live.health_check_grace_period_seconds.unwrap_or(0)),
    );
    crate::ecs_features::normalize_service(
        &mut m,
        &crate::ecs_features::ServiceFields {
            enable_execute_command: live.enable_execute_command,
            placement_constraints: &live.placement_constraints,
            placement_strategy: &live.placement_strategy,
            service_registries: &live.service_registries,
            service_connect: live.service_connect_configuration.as_ref(),
        },
        desired
            .create_service
            .service_connect_configuration
            .as_ref(),
    );
    m.insert("tags".into(), Value::Object(tags));
    Value::Object(m)
}

fn lifecycle_value(text: Option<&str>) -> Value {
    text.and_then(|t| serde_json::from_str(t).ok())
        .unwrap_or(Value::Null)
}

fn normalize_repository_desired(repo: &RenderedRepository) -> Value {
    let c = &repo.create_repository;
    let tags: Map<String, Value> = c
        .tags
        .iter()
        .map(|t| (t.key.clone(), json!(t.value)))
        .collect();
    json!({
        "imageTagMutability": c.image_tag_mutability,
        "scanOnPush": c.image_scanning_configuration.scan_on_push,
        "encryption": {"type": c.encryption_configuration.encryption_type, "kmsKey": c.encryption_configuration.kms_key},
        "lifecyclePolicy": lifecycle_value(repo.put_lifecycle_policy.as_ref().map(|p| p.lifecycle_policy_text.as_str())),
        "tags": tags,
    })
}

/// The live repository in the desired shape (only the tags the manifests set are compared).
fn normalize_repository_live(live: &LiveRepository, desired: &RenderedRepository) -> Value {
    let enc = live.encryption_configuration.clone().unwrap_or_default();
    let tags: Map<String, Value> = desired
        .create_repository
        .tags
        .iter()
        .filter_map(|d| {
            live.tags
                .iter()
                .find(|t| t.key == d.key)
                .map(|t| (t.key.clone(), json!(t.value)))
        })
        .collect();
    json!({
        "imageTagMutability": live.image_tag_mutability,
        "scanOnPush": live.image_scanning_configuration.scan_on_push,
        "encryption": {
            "type": if enc.encryption_type.is_empty() { "AES256".to_owned() } else { enc.encryption_type },
            "kmsKey": enc.kms_key,
        },
        "lifecyclePolicy": lifecycle_value(live.lifecycle_policy_text.as_deref()),
        "tags": tags,
    })
}
