//! End to end, as a person uses it: numbers-api (SQLite) + numbers-frontend + numbers-proxy
//! as processes, and Debian's headless Chromium driven by playwright-core through the proxy
//! (`e2e/numbers.mjs`): store, list, page, delete, statistics, chart, invalid input, the API
//! going down and coming back. Screenshots land in `target/e2e/` (`numbers-main.png`).
//!
//! Needs `node`, `/usr/bin/chromium` and `e2e/node_modules/playwright-core`; `cargo xtask test`
//! installs them. When one is missing the test fails and says so.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Stack, http, repo_root, target_dir};

const CHROMIUM: &str = "/usr/bin/chromium";

fn require_browser_tools(e2e: &Path) {
    let mut missing = Vec::new();
    if ferry_testkit::find_on_path("node").is_none() {
        missing.push("`node` (Node.js 20+)".to_owned());
    }
    if !Path::new(CHROMIUM).is_file() {
        missing.push(format!("{CHROMIUM} (Debian `chromium`)"));
    }
    if !e2e
        .join("node_modules/playwright-core/package.json")
        .is_file()
    {
        missing.push(format!("playwright-core (`npm ci` in {})", e2e.display()));
    }
    assert!(
        missing.is_empty(),
        "the browser test needs {}; `cargo xtask test` installs them",
        missing.join(", ")
    );
}

#[test]
fn a_person_stores_pages_deletes_and_sees_outages_in_a_real_browser() {
    let e2e = repo_root().join("services/frontend/e2e");
    require_browser_tools(&e2e);
    let mut stack = Stack::start();
    let shots = target_dir().join("e2e");
    std::fs::create_dir_all(&shots).expect("screenshot folder");
    let main_shot = shots.join("numbers-main.png");
    let _ = std::fs::remove_file(&main_shot);

    let mut node = Command::new("node")
        .arg("numbers.mjs")
        .current_dir(&e2e)
        .env("BASE_URL", format!("http://127.0.0.1:{}", stack.proxy.port))
        .env("SHOT_DIR", &shots)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node starts");
    let mut stdin = node.stdin.take().expect("stdin");
    let stdout = node.stdout.take().expect("stdout");
    let stderr = node.stderr.take().expect("stderr");
    let errors = std::thread::spawn(move || {
        let mut text = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            text.push_str(&line);
            text.push('\n');
        }
        text
    });
    let (lines_tx, lines) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if lines_tx.send(line).is_err() {
                break;
            }
        }
    });

    let deadline = Instant::now() + Duration::from_secs(180);
    let mut transcript = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match lines.recv_timeout(left) {
            Ok(line) => {
                match line.as_str() {
                    "STEP stop-api" => stack.api.stop(),
                    "STEP start-api" => stack.api.start(),
                    _ => {}
                }
                if line.starts_with("STEP ") {
                    writeln!(stdin, "ok").expect("answer the script");
                }
                transcript.push(line);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = node.kill();
                panic!(
                    "the browser script ran over 180s; so far:\n{}\n{}",
                    transcript.join("\n"),
                    stack.logs()
                );
            }
        }
    }
    let status = node.wait().expect("node exit status");
    let stderr = errors.join().unwrap_or_default();
    assert!(
        status.success(),
        "the browser script failed ({status}):\n{}\n{stderr}\n{}",
        transcript.join("\n"),
        stack.logs()
    );
    assert!(
        transcript.iter().any(|l| l == "# all steps passed"),
        "the script exited 0 without finishing:\n{}",
        transcript.join("\n")
    );
    let png = std::fs::read(&main_shot).expect("the main-view screenshot was saved");
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 10_000,
        "not a real screenshot"
    );
}

#[test]
fn the_original_client_requests_work_through_the_proxy() {
    let stack = Stack::start();
    let port = stack.proxy.port;
    let json = [("Content-Type", "application/json")];

    let stored = http(port, "POST", "/api/values", &json, br#"{"value": "7"}"#).expect("answer");
    assert_eq!(stored.status, 200, "{}", stored.text());
    assert_eq!(stored.json(), serde_json::json!({ "working": true }));
    let stored = http(port, "POST", "/api/values", &json, br#"{"value": 12}"#).expect("answer");
    assert_eq!(stored.status, 200, "{}", stored.text());

    let all = http(port, "GET", "/api/values/all", &[], b"").expect("answer");
    assert_eq!(all.status, 200);
    assert_eq!(
        all.json(),
        serde_json::json!({ "rows": [{ "number": 7 }, { "number": 12 }] })
    );

    let created = http(port, "POST", "/api/v1/numbers", &json, br#"{"value": 5}"#).expect("answer");
    assert_eq!(created.status, 201);
    let stats = http(port, "GET", "/api/v1/numbers/stats", &[], b"").expect("answer");
    assert_eq!(stats.json()["count"], 3);
    assert_eq!(stats.json()["sum"], 24);
    let invalid =
        http(port, "POST", "/api/v1/numbers", &json, br#"{"value": 1.5}"#).expect("answer");
    assert_eq!(invalid.status, 422);
    assert_eq!(invalid.json()["error"]["field"], "value");
}

#[test]
fn the_page_and_its_assets_come_through_the_proxy_compressed_and_cacheable() {
    let stack = Stack::start();
    let port = stack.proxy.port;
    let page = http(port, "GET", "/", &[], b"").expect("answer");
    assert_eq!(page.status, 200);
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    let html = page.text();
    assert!(html.contains("<title>Numbers</title>"), "{html}");
    let script = html
        .split('"')
        .find(|s| s.starts_with("/assets/app.") && s.ends_with(".js"))
        .expect("hashed script reference")
        .to_owned();
    let js = http(
        port,
        "GET",
        &script,
        &[("Accept-Encoding", "gzip, br")],
        b"",
    )
    .expect("answer");
    assert_eq!(js.status, 200);
    assert_eq!(js.header("content-encoding"), Some("br"));
    assert_eq!(
        js.header("cache-control"),
        Some("public, max-age=31536000, immutable")
    );
    assert!(
        js.header("content-type")
            .is_some_and(|t| t.starts_with("text/javascript"))
    );
    let etag = page.header("etag").expect("etag").to_owned();
    let again = http(port, "GET", "/", &[("If-None-Match", &etag)], b"").expect("answer");
    assert_eq!(again.status, 304);
}
