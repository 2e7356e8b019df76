//! The status server: `/healthz`, `/readyz`, `/status` (JSON), `/` (HTML page that refreshes
//! itself), `/metrics`, `POST /sync`, `POST /rollback`, `POST /resume` (bearer token) and
//! `POST /webhook/github` (HMAC-SHA256 signature, constant-time). With a read token
//! (`--auth-token-file`) the page, `/status` and `/metrics` need it too, as a bearer token or as
//! the password of HTTP Basic authentication (so a browser can ask for it); `/healthz` and
//! `/readyz` stay open for load balancer and container health checks. Handlers only read the
//! published snapshot (and history, to find a rollback's target); loops do the work.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{KeyInit, Mac};
use serde_json::json;
use subtle::ConstantTimeEq;
use tokio::sync::{Notify, mpsc, watch};

use super::history::History;
use super::metrics::Metrics;
use super::reconcile::Command;
use super::status::StatusSnapshot;

/// Largest webhook body accepted.
const WEBHOOK_LIMIT: usize = 1024 * 1024;

/// The reconcile loops running in this process, by environment.
pub(crate) type Loops = Arc<std::sync::RwLock<BTreeMap<String, mpsc::UnboundedSender<Command>>>>;

/// The loop of `env`, if it runs here.
fn loop_of(state: &ServerState, env: &str) -> Option<mpsc::UnboundedSender<Command>> {
    state.commands.read().ok()?.get(env).cloned()
}

/// What the handlers read.
#[derive(Clone)]
pub(crate) struct ServerState {
    pub(crate) status: watch::Receiver<StatusSnapshot>,
    pub(crate) metrics: Arc<Metrics>,
    /// Each environment's loop (empty until the first revision names the environments).
    pub(crate) commands: Loops,
    pub(crate) history: History,
    pub(crate) api_token: Option<String>,
    /// Token the read endpoints (`/`, `/status`, `/metrics`) require; open without one.
    pub(crate) read_token: Option<String>,
    pub(crate) webhook_secret: Option<Vec<u8>>,
    pub(crate) fetch_now: Option<Arc<Notify>>,
    /// Replicas on PostgreSQL: where commands for environments owned by another replica,
    /// and push webhooks, are left for the others.
    pub(crate) replicas: Option<super::lease::LeaseTable>,
    /// Cumulative AWS calls per (region, API).
    pub(crate) ecs_calls: Arc<dyn Fn() -> Vec<(String, String, u64)> + Send + Sync>,
}

/// The router.
pub(crate) fn router(state: ServerState) -> Router {
    let read = Router::new()
        .route("/", get(page))
        .route("/status", get(status))
        .route("/metrics", get(metrics))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            require_read_token,
        ));
    Router::new()
        .merge(read)
        .route(
            "/healthz",
            get(|| async { axum::Json(json!({"status": "ok"})) }),
        )
        .route("/readyz", get(readyz))
        .route("/sync", post(sync))
        .route("/rollback", post(rollback))
        .route("/resume", post(resume))
        .route("/promote", post(promote))
        .route("/abort", post(abort))
        .route(
            "/webhook/github",
            post(webhook).layer(DefaultBodyLimit::max(WEBHOOK_LIMIT)),
        )
        .with_state(state)
}

async fn readyz(State(state): State<ServerState>) -> Response {
    if let Some(problem) = replica_problem(&state.status.borrow()) {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "unhealthy", "problem": problem})),
        )
            .into_response();
    }
    if state.status.borrow().source_revision.is_none() {
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "starting", "waitingFor": "the first revision"})),
        )
            .into_response();
    }
    let waiting: Vec<String> = state
        .status
        .borrow()
        .environments
        .iter()
        .filter(|(_, e)| owned_here(&state.status.borrow(), e))
        .filter(|(_, e)| e.last_reconcile.is_none())
        .map(|(n, _)| n.clone())
        .collect();
    if waiting.is_empty() {
        axum::Json(json!({"status": "ready"})).into_response()
    } else {
        (
            StatusCode::SERVICE_UNAVAILABLE,
            axum::Json(json!({"status": "starting", "waitingFor": waiting})),
        )
            .into_response()
    }
}

/// Why this replica is not healthy, when replicas share a PostgreSQL database: the database
/// does not answer, or leases were not renewed within their safe window.
fn replica_problem(s: &StatusSnapshot) -> Option<String> {
    let r = s.replica.as_ref()?;
    let stale = r.renewed.is_none_or(|at| at.elapsed() > r.renew_deadline);
    match (&r.problem, stale) {
        (Some(p), _) => Some(p.clone()),
        (None, true) => Some("leases are not being renewed".into()),
        (None, false) => None,
    }
}

/// Whether `e` is reconciled by this process (always, without replicas).
fn owned_here(s: &StatusSnapshot, e: &super::status::EnvStatus) -> bool {
    s.replica
        .as_ref()
        .is_none_or(|r| e.owner.as_deref() == Some(r.id.as_str()))
}

/// Leave `kind` for `env`'s owner (another replica): `Some(owner)` once stored. `None`
/// without replicas or for an environment this process does not know.
async fn forward(
    state: &ServerState,
    env: &str,
    kind: &str,
    target: Option<&str>,
) -> Option<Result<String, Response>> {
    let table = state.replicas.as_ref()?;
    let owner = state
        .status
        .borrow()
        .environments
        .get(env)
        .map(|e| e.owner.clone().unwrap_or_default())?;
    if owner.is_empty() {
        return Some(Err(not_here(state, env)));
    }
    Some(match table.signal(Some(env), kind, target).await {
        Ok(()) => Ok(owner),
        Err(e) => {
            tracing::warn!(error = %e, "cannot forward a command to another replica");
            Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "history_unavailable",
                "the history database cannot be written to forward this to the environment's owner",
            ))
        }
    })
}

/// The answer to a command for `env` whose loop does not run here: owned by another replica
/// (named, so the caller can ask it), or unknown.
fn not_here(state: &ServerState, env: &str) -> Response {
    let owner = state
        .status
        .borrow()
        .environments
        .get(env)
        .map(|e| e.owner.clone());
    match owner {
        Some(Some(owner)) => error(
            StatusCode::CONFLICT,
            "not_owner",
            &format!("environment `{env}` is reconciled by replica `{owner}`; send this to it"),
        ),
        Some(None) => error(
            StatusCode::SERVICE_UNAVAILABLE,
            "no_owner",
            &format!(
                "environment `{env}` has no owner right now (a replica is taking it over); try again shortly"
            ),
        ),
        None => error(
            StatusCode::NOT_FOUND,
            "unknown_environment",
            "no such environment",
        ),
    }
}

/// Serialized straight from the shared snapshot (no copy of it: it holds every resource).
async fn status(State(state): State<ServerState>) -> Response {
    let body = serde_json::to_vec(&*state.status.borrow());
    match body {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(e) => error(
            StatusCode::INTERNAL_SERVER_ERROR,
            "status_unavailable",
            &format!("cannot serialize the status: {e}"),
        ),
    }
}

async fn metrics(State(state): State<ServerState>) -> Response {
    state.metrics.set_ecs_calls(&(state.ecs_calls)());
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        state.metrics.render(),
    )
        .into_response()
}

/// The read endpoints' guard: without a read token everything passes; with one, a request
/// passes when it carries it as `Authorization: Bearer <token>` or as the password of
/// `Authorization: Basic` (any user name). Otherwise 401 with a Basic challenge.
async fn require_read_token(
    State(state): State<ServerState>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(token) = &state.read_token else {
        return next.run(request).await;
    };
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(credential_of);
    match given {
        Some(given) if bool::from(given.as_bytes().ct_eq(token.as_bytes())) => {
            next.run(request).await
        }
        _ => {
            let mut response = error(
                StatusCode::UNAUTHORIZED,
                "unauthorized",
                "this endpoint needs the read token: Authorization: Bearer <token>, or Basic with the token as password",
            );
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Basic realm=\"ferry\", charset=\"UTF-8\""),
            );
            response
        }
    }
}

/// The secret an `Authorization` header carries: a bearer token, or a Basic password.
fn credential_of(value: &str) -> Option<String> {
    use base64::Engine as _;
    let (scheme, rest) = value.split_once(' ')?;
    let rest = rest.trim();
    if scheme.eq_ignore_ascii_case("bearer") {
        return Some(rest.to_owned());
    }
    if scheme.eq_ignore_ascii_case("basic") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(rest)
            .ok()?;
        let decoded = String::from_utf8(decoded).ok()?;
        return decoded
            .split_once(':')
            .map(|(_, password)| password.to_owned());
    }
    None
}

#[derive(serde::Deserialize)]
struct SyncQuery {
    env: Option<String>,
}

/// `None` when the request carries the bearer token; else the response refusing it.
fn refuse_without_token(state: &ServerState, headers: &HeaderMap, what: &str) -> Option<Response> {
    let Some(token) = &state.api_token else {
        return Some(error(
            StatusCode::NOT_FOUND,
            "disabled",
            &format!("POST /{what} is off: start ferry with --api-token-file"),
        ));
    };
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or("");
    if bool::from(given.as_bytes().ct_eq(token.as_bytes())) {
        None
    } else {
        Some(error(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "a valid bearer token is required",
        ))
    }
}

async fn sync(
    State(state): State<ServerState>,
    headers: HeaderMap,
    Query(q): Query<SyncQuery>,
) -> Response {
    if let Some(refused) = refuse_without_token(&state, &headers, "sync") {
        return refused;
    }
    let targets: Vec<String> = {
        let Ok(loops) = state.commands.read() else {
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "stopping",
                "ferry is stopping",
            );
        };
        let targets: Vec<String> = match &q.env {
            Some(env) => loops.keys().filter(|k| *k == env).cloned().collect(),
            None => loops.keys().cloned().collect(),
        };
        for env in &targets {
            if let Some(loop_) = loops.get(env) {
                let _ = loop_.send(Command::Sync);
            }
        }
        targets
    };
    if let Some(table) = state.replicas.as_ref() {
        match &q.env {
            Some(env) if targets.is_empty() => {
                return match forward(&state, env, "sync", None).await {
                    Some(Ok(owner)) => (
                        StatusCode::ACCEPTED,
                        axum::Json(json!({"syncing": [env], "forwardedTo": owner})),
                    )
                        .into_response(),
                    Some(Err(refused)) => refused,
                    None => not_here(&state, env),
                };
            }
            Some(_) => {}
            // Every environment: the ones owned elsewhere too.
            None => {
                if let Err(e) = table.signal(None, "sync", None).await {
                    tracing::warn!(error = %e, "cannot forward a sync to the other replicas");
                }
                let all: Vec<String> = state.status.borrow().environments.keys().cloned().collect();
                return (StatusCode::ACCEPTED, axum::Json(json!({"syncing": all}))).into_response();
            }
        }
    }
    if targets.is_empty() {
        if let Some(env) = &q.env {
            return not_here(&state, env);
        }
        return error(
            StatusCode::NOT_FOUND,
            "unknown_environment",
            "no such environment",
        );
    }
    (
        StatusCode::ACCEPTED,
        axum::Json(json!({"syncing": targets})),
    )
        .into_response()
}

#[derive(serde::Deserialize)]
struct RollbackQuery {
    env: Option<String>,
    to: Option<String>,
}

/// `POST /rollback?env=E[&to=REVISION]`: deploy the task definitions of the last good
/// revision before the current one (or of `to`, from history) and pause automatic sync.
async fn rollback(
    State(state): State<ServerState>,
    headers: HeaderMap,
    Query(q): Query<RollbackQuery>,
) -> Response {
    if let Some(refused) = refuse_without_token(&state, &headers, "rollback") {
        return refused;
    }
    let Some(env) = q.env.as_deref() else {
        return error(
            StatusCode::BAD_REQUEST,
            "missing_env",
            "name the environment: POST /rollback?env=NAME[&to=REVISION]",
        );
    };
    let local = loop_of(&state, env);
    if local.is_none()
        && (state.replicas.is_none() || !state.status.borrow().environments.contains_key(env))
    {
        return not_here(&state, env);
    }
    let except = {
        let s = state.status.borrow();
        s.environments.get(env).and_then(|e| {
            if e.held_back.is_some() {
                e.last_attempted_revision.clone()
            } else {
                e.last_applied_revision.clone()
            }
        })
    };
    let target = match state
        .history
        .good_revision(env, q.to.as_deref(), except.as_deref())
        .await
    {
        Ok(Some(t)) => t,
        Ok(None) => {
            let message = match &q.to {
                Some(to) => format!(
                    "no good sync of revision `{}` with recorded task definitions in the history of `{env}`",
                    to.chars().take(64).collect::<String>()
                ),
                None => format!(
                    "no earlier good revision with recorded task definitions in the history of `{env}`"
                ),
            };
            return error(StatusCode::NOT_FOUND, "no_rollback_target", &message);
        }
        Err(e) => {
            tracing::warn!(error = %e, "reading history for a rollback");
            return error(
                StatusCode::SERVICE_UNAVAILABLE,
                "history_unavailable",
                "the history database cannot be read",
            );
        }
    };
    let mut body = json!({"rollingBack": env, "to": target.revision, "services": target.deployed});
    let Some(loop_) = local else {
        return match forward(&state, env, "rollback", Some(&target.revision)).await {
            Some(Ok(owner)) => {
                body["forwardedTo"] = json!(owner);
                (StatusCode::ACCEPTED, axum::Json(body)).into_response()
            }
            Some(Err(refused)) => refused,
            None => not_here(&state, env),
        };
    };
    if loop_.send(Command::Rollback(target)).is_err() {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "stopping",
            "ferry is stopping",
        );
    }
    (StatusCode::ACCEPTED, axum::Json(body)).into_response()
}

/// `POST /resume?env=E`: end a pause after a rollback; git is applied again.
async fn resume(
    State(state): State<ServerState>,
    headers: HeaderMap,
    Query(q): Query<SyncQuery>,
) -> Response {
    if let Some(refused) = refuse_without_token(&state, &headers, "resume") {
        return refused;
    }
    let Some(env) = q.env.as_deref() else {
        return error(
            StatusCode::BAD_REQUEST,
            "missing_env",
            "name the environment: POST /resume?env=NAME",
        );
    };
    let Some(loop_) = loop_of(&state, env) else {
        return match forward(&state, env, "resume", None).await {
            Some(Ok(owner)) => (
                StatusCode::ACCEPTED,
                axum::Json(json!({"resuming": env, "forwardedTo": owner})),
            )
                .into_response(),
            Some(Err(refused)) => refused,
            None => not_here(&state, env),
        };
    };
    let _ = loop_.send(Command::Resume);
    (StatusCode::ACCEPTED, axum::Json(json!({"resuming": env}))).into_response()
}

#[derive(serde::Deserialize)]
struct DeploymentQuery {
    env: Option<String>,
    service: Option<String>,
}

/// `POST /promote?env=E&service=S`: let a paused blue/green, canary or linear deployment go on.
async fn promote(
    State(state): State<ServerState>,
    headers: HeaderMap,
    Query(q): Query<DeploymentQuery>,
) -> Response {
    deployment_action(
        state,
        headers,
        q,
        ferry_core::platform::DeploymentAction::Promote,
    )
    .await
}

/// `POST /abort?env=E&service=S`: stop a deployment in progress and roll it back.
async fn abort(
    State(state): State<ServerState>,
    headers: HeaderMap,
    Query(q): Query<DeploymentQuery>,
) -> Response {
    deployment_action(
        state,
        headers,
        q,
        ferry_core::platform::DeploymentAction::Abort,
    )
    .await
}

async fn deployment_action(
    state: ServerState,
    headers: HeaderMap,
    q: DeploymentQuery,
    action: ferry_core::platform::DeploymentAction,
) -> Response {
    let what = match action {
        ferry_core::platform::DeploymentAction::Promote => "promote",
        ferry_core::platform::DeploymentAction::Abort => "abort",
    };
    if let Some(refused) = refuse_without_token(&state, &headers, what) {
        return refused;
    }
    let (Some(env), Some(service)) = (q.env.as_deref(), q.service.clone()) else {
        return error(
            StatusCode::BAD_REQUEST,
            "missing_parameter",
            &format!("name the environment and the service: POST /{what}?env=NAME&service=NAME"),
        );
    };
    let Some(loop_) = loop_of(&state, env) else {
        return match forward(&state, env, what, Some(&service)).await {
            Some(Ok(owner)) => (
                StatusCode::ACCEPTED,
                axum::Json(json!({"env": env, "action": what, "forwardedTo": owner})),
            )
                .into_response(),
            Some(Err(refused)) => refused,
            None => not_here(&state, env),
        };
    };
    let (reply, answer) = tokio::sync::oneshot::channel();
    if loop_
        .send(Command::Deployment {
            service,
            action,
            reply,
        })
        .is_err()
    {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting_down",
            "the environment's loop has stopped",
        );
    }
    // The loop answers between two polls (or at once when idle); an apply in progress may
    // hold it longer.
    match tokio::time::timeout(std::time::Duration::from_secs(120), answer).await {
        Ok(Ok(Ok(said))) => (
            StatusCode::OK,
            axum::Json(json!({"env": env, "action": what, "message": said})),
        )
            .into_response(),
        Ok(Ok(Err(why))) => error(StatusCode::CONFLICT, &format!("{what}_refused"), &why),
        _ => error(
            StatusCode::GATEWAY_TIMEOUT,
            "busy",
            "the environment did not answer in time (an apply may be in progress); try again",
        ),
    }
}

async fn webhook(State(state): State<ServerState>, headers: HeaderMap, body: Bytes) -> Response {
    let Some(secret) = &state.webhook_secret else {
        return error(
            StatusCode::NOT_FOUND,
            "webhook_disabled",
            "the webhook is off: start ferry with --webhook-secret-file",
        );
    };
    let signature = headers
        .get("x-hub-signature-256")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !signature_valid(secret, &body, signature) {
        tracing::warn!("webhook with a missing or wrong signature refused");
        return error(
            StatusCode::UNAUTHORIZED,
            "bad_signature",
            "missing or wrong X-Hub-Signature-256",
        );
    }
    let event = headers
        .get("x-github-event")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    match (event, &state.fetch_now) {
        ("push", Some(fetch)) => {
            fetch.notify_one();
            // The other replicas fetch too: the environments they own may have changed.
            if let Some(table) = &state.replicas
                && let Err(e) = table.signal(None, "fetch", None).await
            {
                tracing::warn!(error = %e, "cannot tell the other replicas to fetch");
            }
            (StatusCode::ACCEPTED, axum::Json(json!({"fetching": true}))).into_response()
        }
        ("ping", _) => axum::Json(json!({"pong": true})).into_response(),
        _ => (StatusCode::ACCEPTED, axum::Json(json!({"ignored": event}))).into_response(),
    }
}

/// Verify GitHub's `sha256=<hex>` HMAC of `body` in constant time.
pub(crate) fn signature_valid(secret: &[u8], body: &[u8], header: &str) -> bool {
    let Some(hex) = header.strip_prefix("sha256=") else {
        return false;
    };
    let Some(expected) = decode_hex(hex) else {
        return false;
    };
    let Ok(mut mac) = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret) else {
        return false;
    };
    mac.update(body);
    mac.verify_slice(&expected).is_ok()
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    if !hex.len().is_multiple_of(2) {
        return None;
    }
    (0..hex.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
        .collect()
}

/// A followed blue/green, canary or linear deployment: strategy, stage, a traffic bar, bake left.
fn deployment_cell(p: &ferry_core::platform::DeploymentProgress) -> String {
    let traffic = p.traffic_percent.unwrap_or(0.0).clamp(0.0, 100.0);
    let stage = p.stage.as_deref().unwrap_or(&p.status);
    let bake = p
        .bake_left_seconds
        .map(|s| format!(", bake {}m{:02}s left", s / 60, s % 60))
        .unwrap_or_default();
    let paused = if p.awaiting_promote {
        " <strong class=\"paused\">paused: waiting for promote</strong>"
    } else {
        ""
    };
    let analysis = p
        .analysis
        .as_deref()
        .map(|a| format!("<br><small>analysis: {}</small>", esc(a)))
        .unwrap_or_default();
    format!(
        "<div class=\"deployment\" data-strategy=\"{strategy}\" data-stage=\"{stage}\" data-traffic=\"{traffic}\"><small>{strategy} · {stage} · {traffic}% of production traffic{bake}</small>{paused}<div class=\"bar\"><span style=\"width:{traffic}%\"></span></div>{analysis}</div>",
        strategy = esc(&p.strategy),
        stage = esc(stage),
    )
}

fn error(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        axum::Json(json!({"error": {"code": code, "message": message}})),
    )
        .into_response()
}

fn esc(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

async fn page(State(state): State<ServerState>) -> Html<String> {
    let s = state.status.borrow();
    let mut h = String::new();
    let _ = write!(
        h,
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta http-equiv=\"refresh\" content=\"2\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\"><title>Ferry status</title><link rel=\"icon\" href=\"data:,\"><style>\
         body{{font-family:system-ui,sans-serif;margin:1.5rem;color:#1b1f24}}table{{border-collapse:collapse;margin:.5rem 0 1.5rem}}\
         td,th{{border:1px solid #d0d7de;padding:.3rem .6rem;text-align:left;vertical-align:top}}th{{background:#f6f8fa}}\
         .Healthy,.Synced,.True{{color:#1a7f37}}.Degraded,.OutOfSync,.Missing,.False{{color:#cf222e}}.Progressing{{color:#9a6700}}\
         code{{font-size:.85em}}.banner{{padding:.5rem .8rem;border-radius:6px}}.paused{{background:#fff8c5;border:1px solid #d4a72c}}\
         .held{{background:#ffebe9;border:1px solid #cf222e}}\
         .deployment .bar{{width:14rem;height:.5rem;background:#d0d7de;border-radius:3px;margin:.2rem 0}}\
         .deployment .bar span{{display:block;height:100%;background:#1f6feb;border-radius:3px}}</style></head><body><h1>Ferry</h1><p>Source: <code>{}</code> at <code>{}</code>{}</p>",
        esc(&s.source),
        esc(s.source_revision.as_deref().unwrap_or("(none yet)")),
        s.source_error
            .as_deref()
            .map(|e| format!(" — <strong class=\"False\">{}</strong>", esc(e)))
            .unwrap_or_default()
    );
    if let Some(r) = &s.replica {
        let _ = write!(
            h,
            "<p class=\"replica\">This replica: <code>{}</code>, owner of {} of {} environment(s) · replicas alive: {}{}</p>",
            esc(&r.id),
            r.holds.len(),
            s.environments.len(),
            r.alive
                .iter()
                .map(|a| format!("<code>{}</code>", esc(a)))
                .collect::<Vec<_>>()
                .join(", "),
            r.problem
                .as_deref()
                .map(|p| format!(" — <strong class=\"False\">{}</strong>", esc(p)))
                .unwrap_or_default()
        );
    }
    for (name, env) in &s.environments {
        let _ = write!(
            h,
            "<h2 id=\"env-{n}\">{n} <small>({p}{o})</small></h2><p>Sync: <strong class=\"{sync:?}\">{sync:?}</strong> · health <strong class=\"{health:?} env-health\">{health:?}</strong> · applied <code>{a}</code> · attempted <code>{t}</code> · last reconcile {l}</p>",
            n = esc(name),
            p = esc(&env.platform),
            o = match (&env.owner, &s.replica) {
                (Some(owner), Some(_)) =>
                    format!(" · owner <code class=\"owner\">{}</code>", esc(owner)),
                (None, Some(_)) => " · <strong class=\"False\">no owner</strong>".into(),
                _ => String::new(),
            },
            sync = env.sync,
            health = env.health,
            a = esc(env.last_applied_revision.as_deref().unwrap_or("-")),
            t = esc(env.last_attempted_revision.as_deref().unwrap_or("-")),
            l = esc(env.last_reconcile.as_deref().unwrap_or("never")),
        );
        if let Some(paused) = &env.paused {
            let _ = write!(
                h,
                "<p class=\"banner paused\" role=\"status\"><strong>Auto-sync paused.</strong> {}</p>",
                esc(paused)
            );
        }
        if let Some(held) = &env.held_back {
            let _ = write!(
                h,
                "<p class=\"banner held\" role=\"alert\"><strong>Rollout failed.</strong> {}</p>",
                esc(held)
            );
        }
        h.push_str("<ul>");
        for c in &env.conditions {
            let _ = write!(
                h,
                "<li><strong>{}</strong>=<span class=\"{}\">{}</span> ({}): {}</li>",
                c.kind,
                c.status,
                c.status,
                c.reason,
                esc(&c.message)
            );
        }
        h.push_str("</ul>");
        if !env.errors.is_empty() {
            h.push_str("<h3>Manifest errors</h3><ul class=\"errors\">");
            for e in &env.errors {
                let _ = write!(h, "<li><code>{}</code></li>", esc(e));
            }
            h.push_str("</ul>");
        }
        h.push_str("<table><tr><th>Kind</th><th>Name</th><th>Sync</th><th>Health</th><th>Revision / images</th><th>Drift</th><th>Detail</th></tr>");
        for r in &env.resources {
            let images: Vec<String> = r
                .images
                .iter()
                .map(|(c, i)| format!("{}: {}", esc(c), esc(i)))
                .collect();
            let _ = write!(
                h,
                "<tr class=\"resource\" data-name=\"{n}\" data-health=\"{health:?}\"><td>{k}</td><td>{n}</td><td class=\"{sync:?}\">{sync:?}</td><td class=\"{health:?}\">{health:?}</td><td><code>{rev}</code><br>{imgs}</td><td>{drift}</td><td>{msg}{last}</td></tr>",
                k = esc(&r.kind),
                n = esc(&r.name),
                sync = r.sync,
                health = r.health,
                rev = match &r.desired_revision {
                    Some(want) => format!(
                        "{}<br><small class=\"Degraded\">git wants {}</small>",
                        esc(r.live_revision.as_deref().unwrap_or("")),
                        esc(want)
                    ),
                    None => esc(r.live_revision.as_deref().unwrap_or("")),
                },
                imgs = images.join("<br>"),
                drift = esc(&r.drift.join(", ")),
                msg = esc(&r.message),
                last = r
                    .last_result
                    .as_deref()
                    .map(|l| format!("<br><small>{}</small>", esc(l)))
                    .unwrap_or_default()
                    + &r.deployment
                        .as_ref()
                        .map(deployment_cell)
                        .unwrap_or_default(),
            );
        }
        h.push_str("</table><h3>History</h3><table><tr><th>Started</th><th>Revision</th><th>Trigger</th><th>Result</th><th>ms</th><th>Changes / errors</th></tr>");
        for a in env.history.iter().take(10) {
            let detail: Vec<String> = a.changes.iter().chain(&a.errors).map(|x| esc(x)).collect();
            let result = match &a.reason {
                Some(reason) => format!("{} ({reason})", a.result),
                None => a.result.clone(),
            };
            let _ = write!(
                h,
                "<tr><td>{}</td><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&a.started),
                esc(&a.revision),
                esc(&a.trigger),
                esc(&result),
                a.duration_ms,
                detail.join("<br>")
            );
        }
        h.push_str("</table>");
    }
    h.push_str("</body></html>");
    Html(h)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_signatures_verify() {
        // HMAC-SHA256("It's a Secret to Everybody", "Hello, World!"), from GitHub's documentation.
        let header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
        assert!(signature_valid(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            header
        ));
        assert!(!signature_valid(b"wrong secret", b"Hello, World!", header));
        assert!(!signature_valid(
            b"It's a Secret to Everybody",
            b"Hello, World?",
            header
        ));
        assert!(!signature_valid(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            "sha1=abc"
        ));
        assert!(!signature_valid(
            b"It's a Secret to Everybody",
            b"Hello, World!",
            ""
        ));
    }
}
