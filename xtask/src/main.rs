//! `cargo xtask`: the project's tasks in Rust (set-up, run, test, bench), so a fresh machine
//! needs nothing but the repository and the Rust toolchain.

mod bench;
mod browser;
mod ecs_model;
mod failover_bench;
mod infra;
mod latency_bench;
mod manifest_bench;
mod phases;
mod proxy_bench;
mod reconcile_bench;
mod test;
mod tools;
mod up;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(name = "cargo xtask", about = "Ferry's project tasks")]
struct Cli {
    #[command(subcommand)]
    task: Task,
}

#[derive(Subcommand)]
enum Task {
    /// Run the main job on its embedded default (for now: the numbers API on SQLite).
    Up(up::UpArgs),
    /// Run every check and test, starting the real parts they need (PostgreSQL, linters).
    Test(test::TestArgs),
    /// Run benchmarks side by side with their anchors and print ratios.
    Bench(bench::BenchArgs),
    /// Derive Ferry's ECS field set from the ECS API model (botocore) and write the generated files.
    GenEcsModel(ecs_model::GenArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().task {
        Task::Up(args) => up::run(&args),
        Task::Test(args) => test::run(&args),
        Task::Bench(args) => bench::run(&args),
        Task::GenEcsModel(args) => ecs_model::run(&args),
    }
}
