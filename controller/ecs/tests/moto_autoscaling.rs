//! Service autoscaling through the real AWS SDK against moto's Application Auto Scaling, with
//! the counting proxy in front of it: targets and policies created from nothing, converged
//! reconciles that write nothing, one call per policy change, deregistration, and a
//! `desiredCount` that belongs to the autoscaler.

mod support;

use std::collections::BTreeMap;

use ferry_core::plan::{Op, ResourceKind};
use ferry_core::platform::ResultCode;
use ferry_ecs::{AutoscalingApi, SdkApi};
use support::{CLUSTER, Moto, Proxy, Stack, describe, live_service, plan, reconcile};

const POLICIES: &str = "{ minCapacity: 1, maxCapacity: 5, targetTracking: [{ metric: cpu, target: 70, scaleOutCooldown: 60 }, { metric: memory, target: 80 }], scheduled: [{ name: night, schedule: \"cron(0 20 * * ? *)\", timezone: Europe/Berlin, maxCapacity: 2 }] }";

fn all_synced(results: &[ferry_core::platform::ResourceResult]) {
    for r in results {
        assert_eq!(r.code, ResultCode::Synced, "{r:?}");
    }
}

/// The target of `web` as moto has it, with its policies and actions.
async fn target(sdk: &SdkApi) -> Option<ferry_core::autoscaling::LiveScalableTarget> {
    let id = format!("service/{CLUSTER}/web");
    let mut t = sdk
        .describe_scalable_targets(std::slice::from_ref(&id))
        .await
        .expect("describe targets")
        .into_iter()
        .next()?;
    t.policies = sdk
        .describe_scaling_policies(None)
        .await
        .expect("policies")
        .0
        .into_iter()
        .filter(|p| p.resource_id == id)
        .collect();
    t.scheduled_actions = sdk
        .describe_scheduled_actions(None)
        .await
        .expect("actions")
        .0
        .into_iter()
        .filter(|a| a.resource_id == id)
        .collect();
    Some(t)
}

fn only(counts: BTreeMap<String, u64>, prefix: &str) -> BTreeMap<String, u64> {
    counts
        .into_iter()
        .filter(|(k, _)| k.starts_with(prefix))
        .collect()
}

/// A stack whose `web` scales, converged (image pushed, everything applied).
async fn converged(moto: &Moto, proxy: &Proxy, dir: &std::path::Path) -> Stack {
    let platform = moto.platform(&proxy.endpoint()).await;
    let mut stack = Stack::new(&moto.subnet, &moto.security_group, &["web", "jobs"]);
    stack.services[0].autoscaling = Some(POLICIES.into());
    reconcile(&platform, &stack.load(dir)).await;
    moto.push_image("web-app", "v1").await;
    let (_, results) = reconcile(&platform, &stack.load(dir)).await;
    all_synced(&results);
    stack
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scalable_target_and_policies_are_created_from_nothing_then_a_second_apply_writes_nothing()
{
    let moto = Moto::start().await;
    let proxy = Proxy::start(&moto.endpoint()).await;
    let platform = moto.platform(&proxy.endpoint()).await;
    let sdk = moto.sdk(&moto.endpoint()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut stack = Stack::new(&moto.subnet, &moto.security_group, &["web", "jobs"]);
    stack.services[0].autoscaling = Some(POLICIES.into());
    stack.services[0].desired_count = 0;
    let desired = stack.load(dir.path());
    // The image is not pushed yet: the service is skipped, and so is its scalable target.
    let (_, results) = reconcile(&platform, &desired).await;
    let skipped = results
        .iter()
        .find(|r| r.key.kind == ResourceKind::ScalableTarget)
        .expect("a target change");
    assert_eq!(skipped.code, ResultCode::Skipped, "{skipped:?}");
    moto.push_image("web-app", "v1").await;
    proxy.reset_counts();

    let (first, results) = reconcile(&platform, &desired).await;
    assert!(
        describe(&first).contains(&"create ScalableTarget/web".to_owned()),
        "{:?}",
        describe(&first)
    );
    // Only the scaling service has a target; it comes after the services.
    assert_eq!(
        describe(&first).last().map(String::as_str),
        Some("create ScalableTarget/web")
    );
    all_synced(&results);
    let counts = proxy.counts();
    assert_eq!(
        only(proxy.writes(), "autoscaling:"),
        BTreeMap::from([
            ("autoscaling:PutScalingPolicy".to_owned(), 2),
            ("autoscaling:PutScheduledAction".to_owned(), 1),
            ("autoscaling:RegisterScalableTarget".to_owned(), 1),
        ]),
        "{counts:?}"
    );

    let live = target(&sdk).await.expect("the target exists");
    assert_eq!((live.min_capacity, live.max_capacity), (1, 5));
    let mut names: Vec<&str> = live
        .policies
        .iter()
        .map(|p| p.policy_name.as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["cpu", "memory"]);
    let cpu = live
        .policies
        .iter()
        .find(|p| p.policy_name == "cpu")
        .and_then(|p| p.target_tracking_scaling_policy_configuration.clone())
        .expect("cpu policy");
    assert_eq!(cpu.target_value, 70.0);
    assert_eq!(cpu.scale_out_cooldown, Some(60));
    assert_eq!(
        cpu.predefined_metric_specification.predefined_metric_type,
        "ECSServiceAverageCPUUtilization"
    );
    assert_eq!(live.scheduled_actions.len(), 1);
    assert_eq!(live.scheduled_actions[0].schedule, "cron(0 20 * * ? *)");
    assert_eq!(
        live.scheduled_actions[0].timezone.as_deref(),
        Some("Europe/Berlin")
    );
    // desiredCount 0 is only the initial count, kept within the autoscaling bounds.
    let web = live_service(&sdk, "web").await;
    assert_eq!(web.desired_count, 1);
    assert_eq!(web.tag("ferry.dev/autoscaling"), Some("on"));
    assert_eq!(
        live_service(&sdk, "jobs")
            .await
            .tag("ferry.dev/autoscaling"),
        None
    );

    // Converged: no plan; a reconcile writes nothing and reads the autoscaling state in one
    // call of each kind (batched across services).
    let (_, _, again) = plan(&platform, &desired).await;
    assert!(again.is_empty(), "{:?}", again.changes);
    proxy.reset_counts();
    platform.calls().reset();
    let (third, results) = reconcile(&platform, &desired).await;
    assert!(
        third.is_empty() && results.is_empty(),
        "{:?}",
        third.changes
    );
    assert_eq!(proxy.writes(), BTreeMap::new(), "{:?}", proxy.counts());
    assert_eq!(platform.calls().writes(), 0);
    assert_eq!(
        only(proxy.counts(), "autoscaling:"),
        BTreeMap::from([
            ("autoscaling:DescribeScalableTargets".to_owned(), 1),
            ("autoscaling:DescribeScalingPolicies".to_owned(), 1),
            ("autoscaling:DescribeScheduledActions".to_owned(), 1),
        ])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_policy_change_is_exactly_one_put_scaling_policy() {
    let moto = Moto::start().await;
    let proxy = Proxy::start(&moto.endpoint()).await;
    let platform = moto.platform(&proxy.endpoint()).await;
    let sdk = moto.sdk(&moto.endpoint()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut stack = converged(&moto, &proxy, dir.path()).await;

    stack.services[0].autoscaling = Some(POLICIES.replace("target: 70", "target: 55"));
    let desired = stack.load(dir.path());
    proxy.reset_counts();
    let (change, results) = reconcile(&platform, &desired).await;
    assert_eq!(describe(&change), ["update ScalableTarget/web"]);
    let fields: Vec<(&str, Option<String>, Option<String>)> = change.changes[0]
        .fields
        .iter()
        .map(|f| {
            (
                f.path.as_str(),
                f.desired.as_ref().map(ToString::to_string),
                f.live.as_ref().map(ToString::to_string),
            )
        })
        .collect();
    assert_eq!(
        fields,
        [(
            "policies.cpu.targetValue",
            Some("55.0".to_owned()),
            Some("70.0".to_owned())
        )]
    );
    all_synced(&results);
    assert_eq!(
        proxy.writes(),
        BTreeMap::from([("autoscaling:PutScalingPolicy".to_owned(), 1)]),
        "{:?}",
        proxy.counts()
    );
    let cpu = target(&sdk)
        .await
        .expect("target")
        .policies
        .into_iter()
        .find(|p| p.policy_name == "cpu")
        .and_then(|p| p.target_tracking_scaling_policy_configuration)
        .expect("cpu");
    assert_eq!(cpu.target_value, 55.0);

    // Bounds and a dropped scheduled action: one register, one delete.
    stack.services[0].autoscaling = Some(
        "{ minCapacity: 2, maxCapacity: 6, targetTracking: [{ metric: cpu, target: 55, scaleOutCooldown: 60 }, { metric: memory, target: 80 }] }".into(),
    );
    let desired = stack.load(dir.path());
    proxy.reset_counts();
    let (change, results) = reconcile(&platform, &desired).await;
    assert_eq!(describe(&change), ["update ScalableTarget/web"]);
    all_synced(&results);
    assert_eq!(
        proxy.writes(),
        BTreeMap::from([
            ("autoscaling:DeleteScheduledAction".to_owned(), 1),
            ("autoscaling:RegisterScalableTarget".to_owned(), 1),
        ]),
        "{:?}",
        proxy.counts()
    );
    let live = target(&sdk).await.expect("target");
    assert_eq!((live.min_capacity, live.max_capacity), (2, 6));
    assert!(live.scheduled_actions.is_empty());
    let (_, _, after) = plan(&platform, &desired).await;
    assert!(after.is_empty(), "{:?}", after.changes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removing_autoscaling_deregisters_the_target_and_a_hand_made_one_is_left_alone() {
    let moto = Moto::start().await;
    let proxy = Proxy::start(&moto.endpoint()).await;
    let platform = moto.platform(&proxy.endpoint()).await;
    let sdk = moto.sdk(&moto.endpoint()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut stack = converged(&moto, &proxy, dir.path()).await;

    stack.services[0].autoscaling = None;
    let desired = stack.load(dir.path());
    let (change, results) = reconcile(&platform, &desired).await;
    assert_eq!(describe(&change), ["prune ScalableTarget/web"]);
    all_synced(&results);
    assert!(target(&sdk).await.is_none(), "the target is deregistered");
    assert_eq!(
        live_service(&sdk, "web").await.tag("ferry.dev/autoscaling"),
        Some("off")
    );
    let (_, _, after) = plan(&platform, &desired).await;
    assert!(after.is_empty(), "{:?}", after.changes);

    // Someone scales `web` by hand: the manifest declares no autoscaling, so Ferry leaves
    // that target alone.
    let id = format!("service/{CLUSTER}/web");
    let hand = ferry_core::autoscaling::RegisterScalableTarget {
        service_namespace: "ecs".into(),
        resource_id: id,
        scalable_dimension: "ecs:service:DesiredCount".into(),
        min_capacity: 1,
        max_capacity: 3,
        tags: BTreeMap::new(),
    };
    sdk.register_scalable_target(&hand).await.expect("register");
    let (_, _, after) = plan(&platform, &desired).await;
    assert!(after.is_empty(), "{:?}", after.changes);
    assert!(target(&sdk).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pruned_service_takes_its_scalable_target_with_it() {
    let moto = Moto::start().await;
    let proxy = Proxy::start(&moto.endpoint()).await;
    let platform = moto.platform(&proxy.endpoint()).await;
    let sdk = moto.sdk(&moto.endpoint()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut stack = converged(&moto, &proxy, dir.path()).await;

    stack.services.remove(0);
    let (change, results) = reconcile(&platform, &stack.load(dir.path())).await;
    assert_eq!(
        describe(&change),
        ["prune ScalableTarget/web", "prune EcsService/web"]
    );
    all_synced(&results);
    assert!(target(&sdk).await.is_none());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desired_count_set_by_the_autoscaler_is_not_drift_and_not_reverted_even_across_a_git_change()
 {
    let moto = Moto::start().await;
    let proxy = Proxy::start(&moto.endpoint()).await;
    let platform = moto.platform(&proxy.endpoint()).await;
    let sdk = moto.sdk(&moto.endpoint()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut stack = converged(&moto, &proxy, dir.path()).await;
    assert!(!stack.detect, "heal mode");

    // "The autoscaler" scales out, and someone scales the non-autoscaled service too.
    for (name, count) in [("web", 4), ("jobs", 3)] {
        sdk.ecs_client()
            .update_service()
            .cluster(CLUSTER)
            .service(name)
            .desired_count(count)
            .send()
            .await
            .expect("scale");
    }
    proxy.reset_counts();
    let (drift, results) = reconcile(&platform, &stack.load(dir.path())).await;
    // Only the service without autoscaling is healed.
    assert_eq!(describe(&drift), ["update EcsService/jobs"]);
    all_synced(&results);
    assert_eq!(live_service(&sdk, "web").await.desired_count, 4);
    assert_eq!(live_service(&sdk, "jobs").await.desired_count, 1);

    // A git change (new image, new desiredCount) rolls out without touching the count.
    moto.push_image("web-app", "v2").await;
    stack.tag = "v2".into();
    stack.services[0].desired_count = 2;
    let desired = stack.load(dir.path());
    let (_, _, change) = plan(&platform, &desired).await;
    let web = change
        .changes
        .iter()
        .find(|c| c.key.kind == ResourceKind::EcsService && c.key.name == "web")
        .expect("web changes");
    assert_eq!(web.op, Op::Update);
    assert!(
        web.fields.iter().all(|f| f.path != "desiredCount"),
        "{:?}",
        web.fields
    );
    let (_, results) = reconcile(&platform, &desired).await;
    all_synced(&results);
    let web = live_service(&sdk, "web").await;
    assert_eq!(web.desired_count, 4);
    assert!(
        web.task_definition.ends_with("test-web:2"),
        "{}",
        web.task_definition
    );
    let (_, _, after) = plan(&platform, &desired).await;
    assert!(after.is_empty(), "{:?}", after.changes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_detect_mode_scalable_target_drift_is_reported_not_reverted_but_git_changes_apply() {
    let moto = Moto::start().await;
    let proxy = Proxy::start(&moto.endpoint()).await;
    let platform = moto.platform(&proxy.endpoint()).await;
    let sdk = moto.sdk(&moto.endpoint()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut stack = Stack::new(&moto.subnet, &moto.security_group, &["web"]);
    stack.detect = true;
    stack.services[0].autoscaling = Some(POLICIES.into());
    reconcile(&platform, &stack.load(dir.path())).await;
    moto.push_image("web-app", "v1").await;
    let (_, results) = reconcile(&platform, &stack.load(dir.path())).await;
    all_synced(&results);

    // Someone raises the floor by hand.
    let mut by_hand = target(&sdk).await.expect("target");
    by_hand.min_capacity = 3;
    sdk.register_scalable_target(&ferry_core::autoscaling::RegisterScalableTarget {
        service_namespace: "ecs".into(),
        resource_id: by_hand.resource_id.clone(),
        scalable_dimension: "ecs:service:DesiredCount".into(),
        min_capacity: 3,
        max_capacity: 5,
        tags: BTreeMap::new(),
    })
    .await
    .expect("register");
    proxy.reset_counts();
    let (drift, results) = reconcile(&platform, &stack.load(dir.path())).await;
    assert_eq!(describe(&drift), ["update ScalableTarget/web"]);
    assert_eq!(results[0].code, ResultCode::Skipped, "{:?}", results[0]);
    assert!(
        results[0].message.contains("drift mode is detect"),
        "{}",
        results[0].message
    );
    assert_eq!(proxy.writes(), BTreeMap::new());
    assert_eq!(target(&sdk).await.expect("target").min_capacity, 3);

    // A change in git is applied, and puts git's floor back with it.
    stack.services[0].autoscaling = Some(POLICIES.replace("target: 70", "target: 60"));
    let desired = stack.load(dir.path());
    let (change, results) = reconcile(&platform, &desired).await;
    assert_eq!(
        describe(&change),
        ["update EcsService/web", "update ScalableTarget/web"]
    );
    all_synced(&results);
    let live = target(&sdk).await.expect("target");
    assert_eq!(live.min_capacity, 1);
    let (_, _, after) = plan(&platform, &desired).await;
    assert!(after.is_empty(), "{:?}", after.changes);
}
