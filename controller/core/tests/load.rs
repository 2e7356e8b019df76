//! Loading and validation as a user meets them: each broken manifest gives an error naming
//! file, line and field; the repository's own manifests load in every environment.

use std::path::Path;

use ferry_core::{discover_environments, load_environment};

const ENV: &str = "apiVersion: ferry.dev/v1alpha1
kind: Environment
metadata:
  name: dev
spec:
  region: us-east-1
  cluster: c
  registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com
  network: { subnets: [subnet-1] }
  resources: [../base]
  images:
    app: { tag: v1 }
";

const SERVICE: &str = "apiVersion: ferry.dev/v1alpha1
kind: EcsService
metadata:
  name: web
spec:
  taskDefinition:
    cpu: 256
    memory: 512
    containers:
      - name: app
        image: app
        portMappings: [{ containerPort: 80 }]
";

const REPO: &str = "apiVersion: ferry.dev/v1alpha1
kind: EcrRepository
metadata:
  name: app
spec: {}
";

/// A manifests folder with `dev/environment.yaml`, `base/web.yaml`, `base/repo.yaml`, and the
/// given overrides (path → content).
fn stack(overrides: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temporary folder");
    let mut files = vec![
        ("dev/environment.yaml", ENV),
        ("base/web.yaml", SERVICE),
        ("base/repo.yaml", REPO),
    ];
    for (path, content) in overrides {
        files.retain(|(p, _)| p != path);
        files.push((path, content));
    }
    for (path, content) in files {
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

fn assert_error(dir: &Path, expected_prefix: &str, expected_words: &str) {
    let errs = errors(dir);
    assert!(
        errs.iter()
            .any(|e| e.starts_with(expected_prefix) && e.contains(expected_words)),
        "expected an error starting `{expected_prefix}` containing `{expected_words}`, got:\n{}",
        errs.join("\n")
    );
}

#[test]
fn a_valid_stack_loads() {
    let dir = stack(&[]);
    let state = load_environment(dir.path(), "dev").unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(state.services["web"].spec.desired_count, 1);
    assert!(state.repositories.contains_key("app"));
}

#[test]
fn unknown_fields_are_errors_at_their_line() {
    let dir = stack(&[(
        "base/web.yaml",
        &SERVICE.replace(
            "        image: app\n",
            "        image: app\n        imagePullPolicy: Always\n",
        ),
    )]);
    assert_error(
        dir.path(),
        "base/web.yaml:12: spec.taskDefinition.containers[0].imagePullPolicy:",
        "unknown field",
    );
    let dir = stack(&[(
        "base/web.yaml",
        &SERVICE.replace("spec:\n", "specs: {}\nspec:\n"),
    )]);
    assert_error(dir.path(), "base/web.yaml:5: specs:", "unknown field");
}

#[test]
fn wrong_types_name_the_field() {
    let dir = stack(&[(
        "base/web.yaml",
        &SERVICE.replace(
            "spec:\n  taskDefinition",
            "spec:\n  desiredCount: two\n  taskDefinition",
        ),
    )]);
    assert_error(
        dir.path(),
        "base/web.yaml:6: spec.desiredCount:",
        "invalid type",
    );
}

#[test]
fn a_value_with_no_definition_is_an_error() {
    let dir = stack(&[(
        "base/web.yaml",
        &SERVICE.replace(
            "image: app",
            "image: app\n        environment: { HOST: \"${db_host}\" }",
        ),
    )]);
    assert_error(
        dir.path(),
        "base/web.yaml:12: spec.taskDefinition.containers[0].environment.HOST:",
        "no value for `${db_host}`",
    );
}

#[test]
fn values_from_a_terraform_output_file_substitute_lists_and_strings() {
    let env = ENV.replace("network: { subnets: [subnet-1] }", "network: { subnets: \"${subnets}\" }\n  values: { fromFile: tf.json, inline: { mode: fast } }");
    let tf = r#"{"subnets": {"sensitive": false, "type": ["list", "string"], "value": ["subnet-a", "subnet-b"]},
                 "db_host": {"sensitive": false, "type": "string", "value": "db.internal"},
                 "token": {"sensitive": true, "type": "string", "value": "s3cr3t"}}"#;
    let svc = SERVICE.replace(
        "image: app",
        "image: app\n        environment: { HOST: \"${db_host}\", MODE: \"${mode}\" }",
    );
    let dir = stack(&[
        ("dev/environment.yaml", &env),
        ("dev/tf.json", tf),
        ("base/web.yaml", &svc),
    ]);
    let state = load_environment(dir.path(), "dev").unwrap_or_else(|d| panic!("{d}"));
    let net = state.environment.spec.network.expect("network");
    assert_eq!(net.subnets, vec!["subnet-a", "subnet-b"]);
    let env_vars = &state.services["web"].spec.task_definition.containers[0].environment;
    assert_eq!(env_vars["HOST"], "db.internal");
    assert_eq!(env_vars["MODE"], "fast");

    let svc = SERVICE.replace(
        "image: app",
        "image: app\n        environment: { X: \"${token}\" }",
    );
    let dir = stack(&[
        ("dev/environment.yaml", &env),
        ("dev/tf.json", tf),
        ("base/web.yaml", &svc),
    ]);
    assert_error(dir.path(), "base/web.yaml:12:", "sensitive");
}

#[test]
fn secret_looking_variables_with_literal_values_are_refused_with_a_hint() {
    let dir = stack(&[(
        "base/web.yaml",
        &SERVICE.replace(
            "image: app",
            "image: app\n        environment:\n          PG_PASSWORD: hunter2",
        ),
    )]);
    assert_error(
        dir.path(),
        "base/web.yaml:13: spec.taskDefinition.containers[0].environment.PG_PASSWORD:",
        "move it to `secrets`",
    );
    let errs = errors(dir.path()).join("\n");
    assert!(
        !errs.contains("hunter2"),
        "the secret value must not be echoed: {errs}"
    );
}

#[test]
fn a_literal_named_in_the_plaintext_annotation_is_let_through_but_a_credential_is_not() {
    let svc = SERVICE
        .replace(
            "  name: web\n",
            "  name: web\n  annotations:\n    ferry.dev/plaintext-environment: \"PG_PASSWORD, OTHER\"\n",
        )
        .replace(
            "image: app",
            "image: app\n        environment:\n          PG_PASSWORD: example\n          API_KEY: hunter2",
        );
    let dir = stack(&[("base/web.yaml", &svc)]);
    let errs = errors(dir.path()).join("\n");
    assert!(!errs.contains("PG_PASSWORD"), "{errs}");
    // Not listed: still refused.
    assert!(errs.contains("environment.API_KEY"), "{errs}");
    let aws = svc.replace("example", "AKIAIOSFODNN7EXAMPLE");
    let dir = stack(&[("base/web.yaml", &aws)]);
    assert!(
        errors(dir.path())
            .join("\n")
            .contains("environment.PG_PASSWORD"),
        "a credential by its form is refused even when listed"
    );
}

#[test]
fn secrets_must_be_arns() {
    let dir = stack(&[(
        "base/web.yaml",
        &SERVICE.replace(
            "image: app",
            "image: app\n        secrets: { PG_PASSWORD: hunter2 }",
        ),
    )]);
    assert_error(
        dir.path(),
        "base/web.yaml:12: spec.taskDefinition.containers[0].secrets.PG_PASSWORD:",
        "ARN",
    );
}

#[test]
fn container_rules_name_the_container() {
    let two = SERVICE.replace(
        "        portMappings: [{ containerPort: 80 }]\n",
        "        portMappings: [{ containerPort: 80 }]\n      - name: app\n        image: nginx:1.27\n  loadBalancers:\n    - { targetGroupArn: \"arn:aws:elasticloadbalancing:x\", containerName: app, containerPort: 81 }\n",
    );
    let dir = stack(&[("base/web.yaml", &two)]);
    assert_error(
        dir.path(),
        "base/web.yaml:13: spec.taskDefinition.containers[1].name:",
        "already used",
    );
    assert_error(
        dir.path(),
        "base/web.yaml:16: spec.loadBalancers[0].containerPort:",
        "no portMapping for 81",
    );
}

#[test]
fn fargate_sizes_are_checked() {
    let dir = stack(&[(
        "base/web.yaml",
        &SERVICE.replace("memory: 512", "memory: 4096"),
    )]);
    assert_error(
        dir.path(),
        "base/web.yaml:7: spec.taskDefinition.cpu:",
        "not a valid Fargate pair",
    );
}

#[test]
fn images_must_be_stack_repositories_or_full_references() {
    let dir = stack(&[(
        "base/web.yaml",
        &SERVICE.replace("image: app", "image: nginx"),
    )]);
    assert_error(
        dir.path(),
        "base/web.yaml:11: spec.taskDefinition.containers[0].image:",
        "not an EcrRepository",
    );
    let dir = stack(&[(
        "dev/environment.yaml",
        &ENV.replace("  images:\n    app: { tag: v1 }\n", ""),
    )]);
    assert_error(dir.path(), "base/web.yaml:11:", "no tag for `app`");
}

#[test]
fn duplicate_names_point_at_both_files() {
    let dir = stack(&[("base/web2.yaml", SERVICE)]);
    assert_error(
        dir.path(),
        "base/web2.yaml:4: metadata.name:",
        "duplicate EcsService `web` (also in base/web.yaml:4)",
    );
}

#[test]
fn resources_may_not_escape_the_manifests_folder() {
    let outside = tempfile::tempdir().expect("outside");
    std::fs::write(outside.path().join("evil.yaml"), SERVICE).expect("write");
    let rel = format!(
        "../../{}",
        outside
            .path()
            .file_name()
            .and_then(|n| n.to_str())
            .expect("name")
    );
    let dir = stack(&[(
        "dev/environment.yaml",
        &ENV.replace(
            "resources: [../base]",
            &format!("resources: [../base, \"{rel}\"]"),
        ),
    )]);
    // The temp folders are siblings under the same parent, so the path exists but is outside.
    assert_error(
        dir.path(),
        "dev/environment.yaml:10: spec.resources[1]:",
        "outside the manifests folder",
    );

    let dir = stack(&[]);
    std::os::unix::fs::symlink(
        outside.path().join("evil.yaml"),
        dir.path().join("base/link.yaml"),
    )
    .expect("symlink");
    assert_error(
        dir.path(),
        "base/link.yaml:",
        "links outside the manifests folder",
    );
}

#[test]
fn huge_files_and_alias_bombs_are_refused() {
    let big = format!("# {}\n{SERVICE}", "x".repeat(1024 * 1024 + 1));
    let dir = stack(&[("base/web.yaml", &big)]);
    assert_error(dir.path(), "base/web.yaml:", "larger than");

    let mut bomb = String::from(
        "apiVersion: ferry.dev/v1alpha1\nkind: EcrRepository\nmetadata: { name: bomb }\nspec:\n  tags:\n    a0: &a0 [x, x, x, x, x, x, x, x, x]\n",
    );
    for i in 1..10 {
        bomb.push_str(&format!(
            "    a{i}: &a{i} [{}]\n",
            vec![format!("*a{}", i - 1); 9].join(", ")
        ));
    }
    let dir = stack(&[("base/bomb.yaml", &bomb)]);
    assert_error(dir.path(), "base/bomb.yaml:", "more than 100000 nodes");
}

#[test]
fn patches_apply_and_their_errors_point_at_the_environment() {
    let env = format!(
        "{ENV}  patches:\n    - target: {{ kind: EcsService, name: web }}\n      merge: {{ spec: {{ desiredCount: 3 }} }}\n"
    );
    let dir = stack(&[("dev/environment.yaml", &env)]);
    let state = load_environment(dir.path(), "dev").unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(state.services["web"].spec.desired_count, 3);

    let env = format!(
        "{ENV}  patches:\n    - target: {{ kind: EcsService, name: web }}\n      merge:\n        spec:\n          desiredCount: many\n"
    );
    let dir = stack(&[("dev/environment.yaml", &env)]);
    assert_error(
        dir.path(),
        "dev/environment.yaml:17: spec.desiredCount:",
        "invalid type",
    );

    let env = format!(
        "{ENV}  patches:\n    - target: {{ kind: EcsService, name: nope }}\n      merge: {{}}\n"
    );
    let dir = stack(&[("dev/environment.yaml", &env)]);
    assert_error(
        dir.path(),
        "dev/environment.yaml:14: spec.patches[0].target:",
        "no EcsService named `nope`",
    );
}

#[test]
fn service_dependency_cycles_are_refused() {
    let a = SERVICE
        .replace("name: web", "name: a")
        .replace("spec:\n", "spec:\n  dependsOn: [b]\n");
    let b = SERVICE
        .replace("name: web", "name: b")
        .replace("spec:\n", "spec:\n  dependsOn: [a]\n");
    let dir = stack(&[("base/web.yaml", &a), ("base/b.yaml", &b)]);
    assert_error(dir.path(), "base/", "dependsOn forms a cycle");
}

#[test]
fn every_error_is_reported_at_once_in_file_order() {
    let svc = SERVICE
        .replace("memory: 512", "memory: 4096")
        .replace("image: app", "image: nginx");
    let dir = stack(&[("base/web.yaml", &svc)]);
    let diags = load_environment(dir.path(), "dev")
        .expect_err("two errors")
        .0;
    assert!(diags.len() >= 2, "{diags:?}");
    let places: Vec<_> = diags.iter().map(|d| (d.file.clone(), d.line)).collect();
    let mut sorted = places.clone();
    sorted.sort();
    assert_eq!(places, sorted);
}

#[test]
fn the_repository_manifests_load_in_every_environment() {
    let root = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../manifests"));
    let envs = discover_environments(root).unwrap_or_else(|d| panic!("{d}"));
    assert_eq!(envs, vec!["dev", "local", "prod", "staging"]);
    for env in envs {
        let state = load_environment(root, &env).unwrap_or_else(|d| panic!("{env}:\n{d}"));
        assert!(state.services.contains_key("numbers"), "{env}");
    }
}
