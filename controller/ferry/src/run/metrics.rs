//! Prometheus metrics of the controller: reconcile duration per environment and result,
//! drifted resources per environment. One registry, rendered at `GET /metrics`.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::Registry;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReconcileLabels {
    env: String,
    result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RolloutLabels {
    env: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct EnvLabels {
    env: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RevisionLabels {
    env: String,
    revision: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct NotificationLabels {
    webhook: String,
    env: String,
    outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ServiceLabels {
    env: String,
    service: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    region: String,
    api: String,
}

/// The controller's metrics.
pub(crate) struct Metrics {
    registry: Mutex<Registry>,
    reconcile: Family<ReconcileLabels, Histogram>,
    drift: Family<EnvLabels, Gauge>,
    applied: Family<RevisionLabels, Gauge>,
    applied_revision: Mutex<std::collections::BTreeMap<String, String>>,
    change_to_applied: Family<EnvLabels, Histogram>,
    ecs_calls: Family<CallLabels, Gauge>,
    rollouts: Family<RolloutLabels, Counter>,
    paused: Family<EnvLabels, Gauge>,
    notifications: Family<NotificationLabels, Counter>,
    notification_failures: Family<NotificationLabels, Counter>,
    traffic: Family<ServiceLabels, Gauge<f64, std::sync::atomic::AtomicU64>>,
    bake_left: Family<ServiceLabels, Gauge>,
    awaiting: Family<ServiceLabels, Gauge>,
}

impl Default for Metrics {
    fn default() -> Self {
        let mut registry = Registry::default();
        let reconcile = Family::<ReconcileLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0,
            ])
        });
        let drift = Family::<EnvLabels, Gauge>::default();
        let applied = Family::<RevisionLabels, Gauge>::default();
        let change_to_applied = Family::<EnvLabels, Histogram>::new_with_constructor(|| {
            Histogram::new([
                0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 300.0, 900.0, 3600.0,
            ])
        });
        let ecs_calls = Family::<CallLabels, Gauge>::default();
        registry.register(
            "ferry_reconcile_duration_seconds",
            "Reconcile duration by environment and result",
            reconcile.clone(),
        );
        registry.register(
            "ferry_drifted_resources",
            "Changes the last diff planned, by environment",
            drift.clone(),
        );
        registry.register(
            "ferry_last_applied_revision_info",
            "The revision last applied per environment (value 1)",
            applied.clone(),
        );
        registry.register(
            "ferry_change_to_applied_seconds",
            "From a commit (git) or a detected file change (folder) to that revision applied",
            change_to_applied.clone(),
        );
        registry.register(
            "ferry_ecs_api_calls",
            "AWS API calls made, by region and API",
            ecs_calls.clone(),
        );
        let rollouts = Family::<RolloutLabels, Counter>::default();
        registry.register(
            "ferry_rollouts",
            "Rollouts followed to their end, by environment and outcome (Completed, RolledBack, RolloutFailed, RolloutTimedOut, Superseded)",
            rollouts.clone(),
        );
        let paused = Family::<EnvLabels, Gauge>::default();
        registry.register(
            "ferry_auto_sync_paused",
            "1 while automatic sync of the environment is paused after a rollback",
            paused.clone(),
        );
        let notifications = Family::<NotificationLabels, Counter>::default();
        registry.register(
            "ferry_notifications",
            "Notifications by webhook, environment and outcome (delivered, failed: gave up)",
            notifications.clone(),
        );
        let notification_failures = Family::<NotificationLabels, Counter>::default();
        registry.register(
            "ferry_notification_delivery_failures",
            "Failed delivery attempts (each retry counts), by webhook and environment",
            notification_failures.clone(),
        );
        let traffic = Family::<ServiceLabels, Gauge<f64, std::sync::atomic::AtomicU64>>::default();
        registry.register(
            "ferry_deployment_traffic_percent",
            "Production traffic on the new version of a blue/green, canary or linear deployment being followed",
            traffic.clone(),
        );
        let bake_left = Family::<ServiceLabels, Gauge>::default();
        registry.register(
            "ferry_deployment_bake_left_seconds",
            "Seconds left of the bake a followed deployment is in (0 when not baking)",
            bake_left.clone(),
        );
        let awaiting = Family::<ServiceLabels, Gauge>::default();
        registry.register(
            "ferry_deployment_awaiting_promote",
            "1 while a followed deployment is paused until `ferry promote`",
            awaiting.clone(),
        );
        Self {
            traffic,
            bake_left,
            awaiting,
            notifications,
            notification_failures,
            registry: Mutex::new(registry),
            rollouts,
            paused,
            reconcile,
            drift,
            applied,
            applied_revision: Mutex::new(std::collections::BTreeMap::new()),
            change_to_applied,
            ecs_calls,
        }
    }
}

impl Metrics {
    /// Record one reconcile.
    pub(crate) fn observe_reconcile(&self, env: &str, result: &str, took: Duration) {
        self.reconcile
            .get_or_create(&ReconcileLabels {
                env: env.into(),
                result: result.into(),
            })
            .observe(took.as_secs_f64());
    }

    /// Count one followed rollout (a sync attempt's rollouts) by how it ended.
    pub(crate) fn rollout(&self, env: &str, outcome: &str) {
        self.rollouts
            .get_or_create(&RolloutLabels {
                env: env.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    /// Where a followed blue/green, canary or linear deployment of `service` stands.
    pub(crate) fn deployment(
        &self,
        env: &str,
        service: &str,
        progress: Option<&ferry_core::platform::DeploymentProgress>,
    ) {
        let Some(p) = progress else {
            return;
        };
        let labels = ServiceLabels {
            env: env.into(),
            service: service.into(),
        };
        self.traffic
            .get_or_create(&labels)
            .set(p.traffic_percent.unwrap_or(0.0));
        self.bake_left.get_or_create(&labels).set(
            p.bake_left_seconds
                .map_or(0, |s| i64::try_from(s).unwrap_or(i64::MAX)),
        );
        self.awaiting
            .get_or_create(&labels)
            .set(i64::from(p.awaiting_promote));
    }

    /// Count a notification by how its delivery ended.
    pub(crate) fn notification(&self, webhook: &str, env: &str, outcome: &str) {
        self.notifications
            .get_or_create(&NotificationLabels {
                webhook: webhook.into(),
                env: env.into(),
                outcome: outcome.into(),
            })
            .inc();
    }

    /// Count one failed delivery attempt.
    pub(crate) fn notification_failed(&self, webhook: &str, env: &str) {
        self.notification_failures
            .get_or_create(&NotificationLabels {
                webhook: webhook.into(),
                env: env.into(),
                outcome: "failed".into(),
            })
            .inc();
    }

    /// Whether automatic sync of `env` is paused.
    pub(crate) fn set_paused(&self, env: &str, paused: bool) {
        self.paused
            .get_or_create(&EnvLabels { env: env.into() })
            .set(i64::from(paused));
    }

    /// Set the drift gauge.
    pub(crate) fn set_drift(&self, env: &str, count: usize) {
        self.drift
            .get_or_create(&EnvLabels { env: env.into() })
            .set(i64::try_from(count).unwrap_or(i64::MAX));
    }

    /// Record that `revision` is now applied in `env`, `since` its commit or change.
    pub(crate) fn applied(&self, env: &str, revision: &str, since: Option<std::time::SystemTime>) {
        if let Ok(mut current) = self.applied_revision.lock() {
            if current.get(env).map(String::as_str) == Some(revision) {
                return;
            }
            if let Some(old) = current.insert(env.into(), revision.into()) {
                self.applied.remove(&RevisionLabels {
                    env: env.into(),
                    revision: old,
                });
            }
        }
        self.applied
            .get_or_create(&RevisionLabels {
                env: env.into(),
                revision: revision.into(),
            })
            .set(1);
        if let Some(age) = since.and_then(|t| t.elapsed().ok()) {
            self.change_to_applied
                .get_or_create(&EnvLabels { env: env.into() })
                .observe(age.as_secs_f64());
        }
    }

    /// Set the AWS call counters (cumulative, read from the platform's own counts).
    pub(crate) fn set_ecs_calls(&self, calls: &[(String, String, u64)]) {
        for (region, api, count) in calls {
            self.ecs_calls
                .get_or_create(&CallLabels {
                    region: region.clone(),
                    api: api.clone(),
                })
                .set(i64::try_from(*count).unwrap_or(i64::MAX));
        }
    }

    /// Register a metric owned elsewhere (the replicas' coordinator keeps its own).
    pub(crate) fn register(
        &self,
        name: &str,
        help: &str,
        metric: impl prometheus_client::registry::Metric,
    ) {
        if let Ok(mut registry) = self.registry.lock() {
            registry.register(name, help, metric);
        }
    }

    /// Text exposition.
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        if let Ok(registry) = self.registry.lock() {
            let _ = prometheus_client::encoding::text::encode(&mut out, &registry);
        }
        out
    }
}
