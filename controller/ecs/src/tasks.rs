//! Pre-deploy tasks: register the task's definition (reused when unchanged), `RunTask`, poll
//! `DescribeTasks` until it is STOPPED (or stop it at its timeout), and judge it: every
//! essential container must exit 0. A failure names the container, its exit code, ECS's
//! `stoppedReason` and the CloudWatch log stream to read.

use std::time::{Duration, Instant};

use ferry_core::health::short_revision;
use ferry_core::plan::Change;
use ferry_core::platform::{ResourceResult, ResultCode};
use ferry_core::render::{ContainerDefinition, RenderedTask};

use crate::api::{EcsApi, LiveTask};
use crate::platform::EcsPlatform;

/// The CloudWatch log stream of `container` in task `task_arn`, when it logs with awslogs.
fn log_stream(container: &ContainerDefinition, task_arn: &str) -> Option<String> {
    let log = container.log_configuration.as_ref()?;
    if log.log_driver != "awslogs" {
        return None;
    }
    let group = log.options.get("awslogs-group")?;
    let prefix = log.options.get("awslogs-stream-prefix")?;
    let id = task_arn.rsplit('/').next().unwrap_or(task_arn);
    Some(format!("{group} {prefix}/{}/{id}", container.name))
}

/// Why a stopped task failed, or None when every essential container exited 0.
pub(crate) fn judge(task: &RenderedTask, live: &LiveTask) -> Option<String> {
    let containers = &task.register_task_definition.container_definitions;
    let mut problems = Vec::new();
    for c in containers.iter().filter(|c| c.essential != Some(false)) {
        let seen = live.containers.iter().find(|l| l.name == c.name);
        let code = seen.and_then(|l| l.exit_code);
        if code == Some(0) {
            continue;
        }
        let mut p = match code {
            Some(code) => format!("container `{}` exited with code {code}", c.name),
            None => format!("container `{}` has no exit code", c.name),
        };
        if let Some(reason) = seen.and_then(|l| l.reason.as_deref()) {
            p.push_str(&format!(" ({reason})"));
        }
        if let Some(stream) = log_stream(c, &live.arn) {
            p.push_str(&format!("; logs: {stream}"));
        }
        problems.push(p);
    }
    if problems.is_empty() {
        return None;
    }
    if let Some(reason) = &live.stopped_reason {
        problems.push(format!("stoppedReason: {reason}"));
    }
    Some(problems.join("; "))
}

impl<A: EcsApi> EcsPlatform<A> {
    /// Run one pre-deploy task to its end: Synced when every essential container exited 0.
    pub(crate) async fn run_pre_deploy(
        &self,
        change: &Change,
        task: &RenderedTask,
    ) -> ResourceResult {
        let result = |code, message: String| ResourceResult {
            key: change.key.clone(),
            op: change.op,
            code,
            message,
            rollout: None,
        };
        let cluster = task.run_task.cluster.as_str();
        let arn = match self.register(&task.register_task_definition).await {
            Ok((arn, _)) => arn,
            Err(e) => return result(ResultCode::Failed, format!("task definition: {e}")),
        };
        // One token per attempt: the SDK's retries of this call never start a second task,
        // while a later attempt (after a failure) runs it again.
        let token = format!(
            "ferry-{:x}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_nanos()
        );
        let started = match self.api.run_task(&task.run_task, &arn, &token).await {
            Ok(t) => t,
            Err(e) => return result(ResultCode::Failed, e.to_string()),
        };
        let id = started.rsplit('/').next().unwrap_or(&started).to_owned();
        self.say(&format!(
            "{}: running task {id} of {}",
            change.key.name,
            short_revision(&arn)
        ));
        let timeout = Duration::from_secs(task.timeout_seconds);
        let deadline = Instant::now() + timeout;
        loop {
            let now = Instant::now();
            if now >= deadline {
                let why = format!(
                    "ferry: pre-deploy task did not finish within {}",
                    humantime::format_duration(timeout)
                );
                if let Err(e) = self.api.stop_task(cluster, &started, &why).await {
                    tracing::warn!("stopping task {id}: {e}");
                }
                return result(
                    ResultCode::Failed,
                    format!(
                        "task {id} did not finish within {}; stopped it",
                        humantime::format_duration(timeout)
                    ),
                );
            }
            tokio::time::sleep(self.options.poll_interval.min(deadline - now)).await;
            match self.api.describe_task(cluster, &started).await {
                Ok(Some(live)) if live.last_status == "STOPPED" => {
                    return match judge(task, &live) {
                        None => result(
                            ResultCode::Synced,
                            format!("task {id} of {} exited 0", short_revision(&arn)),
                        ),
                        Some(why) => result(ResultCode::Failed, format!("task {id} failed: {why}")),
                    };
                }
                Ok(_) => {}
                Err(e) if e.transient => tracing::warn!("following task {id}: {e}"),
                Err(e) => return result(ResultCode::Failed, e.to_string()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::LiveContainer;
    use ferry_core::render::{LogConfigurationOut, RunTask, TaskDefinition};

    fn container(name: &str, essential: Option<bool>) -> ContainerDefinition {
        ContainerDefinition {
            name: name.into(),
            essential,
            log_configuration: Some(LogConfigurationOut {
                ecs: Default::default(),
                log_driver: "awslogs".into(),
                options: [
                    ("awslogs-group".to_owned(), "/ecs/numbers-dev".to_owned()),
                    (
                        "awslogs-stream-prefix".to_owned(),
                        "numbers-migrate".to_owned(),
                    ),
                ]
                .into(),
            }),
            ..ContainerDefinition::default()
        }
    }

    fn task() -> RenderedTask {
        RenderedTask {
            name: "migrate".into(),
            register_task_definition: TaskDefinition {
                family: "dev-numbers-migrate".into(),
                container_definitions: vec![
                    container("api", None),
                    container("sidecar", Some(false)),
                ],
                ..TaskDefinition::default()
            },
            run_task: RunTask::default(),
            timeout_seconds: 60,
        }
    }

    fn stopped(api: Option<i32>, sidecar: Option<i32>) -> LiveTask {
        LiveTask {
            arn: "arn:aws:ecs:us-east-1:1:task/numbers-dev/0123abcd".into(),
            last_status: "STOPPED".into(),
            stopped_reason: Some("Essential container in task exited".into()),
            containers: vec![
                LiveContainer {
                    name: "api".into(),
                    exit_code: api,
                    reason: None,
                },
                LiveContainer {
                    name: "sidecar".into(),
                    exit_code: sidecar,
                    reason: None,
                },
            ],
        }
    }

    #[test]
    fn only_essential_containers_decide_and_a_failure_names_code_reason_and_log_stream() {
        assert_eq!(judge(&task(), &stopped(Some(0), Some(137))), None);
        let why = judge(&task(), &stopped(Some(2), Some(0))).expect("failed");
        assert!(why.contains("container `api` exited with code 2"), "{why}");
        assert!(
            why.contains("logs: /ecs/numbers-dev numbers-migrate/api/0123abcd"),
            "{why}"
        );
        assert!(
            why.contains("stoppedReason: Essential container in task exited"),
            "{why}"
        );
        assert!(!why.contains("sidecar"), "{why}");
        let why = judge(&task(), &stopped(None, None)).expect("no exit code is a failure");
        assert!(why.contains("container `api` has no exit code"), "{why}");
    }
}
