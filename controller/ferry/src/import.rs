//! `ferry import`: take over services that already run. From a live cluster (DescribeServices
//! and DescribeTaskDefinition with tags, the PRIMARY deployment for what DescribeServices
//! leaves out) or offline from ECS's JSON (a RegisterTaskDefinition input, a describe answer,
//! ecspresso's files), write one `EcsService` manifest per service plus the `Environment`.
//! The manifests render back to the same inputs, so a plan right after an import shows only
//! the adoption (Ferry's ownership tags).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use ferry_core::autoscaling::{self, LiveScalableTarget};
use ferry_core::ecs_model::Problem;
use ferry_core::import::{self, ImportedService, Registry};
use ferry_core::kinds::{ADOPT_ANNOTATION, PLAINTEXT_ANNOTATION};
use ferry_ecs::model_json::ToJson;
use ferry_ecs::{AutoscalingApi, AwsSettings, SdkApi};
use serde_json::{Map, Value, json};

/// `ferry import` arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct ImportArgs {
    /// Read the services of this live ECS cluster.
    #[arg(long, conflicts_with = "task_definition")]
    cluster: Option<String>,
    /// Only these services of the cluster (repeat; default: every service).
    #[arg(long = "service", requires = "cluster")]
    services: Vec<String>,
    /// AWS region (default: AWS_REGION / the profile's).
    #[arg(long)]
    region: Option<String>,
    /// With `--cluster`: the account the cluster is in; nothing is read unless the
    /// credentials act in it (default: the account of `--role-arn`, else unchecked).
    #[arg(long, requires = "cluster")]
    account_id: Option<String>,
    /// With `--cluster`: the IAM role to assume (from Ferry's own credentials) to read it.
    #[arg(long, requires = "cluster")]
    role_arn: Option<String>,
    /// The external ID the role's trust policy requires.
    #[arg(long, requires = "role_arn")]
    external_id: Option<String>,
    /// Import offline from a task definition JSON file (RegisterTaskDefinition input,
    /// `describe-task-definition` output, or ecspresso's ecs-task-def.json).
    #[arg(long, required_unless_present = "cluster")]
    task_definition: Option<PathBuf>,
    /// With `--task-definition`: the service's JSON (CreateService input,
    /// `describe-services` output, or ecspresso's ecs-service-def.json).
    #[arg(long, requires = "task_definition")]
    service_definition: Option<PathBuf>,
    /// With `--task-definition`: the service's name (default: the service definition's, else
    /// the family).
    #[arg(long, requires = "task_definition")]
    name: Option<String>,
    /// The environment to write.
    #[arg(long)]
    env: String,
    /// The manifests folder: files go to `<out>/<env>/`.
    #[arg(long)]
    out: PathBuf,
}

/// Run `ferry import`.
pub(crate) fn run(args: &ImportArgs) -> anyhow::Result<ExitCode> {
    if !ferry_core::load::is_environment_name(&args.env) {
        eprintln!(
            "error: `{}` is not an environment name",
            ferry_core::printable::escape(&args.env)
        );
        return Ok(ExitCode::FAILURE);
    }
    let result = match &args.task_definition {
        Some(file) => offline(args, file),
        None => tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime")?
            .block_on(live(args)),
    }?;
    let Some((services, env)) = result else {
        return Ok(ExitCode::FAILURE);
    };
    let dir = args.out.join(&args.env);
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    write_yaml(&dir.join("environment.yaml"), &env)?;
    for (name, manifest) in &services {
        write_yaml(&dir.join(format!("{name}.yaml")), manifest)?;
    }
    eprintln!(
        "imported {} service(s) into {} (next: ferry plan --manifests {} --env {})",
        services.len(),
        dir.display(),
        args.out.display(),
        args.env
    );
    Ok(ExitCode::SUCCESS)
}

type Written = Option<(Vec<(String, Value)>, Value)>;

fn write_yaml(path: &Path, value: &Value) -> anyhow::Result<()> {
    let text = serde_yaml_ng::to_string(value)?;
    std::fs::write(path, format!("# Written by `ferry import`.\n{text}"))
        .with_context(|| format!("cannot write {}", path.display()))
}

fn report(file: &str, problems: &[Problem]) {
    for p in problems {
        if p.path.is_empty() {
            eprintln!("{file}: {}", p.message);
        } else {
            eprintln!("{file}: {}: {}", p.path, p.message);
        }
    }
}

fn read_json(path: &Path) -> anyhow::Result<Result<Value, String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(serde_json::from_str(&text).map_err(|e| {
        format!(
            "{}:{}:{}: not valid JSON: {e}",
            path.display(),
            e.line(),
            e.column()
        )
    }))
}

fn manifest(
    svc: &ImportedService,
    td: &Map<String, Value>,
    tags: &[Value],
    registry: &mut Registry,
) -> Value {
    let mut svc = svc.clone();
    let fargate = import::fargate_only(td);
    if !fargate
        && !svc.spec.contains_key("launchType")
        && !svc.spec.contains_key("capacityProviderStrategy")
    {
        svc.spec.insert("launchType".into(), json!("EC2"));
    }
    if !svc.spec.contains_key("tags") && !tags.is_empty() {
        let map: Map<String, Value> = tags
            .iter()
            .filter_map(|t| Some((t.get("key")?.as_str()?.to_owned(), t.get("value").cloned()?)))
            .filter(|(k, _)| !k.starts_with("ferry.dev/") && !k.starts_with("aws:"))
            .collect();
        if !map.is_empty() {
            svc.spec
                .insert("tags".into(), import::escape(&Value::Object(map)));
        }
    }
    let mut m = import::service_manifest(&svc, import::task_definition_spec(td, registry));
    if let Some(plain) = m["metadata"]["annotations"][PLAINTEXT_ANNOTATION].as_str() {
        eprintln!(
            "note: {}: {plain} read like secrets but hold literal values; imported as they are and listed in `{PLAINTEXT_ANNOTATION}` (move them to `secrets` when you can)",
            m["metadata"]["name"].as_str().unwrap_or_default()
        );
    }
    m["metadata"]["annotations"][ADOPT_ANNOTATION] = json!("true");
    m
}

fn offline(args: &ImportArgs, file: &Path) -> anyhow::Result<Written> {
    let shown = file.display().to_string();
    let json = match read_json(file)? {
        Ok(j) => j,
        Err(e) => {
            eprintln!("{e}");
            return Ok(None);
        }
    };
    let (td, tags) = match import::task_definition_json(&json) {
        Ok(x) => x,
        Err(problems) => {
            report(&shown, &problems);
            return Ok(None);
        }
    };
    let mut svc = ImportedService::default();
    if let Some(sfile) = &args.service_definition {
        let sjson = match read_json(sfile)? {
            Ok(j) => j,
            Err(e) => {
                eprintln!("{e}");
                return Ok(None);
            }
        };
        match import::service_spec(&sjson, args.name.as_deref()) {
            Ok(s) => svc = s,
            Err(problems) => {
                report(&sfile.display().to_string(), &problems);
                return Ok(None);
            }
        }
    } else {
        svc.spec.insert("desiredCount".into(), json!(1));
    }
    if svc.name.is_empty() {
        svc.name = args
            .name
            .clone()
            .or_else(|| td.get("family").and_then(Value::as_str).map(str::to_owned))
            .unwrap_or_else(|| "service".into());
    }
    let network = svc.network.take();
    let mut registry = Registry::default();
    let m = manifest(&svc, &td, &tags, &mut registry);
    if network.is_none() && td.get("networkMode").and_then(Value::as_str) == Some("awsvpc") {
        eprintln!(
            "note: an awsvpc task needs subnets: give --service-definition, or set network.subnets in {}",
            args.out.join(&args.env).join("environment.yaml").display()
        );
    }
    // ECS's own defaults where the files say nothing: the cluster named `default`, the region
    // of the registry or of the logs.
    let region = args
        .region
        .clone()
        .or_else(|| std::env::var("AWS_REGION").ok())
        .or_else(|| region_of(&td))
        .unwrap_or_else(|| "us-east-1".into());
    let env = import::environment_manifest(
        &args.env,
        Some(svc.cluster.as_deref().unwrap_or("default")),
        Some(&region),
        &registry,
        network.as_ref(),
    );
    Ok(Some((vec![(svc.name.clone(), m)], env)))
}

/// The scalable targets of the imported services, by service name, with their policies and
/// scheduled actions (listed only when one exists).
async fn scalable_targets(
    api: &SdkApi,
    cluster: &str,
    imported: &[(ImportedService, Map<String, Value>, Vec<Value>)],
) -> Result<std::collections::BTreeMap<String, LiveScalableTarget>, ferry_ecs::ApiError> {
    let ids: Vec<String> = imported
        .iter()
        .map(|(s, _, _)| autoscaling::resource_id(cluster, &s.name))
        .collect();
    let mut targets = std::collections::BTreeMap::new();
    for batch in ids.chunks(50) {
        for t in api.describe_scalable_targets(batch).await? {
            if let Some(name) = autoscaling::service_of(cluster, &t.resource_id) {
                targets.insert(name.to_owned(), t);
            }
        }
    }
    if targets.is_empty() {
        return Ok(targets);
    }
    let mut token = None;
    loop {
        let (policies, next) = api.describe_scaling_policies(token).await?;
        for p in policies {
            if let Some(t) =
                autoscaling::service_of(cluster, &p.resource_id).and_then(|n| targets.get_mut(n))
            {
                t.policies.push(p);
            }
        }
        token = next.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    let mut token = None;
    loop {
        let (actions, next) = api.describe_scheduled_actions(token).await?;
        for a in actions {
            if let Some(t) =
                autoscaling::service_of(cluster, &a.resource_id).and_then(|n| targets.get_mut(n))
            {
                t.scheduled_actions.push(a);
            }
        }
        token = next.filter(|t| !t.is_empty());
        if token.is_none() {
            break;
        }
    }
    Ok(targets)
}

/// The region a task definition names (its ECR images, its awslogs region).
fn region_of(td: &Map<String, Value>) -> Option<String> {
    let containers = td.get("containerDefinitions")?.as_array()?;
    containers.iter().find_map(|c| {
        c.get("image")
            .and_then(Value::as_str)
            .and_then(import::ecr_image)
            .and_then(|(host, _, _)| host.split('.').nth(3).map(str::to_owned))
            .or_else(|| {
                c.pointer("/logConfiguration/options/awslogs-region")
                    .and_then(Value::as_str)
                    .filter(|r| !r.contains("${"))
                    .map(str::to_owned)
            })
    })
}

/// A failed AWS call as one line with its cause and fix (the same diagnosis as `ferry plan`).
async fn explained(
    settings: &AwsSettings,
    cluster: &str,
    err: ferry_ecs::ApiError,
) -> anyhow::Error {
    let diagnosis = match settings.role {
        None => ferry_ecs::diagnose::diagnose(settings, Some(cluster)).await,
        // It would sign with Ferry's own chain, in another account than the role's.
        Some(_) => None,
    };
    match diagnosis {
        Some(problem) => anyhow::anyhow!("{problem}"),
        None => anyhow::anyhow!("{}", ferry_ecs::diagnose::scrub(&err.to_string(), &[])),
    }
}

async fn live(args: &ImportArgs) -> anyhow::Result<Written> {
    let settings = AwsSettings {
        region: args
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok()),
        account_id: args.account_id.clone().or_else(|| {
            let arn = args.role_arn.as_deref()?;
            ferry_core::account::role_account(arn).map(str::to_owned)
        }),
        role: args.role_arn.clone().map(|arn| ferry_ecs::AssumeRole {
            arn,
            external_id: args.external_id.clone(),
            session_name: None,
            duration: None,
        }),
        ..AwsSettings::default()
    };
    let cluster = args.cluster.clone().unwrap_or_default();
    // The account first: nothing is read from another one.
    if let Some(problem) = crate::aws::account_problem(&settings).await {
        return Err(problem);
    }
    match read_live(args, &settings, &cluster).await {
        Ok(w) => Ok(w),
        Err(e) => Err(explained(&settings, &cluster, e).await),
    }
}

async fn read_live(
    args: &ImportArgs,
    settings: &AwsSettings,
    cluster: &str,
) -> Result<Written, ferry_ecs::ApiError> {
    let api = SdkApi::connect(settings).await;
    let ecs = api.ecs_client();
    let mut names = args.services.clone();
    if names.is_empty() {
        let mut token = None;
        loop {
            let out = ecs
                .list_services()
                .cluster(cluster)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| ferry_ecs::sdk::api_error("ListServices", e))?;
            names.extend(
                out.service_arns()
                    .iter()
                    .map(|a| a.rsplit('/').next().unwrap_or(a).to_owned()),
            );
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                break;
            }
        }
    }
    let mut imported = Vec::new();
    let mut failed = false;
    let mut registry = Registry::default();
    let mut networks = Vec::new();
    for chunk in names.chunks(10) {
        let out = ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(chunk.to_vec()))
            .include(aws_sdk_ecs::types::ServiceField::Tags)
            .send()
            .await
            .map_err(|e| ferry_ecs::sdk::api_error("DescribeServices", e))?;
        for f in out.failures() {
            eprintln!(
                "service {}: {}",
                f.arn().unwrap_or_default(),
                f.reason().unwrap_or("not found")
            );
            failed = true;
        }
        for s in out.services() {
            if s.status() != Some("ACTIVE") {
                continue;
            }
            let name = s.service_name().unwrap_or_default().to_owned();
            let mut sjson = s.to_json();
            // What DescribeServices leaves out is on the PRIMARY deployment.
            if let Some(d) = s
                .deployments()
                .iter()
                .find(|d| d.status() == Some("PRIMARY"))
                && let Some(o) = sjson.as_object_mut()
            {
                if let Some(sc) = d.service_connect_configuration() {
                    o.insert("serviceConnectConfiguration".into(), sc.to_json());
                }
                if !d.volume_configurations().is_empty() {
                    o.insert(
                        "volumeConfigurations".into(),
                        d.volume_configurations().to_vec().to_json(),
                    );
                }
            }
            let svc = match import::service_spec(&sjson, Some(&name)) {
                Ok(svc) => svc,
                Err(problems) => {
                    report(&format!("service {name}"), &problems);
                    failed = true;
                    continue;
                }
            };
            let arn = s.task_definition().unwrap_or_default();
            let td_out = ecs
                .describe_task_definition()
                .task_definition(arn)
                .include(aws_sdk_ecs::types::TaskDefinitionField::Tags)
                .send()
                .await
                .map_err(|e| ferry_ecs::sdk::api_error("DescribeTaskDefinition", e))?;
            let td_json = json!({
                "taskDefinition": td_out.task_definition().map(ToJson::to_json).unwrap_or(Value::Null),
                "tags": td_out.tags().to_vec().to_json(),
            });
            let (td, tags) = match import::task_definition_json(&td_json) {
                Ok(x) => x,
                Err(problems) => {
                    report(&format!("task definition {arn}"), &problems);
                    failed = true;
                    continue;
                }
            };
            networks.push(svc.network.clone());
            imported.push((svc, td, tags));
        }
    }
    if failed {
        eprintln!("nothing written: fix or leave out (--service) the services above");
        return Ok(None);
    }
    let short = cluster.rsplit('/').next().unwrap_or(cluster);
    let mut scaling = scalable_targets(&api, short, &imported).await?;
    for (svc, _, _) in &mut imported {
        let Some(target) = scaling.remove(&svc.name) else {
            continue;
        };
        match import::autoscaling_spec(&target) {
            Ok(spec) => {
                svc.spec.insert("autoscaling".into(), spec);
            }
            Err(why) => eprintln!(
                "note: {}: its autoscaling is left out because {why}; Ferry leaves a scalable target its manifest does not declare alone",
                svc.name
            ),
        }
    }
    // The network every service shares goes to the Environment.
    let shared = networks
        .first()
        .cloned()
        .flatten()
        .filter(|n| networks.iter().all(|m| m.as_ref() == Some(n)));
    let mut services = Vec::new();
    for (mut svc, td, tags) in imported {
        let network = svc.network.take();
        if shared.is_none()
            && let Some(n) = network
        {
            svc.spec.insert("network".into(), n);
        }
        let m = manifest(&svc, &td, &tags, &mut registry);
        services.push((svc.name.clone(), m));
    }
    let region = settings.region.clone();
    let env = import::environment_manifest(
        &args.env,
        Some(cluster),
        region.as_deref(),
        &registry,
        shared.as_ref(),
    );
    Ok(Some((services, env)))
}
