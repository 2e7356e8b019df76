//! Benchmark driver for `cargo xtask bench reconcile`: against the moto at `argv[1]`, a stack of
//! N services (`argv[2]`); times a no-op reconcile (warm: the controller's steady state, and
//! cold: a fresh process), a one-image change, and the floor: the same minimal describe calls
//! issued directly. Every service autoscales (CPU and memory target tracking, 1..3 tasks), so
//! the no-op rows include the batched Application Auto Scaling reads. With `faults` as
//! `argv[3]`, also an apply of 6 changes (3 task definitions, 3 services) with and without 20%
//! injected throttling/5xx through a proxy. Prints one JSON line with calls per API and wall
//! times.

#[path = "../tests/support/mod.rs"]
mod support;

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::Path;
use std::time::{Duration, Instant};

use ferry_core::diff::diff;
use ferry_core::load_environment;
use ferry_core::platform::{ApplyOptions, Platform};
use ferry_core::render::render;
use ferry_ecs::{AutoscalingApi, AwsSettings, EcsApi, EcsOptions, EcsPlatform, SdkApi};
use futures::{StreamExt, stream};

const CLUSTER: &str = "bench";

fn ec2(port: u16, params: &str) -> String {
    let body = format!("{params}&Version=2016-11-15");
    let request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\nAuthorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).expect("moto");
    s.write_all(request.as_bytes()).expect("send");
    let mut out = String::new();
    s.read_to_string(&mut out).expect("read");
    out
}

fn between(text: &str, open: &str, close: &str) -> String {
    let start = text.find(open).expect("tag") + open.len();
    let end = text[start..].find(close).expect("tag") + start;
    text[start..end].to_owned()
}

fn write_stack(root: &Path, n: usize, subnet: &str, sg: &str, one_tag: &str) {
    let env = root.join("bench");
    std::fs::create_dir_all(&env).expect("mkdir");
    std::fs::write(env.join("environment.yaml"), format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: bench\nspec:\n  region: us-east-1\n  cluster: {CLUSTER}\n  registry: 123456789012.dkr.ecr.us-east-1.amazonaws.com\n  network: {{ subnets: [{subnet}], securityGroups: [{sg}] }}\n  images:\n    web-app: {{ tag: v1 }}\n    one-app: {{ tag: {one_tag} }}\n  prune: true\n")).expect("write");
    let mut docs = vec![
        "apiVersion: ferry.dev/v1alpha1\nkind: EcrRepository\nmetadata:\n  name: web-app\nspec:\n  lifecycle: { keepLast: 10 }\n".to_owned(),
        "apiVersion: ferry.dev/v1alpha1\nkind: EcrRepository\nmetadata:\n  name: one-app\nspec:\n  lifecycle: { keepLast: 10 }\n".to_owned(),
    ];
    for i in 0..n {
        let image = if i == 0 { "one-app" } else { "web-app" };
        docs.push(format!("apiVersion: ferry.dev/v1alpha1\nkind: EcsService\nmetadata:\n  name: svc-{i:04}\nspec:\n  desiredCount: 1\n  autoscaling: {{ minCapacity: 1, maxCapacity: 3, targetTracking: [{{ metric: cpu, target: 70 }}, {{ metric: memory, target: 80 }}] }}\n  taskDefinition:\n    cpu: 256\n    memory: 512\n    containers:\n      - name: app\n        image: {image}\n        portMappings: [{{ containerPort: 8080 }}]\n        environment: {{ INDEX: \"{i}\" }}\n"));
    }
    std::fs::write(env.join("stack.yaml"), docs.join("---\n")).expect("write");
}

async fn push(api: &SdkApi, repo: &str, tag: &str) {
    let manifest = serde_json::json!({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1, "digest": format!("sha256:{:064x}", tag.len())},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 1, "digest": format!("sha256:{:0>64}", tag.bytes().map(|b| format!("{b:02x}")).collect::<String>())}]});
    api.ecr_client()
        .put_image()
        .repository_name(repo)
        .image_tag(tag)
        .image_manifest(manifest.to_string())
        .send()
        .await
        .expect("push");
}

async fn reconcile(platform: &EcsPlatform, root: &Path) -> (f64, usize, BTreeMap<String, u64>) {
    platform.calls().reset();
    let t = Instant::now();
    let desired = load_environment(root, "bench").unwrap_or_else(|d| panic!("{d}"));
    let observed = platform.observe(&desired).await.expect("observe");
    let rendered = render(&desired, &observed.digests);
    let plan = diff(&desired, &rendered, &observed.actual);
    let results = platform
        .apply(&desired, &rendered, &plan, &ApplyOptions::default())
        .await;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    for r in &results {
        assert_eq!(r.code, ferry_core::platform::ResultCode::Synced, "{r:?}");
    }
    let calls = platform
        .calls()
        .snapshot()
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
    (ms, plan.changes.len(), calls)
}

#[tokio::main]
async fn main() {
    let endpoint = std::env::args().nth(1).expect("moto endpoint");
    let n: usize = std::env::args()
        .nth(2)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10);
    let port: u16 = endpoint
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    let settings = AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint.clone()),
        static_credentials: Some(("testing".into(), "testing".into())),
        initial_backoff: Duration::from_millis(50),
        ..AwsSettings::default()
    };
    let api = SdkApi::connect(&settings).await;
    api.ecs_client()
        .create_cluster()
        .cluster_name(CLUSTER)
        .send()
        .await
        .expect("cluster");
    let vpc = between(
        &ec2(port, "Action=CreateVpc&CidrBlock=10.0.0.0%2F16"),
        "<vpcId>",
        "</vpcId>",
    );
    let subnet = between(
        &ec2(
            port,
            &format!("Action=CreateSubnet&VpcId={vpc}&CidrBlock=10.0.1.0%2F24"),
        ),
        "<subnetId>",
        "</subnetId>",
    );
    let sg = between(
        &ec2(
            port,
            &format!("Action=CreateSecurityGroup&VpcId={vpc}&GroupName=b&GroupDescription=b"),
        ),
        "<groupId>",
        "</groupId>",
    );
    let dir = tempfile::tempdir().expect("tmp");
    write_stack(dir.path(), n, &subnet, &sg, "v1");

    let options = EcsOptions::default();
    let platform = EcsPlatform::connect(&settings, options.clone()).await;
    // Set-up: repositories, then images, then every service.
    let _ = reconcile_setup(&platform, dir.path()).await;
    push(&api, "web-app", "v1").await;
    push(&api, "one-app", "v1").await;
    let (setup_ms, _, _) = reconcile(&platform, dir.path()).await;

    let (warm_ms, warm_changes, warm_calls) = reconcile(&platform, dir.path()).await;
    let cold = EcsPlatform::connect(&settings, options.clone()).await;
    let (cold_ms, cold_changes, cold_calls) = reconcile(&cold, dir.path()).await;
    push(&api, "one-app", "v2").await;
    write_stack(dir.path(), n, &subnet, &sg, "v2");
    let (change_ms, change_changes, change_calls) = reconcile(&platform, dir.path()).await;

    // The floor: the minimal describes, issued directly with the same concurrency.
    let t = Instant::now();
    let names = api.list_services(CLUSTER).await.expect("list");
    let chunks: Vec<Vec<String>> = names.chunks(10).map(<[String]>::to_vec).collect();
    let batches = chunks.len();
    let _: Vec<_> = stream::iter(chunks)
        .map(|c| {
            let api = &api;
            async move { api.describe_services(CLUSTER, &c).await.expect("describe") }
        })
        .buffer_unordered(options.read_concurrency)
        .collect()
        .await;
    let repos = api.describe_repositories().await.expect("repos");
    for r in repos
        .iter()
        .filter(|r| r.repository_name == "web-app" || r.repository_name == "one-app")
    {
        let _ = futures::join!(
            api.list_repository_tags(&r.repository_arn),
            api.get_lifecycle_policy(&r.repository_name),
            api.describe_image(&r.repository_name, "v1")
        );
    }
    // Autoscaling: targets 50 ids a call, then every page of policies and scheduled actions.
    let ids: Vec<String> = names
        .iter()
        .map(|n| format!("service/{CLUSTER}/{n}"))
        .collect();
    let target_batches: Vec<Vec<String>> = ids.chunks(50).map(<[String]>::to_vec).collect();
    let target_calls = target_batches.len();
    let _: Vec<_> = stream::iter(target_batches)
        .map(|c| {
            let api = &api;
            async move { api.describe_scalable_targets(&c).await.expect("targets") }
        })
        .buffer_unordered(options.read_concurrency)
        .collect()
        .await;
    let pages = |policies: bool| {
        let api = &api;
        async move {
            let (mut token, mut calls) = (None, 0u64);
            loop {
                calls += 1;
                let next = if policies {
                    api.describe_scaling_policies(token)
                        .await
                        .expect("policies")
                        .1
                } else {
                    api.describe_scheduled_actions(token)
                        .await
                        .expect("actions")
                        .1
                };
                match next {
                    Some(t) => token = Some(t),
                    None => return calls,
                }
            }
        }
    };
    let (policy_pages, action_pages) = futures::join!(pages(true), pages(false));
    let floor_ms = t.elapsed().as_secs_f64() * 1000.0;
    let floor_calls = serde_json::json!({"ListServices": 1, "DescribeServices": batches, "DescribeRepositories": 1,
        "ecr:ListTagsForResource": 2, "GetLifecyclePolicy": 2, "DescribeImages": 2,
        "DescribeScalableTargets": target_calls, "DescribeScalingPolicies": policy_pages,
        "DescribeScheduledActions": action_pages});
    let faults = if std::env::args().nth(3).as_deref() == Some("faults") {
        write_small_stack(dir.path(), "clean", &subnet, &sg);
        write_small_stack(dir.path(), "faulty", &subnet, &sg);
        let clean = six_changes(&endpoint, &endpoint, dir.path(), "clean").await;
        let proxy = support::Proxy::start(&endpoint).await;
        proxy.set_faults(5, &[support::Fault::Throttle, support::Fault::ServerError]);
        let faulty = six_changes(&proxy.endpoint(), &endpoint, dir.path(), "faulty").await;
        let injected = proxy.injected();
        proxy.set_faults(0, &[]);
        serde_json::json!({"clean": clean, "faulty": faulty, "injected": injected})
    } else {
        serde_json::Value::Null
    };
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let rss_kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    println!(
        "{}",
        serde_json::json!({
            "services": n, "setup_ms": setup_ms,
            "noop_warm": {"ms": warm_ms, "changes": warm_changes, "calls": warm_calls},
            "noop_cold": {"ms": cold_ms, "changes": cold_changes, "calls": cold_calls},
            "change": {"ms": change_ms, "changes": change_changes, "calls": change_calls},
            "floor": {"ms": floor_ms, "calls": floor_calls},
            "faults": faults,
            "peak_rss_mib": rss_kib as f64 / 1024.0,
        })
    );
}

/// An environment `env` of 3 services on its own cluster, with public images (no ECR).
fn write_small_stack(root: &Path, env: &str, subnet: &str, sg: &str) {
    let dir = root.join(env);
    std::fs::create_dir_all(&dir).expect("mkdir");
    let mut docs = vec![format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: {env}\nspec:\n  region: us-east-1\n  cluster: {env}\n  network: {{ subnets: [{subnet}], securityGroups: [{sg}] }}\n"
    )];
    for i in 0..3 {
        docs.push(format!("apiVersion: ferry.dev/v1alpha1\nkind: EcsService\nmetadata:\n  name: f-{i}\nspec:\n  desiredCount: 1\n  taskDefinition:\n    cpu: 256\n    memory: 512\n    containers:\n      - name: app\n        image: registry.example.com/app:{i}\n"));
    }
    std::fs::write(dir.join("stack.yaml"), docs.join("---\n")).expect("write");
}

/// Apply the 6 changes of `env` once through `endpoint` (production retry settings): wall
/// time, whether every change went through, and task definition revisions per family.
async fn six_changes(endpoint: &str, moto: &str, root: &Path, env: &str) -> serde_json::Value {
    let settings = AwsSettings {
        region: Some("us-east-1".into()),
        endpoint_url: Some(endpoint.to_owned()),
        static_credentials: Some(("testing".into(), "testing".into())),
        ..AwsSettings::default()
    };
    let direct = SdkApi::connect(&AwsSettings {
        endpoint_url: Some(moto.to_owned()),
        ..settings.clone()
    })
    .await;
    direct
        .ecs_client()
        .create_cluster()
        .cluster_name(env)
        .send()
        .await
        .expect("cluster");
    let platform = EcsPlatform::connect(&settings, EcsOptions::default()).await;
    let t = Instant::now();
    let desired = load_environment(root, env).unwrap_or_else(|d| panic!("{d}"));
    let observed = platform.observe(&desired).await.expect("observe");
    let rendered = render(&desired, &observed.digests);
    let plan = diff(&desired, &rendered, &observed.actual);
    let results = platform
        .apply(&desired, &rendered, &plan, &ApplyOptions::default())
        .await;
    let ms = t.elapsed().as_secs_f64() * 1000.0;
    let synced = results
        .iter()
        .all(|r| r.code == ferry_core::platform::ResultCode::Synced);
    let mut revisions = 0;
    for i in 0..3 {
        revisions += direct
            .list_task_definitions(&format!("{env}-f-{i}"))
            .await
            .expect("list")
            .len();
    }
    serde_json::json!({"ms": ms, "changes": plan.changes.len(), "all_synced": synced,
        "revisions": revisions})
}

/// The first reconcile creates the repositories; the services wait for the images (their
/// task definitions fail until then), so its results are not checked.
async fn reconcile_setup(platform: &EcsPlatform, root: &Path) -> usize {
    let desired = load_environment(root, "bench").unwrap_or_else(|d| panic!("{d}"));
    let observed = platform.observe(&desired).await.expect("observe");
    let rendered = render(&desired, &observed.digests);
    let plan = diff(&desired, &rendered, &observed.actual);
    platform
        .apply(&desired, &rendered, &plan, &ApplyOptions::default())
        .await
        .len()
}
