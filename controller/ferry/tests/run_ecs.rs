//! `ferry run` following a git repository and deploying to ECS/ECR on moto through the real
//! AWS SDK: an honest failure (image not pushed yet) retried with backoff until it converges,
//! an image change applied, a broken commit stalled with file:line while the last good one
//! stays, and the fix applied.

#[path = "../../ecs/tests/support/mod.rs"]
mod support;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;
use support::{Moto, Stack};

use ferry_testkit::git;

fn commit_all(work: &Path, message: &str) -> String {
    git(work, &["add", "-A"]);
    git(work, &["commit", "--quiet", "-m", message]);
    git(work, &["push", "--quiet", "origin", "HEAD:main"]);
    git(work, &["rev-parse", "HEAD"])
}

fn status(port: u16) -> Option<Value> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream
        .write_all(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    serde_json::from_str(answer.split_once("\r\n\r\n")?.1).ok()
}

struct Ferry(Child, u16, std::path::PathBuf);

impl Drop for Ferry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Ferry {
    /// `ferry run <source> --env test` against `endpoint`, state and log under `dir`.
    fn spawn(source: &[&str], endpoint: &str, dir: &Path) -> Self {
        let port = ferry_testkit::free_port().expect("port");
        let log = dir.join("ferry.log");
        let file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .expect("log");
        let child = support::moto_env(&mut Command::new(env!("CARGO_BIN_EXE_ferry")), endpoint)
            .arg("run")
            .args(source)
            .args(["--env", "test", "--health-interval", "1s"])
            .args(["--listen", &format!("127.0.0.1:{port}"), "--state-dir"])
            .arg(dir.join("state"))
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("ferry starts");
        Self(child, port, log)
    }

    fn wait(&self, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let env = status(self.1)
                .map(|s| s["environments"]["test"].clone())
                .unwrap_or_default();
            if pred(&env) {
                return env;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {env:#}\n{}",
                std::fs::read_to_string(&self.2).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferry_run_follows_git_to_moto_retries_honest_failures_and_stalls_on_a_broken_commit() {
    let moto = Moto::start().await;
    let dir = tempfile::tempdir().expect("tmp");
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
    let mut stack = Stack::new(&moto.subnet, &moto.security_group, &["web"]);
    stack.write(&work.join("manifests"));
    let first = commit_all(&work, "v1");

    let ferry = Ferry::spawn(
        &["--repo", bare.to_str().expect("utf-8"), "--interval", "1s"],
        &moto.endpoint(),
        dir.path(),
    );

    // The image is not in ECR yet: the repository is created, the service fails, honestly.
    let env = ferry.wait("an honest failure", Duration::from_secs(60), |e| {
        e["conditions"]
            .as_array()
            .is_some_and(|c| c.iter().any(|c| c["reason"] == "ApplyFailed"))
    });
    assert!(
        env["conditions"].to_string().contains("not found in ECR"),
        "{env:#}"
    );
    assert_ne!(env["lastAppliedRevision"].as_str(), Some(first.as_str()));

    // Push the image: a retry (backoff) converges without any new commit.
    moto.push_image("web-app", "v1").await;
    ferry.wait(
        "the first commit applied after a retry",
        Duration::from_secs(60),
        |e| e["lastAppliedRevision"].as_str() == Some(first.as_str()) && e["sync"] == "Synced",
    );

    // Metrics: what is applied, how long from commit to applied, AWS calls per API.
    let metrics = {
        let mut stream = TcpStream::connect(("127.0.0.1", ferry.1)).expect("connect");
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .expect("request");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).expect("answer");
        answer
    };
    assert!(
        metrics.contains(&format!(
            "ferry_last_applied_revision_info{{env=\"test\",revision=\"{first}\"}} 1"
        )),
        "{metrics}"
    );
    assert!(
        metrics.contains("ferry_change_to_applied_seconds_count{env=\"test\"} 1"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ferry_ecs_api_calls{region=\"us-east-1\",api=\"DescribeServices\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("ferry_reconcile_duration_seconds_count{env=\"test\",result=\"failed\"}"),
        "{metrics}"
    );

    // An image change.
    moto.push_image("web-app", "v2").await;
    stack.tag = "v2".into();
    stack.write(&work.join("manifests"));
    let second = commit_all(&work, "v2");
    let env = ferry.wait("the image change applied", Duration::from_secs(60), |e| {
        e["lastAppliedRevision"].as_str() == Some(second.as_str()) && e["sync"] == "Synced"
    });
    let api = moto.sdk(&moto.endpoint()).await;
    let live = support::live_service(&api, "web").await;
    assert!(live.task_definition.contains("test-web:"), "{live:?}");
    assert!(env["resources"].to_string().contains("web"), "{env:#}");

    // A broken commit: nothing of it is applied; the error names file and line.
    let stack_file = work.join("manifests/base/stack.yaml");
    let good = std::fs::read_to_string(&stack_file).expect("read");
    std::fs::write(
        &stack_file,
        good.replace("  desiredCount: 1\n", "  desiredCount: 1\n  replicas: 3\n"),
    )
    .expect("break");
    let broken = commit_all(&work, "broken");
    let env = ferry.wait("the broken commit stalled", Duration::from_secs(60), |e| {
        e["lastAttemptedRevision"].as_str() == Some(broken.as_str())
            && e["conditions"]
                .as_array()
                .is_some_and(|c| c.iter().any(|c| c["type"] == "Stalled"))
    });
    assert!(
        env["errors"].to_string().contains("base/stack.yaml:"),
        "{env:#}"
    );
    assert!(
        env["errors"]
            .to_string()
            .contains("spec.replicas: unknown field"),
        "{env:#}"
    );
    assert_eq!(env["lastAppliedRevision"].as_str(), Some(second.as_str()));

    // The fix is applied.
    std::fs::write(
        &stack_file,
        good.replace("  desiredCount: 1\n", "  desiredCount: 2\n"),
    )
    .expect("fix");
    let fixed = commit_all(&work, "fix");
    ferry.wait("the fix applied", Duration::from_secs(60), |e| {
        e["lastAppliedRevision"].as_str() == Some(fixed.as_str())
    });
    let live = support::live_service(&api, "web").await;
    assert_eq!(live.desired_count, 2);
}

/// Services of the test cluster as moto sees them (active ones).
async fn active_services(api: &ferry_ecs::SdkApi) -> Vec<String> {
    let arns = api
        .ecs_client()
        .list_services()
        .cluster(support::CLUSTER)
        .send()
        .await
        .expect("list services")
        .service_arns
        .unwrap_or_default();
    let mut names: Vec<String> = arns
        .iter()
        .filter_map(|a| a.rsplit('/').next().map(str::to_owned))
        .collect();
    names.sort();
    names
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ferry_killed_during_an_apply_converges_on_restart_and_history_shows_the_interruption() {
    let moto = Moto::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let manifests = dir.path().join("manifests");
    // The repository (owned by Ferry) and the image exist before the stack grows.
    let mut stack = Stack::new(&moto.subnet, &moto.security_group, &[]);
    let platform = moto.platform(&moto.endpoint()).await;
    support::reconcile(&platform, &stack.load(&manifests)).await;
    moto.push_image("web-app", "v1").await;
    let names = ["api", "jobs", "web", "worker"];
    stack = Stack::new(&moto.subnet, &moto.security_group, &names);
    stack.write(&manifests);

    // Every AWS call takes 300 ms more, so the apply is long enough to be killed inside.
    let proxy = support::Proxy::start(&moto.endpoint()).await;
    proxy.set_faults(1, &[support::Fault::Delay]);
    let source = ["--manifests", manifests.to_str().expect("utf-8")];
    let mut ferry = Ferry::spawn(&source, &proxy.endpoint(), dir.path());
    let deadline = Instant::now() + Duration::from_secs(60);
    while !proxy.writes().contains_key("ecs:CreateService") {
        assert!(
            Instant::now() < deadline,
            "no CreateService reached moto: {:?}\n{}",
            proxy.counts(),
            std::fs::read_to_string(&ferry.2).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    ferry.0.kill().expect("kill -9");
    ferry.0.wait().expect("reaped");
    let api = moto.sdk(&moto.endpoint()).await;
    let before = active_services(&api).await;
    assert!(
        before.len() < names.len(),
        "the kill came after the apply: {before:?}"
    );

    // Restart on the same state: the apply converges, nothing doubled, history kept.
    proxy.set_faults(0, &[]);
    let ferry = Ferry::spawn(&source, &proxy.endpoint(), dir.path());
    // History rows reach the status through the history writer, just after the sync itself.
    let env = ferry.wait("convergence after the kill", Duration::from_secs(60), |e| {
        e["sync"] == "Synced"
            && e["lastAppliedRevision"].is_string()
            && e["history"][0]["result"] == "Succeeded"
    });
    assert_eq!(active_services(&api).await, names, "{env:#}");
    for name in names {
        let live = support::live_service(&api, name).await;
        assert!(
            live.task_definition.contains(&format!("test-{name}:")),
            "{live:?}"
        );
        let revisions = api
            .ecs_client()
            .list_task_definitions()
            .family_prefix(format!("test-{name}"))
            .send()
            .await
            .expect("list task definitions")
            .task_definition_arns
            .unwrap_or_default();
        assert_eq!(revisions.len(), 1, "{name}: {revisions:?}");
    }
    let history = env["history"].as_array().expect("history");
    let results: Vec<&str> = history
        .iter()
        .filter_map(|a| a["result"].as_str())
        .collect();
    assert_eq!(results.first(), Some(&"Succeeded"), "{env:#}");
    let interrupted = history
        .iter()
        .find(|a| a["result"] == "Interrupted")
        .unwrap_or_else(|| panic!("no Interrupted attempt in {env:#}"));
    assert!(
        interrupted["changes"]
            .to_string()
            .contains("create EcsService/api"),
        "{interrupted:#}"
    );
    assert!(
        interrupted["errors"]
            .to_string()
            .contains("ferry stopped during this apply"),
        "{interrupted:#}"
    );
}
