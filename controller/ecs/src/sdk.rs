//! [`EcsApi`] on the official AWS SDK (`aws-sdk-ecs`, `aws-sdk-ecr`): conversions between the
//! SDK's types and ferry-core's shapes, and error classification. Configuration comes from the
//! AWS default chain (profile, environment, region; `AWS_ENDPOINT_URL` is read by aws-config),
//! with explicit overrides for tests and tools. Retries: the SDK's standard mode (exponential
//! backoff with full jitter); the request rate is Ferry's own ([`crate::pace`]), which recovers
//! within a second after a burst of throttling instead of the adaptive mode's minutes.

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_ecr::types as ecr;
use aws_sdk_ecs::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ecs::types as ecs;
use ferry_core::live::{LiveDeployment, LiveRepository, LiveService};
use ferry_core::render::{
    AwsVpcConfiguration, CapacityProviderStrategyItem, ContainerDefinition, ContainerDependencyOut,
    CreateRepository, CreateService, DeploymentCircuitBreaker, DeploymentConfiguration,
    EncryptionConfiguration, HealthCheckOut, ImageScanningConfiguration, KeyValuePair,
    LoadBalancer, LogConfigurationOut, NetworkConfiguration, PortMappingOut, RunTask, Secret, Tag,
    TagOut, TaskDefinition, UpdateService,
};

use crate::api::{ApiError, ApiResult, EcsApi, LiveContainer, LiveTask};
use crate::sdk_features as features;

/// How to reach AWS. Every field left `None` comes from the default chain.
#[derive(Clone, Debug)]
pub struct AwsSettings {
    /// Region (else `AWS_REGION` / the profile's).
    pub region: Option<String>,
    /// Endpoint (else `AWS_ENDPOINT_URL`, else AWS).
    pub endpoint_url: Option<String>,
    /// Static access key id and secret (else the default credential chain).
    pub static_credentials: Option<(String, String)>,
    /// Attempts per call, the first included (standard retry mode).
    pub max_attempts: u32,
    /// First retry backoff (doubles, with jitter).
    pub initial_backoff: Duration,
    /// Give up one attempt after this long.
    pub attempt_timeout: Duration,
}

impl Default for AwsSettings {
    fn default() -> Self {
        Self {
            region: None,
            endpoint_url: None,
            static_credentials: None,
            max_attempts: 8,
            initial_backoff: Duration::from_millis(25),
            attempt_timeout: Duration::from_secs(30),
        }
    }
}

/// ECS and ECR clients sharing one configuration.
#[derive(Clone, Debug)]
pub struct SdkApi {
    ecs: aws_sdk_ecs::Client,
    ecr: aws_sdk_ecr::Client,
    pub(crate) autoscaling: aws_sdk_applicationautoscaling::Client,
    pub(crate) cloudwatch: aws_sdk_cloudwatch::Client,
}

impl SdkApi {
    /// Load the AWS configuration (default chain plus `settings`) and build the clients.
    pub async fn connect(settings: &AwsSettings) -> Self {
        let mut loader = aws_config::defaults(BehaviorVersion::latest())
            .retry_config(
                RetryConfig::standard()
                    .with_max_attempts(settings.max_attempts.max(1))
                    .with_initial_backoff(settings.initial_backoff)
                    .with_max_backoff(Duration::from_secs(5)),
            )
            .timeout_config(
                TimeoutConfig::builder()
                    .connect_timeout(Duration::from_secs(5))
                    .operation_attempt_timeout(settings.attempt_timeout)
                    .build(),
            );
        if let Some(region) = &settings.region {
            loader = loader.region(Region::new(region.clone()));
        }
        if let Some(url) = &settings.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        if let Some((id, secret)) = &settings.static_credentials {
            loader = loader.credentials_provider(aws_sdk_ecs::config::Credentials::new(
                id, secret, None, None, "ferry",
            ));
        }
        let config = loader.load().await;
        Self {
            ecs: aws_sdk_ecs::Client::new(&config),
            ecr: aws_sdk_ecr::Client::new(&config),
            autoscaling: aws_sdk_applicationautoscaling::Client::new(&config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
        }
    }

    /// The ECR client (tests push images with it).
    pub fn ecr_client(&self) -> &aws_sdk_ecr::Client {
        &self.ecr
    }

    /// The ECS client (tests create clusters and out-of-band changes with it).
    pub fn ecs_client(&self) -> &aws_sdk_ecs::Client {
        &self.ecs
    }
}

/// Classify an SDK error: throttling, 5xx, timeouts and connection failures are transient.
pub(crate) fn api_error<E, R>(operation: &'static str, err: SdkError<E, R>) -> ApiError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let code = err.code().map(str::to_owned);
    let message = err
        .message()
        .map(str::to_owned)
        .unwrap_or_else(|| aws_sdk_ecs::error::DisplayErrorContext(&err).to_string());
    let transient = match &err {
        SdkError::ServiceError(_) => {
            code.as_deref().is_some_and(|c| {
                c.contains("Throttl")
                    || c.contains("TooManyRequests")
                    || c == "RequestLimitExceeded"
                    || c == "ServerException"
                    || c == "ServiceUnavailable"
                    || c == "InternalFailure"
            }) || code.is_none()
        }
        SdkError::ConstructionFailure(_) => false,
        _ => true,
    };
    ApiError {
        operation,
        code,
        message,
        transient,
    }
}

fn build_error(operation: &'static str, err: impl std::fmt::Display) -> ApiError {
    ApiError {
        operation,
        code: None,
        message: format!("invalid input: {err}"),
        transient: false,
    }
}

fn count(n: i32) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

fn opt_count(n: Option<i32>) -> Option<u32> {
    n.and_then(|v| u32::try_from(v).ok())
}

fn int(n: u32) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX)
}

fn live_service(s: &ecs::Service) -> LiveService {
    LiveService {
        service_name: s.service_name().unwrap_or_default().to_owned(),
        service_arn: s.service_arn().unwrap_or_default().to_owned(),
        status: s.status().unwrap_or_default().to_owned(),
        desired_count: count(s.desired_count()),
        running_count: count(s.running_count()),
        pending_count: count(s.pending_count()),
        task_definition: s.task_definition().unwrap_or_default().to_owned(),
        launch_type: s.launch_type().map(|l| l.as_str().to_owned()),
        capacity_provider_strategy: s
            .capacity_provider_strategy()
            .iter()
            .map(|c| CapacityProviderStrategyItem {
                capacity_provider: c.capacity_provider().to_owned(),
                weight: count(c.weight()),
                base: count(c.base()),
            })
            .collect(),
        network_configuration: s
            .network_configuration()
            .and_then(|n| n.awsvpc_configuration())
            .map(|v| NetworkConfiguration {
                awsvpc_configuration: AwsVpcConfiguration {
                    subnets: v.subnets().to_vec(),
                    security_groups: v.security_groups().to_vec(),
                    assign_public_ip: v.assign_public_ip().map(|a| a.as_str().to_owned()),
                },
            }),
        load_balancers: s
            .load_balancers()
            .iter()
            .map(|l| LoadBalancer {
                target_group_arn: l.target_group_arn().unwrap_or_default().to_owned(),
                container_name: l.container_name().unwrap_or_default().to_owned(),
                container_port: l
                    .container_port()
                    .and_then(|p| u16::try_from(p).ok())
                    .unwrap_or(0),
                advanced_configuration: l
                    .advanced_configuration()
                    .map(crate::sdk_progressive::advanced_from),
            })
            .collect(),
        deployment_configuration: s
            .deployment_configuration()
            .map(|d| DeploymentConfiguration {
                minimum_healthy_percent: opt_count(d.minimum_healthy_percent()),
                maximum_percent: opt_count(d.maximum_percent()),
                deployment_circuit_breaker: d.deployment_circuit_breaker().map(|c| {
                    DeploymentCircuitBreaker {
                        enable: c.enable(),
                        rollback: c.rollback(),
                    }
                }),
                strategy: crate::sdk_progressive::strategy_from(d),
            }),
        health_check_grace_period_seconds: opt_count(s.health_check_grace_period_seconds()),
        tags: s
            .tags()
            .iter()
            .map(|t| Tag {
                key: t.key().unwrap_or_default().to_owned(),
                value: t.value().unwrap_or_default().to_owned(),
            })
            .collect(),
        deployments: s
            .deployments()
            .iter()
            .map(|d| LiveDeployment {
                id: d.id().unwrap_or_default().to_owned(),
                status: d.status().unwrap_or_default().to_owned(),
                task_definition: d.task_definition().unwrap_or_default().to_owned(),
                desired_count: count(d.desired_count()),
                running_count: count(d.running_count()),
                pending_count: count(d.pending_count()),
                failed_tasks: count(d.failed_tasks()),
                rollout_state: d.rollout_state().map(|r| r.as_str().to_owned()),
                rollout_state_reason: d.rollout_state_reason().map(str::to_owned),
            })
            .collect(),
        enable_execute_command: s.enable_execute_command(),
        placement_constraints: features::placement_constraints_from(s.placement_constraints()),
        placement_strategy: features::placement_strategy_from(s.placement_strategy()),
        service_registries: features::service_registries_from(s.service_registries()),
        service_connect_configuration: s
            .deployments()
            .iter()
            .find(|d| d.status() == Some("PRIMARY"))
            .or_else(|| s.deployments().first())
            .and_then(|d| d.service_connect_configuration())
            .map(features::service_connect_from),
    }
}

fn task_definition_from(td: &ecs::TaskDefinition) -> TaskDefinition {
    TaskDefinition {
        family: td.family().unwrap_or_default().to_owned(),
        network_mode: td.network_mode().map(|m| m.as_str().to_owned()),
        requires_compatibilities: td
            .requires_compatibilities()
            .iter()
            .map(|c| c.as_str().to_owned())
            .collect(),
        cpu: td.cpu().map(str::to_owned),
        memory: td.memory().map(str::to_owned),
        execution_role_arn: td.execution_role_arn().map(str::to_owned),
        task_role_arn: td.task_role_arn().map(str::to_owned),
        container_definitions: td
            .container_definitions()
            .iter()
            .map(container_from)
            .collect(),
        tags: Vec::new(),
        runtime_platform: td.runtime_platform().map(features::runtime_platform_from),
        volumes: td.volumes().iter().map(features::volume_from).collect(),
        ephemeral_storage: td.ephemeral_storage().map(features::ephemeral_storage_from),
    }
}

fn container_from(c: &ecs::ContainerDefinition) -> ContainerDefinition {
    ContainerDefinition {
        name: c.name().unwrap_or_default().to_owned(),
        image: c.image().unwrap_or_default().to_owned(),
        cpu: Some(count(c.cpu())),
        memory: opt_count(c.memory()),
        memory_reservation: opt_count(c.memory_reservation()),
        essential: c.essential(),
        command: c.command().to_vec(),
        entry_point: c.entry_point().to_vec(),
        port_mappings: c
            .port_mappings()
            .iter()
            .map(|p| PortMappingOut {
                container_port: p
                    .container_port()
                    .and_then(|v| u16::try_from(v).ok())
                    .unwrap_or(0),
                host_port: p.host_port().and_then(|v| u16::try_from(v).ok()),
                protocol: p.protocol().map(|v| v.as_str().to_owned()),
                name: p.name().map(str::to_owned),
            })
            .collect(),
        environment: c
            .environment()
            .iter()
            .map(|kv| KeyValuePair {
                name: kv.name().unwrap_or_default().to_owned(),
                value: kv.value().unwrap_or_default().to_owned(),
            })
            .collect(),
        secrets: c
            .secrets()
            .iter()
            .map(|s| Secret {
                name: s.name().to_owned(),
                value_from: s.value_from().to_owned(),
            })
            .collect(),
        health_check: c.health_check().map(|h| HealthCheckOut {
            command: h.command().to_vec(),
            interval: opt_count(h.interval()),
            timeout: opt_count(h.timeout()),
            retries: opt_count(h.retries()),
            start_period: opt_count(h.start_period()),
        }),
        depends_on: c
            .depends_on()
            .iter()
            .map(|d| ContainerDependencyOut {
                container_name: d.container_name().to_owned(),
                condition: d.condition().as_str().to_owned(),
            })
            .collect(),
        log_configuration: c.log_configuration().map(|l| LogConfigurationOut {
            log_driver: l.log_driver().as_str().to_owned(),
            options: l
                .options()
                .map(|o| o.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
                .unwrap_or_default(),
        }),
        working_directory: c.working_directory().map(str::to_owned),
        readonly_root_filesystem: c.readonly_root_filesystem(),
        user: c.user().map(str::to_owned),
        mount_points: c
            .mount_points()
            .iter()
            .map(features::mount_point_from)
            .collect(),
        ulimits: c
            .ulimits()
            .iter()
            .filter_map(features::ulimit_from)
            .collect(),
        stop_timeout: opt_count(c.stop_timeout()),
    }
}

const REGISTER: &str = "RegisterTaskDefinition";

fn container_to(c: &ContainerDefinition) -> ApiResult<ecs::ContainerDefinition> {
    let mut b = ecs::ContainerDefinition::builder()
        .name(&c.name)
        .image(&c.image)
        .set_memory(c.memory.map(int))
        .set_memory_reservation(c.memory_reservation.map(int))
        .set_essential(c.essential)
        .set_command((!c.command.is_empty()).then(|| c.command.clone()))
        .set_entry_point((!c.entry_point.is_empty()).then(|| c.entry_point.clone()))
        .set_working_directory(c.working_directory.clone())
        .set_readonly_root_filesystem(c.readonly_root_filesystem)
        .set_user(c.user.clone())
        .set_stop_timeout(c.stop_timeout.map(int))
        .set_mount_points((!c.mount_points.is_empty()).then(|| {
            c.mount_points
                .iter()
                .map(features::mount_point_to)
                .collect()
        }));
    for u in &c.ulimits {
        b = b.ulimits(features::ulimit_to(REGISTER, u)?);
    }
    if let Some(cpu) = c.cpu {
        b = b.cpu(int(cpu));
    }
    for p in &c.port_mappings {
        b = b.port_mappings(
            ecs::PortMapping::builder()
                .container_port(i32::from(p.container_port))
                .set_host_port(p.host_port.map(i32::from))
                .set_protocol(p.protocol.as_deref().map(ecs::TransportProtocol::from))
                .set_name(p.name.clone())
                .build(),
        );
    }
    for kv in &c.environment {
        b = b.environment(
            ecs::KeyValuePair::builder()
                .name(&kv.name)
                .value(&kv.value)
                .build(),
        );
    }
    for s in &c.secrets {
        b = b.secrets(
            ecs::Secret::builder()
                .name(&s.name)
                .value_from(&s.value_from)
                .build()
                .map_err(|e| build_error(REGISTER, e))?,
        );
    }
    if let Some(h) = &c.health_check {
        b = b.health_check(
            ecs::HealthCheck::builder()
                .set_command(Some(h.command.clone()))
                .set_interval(h.interval.map(int))
                .set_timeout(h.timeout.map(int))
                .set_retries(h.retries.map(int))
                .set_start_period(h.start_period.map(int))
                .build()
                .map_err(|e| build_error(REGISTER, e))?,
        );
    }
    for d in &c.depends_on {
        b = b.depends_on(
            ecs::ContainerDependency::builder()
                .container_name(&d.container_name)
                .condition(ecs::ContainerCondition::from(d.condition.as_str()))
                .build()
                .map_err(|e| build_error(REGISTER, e))?,
        );
    }
    if let Some(l) = &c.log_configuration {
        b = b.log_configuration(
            ecs::LogConfiguration::builder()
                .log_driver(ecs::LogDriver::from(l.log_driver.as_str()))
                .set_options((!l.options.is_empty()).then(|| {
                    l.options
                        .iter()
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                }))
                .build()
                .map_err(|e| build_error(REGISTER, e))?,
        );
    }
    Ok(b.build())
}

fn ecs_tags(tags: &[Tag]) -> Vec<ecs::Tag> {
    tags.iter()
        .map(|t| ecs::Tag::builder().key(&t.key).value(&t.value).build())
        .collect()
}

fn network_to(
    operation: &'static str,
    n: Option<&NetworkConfiguration>,
) -> ApiResult<Option<ecs::NetworkConfiguration>> {
    let Some(n) = n else { return Ok(None) };
    let v = &n.awsvpc_configuration;
    let vpc = ecs::AwsVpcConfiguration::builder()
        .set_subnets(Some(v.subnets.clone()))
        .set_security_groups((!v.security_groups.is_empty()).then(|| v.security_groups.clone()))
        .set_assign_public_ip(v.assign_public_ip.as_deref().map(ecs::AssignPublicIp::from))
        .build()
        .map_err(|e| build_error(operation, e))?;
    Ok(Some(
        ecs::NetworkConfiguration::builder()
            .awsvpc_configuration(vpc)
            .build(),
    ))
}

fn load_balancers_to(lbs: &[LoadBalancer]) -> Vec<ecs::LoadBalancer> {
    lbs.iter()
        .map(|l| {
            ecs::LoadBalancer::builder()
                .target_group_arn(&l.target_group_arn)
                .container_name(&l.container_name)
                .container_port(i32::from(l.container_port))
                .set_advanced_configuration(
                    l.advanced_configuration
                        .as_ref()
                        .map(crate::sdk_progressive::advanced_to),
                )
                .build()
        })
        .collect()
}

fn strategy_to(
    operation: &'static str,
    items: &[CapacityProviderStrategyItem],
) -> ApiResult<Vec<ecs::CapacityProviderStrategyItem>> {
    items
        .iter()
        .map(|c| {
            ecs::CapacityProviderStrategyItem::builder()
                .capacity_provider(&c.capacity_provider)
                .weight(int(c.weight))
                .base(int(c.base))
                .build()
                .map_err(|e| build_error(operation, e))
        })
        .collect()
}

fn deployment_to(d: &DeploymentConfiguration) -> ecs::DeploymentConfiguration {
    let builder = ecs::DeploymentConfiguration::builder();
    crate::sdk_progressive::strategy_to(builder, &d.strategy)
        .set_minimum_healthy_percent(d.minimum_healthy_percent.map(int))
        .set_maximum_percent(d.maximum_percent.map(int))
        .set_deployment_circuit_breaker(d.deployment_circuit_breaker.as_ref().map(|c| {
            ecs::DeploymentCircuitBreaker::builder()
                .enable(c.enable)
                .rollback(c.rollback)
                .build()
        }))
        .build()
}

fn repository_from(r: &ecr::Repository) -> LiveRepository {
    LiveRepository {
        repository_name: r.repository_name().unwrap_or_default().to_owned(),
        repository_arn: r.repository_arn().unwrap_or_default().to_owned(),
        repository_uri: r.repository_uri().unwrap_or_default().to_owned(),
        image_tag_mutability: r
            .image_tag_mutability()
            .map(|m| m.as_str().to_owned())
            .unwrap_or_default(),
        image_scanning_configuration: ImageScanningConfiguration {
            scan_on_push: r
                .image_scanning_configuration()
                .is_some_and(|s| s.scan_on_push()),
        },
        encryption_configuration: r
            .encryption_configuration()
            .map(|e| EncryptionConfiguration {
                encryption_type: e.encryption_type().as_str().to_owned(),
                kms_key: e.kms_key().map(str::to_owned),
            }),
        tags: Vec::new(),
        lifecycle_policy_text: None,
    }
}

fn ecr_tags(operation: &'static str, tags: &[TagOut]) -> ApiResult<Vec<ecr::Tag>> {
    tags.iter()
        .map(|t| {
            ecr::Tag::builder()
                .key(&t.key)
                .value(&t.value)
                .build()
                .map_err(|e| build_error(operation, e))
        })
        .collect()
}

impl EcsApi for SdkApi {
    async fn list_services(&self, cluster: &str) -> ApiResult<Vec<String>> {
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .ecs
                .list_services()
                .cluster(cluster)
                .max_results(100)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| api_error("ListServices", e))?;
            names.extend(
                out.service_arns()
                    .iter()
                    .map(|arn| arn.rsplit('/').next().unwrap_or(arn).to_owned()),
            );
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(names);
            }
        }
    }

    async fn describe_services(
        &self,
        cluster: &str,
        names: &[String],
    ) -> ApiResult<Vec<LiveService>> {
        let out = self
            .ecs
            .describe_services()
            .cluster(cluster)
            .set_services(Some(names.to_vec()))
            .include(ecs::ServiceField::Tags)
            .send()
            .await
            .map_err(|e| api_error("DescribeServices", e))?;
        Ok(out.services().iter().map(live_service).collect())
    }

    async fn describe_task_definition(
        &self,
        arn_or_family: &str,
    ) -> ApiResult<Option<(String, TaskDefinition)>> {
        match self
            .ecs
            .describe_task_definition()
            .task_definition(arn_or_family)
            .send()
            .await
        {
            Ok(out) => Ok(out.task_definition().map(|td| {
                (
                    td.task_definition_arn().unwrap_or_default().to_owned(),
                    task_definition_from(td),
                )
            })),
            Err(e) => {
                let err = api_error("DescribeTaskDefinition", e);
                // ECS answers an unknown family or revision with a ClientException.
                if err.is("ClientException") {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn list_task_definitions(&self, family: &str) -> ApiResult<Vec<String>> {
        let mut arns = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .ecs
                .list_task_definitions()
                .family_prefix(family)
                .status(ecs::TaskDefinitionStatus::Active)
                .sort(ecs::SortOrder::Desc)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| api_error("ListTaskDefinitions", e))?;
            arns.extend(out.task_definition_arns().iter().cloned());
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(arns);
            }
        }
    }

    async fn register_task_definition(&self, td: &TaskDefinition) -> ApiResult<String> {
        let containers = td
            .container_definitions
            .iter()
            .map(container_to)
            .collect::<ApiResult<Vec<_>>>()?;
        let out = self
            .ecs
            .register_task_definition()
            .family(&td.family)
            .set_network_mode(td.network_mode.as_deref().map(ecs::NetworkMode::from))
            .set_requires_compatibilities(Some(
                td.requires_compatibilities
                    .iter()
                    .map(|c| ecs::Compatibility::from(c.as_str()))
                    .collect(),
            ))
            .set_cpu(td.cpu.clone())
            .set_memory(td.memory.clone())
            .set_execution_role_arn(td.execution_role_arn.clone())
            .set_task_role_arn(td.task_role_arn.clone())
            .set_container_definitions(Some(containers))
            .set_runtime_platform(
                td.runtime_platform
                    .as_ref()
                    .map(features::runtime_platform_to),
            )
            .set_volumes(
                (!td.volumes.is_empty())
                    .then(|| {
                        td.volumes
                            .iter()
                            .map(|v| features::volume_to(REGISTER, v))
                            .collect::<ApiResult<Vec<_>>>()
                    })
                    .transpose()?,
            )
            .set_ephemeral_storage(
                td.ephemeral_storage
                    .as_ref()
                    .map(features::ephemeral_storage_to),
            )
            .set_tags((!td.tags.is_empty()).then(|| ecs_tags(&td.tags)))
            .customize()
            .config_override(
                aws_sdk_ecs::config::Config::builder().retry_config(RetryConfig::disabled()),
            )
            .send()
            .await
            .map_err(|e| api_error(REGISTER, e))?;
        out.task_definition()
            .and_then(|t| t.task_definition_arn())
            .map(str::to_owned)
            .ok_or_else(|| ApiError {
                operation: REGISTER,
                code: None,
                message: "the answer has no task definition ARN".into(),
                transient: false,
            })
    }

    async fn deregister_task_definition(&self, arn: &str) -> ApiResult<()> {
        self.ecs
            .deregister_task_definition()
            .task_definition(arn)
            .send()
            .await
            .map_err(|e| api_error("DeregisterTaskDefinition", e))?;
        Ok(())
    }

    async fn create_service(
        &self,
        input: &CreateService,
        client_token: &str,
    ) -> ApiResult<LiveService> {
        const OP: &str = "CreateService";
        let out = self
            .ecs
            .create_service()
            .cluster(&input.cluster)
            .service_name(&input.service_name)
            .task_definition(&input.task_definition)
            .desired_count(int(input.desired_count))
            .set_launch_type(input.launch_type.as_deref().map(ecs::LaunchType::from))
            .set_capacity_provider_strategy(
                (!input.capacity_provider_strategy.is_empty())
                    .then(|| strategy_to(OP, &input.capacity_provider_strategy))
                    .transpose()?,
            )
            .set_network_configuration(network_to(OP, input.network_configuration.as_ref())?)
            .set_load_balancers(
                (!input.load_balancers.is_empty())
                    .then(|| load_balancers_to(&input.load_balancers)),
            )
            .deployment_configuration(deployment_to(&input.deployment_configuration))
            .set_health_check_grace_period_seconds(input.health_check_grace_period_seconds.map(int))
            .set_tags(Some(ecs_tags(&input.tags)))
            .propagate_tags(ecs::PropagateTags::from(input.propagate_tags.as_str()))
            .enable_ecs_managed_tags(input.enable_ecs_managed_tags)
            .set_enable_execute_command(input.enable_execute_command.then_some(true))
            .set_placement_constraints(
                (!input.placement_constraints.is_empty())
                    .then(|| features::placement_constraints_to(&input.placement_constraints)),
            )
            .set_placement_strategy(
                (!input.placement_strategy.is_empty())
                    .then(|| features::placement_strategy_to(&input.placement_strategy)),
            )
            .set_service_registries(
                (!input.service_registries.is_empty())
                    .then(|| features::service_registries_to(&input.service_registries)),
            )
            .set_service_connect_configuration(
                input
                    .service_connect_configuration
                    .as_ref()
                    .map(|sc| features::service_connect_to(OP, sc))
                    .transpose()?,
            )
            .client_token(client_token)
            .send()
            .await
            .map_err(|e| api_error(OP, e))?;
        Ok(out.service().map(live_service).unwrap_or_default())
    }

    async fn update_service(&self, input: &UpdateService) -> ApiResult<LiveService> {
        const OP: &str = "UpdateService";
        let out = self
            .ecs
            .update_service()
            .cluster(&input.cluster)
            .service(&input.service)
            .set_task_definition(
                (!input.task_definition.is_empty()).then(|| input.task_definition.clone()),
            )
            .set_desired_count(input.desired_count.map(int))
            .set_capacity_provider_strategy(
                (!input.capacity_provider_strategy.is_empty())
                    .then(|| strategy_to(OP, &input.capacity_provider_strategy))
                    .transpose()?,
            )
            .set_network_configuration(network_to(OP, input.network_configuration.as_ref())?)
            .set_load_balancers(
                (!input.load_balancers.is_empty())
                    .then(|| load_balancers_to(&input.load_balancers)),
            )
            .deployment_configuration(deployment_to(&input.deployment_configuration))
            .set_health_check_grace_period_seconds(input.health_check_grace_period_seconds.map(int))
            .set_enable_execute_command(input.enable_execute_command)
            .set_placement_constraints(
                input
                    .placement_constraints
                    .as_deref()
                    .map(features::placement_constraints_to),
            )
            .set_placement_strategy(
                input
                    .placement_strategy
                    .as_deref()
                    .map(features::placement_strategy_to),
            )
            .set_service_registries(
                input
                    .service_registries
                    .as_deref()
                    .map(features::service_registries_to),
            )
            .set_service_connect_configuration(
                input
                    .service_connect_configuration
                    .as_ref()
                    .map(|sc| features::service_connect_to(OP, sc))
                    .transpose()?,
            )
            .send()
            .await
            .map_err(|e| api_error(OP, e))?;
        Ok(out.service().map(live_service).unwrap_or_default())
    }

    async fn tag_service(&self, arn: &str, tags: &[Tag]) -> ApiResult<()> {
        self.ecs
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(ecs_tags(tags)))
            .send()
            .await
            .map_err(|e| api_error("ecs:TagResource", e))?;
        Ok(())
    }

    async fn delete_service(&self, cluster: &str, name: &str) -> ApiResult<()> {
        self.ecs
            .delete_service()
            .cluster(cluster)
            .service(name)
            .force(true)
            .send()
            .await
            .map_err(|e| api_error("DeleteService", e))?;
        Ok(())
    }

    async fn describe_repositories(&self) -> ApiResult<Vec<LiveRepository>> {
        let mut repos = Vec::new();
        let mut token = None;
        loop {
            let out = self
                .ecr
                .describe_repositories()
                .max_results(1000)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| api_error("DescribeRepositories", e))?;
            repos.extend(out.repositories().iter().map(repository_from));
            token = out.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(repos);
            }
        }
    }

    async fn list_repository_tags(&self, arn: &str) -> ApiResult<Vec<TagOut>> {
        let out = self
            .ecr
            .list_tags_for_resource()
            .resource_arn(arn)
            .send()
            .await
            .map_err(|e| api_error("ecr:ListTagsForResource", e))?;
        Ok(out
            .tags()
            .iter()
            .map(|t| TagOut {
                key: t.key().to_owned(),
                value: t.value().to_owned(),
            })
            .collect())
    }

    async fn get_lifecycle_policy(&self, repository: &str) -> ApiResult<Option<String>> {
        match self
            .ecr
            .get_lifecycle_policy()
            .repository_name(repository)
            .send()
            .await
        {
            Ok(out) => Ok(out.lifecycle_policy_text().map(str::to_owned)),
            Err(e) => {
                let err = api_error("GetLifecyclePolicy", e);
                if err.is("LifecyclePolicyNotFoundException") {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn describe_image(&self, repository: &str, tag: &str) -> ApiResult<Option<String>> {
        match self
            .ecr
            .describe_images()
            .repository_name(repository)
            .image_ids(ecr::ImageIdentifier::builder().image_tag(tag).build())
            .send()
            .await
        {
            Ok(out) => Ok(out
                .image_details()
                .iter()
                .find_map(|d| d.image_digest().map(str::to_owned))),
            Err(e) => {
                let err = api_error("DescribeImages", e);
                if err.is("ImageNotFoundException") || err.is("RepositoryNotFoundException") {
                    Ok(None)
                } else {
                    Err(err)
                }
            }
        }
    }

    async fn create_repository(&self, input: &CreateRepository) -> ApiResult<LiveRepository> {
        const OP: &str = "CreateRepository";
        let enc = &input.encryption_configuration;
        let out = self
            .ecr
            .create_repository()
            .repository_name(&input.repository_name)
            .image_tag_mutability(ecr::ImageTagMutability::from(
                input.image_tag_mutability.as_str(),
            ))
            .image_scanning_configuration(
                ecr::ImageScanningConfiguration::builder()
                    .scan_on_push(input.image_scanning_configuration.scan_on_push)
                    .build(),
            )
            .encryption_configuration(
                ecr::EncryptionConfiguration::builder()
                    .encryption_type(ecr::EncryptionType::from(enc.encryption_type.as_str()))
                    .set_kms_key(enc.kms_key.clone())
                    .build()
                    .map_err(|e| build_error(OP, e))?,
            )
            .set_tags(Some(ecr_tags(OP, &input.tags)?))
            .send()
            .await
            .map_err(|e| api_error(OP, e))?;
        Ok(out.repository().map(repository_from).unwrap_or_default())
    }

    async fn put_image_tag_mutability(&self, repository: &str, mutability: &str) -> ApiResult<()> {
        self.ecr
            .put_image_tag_mutability()
            .repository_name(repository)
            .image_tag_mutability(ecr::ImageTagMutability::from(mutability))
            .send()
            .await
            .map_err(|e| api_error("PutImageTagMutability", e))?;
        Ok(())
    }

    async fn put_image_scanning_configuration(
        &self,
        repository: &str,
        scan_on_push: bool,
    ) -> ApiResult<()> {
        self.ecr
            .put_image_scanning_configuration()
            .repository_name(repository)
            .image_scanning_configuration(
                ecr::ImageScanningConfiguration::builder()
                    .scan_on_push(scan_on_push)
                    .build(),
            )
            .send()
            .await
            .map_err(|e| api_error("PutImageScanningConfiguration", e))?;
        Ok(())
    }

    async fn put_lifecycle_policy(&self, repository: &str, text: &str) -> ApiResult<()> {
        self.ecr
            .put_lifecycle_policy()
            .repository_name(repository)
            .lifecycle_policy_text(text)
            .send()
            .await
            .map_err(|e| api_error("PutLifecyclePolicy", e))?;
        Ok(())
    }

    async fn delete_lifecycle_policy(&self, repository: &str) -> ApiResult<()> {
        self.ecr
            .delete_lifecycle_policy()
            .repository_name(repository)
            .send()
            .await
            .map_err(|e| api_error("DeleteLifecyclePolicy", e))?;
        Ok(())
    }

    async fn tag_repository(&self, arn: &str, tags: &[TagOut]) -> ApiResult<()> {
        const OP: &str = "ecr:TagResource";
        self.ecr
            .tag_resource()
            .resource_arn(arn)
            .set_tags(Some(ecr_tags(OP, tags)?))
            .send()
            .await
            .map_err(|e| api_error(OP, e))?;
        Ok(())
    }

    async fn run_task(
        &self,
        input: &RunTask,
        task_definition: &str,
        client_token: &str,
    ) -> ApiResult<String> {
        const OP: &str = "RunTask";
        let out = self
            .ecs
            .run_task()
            .cluster(&input.cluster)
            .task_definition(task_definition)
            .count(int(input.count.max(1)))
            .set_launch_type(input.launch_type.as_deref().map(ecs::LaunchType::from))
            .set_capacity_provider_strategy(
                (!input.capacity_provider_strategy.is_empty())
                    .then(|| strategy_to(OP, &input.capacity_provider_strategy))
                    .transpose()?,
            )
            .set_network_configuration(network_to(OP, input.network_configuration.as_ref())?)
            .started_by(&input.started_by)
            .set_tags((!input.tags.is_empty()).then(|| ecs_tags(&input.tags)))
            .propagate_tags(ecs::PropagateTags::from(input.propagate_tags.as_str()))
            .client_token(client_token)
            .send()
            .await
            .map_err(|e| api_error(OP, e))?;
        if let Some(task) = out.tasks().first() {
            return Ok(task.task_arn().unwrap_or_default().to_owned());
        }
        let why = out
            .failures()
            .iter()
            .map(|f| {
                format!(
                    "{}: {}",
                    f.reason().unwrap_or("failure"),
                    f.detail().unwrap_or_default()
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        Err(ApiError::refused(
            OP,
            "RunTaskFailure",
            format!("no task started ({why})"),
        ))
    }

    async fn describe_task(&self, cluster: &str, arn: &str) -> ApiResult<Option<LiveTask>> {
        let out = self
            .ecs
            .describe_tasks()
            .cluster(cluster)
            .tasks(arn)
            .send()
            .await
            .map_err(|e| api_error("DescribeTasks", e))?;
        Ok(out.tasks().first().map(|t| LiveTask {
            arn: t.task_arn().unwrap_or_default().to_owned(),
            last_status: t.last_status().unwrap_or_default().to_owned(),
            stopped_reason: t.stopped_reason().map(str::to_owned),
            containers: t
                .containers()
                .iter()
                .map(|c| LiveContainer {
                    name: c.name().unwrap_or_default().to_owned(),
                    exit_code: c.exit_code(),
                    reason: c.reason().map(str::to_owned),
                })
                .collect(),
        }))
    }

    async fn stop_task(&self, cluster: &str, arn: &str, reason: &str) -> ApiResult<()> {
        self.ecs
            .stop_task()
            .cluster(cluster)
            .task(arn)
            .reason(reason)
            .send()
            .await
            .map_err(|e| api_error("StopTask", e))?;
        Ok(())
    }

    async fn latest_service_deployment(
        &self,
        cluster: &str,
        service: &str,
    ) -> ApiResult<Option<crate::api::LiveServiceDeployment>> {
        crate::sdk_progressive::latest(&self.ecs, cluster, service).await
    }

    async fn continue_service_deployment(
        &self,
        arn: &str,
        hook_id: &str,
        rollback: bool,
    ) -> ApiResult<()> {
        crate::sdk_progressive::continue_deployment(&self.ecs, arn, hook_id, rollback).await
    }

    async fn rollback_service_deployment(&self, arn: &str) -> ApiResult<()> {
        crate::sdk_progressive::rollback(&self.ecs, arn).await
    }
}
