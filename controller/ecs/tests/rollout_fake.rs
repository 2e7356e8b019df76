//! Rollout outcomes moto cannot produce (it never runs tasks), against the in-process fake
//! behind the same `EcsApi` trait the SDK code uses: COMPLETED, FAILED, circuit-breaker
//! rollback, timeout; and task definition GC.

mod support;

use std::time::Duration;

use ferry_core::plan::ResourceKind;
use ferry_core::platform::{ApplyOptions, ResourceResult, ResultCode};
use ferry_ecs::fake::{FakeEcs, Rollout};
use ferry_ecs::{EcsOptions, EcsPlatform};
use support::{CLUSTER, Stack, reconcile, reconcile_with};

fn wait(timeout: Duration) -> ApplyOptions {
    ApplyOptions {
        wait: true,
        timeout,
    }
}

fn service_result(
    plan: &ferry_core::plan::Plan,
    results: &[ResourceResult],
    name: &str,
) -> ResourceResult {
    let i = plan
        .changes
        .iter()
        .position(|c| c.key.kind == ResourceKind::EcsService && c.key.name == name)
        .expect("service change");
    results[i].clone()
}

/// A platform on the fake with `web` created and rolled out (COMPLETED) from image `v1`.
async fn deployed(dir: &std::path::Path, options: EcsOptions) -> (EcsPlatform<FakeEcs>, Stack) {
    let platform = EcsPlatform::new(FakeEcs::new(&[CLUSTER], 2), options);
    let stack = Stack::new("subnet-1", "sg-1", &["web"]);
    reconcile(&platform, &stack.load(dir)).await;
    platform
        .api()
        .push_image("web-app", "v1", &format!("sha256:{:064x}", 1));
    let (plan, results) =
        reconcile_with(&platform, &stack.load(dir), &wait(Duration::from_secs(5))).await;
    let web = service_result(&plan, &results, "web");
    assert_eq!(web.code, ResultCode::Synced, "{web:?}");
    assert!(web.message.contains("Healthy"), "{}", web.message);
    (platform, stack)
}

async fn roll_to(
    platform: &EcsPlatform<FakeEcs>,
    stack: &mut Stack,
    dir: &std::path::Path,
    tag: &str,
    n: u64,
    timeout: Duration,
) -> ResourceResult {
    platform
        .api()
        .push_image("web-app", tag, &format!("sha256:{n:064x}"));
    stack.tag = tag.into();
    let (plan, results) = reconcile_with(platform, &stack.load(dir), &wait(timeout)).await;
    service_result(&plan, &results, "web")
}

#[tokio::test]
async fn a_completed_rollout_is_synced_and_healthy() {
    let dir = tempfile::tempdir().expect("tmp");
    let (platform, mut stack) = deployed(dir.path(), support::fast_options()).await;
    let r = roll_to(
        &platform,
        &mut stack,
        dir.path(),
        "v2",
        2,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(r.code, ResultCode::Synced, "{r:?}");
    assert!(r.message.contains("rollout completed"), "{}", r.message);
    let live = platform.api().service("web").expect("web");
    assert!(live.task_definition.ends_with("test-web:2"));
}

#[tokio::test]
async fn a_failed_rollout_fails_the_sync_with_ecs_reason() {
    let dir = tempfile::tempdir().expect("tmp");
    let (platform, mut stack) = deployed(dir.path(), support::fast_options()).await;
    platform.api().set_rollout(
        "web",
        Rollout::Fail("ECS deployment circuit breaker: tasks failed to start.".into()),
    );
    let r = roll_to(
        &platform,
        &mut stack,
        dir.path(),
        "v2",
        2,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(r.code, ResultCode::Failed, "{r:?}");
    assert!(r.message.contains("Degraded"), "{}", r.message);
    assert!(r.message.contains("tasks failed to start"), "{}", r.message);
}

#[tokio::test]
async fn a_circuit_breaker_rollback_is_never_reported_as_success() {
    let dir = tempfile::tempdir().expect("tmp");
    let (platform, mut stack) = deployed(dir.path(), support::fast_options()).await;
    platform.api().set_rollout(
        "web",
        Rollout::Rollback("ECS deployment circuit breaker: tasks failed to start.".into()),
    );
    let r = roll_to(
        &platform,
        &mut stack,
        dir.path(),
        "v2",
        2,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(r.code, ResultCode::Failed, "{r:?}");
    assert!(r.message.contains("rolled back"), "{}", r.message);
    assert!(r.message.contains("test-web:1"), "{}", r.message);
    // ECS runs the old revision again, COMPLETED by its own account: still not healthy for Ferry.
    let live = platform.api().service("web").expect("web");
    assert!(live.task_definition.ends_with("test-web:1"));
}

#[tokio::test]
async fn a_rollout_that_never_finishes_fails_at_the_timeout_as_progressing() {
    let dir = tempfile::tempdir().expect("tmp");
    let (platform, mut stack) = deployed(dir.path(), support::fast_options()).await;
    platform.api().set_rollout("web", Rollout::Hang);
    let r = roll_to(
        &platform,
        &mut stack,
        dir.path(),
        "v2",
        2,
        Duration::from_millis(300),
    )
    .await;
    assert_eq!(r.code, ResultCode::Failed, "{r:?}");
    assert!(r.message.contains("did not finish within"), "{}", r.message);
    assert!(r.message.contains("Progressing"), "{}", r.message);
}

#[tokio::test]
async fn gc_keeps_the_newest_revisions_and_never_one_in_use() {
    let dir = tempfile::tempdir().expect("tmp");
    let options = EcsOptions {
        keep_task_definitions: 2,
        ..support::fast_options()
    };
    let (platform, mut stack) = deployed(dir.path(), options).await;
    for (n, tag) in ["v2", "v3", "v4", "v5"].iter().enumerate() {
        let r = roll_to(
            &platform,
            &mut stack,
            dir.path(),
            tag,
            n as u64 + 2,
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(r.code, ResultCode::Synced, "{r:?}");
    }
    assert_eq!(platform.api().active_revisions("test-web"), [4, 5]);
    let gc = platform.last_gc();
    assert_eq!(
        gc.deregistered.get("test-web").map(Vec::len),
        Some(1),
        "{gc:?}"
    );

    // A rollback leaves the service on an old revision: that one is in use and kept.
    platform
        .api()
        .set_rollout("web", Rollout::Rollback("circuit breaker".into()));
    let r = roll_to(
        &platform,
        &mut stack,
        dir.path(),
        "v6",
        6,
        Duration::from_secs(5),
    )
    .await;
    assert_eq!(r.code, ResultCode::Failed);
    let in_use = platform.api().service("web").expect("web").task_definition;
    assert!(in_use.ends_with("test-web:5"), "{in_use}");
    let active = platform.api().active_revisions("test-web");
    assert!(active.contains(&5) && active.contains(&6), "{active:?}");
}

#[tokio::test]
async fn the_task_definition_cache_keeps_only_live_revisions() {
    let dir = tempfile::tempdir().expect("tmp");
    let (platform, mut stack) = deployed(dir.path(), support::fast_options()).await;
    assert_eq!(platform.cached_task_definitions(), 1);
    for (n, tag) in ["v2", "v3", "v4"].into_iter().enumerate() {
        let r = roll_to(
            &platform,
            &mut stack,
            dir.path(),
            tag,
            n as u64 + 2,
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(r.code, ResultCode::Synced, "{r:?}");
        // The next observe sees only the new revision live.
        support::plan(&platform, &stack.load(dir.path())).await;
        assert_eq!(platform.cached_task_definitions(), 1, "after {tag}");
    }
}

#[tokio::test]
async fn gc_keeps_the_newest_revisions_by_number_when_the_listing_order_is_scrambled() {
    let dir = tempfile::tempdir().expect("tmp");
    let options = EcsOptions {
        keep_task_definitions: 3,
        ..support::fast_options()
    };
    let (platform, mut stack) = deployed(dir.path(), options).await;
    platform.api().scramble_listings();
    for (n, tag) in ["v2", "v3", "v4", "v5", "v6", "v7"].iter().enumerate() {
        let r = roll_to(
            &platform,
            &mut stack,
            dir.path(),
            tag,
            n as u64 + 2,
            Duration::from_secs(5),
        )
        .await;
        assert_eq!(r.code, ResultCode::Synced, "{r:?}");
    }
    // Listed as 1, 7, 2, 6, 3, 5, 4: taking the first three listed would keep 1, 7 and 2.
    assert_eq!(platform.api().active_revisions("test-web"), [5, 6, 7]);
}
