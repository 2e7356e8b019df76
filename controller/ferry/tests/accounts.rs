//! One `ferry run` deploying into three AWS accounts and two regions on moto, through the real
//! AWS SDK and a recording proxy in front of moto: each environment assumes its own role (the
//! SDK's `AssumeRoleProvider`), its service lands only in its own account and region (same
//! cluster name everywhere), an environment whose `accountId` is not the one its credentials act
//! in is refused with zero ECS/ECR calls (by `ferry run` and by `ferry plan`), a role STS refuses
//! stalls only its own environment, and 15-minute credentials renewed every few seconds (a
//! renewal margin just under their lifetime) never fail a reconcile.
//!
//! moto's behaviour, as read in moto 5.2.5's `sts/models.py` and `iam/models.py` and checked
//! here: `AssumeRole` never refuses (the role need not exist) and registers the new access key
//! in the role's account, so every call signed with it acts in that account; the default
//! credentials (`testing`) act in 123456789012. A role that cannot be assumed is therefore made by
//! the proxy, which answers `AssumeRole` of a `ferry-broken` role with STS's own `AccessDenied`.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use ferry_ecs::{AssumeRole, AwsSettings, SdkApi};
use ferry_testkit::moto::MotoServer;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::Value;

const BASE_ACCOUNT: &str = "123456789012";
const CLUSTER: &str = "numbers";
const BROKEN_EXTERNAL_ID: &str = "broken-external-id-7f3a";

/// One environment of the test: name, account, region.
struct Env {
    name: &'static str,
    account: &'static str,
    region: &'static str,
}

const DEPLOYED: [Env; 3] = [
    Env {
        name: "dev",
        account: "111111111111",
        region: "us-east-1",
    },
    Env {
        name: "staging",
        account: "222222222222",
        region: "eu-west-1",
    },
    Env {
        name: "prod",
        account: "333333333333",
        region: "eu-west-1",
    },
];

/// A request the proxy saw.
#[derive(Clone, Debug)]
struct Seen {
    /// `ecs`, `ecr`, `sts`... (from the signature's scope).
    service: String,
    action: String,
    access_key: String,
    region: String,
}

#[derive(Default)]
struct Log {
    seen: Vec<Seen>,
    /// Access keys `AssumeRole` gave, by role ARN.
    keys_of_role: BTreeMap<String, BTreeSet<String>>,
}

/// A recording proxy in front of moto that refuses to assume `ferry-broken` roles.
struct Recorder {
    addr: SocketAddr,
    log: Arc<Mutex<Log>>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Recorder {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn between<'a>(text: &'a str, open: &str, close: &str) -> Option<&'a str> {
    let start = text.find(open)? + open.len();
    let end = text[start..].find(close)? + start;
    Some(&text[start..end])
}

fn form_value(body: &str, name: &str) -> Option<String> {
    body.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=')?;
        (k == name).then(|| {
            v.replace("%3A", ":")
                .replace("%2F", "/")
                .replace("%3a", ":")
                .replace("%2f", "/")
        })
    })
}

impl Recorder {
    async fn start(upstream: String) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let log = Arc::new(Mutex::new(Log::default()));
        let client: Client<_, Full<Bytes>> = Client::builder(TokioExecutor::new()).build_http();
        let upstream: Arc<str> = Arc::from(upstream);
        let shared = log.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (log, upstream, client) = (shared.clone(), upstream.clone(), client.clone());
                tokio::spawn(async move {
                    let service = service_fn(move |req: Request<Incoming>| {
                        let (log, upstream, client) =
                            (log.clone(), upstream.clone(), client.clone());
                        async move { forward(req, &log, &upstream, &client).await }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        Self { addr, log, task }
    }

    fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.log.lock().map(|l| l.seen.clone()).unwrap_or_default()
    }

    fn keys_of(&self, role: &str) -> BTreeSet<String> {
        self.log
            .lock()
            .ok()
            .and_then(|l| l.keys_of_role.get(role).cloned())
            .unwrap_or_default()
    }
}

async fn forward(
    req: Request<Incoming>,
    log: &Mutex<Log>,
    upstream: &str,
    client: &Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
) -> Result<Response<Full<Bytes>>, hyper::Error> {
    let (parts, body) = req.into_parts();
    let body = body.collect().await?.to_bytes();
    let text = String::from_utf8_lossy(&body).into_owned();
    let auth = parts
        .headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_owned();
    // Credential=<key>/<date>/<region>/<service>/aws4_request
    let scope: Vec<&str> = between(&auth, "Credential=", ",")
        .unwrap_or_default()
        .split('/')
        .collect();
    let action = parts
        .headers
        .get("x-amz-target")
        .and_then(|v| v.to_str().ok())
        .and_then(|t| t.rsplit('.').next())
        .map(str::to_owned)
        .or_else(|| form_value(&text, "Action"))
        .unwrap_or_default();
    let seen = Seen {
        service: scope.get(3).copied().unwrap_or_default().to_owned(),
        action: action.clone(),
        access_key: scope.first().copied().unwrap_or_default().to_owned(),
        region: scope.get(2).copied().unwrap_or_default().to_owned(),
    };
    if let Ok(mut l) = log.lock() {
        l.seen.push(seen);
    }
    let role = (action == "AssumeRole")
        .then(|| form_value(&text, "RoleArn"))
        .flatten();
    if let Some(r) = &role
        && r.contains("ferry-broken")
    {
        let xml = format!(
            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>AccessDenied</Code>\
             <Message>User: arn:aws:iam::{BASE_ACCOUNT}:user/ferry is not authorized to perform: sts:AssumeRole on resource: {r}</Message></Error>\
             <RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
        );
        return Ok(Response::builder()
            .status(403)
            .header("content-type", "text/xml")
            .body(Full::new(Bytes::from(xml)))
            .expect("response"));
    }
    let uri = format!(
        "{upstream}{}",
        parts.uri.path_and_query().map_or("/", |p| p.as_str())
    );
    let mut out = Request::builder().method(parts.method).uri(uri);
    for (k, v) in &parts.headers {
        out = out.header(k, v);
    }
    let answer = match client
        .request(out.body(Full::new(body)).expect("request"))
        .await
    {
        Ok(a) => a,
        Err(e) => {
            return Ok(Response::builder()
                .status(502)
                .body(Full::new(Bytes::from(e.to_string())))
                .expect("response"));
        }
    };
    let (parts, body) = answer.into_parts();
    let body = body.collect().await?.to_bytes();
    if let Some(r) = role {
        let answer = String::from_utf8_lossy(&body);
        if let Some(key) = between(&answer, "<AccessKeyId>", "</AccessKeyId>")
            && let Ok(mut l) = log.lock()
        {
            l.keys_of_role.entry(r).or_default().insert(key.to_owned());
        }
    }
    Ok(Response::from_parts(parts, Full::new(body)))
}

fn role(account: &str, name: &str) -> String {
    format!("arn:aws:iam::{account}:role/{name}")
}

/// SDK clients acting in `account` (through an assumed role), straight to moto.
async fn clients(moto: &str, account: &str, region: &str) -> SdkApi {
    SdkApi::connect(&AwsSettings {
        region: Some(region.into()),
        endpoint_url: Some(moto.into()),
        static_credentials: Some(("testing".into(), "testing".into())),
        account_id: Some(account.into()),
        role: Some(AssumeRole {
            arn: role(account, "setup"),
            external_id: None,
            session_name: None,
            duration: None,
        }),
        ..AwsSettings::default()
    })
    .await
}

/// One EC2 query call to moto, signed (in form only: moto reads the key) with `key`.
fn ec2(port: u16, key: &str, region: &str, params: &str) -> String {
    let body = format!("{params}&Version=2016-11-15");
    let request = format!(
        "POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential={key}/20260101/{region}/ec2/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to moto");
    stream.write_all(request.as_bytes()).expect("send");
    let mut out = String::new();
    stream.read_to_string(&mut out).expect("read");
    out
}

/// A VPC, subnet and security group, the cluster, and the image `web-app:v1` in `account` and
/// `region`, made directly in moto as Terraform and CI would: the subnet and security group ids.
async fn account_setup(moto: &MotoServer, account: &str, region: &str) -> (String, String) {
    let api = clients(&moto.endpoint(), account, region).await;
    let key = api
        .guard()
        .expect("a guard")
        .credentials()
        .await
        .expect("assumed")
        .access_key_id()
        .to_owned();
    let port = moto.port();
    let vpc = ec2(
        port,
        &key,
        region,
        "Action=CreateVpc&CidrBlock=10.0.0.0%2F16",
    );
    let vpc = between(&vpc, "<vpcId>", "</vpcId>")
        .expect("vpc")
        .to_owned();
    let subnet = ec2(
        port,
        &key,
        region,
        &format!("Action=CreateSubnet&VpcId={vpc}&CidrBlock=10.0.1.0%2F24"),
    );
    let subnet = between(&subnet, "<subnetId>", "</subnetId>")
        .expect("subnet")
        .to_owned();
    let sg = ec2(
        port,
        &key,
        region,
        &format!("Action=CreateSecurityGroup&VpcId={vpc}&GroupName=tasks&GroupDescription=tasks"),
    );
    let sg = between(&sg, "<groupId>", "</groupId>")
        .expect("security group")
        .to_owned();
    api.ecs_client()
        .create_cluster()
        .cluster_name(CLUSTER)
        .send()
        .await
        .expect("cluster");
    api.ecr_client()
        .create_repository()
        .repository_name("web-app")
        .send()
        .await
        .expect("repository");
    let manifest = serde_json::json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
        "config": {"mediaType": "application/vnd.docker.container.image.v1+json", "size": 7023,
                   "digest": format!("sha256:{:0>64}", account)},
        "layers": [],
    });
    api.ecr_client()
        .put_image()
        .repository_name("web-app")
        .image_tag("v1")
        .image_manifest(manifest.to_string())
        .send()
        .await
        .expect("image");
    (subnet, sg)
}

fn write_environment(root: &Path, name: &str, aws: &str, network: &(String, String)) {
    let dir = root.join(name);
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(
        dir.join("environment.yaml"),
        format!(
            "apiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: {name}\nspec:\n  platform: ecs\n  aws:\n{aws}  cluster: {CLUSTER}\n  network: {{ subnets: [{}], securityGroups: [{}] }}\n  resources: [../base]\n  images: {{ web-app: {{ tag: v1 }} }}\n",
            network.0, network.1
        ),
    )
    .expect("write environment");
}

fn write_manifests(root: &Path, networks: &BTreeMap<&str, (String, String)>) {
    let base = root.join("base");
    std::fs::create_dir_all(&base).expect("mkdir");
    std::fs::write(
        base.join("web.yaml"),
        "apiVersion: ferry.dev/v1alpha1\nkind: EcsService\nmetadata:\n  name: web\nspec:\n  desiredCount: 1\n  taskDefinition:\n    cpu: 256\n    memory: 512\n    containers:\n      - name: app\n        image: web-app\n        portMappings: [{ containerPort: 8080 }]\n",
    )
    .expect("write service");
    for env in &DEPLOYED {
        let extra = match env.name {
            "dev" => "    externalId: dev-external-id\n",
            // 15-minute sessions: with `--credentials-renew-before 896s` they are renewed
            // every few seconds.
            "staging" => "    durationSeconds: 900\n    roleSessionName: ferry-staging\n",
            _ => "",
        };
        let aws = format!(
            "    accountId: \"{}\"\n    region: {}\n    roleArn: {}\n{extra}",
            env.account,
            env.region,
            role(env.account, "ferry-deploy")
        );
        write_environment(root, env.name, &aws, &networks[env.name]);
    }
    let fake = (
        "subnet-0123456789abcdef0".to_owned(),
        "sg-0123456789abcdef0".to_owned(),
    );
    // Ferry's own credentials act in 123456789012, not in the account this one names.
    write_environment(
        root,
        "wrong",
        "    accountId: \"555555555555\"\n    region: us-east-1\n",
        &fake,
    );
    // STS refuses this role (the proxy answers AccessDenied, as AWS does for a trust policy
    // that does not name Ferry).
    write_environment(
        root,
        "broken",
        &format!(
            "    region: us-east-1\n    roleArn: {}\n    externalId: {BROKEN_EXTERNAL_ID}\n",
            role("444444444444", "ferry-broken")
        ),
        &fake,
    );
}

fn aws_env<'a>(cmd: &'a mut Command, endpoint: &str) -> &'a mut Command {
    cmd.env("AWS_ENDPOINT_URL", endpoint)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_CONFIG_FILE", "/nonexistent")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
}

fn status(port: u16) -> Option<Value> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    stream
        .write_all(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    serde_json::from_str(answer.split_once("\r\n\r\n")?.1).ok()
}

struct Ferry(Child, u16, std::path::PathBuf);

impl Drop for Ferry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl Ferry {
    fn log(&self) -> String {
        std::fs::read_to_string(&self.2).unwrap_or_default()
    }

    async fn wait(&self, what: &str, timeout: Duration, pred: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + timeout;
        loop {
            let s = status(self.1).unwrap_or_default();
            if pred(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}: {s:#}\n{}",
                self.log()
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }
}

fn stalled_with(env: &Value, reason: &str) -> Option<String> {
    env["conditions"].as_array()?.iter().find_map(|c| {
        (c["type"] == "Stalled" && c["reason"] == reason)
            .then(|| c["message"].as_str().unwrap_or_default().to_owned())
    })
}

/// The services of `cluster` in `account` and `region` (none when there is no such cluster).
async fn services_in(moto: &str, account: &str, region: &str) -> Vec<String> {
    let api = clients(moto, account, region).await;
    api.ecs_client()
        .list_services()
        .cluster(CLUSTER)
        .send()
        .await
        .map(|o| o.service_arns().to_vec())
        .unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_ferry_deploys_three_accounts_in_two_regions_and_refuses_the_wrong_account() {
    // moto reports a service's tasks as running (its rollout COMPLETED) only when told to.
    let moto = MotoServer::start_with_env(&[("MOTO_ECS_SERVICE_RUNNING", "1")])
        .unwrap_or_else(|e| panic!("{e}"));
    let recorder = Recorder::start(moto.endpoint()).await;
    let mut networks = BTreeMap::new();
    for env in &DEPLOYED {
        networks.insert(
            env.name,
            account_setup(&moto, env.account, env.region).await,
        );
    }
    let dir = tempfile::tempdir().expect("tmp");
    let manifests = dir.path().join("manifests");
    write_manifests(&manifests, &networks);

    let port = ferry_testkit::free_port().expect("port");
    let log = dir.path().join("ferry.log");
    let file = std::fs::File::create(&log).expect("log");
    let child = aws_env(
        &mut Command::new(env!("CARGO_BIN_EXE_ferry")),
        &recorder.endpoint(),
    )
    .arg("run")
    .arg("--manifests")
    .arg(&manifests)
    .args(["--env", "dev,staging,prod,wrong,broken"])
    .args(["--health-interval", "1s", "--drift-interval", "2s"])
    .args(["--credentials-renew-before", "896s"])
    .args(["--listen", &format!("127.0.0.1:{port}"), "--state-dir"])
    .arg(dir.path().join("state"))
    .env("RUST_LOG", "info")
    .stdin(Stdio::null())
    .stdout(file.try_clone().expect("log"))
    .stderr(file)
    .spawn()
    .expect("ferry starts");
    let ferry = Ferry(child, port, log);

    // The three good environments converge, each in its own account and region.
    let all = ferry
        .wait(
            "dev, staging and prod synced; wrong and broken stalled",
            Duration::from_secs(120),
            |s| {
                let envs = &s["environments"];
                DEPLOYED.iter().all(|e| {
                    envs[e.name]["sync"] == "Synced"
                        && envs[e.name]["lastAppliedRevision"].is_string()
                }) && stalled_with(&envs["wrong"], "AccountMismatch").is_some()
                    && stalled_with(&envs["broken"], "AssumeRoleFailed").is_some()
            },
        )
        .await;
    let pairs: BTreeSet<(&str, &str)> = DEPLOYED
        .iter()
        .map(|e| (e.account, e.region))
        .chain([(BASE_ACCOUNT, "us-east-1"), (BASE_ACCOUNT, "eu-west-1")])
        .chain(DEPLOYED.iter().map(|e| (e.account, "us-east-1")))
        .chain(DEPLOYED.iter().map(|e| (e.account, "eu-west-1")))
        .collect();
    for (account, region) in &pairs {
        let services = services_in(&moto.endpoint(), account, region).await;
        let expected = DEPLOYED
            .iter()
            .any(|e| e.account == *account && e.region == *region);
        if expected {
            assert_eq!(services.len(), 1, "{account} {region}: {services:?}");
            assert!(
                services[0].contains(&format!(":{region}:{account}:service/{CLUSTER}/web")),
                "{account} {region}: {services:?}"
            );
        } else {
            assert!(services.is_empty(), "{account} {region}: {services:?}");
        }
    }
    // The image was looked up in the environment's own ECR (default registry of its account).
    for env in &DEPLOYED {
        let api = clients(&moto.endpoint(), env.account, env.region).await;
        let td = api
            .ecs_client()
            .describe_task_definition()
            .task_definition(format!("{}-web", env.name))
            .send()
            .await
            .expect("task definition");
        let image = td
            .task_definition()
            .and_then(|t| t.container_definitions().first())
            .and_then(|c| c.image())
            .unwrap_or_default()
            .to_owned();
        assert!(
            image.starts_with(&format!(
                "{}.dkr.ecr.{}.amazonaws.com/web-app:v1@sha256:",
                env.account, env.region
            )),
            "{}: {image}",
            env.name
        );
    }

    // The wrong account: refused, naming both accounts; not one call signed with Ferry's own
    // key reached ECS, ECR or Application Auto Scaling (it was checked with STS only).
    let wrong = stalled_with(&all["environments"]["wrong"], "AccountMismatch").expect("stalled");
    assert!(
        wrong.contains("555555555555") && wrong.contains(BASE_ACCOUNT),
        "{wrong}"
    );
    let seen = recorder.seen();
    let base_calls: Vec<&Seen> = seen
        .iter()
        .filter(|s| s.access_key == "testing" && s.service != "sts")
        .collect();
    assert!(base_calls.is_empty(), "{base_calls:?}");
    assert!(
        seen.iter()
            .any(|s| s.access_key == "testing" && s.action == "GetCallerIdentity"),
        "the wrong environment's account was checked"
    );

    // The broken role: its own error, the other environments go on; the external ID is never
    // shown.
    let broken = stalled_with(&all["environments"]["broken"], "AssumeRoleFailed").expect("stalled");
    assert!(
        broken.contains("arn:aws:iam::444444444444:role/ferry-broken")
            && broken.contains("AccessDenied"),
        "{broken}"
    );
    assert!(!all.to_string().contains(BROKEN_EXTERNAL_ID));
    assert!(!ferry.log().contains(BROKEN_EXTERNAL_ID));
    let broken_history = all["environments"]["broken"]["history"].to_string();
    assert!(
        broken_history.contains("AssumeRoleFailed"),
        "{broken_history}"
    );

    // 15-minute credentials renewed (896 s before they expire: every ~4 s) while staging keeps
    // reconciling (health every second, drift every 2 s): new keys are assumed, each checked
    // with STS, ECS calls are signed with them, and no reconcile fails.
    let staging_role = role("222222222222", "ferry-deploy");
    let before = recorder.keys_of(&staging_role).len();
    tokio::time::sleep(Duration::from_secs(14)).await;
    let keys = recorder.keys_of(&staging_role);
    assert!(
        keys.len() >= before + 2,
        "renewed: {before} key(s) before, {} after",
        keys.len()
    );
    let seen = recorder.seen();
    let signed: BTreeSet<&str> = seen
        .iter()
        .filter(|s| s.service == "ecs" && keys.contains(&s.access_key))
        .map(|s| s.access_key.as_str())
        .collect();
    assert!(signed.len() >= 2, "ECS calls signed with {signed:?}");
    for key in &keys {
        assert!(
            seen.iter()
                .any(|s| s.action == "GetCallerIdentity" && &s.access_key == key),
            "key {key} was checked before use"
        );
    }
    assert!(
        seen.iter()
            .filter(|s| s.service == "ecs" && keys.contains(&s.access_key))
            .all(|s| s.region == "eu-west-1")
    );
    eprintln!(
        "measured: staging keys {before} -> {} in 14 s; ECS calls signed with {} of them; AssumeRole {} GetCallerIdentity {} in all; calls with Ferry's own key outside STS: {}",
        keys.len(),
        signed.len(),
        seen.iter().filter(|s| s.action == "AssumeRole").count(),
        seen.iter()
            .filter(|s| s.action == "GetCallerIdentity")
            .count(),
        seen.iter()
            .filter(|s| s.access_key == "testing" && s.service != "sts")
            .count(),
    );
    let now = status(ferry.1).expect("status");
    let staging = &now["environments"]["staging"];
    assert_eq!(staging["sync"], "Synced", "{staging:#}");
    let history = staging["history"].as_array().expect("history");
    assert!(!history.is_empty());
    assert!(
        history.iter().all(|a| a["result"] != "Failed"),
        "{history:#?}"
    );

    // `ferry plan` refuses the wrong account the same way, with zero ECS calls; and plans the
    // good environments in their own accounts (nothing to change).
    let before = recorder.seen().len();
    let plan = aws_env(
        &mut Command::new(env!("CARGO_BIN_EXE_ferry")),
        &recorder.endpoint(),
    )
    .args(["plan", "--env", "wrong", "--manifests"])
    .arg(&manifests)
    .output()
    .expect("ferry plan");
    let text = String::from_utf8_lossy(&plan.stderr).into_owned();
    assert_eq!(plan.status.code(), Some(1), "{text}");
    assert!(
        text.contains("555555555555") && text.contains(BASE_ACCOUNT) && !text.contains('\u{1b}'),
        "{text}"
    );
    let after: Vec<Seen> = recorder.seen().split_off(before);
    assert!(
        after
            .iter()
            .all(|s| !(s.access_key == "testing" && s.service != "sts")),
        "{after:?}"
    );
    for env in ["dev", "prod"] {
        let plan = aws_env(
            &mut Command::new(env!("CARGO_BIN_EXE_ferry")),
            &recorder.endpoint(),
        )
        .args(["plan", "--env", env, "--manifests"])
        .arg(&manifests)
        .output()
        .expect("ferry plan");
        assert_eq!(
            plan.status.code(),
            Some(0),
            "{env}: {}{}",
            String::from_utf8_lossy(&plan.stdout),
            String::from_utf8_lossy(&plan.stderr)
        );
    }
}
