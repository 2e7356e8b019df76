//! Health of an ECS service, judged from what `DescribeServices` returns (its deployments and
//! task counts). Pure: the ECS platform and its in-process fake both call it, so a rollout is
//! judged the same way wherever it is observed.
//!
//! A rollback by ECS (deployment circuit breaker) is never reported as healthy: when the
//! revision Ferry asked for is not the one the service runs, or its deployment failed, the
//! service is `Degraded` with ECS's own reason.

use crate::live::{LiveDeployment, LiveService};
use crate::platform::{HealthCode, ResourceHealth};

/// The health of `live`. `expected` is the task definition ARN Ferry last asked for, when it
/// knows one (right after an apply); without it, the primary deployment is judged as it is.
pub fn service_health(live: &LiveService, expected: Option<&str>) -> ResourceHealth {
    let (code, message) = judge(live, expected);
    ResourceHealth {
        code,
        message,
        live_revision: (!live.task_definition.is_empty()).then(|| live.task_definition.clone()),
        images: Default::default(),
        running: live.running_count,
        desired: live.desired_count,
        ..ResourceHealth::default()
    }
}

/// Whether a health is final for a rollout: it will not change without another deployment.
pub fn is_settled(code: HealthCode) -> bool {
    matches!(
        code,
        HealthCode::Healthy | HealthCode::Degraded | HealthCode::Missing
    )
}

fn judge(live: &LiveService, expected: Option<&str>) -> (HealthCode, String) {
    if !live.is_active() {
        return (
            HealthCode::Missing,
            format!("service is {}", live.status.to_lowercase()),
        );
    }
    let primary = live
        .deployments
        .iter()
        .find(|d| d.status == "PRIMARY")
        .or_else(|| live.deployments.first());
    if let Some(want) = expected {
        if let Some(failed) = live
            .deployments
            .iter()
            .find(|d| d.task_definition == want && d.rollout_state.as_deref() == Some("FAILED"))
        {
            return (
                HealthCode::Degraded,
                format!(
                    "rollout of {} failed: {}",
                    short_revision(want),
                    reason(failed)
                ),
            );
        }
        if live.task_definition != want {
            let why = primary
                .map(reason)
                .filter(|r| !r.is_empty())
                .map(|r| format!(": {r}"))
                .unwrap_or_default();
            return (
                HealthCode::Degraded,
                format!(
                    "rolled back: the service runs {}, not {}{why}",
                    short_revision(&live.task_definition),
                    short_revision(want)
                ),
            );
        }
        if let Some(p) = primary
            && p.task_definition != want
        {
            // AWS's `services-stable` rule holds (one deployment, every task running) and the
            // service names the wanted revision, while the only deployment is still
            // IN_PROGRESS: some ECS-compatible endpoints (moto) never list a deployment for an
            // update. ECS itself lists the new deployment at once; in DescribeServices' lag the
            // stale deployment is the old, COMPLETED one, which stays Progressing below.
            if live.deployments.len() == 1
                && live.running_count >= live.desired_count
                && p.failed_tasks == 0
                && p.rollout_state.as_deref() == Some("IN_PROGRESS")
            {
                return (
                    HealthCode::Healthy,
                    format!("service stable (one deployment, {})", counts(live)),
                );
            }
            return (
                HealthCode::Progressing,
                format!(
                    "waiting for ECS to start the deployment of {}",
                    short_revision(want)
                ),
            );
        }
    }
    let Some(primary) = primary else {
        return if live.running_count >= live.desired_count {
            (HealthCode::Healthy, counts(live))
        } else {
            (HealthCode::Progressing, counts(live))
        };
    };
    match primary.rollout_state.as_deref() {
        Some("FAILED") => (
            HealthCode::Degraded,
            format!("rollout failed: {}", reason(primary)),
        ),
        Some("COMPLETED") if live.running_count >= live.desired_count => (
            HealthCode::Healthy,
            format!("rollout completed; {}", counts(live)),
        ),
        Some("COMPLETED") => (
            HealthCode::Progressing,
            format!("rollout completed but {}", counts(live)),
        ),
        // AWS's own `services-stable` rule: one deployment left, every task running. ECS
        // marks the rollout COMPLETED shortly after; some ECS-compatible endpoints never do.
        Some("IN_PROGRESS")
            if live.deployments.len() == 1
                && live.running_count >= live.desired_count
                && primary.failed_tasks == 0 =>
        {
            (
                HealthCode::Healthy,
                format!("service stable (one deployment, {})", counts(live)),
            )
        }
        Some(_) => {
            let mut message = format!("rollout in progress; {}", counts(live));
            if primary.failed_tasks > 0 {
                message.push_str(&format!(
                    ", {} task(s) failed to start",
                    primary.failed_tasks
                ));
            }
            (HealthCode::Progressing, message)
        }
        None if live.deployments.len() == 1 && live.running_count >= live.desired_count => {
            (HealthCode::Healthy, counts(live))
        }
        None => (
            HealthCode::Progressing,
            format!("{} deployment(s); {}", live.deployments.len(), counts(live)),
        ),
    }
}

fn reason(d: &LiveDeployment) -> String {
    d.rollout_state_reason.clone().unwrap_or_default()
}

fn counts(live: &LiveService) -> String {
    format!(
        "{} of {} task(s) running",
        live.running_count, live.desired_count
    )
}

/// `family:revision` of a task definition ARN (the ARN itself when it has no such tail).
pub fn short_revision(arn: &str) -> &str {
    arn.rsplit_once('/').map_or(arn, |(_, tail)| tail)
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/dev-web:1";
    const NEW: &str = "arn:aws:ecs:us-east-1:123456789012:task-definition/dev-web:2";

    fn deployment(
        td: &str,
        status: &str,
        state: Option<&str>,
        why: Option<&str>,
    ) -> LiveDeployment {
        LiveDeployment {
            id: format!("ecs-svc/{status}"),
            status: status.into(),
            task_definition: td.into(),
            rollout_state: state.map(Into::into),
            rollout_state_reason: why.map(Into::into),
            ..LiveDeployment::default()
        }
    }

    fn service(td: &str, running: u32, deployments: Vec<LiveDeployment>) -> LiveService {
        LiveService {
            service_name: "web".into(),
            status: "ACTIVE".into(),
            desired_count: 2,
            running_count: running,
            task_definition: td.into(),
            deployments,
            ..LiveService::default()
        }
    }

    #[test]
    fn completed_rollout_with_all_tasks_running_is_healthy() {
        let live = service(
            NEW,
            2,
            vec![deployment(NEW, "PRIMARY", Some("COMPLETED"), Some("done"))],
        );
        let h = service_health(&live, Some(NEW));
        assert_eq!(h.code, HealthCode::Healthy, "{}", h.message);
        assert_eq!(h.live_revision.as_deref(), Some(NEW));
        assert_eq!((h.running, h.desired), (2, 2));
        assert_eq!(service_health(&live, None).code, HealthCode::Healthy);
    }

    #[test]
    fn rollout_in_progress_is_progressing_and_counts_failed_tasks() {
        let mut d = deployment(NEW, "PRIMARY", Some("IN_PROGRESS"), None);
        d.failed_tasks = 3;
        let live = service(
            NEW,
            1,
            vec![d, deployment(OLD, "ACTIVE", Some("COMPLETED"), None)],
        );
        let h = service_health(&live, Some(NEW));
        assert_eq!(h.code, HealthCode::Progressing);
        assert!(h.message.contains("3 task(s) failed"), "{}", h.message);
        assert!(!is_settled(h.code));
    }

    #[test]
    fn one_deployment_with_every_task_running_is_stable_even_while_in_progress() {
        let live = service(
            NEW,
            2,
            vec![deployment(NEW, "PRIMARY", Some("IN_PROGRESS"), None)],
        );
        let h = service_health(&live, Some(NEW));
        assert_eq!(h.code, HealthCode::Healthy, "{}", h.message);
        assert!(h.message.contains("stable"), "{}", h.message);
        // Not while the old deployment still runs, nor with tasks missing.
        let draining = service(
            NEW,
            2,
            vec![
                deployment(NEW, "PRIMARY", Some("IN_PROGRESS"), None),
                deployment(OLD, "ACTIVE", Some("COMPLETED"), None),
            ],
        );
        assert_eq!(
            service_health(&draining, Some(NEW)).code,
            HealthCode::Progressing
        );
        let starting = service(
            NEW,
            1,
            vec![deployment(NEW, "PRIMARY", Some("IN_PROGRESS"), None)],
        );
        assert_eq!(
            service_health(&starting, Some(NEW)).code,
            HealthCode::Progressing
        );
    }

    #[test]
    fn failed_rollout_is_degraded_with_ecs_reason() {
        let live = service(
            NEW,
            0,
            vec![deployment(
                NEW,
                "PRIMARY",
                Some("FAILED"),
                Some("ECS deployment circuit breaker: tasks failed to start."),
            )],
        );
        let h = service_health(&live, Some(NEW));
        assert_eq!(h.code, HealthCode::Degraded);
        assert!(h.message.contains("tasks failed to start"), "{}", h.message);
        assert_eq!(service_health(&live, None).code, HealthCode::Degraded);
    }

    #[test]
    fn circuit_breaker_rollback_is_never_healthy() {
        // After the rollback completed, ECS runs the old revision again, COMPLETED and healthy
        // by its own counts: for the revision Ferry asked for, that is a failed sync.
        let live = service(
            OLD,
            2,
            vec![deployment(
                OLD,
                "PRIMARY",
                Some("COMPLETED"),
                Some("ECS deployment circuit breaker: rolling back to deploymentId ecs-svc/1."),
            )],
        );
        let h = service_health(&live, Some(NEW));
        assert_eq!(h.code, HealthCode::Degraded);
        assert!(h.message.contains("rolled back"), "{}", h.message);
        assert!(h.message.contains("dev-web:1"), "{}", h.message);
        assert!(h.message.contains("circuit breaker"), "{}", h.message);
    }

    #[test]
    fn rollback_in_progress_names_the_failed_deployment() {
        let live = service(
            OLD,
            1,
            vec![
                deployment(OLD, "PRIMARY", Some("IN_PROGRESS"), Some("rolling back")),
                deployment(NEW, "ACTIVE", Some("FAILED"), Some("tasks failed to start")),
            ],
        );
        let h = service_health(&live, Some(NEW));
        assert_eq!(h.code, HealthCode::Degraded);
        assert!(
            h.message.contains("rollout of dev-web:2 failed"),
            "{}",
            h.message
        );
    }

    #[test]
    fn inactive_service_is_missing() {
        let mut live = service(NEW, 0, Vec::new());
        live.status = "INACTIVE".into();
        assert_eq!(service_health(&live, None).code, HealthCode::Missing);
    }

    #[test]
    fn service_without_rollout_state_is_judged_by_counts() {
        let live = service(NEW, 2, vec![deployment(NEW, "PRIMARY", None, None)]);
        assert_eq!(service_health(&live, None).code, HealthCode::Healthy);
        let short = service(NEW, 1, vec![deployment(NEW, "PRIMARY", None, None)]);
        assert_eq!(service_health(&short, None).code, HealthCode::Progressing);
    }

    #[test]
    fn update_not_yet_deployed_is_progressing() {
        let live = service(
            NEW,
            2,
            vec![deployment(OLD, "PRIMARY", Some("COMPLETED"), None)],
        );
        assert_eq!(
            service_health(&live, Some(NEW)).code,
            HealthCode::Progressing
        );
        // An endpoint that never lists the update's deployment (moto): stable by AWS's rule.
        let emulated = service(
            NEW,
            2,
            vec![deployment(OLD, "PRIMARY", Some("IN_PROGRESS"), None)],
        );
        assert_eq!(
            service_health(&emulated, Some(NEW)).code,
            HealthCode::Healthy
        );
    }
}
