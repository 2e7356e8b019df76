//! The ECS fields of a service checked as ECS would check them: every member, typed by Ferry or
//! written by ECS's own name, against the ECS API model ([`crate::ecs_model`]) at `file:line`,
//! and the rules of the launch type and network mode (Fargate takes no host volumes, no
//! privileged containers and only `awsvpc`; a DAEMON service is EC2's).

use serde_json::Value;

use crate::ecs_model::{self, Problem};
use crate::kinds::{ContainerSpec, EcsServiceSpec, PlatformKind, TaskDefinitionSpec};
use crate::load::{DesiredState, Diagnostic, Loaded, Origins};

/// CreateService members Ferry sets itself, with what to write instead.
const SERVICE_OWN: &[(&str, &str)] = &[
    ("cluster", "the Environment's `cluster` names it"),
    ("serviceName", "`metadata.name` names the service"),
    ("service", "`metadata.name` names the service"),
    ("clientToken", "Ferry makes its calls idempotent itself"),
    (
        "networkConfiguration",
        "write `network: {subnets, securityGroups, assignPublicIp}` (or leave it to the Environment's)",
    ),
    (
        "deploymentConfiguration",
        "write `deployment: {minimumHealthyPercent, maximumPercent, circuitBreaker, strategy...}`",
    ),
    (
        "forceNewDeployment",
        "Ferry deploys when the task definition changes",
    ),
];

/// RegisterTaskDefinition members Ferry sets itself.
const TASK_OWN: &[(&str, &str)] = &[(
    "tags",
    "tags come from the service's `tags` (and Ferry's ownership tags)",
)];

/// Every ECS-field problem of every service (and pre-deploy task) of `state`.
pub fn validate(state: &DesiredState) -> Vec<Diagnostic> {
    let mut out = Vec::new();
    for svc in state.services.values() {
        service(state, svc, &mut out);
    }
    out
}

fn push(out: &mut Vec<Diagnostic>, o: &Origins, base: &str, problems: Vec<Problem>) {
    for p in problems {
        let path = if p.path.is_empty() {
            base.to_owned()
        } else if p.path.starts_with('[') {
            format!("{base}{}", p.path)
        } else {
            format!("{base}.{}", p.path)
        };
        out.push(o.diagnostic(&path, p.message));
    }
}

fn service(state: &DesiredState, svc: &Loaded<EcsServiceSpec>, out: &mut Vec<Diagnostic>) {
    let o = &svc.origins;
    let spec = &svc.spec;
    let mut problems = Vec::new();
    for (k, v) in &spec.ecs {
        if let Some((_, why)) = SERVICE_OWN.iter().find(|(n, _)| n == k) {
            problems.push(Problem {
                path: k.clone(),
                message: format!("`{k}` is set by Ferry: {why}"),
            });
            continue;
        }
        let shape = ecs_model::member_shape("CreateServiceRequest", k)
            .or_else(|| ecs_model::member_shape("UpdateServiceRequest", k));
        match shape {
            Some(shape) => ecs_model::check(v, shape, k, &mut problems),
            None => problems.push(Problem {
                path: k.clone(),
                message: ecs_model::unknown_member("CreateServiceRequest", k),
            }),
        }
    }
    push(out, o, "spec", problems);

    let ecs = state.environment.spec.platform == PlatformKind::Ecs;
    let fargate = crate::ecs_features::is_fargate(spec);
    let daemon = spec.ecs.get("schedulingStrategy").and_then(Value::as_str) == Some("DAEMON");
    if daemon && ecs && fargate {
        out.push(o.diagnostic(
            "spec.schedulingStrategy",
            "a DAEMON service runs on EC2 container instances: set `launchType: EC2`",
        ));
    }
    if daemon && spec.autoscaling.is_some() {
        out.push(o.diagnostic(
            "spec.autoscaling",
            "a DAEMON service runs one task per instance: it cannot autoscale",
        ));
    }
    task(
        o,
        "spec.taskDefinition",
        &spec.task_definition,
        ecs && fargate,
        out,
    );
    for (i, t) in spec.pre_deploy.iter().enumerate() {
        task(
            o,
            &format!("spec.preDeploy[{i}].taskDefinition"),
            &t.task_definition,
            ecs && fargate,
            out,
        );
    }
}

fn task(
    o: &Origins,
    base: &str,
    td: &TaskDefinitionSpec,
    fargate: bool,
    out: &mut Vec<Diagnostic>,
) {
    // The task's own members (containers are checked one by one below).
    let mut problems = Vec::new();
    if let Ok(Value::Object(mut m)) = serde_json::to_value(td) {
        m.remove("containers");
        for (k, why) in TASK_OWN {
            if m.remove(*k).is_some() {
                problems.push(Problem {
                    path: (*k).to_owned(),
                    message: format!("`{k}` is set by Ferry: {why}"),
                });
            }
        }
        ecs_model::check(
            &Value::Object(m),
            "RegisterTaskDefinitionRequest",
            "",
            &mut problems,
        );
        problems.retain(|p| !p.message.starts_with("missing required field"));
    }
    push(out, o, base, problems);
    let network_mode = td.network_mode();
    if fargate {
        if network_mode != "awsvpc" {
            out.push(o.diagnostic(
                &format!("{base}.networkMode"),
                format!("Fargate tasks use `networkMode: awsvpc`, not `{network_mode}` (or set `launchType: EC2`)"),
            ));
        }
        for (i, v) in td.volumes.iter().enumerate() {
            for (k, what) in [
                ("host", "host volumes"),
                ("dockerVolumeConfiguration", "Docker volumes"),
            ] {
                if v.ecs
                    .get(k)
                    .is_some_and(|x| x.get("sourcePath").is_some() || k != "host")
                {
                    out.push(o.diagnostic(
                        &format!("{base}.volumes[{i}].{k}"),
                        format!("Fargate does not support {what} (use EFS, or `launchType: EC2`)"),
                    ));
                }
            }
        }
        for k in ["placementConstraints", "ipcMode", "inferenceAccelerators"] {
            if td.ecs.get(k).is_some_and(|v| !ecs_model::is_empty(v)) {
                out.push(o.diagnostic(
                    &format!("{base}.{k}"),
                    format!("Fargate does not support `{k}` (set `launchType: EC2`)"),
                ));
            }
        }
    }
    for (i, c) in td.containers.iter().enumerate() {
        container(
            o,
            &format!("{base}.containers[{i}]"),
            c,
            fargate,
            network_mode,
            out,
        );
    }
}

fn container(
    o: &Origins,
    base: &str,
    c: &ContainerSpec,
    fargate: bool,
    network_mode: &str,
    out: &mut Vec<Diagnostic>,
) {
    let mut problems = Vec::new();
    if let Ok(Value::Object(mut m)) = serde_json::to_value(c) {
        // Ferry's conveniences: a repository name for `image`, maps for `environment` and
        // `secrets` (their entries were checked on load), `logging` for logConfiguration,
        // an HTTP health check for the local platform.
        for k in ["image", "environment", "secrets"] {
            m.remove(k);
        }
        if let Some(l) = m.remove("logging") {
            m.insert("logConfiguration".into(), l);
        }
        if let Some(Value::Object(h)) = m.get_mut("healthCheck") {
            h.remove("http");
            if h.get("command").is_none() {
                m.remove("healthCheck");
            }
        }
        ecs_model::check(&Value::Object(m), "ContainerDefinition", "", &mut problems);
    }
    push(out, o, base, problems);
    let on = |k: &str| {
        c.ecs
            .get(k)
            .is_some_and(|v| !ecs_model::is_empty(v) && v != &Value::Bool(false))
    };
    if fargate {
        for k in [
            "privileged",
            "links",
            "dockerSecurityOptions",
            "systemControls",
        ] {
            if on(k) && !(k == "systemControls" && network_mode == "awsvpc") {
                out.push(o.diagnostic(
                    &format!("{base}.{k}"),
                    format!("Fargate does not support `{k}` (set `launchType: EC2`)"),
                ));
            }
        }
        if let Some(Value::Object(lp)) = c.ecs.get("linuxParameters") {
            for k in [
                "devices",
                "sharedMemorySize",
                "tmpfs",
                "maxSwap",
                "swappiness",
            ] {
                if lp.get(k).is_some() {
                    out.push(o.diagnostic(
                        &format!("{base}.linuxParameters.{k}"),
                        format!(
                            "Fargate does not support `linuxParameters.{k}` (set `launchType: EC2`)"
                        ),
                    ));
                }
            }
        }
    } else if network_mode == "awsvpc" && on("links") {
        out.push(o.diagnostic(
            &format!("{base}.links"),
            "`links` need `networkMode: bridge` (under awsvpc, containers reach each other on localhost)",
        ));
    }
}
