//! Benchmark driver for `cargo xtask bench latency`: how fast `ferry run` (the binary at
//! `argv[1]`) reacts, against moto (from `FERRY_TEST_MOTO_BIN`) behind a proxy that sees every
//! AWS call. `argv[2]` runs per source (default 10), `argv[3]` services for the RSS
//! measurement (default 1000).
//!
//! - folder: from rewriting `environment.yaml` (a new image tag) to the first ECS write call
//!   reaching moto;
//! - git + webhook: from the start of `git push` (a new commit, then a signed GitHub push
//!   webhook) to the first ECS write call reaching moto;
//! - RSS of the controller: idle on the 3-service stack, and settled on a stack of N services.
//!
//! Each run waits for the previous change to be fully applied first. Prints one JSON line.

#[path = "../../ecs/tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferry_testkit::git;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};
use sha2::Sha256;
use support::{Moto, Proxy, Stack};

const SERVICES: [&str; 3] = ["api", "frontend", "proxy"];

fn http(port: u16, request: &str) -> Option<String> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .ok()?;
    stream.write_all(request.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    Some(answer)
}

fn status(port: u16) -> Value {
    http(
        port,
        "GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    )
    .and_then(|a| serde_json::from_str::<Value>(a.split_once("\r\n\r\n")?.1).ok())
    .map(|s| s["environments"]["test"].clone())
    .unwrap_or_default()
}

/// A `ferry run` child, killed on drop.
struct Ferry {
    child: Child,
    port: u16,
    log: std::path::PathBuf,
}

impl Drop for Ferry {
    /// SIGTERM (a clean stop, as in production), then SIGKILL after 10 s.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Ferry {
    fn spawn(bin: &str, source: &[&str], endpoint: &str, dir: &Path) -> Self {
        let port = ferry_testkit::free_port().expect("port");
        let log = dir.join("ferry.log");
        let file = std::fs::File::create(&log).expect("log");
        let child = support::moto_env(&mut Command::new(bin), endpoint)
            .arg("run")
            .args(source)
            .args(["--env", "test", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--state-dir")
            .arg(dir.join("state"))
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("ferry starts");
        Self { child, port, log }
    }

    /// Wait until the environment is Synced on a revision other than `not`; returns it.
    fn synced(&self, not: Option<&str>, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        loop {
            let env = status(self.port);
            if env["sync"] == "Synced"
                && let Some(rev) = env["lastAppliedRevision"].as_str()
                && Some(rev) != not
            {
                return rev.to_owned();
            }
            assert!(
                Instant::now() < deadline,
                "not synced in time: {env:#}\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Resident set size now and at its peak (MiB), from `/proc`.
    fn rss_mib(&self) -> (f64, f64) {
        let text = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        let field = |name: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|kb| kb.parse::<f64>().ok())
                .map_or(f64::NAN, |kb| kb / 1024.0)
        };
        (field("VmRSS:"), field("VmHWM:"))
    }
}

fn write_count(proxy: &Proxy) -> u64 {
    proxy
        .writes()
        .iter()
        .filter(|(api, _)| api.starts_with("ecs:"))
        .map(|(_, n)| n)
        .sum()
}

/// Wait for the first ECS write after `before` writes; milliseconds since `t0`.
async fn first_write(proxy: &Proxy, before: u64, t0: Instant) -> f64 {
    let deadline = t0 + Duration::from_secs(60);
    while write_count(proxy) == before {
        assert!(Instant::now() < deadline, "no ECS write within 60 s");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    t0.elapsed().as_secs_f64() * 1000.0
}

fn retag(file: &Path, tag: &str) {
    let text = std::fs::read_to_string(file).expect("read environment");
    let start = text.find("web-app: { tag: ").expect("pin") + "web-app: { tag: ".len();
    let end = text[start..].find(' ').expect("pin end") + start;
    let new = format!("{}{tag}{}", &text[..start], &text[end..]);
    std::fs::write(file, new).expect("write environment");
}

fn summary(ms: &[f64]) -> Value {
    let mut sorted = ms.to_vec();
    sorted.sort_by(f64::total_cmp);
    let median = if sorted.is_empty() {
        f64::NAN
    } else if sorted.len() % 2 == 1 {
        sorted[sorted.len() / 2]
    } else {
        f64::midpoint(sorted[sorted.len() / 2 - 1], sorted[sorted.len() / 2])
    };
    json!({"runs": ms, "median_ms": median, "max_ms": sorted.last().copied().unwrap_or(f64::NAN)})
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let bin = args
        .get(1)
        .expect("usage: bench_latency FERRY_BIN [RUNS] [N]");
    let runs: usize = args.get(2).map_or(10, |a| a.parse().expect("runs"));
    let n: usize = args.get(3).map_or(1000, |a| a.parse().expect("services"));

    let moto = Moto::start().await;
    let platform = moto.platform(&moto.endpoint()).await;
    let work = tempfile::tempdir().expect("tmp");
    // The repository exists (Ferry's own) with every tag the runs will deploy.
    let empty = Stack::new(&moto.subnet, &moto.security_group, &[]);
    support::reconcile(&platform, &empty.load(&work.path().join("seed"))).await;
    for i in 0..=2 * runs + 1 {
        moto.push_image("web-app", &format!("v{i}")).await;
    }
    let proxy = Proxy::start(&moto.endpoint()).await;
    let mut tag = 0;

    // Folder source.
    let folder_dir = work.path().join("folder");
    let manifests = folder_dir.join("manifests");
    let mut stack = Stack::new(&moto.subnet, &moto.security_group, &SERVICES);
    stack.tag = format!("v{tag}");
    stack.write(&manifests);
    let environment = manifests.join("test/environment.yaml");
    let ferry = Ferry::spawn(
        bin,
        &["--manifests", manifests.to_str().expect("utf-8")],
        &proxy.endpoint(),
        &folder_dir,
    );
    let mut revision = ferry.synced(None, Duration::from_secs(120));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let idle = ferry.rss_mib();
    let mut folder = Vec::new();
    for _ in 0..runs {
        tag += 1;
        let before = write_count(&proxy);
        let t0 = Instant::now();
        retag(&environment, &format!("v{tag}"));
        folder.push(first_write(&proxy, before, t0).await);
        revision = ferry.synced(Some(&revision), Duration::from_secs(60));
    }
    drop(ferry);

    // Git source with the webhook (the poll interval is an hour, so only the webhook counts).
    let git_dir = work.path().join("git");
    let bare = git_dir.join("origin.git");
    let clone = git_dir.join("work");
    std::fs::create_dir_all(&git_dir).expect("mkdir");
    git(
        &git_dir,
        &["init", "--bare", "--quiet", bare.to_str().expect("utf-8")],
    );
    git(
        &git_dir,
        &[
            "clone",
            "--quiet",
            bare.to_str().expect("utf-8"),
            clone.to_str().expect("utf-8"),
        ],
    );
    stack.tag = format!("v{tag}");
    stack.write(&clone.join("manifests"));
    git(&clone, &["add", "-A"]);
    git(&clone, &["commit", "--quiet", "-m", "start"]);
    git(&clone, &["push", "--quiet", "origin", "HEAD:main"]);
    let secret = "bench-webhook-secret";
    let secret_file = git_dir.join("webhook-secret");
    std::fs::write(&secret_file, secret).expect("secret");
    let ferry = Ferry::spawn(
        bin,
        &[
            "--repo",
            bare.to_str().expect("utf-8"),
            "--interval",
            "1h",
            "--webhook-secret-file",
            secret_file.to_str().expect("utf-8"),
        ],
        &proxy.endpoint(),
        &git_dir,
    );
    let mut revision = ferry.synced(None, Duration::from_secs(120));
    let mut pushed = Vec::new();
    for _ in 0..runs {
        tag += 1;
        retag(
            &clone.join("manifests/test/environment.yaml"),
            &format!("v{tag}"),
        );
        git(&clone, &["commit", "--quiet", "-am", &format!("v{tag}")]);
        let before = write_count(&proxy);
        let t0 = Instant::now();
        git(&clone, &["push", "--quiet", "origin", "HEAD:main"]);
        let body = json!({"ref": "refs/heads/main", "after": "x"}).to_string();
        let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("hmac");
        mac.update(body.as_bytes());
        let signature: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let answer = http(
            ferry.port,
            &format!(
                "POST /webhook/github HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-GitHub-Event: push\r\nX-Hub-Signature-256: sha256={signature}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            ),
        )
        .unwrap_or_default();
        assert!(
            answer.starts_with("HTTP/1.1 2"),
            "webhook refused: {answer}"
        );
        pushed.push(first_write(&proxy, before, t0).await);
        revision = ferry.synced(Some(&revision), Duration::from_secs(60));
    }
    drop(ferry);

    // RSS settled on N services (straight to moto: no proxy needed here).
    let big_dir = work.path().join("big");
    let names: Vec<String> = (0..n).map(|i| format!("svc-{i:04}")).collect();
    let refs: Vec<&str> = names.iter().map(String::as_str).collect();
    let mut big = Stack::new(&moto.subnet, &moto.security_group, &refs);
    big.tag = format!("v{tag}");
    big.write(&big_dir.join("manifests"));
    let started = Instant::now();
    let ferry = Ferry::spawn(
        bin,
        &[
            "--manifests",
            big_dir.join("manifests").to_str().expect("utf-8"),
        ],
        &moto.endpoint(),
        &big_dir,
    );
    ferry.synced(None, Duration::from_secs(900));
    let first_sync_s = started.elapsed().as_secs_f64();
    tokio::time::sleep(Duration::from_secs(5)).await;
    let settled = ferry.rss_mib();

    println!(
        "{}",
        json!({
            "folder": summary(&folder),
            "git_webhook": summary(&pushed),
            "rss_idle_mib": idle.0,
            "rss_idle_peak_mib": idle.1,
            "services": n,
            "first_sync_s": first_sync_s,
            "rss_mib": settled.0,
            "rss_peak_mib": settled.1,
        })
    );
}
