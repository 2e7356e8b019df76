//! The AWS SDK side of progressive delivery: the strategy fields of `deploymentConfiguration`
//! and `loadBalancers[].advancedConfiguration` both ways, and the service deployment calls
//! (`ListServiceDeployments`, `DescribeServiceDeployments`, `ContinueServiceDeployment`,
//! `StopServiceDeployment`).

use std::time::SystemTime;

use aws_sdk_ecs as ecs;

use crate::api::{ApiResult, LiveHook, LiveServiceDeployment};
use crate::sdk::api_error;

fn time(t: Option<&ecs::primitives::DateTime>) -> Option<SystemTime> {
    t.and_then(|t| SystemTime::try_from(*t).ok())
}

fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

/// The newest service deployment of `service`.
pub(crate) async fn latest(
    client: &ecs::Client,
    cluster: &str,
    service: &str,
) -> ApiResult<Option<LiveServiceDeployment>> {
    let listed = client
        .list_service_deployments()
        .cluster(cluster)
        .service(service)
        .send()
        .await
        .map_err(|e| api_error("ListServiceDeployments", e))?;
    let Some(newest) = listed
        .service_deployments()
        .iter()
        .max_by_key(|b| {
            b.created_at()
                .or(b.started_at())
                .map(ecs::primitives::DateTime::as_nanos)
                .unwrap_or_default()
        })
        .and_then(|b| b.service_deployment_arn())
    else {
        return Ok(None);
    };
    let described = client
        .describe_service_deployments()
        .service_deployment_arns(newest)
        .send()
        .await
        .map_err(|e| api_error("DescribeServiceDeployments", e))?;
    Ok(described.service_deployments().first().map(from_sdk))
}

fn from_sdk(d: &ecs::types::ServiceDeployment) -> LiveServiceDeployment {
    let target = d.target_service_revision();
    LiveServiceDeployment {
        arn: d.service_deployment_arn().unwrap_or_default().into(),
        status: d
            .status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        status_reason: d.status_reason().map(str::to_owned),
        lifecycle_stage: d.lifecycle_stage().map(|s| s.as_str().to_owned()),
        strategy: d
            .deployment_configuration()
            .and_then(|c| c.strategy())
            .map(|s| s.as_str().to_owned()),
        target_revision: target.and_then(|t| t.arn()).map(str::to_owned),
        production_traffic: target.and_then(|t| t.requested_production_traffic_weight()),
        test_traffic: target.and_then(|t| t.requested_test_traffic_weight()),
        running_tasks: target.map_or(0, |t| count(t.running_task_count())),
        requested_tasks: target.map_or(0, |t| count(t.requested_task_count())),
        hooks: d
            .lifecycle_hook_details()
            .iter()
            .map(|h| LiveHook {
                id: h.hook_id().unwrap_or_default().into(),
                target_type: h
                    .target_type()
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
                status: h
                    .status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
            })
            .collect(),
        started_at: time(d.started_at().or(d.created_at())),
        updated_at: time(d.updated_at()),
        rollback_reason: d.rollback().and_then(|r| r.reason()).map(str::to_owned),
    }
}

/// `ContinueServiceDeployment`.
pub(crate) async fn continue_deployment(
    client: &ecs::Client,
    arn: &str,
    hook_id: &str,
    rollback: bool,
) -> ApiResult<()> {
    client
        .continue_service_deployment()
        .service_deployment_arn(arn)
        .hook_id(hook_id)
        .action(if rollback {
            ecs::types::DeploymentLifecycleHookAction::Rollback
        } else {
            ecs::types::DeploymentLifecycleHookAction::Continue
        })
        .send()
        .await
        .map_err(|e| api_error("ContinueServiceDeployment", e))?;
    Ok(())
}

/// `StopServiceDeployment` with `ROLLBACK`.
pub(crate) async fn rollback(client: &ecs::Client, arn: &str) -> ApiResult<()> {
    client
        .stop_service_deployment()
        .service_deployment_arn(arn)
        .stop_type(ecs::types::StopServiceDeploymentStopType::Rollback)
        .send()
        .await
        .map_err(|e| api_error("StopServiceDeployment", e))?;
    Ok(())
}
