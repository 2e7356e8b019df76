//! `cargo xtask up`: the README's first command. Until the local platform exists it runs the
//! numbers API on its embedded default: SQLite, in `target/numbers-local/`.

use std::process::Command;

use anyhow::Context;

use crate::tools::{repo_root, run as run_cmd};

/// Options of `cargo xtask up`.
#[derive(clap::Args)]
pub(crate) struct UpArgs {
    /// Address the API listens on.
    #[arg(long, default_value = "127.0.0.1:5000")]
    listen: String,
}

/// Build and run the numbers API until Ctrl-C.
pub(crate) fn run(args: &UpArgs) -> anyhow::Result<()> {
    let root = repo_root();
    let data = root.join("target").join("numbers-local");
    std::fs::create_dir_all(&data).context("cannot create the data folder")?;
    run_cmd(Command::new("cargo").current_dir(&root).args([
        "build",
        "--quiet",
        "--package",
        "numbers-api",
    ]))?;
    eprintln!(
        "numbers API on SQLite ({}): http://{} (try /v1/numbers, /openapi.json); Ctrl-C stops it",
        data.join("numbers.db").display(),
        args.listen
    );
    run_cmd(
        Command::new(root.join("target/debug/numbers-api"))
            .current_dir(&data)
            .env("LISTEN_ADDR", &args.listen)
            .env_remove("DATABASE_URL")
            .env_remove("PG_HOST"),
    )
}
