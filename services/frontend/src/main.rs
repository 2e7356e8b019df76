//! The numbers-frontend binary: parse config, build the site, serve until SIGTERM.

use std::sync::Arc;

use clap::Parser;
use numbers_frontend::config::LogFormat;
use numbers_frontend::{Config, Site, app, serve, shutdown_signal};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    if config.check_health {
        return Ok(http_probe::check_health(config.listen_addr).await?);
    }
    init_tracing(config.log_format);
    let site = Arc::new(Site::embedded());
    let listener = tokio::net::TcpListener::bind(config.listen_addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen_addr))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, assets = ?site.paths(), "numbers-frontend listening on http://{addr}");
    serve(listener, app(site), shutdown_signal()).await?;
    tracing::info!("stopped");
    Ok(())
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
