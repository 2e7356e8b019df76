//! Following blue/green, canary and linear deployments phase by phase through ECS's service
//! deployment API (stage, production traffic, bake left, a pause awaiting promote), running
//! Ferry's metric analysis while traffic moves (stopping the deployment with a rollback when it
//! fails), and `promote` / `abort`.

use std::time::{Duration, SystemTime};

use ferry_core::DesiredState;
use ferry_core::kinds::EcsServiceSpec;
use ferry_core::live::LiveService;
use ferry_core::platform::{
    DeploymentAction, DeploymentProgress, HealthCode, PlatformError, ResourceHealth,
};

use crate::analysis::{AnalysisRun, AnalysisTarget, Measurement, Verdict};
use crate::api::{EcsApi, LiveServiceDeployment};
use crate::observe::{cluster, platform_error};
use crate::platform::EcsPlatform;

/// The last measurements, one line (`None` before the first).
fn summary(measurements: &[Measurement]) -> Option<String> {
    (!measurements.is_empty()).then(|| {
        measurements
            .iter()
            .map(|m| m.message.clone())
            .collect::<Vec<_>>()
            .join(", ")
    })
}

/// The reason of a health Ferry judged failed by analysis.
pub(crate) const ANALYSIS_FAILED: &str = "AnalysisFailed";

fn pct(p: f64) -> String {
    if (p - p.round()).abs() < 1e-9 {
        format!("{p:.0}%")
    } else {
        format!("{p:.1}%")
    }
}

/// Seconds left of the bake the deployment is in, from its configuration.
fn bake_left(d: &LiveServiceDeployment, live: &LiveService) -> Option<u64> {
    let conf = &live.deployment_configuration.as_ref()?.strategy;
    let stage = d.lifecycle_stage.as_deref()?;
    let traffic = d.production_traffic.unwrap_or(0.0);
    let minutes = match stage {
        "BAKE_TIME" => conf.bake_time_in_minutes?,
        "PRODUCTION_TRAFFIC_SHIFT" if traffic < 100.0 => conf
            .canary_configuration
            .as_ref()
            .map(|c| c.canary_bake_time_in_minutes)
            .or_else(|| {
                conf.linear_configuration
                    .as_ref()
                    .map(|l| l.step_bake_time_in_minutes)
            })?,
        _ => return None,
    };
    let total = Duration::from_secs(u64::try_from(minutes).ok()? * 60);
    let since = d
        .updated_at
        .and_then(|t| SystemTime::now().duration_since(t).ok())
        .unwrap_or_default();
    Some(total.saturating_sub(since).as_secs())
}

/// One line on where the deployment stands.
fn describe(d: &LiveServiceDeployment, p: &DeploymentProgress, service: &str) -> String {
    let strategy = match p.strategy.as_str() {
        "BLUE_GREEN" => "blue/green",
        "CANARY" => "canary",
        "LINEAR" => "linear",
        other => other,
    };
    let mut line = format!(
        "{strategy} deployment {}: {} of production traffic on the new version",
        d.lifecycle_stage
            .as_deref()
            .unwrap_or(&d.status)
            .to_lowercase()
            .replace('_', " "),
        pct(p.traffic_percent.unwrap_or(0.0)),
    );
    if let Some(left) = p.bake_left_seconds {
        line.push_str(&format!(", bake {left}s left"));
    }
    if p.awaiting_promote {
        line.push_str(&format!(
            "; paused: `ferry promote {service}` (or POST /promote) goes on, `ferry abort {service}` rolls back"
        ));
    }
    if let Some(a) = &p.analysis {
        line.push_str(&format!("; analysis: {a}"));
    }
    line
}

impl<A: EcsApi> EcsPlatform<A> {
    /// `health` of a live service, with its blue/green, canary or linear deployment followed
    /// (and analysed, when `spec` asks for it). Rolling services are returned as they are.
    pub(crate) async fn with_deployment(
        &self,
        cluster: &str,
        live: &LiveService,
        mut health: ResourceHealth,
        spec: Option<&EcsServiceSpec>,
    ) -> ResourceHealth {
        let strategy = live
            .deployment_configuration
            .as_ref()
            .and_then(|d| d.strategy.strategy.clone())
            .unwrap_or_else(|| "ROLLING".into());
        if strategy == "ROLLING" {
            return health;
        }
        let d = match self
            .api
            .latest_service_deployment(cluster, &live.service_name)
            .await
        {
            Ok(Some(d)) => d,
            Ok(None) => return health,
            Err(e) => {
                tracing::warn!(service = %live.service_name, "following the service deployment: {e}");
                return health;
            }
        };
        let mut progress = DeploymentProgress {
            strategy: d.strategy.clone().unwrap_or(strategy),
            status: d.status.clone(),
            stage: d.lifecycle_stage.clone(),
            traffic_percent: d.production_traffic,
            bake_left_seconds: d.in_progress().then(|| bake_left(&d, live)).flatten(),
            awaiting_promote: d.in_progress() && d.awaiting().is_some(),
            analysis: None,
            deployment: d.arn.clone(),
        };
        if let Some(failed) = self.analysis_failure(&d.arn) {
            progress.analysis = Some(failed.clone());
            health.code = HealthCode::Degraded;
            health.reason = Some(ANALYSIS_FAILED.into());
            health.message = format!(
                "{failed}; Ferry stopped the deployment and ECS is rolling it back ({})",
                d.status.to_lowercase().replace('_', " ")
            );
            health.progress = Some(progress);
            return health;
        }
        if !d.in_progress()
            && let Ok(mut runs) = self.analysis_runs.lock()
        {
            runs.remove(&d.arn);
        }
        if d.in_progress() {
            if let Some(analysis) = spec
                .and_then(|s| s.deployment.as_ref())
                .and_then(|dep| dep.analysis.as_ref())
                && d.production_traffic.unwrap_or(0.0) > 0.0
            {
                match self.analyse(live, &d, analysis).await {
                    Analysis::Pending(line) => progress.analysis = line,
                    Analysis::Failed(message) => {
                        let stopped = self.api.rollback_service_deployment(&d.arn).await;
                        let message = match stopped {
                            Ok(()) => message,
                            Err(e) => {
                                format!("{message} (and stopping the deployment failed: {e})")
                            }
                        };
                        self.record_analysis_failure(&d.arn, &message);
                        progress.analysis = Some(message.clone());
                        health.code = HealthCode::Degraded;
                        health.reason = Some(ANALYSIS_FAILED.into());
                        health.message = format!(
                            "{message}; Ferry stopped the deployment with a rollback: the old version keeps production traffic"
                        );
                        health.progress = Some(progress);
                        return health;
                    }
                }
            }
            health.code = HealthCode::Progressing;
            health.message = describe(&d, &progress, &live.service_name);
        } else if d.status.starts_with("ROLLBACK_") && health.code != HealthCode::Degraded {
            let why = d
                .rollback_reason
                .clone()
                .or_else(|| d.status_reason.clone())
                .unwrap_or_default();
            if d.status == "ROLLBACK_SUCCESSFUL" || d.status == "ROLLBACK_FAILED" {
                health.code = HealthCode::Degraded;
                health.message = format!(
                    "ECS rolled the deployment back ({}): {why}",
                    d.status.to_lowercase().replace('_', " ")
                );
            } else {
                health.code = HealthCode::Progressing;
                health.message = format!("ECS is rolling the deployment back: {why}");
            }
        }
        health.progress = Some(progress);
        health
    }

    /// Promote or abort the deployment in progress of `service`.
    pub(crate) async fn act_on_deployment(
        &self,
        desired: &DesiredState,
        service: &str,
        action: DeploymentAction,
    ) -> Result<String, PlatformError> {
        let cluster = cluster(desired)?;
        let refused = |message: String| PlatformError {
            transient: false,
            message,
            reason: None,
        };
        let d = self
            .api
            .latest_service_deployment(cluster, service)
            .await
            .map_err(|e| platform_error(&e))?
            .filter(LiveServiceDeployment::in_progress)
            .ok_or_else(|| {
                refused(format!(
                    "service `{service}` has no blue/green, canary or linear deployment in progress"
                ))
            })?;
        let stage = d
            .lifecycle_stage
            .clone()
            .unwrap_or_else(|| d.status.clone());
        match (action, d.awaiting()) {
            (DeploymentAction::Promote, Some(hook)) => {
                self.api
                    .continue_service_deployment(&d.arn, &hook.id, false)
                    .await
                    .map_err(|e| platform_error(&e))?;
                Ok(format!(
                    "promoted `{service}`: the deployment goes on past {stage}"
                ))
            }
            (DeploymentAction::Promote, None) => Err(refused(format!(
                "the deployment of `{service}` is not paused (it is at {stage}): nothing to promote"
            ))),
            (DeploymentAction::Abort, Some(hook)) => {
                self.api
                    .continue_service_deployment(&d.arn, &hook.id, true)
                    .await
                    .map_err(|e| platform_error(&e))?;
                Ok(format!(
                    "aborted `{service}` at {stage}: ECS rolls back to the previous version"
                ))
            }
            (DeploymentAction::Abort, None) => {
                self.api
                    .rollback_service_deployment(&d.arn)
                    .await
                    .map_err(|e| platform_error(&e))?;
                Ok(format!(
                    "aborted `{service}` at {stage}: ECS rolls back to the previous version"
                ))
            }
        }
    }

    /// One poll of the analysis of deployment `d`: measures when an interval has passed since
    /// traffic first reached the new version (or since the last measurement), over the new
    /// version's target group (the alternate one while a deployment is in progress: ECS swaps
    /// the roles when it ends).
    async fn analyse(
        &self,
        live: &LiveService,
        d: &LiveServiceDeployment,
        spec: &ferry_core::progressive::AnalysisSpec,
    ) -> Analysis {
        let lag = self.options.metrics_lag;
        let now = SystemTime::now();
        let (due, last) = {
            let Ok(mut runs) = self.analysis_runs.lock() else {
                return Analysis::Pending(None);
            };
            // The first window starts when traffic first reached the new version; measured once
            // CloudWatch has it (`metrics_lag` later).
            let run = runs
                .entry(d.arn.clone())
                .or_insert_with(|| AnalysisRun::new(spec, now + lag));
            (run.due(now), summary(run.last_measurements()))
        };
        if !due {
            return Analysis::Pending(last);
        }
        let green = live
            .load_balancers
            .iter()
            .find_map(|lb| lb.advanced_configuration.as_ref())
            .map(|a| a.alternate_target_group_arn.clone());
        let target = AnalysisTarget::from_arns(None, green.as_deref());
        let end = now.checked_sub(lag).unwrap_or(now);
        let measured = crate::analysis::measure(&self.api, spec, &target, end).await;
        let measurements = match measured {
            Ok(m) => m,
            Err(e) => {
                tracing::warn!(service = %live.service_name, "analysis: {e}");
                return Analysis::Pending(Some(format!("could not measure: {e}")));
            }
        };
        let Ok(mut runs) = self.analysis_runs.lock() else {
            return Analysis::Pending(None);
        };
        let Some(run) = runs.get_mut(&d.arn) else {
            return Analysis::Pending(None);
        };
        match run.record(spec, now, measurements) {
            Verdict::Continue => Analysis::Pending(summary(run.last_measurements())),
            Verdict::Failed { message } => Analysis::Failed(message),
        }
    }

    fn analysis_failure(&self, deployment: &str) -> Option<String> {
        self.analysis_failures
            .lock()
            .ok()
            .and_then(|m| m.get(deployment).cloned())
    }

    fn record_analysis_failure(&self, deployment: &str, message: &str) {
        if let Ok(mut m) = self.analysis_failures.lock() {
            // Only the latest few matter (a follow concludes at the first failure).
            if m.len() >= 256 {
                m.clear();
            }
            m.insert(deployment.to_owned(), message.to_owned());
        }
    }
}

/// Where an analysis stands after a poll.
pub(crate) enum Analysis {
    /// Measuring (the last measurement, once there is one).
    Pending(Option<String>),
    /// Failed: why, with the metric, its value and the threshold.
    Failed(String),
}
