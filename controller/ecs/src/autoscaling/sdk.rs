//! [`AutoscalingApi`] on `aws-sdk-applicationautoscaling`: conversions between the SDK's types
//! and ferry-core's shapes. Errors are classified like every other call (`sdk::api_error`).

use aws_sdk_applicationautoscaling::types as aas;
use ferry_core::autoscaling::{
    DESIRED_COUNT_DIMENSION, LiveScalableTarget, PredefinedMetricSpecification, PutScalingPolicy,
    PutScheduledAction, RegisterScalableTarget, ScalableTargetAction, TargetTrackingConfiguration,
};

use super::api::{AutoscalingApi, Page};
use crate::api::{ApiError, ApiResult};
use crate::sdk::{SdkApi, api_error};

fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn dimension() -> aas::ScalableDimension {
    aas::ScalableDimension::from(DESIRED_COUNT_DIMENSION)
}

fn build_error(operation: &'static str, err: impl std::fmt::Display) -> ApiError {
    ApiError {
        operation,
        code: None,
        message: format!("invalid input: {err}"),
        transient: false,
    }
}

fn policy_from(p: &aas::ScalingPolicy) -> PutScalingPolicy {
    PutScalingPolicy {
        policy_name: p.policy_name().to_owned(),
        service_namespace: p.service_namespace().as_str().to_owned(),
        resource_id: p.resource_id().to_owned(),
        scalable_dimension: p.scalable_dimension().as_str().to_owned(),
        policy_type: p.policy_type().as_str().to_owned(),
        target_tracking_scaling_policy_configuration: p
            .target_tracking_scaling_policy_configuration()
            .map(|c| TargetTrackingConfiguration {
                target_value: c.target_value(),
                predefined_metric_specification: c
                    .predefined_metric_specification()
                    .map(|m| PredefinedMetricSpecification {
                        predefined_metric_type: m.predefined_metric_type().as_str().to_owned(),
                        resource_label: m.resource_label().map(str::to_owned),
                    })
                    .unwrap_or_default(),
                scale_out_cooldown: c.scale_out_cooldown().map(count),
                scale_in_cooldown: c.scale_in_cooldown().map(count),
                disable_scale_in: c.disable_scale_in(),
            }),
    }
}

fn action_from(a: &aas::ScheduledAction) -> PutScheduledAction {
    PutScheduledAction {
        service_namespace: a.service_namespace().as_str().to_owned(),
        scheduled_action_name: a.scheduled_action_name().to_owned(),
        resource_id: a.resource_id().to_owned(),
        scalable_dimension: a
            .scalable_dimension()
            .map(|d| d.as_str().to_owned())
            .unwrap_or_default(),
        schedule: a.schedule().to_owned(),
        timezone: a.timezone().map(str::to_owned),
        scalable_target_action: a
            .scalable_target_action()
            .map(|t| ScalableTargetAction {
                min_capacity: t.min_capacity().map(count),
                max_capacity: t.max_capacity().map(count),
            })
            .unwrap_or_default(),
    }
}

impl AutoscalingApi for SdkApi {
    async fn describe_scalable_targets(
        &self,
        resource_ids: &[String],
    ) -> ApiResult<Vec<LiveScalableTarget>> {
        const OP: &str = "DescribeScalableTargets";
        let out = self
            .autoscaling
            .describe_scalable_targets()
            .service_namespace(aas::ServiceNamespace::Ecs)
            .scalable_dimension(dimension())
            .set_resource_ids(Some(resource_ids.to_vec()))
            .max_results(50)
            .send()
            .await
            .map_err(|e| api_error(OP, e))?;
        Ok(out
            .scalable_targets()
            .iter()
            .map(|t| LiveScalableTarget {
                resource_id: t.resource_id().to_owned(),
                scalable_target_arn: t.scalable_target_arn().map(str::to_owned),
                min_capacity: count(t.min_capacity()),
                max_capacity: count(t.max_capacity()),
                policies: Vec::new(),
                scheduled_actions: Vec::new(),
            })
            .collect())
    }

    async fn describe_scaling_policies(
        &self,
        next_token: Option<String>,
    ) -> ApiResult<Page<PutScalingPolicy>> {
        let out = self
            .autoscaling
            .describe_scaling_policies()
            .service_namespace(aas::ServiceNamespace::Ecs)
            .max_results(10)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| api_error("DescribeScalingPolicies", e))?;
        Ok((
            out.scaling_policies().iter().map(policy_from).collect(),
            out.next_token().map(str::to_owned),
        ))
    }

    async fn describe_scheduled_actions(
        &self,
        next_token: Option<String>,
    ) -> ApiResult<Page<PutScheduledAction>> {
        let out = self
            .autoscaling
            .describe_scheduled_actions()
            .service_namespace(aas::ServiceNamespace::Ecs)
            .max_results(50)
            .set_next_token(next_token)
            .send()
            .await
            .map_err(|e| api_error("DescribeScheduledActions", e))?;
        Ok((
            out.scheduled_actions().iter().map(action_from).collect(),
            out.next_token().map(str::to_owned),
        ))
    }

    async fn register_scalable_target(&self, input: &RegisterScalableTarget) -> ApiResult<()> {
        self.autoscaling
            .register_scalable_target()
            .service_namespace(aas::ServiceNamespace::from(
                input.service_namespace.as_str(),
            ))
            .resource_id(&input.resource_id)
            .scalable_dimension(aas::ScalableDimension::from(
                input.scalable_dimension.as_str(),
            ))
            .min_capacity(int(input.min_capacity))
            .max_capacity(int(input.max_capacity))
            .set_tags((!input.tags.is_empty()).then(|| {
                input
                    .tags
                    .iter()
                    .map(|(k, v)| (k.clone(), v.clone()))
                    .collect()
            }))
            .send()
            .await
            .map_err(|e| api_error("RegisterScalableTarget", e))?;
        Ok(())
    }

    async fn deregister_scalable_target(&self, resource_id: &str) -> ApiResult<()> {
        self.autoscaling
            .deregister_scalable_target()
            .service_namespace(aas::ServiceNamespace::Ecs)
            .resource_id(resource_id)
            .scalable_dimension(dimension())
            .send()
            .await
            .map_err(|e| api_error("DeregisterScalableTarget", e))?;
        Ok(())
    }

    async fn put_scaling_policy(&self, input: &PutScalingPolicy) -> ApiResult<()> {
        const OP: &str = "PutScalingPolicy";
        let config = match &input.target_tracking_scaling_policy_configuration {
            Some(c) => {
                let metric = &c.predefined_metric_specification;
                Some(
                    aas::TargetTrackingScalingPolicyConfiguration::builder()
                        .target_value(c.target_value)
                        .predefined_metric_specification(
                            aas::PredefinedMetricSpecification::builder()
                                .predefined_metric_type(aas::MetricType::from(
                                    metric.predefined_metric_type.as_str(),
                                ))
                                .set_resource_label(
                                    metric.resource_label.clone().filter(|l| !l.is_empty()),
                                )
                                .build()
                                .map_err(|e| build_error(OP, e))?,
                        )
                        .set_scale_out_cooldown(c.scale_out_cooldown.map(int))
                        .set_scale_in_cooldown(c.scale_in_cooldown.map(int))
                        .set_disable_scale_in(c.disable_scale_in)
                        .build()
                        .map_err(|e| build_error(OP, e))?,
                )
            }
            None => None,
        };
        self.autoscaling
            .put_scaling_policy()
            .policy_name(&input.policy_name)
            .service_namespace(aas::ServiceNamespace::from(
                input.service_namespace.as_str(),
            ))
            .resource_id(&input.resource_id)
            .scalable_dimension(aas::ScalableDimension::from(
                input.scalable_dimension.as_str(),
            ))
            .policy_type(aas::PolicyType::from(input.policy_type.as_str()))
            .set_target_tracking_scaling_policy_configuration(config)
            .send()
            .await
            .map_err(|e| api_error(OP, e))?;
        Ok(())
    }

    async fn delete_scaling_policy(&self, resource_id: &str, policy_name: &str) -> ApiResult<()> {
        self.autoscaling
            .delete_scaling_policy()
            .policy_name(policy_name)
            .service_namespace(aas::ServiceNamespace::Ecs)
            .resource_id(resource_id)
            .scalable_dimension(dimension())
            .send()
            .await
            .map_err(|e| api_error("DeleteScalingPolicy", e))?;
        Ok(())
    }

    async fn put_scheduled_action(&self, input: &PutScheduledAction) -> ApiResult<()> {
        let t = &input.scalable_target_action;
        self.autoscaling
            .put_scheduled_action()
            .service_namespace(aas::ServiceNamespace::from(
                input.service_namespace.as_str(),
            ))
            .scheduled_action_name(&input.scheduled_action_name)
            .resource_id(&input.resource_id)
            .scalable_dimension(aas::ScalableDimension::from(
                input.scalable_dimension.as_str(),
            ))
            .schedule(&input.schedule)
            .set_timezone(input.timezone.clone())
            .scalable_target_action(
                aas::ScalableTargetAction::builder()
                    .set_min_capacity(t.min_capacity.map(int))
                    .set_max_capacity(t.max_capacity.map(int))
                    .build(),
            )
            .send()
            .await
            .map_err(|e| api_error("PutScheduledAction", e))?;
        Ok(())
    }

    async fn delete_scheduled_action(&self, resource_id: &str, action_name: &str) -> ApiResult<()> {
        self.autoscaling
            .delete_scheduled_action()
            .service_namespace(aas::ServiceNamespace::Ecs)
            .scheduled_action_name(action_name)
            .resource_id(resource_id)
            .scalable_dimension(dimension())
            .send()
            .await
            .map_err(|e| api_error("DeleteScheduledAction", e))?;
        Ok(())
    }
}
