//! `ferry run` on a private repository: a local git server (`git http-backend` behind a small
//! HTTP server in this test that demands Basic credentials) serves the manifests. The right
//! token syncs, a wrong or missing one gives a clear `sourceError`, and the token never shows in
//! any output, status, argument list or the git cache.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, Response, StatusCode};
use base64::Engine;
use ferry_testkit::git;
use serde_json::Value;

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");
const TOKEN: &str = "ghp_Fy7tokenNeverShown0123456789abcdef";

/// What the git server saw: (path, credentials given, answered status).
type Seen = Arc<Mutex<Vec<(String, Option<String>, u16)>>>;

/// A git smart-HTTP server for the repositories under `root`, demanding Basic credentials
/// `user:password` (any user name, that password); runs on its own thread until the test ends.
fn git_server(root: PathBuf, password: &'static str) -> (u16, Seen) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    listener.set_nonblocking(true).expect("nonblocking");
    let seen: Seen = Arc::default();
    let log = seen.clone();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).expect("listener");
            let app = axum::Router::new().fallback(move |req: Request<Body>| {
                let (root, log) = (root.clone(), log.clone());
                async move { serve_git(req, &root, password, &log).await }
            });
            axum::serve(listener, app).await.expect("serve");
        });
    });
    (port, seen)
}

async fn serve_git(req: Request<Body>, root: &Path, password: &str, log: &Seen) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let user = req
        .headers()
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| base64::engine::general_purpose::STANDARD.decode(b).ok())
        .map(|b| String::from_utf8_lossy(&b).into_owned());
    let allowed = user
        .as_deref()
        .and_then(|u| u.split_once(':'))
        .is_some_and(|(_, p)| p == password);
    if !allowed {
        log.lock().expect("log").push((path, user, 401));
        return Response::builder()
            .status(StatusCode::UNAUTHORIZED)
            .header("WWW-Authenticate", "Basic realm=\"git\"")
            .body(Body::empty())
            .expect("response");
    }
    let headers = req.headers().clone();
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut env = vec![
        ("GIT_PROJECT_ROOT", root.display().to_string()),
        ("GIT_HTTP_EXPORT_ALL", "1".to_owned()),
        ("PATH_INFO", path.clone()),
        ("QUERY_STRING", req.uri().query().unwrap_or("").to_owned()),
        ("REQUEST_METHOD", req.method().to_string()),
        ("CONTENT_TYPE", header("content-type")),
        ("HTTP_CONTENT_ENCODING", header("content-encoding")),
        ("GIT_PROTOCOL", header("git-protocol")),
        ("REMOTE_USER", "ferry".to_owned()),
        ("REMOTE_ADDR", "127.0.0.1".to_owned()),
    ];
    let body = axum::body::to_bytes(req.into_body(), 64 << 20)
        .await
        .expect("body");
    env.push(("CONTENT_LENGTH", body.len().to_string()));
    let out = tokio::task::spawn_blocking(move || {
        let mut child = Command::new("git")
            .arg("http-backend")
            .envs(env)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("git http-backend");
        let mut stdin = child.stdin.take().expect("stdin");
        let writer = std::thread::spawn(move || {
            let _ = stdin.write_all(&body);
        });
        let out = child.wait_with_output().expect("http-backend output");
        let _ = writer.join();
        out.stdout
    })
    .await
    .expect("cgi");
    // CGI output: headers, a blank line, the body.
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("CGI headers");
    let (head, body) = (
        String::from_utf8_lossy(&out[..split]).into_owned(),
        out[split + 4..].to_vec(),
    );
    let mut response = Response::builder();
    let mut status = 200;
    for line in head.lines() {
        if let Some((name, value)) = line.split_once(':') {
            if name.eq_ignore_ascii_case("status") {
                status = value
                    .split_whitespace()
                    .next()
                    .and_then(|s| s.parse().ok())
                    .unwrap_or(500);
            } else {
                response = response.header(name.trim(), value.trim());
            }
        }
    }
    log.lock().expect("log").push((path, user, status));
    response
        .status(status)
        .body(Body::from(body))
        .expect("response")
}

/// (status, body) of a plain HTTP/1.1 GET.
fn get(port: u16, path: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    Some((status, answer.split_once("\r\n\r\n")?.1.to_owned()))
}

/// Every process's argument list that mentions `needle`.
fn processes_mentioning(needle: &str) -> Vec<String> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .flatten()
        .filter_map(|e| std::fs::read(e.path().join("cmdline")).ok())
        .map(|c| String::from_utf8_lossy(&c).replace('\0', " "))
        .filter(|c| c.contains(needle))
        .collect()
}

/// A running `ferry run` on a repository, killed on drop.
struct Ferry {
    child: Child,
    port: u16,
    log: PathBuf,
    state: PathBuf,
}

impl Ferry {
    fn start(dir: &Path, name: &str, url: &str, extra: &[&str]) -> Self {
        let port = ferry_testkit::free_port().expect("free port");
        let state = dir.join(name);
        std::fs::create_dir_all(&state).expect("state");
        let log = state.join("ferry.log");
        let file = std::fs::File::create(&log).expect("log");
        let child = Command::new(FERRY)
            .args(["run", "--repo", url, "--interval", "1s", "--listen"])
            .arg(format!("127.0.0.1:{port}"))
            .arg("--state-dir")
            .arg(state.join("state"))
            .args(extra)
            .env("RUST_LOG", "debug")
            .stdin(Stdio::null())
            .stdout(file.try_clone().expect("log"))
            .stderr(file)
            .spawn()
            .expect("ferry starts");
        Self {
            child,
            port,
            log,
            state,
        }
    }

    fn status(&self) -> Option<(String, Value)> {
        let (code, body) = get(self.port, "/status")?;
        (code == 200).then(|| Some((body.clone(), serde_json::from_str(&body).ok()?)))?
    }

    /// Wait until the status satisfies `pred`, checking on the way that no process shows the
    /// token in its arguments.
    fn wait(&self, what: &str, pred: impl Fn(&Value) -> bool) -> (String, Value) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let shown = processes_mentioning(TOKEN);
            assert!(
                shown.is_empty(),
                "the token is in an argument list: {shown:?}"
            );
            if let Some((text, status)) = self.status().filter(|(_, s)| pred(s)) {
                return (text, status);
            }
            assert!(
                Instant::now() < deadline,
                "timed out waiting for {what}; status: {:?}\nlog:\n{}",
                self.status(),
                self.logs()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Every file Ferry wrote under its state folder, as text.
    fn state_files(&self) -> String {
        fn walk(dir: &Path, out: &mut String) {
            for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    walk(&path, out);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    out.push_str(&String::from_utf8_lossy(&bytes));
                }
            }
        }
        let mut out = String::new();
        walk(&self.state, &mut out);
        out
    }
}

impl Drop for Ferry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const ENV: &str = "apiVersion: ferry.dev/v1alpha1
kind: Environment
metadata: { name: dev }
spec:
  platform: local
  resources: [../base]
  local:
    commands:
      worker: { command: [sleep, \"600\"] }
";

const SERVICE: &str = "apiVersion: ferry.dev/v1alpha1
kind: EcsService
metadata: { name: w }
spec:
  taskDefinition:
    cpu: 256
    memory: 512
    containers:
      - name: main
        image: worker
";

/// A bare repository `origin.git` under `dir/srv` with one commit of a small stack.
fn private_repo(dir: &Path) -> String {
    let srv = dir.join("srv");
    let bare = srv.join("origin.git");
    let work = dir.join("work");
    std::fs::create_dir_all(&srv).expect("mkdir");
    git(
        dir,
        &["init", "--bare", "--quiet", bare.to_str().expect("utf-8")],
    );
    git(
        dir,
        &[
            "clone",
            "--quiet",
            bare.to_str().expect("utf-8"),
            work.to_str().expect("utf-8"),
        ],
    );
    std::fs::create_dir_all(work.join("manifests/dev")).expect("mkdir");
    std::fs::create_dir_all(work.join("manifests/base")).expect("mkdir");
    std::fs::write(work.join("manifests/dev/environment.yaml"), ENV).expect("write");
    std::fs::write(work.join("manifests/base/w.yaml"), SERVICE).expect("write");
    git(&work, &["add", "."]);
    git(&work, &["commit", "--quiet", "-m", "first"]);
    git(&work, &["push", "--quiet", "origin", "HEAD:main"]);
    git(&work, &["rev-parse", "HEAD"])
}

#[test]
fn a_private_repository_syncs_with_the_right_token_and_never_shows_it() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let head = private_repo(dir.path());
    let (git_port, seen) = git_server(dir.path().join("srv"), TOKEN);
    let url = format!("http://127.0.0.1:{git_port}/origin.git");

    // Without credentials the server refuses, and Ferry says so.
    let anonymous = Ferry::start(dir.path(), "anonymous", &url, &[]);
    let (_, status) = anonymous.wait("a sourceError", |s| s["sourceError"].is_string());
    assert!(status["sourceRevision"].is_null(), "{status:#}");
    drop(anonymous);

    // A wrong token: a clear error without the token.
    let wrong_file = dir.path().join("wrong-token");
    let wrong = "ghp_WrongTokenAlsoSecret987654321";
    std::fs::write(&wrong_file, format!("{wrong}\n")).expect("write");
    let ferry = Ferry::start(
        dir.path(),
        "wrong",
        &url,
        &["--git-token-file", wrong_file.to_str().expect("utf-8")],
    );
    let (text, status) = ferry.wait("a sourceError", |s| s["sourceError"].is_string());
    let error = status["sourceError"].as_str().unwrap_or_default();
    assert!(
        error.contains("Authentication failed") && error.contains("127.0.0.1"),
        "a clear reason naming the repository: {error}"
    );
    assert!(!text.contains(wrong), "status shows no token: {text}");
    assert!(!ferry.logs().contains(wrong), "{}", ferry.logs());
    assert!(
        seen.lock()
            .expect("seen")
            .iter()
            .any(|(_, user, code)| *code == 401
                && user.as_deref() == Some(&format!("x-access-token:{wrong}"))),
        "the wrong token was sent and refused: {:?}",
        seen.lock().expect("seen")
    );
    drop(ferry);

    // The right token: the commit syncs and runs.
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).expect("write");
    let ferry = Ferry::start(
        dir.path(),
        "right",
        &url,
        &["--git-token-file", token_file.to_str().expect("utf-8")],
    );
    let (text, status) = ferry.wait("the commit applied", |s| {
        s["environments"]["dev"]["lastAppliedRevision"].as_str() == Some(head.as_str())
    });
    assert!(status["sourceError"].is_null(), "{status:#}");
    assert!(
        status["source"]
            .as_str()
            .is_some_and(|s| s.contains("origin.git")),
        "{status:#}"
    );
    // A few more fetches on the interval, each authenticated.
    std::thread::sleep(Duration::from_secs(3));
    let fetched = seen
        .lock()
        .expect("seen")
        .iter()
        .filter(|(path, _, code)| path.ends_with("/info/refs") && *code == 200)
        .count();
    assert!(fetched >= 2, "fetched on the interval: {fetched}");
    let (text_later, _) = ferry.wait("status", |_| true);
    for shown in [text, text_later, ferry.logs(), ferry.state_files()] {
        assert!(!shown.contains(TOKEN), "the token leaked: {shown}");
    }
    assert!(
        ferry.logs().contains("new commit"),
        "debug logs were on: {}",
        ferry.logs()
    );
}

fn keygen(path: &Path) -> String {
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "ferry-test", "-f"])
        .arg(path)
        .status()
        .expect("ssh-keygen (openssh-client) is installed");
    assert!(status.success());
    std::fs::read_to_string(path.with_extension("pub")).expect("public key")
}

/// An OpenSSH server on a free port letting the current user in with `client_key` only;
/// killed on drop.
struct Sshd {
    child: Child,
    port: u16,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sshd(dir: &Path, client_public_key: &str) -> (Sshd, String) {
    let sshd = Path::new("/usr/sbin/sshd");
    assert!(
        sshd.is_file(),
        "/usr/sbin/sshd is missing: `cargo xtask test` installs openssh-server"
    );
    let host_key = dir.join("host_key");
    let host_public = keygen(&host_key);
    let authorized = dir.join("authorized_keys");
    std::fs::write(&authorized, client_public_key).expect("authorized_keys");
    // sshd's privilege separation folder (created by the service scripts, not by the package).
    let _ = std::fs::create_dir_all("/run/sshd");
    let port = ferry_testkit::free_port().expect("free port");
    let config = dir.join("sshd_config");
    std::fs::write(
        &config,
        format!(
            "Port {port}\nListenAddress 127.0.0.1\nHostKey {}\nAuthorizedKeysFile {}\n\
             PidFile none\nStrictModes no\nUsePAM no\nPasswordAuthentication no\n\
             KbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n",
            host_key.display(),
            authorized.display()
        ),
    )
    .expect("sshd_config");
    let log = std::fs::File::create(dir.join("sshd.log")).expect("log");
    let child = Command::new(sshd)
        .args(["-D", "-e", "-f"])
        .arg(&config)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("log"))
        .stderr(log)
        .spawn()
        .expect("sshd starts");
    assert!(
        ferry_testkit::wait_until(Duration::from_secs(10), || TcpStream::connect((
            "127.0.0.1",
            port
        ))
        .is_ok()),
        "sshd did not listen: {}",
        std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default()
    );
    let known = format!("[127.0.0.1]:{port} {host_public}");
    (Sshd { child, port }, known)
}

#[test]
fn an_ssh_repository_syncs_with_the_key_and_refuses_an_unknown_host() {
    let dir = tempfile::tempdir().expect("temporary folder");
    let head = private_repo(dir.path());
    let client_key = dir.path().join("client_key");
    let client_public = keygen(&client_key);
    let (server, known_line) = sshd(dir.path(), &client_public);
    let user = String::from_utf8(Command::new("id").arg("-un").output().expect("id").stdout)
        .expect("utf-8");
    let url = format!(
        "ssh://{}@127.0.0.1:{}{}",
        user.trim(),
        server.port,
        dir.path().join("srv/origin.git").display()
    );
    let known_hosts = dir.path().join("known_hosts");
    std::fs::write(&known_hosts, format!("{known_line}\n")).expect("known_hosts");
    let key = client_key.to_str().expect("utf-8");

    // A host whose key is not the one known: refused, the key is never offered blindly.
    let other_hosts = dir.path().join("other_known_hosts");
    let other_public = keygen(&dir.path().join("other_host_key"));
    std::fs::write(
        &other_hosts,
        format!("[127.0.0.1]:{} {other_public}", server.port),
    )
    .expect("write");
    let ferry = Ferry::start(
        dir.path(),
        "unknown-host",
        &url,
        &[
            "--git-ssh-key-file",
            key,
            "--git-known-hosts-file",
            other_hosts.to_str().expect("utf-8"),
        ],
    );
    let (_, status) = ferry.wait("a sourceError", |s| s["sourceError"].is_string());
    let error = status["sourceError"].as_str().unwrap_or_default();
    assert!(
        error.contains("Host key verification failed") || error.contains("HOST IDENTIFICATION"),
        "{error}"
    );
    drop(ferry);

    // A key the server does not know: permission denied.
    let stranger = dir.path().join("stranger_key");
    keygen(&stranger);
    let ferry = Ferry::start(
        dir.path(),
        "wrong-key",
        &url,
        &[
            "--git-ssh-key-file",
            stranger.to_str().expect("utf-8"),
            "--git-known-hosts-file",
            known_hosts.to_str().expect("utf-8"),
        ],
    );
    let (_, status) = ferry.wait("a sourceError", |s| s["sourceError"].is_string());
    let error = status["sourceError"].as_str().unwrap_or_default();
    assert!(error.contains("Permission denied"), "{error}");
    drop(ferry);

    // The right key and host: the commit syncs.
    let ferry = Ferry::start(
        dir.path(),
        "right",
        &url,
        &[
            "--git-ssh-key-file",
            key,
            "--git-known-hosts-file",
            known_hosts.to_str().expect("utf-8"),
        ],
    );
    let (_, status) = ferry.wait("the commit applied", |s| {
        s["environments"]["dev"]["lastAppliedRevision"].as_str() == Some(head.as_str())
    });
    assert!(status["sourceError"].is_null(), "{status:#}");
    let private = std::fs::read_to_string(&client_key).expect("key");
    let secret_line = private.lines().nth(1).expect("key body");
    assert!(!ferry.logs().contains(secret_line), "{}", ferry.logs());
}
