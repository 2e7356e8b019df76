//! `ferry plan | apply | status` when AWS cannot be used: one line with the cause and the fix,
//! exit 1, never the SDK's error chain (provider attempts, IMDS, headers, Debug dumps) and
//! never a secret. The real binary on the repository's `manifests/dev`, in a clean
//! environment: an empty HOME and only the AWS_* variables each case sets.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_ferry");
const KEY_ID: &str = "AKIAFERRYTESTKEY0001";
const SECRET: &str = "ferry+test/secret+value+that+must+never+show";
const TOKEN: &str = "ferry-test-session-token-that-must-never-show";

fn manifests() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../manifests"))
        .canonicalize()
        .expect("manifests")
}

/// `ferry <command> --manifests manifests --env dev` with only PATH, HOME and `env`.
fn ferry(command: &str, home: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(BIN)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home)
        .envs(env.iter().copied())
        .arg(command)
        .arg("--manifests")
        .arg(manifests())
        .args(["--env", "dev"])
        .output()
        .expect("ferry runs")
}

/// The checks every case shares: exit 1, a short stderr that starts with `error: `, says
/// `cause` and `fix`, and has nothing of the SDK's insides nor any secret.
fn assert_one_clear_line(out: &Output, cause: &str, fix: &str) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_eq!(out.status.code(), Some(1), "stderr:\n{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() <= 3, "a few lines at most:\n{stderr}");
    assert!(
        lines.last().is_some_and(|l| l.starts_with("error: ")),
        "{stderr}"
    );
    assert!(
        stderr.contains(cause),
        "names the cause `{cause}`:\n{stderr}"
    );
    assert!(stderr.contains(fix), "names the fix `{fix}`:\n{stderr}");
    for inside in [
        "IMDS",
        "x-amz",
        "headers",
        "DispatchFailure",
        "ConnectorError",
        "Attempted:",
    ] {
        assert!(
            !stderr.contains(inside),
            "the SDK's insides (`{inside}`):\n{stderr}"
        );
    }
    for secret in [KEY_ID, SECRET, TOKEN] {
        assert!(
            !stderr.contains(secret) && !stdout.contains(secret),
            "a secret is shown:\n{stdout}{stderr}"
        );
    }
    stderr
}

#[test]
fn without_credentials_plan_apply_and_status_say_so_in_one_line() {
    let home = tempfile::tempdir().expect("home");
    for command in ["plan", "apply", "status"] {
        let out = ferry(
            command,
            home.path(),
            &[("AWS_EC2_METADATA_DISABLED", "true")],
        );
        let stderr = assert_one_clear_line(
            &out,
            "no AWS credentials found (looked in environment, profile, web identity, ECS/EC2 metadata)",
            "set AWS_PROFILE or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run on a role",
        );
        eprintln!("ferry {command}: {stderr}");
    }
}

#[test]
fn an_unreachable_endpoint_is_named_without_the_secret() {
    let home = tempfile::tempdir().expect("home");
    // A port that was free a moment ago: nothing listens there.
    let port = ferry_testkit::free_port().expect("port");
    let endpoint = format!("http://127.0.0.1:{port}");
    let out = ferry(
        "plan",
        home.path(),
        &[
            ("AWS_ACCESS_KEY_ID", KEY_ID),
            ("AWS_SECRET_ACCESS_KEY", SECRET),
            ("AWS_SESSION_TOKEN", TOKEN),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ENDPOINT_URL", &endpoint),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    let stderr = assert_one_clear_line(
        &out,
        &format!("cannot reach the ECS API at {endpoint} (region us-east-1)"),
        "AWS_ENDPOINT_URL and the network",
    );
    assert!(stderr.to_lowercase().contains("refused"), "{stderr}");
}

#[test]
fn expired_credentials_are_named_with_how_to_refresh_them() {
    let home = tempfile::tempdir().expect("home");
    let aws = home.path().join(".aws");
    std::fs::create_dir_all(&aws).expect("mkdir");
    // A credential process (as `aws configure export-credentials` or a vault helper) that
    // hands out credentials that expired long ago.
    let helper = home.path().join("expired-credentials");
    std::fs::write(
        &helper,
        format!(
            "#!/bin/sh\necho '{{\"Version\": 1, \"AccessKeyId\": \"{KEY_ID}\", \"SecretAccessKey\": \"{SECRET}\", \"SessionToken\": \"{TOKEN}\", \"Expiration\": \"2020-01-01T00:00:00Z\"}}'\n"
        ),
    )
    .expect("helper");
    std::fs::set_permissions(&helper, std::os::unix::fs::PermissionsExt::from_mode(0o755))
        .expect("chmod");
    std::fs::write(
        aws.join("config"),
        format!(
            "[profile ci]\nregion = us-east-1\ncredential_process = {}\n",
            helper.display()
        ),
    )
    .expect("config");
    let port = ferry_testkit::free_port().expect("port");
    let out = ferry(
        "plan",
        home.path(),
        &[
            ("AWS_PROFILE", "ci"),
            ("AWS_ENDPOINT_URL", &format!("http://127.0.0.1:{port}")),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ],
    );
    assert_one_clear_line(
        &out,
        "the AWS credentials have expired",
        "refresh them (`aws sso login`, a new AWS_SESSION_TOKEN, or assume the role again)",
    );
}

/// One unsigned IAM query action against moto (allowed while its auth is not enforced yet).
fn iam(endpoint: &str, form: &str) -> String {
    use std::io::{Read, Write};
    let address = endpoint.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).expect("moto");
    let request = format!(
        "POST / HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20240101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0\r\n\
         Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{form}",
        form.len()
    );
    stream.write_all(request.as_bytes()).expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).expect("read");
    answer
}

fn xml_field(xml: &str, name: &str) -> String {
    xml.split_once(&format!("<{name}>"))
        .and_then(|(_, rest)| rest.split_once(&format!("</{name}>")))
        .map(|(v, _)| v.to_owned())
        .unwrap_or_else(|| panic!("no <{name}> in {xml}"))
}

/// moto enforcing IAM (after the two calls that create a user without any policy and its
/// key): that user is denied `ecs:ListServices`, and an unknown key is rejected.
#[test]
fn access_denied_names_the_action_and_an_unknown_key_is_rejected() {
    let moto =
        ferry_testkit::moto::MotoServer::start_with_env(&[("INITIAL_NO_AUTH_ACTION_COUNT", "2")])
            .expect("moto");
    let endpoint = moto.endpoint();
    iam(
        &endpoint,
        "Action=CreateUser&UserName=ci&Version=2010-05-08",
    );
    let created = iam(
        &endpoint,
        "Action=CreateAccessKey&UserName=ci&Version=2010-05-08",
    );
    let key = xml_field(&created, "AccessKeyId");
    let secret = xml_field(&created, "SecretAccessKey");
    let home = tempfile::tempdir().expect("home");
    let with = |key: &str| {
        ferry(
            "plan",
            home.path(),
            &[
                ("AWS_ACCESS_KEY_ID", key),
                ("AWS_SECRET_ACCESS_KEY", &secret),
                ("AWS_REGION", "us-east-1"),
                ("AWS_ENDPOINT_URL", &endpoint),
                ("AWS_EC2_METADATA_DISABLED", "true"),
            ],
        )
    };
    let out = with(&key);
    let stderr = assert_one_clear_line(
        &out,
        "access denied: the AWS identity in use may not call ecs:ListServices",
        "allow ecs:ListServices in the IAM policy",
    );
    assert!(!stderr.contains(&secret), "{stderr}");

    let out = with(KEY_ID);
    let stderr = assert_one_clear_line(
        &out,
        "AWS rejected the credentials",
        "check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY",
    );
    assert!(!stderr.contains(&secret), "{stderr}");
}
