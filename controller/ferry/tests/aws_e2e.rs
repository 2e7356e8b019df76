//! The whole system on an emulated AWS account: `terraform apply` of `environments/dev` against
//! moto's server mode (every endpoint of the `aws` provider pointed at it, a local backend, fake
//! credentials), its real `terraform output -json` as `manifests/dev/terraform-outputs.json`,
//! then `ferry plan` / `apply` of `manifests/dev` onto the Terraform-built cluster, and a second
//! `ferry plan` that is empty. Slow (about 3 minutes, mostly the provider's own waits for RDS,
//! the ALB and ACM); `terraform` and moto are required, their absence fails the test.
//!
//! What moto needs, as measured: AWS-managed IAM policies (`MOTO_IAM_LOAD_MANAGED_POLICIES`), the
//! Route 53 zone created before (Terraform looks it up), no EC2 detailed monitoring
//! (`bastion_detailed_monitoring = false`: moto answers NotImplemented). moto does not round-trip
//! a few attributes, so only the first apply and its outputs are tested, never a second
//! `terraform plan`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use ferry_ecs::{AwsSettings, SdkApi};
use ferry_testkit::moto::MotoServer;

const BIN: &str = env!("CARGO_BIN_EXE_ferry");
const REGION: &str = "us-east-1";
const ZONE: &str = "numbers.example.com";
const IMAGE_TAG: &str = "0000000dev";

fn repo() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .canonicalize()
        .expect("repository root")
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Copy a folder, leaving out what `terraform init` and `apply` generate.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir").flatten() {
        let name = entry.file_name();
        let name_str = name.to_string_lossy();
        if name_str == ".terraform"
            || name_str == ".terraform.lock.hcl"
            || name_str.starts_with("terraform.tfstate")
        {
            continue;
        }
        let target = to.join(&name);
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).expect("copy");
        }
    }
}

/// The standard `AWS_*` variables pointing a child process at moto, nothing from this machine.
fn aws_env<'a>(cmd: &'a mut Command, endpoint: &str) -> &'a mut Command {
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("AWS_DEFAULT_REGION", REGION)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
}

fn terraform(dir: &Path, endpoint: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new("terraform");
    aws_env(&mut cmd, endpoint)
        .current_dir(dir)
        .env(
            "TF_CLI_CONFIG_FILE",
            repo().join("environments/terraform.rc"),
        )
        .env("TF_IN_AUTOMATION", "1")
        .env("TF_INPUT", "0")
        .env("CHECKPOINT_DISABLE", "1")
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run terraform (HashiCorp terraform >= 1.11 must be on the PATH): {e}")
        })
}

fn ferry(endpoint: &str, manifests: &Path, args: &[&str]) -> Output {
    aws_env(&mut Command::new(BIN), endpoint)
        .args(args)
        .args([
            "--manifests",
            manifests.to_str().expect("utf-8"),
            "--env",
            "dev",
        ])
        .output()
        .expect("ferry runs")
}

/// Route 53 `CreateHostedZone` (REST-XML) sent to moto directly: the zone Terraform looks up
/// must exist before it applies. No Route 53 SDK in the workspace for one call.
fn create_hosted_zone(port: u16, name: &str) {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
         <CreateHostedZoneRequest xmlns=\"https://route53.amazonaws.com/doc/2013-04-01/\">\
         <Name>{name}</Name><CallerReference>ferry-e2e</CallerReference></CreateHostedZoneRequest>"
    );
    let request = format!(
        "POST /2013-04-01/hostedzone HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: text/xml\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/route53/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = std::net::TcpStream::connect(("127.0.0.1", port)).expect("connect to moto");
    stream.write_all(request.as_bytes()).expect("send");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    assert!(
        answer.starts_with("HTTP/1.1 201") || answer.starts_with("HTTP/1.1 200"),
        "CreateHostedZone: {answer}"
    );
}

/// Push `repository:tag` (a made-up manifest), as CI's images workflow would.
async fn push_image(api: &SdkApi, repository: &str, tag: &str) {
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 1024,
                   "digest": format!("sha256:{:0>64}", repository.len())},
        "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 4096,
                    "digest": format!("sha256:{:0>64x}", repository.bytes().map(u64::from).sum::<u64>())}],
    });
    api.ecr_client()
        .put_image()
        .repository_name(repository)
        .image_tag(tag)
        .image_manifest(manifest.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("put image {repository}:{tag}: {e:?}"));
}

fn string(outputs: &serde_json::Value, name: &str) -> String {
    outputs[name]["value"]
        .as_str()
        .unwrap_or_else(|| panic!("output {name} is not a string: {outputs}"))
        .to_owned()
}

/// The name segment of a target group ARN (`…:targetgroup/<name>/<id>`).
fn target_group_name(arn: &str) -> &str {
    arn.split('/').nth(1).unwrap_or("")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terraform_dev_on_moto_then_ferry_deploys_the_numbers_service_onto_it() {
    let moto = MotoServer::start_with_env(&[("MOTO_IAM_LOAD_MANAGED_POLICIES", "true")])
        .unwrap_or_else(|e| panic!("{e}"));
    let endpoint = moto.endpoint();
    create_hosted_zone(moto.port(), ZONE);

    // The repository's Terraform, as is, plus a local backend and path-style S3 for moto.
    let work = tempfile::tempdir().expect("tmp");
    let environments = work.path().join("environments");
    copy_tree(&repo().join("environments"), &environments);
    let root = environments.join("dev");
    std::fs::write(
        root.join("moto_override.tf"),
        "terraform {\n  backend \"local\" {}\n}\n\n\
         provider \"aws\" {\n  s3_use_path_style       = true\n  skip_metadata_api_check = true\n}\n",
    )
    .expect("override");

    let out = terraform(&root, &endpoint, &["init", "-input=false", "-no-color"]);
    assert!(out.status.success(), "terraform init: {}", text(&out));
    let out = terraform(
        &root,
        &endpoint,
        &[
            "apply",
            "-auto-approve",
            "-input=false",
            "-no-color",
            "-parallelism=20",
            "-var=github_repository=example-org/ferry",
            &format!("-var=hosted_zone_name={ZONE}"),
            "-var=terraform_state_bucket=example-org-terraform-state",
            "-var=bastion_detailed_monitoring=false",
        ],
    );
    let applied = text(&out);
    assert!(out.status.success(), "terraform apply: {applied}");
    assert!(
        applied.contains("Apply complete! Resources: 119 added, 0 changed, 0 destroyed."),
        "{applied}"
    );

    let out = terraform(&root, &endpoint, &["output", "-json"]);
    assert!(out.status.success(), "terraform output: {}", text(&out));
    let outputs: serde_json::Value = serde_json::from_slice(&out.stdout).expect("output json");

    // The real outputs against the committed file: same names, same names derived from names.
    let committed: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo().join("manifests/dev/terraform-outputs.json"))
            .expect("committed outputs"),
    )
    .expect("committed json");
    let keys = |v: &serde_json::Value| {
        v.as_object()
            .expect("object")
            .keys()
            .cloned()
            .collect::<Vec<_>>()
    };
    assert_eq!(keys(&outputs), keys(&committed));
    for name in [
        "cluster_name",
        "log_group_name",
        "region",
        "db_name",
        "alarm_5xx_name",
        "alarm_latency_name",
    ] {
        assert_eq!(
            outputs[name]["value"], committed[name]["value"],
            "output {name}"
        );
    }
    for name in ["target_group_arn", "alternate_target_group_arn"] {
        assert_eq!(
            target_group_name(&string(&outputs, name)),
            target_group_name(&string(&committed, name)),
            "output {name}"
        );
    }

    // The manifests, with Terraform's outputs as their values.
    let manifests = work.path().join("manifests");
    copy_tree(&repo().join("manifests/base"), &manifests.join("base"));
    // moto cannot run an awsvpc task (its RunTask fails on the network interface it makes), so
    // the numbers service's pre-deploy migration is left out here; pre-deploy tasks are tested
    // on the in-process fake and the local platform.
    let numbers = manifests.join("base/numbers.yaml");
    let yaml = std::fs::read_to_string(&numbers).expect("read numbers.yaml");
    let start = yaml
        .find("\n  preDeploy:\n")
        .expect("numbers.yaml declares preDeploy");
    let end = start
        + 1
        + yaml[start + 1..]
            .find("\n  loadBalancers:")
            .expect("loadBalancers follows preDeploy");
    std::fs::write(&numbers, format!("{}{}", &yaml[..start], &yaml[end..])).expect("write");
    copy_tree(&repo().join("manifests/dev"), &manifests.join("dev"));
    std::fs::write(manifests.join("dev/terraform-outputs.json"), &out.stdout)
        .expect("write outputs");

    let out = ferry(&endpoint, &manifests, &["plan"]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(
        text(&out).contains("+ EcsService/numbers (create)"),
        "{}",
        text(&out)
    );

    // First apply: Ferry creates the app's repositories; the images are not pushed yet.
    let out = ferry(&endpoint, &manifests, &["apply"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(
        text(&out).contains("ok      create EcrRepository/numbers-api"),
        "{}",
        text(&out)
    );

    let api = SdkApi::connect(&AwsSettings {
        region: Some(REGION.into()),
        endpoint_url: Some(endpoint.clone()),
        static_credentials: Some(("testing".into(), "testing".into())),
        ..AwsSettings::default()
    })
    .await;
    for repository in ["numbers-api", "numbers-frontend", "numbers-proxy"] {
        push_image(&api, repository, IMAGE_TAG).await;
    }

    let out = ferry(&endpoint, &manifests, &["apply"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("ok      create EcsService/numbers"),
        "{}",
        text(&out)
    );

    // The service runs on what Terraform built.
    let cluster = string(&outputs, "cluster_name");
    let described = api
        .ecs_client()
        .describe_services()
        .cluster(&cluster)
        .services("numbers")
        .send()
        .await
        .expect("describe services");
    let service = described.services().first().expect("service numbers");
    let network = service
        .network_configuration()
        .and_then(|n| n.awsvpc_configuration())
        .expect("awsvpc configuration");
    let mut subnets: Vec<String> = network.subnets().to_vec();
    subnets.sort();
    let mut expected_subnets: Vec<String> = outputs["private_subnet_ids"]["value"]
        .as_array()
        .expect("subnets")
        .iter()
        .map(|s| s.as_str().expect("subnet").to_owned())
        .collect();
    expected_subnets.sort();
    assert_eq!(subnets, expected_subnets);
    assert_eq!(
        network.security_groups(),
        [string(&outputs, "task_security_group_id")]
    );
    assert_eq!(
        service
            .load_balancers()
            .iter()
            .filter_map(|lb| lb.target_group_arn())
            .collect::<Vec<_>>(),
        [string(&outputs, "target_group_arn").as_str()]
    );

    let task_definition = api
        .ecs_client()
        .describe_task_definition()
        .task_definition(service.task_definition().expect("task definition"))
        .send()
        .await
        .expect("describe task definition");
    let task_definition = task_definition.task_definition().expect("task definition");
    assert_eq!(
        task_definition.execution_role_arn(),
        Some(string(&outputs, "execution_role_arn").as_str())
    );
    assert_eq!(
        task_definition.task_role_arn(),
        Some(string(&outputs, "task_role_arn").as_str())
    );
    let secret_arn = string(&outputs, "db_secret_arn");
    let api_container = task_definition
        .container_definitions()
        .iter()
        .find(|c| c.name() == Some("api"))
        .expect("api container");
    let secrets: Vec<&str> = api_container
        .secrets()
        .iter()
        .map(|s| s.value_from())
        .collect();
    assert!(
        !secrets.is_empty()
            && secrets
                .iter()
                .all(|s| s.starts_with(&format!("{secret_arn}:"))),
        "the api's secrets must come from Terraform's database secret {secret_arn}: {secrets:?}"
    );
    assert_eq!(
        api_container
            .log_configuration()
            .and_then(|l| l.options())
            .and_then(|o| o.get("awslogs-group"))
            .map(String::as_str),
        Some(string(&outputs, "log_group_name").as_str())
    );

    // Nothing left to do.
    let out = ferry(&endpoint, &manifests, &["plan"]);
    assert_eq!(out.status.code(), Some(0), "{}", text(&out));
    assert!(
        text(&out).contains("No changes. Environment `dev` matches the manifests."),
        "{}",
        text(&out)
    );
}
