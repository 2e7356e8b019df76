//! Pre-deploy tasks through the real AWS SDK against moto: `RunTask` with the service's
//! network, `DescribeTasks` followed until moto's task reaches STOPPED (one state per describe)
//! with exit code 0, then the service is created; a converged stack runs nothing again.

mod support;

use ferry_core::plan::ResourceKind;
use ferry_core::platform::ResultCode;
use support::{Moto, Stack, describe, reconcile};

#[tokio::test]
async fn moto_runs_the_pre_deploy_task_to_stopped_before_creating_the_service() {
    let moto = Moto::start().await;
    let platform = moto.platform(&moto.endpoint()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut stack = Stack::new(&moto.subnet, &moto.security_group, &["web"]);
    stack.services[0].pre_deploy = Some(
        "[{ name: migrate, timeout: 1m, taskDefinition: { cpu: 256, memory: 512, containers: [{ name: app, image: web-app, command: [migrate] }] } }]".into(),
    );
    reconcile(&platform, &stack.load(dir.path())).await;
    moto.push_image("web-app", "v1").await;
    let (plan, results) = reconcile(&platform, &stack.load(dir.path())).await;
    let order = describe(&plan);
    let at = |what: &str| order.iter().position(|c| c == what).unwrap_or(usize::MAX);
    assert!(
        at("run PreDeployTask/web/migrate") < at("create EcsService/web"),
        "{order:?}"
    );
    for (change, r) in plan.changes.iter().zip(&results) {
        assert_eq!(r.code, ResultCode::Synced, "{}: {}", change.key, r.message);
        if change.key.kind == ResourceKind::PreDeployTask {
            assert!(r.message.contains("exited 0"), "{}", r.message);
        }
    }
    assert_eq!(platform.calls().get("RunTask"), 1);
    assert!(platform.calls().get("DescribeTasks") >= 1);

    // Converged: nothing planned, no task run or described.
    platform.calls().reset();
    let (plan, _) = reconcile(&platform, &stack.load(dir.path())).await;
    assert!(plan.is_empty(), "{:?}", describe(&plan));
    assert_eq!(platform.calls().get("RunTask"), 0);
    assert_eq!(platform.calls().get("DescribeTasks"), 0);
    assert_eq!(platform.calls().writes(), 0);
}
