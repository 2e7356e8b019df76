//! Diff fixtures: the desired stack in `fixtures/diff/manifests` (env `test`) against live
//! state as ECS and ECR describe it (`fixtures/diff/identical.live.json`, written from the AWS
//! API reference shapes with every default ECS fills in). Each case changes the live side.

use std::path::Path;

use ferry_core::diff::diff;
use ferry_core::live::ActualState;
use ferry_core::render::{Digests, render};
use ferry_core::{Op, Plan, ResourceKind, load_environment};
use serde_json::{Value, json};

fn fixtures() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/diff"))
}

fn live(patch: Value) -> ActualState {
    let text = std::fs::read_to_string(fixtures().join("identical.live.json")).expect("fixture");
    let mut value: Value = serde_json::from_str(&text).expect("fixture JSON");
    json_patch::merge(&mut value, &patch);
    serde_json::from_value(value).expect("live state shape")
}

fn plan_against(patch: Value) -> Plan {
    let state =
        load_environment(&fixtures().join("manifests"), "test").unwrap_or_else(|d| panic!("{d}"));
    diff(&state, &render(&state, &Digests::new()), &live(patch))
}

fn ops(plan: &Plan) -> Vec<(ResourceKind, String, Op)> {
    plan.changes
        .iter()
        .map(|c| (c.key.kind, c.key.name.clone(), c.op))
        .collect()
}

fn paths(plan: &Plan, kind: ResourceKind) -> Vec<String> {
    plan.changes
        .iter()
        .filter(|c| c.key.kind == kind)
        .flat_map(|c| c.fields.iter().map(|f| f.path.clone()))
        .collect()
}

#[test]
fn identical_with_ecs_defaults_plans_nothing() {
    let plan = plan_against(json!({}));
    assert!(plan.is_empty(), "{:#?}", plan.changes);
    assert!(plan.conflicts.is_empty(), "{:#?}", plan.conflicts);
}

#[test]
fn an_image_change_registers_one_task_definition_and_updates_the_service() {
    let td = "arn:aws:ecs:us-east-1:123456789012:task-definition/test-web:3";
    let plan = plan_against(json!({"taskDefinitions": {td: {"containerDefinitions": [
        {"name": "sidecar", "image": "public.ecr.aws/docker/library/busybox:1.36", "cpu": 0, "essential": false, "command": ["sleep", "infinity"],
         "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/test", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web"}}},
        {"name": "app", "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/web-app:v0", "cpu": 0,
         "portMappings": [{"containerPort": 8080, "hostPort": 8080, "protocol": "tcp"}], "essential": true,
         "environment": [{"name": "MODE", "value": "production"}, {"name": "PORT", "value": "8080"}],
         "secrets": [{"name": "DB_PASSWORD", "valueFrom": "arn:aws:secretsmanager:us-east-1:123456789012:secret:db-AbCdEf:password::"}],
         "logConfiguration": {"logDriver": "awslogs", "options": {"awslogs-group": "/ecs/test", "awslogs-region": "us-east-1", "awslogs-stream-prefix": "web"}},
         "healthCheck": {"command": ["CMD-SHELL", "curl -f http://localhost:8080/healthz"], "interval": 30, "timeout": 5, "retries": 3}}
    ]}}}));
    assert_eq!(
        ops(&plan),
        vec![
            (ResourceKind::TaskDefinition, "test-web".into(), Op::Update),
            (ResourceKind::EcsService, "web".into(), Op::Update),
        ]
    );
    assert_eq!(
        paths(&plan, ResourceKind::TaskDefinition),
        vec!["containerDefinitions.app.image"]
    );
    let change = &plan.changes[0].fields[0];
    assert_eq!(
        change.desired,
        Some(json!(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/web-app:v1"
        ))
    );
    assert_eq!(
        change.live,
        Some(json!(
            "123456789012.dkr.ecr.us-east-1.amazonaws.com/web-app:v0"
        ))
    );
    assert_eq!(
        paths(&plan, ResourceKind::EcsService),
        vec!["taskDefinition"]
    );
}

#[test]
fn an_environment_change_is_a_field_diff_of_the_task_definition() {
    let td = "arn:aws:ecs:us-east-1:123456789012:task-definition/test-web:3";
    let mut live_td: Value = serde_json::from_str::<Value>(
        &std::fs::read_to_string(fixtures().join("identical.live.json")).expect("fixture"),
    )
    .expect("json")["taskDefinitions"][td]
        .clone();
    live_td["containerDefinitions"][1]["environment"] =
        json!([{"name": "MODE", "value": "debug"}, {"name": "PORT", "value": "8080"}]);
    let plan = plan_against(json!({"taskDefinitions": {td: live_td}}));
    assert_eq!(
        paths(&plan, ResourceKind::TaskDefinition),
        vec!["containerDefinitions.app.environment.MODE"]
    );
    assert_eq!(plan.changes[0].fields[0].live, Some(json!("debug")));
}

#[test]
fn a_count_change_updates_only_the_service() {
    let plan = plan_against(json!({"services": {"web": {"desiredCount": 5}}}));
    assert_eq!(
        ops(&plan),
        vec![(ResourceKind::EcsService, "web".into(), Op::Update)]
    );
    let f = &plan.changes[0].fields;
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].path.as_str(), f[0].desired.clone(), f[0].live.clone()),
        ("desiredCount", Some(json!(2)), Some(json!(5)))
    );
}

#[test]
fn a_new_service_creates_its_task_definition_first() {
    let plan = plan_against(json!({"services": {"web": null}}));
    assert_eq!(
        ops(&plan),
        vec![
            (ResourceKind::TaskDefinition, "test-web".into(), Op::Create),
            (ResourceKind::EcsService, "web".into(), Op::Create),
        ]
    );
    assert!(paths(&plan, ResourceKind::EcsService).contains(&"desiredCount".to_owned()));
}

#[test]
fn an_inactive_service_counts_as_missing() {
    let plan = plan_against(json!({"services": {"web": {"status": "INACTIVE"}}}));
    assert_eq!(
        ops(&plan)[1],
        (ResourceKind::EcsService, "web".into(), Op::Create)
    );
}

fn extra_service(tags: Value) -> Value {
    json!({"services": {"old": {"serviceName": "old", "status": "ACTIVE", "desiredCount": 1, "taskDefinition": "arn:aws:ecs:us-east-1:123456789012:task-definition/test-old:1", "tags": tags}}})
}

#[test]
fn a_removed_owned_service_is_pruned_last() {
    let plan = plan_against(extra_service(
        json!([{"key": "ferry.dev/managed-by", "value": "ferry"}, {"key": "ferry.dev/environment", "value": "test"}]),
    ));
    assert_eq!(
        ops(&plan),
        vec![(ResourceKind::EcsService, "old".into(), Op::Prune)]
    );
}

#[test]
fn a_service_not_owned_by_ferry_is_never_pruned() {
    let plan = plan_against(extra_service(json!([{"key": "team", "value": "payments"}])));
    assert!(plan.is_empty(), "{:#?}", plan.changes);
    let plan = plan_against(extra_service(
        json!([{"key": "ferry.dev/managed-by", "value": "ferry"}, {"key": "ferry.dev/environment", "value": "prod"}]),
    ));
    assert!(
        plan.is_empty(),
        "another environment's service is not this one's to prune: {:#?}",
        plan.changes
    );
}

#[test]
fn an_unowned_service_with_a_desired_name_is_a_conflict_not_a_write() {
    let plan = plan_against(
        json!({"services": {"web": {"tags": [{"key": "team", "value": "payments"}], "desiredCount": 9}}}),
    );
    assert!(plan.is_empty(), "{:#?}", plan.changes);
    assert_eq!(plan.conflicts.len(), 1);
    assert!(
        plan.conflicts[0].reason.contains("not managed by Ferry"),
        "{}",
        plan.conflicts[0].reason
    );
}

#[test]
fn repository_settings_changes_are_updates() {
    let plan = plan_against(
        json!({"repositories": {"web-app": {"imageTagMutability": "MUTABLE", "lifecyclePolicyText": null}}}),
    );
    assert_eq!(
        ops(&plan),
        vec![(ResourceKind::EcrRepository, "web-app".into(), Op::Update)]
    );
    let mut p = paths(&plan, ResourceKind::EcrRepository);
    p.sort();
    assert_eq!(p, vec!["imageTagMutability", "lifecyclePolicy.rules"]);
}

#[test]
fn a_missing_repository_is_created_before_anything_else() {
    let plan = plan_against(json!({"repositories": {"web-app": null}, "services": {"web": null}}));
    assert_eq!(
        ops(&plan)[0],
        (ResourceKind::EcrRepository, "web-app".into(), Op::Create)
    );
    assert_eq!(ops(&plan).len(), 3);
}

#[test]
fn encryption_of_an_existing_repository_cannot_change() {
    let plan = plan_against(
        json!({"repositories": {"web-app": {"encryptionConfiguration": {"encryptionType": "KMS", "kmsKey": "arn:aws:kms:us-east-1:123456789012:key/x"}}}}),
    );
    assert!(plan.is_empty(), "{:#?}", plan.changes);
    assert!(plan.conflicts[0].reason.contains("encryption"));
}
