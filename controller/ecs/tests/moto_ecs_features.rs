//! More of ECS through the real AWS SDK against moto (what moto keeps: task definitions with
//! runtime platform, EFS volumes, ephemeral storage, mount points, ulimits, stop timeout,
//! read-only root and user; services with ECS Exec, capacity providers, placement and Cloud Map
//! registries), and Service Connect against the in-process fake (moto drops it). Each is
//! created from nothing, a second apply writes nothing, and a change is one write.

mod support;

use ferry_core::platform::ResultCode;
use ferry_ecs::EcsApi;
use ferry_ecs::fake::FakeEcs;
use ferry_ecs::{EcsPlatform, SdkApi};
use support::{CLUSTER, Moto, Proxy, Stack, describe, live_service, plan, reconcile};

const REGISTRY: &str =
    "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-0123456789abcdef";

fn all_synced(results: &[ferry_core::platform::ResourceResult]) {
    for r in results {
        assert_eq!(r.code, ResultCode::Synced, "{r:?}");
    }
}

/// `web`: ARM64 Fargate with EFS, scratch space, ECS Exec and a Cloud Map registry;
/// `batch`: EC2 with placement constraints and strategy.
fn stack(moto: &Moto) -> Stack {
    let mut stack = Stack::new(&moto.subnet, &moto.security_group, &["web", "batch"]);
    let web = &mut stack.services[0];
    web.spec_extra = format!(
        "  enableExecuteCommand: true\n  capacityProviderStrategy: [{{ capacityProvider: FARGATE, weight: 1 }}]\n  serviceRegistries: [{{ registryArn: \"{REGISTRY}\", containerName: app, containerPort: 8080 }}]\n"
    );
    web.task_extra = "    runtimePlatform: { cpuArchitecture: ARM64 }\n    ephemeralStorage: { sizeInGiB: 30 }\n    volumes:\n      - name: data\n        efsVolumeConfiguration:\n          fileSystemId: fs-0123456789abcdef0\n          transitEncryption: ENABLED\n          authorizationConfig: { accessPointId: fsap-0123456789abcdef0, iam: ENABLED }\n      - name: tmp\n".into();
    web.container_extra = "        stopTimeout: 60\n        ulimits: [{ name: nofile, softLimit: 65536, hardLimit: 65536 }]\n        mountPoints:\n          - { sourceVolume: data, containerPath: /data }\n          - { sourceVolume: tmp, containerPath: /tmp }\n".into();
    let batch = &mut stack.services[1];
    batch.container_extra =
        "        readonlyRootFilesystem: true\n        user: \"1000:1000\"\n".into();
    batch.spec_extra = "  launchType: EC2\n  placementConstraints: [{ type: distinctInstance }]\n  placementStrategy: [{ type: spread, field: \"attribute:ecs.availability-zone\" }, { type: binpack, field: memory }]\n".into();
    stack
}

async fn converge(
    platform: &EcsPlatform<SdkApi>,
    moto: &Moto,
    stack: &Stack,
    root: &std::path::Path,
) {
    reconcile(platform, &stack.load(root)).await;
    moto.push_image("web-app", "v1").await;
    let (_, results) = reconcile(platform, &stack.load(root)).await;
    all_synced(&results);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_task_and_service_features_apply_then_a_second_apply_writes_nothing() {
    let moto = Moto::start().await;
    let proxy = Proxy::start(&moto.endpoint()).await;
    let platform = moto.platform(&proxy.endpoint()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let stack = stack(&moto);
    converge(&platform, &moto, &stack, dir.path()).await;

    // What ECS (moto) holds is what the manifest says.
    let sdk = moto.sdk(&moto.endpoint()).await;
    let web = live_service(&sdk, "web").await;
    assert!(web.enable_execute_command);
    assert_eq!(web.service_registries.len(), 1);
    assert_eq!(web.service_registries[0].registry_arn, REGISTRY);
    assert_eq!(
        web.capacity_provider_strategy[0].capacity_provider,
        "FARGATE"
    );
    let (_, td) = sdk
        .describe_task_definition(&web.task_definition)
        .await
        .expect("describe")
        .expect("exists");
    let td = serde_json::to_value(&td).expect("json");
    assert_eq!(
        td["runtimePlatform"],
        serde_json::json!({"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"})
    );
    assert_eq!(td["ephemeralStorage"]["sizeInGiB"], 30);
    assert_eq!(
        td["volumes"][0]["efsVolumeConfiguration"]["authorizationConfig"]["accessPointId"],
        "fsap-0123456789abcdef0"
    );
    let app = &td["containerDefinitions"][0];
    assert_eq!(app["stopTimeout"], 60);
    assert_eq!(app["ulimits"][0]["softLimit"], 65536);
    assert_eq!(app["mountPoints"][1]["containerPath"], "/tmp");
    let batch = live_service(&sdk, "batch").await;
    let (_, batch_td) = sdk
        .describe_task_definition(&batch.task_definition)
        .await
        .expect("describe")
        .expect("exists");
    let job = &batch_td.container_definitions[0];
    assert_eq!(job.readonly_root_filesystem, Some(true));
    assert_eq!(job.user.as_deref(), Some("1000:1000"));
    assert_eq!(batch.placement_constraints.len(), 1);
    assert_eq!(batch.placement_strategy.len(), 2);
    assert_eq!(
        batch.placement_strategy[0].field.as_deref(),
        Some("attribute:ecs.availability-zone")
    );

    // Converged: ECS's defaults (EFS root `/`, `readOnly: false`, empty lists) are no drift,
    // and an apply writes nothing, counted on the wire.
    let (_, _, again) = plan(&platform, &stack.load(dir.path())).await;
    assert!(again.is_empty(), "{:#?}", again.changes);
    proxy.reset_counts();
    let (third, results) = reconcile(&platform, &stack.load(dir.path())).await;
    assert!(third.is_empty() && results.is_empty());
    assert_eq!(proxy.writes(), Default::default(), "{:?}", proxy.counts());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_turning_exec_and_the_registry_off_is_one_update_service() {
    let moto = Moto::start().await;
    let proxy = Proxy::start(&moto.endpoint()).await;
    let platform = moto.platform(&proxy.endpoint()).await;
    let dir = tempfile::tempdir().expect("tmp");
    let mut stack = stack(&moto);
    converge(&platform, &moto, &stack, dir.path()).await;

    stack.services[0].spec_extra =
        "  capacityProviderStrategy: [{ capacityProvider: FARGATE, weight: 1 }]\n".into();
    stack.services[1].spec_extra =
        "  launchType: EC2\n  placementStrategy: [{ type: binpack, field: cpu }]\n".into();
    let desired = stack.load(dir.path());
    let (_, _, change) = plan(&platform, &desired).await;
    assert_eq!(
        describe(&change),
        ["update EcsService/batch", "update EcsService/web"]
    );
    let paths: Vec<&str> = change
        .changes
        .iter()
        .flat_map(|c| c.fields.iter().map(|f| f.path.as_str()))
        .collect();
    assert_eq!(
        paths,
        [
            "placementConstraints",
            "placementStrategy",
            "enableExecuteCommand",
            "serviceRegistries"
        ],
        "{:#?}",
        change.changes
    );
    proxy.reset_counts();
    let (_, results) = reconcile(&platform, &desired).await;
    all_synced(&results);
    let writes = proxy.writes();
    assert_eq!(writes.get("ecs:UpdateService"), Some(&2), "{writes:?}");
    assert_eq!(writes.values().sum::<u64>(), 2, "{writes:?}");

    let sdk = moto.sdk(&moto.endpoint()).await;
    let web = live_service(&sdk, "web").await;
    assert!(!web.enable_execute_command);
    assert!(web.service_registries.is_empty());
    let batch = live_service(&sdk, "batch").await;
    assert!(batch.placement_constraints.is_empty());
    assert_eq!(batch.placement_strategy.len(), 1);
    let (_, _, after) = plan(&platform, &desired).await;
    assert!(after.is_empty(), "{:#?}", after.changes);
}

#[tokio::test]
async fn fake_service_connect_is_created_kept_and_turned_off() {
    let platform = EcsPlatform::new(FakeEcs::new(&[CLUSTER], 0), support::fast_options());
    let dir = tempfile::tempdir().expect("tmp");
    let mut stack = Stack::new("subnet-1", "sg-1", &["web"]);
    stack.services[0].port_name = Some("http".into());
    stack.services[0].spec_extra = "  serviceConnect:\n    namespace: numbers\n    services:\n      - portName: http\n        clientAliases: [{ port: 80, dnsName: web.numbers }]\n".into();
    let desired = stack.load(dir.path());
    reconcile(&platform, &desired).await;
    platform
        .api()
        .push_image("web-app", "v1", &format!("sha256:{:064x}", 1));
    let (created, results) = reconcile(&platform, &desired).await;
    all_synced(&results);
    assert_eq!(
        describe(&created),
        ["create TaskDefinition/test-web", "create EcsService/web"]
    );
    let web = platform.api().service("web").expect("web");
    let sc = web.service_connect_configuration.expect("service connect");
    assert_eq!(sc.namespace.as_deref(), Some("numbers"));
    assert_eq!(sc.services[0].port_name, "http");
    assert_eq!(
        sc.services[0].client_aliases[0].dns_name.as_deref(),
        Some("web.numbers")
    );

    platform.calls().reset();
    let (again, results) = reconcile(&platform, &desired).await;
    assert!(
        again.is_empty() && results.is_empty(),
        "{:?}",
        again.changes
    );
    assert_eq!(platform.calls().writes(), 0);

    // A new client alias is one UpdateService; removing Service Connect turns it off.
    stack.services[0].spec_extra = stack.services[0].spec_extra.replace(
        "[{ port: 80, dnsName: web.numbers }]",
        "[{ port: 80, dnsName: web.numbers }, { port: 8080 }]",
    );
    let (changed, results) = reconcile(&platform, &stack.load(dir.path())).await;
    all_synced(&results);
    assert_eq!(describe(&changed), ["update EcsService/web"]);
    assert_eq!(
        changed.changes[0].fields[0].path,
        "serviceConnect.services.http.clientAliases.8080.port"
    );
    let web = platform.api().service("web").expect("web");
    assert_eq!(
        web.service_connect_configuration
            .expect("service connect")
            .services[0]
            .client_aliases
            .len(),
        2
    );

    stack.services[0].spec_extra = String::new();
    let desired = stack.load(dir.path());
    let (off, results) = reconcile(&platform, &desired).await;
    all_synced(&results);
    assert_eq!(describe(&off), ["update EcsService/web"]);
    assert!(
        platform
            .api()
            .service("web")
            .expect("web")
            .service_connect_configuration
            .is_none()
    );
    let (after, _) = reconcile(&platform, &desired).await;
    assert!(after.is_empty(), "{:?}", after.changes);
}
