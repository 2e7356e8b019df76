//! `ferry run --auth-token-file`: the status page, `/status` and `/metrics` need the read token
//! (bearer, or the password of HTTP Basic so a browser can ask for it); `/healthz` and `/readyz`
//! stay open for health checks; the webhook keeps its own signature and `/sync` its own token
//! (given here through `FERRY_API_TOKEN`, as an ECS task secret would).

use std::io::{Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");
const READ_TOKEN: &str = "read-token-0123456789";
const API_TOKEN: &str = "api-token-9876543210";

/// (status, head, body) of a plain HTTP/1.1 request.
fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
) -> Option<(u16, String, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n"
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    let (head, body) = answer.split_once("\r\n\r\n")?;
    Some((status, head.to_ascii_lowercase(), body.to_owned()))
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn auth_token_file_guards_the_read_endpoints_and_leaves_health_checks_open() {
    let dir = tempfile::tempdir().expect("tmp");
    let manifests = dir.path().join("manifests");
    std::fs::create_dir_all(manifests.join("t")).expect("mkdir");
    std::fs::write(
        manifests.join("t/environment.yaml"),
        "apiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: t\nspec:\n  platform: local\n",
    )
    .expect("environment");
    std::fs::write(dir.path().join("read-token"), format!("{READ_TOKEN}\n")).expect("token");

    let port = ferry_testkit::free_port().expect("free port");
    let log = std::fs::File::create(dir.path().join("ferry.log")).expect("log");
    let _ferry = Killed(
        Command::new(FERRY)
            .arg("run")
            .arg("--manifests")
            .arg(&manifests)
            .args(["--env", "t", "--listen", &format!("127.0.0.1:{port}")])
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .arg("--auth-token-file")
            .arg(dir.path().join("read-token"))
            .env("FERRY_API_TOKEN", format!("{API_TOKEN}\n"))
            .env_remove("FERRY_AUTH_TOKEN")
            .env_remove("FERRY_WEBHOOK_SECRET")
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log"))
            .stderr(log)
            .spawn()
            .expect("ferry run starts"),
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    while http(port, "GET", "/healthz", &[]).is_none() {
        assert!(
            Instant::now() < deadline,
            "ferry run did not listen: {}",
            std::fs::read_to_string(dir.path().join("ferry.log")).unwrap_or_default()
        );
        std::thread::sleep(Duration::from_millis(100));
    }

    // Health checks need nothing.
    assert_eq!(http(port, "GET", "/healthz", &[]).expect("healthz").0, 200);
    let (status, _, _) = http(port, "GET", "/readyz", &[]).expect("readyz");
    assert!(status == 200 || status == 503, "readyz: {status}");

    let bearer = format!("Bearer {READ_TOKEN}");
    // "ops:<token>" in Base64.
    let basic = format!("Basic {}", base64_encode(&format!("ops:{READ_TOKEN}")));
    for path in ["/", "/status", "/metrics"] {
        let (status, head, body) = http(port, "GET", path, &[]).expect(path);
        assert_eq!(status, 401, "{path} without a token: {body}");
        assert!(
            head.contains("www-authenticate: basic realm=\"ferry\""),
            "{path}: {head}"
        );
        assert!(
            !body.contains(READ_TOKEN),
            "{path}: the token is never echoed"
        );

        for wrong in [
            "Bearer nope".to_owned(),
            format!("Bearer {API_TOKEN}"),
            format!("Basic {}", base64_encode("ops:nope")),
            format!("Basic {}", base64_encode(READ_TOKEN)),
        ] {
            let (status, _, _) = http(port, "GET", path, &[("Authorization", &wrong)]).expect(path);
            assert_eq!(status, 401, "{path} with {wrong}");
        }

        for good in [&bearer, &basic] {
            let (status, _, body) =
                http(port, "GET", path, &[("Authorization", good)]).expect(path);
            assert_eq!(status, 200, "{path} with {good}: {body}");
        }
    }
    let (_, _, body) = http(port, "GET", "/status", &[("Authorization", &bearer)]).expect("status");
    let status: serde_json::Value = serde_json::from_str(&body).expect("status json");
    assert!(status["environments"]["t"].is_object(), "{status}");

    // POST /sync keeps its own token: the read token does not open it.
    let (status, _, _) =
        http(port, "POST", "/sync?env=t", &[("Authorization", &bearer)]).expect("sync");
    assert_eq!(status, 401);
    let (status, _, body) = http(
        port,
        "POST",
        "/sync?env=t",
        &[("Authorization", &format!("Bearer {API_TOKEN}"))],
    )
    .expect("sync");
    assert!(
        (200..300).contains(&status),
        "sync with the API token: {status} {body}"
    );

    // The webhook is not behind the read token (off here: no secret given).
    let (status, _, _) = http(port, "POST", "/webhook/github", &[]).expect("webhook");
    assert_ne!(status, 401);
}

fn base64_encode(text: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(text)
}
