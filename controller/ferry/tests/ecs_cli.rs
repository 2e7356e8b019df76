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

    // promote / abort: a service Ferry does not know is refused before any call; a rolling
    // service has no deployment to promote (moto has no service deployments either).
    let out = ferry(&moto, dir.path(), &["promote", "nosuch"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("no EcsService `nosuch` in environment `test`"),
        "{}",
        text(&out)
    );
    let out = ferry(&moto, dir.path(), &["abort", "web"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        !text(&out).trim().is_empty() && !text(&out).contains("panicked"),
        "{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rollback_redeploys_the_previous_revision_and_records_it_for_ferry_run() {
    let moto = Moto::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let manifests = dir.path().join("manifests");
    let state = dir.path().join("state");
    let state = state.to_str().expect("utf-8");
    let mut stack = Stack::new(&moto.subnet, &moto.security_group, &["web"]);
    stack.write(&manifests);
    let out = ferry(&moto, &manifests, &["apply"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    moto.push_image("web-app", "v1").await;
    let out = ferry(&moto, &manifests, &["apply", "--wait", "--timeout", "60s"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    moto.push_image("web-app", "v2").await;
    stack.tag = "v2".into();
    stack.write(&manifests);
    let out = ferry(&moto, &manifests, &["apply", "--wait", "--timeout", "60s"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let sdk = moto.sdk(&moto.endpoint()).await;
    assert!(
        support::live_service(&sdk, "web")
            .await
            .task_definition
            .ends_with("test-web:2")
    );

    // No history of a `ferry run`: the previous task definition revision in ECS.
    let out = ferry(&moto, &manifests, &["rollback", "--state-dir", state]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("rolled back from test-web:2 to test-web:1"),
        "{}",
        text(&out)
    );
    assert!(
        support::live_service(&sdk, "web")
            .await
            .task_definition
            .ends_with("test-web:1")
    );
    // Recorded in the history database a `ferry run` on this state folder reads.
    assert!(Path::new(state).join("history.db").is_file());

    // A revision history does not know is refused, and nothing changes.
    let out = ferry(
        &moto,
        &manifests,
        &["rollback", "--state-dir", state, "--to", "0123456789abcdef"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("no good sync of revision `0123456789abcdef`"),
        "{}",
        text(&out)
    );
    assert!(
        support::live_service(&sdk, "web")
            .await
            .task_definition
            .ends_with("test-web:1")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_markdown_is_a_table_per_environment_with_drift_marked_against_a_baseline() {
    let moto = Moto::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let base_dir = tempfile::tempdir().expect("tmp");
    let mut stack = Stack::new(&moto.subnet, &moto.security_group, &["api", "web"]);
    stack.write(dir.path());

    // Nothing deployed yet: one row per resource to create, no drift.
    let out = ferry(&moto, dir.path(), &["plan", "-o", "markdown"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        shown.starts_with("#### `test`: 5 to create, 0 to update, 0 to prune\n"),
        "{shown}"
    );
    assert!(
        shown.contains("| | Resource | Changes |\n|---|---|---|\n"),
        "{shown}"
    );
    assert!(
        shown.contains("| ➕ create | `EcsService/web` | new, "),
        "{shown}"
    );
    assert!(
        shown.contains("| ➕ create | `EcrRepository/web-app` | new, "),
        "{shown}"
    );
    assert!(!shown.contains("drift"), "{shown}");

    let out = ferry(&moto, dir.path(), &["apply"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    moto.push_image("web-app", "v1").await;
    let out = ferry(&moto, dir.path(), &["apply"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    let out = ferry(&moto, dir.path(), &["plan", "-o", "markdown"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "#### `test`: no changes\n\n"
    );

    // Someone scales `web` by hand (drift); the change under review scales `api` to 3. The
    // baseline (the base branch's manifests) explains which is which.
    moto.sdk(&moto.endpoint())
        .await
        .ecs_client()
        .update_service()
        .cluster(support::CLUSTER)
        .service("web")
        .desired_count(4)
        .send()
        .await
        .expect("scale");
    stack.write(base_dir.path());
    stack.services[0].desired_count = 3;
    stack.write(dir.path());
    let out = ferry(
        &moto,
        dir.path(),
        &[
            "plan",
            "-o",
            "markdown",
            "--baseline",
            base_dir.path().to_str().expect("utf-8"),
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        shown.starts_with("#### `test`: 0 to create, 2 to update, 0 to prune (1 with drift)\n"),
        "{shown}"
    );
    assert!(
        shown.contains("| 🔄 update | `EcsService/api` | `desiredCount`: 1 → 3 |"),
        "{shown}"
    );
    assert!(
        shown.contains("| 🔄 update | `EcsService/web` | `desiredCount`: 4 → 1 **⚠ drift** |"),
        "{shown}"
    );

    // A manifest that does not load: the file:line errors, in the comment too.
    std::fs::write(
        dir.path().join("base/broken.yaml"),
        "apiVersion: ferry.dev/v1alpha1\nkind: EcsService\nmetadata:\n  name: broken\nspec:\n  desiredCount: many\n",
    )
    .expect("write");
    let out = ferry(&moto, dir.path(), &["plan", "-o", "markdown"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        shown.starts_with("#### `test`: ❌ invalid manifests\n\n```\n"),
        "{shown}"
    );
    assert!(shown.contains("broken.yaml:6"), "{shown}");
}
