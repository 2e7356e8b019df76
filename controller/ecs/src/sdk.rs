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
use ferry_core::live::{LiveRepository, LiveService};
use ferry_core::render::{
    CreateRepository, CreateService, EncryptionConfiguration, ImageScanningConfiguration, RunTask,
    Tag, TagOut, TaskDefinition, UpdateService,
};

use aws_config::identity::IdentityCache;
use aws_credential_types::provider::SharedCredentialsProvider;

use crate::account::{AccountError, AccountGuard, AssumeRole, GuardSettings};
use crate::api::{ApiError, ApiResult, EcsApi, LiveContainer, LiveTask};
use crate::model_json::{JsonError, ToJson};

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
    /// The account every call must act in (checked with `sts:GetCallerIdentity` for each new
    /// access key, before it signs anything).
    pub account_id: Option<String>,
    /// The role to assume from the default chain.
    pub role: Option<AssumeRole>,
    /// Renew assumed (or expiring) credentials this long before they expire.
    pub renew_before: Duration,
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
            account_id: None,
            role: None,
            renew_before: DEFAULT_RENEW_BEFORE,
        }
    }
}

/// How long before they expire assumed credentials are renewed by default.
pub const DEFAULT_RENEW_BEFORE: Duration = Duration::from_secs(300);

/// ECS and ECR clients sharing one configuration.
#[derive(Clone, Debug)]
pub struct SdkApi {
    ecs: aws_sdk_ecs::Client,
    ecr: aws_sdk_ecr::Client,
    pub(crate) autoscaling: aws_sdk_applicationautoscaling::Client,
    pub(crate) cloudwatch: aws_sdk_cloudwatch::Client,
    /// The account guard, when the environment names an account or a role.
    guard: Option<AccountGuard>,
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
        let base = loader.load().await;
        let guard = if settings.account_id.is_some() || settings.role.is_some() {
            let guard_settings = GuardSettings {
                expected: settings.account_id.clone(),
                role: settings.role.clone(),
                renew_before: settings.renew_before,
            };
            Some(AccountGuard::new(guard_settings, &base).await)
        } else {
            None
        };
        // Every client signs with the guard's credentials. The guard is their cache (it keeps
        // them until `renew_before` their expiry, then renews and checks them); the SDK's lazy
        // cache in front of it would add a jittered buffer of its own and sign with keys the
        // guard has already replaced.
        let config = match &guard {
            Some(g) => base
                .into_builder()
                .credentials_provider(SharedCredentialsProvider::new(g.clone()))
                .identity_cache(IdentityCache::no_cache())
                .build(),
            None => base,
        };
        Self {
            ecs: aws_sdk_ecs::Client::new(&config),
            ecr: aws_sdk_ecr::Client::new(&config),
            autoscaling: aws_sdk_applicationautoscaling::Client::new(&config),
            cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
            guard,
        }
    }

    /// The account guard, when the environment names an account or a role.
    pub fn guard(&self) -> Option<&AccountGuard> {
        self.guard.as_ref()
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
pub fn api_error<E, R>(operation: &'static str, err: SdkError<E, R>) -> ApiError
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

/// A described service in ferry-core's shape: every member ECS returns, through the
/// conversions generated from the ECS API model. Service Connect is read from the PRIMARY
/// deployment (ECS reports it there).
fn live_service(s: &ecs::Service) -> LiveService {
    let mut json = s.to_json();
    let connect = s
        .deployments()
        .iter()
        .find(|d| d.status() == Some("PRIMARY"))
        .or_else(|| s.deployments().first())
        .and_then(|d| d.service_connect_configuration())
        .map(ToJson::to_json);
    if let Some(o) = json.as_object_mut() {
        for output_only in ["events", "createdAt", "createdBy", "clusterArn", "roleArn"] {
            o.remove(output_only);
        }
        if let Some(c) = connect {
            o.insert("serviceConnectConfiguration".into(), c);
        }
    }
    match serde_json::from_value(json) {
        Ok(live) => live,
        Err(e) => {
            tracing::warn!(error = %e, service = s.service_name().unwrap_or_default(), "a described service does not fit ferry-core's shape");
            LiveService {
                service_name: s.service_name().unwrap_or_default().to_owned(),
                service_arn: s.service_arn().unwrap_or_default().to_owned(),
                status: s.status().unwrap_or_default().to_owned(),
                task_definition: s.task_definition().unwrap_or_default().to_owned(),
                ..LiveService::default()
            }
        }
    }
}

/// A described task definition in ferry-core's shape: every member ECS returns, through the
/// conversions generated from the ECS API model.
fn task_definition_from(td: &ecs::TaskDefinition) -> TaskDefinition {
    match serde_json::from_value(td.to_json()) {
        Ok(t) => t,
        Err(e) => {
            tracing::warn!(error = %e, "a described task definition does not fit ferry-core's shape");
            TaskDefinition {
                family: td.family().unwrap_or_default().to_owned(),
                ..TaskDefinition::default()
            }
        }
    }
}

const REGISTER: &str = "RegisterTaskDefinition";

/// What ferry-core rendered, as the ECS API's JSON input.
fn input_json<T: serde::Serialize>(
    operation: &'static str,
    input: &T,
) -> ApiResult<serde_json::Value> {
    serde_json::to_value(input).map_err(|e| build_error(operation, e))
}

fn json_error(operation: &'static str, err: &JsonError) -> ApiError {
    build_error(operation, err)
}

fn ecs_tags(tags: &[Tag]) -> Vec<ecs::Tag> {
    tags.iter()
        .map(|t| ecs::Tag::builder().key(&t.key).value(&t.value).build())
        .collect()
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
    async fn verify_account(&self) -> Result<(), AccountError> {
        match &self.guard {
            Some(g) => g.credentials().await.map(|_| ()),
            None => Ok(()),
        }
    }
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
        let mut input = input_json(REGISTER, td)?;
        if td.tags.is_empty()
            && let Some(o) = input.as_object_mut()
        {
            o.remove("tags");
        }
        let out = crate::generated::register_task_definition(&self.ecs, &input)
            .map_err(|e| json_error(REGISTER, &e))?
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
        let mut json = input_json(OP, input)?;
        if let Some(o) = json.as_object_mut() {
            o.insert("clientToken".into(), client_token.into());
        }
        let out = crate::generated::create_service(&self.ecs, &json)
            .map_err(|e| json_error(OP, &e))?
            .send()
            .await
            .map_err(|e| api_error(OP, e))?;
        Ok(out.service().map(live_service).unwrap_or_default())
    }

    async fn update_service(&self, input: &UpdateService) -> ApiResult<LiveService> {
        const OP: &str = "UpdateService";
        let mut json = input_json(OP, input)?;
        if input.task_definition.is_empty()
            && let Some(o) = json.as_object_mut()
        {
            o.remove("taskDefinition");
        }
        let out = crate::generated::update_service(&self.ecs, &json)
            .map_err(|e| json_error(OP, &e))?
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
        let mut json = input_json(OP, input)?;
        if let Some(o) = json.as_object_mut() {
            o.insert("taskDefinition".into(), task_definition.into());
            o.insert("count".into(), input.count.max(1).into());
            o.insert("clientToken".into(), client_token.into());
            if input.tags.is_empty() {
                o.remove("tags");
            }
        }
        let out = crate::generated::run_task(&self.ecs, &json)
            .map_err(|e| json_error(OP, &e))?
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
