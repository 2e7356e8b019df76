//! The AWS SDK side of progressive delivery: the strategy fields of `deploymentConfiguration`
//! and `loadBalancers[].advancedConfiguration` both ways, and the service deployment calls
//! (`ListServiceDeployments`, `DescribeServiceDeployments`, `ContinueServiceDeployment`,
//! `StopServiceDeployment`).

use std::time::SystemTime;

use aws_sdk_ecs as ecs;
use ferry_core::progressive::{
    AdvancedConfiguration, CanaryConfiguration, DeploymentAlarms, LifecycleHook,
    LinearConfiguration, StrategyConfiguration,
};

use crate::api::{ApiResult, LiveHook, LiveServiceDeployment};
use crate::sdk::api_error;

/// ECS's strategy fields, in ferry-core's shape.
pub(crate) fn strategy_from(d: &ecs::types::DeploymentConfiguration) -> StrategyConfiguration {
    StrategyConfiguration {
        strategy: d.strategy().map(|s| s.as_str().to_owned()),
        bake_time_in_minutes: d.bake_time_in_minutes(),
        canary_configuration: d.canary_configuration().map(|c| CanaryConfiguration {
            canary_percent: c.canary_percent().unwrap_or_default(),
            canary_bake_time_in_minutes: c.canary_bake_time_in_minutes().unwrap_or_default(),
        }),
        linear_configuration: d.linear_configuration().map(|l| LinearConfiguration {
            step_percent: l.step_percent().unwrap_or_default(),
            step_bake_time_in_minutes: l.step_bake_time_in_minutes().unwrap_or_default(),
        }),
        alarms: d.alarms().map(|a| DeploymentAlarms {
            alarm_names: a.alarm_names().to_vec(),
            enable: a.enable(),
            rollback: a.rollback(),
        }),
        lifecycle_hooks: d
            .lifecycle_hooks()
            .iter()
            .map(|h| LifecycleHook {
                target_type: h
                    .target_type()
                    .map_or_else(|| "AWS_LAMBDA".to_owned(), |t| t.as_str().to_owned()),
                hook_target_arn: h.hook_target_arn().map(str::to_owned),
                role_arn: h.role_arn().map(str::to_owned),
                lifecycle_stages: h
                    .lifecycle_stages()
                    .iter()
                    .map(|s| s.as_str().to_owned())
                    .collect(),
            })
            .collect(),
    }
}

/// ferry-core's strategy fields onto an ECS `deploymentConfiguration` builder.
pub(crate) fn strategy_to(
    b: ecs::types::builders::DeploymentConfigurationBuilder,
    s: &StrategyConfiguration,
) -> ecs::types::builders::DeploymentConfigurationBuilder {
    b.set_strategy(
        s.strategy
            .as_deref()
            .map(ecs::types::DeploymentStrategy::from),
    )
    .set_bake_time_in_minutes(s.bake_time_in_minutes)
    .set_canary_configuration(s.canary_configuration.as_ref().map(|c| {
        ecs::types::CanaryConfiguration::builder()
            .canary_percent(c.canary_percent)
            .canary_bake_time_in_minutes(c.canary_bake_time_in_minutes)
            .build()
    }))
    .set_linear_configuration(s.linear_configuration.as_ref().map(|l| {
        ecs::types::LinearConfiguration::builder()
            .step_percent(l.step_percent)
            .step_bake_time_in_minutes(l.step_bake_time_in_minutes)
            .build()
    }))
    .set_alarms(s.alarms.as_ref().and_then(|a| {
        ecs::types::DeploymentAlarms::builder()
            .set_alarm_names(Some(a.alarm_names.clone()))
            .enable(a.enable)
            .rollback(a.rollback)
            .build()
            .ok()
    }))
    .set_lifecycle_hooks((!s.lifecycle_hooks.is_empty()).then(|| {
        s.lifecycle_hooks
            .iter()
            .map(|h| {
                ecs::types::DeploymentLifecycleHook::builder()
                    .target_type(ecs::types::DeploymentLifecycleHookTargetType::from(
                        h.target_type.as_str(),
                    ))
                    .set_hook_target_arn(h.hook_target_arn.clone())
                    .set_role_arn(h.role_arn.clone())
                    .set_lifecycle_stages(Some(
                        h.lifecycle_stages
                            .iter()
                            .map(|s| ecs::types::DeploymentLifecycleHookStage::from(s.as_str()))
                            .collect(),
                    ))
                    .build()
            })
            .collect()
    }))
}

/// ECS's `advancedConfiguration`, in ferry-core's shape.
pub(crate) fn advanced_from(a: &ecs::types::AdvancedConfiguration) -> AdvancedConfiguration {
    AdvancedConfiguration {
        alternate_target_group_arn: a.alternate_target_group_arn().unwrap_or_default().into(),
        production_listener_rule: a.production_listener_rule().unwrap_or_default().into(),
        test_listener_rule: a.test_listener_rule().map(str::to_owned),
        role_arn: a.role_arn().unwrap_or_default().into(),
    }
}

/// ferry-core's `advancedConfiguration` for ECS.
pub(crate) fn advanced_to(a: &AdvancedConfiguration) -> ecs::types::AdvancedConfiguration {
    ecs::types::AdvancedConfiguration::builder()
        .alternate_target_group_arn(&a.alternate_target_group_arn)
        .production_listener_rule(&a.production_listener_rule)
        .set_test_listener_rule(a.test_listener_rule.clone())
        .role_arn(&a.role_arn)
        .build()
}

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
