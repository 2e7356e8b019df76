//! Test support: moto with a VPC for Fargate services, manifests written to a temporary folder,
//! one-call reconciles, and an HTTP proxy in front of moto that counts calls per API and
//! injects faults (throttling, 500s, dropped connections, delays, lost answers).

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use ferry_core::diff::diff;
use ferry_core::plan::Plan;
use ferry_core::platform::{ApplyOptions, Observed, Platform, ResourceResult};
use ferry_core::render::render;
use ferry_core::{DesiredState, load_environment};
use ferry_ecs::{AwsSettings, EcsApi, EcsOptions, EcsPlatform, SdkApi};
use ferry_testkit::moto::MotoServer;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};

pub const REGION: &str = "us-east-1";
pub const CLUSTER: &str = "ferry-test";
pub const REGISTRY: &str = "123456789012.dkr.ecr.us-east-1.amazonaws.com";

/// moto with a cluster, a subnet and a security group.
pub struct Moto {
    pub server: MotoServer,
    pub subnet: String,
    pub security_group: String,
}

fn ec2(endpoint_port: u16, params: &str) -> String {
    let body = format!("{params}&Version=2016-11-15");
    let request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{endpoint_port}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/{REGION}/ec2/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream =
        std::net::TcpStream::connect(("127.0.0.1", endpoint_port)).expect("connect to moto");
    stream.write_all(request.as_bytes()).expect("send");
    let mut out = String::new();
    stream.read_to_string(&mut out).expect("read");
    out
}

fn between(text: &str, open: &str, close: &str) -> String {
    let start = text
        .find(open)
        .unwrap_or_else(|| panic!("no {open} in {text}"))
        + open.len();
    let end = text[start..].find(close).expect("closing tag") + start;
    text[start..end].to_owned()
}

impl Moto {
    pub async fn start() -> Self {
        let server = MotoServer::start().unwrap_or_else(|e| panic!("{e}"));
        let port = server.port();
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
        let security_group = between(
            &ec2(
                port,
                &format!(
                    "Action=CreateSecurityGroup&VpcId={vpc}&GroupName=tasks&GroupDescription=tasks"
                ),
            ),
            "<groupId>",
            "</groupId>",
        );
        let moto = Self {
            server,
            subnet,
            security_group,
        };
        let api = moto.sdk(&moto.server.endpoint()).await;
        api.ecs_client()
            .create_cluster()
            .cluster_name(CLUSTER)
            .send()
            .await
            .expect("create cluster");
        moto
    }

    pub fn endpoint(&self) -> String {
        self.server.endpoint()
    }

    /// SDK clients for `endpoint` (moto itself or a proxy in front of it).
    pub async fn sdk(&self, endpoint: &str) -> SdkApi {
        SdkApi::connect(&settings(endpoint)).await
    }

    /// Push an image `repository:tag` (a made-up manifest); returns its digest.
    pub async fn push_image(&self, repository: &str, tag: &str) -> String {
        let api = self.sdk(&self.endpoint()).await;
        let manifest = serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
                       "digest": format!("sha256:{:064x}", tag.len() as u64 * 7919 + repository.len() as u64)},
            "layers": [{"mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip", "size": 32654,
                        "digest": format!("sha256:{:0>64}", tag.bytes().map(|b| format!("{b:02x}")).collect::<String>())}],
        });
        let out = api
            .ecr_client()
            .put_image()
            .repository_name(repository)
            .image_tag(tag)
            .image_manifest(manifest.to_string())
            .send()
            .await
            .expect("put image");
        out.image()
            .and_then(|i| i.image_id())
            .and_then(|i| i.image_digest())
            .expect("digest")
            .to_owned()
    }

    /// Create an ECR repository directly (as CI's Terraform or a person would).
    pub async fn create_repository(&self, name: &str) {
        let api = self.sdk(&self.endpoint()).await;
        api.ecr_client()
            .create_repository()
            .repository_name(name)
            .send()
            .await
            .expect("create repository");
    }

    pub async fn platform(&self, endpoint: &str) -> EcsPlatform<SdkApi> {
        EcsPlatform::new(self.sdk(endpoint).await, fast_options())
    }
}

/// Point a child process (`ferry plan`, `ferry run`...) at `endpoint` with moto's made-up
/// credentials, and nothing from this machine's AWS configuration.
pub fn moto_env<'a>(
    cmd: &'a mut std::process::Command,
    endpoint: &str,
) -> &'a mut std::process::Command {
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", REGION)
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
}

pub fn settings(endpoint: &str) -> AwsSettings {
    AwsSettings {
        region: Some(REGION.into()),
        endpoint_url: Some(endpoint.into()),
        static_credentials: Some(("testing".into(), "testing".into())),
        max_attempts: 6,
        initial_backoff: Duration::from_millis(20),
        attempt_timeout: Duration::from_secs(20),
        ..AwsSettings::default()
    }
}

pub fn fast_options() -> EcsOptions {
    EcsOptions {
        poll_interval: Duration::from_millis(20),
        register_backoff: Duration::from_millis(20),
        metrics_lag: Duration::ZERO,
        ..EcsOptions::default()
    }
}

/// One service of a generated stack.
#[derive(Clone, Debug)]
pub struct Svc {
    pub name: String,
    pub desired_count: u32,
    pub depends_on: Vec<String>,
    pub annotations: Vec<(String, String)>,
    /// A YAML flow mapping for `spec.autoscaling`, e.g. `{ minCapacity: 1, maxCapacity: 5 }`.
    pub autoscaling: Option<String>,
    /// A YAML flow sequence for `spec.preDeploy`.
    pub pre_deploy: Option<String>,
    /// Extra YAML lines of `spec` (each indented 2 spaces, ending with a newline).
    pub spec_extra: String,
    /// Extra YAML lines of `spec.taskDefinition` (indented 4).
    pub task_extra: String,
    /// Extra YAML lines of the container (indented 8).
    pub container_extra: String,
    /// A name for the container's port 8080 (Service Connect refers to it).
    pub port_name: Option<String>,
    /// A YAML flow mapping for `spec.deployment` (default: the circuit breaker with rollback).
    pub deployment: Option<String>,
}

impl Svc {
    pub fn new(name: &str) -> Self {
        Self {
            name: name.into(),
            desired_count: 1,
            depends_on: Vec::new(),
            annotations: Vec::new(),
            autoscaling: None,
            pre_deploy: None,
            spec_extra: String::new(),
            task_extra: String::new(),
            container_extra: String::new(),
            port_name: None,
            deployment: None,
        }
    }
}

/// The manifests of a test environment `test`: one repository `web-app`, services using it.
#[derive(Clone, Debug)]
pub struct Stack {
    pub services: Vec<Svc>,
    pub tag: String,
    pub prune: bool,
    pub detect: bool,
    pub subnet: String,
    pub security_group: String,
    pub extra_image_pins: Vec<(String, String)>,
}

impl Stack {
    pub fn new(moto_subnet: &str, moto_sg: &str, names: &[&str]) -> Self {
        Self {
            services: names.iter().map(|n| Svc::new(n)).collect(),
            tag: "v1".into(),
            prune: true,
            detect: false,
            subnet: moto_subnet.into(),
            security_group: moto_sg.into(),
            extra_image_pins: Vec::new(),
        }
    }

    pub fn write(&self, root: &Path) {
        let env_dir = root.join("test");
        let base = root.join("base");
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&env_dir).expect("mkdir");
        std::fs::create_dir_all(&base).expect("mkdir");
        let pins: String = std::iter::once(("web-app".to_owned(), self.tag.clone()))
            .chain(self.extra_image_pins.iter().cloned())
            .map(|(r, t)| format!("    {r}: {{ tag: {t} }}\n"))
            .collect();
        std::fs::write(
            env_dir.join("environment.yaml"),
            format!(
                "apiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: test\nspec:\n  platform: ecs\n  region: {REGION}\n  cluster: {CLUSTER}\n  registry: {REGISTRY}\n  network: {{ subnets: [{}], securityGroups: [{}] }}\n  resources: [../base]\n  images:\n{pins}  prune: {}\n  drift: {}\n",
                self.subnet,
                self.security_group,
                self.prune,
                if self.detect { "detect" } else { "heal" },
            ),
        )
        .expect("write environment");
        let mut docs = vec![
            "apiVersion: ferry.dev/v1alpha1\nkind: EcrRepository\nmetadata:\n  name: web-app\nspec:\n  imageTagMutability: IMMUTABLE\n  lifecycle: { keepLast: 10 }\n".to_owned(),
        ];
        for extra in &self.extra_image_pins {
            docs.push(format!(
                "apiVersion: ferry.dev/v1alpha1\nkind: EcrRepository\nmetadata:\n  name: {}\nspec:\n  imageTagMutability: IMMUTABLE\n",
                extra.0
            ));
        }
        for s in &self.services {
            let image = self
                .extra_image_pins
                .iter()
                .find(|(r, _)| s.name.starts_with(r.trim_end_matches("-app")))
                .map_or("web-app", |(r, _)| r.as_str());
            let annotations = if s.annotations.is_empty() {
                String::new()
            } else {
                format!(
                    "  annotations:\n{}",
                    s.annotations
                        .iter()
                        .map(|(k, v)| format!("    {k}: \"{v}\"\n"))
                        .collect::<String>()
                )
            };
            let depends = if s.depends_on.is_empty() {
                String::new()
            } else {
                format!("  dependsOn: [{}]\n", s.depends_on.join(", "))
            };
            let autoscaling = s
                .autoscaling
                .as_ref()
                .map(|a| format!("  autoscaling: {a}\n"))
                .unwrap_or_default()
                + &s.pre_deploy
                    .as_ref()
                    .map(|p| format!("  preDeploy: {p}\n"))
                    .unwrap_or_default();
            docs.push(format!(
                "apiVersion: ferry.dev/v1alpha1\nkind: EcsService\nmetadata:\n  name: {name}\n{annotations}spec:\n  desiredCount: {count}\n  tags: {{ team: numbers }}\n{depends}{autoscaling}{spec_extra}  taskDefinition:\n    cpu: 256\n    memory: 512\n{task_extra}    containers:\n      - name: app\n        image: {image}\n        portMappings: [{{ containerPort: 8080{port_name} }}]\n        environment: {{ MODE: production }}\n{container_extra}  deployment: {deployment}\n",
                name = s.name,
                count = s.desired_count,
                spec_extra = s.spec_extra,
                task_extra = s.task_extra,
                container_extra = s.container_extra,
                deployment = s
                    .deployment
                    .as_deref()
                    .unwrap_or("{ circuitBreaker: { enable: true, rollback: true } }"),
                port_name = s
                    .port_name
                    .as_ref()
                    .map(|n| format!(", name: {n}"))
                    .unwrap_or_default(),
            ));
        }
        std::fs::write(base.join("stack.yaml"), docs.join("---\n")).expect("write stack");
    }

    pub fn load(&self, root: &Path) -> DesiredState {
        self.write(root);
        load_environment(root, "test").unwrap_or_else(|d| panic!("{d}"))
    }
}

/// Observe, render with the observed digests, diff.
pub async fn plan<P: Platform>(
    platform: &P,
    desired: &DesiredState,
) -> (Observed, ferry_core::render::Rendered, Plan) {
    let observed = platform.observe(desired).await.expect("observe");
    let rendered = render(desired, &observed.digests);
    let plan = diff(desired, &rendered, &observed.actual);
    (observed, rendered, plan)
}

/// Observe, plan and apply (without waiting for rollouts).
pub async fn reconcile<P: Platform>(
    platform: &P,
    desired: &DesiredState,
) -> (Plan, Vec<ResourceResult>) {
    reconcile_with(platform, desired, &ApplyOptions::default()).await
}

pub async fn reconcile_with<P: Platform>(
    platform: &P,
    desired: &DesiredState,
    options: &ApplyOptions,
) -> (Plan, Vec<ResourceResult>) {
    let (_, rendered, plan) = plan(platform, desired).await;
    let results = platform.apply(desired, &rendered, &plan, options).await;
    (plan, results)
}

pub fn describe(plan: &Plan) -> Vec<String> {
    plan.changes
        .iter()
        .map(|c| format!("{} {}/{}", c.op, c.key.kind, c.key.name))
        .collect()
}

/// Services as moto sees them.
pub async fn live_service(api: &SdkApi, name: &str) -> ferry_core::live::LiveService {
    api.describe_services(CLUSTER, &[name.to_owned()])
        .await
        .expect("describe")
        .into_iter()
        .find(|s| s.is_active())
        .unwrap_or_else(|| panic!("service {name} not found"))
}

/// Which faults the proxy injects, on every `every`-th request (0 = none), in turn.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fault {
    Throttle,
    ServerError,
    Reset,
    Delay,
    /// Forward to moto, then drop the connection: the call happened, the answer is lost.
    LostAnswer,
}

#[derive(Default)]
struct ProxyState {
    counts: Mutex<BTreeMap<String, u64>>,
    faults: Mutex<(u64, Vec<Fault>)>,
    seen: AtomicU64,
    injected: Mutex<BTreeMap<String, u64>>,
}

/// An HTTP proxy in front of moto: counts calls per API (`ecs:UpdateService`), injects faults.
pub struct Proxy {
    pub addr: SocketAddr,
    state: Arc<ProxyState>,
    task: tokio::task::JoinHandle<()>,
}

fn api_name(req: &Request<Incoming>) -> String {
    let target = req
        .headers()
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("other.Other");
    let (service, op) = target.split_once('.').unwrap_or(("other", target));
    let prefix = if service.contains("Registry") {
        "ecr"
    } else if service.contains("Container") {
        "ecs"
    } else if service.contains("AnyScale") {
        "autoscaling"
    } else {
        "other"
    };
    format!("{prefix}:{op}")
}

pub fn is_write(api: &str) -> bool {
    let op = api.split(':').nth(1).unwrap_or(api);
    [
        "Create",
        "Update",
        "Delete",
        "Register",
        "Deregister",
        "Put",
        "Tag",
        "Untag",
    ]
    .iter()
    .any(|p| op.starts_with(p))
}

impl Proxy {
    pub async fn start(upstream: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let state = Arc::new(ProxyState::default());
        let upstream: Arc<str> = Arc::from(upstream);
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let st = state.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                let upstream = upstream.clone();
                let client = client.clone();
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let st = st.clone();
                        let upstream = upstream.clone();
                        let client = client.clone();
                        async move { handle(req, st, &upstream, client).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, state, task }
    }

    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn set_faults(&self, every: u64, kinds: &[Fault]) {
        if let Ok(mut f) = self.state.faults.lock() {
            *f = (every, kinds.to_vec());
        }
    }

    pub fn counts(&self) -> BTreeMap<String, u64> {
        self.state
            .counts
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    pub fn injected(&self) -> BTreeMap<String, u64> {
        self.state
            .injected
            .lock()
            .map(|c| c.clone())
            .unwrap_or_default()
    }

    pub fn reset_counts(&self) {
        if let Ok(mut c) = self.state.counts.lock() {
            c.clear();
        }
    }

    pub fn writes(&self) -> BTreeMap<String, u64> {
        self.counts()
            .into_iter()
            .filter(|(k, _)| is_write(k))
            .collect()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[derive(Debug)]
struct Dropped;

impl std::fmt::Display for Dropped {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("connection dropped by the fault proxy")
    }
}

impl std::error::Error for Dropped {}

async fn handle(
    req: Request<Incoming>,
    st: Arc<ProxyState>,
    upstream: &str,
    client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
) -> Result<Response<Full<Bytes>>, Dropped> {
    let api = api_name(&req);
    if let Ok(mut c) = st.counts.lock() {
        *c.entry(api.clone()).or_default() += 1;
    }
    let n = st.seen.fetch_add(1, Ordering::Relaxed) + 1;
    let fault = st.faults.lock().ok().and_then(|f| {
        let (every, kinds) = &*f;
        (*every > 0 && n.is_multiple_of(*every) && !kinds.is_empty())
            .then(|| kinds[((n / every) as usize) % kinds.len()])
    });
    if let Some(f) = fault
        && let Ok(mut inj) = st.injected.lock()
    {
        *inj.entry(format!("{f:?}")).or_default() += 1;
    }
    let json_error = |status: u16, kind: &str| {
        Response::builder()
            .status(status)
            .header("content-type", "application/x-amz-json-1.1")
            .body(Full::new(Bytes::from(format!(
                "{{\"__type\":\"{kind}\",\"message\":\"injected by the fault proxy\"}}"
            ))))
            .map_err(|_| Dropped)
    };
    match fault {
        Some(Fault::Throttle) => return json_error(400, "ThrottlingException"),
        Some(Fault::ServerError) => return json_error(500, "ServerException"),
        Some(Fault::Reset) => return Err(Dropped),
        Some(Fault::Delay) => tokio::time::sleep(Duration::from_millis(300)).await,
        _ => {}
    }
    let (parts, body) = req.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    let uri = format!(
        "{upstream}{}",
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut forward = Request::builder().method(parts.method).uri(uri);
    for (k, v) in &parts.headers {
        forward = forward.header(k, v);
    }
    let forward = forward.body(Full::new(body)).map_err(|_| Dropped)?;
    let answer = client.request(forward).await.map_err(|_| Dropped)?;
    let (parts, body) = answer.into_parts();
    let body = body.collect().await.map_err(|_| Dropped)?.to_bytes();
    if fault == Some(Fault::LostAnswer) {
        return Err(Dropped);
    }
    Ok(Response::from_parts(parts, Full::new(body)))
}
