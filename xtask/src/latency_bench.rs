//! `cargo xtask bench latency`: how fast `ferry run` reacts, measured at moto (release build of
//! `ferry` and of its `bench_latency` example, which drives it): from a file write (folder
//! source) and from a `git push` + signed webhook (git source) to the first ECS write call,
//! over repeated runs (median and max); and the controller's RSS idle and settled on 1000
//! services. Targets: folder ≤ 1 s, git + webhook ≤ 2 s, RSS ≤ 64 MB at 1000 services.

use std::process::Command;

use anyhow::{Context, bail};
use ferry_testkit::moto::{MOTO_BIN_ENV, MOTO_PACKAGE};
use serde_json::Value;

use crate::tools::{self, output, repo_root, run as run_cmd};

const RUNS: usize = 10;
const SERVICES: usize = 1000;

/// Run and print the table.
pub(crate) fn run() -> anyhow::Result<()> {
    let root = repo_root();
    let moto = tools::venv("moto-venv", &[MOTO_PACKAGE])?.join("moto_server");
    run_cmd(Command::new("cargo").current_dir(&root).args([
        "build",
        "--release",
        "--quiet",
        "--package",
        "ferry",
        "--bin",
        "ferry",
        "--example",
        "bench_latency",
    ]))?;
    let release = root.join("target/release");
    println!(
        "\nferry run → first ECS write at moto ({RUNS} runs per source), RSS at {SERVICES} services (takes a few minutes)\n"
    );
    let line = output(
        Command::new(release.join("examples/bench_latency"))
            .arg(release.join("ferry"))
            .args([RUNS.to_string(), SERVICES.to_string()])
            .env(MOTO_BIN_ENV, &moto),
    )?;
    let v: Value =
        serde_json::from_str(line.trim()).with_context(|| format!("bad output: {line}"))?;
    let f = |a: &str, b: &str| v[a][b].as_f64().unwrap_or(f64::NAN);
    let mut failures = Vec::new();
    for (label, key, target_ms) in [
        ("file write (folder source)", "folder", 1000.0),
        ("git push + webhook (git source)", "git_webhook", 2000.0),
    ] {
        let (median, max) = (f(key, "median_ms"), f(key, "max_ms"));
        println!(
            "  {label:<32} median {median:>7.1} ms  max {max:>7.1} ms  target ≤ {target_ms:.0} ms  ({:.2}x of target at max)",
            max / target_ms
        );
        if max.is_nan() || max > target_ms {
            failures.push(format!("{label}: max {max:.0} ms > {target_ms:.0} ms"));
        }
    }
    let g = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
    println!(
        "  RSS idle (3 services)            {:>7.1} MiB (peak {:.1} MiB)",
        g("rss_idle_mib"),
        g("rss_idle_peak_mib")
    );
    println!(
        "  RSS at {SERVICES} services            {:>7.1} MiB (peak {:.1} MiB, first sync took {:.1} s)  target ≤ 64 MB",
        g("rss_mib"),
        g("rss_peak_mib"),
        g("first_sync_s")
    );
    // 64 MB = 61.0 MiB.
    let limit_mib = 64.0e6 / 1_048_576.0;
    if g("rss_mib").is_nan() || g("rss_mib") > limit_mib {
        failures.push(format!(
            "RSS {:.1} MiB > 64 MB at {SERVICES} services",
            g("rss_mib")
        ));
    }
    if !failures.is_empty() {
        bail!("targets missed: {}", failures.join("; "));
    }
    Ok(())
}
