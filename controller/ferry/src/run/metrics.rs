//! Prometheus metrics of the controller: reconcile duration per environment and result,
//! drifted resources per environment. One registry, rendered at `GET /metrics`.

use std::sync::Mutex;
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
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
struct EnvLabels {
    env: String,
}

/// The controller's metrics.
pub(crate) struct Metrics {
    registry: Mutex<Registry>,
    reconcile: Family<ReconcileLabels, Histogram>,
    drift: Family<EnvLabels, Gauge>,
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
        Self {
            registry: Mutex::new(registry),
            reconcile,
            drift,
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

    /// Set the drift gauge.
    pub(crate) fn set_drift(&self, env: &str, count: usize) {
        self.drift
            .get_or_create(&EnvLabels { env: env.into() })
            .set(i64::try_from(count).unwrap_or(i64::MAX));
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
