//! Ferry's pure core: manifest kinds, loading and validation, rendering to ECS/ECR API inputs,
//! and the diff of desired against observed state into an ordered plan.
//!
//! No I/O beyond reading manifest files, no AWS SDK, no async runtime: platforms (`ecs`,
//! `local`) and the controller build on these types.

pub mod account;
pub mod autoscaling;
pub mod diff;
pub mod ecs_features;
pub mod ecs_fields;
pub mod ecs_model;
pub mod health;
pub mod import;
pub mod kinds;
pub mod live;
pub mod load;
pub mod plan;
pub mod platform;
pub mod printable;
pub mod progressive;
pub mod render;
pub mod validate;
pub mod yaml;

pub use load::{DesiredState, Diagnostic, Diagnostics, Discovery, discover, discover_environments};
pub use plan::{Change, Conflict, FieldDiff, Op, Plan, ResourceKey, ResourceKind};
pub use validate::load_environment;
