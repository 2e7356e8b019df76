//! The `ferry` CLI as a user runs it: `validate`, `render`, `schema` on the repository's own
//! manifests and on broken copies.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ferry");

fn manifests() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../manifests")).to_path_buf()
}

fn ferry(args: &[&str]) -> Output {
    Command::new(BIN).args(args).output().expect("ferry runs")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

#[test]
fn validate_passes_on_every_environment_of_the_repository() {
    let root = manifests();
    let out = ferry(&["validate", "--manifests", root.to_str().expect("utf-8")]);
    assert!(
        out.status.success(),
        "{}{}",
        text(&out.stdout),
        text(&out.stderr)
    );
    let stdout = text(&out.stdout);
    for env in ["dev", "staging", "prod", "local"] {
        assert!(stdout.contains(&format!("ok {env}:")), "{stdout}");
    }
}

#[test]
fn validate_lists_every_error_with_file_and_line_and_exits_1() {
    let dir = tempfile::tempdir().expect("temporary folder");
    copy_dir(&manifests(), dir.path());
    let svc = dir.path().join("base/numbers.yaml");
    let original = std::fs::read_to_string(&svc).expect("read");
    std::fs::write(
        &svc,
        original.replace("  desiredCount: 2\n", "  desiredCount: 2\n  replicas: 3\n"),
    )
    .expect("write");
    let root = dir.path().to_str().expect("utf-8");
    let out = ferry(&["validate", "--manifests", root, "--env", "dev"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("base/numbers.yaml:11: spec.replicas: unknown field `replicas`"),
        "{stderr}"
    );

    // Rule errors are all listed together, and never echo a would-be secret.
    let rules = original
        .replacen(
            "LOG_FORMAT: json",
            "LOG_FORMAT: json\n          API_TOKEN: abc123",
            1,
        )
        .replace(
            "containerName: proxy, containerPort: 8000",
            "containerName: proxy, containerPort: 8001",
        );
    std::fs::write(&svc, rules).expect("write");
    let out = ferry(&["validate", "--manifests", root]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("environment.API_TOKEN: `API_TOKEN` looks like a secret"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "spec.loadBalancers[0].containerPort: container `proxy` has no portMapping for 8001"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("abc123"), "{stderr}");
    assert!(
        stderr.contains("FAILED dev") && stderr.contains("FAILED prod"),
        "{stderr}"
    );
}

#[test]
fn render_prints_the_exact_aws_inputs_with_tags_images_and_secret_arns() {
    let root = manifests();
    let out = ferry(&[
        "render",
        "--manifests",
        root.to_str().expect("utf-8"),
        "--env",
        "dev",
        "-o",
        "json",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let svc = &doc["services"][0];
    assert_eq!(svc["name"], "numbers");
    let td = &svc["registerTaskDefinition"];
    assert_eq!(td["family"], "dev-numbers");
    assert_eq!(td["cpu"], "512", "dev's patch applies");
    let containers = td["containerDefinitions"].as_array().expect("containers");
    let api = containers
        .iter()
        .find(|c| c["name"] == "api")
        .expect("api container");
    assert_eq!(
        api["image"],
        "123456789012.dkr.ecr.us-east-1.amazonaws.com/numbers-api:0000000dev"
    );
    let secrets = api["secrets"].as_array().expect("secrets");
    assert!(secrets.iter().all(|s| {
        s["valueFrom"]
            .as_str()
            .is_some_and(|v| v.starts_with("arn:aws:secretsmanager:"))
    }));
    assert_eq!(
        api["logConfiguration"]["options"]["awslogs-group"],
        "/ecs/numbers-dev"
    );
    let create = &svc["createService"];
    assert_eq!(create["cluster"], "numbers-dev");
    assert_eq!(create["desiredCount"], 1);
    assert_eq!(
        create["networkConfiguration"]["awsvpcConfiguration"]["subnets"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );
    let tags = create["tags"].as_array().expect("tags");
    assert!(tags.contains(&serde_json::json!({"key": "ferry.dev/managed-by", "value": "ferry"})));
    assert!(tags.contains(&serde_json::json!({"key": "ferry.dev/environment", "value": "dev"})));
    assert_eq!(doc["repositories"].as_array().map(Vec::len), Some(3));

    // Autoscaling: the Application Auto Scaling inputs, and no count on UpdateService.
    assert!(svc["updateService"].get("desiredCount").is_none(), "{svc}");
    let scaling = &svc["autoscaling"];
    assert_eq!(
        scaling["registerScalableTarget"]["ResourceId"],
        "service/numbers-dev/numbers"
    );
    assert_eq!(scaling["registerScalableTarget"]["MinCapacity"], 1);
    assert_eq!(scaling["registerScalableTarget"]["MaxCapacity"], 5);
    let metrics: Vec<&str> = scaling["putScalingPolicies"]
        .as_array()
        .expect("policies")
        .iter()
        .filter_map(|p| {
            p["TargetTrackingScalingPolicyConfiguration"]["PredefinedMetricSpecification"]
                ["PredefinedMetricType"]
                .as_str()
        })
        .collect();
    assert_eq!(
        metrics,
        [
            "ECSServiceAverageCPUUtilization",
            "ECSServiceAverageMemoryUtilization"
        ]
    );

    let out = ferry(&[
        "render",
        "--manifests",
        root.to_str().expect("utf-8"),
        "--env",
        "prod",
        "-o",
        "yaml",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let yaml: serde_json::Value = serde_yaml_ng::from_slice(&out.stdout).expect("YAML");
    assert_eq!(yaml["services"][0]["createService"]["desiredCount"], 3);
}

#[test]
fn schema_writes_crds_and_json_schemas() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let out = ferry(&["schema", "--out-dir", dir.path().to_str().expect("utf-8")]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    for kind in ["environment", "ecsservice", "ecrrepository"] {
        let crd: serde_json::Value = serde_yaml_ng::from_str(
            &std::fs::read_to_string(dir.path().join(format!("{kind}.crd.yaml"))).expect("crd"),
        )
        .expect("CRD YAML");
        assert_eq!(crd["kind"], "CustomResourceDefinition");
        assert_eq!(crd["spec"]["group"], "ferry.dev");
        let crd_text = crd.to_string();
        assert!(!crd_text.contains("$ref"), "{kind}: a CRD takes no $ref");
        if kind == "ecsservice" {
            // The ECS fields inline, where Kubernetes and editors reading CRDs see them.
            let spec =
                &crd["spec"]["versions"][0]["schema"]["openAPIV3Schema"]["properties"]["spec"];
            let td = &spec["properties"]["taskDefinition"];
            let container = &td["properties"]["containers"]["items"]["properties"];
            let firelens = &container["firelensConfiguration"];
            assert_eq!(firelens["type"], "object", "{firelens}");
            assert!(
                firelens["properties"]["type"]["enum"].is_array(),
                "{firelens}"
            );
            assert_eq!(
                container["linuxParameters"]["properties"]["capabilities"]["type"],
                "object"
            );
            assert!(td["properties"]["proxyConfiguration"].is_object(), "{td}");
            assert!(spec["properties"]["schedulingStrategy"]["enum"].is_array());
        }
        let schema: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(dir.path().join(format!("{kind}_v1alpha1.json")))
                .expect("schema"),
        )
        .expect("JSON");
        assert!(schema["properties"]["spec"].is_object(), "{kind}: {schema}");
        if kind == "ecsservice" {
            // Every ECS field, from the ECS API model, and nothing else.
            let defs = &schema["$defs"];
            let container = &defs["ContainerSpec"];
            assert!(
                container["properties"]["firelensConfiguration"].is_object(),
                "{container}"
            );
            assert_eq!(container["additionalProperties"], false);
            assert!(defs["ecs.LinuxParameters"]["properties"]["capabilities"].is_object());
            let service = &defs["EcsServiceSpec"]["properties"];
            assert!(
                service["schedulingStrategy"]["enum"]
                    .as_array()
                    .is_some_and(|e| e.len() == 2),
                "{service}"
            );
            assert!(defs["TaskDefinitionSpec"]["properties"]["proxyConfiguration"].is_object());
        }
    }
    let out = ferry(&["schema"]);
    assert!(
        text(&out.stdout)
            .matches("kind: CustomResourceDefinition")
            .count()
            == 3
    );
}

/// The numbers service's rendered `createService` in `env`.
fn numbers_service(env: &str) -> serde_json::Value {
    let root = manifests();
    let out = ferry(&[
        "render",
        "--manifests",
        root.to_str().expect("utf-8"),
        "--env",
        env,
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let rendered: serde_json::Value = serde_json::from_slice(&out.stdout).expect("json");
    rendered["services"][0]["createService"].clone()
}

#[test]
fn prod_deploys_by_canary_with_analysis_staging_by_blue_green_dev_rolling() {
    let prod = numbers_service("prod");
    let conf = &prod["deploymentConfiguration"];
    assert_eq!(conf["strategy"], "CANARY", "{conf:#}");
    assert_eq!(conf["canaryConfiguration"]["canaryPercent"], 10.0);
    assert_eq!(conf["canaryConfiguration"]["canaryBakeTimeInMinutes"], 5);
    assert_eq!(
        conf["alarms"]["alarmNames"],
        serde_json::json!(["numbers-prod-proxy-5xx", "numbers-prod-proxy-p99-latency"])
    );
    let lb = &prod["loadBalancers"][0]["advancedConfiguration"];
    assert!(
        lb["alternateTargetGroupArn"]
            .as_str()
            .is_some_and(|a| a.contains("numbers-prod-proxy-alt")),
        "{lb:#}"
    );
    let staging = numbers_service("staging");
    assert_eq!(staging["deploymentConfiguration"]["strategy"], "BLUE_GREEN");
    assert!(
        staging["loadBalancers"][0]["advancedConfiguration"]["testListenerRule"].is_string(),
        "{staging:#}"
    );
    let dev = numbers_service("dev");
    assert!(
        dev["deploymentConfiguration"]["strategy"].is_null(),
        "dev stays rolling: {dev:#}"
    );
    // prod's analysis is Ferry's (not sent to ECS) but loads: 5xx ratio and p99 latency.
    let yaml = std::fs::read_to_string(manifests().join("prod/environment.yaml")).expect("read");
    assert!(yaml.contains("name: 5xx-ratio") && yaml.contains("stat: p99"));
}
