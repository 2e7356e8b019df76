//! `ferry run` end to end on the in-process ECS fake (for rollout outcomes moto cannot
//! produce: circuit-breaker rollbacks, failures, rollouts that hang): the whole controller —
//! folder source, reconcile loops, SQLite history, status server — in this process, talked to
//! over HTTP, restarted on the same state folder.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use ferry_ecs::fake::{FakeEcs, Rollout};
use ferry_ecs::{EcsOptions, EcsPlatform};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::{EcsConnector, RunArgs, run_with};

pub(super) const TOKEN: &str = "s3cret-token-for-tests";

#[derive(Parser)]
struct Cli {
    #[command(flatten)]
    args: RunArgs,
}

/// Manifests of one ECS environment `dev` with services `web` (image tag `tag`) and `worker`.
fn write_manifests(root: &Path, tag: &str, worker_tag: &str, extra: &str) {
    std::fs::create_dir_all(root.join("dev")).expect("mkdir");
    std::fs::create_dir_all(root.join("base")).expect("mkdir");
    std::fs::write(
        root.join("dev/environment.yaml"),
        format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{ name: dev }}\nspec:\n  platform: ecs\n  region: us-east-1\n  cluster: test\n  network: {{ subnets: [subnet-1], securityGroups: [sg-1] }}\n  resources: [../base]\n{extra}"
        ),
    )
    .expect("write");
    let service = |name: &str, image: &str| {
        format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: EcsService\nmetadata: {{ name: {name} }}\nspec:\n  desiredCount: 2\n  taskDefinition:\n    cpu: 256\n    memory: 512\n    containers:\n      - name: app\n        image: {image}\n  deployment: {{ circuitBreaker: {{ enable: true, rollback: true }} }}\n"
        )
    };
    std::fs::write(
        root.join("base/web.yaml"),
        service("web", &format!("registry.example.com/web:{tag}")),
    )
    .expect("write");
    std::fs::write(
        root.join("base/worker.yaml"),
        service(
            "worker",
            &format!("registry.example.com/worker:{worker_tag}"),
        ),
    )
    .expect("write");
}

/// A running controller on the fake.
pub(super) struct Ferry {
    pub(super) port: u16,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<anyhow::Result<()>>,
}

impl Ferry {
    pub(super) async fn start(dir: &Path, fake: &Arc<EcsPlatform<FakeEcs>>) -> Self {
        let port = ferry_testkit::free_port().expect("port");
        std::fs::write(dir.join("token"), TOKEN).expect("token");
        let args = Cli::parse_from([
            "ferry",
            "--manifests",
            dir.join("manifests").to_str().expect("utf-8"),
            "--state-dir",
            dir.join("state").to_str().expect("utf-8"),
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--drift-interval",
            "300ms",
            "--health-interval",
            "200ms",
            "--rollout-poll-interval",
            "50ms",
            "--api-token-file",
            dir.join("token").to_str().expect("utf-8"),
        ])
        .args;
        let shared = fake.clone();
        let connect: EcsConnector<FakeEcs> = Box::new(move |_, _| {
            let p = shared.clone();
            Box::pin(async move { p })
        });
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(run_with(args, connect, async move {
            let _ = stopped.await;
        }));
        let ferry = Self {
            port,
            stop: Some(stop),
            task,
        };
        ferry
            .wait_for("the status server and a first reconcile", |s| {
                !s["environments"]["dev"]["lastReconcile"].is_null()
            })
            .await;
        ferry
    }

    /// Manifests at `v1` (with `extra` Environment lines), Ferry started, v1 rolled out.
    async fn start_at_v1(
        dir: &Path,
        fake: &Arc<EcsPlatform<FakeEcs>>,
        extra: &str,
    ) -> (Self, String) {
        let v1 = change(dir, "v1", extra);
        let ferry = Self::start(dir, fake).await;
        ferry
            .wait_for("v1 to roll out", |s| newest_is(s, &v1, "Succeeded"))
            .await;
        (ferry, v1)
    }

    pub(super) async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let ended = tokio::time::timeout(Duration::from_secs(30), &mut self.task)
            .await
            .expect("ferry stops within 30 s");
        ended.expect("join").expect("ferry ran without error");
    }

    pub(super) async fn http(&self, method: &str, path: &str, token: Option<&str>) -> (u16, Value) {
        let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", self.port))
            .await
            .expect("connect");
        let auth = token
            .map(|t| format!("Authorization: Bearer {t}\r\n"))
            .unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: x\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n"
        );
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut answer = String::new();
        stream.read_to_string(&mut answer).await.expect("read");
        let code = answer
            .split_whitespace()
            .nth(1)
            .and_then(|c| c.parse().ok())
            .unwrap_or(0);
        let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b);
        (code, serde_json::from_str(body).unwrap_or(Value::Null))
    }

    pub(super) async fn status(&self) -> Value {
        self.http("GET", "/status", None).await.1
    }

    /// Poll `/status` until `done` holds (30 s at most); the status that held.
    pub(super) async fn wait_for(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let s = match tokio::net::TcpStream::connect(("127.0.0.1", self.port)).await {
                Ok(_) => self.status().await,
                Err(_) => Value::Null,
            };
            if done(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; status: {s:#}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

pub(super) fn env(s: &Value) -> &Value {
    &s["environments"]["dev"]
}

/// The newest history row.
pub(super) fn newest(s: &Value) -> &Value {
    &env(s)["history"][0]
}

pub(super) fn newest_is(s: &Value, revision: &str, result: &str) -> bool {
    newest(s)["revision"] == revision && newest(s)["result"] == result
}

fn fake() -> Arc<EcsPlatform<FakeEcs>> {
    Arc::new(EcsPlatform::new(
        FakeEcs::new(&["test"], 1),
        EcsOptions::default(),
    ))
}

/// Rewrite the manifests and return the revision id `ferry run` will give them.
fn change(dir: &Path, tag: &str, extra: &str) -> String {
    change_both(dir, tag, "1", extra)
}

/// Rewrite the manifests with these tags of `web` and `worker`; the revision id.
fn change_both(dir: &Path, tag: &str, worker_tag: &str, extra: &str) -> String {
    let root: PathBuf = dir.join("manifests");
    write_manifests(&root, tag, worker_tag, extra);
    format!(
        "dir-{}",
        super::source::content_hash(&root).expect("content hash")
    )
}

fn live_revision(fake: &EcsPlatform<FakeEcs>, service: &str) -> String {
    fake.api()
        .service(service)
        .map(|s| s.task_definition)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollback_by_ecs_fails_the_sync_and_the_revision_is_not_applied_again_until_a_new_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let fake = fake();
    let (ferry, v1) = Ferry::start_at_v1(dir.path(), &fake, "").await;

    // ECS's circuit breaker rolls v2 back.
    fake.api().set_rollout(
        "web",
        Rollout::Rollback("ECS deployment circuit breaker: tasks failed to start.".into()),
    );
    let v2 = change(dir.path(), "v2", "");
    let s = ferry
        .wait_for("v2 to be rolled back", |s| newest_is(s, &v2, "Failed"))
        .await;
    let e = env(&s);
    assert_eq!(newest(&s)["reason"], "RolledBack", "{e:#}");
    assert_eq!(e["health"], "Degraded", "{e:#}");
    assert_eq!(e["conditions"][0]["reason"], "RolledBack", "{e:#}");
    let held = e["heldBack"].as_str().expect("held back message");
    assert!(held.contains("rolled back by ECS"), "{held}");
    assert!(held.contains("will not apply it again"), "{held}");
    assert!(held.contains("tasks failed to start"), "{held}");
    assert_eq!(e["lastAppliedRevision"], v1.as_str());
    let web = e["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["name"] == "web")
        .expect("web row");
    assert!(
        web["desiredRevision"]
            .as_str()
            .is_some_and(|d| d.ends_with("dev-web:2")),
        "{web:#}"
    );
    assert!(
        web["liveRevision"]
            .as_str()
            .is_some_and(|d| d.ends_with("dev-web:1")),
        "{web:#}"
    );
    let metrics = ferry_metrics(&ferry).await;
    assert!(
        metrics.contains(r#"ferry_rollouts_total{env="dev",outcome="RolledBack"} 1"#),
        "{metrics}"
    );

    // Several drift intervals later: no new deployment, no new registration.
    let updates = fake.calls().get("UpdateService");
    let registers = fake.calls().get("RegisterTaskDefinition");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(fake.calls().get("UpdateService"), updates);
    assert_eq!(fake.calls().get("RegisterTaskDefinition"), registers);
    assert!(live_revision(&fake, "web").ends_with("dev-web:1"));

    // Nor after a restart of Ferry.
    ferry.stop().await;
    let ferry = Ferry::start(dir.path(), &fake).await;
    let s = ferry
        .wait_for("the held-back revision after a restart", |s| {
            env(s)["heldBack"].is_string()
        })
        .await;
    assert_eq!(env(&s)["health"], "Degraded", "{:#}", env(&s));
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(fake.calls().get("UpdateService"), updates);
    assert_eq!(fake.calls().get("RegisterTaskDefinition"), registers);

    // A new revision rolls out and the environment is healthy again.
    fake.api().set_rollout("web", Rollout::Complete);
    let v3 = change(dir.path(), "v3", "");
    let s = ferry
        .wait_for("v3 to roll out", |s| {
            newest_is(s, &v3, "Succeeded") && env(s)["health"] == "Healthy"
        })
        .await;
    assert!(env(&s)["heldBack"].is_null(), "{:#}", env(&s));
    assert_eq!(env(&s)["lastAppliedRevision"], v3.as_str());
    assert!(live_revision(&fake, "web").ends_with("dev-web:3"));
    ferry.stop().await;
}

pub(super) async fn ferry_metrics(ferry: &Ferry) -> String {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", ferry.port))
        .await
        .expect("connect");
    stream
        .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    answer
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_post_sync_retries_a_held_back_revision() {
    let dir = tempfile::tempdir().expect("tmp");
    let fake = fake();
    let (ferry, _) = Ferry::start_at_v1(dir.path(), &fake, "").await;
    fake.api()
        .set_rollout("web", Rollout::Fail("tasks failed to start".into()));
    let v2 = change(dir.path(), "v2", "");
    let s = ferry
        .wait_for("v2 to fail", |s| newest_is(s, &v2, "Failed"))
        .await;
    assert_eq!(newest(&s)["reason"], "RolloutFailed", "{:#}", env(&s));
    assert_eq!(env(&s)["health"], "Degraded");

    // v3 is rolled back by ECS; an explicit sync deploys the same revision again.
    fake.api()
        .set_rollout("web", Rollout::Rollback("tasks failed to start".into()));
    let v2 = change(dir.path(), "v3", "");
    ferry
        .wait_for("v3 to be rolled back", |s| newest_is(s, &v2, "Failed"))
        .await;
    fake.api().set_rollout("web", Rollout::Complete);
    let (code, _) = ferry.http("POST", "/sync?env=dev", None).await;
    assert_eq!(code, 401);
    let (code, _) = ferry.http("POST", "/sync?env=dev", Some(TOKEN)).await;
    assert_eq!(code, 202);
    let s = ferry
        .wait_for("the retried v2 to complete", |s| {
            newest_is(s, &v2, "Succeeded")
        })
        .await;
    assert_eq!(env(&s)["health"], "Healthy", "{:#}", env(&s));
    ferry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rollout_past_its_timeout_fails_and_a_newer_revision_supersedes_one_in_progress() {
    let dir = tempfile::tempdir().expect("tmp");
    let fake = fake();
    let (ferry, _) = Ferry::start_at_v1(dir.path(), &fake, "").await;

    fake.api().set_rollout("web", Rollout::Hang);
    let v2 = change(dir.path(), "v2", "  rolloutTimeout: 1s\n");
    let s = ferry
        .wait_for("v2 to time out", |s| newest_is(s, &v2, "Failed"))
        .await;
    assert_eq!(newest(&s)["reason"], "RolloutTimedOut", "{:#}", env(&s));
    assert_eq!(env(&s)["health"], "Degraded");
    assert!(
        newest(&s)["errors"][0]
            .as_str()
            .is_some_and(|e| e.contains("rollout timeout (1s)")),
        "{:#}",
        newest(&s)
    );

    // v3 hangs too; v4 arrives while v3 is followed, supersedes it, and completes.
    let v3 = change(dir.path(), "v3", "  rolloutTimeout: 5m\n");
    ferry
        .wait_for("v3 to be rolling out", |s| {
            env(s)["conditions"][0]["reason"] == "RolloutInProgress"
                && env(s)["lastAttemptedRevision"] == v3.as_str()
        })
        .await;
    // v4 changes only `worker` (web stays at v3, still rolling out): v3's attempt ends as
    // superseded and v4's own rollout (worker) completes.
    let v4 = change_both(dir.path(), "v3", "2", "  rolloutTimeout: 5m\n");
    let s = ferry
        .wait_for("v4 to complete", |s| newest_is(s, &v4, "Succeeded"))
        .await;
    let superseded = env(&s)["history"]
        .as_array()
        .expect("history")
        .iter()
        .find(|a| a["revision"] == v3.as_str())
        .expect("v3 in history");
    assert_eq!(superseded["result"], "Superseded", "{superseded:#}");
    assert!(live_revision(&fake, "worker").ends_with("dev-worker:2"));
    assert!(live_revision(&fake, "web").ends_with("dev-web:3"));
    ferry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_detect_mode_drift_is_reported_and_a_git_change_still_applies() {
    let dir = tempfile::tempdir().expect("tmp");
    let fake = fake();
    let (ferry, _) = Ferry::start_at_v1(dir.path(), &fake, "  drift: detect\n").await;

    // Someone scales `worker` by hand.
    let worker = fake.api().service("worker").expect("worker");
    ferry_ecs::EcsApi::update_service(
        fake.api(),
        &ferry_core::render::UpdateService {
            cluster: "test".into(),
            service: "worker".into(),
            desired_count: Some(7),
            network_configuration: worker.network_configuration.clone(),
            deployment_configuration: worker.deployment_configuration.clone().unwrap_or_default(),
            ..Default::default()
        },
    )
    .await
    .expect("scale by hand");

    // A git change to `web` applies; the drift of `worker` is reported, not reverted.
    let v2 = change(dir.path(), "v2", "  drift: detect\n");
    let s = ferry
        .wait_for("v2 to apply", |s| {
            env(s)["history"].as_array().is_some_and(|h| {
                h.iter()
                    .any(|a| a["revision"] == v2.as_str() && a["result"] == "Succeeded")
            })
        })
        .await;
    let e = env(&s);
    // Drift ticks report the drift once, not once per tick.
    let drift_rows = e["history"]
        .as_array()
        .expect("history")
        .iter()
        .filter(|a| a["result"] == "DriftDetected")
        .count();
    assert!(drift_rows <= 2, "{e:#}");
    assert_eq!(e["lastAppliedRevision"], v2.as_str(), "{e:#}");
    let conditions = e["conditions"].as_array().expect("conditions");
    assert!(
        conditions
            .iter()
            .any(|c| c["type"] == "DriftDetected" && c["status"] == "True"),
        "{e:#}"
    );
    assert!(
        conditions.iter().all(|c| c["reason"] != "ApplyFailed"),
        "{e:#}"
    );
    let worker_row = e["resources"]
        .as_array()
        .expect("resources")
        .iter()
        .find(|r| r["name"] == "worker")
        .expect("worker row");
    assert!(
        worker_row["drift"]
            .as_array()
            .is_some_and(|d| d.iter().any(|f| f == "desiredCount")),
        "{worker_row:#}"
    );
    assert_eq!(
        fake.api().service("worker").expect("worker").desired_count,
        7
    );
    assert!(live_revision(&fake, "web").ends_with("dev-web:2"));
    ferry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn post_rollback_redeploys_the_last_good_revision_and_pauses_auto_sync_until_a_new_one() {
    let dir = tempfile::tempdir().expect("tmp");
    let fake = fake();
    let (ferry, v1) = Ferry::start_at_v1(dir.path(), &fake, "").await;
    let v2 = change(dir.path(), "v2", "");
    ferry
        .wait_for("v2", |s| newest_is(s, &v2, "Succeeded"))
        .await;
    assert!(live_revision(&fake, "web").ends_with("dev-web:2"));

    let (code, _) = ferry.http("POST", "/rollback?env=dev", None).await;
    assert_eq!(code, 401);
    let (code, _) = ferry.http("POST", "/rollback?env=dev", Some("wrong")).await;
    assert_eq!(code, 401);
    let (code, body) = ferry
        .http("POST", "/rollback?env=dev&to=dir-nope", Some(TOKEN))
        .await;
    assert_eq!(code, 404, "{body}");
    let (code, body) = ferry.http("POST", "/rollback?env=dev", Some(TOKEN)).await;
    assert_eq!(code, 202, "{body}");
    assert_eq!(body["to"], v1.as_str(), "{body}");
    let s = ferry
        .wait_for("the rollback to complete", |s| {
            newest(s)["trigger"] == "rollback" && newest(s)["result"] == "Succeeded"
        })
        .await;
    let paused = env(&s)["paused"].as_str().expect("paused message");
    assert!(paused.contains("auto-sync paused"), "{paused}");
    assert!(paused.contains(&v1[..12.min(v1.len())]), "{paused}");
    assert!(live_revision(&fake, "web").ends_with("dev-web:1"));

    // Drift ticks and a restart change nothing while paused.
    let updates = fake.calls().get("UpdateService");
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(fake.calls().get("UpdateService"), updates);
    ferry.stop().await;
    let ferry = Ferry::start(dir.path(), &fake).await;
    ferry
        .wait_for("the pause after a restart", |s| {
            env(s)["paused"].is_string()
        })
        .await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    assert_eq!(fake.calls().get("UpdateService"), updates);
    assert!(live_revision(&fake, "web").ends_with("dev-web:1"));

    // A new git revision resumes automatic sync.
    let v3 = change(dir.path(), "v3", "");
    let s = ferry
        .wait_for("v3", |s| newest_is(s, &v3, "Succeeded"))
        .await;
    assert!(env(&s)["paused"].is_null(), "{:#}", env(&s));
    assert!(live_revision(&fake, "web").ends_with("dev-web:3"));

    // Roll back again, to a named revision; POST /resume puts git back.
    let (code, body) = ferry
        .http("POST", &format!("/rollback?env=dev&to={v1}"), Some(TOKEN))
        .await;
    assert_eq!(code, 202, "{body}");
    ferry
        .wait_for("the second rollback", |s| {
            newest(s)["trigger"] == "rollback" && newest(s)["result"] == "Succeeded"
        })
        .await;
    assert!(live_revision(&fake, "web").ends_with("dev-web:1"));
    let (code, _) = ferry.http("POST", "/resume?env=dev", None).await;
    assert_eq!(code, 401);
    let (code, _) = ferry.http("POST", "/resume?env=dev", Some(TOKEN)).await;
    assert_eq!(code, 202);
    let s = ferry
        .wait_for("git applied again after resume", |s| {
            env(s)["paused"].is_null() && newest_is(s, &v3, "Succeeded")
        })
        .await;
    assert_eq!(env(&s)["health"], "Healthy", "{:#}", env(&s));
    assert!(live_revision(&fake, "web").ends_with("dev-web:3"));
    ferry.stop().await;
}

/// Run the browser check `EXPECT` of services/frontend/e2e/ferry-rolled-back.mjs on the page.
pub(super) fn check_page_in_chromium(port: u16, expect: &str) {
    let e2e = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../services/frontend/e2e");
    assert!(
        ferry_testkit::find_on_path("node").is_some(),
        "`node` is missing; `cargo xtask test` installs the browser tools"
    );
    assert!(
        Path::new("/usr/bin/chromium").is_file(),
        "/usr/bin/chromium is missing (Debian `chromium`)"
    );
    assert!(
        e2e.join("node_modules/playwright-core/package.json")
            .is_file(),
        "playwright-core is missing (`npm ci` in {})",
        e2e.display()
    );
    // target/<profile>/deps/<test binary> → target/e2e
    let shots = std::env::current_exe()
        .expect("test binary")
        .ancestors()
        .nth(3)
        .expect("target folder")
        .join("e2e");
    let out = std::process::Command::new("node")
        .arg("ferry-rolled-back.mjs")
        .current_dir(&e2e)
        .env("STATUS_URL", format!("http://127.0.0.1:{port}/"))
        .env("SHOT_DIR", &shots)
        .env("EXPECT", expect)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shots.join(format!("ferry-{expect}.png")).is_file());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_a_rolled_back_environment_in_a_real_browser() {
    let dir = tempfile::tempdir().expect("tmp");
    let fake = fake();
    let (ferry, _) = Ferry::start_at_v1(dir.path(), &fake, "").await;
    let v2 = change(dir.path(), "v2", "");
    ferry
        .wait_for("v2", |s| newest_is(s, &v2, "Succeeded"))
        .await;
    fake.api().set_rollout(
        "web",
        Rollout::Rollback("ECS deployment circuit breaker: tasks failed to start.".into()),
    );
    let v3 = change(dir.path(), "v3", "");
    ferry
        .wait_for("v3 rolled back by ECS", |s| newest_is(s, &v3, "Failed"))
        .await;
    let port = ferry.port;
    tokio::task::spawn_blocking(move || check_page_in_chromium(port, "held"))
        .await
        .expect("browser check");

    fake.api().set_rollout("web", Rollout::Complete);
    let (code, body) = ferry.http("POST", "/rollback?env=dev", Some(TOKEN)).await;
    assert_eq!(code, 202, "{body}");
    // The last good revision before the held-back one.
    assert_eq!(body["to"], v2.as_str(), "{body}");
    ferry
        .wait_for("the rollback", |s| {
            newest(s)["trigger"] == "rollback" && newest(s)["result"] == "Succeeded"
        })
        .await;
    tokio::task::spawn_blocking(move || check_page_in_chromium(port, "paused"))
        .await
        .expect("browser check");
    ferry.stop().await;
}
