//! `ferry run` on the local platform, as a user runs it: the numbers app from the repository's
//! manifests, edits applied while it runs, crashes restarted with backoff, broken revisions
//! stalled while the last good one keeps running, a git source with a verified webhook, and
//! no child process left after SIGTERM.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

fn repo_root() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .canonicalize()
        .expect("repository root")
}

fn free_port() -> u16 {
    ferry_testkit::free_port().expect("free port")
}

/// (status, body) of a plain HTTP/1.1 request.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    req.push_str(body);
    stream.write_all(req.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    let body = answer
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_owned())
        .unwrap_or_default();
    Some((status, body))
}

fn wait_for<T>(what: &str, timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = probe() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Direct children of `pid` with their command lines, from /proc.
fn children(pid: u32) -> Vec<(u32, String)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(child) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some(after) = stat.rsplit_once(") ").map(|(_, a)| a) else {
            continue;
        };
        let ppid: u32 = after
            .split_whitespace()
            .nth(1)
            .and_then(|p| p.parse().ok())
            .unwrap_or(0);
        if ppid == pid {
            let cmdline = std::fs::read(entry.path().join("cmdline")).unwrap_or_default();
            out.push((child, String::from_utf8_lossy(&cmdline).replace('\0', " ")));
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
    fn start(source: &[&str], state: &Path, extra: &[&str]) -> Self {
        let port = free_port();
        let log = state.join("ferry.log");
        std::fs::create_dir_all(state).expect("state dir");
        let file = std::fs::File::create(&log).expect("log");
        // The local manifests name the numbers binaries: found on PATH, this build's first.
        let bin_dir = Path::new(FERRY).parent().expect("bin folder").to_path_buf();
        let path = std::env::join_paths(std::iter::once(bin_dir).chain(std::env::split_paths(
            &std::env::var_os("PATH").unwrap_or_default(),
        )))
        .expect("PATH");
        let child = Command::new(FERRY)
            .env("PATH", path)
            .arg("run")
            .args(source)
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
            .arg(repo_root())
            .args(extra)
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("ferry starts");
        Self { child, port, log }
    }

    fn status(&self) -> Option<Value> {
        let (code, body) = http(self.port, "GET", "/status", &[], "")?;
        (code == 200).then(|| serde_json::from_str(&body).ok())?
    }

    fn env(&self, env: &str) -> Option<Value> {
        self.status().map(|s| s["environments"][env].clone())
    }

    fn wait_env(
        &self,
        env: &str,
        what: &str,
        timeout: Duration,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(e) = self.env(env).filter(|e| pred(e)) {
                return e;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; last status: {:#}\nferry log:\n{}",
                self.env(env).unwrap_or_default(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(150));
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        self.stop_within("-TERM", Duration::from_secs(30)).0
    }

    /// Send `signal` (`-TERM`, `-INT`) and wait for Ferry to exit: fails unless it has within
    /// `deadline`. Its exit status and how long it took.
    fn stop_within(
        &mut self,
        signal: &str,
        deadline: Duration,
    ) -> (std::process::ExitStatus, Duration) {
        let sent = Instant::now();
        Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .expect("kill");
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return (status, sent.elapsed());
            }
            assert!(
                sent.elapsed() < deadline,
                "ferry did not exit within {deadline:?} after {signal}:\n{}",
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Ferry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn health(env: &Value, service: &str) -> String {
    env["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == service))
        .map(|r| r["health"].as_str().unwrap_or_default().to_owned())
        .unwrap_or_default()
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

fn built(name: &str) -> PathBuf {
    let path = Path::new(FERRY).with_file_name(name);
    assert!(
        path.is_file(),
        "{} is missing: build the workspace first (`cargo xtask test` does)",
        path.display()
    );
    path
}

#[test]
fn the_numbers_app_runs_under_ferry_edits_apply_crashes_restart_and_nothing_outlives_it() {
    for bin in ["numbers-api", "numbers-frontend", "numbers-proxy"] {
        built(bin);
    }
    let dir = tempfile::tempdir().expect("temporary folder");
    let manifests = dir.path().join("manifests");
    copy_tree(&repo_root().join("manifests"), &manifests);
    // Free ports instead of 5000/3000/8000, so tests can run side by side.
    let (api, front, proxy) = (free_port(), free_port(), free_port());
    let stack = manifests.join("base/numbers.yaml");
    let text = std::fs::read_to_string(&stack)
        .expect("read")
        .replace("5000", &api.to_string())
        .replace("3000", &front.to_string())
        .replace("8000", &proxy.to_string());
    std::fs::write(&stack, &text).expect("write");

    let mut ferry = Ferry::start(
        &[
            "--manifests",
            manifests.to_str().expect("utf-8"),
            "--env",
            "local",
        ],
        &dir.path().join("run"),
        &[],
    );
    let env = ferry.wait_env("local", "all healthy", Duration::from_secs(90), |e| {
        health(e, "numbers") == "Healthy"
    });
    assert_eq!(env["conditions"][0]["type"], "Ready");
    // The base manifests declare autoscaling: the local platform runs one copy and says so.
    let numbers = env["resources"]
        .as_array()
        .and_then(|r| r.iter().find(|r| r["name"] == "numbers"))
        .expect("numbers resource");
    assert!(
        numbers["message"]
            .as_str()
            .is_some_and(|m| m.contains("autoscaling ignored locally")),
        "{numbers}"
    );
    let first_revision = env["lastAppliedRevision"]
        .as_str()
        .expect("applied revision")
        .to_owned();

    // The app answers through the proxy; a number stored is listed.
    let (status, body) = http(
        proxy,
        "POST",
        "/api/v1/numbers",
        &[("Content-Type", "application/json")],
        r#"{"value": 41}"#,
    )
    .expect("POST");
    assert_eq!(status, 201, "{body}");
    let (_, all) = http(proxy, "GET", "/api/values/all", &[], "").expect("GET");
    assert!(all.contains(r#"{"number":41}"#), "{all}");
    let (_, page) = http(ferry.port, "GET", "/", &[], "").expect("status page");
    assert!(
        page.contains("Healthy") && page.contains("numbers"),
        "{page}"
    );

    let pids = |needle: &str| -> Vec<u32> {
        children(ferry.child.id())
            .into_iter()
            .filter(|(_, c)| c.contains(needle))
            .map(|(p, _)| p)
            .collect()
    };
    let api_pid = wait_for("the api process", Duration::from_secs(10), || {
        pids("numbers-api").first().copied()
    });
    let mut seen: Vec<u32> = children(ferry.child.id())
        .into_iter()
        .map(|(p, _)| p)
        .collect();

    // Edit an environment variable of the api: its process is replaced, data kept.
    std::fs::write(&stack, text.replace("LOG_FORMAT: json", "LOG_FORMAT: text")).expect("edit");
    let env = ferry.wait_env("local", "the edit applied", Duration::from_secs(60), |e| {
        e["lastAppliedRevision"]
            .as_str()
            .is_some_and(|r| r != first_revision)
            && health(e, "numbers") == "Healthy"
    });
    assert_eq!(env["sync"], "Synced");
    let new_api = wait_for("a new api process", Duration::from_secs(10), || {
        pids("numbers-api").into_iter().find(|p| *p != api_pid)
    });
    assert!(!alive(api_pid), "the old api process must be gone");
    let (_, all) = http(proxy, "GET", "/api/values/all", &[], "").expect("GET");
    assert!(
        all.contains(r#"{"number":41}"#),
        "stored numbers survive the replacement: {all}"
    );
    seen.extend(children(ferry.child.id()).into_iter().map(|(p, _)| p));

    // Kill the api: Ferry restarts it.
    Command::new("kill")
        .args(["-KILL", &new_api.to_string()])
        .status()
        .expect("kill");
    let restarted = wait_for("the api restarted", Duration::from_secs(20), || {
        pids("numbers-api").into_iter().find(|p| *p != new_api)
    });
    seen.push(restarted);
    ferry.wait_env(
        "local",
        "healthy after the restart",
        Duration::from_secs(30),
        |e| health(e, "numbers") == "Healthy",
    );
    seen.extend(children(ferry.child.id()).into_iter().map(|(p, _)| p));

    // SIGTERM: Ferry stops every child and exits 0.
    let status = ferry.terminate();
    assert!(status.success(), "exit status {status}:\n{}", ferry.logs());
    let survivors: Vec<u32> = seen.into_iter().filter(|p| alive(*p)).collect();
    assert!(
        survivors.is_empty(),
        "processes outlived Ferry: {survivors:?}"
    );
}

const MINI_ENV: &str = "apiVersion: ferry.dev/v1alpha1
kind: Environment
metadata: { name: dev }
spec:
  platform: local
  resources: [../base]
  local:
    commands:
      worker: { command: [sleep, \"600\"] }
      crasher: { command: [sh, -c, \"echo boom >&2; exit 3\"] }
";

fn mini_service(name: &str, image: &str, extra_env: &str) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: EcsService\nmetadata: {{ name: {name} }}\nspec:\n  taskDefinition:\n    cpu: 256\n    memory: 512\n    \
         containers:\n      - name: main\n        image: {image}\n        environment: {{ MODE: \"{extra_env}\" }}\n"
    )
}

fn mini_stack(root: &Path, services: &[(&str, &str)]) {
    std::fs::create_dir_all(root.join("dev")).expect("mkdir");
    std::fs::create_dir_all(root.join("base")).expect("mkdir");
    std::fs::write(root.join("dev/environment.yaml"), MINI_ENV).expect("write");
    for (name, image) in services {
        std::fs::write(
            root.join(format!("base/{name}.yaml")),
            mini_service(name, image, "one"),
        )
        .expect("write");
    }
}

#[test]
fn a_command_that_exits_at_once_is_degraded_with_its_reason_and_retried_with_backoff() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let manifests = dir.path().join("manifests");
    mini_stack(&manifests, &[("bad", "crasher")]);
    let ferry = Ferry::start(
        &["--manifests", manifests.to_str().expect("utf-8")],
        &dir.path().join("run"),
        &[],
    );
    let env = ferry.wait_env("dev", "Degraded", Duration::from_secs(30), |e| {
        health(e, "bad") == "Degraded"
    });
    let message = env["resources"][0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        message.contains("exit status: 3") && message.contains("boom"),
        "{message}"
    );
    std::thread::sleep(Duration::from_secs(6));
    let env = ferry.env("dev").expect("status");
    let message = env["resources"][0]["message"].as_str().unwrap_or_default();
    let restarts: u32 = message
        .split('(')
        .nth(1)
        .and_then(|r| r.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or(u32::MAX);
    assert!(
        (2..=8).contains(&restarts),
        "backoff, not a busy loop: {message}"
    );
}

#[test]
fn a_broken_revision_is_stalled_with_file_and_line_while_the_last_good_one_keeps_running() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let manifests = dir.path().join("manifests");
    mini_stack(&manifests, &[("w", "worker")]);
    let ferry = Ferry::start(
        &["--manifests", manifests.to_str().expect("utf-8")],
        &dir.path().join("run"),
        &[],
    );
    let env = ferry.wait_env("dev", "healthy", Duration::from_secs(30), |e| {
        health(e, "w") == "Healthy"
    });
    let good = env["lastAppliedRevision"]
        .as_str()
        .expect("revision")
        .to_owned();
    let worker = wait_for("the worker", Duration::from_secs(10), || {
        children(ferry.child.id()).first().map(|(p, _)| *p)
    });

    std::fs::write(
        manifests.join("base/w.yaml"),
        mini_service("w", "worker", "two")
            .replace("  taskDefinition:", "  replicas: 2\n  taskDefinition:"),
    )
    .expect("break");
    let env = ferry.wait_env("dev", "Stalled", Duration::from_secs(30), |e| {
        e["conditions"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["type"] == "Stalled"))
    });
    let errors = env["errors"].to_string();
    assert!(
        errors.contains("base/w.yaml:5: spec.replicas: unknown field"),
        "{errors}"
    );
    assert_eq!(env["lastAppliedRevision"].as_str(), Some(good.as_str()));
    assert!(alive(worker), "the last good revision keeps running");
    let (_, page) = http(ferry.port, "GET", "/", &[], "").expect("page");
    assert!(page.contains("base/w.yaml:5"), "{page}");

    std::fs::write(
        manifests.join("base/w.yaml"),
        mini_service("w", "worker", "two"),
    )
    .expect("fix");
    let env = ferry.wait_env("dev", "the fix applied", Duration::from_secs(30), |e| {
        e["lastAppliedRevision"].as_str().is_some_and(|r| r != good)
            && e["errors"].as_array().is_some_and(Vec::is_empty)
    });
    assert_eq!(env["conditions"][0]["reason"], "ReconciliationSucceeded");
    let (code, _) = http(ferry.port, "POST", "/sync", &[], "").expect("sync");
    assert_eq!(code, 404, "POST /sync is off without a token");
    let probe = |port: u16| {
        Command::new(FERRY)
            .args(["check-health", "--listen", &format!("127.0.0.1:{port}")])
            .output()
            .expect("probe")
            .status
    };
    assert!(
        probe(ferry.port).success(),
        "the container health probe sees a live controller"
    );
    assert!(!probe(free_port()).success());
}

use ferry_testkit::git;

fn sign(secret: &str, body: &str) -> String {
    use hmac::{KeyInit, Mac};
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("key");
    mac.update(body.as_bytes());
    let bytes = mac.finalize().into_bytes();
    format!(
        "sha256={}",
        bytes.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

#[test]
fn a_git_push_with_a_verified_webhook_is_applied_without_waiting_for_the_poll() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let bare = dir.path().join("origin.git");
    let work = dir.path().join("work");
    git(
        dir.path(),
        &["init", "--bare", "--quiet", bare.to_str().expect("utf-8")],
    );
    git(
        dir.path(),
        &[
            "clone",
            "--quiet",
            bare.to_str().expect("utf-8"),
            work.to_str().expect("utf-8"),
        ],
    );
    mini_stack(&work.join("manifests"), &[("w", "worker")]);
    git(&work, &["add", "."]);
    git(&work, &["commit", "--quiet", "-m", "first"]);
    git(&work, &["push", "--quiet", "origin", "HEAD:main"]);
    let first = git(&work, &["rev-parse", "HEAD"]);

    let secret_file = dir.path().join("webhook-secret");
    std::fs::write(&secret_file, "s3cret\n").expect("secret");
    let ferry = Ferry::start(
        &["--repo", bare.to_str().expect("utf-8"), "--interval", "1h"],
        &dir.path().join("run"),
        &[
            "--webhook-secret-file",
            secret_file.to_str().expect("utf-8"),
        ],
    );
    ferry.wait_env(
        "dev",
        "the first commit applied and healthy",
        Duration::from_secs(30),
        |e| {
            e["lastAppliedRevision"].as_str() == Some(first.as_str()) && health(e, "w") == "Healthy"
        },
    );

    std::fs::write(
        work.join("manifests/base/w.yaml"),
        mini_service("w", "worker", "two"),
    )
    .expect("edit");
    git(&work, &["commit", "--quiet", "-am", "second"]);
    git(&work, &["push", "--quiet", "origin", "HEAD:main"]);
    let second = git(&work, &["rev-parse", "HEAD"]);

    let body = r#"{"ref":"refs/heads/main"}"#;
    let push = [
        ("X-GitHub-Event", "push"),
        ("Content-Type", "application/json"),
    ];
    let (code, _) = http(ferry.port, "POST", "/webhook/github", &push, body).expect("unsigned");
    assert_eq!(code, 401);
    let wrong = sign("not-the-secret", body);
    let (code, _) = http(
        ferry.port,
        "POST",
        "/webhook/github",
        &[push[0], push[1], ("X-Hub-Signature-256", &wrong)],
        body,
    )
    .expect("wrong");
    assert_eq!(code, 401);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        ferry.env("dev").expect("status")["lastAppliedRevision"].as_str(),
        Some(first.as_str()),
        "a bad signature triggers nothing"
    );

    let good = sign("s3cret", body);
    let (code, _) = http(
        ferry.port,
        "POST",
        "/webhook/github",
        &[push[0], push[1], ("X-Hub-Signature-256", &good)],
        body,
    )
    .expect("signed");
    assert_eq!(code, 202);
    ferry.wait_env(
        "dev",
        "the pushed commit applied",
        Duration::from_secs(15),
        |e| e["lastAppliedRevision"].as_str() == Some(second.as_str()),
    );
    let status = ferry.status().expect("status");
    assert!(
        status["source"]
            .as_str()
            .is_some_and(|s| s.contains("origin.git")),
        "{status}"
    );
}

#[test]
fn after_kill_9_a_restart_converges_without_doubling_processes_and_history_survives() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let manifests = dir.path().join("manifests");
    mini_stack(&manifests, &[("w", "worker")]);
    let source = ["--manifests", manifests.to_str().expect("utf-8")];
    let mut ferry = Ferry::start(&source, &dir.path().join("run"), &[]);
    let env = ferry.wait_env("dev", "healthy", Duration::from_secs(30), |e| {
        health(e, "w") == "Healthy"
    });
    let applied = env["lastAppliedRevision"]
        .as_str()
        .expect("revision")
        .to_owned();
    let worker = wait_for("the worker", Duration::from_secs(10), || {
        children(ferry.child.id()).first().map(|(p, _)| *p)
    });

    // Crash: no chance to clean up, yet the worker dies with Ferry (parent-death signal), so
    // nothing keeps holding its ports.
    ferry.child.kill().expect("kill -9");
    ferry.child.wait().expect("reaped");
    wait_for(
        "the worker to die with ferry",
        Duration::from_secs(5),
        || (!alive(worker)).then_some(()),
    );

    let ferry = Ferry::start(&source, &dir.path().join("run"), &[]);
    let env = ferry.wait_env(
        "dev",
        "history from before and a fresh apply",
        Duration::from_secs(30),
        |e| health(e, "w") == "Healthy" && e["history"].as_array().is_some_and(|h| h.len() >= 2),
    );
    assert_eq!(env["lastAppliedRevision"].as_str(), Some(applied.as_str()));
    let history = env["history"].as_array().expect("history");
    assert!(
        history.iter().any(|h| h["result"] == "Succeeded"),
        "{history:?}"
    );
    wait_for(
        "the orphan to be cleaned up",
        Duration::from_secs(10),
        || (!alive(worker)).then_some(()),
    );
    let workers: Vec<(u32, String)> = children(ferry.child.id());
    assert_eq!(
        workers.len(),
        1,
        "exactly one worker after the restart: {workers:?}"
    );
}

#[test]
fn a_health_check_command_decides_health_locally() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let manifests = dir.path().join("manifests");
    mini_stack(&manifests, &[]);
    let svc = mini_service("w", "worker", "one")
        + "        healthCheck: { command: [CMD-SHELL, \"test -f ready\"], interval: 5 }\n";
    std::fs::write(manifests.join("base/w.yaml"), svc).expect("write");
    let ferry = Ferry::start(
        &["--manifests", manifests.to_str().expect("utf-8")],
        &dir.path().join("run"),
        &[],
    );
    ferry.wait_env(
        "dev",
        "running but not healthy",
        Duration::from_secs(30),
        |e| health(e, "w") == "Progressing",
    );
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(
        health(&ferry.env("dev").expect("status"), "w"),
        "Progressing",
        "the check fails until the file exists"
    );
    let workdir = dir.path().join("run/state/local/dev/data/w/main");
    std::fs::write(workdir.join("ready"), "").expect("ready file");
    ferry.wait_env(
        "dev",
        "healthy once the check passes",
        Duration::from_secs(15),
        |e| health(e, "w") == "Healthy",
    );
}

#[test]
fn an_editors_write_then_rename_is_one_change() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let manifests = dir.path().join("manifests");
    mini_stack(&manifests, &[("w", "worker")]);
    let ferry = Ferry::start(
        &["--manifests", manifests.to_str().expect("utf-8")],
        &dir.path().join("run"),
        &[],
    );
    let env = ferry.wait_env("dev", "healthy", Duration::from_secs(30), |e| {
        health(e, "w") == "Healthy"
    });
    let before = env["history"].as_array().map_or(0, Vec::len);

    // What editors do: write a temporary file next to the target, then rename it over it.
    let target = manifests.join("base/w.yaml");
    let temp = manifests.join("base/.w.yaml.swx");
    std::fs::write(&temp, mini_service("w", "worker", "two")).expect("write temp");
    std::fs::rename(&temp, &target).expect("rename");
    let env = ferry.wait_env("dev", "the edit applied", Duration::from_secs(30), |e| {
        e["history"].as_array().is_some_and(|h| h.len() > before) && health(e, "w") == "Healthy"
    });
    std::thread::sleep(Duration::from_secs(2));
    let env_after = ferry.env("dev").expect("status");
    let history = env_after["history"].as_array().expect("history");
    assert_eq!(
        history.len(),
        before + 1,
        "one change, one sync attempt: {history:#?}"
    );
    assert_eq!(history[0]["result"], "Succeeded");
    assert_eq!(env_after["lastAppliedRevision"], env["lastAppliedRevision"]);
}

#[test]
fn sync_history_in_postgresql_survives_a_restart_with_a_fresh_state_folder() {
    let url = ferry_testkit::shared_pg_database();
    let dir = tempfile::tempdir().expect("temporary folder");
    let manifests = dir.path().join("manifests");
    mini_stack(&manifests, &[("w", "worker")]);
    let source = ["--manifests", manifests.to_str().expect("utf-8")];
    let mut ferry = Ferry::start(
        &source,
        &dir.path().join("first"),
        &["--database-url", &url],
    );
    let env = ferry.wait_env("dev", "applied", Duration::from_secs(30), |e| {
        e["lastAppliedRevision"].is_string() && health(e, "w") == "Healthy"
    });
    let applied = env["lastAppliedRevision"]
        .as_str()
        .expect("revision")
        .to_owned();
    assert!(ferry.terminate().success(), "{}", ferry.logs());

    // A new state folder: nothing local survives, the database does.
    let ferry = Ferry::start(
        &source,
        &dir.path().join("second"),
        &["--database-url", &url],
    );
    let env = ferry.wait_env(
        "dev",
        "history from PostgreSQL",
        Duration::from_secs(30),
        |e| {
            e["history"]
                .as_array()
                .is_some_and(|h| h.iter().any(|a| a["result"] == "Succeeded"))
        },
    );
    assert_eq!(env["lastAppliedRevision"].as_str(), Some(applied.as_str()));
    let logs = ferry.logs();
    assert!(
        !logs.contains("postgres://"),
        "the database URL is not logged: {logs}"
    );
}

/// Ferry used to take 10 s to exit after SIGTERM or Ctrl-C (its history writer waited for a
/// sender that lives as long as the process). Well under that now; the bound is loose for a
/// busy machine, the log line gives the measured time.
const PROMPT_EXIT: Duration = Duration::from_secs(5);

#[test]
fn sigterm_or_ctrl_c_stops_ferry_and_its_processes_at_once() {
    for signal in ["-TERM", "-INT"] {
        let dir = tempfile::tempdir().expect("temporary folder");
        let manifests = dir.path().join("manifests");
        mini_stack(&manifests, &[("w", "worker")]);
        let mut ferry = Ferry::start(
            &["--manifests", manifests.to_str().expect("utf-8")],
            &dir.path().join("run"),
            &[],
        );
        ferry.wait_env("dev", "healthy", Duration::from_secs(30), |e| {
            health(e, "w") == "Healthy" && e["lastAppliedRevision"].is_string()
        });
        let worker = wait_for("the worker", Duration::from_secs(10), || {
            children(ferry.child.id()).first().map(|(p, _)| *p)
        });
        let (status, took) = ferry.stop_within(signal, PROMPT_EXIT);
        eprintln!("ferry run exited {took:?} after {signal}");
        assert!(status.success(), "exit status {status}:\n{}", ferry.logs());
        assert!(!alive(worker), "the worker outlived Ferry after {signal}");
    }
}

#[test]
fn on_postgresql_sigterm_hands_the_lease_back_and_exits_at_once() {
    let url = ferry_testkit::shared_pg_database();
    let dir = tempfile::tempdir().expect("temporary folder");
    let manifests = dir.path().join("manifests");
    mini_stack(&manifests, &[("w", "worker")]);
    let mut ferry = Ferry::start(
        &["--manifests", manifests.to_str().expect("utf-8")],
        &dir.path().join("run"),
        &["--database-url", &url, "--lease-join-delay", "500ms"],
    );
    ferry.wait_env("dev", "healthy", Duration::from_secs(30), |e| {
        health(e, "w") == "Healthy" && e["lastAppliedRevision"].is_string()
    });
    let worker = wait_for("the worker", Duration::from_secs(10), || {
        children(ferry.child.id()).first().map(|(p, _)| *p)
    });
    let live = "SELECT count(*) FROM ferry_leases WHERE expires_at > now()";
    assert_eq!(ferry_testkit::psql(&url, live).expect("psql"), "1");
    let (status, took) = ferry.stop_within("-TERM", PROMPT_EXIT);
    eprintln!("ferry run (PostgreSQL) exited {took:?} after SIGTERM");
    assert!(status.success(), "exit status {status}:\n{}", ferry.logs());
    assert!(!alive(worker), "the worker outlived Ferry");
    assert_eq!(
        ferry_testkit::psql(&url, live).expect("psql"),
        "0",
        "the lease is handed back on the way out"
    );
}
