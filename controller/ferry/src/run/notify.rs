//! Notifications (`--notify-config FILE`): webhooks told when an environment changes to a state
//! that matters (sync `Failed`, `RolledBack`, `Stalled`, `Degraded`, `DriftDetected`) and when it
//! is healthy again (`Recovered`). Reads the published status only (the loops are not touched):
//! one message per transition, never one per reconcile. Deliveries are retried with exponential
//! backoff; every failed attempt counts in metrics and a delivery that needed retries or gave up
//! is recorded in history. Webhook URLs carry secrets (Slack's do): they may come from files and
//! are never printed; errors name the webhook, not its URL.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ferry_core::platform::HealthCode;
use serde::Deserialize;
use tokio::sync::{mpsc, watch};

use super::metrics::Metrics;
use super::status::{EnvStatus, StatusSnapshot, SyncAttempt};

/// The notification settings file.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct NotifyConfig {
    /// Where to send.
    pub(crate) webhooks: Vec<WebhookConfig>,
}

/// One webhook.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub(crate) struct WebhookConfig {
    /// Its name in logs, history and metrics (the URL never is).
    pub(crate) name: String,
    /// The URL, when it holds no secret.
    #[serde(default)]
    url: Option<String>,
    /// A file holding the URL (relative to the settings file), e.g. a Slack incoming webhook.
    #[serde(default)]
    url_file: Option<PathBuf>,
    /// `json` (Ferry's own payload, default) or `slack` (`{"text": ...}`).
    #[serde(default)]
    format: Format,
    /// Events to send (default: all of them).
    #[serde(default)]
    events: Vec<Event>,
    /// Environments to send about (default: all).
    #[serde(default)]
    environments: Vec<String>,
    /// Delivery attempts before giving up (default 8).
    #[serde(default = "default_attempts")]
    attempts: u32,
    /// First wait between attempts, doubled after each (default 1s, at most `maxBackoff`).
    #[serde(default = "default_backoff", with = "humantime_serde_compat")]
    backoff: Duration,
    /// Longest wait between attempts (default 60s).
    #[serde(default = "default_max_backoff", with = "humantime_serde_compat")]
    max_backoff: Duration,
}

fn default_attempts() -> u32 {
    8
}
fn default_backoff() -> Duration {
    Duration::from_secs(1)
}
fn default_max_backoff() -> Duration {
    Duration::from_secs(60)
}

/// Durations written as `1s`, `250ms`, `2m`.
mod humantime_serde_compat {
    use serde::{Deserialize, Deserializer};
    use std::time::Duration;

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(d)?;
        humantime::parse_duration(&text).map_err(serde::de::Error::custom)
    }
}

/// Payload shape.
#[derive(Clone, Copy, Debug, Default, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
enum Format {
    /// `{"environment", "event", "previous", "revision", "message", "time"}`.
    #[default]
    Json,
    /// Slack-compatible `{"text": "..."}`.
    Slack,
}

/// What happened to an environment.
#[derive(Clone, Copy, Debug, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Event {
    /// A sync attempt failed.
    Failed,
    /// A rollout was rolled back (by ECS's circuit breaker).
    RolledBack,
    /// A revision cannot be applied (invalid manifests...).
    Stalled,
    /// A resource is unhealthy.
    Degraded,
    /// Drift is reported (drift mode `detect`).
    DriftDetected,
    /// Healthy again after one of the above.
    Recovered,
}

impl Event {
    fn name(self) -> &'static str {
        match self {
            Self::Failed => "Failed",
            Self::RolledBack => "RolledBack",
            Self::Stalled => "Stalled",
            Self::Degraded => "Degraded",
            Self::DriftDetected => "DriftDetected",
            Self::Recovered => "Recovered",
        }
    }
}

/// Where an environment stands, as far as notifications go: a bad state (with the revision
/// it concerns, so a new failing revision is a new transition) or healthy.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Standing {
    Bad(Event, Option<String>, String),
    Healthy,
}

impl Standing {
    fn same(&self, other: &Self) -> bool {
        match (self, other) {
            (Self::Bad(a, ra, _), Self::Bad(b, rb, _)) => a == b && ra == rb,
            (Self::Healthy, Self::Healthy) => true,
            _ => false,
        }
    }
}

/// The standing of one environment, or `None` while it is in between (progressing, unknown).
fn standing(e: &EnvStatus) -> Option<Standing> {
    let condition = |kind: &str| {
        e.conditions
            .iter()
            .find(|c| c.kind == kind && c.status == "True")
    };
    if let Some(c) = condition("Stalled") {
        let mut message = c.message.clone();
        for error in e.errors.iter().take(5) {
            message.push('\n');
            message.push_str(error);
        }
        return Some(Standing::Bad(
            Event::Stalled,
            e.last_attempted_revision.clone(),
            message,
        ));
    }
    let newest = e
        .history
        .iter()
        .find(|a| a.trigger != NOTIFY_TRIGGER && a.result != "Applying");
    if let Some(a) = newest.filter(|a| a.result == "Failed") {
        let event = if a.reason.as_deref() == Some("RolledBack") {
            Event::RolledBack
        } else {
            Event::Failed
        };
        let message = a.errors.first().cloned().unwrap_or_default();
        return Some(Standing::Bad(event, Some(a.revision.clone()), message));
    }
    if e.health == HealthCode::Degraded {
        let message = e
            .resources
            .iter()
            .filter(|r| r.health == HealthCode::Degraded)
            .map(|r| format!("{}/{}: {}", r.kind, r.name, r.message))
            .collect::<Vec<_>>()
            .join("; ");
        return Some(Standing::Bad(Event::Degraded, None, message));
    }
    if let Some(c) = condition("DriftDetected") {
        return Some(Standing::Bad(Event::DriftDetected, None, c.message.clone()));
    }
    (e.health == HealthCode::Healthy).then_some(Standing::Healthy)
}

/// The trigger of history rows about notifications.
const NOTIFY_TRIGGER: &str = "notify";

/// One message to deliver.
#[derive(Clone, Debug)]
struct Message {
    env: String,
    event: Event,
    previous: Option<Event>,
    revision: Option<String>,
    text: String,
    time: String,
}

/// A webhook ready to send: its URL read.
struct Webhook {
    config: WebhookConfig,
    url: String,
}

/// Read the settings file and each URL file; errors name the file, never a URL.
pub(crate) fn load(path: &Path) -> anyhow::Result<Vec<(String, String, WebhookConfig)>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let config: NotifyConfig =
        serde_yaml_ng::from_str(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let base = path.parent().unwrap_or(Path::new("."));
    let mut out = Vec::new();
    for hook in config.webhooks {
        let url = match (&hook.url, &hook.url_file) {
            (Some(url), None) => url.clone(),
            (None, Some(file)) => super::read_secret(&base.join(file))?,
            _ => anyhow::bail!(
                "{}: webhook `{}`: give exactly one of `url` and `urlFile`",
                path.display(),
                hook.name
            ),
        };
        anyhow::ensure!(
            url.starts_with("http://") || url.starts_with("https://"),
            "{}: webhook `{}`: the URL must start with http:// or https://",
            path.display(),
            hook.name
        );
        anyhow::ensure!(
            hook.attempts >= 1,
            "{}: webhook `{}`: attempts must be at least 1",
            path.display(),
            hook.name
        );
        out.push((hook.name.clone(), url, hook));
    }
    Ok(out)
}

/// Start watching `status` and delivering to `webhooks`; runs until the status channel closes.
pub(crate) fn spawn(
    webhooks: Vec<(String, String, WebhookConfig)>,
    status: watch::Receiver<StatusSnapshot>,
    status_tx: watch::Sender<StatusSnapshot>,
    metrics: Arc<Metrics>,
    history: mpsc::UnboundedSender<(String, SyncAttempt)>,
) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .unwrap_or_default();
    let mut queues = Vec::new();
    for (_, url, config) in webhooks {
        let (tx, rx) = mpsc::unbounded_channel::<Message>();
        let hook = Webhook { config, url };
        tokio::spawn(deliver_all(
            hook,
            rx,
            client.clone(),
            metrics.clone(),
            history.clone(),
            status_tx.clone(),
        ));
        queues.push(tx);
    }
    tokio::spawn(watch_transitions(status, queues));
}

async fn watch_transitions(
    mut status: watch::Receiver<StatusSnapshot>,
    queues: Vec<mpsc::UnboundedSender<Message>>,
) {
    let mut last: BTreeMap<String, Standing> = BTreeMap::new();
    loop {
        let messages = {
            let snapshot = status.borrow_and_update();
            transitions(&snapshot, &mut last)
        };
        for m in messages {
            tracing::info!(env = %m.env, event = m.event.name(), "notifying");
            for q in &queues {
                let _ = q.send(m.clone());
            }
        }
        if status.changed().await.is_err() {
            return;
        }
    }
}

/// The messages the change from `last` to `snapshot` calls for (updating `last`).
fn transitions(snapshot: &StatusSnapshot, last: &mut BTreeMap<String, Standing>) -> Vec<Message> {
    let mut out = Vec::new();
    for (env, e) in &snapshot.environments {
        let Some(now) = standing(e) else { continue };
        let before = last.get(env);
        if before.is_some_and(|b| b.same(&now)) {
            continue;
        }
        // Replicas: only the owner tells; the others follow the standing (read from the
        // owner's shared status), so a takeover does not repeat what was already told.
        let owned = snapshot
            .replica
            .as_ref()
            .is_none_or(|r| e.owner.as_deref() == Some(r.id.as_str()));
        if !owned {
            last.insert(env.clone(), now);
            continue;
        }
        let previous = match before {
            Some(Standing::Bad(event, ..)) => Some(*event),
            _ => None,
        };
        let message = match &now {
            Standing::Bad(event, revision, text) => Some(Message {
                env: env.clone(),
                event: *event,
                previous,
                revision: revision.clone(),
                text: text.clone(),
                time: super::reconcile::now_rfc3339(),
            }),
            Standing::Healthy => previous.map(|p| Message {
                env: env.clone(),
                event: Event::Recovered,
                previous: Some(p),
                revision: e.last_applied_revision.clone(),
                text: format!("healthy again after {}", p.name()),
                time: super::reconcile::now_rfc3339(),
            }),
        };
        out.extend(message);
        last.insert(env.clone(), now);
    }
    out
}

fn payload(format: Format, m: &Message) -> serde_json::Value {
    match format {
        Format::Json => serde_json::json!({
            "environment": m.env,
            "event": m.event.name(),
            "previous": m.previous.map(Event::name),
            "revision": m.revision,
            "message": m.text,
            "time": m.time,
        }),
        Format::Slack => {
            let revision = m
                .revision
                .as_deref()
                .map(|r| format!(" at `{}`", ferry_core::health::short_revision(r)))
                .unwrap_or_default();
            let icon = if m.event == Event::Recovered {
                ":white_check_mark:"
            } else {
                ":warning:"
            };
            serde_json::json!({
                "text": format!("{icon} Ferry: *{}* {}{revision}: {}", m.env, m.event.name(), m.text),
            })
        }
    }
}

async fn deliver_all(
    hook: Webhook,
    mut queue: mpsc::UnboundedReceiver<Message>,
    client: reqwest::Client,
    metrics: Arc<Metrics>,
    history: mpsc::UnboundedSender<(String, SyncAttempt)>,
    status: watch::Sender<StatusSnapshot>,
) {
    let name = hook.config.name.clone();
    while let Some(m) = queue.recv().await {
        let wanted = (hook.config.events.is_empty() || hook.config.events.contains(&m.event))
            && (hook.config.environments.is_empty() || hook.config.environments.contains(&m.env));
        if !wanted {
            continue;
        }
        let body = payload(hook.config.format, &m);
        let started = std::time::Instant::now();
        let mut errors = Vec::new();
        let mut wait = hook.config.backoff;
        let mut delivered = false;
        for attempt in 1..=hook.config.attempts {
            match send(&client, &hook.url, &body).await {
                Ok(()) => {
                    delivered = true;
                    break;
                }
                Err(e) => {
                    tracing::warn!(webhook = %name, env = %m.env, event = m.event.name(), attempt, error = %e, "notification not delivered");
                    metrics.notification_failed(&name, &m.env);
                    errors.push(format!("attempt {attempt}: {e}"));
                    if attempt < hook.config.attempts {
                        tokio::time::sleep(wait).await;
                        wait = (wait * 2).min(hook.config.max_backoff);
                    }
                }
            }
        }
        metrics.notification(
            &name,
            &m.env,
            if delivered { "delivered" } else { "failed" },
        );
        if errors.is_empty() {
            continue;
        }
        // Failures are part of the environment's history.
        let attempt = SyncAttempt {
            revision: m.revision.clone().unwrap_or_default(),
            trigger: NOTIFY_TRIGGER.into(),
            started: m.time.clone(),
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
            result: if delivered {
                "NotificationDelayed".into()
            } else {
                "NotificationFailed".into()
            },
            reason: Some(format!("{} to {name}", m.event.name())),
            errors,
            ..SyncAttempt::default()
        };
        let _ = history.send((m.env.clone(), attempt.clone()));
        status.send_modify(|s| {
            if let Some(e) = s.environments.get_mut(&m.env) {
                e.history.insert(0, attempt);
                e.history.truncate(50);
            }
        });
    }
}

/// One POST; an error says what went wrong without the URL.
async fn send(client: &reqwest::Client, url: &str, body: &serde_json::Value) -> Result<(), String> {
    let response = client
        .post(url)
        .json(body)
        .send()
        .await
        .map_err(|e| describe(&e.without_url()))?;
    let status = response.status();
    if status.is_success() {
        Ok(())
    } else {
        Err(format!("the receiver answered {status}"))
    }
}

fn describe(e: &reqwest::Error) -> String {
    let kind = if e.is_connect() {
        "cannot connect"
    } else if e.is_timeout() {
        "timed out"
    } else {
        "request failed"
    };
    let mut text = kind.to_owned();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::status::Condition;

    fn env(health: HealthCode, history: &[(&str, Option<&str>)]) -> EnvStatus {
        EnvStatus {
            health,
            last_applied_revision: Some("abc".into()),
            history: history
                .iter()
                .map(|(result, reason)| SyncAttempt {
                    revision: "r1".into(),
                    result: (*result).into(),
                    reason: reason.map(Into::into),
                    errors: vec!["boom".into()],
                    ..SyncAttempt::default()
                })
                .collect(),
            ..EnvStatus::default()
        }
    }

    fn step(last: &mut BTreeMap<String, Standing>, e: EnvStatus) -> Vec<&'static str> {
        let snapshot = StatusSnapshot {
            environments: [("dev".to_owned(), e)].into(),
            ..StatusSnapshot::default()
        };
        transitions(&snapshot, last)
            .into_iter()
            .map(|m| m.event.name())
            .collect()
    }

    #[test]
    fn one_message_per_transition_and_recovered_only_after_a_bad_state() {
        let mut last = BTreeMap::new();
        assert!(step(&mut last, env(HealthCode::Healthy, &[("Succeeded", None)])).is_empty());
        let failed = env(HealthCode::Degraded, &[("Failed", Some("RolloutFailed"))]);
        assert_eq!(step(&mut last, failed.clone()), ["Failed"]);
        assert!(
            step(&mut last, failed).is_empty(),
            "no repeat per reconcile"
        );
        assert!(step(&mut last, env(HealthCode::Progressing, &[])).is_empty());
        assert_eq!(
            step(&mut last, env(HealthCode::Healthy, &[("Succeeded", None)])),
            ["Recovered"]
        );
        assert_eq!(
            step(
                &mut last,
                env(HealthCode::Degraded, &[("Failed", Some("RolledBack"))])
            ),
            ["RolledBack"]
        );
        let mut stalled = env(HealthCode::Healthy, &[("Invalid", None)]);
        stalled.conditions.push(Condition {
            kind: "Stalled".into(),
            status: "True".into(),
            reason: "ValidationFailed".into(),
            message: "dev/x.yaml:3: bad".into(),
        });
        assert_eq!(step(&mut last, stalled), ["Stalled"]);
        assert_eq!(
            step(&mut last, env(HealthCode::Degraded, &[])),
            ["Degraded"]
        );
    }

    #[test]
    fn a_settings_file_with_a_url_and_a_url_file_is_refused_without_printing_either() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("url"), "https://hooks.example/T/secret\n").expect("w");
        let file = dir.path().join("notify.yaml");
        std::fs::write(
            &file,
            "webhooks:\n  - name: ops\n    url: https://a.example/secret2\n    urlFile: url\n",
        )
        .expect("w");
        let error = load(&file).expect_err("refused").to_string();
        assert!(error.contains("exactly one"), "{error}");
        assert!(!error.contains("secret"), "{error}");
        std::fs::write(
            &file,
            "webhooks:\n  - name: ops\n    urlFile: url\n    format: slack\n    events: [Failed, Recovered]\n",
        )
        .expect("w");
        let hooks = load(&file).expect("loads");
        assert_eq!(hooks[0].1, "https://hooks.example/T/secret");
        std::fs::write(&file, "webhooks:\n  - name: ops\n    urll: x\n").expect("w");
        let error = load(&file).expect_err("refused").to_string();
        assert!(
            error.contains("notify.yaml") && error.contains("urll"),
            "{error}"
        );
    }
}
