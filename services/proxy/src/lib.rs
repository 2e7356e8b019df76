//! numbers-proxy: the numbers app's reverse proxy (the seed's nginx, in Rust).
//!
//! `/api` and `/api/...` go to the API with the prefix stripped, `/healthz` is answered here,
//! everything else goes to the frontend ([`route`]). Upstream connections are pooled and kept
//! alive; limits, timeouts, header rewriting and error answers live in [`proxy`]; the accept loop
//! and graceful shutdown in [`server`]. This crate must not know the API's or the page's
//! contents: it moves bytes and headers.

pub mod access_log;
pub mod config;
pub mod headers;
pub mod pool;
pub mod proxy;
pub mod route;
pub mod server;

pub use config::{Config, Upstream};
pub use proxy::{Peer, Proxy};
pub use server::{run_workers, serve};

/// Resolves on SIGTERM or SIGINT.
pub async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
    }
    tracing::info!("shutting down");
}
