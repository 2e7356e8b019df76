//! More of ECS in the manifest model, as a user meets it: runtime platform, EFS volumes and
//! mount points, ephemeral storage, ulimits, stop timeout, ECS Exec, placement, capacity
//! providers, Cloud Map registries and Service Connect render to ECS's own inputs; a live
//! service as ECS reports it (its defaults filled in, the namespace as an ARN) is no drift; and
//! every rule ECS would enforce is refused at the line of the offending field.

use std::path::Path;

use ferry_core::diff::diff;
use ferry_core::live::{ActualState, LiveService};
use ferry_core::render::{Digests, Rendered, render};
use ferry_core::{DesiredState, Op, load_environment};
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

const REGISTRY: &str =
    "arn:aws:servicediscovery:us-east-1:123456789012:service/srv-0123456789abcdef";
const NAMESPACE_ARN: &str =
    "arn:aws:servicediscovery:us-east-1:123456789012:namespace/ns-0123456789abcdef";

/// An ARM64 Fargate service using every task and service feature Fargate allows.
fn api() -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1
kind: EcsService
metadata:
  name: api
spec:
  enableExecuteCommand: true
  capacityProviderStrategy: [{{ capacityProvider: FARGATE, weight: 1, base: 1 }}]
  serviceConnect:
    namespace: numbers
    services:
      - portName: http
        clientAliases: [{{ port: 80 }}]
  serviceRegistries: [{{ registryArn: \"{REGISTRY}\", containerName: app, containerPort: 5000 }}]
  taskDefinition:
    cpu: 512
    memory: 1024
    runtimePlatform: {{ cpuArchitecture: ARM64 }}
    ephemeralStorage: {{ sizeInGiB: 40 }}
    volumes:
      - name: data
        efsVolumeConfiguration:
          fileSystemId: fs-0123456789abcdef0
          transitEncryption: ENABLED
          authorizationConfig: {{ accessPointId: fsap-0123456789abcdef0, iam: ENABLED }}
      - name: tmp
    containers:
      - name: app
        image: nginx:1.27
        portMappings: [{{ containerPort: 5000, name: http }}]
        readonlyRootFilesystem: true
        user: \"1000:1000\"
        stopTimeout: 60
        ulimits: [{{ name: nofile, softLimit: 65536, hardLimit: 65536 }}]
        mountPoints:
          - {{ sourceVolume: data, containerPath: /data }}
          - {{ sourceVolume: tmp, containerPath: /tmp }}
      - name: debug
        image: busybox:1.36
        essential: false
"
    )
}

/// An EC2 service with placement, and an x86 Fargate Spot one.
const OTHERS: &str = "apiVersion: ferry.dev/v1alpha1
kind: EcsService
metadata:
  name: batch
spec:
  launchType: EC2
  placementConstraints: [{ type: distinctInstance }, { type: memberOf, expression: \"attribute:ecs.instance-type =~ t3.*\" }]
  placementStrategy: [{ type: spread, field: \"attribute:ecs.availability-zone\" }, { type: binpack, field: memory }]
  taskDefinition:
    cpu: 256
    memory: 512
    containers: [{ name: job, image: busybox:1.36 }]
---
apiVersion: ferry.dev/v1alpha1
kind: EcsService
metadata:
  name: spot
spec:
  capacityProviderStrategy:
    - { capacityProvider: FARGATE, weight: 1, base: 1 }
    - { capacityProvider: FARGATE_SPOT, weight: 3 }
  taskDefinition:
    cpu: 256
    memory: 512
    runtimePlatform: { cpuArchitecture: X86_64, operatingSystemFamily: LINUX }
    containers: [{ name: job, image: busybox:1.36 }]
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

fn all() -> String {
    format!("{}---\n{OTHERS}", api())
}

fn service_json(rendered: &Rendered, name: &str) -> serde_json::Value {
    let svc = rendered
        .services
        .iter()
        .find(|s| s.name == name)
        .expect("service");
    serde_json::to_value(svc).expect("json")
}

#[test]
fn renders_ecs_own_inputs() {
    let dir = write(&all());
    let rendered = render(&load(dir.path()), &Digests::new());
    let api = service_json(&rendered, "api");
    let td = &api["registerTaskDefinition"];
    assert_eq!(
        td["runtimePlatform"],
        json!({"cpuArchitecture": "ARM64", "operatingSystemFamily": "LINUX"})
    );
    assert_eq!(td["ephemeralStorage"], json!({"sizeInGiB": 40}));
    assert_eq!(td["requiresCompatibilities"], json!(["FARGATE"]));
    assert_eq!(
        td["volumes"],
        json!([
            {"name": "data", "efsVolumeConfiguration": {
                "fileSystemId": "fs-0123456789abcdef0", "transitEncryption": "ENABLED",
                "authorizationConfig": {"accessPointId": "fsap-0123456789abcdef0", "iam": "ENABLED"}}},
            {"name": "tmp"}
        ])
    );
    let app = &td["containerDefinitions"][0];
    assert_eq!(
        app["mountPoints"],
        json!([{"sourceVolume": "data", "containerPath": "/data"}, {"sourceVolume": "tmp", "containerPath": "/tmp"}])
    );
    assert_eq!(
        app["ulimits"],
        json!([{"name": "nofile", "softLimit": 65536, "hardLimit": 65536}])
    );
    assert_eq!(app["stopTimeout"], json!(60));
    assert_eq!(app["readonlyRootFilesystem"], json!(true));
    assert_eq!(app["user"], json!("1000:1000"));
    for input in ["createService", "updateService"] {
        let s = &api[input];
        assert_eq!(s["enableExecuteCommand"], json!(true), "{input}");
        assert_eq!(
            s["serviceConnectConfiguration"],
            json!({"enabled": true, "namespace": "numbers", "services": [{"portName": "http", "clientAliases": [{"port": 80}]}]}),
            "{input}"
        );
        assert_eq!(
            s["serviceRegistries"],
            json!([{"registryArn": REGISTRY, "containerName": "app", "containerPort": 5000}]),
            "{input}"
        );
    }
    assert_eq!(api["createService"].get("launchType"), None);

    let batch = service_json(&rendered, "batch");
    assert_eq!(
        batch["registerTaskDefinition"]["requiresCompatibilities"],
        json!(["EC2"])
    );
    assert_eq!(
        batch["createService"]["placementStrategy"],
        json!([{"type": "spread", "field": "attribute:ecs.availability-zone"}, {"type": "binpack", "field": "memory"}])
    );
    assert_eq!(
        batch["updateService"]["placementConstraints"][1],
        json!({"type": "memberOf", "expression": "attribute:ecs.instance-type =~ t3.*"})
    );
    // Services without these settings render exactly as before: nothing new, not even empties.
    let spot = service_json(&rendered, "spot");
    for absent in [
        "enableExecuteCommand",
        "placementConstraints",
        "serviceRegistries",
        "serviceConnectConfiguration",
    ] {
        assert_eq!(spot["createService"].get(absent), None, "{absent}");
        assert_eq!(spot["updateService"].get(absent), None, "{absent}");
    }
    assert_eq!(
        spot["createService"]["capacityProviderStrategy"],
        json!([{"capacityProvider": "FARGATE", "weight": 1, "base": 1}, {"capacityProvider": "FARGATE_SPOT", "weight": 3, "base": 0}])
    );
}

/// The live state ECS reports after creating `rendered`: its defaults filled in (EFS root `/`,
/// `readOnly: false`, discovery and DNS names, the namespace's ARN, `cpu: 0`), lists reordered.
fn as_ecs_reports(rendered: &Rendered) -> ActualState {
    let mut live = ActualState::default();
    for svc in &rendered.services {
        let arn = format!("arn:aws:ecs:us-east-1:1:task-definition/dev-{}:1", svc.name);
        let mut td = svc.register_task_definition.clone();
        td.tags.clear();
        td.volumes.reverse();
        for v in &mut td.volumes {
            if let Some(efs) = &mut v.efs_volume_configuration {
                efs.root_directory = Some("/".into());
            }
        }
        for c in &mut td.container_definitions {
            c.cpu = Some(0);
            c.mount_points.reverse();
            for m in &mut c.mount_points {
                m.read_only = Some(false);
            }
        }
        live.task_definitions.insert(arn.clone(), td);
        let c = &svc.create_service;
        let mut sc = c.service_connect_configuration.clone();
        if let Some(sc) = &mut sc {
            sc.namespace = Some(NAMESPACE_ARN.into());
            for s in &mut sc.services {
                s.discovery_name = Some(s.port_name.clone());
                for a in &mut s.client_aliases {
                    a.dns_name = Some(format!("{}.numbers", s.port_name));
                }
            }
        }
        let mut constraints = c.placement_constraints.clone();
        constraints.reverse();
        live.services.insert(
            svc.name.clone(),
            LiveService {
                service_name: svc.name.clone(),
                status: "ACTIVE".into(),
                desired_count: c.desired_count.unwrap_or_default(),
                task_definition: arn,
                launch_type: c.launch_type.clone(),
                capacity_provider_strategy: c.capacity_provider_strategy.clone(),
                network_configuration: c.network_configuration.clone(),
                deployment_configuration: Some(c.deployment_configuration.clone()),
                tags: c.tags.clone(),
                enable_execute_command: c.enable_execute_command,
                placement_constraints: constraints,
                placement_strategy: c.placement_strategy.clone(),
                service_registries: c.service_registries.clone(),
                service_connect_configuration: sc,
                ..LiveService::default()
            },
        );
    }
    live
}

#[test]
fn what_ecs_reports_back_is_no_drift_and_each_change_is_one_field() {
    let dir = write(&all());
    let state = load(dir.path());
    let rendered = render(&state, &Digests::new());
    let live = as_ecs_reports(&rendered);
    let plan = diff(&state, &rendered, &live);
    assert!(plan.is_empty(), "{:#?}", plan.changes);

    // Someone turns ECS Exec off, drops the registry and reorders the placement strategy.
    let mut drifted = live.clone();
    let api = drifted.services.get_mut("api").expect("api");
    api.enable_execute_command = false;
    api.service_registries.clear();
    drifted
        .services
        .get_mut("batch")
        .expect("batch")
        .placement_strategy
        .reverse();
    let plan = diff(&state, &rendered, &drifted);
    let paths: Vec<(String, &str)> = plan
        .changes
        .iter()
        .flat_map(|c| {
            c.fields
                .iter()
                .map(move |f| (c.key.name.clone(), f.path.as_str()))
        })
        .collect();
    assert_eq!(
        paths,
        [
            ("api".to_owned(), "enableExecuteCommand"),
            ("api".to_owned(), "serviceRegistries"),
            ("batch".to_owned(), "placementStrategy"),
        ]
    );
    assert!(plan.changes.iter().all(|c| c.op == Op::Update));

    // A task-level change (another access point) is a new task definition revision.
    let mut other_ap = live.clone();
    for td in other_ap.task_definitions.values_mut() {
        for v in &mut td.volumes {
            if let Some(a) = v
                .efs_volume_configuration
                .as_mut()
                .and_then(|e| e.authorization_config.as_mut())
            {
                a.access_point_id = Some("fsap-00000000000000000".into());
            }
        }
    }
    let plan = diff(&state, &rendered, &other_ap);
    let td_change = plan
        .changes
        .iter()
        .find(|c| c.key.kind == ferry_core::ResourceKind::TaskDefinition)
        .expect("task definition change");
    assert_eq!(
        td_change.fields[0].path, "volumes.data.efs.accessPointId",
        "{:?}",
        td_change.fields
    );

    // Service Connect switched off by hand is drift too.
    let mut no_sc = live;
    no_sc
        .services
        .get_mut("api")
        .expect("api")
        .service_connect_configuration = None;
    let plan = diff(&state, &rendered, &no_sc);
    assert_eq!(plan.changes.len(), 1, "{:?}", plan.changes);
    assert!(
        plan.changes[0]
            .fields
            .iter()
            .all(|f| f.path.starts_with("serviceConnect.")),
        "{:?}",
        plan.changes[0].fields
    );
}

/// Each case: the service documents with one rule broken on the line marked `# <-`, and the
/// words the message must hold.
#[test]
fn every_broken_rule_is_refused_at_its_line() {
    let api = api();
    let cases: Vec<(String, &str)> = vec![
        (
            api.replace(
                "      - portName: http\n",
                "      - portName: grpc # <-\n",
            ),
            "no container declares a port named `grpc`",
        ),
        (
            api.replace(
                "capacityProviderStrategy: [{ capacityProvider: FARGATE, weight: 1, base: 1 }]",
                "capacityProviderStrategy:\n    - capacityProvider: FARGATE_SPOT # <-\n      weight: 1",
            ),
            "FARGATE_SPOT does not run ARM64 tasks",
        ),
        (
            api.replace("    cpu: 512\n", "    cpu: 512 # <-\n")
                .replace("memory: 1024", "memory: 8192"),
            "cpu 512 with memory 8192 is not a valid Fargate pair",
        ),
        (
            api.replace("          transitEncryption: ENABLED\n", "")
                .replace("iam: ENABLED }", "iam: ENABLED } # <-"),
            "an access point needs transitEncryption: ENABLED",
        ),
        (
            api.replace(
                "fileSystemId: fs-0123456789abcdef0",
                "fileSystemId: efs-1 # <-",
            ),
            "is not an EFS file system id",
        ),
        (
            api.replace(
                "{ sourceVolume: tmp, containerPath: /tmp }",
                "{ sourceVolume: scratch, containerPath: /tmp } # <-",
            ),
            "no volume `scratch`",
        ),
        (
            api.replace(
                "ephemeralStorage: { sizeInGiB: 40 }",
                "ephemeralStorage: { sizeInGiB: 500 } # <-",
            ),
            "500 GiB is outside 21-200",
        ),
        (
            api.replace(
                "[{ name: nofile, softLimit: 65536, hardLimit: 65536 }]",
                "[{ name: nofile, softLimit: 70000, hardLimit: 65536 }] # <-",
            ),
            "softLimit 70000 is above hardLimit 65536",
        ),
        (
            api.replace(
                "  enableExecuteCommand: true\n",
                "  enableExecuteCommand: true # <-\n",
            )
            .replace(
                "        essential: false\n",
                "        essential: false\n        readonlyRootFilesystem: true\n",
            ),
            "ECS Exec needs a container with a writable root file system",
        ),
        (
            api.replace("stopTimeout: 60", "stopTimeout: 600 # <-"),
            "600 s is above Fargate's 120",
        ),
        (
            api.replace(
                "  enableExecuteCommand: true\n",
                "  enableExecuteCommand: true\n  placementStrategy: [{ type: random }] # <-\n",
            ),
            "Fargate places tasks itself",
        ),
        (
            api.replace(
                "containerName: app, containerPort: 5000 }]",
                "containerName: app, containerPort: 5001 }] # <-",
            ),
            "container `app` has no portMapping for 5001",
        ),
        (
            api.replace(REGISTRY, "arn:aws:sns:us-east-1:123456789012:topic")
                .replace("containerPort: 5000 }]", "containerPort: 5000 }] # <-"),
            "is not a Cloud Map service ARN",
        ),
        (
            OTHERS.replace(
                "placementConstraints: [{ type: distinctInstance }, { type: memberOf, expression: \"attribute:ecs.instance-type =~ t3.*\" }]",
                "placementConstraints:\n    - type: memberOf # <-",
            ),
            "memberOf needs an expression",
        ),
        (
            OTHERS.replace(
                "{ type: binpack, field: memory }]",
                "{ type: binpack, field: disk }] # <-",
            ),
            "binpack needs field cpu or memory",
        ),
        (
            OTHERS.replace(
                "    - { capacityProvider: FARGATE_SPOT, weight: 3 }",
                "    - { capacityProvider: FARGATE_SPOT, weight: 3, base: 2 }",
            )
            .replace(
                "    - { capacityProvider: FARGATE, weight: 1, base: 1 }",
                "    - { capacityProvider: FARGATE, weight: 1, base: 1 } # <-",
            ),
            "only one capacity provider of a strategy may have a base",
        ),
    ];
    for (i, (yaml, words)) in cases.iter().enumerate() {
        let line = yaml.lines().position(|l| l.contains("# <-")).map(|n| n + 1);
        let dir = write(yaml);
        let errors: Vec<String> = match load_environment(dir.path(), "dev") {
            Ok(_) => Vec::new(),
            Err(d) => d.0.iter().map(ToString::to_string).collect(),
        };
        let hit = errors.iter().find(|e| e.contains(words));
        let Some(hit) = hit else {
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
fn efs_needs_awsvpc_subnets() {
    let dir = write(&api());
    std::fs::write(
        dir.path().join("dev/environment.yaml"),
        ENV.replace("  network: { subnets: [subnet-1] }\n", ""),
    )
    .expect("write");
    let errors = load_environment(dir.path(), "dev")
        .err()
        .map(|d| d.to_string())
        .unwrap_or_default();
    let line = api()
        .lines()
        // A block mapping's value starts on the line after its key.
        .position(|l| l.contains("fileSystemId"))
        .map(|n| n + 1)
        .expect("line");
    assert!(
        errors.contains(&format!(
            "services.yaml:{line}: spec.taskDefinition.volumes[0].efsVolumeConfiguration: an EFS volume needs awsvpc networking"
        )),
        "line {line}: {errors}"
    );
}

#[test]
fn unknown_fields_and_values_are_refused_with_their_line() {
    for (from, to, words) in [
        (
            "runtimePlatform: { cpuArchitecture: ARM64 }",
            "runtimePlatform: { cpuArchitecture: ARM32 }",
            "ARM32",
        ),
        (
            "{ sourceVolume: data, containerPath: /data }",
            "{ sourceVolume: data, containerPath: /data, readonly: true }",
            "readonly",
        ),
        (
            "ulimits: [{ name: nofile,",
            "ulimits: [{ name: files,",
            "files",
        ),
    ] {
        let yaml = api().replace(from, to);
        assert_ne!(yaml, api(), "{from}");
        let dir = write(&yaml);
        let errors = load_environment(dir.path(), "dev")
            .err()
            .map(|d| d.to_string())
            .unwrap_or_default();
        let line = yaml
            .lines()
            .position(|l| l.contains(to))
            .map(|n| n + 1)
            .expect("line");
        assert!(
            errors.contains(&format!("services.yaml:{line}")) && errors.contains(words),
            "{from}: {errors}"
        );
    }
}

#[test]
fn the_json_schema_knows_every_new_field_and_value() {
    let schema = serde_json::to_string(&schemars::schema_for!(ferry_core::kinds::EcsServiceSpec))
        .expect("schema");
    for word in [
        "\"runtimePlatform\"",
        "\"ARM64\"",
        "\"X86_64\"",
        "\"LINUX\"",
        "\"efsVolumeConfiguration\"",
        "\"accessPointId\"",
        "\"transitEncryption\"",
        "\"sizeInGiB\"",
        "\"mountPoints\"",
        "\"ulimits\"",
        "\"nofile\"",
        "\"stopTimeout\"",
        "\"enableExecuteCommand\"",
        "\"placementConstraints\"",
        "\"memberOf\"",
        "\"binpack\"",
        "\"serviceRegistries\"",
        "\"serviceConnect\"",
        "\"clientAliases\"",
    ] {
        assert!(schema.contains(word), "{word} missing from the schema");
    }
}
