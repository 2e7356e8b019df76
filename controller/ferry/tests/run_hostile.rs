//! `ferry run` (local platform, folder source) fed hostile revisions while it runs: a FIFO, an
//! alias bomb split across documents, a symbolic-link loop and a planted credential. The
//! controller stays responsive (`/healthz` answers within 1 s throughout), the environment is
//! Stalled with the `file:line` errors (and no credential), and the last good revision keeps
//! running.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

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

const SERVICE: &str = "apiVersion: ferry.dev/v1alpha1
kind: EcsService
metadata: { name: w }
spec:
  taskDefinition:
    cpu: 256
    memory: 512
    containers:
      - name: main
        image: worker
";

const SECRET: &str = "ghp_R4nd0mT0k3nV4lu3F0rT35t1ngABCDEF1234";

/// (status, body) of a plain HTTP/1.1 GET, every step bounded by `timeout`.
fn get(port: u16, path: &str, timeout: Duration) -> Option<(u16, String)> {
    let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    let mut stream = TcpStream::connect_timeout(&addr, timeout).ok()?;
    stream.set_read_timeout(Some(timeout)).ok()?;
    stream.set_write_timeout(Some(timeout)).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

/// Direct children of `pid`, from /proc.
fn children(pid: u32) -> Vec<u32> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let ppid = stat
            .rsplit_once(") ")
            .and_then(|(_, a)| a.split_whitespace().nth(1))
            .and_then(|p| p.parse::<u32>().ok());
        if ppid == Some(pid) {
            out.push(child);
        }
    }
    out
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat"))
        .is_ok_and(|s| !s.rsplit_once(") ").is_some_and(|(_, a)| a.starts_with('Z')))
}

/// A running `ferry run`, killed on drop.
struct Ferry {
    child: Child,
    port: u16,
    log: PathBuf,
}

impl Ferry {
    fn start(manifests: &Path, state: &Path) -> Self {
        let port = ferry_testkit::free_port().expect("free port");
        let log = state.join("ferry.log");
        std::fs::create_dir_all(state).expect("state dir");
        let file = std::fs::File::create(&log).expect("log");
        let child = Command::new(FERRY)
            .args(["run", "--manifests"])
            .arg(manifests)
            .args([
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--health-interval",
                "300ms",
                "--drift-interval",
                "1h",
            ])
            .arg("--state-dir")
            .arg(state.join("state"))
            .arg("--base-dir")
            .arg(state)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("ferry starts");
        Self { child, port, log }
    }

    fn env(&self) -> Option<Value> {
        let (code, body) = get(self.port, "/status", Duration::from_secs(5))?;
        let status: Value = (code == 200).then(|| serde_json::from_str(&body).ok())??;
        Some(status["environments"]["dev"].clone())
    }

    fn wait(&self, what: &str, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(e) = self.env().filter(|e| pred(e)) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last status: {:#}\nferry log:\n{}",
                self.env().unwrap_or_default(),
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(150));
        }
    }
}

impl Drop for Ferry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `/healthz` every 50 ms on a thread; each answer must come within 1 s.
struct Prober {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<(usize, Duration, Vec<String>)>,
}

impl Prober {
    fn start(port: u16) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = stop.clone();
        let handle = std::thread::spawn(move || {
            let (mut probes, mut slowest, mut failures) = (0, Duration::ZERO, Vec::new());
            while !flag.load(Ordering::Relaxed) {
                let started = Instant::now();
                let answer = get(port, "/healthz", Duration::from_secs(1));
                let took = started.elapsed();
                probes += 1;
                slowest = slowest.max(took);
                match answer {
                    Some((200, _)) if took <= Duration::from_secs(1) => {}
                    other => failures.push(format!("after {took:?}: {other:?}")),
                }
                std::thread::sleep(Duration::from_millis(50));
            }
            (probes, slowest, failures)
        });
        Self { stop, handle }
    }

    fn finish(self) -> (usize, Duration, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().expect("prober")
    }
}

fn stalled_with(env: &Value, words: &str) -> bool {
    env["conditions"].as_array().is_some_and(|c| {
        c.iter()
            .any(|c| c["type"] == "Stalled" && c["status"] == "True")
    }) && env["errors"].to_string().contains(words)
}

/// Four documents of one file, each a bomb under the per-document size, together over the
/// file's budget (the fourth document's line, 8, is where it is refused).
fn split_bomb() -> String {
    let doc = format!(
        "{{a: &a [x, x, x, x, x, x, x, x, x, x], b: &b [{}], c: &c [{}], d: [{}]}}\n",
        ["*a"; 10].join(", "),
        ["*b"; 10].join(", "),
        ["*c"; 27].join(", ")
    );
    format!("---\n{}", vec![doc; 4].join("---\n"))
}

#[test]
fn hostile_revisions_stall_the_environment_while_the_controller_answers_and_the_last_good_one_runs()
{
    let dir = tempfile::tempdir().expect("temporary folder");
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(manifests.join("dev")).expect("mkdir");
    std::fs::create_dir_all(manifests.join("base")).expect("mkdir");
    std::fs::write(manifests.join("dev/environment.yaml"), ENV).expect("write");
    std::fs::write(manifests.join("base/w.yaml"), SERVICE).expect("write");
    let ferry = Ferry::start(&manifests, &dir.path().join("run"));
    let env = ferry.wait("the good revision running", |e| {
        e["resources"].as_array().is_some_and(|r| {
            r.iter()
                .any(|r| r["name"] == "w" && r["health"] == "Healthy")
        })
    });
    let good = env["lastAppliedRevision"]
        .as_str()
        .expect("revision")
        .to_owned();
    let worker = *children(ferry.child.id()).first().expect("the worker runs");
    let prober = Prober::start(ferry.port);

    // 1. A FIFO named like a manifest: refused by its type, never opened (a blocking read
    //    would freeze the reconcile).
    let fifo = manifests.join("base/pipe.yaml");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .expect("mkfifo (coreutils) must be installed")
            .success()
    );
    ferry.wait("Stalled on the FIFO", |e| {
        stalled_with(e, "base/pipe.yaml: a named pipe (FIFO)")
    });
    std::fs::remove_file(&fifo).expect("remove the FIFO");

    // 2. An alias bomb split across the documents of one file.
    std::fs::write(manifests.join("base/bomb.yaml"), split_bomb()).expect("write");
    ferry.wait("Stalled on the alias bomb", |e| {
        stalled_with(
            e,
            "base/bomb.yaml:8: invalid YAML: the file expands to more than",
        )
    });
    std::fs::remove_file(manifests.join("base/bomb.yaml")).expect("remove");

    // 3. A folder link that loops, and a credential in plain environment.
    std::os::unix::fs::symlink(".", manifests.join("base/loop")).expect("symlink");
    std::fs::write(
        manifests.join("base/w.yaml"),
        format!("{SERVICE}        environment: {{ TOKEN_URL: \"{SECRET}\" }}\n"),
    )
    .expect("write");
    let env = ferry.wait("Stalled on the loop and the credential", |e| {
        stalled_with(e, "base/loop: links back to `base`")
            && stalled_with(
                e,
                "base/w.yaml:11: spec.taskDefinition.containers[0].environment.TOKEN_URL",
            )
    });

    let (probes, slowest, failures) = prober.finish();
    assert!(
        failures.is_empty(),
        "/healthz must answer within 1 s throughout: {failures:?}"
    );
    assert!(probes >= 3, "only {probes} probes");
    assert_eq!(env["lastAppliedRevision"].as_str(), Some(good.as_str()));
    assert!(alive(worker), "the last good revision keeps running");
    let (_, status) = get(ferry.port, "/status", Duration::from_secs(5)).expect("status");
    let (_, page) = get(ferry.port, "/", Duration::from_secs(5)).expect("page");
    assert!(
        !status.contains(SECRET) && !page.contains(SECRET),
        "the planted credential is never shown"
    );
    println!("/healthz: {probes} probes, slowest {slowest:?}");
}

/// When the only Environment of the folder is broken, `ferry run` refuses to start and points
/// at the broken file and line (not "no environment found"), without echoing a credential.
#[test]
fn a_broken_only_environment_is_named_with_its_line_when_run_starts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let root = dir.path().join("manifests");
    std::fs::create_dir_all(root.join("dev")).expect("dev");
    std::fs::create_dir_all(root.join("base")).expect("base");
    std::fs::write(root.join("base/w.yaml"), SERVICE).expect("service");
    let broken = ENV.replace(
        "  platform: local\n",
        &format!("  platform: local\n  token: [{SECRET}\n"),
    );
    std::fs::write(root.join("dev/environment.yaml"), broken).expect("environment");
    let out = Command::new(FERRY)
        .args(["run", "--manifests"])
        .arg(&root)
        .args(["--listen", "127.0.0.1:0", "--state-dir"])
        .arg(dir.path().join("state"))
        .arg("--base-dir")
        .arg(dir.path())
        .stdin(Stdio::null())
        .output()
        .expect("ferry run");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "ferry run started: {stderr}");
    assert!(
        stderr.contains("dev/environment.yaml:6: invalid YAML: the `[` sequence"),
        "the broken file and line are named: {stderr}"
    );
    assert!(!stderr.contains("no environment found"), "{stderr}");
    assert!(
        !stderr.contains(SECRET),
        "the credential is echoed: {stderr}"
    );
}
