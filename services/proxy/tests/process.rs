//! The `numbers-proxy` binary as a container runs it: configured from the environment, one
//! access-log line per request, its own health probe, a clean exit on SIGTERM.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::{Echo, get};
use ferry_testkit::{free_port, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_numbers-proxy");

#[tokio::test]
async fn the_binary_proxies_logs_each_request_probes_itself_and_stops_on_sigterm() {
    let api = Echo::start("api").await;
    let frontend = Echo::start("frontend").await;
    let dir = tempfile::tempdir().expect("temporary folder");
    let log_path = dir.path().join("proxy.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let port = free_port().expect("free port");
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .env_clear()
        .env("LISTEN_ADDR", &listen)
        .env("API_UPSTREAM", api.upstream().to_string())
        .env("FRONTEND_UPSTREAM", frontend.upstream().to_string())
        .env("LOG_FORMAT", "json")
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log handle"))
        .stderr(log)
        .spawn()
        .expect("numbers-proxy starts");
    let up = wait_until(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "numbers-proxy never listened");

    let probe = Command::new(BIN)
        .env_clear()
        .env("LISTEN_ADDR", &listen)
        .arg("--check-health")
        .status()
        .expect("probe runs");
    assert!(
        probe.success(),
        "--check-health failed against a running proxy"
    );

    let reply = get(port, "/api/v1/numbers?limit=1").await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["uri"], "/v1/numbers?limit=1");
    let id = reply.header("x-request-id").expect("request id").to_owned();

    let logged = wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&log_path).is_ok_and(|l| l.contains(&id))
    });
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert!(logged, "no access-log line for {id}:\n{text}");
    let line: serde_json::Value = text
        .lines()
        .filter(|l| l.contains(&id))
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("a JSON access-log line");
    assert_eq!(line["target"], "access");
    assert_eq!(line["status"], 200);
    assert_eq!(line["upstream"], "api");
    assert_eq!(line["method"], "GET");
    assert_eq!(line["uri"], "/api/v1/numbers?limit=1");

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let exited = wait_until(Duration::from_secs(10), || {
        child.try_wait().ok().flatten().is_some()
    });
    assert!(exited, "numbers-proxy did not exit on SIGTERM");
    let status = child.wait().expect("exit status");
    assert!(status.success(), "exit status {status}");

    let down = Command::new(BIN)
        .env_clear()
        .env("LISTEN_ADDR", &listen)
        .arg("--check-health")
        .status()
        .expect("probe runs");
    assert!(
        !down.success(),
        "--check-health passed with no proxy running"
    );
}

#[tokio::test]
async fn a_second_proxy_on_a_served_port_exits_with_address_in_use() {
    let api = Echo::start("api").await;
    let port = free_port().expect("free port");
    let listen = format!("127.0.0.1:{port}");
    let start = || {
        Command::new(BIN)
            .env_clear()
            .env("LISTEN_ADDR", &listen)
            .env("API_UPSTREAM", api.upstream().to_string())
            .env("FRONTEND_UPSTREAM", api.upstream().to_string())
            .env("WORKERS", "2")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("numbers-proxy starts")
    };
    let mut first = start();
    let up = wait_until(Duration::from_secs(20), || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    assert!(up, "the first numbers-proxy never listened");

    // The stale-server case: same user, same binary, same port. SO_REUSEPORT would let the
    // two share the traffic; the second must refuse to start instead.
    let second = start();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(second.wait_with_output());
    });
    let output = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the second numbers-proxy exits by itself")
        .expect("exit status");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "second proxy: {}", output.status);
    assert!(
        stderr.contains(&format!("cannot listen on {listen}")) && stderr.contains("already in use"),
        "{stderr}"
    );

    // The first is unharmed and still serves every request.
    for _ in 0..10 {
        assert_eq!(get(port, "/healthz").await.status, 200);
    }
    let _ = Command::new("kill")
        .args(["-TERM", &first.id().to_string()])
        .status();
    let exited = wait_until(Duration::from_secs(10), || {
        first.try_wait().ok().flatten().is_some()
    });
    if !exited {
        let _ = first.kill();
    }
    let _ = first.wait();
}
