//! The `numbers-frontend` binary as a container runs it: the page and its hashed assets with
//! the right caching, compression negotiation, conditional requests, its health endpoint and
//! probe, refusals, and a clean exit on SIGTERM.

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::http;
use ferry_testkit::{free_port, wait_until};

const BIN: &str = env!("CARGO_BIN_EXE_numbers-frontend");

#[test]
fn the_server_caches_compresses_probes_and_stops_cleanly() {
    let port = free_port().expect("port");
    let listen = format!("127.0.0.1:{port}");
    let mut child = Command::new(BIN)
        .env_clear()
        .env("LISTEN_ADDR", &listen)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .expect("numbers-frontend starts");
    let up = wait_until(Duration::from_secs(20), || {
        http(port, "GET", "/healthz", &[], b"").is_some_and(|r| r.status == 200)
    });
    assert!(up, "numbers-frontend never answered /healthz");

    let page = http(port, "GET", "/", &[], b"").expect("page");
    assert_eq!(page.status, 200);
    assert_eq!(page.header("cache-control"), Some("no-cache"));
    assert_eq!(page.header("content-encoding"), None);
    assert!(
        page.header("content-security-policy")
            .is_some_and(|c| c.contains("frame-ancestors 'none'"))
    );
    let html = page.text();
    let assets: Vec<String> = html
        .split('"')
        .filter(|s| s.starts_with("/assets/"))
        .map(str::to_owned)
        .collect();
    assert_eq!(assets.len(), 3, "icon, stylesheet, script: {assets:?}");
    for asset in &assets {
        let plain = http(port, "GET", asset, &[], b"").expect("asset");
        assert_eq!(plain.status, 200, "{asset}");
        assert_eq!(
            plain.header("cache-control"),
            Some("public, max-age=31536000, immutable")
        );
        assert_eq!(plain.header("vary"), Some("accept-encoding"));
    }
    let css = assets.iter().find(|a| a.ends_with(".css")).expect("css");
    let gz = http(port, "GET", css, &[("Accept-Encoding", "gzip")], b"").expect("gzip");
    assert_eq!(gz.header("content-encoding"), Some("gzip"));
    assert!(gz.body.starts_with(&[0x1f, 0x8b]), "not gzip");
    let br = http(port, "GET", css, &[("Accept-Encoding", "gzip, br")], b"").expect("br");
    assert_eq!(br.header("content-encoding"), Some("br"));
    let plain_len = http(port, "GET", css, &[], b"").expect("plain").body.len();
    assert!(br.body.len() < gz.body.len() && gz.body.len() < plain_len);

    let etag = br.header("etag").expect("etag").to_owned();
    let same = http(
        port,
        "GET",
        css,
        &[("Accept-Encoding", "br"), ("If-None-Match", &etag)],
        b"",
    )
    .expect("conditional");
    assert_eq!(same.status, 304);
    assert!(same.body.is_empty());

    let head = http(port, "HEAD", "/", &[], b"").expect("head");
    assert_eq!(head.status, 200);
    assert!(head.body.is_empty());
    assert_eq!(
        http(port, "GET", "/assets/app.0000000000.js", &[], b"")
            .expect("missing")
            .status,
        404
    );
    let post = http(port, "POST", "/", &[], b"x").expect("post");
    assert_eq!(post.status, 405);
    assert_eq!(post.header("allow"), Some("GET, HEAD"));

    let probe = Command::new(BIN)
        .env_clear()
        .env("LISTEN_ADDR", &listen)
        .arg("--check-health")
        .status()
        .expect("probe runs");
    assert!(probe.success());

    let killed = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(killed.success());
    let exited = wait_until(Duration::from_secs(10), || {
        child.try_wait().ok().flatten().is_some()
    });
    assert!(exited, "numbers-frontend did not exit on SIGTERM");
    assert!(child.wait().expect("status").success());
}
