//! `EcsService.spec.autoscaling` as a user meets it: every rule broken gives an error at the
//! line of the field; a valid block renders to the exact Application Auto Scaling inputs, with
//! the ALB resource label derived from the load balancer and target group ARNs; `desiredCount`
//! is not sent on UpdateService and never compared while autoscaling is declared.

use std::path::Path;

use ferry_core::diff::diff;
use ferry_core::live::ActualState;
use ferry_core::render::{Digests, render};
use ferry_core::{DesiredState, Op, ResourceKind, load_environment};

const ENV: &str = "apiVersion: ferry.dev/v1alpha1
kind: Environment
metadata:
  name: dev
spec:
  region: us-east-1
  cluster: c
  network: { subnets: [subnet-1] }
  resources: [../base]
";

const TG: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/numbers/6d0ecf831eec9f09";
const ALB: &str =
    "arn:aws:elasticloadbalancing:us-east-1:123456789012:loadbalancer/app/numbers/50dc6c495c0c9188";

fn service(autoscaling: &str) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1
kind: EcsService
metadata:
  name: web
spec:
  desiredCount: 9
  taskDefinition:
    cpu: 256
    memory: 512
    containers:
      - name: app
        image: nginx:1.27
        portMappings: [{{ containerPort: 80 }}]
  loadBalancers: [{{ targetGroupArn: \"{TG}\", containerName: app, containerPort: 80 }}]
  autoscaling:
{autoscaling}"
    )
}

fn write(autoscaling: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary folder");
    for (path, content) in [
        ("dev/environment.yaml", ENV.to_owned()),
        ("base/web.yaml", service(autoscaling)),
    ] {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, content).expect("write");
    }
    dir
}

fn errors(dir: &Path) -> Vec<String> {
    match load_environment(dir, "dev") {
        Ok(_) => Vec::new(),
        Err(d) => d.0.iter().map(ToString::to_string).collect(),
    }
}

fn load(dir: &Path) -> DesiredState {
    load_environment(dir, "dev").unwrap_or_else(|d| panic!("{d}"))
}

/// `(block, line of the offending field, words of the message)`: lines count from the
/// service file's first line; the block starts on line 16.
#[test]
fn every_broken_rule_is_reported_at_its_line() {
    let cases: &[(&str, usize, &str)] = &[
        (
            "    minCapacity: 6\n    maxCapacity: 5\n",
            16,
            "minCapacity 6 is above maxCapacity 5",
        ),
        (
            "    minCapacity: 0\n    maxCapacity: 0\n",
            17,
            "maxCapacity must be at least 1",
        ),
        (
            "    minCapacity: 1\n    maxCapacity: 5\n    targetTracking:\n      - metric: cpu\n        target: 150\n",
            20,
            "not a utilization percentage",
        ),
        (
            "    minCapacity: 1\n    maxCapacity: 5\n    targetTracking:\n      - metric: cpu\n        target: 50\n      - metric: cpu\n        target: 60\n",
            21,
            "policy name `cpu` is already used by targetTracking[0]",
        ),
        (
            "    minCapacity: 1\n    maxCapacity: 5\n    targetTracking:\n      - metric: albRequestsPerTarget\n        target: 100\n",
            19,
            "set loadBalancerArn",
        ),
        (
            "    minCapacity: 1\n    maxCapacity: 5\n    targetTracking:\n      - metric: memory\n        target: 50\n        loadBalancerArn: x\n",
            21,
            "only applies to metric albRequestsPerTarget",
        ),
        (
            "    minCapacity: 1\n    maxCapacity: 5\n    targetTracking:\n      - metric: cpu\n        target: 50\n        scaleInCooldown: 100000\n",
            21,
            "more than a day",
        ),
        (
            "    minCapacity: 1\n    maxCapacity: 5\n    scheduled:\n      - name: night\n        schedule: every night\n        maxCapacity: 2\n",
            20,
            "is not cron(...), rate(...) or at(...)",
        ),
        (
            "    minCapacity: 1\n    maxCapacity: 5\n    scheduled:\n      - name: night\n        schedule: cron(0 20 * * ?)\n        maxCapacity: 2\n",
            20,
            "cron() takes 6 fields",
        ),
        (
            "    minCapacity: 1\n    maxCapacity: 5\n    scheduled:\n      - name: a/b\n        schedule: rate(1 hour)\n        maxCapacity: 2\n",
            19,
            "without : / |",
        ),
        (
            "    minCapacity: 1\n    maxCapacity: 5\n    scheduled:\n      - name: n\n        schedule: rate(1 hour)\n",
            19,
            "sets minCapacity, maxCapacity or both",
        ),
        (
            "    minCapacity: 1\n    maxCapacity: 5\n    scheduled:\n      - name: n\n        schedule: rate(2 hours)\n        timezone: not a zone\n        minCapacity: 1\n",
            21,
            "not an IANA time zone",
        ),
        (
            "    minCapacity: 1\n    maxCapacity: 5\n    scheduled:\n      - name: n\n        schedule: rate(2 hours)\n        minCapacity: 4\n        maxCapacity: 3\n",
            21,
            "minCapacity 4 is above maxCapacity 3",
        ),
        (
            "    minCapacity: 1\n    maxCapacity: 5\n    scheduled:\n      - name: n\n        schedule: rate(2 hours)\n        maxCapacity: 2\n      - name: n\n        schedule: rate(3 hours)\n        maxCapacity: 2\n",
            22,
            "scheduled action name `n` is already used by scheduled[0]",
        ),
        (
            "    minCapacity: 1\n    maxCapacity: 5\n    targetTracking:\n      - metric: gpu\n        target: 5\n",
            19,
            "gpu",
        ),
        (
            "    minCapacity: 1\n    maxCapacity: 5\n    cooldown: 3\n",
            18,
            "cooldown",
        ),
    ];
    for (block, line, words) in cases {
        let dir = write(block);
        let errs = errors(dir.path());
        let prefix = format!("base/web.yaml:{line}:");
        assert!(
            errs.iter()
                .any(|e| e.starts_with(&prefix) && e.contains(words)),
            "block:\n{block}\nexpected an error at {prefix} containing `{words}`, got:\n{}",
            errs.join("\n")
        );
    }
}

#[test]
fn renders_application_auto_scaling_inputs_with_the_alb_label_and_no_update_count() {
    let dir = write(&format!(
        "    minCapacity: 2
    maxCapacity: 5
    targetTracking:
      - metric: cpu
        target: 70
        scaleInCooldown: 120
      - name: requests
        metric: albRequestsPerTarget
        target: 500
        loadBalancerArn: \"{ALB}\"
        disableScaleIn: true
    scheduled:
      - name: night
        schedule: cron(0 20 * * ? *)
        timezone: Europe/Berlin
        minCapacity: 1
        maxCapacity: 2
"
    ));
    let state = load(dir.path());
    let rendered = render(&state, &Digests::new());
    let web = &rendered.services[0];
    // desiredCount 9 is kept within 2..5 at creation, and never sent on UpdateService.
    assert_eq!(web.create_service.desired_count, Some(5));
    assert_eq!(web.update_service.desired_count, None);
    let update = serde_json::to_value(&web.update_service).expect("json");
    assert!(update.get("desiredCount").is_none(), "{update}");
    assert!(
        web.create_service
            .tags
            .iter()
            .any(|t| t.key == "ferry.dev/autoscaling" && t.value == "on")
    );
    let a = serde_json::to_value(web.autoscaling.as_ref().expect("autoscaling")).expect("json");
    assert_eq!(
        a,
        serde_json::json!({
            "registerScalableTarget": {
                "ServiceNamespace": "ecs", "ResourceId": "service/c/web",
                "ScalableDimension": "ecs:service:DesiredCount", "MinCapacity": 2, "MaxCapacity": 5,
                "Tags": {"ferry.dev/environment": "dev", "ferry.dev/managed-by": "ferry"}
            },
            "putScalingPolicies": [
                {"PolicyName": "cpu", "ServiceNamespace": "ecs", "ResourceId": "service/c/web",
                 "ScalableDimension": "ecs:service:DesiredCount", "PolicyType": "TargetTrackingScaling",
                 "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 70.0,
                    "PredefinedMetricSpecification": {"PredefinedMetricType": "ECSServiceAverageCPUUtilization"},
                    "ScaleInCooldown": 120}},
                {"PolicyName": "requests", "ServiceNamespace": "ecs", "ResourceId": "service/c/web",
                 "ScalableDimension": "ecs:service:DesiredCount", "PolicyType": "TargetTrackingScaling",
                 "TargetTrackingScalingPolicyConfiguration": {"TargetValue": 500.0,
                    "PredefinedMetricSpecification": {"PredefinedMetricType": "ALBRequestCountPerTarget",
                        "ResourceLabel": "app/numbers/50dc6c495c0c9188/targetgroup/numbers/6d0ecf831eec9f09"},
                    "DisableScaleIn": true}}
            ],
            "putScheduledActions": [
                {"ServiceNamespace": "ecs", "ScheduledActionName": "night", "ResourceId": "service/c/web",
                 "ScalableDimension": "ecs:service:DesiredCount", "Schedule": "cron(0 20 * * ? *)",
                 "Timezone": "Europe/Berlin", "ScalableTargetAction": {"MinCapacity": 1, "MaxCapacity": 2}}
            ]
        })
    );

    // Against nothing: the service and its target are created, target last.
    let plan = diff(&state, &rendered, &ActualState::default());
    let ops: Vec<(ResourceKind, Op)> = plan.changes.iter().map(|c| (c.key.kind, c.op)).collect();
    assert_eq!(
        ops,
        [
            (ResourceKind::TaskDefinition, Op::Create),
            (ResourceKind::EcsService, Op::Create),
            (ResourceKind::ScalableTarget, Op::Create)
        ]
    );
    let target_fields: Vec<&str> = plan.changes[2]
        .fields
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert!(
        target_fields.contains(&"policies.requests.resourceLabel"),
        "{target_fields:?}"
    );
    assert!(
        !plan.changes[1]
            .fields
            .iter()
            .any(|f| f.path == "desiredCount"),
        "desiredCount is the autoscaler's"
    );
}

#[test]
fn services_without_autoscaling_render_and_compare_desired_count_as_before() {
    let dir = tempfile::tempdir().expect("tmp");
    let svc = service("    minCapacity: 1\n    maxCapacity: 2\n");
    let without = svc.split("  autoscaling:").next().expect("head").to_owned();
    for (path, content) in [
        ("dev/environment.yaml", ENV.to_owned()),
        ("base/web.yaml", without),
    ] {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, content).expect("write");
    }
    let state = load(dir.path());
    let rendered = render(&state, &Digests::new());
    let web = &rendered.services[0];
    assert_eq!(web.update_service.desired_count, Some(9));
    assert_eq!(web.create_service.desired_count, Some(9));
    assert!(web.autoscaling.is_none());
    assert!(
        web.create_service
            .tags
            .iter()
            .all(|t| t.key != "ferry.dev/autoscaling")
    );
    let plan = diff(&state, &rendered, &ActualState::default());
    assert!(
        plan.changes
            .iter()
            .all(|c| c.key.kind != ResourceKind::ScalableTarget)
    );
    assert!(
        plan.changes[1]
            .fields
            .iter()
            .any(|f| f.path == "desiredCount")
    );
}
