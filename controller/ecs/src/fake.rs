//! An in-process ECS/ECR behind [`EcsApi`], for what an emulator cannot do: rollouts that
//! complete, fail, roll back (deployment circuit breaker) or hang. Deterministic: a rollout
//! settles after a set number of `DescribeServices` polls, as scripted per service.
//! Not a general AWS emulator: tests of the real API run against moto.

use std::collections::BTreeMap;
use std::sync::Mutex;

use ferry_core::autoscaling::{
    LiveScalableTarget, PutScalingPolicy, PutScheduledAction, RegisterScalableTarget,
};
use ferry_core::live::{LiveDeployment, LiveRepository, LiveService};
use ferry_core::render::{
    CreateRepository, CreateService, ImageScanningConfiguration, RunTask, Tag, TagOut,
    TaskDefinition, UpdateService,
};

use crate::api::{
    ApiError, ApiResult, EcsApi, LiveContainer, LiveHook, LiveServiceDeployment, LiveTask,
};
use crate::autoscaling::{AutoscalingApi, Page};

const ACCOUNT: &str = "arn:aws:ecs:us-east-1:000000000000";

/// How the next rollout of a service ends.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Rollout {
    /// `rolloutState` COMPLETED with every task running.
    #[default]
    Complete,
    /// `rolloutState` FAILED with this reason, no rollback.
    Fail(String),
    /// The circuit breaker fails the deployment and ECS rolls back to the previous revision.
    Rollback(String),
    /// Stays IN_PROGRESS for ever.
    Hang,
}

/// How the next runs of a one-off task (by task definition family) end.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TaskOutcome {
    /// Every container exits with this code after a set number of `DescribeTasks` polls.
    Exit(i32),
    /// Runs for ever (until `StopTask`).
    Hang,
}

impl Default for TaskOutcome {
    fn default() -> Self {
        Self::Exit(0)
    }
}

#[derive(Debug, Default)]
struct State {
    /// One-off tasks by ARN, with the polls left before they stop.
    tasks: BTreeMap<String, (LiveTask, u32, TaskOutcome)>,
    /// Scripted outcomes of one-off tasks by family.
    task_outcomes: BTreeMap<String, TaskOutcome>,
    /// Families of the tasks run, in order.
    task_runs: Vec<String>,
    clusters: Vec<String>,
    services: BTreeMap<String, LiveService>,
    task_definitions: BTreeMap<String, TaskDefinition>,
    revisions: BTreeMap<String, Vec<(u32, bool)>>,
    repositories: BTreeMap<String, LiveRepository>,
    images: BTreeMap<String, String>,
    outcomes: BTreeMap<String, Rollout>,
    /// Polls left before the in-progress deployment of a service settles.
    settling: BTreeMap<String, u32>,
    deployments: u64,
    /// List task definitions in a scrambled order (ECS promises no particular order).
    scrambled: bool,
    /// Application Auto Scaling targets (with policies and actions) by resource id.
    scalable_targets: BTreeMap<String, LiveScalableTarget>,
    /// Service deployments of services with a blue/green, canary or linear strategy.
    progressive: BTreeMap<String, Progressive>,
    /// `DescribeServices` polls a bake minute lasts (at least 1).
    polls_per_minute: u32,
    /// CloudWatch samples by (namespace, metric name, dimensions), see `FakeEcs::set_metric`.
    metrics: BTreeMap<(String, String, BTreeMap<String, String>), Vec<f64>>,
}

/// A blue/green, canary or linear service deployment in the fake: a list of lifecycle stages
/// (with the production traffic of the new revision and the polls each lasts), walked one
/// `DescribeServices` poll at a time.
#[derive(Clone, Debug, Default)]
struct Progressive {
    deployment: LiveServiceDeployment,
    stages: Vec<(&'static str, f64, u32)>,
    index: usize,
    polls_left: u32,
    /// Stages with a `PAUSE` hook.
    pauses: Vec<String>,
    /// The revision to roll back to.
    previous: String,
    /// The scripted outcome of this deployment.
    outcome: Rollout,
}

/// The fake. Cluster names are checked; everything else lives in one account and region.
#[derive(Debug, Default)]
pub struct FakeEcs {
    state: Mutex<State>,
    polls_to_settle: u32,
}

fn poisoned(operation: &'static str) -> ApiError {
    ApiError {
        operation,
        code: None,
        message: "fake state lock poisoned".into(),
        transient: false,
    }
}

impl FakeEcs {
    /// A fake with these clusters; rollouts settle after `polls_to_settle` describes.
    pub fn new(clusters: &[&str], polls_to_settle: u32) -> Self {
        Self {
            state: Mutex::new(State {
                clusters: clusters.iter().map(|c| (*c).to_owned()).collect(),
                ..State::default()
            }),
            polls_to_settle,
        }
    }

    /// Script how the next rollouts of `service` end.
    pub fn set_rollout(&self, service: &str, outcome: Rollout) {
        if let Ok(mut s) = self.state.lock() {
            s.outcomes.insert(service.to_owned(), outcome);
        }
    }

    /// Script how the next one-off tasks of task definition `family` end.
    pub fn set_task(&self, family: &str, outcome: TaskOutcome) {
        if let Ok(mut s) = self.state.lock() {
            s.task_outcomes.insert(family.to_owned(), outcome);
        }
    }

    /// Families of the one-off tasks run so far, in order.
    pub fn task_runs(&self) -> Vec<String> {
        self.state
            .lock()
            .map(|s| s.task_runs.clone())
            .unwrap_or_default()
    }

    /// From now on, list task definitions in a scrambled (but deterministic) order.
    pub fn scramble_listings(&self) {
        if let Ok(mut s) = self.state.lock() {
            s.scrambled = true;
        }
    }

    /// Put an image `repository:tag` with `digest` in the registry (the repository must exist).
    pub fn push_image(&self, repository: &str, tag: &str, digest: &str) {
        if let Ok(mut s) = self.state.lock() {
            s.images
                .insert(format!("{repository}:{tag}"), digest.to_owned());
        }
    }

    /// A service as `DescribeServices` would show it (without advancing rollouts).
    pub fn service(&self, name: &str) -> Option<LiveService> {
        self.state.lock().ok()?.services.get(name).cloned()
    }

    /// ACTIVE revision numbers of `family`, oldest first.
    pub fn active_revisions(&self, family: &str) -> Vec<u32> {
        self.state
            .lock()
            .map(|s| {
                s.revisions
                    .get(family)
                    .map(|r| r.iter().filter(|(_, a)| *a).map(|(n, _)| *n).collect())
                    .unwrap_or_default()
            })
            .unwrap_or_default()
    }

    fn check_cluster(s: &State, operation: &'static str, cluster: &str) -> ApiResult<()> {
        if s.clusters.iter().any(|c| c == cluster) {
            Ok(())
        } else {
            Err(ApiError::refused(
                operation,
                "ClusterNotFoundException",
                "Cluster not found.",
            ))
        }
    }

    /// From now on, a bake minute of a blue/green, canary or linear deployment lasts `polls`
    /// `DescribeServices` polls (default 1).
    pub fn set_polls_per_minute(&self, polls: u32) {
        if let Ok(mut s) = self.state.lock() {
            s.polls_per_minute = polls.max(1);
        }
    }

    fn start_deployment(&self, s: &mut State, name: &str) {
        let previous = s
            .services
            .get(name)
            .and_then(|svc| svc.deployments.first())
            .map(|d| d.task_definition.clone())
            .unwrap_or_default();
        self.start_rolling(s, name);
        Self::start_progressive(s, name, previous);
    }

    fn start_progressive(s: &mut State, name: &str, previous: String) {
        let ppm = s.polls_per_minute.max(1);
        let outcome = s.outcomes.get(name).cloned().unwrap_or_default();
        let n = s.deployments;
        let Some(svc) = s.services.get(name) else {
            return;
        };
        let Some(conf) = svc.deployment_configuration.as_ref().map(|d| &d.strategy) else {
            return;
        };
        let strategy = conf.strategy.clone().unwrap_or_else(|| "ROLLING".into());
        if strategy == "ROLLING" {
            s.progressive.remove(name);
            return;
        }
        let minutes = |m: i32| u32::try_from(m).unwrap_or(0).saturating_mul(ppm).max(1);
        let mut stages: Vec<(&'static str, f64, u32)> = vec![
            ("PRE_SCALE_UP", 0.0, 1),
            ("SCALE_UP", 0.0, 1),
            ("POST_SCALE_UP", 0.0, 1),
            ("TEST_TRAFFIC_SHIFT", 0.0, 1),
            ("POST_TEST_TRAFFIC_SHIFT", 0.0, 1),
        ];
        match strategy.as_str() {
            "CANARY" => {
                let c = conf.canary_configuration.clone().unwrap_or_default();
                stages.push((
                    "PRODUCTION_TRAFFIC_SHIFT",
                    c.canary_percent,
                    minutes(c.canary_bake_time_in_minutes),
                ));
                stages.push(("PRODUCTION_TRAFFIC_SHIFT", 100.0, 1));
            }
            "LINEAR" => {
                let l = conf.linear_configuration.clone().unwrap_or_default();
                let step = l.step_percent.max(1.0);
                let mut at = step;
                while at < 100.0 {
                    stages.push((
                        "PRODUCTION_TRAFFIC_SHIFT",
                        at,
                        minutes(l.step_bake_time_in_minutes),
                    ));
                    at += step;
                }
                stages.push(("PRODUCTION_TRAFFIC_SHIFT", 100.0, 1));
            }
            _ => stages.push(("PRODUCTION_TRAFFIC_SHIFT", 100.0, 1)),
        }
        stages.push(("POST_PRODUCTION_TRAFFIC_SHIFT", 100.0, 1));
        stages.push((
            "BAKE_TIME",
            100.0,
            minutes(conf.bake_time_in_minutes.unwrap_or(0)),
        ));
        stages.push(("CLEAN_UP", 100.0, 1));
        let pauses = conf
            .lifecycle_hooks
            .iter()
            .filter(|h| h.target_type == "PAUSE")
            .flat_map(|h| h.lifecycle_stages.clone())
            .collect();
        let deployment = LiveServiceDeployment {
            arn: format!("{ACCOUNT}:service-deployment/{name}/{n}"),
            status: "IN_PROGRESS".into(),
            lifecycle_stage: Some(stages[0].0.into()),
            strategy: Some(strategy),
            target_revision: Some(format!("{ACCOUNT}:service-revision/{name}/{n}")),
            production_traffic: Some(0.0),
            test_traffic: Some(0.0),
            requested_tasks: svc.desired_count,
            started_at: Some(std::time::SystemTime::now()),
            updated_at: Some(std::time::SystemTime::now()),
            ..LiveServiceDeployment::default()
        };
        let polls_left = stages[0].2;
        s.progressive.insert(
            name.to_owned(),
            Progressive {
                deployment,
                stages,
                index: 0,
                polls_left,
                pauses,
                previous,
                outcome,
            },
        );
        // The deployment's outcome is the stage machine's, not the rolling one's.
        s.settling.remove(name);
    }

    /// One poll of a progressive deployment.
    fn advance_progressive(s: &mut State, name: &str) {
        let Some(p) = s.progressive.get_mut(name) else {
            return;
        };
        let d = &mut p.deployment;
        match d.status.as_str() {
            "ROLLBACK_REQUESTED" => {
                d.status = "ROLLBACK_IN_PROGRESS".into();
                return;
            }
            "ROLLBACK_IN_PROGRESS" => {
                d.status = "ROLLBACK_SUCCESSFUL".into();
                d.production_traffic = Some(0.0);
                d.lifecycle_stage = None;
                let reason = d
                    .rollback_reason
                    .clone()
                    .unwrap_or_else(|| "rolled back".into());
                let previous = p.previous.clone();
                if let Some(svc) = s.services.get_mut(name) {
                    let mut old = svc.deployments.get(1).cloned().unwrap_or_default();
                    old.status = "PRIMARY".into();
                    old.rollout_state = Some("COMPLETED".into());
                    old.rollout_state_reason = Some(format!("Rolled back: {reason}"));
                    old.running_count = svc.desired_count;
                    if old.task_definition.is_empty() {
                        old.task_definition.clone_from(&previous);
                    }
                    svc.task_definition.clone_from(&old.task_definition);
                    svc.deployments = vec![old];
                    svc.running_count = svc.desired_count;
                }
                return;
            }
            "IN_PROGRESS" | "PENDING" => {}
            _ => return,
        }
        if p.outcome == Rollout::Hang {
            return;
        }
        if let Rollout::Rollback(reason) | Rollout::Fail(reason) = &p.outcome
            && p.stages[p.index].0 == "POST_SCALE_UP"
        {
            d.status = "ROLLBACK_REQUESTED".into();
            d.rollback_reason = Some(reason.clone());
            return;
        }
        let stage = p.stages[p.index].0;
        if p.pauses.iter().any(|x| x == stage) {
            let hook_id = format!("hook-{stage}");
            match d
                .hooks
                .iter()
                .find(|h| h.id == hook_id)
                .map(|h| h.status.clone())
            {
                None => {
                    d.hooks.push(LiveHook {
                        id: hook_id,
                        target_type: "PAUSE".into(),
                        status: "AWAITING_ACTION".into(),
                    });
                    return;
                }
                Some(status) if status == "AWAITING_ACTION" => return,
                Some(_) => {}
            }
        }
        if p.polls_left > 1 {
            p.polls_left -= 1;
            return;
        }
        p.index += 1;
        d.updated_at = Some(std::time::SystemTime::now());
        if p.index >= p.stages.len() {
            d.status = "SUCCESSFUL".into();
            d.lifecycle_stage = None;
            d.running_tasks = d.requested_tasks;
            if let Some(svc) = s.services.get_mut(name) {
                svc.deployments.truncate(1);
                if let Some(primary) = svc.deployments.first_mut() {
                    primary.rollout_state = Some("COMPLETED".into());
                    primary.rollout_state_reason = Some("ECS deployment completed.".into());
                    primary.running_count = svc.desired_count;
                }
                svc.running_count = svc.desired_count;
                // ECS swaps the roles of the two target groups once green is production.
                for lb in &mut svc.load_balancers {
                    if let Some(a) = lb.advanced_configuration.as_mut() {
                        std::mem::swap(&mut lb.target_group_arn, &mut a.alternate_target_group_arn);
                    }
                }
            }
            return;
        }
        let (stage, traffic, polls) = p.stages[p.index];
        d.lifecycle_stage = Some(stage.into());
        d.production_traffic = Some(traffic);
        if stage == "TEST_TRAFFIC_SHIFT" {
            d.test_traffic = Some(100.0);
        }
        if stage == "SCALE_UP" || stage == "POST_SCALE_UP" {
            d.running_tasks = d.requested_tasks;
        }
        p.polls_left = polls;
    }

    fn start_rolling(&self, s: &mut State, name: &str) {
        s.deployments += 1;
        let id = format!("ecs-svc/{}", s.deployments);
        let Some(svc) = s.services.get_mut(name) else {
            return;
        };
        for d in &mut svc.deployments {
            d.status = "ACTIVE".into();
        }
        svc.deployments.insert(
            0,
            LiveDeployment {
                id,
                status: "PRIMARY".into(),
                task_definition: svc.task_definition.clone(),
                desired_count: svc.desired_count,
                rollout_state: Some("IN_PROGRESS".into()),
                rollout_state_reason: Some("ECS deployment in progress.".into()),
                ..LiveDeployment::default()
            },
        );
        svc.running_count = 0;
        s.settling.insert(name.to_owned(), self.polls_to_settle);
    }

    fn advance(s: &mut State, name: &str) {
        Self::advance_progressive(s, name);
        let Some(left) = s.settling.get_mut(name) else {
            return;
        };
        if *left > 0 {
            *left -= 1;
            return;
        }
        let outcome = s.outcomes.get(name).cloned().unwrap_or_default();
        let Some(svc) = s.services.get_mut(name) else {
            return;
        };
        match outcome {
            Rollout::Hang => return,
            Rollout::Complete => {
                svc.deployments.truncate(1);
                if let Some(p) = svc.deployments.first_mut() {
                    p.rollout_state = Some("COMPLETED".into());
                    p.rollout_state_reason = Some("ECS deployment completed.".into());
                    p.running_count = svc.desired_count;
                }
                svc.running_count = svc.desired_count;
            }
            Rollout::Fail(reason) => {
                if let Some(p) = svc.deployments.first_mut() {
                    p.rollout_state = Some("FAILED".into());
                    p.rollout_state_reason = Some(reason);
                    p.failed_tasks = 3;
                }
            }
            Rollout::Rollback(reason) => {
                let previous = svc.deployments.get(1).cloned();
                match previous {
                    Some(mut old) => {
                        old.status = "PRIMARY".into();
                        old.rollout_state = Some("COMPLETED".into());
                        old.rollout_state_reason =
                            Some(format!("{reason} Rolling back to deploymentId {}.", old.id));
                        old.running_count = svc.desired_count;
                        svc.task_definition.clone_from(&old.task_definition);
                        svc.deployments = vec![old];
                        svc.running_count = svc.desired_count;
                    }
                    None => {
                        if let Some(p) = svc.deployments.first_mut() {
                            p.rollout_state = Some("FAILED".into());
                            p.rollout_state_reason = Some(reason);
                        }
                    }
                }
            }
        }
        s.settling.remove(name);
    }
}

impl EcsApi for FakeEcs {
    async fn list_services(&self, cluster: &str) -> ApiResult<Vec<String>> {
        let s = self.state.lock().map_err(|_| poisoned("ListServices"))?;
        Self::check_cluster(&s, "ListServices", cluster)?;
        Ok(s.services.keys().cloned().collect())
    }

    async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> ApiResult<Vec<LiveService>> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| poisoned("DescribeServices"))?;
        Self::check_cluster(&s, "DescribeServices", cluster)?;
        if names.len() > 10 {
            return Err(ApiError::refused(
                "DescribeServices",
                "InvalidParameterException",
                "at most 10 services",
            ));
        }
        let mut out = Vec::new();
        for n in names {
            Self::advance(&mut s, n);
            out.extend(s.services.get(n).cloned());
        }
        Ok(out)
    }

    async fn describe_task_definition(
        &self,
        arn_or_family: &str,
    ) -> ApiResult<Option<(String, TaskDefinition)>> {
        let s = self
            .state
            .lock()
            .map_err(|_| poisoned("DescribeTaskDefinition"))?;
        let arn = if arn_or_family.starts_with("arn:") {
            arn_or_family.to_owned()
        } else {
            match s
                .revisions
                .get(arn_or_family)
                .and_then(|r| r.iter().rev().find(|(_, active)| *active))
            {
                Some((n, _)) => format!("{ACCOUNT}:task-definition/{arn_or_family}:{n}"),
                None => return Ok(None),
            }
        };
        Ok(s.task_definitions
            .get(&arn)
            .map(|td| (arn.clone(), td.clone())))
    }

    async fn list_task_definitions(&self, family: &str) -> ApiResult<Vec<String>> {
        let s = self
            .state
            .lock()
            .map_err(|_| poisoned("ListTaskDefinitions"))?;
        let mut numbers: Vec<u32> = s
            .revisions
            .get(family)
            .map(|r| {
                r.iter()
                    .rev()
                    .filter(|(_, a)| *a)
                    .map(|(n, _)| *n)
                    .collect()
            })
            .unwrap_or_default();
        if s.scrambled {
            // Oldest and newest interleaved: 1, 9, 2, 8, 3, 7...
            numbers.sort_unstable();
            let mut mixed = Vec::with_capacity(numbers.len());
            while !numbers.is_empty() {
                mixed.push(numbers.remove(0));
                if let Some(last) = numbers.pop() {
                    mixed.push(last);
                }
            }
            numbers = mixed;
        }
        Ok(numbers
            .into_iter()
            .map(|n| format!("{ACCOUNT}:task-definition/{family}:{n}"))
            .collect())
    }

    async fn register_task_definition(&self, td: &TaskDefinition) -> ApiResult<String> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| poisoned("RegisterTaskDefinition"))?;
        let revisions = s.revisions.entry(td.family.clone()).or_default();
        let n = revisions.last().map_or(1, |(n, _)| n + 1);
        revisions.push((n, true));
        let arn = format!("{ACCOUNT}:task-definition/{}:{n}", td.family);
        let mut stored = td.clone();
        stored.tags.clear();
        for c in &mut stored.container_definitions {
            c.cpu = Some(c.cpu.unwrap_or(0));
        }
        s.task_definitions.insert(arn.clone(), stored);
        Ok(arn)
    }

    async fn deregister_task_definition(&self, arn: &str) -> ApiResult<()> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| poisoned("DeregisterTaskDefinition"))?;
        let tail = arn.rsplit('/').next().unwrap_or(arn);
        if let Some((family, n)) = tail.rsplit_once(':')
            && let Ok(n) = n.parse::<u32>()
            && let Some(revs) = s.revisions.get_mut(family)
        {
            for r in revs.iter_mut().filter(|(m, _)| *m == n) {
                r.1 = false;
            }
        }
        Ok(())
    }

    async fn create_service(
        &self,
        input: &CreateService,
        _client_token: &str,
    ) -> ApiResult<LiveService> {
        let mut s = self.state.lock().map_err(|_| poisoned("CreateService"))?;
        Self::check_cluster(&s, "CreateService", &input.cluster)?;
        if !s.task_definitions.contains_key(&input.task_definition) {
            return Err(ApiError::refused(
                "CreateService",
                "ClientException",
                "TaskDefinition not found.",
            ));
        }
        let live = LiveService {
            service_name: input.service_name.clone(),
            service_arn: format!("{ACCOUNT}:service/{}/{}", input.cluster, input.service_name),
            status: "ACTIVE".into(),
            desired_count: input.desired_count.unwrap_or_default(),
            task_definition: input.task_definition.clone(),
            launch_type: input.launch_type.clone(),
            capacity_provider_strategy: input.capacity_provider_strategy.clone(),
            network_configuration: input.network_configuration.clone(),
            load_balancers: input.load_balancers.clone(),
            deployment_configuration: Some(input.deployment_configuration.clone()),
            health_check_grace_period_seconds: input.health_check_grace_period_seconds,
            tags: input.tags.clone(),
            enable_execute_command: input.enable_execute_command,
            placement_constraints: input.placement_constraints.clone(),
            placement_strategy: input.placement_strategy.clone(),
            service_registries: input.service_registries.clone(),
            service_connect_configuration: input.service_connect_configuration.clone(),
            ..LiveService::default()
        };
        s.services.insert(input.service_name.clone(), live);
        self.start_deployment(&mut s, &input.service_name);
        s.services
            .get(&input.service_name)
            .cloned()
            .ok_or_else(|| poisoned("CreateService"))
    }

    async fn update_service(&self, input: &UpdateService) -> ApiResult<LiveService> {
        let mut s = self.state.lock().map_err(|_| poisoned("UpdateService"))?;
        Self::check_cluster(&s, "UpdateService", &input.cluster)?;
        let Some(svc) = s.services.get_mut(&input.service) else {
            return Err(ApiError::refused(
                "UpdateService",
                "ServiceNotFoundException",
                "Service not found.",
            ));
        };
        let new_revision =
            !input.task_definition.is_empty() && input.task_definition != svc.task_definition;
        if !input.task_definition.is_empty() {
            svc.task_definition.clone_from(&input.task_definition);
        }
        if let Some(count) = input.desired_count {
            svc.desired_count = count;
        }
        svc.network_configuration
            .clone_from(&input.network_configuration);
        svc.load_balancers.clone_from(&input.load_balancers);
        svc.deployment_configuration = Some(input.deployment_configuration.clone());
        svc.health_check_grace_period_seconds = input.health_check_grace_period_seconds;
        if !input.capacity_provider_strategy.is_empty() {
            svc.capacity_provider_strategy
                .clone_from(&input.capacity_provider_strategy);
        }
        if let Some(on) = input.enable_execute_command {
            svc.enable_execute_command = on;
        }
        if let Some(c) = &input.placement_constraints {
            svc.placement_constraints.clone_from(c);
        }
        if let Some(p) = &input.placement_strategy {
            svc.placement_strategy.clone_from(p);
        }
        if let Some(r) = &input.service_registries {
            svc.service_registries.clone_from(r);
        }
        if let Some(sc) = &input.service_connect_configuration {
            // ECS keeps a disabled configuration as none at all.
            svc.service_connect_configuration = Some(sc.clone()).filter(|c| c.enabled);
        }
        if new_revision {
            self.start_deployment(&mut s, &input.service);
        }
        s.services
            .get(&input.service)
            .cloned()
            .ok_or_else(|| poisoned("UpdateService"))
    }

    async fn tag_service(&self, arn: &str, tags: &[Tag]) -> ApiResult<()> {
        let mut s = self.state.lock().map_err(|_| poisoned("ecs:TagResource"))?;
        let Some(svc) = s.services.values_mut().find(|x| x.service_arn == arn) else {
            return Err(ApiError::refused(
                "ecs:TagResource",
                "InvalidParameterException",
                "no such resource",
            ));
        };
        for t in tags {
            svc.tags.retain(|x| x.key != t.key);
            svc.tags.push(t.clone());
        }
        Ok(())
    }

    async fn delete_service(&self, cluster: &str, name: &str) -> ApiResult<()> {
        let mut s = self.state.lock().map_err(|_| poisoned("DeleteService"))?;
        Self::check_cluster(&s, "DeleteService", cluster)?;
        match s.services.get_mut(name) {
            Some(svc) => {
                svc.status = "INACTIVE".into();
                Ok(())
            }
            None => Err(ApiError::refused(
                "DeleteService",
                "ServiceNotFoundException",
                "Service not found.",
            )),
        }
    }

    async fn describe_repositories(&self) -> ApiResult<Vec<LiveRepository>> {
        let s = self
            .state
            .lock()
            .map_err(|_| poisoned("DescribeRepositories"))?;
        Ok(s.repositories
            .values()
            .map(|r| LiveRepository {
                tags: Vec::new(),
                lifecycle_policy_text: None,
                ..r.clone()
            })
            .collect())
    }

    async fn list_repository_tags(&self, arn: &str) -> ApiResult<Vec<TagOut>> {
        let s = self
            .state
            .lock()
            .map_err(|_| poisoned("ecr:ListTagsForResource"))?;
        Ok(s.repositories
            .values()
            .find(|r| r.repository_arn == arn)
            .map(|r| r.tags.clone())
            .unwrap_or_default())
    }

    async fn get_lifecycle_policy(&self, repository: &str) -> ApiResult<Option<String>> {
        let s = self
            .state
            .lock()
            .map_err(|_| poisoned("GetLifecyclePolicy"))?;
        Ok(s.repositories
            .get(repository)
            .and_then(|r| r.lifecycle_policy_text.clone()))
    }

    async fn describe_image(&self, repository: &str, tag: &str) -> ApiResult<Option<String>> {
        let s = self.state.lock().map_err(|_| poisoned("DescribeImages"))?;
        Ok(s.images.get(&format!("{repository}:{tag}")).cloned())
    }

    async fn create_repository(&self, input: &CreateRepository) -> ApiResult<LiveRepository> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| poisoned("CreateRepository"))?;
        let name = &input.repository_name;
        if s.repositories.contains_key(name) {
            return Err(ApiError::refused(
                "CreateRepository",
                "RepositoryAlreadyExistsException",
                "exists",
            ));
        }
        let repo = LiveRepository {
            repository_name: name.clone(),
            repository_arn: format!("arn:aws:ecr:us-east-1:000000000000:repository/{name}"),
            repository_uri: format!("000000000000.dkr.ecr.us-east-1.amazonaws.com/{name}"),
            image_tag_mutability: input.image_tag_mutability.clone(),
            image_scanning_configuration: ImageScanningConfiguration {
                scan_on_push: input.image_scanning_configuration.scan_on_push,
            },
            encryption_configuration: Some(input.encryption_configuration.clone()),
            tags: input.tags.clone(),
            lifecycle_policy_text: None,
        };
        s.repositories.insert(name.clone(), repo.clone());
        Ok(repo)
    }

    async fn put_image_tag_mutability(&self, repository: &str, mutability: &str) -> ApiResult<()> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| poisoned("PutImageTagMutability"))?;
        if let Some(r) = s.repositories.get_mut(repository) {
            r.image_tag_mutability = mutability.to_owned();
        }
        Ok(())
    }

    async fn put_image_scanning_configuration(
        &self,
        repository: &str,
        scan_on_push: bool,
    ) -> ApiResult<()> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| poisoned("PutImageScanningConfiguration"))?;
        if let Some(r) = s.repositories.get_mut(repository) {
            r.image_scanning_configuration.scan_on_push = scan_on_push;
        }
        Ok(())
    }

    async fn put_lifecycle_policy(&self, repository: &str, text: &str) -> ApiResult<()> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| poisoned("PutLifecyclePolicy"))?;
        if let Some(r) = s.repositories.get_mut(repository) {
            r.lifecycle_policy_text = Some(text.to_owned());
        }
        Ok(())
    }

    async fn delete_lifecycle_policy(&self, repository: &str) -> ApiResult<()> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| poisoned("DeleteLifecyclePolicy"))?;
        if let Some(r) = s.repositories.get_mut(repository) {
            r.lifecycle_policy_text = None;
        }
        Ok(())
    }

    async fn tag_repository(&self, arn: &str, tags: &[TagOut]) -> ApiResult<()> {
        let mut s = self.state.lock().map_err(|_| poisoned("ecr:TagResource"))?;
        if let Some(r) = s
            .repositories
            .values_mut()
            .find(|r| r.repository_arn == arn)
        {
            for t in tags {
                r.tags.retain(|x| x.key != t.key);
                r.tags.push(t.clone());
            }
        }
        Ok(())
    }

    async fn run_task(
        &self,
        input: &RunTask,
        task_definition: &str,
        _client_token: &str,
    ) -> ApiResult<String> {
        let mut s = self.state.lock().map_err(|_| poisoned("RunTask"))?;
        Self::check_cluster(&s, "RunTask", &input.cluster)?;
        let Some(td) = s.task_definitions.get(task_definition).cloned() else {
            return Err(ApiError::refused(
                "RunTask",
                "ClientException",
                "Unable to describe task definition.",
            ));
        };
        let outcome = s.task_outcomes.get(&td.family).cloned().unwrap_or_default();
        let n = s.task_runs.len() + 1;
        let arn = format!("{ACCOUNT}:task/{}/{n:032x}", input.cluster);
        let task = LiveTask {
            arn: arn.clone(),
            last_status: "PROVISIONING".into(),
            stopped_reason: None,
            containers: td
                .container_definitions
                .iter()
                .map(|c| LiveContainer {
                    name: c.name.clone(),
                    ..LiveContainer::default()
                })
                .collect(),
        };
        s.task_runs.push(td.family.clone());
        let polls = self.polls_to_settle;
        s.tasks.insert(arn.clone(), (task, polls, outcome));
        Ok(arn)
    }

    async fn describe_task(&self, cluster: &str, arn: &str) -> ApiResult<Option<LiveTask>> {
        let mut s = self.state.lock().map_err(|_| poisoned("DescribeTasks"))?;
        Self::check_cluster(&s, "DescribeTasks", cluster)?;
        let Some((task, polls, outcome)) = s.tasks.get_mut(arn) else {
            return Ok(None);
        };
        if task.last_status != "STOPPED" {
            if *polls > 0 {
                *polls -= 1;
                task.last_status = "RUNNING".into();
            } else if let TaskOutcome::Exit(code) = outcome {
                task.last_status = "STOPPED".into();
                task.stopped_reason = Some("Essential container in task exited".into());
                for c in &mut task.containers {
                    c.exit_code = Some(*code);
                }
            } else {
                task.last_status = "RUNNING".into();
            }
        }
        Ok(Some(task.clone()))
    }

    async fn stop_task(&self, cluster: &str, arn: &str, reason: &str) -> ApiResult<()> {
        let mut s = self.state.lock().map_err(|_| poisoned("StopTask"))?;
        Self::check_cluster(&s, "StopTask", cluster)?;
        if let Some((task, _, _)) = s.tasks.get_mut(arn) {
            task.last_status = "STOPPED".into();
            task.stopped_reason = Some(reason.to_owned());
            for c in &mut task.containers {
                c.exit_code = c.exit_code.or(Some(137));
            }
        }
        Ok(())
    }

    async fn latest_service_deployment(
        &self,
        cluster: &str,
        service: &str,
    ) -> ApiResult<Option<LiveServiceDeployment>> {
        let s = self
            .state
            .lock()
            .map_err(|_| poisoned("DescribeServiceDeployments"))?;
        Self::check_cluster(&s, "ListServiceDeployments", cluster)?;
        Ok(s.progressive.get(service).map(|p| p.deployment.clone()))
    }

    async fn continue_service_deployment(
        &self,
        arn: &str,
        hook_id: &str,
        rollback: bool,
    ) -> ApiResult<()> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| poisoned("ContinueServiceDeployment"))?;
        let Some(p) = s.progressive.values_mut().find(|p| p.deployment.arn == arn) else {
            return Err(ApiError::refused(
                "ContinueServiceDeployment",
                "ServiceDeploymentNotFoundException",
                "no such service deployment",
            ));
        };
        let Some(hook) = p
            .deployment
            .hooks
            .iter_mut()
            .find(|h| h.id == hook_id && h.status == "AWAITING_ACTION")
        else {
            return Err(ApiError::refused(
                "ContinueServiceDeployment",
                "InvalidParameterException",
                "the hook is not awaiting an action",
            ));
        };
        if rollback {
            hook.status = "FAILED".into();
            p.deployment.status = "ROLLBACK_REQUESTED".into();
            p.deployment.rollback_reason = Some("the paused hook was rolled back".into());
        } else {
            hook.status = "SUCCEEDED".into();
        }
        Ok(())
    }

    async fn rollback_service_deployment(&self, arn: &str) -> ApiResult<()> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| poisoned("StopServiceDeployment"))?;
        let Some(p) = s.progressive.values_mut().find(|p| p.deployment.arn == arn) else {
            return Err(ApiError::refused(
                "StopServiceDeployment",
                "ServiceDeploymentNotFoundException",
                "no such service deployment",
            ));
        };
        if !p.deployment.in_progress() {
            return Err(ApiError::refused(
                "StopServiceDeployment",
                "ConflictException",
                "the service deployment is not in progress",
            ));
        }
        p.deployment.status = "ROLLBACK_REQUESTED".into();
        p.deployment.rollback_reason = Some("stopped by StopServiceDeployment".into());
        Ok(())
    }
}

/// Application Auto Scaling, minimally: targets, policies and actions stored as put, one page.
impl AutoscalingApi for FakeEcs {
    async fn describe_scalable_targets(
        &self,
        resource_ids: &[String],
    ) -> ApiResult<Vec<LiveScalableTarget>> {
        let s = self
            .state
            .lock()
            .map_err(|_| poisoned("DescribeScalableTargets"))?;
        Ok(resource_ids
            .iter()
            .filter_map(|id| s.scalable_targets.get(id))
            .map(|t| LiveScalableTarget {
                policies: Vec::new(),
                scheduled_actions: Vec::new(),
                ..t.clone()
            })
            .collect())
    }

    async fn describe_scaling_policies(
        &self,
        _next_token: Option<String>,
    ) -> ApiResult<Page<PutScalingPolicy>> {
        let s = self
            .state
            .lock()
            .map_err(|_| poisoned("DescribeScalingPolicies"))?;
        let all = s.scalable_targets.values().flat_map(|t| t.policies.clone());
        Ok((all.collect(), None))
    }

    async fn describe_scheduled_actions(
        &self,
        _next_token: Option<String>,
    ) -> ApiResult<Page<PutScheduledAction>> {
        let s = self
            .state
            .lock()
            .map_err(|_| poisoned("DescribeScheduledActions"))?;
        let all = s
            .scalable_targets
            .values()
            .flat_map(|t| t.scheduled_actions.clone());
        Ok((all.collect(), None))
    }

    async fn register_scalable_target(&self, input: &RegisterScalableTarget) -> ApiResult<()> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| poisoned("RegisterScalableTarget"))?;
        let target = s
            .scalable_targets
            .entry(input.resource_id.clone())
            .or_insert_with(|| LiveScalableTarget {
                resource_id: input.resource_id.clone(),
                ..LiveScalableTarget::default()
            });
        target.min_capacity = input.min_capacity;
        target.max_capacity = input.max_capacity;
        Ok(())
    }

    async fn deregister_scalable_target(&self, resource_id: &str) -> ApiResult<()> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| poisoned("DeregisterScalableTarget"))?;
        s.scalable_targets
            .remove(resource_id)
            .map(|_| ())
            .ok_or_else(|| {
                ApiError::refused(
                    "DeregisterScalableTarget",
                    "ObjectNotFoundException",
                    "No scalable target found",
                )
            })
    }

    async fn put_scaling_policy(&self, input: &PutScalingPolicy) -> ApiResult<()> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| poisoned("PutScalingPolicy"))?;
        let Some(t) = s.scalable_targets.get_mut(&input.resource_id) else {
            return Err(ApiError::refused(
                "PutScalingPolicy",
                "ObjectNotFoundException",
                "No scalable target registered",
            ));
        };
        t.policies.retain(|p| p.policy_name != input.policy_name);
        t.policies.push(input.clone());
        Ok(())
    }

    async fn delete_scaling_policy(&self, resource_id: &str, policy_name: &str) -> ApiResult<()> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| poisoned("DeleteScalingPolicy"))?;
        if let Some(t) = s.scalable_targets.get_mut(resource_id) {
            t.policies.retain(|p| p.policy_name != policy_name);
        }
        Ok(())
    }

    async fn put_scheduled_action(&self, input: &PutScheduledAction) -> ApiResult<()> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| poisoned("PutScheduledAction"))?;
        let Some(t) = s.scalable_targets.get_mut(&input.resource_id) else {
            return Err(ApiError::refused(
                "PutScheduledAction",
                "ObjectNotFoundException",
                "No scalable target registered",
            ));
        };
        t.scheduled_actions
            .retain(|a| a.scheduled_action_name != input.scheduled_action_name);
        t.scheduled_actions.push(input.clone());
        Ok(())
    }

    async fn delete_scheduled_action(&self, resource_id: &str, action_name: &str) -> ApiResult<()> {
        let mut s = self
            .state
            .lock()
            .map_err(|_| poisoned("DeleteScheduledAction"))?;
        if let Some(t) = s.scalable_targets.get_mut(resource_id) {
            t.scheduled_actions
                .retain(|a| a.scheduled_action_name != action_name);
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// CloudWatch metrics for the analysis (crate::analysis)

impl FakeEcs {
    /// Script the samples of the metric `namespace`/`name` with exactly `dimensions`, replacing
    /// earlier ones: every `GetMetricData` window sees them (the fake has no clock), until set
    /// again. No samples: the metric has no data.
    pub fn set_metric(
        &self,
        namespace: &str,
        name: &str,
        dimensions: &[(&str, &str)],
        samples: &[f64],
    ) {
        let key = (
            namespace.to_owned(),
            name.to_owned(),
            dimensions
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
        );
        if let Ok(mut s) = self.state.lock() {
            s.metrics.insert(key, samples.to_vec());
        }
    }
}

impl crate::analysis::MetricsApi for FakeEcs {
    async fn get_metric_data(
        &self,
        queries: &[crate::analysis::MetricQueryInput],
        _start: std::time::SystemTime,
        _end: std::time::SystemTime,
    ) -> ApiResult<BTreeMap<String, Vec<f64>>> {
        let s = self.state.lock().map_err(|_| poisoned("GetMetricData"))?;
        let mut out = BTreeMap::new();
        for q in queries {
            let key = (
                q.namespace.clone(),
                q.metric_name.clone(),
                q.dimensions.clone(),
            );
            let value = s
                .metrics
                .get(&key)
                .and_then(|samples| crate::analysis::statistic(&q.stat, samples));
            out.insert(q.id.clone(), value.into_iter().collect());
        }
        Ok(out)
    }
}
