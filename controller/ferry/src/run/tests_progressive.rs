//! `ferry run` with blue/green, canary and linear deployments on the in-process ECS fake
//! (moto has no service deployments): a canary followed to 100% and Healthy, pause + promote
//! and abort over HTTP, the status page of a canary in progress in headless Chromium.

use std::path::Path;
use std::sync::Arc;

use ferry_ecs::fake::FakeEcs;
use ferry_ecs::{EcsOptions, EcsPlatform};
use serde_json::Value;

use super::tests::{Ferry, TOKEN, check_page_in_chromium, env, ferry_metrics, newest, newest_is};

const TG: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-a/0123456789abcdef";
const TG_ALT: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-b/fedcba9876543210";
const RULE: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee";
const ROLE: &str = "arn:aws:iam::123456789012:role/ecs-infrastructure";

/// Environment `dev` with one load-balanced service `web` at image `tag`, deployed with
/// `deployment`; the revision id `ferry run` gives it.
pub(super) fn write(dir: &Path, tag: &str, deployment: &str) -> String {
    let root = dir.join("manifests");
    std::fs::create_dir_all(root.join("dev")).expect("mkdir");
    std::fs::write(
        root.join("dev/environment.yaml"),
        "apiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: { name: dev }\nspec:\n  platform: ecs\n  region: us-east-1\n  cluster: test\n  network: { subnets: [subnet-1], securityGroups: [sg-1] }\n  rolloutTimeout: 2m\n",
    )
    .expect("write");
    std::fs::write(
        root.join("dev/web.yaml"),
        format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: EcsService\nmetadata: {{ name: web }}\nspec:\n  desiredCount: 2\n  loadBalancers:\n    - {{ targetGroupArn: \"{TG}\", containerName: app, containerPort: 8080, alternateTargetGroupArn: \"{TG_ALT}\", productionListenerRule: \"{RULE}\", roleArn: \"{ROLE}\" }}\n  taskDefinition:\n    cpu: 256\n    memory: 512\n    containers:\n      - name: app\n        image: registry.example.com/web:{tag}\n        portMappings: [{{ containerPort: 8080 }}]\n  deployment: {deployment}\n"
        ),
    )
    .expect("write");
    format!(
        "dir-{}",
        super::source::content_hash(&root).expect("content hash")
    )
}

pub(super) fn fake(polls_per_minute: u32) -> Arc<EcsPlatform<FakeEcs>> {
    let fake = FakeEcs::new(&["test"], 1);
    fake.set_polls_per_minute(polls_per_minute);
    Arc::new(EcsPlatform::new(
        fake,
        EcsOptions {
            metrics_lag: std::time::Duration::ZERO,
            ..EcsOptions::default()
        },
    ))
}

pub(super) fn web(s: &Value) -> &Value {
    env(s)["resources"]
        .as_array()
        .and_then(|rows| rows.iter().find(|r| r["name"] == "web"))
        .unwrap_or(&Value::Null)
}

fn live_revision(fake: &EcsPlatform<FakeEcs>) -> String {
    fake.api()
        .service("web")
        .map(|s| s.task_definition)
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_is_followed_to_full_traffic_and_healthy() {
    let dir = tempfile::tempdir().expect("tmp");
    let fake = fake(4);
    let canary = "{ strategy: canary, canary: { percent: 10, bake: 1m }, bakeTime: 1m }";
    let v1 = write(dir.path(), "v1", canary);
    let ferry = Ferry::start(dir.path(), &fake).await;
    ferry
        .wait_for("v1", |s| newest_is(s, &v1, "Succeeded"))
        .await;
    let v2 = write(dir.path(), "v2", canary);
    // The canary phase is seen on /status while it bakes.
    let s = ferry
        .wait_for("the canary at 10%", |s| {
            web(s)["deployment"]["trafficPercent"] == 10.0
        })
        .await;
    let d = &web(&s)["deployment"];
    assert_eq!(d["strategy"], "CANARY", "{d:#}");
    assert_eq!(d["stage"], "PRODUCTION_TRAFFIC_SHIFT", "{d:#}");
    assert!(d["bakeLeftSeconds"].as_u64().is_some(), "{d:#}");
    assert_eq!(web(&s)["health"], "Progressing");
    let metrics = ferry_metrics(&ferry).await;
    assert!(
        metrics.contains(r#"ferry_deployment_traffic_percent{env="dev",service="web"} 10"#),
        "{metrics}"
    );
    let s = ferry
        .wait_for("v2 to reach 100% and healthy", |s| {
            newest_is(s, &v2, "Succeeded")
        })
        .await;
    assert_eq!(env(&s)["health"], "Healthy", "{:#}", env(&s));
    assert!(live_revision(&fake).ends_with("dev-web:2"));
    ferry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_paused_blue_green_waits_for_post_promote_and_post_abort_rolls_back() {
    let dir = tempfile::tempdir().expect("tmp");
    let fake = fake(2);
    let plain = "{ strategy: blueGreen }";
    let paused = "{ strategy: blueGreen, pause: beforeTraffic }";
    let v1 = write(dir.path(), "v1", plain);
    let ferry = Ferry::start(dir.path(), &fake).await;
    ferry
        .wait_for("v1", |s| newest_is(s, &v1, "Succeeded"))
        .await;

    // v2 pauses before production traffic, and stays paused.
    let v2 = write(dir.path(), "v2", paused);
    let s = ferry
        .wait_for("v2 paused", |s| {
            web(s)["deployment"]["awaitingPromote"] == true
        })
        .await;
    assert_eq!(web(&s)["deployment"]["trafficPercent"], 0.0);
    assert!(
        web(&s)["message"]
            .as_str()
            .is_some_and(|m| m.contains("ferry promote web")),
        "{:#}",
        web(&s)
    );
    tokio::time::sleep(std::time::Duration::from_millis(600)).await;
    let s = ferry.status().await;
    assert_eq!(web(&s)["deployment"]["awaitingPromote"], true, "still held");
    assert_ne!(
        newest(&s)["revision"],
        v2.as_str(),
        "not concluded while paused"
    );

    // Without the token: refused. Then promoted.
    let (code, _) = ferry
        .http("POST", "/promote?env=dev&service=web", None)
        .await;
    assert_eq!(code, 401);
    let (code, body) = ferry
        .http("POST", "/promote?env=dev&service=web", Some(TOKEN))
        .await;
    assert_eq!(code, 200, "{body}");
    assert!(
        body["message"]
            .as_str()
            .is_some_and(|m| m.contains("promoted `web`")),
        "{body}"
    );
    let s = ferry
        .wait_for("v2 promoted and healthy", |s| {
            newest_is(s, &v2, "Succeeded")
        })
        .await;
    assert_eq!(env(&s)["health"], "Healthy", "{:#}", env(&s));
    assert!(live_revision(&fake).ends_with("dev-web:2"));

    // Nothing to promote now: a clear 409.
    let (code, body) = ferry
        .http("POST", "/promote?env=dev&service=web", Some(TOKEN))
        .await;
    assert_eq!(code, 409, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| m.contains("no blue/green"))
            || body.to_string().contains("no blue/green"),
        "{body}"
    );

    // v3 pauses; abort rolls it back: the sync fails, v2 keeps running, v3 is held back.
    let v3 = write(dir.path(), "v3", paused);
    ferry
        .wait_for("v3 paused", |s| {
            web(s)["deployment"]["awaitingPromote"] == true
        })
        .await;
    let (code, body) = ferry
        .http("POST", "/abort?env=dev&service=web", Some(TOKEN))
        .await;
    assert_eq!(code, 200, "{body}");
    let s = ferry
        .wait_for("v3 rolled back", |s| newest_is(s, &v3, "Failed"))
        .await;
    assert_eq!(newest(&s)["reason"], "RolledBack", "{:#}", newest(&s));
    assert!(env(&s)["heldBack"].is_string(), "{:#}", env(&s));
    assert!(live_revision(&fake).ends_with("dev-web:2"));
    ferry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_status_page_shows_a_canary_in_progress_in_a_real_browser() {
    let dir = tempfile::tempdir().expect("tmp");
    // A bake minute lasts 10 000 polls: the canary stays at 10% while the browser looks.
    let fake = fake(1);
    let canary = "{ strategy: canary, canary: { percent: 10, bake: 5m } }";
    let fast = "{ strategy: canary, canary: { percent: 10, bake: 1m } }";
    let v1 = write(dir.path(), "v1", fast);
    let ferry = Ferry::start(dir.path(), &fake).await;
    ferry
        .wait_for("v1", |s| newest_is(s, &v1, "Succeeded"))
        .await;
    fake.api().set_polls_per_minute(10_000);
    write(dir.path(), "v2", canary);
    ferry
        .wait_for("the canary at 10%", |s| {
            web(s)["deployment"]["trafficPercent"] == 10.0
        })
        .await;
    let port = ferry.port;
    tokio::task::spawn_blocking(move || check_page_in_chromium(port, "canary"))
        .await
        .expect("browser check");
    let (code, body) = ferry
        .http("POST", "/abort?env=dev&service=web", Some(TOKEN))
        .await;
    assert_eq!(code, 200, "{body}");
    ferry.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_canary_whose_analysis_fails_is_rolled_back_and_held_back() {
    let dir = tempfile::tempdir().expect("tmp");
    let fake = fake(1);
    let v1 = write(
        dir.path(),
        "v1",
        "{ strategy: canary, canary: { percent: 10, bake: 1m } }",
    );
    let ferry = Ferry::start(dir.path(), &fake).await;
    ferry
        .wait_for("v1", |s| newest_is(s, &v1, "Succeeded"))
        .await;
    let before = live_revision(&fake);
    // The new version answers 12% 5xx on the green (alternate) target group.
    let live = fake.api().service("web").expect("web");
    let green = live.load_balancers[0]
        .advanced_configuration
        .as_ref()
        .expect("advanced")
        .alternate_target_group_arn
        .split_once(":targetgroup/")
        .map(|(_, rest)| format!("targetgroup/{rest}"))
        .expect("target group arn");
    let dims = [
        ("LoadBalancer", "app/numbers/50dc6c495c0c9188"),
        ("TargetGroup", green.as_str()),
    ];
    fake.api().set_metric(
        "AWS/ApplicationELB",
        "HTTPCode_Target_5XX_Count",
        &dims,
        &[12.0],
    );
    fake.api()
        .set_metric("AWS/ApplicationELB", "RequestCount", &dims, &[100.0]);
    fake.api().set_polls_per_minute(1000);
    let analysed = "{ strategy: canary, canary: { percent: 10, bake: 5m }, analysis: { interval: 1s, loadBalancer: app/numbers/50dc6c495c0c9188, checks: [{ name: 5xx-ratio, ratio: { numerator: { metricName: HTTPCode_Target_5XX_Count }, denominator: { metricName: RequestCount } }, max: 0.01 }] } }";
    let v2 = write(dir.path(), "v2", analysed);
    let s = ferry
        .wait_for("v2 to fail its analysis", |s| newest_is(s, &v2, "Failed"))
        .await;
    let attempt = newest(&s);
    assert_eq!(attempt["reason"], "AnalysisFailed", "{attempt:#}");
    let errors = attempt["errors"].to_string();
    assert!(
        errors.contains("5xx-ratio = 0.12, above max 0.01"),
        "the metric, its value and the threshold: {errors}"
    );
    let e = env(&s);
    assert_eq!(e["conditions"][0]["reason"], "AnalysisFailed", "{e:#}");
    let held = e["heldBack"].as_str().expect("held back");
    assert!(held.contains("failed its metric analysis"), "{held}");
    assert_eq!(fake.calls().get("StopServiceDeployment"), 1);
    // ECS rolls back: the old version keeps (gets back) all production traffic.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while live_revision(&fake) != before {
        assert!(std::time::Instant::now() < deadline, "never rolled back");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    // The failed revision is not applied again on its own.
    let updates = fake.calls().get("UpdateService");
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    assert_eq!(fake.calls().get("UpdateService"), updates);
    assert_eq!(live_revision(&fake), before);
    let metrics = ferry_metrics(&ferry).await;
    assert!(
        metrics.contains(r#"ferry_rollouts_total{env="dev",outcome="AnalysisFailed"} 1"#),
        "{metrics}"
    );
    ferry.stop().await;
}
