//! `cargo xtask bench proxy`: numbers-proxy versus nginx (Debian's package) doing the same job
//! in front of the same upstream, and the upstream on its own, under wrk at the same
//! concurrency.
//!
//! The upstream is the release numbers-frontend (fast, no database), configured as both the API
//! and the frontend upstream, so the proxy is what is measured. nginx runs as a child process with
//! a generated configuration in a temporary folder: the seed's routing (`/api/` rewritten without
//! the prefix), keep-alive upstream pools, `X-Forwarded-*` and request-id headers, the same
//! security headers, an access log, as many workers as numbers-proxy has threads.
//!
//! The machine is shared (and the load generator, both proxies and the upstream compete for its
//! cores), so every target is measured [`ROUNDS`] times, interleaved and in a rotating order;
//! every run is printed, and the table shows each figure's median.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use ferry_testkit::{free_port, wait_until};

use crate::bench::{Figures, wrk};
use crate::tools::{self, repo_root, run as run_cmd};

const NGINX: &str = "/usr/sbin/nginx";

/// Measured runs per target and workload.
const ROUNDS: usize = 3;

/// A target's name and its runs of one workload.
type Runs = (&'static str, Vec<Figures>);

/// The request paths measured: (label, path through a proxy, path on the upstream itself).
const WORKLOADS: [(&str, &str, &str); 2] = [
    (
        "GET /api/healthz (prefix stripped)",
        "/api/healthz",
        "/healthz",
    ),
    ("GET / (page, 2 KB)", "/", "/"),
];

/// Run the benchmark and print the table.
pub(crate) fn run(secs: u64, connections: u32) -> anyhow::Result<()> {
    let root = repo_root();
    tools::apt(&[("wrk", "wrk"), (NGINX, "nginx")])?;
    tools::require(&[("wrk", "Debian wrk")])?;
    run_cmd(Command::new("cargo").current_dir(&root).args([
        "build",
        "--release",
        "--quiet",
        "--package",
        "numbers-frontend",
        "--package",
        "numbers-proxy",
    ]))?;
    let work = tempfile::Builder::new()
        .prefix("ferry-proxy-bench-")
        .tempdir()?;
    // nginx's workers drop root privileges; let them write their temporary files.
    set_mode(work.path(), 0o755)?;

    let upstream_port = free_port()?;
    let _upstream = Guard::spawn(
        "numbers-frontend",
        Command::new(root.join("target/release/numbers-frontend"))
            .env("LISTEN_ADDR", format!("127.0.0.1:{upstream_port}"))
            .env("RUST_LOG", "warn"),
        upstream_port,
    )?;
    let upstream = format!("http://127.0.0.1:{upstream_port}");

    let workers = threads();
    let proxy_port = free_port()?;
    let proxy_log = std::fs::File::create(work.path().join("numbers-proxy.log"))?;
    let _proxy = Guard::spawn(
        "numbers-proxy",
        Command::new(root.join("target/release/numbers-proxy"))
            .env("LISTEN_ADDR", format!("127.0.0.1:{proxy_port}"))
            .env("API_UPSTREAM", &upstream)
            .env("FRONTEND_UPSTREAM", &upstream)
            .env("LOG_FORMAT", "json")
            .env("WORKERS", workers.to_string())
            .stdout(proxy_log),
        proxy_port,
    )?;

    let nginx_port = free_port()?;
    let conf = work.path().join("nginx.conf");
    std::fs::write(
        &conf,
        nginx_conf(work.path(), nginx_port, upstream_port, workers),
    )?;
    for dir in ["body", "proxy", "fastcgi", "uwsgi", "scgi"] {
        let d = work.path().join(dir);
        std::fs::create_dir_all(&d)?;
        set_mode(&d, 0o777)?;
    }
    run_cmd(Command::new(NGINX).arg("-t").arg("-q").arg("-c").arg(&conf))
        .context("nginx refused the generated configuration")?;
    let _nginx = Guard::spawn(
        "nginx",
        Command::new(NGINX)
            .arg("-c")
            .arg(&conf)
            .stdout(Stdio::null())
            .stderr(Stdio::null()),
        nginx_port,
    )?;

    let targets = [
        ("upstream alone", upstream_port),
        ("numbers-proxy", proxy_port),
        ("nginx", nginx_port),
    ];
    eprintln!("warming up...");
    for (_, port) in &targets {
        for (_, via_proxy, direct) in WORKLOADS {
            let path = if *port == upstream_port {
                direct
            } else {
                via_proxy
            };
            wrk(
                &format!("http://127.0.0.1:{port}"),
                path,
                None,
                connections,
                2,
            )?;
        }
    }

    eprintln!(
        "measuring ({ROUNDS} interleaved runs of {secs}s per target, {connections} connections, \
         {workers} numbers-proxy worker threads = {workers} nginx worker processes)..."
    );
    let mut results: Vec<(&str, Vec<Runs>)> = Vec::new();
    for (label, via_proxy, direct) in WORKLOADS {
        let mut runs: Vec<Vec<Figures>> = vec![Vec::new(); targets.len()];
        for round in 0..ROUNDS {
            for k in 0..targets.len() {
                // Rotate the order so that no target always follows the same one.
                let i = (round + k) % targets.len();
                let port = targets[i].1;
                let path = if port == upstream_port {
                    direct
                } else {
                    via_proxy
                };
                let figures = wrk(
                    &format!("http://127.0.0.1:{port}"),
                    path,
                    None,
                    connections,
                    secs,
                )?;
                eprintln!(
                    "  {label} | {:<14} run {}: {:>8.0} req/s  p50 {:>6.2} ms  p99 {:>7.2} ms",
                    targets[i].0,
                    round + 1,
                    figures.rps,
                    figures.p50_ms,
                    figures.p99_ms
                );
                runs[i].push(figures);
            }
        }
        let rows = targets
            .iter()
            .zip(runs)
            .map(|((name, _), runs)| (*name, runs))
            .collect();
        results.push((label, rows));
    }

    println!(
        "\nnumbers-proxy vs nginx in front of the same upstream ({connections} connections, wrk -t2, \
         {workers} workers each, median of {ROUNDS} interleaved {secs}s runs)\n"
    );
    println!(
        "{:<36} {:<16} {:>10} {:>9} {:>9}   runs (req/s / p99 ms)",
        "workload", "through", "req/s", "p50 ms", "p99 ms"
    );
    for (label, rows) in &results {
        for (i, (name, runs)) in rows.iter().enumerate() {
            let shown = if i == 0 { *label } else { "" };
            let f = median(runs);
            let each: Vec<String> = runs
                .iter()
                .map(|r| format!("{:.0}/{:.2}", r.rps, r.p99_ms))
                .collect();
            println!(
                "{shown:<36} {name:<16} {:>10.0} {:>9.2} {:>9.2}   {}",
                f.rps,
                f.p50_ms,
                f.p99_ms,
                each.join("  ")
            );
        }
    }
    println!();
    for (label, rows) in &results {
        let find = |n: &str| {
            rows.iter()
                .find(|(name, _)| *name == n)
                .map(|(_, runs)| median(runs))
        };
        if let (Some(ours), Some(nginx), Some(alone)) =
            (find("numbers-proxy"), find("nginx"), find("upstream alone"))
        {
            println!(
                "{label}: numbers-proxy/nginx req/s {:.2}x (target >= 1.00), p99 {:.2}x (target <= 1.00); \
                 numbers-proxy/upstream alone req/s {:.2}x",
                ours.rps / nginx.rps,
                ours.p99_ms / nginx.p99_ms,
                ours.rps / alone.rps
            );
        }
    }
    let logged = std::fs::read_to_string(work.path().join("numbers-proxy.log"))?
        .lines()
        .filter(|l| l.contains("\"access\""))
        .count();
    if logged == 0 {
        bail!("numbers-proxy wrote no access-log lines: the comparison would not be fair");
    }
    Ok(())
}

/// Each figure's median over `runs` (not one run's figures: a noisy run moves one figure).
fn median(runs: &[Figures]) -> Figures {
    let mid = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        let n = v.len();
        if n == 0 {
            f64::NAN
        } else if n % 2 == 1 {
            v[n / 2]
        } else {
            f64::midpoint(v[n / 2 - 1], v[n / 2])
        }
    };
    Figures {
        rps: mid(runs.iter().map(|r| r.rps).collect()),
        p50_ms: mid(runs.iter().map(|r| r.p50_ms).collect()),
        p99_ms: mid(runs.iter().map(|r| r.p99_ms).collect()),
    }
}

/// Worker threads given to numbers-proxy (`WORKERS`; its default too: one per core) and worker
/// processes given to nginx: the same number, so both have the same parallelism.
fn threads() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

fn nginx_conf(dir: &Path, port: u16, upstream_port: u16, workers: usize) -> String {
    let d = dir.display();
    format!(
        r#"# Generated by `cargo xtask bench proxy`: the seed's routing, done like numbers-proxy does it.
daemon off;
worker_processes {workers};
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log {d}/access.log;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    client_max_body_size 1m;
    large_client_header_buffers 4 16k;
    proxy_connect_timeout 2s;
    proxy_read_timeout 30s;
    keepalive_requests 100000;

    upstream api {{ server 127.0.0.1:{upstream_port}; keepalive 256; }}
    upstream frontend {{ server 127.0.0.1:{upstream_port}; keepalive 256; }}

    server {{
        listen 127.0.0.1:{port};
        proxy_http_version 1.1;
        proxy_set_header Connection "";
        proxy_set_header X-Forwarded-For $remote_addr;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_set_header X-Forwarded-Host $host;
        proxy_set_header X-Request-Id $request_id;
        add_header X-Request-Id $request_id always;
        add_header Content-Security-Policy "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'" always;
        add_header X-Content-Type-Options nosniff always;
        add_header Referrer-Policy no-referrer always;
        add_header X-Frame-Options DENY always;

        location = /healthz {{ default_type application/json; return 200 '{{"status":"ok"}}'; }}
        location = /api {{ rewrite ^ / break; proxy_pass http://api; }}
        location /api/ {{ rewrite ^/api(/.*)$ $1 break; proxy_pass http://api; }}
        location / {{ proxy_pass http://frontend; }}
    }}
}}
"#
    )
}

fn set_mode(path: &Path, mode: u32) -> anyhow::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .with_context(|| format!("cannot chmod {}", path.display()))
}

/// A server process, killed on drop.
struct Guard(Child);

impl Guard {
    fn spawn(name: &str, cmd: &mut Command, port: u16) -> anyhow::Result<Self> {
        let child = cmd
            .stdin(Stdio::null())
            .spawn()
            .with_context(|| format!("cannot start {name}"))?;
        let guard = Self(child);
        let up = wait_until(Duration::from_secs(20), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        if !up {
            bail!("{name} did not listen on port {port}");
        }
        Ok(guard)
    }
}

impl Drop for Guard {
    /// SIGTERM first: nginx's master stops its workers only when it is asked, not when killed.
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.0.id().to_string()])
            .status();
        let exited = wait_until(Duration::from_secs(10), || {
            self.0.try_wait().ok().flatten().is_some()
        });
        if !exited {
            let _ = self.0.kill();
        }
        let _ = self.0.wait();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_are_per_figure() {
        let f = |rps, p50_ms, p99_ms| Figures {
            rps,
            p50_ms,
            p99_ms,
        };
        let m = median(&[f(3.0, 1.0, 9.0), f(1.0, 2.0, 8.0), f(2.0, 3.0, 70.0)]);
        assert_eq!((m.rps, m.p50_ms, m.p99_ms), (2.0, 2.0, 9.0));
        let m = median(&[f(1.0, 1.0, 1.0), f(2.0, 3.0, 5.0)]);
        assert_eq!((m.rps, m.p50_ms, m.p99_ms), (1.5, 2.0, 3.0));
    }

    #[test]
    fn the_nginx_configuration_routes_like_numbers_proxy() {
        let conf = nginx_conf(Path::new("/tmp/x"), 8080, 3000, 2);
        assert!(
            conf.contains(
                "location /api/ { rewrite ^/api(/.*)$ $1 break; proxy_pass http://api; }"
            )
        );
        assert!(conf.contains("keepalive 256;"));
        assert!(conf.contains("proxy_set_header Connection \"\";"));
        assert!(conf.contains("proxy_http_version 1.1;"));
        assert!(conf.contains("worker_processes 2;"));
        assert!(conf.contains("pid /tmp/x/nginx.pid;"));
        assert!(conf.contains("daemon off;"));
    }
}
