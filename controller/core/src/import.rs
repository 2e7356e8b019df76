//! Import, the inverse of render: ECS's own JSON (a RegisterTaskDefinition input, a
//! `describe-task-definition` or `describe-services` answer, ecspresso's `ecs-task-def.json` /
//! `ecs-service-def.json`, or what a live cluster reports) → `EcsService` and `Environment`
//! manifests that render back to the same inputs.
//!
//! Nothing is dropped silently: what ECS only reports (ARNs, revision, status, events...) is
//! left out because no input takes it; anything else Ferry cannot carry is refused with the
//! field named. Literal `${...}` text is written `$${...}` (Ferry's escape), so values are
//! never substituted.

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use crate::autoscaling::{LiveScalableTarget, ScalingMetric, TARGET_TRACKING};
use crate::ecs_model::{self, Problem};
use crate::kinds::API_VERSION;

/// What an import of one service gives.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportedService {
    /// `metadata.name`.
    pub name: String,
    /// The `spec` of the `EcsService`.
    pub spec: Map<String, Value>,
    /// The awsvpc network the service uses (lifted into the Environment when shared).
    pub network: Option<Value>,
    /// The cluster the service definition names, if any.
    pub cluster: Option<String>,
}

fn problem(path: &str, message: impl Into<String>) -> Problem {
    Problem {
        path: path.to_owned(),
        message: message.into(),
    }
}

/// `${` in every string written `$${` (Ferry substitutes `${name}` values; ECS's JSON often
/// holds literal `${VAR}` text for other tools).
pub fn escape(value: &Value) -> Value {
    match value {
        Value::String(s) if s.contains("${") => Value::String(s.replace("${", "$${")),
        Value::Array(a) => Value::Array(a.iter().map(escape).collect()),
        Value::Object(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), escape(v))).collect()),
        other => other.clone(),
    }
}

/// Null members left out, recursively (ECS treats an explicit null as absent).
fn without_nulls(value: &Value) -> Value {
    match value {
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        Value::Object(o) => Value::Object(
            o.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Split `object` into the members of input shape `input`, refusing those that are neither
/// an input member nor one ECS only reports (members of `output`).
fn input_members(
    object: &Map<String, Value>,
    input: &str,
    output: &str,
    path: &str,
    problems: &mut Vec<Problem>,
) -> Map<String, Value> {
    let mut kept = Map::new();
    for (k, v) in object {
        if ecs_model::member_shape(input, k).is_some() {
            kept.insert(k.clone(), v.clone());
        } else if ecs_model::member_shape(output, k).is_none() {
            let at = if path.is_empty() {
                k.clone()
            } else {
                format!("{path}.{k}")
            };
            problems.push(problem(&at, ecs_model::unknown_member(input, k)));
        }
    }
    kept
}

/// A task definition's input members and its tags.
pub type TaskDefinitionJson = (Map<String, Value>, Vec<Value>);

/// The task definition of `json`: a RegisterTaskDefinition input, or a describe answer
/// (`{"taskDefinition": {...}, "tags": [...]}` or the bare object).
pub fn task_definition_json(json: &Value) -> Result<TaskDefinitionJson, Vec<Problem>> {
    let Value::Object(root) = json else {
        return Err(vec![problem(
            "",
            "expected a JSON object (a task definition)",
        )]);
    };
    let (object, tags) = match root.get("taskDefinition") {
        Some(Value::Object(td)) => (
            td.clone(),
            root.get("tags")
                .and_then(Value::as_array)
                .cloned()
                .unwrap_or_default(),
        ),
        _ => (root.clone(), Vec::new()),
    };
    let object = match without_nulls(&Value::Object(object)) {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    let mut problems = Vec::new();
    let mut td = input_members(
        &object,
        "RegisterTaskDefinitionRequest",
        "TaskDefinition",
        "",
        &mut problems,
    );
    ecs_model::check(
        &Value::Object(td.clone()),
        "RegisterTaskDefinitionRequest",
        "",
        &mut problems,
    );
    if td
        .get("family")
        .and_then(Value::as_str)
        .is_some_and(str::is_empty)
    {
        problems.push(problem(
            "family",
            "must not be empty (ECS names revisions by their family)",
        ));
    }
    for (i, c) in td
        .get("containerDefinitions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        for k in ["name", "image"] {
            if c.get(k).and_then(Value::as_str).is_none_or(str::is_empty) {
                problems.push(problem(
                    &format!("containerDefinitions[{i}].{k}"),
                    "must be set (ECS refuses a container without it)",
                ));
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let mut tags = tags;
    if let Some(Value::Array(t)) = td.remove("tags") {
        tags.extend(t);
    }
    Ok((td, tags))
}

/// An image in an ECR registry: `(registry, repository, tag)`.
pub fn ecr_image(image: &str) -> Option<(String, String, Option<String>)> {
    let (registry, rest) = image.split_once('/')?;
    let parts: Vec<&str> = registry.split('.').collect();
    let ecr = parts.len() >= 6
        && parts[0].len() == 12
        && parts[0].bytes().all(|b| b.is_ascii_digit())
        && parts[1] == "dkr"
        && parts[2] == "ecr"
        && parts[4] == "amazonaws";
    if !ecr || rest.contains('@') {
        return None;
    }
    let (repo, tag) = match rest.rsplit_once(':') {
        Some((r, t)) => (r.to_owned(), Some(t.to_owned())),
        None => (rest.to_owned(), None),
    };
    Some((registry.to_owned(), repo, tag))
}

/// Images of a registry Ferry resolves by repository name: the registry and each repository's
/// tag (the first one seen wins; a service using another tag keeps its full reference).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Registry {
    /// The registry host, once one image named it.
    pub host: Option<String>,
    /// Tag per repository.
    pub images: BTreeMap<String, String>,
}

impl Registry {
    /// The image as the manifest writes it: the repository name when `image` is in this
    /// registry with the tag recorded for it (recording it when first seen).
    pub fn image(&mut self, image: &str) -> String {
        let Some((host, repo, Some(tag))) = ecr_image(image) else {
            return image.to_owned();
        };
        if self.host.as_deref().is_some_and(|h| h != host) {
            return image.to_owned();
        }
        match self.images.get(&repo) {
            Some(t) if *t != tag => image.to_owned(),
            _ => {
                self.host = Some(host);
                self.images.insert(repo.clone(), tag);
                repo
            }
        }
    }
}

/// The `spec.taskDefinition` of a manifest for task definition `td` (input members only).
pub fn task_definition_spec(
    td: &Map<String, Value>,
    registry: &mut Registry,
) -> Map<String, Value> {
    let mut spec = Map::new();
    for (k, v) in td {
        match k.as_str() {
            "containerDefinitions" => {
                let containers: Vec<Value> = v
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(|c| {
                        let mut c = c.as_object().cloned().unwrap_or_default();
                        if let Some(Value::String(image)) = c.get("image") {
                            let image = registry.image(image);
                            c.insert("image".into(), Value::String(image));
                        }
                        Value::Object(c)
                    })
                    .collect();
                spec.insert("containers".into(), Value::Array(containers));
            }
            _ => {
                spec.insert(k.clone(), v.clone());
            }
        }
    }
    // Ferry's defaults differ from ECS's: say ECS's explicitly.
    if !spec.contains_key("networkMode") {
        spec.insert("networkMode".into(), json!("bridge"));
    }
    match escape(&Value::Object(spec)) {
        Value::Object(o) => o,
        _ => Map::new(),
    }
}

/// Whether a task definition can run on Fargate only (so the service's launch type is
/// Fargate, Ferry's default).
pub fn fargate_only(td: &Map<String, Value>) -> bool {
    td.get("requiresCompatibilities")
        .and_then(Value::as_array)
        .is_some_and(|c| c.iter().any(|x| x == "FARGATE") && !c.iter().any(|x| x == "EC2"))
}

/// CreateService members Ferry writes its own way (handled below); every other input member
/// is written as it is.
const SERVICE_MAPPED: &[&str] = &[
    "cluster",
    "serviceName",
    "taskDefinition",
    "clientToken",
    "desiredCount",
    "launchType",
    "capacityProviderStrategy",
    "networkConfiguration",
    "loadBalancers",
    "deploymentConfiguration",
    "healthCheckGracePeriodSeconds",
    "tags",
    "enableExecuteCommand",
    "placementConstraints",
    "placementStrategy",
    "serviceRegistries",
    "serviceConnectConfiguration",
    "propagateTags",
    "enableECSManagedTags",
];

/// The service spec (without its task definition) of a CreateService input or a described
/// service. Refused: services deployed by an external or CodeDeploy controller (ECS does not
/// let Ferry roll them out), classic load balancers.
pub fn service_spec(json: &Value, name: Option<&str>) -> Result<ImportedService, Vec<Problem>> {
    let Value::Object(root) = json else {
        return Err(vec![problem(
            "",
            "expected a JSON object (a service definition)",
        )]);
    };
    let root = match root
        .get("services")
        .and_then(Value::as_array)
        .and_then(|s| s.first())
    {
        Some(Value::Object(s)) => s.clone(),
        _ => match root.get("service") {
            Some(Value::Object(s)) => s.clone(),
            _ => root.clone(),
        },
    };
    let object = match without_nulls(&Value::Object(root)) {
        Value::Object(o) => o,
        _ => Map::new(),
    };
    let mut problems = Vec::new();
    let svc = input_members(
        &object,
        "CreateServiceRequest",
        "Service",
        "",
        &mut problems,
    );
    // Describe answers name the ARN of the role, CreateService takes `role`.
    ecs_model::check(
        &Value::Object(svc.clone()),
        "CreateServiceRequest",
        "",
        &mut problems,
    );
    problems.retain(|p| !p.message.starts_with("missing required field"));
    if let Some(kind) = svc
        .get("deploymentController")
        .and_then(|d| d.get("type"))
        .and_then(Value::as_str)
        .filter(|k| *k != "ECS")
    {
        problems.push(problem(
            "deploymentController.type",
            format!("the service is deployed by the {kind} deployment controller: ECS accepts a new task definition for it only through {}, so Ferry cannot roll it out; move it to the ECS controller first (UpdateService deploymentController: ECS)", if kind == "CODE_DEPLOY" { "CodeDeploy" } else { "its task sets" }),
        ));
    }
    let mut spec = Map::new();
    let mut network = None;
    for (k, v) in &svc {
        if !SERVICE_MAPPED.contains(&k.as_str()) {
            spec.insert(k.clone(), v.clone());
        }
    }
    let daemon = svc.get("schedulingStrategy").and_then(Value::as_str) == Some("DAEMON");
    if !daemon {
        spec.insert(
            "desiredCount".into(),
            svc.get("desiredCount").cloned().unwrap_or(json!(1)),
        );
    }
    for k in [
        "launchType",
        "capacityProviderStrategy",
        "healthCheckGracePeriodSeconds",
        "placementConstraints",
        "placementStrategy",
        "serviceRegistries",
    ] {
        if let Some(v) = svc.get(k).filter(|v| !ecs_model::is_empty(v)) {
            spec.insert(k.into(), v.clone());
        }
    }
    if svc.get("enableExecuteCommand") == Some(&Value::Bool(true)) {
        spec.insert("enableExecuteCommand".into(), json!(true));
    }
    // Ferry renders SERVICE and true when the manifest says nothing; ECS's own defaults are
    // NONE and false.
    spec.insert(
        "propagateTags".into(),
        svc.get("propagateTags").cloned().unwrap_or(json!("NONE")),
    );
    spec.insert(
        "enableECSManagedTags".into(),
        svc.get("enableECSManagedTags")
            .cloned()
            .unwrap_or(json!(false)),
    );
    if let Some(n) = svc
        .get("networkConfiguration")
        .and_then(|n| n.get("awsvpcConfiguration"))
    {
        network = Some(json!({
            "subnets": n.get("subnets").cloned().unwrap_or(json!([])),
            "securityGroups": n.get("securityGroups").cloned().unwrap_or(json!([])),
            "assignPublicIp": n.get("assignPublicIp").and_then(Value::as_str) == Some("ENABLED"),
        }));
    }
    let mut lbs = Vec::new();
    for (i, lb) in svc
        .get("loadBalancers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let Some(tg) = lb.get("targetGroupArn") else {
            problems.push(problem(
                &format!("loadBalancers[{i}]"),
                "a Classic Load Balancer (`loadBalancerName`) is not supported by Ferry: attach a target group instead",
            ));
            continue;
        };
        let mut out = json!({
            "targetGroupArn": tg,
            "containerName": lb.get("containerName").cloned().unwrap_or(Value::Null),
            "containerPort": lb.get("containerPort").cloned().unwrap_or(Value::Null),
        });
        if let Some(Value::Object(a)) = lb.get("advancedConfiguration") {
            for (k, v) in a {
                out[k] = v.clone();
            }
        }
        lbs.push(out);
    }
    if !lbs.is_empty() {
        spec.insert("loadBalancers".into(), Value::Array(lbs));
    }
    if let Some(Value::Object(d)) = svc.get("deploymentConfiguration") {
        let mut dep = Map::new();
        for (k, v) in d {
            match k.as_str() {
                "minimumHealthyPercent" | "maximumPercent" => {
                    dep.insert(k.clone(), v.clone());
                }
                "deploymentCircuitBreaker" => {
                    dep.insert(
                        "circuitBreaker".into(),
                        json!({"enable": v.get("enable").cloned().unwrap_or(json!(false)), "rollback": v.get("rollback").cloned().unwrap_or(json!(false))}),
                    );
                }
                "alarms" => {
                    let names = v.get("alarmNames").cloned().unwrap_or(json!([]));
                    if v.get("enable") == Some(&Value::Bool(true)) {
                        dep.insert(
                            "alarms".into(),
                            json!({"names": names, "rollback": v.get("rollback").cloned().unwrap_or(json!(false))}),
                        );
                    }
                }
                "strategy" => match v.as_str() {
                    Some("ROLLING") => {}
                    Some("BLUE_GREEN") => {
                        dep.insert("strategy".into(), json!("blueGreen"));
                    }
                    Some("CANARY") => {
                        dep.insert("strategy".into(), json!("canary"));
                    }
                    Some("LINEAR") => {
                        dep.insert("strategy".into(), json!("linear"));
                    }
                    _ => problems.push(problem(
                        "deploymentConfiguration.strategy",
                        format!("{v} is not one of ROLLING, BLUE_GREEN, CANARY, LINEAR"),
                    )),
                },
                // ECS's bakes are whole minutes; Ferry writes them as durations.
                "bakeTimeInMinutes" => {
                    if let Some(n) = v.as_u64().filter(|n| *n > 0) {
                        dep.insert("bakeTime".into(), json!(format!("{n}m")));
                    }
                }
                "canaryConfiguration" => {
                    dep.insert(
                        "canary".into(),
                        json!({
                            "percent": v.get("canaryPercent").cloned().unwrap_or(json!(0)),
                            "bake": format!("{}m", v.get("canaryBakeTimeInMinutes").and_then(Value::as_u64).unwrap_or(0)),
                        }),
                    );
                }
                "linearConfiguration" => {
                    dep.insert(
                        "linear".into(),
                        json!({
                            "stepPercent": v.get("stepPercent").cloned().unwrap_or(json!(0)),
                            "stepBake": format!("{}m", v.get("stepBakeTimeInMinutes").and_then(Value::as_u64).unwrap_or(0)),
                        }),
                    );
                }
                // Ferry's own gate is one PAUSE hook; Lambda hooks are not Ferry's to run.
                "lifecycleHooks" => {
                    let hooks = v.as_array().cloned().unwrap_or_default();
                    let stage = |h: &Value| match h.get("lifecycleStages").and_then(Value::as_array)
                    {
                        Some(s) if s.len() == 1 => match s[0].as_str() {
                            Some("POST_TEST_TRAFFIC_SHIFT") => Some("beforeTraffic"),
                            Some("POST_PRODUCTION_TRAFFIC_SHIFT") => Some("afterTraffic"),
                            _ => None,
                        },
                        _ => None,
                    };
                    match hooks.as_slice() {
                        [] => {}
                        [h] if h.get("targetType") == Some(&json!("PAUSE")) && stage(h).is_some() => {
                            dep.insert("pause".into(), json!(stage(h)));
                        }
                        _ => problems.push(problem(
                            "deploymentConfiguration.lifecycleHooks",
                            "Ferry writes one PAUSE hook after test or production traffic (`deployment.pause`, resumed by `ferry promote`); Lambda hooks and other stages are not imported",
                        )),
                    }
                }
                _ => problems.push(problem(
                    &format!("deploymentConfiguration.{k}"),
                    "Ferry does not carry this deployment setting",
                )),
            }
        }
        // A rolling deployment has no bake, canary or linear settings (ECS reports them anyway).
        if !dep.contains_key("strategy") {
            for k in ["bakeTime", "canary", "linear", "pause"] {
                dep.remove(k);
            }
        } else if dep.get("strategy") != Some(&json!("canary")) {
            dep.remove("canary");
        }
        if dep.get("strategy") != Some(&json!("linear")) {
            dep.remove("linear");
        }
        if !dep.is_empty() {
            spec.insert("deployment".into(), Value::Object(dep));
        }
    }
    if let Some(sc) = svc
        .get("serviceConnectConfiguration")
        .filter(|v| !ecs_model::is_empty(v))
    {
        spec.insert("serviceConnect".into(), sc.clone());
    }
    if let Some(tags) = svc.get("tags").and_then(Value::as_array) {
        let map: Map<String, Value> = tags
            .iter()
            .filter_map(|t| {
                Some((
                    t.get("key")?.as_str()?.to_owned(),
                    t.get("value").cloned().unwrap_or(json!("")),
                ))
            })
            .filter(|(k, _)| !k.starts_with("ferry.dev/") && !k.starts_with("aws:"))
            .collect();
        if !map.is_empty() {
            spec.insert("tags".into(), Value::Object(map));
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let name = name
        .map(str::to_owned)
        .or_else(|| {
            svc.get("serviceName")
                .and_then(Value::as_str)
                .map(str::to_owned)
        })
        .unwrap_or_default();
    Ok(ImportedService {
        name,
        spec: match escape(&Value::Object(spec)) {
            Value::Object(o) => o,
            _ => Map::new(),
        },
        network,
        cluster: object
            .get("cluster")
            .or_else(|| object.get("clusterArn"))
            .and_then(Value::as_str)
            .map(|c| c.rsplit('/').next().unwrap_or(c).to_owned()),
    })
}

/// `spec.autoscaling` for a live scalable target with its policies and scheduled actions, or
/// why Ferry cannot express it (step scaling, a custom metric...): then the service is
/// imported without `autoscaling`, and Ferry leaves that target alone.
pub fn autoscaling_spec(target: &LiveScalableTarget) -> Result<Value, String> {
    let mut tracking = Vec::new();
    for p in &target.policies {
        let name = &p.policy_name;
        let config = match &p.target_tracking_scaling_policy_configuration {
            Some(c) if p.policy_type == TARGET_TRACKING => c,
            _ => {
                return Err(format!(
                    "its policy `{name}` is {} (Ferry writes target tracking only)",
                    p.policy_type
                ));
            }
        };
        let metric = &config.predefined_metric_specification;
        let word = match metric.predefined_metric_type.as_str() {
            "ECSServiceAverageCPUUtilization" => ScalingMetric::Cpu,
            "ECSServiceAverageMemoryUtilization" => ScalingMetric::Memory,
            "ALBRequestCountPerTarget" => ScalingMetric::AlbRequestsPerTarget,
            "" => {
                return Err(format!(
                    "its policy `{name}` follows a custom metric (Ferry writes cpu, memory and albRequestsPerTarget)"
                ));
            }
            other => return Err(format!("its policy `{name}` follows {other}")),
        };
        let mut m = Map::new();
        if name != word.word() {
            m.insert("name".into(), json!(name));
        }
        m.insert("metric".into(), json!(word.word()));
        m.insert("target".into(), json!(config.target_value));
        if let Some(c) = config.scale_in_cooldown {
            m.insert("scaleInCooldown".into(), json!(c));
        }
        if let Some(c) = config.scale_out_cooldown {
            m.insert("scaleOutCooldown".into(), json!(c));
        }
        if config.disable_scale_in == Some(true) {
            m.insert("disableScaleIn".into(), json!(true));
        }
        if let Some(label) = metric.resource_label.as_ref().filter(|l| !l.is_empty()) {
            m.insert("resourceLabel".into(), json!(label));
        }
        tracking.push(Value::Object(m));
    }
    let scheduled: Vec<Value> = target
        .scheduled_actions
        .iter()
        .map(|a| {
            let mut m = Map::new();
            m.insert("name".into(), json!(a.scheduled_action_name));
            m.insert("schedule".into(), json!(a.schedule));
            if let Some(tz) = a.timezone.as_ref().filter(|t| !t.is_empty() && *t != "UTC") {
                m.insert("timezone".into(), json!(tz));
            }
            if let Some(n) = a.scalable_target_action.min_capacity {
                m.insert("minCapacity".into(), json!(n));
            }
            if let Some(n) = a.scalable_target_action.max_capacity {
                m.insert("maxCapacity".into(), json!(n));
            }
            Value::Object(m)
        })
        .collect();
    let mut spec = Map::new();
    spec.insert("minCapacity".into(), json!(target.min_capacity));
    spec.insert("maxCapacity".into(), json!(target.max_capacity));
    if !tracking.is_empty() {
        spec.insert("targetTracking".into(), Value::Array(tracking));
    }
    if !scheduled.is_empty() {
        spec.insert("scheduled".into(), Value::Array(scheduled));
    }
    Ok(Value::Object(spec))
}

/// The environment variables of a task definition spec whose names read like secrets but
/// that hold literal values (`MYSQL_ROOT_PASSWORD: example` in a sample): imported as they
/// are, listed in [`crate::kinds::PLAINTEXT_ANNOTATION`] so that validation lets them through.
/// Values that are credentials by their form are not listed (validation refuses them).
pub fn plaintext_environment(task_definition: &Map<String, Value>) -> Vec<String> {
    let mut names: Vec<String> = task_definition
        .get("containers")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|c| c.get("environment"))
        .flat_map(|env| match env {
            Value::Array(list) => list
                .iter()
                .filter_map(|e| Some((e.get("name")?.as_str()?, e.get("value")?.as_str()?)))
                .map(|(n, v)| (n.to_owned(), v.to_owned()))
                .collect::<Vec<_>>(),
            Value::Object(map) => map
                .iter()
                .filter_map(|(n, v)| Some((n.clone(), v.as_str()?.to_owned())))
                .collect(),
            _ => Vec::new(),
        })
        .filter(|(n, v)| {
            crate::validate::looks_secret(n)
                && !v.is_empty()
                && crate::printable::secret_kind(v).is_none()
        })
        .map(|(n, _)| n)
        .collect();
    names.sort();
    names.dedup();
    names
}

/// The `EcsService` manifest of an imported service with its task definition spec.
pub fn service_manifest(svc: &ImportedService, task_definition: Map<String, Value>) -> Value {
    let plaintext = plaintext_environment(&task_definition);
    let mut spec = svc.spec.clone();
    spec.insert("taskDefinition".into(), Value::Object(task_definition));
    let mut metadata = json!({"name": svc.name});
    if !plaintext.is_empty() {
        metadata["annotations"] =
            json!({ crate::kinds::PLAINTEXT_ANNOTATION: plaintext.join(",") });
    }
    json!({
        "apiVersion": API_VERSION,
        "kind": "EcsService",
        "metadata": metadata,
        "spec": spec,
    })
}

/// The `Environment` manifest for imported services: platform ecs, the cluster and region,
/// the registry and image tags, and the network the services share.
pub fn environment_manifest(
    env: &str,
    cluster: Option<&str>,
    region: Option<&str>,
    registry: &Registry,
    network: Option<&Value>,
) -> Value {
    let mut spec = Map::new();
    spec.insert("platform".into(), json!("ecs"));
    // Imported images are written as ECS had them: `nginx` is Docker Hub's.
    spec.insert("bareImages".into(), json!("reference"));
    if let Some(r) = region {
        spec.insert("region".into(), json!(r));
    }
    if let Some(c) = cluster {
        spec.insert("cluster".into(), json!(c));
    }
    if let Some(h) = &registry.host {
        spec.insert("registry".into(), json!(h));
        let images: Map<String, Value> = registry
            .images
            .iter()
            .map(|(r, t)| (r.clone(), json!({"tag": t})))
            .collect();
        spec.insert("images".into(), Value::Object(images));
    }
    if let Some(n) = network {
        spec.insert("network".into(), n.clone());
    }
    json!({
        "apiVersion": API_VERSION,
        "kind": "Environment",
        "metadata": {"name": env},
        "spec": escape(&Value::Object(spec)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn literal_dollar_braces_are_escaped() {
        assert_eq!(
            escape(&json!({"a": ["${IMAGE}", "x"]})),
            json!({"a": ["$${IMAGE}", "x"]})
        );
    }

    #[test]
    fn ecr_images_become_repository_names_once_per_tag() {
        let mut r = Registry::default();
        assert_eq!(
            r.image("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1.2"),
            "web"
        );
        assert_eq!(
            r.image("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1.2"),
            "web"
        );
        assert_eq!(
            r.image("123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1.3"),
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/web:1.3"
        );
        assert_eq!(r.image("nginx:latest"), "nginx:latest");
    }

    #[test]
    fn describe_answers_lose_only_what_ecs_reports() {
        let (td, tags) = task_definition_json(&json!({"taskDefinition": {"family": "f", "revision": 4, "status": "ACTIVE", "containerDefinitions": [{"name": "a", "image": "i"}]}, "tags": [{"key": "k", "value": "v"}]})).unwrap();
        assert_eq!(
            td.keys().collect::<Vec<_>>(),
            ["containerDefinitions", "family"]
        );
        assert_eq!(tags.len(), 1);
        let err =
            task_definition_json(&json!({"family": "f", "containerDefinitions": [], "Tags": []}))
                .unwrap_err();
        assert_eq!(
            err[0].message,
            "unknown field `Tags` (did you mean `tags`?)"
        );
    }

    #[test]
    fn native_progressive_deployments_become_ferrys_deployment_block() {
        let svc = service_spec(
            &json!({"serviceName": "s", "deploymentConfiguration": {
                "strategy": "CANARY", "bakeTimeInMinutes": 10,
                "canaryConfiguration": {"canaryPercent": 5.0, "canaryBakeTimeInMinutes": 3},
                "linearConfiguration": {"stepPercent": 10.0, "stepBakeTimeInMinutes": 1},
                "lifecycleHooks": [{"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}],
                "minimumHealthyPercent": 100, "maximumPercent": 200}}),
            None,
        )
        .unwrap();
        assert_eq!(
            svc.spec["deployment"],
            json!({"strategy": "canary", "bakeTime": "10m", "canary": {"percent": 5.0, "bake": "3m"},
                   "pause": "beforeTraffic", "minimumHealthyPercent": 100, "maximumPercent": 200})
        );
        let rolling = service_spec(
            &json!({"serviceName": "s", "deploymentConfiguration": {"strategy": "ROLLING", "bakeTimeInMinutes": 0}}),
            None,
        )
        .unwrap();
        assert!(
            !rolling.spec.contains_key("deployment"),
            "{:?}",
            rolling.spec
        );
        let lambda = service_spec(
            &json!({"serviceName": "s", "deploymentConfiguration": {"strategy": "BLUE_GREEN",
                "lifecycleHooks": [{"targetType": "AWS_LAMBDA", "hookTargetArn": "arn:aws:lambda:x", "lifecycleStages": ["PRE_SCALE_UP"]}]}}),
            None,
        )
        .unwrap_err();
        assert_eq!(lambda[0].path, "deploymentConfiguration.lifecycleHooks");
    }

    #[test]
    fn external_controllers_are_refused_with_the_reason() {
        let err = service_spec(
            &json!({"serviceName": "s", "deploymentController": {"type": "CODE_DEPLOY"}}),
            None,
        )
        .unwrap_err();
        assert!(err[0].message.contains("CodeDeploy"), "{err:?}");
    }
}
