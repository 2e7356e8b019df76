//! The numbers-proxy binary: parse config, set up logs, serve on one worker per core until
//! SIGTERM, drain.

use clap::Parser;
use numbers_proxy::config::LogFormat;
use numbers_proxy::{Config, run_workers, shutdown_signal};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let config = Config::parse();
    if config.check_health {
        return tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?
            .block_on(http_probe::check_health(config.listen_addr))
            .map_err(Into::into);
    }
    init_tracing(config.log_format);
    run_workers(&config, shutdown_signal(), |addr| {
        tracing::info!(
            %addr,
            api = %config.api_upstream,
            frontend = %config.frontend_upstream,
            "numbers-proxy listening on http://{addr}"
        );
    })?;
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
