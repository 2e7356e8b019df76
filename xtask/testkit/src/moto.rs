//! moto (`moto_server`, PyPI `moto[server]`) as a real AWS API emulator for ECS/ECR tests and
//! benchmarks: one server per [`MotoServer`], on a free loopback port, stopped on drop.
//!
//! The binary comes from [`MOTO_BIN_ENV`] (set by `cargo xtask test`, which installs moto in
//! `.tools/moto-venv`), else from that virtualenv directly. Missing moto is a loud error.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{HarnessError, free_port, wait_until};

/// Environment variable naming the `moto_server` binary.
pub const MOTO_BIN_ENV: &str = "FERRY_TEST_MOTO_BIN";

/// The moto version the tests are written against (see the ECS issue's measured behaviours).
pub const MOTO_PACKAGE: &str = "moto[server]==5.2.5";

/// A running `moto_server`, killed on drop.
#[derive(Debug)]
pub struct MotoServer {
    child: Child,
    port: u16,
}

/// Where `moto_server` is: [`MOTO_BIN_ENV`], else the repository's `.tools/moto-venv`.
pub fn moto_binary() -> Result<PathBuf, HarnessError> {
    if let Some(path) = std::env::var_os(MOTO_BIN_ENV) {
        let path = PathBuf::from(path);
        if path.is_file() {
            return Ok(path);
        }
        return Err(HarnessError(format!(
            "{MOTO_BIN_ENV}={} does not exist",
            path.display()
        )));
    }
    let venv = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../.tools/moto-venv/bin/moto_server");
    if venv.is_file() {
        return Ok(venv);
    }
    Err(HarnessError(format!(
        "moto is not installed: {MOTO_BIN_ENV} is not set and {} does not exist. \
         Run the tests with `cargo xtask test` (it installs `{MOTO_PACKAGE}`).",
        venv.display()
    )))
}

impl MotoServer {
    /// Start `moto_server` on a free loopback port and wait until it answers.
    pub fn start() -> Result<Self, HarnessError> {
        Self::start_with_env(&[])
    }

    /// [`MotoServer::start`] with extra environment variables for moto (e.g.
    /// `MOTO_IAM_LOAD_MANAGED_POLICIES=true`, which Terraform's IAM attachments need).
    pub fn start_with_env(env: &[(&str, &str)]) -> Result<Self, HarnessError> {
        let bin = moto_binary()?;
        let mut last = String::new();
        for _ in 0..3 {
            let port = free_port()?;
            let child = Command::new(&bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .envs(env.iter().copied())
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .map_err(|e| HarnessError(format!("cannot start {}: {e}", bin.display())))?;
            let mut server = Self { child, port };
            let up = wait_until(Duration::from_secs(30), || {
                std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
            });
            if up {
                return Ok(server);
            }
            last = match server.child.try_wait() {
                Ok(Some(status)) => format!("moto_server exited ({status})"),
                _ => "moto_server did not listen within 30 s".to_owned(),
            };
        }
        Err(HarnessError(last))
    }

    /// The port it listens on (127.0.0.1).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `http://127.0.0.1:<port>`: the `AWS_ENDPOINT_URL` for it.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
