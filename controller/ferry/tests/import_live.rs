//! `ferry import --cluster` against moto: services created by hand from real task definitions
//! (EC2 bridge and host, Fargate awsvpc behind a load balancer, a DAEMON, FireLens, links,
//! volumes...) are adopted:
//! right after the import the plan is only Ferry's ownership tags, apply registers no task
//! definition revision and changes no service setting, and a later image change is exactly one
//! field. A scalable target with Ferry's kind of policies is imported as `autoscaling`; one
//! with a step policy is left out (and alone), saying so. A service deployed by CodeDeploy is
//! refused with the reason.

#[path = "../../ecs/tests/support/mod.rs"]
mod support;

use std::path::Path;
use std::process::{Command, Output};

use ferry_core::autoscaling::{
    DESIRED_COUNT_DIMENSION, ECS_NAMESPACE, PredefinedMetricSpecification, PutScalingPolicy,
    PutScheduledAction, RegisterScalableTarget, ScalableTargetAction, TARGET_TRACKING,
    TargetTrackingConfiguration,
};
use ferry_ecs::AutoscalingApi;
use serde_json::{Value, json};
use support::{CLUSTER, Moto};

const BIN: &str = env!("CARGO_BIN_EXE_ferry");

fn ferry(moto: &Moto, args: &[&str]) -> Output {
    support::moto_env(&mut Command::new(BIN), &moto.endpoint())
        .args(args)
        .output()
        .expect("ferry runs")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn corpus(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/ecs-corpus/task-definitions")
        .join(format!("{name}.json"));
    let v: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("corpus file")).expect("json");
    v.get("taskDefinition").cloned().unwrap_or(v)
}

/// Register `td` as it is (output-only members left out) and return its ARN.
async fn register(client: &aws_sdk_ecs::Client, td: &Value) -> String {
    let (input, _) = ferry_core::import::task_definition_json(td).expect("a valid definition");
    ferry_ecs::generated::register_task_definition(client, &Value::Object(input))
        .expect("fits the SDK")
        .send()
        .await
        .expect("registered")
        .task_definition()
        .and_then(|t| t.task_definition_arn())
        .expect("arn")
        .to_owned()
}

async fn revisions(client: &aws_sdk_ecs::Client) -> usize {
    client
        .list_task_definitions()
        .send()
        .await
        .expect("list")
        .task_definition_arns()
        .len()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_live_cluster_is_adopted_with_an_empty_plan_and_no_new_revision() {
    let moto = Moto::start().await;
    let sdk = moto.sdk(&moto.endpoint()).await;
    let client = sdk.ecs_client();
    // (task definition, service JSON beyond its name and task definition)
    let network = json!({"awsvpcConfiguration": {"subnets": [moto.subnet], "securityGroups": [moto.security_group], "assignPublicIp": "DISABLED"}});
    let cases = [
        (
            "agent-extra-hosts",
            json!({"launchType": "EC2", "desiredCount": 2}),
        ),
        (
            "agent-datavolume-links-volumesfrom",
            json!({"launchType": "EC2", "desiredCount": 1, "placementStrategy": [{"type": "spread", "field": "attribute:ecs.availability-zone"}]}),
        ),
        (
            "agent-linux-init-process",
            json!({"launchType": "EC2", "desiredCount": 1, "propagateTags": "TASK_DEFINITION"}),
        ),
        (
            "consul-server-host-network",
            json!({"launchType": "EC2", "schedulingStrategy": "DAEMON"}),
        ),
        (
            "firelens-fluentbit-metrics-fargate",
            json!({"launchType": "FARGATE", "desiredCount": 2, "networkConfiguration": network, "enableECSManagedTags": true, "propagateTags": "SERVICE"}),
        ),
        (
            "firelens-newrelic-fargate-cpu-memory-units",
            json!({"launchType": "FARGATE", "desiredCount": 1, "networkConfiguration": network, "deploymentConfiguration": {"minimumHealthyPercent": 50, "maximumPercent": 200, "deploymentCircuitBreaker": {"enable": true, "rollback": true}},
                "healthCheckGracePeriodSeconds": 30,
                "loadBalancers": [{"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/web/6d0ecf831eec9f09", "containerName": "webserver", "containerPort": 5000}]}),
        ),
        (
            "agent-nofile-ulimit",
            json!({"launchType": "EC2", "desiredCount": 3, "tags": [{"key": "team", "value": "core"}]}),
        ),
        (
            "agent-docker-volume-task-scope-tmpfs",
            json!({"launchType": "EC2", "desiredCount": 1}),
        ),
    ];
    let mut names = Vec::new();
    for (i, (file, extra)) in cases.iter().enumerate() {
        let arn = register(client, &corpus(file)).await;
        let name = format!("svc{i}");
        let mut input = extra.clone();
        input["cluster"] = json!(CLUSTER);
        input["serviceName"] = json!(name);
        input["taskDefinition"] = json!(arn);
        ferry_ecs::generated::create_service(client, &input)
            .expect("fits the SDK")
            .send()
            .await
            .unwrap_or_else(|e| panic!("create {file}: {e:?}"));
        names.push(name);
    }
    // svc0 scales by CPU with a night schedule (Ferry's shape); svc6 by a step policy, which
    // Ferry does not write: imported without autoscaling, its target left alone.
    let rid = |n: &str| format!("service/{CLUSTER}/{n}");
    for (name, max) in [("svc0", 4), ("svc6", 5)] {
        sdk.register_scalable_target(&RegisterScalableTarget {
            service_namespace: ECS_NAMESPACE.into(),
            resource_id: rid(name),
            scalable_dimension: DESIRED_COUNT_DIMENSION.into(),
            min_capacity: 1,
            max_capacity: max,
            tags: Default::default(),
        })
        .await
        .expect("register a scalable target");
    }
    let policy = |name: &str, kind: &str, config| PutScalingPolicy {
        policy_name: name.into(),
        service_namespace: ECS_NAMESPACE.into(),
        resource_id: rid(if kind == TARGET_TRACKING {
            "svc0"
        } else {
            "svc6"
        }),
        scalable_dimension: DESIRED_COUNT_DIMENSION.into(),
        policy_type: kind.into(),
        target_tracking_scaling_policy_configuration: config,
    };
    sdk.put_scaling_policy(&policy(
        "cpu-60",
        TARGET_TRACKING,
        Some(TargetTrackingConfiguration {
            target_value: 60.0,
            predefined_metric_specification: PredefinedMetricSpecification {
                predefined_metric_type: "ECSServiceAverageCPUUtilization".into(),
                resource_label: None,
            },
            scale_out_cooldown: Some(60),
            scale_in_cooldown: None,
            disable_scale_in: None,
        }),
    ))
    .await
    .expect("a target-tracking policy");
    sdk.put_scaling_policy(&policy("steps", "StepScaling", None))
        .await
        .expect("a step policy");
    sdk.put_scheduled_action(&PutScheduledAction {
        service_namespace: ECS_NAMESPACE.into(),
        scheduled_action_name: "night".into(),
        resource_id: rid("svc0"),
        scalable_dimension: DESIRED_COUNT_DIMENSION.into(),
        schedule: "cron(0 22 * * ? *)".into(),
        timezone: None,
        scalable_target_action: ScalableTargetAction {
            min_capacity: Some(1),
            max_capacity: Some(2),
        },
    })
    .await
    .expect("a scheduled action");
    let before = revisions(client).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().to_str().expect("utf-8");
    let out = ferry(
        &moto,
        &[
            "import",
            "--cluster",
            CLUSTER,
            "--env",
            "adopted",
            "--out",
            out_dir,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    for n in &names {
        assert!(
            dir.path().join(format!("adopted/{n}.yaml")).is_file(),
            "{n} written"
        );
    }
    let scaled = std::fs::read_to_string(dir.path().join("adopted/svc0.yaml")).expect("svc0");
    for part in [
        "autoscaling:",
        "cpu-60",
        "target: 60",
        "night",
        "cron(0 22 * * ? *)",
    ] {
        assert!(scaled.contains(part), "{part} missing:\n{scaled}");
    }
    let stepped = std::fs::read_to_string(dir.path().join("adopted/svc6.yaml")).expect("svc6");
    assert!(!stepped.contains("autoscaling"), "{stepped}");
    assert!(
        text(&out).contains(
            "svc6: its autoscaling is left out because its policy `steps` is StepScaling"
        ),
        "{}",
        text(&out)
    );

    // The plan: only the adoption (ownership tags), no task definition, no other field.
    let out = ferry(
        &moto,
        &[
            "plan",
            "--manifests",
            out_dir,
            "--env",
            "adopted",
            "-o",
            "json",
        ],
    );
    let plan: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let changes = plan["changes"].as_array().cloned().unwrap_or_default();
    assert_eq!(changes.len(), names.len(), "{plan:#}");
    for c in &changes {
        assert_eq!(c["key"]["kind"], "EcsService", "{c:#}");
        for f in c["fields"].as_array().into_iter().flatten() {
            let path = f["path"].as_str().unwrap_or_default();
            assert!(
                path.starts_with("tags.ferry.dev/"),
                "not only ownership: {c:#}"
            );
        }
    }

    // Apply adopts: no new revision, the same task definitions, every service's settings kept.
    let described = |names: Vec<String>| {
        let client = client.clone();
        async move {
            let out = client
                .describe_services()
                .cluster(CLUSTER)
                .set_services(Some(names))
                .send()
                .await
                .expect("describe");
            out.services()
                .iter()
                .map(|s| {
                    (
                        s.service_name().unwrap_or_default().to_owned(),
                        s.task_definition().unwrap_or_default().to_owned(),
                        s.desired_count(),
                        s.propagate_tags().map(|p| p.as_str().to_owned()),
                    )
                })
                .collect::<Vec<_>>()
        }
    };
    let live_before = described(names.clone()).await;
    let out = ferry(
        &moto,
        &["apply", "--manifests", out_dir, "--env", "adopted"],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        revisions(client).await,
        before,
        "apply registered a revision"
    );
    assert_eq!(described(names.clone()).await, live_before);
    let out = ferry(&moto, &["plan", "--manifests", out_dir, "--env", "adopted"]);
    assert_eq!(out.status.code(), Some(0), "not converged: {}", text(&out));

    // A later image change is that one field.
    let file = dir.path().join("adopted/svc0.yaml");
    let yaml = std::fs::read_to_string(&file).expect("manifest");
    let changed = yaml.replacen("image: ", "image: example.com/", 1);
    std::fs::write(&file, changed).expect("edit");
    let out = ferry(
        &moto,
        &[
            "plan",
            "--manifests",
            out_dir,
            "--env",
            "adopted",
            "-o",
            "json",
        ],
    );
    let plan: Value = serde_json::from_slice(&out.stdout).expect("json plan");
    let td: Vec<&Value> = plan["changes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| c["key"]["kind"] == "TaskDefinition")
        .collect();
    assert_eq!(td.len(), 1, "{plan:#}");
    let fields: Vec<&str> = td[0]["fields"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|f| f["path"].as_str())
        .collect();
    assert_eq!(fields.len(), 1, "{fields:?}");
    assert!(fields[0].ends_with(".image"), "{fields:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_service_deployed_by_codedeploy_is_refused_with_the_reason() {
    let moto = Moto::start().await;
    let sdk = moto.sdk(&moto.endpoint()).await;
    let client = sdk.ecs_client();
    let arn = register(client, &corpus("agent-extra-hosts")).await;
    let input = json!({"cluster": CLUSTER, "serviceName": "blue", "taskDefinition": arn, "launchType": "EC2", "desiredCount": 1, "deploymentController": {"type": "CODE_DEPLOY"}});
    ferry_ecs::generated::create_service(client, &input)
        .expect("fits")
        .send()
        .await
        .expect("created");
    let dir = tempfile::tempdir().expect("tempdir");
    let out = ferry(
        &moto,
        &[
            "import",
            "--cluster",
            CLUSTER,
            "--env",
            "adopted",
            "--out",
            dir.path().to_str().expect("utf-8"),
        ],
    );
    assert!(!out.status.success(), "{}", text(&out));
    let t = text(&out);
    assert!(
        t.contains("deploymentController.type") && t.contains("CodeDeploy"),
        "{t}"
    );
    assert!(!dir.path().join("adopted").exists(), "nothing written");
}

/// Every task definition of the corpus that imports offline (the ones `import_corpus.rs`
/// shows to round-trip), each run as a service of one moto cluster: Fargate where it can run
/// only there, EC2 otherwise, awsvpc ones with the network. The whole cluster is adopted at
/// once: the plan is ownership tags only and apply registers no revision.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_whole_corpus_as_one_live_cluster_is_adopted_without_a_revision() {
    let moto = Moto::start().await;
    let sdk = moto.sdk(&moto.endpoint()).await;
    let client = sdk.ecs_client();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/ecs-corpus/task-definitions");
    let mut files: Vec<_> = std::fs::read_dir(&root)
        .expect("corpus")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    files.sort();
    let scratch = tempfile::tempdir().expect("tempdir");
    let mut names = Vec::new();
    for (i, file) in files.iter().enumerate() {
        // Only what imports and renders offline (the rest is refused, naming the field).
        let out_dir = scratch.path().join(format!("t{i}"));
        let offline = Command::new(BIN)
            .args(["import", "--env", "x", "--out"])
            .arg(&out_dir)
            .arg("--task-definition")
            .arg(file)
            .output()
            .expect("ferry runs");
        if !offline.status.success() {
            continue;
        }
        if String::from_utf8_lossy(&offline.stderr).contains("awsvpc task needs subnets") {
            let env = out_dir.join("x/environment.yaml");
            let mut text = std::fs::read_to_string(&env).expect("environment written");
            text.push_str("  network:\n    subnets: [subnet-0123456789abcdef0]\n");
            std::fs::write(&env, text).expect("environment edited");
        }
        let render = Command::new(BIN)
            .args(["render", "--env", "x", "--manifests"])
            .arg(&out_dir)
            .output()
            .expect("ferry runs");
        if !render.status.success() {
            continue;
        }
        let stem = file
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let td = corpus(&stem);
        // moto is stricter than ECS on a few (container memory on EC2): those are left out.
        let (input, _) = ferry_core::import::task_definition_json(&td).expect("a valid definition");
        let Ok(registered) =
            ferry_ecs::generated::register_task_definition(client, &Value::Object(input))
                .expect("fits the SDK")
                .send()
                .await
        else {
            eprintln!("{stem}: moto refuses to register it");
            continue;
        };
        let arn = registered
            .task_definition()
            .and_then(|t| t.task_definition_arn())
            .expect("arn")
            .to_owned();
        let fargate = ferry_core::import::fargate_only(td.as_object().expect("object"));
        let awsvpc = td["networkMode"] == "awsvpc" || fargate;
        let name = format!("c{i}");
        let mut input = json!({
            "cluster": CLUSTER, "serviceName": name, "taskDefinition": arn, "desiredCount": 1,
            "launchType": if fargate { "FARGATE" } else { "EC2" },
        });
        if awsvpc {
            input["networkConfiguration"] = json!({"awsvpcConfiguration": {"subnets": [moto.subnet], "securityGroups": [moto.security_group], "assignPublicIp": "DISABLED"}});
        }
        ferry_ecs::generated::create_service(client, &input)
            .expect("fits the SDK")
            .send()
            .await
            .unwrap_or_else(|e| panic!("create {stem}: {e:?}"));
        names.push(name);
    }
    eprintln!("{} services from the corpus", names.len());
    assert!(names.len() >= 50, "only {} services", names.len());
    let before = revisions(client).await;

    let dir = tempfile::tempdir().expect("tempdir");
    let out_dir = dir.path().to_str().expect("utf-8");
    let out = ferry(
        &moto,
        &[
            "import",
            "--cluster",
            CLUSTER,
            "--env",
            "all",
            "--out",
            out_dir,
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    let out = ferry(
        &moto,
        &["plan", "--manifests", out_dir, "--env", "all", "-o", "json"],
    );
    let plan: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let changes = plan["changes"].as_array().cloned().unwrap_or_default();
    assert_eq!(changes.len(), names.len(), "{plan:#}");
    for c in &changes {
        assert_eq!(c["key"]["kind"], "EcsService", "{c:#}");
        for f in c["fields"].as_array().into_iter().flatten() {
            let path = f["path"].as_str().unwrap_or_default();
            assert!(
                path.starts_with("tags.ferry.dev/"),
                "not only ownership: {c:#}"
            );
        }
    }
    let out = ferry(&moto, &["apply", "--manifests", out_dir, "--env", "all"]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        revisions(client).await,
        before,
        "apply registered a revision"
    );
    let out = ferry(&moto, &["plan", "--manifests", out_dir, "--env", "all"]);
    assert_eq!(out.status.code(), Some(0), "not converged: {}", text(&out));
}
