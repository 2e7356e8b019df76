//! `cargo xtask bench reconcile`: the ECS platform against moto with 10/100/1000 services (the
//! `bench_reconcile` example of ferry-ecs, release build, a fresh moto per size): API calls per
//! API and wall time of a no-op reconcile (warm cache and cold) and of a one-image change, next
//! to the floor (the same minimal describe calls issued directly on the same moto).
//! Every service autoscales: the no-op rows also read Application Auto Scaling, batched
//! (≤ ceil(N/50) DescribeScalableTargets, the namespace's policies and scheduled actions page by
//! page). Targets: 0 writes on no-op, ≤ ceil(N/10) DescribeServices, ≤ ceil(N/50)
//! DescribeScalableTargets, wall time ≤ 1.2× the floor (warm) and ≤ 1.5× (cold: services carry
//! `ferry.dev/task-definition`, so a fresh process describes no task definition).

use std::process::Command;

use anyhow::{Context, bail};
use ferry_testkit::moto::{MOTO_PACKAGE, MotoServer};
use serde_json::Value;

use crate::tools::{self, output, repo_root, run as run_cmd};

const WRITES: &[&str] = &[
    "RegisterTaskDefinition",
    "DeregisterTaskDefinition",
    "CreateService",
    "UpdateService",
    "ecs:TagResource",
    "DeleteService",
    "CreateRepository",
    "PutImageTagMutability",
    "PutImageScanningConfiguration",
    "PutLifecyclePolicy",
    "DeleteLifecyclePolicy",
    "ecr:TagResource",
    "RegisterScalableTarget",
    "DeregisterScalableTarget",
    "PutScalingPolicy",
    "DeleteScalingPolicy",
    "PutScheduledAction",
    "DeleteScheduledAction",
];

fn calls(v: &Value) -> String {
    v.as_object()
        .map(|m| {
            m.iter()
                .map(|(k, n)| format!("{k}={n}"))
                .collect::<Vec<_>>()
                .join(" ")
        })
        .unwrap_or_default()
}

fn writes(v: &Value) -> u64 {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| WRITES.contains(&k.as_str()))
                .filter_map(|(_, n)| n.as_u64())
                .sum()
        })
        .unwrap_or(0)
}

/// Run and print the table.
pub(crate) fn run() -> anyhow::Result<()> {
    let root = repo_root();
    tools::venv("moto-venv", &[MOTO_PACKAGE])?;
    run_cmd(Command::new("cargo").current_dir(&root).args([
        "build",
        "--release",
        "--quiet",
        "--package",
        "ferry-ecs",
        "--example",
        "bench_reconcile",
    ]))?;
    let bin = root.join("target/release/examples/bench_reconcile");
    println!("\nreconcile against moto: calls per API and wall time (ms)\n");
    let mut failures = Vec::new();
    for n in [10usize, 100, 1000] {
        let moto = MotoServer::start().context("cannot start moto")?;
        let mut cmd = Command::new(&bin);
        cmd.args([moto.endpoint(), n.to_string()]);
        if n == 10 {
            cmd.arg("faults");
        }
        let line = output(&mut cmd)?;
        drop(moto);
        let v: Value =
            serde_json::from_str(line.trim()).with_context(|| format!("bad output: {line}"))?;
        let ms = |k: &str| v[k]["ms"].as_f64().unwrap_or(f64::NAN);
        let floor = ms("floor");
        println!(
            "{n} services (set-up {:.0} ms, peak RSS {:.1} MiB)",
            v["setup_ms"].as_f64().unwrap_or(0.0),
            v["peak_rss_mib"].as_f64().unwrap_or(0.0)
        );
        for (label, key) in [
            ("floor (direct describes)", "floor"),
            ("no-op, warm (controller)", "noop_warm"),
            ("no-op, cold (fresh CLI)", "noop_cold"),
            ("one-image change", "change"),
        ] {
            println!(
                "  {label:<26} {:>9.1} ms  {:>5.2}x floor  {}",
                ms(key),
                ms(key) / floor,
                calls(&v[key]["calls"])
            );
        }
        if !v["faults"].is_null() {
            let f = &v["faults"];
            let clean = f["clean"]["ms"].as_f64().unwrap_or(f64::NAN);
            let faulty = f["faulty"]["ms"].as_f64().unwrap_or(f64::NAN);
            let ratio = faulty / clean;
            let revisions = f["faulty"]["revisions"].as_u64().unwrap_or(u64::MAX);
            println!(
                "  {:<26} {faulty:>9.1} ms  {ratio:>5.2}x fault-free ({clean:.1} ms)  injected {}  task definition revisions {revisions} (3)  all synced {}",
                "6 changes under 20% faults",
                calls(&f["injected"]),
                f["faulty"]["all_synced"]
            );
            println!("  targets: ≤ 3x fault-free, no duplicate task definition revisions");
            if ratio > 3.0 {
                failures.push(format!(
                    "6 changes under faults took {ratio:.2}x the fault-free time"
                ));
            }
            if revisions != 3 || f["faulty"]["all_synced"] != true {
                failures.push(format!(
                    "6 changes under faults: {revisions} revisions for 3 families, all synced {}",
                    f["faulty"]["all_synced"]
                ));
            }
        }
        let warm = &v["noop_warm"]["calls"];
        let describes = warm["DescribeServices"].as_u64().unwrap_or(u64::MAX);
        let budget = n.div_ceil(10) as u64;
        let ratio = ms("noop_warm") / floor;
        let targets = warm["DescribeScalableTargets"].as_u64().unwrap_or(u64::MAX);
        let target_budget = n.div_ceil(50) as u64;
        let autoscaling_reads: u64 = [
            "DescribeScalableTargets",
            "DescribeScalingPolicies",
            "DescribeScheduledActions",
        ]
        .iter()
        .filter_map(|k| warm[*k].as_u64())
        .sum();
        let cold_ratio = ms("noop_cold") / floor;
        let cold_td = v["noop_cold"]["calls"]["DescribeTaskDefinition"]
            .as_u64()
            .unwrap_or(0);
        println!(
            "  targets: no-op writes {} (0), DescribeServices {describes} (≤ {budget}), DescribeScalableTargets {targets} (≤ {target_budget}), autoscaling reads {autoscaling_reads} in all, warm no-op {ratio:.2}x floor (≤ 1.2x), cold no-op {cold_ratio:.2}x floor (≤ 1.5x) with {cold_td} DescribeTaskDefinition (0: ferry.dev/task-definition)\n",
            writes(warm)
        );
        if cold_td != 0 {
            failures.push(format!(
                "{n}: the cold no-op described {cold_td} task definitions its services' tags vouch for"
            ));
        }
        if targets > target_budget {
            failures.push(format!(
                "{n}: {targets} DescribeScalableTargets > {target_budget}"
            ));
        }
        if writes(warm) != 0 || writes(&v["noop_cold"]["calls"]) != 0 {
            failures.push(format!("{n}: the no-op reconcile wrote"));
        }
        if describes > budget {
            failures.push(format!("{n}: {describes} DescribeServices > {budget}"));
        }
        if v["change"]["calls"]["RegisterTaskDefinition"].as_u64() != Some(1)
            || v["change"]["calls"]["UpdateService"].as_u64() != Some(1)
        {
            failures.push(format!(
                "{n}: the one-image change did not make exactly one register and one update"
            ));
        }
    }
    if !failures.is_empty() {
        bail!("targets missed: {}", failures.join("; "));
    }
    Ok(())
}
