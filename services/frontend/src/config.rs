//! Configuration: one `clap` struct of flags with environment fallbacks.

use std::net::SocketAddr;

/// How numbers-frontend is configured.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "numbers-frontend",
    version,
    about = "Serves the numbers web app (assets embedded, precompressed)."
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:3000")]
    pub listen_addr: SocketAddr,

    /// Log format: `text` or `json`.
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,

    /// Probe `GET /healthz` of the server at LISTEN_ADDR and exit 0 when it answers 200
    /// (the container HEALTHCHECK: no shell or curl in the image).
    #[arg(long)]
    pub check_health: bool,
}

/// Log output format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}
