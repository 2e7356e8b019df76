//! Ferry's status page renders in headless Chromium (Debian's, driven by playwright-core from
//! services/frontend/e2e): a healthy environment and one stalled on a broken manifest, with
//! the file:line error shown. Screenshot: target/e2e/ferry-status.png.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const FERRY: &str = env!("CARGO_BIN_EXE_ferry");

fn repo_root() -> PathBuf {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
        .canonicalize()
        .expect("repository root")
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn status(port: u16) -> String {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return String::new();
    };
    let _ = stream.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    let mut answer = String::new();
    let _ = stream.read_to_string(&mut answer);
    answer
}

fn env_doc(name: &str, base: &str) -> String {
    format!(
        "apiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata: {{ name: {name} }}\nspec:\n  platform: local\n  resources: [../{base}]\n  \
         local:\n    commands:\n      worker: {{ command: [sleep, \"600\"] }}\n"
    )
}

const SERVICE: &str = "apiVersion: ferry.dev/v1alpha1\nkind: EcsService\nmetadata: { name: w }\nspec:\n  taskDefinition:\n    cpu: 256\n    memory: 512\n    containers:\n      - name: main\n        image: worker\n";

#[test]
fn the_status_page_renders_health_and_manifest_errors_in_a_real_browser() {
    let e2e = repo_root().join("services/frontend/e2e");
    assert!(
        ferry_testkit::find_on_path("node").is_some(),
        "`node` is missing; `cargo xtask test` installs the browser tools"
    );
    assert!(
        Path::new("/usr/bin/chromium").is_file(),
        "/usr/bin/chromium is missing (Debian `chromium`)"
    );
    assert!(
        e2e.join("node_modules/playwright-core/package.json")
            .is_file(),
        "playwright-core is missing (`npm ci` in {})",
        e2e.display()
    );

    let dir = tempfile::tempdir().expect("temporary folder");
    let m = dir.path().join("manifests");
    for (path, text) in [
        ("ok/environment.yaml", env_doc("ok", "base-ok")),
        ("base-ok/w.yaml", SERVICE.to_owned()),
        ("broken/environment.yaml", env_doc("broken", "base-bad")),
        (
            "base-bad/bad.yaml",
            SERVICE.replace("spec:\n", "spec:\n  replicas: 2\n"),
        ),
    ] {
        std::fs::create_dir_all(m.join(path).parent().expect("parent")).expect("mkdir");
        std::fs::write(m.join(path), text).expect("write");
    }
    let port = ferry_testkit::free_port().expect("port");
    let _ferry = Killed(
        Command::new(FERRY)
            .args([
                "run",
                "--manifests",
                m.to_str().expect("utf-8"),
                "--listen",
                &format!("127.0.0.1:{port}"),
            ])
            .args(["--health-interval", "300ms", "--state-dir"])
            .arg(dir.path().join("state"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("ferry starts"),
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let s = status(port);
        if s.contains(r#""health":"Healthy""#) && s.contains("base-bad/bad.yaml:") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "ferry never reached the expected state: {s}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    let shots = Path::new(FERRY)
        .parent()
        .and_then(Path::parent)
        .expect("target folder")
        .join("e2e");
    let out = Command::new("node")
        .arg("status-page.mjs")
        .current_dir(&e2e)
        .env("STATUS_URL", format!("http://127.0.0.1:{port}/"))
        .env("SHOT_DIR", &shots)
        .output()
        .expect("node runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(shots.join("ferry-status.png").is_file());
}
