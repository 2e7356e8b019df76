//! Pre-deploy tasks and health-gated `dependsOn` waves on the in-process fake (moto cannot
//! run an awsvpc task: its `RunTask` answers 500): a task runs before its service
//! is created or gets a new task definition, and only then; a non-zero exit or a timeout fails
//! the sync and leaves the service untouched; a dependency that does not roll out leaves its
//! dependents untouched.

mod support;

use std::path::Path;
use std::time::Duration;

use ferry_core::plan::{Plan, ResourceKind};
use ferry_core::platform::{ApplyOptions, ResourceResult, ResultCode};
use ferry_ecs::EcsPlatform;
use ferry_ecs::fake::{FakeEcs, Rollout, TaskOutcome};
use support::{CLUSTER, Stack, describe, reconcile, reconcile_with};

const FAMILY: &str = "test-web-migrate";

fn migrate(command: &str, timeout: &str) -> String {
    format!(
        "[{{ name: migrate, timeout: {timeout}, taskDefinition: {{ cpu: 256, memory: 512, containers: [{{ name: migrate, image: web-app, command: [app, {command}] }}] }} }}]"
    )
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
        .unwrap_or_else(|| panic!("no {kind}/{name} in {:?}", describe(plan)));
    results[i].clone()
}

fn platform() -> EcsPlatform<FakeEcs> {
    EcsPlatform::new(FakeEcs::new(&[CLUSTER], 2), support::fast_options())
}

fn stack_with_migrate(timeout: &str) -> Stack {
    let mut stack = Stack::new("subnet-1", "sg-1", &["web"]);
    stack.services[0].pre_deploy = Some(migrate("migrate", timeout));
    stack
}

fn push(platform: &EcsPlatform<FakeEcs>, stack: &mut Stack, tag: &str, n: u64) {
    platform
        .api()
        .push_image("web-app", tag, &format!("sha256:{n:064x}"));
    stack.tag = tag.into();
}

/// `web` created after its migration ran once, then rolled to `v1`.
async fn created(dir: &Path, platform: &EcsPlatform<FakeEcs>, stack: &mut Stack) {
    // The repository first (the image is pushed into it).
    reconcile(platform, &stack.load(dir)).await;
    push(platform, stack, "v1", 1);
    let (_, results) = reconcile(platform, &stack.load(dir)).await;
    assert!(
        results.iter().all(|r| r.code == ResultCode::Synced),
        "{results:#?}"
    );
}

#[tokio::test]
async fn a_pre_deploy_task_runs_before_the_service_is_created_then_only_when_something_changes() {
    let dir = tempfile::tempdir().expect("tmp");
    let platform = platform();
    let mut stack = stack_with_migrate("1m");
    // First apply: the repository, and the service with its task (image not pushed yet: the
    // task definition refers to a tag the registry does not know, so only the repo is made).
    let (plan, _) = reconcile(&platform, &stack.load(dir.path())).await;
    let order = describe(&plan);
    let run = order
        .iter()
        .position(|c| c == "run PreDeployTask/web/migrate");
    let create = order.iter().position(|c| c == "create EcsService/web");
    assert!(
        run.is_some() && run < create,
        "the task runs before the service: {order:?}"
    );

    push(&platform, &mut stack, "v1", 1);
    let (plan, results) = reconcile(&platform, &stack.load(dir.path())).await;
    let task = result_of(&plan, &results, ResourceKind::PreDeployTask, "web/migrate");
    assert_eq!(task.code, ResultCode::Synced, "{task:?}");
    assert!(task.message.contains("exited 0"), "{}", task.message);
    let web = result_of(&plan, &results, ResourceKind::EcsService, "web");
    assert_eq!(web.code, ResultCode::Synced, "{web:?}");
    let runs = platform.api().task_runs();
    assert_eq!(runs.last().map(String::as_str), Some(FAMILY), "{runs:?}");
    let before = runs.len();

    // Nothing changed: nothing planned, nothing run, and no call made for the task at all
    // (the service's tag records what ran): the same calls as a service without one.
    platform.calls().reset();
    let (plan, _) = reconcile(&platform, &stack.load(dir.path())).await;
    assert!(plan.is_empty(), "{:?}", describe(&plan));
    assert_eq!(platform.api().task_runs().len(), before);
    let calls = platform.calls().snapshot();
    assert_eq!(platform.calls().writes(), 0, "{calls:?}");
    for api in [
        "RunTask",
        "DescribeTasks",
        "DescribeTaskDefinition",
        "ListTaskDefinitions",
    ] {
        assert_eq!(
            calls.get(api),
            None,
            "{api} called in a no-op reconcile: {calls:?}"
        );
    }

    // A new image: the service gets a new task definition, so the task runs first.
    push(&platform, &mut stack, "v2", 2);
    let (plan, results) = reconcile(&platform, &stack.load(dir.path())).await;
    assert!(describe(&plan).contains(&"run PreDeployTask/web/migrate".to_owned()));
    assert!(
        results.iter().all(|r| r.code == ResultCode::Synced),
        "{results:#?}"
    );
    assert_eq!(platform.api().task_runs().len(), before + 1);

    // Only the task changed (its command): it runs, and the service's record of it is updated.
    stack.services[0].pre_deploy = Some(migrate("migrate-all", "1m"));
    let (plan, results) = reconcile(&platform, &stack.load(dir.path())).await;
    let order = describe(&plan);
    assert!(
        order.contains(&"run PreDeployTask/web/migrate".to_owned()),
        "{order:?}"
    );
    assert!(
        results.iter().all(|r| r.code == ResultCode::Synced),
        "{results:#?}"
    );
    assert_eq!(platform.api().task_runs().len(), before + 2);
    let (plan, _) = reconcile(&platform, &stack.load(dir.path())).await;
    assert!(
        plan.is_empty(),
        "a second apply plans nothing: {:?}",
        describe(&plan)
    );
}

#[tokio::test]
async fn a_failing_pre_deploy_task_fails_the_sync_with_its_exit_code_and_touches_no_service() {
    let dir = tempfile::tempdir().expect("tmp");
    let platform = platform();
    let mut stack = stack_with_migrate("1m");
    created(dir.path(), &platform, &mut stack).await;
    let live_before = platform.api().service("web").expect("web").task_definition;

    platform.api().set_task(FAMILY, TaskOutcome::Exit(3));
    push(&platform, &mut stack, "v2", 2);
    let (plan, results) = reconcile(&platform, &stack.load(dir.path())).await;
    let task = result_of(&plan, &results, ResourceKind::PreDeployTask, "web/migrate");
    assert_eq!(task.code, ResultCode::Failed, "{task:?}");
    assert!(
        task.message.contains("exited with code 3"),
        "{}",
        task.message
    );
    assert!(
        task.message
            .contains("stoppedReason: Essential container in task exited"),
        "{}",
        task.message
    );
    let web = result_of(&plan, &results, ResourceKind::EcsService, "web");
    assert_eq!(web.code, ResultCode::Failed, "{web:?}");
    assert!(web.message.contains("not touched"), "{}", web.message);
    assert_eq!(
        platform.api().service("web").expect("web").task_definition,
        live_before,
        "the service still runs its old revision"
    );
    // Still planned: the next sync tries again (and succeeds once the task does).
    platform.api().set_task(FAMILY, TaskOutcome::Exit(0));
    let (_, results) = reconcile(&platform, &stack.load(dir.path())).await;
    assert!(
        results.iter().all(|r| r.code == ResultCode::Synced),
        "{results:#?}"
    );
    assert_ne!(
        platform.api().service("web").expect("web").task_definition,
        live_before
    );
}

#[tokio::test]
async fn a_pre_deploy_task_past_its_timeout_is_stopped_and_fails_the_sync() {
    let dir = tempfile::tempdir().expect("tmp");
    let platform = platform();
    let mut stack = stack_with_migrate("1s");
    created(dir.path(), &platform, &mut stack).await;
    let live_before = platform.api().service("web").expect("web").task_definition;

    platform.api().set_task(FAMILY, TaskOutcome::Hang);
    push(&platform, &mut stack, "v2", 2);
    let (plan, results) = reconcile(&platform, &stack.load(dir.path())).await;
    let task = result_of(&plan, &results, ResourceKind::PreDeployTask, "web/migrate");
    assert_eq!(task.code, ResultCode::Failed, "{task:?}");
    assert!(
        task.message.contains("did not finish within 1s"),
        "{}",
        task.message
    );
    assert_eq!(platform.calls().get("StopTask"), 1);
    assert_eq!(
        platform.api().service("web").expect("web").task_definition,
        live_before
    );
}

#[tokio::test]
async fn a_dependency_that_does_not_roll_out_leaves_its_dependents_untouched() {
    let dir = tempfile::tempdir().expect("tmp");
    let platform = platform();
    let mut stack = Stack::new("subnet-1", "sg-1", &["api", "web"]);
    stack.services[1].depends_on = vec!["api".into()];
    reconcile(&platform, &stack.load(dir.path())).await;
    push(&platform, &mut stack, "v1", 1);
    let (_, results) = reconcile(&platform, &stack.load(dir.path())).await;
    assert!(
        results.iter().all(|r| r.code == ResultCode::Synced),
        "{results:#?}"
    );
    let web_before = platform.api().service("web").expect("web").task_definition;

    platform.api().set_rollout(
        "api",
        Rollout::Rollback("ECS deployment circuit breaker: tasks failed to start.".into()),
    );
    push(&platform, &mut stack, "v2", 2);
    let options = ApplyOptions {
        wait: false,
        timeout: Duration::from_secs(10),
    };
    let (plan, results) = reconcile_with(&platform, &stack.load(dir.path()), &options).await;
    let api = result_of(&plan, &results, ResourceKind::EcsService, "api");
    assert!(
        api.rollout.is_some(),
        "the dependency's rollout is still reported: {api:?}"
    );
    let web = result_of(&plan, &results, ResourceKind::EcsService, "web");
    assert_eq!(web.code, ResultCode::Skipped, "{web:?}");
    assert!(
        web.message.contains("dependency `api` is not healthy"),
        "{}",
        web.message
    );
    assert!(web.message.contains("rolled back"), "{}", web.message);
    assert_eq!(
        platform.api().service("web").expect("web").task_definition,
        web_before
    );

    // A healthy dependency lets the next wave go.
    platform.api().set_rollout("api", Rollout::Complete);
    push(&platform, &mut stack, "v3", 3);
    let (plan, results) = reconcile_with(&platform, &stack.load(dir.path()), &options).await;
    let web = result_of(&plan, &results, ResourceKind::EcsService, "web");
    assert_eq!(web.code, ResultCode::Synced, "{web:?}");
    assert_ne!(
        platform.api().service("web").expect("web").task_definition,
        web_before
    );
}
