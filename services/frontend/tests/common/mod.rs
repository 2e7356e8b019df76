//! The numbers app as processes for end-to-end tests: numbers-api (SQLite in a temporary
//! folder), numbers-frontend and numbers-proxy on free loopback ports, each killed on drop.
//!
//! numbers-frontend is this package's own binary; numbers-api and numbers-proxy are found next
//! to it in the target folder and built with cargo when missing or older than their sources.

#![allow(dead_code, unreachable_pub)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Once;
use std::time::{Duration, SystemTime};

use ferry_testkit::{free_port, wait_until};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .ancestors()
        .nth(2)
        .expect("services/frontend sits two levels below the root")
        .to_path_buf()
}

/// The cargo target folder these binaries live in (`.../target`).
pub fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_BIN_EXE_numbers-frontend"))
        .ancestors()
        .nth(2)
        .expect("target/<profile>/numbers-frontend")
        .to_path_buf()
}

/// Path of a workspace binary next to numbers-frontend, built when missing or stale.
pub fn sibling_binary(name: &str) -> PathBuf {
    static BUILD: Once = Once::new();
    let dir = Path::new(env!("CARGO_BIN_EXE_numbers-frontend"))
        .parent()
        .expect("binary folder")
        .to_path_buf();
    let wanted = [
        ("numbers-api", "services/api"),
        ("numbers-proxy", "services/proxy"),
    ];
    let stale = |bin: &str, src: &str| {
        let built = std::fs::metadata(dir.join(bin)).and_then(|m| m.modified());
        match built {
            Err(_) => true,
            Ok(built) => newest_source(&repo_root().join(src)) > built,
        }
    };
    BUILD.call_once(|| {
        if wanted.iter().any(|(bin, src)| stale(bin, src)) {
            let profile = dir.file_name().and_then(|n| n.to_str()).unwrap_or("debug");
            let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
            let mut cmd = Command::new(cargo);
            cmd.current_dir(repo_root())
                .args(["build", "-p", "numbers-api", "-p", "numbers-proxy"])
                .arg("--target-dir")
                .arg(target_dir());
            if profile == "release" {
                cmd.arg("--release");
            }
            let status = cmd.status().expect("cargo runs");
            assert!(
                status.success(),
                "cannot build numbers-api and numbers-proxy"
            );
        }
    });
    let path = dir.join(name);
    assert!(path.is_file(), "{} is missing", path.display());
    path
}

fn newest_source(dir: &Path) -> SystemTime {
    let mut newest = SystemTime::UNIX_EPOCH;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                if path.file_name().is_some_and(|n| n != "tests") {
                    stack.push(path);
                }
            } else if let Ok(m) = entry.metadata().and_then(|m| m.modified()) {
                newest = newest.max(m);
            }
        }
    }
    newest
}

/// One running service process, its output in a log file; killed on drop.
pub struct Service {
    pub name: &'static str,
    pub port: u16,
    child: Option<Child>,
    log: PathBuf,
    program: PathBuf,
    envs: Vec<(String, String)>,
    cwd: PathBuf,
}

impl Service {
    fn spawn(
        name: &'static str,
        program: PathBuf,
        cwd: &Path,
        port: u16,
        envs: Vec<(String, String)>,
    ) -> Self {
        let mut service = Self {
            name,
            port,
            child: None,
            log: cwd.join(format!("{name}.log")),
            program,
            envs,
            cwd: cwd.to_path_buf(),
        };
        service.start();
        service
    }

    /// Start (again) with the same port, folder and settings.
    pub fn start(&mut self) {
        assert!(self.child.is_none(), "{} is already running", self.name);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("log file");
        let mut cmd = Command::new(&self.program);
        cmd.current_dir(&self.cwd)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("LISTEN_ADDR", format!("127.0.0.1:{}", self.port))
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log);
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        self.child = Some(
            cmd.spawn()
                .unwrap_or_else(|e| panic!("cannot start {}: {e}", self.program.display())),
        );
        let path = if self.name == "api" {
            "/readyz"
        } else {
            "/healthz"
        };
        let port = self.port;
        let ready = wait_until(Duration::from_secs(60), || {
            http(port, "GET", path, &[], b"").is_some_and(|r| r.status == 200)
        });
        assert!(
            ready,
            "{} never became ready on port {port}; log:\n{}",
            self.name,
            self.logs()
        );
    }

    /// Kill the process and wait for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        self.stop();
    }
}

/// api + frontend + proxy, wired like the seed's ECS task.
pub struct Stack {
    pub api: Service,
    pub frontend: Service,
    pub proxy: Service,
    _dir: tempfile::TempDir,
}

impl Stack {
    pub fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("numbers-e2e-")
            .tempdir()
            .expect("temporary folder");
        let api_port = free_port().expect("port");
        let frontend_port = free_port().expect("port");
        let proxy_port = free_port().expect("port");
        let api = Service::spawn(
            "api",
            sibling_binary("numbers-api"),
            dir.path(),
            api_port,
            vec![],
        );
        let frontend = Service::spawn(
            "frontend",
            PathBuf::from(env!("CARGO_BIN_EXE_numbers-frontend")),
            dir.path(),
            frontend_port,
            vec![],
        );
        let proxy = Service::spawn(
            "proxy",
            sibling_binary("numbers-proxy"),
            dir.path(),
            proxy_port,
            vec![
                (
                    "API_UPSTREAM".into(),
                    format!("http://127.0.0.1:{api_port}"),
                ),
                (
                    "FRONTEND_UPSTREAM".into(),
                    format!("http://127.0.0.1:{frontend_port}"),
                ),
            ],
        );
        Self {
            api,
            frontend,
            proxy,
            _dir: dir,
        }
    }

    pub fn logs(&self) -> String {
        format!(
            "--- api\n{}\n--- frontend\n{}\n--- proxy\n{}",
            self.api.logs(),
            self.frontend.logs(),
            self.proxy.logs()
        )
    }
}

/// A parsed HTTP/1.1 answer.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text()))
    }
}

/// One request on a fresh connection (`Connection: close`); None when nothing answers.
pub fn http(
    port: u16,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Option<Reply> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let mut req = format!(
        "{method} {path} HTTP/1.1\r\nHost: numbers.test\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        req.push_str(&format!("{k}: {v}\r\n"));
    }
    req.push_str("\r\n");
    stream.write_all(req.as_bytes()).ok()?;
    stream.write_all(body).ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines.next()?.split_whitespace().nth(1)?.parse().ok()?;
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some(Reply {
        status,
        headers,
        body: raw[split + 4..].to_vec(),
    })
}
