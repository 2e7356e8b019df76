//! numbers-api: an axum + sea-orm service that stores integers, pages through them and
//! computes statistics, on SQLite (default) or PostgreSQL.
//!
//! [`app`] builds the router from a state, so tests drive it without `main`; [`run`] is what
//! the binary does: connect, migrate, serve, shut down gracefully.

pub mod batch;
pub mod body;
pub mod coalesce;
pub mod config;
pub mod db;
pub mod entity;
pub mod error;
pub mod metrics;
pub mod migration;
pub mod openapi;
pub mod routes;
pub mod store;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use sea_orm::DatabaseConnection;
use tokio::net::TcpListener;
use tower_http::timeout::TimeoutLayer;

pub use config::Config;
use error::ApiError;

/// Everything a handler may use.
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database pool.
    pub db: DatabaseConnection,
    /// Request and pool metrics.
    pub metrics: Arc<metrics::Metrics>,
    /// The pool's configured size, reported in metrics.
    pub max_connections: u32,
    /// Coalesces concurrent inserts (PostgreSQL only; SQLite inserts directly).
    pub inserter: Option<batch::Inserter>,
    /// Coalesces identical concurrent page reads (PostgreSQL only; SQLite reads directly).
    pub pages: Option<routes::numbers::Pages>,
}

/// Batch workers (each uses one pooled connection at a time).
const INSERT_WORKERS: usize = 4;

impl AppState {
    /// State over an open pool. Must be called inside a tokio runtime (it starts the
    /// insert workers on PostgreSQL).
    pub fn new(db: DatabaseConnection, max_connections: u32) -> Self {
        let postgres = db.get_database_backend() == sea_orm::DatabaseBackend::Postgres;
        let inserter = postgres.then(|| batch::Inserter::spawn(db.clone(), INSERT_WORKERS));
        let pages = postgres.then(|| routes::numbers::pages(db.clone()));
        Self {
            db,
            metrics: Arc::new(metrics::Metrics::default()),
            max_connections,
            inserter,
            pages,
        }
    }
}

/// The whole HTTP API.
pub fn app(state: AppState) -> Router {
    Router::new()
        .merge(routes::numbers::router())
        .merge(routes::compat::router())
        .merge(routes::health::router())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn_with_state(
            state.metrics.clone(),
            metrics::track,
        ))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            Duration::from_secs(30),
        ))
        .with_state(state)
}

async fn not_found() -> impl IntoResponse {
    ApiError::NotFound("no such route".into())
}

async fn method_not_allowed() -> impl IntoResponse {
    let body = serde_json::json!({ "error": { "code": "method_not_allowed", "message": "method not allowed on this route" } });
    (StatusCode::METHOD_NOT_ALLOWED, axum::Json(body))
}

/// Connect to the configured database (retrying until `db_startup_timeout`) and migrate it.
pub async fn connect_and_migrate(config: &Config) -> anyhow::Result<DatabaseConnection> {
    prepare_database(config, true).await
}

/// Connect (retrying while the database is not reachable yet, up to `db_startup_timeout`) and,
/// when `migrate`, apply the migrations.
pub async fn prepare_database(
    config: &Config,
    migrate: bool,
) -> anyhow::Result<DatabaseConnection> {
    let url = config.database_url();
    let shown = config::redact_url(&url);
    let deadline = Instant::now() + config.db_startup_timeout;
    let mut delay = Duration::from_millis(200);
    loop {
        let attempt = async {
            let db = db::connect(&url, config.db_max_connections).await?;
            if migrate {
                db::migrate(&url, &db).await?;
            }
            Ok::<_, sea_orm::DbErr>(db)
        }
        .await;
        match attempt {
            Ok(db) => {
                if migrate {
                    tracing::info!(database = %shown, "database ready, migrations applied");
                } else {
                    tracing::info!(database = %shown, "database ready (migrations left to `numbers-api migrate`)");
                }
                return Ok(db);
            }
            Err(err) if Instant::now() + delay < deadline && db::is_unavailable(&err) => {
                tracing::warn!(database = %shown, error = %err, retry_in = ?delay, "database not reachable yet");
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(err) => {
                return Err(anyhow::anyhow!("cannot prepare database {shown}: {err}"));
            }
        }
    }
}

/// Serve `app` on `listener` until SIGTERM or Ctrl-C; in-flight requests finish first.
pub async fn serve(listener: TcpListener, app: Router) -> std::io::Result<()> {
    axum::serve(listener, app)
        .with_graceful_shutdown(shutdown_signal())
        .await
}

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutting down: finishing in-flight requests");
}
