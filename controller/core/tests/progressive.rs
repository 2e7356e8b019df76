//! Progressive delivery in the manifest model, as a user meets it: blue/green, canary and
//! linear strategies with bake, alarms, a pause and Ferry's analysis render to ECS's own
//! `deploymentConfiguration` and `advancedConfiguration`; what ECS reports back (the target
//! groups swapped after a deployment, defaults filled in) is no drift; every rule is refused at
//! the line of the offending field.

use std::path::Path;

use ferry_core::diff::diff;
use ferry_core::live::{ActualState, LiveService};
use ferry_core::render::{Digests, render};
use ferry_core::{DesiredState, load_environment};
use serde_json::json;

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

const CANARY: &str = "apiVersion: ferry.dev/v1alpha1
kind: EcsService
metadata:
  name: web
spec:
  desiredCount: 2
  loadBalancers:
    - targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web-a/1
      containerName: app
      containerPort: 8080
      alternateTargetGroupArn: arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web-b/2
      productionListenerRule: arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/x/1/2/3
      testListenerRule: arn:aws:elasticloadbalancing:us-east-1:1:listener-rule/app/x/1/2/4
      roleArn: arn:aws:iam::1:role/ecs-infrastructure
  taskDefinition:
    cpu: 256
    memory: 512
    containers:
      - name: app
        image: nginx:1.27
        portMappings: [{ containerPort: 8080 }]
  deployment:
    strategy: canary
    canary: { percent: 10, bake: 5m }
    bakeTime: 10m
    alarms: { names: [web-5xx, web-latency] }
    pause: beforeTraffic
    analysis:
      interval: 1m
      failureLimit: 1
      loadBalancer: app/numbers/50dc6c495c0c9188
      checks:
        - name: 5xx-ratio
          ratio:
            numerator: { metricName: HTTPCode_Target_5XX_Count }
            denominator: { metricName: RequestCount }
          max: 0.01
        - name: p99-latency
          metric: { metricName: TargetResponseTime, stat: p99 }
          max: 0.5
";

fn write(services: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary folder");
    for (path, content) in [
        ("dev/environment.yaml", ENV),
        ("base/services.yaml", services),
    ] {
        let full = dir.path().join(path);
        std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir");
        std::fs::write(full, content).expect("write");
    }
    dir
}

fn load(dir: &Path) -> DesiredState {
    load_environment(dir, "dev").unwrap_or_else(|d| panic!("{d}"))
}

#[test]
fn a_canary_renders_to_ecs_own_deployment_configuration() {
    let dir = write(CANARY);
    let rendered = render(&load(dir.path()), &Digests::new());
    let web = serde_json::to_value(&rendered.services[0]).expect("json");
    let conf = &web["createService"]["deploymentConfiguration"];
    assert_eq!(conf["strategy"], "CANARY");
    assert_eq!(conf["bakeTimeInMinutes"], 10);
    assert_eq!(
        conf["canaryConfiguration"],
        json!({"canaryPercent": 10.0, "canaryBakeTimeInMinutes": 5})
    );
    assert_eq!(
        conf["alarms"],
        json!({"alarmNames": ["web-5xx", "web-latency"], "enable": true, "rollback": true})
    );
    assert_eq!(
        conf["lifecycleHooks"],
        json!([{"targetType": "PAUSE", "lifecycleStages": ["POST_TEST_TRAFFIC_SHIFT"]}])
    );
    let lb = &web["createService"]["loadBalancers"][0]["advancedConfiguration"];
    assert_eq!(
        lb["alternateTargetGroupArn"],
        "arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web-b/2"
    );
    assert_eq!(lb["roleArn"], "arn:aws:iam::1:role/ecs-infrastructure");
    assert!(lb["testListenerRule"].is_string());
    // The analysis is Ferry's own: nothing of it goes to ECS.
    assert!(!web.to_string().contains("5xx-ratio"));
    // A rolling service renders no strategy at all (ECS's default).
    let rolling = CANARY
        .split("  deployment:\n")
        .next()
        .expect("head")
        .to_owned();
    let dir = write(&rolling);
    let rendered = render(&load(dir.path()), &Digests::new());
    let web = serde_json::to_value(&rendered.services[0]).expect("json");
    assert!(
        web["createService"]["deploymentConfiguration"]["strategy"].is_null(),
        "{web}"
    );
}

/// The live service as ECS reports it after one blue/green deployment: target groups swapped,
/// the rest as sent.
fn as_ecs_reports(desired: &DesiredState) -> ActualState {
    let rendered = render(desired, &Digests::new());
    let svc = &rendered.services[0];
    let c = &svc.create_service;
    let mut lbs = c.load_balancers.clone();
    for lb in &mut lbs {
        if let Some(a) = lb.advanced_configuration.as_mut() {
            std::mem::swap(&mut lb.target_group_arn, &mut a.alternate_target_group_arn);
        }
    }
    let live = LiveService {
        service_name: c.service_name.clone(),
        service_arn: format!("arn:aws:ecs:us-east-1:1:service/c/{}", c.service_name),
        status: "ACTIVE".into(),
        task_definition: "arn:aws:ecs:us-east-1:1:task-definition/dev-web:1".into(),
        desired_count: c.desired_count.unwrap_or_default(),
        launch_type: c.launch_type.clone(),
        network_configuration: c.network_configuration.clone(),
        load_balancers: lbs,
        deployment_configuration: Some(c.deployment_configuration.clone()),
        tags: c.tags.clone(),
        ..LiveService::default()
    };
    let mut actual = ActualState::default();
    actual.services.insert(live.service_name.clone(), live);
    actual.task_definitions.insert(
        "arn:aws:ecs:us-east-1:1:task-definition/dev-web:1".into(),
        svc.register_task_definition.clone(),
    );
    actual
}

#[test]
fn swapped_target_groups_are_no_drift_but_a_strategy_change_is() {
    let dir = write(CANARY);
    let desired = load(dir.path());
    let actual = as_ecs_reports(&desired);
    let rendered = render(&desired, &Digests::new());
    let plan = diff(&desired, &rendered, &actual);
    let service_changes: Vec<_> = plan
        .changes
        .iter()
        .filter(|c| c.key.kind == ferry_core::ResourceKind::EcsService)
        .flat_map(|c| c.fields.iter().map(|f| f.path.clone()))
        .collect();
    assert!(
        !service_changes
            .iter()
            .any(|p| p.starts_with("loadBalancers")),
        "{service_changes:?}"
    );
    assert!(
        !service_changes
            .iter()
            .any(|p| p.starts_with("deploymentConfiguration")),
        "{service_changes:?}"
    );
    // linear instead of canary: one field path under deploymentConfiguration changes.
    let dir = write(&CANARY.replace(
        "    strategy: canary\n    canary: { percent: 10, bake: 5m }\n",
        "    strategy: linear\n    linear: { stepPercent: 25, stepBake: 2m }\n",
    ));
    let desired2 = load(dir.path());
    let rendered2 = render(&desired2, &Digests::new());
    let plan2 = diff(&desired2, &rendered2, &actual);
    let fields: Vec<String> = plan2
        .changes
        .iter()
        .flat_map(|c| c.fields.iter().map(|f| f.path.clone()))
        .collect();
    assert!(
        fields
            .iter()
            .any(|p| p == "deploymentConfiguration.strategy"),
        "{fields:?}"
    );
}

#[test]
fn every_broken_rule_is_refused_at_its_line() {
    let cases: Vec<(String, &str)> = vec![
        (
            CANARY.replace(
                "    canary: { percent: 10, bake: 5m }\n",
                "    canary: { percent: 10, bake: 90s } # <-\n",
            ),
            "is not a whole number of minutes",
        ),
        (
            CANARY.replace(
                "    canary: { percent: 10, bake: 5m }\n",
                "    canary: { percent: 0, bake: 5m } # <-\n",
            ),
            "0 is outside ECS's 0.1-100",
        ),
        (
            CANARY.replace("    canary: { percent: 10, bake: 5m }\n", "")
                .replace("    strategy: canary\n", "    strategy: canary # <-\n"),
            "strategy canary needs `canary: {percent, bake}`",
        ),
        (
            CANARY.replace(
                "    strategy: canary\n    canary: { percent: 10, bake: 5m }\n",
                "    strategy: linear\n    linear: { stepPercent: 1, stepBake: 1m } # <-\n",
            ),
            "1 is outside ECS's 3-100",
        ),
        (
            CANARY.replace(
                "      alternateTargetGroupArn: arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web-b/2\n",
                "",
            )
            .replace(
                "    - targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web-a/1\n",
                "    - targetGroupArn: arn:aws:elasticloadbalancing:us-east-1:1:targetgroup/web-a/1 # <-\n",
            ),
            "`alternateTargetGroupArn` is missing",
        ),
        (
            CANARY.replace(
                "    strategy: canary\n    canary: { percent: 10, bake: 5m }\n",
                "    strategy: rolling\n",
            )
            .replace("    bakeTime: 10m\n", "    bakeTime: 10m # <-\n"),
            "bakeTime needs strategy blueGreen, canary or linear",
        ),
        (
            CANARY.replace("    bakeTime: 10m\n", "    bakeTime: 2000m # <-\n"),
            "2000 minutes is outside ECS's 0-1440",
        ),
        (
            CANARY.replace(
                "    alarms: { names: [web-5xx, web-latency] }\n",
                "    alarms: { names: [] } # <-\n",
            ),
            "no alarm names",
        ),
        (
            CANARY.replace(
                "          metric: { metricName: TargetResponseTime, stat: p99 }\n",
                "          metric: { metricName: TargetResponseTime, stat: median } # <-\n",
            ),
            "`median` is not Sum, Average",
        ),
        (
            CANARY
                .replace("          max: 0.5\n", "")
                .replace("        - name: p99-latency\n", "        - name: p99-latency # <-\n"),
            "a check needs `max` or `min`",
        ),
        (
            CANARY.replace("      interval: 1m\n", "      interval: 2h # <-\n"),
            "is outside 1s-1h",
        ),
        (
            CANARY.replace("        - name: p99-latency\n", "        - name: 5xx-ratio # <-\n"),
            "another check is named `5xx-ratio`",
        ),
        (
            CANARY.replace(
                "      roleArn: arn:aws:iam::1:role/ecs-infrastructure\n",
                "      roleArn: ecs-infrastructure # <-\n",
            ),
            "is not an ARN",
        ),
        (
            CANARY.replace("    pause: beforeTraffic\n", "    pause: whenever # <-\n"),
            "whenever",
        ),
    ];
    for (i, (yaml, words)) in cases.iter().enumerate() {
        let line = yaml.lines().position(|l| l.contains("# <-")).map(|n| n + 1);
        let dir = write(yaml);
        let errors: Vec<String> = match load_environment(dir.path(), "dev") {
            Ok(_) => Vec::new(),
            Err(d) => d.0.iter().map(ToString::to_string).collect(),
        };
        let Some(hit) = errors.iter().find(|e| e.contains(words)) else {
            panic!("case {i}: no error with `{words}` in {errors:#?}");
        };
        if let Some(line) = line {
            assert!(
                hit.contains(&format!("services.yaml:{line}:")),
                "case {i}: `{hit}` is not at line {line}"
            );
        }
    }
}

#[test]
fn the_local_platform_refuses_ecs_strategies() {
    let dir = write(CANARY);
    std::fs::write(
        dir.path().join("dev/environment.yaml"),
        ENV.replace("spec:\n", "spec:\n  platform: local\n"),
    )
    .expect("write");
    let errors = load_environment(dir.path(), "dev").expect_err("refused");
    assert!(
        errors
            .to_string()
            .contains("the local platform only replaces processes in place"),
        "{errors}"
    );
}
