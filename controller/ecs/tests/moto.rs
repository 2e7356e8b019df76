//! The ECS platform through the real AWS SDK against moto (a real AWS API emulator), with a
//! counting and fault-injecting proxy in front of it where calls are counted.

mod support;

use ferry_core::plan::{Op, ResourceKind};
use ferry_core::platform::ResultCode;
use ferry_ecs::EcsApi;
use support::{CLUSTER, Fault, Moto, Proxy, Stack, Svc, describe, live_service, plan, reconcile};

fn all_synced(results: &[ferry_core::platform::ResourceResult]) {
    for r in results {
        assert_eq!(r.code, ResultCode::Synced, "{r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_from_nothing_creates_everything_then_a_second_apply_makes_zero_writes() {
    let moto = Moto::start().await;
    let proxy = Proxy::start(&moto.endpoint()).await;
    let platform = moto.platform(&proxy.endpoint()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let stack = Stack::new(&moto.subnet, &moto.security_group, &["api", "web"]);
    let desired = stack.load(dir.path());

    // Nothing exists: the repository is created; the image is not pushed yet, so the task
    // definitions fail with a clear error and their services are skipped.
    let (first, results) = reconcile(&platform, &desired).await;
    assert_eq!(
        describe(&first),
        [
            "create EcrRepository/web-app",
            "create TaskDefinition/test-api",
            "create TaskDefinition/test-web",
            "create EcsService/api",
            "create EcsService/web"
        ]
    );
    assert_eq!(results[0].code, ResultCode::Synced, "{:?}", results[0]);
    assert_eq!(results[1].code, ResultCode::Failed);
    assert!(
        results[1].message.contains("web-app:v1 not found in ECR"),
        "{}",
        results[1].message
    );
    assert_eq!(results[3].code, ResultCode::Skipped);

    // CI pushes the image: the rest is created, pinned to the digest.
    let digest = moto.push_image("web-app", "v1").await;
    let (second, results) = reconcile(&platform, &desired).await;
    assert_eq!(second.changes.len(), 4, "{:?}", describe(&second));
    all_synced(&results);

    let sdk = moto.sdk(&moto.endpoint()).await;
    let web = live_service(&sdk, "web").await;
    assert_eq!(web.desired_count, 1);
    assert_eq!(web.tag("ferry.dev/managed-by"), Some("ferry"));
    assert_eq!(web.tag("ferry.dev/environment"), Some("test"));
    assert_eq!(web.tag("team"), Some("numbers"));
    let (_, td) = sdk
        .describe_task_definition(&web.task_definition)
        .await
        .expect("describe")
        .expect("exists");
    assert_eq!(
        td.container_definitions[0].image,
        format!("{}/web-app:v1@{digest}", support::REGISTRY)
    );
    let repos = sdk.describe_repositories().await.expect("repos");
    let repo = repos
        .iter()
        .find(|r| r.repository_name == "web-app")
        .expect("repo");
    assert_eq!(repo.image_tag_mutability, "IMMUTABLE");
    let policy = sdk.get_lifecycle_policy("web-app").await.expect("policy");
    assert!(policy.is_some_and(|p| p.contains("imageCountMoreThan")));

    // Converged: no plan, and an apply writes nothing (counted on the wire).
    let (_, _, again) = plan(&platform, &desired).await;
    assert!(again.is_empty(), "{:?}", again.changes);
    proxy.reset_counts();
    platform.calls().reset();
    let (third, results) = reconcile(&platform, &desired).await;
    assert!(third.is_empty() && results.is_empty());
    assert_eq!(proxy.writes(), Default::default(), "{:?}", proxy.counts());
    assert_eq!(platform.calls().writes(), 0);
    assert_eq!(proxy.counts().get("ecs:DescribeServices"), Some(&1));
    // Task definitions are cached by ARN: the converged reconcile describes none.
    assert_eq!(proxy.counts().get("ecs:DescribeTaskDefinition"), None);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn image_tag_change_registers_one_task_definition_and_updates_one_service() {
    let moto = Moto::start().await;
    let proxy = Proxy::start(&moto.endpoint()).await;
    let platform = moto.platform(&proxy.endpoint()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut stack = Stack::new(&moto.subnet, &moto.security_group, &["jobs", "web"]);
    stack.extra_image_pins = vec![("jobs-app".into(), "j1".into())];
    let (_, results) = reconcile(&platform, &stack.load(dir.path())).await;
    all_synced(&results[..2]);
    moto.push_image("web-app", "v1").await;
    moto.push_image("jobs-app", "j1").await;
    let (_, results) = reconcile(&platform, &stack.load(dir.path())).await;
    all_synced(&results);

    let v2 = moto.push_image("web-app", "v2").await;
    stack.tag = "v2".into();
    let desired = stack.load(dir.path());
    proxy.reset_counts();
    let (changed, results) = reconcile(&platform, &desired).await;
    assert_eq!(
        describe(&changed),
        ["update TaskDefinition/test-web", "update EcsService/web"]
    );
    all_synced(&results);
    let counts = proxy.counts();
    assert_eq!(
        counts.get("ecs:RegisterTaskDefinition"),
        Some(&1),
        "{counts:?}"
    );
    assert_eq!(counts.get("ecs:UpdateService"), Some(&1), "{counts:?}");
    // The service records the task definition it now runs (ferry.dev/task-definition), so a
    // cold plan need not describe it.
    assert_eq!(counts.get("ecs:TagResource"), Some(&1), "{counts:?}");
    assert_eq!(proxy.writes().values().sum::<u64>(), 3, "{counts:?}");
    let sdk = moto.sdk(&moto.endpoint()).await;
    let web = live_service(&sdk, "web").await;
    let (_, td) = sdk
        .describe_task_definition(&web.task_definition)
        .await
        .expect("d")
        .expect("td");
    assert!(
        td.container_definitions[0]
            .image
            .ends_with(&format!(":v2@{v2}"))
    );
    let (_, _, after) = plan(&platform, &desired).await;
    assert!(after.is_empty(), "{:?}", after.changes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn out_of_band_changes_show_as_drift_and_apply_heals_them() {
    let moto = Moto::start().await;
    let platform = moto.platform(&moto.endpoint()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let stack = Stack::new(&moto.subnet, &moto.security_group, &["web"]);
    let desired = stack.load(dir.path());
    reconcile(&platform, &desired).await;
    moto.push_image("web-app", "v1").await;
    reconcile(&platform, &desired).await;
    let sdk = moto.sdk(&moto.endpoint()).await;
    let web = live_service(&sdk, "web").await;

    // Someone scales it, removes a tag and points it at a hand-made revision.
    let hand_made = sdk
        .ecs_client()
        .register_task_definition()
        .family("test-web")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("app")
                .image("busybox:latest")
                .memory(128)
                .build(),
        )
        .send()
        .await
        .expect("register");
    let hand_arn = hand_made
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .expect("arn")
        .to_owned();
    sdk.ecs_client()
        .update_service()
        .cluster(CLUSTER)
        .service("web")
        .desired_count(3)
        .task_definition(&hand_arn)
        .send()
        .await
        .expect("scale");
    sdk.ecs_client()
        .untag_resource()
        .resource_arn(&web.service_arn)
        .tag_keys("team")
        .send()
        .await
        .expect("untag");

    let (_, _, drift) = plan(&platform, &desired).await;
    assert_eq!(
        describe(&drift),
        ["update TaskDefinition/test-web", "update EcsService/web"]
    );
    let fields: Vec<&str> = drift.changes[1]
        .fields
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert!(fields.contains(&"desiredCount"), "{fields:?}");
    assert!(fields.contains(&"tags.team"), "{fields:?}");
    assert!(fields.contains(&"taskDefinition"), "{fields:?}");

    let (_, results) = reconcile(&platform, &desired).await;
    all_synced(&results);
    // The hand-made revision is the family's newest, so the manifests' content is registered
    // again (as a new revision) and the service put back on it.
    assert!(
        results[0].message.starts_with("registered test-web:3"),
        "{}",
        results[0].message
    );
    let healed = live_service(&sdk, "web").await;
    assert_eq!(healed.desired_count, 1);
    assert_eq!(healed.tag("team"), Some("numbers"));
    assert!(
        healed.task_definition.ends_with("test-web:3"),
        "{}",
        healed.task_definition
    );
    let image = |arn: String| {
        let sdk = &sdk;
        async move {
            sdk.describe_task_definition(&arn)
                .await
                .expect("d")
                .expect("td")
                .1
                .container_definitions[0]
                .image
                .clone()
        }
    };
    assert_eq!(
        image(healed.task_definition.clone()).await,
        image(web.task_definition.clone()).await
    );
    let (_, _, after) = plan(&platform, &desired).await;
    assert!(after.is_empty(), "{:?}", after.changes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unowned_services_are_never_touched_and_prune_removes_only_owned_dropped_services() {
    let moto = Moto::start().await;
    let platform = moto.platform(&moto.endpoint()).await;
    let sdk = moto.sdk(&moto.endpoint()).await;
    let dir = tempfile::tempdir().expect("tmp");

    // A service someone else runs in the same cluster, with the name of one of ours.
    let theirs = sdk
        .ecs_client()
        .register_task_definition()
        .family("legacy")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("app")
                .image("busybox:latest")
                .memory(128)
                .build(),
        )
        .send()
        .await
        .expect("register");
    let theirs_arn = theirs
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .expect("arn")
        .to_owned();
    sdk.ecs_client()
        .create_service()
        .cluster(CLUSTER)
        .service_name("legacy")
        .task_definition(&theirs_arn)
        .desired_count(2)
        .send()
        .await
        .expect("create theirs");

    let mut stack = Stack::new(
        &moto.subnet,
        &moto.security_group,
        &["api", "legacy", "web"],
    );
    reconcile(&platform, &stack.load(dir.path())).await;
    moto.push_image("web-app", "v1").await;
    let (applied, results) = reconcile(&platform, &stack.load(dir.path())).await;
    assert!(
        applied
            .conflicts
            .iter()
            .any(|c| c.key.name == "legacy" && c.reason.contains("not managed by Ferry"))
    );
    assert!(
        !describe(&applied).iter().any(|c| c.ends_with("/legacy")),
        "{:?}",
        describe(&applied)
    );
    all_synced(&results);
    let legacy = live_service(&sdk, "legacy").await;
    assert_eq!(
        (legacy.desired_count, legacy.task_definition.as_str()),
        (2, theirs_arn.as_str())
    );
    assert!(legacy.tags.is_empty(), "{:?}", legacy.tags);

    // `api` leaves the manifests: it is pruned; `legacy` (not ours) stays.
    stack.services.retain(|s| s.name != "api");
    let (pruned, results) = reconcile(&platform, &stack.load(dir.path())).await;
    assert_eq!(describe(&pruned), ["prune EcsService/api"]);
    all_synced(&results);
    let names: Vec<String> = sdk
        .describe_services(CLUSTER, &["api".into(), "legacy".into(), "web".into()])
        .await
        .expect("describe")
        .into_iter()
        .filter(|s| s.is_active())
        .map(|s| s.service_name)
        .collect();
    assert_eq!(names, ["legacy", "web"]);

    // An empty desired set (a broken checkout) prunes nothing.
    stack.services.clear();
    let desired = stack.load(dir.path());
    let (_, _, empty) = plan(&platform, &desired).await;
    assert!(
        !empty.changes.iter().any(|c| c.op == Op::Prune),
        "{:?}",
        describe(&empty)
    );
    assert_eq!(empty.prune_skipped, ["web"]);

    // Adoption takes over `legacy` only when annotated.
    let mut adopt = Svc::new("legacy");
    adopt.annotations = vec![("ferry.dev/adopt".into(), "true".into())];
    stack.services = vec![Svc::new("web"), adopt];
    let (adopted, results) = reconcile(&platform, &stack.load(dir.path())).await;
    assert!(
        adopted
            .changes
            .iter()
            .any(|c| c.key.name == "legacy" && c.key.kind == ResourceKind::EcsService)
    );
    all_synced(&results);
    let legacy = live_service(&sdk, "legacy").await;
    assert_eq!(legacy.tag("ferry.dev/managed-by"), Some("ferry"));
    assert_eq!(legacy.desired_count, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_tag_fails_its_service_with_a_clear_error_and_the_others_proceed() {
    let moto = Moto::start().await;
    let platform = moto.platform(&moto.endpoint()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut stack = Stack::new(&moto.subnet, &moto.security_group, &["jobs", "web"]);
    stack.extra_image_pins = vec![("jobs-app".into(), "missing-tag".into())];
    reconcile(&platform, &stack.load(dir.path())).await;
    moto.push_image("web-app", "v1").await;
    let (plan, results) = reconcile(&platform, &stack.load(dir.path())).await;
    let by_name = |kind: ResourceKind, name: &str| {
        let i = plan
            .changes
            .iter()
            .position(|c| c.key.kind == kind && c.key.name == name)
            .expect("change");
        results[i].clone()
    };
    let td = by_name(ResourceKind::TaskDefinition, "test-jobs");
    assert_eq!(td.code, ResultCode::Failed);
    assert!(
        td.message.contains("jobs-app:missing-tag not found in ECR"),
        "{}",
        td.message
    );
    let jobs = by_name(ResourceKind::EcsService, "jobs");
    assert_eq!(jobs.code, ResultCode::Skipped);
    assert!(jobs.message.contains("test-jobs"), "{}", jobs.message);
    assert_eq!(
        by_name(ResourceKind::EcsService, "web").code,
        ResultCode::Synced
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn apply_converges_through_throttling_errors_resets_delays_and_lost_answers() {
    let moto = Moto::start().await;
    let proxy = Proxy::start(&moto.endpoint()).await;
    let platform = moto.platform(&proxy.endpoint()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let stack = Stack::new(
        &moto.subnet,
        &moto.security_group,
        &["api", "web", "worker"],
    );
    let desired = stack.load(dir.path());
    reconcile(&platform, &desired).await;
    moto.push_image("web-app", "v1").await;

    proxy.set_faults(
        3,
        &[
            Fault::Throttle,
            Fault::ServerError,
            Fault::Reset,
            Fault::Delay,
            Fault::LostAnswer,
        ],
    );
    let mut converged = false;
    for _ in 0..5 {
        let (_, results) = reconcile(&platform, &desired).await;
        let (_, _, left) = plan(&platform, &desired).await;
        if left.is_empty() && results.iter().all(|r| r.code == ResultCode::Synced) {
            converged = true;
            break;
        }
    }
    proxy.set_faults(0, &[]);
    assert!(converged, "did not converge under faults");
    let injected = proxy.injected();
    for kind in ["Throttle", "ServerError", "Reset", "LostAnswer"] {
        assert!(
            injected.get(kind).copied().unwrap_or(0) > 0,
            "{kind} never injected: {injected:?}"
        );
    }
    let sdk = moto.sdk(&moto.endpoint()).await;
    for family in ["test-api", "test-web", "test-worker"] {
        let revisions = sdk.list_task_definitions(family).await.expect("list");
        assert_eq!(revisions.len(), 1, "{family}: {revisions:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_detect_mode_drift_is_reported_not_reverted_but_git_changes_still_apply() {
    let moto = Moto::start().await;
    let platform = moto.platform(&moto.endpoint()).await;
    let sdk = moto.sdk(&moto.endpoint()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut stack = Stack::new(&moto.subnet, &moto.security_group, &["web"]);
    stack.detect = true;
    reconcile(&platform, &stack.load(dir.path())).await;
    moto.push_image("web-app", "v1").await;
    let (_, results) = reconcile(&platform, &stack.load(dir.path())).await;
    all_synced(&results);

    sdk.ecs_client()
        .update_service()
        .cluster(CLUSTER)
        .service("web")
        .desired_count(3)
        .send()
        .await
        .expect("scale");
    let (drift, results) = reconcile(&platform, &stack.load(dir.path())).await;
    assert_eq!(describe(&drift), ["update EcsService/web"]);
    assert_eq!(results[0].code, ResultCode::Skipped, "{:?}", results[0]);
    assert!(
        results[0].message.contains("drift mode is detect"),
        "{}",
        results[0].message
    );
    assert_eq!(live_service(&sdk, "web").await.desired_count, 3);

    // A change in git is applied (and overrides the drifted field with git's value).
    stack.services[0].desired_count = 2;
    let (change, results) = reconcile(&platform, &stack.load(dir.path())).await;
    assert_eq!(describe(&change), ["update EcsService/web"]);
    all_synced(&results);
    assert_eq!(live_service(&sdk, "web").await.desired_count, 2);
    let (_, _, after) = plan(&platform, &stack.load(dir.path())).await;
    assert!(after.is_empty(), "{:?}", after.changes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cold_observe_trusts_the_task_definition_tag_and_still_catches_a_service_pointed_elsewhere()
 {
    let moto = Moto::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let stack = Stack::new(&moto.subnet, &moto.security_group, &["api", "web"]);
    let desired = stack.load(dir.path());
    moto.create_repository("web-app").await;
    moto.push_image("web-app", "v1").await;
    let (_, results) = reconcile(&moto.platform(&moto.endpoint()).await, &desired).await;
    assert!(
        results
            .iter()
            .all(|r| r.code == ResultCode::Synced || r.key.kind == ResourceKind::EcrRepository),
        "{results:?}"
    );
    let sdk = moto.sdk(&moto.endpoint()).await;
    let web = live_service(&sdk, "web").await;
    let tag = web
        .tag(ferry_ecs::TASK_DEFINITION_TAG)
        .expect("the service records its task definition")
        .to_owned();
    let revision = web.task_definition.rsplit(':').next().expect("revision");
    assert!(tag.starts_with(&format!("{revision}.")), "{tag}");

    // A fresh process (no cache): nothing to do, and no DescribeTaskDefinition at all.
    let proxy = Proxy::start(&moto.endpoint()).await;
    let cold = moto.platform(&proxy.endpoint()).await;
    let (_, _, converged) = plan(&cold, &desired).await;
    assert!(converged.is_empty(), "{:?}", describe(&converged));
    assert_eq!(proxy.counts().get("ecs:DescribeTaskDefinition"), None);

    // Someone points `web` at a hand-made revision: a fresh process describes that one only
    // and shows the drift, as without the tag.
    let hand_made = sdk
        .ecs_client()
        .register_task_definition()
        .family("test-web")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("app")
                .image("busybox:latest")
                .memory(128)
                .build(),
        )
        .send()
        .await
        .expect("register");
    let hand_arn = hand_made
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .expect("arn")
        .to_owned();
    sdk.ecs_client()
        .update_service()
        .cluster(CLUSTER)
        .service("web")
        .task_definition(&hand_arn)
        .send()
        .await
        .expect("point elsewhere");
    let proxy = Proxy::start(&moto.endpoint()).await;
    let cold = moto.platform(&proxy.endpoint()).await;
    let (_, _, drift) = plan(&cold, &desired).await;
    assert_eq!(
        describe(&drift),
        ["update TaskDefinition/test-web", "update EcsService/web"]
    );
    assert_eq!(proxy.counts().get("ecs:DescribeTaskDefinition"), Some(&1));
}
