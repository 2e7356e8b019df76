//! The plan vocabulary (after Argo CD's gitops-engine and Flux): `ResourceKey`, `Op`,
//! `Change`, `FieldDiff`, `Plan`, and the order in which changes must be applied.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::load::DesiredState;

/// What kind of platform object a change is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum ResourceKind {
    /// An ECR repository.
    EcrRepository,
    /// An ECS task definition family (a change registers a new revision).
    TaskDefinition,
    /// An ECS service.
    EcsService,
    /// The Application Auto Scaling target of an ECS service (with its policies and scheduled
    /// actions), named by the service.
    ScalableTarget,
    /// A pre-deploy task of a service, run to completion before the service is touched; named
    /// `{service}/{task}`.
    PreDeployTask,
}

impl fmt::Display for ResourceKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::EcrRepository => "EcrRepository",
            Self::TaskDefinition => "TaskDefinition",
            Self::EcsService => "EcsService",
            Self::ScalableTarget => "ScalableTarget",
            Self::PreDeployTask => "PreDeployTask",
        })
    }
}

/// Identity of a resource: keys every map.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ResourceKey {
    /// Environment.
    pub env: String,
    /// Kind.
    pub kind: ResourceKind,
    /// Name (service name, repository name, task definition family).
    pub name: String,
}

impl fmt::Display for ResourceKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}/{}", self.env, self.kind, self.name)
    }
}

/// What a change does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Op {
    /// Make it exist.
    Create,
    /// Change it in place (or register a new task definition revision).
    Update,
    /// Delete it (owned, no longer in git, prune enabled).
    Prune,
    /// Run it to completion (a pre-deploy task).
    Run,
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Create => "create",
            Self::Update => "update",
            Self::Prune => "prune",
            Self::Run => "run",
        })
    }
}

/// One field that differs: what git wants and what is live (None = absent).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FieldDiff {
    /// Field path, e.g. `containerDefinitions[api].image`.
    pub path: String,
    /// Desired value.
    pub desired: Option<Value>,
    /// Live value.
    pub live: Option<Value>,
}

/// One step of a plan.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Change {
    /// Which resource.
    pub key: ResourceKey,
    /// What to do.
    pub op: Op,
    /// Field-level differences (empty for prunes).
    pub fields: Vec<FieldDiff>,
}

/// A resource Ferry will not touch, and why (not owned, immutable field...).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conflict {
    /// Which resource.
    pub key: ResourceKey,
    /// Why nothing is done.
    pub reason: String,
}

/// The ordered changes that make live match git.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Plan {
    /// Environment.
    pub env: String,
    /// Changes in apply order: repositories → task definitions → pre-deploy tasks → services
    /// (by dependsOn) → scalable targets → prunes.
    pub changes: Vec<Change>,
    /// Resources left alone, with the reason.
    pub conflicts: Vec<Conflict>,
    /// Owned services prune would have removed but did not (prune off, or empty desired set).
    pub prune_skipped: Vec<String>,
}

impl Plan {
    /// Whether nothing needs to change.
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

/// Services in dependency order (dependencies first, then by name). Err holds a cycle.
pub fn service_order(state: &DesiredState) -> Result<Vec<String>, Vec<String>> {
    let deps: BTreeMap<&str, BTreeSet<&str>> = state
        .services
        .iter()
        .map(|(name, s)| {
            let d = s
                .spec
                .depends_on
                .iter()
                .map(String::as_str)
                .filter(|d| state.services.contains_key(*d) && d != name);
            (name.as_str(), d.collect())
        })
        .collect();
    let mut done: BTreeSet<&str> = BTreeSet::new();
    let mut order = Vec::new();
    while done.len() < deps.len() {
        let ready: Vec<&str> = deps
            .iter()
            .filter(|(n, d)| !done.contains(*n) && d.iter().all(|x| done.contains(x)))
            .map(|(n, _)| *n)
            .collect();
        if ready.is_empty() {
            let mut cycle: Vec<String> = deps
                .keys()
                .filter(|n| !done.contains(*n))
                .map(|n| (*n).to_owned())
                .collect();
            if let Some(first) = cycle.first().cloned() {
                cycle.push(first);
            }
            return Err(cycle);
        }
        for n in ready {
            done.insert(n);
            order.push(n.to_owned());
        }
    }
    Ok(order)
}
