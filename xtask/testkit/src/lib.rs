//! Real parts for tests and benchmarks: a throwaway PostgreSQL server on a free loopback port,
//! fresh databases on it, and small waiting helpers.
//!
//! Nothing here fakes anything: the server is the machine's PostgreSQL (`initdb`, `pg_ctl`,
//! `postgres`, `psql` on the PATH). When the process runs as root the server runs as the
//! unprivileged `postgres` user (PostgreSQL refuses root). A missing binary is a loud error.

pub mod moto;

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// Environment variable through which `cargo xtask test` hands tests the admin URL of the
/// PostgreSQL server it started.
pub const PG_URL_ENV: &str = "FERRY_TEST_PG_URL";

/// Errors from the test harness: each says which command failed and what it printed.
#[derive(Debug)]
pub struct HarnessError(pub String);

impl std::fmt::Display for HarnessError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for HarnessError {}

type Result<T> = std::result::Result<T, HarnessError>;

/// How to configure a throwaway server.
#[derive(Debug, Clone)]
pub struct PgOptions {
    /// Durable commits (`fsync`, `synchronous_commit`). Off for tests (faster), on for benchmarks.
    pub durable: bool,
    /// `max_connections` of the server.
    pub max_connections: u32,
}

impl Default for PgOptions {
    fn default() -> Self {
        Self {
            durable: false,
            max_connections: 400,
        }
    }
}

/// A PostgreSQL server owned by this process: stopped and deleted on drop.
#[derive(Debug)]
pub struct PgServer {
    dir: tempfile::TempDir,
    port: u16,
    running: bool,
}

impl PgServer {
    /// Initialise a new cluster in a temporary folder and start it on a free loopback port.
    pub fn start(options: &PgOptions) -> Result<Self> {
        for tool in ["initdb", "pg_ctl", "postgres", "psql"] {
            require_tool(tool)?;
        }
        let dir = tempfile::Builder::new()
            .prefix("ferry-pg-")
            .tempdir()
            .map_err(|e| HarnessError(format!("cannot create a temporary folder: {e}")))?;
        if is_root() {
            let (uid, gid) = postgres_user_ids()?;
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).map_err(|e| {
                HarnessError(format!(
                    "cannot hand {} to postgres: {e}",
                    dir.path().display()
                ))
            })?;
        }
        let data = dir.path().join("data");
        run_as_server_user(
            Command::new("initdb")
                .arg("--auth=trust")
                .arg("--username=postgres")
                .arg("--encoding=UTF8")
                .arg("--no-instructions")
                .arg("-D")
                .arg(&data),
        )?;
        let port = free_port()?;
        let durable = if options.durable { "on" } else { "off" };
        let conf = format!(
            "\n# written by ferry-testkit\nport = {port}\nlisten_addresses = '127.0.0.1'\n\
             unix_socket_directories = ''\nmax_connections = {max}\nfsync = {durable}\n\
             synchronous_commit = {durable}\nfull_page_writes = {durable}\nshared_buffers = '256MB'\n",
            max = options.max_connections,
        );
        append_file(&data.join("postgresql.conf"), &conf)?;
        let mut server = Self {
            dir,
            port,
            running: false,
        };
        server.resume()?;
        Ok(server)
    }

    /// The TCP port the server listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// URL of the `postgres` maintenance database, as superuser `postgres` (trust auth).
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Stop the server (fast shutdown: open sessions are cut), keeping its data.
    pub fn stop(&mut self) -> Result<()> {
        if self.running {
            run_as_server_user(
                Command::new("pg_ctl")
                    .args(["stop", "-m", "fast", "-w", "-t", "60", "-D"])
                    .arg(self.data_dir()),
            )?;
            self.running = false;
        }
        Ok(())
    }

    /// Start the server again after [`PgServer::stop`], on the same port with the same data.
    pub fn resume(&mut self) -> Result<()> {
        let log = self.dir.path().join("server.log");
        run_as_server_user(
            Command::new("pg_ctl")
                .args(["start", "-w", "-t", "60", "-D"])
                .arg(self.data_dir())
                .arg("-l")
                .arg(&log),
        )
        .map_err(|e| HarnessError(format!("{e}\nserver log:\n{}", read_lossy(&log))))?;
        self.running = true;
        Ok(())
    }

    /// Create a new empty database and return its URL.
    pub fn fresh_database(&self) -> Result<String> {
        fresh_database(&self.admin_url())
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// Create a uniquely named empty database on the server behind `admin_url` and return its URL.
pub fn fresh_database(admin_url: &str) -> Result<String> {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "t_{}_{}_{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
    );
    psql(admin_url, &format!("CREATE DATABASE {name}"))?;
    let base = admin_url
        .rsplit_once('/')
        .map(|(base, _)| base)
        .ok_or_else(|| HarnessError(format!("not a database URL: {admin_url}")))?;
    Ok(format!("{base}/{name}"))
}

/// Run one SQL statement with `psql` and return its unaligned, tuples-only output.
pub fn psql(url: &str, sql: &str) -> Result<String> {
    require_tool("psql")?;
    let out = Command::new("psql")
        .args([
            "-X",
            "-q",
            "-A",
            "-t",
            "-v",
            "ON_ERROR_STOP=1",
            "-d",
            url,
            "-c",
            sql,
        ])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| HarnessError(format!("cannot run psql: {e}")))?;
    check("psql", &out)?;
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// A new database on the server `cargo xtask test` started (its URL is in [`PG_URL_ENV`]).
///
/// Panics with instructions when the variable is missing: tests that need PostgreSQL must not
/// pass silently without it.
pub fn shared_pg_database() -> String {
    let admin = std::env::var(PG_URL_ENV).unwrap_or_else(|_| {
        panic!(
            "{PG_URL_ENV} is not set: this test needs the PostgreSQL server that \
             `cargo xtask test` starts. Run the tests with `cargo xtask test`."
        )
    });
    fresh_database(&admin).unwrap_or_else(|e| panic!("cannot create a test database: {e}"))
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
pub fn free_port() -> Result<u16> {
    let listener = TcpListener::bind("127.0.0.1:0")
        .map_err(|e| HarnessError(format!("cannot bind a loopback port: {e}")))?;
    listener
        .local_addr()
        .map(|a| a.port())
        .map_err(|e| HarnessError(format!("no local address: {e}")))
}

/// Poll `probe` every 50 ms until it returns true or `timeout` passes.
pub fn wait_until(timeout: Duration, mut probe: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if probe() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Fail with a clear message when `tool` is not on the PATH.
pub fn require_tool(tool: &str) -> Result<PathBuf> {
    find_on_path(tool).ok_or_else(|| {
        HarnessError(format!(
            "`{tool}` is not on the PATH: the tests need it (PostgreSQL 15 server binaries and psql)"
        ))
    })
}

/// Where `tool` lives on the PATH, if anywhere.
pub fn find_on_path(tool: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(tool))
        .find(|candidate| candidate.is_file())
}

/// Whether this process runs as root (uid 0).
pub fn is_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

fn postgres_user_ids() -> Result<(u32, u32)> {
    let passwd = std::fs::read_to_string("/etc/passwd")
        .map_err(|e| HarnessError(format!("cannot read /etc/passwd: {e}")))?;
    passwd
        .lines()
        .map(|line| line.split(':').collect::<Vec<_>>())
        .find(|fields| fields.first() == Some(&"postgres") && fields.len() > 3)
        .and_then(|fields| Some((fields[2].parse().ok()?, fields[3].parse().ok()?)))
        .ok_or_else(|| {
            HarnessError(
                "running as root, but there is no `postgres` user to run PostgreSQL as".into(),
            )
        })
}

fn run_as_server_user(command: &mut Command) -> Result<()> {
    let mut command = if is_root() {
        let mut wrapped = Command::new("runuser");
        wrapped
            .args(["-u", "postgres", "--"])
            .arg(command.get_program())
            .args(command.get_args());
        wrapped
    } else {
        std::mem::replace(command, Command::new("true"))
    };
    let shown = format!("{command:?}");
    let out = command
        .stdin(Stdio::null())
        .output()
        .map_err(|e| HarnessError(format!("cannot run {shown}: {e}")))?;
    check(&shown, &out)
}

fn check(what: &str, out: &Output) -> Result<()> {
    if out.status.success() {
        Ok(())
    } else {
        Err(HarnessError(format!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )))
    }
}

fn append_file(path: &Path, text: &str) -> Result<()> {
    use std::io::Write;
    std::fs::OpenOptions::new()
        .append(true)
        .open(path)
        .and_then(|mut f| f.write_all(text.as_bytes()))
        .map_err(|e| HarnessError(format!("cannot write {}: {e}", path.display())))
}

fn read_lossy(path: &Path) -> String {
    std::fs::read(path)
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Run the `git` CLI in `dir` with a fixed identity and `main` as the default branch; the
/// trimmed stdout. Panics with git's stderr when it fails (a test helper).
pub fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .current_dir(dir)
        .args([
            "-c",
            "user.name=ferry-test",
            "-c",
            "user.email=test@ferry.invalid",
            "-c",
            "init.defaultBranch=main",
        ])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run git (is it installed?): {e}"));
    assert!(
        out.status.success(),
        "git {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}
