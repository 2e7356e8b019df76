//! Ferry's Amazon ECS/ECR platform: ferry-core's `Platform` (observe, apply) on the official
//! AWS SDK, behind a thin trait ([`api::EcsApi`]) with an in-process fake ([`fake`]) for what an
//! emulator cannot do (rollouts that complete, fail or roll back).
//!
//! Decisions (what to change) are ferry-core's; this crate only carries them out, in order,
//! within a call budget (batched describes, cached task definitions, bounded concurrency,
//! standard SDK retries under Ferry's own request rate limit).

pub mod account;
pub mod analysis;
pub mod api;
mod apply;
pub mod autoscaling;
pub mod diagnose;
pub mod fake;
pub mod generated;
pub mod model_json;
mod observe;
pub mod pace;
pub mod platform;
mod progress;
mod rollout;
pub mod sdk;
mod sdk_progressive;
mod settings;
mod tasks;

pub use account::{AccountError, AccountGuard, AssumeRole};
pub use analysis::MetricsApi;
pub use api::{ApiError, CallCounts, EcsApi, Metered, WRITE_APIS};
pub use apply::{DESIRED_HASH_TAG, TASK_DEFINITION_TAG, desired_hash, task_definition_hash};
pub use autoscaling::AutoscalingApi;
pub use platform::{EcsOptions, EcsPlatform, GcReport, ProgressFn};
pub use sdk::{AwsSettings, SdkApi};
