//! Blue/green, canary and linear deployments, which moto does not implement, against the
//! in-process fake's model of ECS's service deployments (lifecycle stages, traffic weights,
//! bake, pause hooks, rollback): followed phase by phase, promoted, aborted, and a rollback
//! never reported as a success.

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ferry_core::plan::ResourceKind;
use ferry_core::platform::{
    ApplyOptions, DeploymentAction, HealthCode, Platform, ResourceHealth, ResultCode, Rollout,
};
use ferry_ecs::fake::{FakeEcs, Rollout as Scripted};
use ferry_ecs::{EcsOptions, EcsPlatform};
use support::{CLUSTER, Stack, Svc, plan, reconcile, reconcile_with};

const TG: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-a/0123456789abcdef";
const TG_ALT: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web-b/fedcba9876543210";
const RULE: &str = "arn:aws:elasticloadbalancing:us-east-1:123456789012:listener-rule/app/web/50dc6c495c0c9188/f2f7dc8efc522ab2/9683b2d02a6cabee";
const ROLE: &str = "arn:aws:iam::123456789012:role/ecs-infrastructure";

fn web(deployment: &str) -> Svc {
    let mut s = Svc::new("web");
    s.desired_count = 2;
    s.spec_extra = format!(
        "  loadBalancers:\n    - {{ targetGroupArn: \"{TG}\", containerName: app, containerPort: 8080, alternateTargetGroupArn: \"{TG_ALT}\", productionListenerRule: \"{RULE}\", roleArn: \"{ROLE}\" }}\n"
    );
    s.deployment = Some(deployment.into());
    s
}

/// The fake with `web` created from image `v1` (its first deployment walked to the end).
async fn deployed(
    dir: &std::path::Path,
    deployment: &str,
) -> (EcsPlatform<FakeEcs>, Stack, Arc<Mutex<Vec<String>>>) {
    let lines = Arc::new(Mutex::new(Vec::new()));
    let seen = lines.clone();
    let fake = FakeEcs::new(&[CLUSTER], 1);
    fake.set_polls_per_minute(2);
    let platform = EcsPlatform::new(fake, support::fast_options()).with_progress(Arc::new(
        move |line: &str| {
            seen.lock().expect("lines").push(line.to_owned());
        },
    ));
    let mut stack = Stack::new("subnet-1", "sg-1", &[]);
    stack.services = vec![web(deployment)];
    reconcile(&platform, &stack.load(dir)).await;
    platform
        .api()
        .push_image("web-app", "v1", &format!("sha256:{:064x}", 1));
    let (_, results) = reconcile_with(&platform, &stack.load(dir), &wait()).await;
    assert!(
        results.iter().all(|r| r.code == ResultCode::Synced),
        "{results:?}"
    );
    (platform, stack, lines)
}

fn wait() -> ApplyOptions {
    ApplyOptions {
        wait: true,
        timeout: Duration::from_secs(20),
    }
}

/// Push `tag` and apply without waiting: the rollout to follow.
async fn start(
    platform: &EcsPlatform<FakeEcs>,
    stack: &mut Stack,
    dir: &std::path::Path,
    tag: &str,
    n: u64,
) -> (ferry_core::DesiredState, Rollout) {
    platform
        .api()
        .push_image("web-app", tag, &format!("sha256:{n:064x}"));
    stack.tag = tag.into();
    let desired = stack.load(dir);
    let (_, results) = reconcile(platform, &desired).await;
    let rollout = results
        .iter()
        .find_map(|r| r.rollout.clone())
        .expect("a rollout to follow");
    (desired, rollout)
}

/// Poll until `until` holds (at most 200 polls).
async fn follow_until(
    platform: &EcsPlatform<FakeEcs>,
    desired: &ferry_core::DesiredState,
    rollout: &Rollout,
    until: impl Fn(&ResourceHealth) -> bool,
) -> (ResourceHealth, Vec<ResourceHealth>) {
    let mut all = Vec::new();
    for _ in 0..200 {
        let h = platform
            .follow(desired, std::slice::from_ref(rollout))
            .await
            .expect("follow")
            .remove("web")
            .expect("web");
        all.push(h.clone());
        if until(&h) {
            return (h, all);
        }
    }
    panic!("never reached; last: {:?}", all.last());
}

#[tokio::test]
async fn a_canary_is_followed_phase_by_phase_to_healthy_and_then_nothing_drifts() {
    let dir = tempfile::tempdir().expect("tmp");
    let deployment = "{ strategy: canary, canary: { percent: 10, bake: 2m }, bakeTime: 1m }";
    let (platform, mut stack, _) = deployed(dir.path(), deployment).await;
    let primary = |p: &EcsPlatform<FakeEcs>| {
        p.api().service("web").expect("web").load_balancers[0]
            .target_group_arn
            .clone()
    };
    let before = primary(&platform);
    let (desired, rollout) = start(&platform, &mut stack, dir.path(), "v2", 2).await;
    let (end, all) = follow_until(&platform, &desired, &rollout, |h| {
        h.code != HealthCode::Progressing
    })
    .await;
    assert_eq!(end.code, HealthCode::Healthy, "{end:?}");
    let canary: Vec<&ResourceHealth> = all
        .iter()
        .filter(|h| {
            h.progress.as_ref().is_some_and(|p| {
                p.stage.as_deref() == Some("PRODUCTION_TRAFFIC_SHIFT")
                    && p.traffic_percent == Some(10.0)
            })
        })
        .collect();
    assert!(
        canary.len() >= 2,
        "the canary bakes at 10% for 2 polls a minute x 2 minutes: {all:#?}"
    );
    let first = canary[0];
    assert_eq!(
        first.progress.as_ref().map(|p| p.strategy.as_str()),
        Some("CANARY")
    );
    assert!(
        first.progress.as_ref().and_then(|p| p.bake_left_seconds) > Some(60),
        "bake left is counted down from 2 minutes: {first:?}"
    );
    assert!(
        first
            .message
            .contains("canary deployment production traffic shift: 10% of production traffic"),
        "{}",
        first.message
    );
    assert!(
        all.iter().any(|h| h
            .progress
            .as_ref()
            .is_some_and(|p| p.stage.as_deref() == Some("BAKE_TIME"))),
        "the bake after the full shift is followed too"
    );
    // ECS swapped the target groups' roles: that is no drift, and a later update keeps them.
    let after = primary(&platform);
    assert_ne!(after, before, "green became production");
    assert!([TG, TG_ALT].contains(&after.as_str()));
    let (_, _, after) = plan(&platform, &desired).await;
    assert!(after.is_empty(), "{:?}", after.changes);
}

#[tokio::test]
async fn a_waited_linear_apply_is_synced_once_every_step_is_done() {
    let dir = tempfile::tempdir().expect("tmp");
    let deployment = "{ strategy: linear, linear: { stepPercent: 25, stepBake: 1m } }";
    let (platform, mut stack, lines) = deployed(dir.path(), deployment).await;
    platform
        .api()
        .push_image("web-app", "v2", &format!("sha256:{:064x}", 2));
    stack.tag = "v2".into();
    let (_, results) = reconcile_with(&platform, &stack.load(dir.path()), &wait()).await;
    let web = results
        .iter()
        .find(|r| r.key.kind == ResourceKind::EcsService)
        .expect("web");
    assert_eq!(web.code, ResultCode::Synced, "{web:?}");
    let lines = lines.lock().expect("lines").join("\n");
    for step in ["25%", "50%", "75%"] {
        assert!(
            lines.contains(&format!("{step} of production traffic")),
            "step {step} is reported: {lines}"
        );
    }
}

#[tokio::test]
async fn a_paused_blue_green_waits_for_promote_then_completes() {
    let dir = tempfile::tempdir().expect("tmp");
    let (platform, mut stack, _) =
        deployed(dir.path(), "{ strategy: blueGreen, bakeTime: 1m }").await;
    stack.services = vec![web(
        "{ strategy: blueGreen, bakeTime: 1m, pause: beforeTraffic }",
    )];
    let (desired, rollout) = start(&platform, &mut stack, dir.path(), "v2", 2).await;
    let (paused, _) = follow_until(&platform, &desired, &rollout, |h| {
        h.progress.as_ref().is_some_and(|p| p.awaiting_promote)
    })
    .await;
    assert_eq!(paused.code, HealthCode::Progressing);
    assert_eq!(
        paused.progress.as_ref().and_then(|p| p.traffic_percent),
        Some(0.0),
        "no production traffic before the promote"
    );
    assert!(
        paused.message.contains("ferry promote web"),
        "{}",
        paused.message
    );
    // Held: more polls do not move it.
    let (still, _) = follow_until(&platform, &desired, &rollout, |_| true).await;
    assert!(still.progress.as_ref().is_some_and(|p| p.awaiting_promote));
    let said = platform
        .deployment_action(&desired, "web", DeploymentAction::Promote)
        .await
        .expect("promote");
    assert!(said.contains("promoted `web`"), "{said}");
    let (end, _) = follow_until(&platform, &desired, &rollout, |h| {
        h.code != HealthCode::Progressing
    })
    .await;
    assert_eq!(end.code, HealthCode::Healthy, "{end:?}");
    // Nothing left to promote.
    let again = platform
        .deployment_action(&desired, "web", DeploymentAction::Promote)
        .await
        .expect_err("nothing in progress");
    assert!(
        again
            .message
            .contains("no blue/green, canary or linear deployment in progress")
    );
}

#[tokio::test]
async fn an_aborted_deployment_rolls_back_and_is_not_a_success() {
    let dir = tempfile::tempdir().expect("tmp");
    let deployment = "{ strategy: canary, canary: { percent: 10, bake: 5m } }";
    let (platform, mut stack, _) = deployed(dir.path(), deployment).await;
    let before = platform.api().service("web").expect("web").task_definition;
    let (desired, rollout) = start(&platform, &mut stack, dir.path(), "v2", 2).await;
    follow_until(&platform, &desired, &rollout, |h| {
        h.progress
            .as_ref()
            .is_some_and(|p| p.traffic_percent == Some(10.0))
    })
    .await;
    let said = platform
        .deployment_action(&desired, "web", DeploymentAction::Abort)
        .await
        .expect("abort");
    assert!(said.contains("rolls back"), "{said}");
    let (end, _) = follow_until(&platform, &desired, &rollout, |h| {
        h.code != HealthCode::Progressing
    })
    .await;
    assert_eq!(end.code, HealthCode::Degraded, "{end:?}");
    assert_eq!(
        ferry_core::platform::RolloutOutcome::judge(&rollout, &end),
        Some(ferry_core::platform::RolloutOutcome::RolledBack)
    );
    assert_eq!(
        platform.api().service("web").expect("web").task_definition,
        before,
        "the old revision runs again"
    );
}

#[tokio::test]
async fn an_alarm_rollback_by_ecs_is_reported_rolled_back() {
    let dir = tempfile::tempdir().expect("tmp");
    let deployment = "{ strategy: blueGreen, alarms: { names: [web-5xx] } }";
    let (platform, mut stack, _) = deployed(dir.path(), deployment).await;
    platform.api().set_rollout(
        "web",
        Scripted::Rollback("CloudWatch alarm web-5xx is in ALARM".into()),
    );
    let (desired, rollout) = start(&platform, &mut stack, dir.path(), "v2", 2).await;
    let (end, _) = follow_until(&platform, &desired, &rollout, |h| {
        h.code != HealthCode::Progressing
    })
    .await;
    assert_eq!(end.code, HealthCode::Degraded, "{end:?}");
    assert!(end.message.contains("web-5xx"), "{}", end.message);
    assert_eq!(
        ferry_core::platform::RolloutOutcome::judge(&rollout, &end),
        Some(ferry_core::platform::RolloutOutcome::RolledBack)
    );
}

#[tokio::test]
async fn strategy_settings_render_and_a_second_apply_writes_nothing() {
    let dir = tempfile::tempdir().expect("tmp");
    let deployment = "{ strategy: linear, linear: { stepPercent: 20, stepBake: 3m }, bakeTime: 10m, alarms: { names: [a, b] }, pause: afterTraffic }";
    let platform = EcsPlatform::new(FakeEcs::new(&[CLUSTER], 1), EcsOptions::default());
    let mut stack = Stack::new("subnet-1", "sg-1", &[]);
    stack.services = vec![web(deployment)];
    reconcile(&platform, &stack.load(dir.path())).await;
    platform
        .api()
        .push_image("web-app", "v1", &format!("sha256:{:064x}", 1));
    reconcile(&platform, &stack.load(dir.path())).await;
    let live = platform.api().service("web").expect("web");
    let conf = live
        .deployment_configuration
        .expect("configuration")
        .strategy;
    assert_eq!(conf.strategy.as_deref(), Some("LINEAR"));
    assert_eq!(conf.bake_time_in_minutes, Some(10));
    let linear = conf.linear_configuration.expect("linear");
    assert_eq!(
        (linear.step_percent, linear.step_bake_time_in_minutes),
        (20.0, 3)
    );
    assert_eq!(conf.alarms.expect("alarms").alarm_names, ["a", "b"]);
    assert_eq!(conf.lifecycle_hooks[0].target_type, "PAUSE");
    assert_eq!(
        conf.lifecycle_hooks[0].lifecycle_stages,
        ["POST_PRODUCTION_TRAFFIC_SHIFT"]
    );
    let advanced = live.load_balancers[0]
        .advanced_configuration
        .clone()
        .expect("advanced configuration");
    assert_eq!(advanced.alternate_target_group_arn, TG_ALT);
    assert_eq!(advanced.role_arn, ROLE);
    let (_, _, again) = plan(&platform, &stack.load(dir.path())).await;
    assert!(again.is_empty(), "{:?}", again.changes);
    // Back to rolling: the strategy is drift to heal.
    stack.services = vec![web("{ strategy: rolling }")];
    let (_, _, back) = plan(&platform, &stack.load(dir.path())).await;
    assert!(
        back.changes
            .iter()
            .any(|c| c.fields.iter().any(|f| f.path.contains("strategy"))),
        "{:?}",
        back.changes
    );
}

const ANALYSIS: &str = "{ strategy: canary, canary: { percent: 10, bake: 5m }, analysis: { interval: 1s, loadBalancer: app/numbers/50dc6c495c0c9188, checks: [{ name: 5xx-ratio, ratio: { numerator: { metricName: HTTPCode_Target_5XX_Count }, denominator: { metricName: RequestCount } }, max: 0.01 }, { name: p99-latency, metric: { metricName: TargetResponseTime, stat: p99 }, max: 0.5 }] } }";

/// The new version's metrics in the fake, on the green target group (the alternate one while
/// a deployment is in progress; the two swap roles after each).
fn green_metrics(platform: &EcsPlatform<FakeEcs>, errors: f64, requests: f64, p99: f64) {
    let live = platform.api().service("web").expect("web");
    let alternate = live.load_balancers[0]
        .advanced_configuration
        .as_ref()
        .expect("advanced configuration")
        .alternate_target_group_arn
        .clone();
    let green = alternate.split_once(":targetgroup/").map_or_else(
        || panic!("{alternate}"),
        |(_, rest)| format!("targetgroup/{rest}"),
    );
    let dims = [
        ("LoadBalancer", "app/numbers/50dc6c495c0c9188"),
        ("TargetGroup", green.as_str()),
    ];
    let fake = platform.api();
    fake.set_metric(
        "AWS/ApplicationELB",
        "HTTPCode_Target_5XX_Count",
        &dims,
        &[errors],
    );
    fake.set_metric("AWS/ApplicationELB", "RequestCount", &dims, &[requests]);
    fake.set_metric("AWS/ApplicationELB", "TargetResponseTime", &dims, &[p99]);
}

#[tokio::test]
async fn a_failed_analysis_stops_the_canary_with_a_rollback() {
    let dir = tempfile::tempdir().expect("tmp");
    let (platform, mut stack, _) = deployed(
        dir.path(),
        "{ strategy: canary, canary: { percent: 10, bake: 1m } }",
    )
    .await;
    let before = platform.api().service("web").expect("web").task_definition;
    platform.api().set_polls_per_minute(1000);
    green_metrics(&platform, 12.0, 100.0, 0.2);
    stack.services = vec![web(ANALYSIS)];
    let (desired, rollout) = start(&platform, &mut stack, dir.path(), "v2", 2).await;
    let mut end = None;
    for _ in 0..100 {
        let h = platform
            .follow(&desired, std::slice::from_ref(&rollout))
            .await
            .expect("follow")
            .remove("web")
            .expect("web");
        if h.code != HealthCode::Progressing {
            end = Some(h);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let end = end.expect("the analysis decided within 10 s");
    assert_eq!(end.code, HealthCode::Degraded, "{end:?}");
    assert_eq!(end.reason.as_deref(), Some("AnalysisFailed"));
    assert_eq!(
        ferry_core::platform::RolloutOutcome::judge(&rollout, &end),
        Some(ferry_core::platform::RolloutOutcome::AnalysisFailed)
    );
    assert!(
        end.message.contains("5xx-ratio = 0.12, above max 0.01"),
        "the metric, its value and the threshold: {}",
        end.message
    );
    assert_eq!(platform.calls().get("StopServiceDeployment"), 1);
    // ECS rolls back: the old revision runs again, with all traffic.
    let (back, _) = follow_until(&platform, &desired, &rollout, |h| {
        h.progress
            .as_ref()
            .is_some_and(|p| p.status == "ROLLBACK_SUCCESSFUL")
    })
    .await;
    assert_eq!(back.progress.and_then(|p| p.traffic_percent), Some(0.0));
    assert_eq!(
        platform.api().service("web").expect("web").task_definition,
        before
    );
}

#[tokio::test]
async fn a_healthy_canary_passes_its_analysis_and_completes() {
    let dir = tempfile::tempdir().expect("tmp");
    let (platform, mut stack, _) = deployed(
        dir.path(),
        "{ strategy: canary, canary: { percent: 10, bake: 1m } }",
    )
    .await;
    platform.api().set_polls_per_minute(15);
    green_metrics(&platform, 0.0, 1000.0, 0.12);
    stack.services = vec![web(ANALYSIS)];
    let (desired, rollout) = start(&platform, &mut stack, dir.path(), "v2", 2).await;
    let mut seen = Vec::new();
    let mut end = None;
    for _ in 0..300 {
        let h = platform
            .follow(&desired, std::slice::from_ref(&rollout))
            .await
            .expect("follow")
            .remove("web")
            .expect("web");
        seen.push(h.clone());
        if h.code != HealthCode::Progressing {
            end = Some(h);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let end = end.expect("the canary ended");
    assert_eq!(end.code, HealthCode::Healthy, "{end:?}");
    assert!(
        seen.iter().any(|h| h
            .progress
            .as_ref()
            .and_then(|p| p.analysis.as_deref())
            .is_some_and(|a| a.contains("5xx-ratio = 0") && a.contains("p99-latency = 0.12"))),
        "a measurement was taken and shown: {seen:#?}"
    );
    assert!(platform.calls().get("GetMetricData") >= 1);
    assert_eq!(platform.calls().get("StopServiceDeployment"), 0);
}
