//! `cargo xtask bench manifests`: load + validate + render + diff of generated stacks of
//! 10/100/1000 services (the `bench_manifests` example of ferry-core, release build), with
//! peak memory. Target: 1000 services in at most 100 ms.

use std::process::Command;

use anyhow::Context;

use crate::tools::{output, repo_root, run as run_cmd};

/// Run and print the table.
pub(crate) fn run() -> anyhow::Result<()> {
    let root = repo_root();
    run_cmd(Command::new("cargo").current_dir(&root).args([
        "build",
        "--release",
        "--quiet",
        "--package",
        "ferry-core",
        "--example",
        "bench_manifests",
    ]))?;
    let bin = root.join("target/release/examples/bench_manifests");
    println!(
        "\nmanifests: load+validate, render, diff (no-op against identical live state); best of 5\n"
    );
    println!(
        "{:>9} {:>9} {:>10} {:>8} {:>10} {:>10}",
        "services", "load ms", "render ms", "diff ms", "total ms", "peak MiB"
    );
    let mut thousand = None;
    for n in [10, 100, 1000] {
        let line = output(Command::new(&bin).args([n.to_string(), "5".into()]))?;
        let v: serde_json::Value =
            serde_json::from_str(line.trim()).with_context(|| format!("bad output: {line}"))?;
        let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
        println!(
            "{n:>9} {:>9.2} {:>10.2} {:>8.2} {:>10.2} {:>10.1}",
            f("load_ms"),
            f("render_ms"),
            f("diff_ms"),
            f("total_ms"),
            f("peak_rss_mib")
        );
        if v["planned_changes"].as_u64() != Some(0) {
            anyhow::bail!("the no-op diff of {n} services planned changes: {line}");
        }
        if n == 1000 {
            thousand = Some(f("total_ms"));
        }
    }
    if let Some(ms) = thousand {
        println!(
            "\n1000 services: {ms:.1} ms (target <= 100 ms): {}",
            if ms <= 100.0 { "met" } else { "NOT met" }
        );
    }
    Ok(())
}
