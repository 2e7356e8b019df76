//! Pre-deploy tasks on the local platform: run as processes to completion before the service
//! starts, in the data folder of the service's container of the same name; a non-zero exit
//! fails the sync and leaves the running service alone.

use std::path::Path;

use ferry_core::diff::diff;
use ferry_core::load_environment;
use ferry_core::plan::{Plan, ResourceKind};
use ferry_core::platform::{ApplyOptions, Platform, ResourceResult, ResultCode};
use ferry_core::render::render;
use ferry_local::{LocalOptions, LocalPlatform};

fn write(root: &Path, script: &str) {
    std::fs::create_dir_all(root.join("local")).expect("mkdir");
    std::fs::write(
        root.join("local/environment.yaml"),
        "apiVersion: ferry.dev/v1alpha1
kind: Environment
metadata: { name: local }
spec:
  platform: local
  local:
    commands:
      worker: { command: [sleep] }
      shell: { command: [sh, -c] }
",
    )
    .expect("environment");
    std::fs::write(
        root.join("local/worker.yaml"),
        format!(
            "apiVersion: ferry.dev/v1alpha1
kind: EcsService
metadata: {{ name: w }}
spec:
  taskDefinition:
    cpu: \"256\"
    memory: \"512\"
    containers:
      - {{ name: main, image: worker, command: [\"600\"] }}
  preDeploy:
    - name: prepare
      timeout: 30s
      taskDefinition:
        cpu: \"256\"
        memory: \"512\"
        containers:
          - {{ name: main, image: shell, command: [\"{script}\"] }}
"
        ),
    )
    .expect("service");
}

async fn reconcile(platform: &LocalPlatform, root: &Path) -> (Plan, Vec<ResourceResult>) {
    let state = load_environment(root, "local").unwrap_or_else(|d| panic!("{d}"));
    let observed = platform.observe(&state).await.expect("observe");
    let rendered = render(&state, &observed.digests);
    let plan = diff(&state, &rendered, &observed.actual);
    let results = platform
        .apply(&state, &rendered, &plan, &ApplyOptions::default())
        .await;
    (plan, results)
}

fn result_of(
    plan: &Plan,
    results: &[ResourceResult],
    kind: ResourceKind,
    name: &str,
) -> ResourceResult {
    let i = plan
        .changes
        .iter()
        .position(|c| c.key.kind == kind && c.key.name == name)
        .unwrap_or_else(|| panic!("no {kind}/{name} planned"));
    results[i].clone()
}

#[tokio::test]
async fn a_local_pre_deploy_task_runs_to_completion_before_its_service_and_a_failure_leaves_it_alone()
 {
    let dir = tempfile::tempdir().expect("tmp");
    let root = dir.path().join("manifests");
    let state_dir = dir.path().join("state");
    let platform = LocalPlatform::new(LocalOptions {
        base_dir: dir.path().to_path_buf(),
        state_dir: state_dir.clone(),
    });

    write(&root, "echo migrated > marker");
    let (plan, results) = reconcile(&platform, &root).await;
    let task = result_of(&plan, &results, ResourceKind::PreDeployTask, "w/prepare");
    assert_eq!(task.code, ResultCode::Synced, "{task:?}");
    let service = result_of(&plan, &results, ResourceKind::EcsService, "w");
    assert_eq!(service.code, ResultCode::Synced, "{service:?}");
    // It ran in the service container's data folder, before the service started.
    let marker = state_dir.join("local/data/w/main/marker");
    assert_eq!(
        std::fs::read_to_string(&marker)
            .expect("the task wrote its marker")
            .trim(),
        "migrated"
    );
    let mut pid = platform.pids().await;
    for _ in 0..100 {
        if !pid.is_empty() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        pid = platform.pids().await;
    }
    assert!(!pid.is_empty(), "the service runs");

    // Nothing changed: nothing runs again.
    std::fs::remove_file(&marker).expect("rm marker");
    let (plan, _) = reconcile(&platform, &root).await;
    assert!(plan.is_empty(), "{plan:?}");
    assert!(!marker.exists());

    // A failing task: the sync fails with its exit code; the service keeps running as it was.
    write(&root, "echo broken >&2; exit 4");
    let (plan, results) = reconcile(&platform, &root).await;
    let task = result_of(&plan, &results, ResourceKind::PreDeployTask, "w/prepare");
    assert_eq!(task.code, ResultCode::Failed, "{task:?}");
    assert!(
        task.message.contains("exited with code 4"),
        "{}",
        task.message
    );
    assert!(
        task.message.contains("w-prepare-main.log"),
        "{}",
        task.message
    );
    let service = result_of(&plan, &results, ResourceKind::EcsService, "w");
    assert_eq!(service.code, ResultCode::Failed, "{service:?}");
    assert!(
        service.message.contains("not touched"),
        "{}",
        service.message
    );
    assert_eq!(platform.pids().await, pid, "the service was not restarted");
    platform.shutdown().await;
}
