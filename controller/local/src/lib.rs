//! The local platform: an environment with `platform: local` runs each container of each
//! service as a supervised child process (the command the Environment maps its image to),
//! with its environment, a working folder that survives restarts, and a log file.
//!
//! It speaks the same [`Platform`] contract as ECS, so the same manifests, diff and plan drive
//! it: observe reports the running task definitions, apply (re)starts processes.
//!
//! Health: a container's `healthCheck.http`, else the Environment's `healthPath` for its image
//! (HTTP 2xx on the first port), else its `healthCheck.command` run locally (ECS semantics),
//! else the port accepting connections, else the process running. Limits, said plainly in
//! health messages: one copy per service (desiredCount > 1 is capped at 1, since ports are
//! fixed); secrets are not resolved.

mod supervisor;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferry_core::autoscaling::LiveScalableTarget;
use ferry_core::kinds::ContainerSpec;
use ferry_core::live::{LiveRepository, LiveService};
use ferry_core::load::DesiredState;
use ferry_core::plan::{Op, Plan, ResourceKey, ResourceKind};
use ferry_core::platform::{
    ApplyOptions, HealthCode, Observed, Platform, PlatformError, ResourceHealth, ResourceResult,
    ResultCode, Rollout,
};
use ferry_core::render::{
    Digests, Rendered, RenderedService, RenderedTask, TaskDefinition, render,
};
use supervisor::{ProcessSpec, Supervised};

/// Where the local platform keeps things.
#[derive(Clone, Debug)]
pub struct LocalOptions {
    /// Folder that relative commands and working folders are resolved against (the repository).
    pub base_dir: PathBuf,
    /// Folder for data, logs and the PID list.
    pub state_dir: PathBuf,
}

/// A running service.
struct RunningService {
    rendered: RenderedService,
    revision: String,
    processes: Vec<(String, Supervised)>,
    started: Instant,
}

/// The local platform.
pub struct LocalPlatform {
    options: LocalOptions,
    services: tokio::sync::Mutex<BTreeMap<(String, String), RunningService>>,
    pids: Arc<Mutex<BTreeSet<u32>>>,
}

impl std::fmt::Debug for LocalPlatform {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LocalPlatform")
            .field("options", &self.options)
            .finish_non_exhaustive()
    }
}

impl LocalPlatform {
    /// A platform rooted at `options`. Process groups recorded by an earlier run that did not
    /// shut down cleanly are killed first, so a restart never doubles the processes.
    pub fn new(options: LocalOptions) -> Self {
        let pid_file = options.state_dir.join("pids.json");
        if let Ok(text) = std::fs::read_to_string(&pid_file) {
            for pid in serde_json::from_str::<Vec<u32>>(&text).unwrap_or_default() {
                supervisor::kill_leftover(pid);
            }
            let _ = std::fs::remove_file(&pid_file);
        }
        Self {
            options,
            services: tokio::sync::Mutex::new(BTreeMap::new()),
            pids: Arc::new(Mutex::new(BTreeSet::new())),
        }
    }

    /// Stop every process (SIGTERM, then SIGKILL after a grace period).
    pub async fn shutdown(&self) {
        let mut services = self.services.lock().await;
        for (_, running) in std::mem::take(&mut *services) {
            stop_all(running.processes).await;
        }
        if let Ok(mut pids) = self.pids.lock() {
            pids.clear();
        }
        let _ = std::fs::remove_file(self.options.state_dir.join("pids.json"));
    }

    /// Stop every process of environment `env` (SIGTERM, then SIGKILL after a grace period):
    /// another Ferry replica took the environment over and starts its own.
    pub async fn stop_environment(&self, env: &str) {
        let stopped: Vec<RunningService> = {
            let mut services = self.services.lock().await;
            let keys: Vec<(String, String)> =
                services.keys().filter(|(e, _)| e == env).cloned().collect();
            keys.iter().filter_map(|k| services.remove(k)).collect()
        };
        for running in stopped {
            stop_all(running.processes).await;
        }
    }

    /// PIDs of every process currently running (for tests and status).
    pub async fn pids(&self) -> BTreeMap<String, u32> {
        let services = self.services.lock().await;
        services
            .iter()
            .flat_map(|((_, name), running)| {
                running.processes.iter().filter_map(move |(container, p)| {
                    p.status()
                        .pid
                        .map(|pid| (format!("{name}/{container}"), pid))
                })
            })
            .collect()
    }

    /// Log file of one container.
    pub fn log_file(&self, env: &str, service: &str, container: &str) -> PathBuf {
        self.options
            .state_dir
            .join(env)
            .join("logs")
            .join(format!("{service}-{container}.log"))
    }

    fn record_pid(&self) -> Arc<dyn Fn(u32) + Send + Sync> {
        let pids = self.pids.clone();
        let file = self.options.state_dir.join("pids.json");
        Arc::new(move |pid| {
            if let Ok(mut set) = pids.lock() {
                set.insert(pid);
                let _ = std::fs::create_dir_all(file.parent().unwrap_or(Path::new(".")));
                let _ = std::fs::write(&file, serde_json::to_string(&*set).unwrap_or_default());
            }
        })
    }

    /// `rel` under the repository, refused when it would leave it (`..`, an absolute path, or
    /// a link that resolves outside). Validation refuses the first two already.
    fn inside_repository(&self, rel: &str) -> Result<PathBuf, String> {
        let refuse = || {
            format!(
                "`{}` leaves the repository; local commands and working folders stay inside it",
                ferry_core::printable::escape(rel)
            )
        };
        if !ferry_core::load::is_plain_relative(rel) {
            return Err(refuse());
        }
        let path = self.options.base_dir.join(rel);
        if let (Ok(base), Ok(real)) = (self.options.base_dir.canonicalize(), path.canonicalize())
            && !real.starts_with(&base)
        {
            return Err(refuse());
        }
        Ok(path)
    }

    fn process_specs(
        &self,
        desired: &DesiredState,
        svc: &RenderedService,
    ) -> Result<Vec<(String, ProcessSpec)>, String> {
        let containers = desired
            .services
            .get(&svc.name)
            .map(|s| s.spec.task_definition.containers.as_slice())
            .unwrap_or_default();
        self.container_processes(
            desired,
            &svc.name,
            &svc.name,
            &svc.register_task_definition,
            containers,
        )
    }

    /// A process per container of `td` (`containers` are their manifest specs, in order),
    /// logging under `name` and keeping data in the folder of service `data` and the
    /// container's name (a pre-deploy task's container shares it with the service container
    /// of the same name, as an ECS task would share a volume). The Environment's local command
    /// is the image's entry point; the container's `command` is appended as its arguments.
    fn container_processes(
        &self,
        desired: &DesiredState,
        name: &str,
        data: &str,
        td: &TaskDefinition,
        containers: &[ContainerSpec],
    ) -> Result<Vec<(String, ProcessSpec)>, String> {
        let env = &desired.env;
        let local = desired.environment.spec.local.clone().unwrap_or_default();
        let mut specs = Vec::new();
        for (i, c) in td.container_definitions.iter().enumerate() {
            let container_spec = containers.get(i);
            let image = container_spec.map_or(c.image.as_str(), |spec| spec.image.as_str());
            // An HTTP check in the manifest wins; else the Environment's healthPath on the first port.
            let http_check = container_spec
                .and_then(|spec| spec.health_check.as_ref())
                .and_then(|h| h.http.clone());
            let cmd = local
                .commands
                .get(image)
                .ok_or_else(|| format!("no local command for image `{image}`"))?;
            let mut command = cmd.command.clone();
            command.extend(c.command.iter().cloned());
            if let Some(program) = command.first_mut()
                && program.contains('/')
            {
                *program = self.inside_repository(program)?.display().to_string();
            }
            let working_dir = match &cmd.working_dir {
                Some(dir) => self.inside_repository(dir)?,
                None => self
                    .options
                    .state_dir
                    .join(env)
                    .join("data")
                    .join(data)
                    .join(&c.name),
            };
            let port = c.port_mappings.first().map(|p| p.container_port);
            let mut vars: Vec<(String, String)> = c
                .environment
                .iter()
                .map(|kv| (kv.name.clone(), kv.value.clone()))
                .collect();
            if let Some(port) = port
                && !vars.iter().any(|(k, _)| k == "LISTEN_ADDR")
            {
                vars.push(("LISTEN_ADDR".into(), format!("127.0.0.1:{port}")));
            }
            specs.push((
                c.name.clone(),
                ProcessSpec {
                    command,
                    env: vars,
                    working_dir,
                    log_file: self.log_file(env, name, &c.name),
                    port: http_check.as_ref().map(|h| h.port).or(port),
                    health_path: http_check
                        .map(|h| h.path)
                        .or_else(|| cmd.health_path.clone()),
                    health_command: container_spec
                        .and_then(|spec| spec.health_check.as_ref())
                        .map(|h| h.command.clone())
                        .filter(|c| !c.is_empty()),
                },
            ));
        }
        Ok(specs)
    }

    /// Run a pre-deploy task of `service` to its end, one process per container: Ok when
    /// every essential one exits 0 within the task's timeout.
    async fn run_pre_deploy(
        &self,
        desired: &DesiredState,
        service: &str,
        task: &RenderedTask,
    ) -> Result<String, String> {
        let containers = desired
            .services
            .get(service)
            .and_then(|s| s.spec.pre_deploy.iter().find(|t| t.name == task.name))
            .map(|t| t.task_definition.containers.as_slice())
            .unwrap_or_default();
        let name = format!("{service}-{}", task.name);
        let td = &task.register_task_definition;
        let specs = self.container_processes(desired, &name, service, td, containers)?;
        let deadline = Instant::now() + Duration::from_secs(task.timeout_seconds);
        let runs = specs
            .iter()
            .map(|(_, spec)| supervisor::run_to_end(spec, deadline));
        let ends = futures::future::join_all(runs).await;
        let mut problems = Vec::new();
        for ((container, spec), end) in specs.iter().zip(ends) {
            let essential = td
                .container_definitions
                .iter()
                .find(|c| &c.name == container)
                .is_none_or(|c| c.essential != Some(false));
            match end {
                Ok(0) => {}
                _ if !essential => {}
                Ok(code) => problems.push(format!(
                    "container `{container}` exited with code {code}; logs: {}",
                    spec.log_file.display()
                )),
                Err(e) => problems.push(format!("container `{container}`: {e}")),
            }
        }
        if problems.is_empty() {
            Ok("exited 0".into())
        } else {
            Err(problems.join("; "))
        }
    }

    async fn start_service(
        &self,
        desired: &DesiredState,
        svc: &RenderedService,
    ) -> Result<(), String> {
        let specs = self.process_specs(desired, svc)?;
        let key = (desired.env.clone(), svc.name.clone());
        let mut services = self.services.lock().await;
        // Ports are fixed, so the old processes stop before the new ones start.
        if let Some(old) = services.remove(&key) {
            stop_all(old.processes).await;
        }
        let processes = specs
            .into_iter()
            .map(|(name, spec)| (name, Supervised::start(spec, self.record_pid())))
            .collect();
        services.insert(
            key,
            RunningService {
                rendered: svc.clone(),
                revision: revision(svc),
                processes,
                started: Instant::now(),
            },
        );
        Ok(())
    }

    async fn wait_healthy(&self, env: &str, name: &str, timeout: Duration) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        loop {
            let health = {
                let services = self.services.lock().await;
                services
                    .get(&(env.to_owned(), name.to_owned()))
                    .map(service_health)
            };
            match health {
                Some(h) if h.code == HealthCode::Healthy => return Ok(()),
                Some(h) if h.code == HealthCode::Degraded => return Err(h.message),
                None => return Err("not running".into()),
                Some(h) if Instant::now() >= deadline => {
                    return Err(format!("not healthy after {timeout:?}: {}", h.message));
                }
                Some(_) => tokio::time::sleep(Duration::from_millis(200)).await,
            }
        }
    }
}

async fn stop_all(processes: Vec<(String, Supervised)>) {
    let stops = processes.into_iter().map(|(_, p)| p.stop());
    for stop in stops {
        stop.await;
    }
}

/// A content hash of what a service runs (its task definition and service settings).
fn revision(svc: &RenderedService) -> String {
    use std::hash::{Hash, Hasher};
    let text = serde_json::to_string(&(&svc.register_task_definition, &svc.create_service))
        .unwrap_or_default();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    text.hash(&mut h);
    format!("{:016x}", h.finish())
}

fn service_health(running: &RunningService) -> ResourceHealth {
    let statuses: Vec<(String, supervisor::ProcessStatus)> = running
        .processes
        .iter()
        .map(|(n, p)| (n.clone(), p.status()))
        .collect();
    let crash = statuses.iter().find(|(_, s)| s.quick_failures >= 2);
    let unhealthy: Vec<&str> = statuses
        .iter()
        .filter(|(_, s)| !s.healthy)
        .map(|(n, _)| n.as_str())
        .collect();
    let desired = running.rendered.create_service.desired_count.unwrap_or(1);
    let mut cap = if desired > 1 {
        format!(" (desiredCount {desired} capped at 1 locally)")
    } else {
        String::new()
    };
    if running.rendered.autoscaling.is_some() {
        cap.push_str(" (autoscaling ignored locally: the local platform runs one copy)");
    }
    let (code, message) = if let Some((name, s)) = crash {
        (
            HealthCode::Degraded,
            format!(
                "container `{name}` is crash-looping ({} restarts): {}",
                s.restarts,
                s.last_exit.clone().unwrap_or_default()
            ),
        )
    } else if desired == 0 {
        (HealthCode::Healthy, "scaled to 0".into())
    } else if unhealthy.is_empty() {
        (
            HealthCode::Healthy,
            format!("all {} containers healthy{cap}", statuses.len()),
        )
    } else {
        let waited = running.started.elapsed().as_secs();
        (
            HealthCode::Progressing,
            format!(
                "waiting for {} to become healthy ({waited}s){cap}",
                unhealthy.join(", ")
            ),
        )
    };
    ResourceHealth {
        code,
        message,
        live_revision: Some(running.revision.clone()),
        images: running
            .rendered
            .register_task_definition
            .container_definitions
            .iter()
            .map(|c| (c.name.clone(), c.image.clone()))
            .collect(),
        running: u32::from(statuses.iter().all(|(_, s)| s.pid.is_some()) && !statuses.is_empty()),
        desired: desired.min(1),
        ..ResourceHealth::default()
    }
}

impl Platform for LocalPlatform {
    async fn observe(&self, desired: &DesiredState) -> Result<Observed, PlatformError> {
        let rendered = render(desired, &Digests::new());
        let mut observed = Observed::default();
        // Images are local commands: repositories always "exist" as declared.
        for repo in &rendered.repositories {
            let c = &repo.create_repository;
            observed.actual.repositories.insert(
                repo.name.clone(),
                LiveRepository {
                    repository_name: repo.name.clone(),
                    image_tag_mutability: c.image_tag_mutability.clone(),
                    image_scanning_configuration: c.image_scanning_configuration.clone(),
                    encryption_configuration: Some(c.encryption_configuration.clone()),
                    tags: c.tags.clone(),
                    lifecycle_policy_text: repo
                        .put_lifecycle_policy
                        .as_ref()
                        .map(|p| p.lifecycle_policy_text.clone()),
                    ..LiveRepository::default()
                },
            );
        }
        let services = self.services.lock().await;
        for ((env, name), running) in services.iter() {
            if env != &desired.env {
                continue;
            }
            let arn = format!(
                "local:{}:{}",
                running.rendered.register_task_definition.family, running.revision
            );
            observed.actual.task_definitions.insert(
                arn.clone(),
                running.rendered.register_task_definition.clone(),
            );
            observed
                .actual
                .services
                .insert(name.clone(), live_service(&running.rendered, arn));
            // Autoscaling is not run locally: it "exists" as declared, so it never plans.
            if let Some(a) = &running.rendered.autoscaling {
                observed
                    .actual
                    .scalable_targets
                    .insert(name.clone(), LiveScalableTarget::as_rendered(a));
            }
            observed
                .health
                .insert(name.clone(), service_health(running));
        }
        for name in desired.services.keys() {
            observed
                .health
                .entry(name.clone())
                .or_insert_with(|| ResourceHealth {
                    code: HealthCode::Missing,
                    message: "not running".into(),
                    ..ResourceHealth::default()
                });
        }
        Ok(observed)
    }

    async fn apply(
        &self,
        desired: &DesiredState,
        rendered: &Rendered,
        plan: &Plan,
        options: &ApplyOptions,
    ) -> Vec<ResourceResult> {
        let mut results = Vec::new();
        // Services whose pre-deploy task failed (service → task): left untouched.
        let mut failed_tasks: BTreeMap<String, String> = BTreeMap::new();
        for change in &plan.changes {
            let result = |code, message: String| ResourceResult {
                key: change.key.clone(),
                op: change.op,
                code,
                message,
                rollout: None,
            };
            let outcome = match (change.key.kind, change.op) {
                (ResourceKind::EcrRepository, _) => result(
                    ResultCode::Synced,
                    "local platform: images are local commands".into(),
                ),
                (ResourceKind::ScalableTarget, _) => result(
                    ResultCode::Synced,
                    "local platform: autoscaling is ignored (one process per container)".into(),
                ),
                (ResourceKind::TaskDefinition, _) => result(
                    ResultCode::Synced,
                    "recorded; starts with its service".into(),
                ),
                (ResourceKind::PreDeployTask, _) => {
                    let (service, task) = change.key.name.split_once('/').unwrap_or_default();
                    let found = rendered
                        .services
                        .iter()
                        .find(|s| s.name == service)
                        .and_then(|s| s.pre_deploy.iter().find(|t| t.name == task));
                    match found {
                        None => result(ResultCode::Failed, "not in the rendered state".into()),
                        Some(t) => match self.run_pre_deploy(desired, service, t).await {
                            Ok(m) => result(ResultCode::Synced, m),
                            Err(e) => {
                                failed_tasks.insert(service.to_owned(), task.to_owned());
                                result(ResultCode::Failed, e)
                            }
                        },
                    }
                }
                (ResourceKind::EcsService, _)
                    if let Some(task) = failed_tasks.get(&change.key.name) =>
                {
                    result(
                        ResultCode::Failed,
                        format!("pre-deploy task `{task}` failed, the service was not touched"),
                    )
                }
                (ResourceKind::EcsService, Op::Prune) => {
                    let running = self
                        .services
                        .lock()
                        .await
                        .remove(&(desired.env.clone(), change.key.name.clone()));
                    if let Some(running) = running {
                        stop_all(running.processes).await;
                    }
                    result(ResultCode::Synced, "stopped".into())
                }
                (ResourceKind::EcsService, _) => {
                    match rendered.services.iter().find(|s| s.name == change.key.name) {
                        None => result(ResultCode::Failed, "not in the rendered state".into()),
                        Some(svc) => match self.start_service(desired, svc).await {
                            Err(e) => result(ResultCode::Failed, e),
                            Ok(()) if options.wait => match self
                                .wait_healthy(&desired.env, &svc.name, options.timeout)
                                .await
                            {
                                Ok(()) => result(ResultCode::Synced, "started; healthy".into()),
                                Err(e) => result(ResultCode::Failed, e),
                            },
                            Ok(()) => ResourceResult {
                                rollout: Some(Rollout {
                                    service: svc.name.clone(),
                                    expected_revision: None,
                                }),
                                ..result(ResultCode::Synced, "started".into())
                            },
                        },
                    }
                }
            };
            results.push(outcome);
        }
        results
    }

    async fn follow(
        &self,
        desired: &DesiredState,
        rollouts: &[Rollout],
    ) -> Result<BTreeMap<String, ResourceHealth>, PlatformError> {
        let mut observed = self.observe(desired).await?;
        Ok(rollouts
            .iter()
            .map(|r| {
                let health = observed
                    .health
                    .remove(&r.service)
                    .unwrap_or(ResourceHealth {
                        code: HealthCode::Missing,
                        message: "not running".into(),
                        ..ResourceHealth::default()
                    });
                (r.service.clone(), health)
            })
            .collect())
    }

    async fn redeploy(
        &self,
        desired: &DesiredState,
        revisions: &BTreeMap<String, String>,
    ) -> Vec<ResourceResult> {
        revisions
            .keys()
            .map(|name| ResourceResult {
                key: ResourceKey {
                    env: desired.env.clone(),
                    kind: ResourceKind::EcsService,
                    name: name.clone(),
                },
                op: Op::Update,
                code: ResultCode::Failed,
                message: "the local platform keeps no earlier revisions to roll back to: revert the manifests instead".into(),
                rollout: None,
            })
            .collect()
    }

    async fn deployment_action(
        &self,
        _desired: &DesiredState,
        _service: &str,
        _action: ferry_core::platform::DeploymentAction,
    ) -> Result<String, PlatformError> {
        Err(PlatformError {
            transient: false,
            message: ferry_core::platform::NO_PROGRESSIVE_DEPLOYMENTS.into(),
            reason: None,
        })
    }
}

fn live_service(svc: &RenderedService, arn: String) -> LiveService {
    let c = &svc.create_service;
    LiveService {
        service_name: svc.name.clone(),
        status: "ACTIVE".into(),
        desired_count: c.desired_count.unwrap_or(1),
        task_definition: arn,
        launch_type: c.launch_type.clone(),
        capacity_provider_strategy: c.capacity_provider_strategy.clone(),
        network_configuration: c.network_configuration.clone(),
        load_balancers: c.load_balancers.clone(),
        deployment_configuration: Some(c.deployment_configuration.clone()),
        health_check_grace_period_seconds: c.health_check_grace_period_seconds,
        tags: c.tags.clone(),
        // ECS-only settings the local platform does not act on, reported as declared so they
        // are never drift here.
        enable_execute_command: c.enable_execute_command,
        placement_constraints: c.placement_constraints.clone(),
        placement_strategy: c.placement_strategy.clone(),
        service_registries: c.service_registries.clone(),
        service_connect_configuration: c.service_connect_configuration.clone(),
        ..LiveService::default()
    }
}
