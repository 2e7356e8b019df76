//! `ferry plan | apply | status` as a user runs them, against moto through the real AWS SDK
//! (configured only by the standard `AWS_*` environment variables).

#[path = "../../ecs/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Output};

use support::{Moto, Stack};

const BIN: &str = env!("CARGO_BIN_EXE_ferry");

fn ferry(moto: &Moto, root: &Path, args: &[&str]) -> Output {
    support::moto_env(&mut Command::new(BIN), &moto.endpoint())
        .args(args)
        .args([
            "--manifests",
            root.to_str().expect("utf-8"),
            "--env",
            "test",
        ])
        .output()
        .expect("ferry runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_apply_and_status_against_moto_with_exit_codes() {
    let moto = Moto::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    Stack::new(&moto.subnet, &moto.security_group, &["api", "web"]).write(dir.path());

    let out = ferry(&moto, dir.path(), &["plan"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let shown = text(&out);
    assert!(
        shown.contains("+ EcrRepository/web-app (create)"),
        "{shown}"
    );
    assert!(shown.contains("+ desiredCount: 1"), "{shown}");
    assert!(
        shown.contains("Plan: 5 to create, 0 to update, 0 to prune."),
        "{shown}"
    );
    assert!(!shown.contains("\x1b["), "no colors when not on a terminal");

    // The image is not pushed yet: the repository is created, the services fail clearly.
    let out = ferry(&moto, dir.path(), &["apply"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("web-app:v1 not found in ECR"),
        "{}",
        text(&out)
    );

    moto.push_image("web-app", "v1").await;
    let out = ferry(&moto, dir.path(), &["apply", "--timeout", "1m"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("ok      create EcsService/web"),
        "{}",
        text(&out)
    );

    let out = ferry(&moto, dir.path(), &["plan", "-o", "json"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let plan: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json plan");
    assert_eq!(plan["changes"], serde_json::json!([]));

    let out = ferry(&moto, dir.path(), &["status"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let shown = text(&out);
    assert!(shown.contains("test-web:1"), "{shown}");
    assert!(shown.contains("@sha256:"), "{shown}");
    let out = ferry(&moto, dir.path(), &["status", "-o", "json"]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json status");
    let web = rows
        .as_array()
        .and_then(|r| r.iter().find(|r| r["service"] == "web"))
        .expect("web row");
    assert_eq!(web["sync"], "Synced");
    // moto never marks a rollout COMPLETED, but reports every task running with one
    // deployment left: stable by AWS's own `services-stable` rule, and status says why.
    assert_eq!(web["health"], "Healthy", "{web:#}");
    assert!(
        web["message"]
            .as_str()
            .is_some_and(|m| m.contains("stable")),
        "{web:#}"
    );
    assert!(
        web["images"]["app"]
            .as_str()
            .is_some_and(|i| i.contains("/web-app:v1@sha256:"))
    );

    // Drift: someone scales the service; plan shows it field by field.
    let sdk = moto.sdk(&moto.endpoint()).await;
    sdk.ecs_client()
        .update_service()
        .cluster(support::CLUSTER)
        .service("web")
        .desired_count(4)
        .send()
        .await
        .expect("scale");
    let out = ferry(&moto, dir.path(), &["plan"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("~ desiredCount: 4 → 1"),
        "{}",
        text(&out)
    );
}
