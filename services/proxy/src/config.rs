//! Configuration: one `clap` struct of flags with environment fallbacks, and the parsed
//! upstream addresses.

use std::net::SocketAddr;
use std::str::FromStr;
use std::time::Duration;

use http::uri::{Authority, Uri};

/// How numbers-proxy is configured.
#[derive(clap::Parser, Debug, Clone)]
#[command(
    name = "numbers-proxy",
    version,
    about = "Reverse proxy of the numbers app: /api/* to the API (prefix stripped), /* to the frontend."
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:8000")]
    pub listen_addr: SocketAddr,

    /// The API's base URL (`http://host:port`); gets `/api/...` with the prefix stripped.
    #[arg(long, env = "API_UPSTREAM", default_value = "http://127.0.0.1:5000")]
    pub api_upstream: Upstream,

    /// The frontend's base URL (`http://host:port`); gets every other path.
    #[arg(
        long,
        env = "FRONTEND_UPSTREAM",
        default_value = "http://127.0.0.1:3000"
    )]
    pub frontend_upstream: Upstream,

    /// Longest wait for a TCP connection to an upstream (then 502).
    #[arg(long, env = "CONNECT_TIMEOUT", default_value = "2s", value_parser = parse_duration)]
    pub connect_timeout: Duration,

    /// Longest wait for an upstream's response headers (then 504).
    #[arg(long, env = "UPSTREAM_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub upstream_timeout: Duration,

    /// Longest pause in an upstream's response body once its headers arrived: when no byte
    /// comes for this long, the response is aborted (the client sees a cut-short answer) and
    /// both connections are closed.
    #[arg(long, env = "UPSTREAM_BODY_TIMEOUT", default_value = "30s", value_parser = parse_duration)]
    pub upstream_body_timeout: Duration,

    /// Longest wait for a client to send its request headers (slow clients are cut off).
    #[arg(long, env = "CLIENT_HEADER_TIMEOUT", default_value = "10s", value_parser = parse_duration)]
    pub client_header_timeout: Duration,

    /// Largest request body, in bytes (then 413).
    #[arg(long, env = "MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: u64,

    /// Largest request head (request line + headers), in bytes, at least 8192 (then 431).
    #[arg(long, env = "MAX_HEADER_BYTES", default_value_t = 16 * 1024,
          value_parser = clap::value_parser!(u32).range(8192..))]
    pub max_header_bytes: u32,

    /// Keep idle upstream connections for this long.
    #[arg(long, env = "POOL_IDLE_TIMEOUT", default_value = "90s", value_parser = parse_duration)]
    pub pool_idle_timeout: Duration,

    /// Most idle keep-alive connections kept per upstream.
    #[arg(long, env = "POOL_MAX_IDLE", default_value_t = 256)]
    pub pool_max_idle: usize,

    /// Trust `X-Forwarded-*` headers from the client (set when a load balancer sits in front):
    /// the client address is appended to `X-Forwarded-For` and `-Proto`/`-Host` are kept.
    /// Off: they are replaced by what this proxy sees.
    #[arg(long, env = "TRUST_FORWARDED_HEADERS", default_value_t = false,
          action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub trust_forwarded_headers: bool,

    /// On SIGTERM, how long open requests may take to finish before the process exits.
    #[arg(long, env = "SHUTDOWN_GRACE", default_value = "20s", value_parser = parse_duration)]
    pub shutdown_grace: Duration,

    /// Worker threads, each with its own event loop, connections and upstream pool, like
    /// nginx's worker processes; the main thread accepts and gives each new connection to the
    /// worker with the fewest. 0 means one per CPU core.
    #[arg(long, env = "WORKERS", default_value_t = 0)]
    pub workers: usize,

    /// Write one access-log line per request.
    #[arg(long, env = "ACCESS_LOG", default_value_t = true,
          action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub access_log: bool,

    /// Log format: `text` or `json`.
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,

    /// Probe `GET /healthz` of the proxy at LISTEN_ADDR and exit 0 when it answers 200
    /// (the container HEALTHCHECK: no shell or curl in the image).
    #[arg(long)]
    pub check_health: bool,
}

impl Config {
    /// The defaults with the given upstreams (for tests and embedding).
    pub fn with_upstreams(api: Upstream, frontend: Upstream) -> Self {
        let mut config = <Self as clap::Parser>::parse_from(["numbers-proxy"]);
        config.api_upstream = api;
        config.frontend_upstream = frontend;
        config
    }
}

/// Log output format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// An upstream server: plain HTTP at a host and port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// `host:port`.
    pub authority: Authority,
}

/// Why an upstream URL was refused.
#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    /// Not a URL.
    #[error("not a URL: {0}")]
    Invalid(#[from] http::uri::InvalidUri),
    /// Only `http://` upstreams are supported (they sit in the same task, on loopback).
    #[error("the upstream must be an http:// URL")]
    NotHttp,
    /// A base path other than `/` is not supported.
    #[error("the upstream URL must not have a path, query or fragment")]
    HasPath,
}

impl FromStr for Upstream {
    type Err = UpstreamError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let uri: Uri = s.parse()?;
        if uri.scheme_str() != Some("http") {
            return Err(UpstreamError::NotHttp);
        }
        let authority = uri.authority().cloned().ok_or(UpstreamError::NotHttp)?;
        if !matches!(uri.path(), "" | "/") || uri.query().is_some() {
            return Err(UpstreamError::HasPath);
        }
        Ok(Self { authority })
    }
}

impl std::fmt::Display for Upstream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "http://{}", self.authority)
    }
}

/// `500ms`, `2s`, `1m` or a plain number of seconds.
pub fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let split = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    let (n, unit) = raw.split_at(split);
    let n: u64 = n
        .parse()
        .map_err(|_| format!("not a duration: {raw:?} (try 500ms, 2s, 1m)"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "" | "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("unknown unit in {raw:?} (use ms, s or m)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upstreams_are_plain_http_host_and_port() {
        let u: Upstream = "http://127.0.0.1:5000".parse().unwrap();
        assert_eq!(u.authority.as_str(), "127.0.0.1:5000");
        assert_eq!(u.to_string(), "http://127.0.0.1:5000");
        assert!("http://api:5000/".parse::<Upstream>().is_ok());
        assert!(matches!(
            "https://api:5000".parse::<Upstream>(),
            Err(UpstreamError::NotHttp)
        ));
        assert!(matches!(
            "http://api:5000/base".parse::<Upstream>(),
            Err(UpstreamError::HasPath)
        ));
        assert!("not a url at all".parse::<Upstream>().is_err());
    }

    #[test]
    fn durations_have_units() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2s"), Ok(Duration::from_secs(2)));
        assert_eq!(parse_duration("3"), Ok(Duration::from_secs(3)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("2h").is_err());
        assert!(parse_duration("fast").is_err());
    }

    #[test]
    fn defaults_match_the_seed_task() {
        let c = <Config as clap::Parser>::try_parse_from(["numbers-proxy"]).unwrap();
        assert_eq!(c.listen_addr.to_string(), "0.0.0.0:8000");
        assert_eq!(c.api_upstream.to_string(), "http://127.0.0.1:5000");
        assert_eq!(c.frontend_upstream.to_string(), "http://127.0.0.1:3000");
        assert!(c.access_log);
        assert!(!c.trust_forwarded_headers);
        assert_eq!(c.upstream_body_timeout, Duration::from_secs(30));
    }
}
