//! `cargo xtask bench`: benchmarks run side by side with their anchor on this machine, printed
//! as ratios from one run (never timed assertions in tests).
//!
//! `api`: the numbers API's `POST /v1/numbers` and `GET /v1/numbers?limit=100` under wrk versus
//! pgbench running the equivalent single-row INSERT and `SELECT ... LIMIT 100`, on one durable
//! PostgreSQL, at the same concurrency.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use ferry_testkit::{PgOptions, PgServer, free_port, wait_until};

use crate::tools::{self, output, repo_root, run as run_cmd};

/// Options of `cargo xtask bench`.
#[derive(clap::Args)]
pub(crate) struct BenchArgs {
    /// Which benchmark to run.
    #[arg(value_enum, default_value = "api")]
    which: Which,
    /// Seconds per measured run.
    #[arg(long, default_value_t = 10)]
    duration: u64,
    /// Concurrent connections (HTTP) and clients (pgbench).
    #[arg(long, default_value_t = 64)]
    connections: u32,
}

#[derive(clap::ValueEnum, Clone, Copy)]
enum Which {
    /// The numbers API versus pgbench.
    Api,
    /// numbers-proxy versus nginx in front of the same upstream.
    Proxy,
    /// Load + validate + render + diff of generated stacks of 10/100/1000 services.
    Manifests,
    /// The ECS platform against moto: no-op and one-image reconciles of 10/100/1000 services.
    Reconcile,
    /// `ferry run`: file write / git push + webhook to the first ECS write at moto; RSS.
    Latency,
    /// Replicas on PostgreSQL: time until a killed replica's environments run again elsewhere.
    Failover,
}

/// One measured run.
#[derive(Debug, Clone)]
pub(crate) struct Figures {
    pub(crate) rps: f64,
    pub(crate) p50_ms: f64,
    pub(crate) p99_ms: f64,
}

/// Run the chosen benchmark.
pub(crate) fn run(args: &BenchArgs) -> anyhow::Result<()> {
    match args.which {
        Which::Api => api(args),
        Which::Proxy => crate::proxy_bench::run(args.duration, args.connections),
        Which::Manifests => crate::manifest_bench::run(),
        Which::Reconcile => crate::reconcile_bench::run(),
        Which::Latency => crate::latency_bench::run(),
        Which::Failover => crate::failover_bench::run(),
    }
}

fn api(args: &BenchArgs) -> anyhow::Result<()> {
    let root = repo_root();
    tools::apt(&[("wrk", "wrk")])?;
    tools::require(&[
        ("pgbench", "Debian postgresql-contrib / postgresql-client"),
        ("wrk", "Debian wrk"),
    ])?;
    run_cmd(Command::new("cargo").current_dir(&root).args([
        "build",
        "--release",
        "--quiet",
        "--package",
        "numbers-api",
    ]))?;

    let pg = PgServer::start(&PgOptions {
        durable: true,
        max_connections: 300,
    })?;
    let url = pg.fresh_database()?;
    let port = free_port()?;
    let mut api = ApiProcess::start(&root, &url, port)?;
    let base = format!("http://127.0.0.1:{port}");
    let work = tempfile::tempdir()?;
    let secs = args.duration;
    let c = args.connections;

    let post_lua = work.path().join("post.lua");
    std::fs::write(
        &post_lua,
        // A fixed body: a per-request Lua `request()` costs wrk more CPU than the API spends.
        "wrk.method = \"POST\"\nwrk.headers[\"Content-Type\"] = \"application/json\"\nwrk.body = '{\"value\": 123456}'\n",
    )?;
    eprintln!("warming up...");
    wrk(&base, "/v1/numbers", Some(&post_lua), c, 2)?;
    wrk(&base, "/v1/numbers?limit=100", None, c, 2)?;

    eprintln!("measuring the API ({secs}s each, {c} connections)...");
    let api_post = wrk(&base, "/v1/numbers", Some(&post_lua), c, secs)?;
    let api_get = wrk(&base, "/v1/numbers?limit=100", None, c, secs)?;
    api.stop();

    eprintln!("measuring pgbench ({secs}s each, {c} clients)...");
    let insert = work.path().join("insert.sql");
    std::fs::write(
        &insert,
        "INSERT INTO numbers (value, created_at) VALUES (123456, now());\n",
    )?;
    let select = work.path().join("select.sql");
    std::fs::write(
        &select,
        "SELECT id, value, created_at FROM numbers ORDER BY id DESC LIMIT 100;\n",
    )?;
    let pg_insert = pgbench(&url, &insert, c, secs, work.path(), "insert")?;
    let pg_select = pgbench(&url, &select, c, secs, work.path(), "select")?;

    println!("\nnumbers API vs pgbench on one PostgreSQL ({c} concurrent, {secs}s each)\n");
    println!(
        "{:<34} {:>10} {:>9} {:>9}",
        "workload", "req/s", "p50 ms", "p99 ms"
    );
    for (name, f) in [
        ("API  POST /v1/numbers", &api_post),
        ("pgbench INSERT", &pg_insert),
        ("API  GET /v1/numbers?limit=100", &api_get),
        ("pgbench SELECT ... LIMIT 100", &pg_select),
    ] {
        println!(
            "{name:<34} {:>10.0} {:>9.2} {:>9.2}",
            f.rps, f.p50_ms, f.p99_ms
        );
    }
    println!(
        "\nratio API/pgbench: POST {:.2}x (target >= 0.80), GET {:.2}x (target >= 0.70)",
        api_post.rps / pg_insert.rps,
        api_get.rps / pg_select.rps
    );
    Ok(())
}

/// The release numbers-api binary with its default settings (pool of 16), killed on drop.
struct ApiProcess(Option<Child>);

impl ApiProcess {
    fn start(root: &Path, url: &str, port: u16) -> anyhow::Result<Self> {
        let child = Command::new(root.join("target/release/numbers-api"))
            .env("DATABASE_URL", url)
            .env("LISTEN_ADDR", format!("127.0.0.1:{port}"))
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .context("cannot start numbers-api")?;
        let this = Self(Some(child));
        let ready = wait_until(Duration::from_secs(30), || {
            std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
        });
        if !ready {
            bail!("numbers-api did not listen on port {port}");
        }
        Ok(this)
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for ApiProcess {
    fn drop(&mut self) {
        self.stop();
    }
}

pub(crate) fn wrk(
    base: &str,
    path: &str,
    script: Option<&Path>,
    connections: u32,
    secs: u64,
) -> anyhow::Result<Figures> {
    let mut cmd = Command::new("wrk");
    cmd.args([
        "-t",
        "2",
        "-c",
        &connections.to_string(),
        "-d",
        &format!("{secs}s"),
        "--latency",
    ]);
    if let Some(script) = script {
        cmd.arg("-s").arg(script);
    }
    cmd.arg(format!("{base}{path}"));
    let text = output(&mut cmd)?;
    if text.contains("Non-2xx") {
        bail!("wrk saw error responses from {path}:\n{text}");
    }
    parse_wrk(&text).with_context(|| format!("cannot read wrk's output:\n{text}"))
}

fn parse_wrk(text: &str) -> Option<Figures> {
    let rps = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("Requests/sec:"))
        .and_then(|v| v.trim().parse().ok())?;
    let pct = |p: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(p))
            .and_then(|v| wrk_duration_ms(v.trim()))
    };
    Some(Figures {
        rps,
        p50_ms: pct("50%")?,
        p99_ms: pct("99%")?,
    })
}

fn wrk_duration_ms(raw: &str) -> Option<f64> {
    let split = raw.find(|c: char| c.is_ascii_alphabetic())?;
    let (n, unit) = raw.split_at(split);
    let n: f64 = n.parse().ok()?;
    match unit {
        "us" => Some(n / 1000.0),
        "ms" => Some(n),
        "s" => Some(n * 1000.0),
        "m" => Some(n * 60_000.0),
        _ => None,
    }
}

fn pgbench(
    url: &str,
    script: &Path,
    clients: u32,
    secs: u64,
    dir: &Path,
    name: &str,
) -> anyhow::Result<Figures> {
    let prefix = dir.join(name);
    let text = output(
        Command::new("pgbench")
            .current_dir(dir)
            .args([
                "-n",
                "-M",
                "prepared",
                "-c",
                &clients.to_string(),
                "-j",
                "2",
                "-T",
                &secs.to_string(),
                "-l",
            ])
            .arg("--log-prefix")
            .arg(&prefix)
            .arg("-f")
            .arg(script)
            .arg(url),
    )?;
    let tps: f64 = text
        .lines()
        .find_map(|l| l.trim().strip_prefix("tps = "))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .with_context(|| format!("cannot read pgbench's output:\n{text}"))?;
    // Per-transaction log lines: client_id transaction_no latency_us script_no epoch epoch_us.
    let mut latencies_us: Vec<f64> = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_log = path
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&format!("{name}.")));
        if is_log {
            for line in std::fs::read_to_string(&path)?.lines() {
                if let Some(lat) = line.split_whitespace().nth(2).and_then(|v| v.parse().ok()) {
                    latencies_us.push(lat);
                }
            }
        }
    }
    if latencies_us.is_empty() {
        bail!("pgbench wrote no transaction log for {name}");
    }
    latencies_us.sort_by(f64::total_cmp);
    let at = |q: f64| latencies_us[((latencies_us.len() - 1) as f64 * q).round() as usize] / 1000.0;
    Ok(Figures {
        rps: tps,
        p50_ms: at(0.50),
        p99_ms: at(0.99),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrk_output_is_read() {
        let text = "  Latency Distribution\n     50%  812.00us\n     75%    1.20ms\n     90%    2.00ms\n     99%    5.31ms\n  1000 requests in 1.00s\nRequests/sec:  12345.67\n";
        let f = parse_wrk(text).expect("parsed");
        assert!((f.rps - 12345.67).abs() < 1e-6);
        assert!((f.p50_ms - 0.812).abs() < 1e-9);
        assert!((f.p99_ms - 5.31).abs() < 1e-9);
        assert_eq!(wrk_duration_ms("1.50s"), Some(1500.0));
        assert!(parse_wrk("garbage").is_none());
    }
}
