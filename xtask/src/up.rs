//! `cargo xtask up`: the README's first command. Builds the numbers app and Ferry, then runs
//! Ferry on the `local` environment: the same manifests that drive ECS, run as local processes
//! (api on SQLite, frontend, proxy), with Ferry's status server. Edits under
//! `manifests/` are applied while it runs; Ctrl-C stops Ferry and every process it started.

use std::process::Command;

use anyhow::Context;

use crate::tools::{repo_root, run as run_cmd};

/// Options of `cargo xtask up`.
#[derive(clap::Args)]
pub(crate) struct UpArgs {
    /// Ferry's status server address.
    #[arg(long, default_value = "127.0.0.1:9000")]
    status: String,
    /// Folder for Ferry's state and the processes' data and logs (default: target/ferry-local).
    #[arg(long)]
    state_dir: Option<std::path::PathBuf>,
    /// Use the binaries already built (next to this xtask binary) instead of building them.
    #[arg(long)]
    no_build: bool,
}

/// Build, then run Ferry on the local environment until Ctrl-C.
pub(crate) fn run(args: &UpArgs) -> anyhow::Result<()> {
    let root = repo_root();
    let state = args
        .state_dir
        .clone()
        .unwrap_or_else(|| root.join("target").join("ferry-local"));
    std::fs::create_dir_all(&state).context("cannot create the state folder")?;
    // The binaries sit next to this xtask binary (honours CARGO_TARGET_DIR).
    let bin_dir = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(std::path::Path::to_path_buf))
        .unwrap_or_else(|| root.join("target/debug"));
    if args.no_build {
        for bin in ["numbers-api", "numbers-frontend", "numbers-proxy", "ferry"] {
            anyhow::ensure!(
                bin_dir.join(bin).is_file(),
                "{} is missing: run without --no-build",
                bin_dir.join(bin).display()
            );
        }
    } else {
        run_cmd(Command::new("cargo").current_dir(&root).args([
            "build",
            "--quiet",
            "--package",
            "numbers-api",
            "--package",
            "numbers-frontend",
            "--package",
            "numbers-proxy",
            "--package",
            "ferry",
        ]))?;
    }
    eprintln!(
        "\nFerry runs the numbers app from manifests/local (data and logs in {}):\n  \
         app:    http://127.0.0.1:8000   (proxy → api on :5000, frontend on :3000)\n  \
         status: http://{}   (JSON at /status)\nEdit manifests/ and Ferry applies it; Ctrl-C stops everything.\n",
        state.display(),
        args.status
    );
    // manifests/local names the binaries; they are found on PATH, this build's folder first.
    let path = std::env::join_paths(
        std::iter::once(bin_dir.clone()).chain(
            std::env::var_os("PATH")
                .map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
                .unwrap_or_default(),
        ),
    )
    .context("cannot build PATH")?;
    run_cmd(
        Command::new(bin_dir.join("ferry"))
            .current_dir(&root)
            .env("PATH", path)
            .args([
                "run",
                "--manifests",
                "manifests",
                "--env",
                "local",
                "--listen",
                &args.status,
                "--state-dir",
            ])
            .arg(&state),
    )
}
