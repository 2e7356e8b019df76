//! HTTP routes, one module per area; each exposes `router()`. State and layers are added once,
//! in [`crate::app`].

pub mod compat;
pub mod health;
pub mod numbers;
