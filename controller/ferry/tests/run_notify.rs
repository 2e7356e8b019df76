//! Notifications of `ferry run` (`--notify-config`) to a local receiver that is down at first
//! and comes back: a stalled revision is told once (JSON and Slack payloads) after retries, the
//! recovery once, failed attempts count in metrics and history, and the webhook URL (a secret,
//! read from a file) never shows in logs or status.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");
const SECRET_PATH: &str = "/services/T000/B000/XyZsecretHookPath42";

/// (path, JSON body) of every request received.
type Received = Arc<Mutex<Vec<(String, Value)>>>;

/// A webhook receiver on `port` answering 200 to every POST.
fn receiver(port: u16) -> Received {
    let listener = TcpListener::bind(("127.0.0.1", port)).expect("bind the receiver");
    let received: Received = Arc::default();
    let log = received.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(stream);
            let mut request_line = String::new();
            if reader.read_line(&mut request_line).is_err() {
                continue;
            }
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some((k, v)) = line.split_once(':')
                    && k.eq_ignore_ascii_case("content-length")
                {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let path = request_line
                .split_whitespace()
                .nth(1)
                .unwrap_or_default()
                .to_owned();
            log.lock()
                .expect("log")
                .push((path, serde_json::from_slice(&body).unwrap_or(Value::Null)));
            let _ = reader
                .get_mut()
                .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
        }
    });
    received
}

fn get(port: u16, path: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    answer
        .starts_with("HTTP/1.1 200")
        .then(|| answer.split_once("\r\n\r\n").map(|(_, b)| b.to_owned()))?
}

fn wait_for<T>(what: &str, mut probe: impl FnMut() -> Option<T>, log: &Path) -> T {
    let deadline = Instant::now() + Duration::from_secs(40);
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out waiting for {what}\nferry log:\n{}",
            std::fs::read_to_string(log).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

const ENV: &str = "apiVersion: ferry.dev/v1alpha1
kind: Environment
metadata: { name: dev }
spec:
  platform: local
  resources: [../base]
  local:
    commands:
      worker: { command: [sleep, \"600\"] }
";

fn service(mode: &str) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: EcsService\nmetadata: {{ name: w }}\nspec:\n  taskDefinition:\n    cpu: 256\n    memory: 512\n    \
         containers:\n      - name: main\n        image: worker\n        environment: {{ MODE: \"{mode}\" }}\n"
    )
}

/// The events received on `path`, in order.
fn events(received: &Received, path: &str, key: &str) -> Vec<String> {
    received
        .lock()
        .expect("received")
        .iter()
        .filter(|(p, _)| p == path)
        .map(|(_, body)| body[key].as_str().unwrap_or_default().to_owned())
        .collect()
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn a_stalled_revision_is_told_once_after_the_receiver_comes_back_and_so_is_the_recovery() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(manifests.join("dev")).expect("mkdir");
    std::fs::create_dir_all(manifests.join("base")).expect("mkdir");
    std::fs::write(manifests.join("dev/environment.yaml"), ENV).expect("write");
    std::fs::write(manifests.join("base/w.yaml"), service("one")).expect("write");

    // The receiver's port, with nothing listening yet.
    let hook_port = ferry_testkit::free_port().expect("port");
    let url = format!("http://127.0.0.1:{hook_port}{SECRET_PATH}");
    std::fs::write(dir.path().join("hook-url"), format!("{url}\n")).expect("write");
    let config = dir.path().join("notify.yaml");
    std::fs::write(
        &config,
        format!(
            "webhooks:\n  - name: ops\n    urlFile: hook-url\n    attempts: 100\n    backoff: 200ms\n    maxBackoff: 400ms\n  \
             - name: chat\n    url: http://127.0.0.1:{hook_port}/slack\n    format: slack\n    events: [Stalled, Recovered]\n    attempts: 100\n    backoff: 200ms\n    maxBackoff: 400ms\n"
        ),
    )
    .expect("write");

    let port = ferry_testkit::free_port().expect("port");
    let log: PathBuf = dir.path().join("ferry.log");
    let file = std::fs::File::create(&log).expect("log");
    let _ferry = Killed(
        Command::new(FERRY)
            .arg("run")
            .arg("--manifests")
            .arg(&manifests)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .arg("--notify-config")
            .arg(&config)
            .args(["--health-interval", "300ms", "--drift-interval", "1h"])
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("ferry starts"),
    );
    let status = || -> Option<Value> { serde_json::from_str(&get(port, "/status")?).ok() };
    wait_for(
        "dev healthy",
        || {
            status().filter(|s| {
                s["environments"]["dev"]["health"] == "Healthy"
                    && s["environments"]["dev"]["lastAppliedRevision"].is_string()
            })
        },
        &log,
    );

    // A broken revision while the receiver is down: delivery is retried and counted.
    std::fs::write(
        manifests.join("base/broken.yaml"),
        "apiVersion: ferry.dev/v1alpha1\nkind: EcsService\nmetadata: { name: b }\nspec:\n  nope: 1\n",
    )
    .expect("write");
    wait_for(
        "failed deliveries counted",
        || {
            let metrics = get(port, "/metrics")?;
            metrics
                .lines()
                .find(|l| {
                    l.starts_with("ferry_notification_delivery_failures_total")
                        && l.contains("webhook=\"ops\"")
                })
                .and_then(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
                .filter(|n| *n >= 2.0)
        },
        &log,
    );

    // The receiver comes back: the stalled revision is told once per webhook.
    let received = receiver(hook_port);
    wait_for(
        "the Stalled notification",
        || (events(&received, SECRET_PATH, "event") == ["Stalled"]).then_some(()),
        &log,
    );
    wait_for(
        "the Slack notification",
        || {
            let texts = events(&received, "/slack", "text");
            (texts.len() == 1 && texts[0].contains("Stalled") && texts[0].contains("dev"))
                .then_some(())
        },
        &log,
    );
    let json = received
        .lock()
        .expect("received")
        .iter()
        .find(|(p, _)| p == SECRET_PATH)
        .map(|(_, b)| b.clone())
        .unwrap_or_default();
    assert_eq!(json["environment"], "dev");
    assert!(
        json["message"]
            .as_str()
            .is_some_and(|m| m.contains("broken.yaml")),
        "the message says where: {json}"
    );
    // History has the delayed delivery, with why.
    let s = wait_for(
        "the delayed delivery in history",
        || {
            status().filter(|s| {
                s["environments"]["dev"]["history"]
                    .as_array()
                    .is_some_and(|h| h.iter().any(|a| a["result"] == "NotificationDelayed"))
            })
        },
        &log,
    );
    let row = s["environments"]["dev"]["history"]
        .as_array()
        .and_then(|h| h.iter().find(|a| a["result"] == "NotificationDelayed"))
        .cloned()
        .unwrap_or_default();
    assert!(
        row["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("cannot connect")),
        "{row}"
    );

    // Fixed: one Recovered, and no repeats while nothing changes.
    std::fs::remove_file(manifests.join("base/broken.yaml")).expect("rm");
    std::fs::write(manifests.join("base/w.yaml"), service("two")).expect("write");
    wait_for(
        "the Recovered notification",
        || (events(&received, SECRET_PATH, "event") == ["Stalled", "Recovered"]).then_some(()),
        &log,
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(
        events(&received, SECRET_PATH, "event"),
        ["Stalled", "Recovered"]
    );
    assert_eq!(events(&received, "/slack", "text").len(), 2);

    let logs = std::fs::read_to_string(&log).unwrap_or_default();
    let shown = get(port, "/status").unwrap_or_default() + &get(port, "/").unwrap_or_default();
    for text in [logs, shown] {
        assert!(
            !text.contains("XyZsecretHookPath42"),
            "the URL leaked: {text}"
        );
    }
}
