//! Application Auto Scaling of ECS services on this platform: the API seam
//! ([`AutoscalingApi`], a supertrait of `EcsApi`), its SDK implementation, observe (batched:
//! `DescribeScalableTargets` for up to 50 services a call, `DescribeScalingPolicies` and
//! `DescribeScheduledActions` once per page of the `ecs` namespace, and nothing at all when no
//! service scales) and apply of ferry-core's `ScalableTarget` changes. What to change is
//! decided in `ferry_core::autoscaling`; this module only carries it out.

mod api;
mod apply;
mod observe;
mod sdk;

pub use api::{AutoscalingApi, Page};
