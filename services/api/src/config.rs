//! Configuration: one `clap` struct of flags with environment fallbacks, and the rule that
//! turns it into a database URL. Must never print a password (see [`redact_url`]).

use std::net::SocketAddr;
use std::time::Duration;

/// How the numbers API is configured (flags, each with an environment variable fallback).
#[derive(clap::Parser, Clone)]
#[command(
    name = "numbers-api",
    version,
    about = "The numbers API: store integers, page through them, statistics."
)]
pub struct Config {
    /// Address to listen on.
    #[arg(long, env = "LISTEN_ADDR", default_value = "0.0.0.0:5000")]
    pub listen_addr: SocketAddr,

    /// Full database URL (`postgres://...` or `sqlite://...`). Wins over the PG_* variables.
    #[arg(long, env = "DATABASE_URL")]
    pub database_url: Option<String>,

    /// PostgreSQL host (the seed's task definition style). Used when DATABASE_URL is unset.
    #[arg(long, env = "PG_HOST")]
    pub pg_host: Option<String>,

    /// PostgreSQL port.
    #[arg(long, env = "PG_PORT", default_value_t = 5432)]
    pub pg_port: u16,

    /// PostgreSQL user.
    #[arg(long, env = "PG_USER", default_value = "postgres")]
    pub pg_user: String,

    /// PostgreSQL password (from a secret; never logged).
    #[arg(long, env = "PG_PASSWORD", hide_env_values = true)]
    pub pg_password: Option<String>,

    /// PostgreSQL database name.
    #[arg(long, env = "PG_DATABASE", default_value = "numbers")]
    pub pg_database: String,

    /// SQLite file used when no database is configured.
    #[arg(long, env = "SQLITE_PATH", default_value = "numbers.db")]
    pub sqlite_path: String,

    /// Largest number of pooled database connections.
    #[arg(long, env = "DB_MAX_CONNECTIONS", default_value_t = 16)]
    pub db_max_connections: u32,

    /// How long to keep retrying the database at start-up before giving up.
    #[arg(long, env = "DB_STARTUP_TIMEOUT", default_value = "60s", value_parser = parse_duration)]
    pub db_startup_timeout: Duration,

    /// Log format: `text` or `json`.
    #[arg(long, env = "LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,

    /// Probe `GET /healthz` of the server at LISTEN_ADDR and exit 0 when it answers 200
    /// (a container HEALTHCHECK that needs no shell or curl in the image).
    #[arg(long)]
    pub check_health: bool,

    /// Run the migrations when the server starts (the default). `false` when a pre-deploy
    /// task (`numbers-api migrate`) has already run them.
    #[arg(long, env = "MIGRATE_AT_START", default_value_t = true, action = clap::ArgAction::Set)]
    pub migrate_at_start: bool,

    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<ApiCommand>,
}

/// A one-off job instead of serving.
#[derive(clap::Subcommand, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ApiCommand {
    /// Apply the database migrations (under the same advisory lock as start-up), then exit:
    /// 0 when the schema is current, 1 with the reason otherwise.
    Migrate,
}

/// Log output format.
#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

impl std::fmt::Debug for Config {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Config")
            .field("listen_addr", &self.listen_addr)
            .field("database", &redact_url(&self.database_url()))
            .field("db_max_connections", &self.db_max_connections)
            .field("log_format", &self.log_format)
            .field("migrate_at_start", &self.migrate_at_start)
            .field("command", &self.command)
            .finish_non_exhaustive()
    }
}

impl Config {
    /// The database URL: `DATABASE_URL`, else one built from `PG_*` when `PG_HOST` is set,
    /// else a SQLite file (created when missing).
    pub fn database_url(&self) -> String {
        if let Some(url) = self.database_url.as_deref().filter(|u| !u.is_empty()) {
            return url.to_owned();
        }
        if let Some(host) = self.pg_host.as_deref().filter(|h| !h.is_empty()) {
            let mut url = url::Url::parse("postgres://localhost/").expect("static URL parses");
            // Setters only fail for URLs that cannot have a host; this one can.
            let _ = url.set_host(Some(host));
            let _ = url.set_port(Some(self.pg_port));
            let _ = url.set_username(&self.pg_user);
            if let Some(password) = self.pg_password.as_deref().filter(|p| !p.is_empty()) {
                let _ = url.set_password(Some(password));
            }
            url.set_path(&self.pg_database);
            return url.to_string();
        }
        format!("sqlite://{}?mode=rwc", self.sqlite_path)
    }
}

/// The URL with any password replaced by `***`, safe to log.
pub fn redact_url(raw: &str) -> String {
    match url::Url::parse(raw) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        Ok(url) => url.to_string(),
        Err(_) => "<unparseable database URL>".to_owned(),
    }
}

fn parse_duration(raw: &str) -> Result<Duration, String> {
    let raw = raw.trim();
    let (number, unit) = raw
        .find(|c: char| !c.is_ascii_digit())
        .map_or((raw, "s"), |i| raw.split_at(i));
    let n: u64 = number
        .parse()
        .map_err(|_| format!("`{raw}` is not a duration like 30s, 500ms or 2m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("`{raw}` is not a duration like 30s, 500ms or 2m")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str]) -> Config {
        let mut all = vec!["numbers-api"];
        all.extend_from_slice(args);
        Config::try_parse_from(all).expect("arguments parse")
    }

    #[test]
    fn no_database_configured_means_a_sqlite_file() {
        let cfg = parse(&["--sqlite-path", "numbers.db"]);
        assert_eq!(cfg.database_url(), "sqlite://numbers.db?mode=rwc");
    }

    #[test]
    fn pg_variables_build_an_escaped_postgres_url() {
        let cfg = parse(&[
            "--pg-host",
            "db.internal",
            "--pg-port",
            "6543",
            "--pg-user",
            "app",
            "--pg-password",
            "p@ss/w:rd",
            "--pg-database",
            "numbers",
        ]);
        let url = cfg.database_url();
        assert_eq!(
            url,
            "postgres://app:p%40ss%2Fw%3Ard@db.internal:6543/numbers"
        );
    }

    #[test]
    fn database_url_wins_over_pg_variables() {
        let cfg = parse(&["--database-url", "postgres://x@y/z", "--pg-host", "other"]);
        assert_eq!(cfg.database_url(), "postgres://x@y/z");
    }

    #[test]
    fn debug_output_and_redaction_never_show_the_password() {
        let cfg = parse(&["--pg-host", "h", "--pg-password", "hunter2"]);
        let shown = format!("{cfg:?}");
        assert!(!shown.contains("hunter2"), "{shown}");
        assert!(shown.contains("***"), "{shown}");
        assert_eq!(
            redact_url("postgres://u:secret@h/d"),
            "postgres://u:***@h/d"
        );
    }

    #[test]
    fn durations_parse_with_units_and_reject_garbage() {
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("7"), Ok(Duration::from_secs(7)));
        assert!(parse_duration("soon").is_err());
    }
}
