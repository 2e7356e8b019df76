//! The README's first command, as a user runs it: `cargo xtask up` builds and starts Ferry on
//! the local environment; the numbers app answers through the proxy on :8000, the status page
//! shows it Healthy, and Ctrl-C (SIGINT to the process group) leaves no process behind.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).ok()?;
    let mut answer = String::new();
    stream.read_to_string(&mut answer).ok()?;
    let status = answer.split_whitespace().nth(1)?.parse().ok()?;
    Some((
        status,
        answer
            .split_once("\r\n\r\n")
            .map(|(_, b)| b.to_owned())
            .unwrap_or_default(),
    ))
}

/// (pid, parent pid) of every live process.
fn processes() -> Vec<(u32, u32)> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir("/proc").expect("/proc").flatten() {
        let Ok(pid) = entry.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        let Some((_, after)) = stat.rsplit_once(") ") else {
            continue;
        };
        let fields: Vec<&str> = after.split_whitespace().collect();
        if fields.first() == Some(&"Z") {
            continue;
        }
        if let Some(ppid) = fields.get(1).and_then(|p| p.parse().ok()) {
            out.push((pid, ppid));
        }
    }
    out
}

/// `root` and every live process below it.
fn descendants(root: u32) -> Vec<u32> {
    let all = processes();
    let mut found = vec![root];
    let mut i = 0;
    while i < found.len() {
        let parent = found[i];
        found.extend(
            all.iter()
                .filter(|(_, ppid)| *ppid == parent)
                .map(|(pid, _)| *pid),
        );
        i += 1;
    }
    found
}

fn alive(pid: u32) -> bool {
    processes().iter().any(|(p, _)| *p == pid)
}

/// On drop (a failed assertion included): Ctrl-C to the group, then SIGKILL to what is left.
struct Cleanup(u32);

impl Drop for Cleanup {
    fn drop(&mut self) {
        let tree = descendants(self.0);
        let _ = Command::new("kill")
            .args(["-INT", "--", &format!("-{}", self.0)])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while tree.iter().any(|p| alive(*p)) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(100));
        }
        for pid in tree.into_iter().filter(|p| alive(*p)) {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .status();
        }
    }
}

#[test]
fn cargo_xtask_up_runs_the_numbers_app_under_ferry_and_ctrl_c_stops_everything() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("repository root");
    let state = tempfile::tempdir().expect("state folder");
    let status_port = ferry_testkit::free_port().expect("port");
    let log = state.path().join("up.log");
    let file = std::fs::File::create(&log).expect("log");
    // The xtask binary nextest built: `cargo xtask up` minus cargo's own build step, whose
    // feature set differs from the test build's and would rebuild half the workspace here.
    let mut up = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .current_dir(root)
        .args([
            "up",
            "--no-build",
            "--status",
            &format!("127.0.0.1:{status_port}"),
            "--state-dir",
        ])
        .arg(state.path().join("ferry"))
        .stdin(Stdio::null())
        .stdout(file.try_clone().expect("log"))
        .stderr(file)
        .process_group(0)
        .spawn()
        .expect("cargo xtask up starts");
    let pgid = up.id();
    // Whatever happens below, nothing this test started may outlive it.
    let _cleanup = Cleanup(pgid);
    let logs = || std::fs::read_to_string(&log).unwrap_or_default();

    let deadline = Instant::now() + Duration::from_secs(300);
    loop {
        let healthy = http(status_port, "GET", "/status", "")
            .is_some_and(|(_, b)| b.contains(r#""health":"Healthy""#));
        if healthy && http(8000, "GET", "/api/readyz", "").is_some_and(|(s, _)| s == 200) {
            break;
        }
        assert!(
            up.try_wait().expect("status").is_none(),
            "cargo xtask up exited early:\n{}",
            logs()
        );
        assert!(
            Instant::now() < deadline,
            "the app never became healthy:\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    assert!(
        logs().contains("http://127.0.0.1:8000"),
        "it says where the app is:\n{}",
        logs()
    );
    let (status, body) = http(8000, "POST", "/api/v1/numbers", r#"{"value": 7}"#).expect("POST");
    assert_eq!(status, 201, "{body}");
    let (status, page) = http(8000, "GET", "/", "").expect("frontend");
    assert_eq!(status, 200);
    assert!(page.to_lowercase().contains("<html"), "{page}");
    let (_, page) = http(status_port, "GET", "/", "").expect("status page");
    assert!(page.contains("Healthy"), "{page}");
    let members = descendants(pgid);
    assert!(
        members.len() >= 5,
        "xtask, ferry and three app processes: {members:?}"
    );

    Command::new("kill")
        .args(["-INT", "--", &format!("-{pgid}")])
        .status()
        .expect("kill");
    let deadline = Instant::now() + Duration::from_secs(30);
    while up.try_wait().expect("status").is_none() {
        assert!(
            Instant::now() < deadline,
            "cargo xtask up did not stop on Ctrl-C:\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let left: Vec<u32> = members.iter().copied().filter(|p| alive(*p)).collect();
        if left.is_empty() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "processes left after Ctrl-C: {left:?}\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}
