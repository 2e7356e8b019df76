//! The numbers-api binary: parse config, set up logs, connect + migrate, serve; or
//! `numbers-api migrate`: connect, migrate, exit (a pre-deploy task).

use clap::Parser;

/// mimalloc: fewer allocator stalls than glibc malloc under many small JSON allocations.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use numbers_api::config::{ApiCommand, LogFormat};
use numbers_api::{AppState, Config, app, prepare_database, serve};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    if config.check_health {
        return Ok(http_probe::check_health(config.listen_addr).await?);
    }
    init_tracing(config.log_format);
    if config.command == Some(ApiCommand::Migrate) {
        tracing::info!(?config, "numbers-api migrate");
        let db = prepare_database(&config, true).await?;
        db.close().await?;
        tracing::info!("migrations applied; exiting");
        return Ok(());
    }
    tracing::info!(?config, "starting numbers-api");
    let db = prepare_database(&config, config.migrate_at_start).await?;
    let listener = tokio::net::TcpListener::bind(config.listen_addr)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen_addr))?;
    let addr = listener.local_addr()?;
    tracing::info!(%addr, "numbers-api listening on http://{addr}");
    serve(
        listener,
        app(AppState::new(db.clone(), config.db_max_connections)),
    )
    .await?;
    db.close().await?;
    tracing::info!("stopped");
    Ok(())
}

fn init_tracing(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,tower_http=info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
