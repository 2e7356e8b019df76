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

use std::time::Duration;

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

/// Ask the proxy listening on `addr` (0.0.0.0 means this host) for its own `GET /healthz`:
/// the container health probe (distroless images have no shell or curl).
pub async fn check_health(addr: std::net::SocketAddr) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut target = addr;
    if target.ip().is_unspecified() {
        target.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let probe = async {
        let mut stream = tokio::net::TcpStream::connect(target).await?;
        stream
            .write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
            .await?;
        let mut answer = Vec::new();
        stream.read_to_end(&mut answer).await?;
        Ok::<_, std::io::Error>(answer)
    };
    let answer = tokio::time::timeout(Duration::from_secs(3), probe)
        .await
        .map_err(|_| anyhow::anyhow!("no answer from {target} within 3s"))??;
    if answer.starts_with(b"HTTP/1.1 200") {
        Ok(())
    } else {
        let first = answer.split(|b| *b == b'\n').next().unwrap_or_default();
        anyhow::bail!("{target} answered: {}", String::from_utf8_lossy(first))
    }
}
