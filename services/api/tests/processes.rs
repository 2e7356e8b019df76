//! The `numbers-api` binary as an operator runs it: several replicas migrating one fresh
//! PostgreSQL at once, the SQLite default, graceful shutdown on SIGTERM, the container health
//! probe, and logs that never show the database password.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use ferry_testkit::{free_port, psql, shared_pg_database, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_numbers-api");

/// A running `numbers-api` process whose output goes to a log file; killed on drop.
struct Api {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
    _dir: tempfile::TempDir,
}

impl Api {
    fn spawn(envs: &[(&str, &str)]) -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        let port = free_port().expect("free port");
        let log = dir.path().join("api.log");
        let file = std::fs::File::create(&log).expect("log file");
        let mut cmd = Command::new(BIN);
        cmd.current_dir(dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log handle"))
            .stderr(file);
        for (k, v) in envs {
            cmd.env(k, v);
        }
        let child = cmd.spawn().expect("numbers-api starts");
        Self {
            child,
            port,
            log,
            _dir: dir,
        }
    }

    fn wait_ready(&mut self) {
        let port = self.port;
        let ready = wait_until(Duration::from_secs(60), || {
            http(port, "GET", "/readyz", None).is_some_and(|(s, _)| s == 200)
        });
        assert!(
            ready,
            "numbers-api on {port} never became ready; log:\n{}",
            self.logs()
        );
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn terminate(&mut self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    fn wait_exit(&mut self) -> std::process::ExitStatus {
        for _ in 0..200 {
            if let Some(status) = self.child.try_wait().expect("process status") {
                return status;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        panic!("numbers-api did not exit within 10s; log:\n{}", self.logs());
    }
}

impl Drop for Api {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A minimal HTTP/1.1 exchange over std (no runtime needed): (status, body).
fn http(port: u16, method: &str, path: &str, json: Option<&str>) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let body = json.unwrap_or("");
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

#[test]
fn several_replicas_migrating_one_fresh_postgres_all_start_with_one_schema() {
    let url = shared_pg_database();
    let mut replicas: Vec<Api> = (0..6)
        .map(|_| Api::spawn(&[("DATABASE_URL", &url)]))
        .collect();
    for api in &mut replicas {
        api.wait_ready();
    }
    assert_eq!(
        psql(&url, "SELECT count(*) FROM seaql_migrations").expect("query"),
        "1"
    );
    let tables = psql(&url, "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'public'")
        .expect("query");
    assert_eq!(tables, "idempotency_keys,numbers,seaql_migrations");
    // Every replica serves the same data.
    let (status, _) = http(
        replicas[0].port,
        "POST",
        "/v1/numbers",
        Some(r#"{"value": 5}"#),
    )
    .expect("answer");
    assert_eq!(status, 201);
    for api in &replicas {
        let (status, body) = http(api.port, "GET", "/v1/numbers/stats", None).expect("answer");
        assert_eq!(status, 200);
        assert!(body.contains(r#""count":1"#), "{body}");
    }
}

#[test]
fn with_no_database_configured_it_uses_numbers_db_in_the_working_directory() {
    let mut api = Api::spawn(&[]);
    api.wait_ready();
    let (status, _) =
        http(api.port, "POST", "/values", Some(r#"{"value": "12"}"#)).expect("answer");
    assert_eq!(status, 200);
    let db = api._dir.path().join("numbers.db");
    assert!(db.is_file(), "expected {}", db.display());
    assert!(Path::new(&db).metadata().expect("metadata").len() > 0);
}

#[test]
fn sigterm_lets_the_in_flight_request_finish_then_exits_cleanly() {
    let mut api = Api::spawn(&[]);
    api.wait_ready();
    // Start a request: headers sent, body not yet.
    let mut stream = TcpStream::connect(("127.0.0.1", api.port)).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    stream
        .write_all(b"POST /v1/numbers HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 13\r\n\r\n")
        .expect("headers");
    std::thread::sleep(Duration::from_millis(200));
    api.terminate();
    std::thread::sleep(Duration::from_millis(300));
    assert!(
        api.child.try_wait().expect("status").is_none(),
        "must wait for the in-flight request"
    );
    stream.write_all(br#"{"value": 42}"#).expect("body");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("answer");
    assert!(answer.starts_with("HTTP/1.1 201"), "{answer}");
    let status = api.wait_exit();
    assert!(
        status.success(),
        "exit status {status}; log:\n{}",
        api.logs()
    );
    assert!(api.logs().contains("shutting down"), "{}", api.logs());
}

#[test]
fn the_health_probe_flag_reports_up_and_down() {
    let mut api = Api::spawn(&[]);
    api.wait_ready();
    let probe = |port: u16| {
        Command::new(BIN)
            .args([
                "--check-health",
                "--listen-addr",
                &format!("127.0.0.1:{port}"),
            ])
            .output()
            .expect("probe runs")
            .status
            .success()
    };
    assert!(probe(api.port));
    assert!(!probe(free_port().expect("port")), "nothing listens there");
}

#[test]
fn json_logs_never_show_the_database_password() {
    let url = shared_pg_database();
    let parsed = url::Url::parse(&url).expect("URL");
    let password = "s3cr3t-Pa55w0rd";
    let port = parsed.port().expect("port").to_string();
    let mut api = Api::spawn(&[
        ("PG_HOST", "127.0.0.1"),
        ("PG_PORT", &port),
        ("PG_USER", "postgres"),
        ("PG_PASSWORD", password),
        ("PG_DATABASE", parsed.path().trim_start_matches('/')),
        ("LOG_FORMAT", "json"),
    ]);
    api.wait_ready();
    let _ = http(api.port, "POST", "/v1/numbers", Some(r#"{"value": 1}"#));
    let _ = http(api.port, "POST", "/v1/numbers", Some(r#"{"value": "bad"}"#));
    api.terminate();
    api.wait_exit();
    let logs = api.logs();
    assert!(!logs.is_empty());
    assert!(!logs.contains(password), "password leaked:\n{logs}");
    for line in logs.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {line}"));
    }
    assert!(logs.contains("***"), "the redacted URL is logged:\n{logs}");
}

#[test]
fn migrate_applies_the_schema_and_exits_and_a_server_told_not_to_migrate_serves_it() {
    let url = shared_pg_database();
    let migrate = || {
        Command::new(BIN)
            .arg("migrate")
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("DATABASE_URL", &url)
            .stdin(Stdio::null())
            .output()
            .expect("numbers-api migrate runs")
    };
    for _ in 0..2 {
        let out = migrate();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    assert_eq!(
        psql(&url, "SELECT count(*) FROM seaql_migrations").expect("query"),
        "1"
    );
    let tables = psql(&url, "SELECT string_agg(table_name, ',' ORDER BY table_name) FROM information_schema.tables WHERE table_schema = 'public'")
        .expect("query");
    assert_eq!(tables, "idempotency_keys,numbers,seaql_migrations");

    let mut api = Api::spawn(&[("DATABASE_URL", &url), ("MIGRATE_AT_START", "false")]);
    api.wait_ready();
    let (status, _) =
        http(api.port, "POST", "/v1/numbers", Some(r#"{"value": 7}"#)).expect("answer");
    assert_eq!(status, 201);
    assert!(
        api.logs()
            .contains("migrations left to `numbers-api migrate`"),
        "{}",
        api.logs()
    );
}

#[test]
fn migrate_against_an_unreachable_database_fails_without_showing_the_password() {
    let port = free_port().expect("free port");
    let out = Command::new(BIN)
        .arg("migrate")
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env(
            "DATABASE_URL",
            format!("postgres://numbers:hunter2-secret@127.0.0.1:{port}/numbers"),
        )
        .env("DB_STARTUP_TIMEOUT", "1s")
        .stdin(Stdio::null())
        .output()
        .expect("numbers-api migrate runs");
    assert_eq!(out.status.code(), Some(1));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(text.contains("cannot prepare database"), "{text}");
    assert!(!text.contains("hunter2-secret"), "{text}");
}
