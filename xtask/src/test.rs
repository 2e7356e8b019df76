//! `cargo xtask test`: the one test command (CI's `.ci/run` calls exactly this).
//!
//! One cargo build serves both clippy and the tests: nextest builds with `clippy-driver` as the
//! workspace's rustc wrapper (`-D warnings`), so every workspace crate is linted while it is
//! compiled for the tests, and dependencies are compiled once. Beside that build, background
//! jobs install what is missing (one `apt-get`, npm, the Python virtualenvs) and run the
//! infrastructure checks (every Terraform root in parallel, checkov, hadolint, actionlint).
//! Once both are done, a throwaway PostgreSQL starts on a free loopback port (as an
//! unprivileged user) and nextest runs every test against it; it is stopped whether the tests
//! pass or not. A table of how long each phase took ends the output.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, anyhow, bail};
use ferry_testkit::{PG_URL_ENV, PgOptions, PgServer};

use crate::phases::{Phases, join_all};
use crate::tools::{self, output, repo_root, run as run_cmd};

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

/// Debian packages the tests need besides the browser's: the SSH server that private-repository
/// tests fetch from, and shellcheck (actionlint runs it).
const DEBIAN_PACKAGES: &[(&str, &str)] = &[
    ("/usr/sbin/sshd", "openssh-server"),
    ("ssh-keygen", "openssh-client"),
    ("shellcheck", "shellcheck"),
];

/// `CLIPPY_ARGS` of the build: clippy-driver splits it on this separator (as `cargo clippy`
/// passes what follows its `--`): every warning, rustc's and clippy's, fails the build.
const CLIPPY_DENY_WARNINGS: &str = "-D__CLIPPY_HACKERY__warnings__CLIPPY_HACKERY__";

/// Run every check and test, then print how long each phase took.
pub(crate) fn run(args: &TestArgs) -> anyhow::Result<()> {
    let phases = Phases::new();
    let result = run_phases(args, &phases);
    phases.print();
    if result.is_ok() {
        eprintln!("all checks and tests passed");
    }
    result
}

fn run_phases(args: &TestArgs, phases: &Phases) -> anyhow::Result<()> {
    let root = repo_root();
    let lint = !args.no_lint;
    let clippy = phases.run("tools on the PATH, cargo-nextest", || {
        tools::require(&[
            ("git", "Debian git"),
            ("initdb", "PostgreSQL 15 server"),
            ("pg_ctl", "PostgreSQL 15 server"),
            ("postgres", "PostgreSQL 15 server"),
            ("psql", "Debian postgresql-client"),
            ("python3", "CPython 3"),
            ("nice", "coreutils"),
        ])?;
        if lint {
            tools::require(&[("terraform", "HashiCorp terraform >= 1.11")])?;
        }
        tools::ensure_nextest()?;
        lint.then(clippy_driver).transpose()
    })?;

    // Installs and checks that need no cargo build run beside it.
    let debian: Vec<(&str, &str)> = crate::browser::DEBIAN_PACKAGES
        .iter()
        .chain(DEBIAN_PACKAGES)
        .copied()
        .collect();
    let apt = phases.spawn("apt-get install (Chromium, sshd, shellcheck)", move || {
        tools::apt(&debian)
    });
    let apt_done = apt.waiter();
    let mut jobs = vec![
        apt,
        phases.spawn(
            "npm ci (playwright-core)",
            crate::browser::ensure_playwright,
        ),
        phases.spawn("venv moto", || {
            tools::venv("moto-venv", &[ferry_testkit::moto::MOTO_PACKAGE]).map(drop)
        }),
    ];
    if lint {
        jobs.extend(crate::infra::spawn_checks(&root, phases, &apt_done));
    }

    let built = (|| {
        if lint {
            phases.run("cargo fmt --check", || {
                run_cmd(
                    Command::new("cargo")
                        .current_dir(&root)
                        .args(["fmt", "--all", "--check"]),
                )
                .context("code is not formatted: run `cargo fmt --all`")
            })?;
            // The ECS field set is derived from botocore's model: the committed files must be
            // what the generator writes.
            phases.run("gen-ecs-model --check", || {
                crate::ecs_model::run(&crate::ecs_model::GenArgs { check: true })
            })?;
        }
        let what = if lint {
            "cargo build of the tests, with clippy"
        } else {
            "cargo build of the tests"
        };
        phases.run(what, || {
            run_cmd(nextest(&root, args, clippy.as_deref()).arg("--no-run")).context(if lint {
                "the build failed (compile errors or clippy warnings above)"
            } else {
                "the build failed"
            })
        })
    })();
    let installed = phases.run("waiting for the background jobs", || join_all(jobs));
    match (built, installed) {
        (Ok(()), Ok(())) => {}
        (Err(e), Ok(())) | (Ok(()), Err(e)) => return Err(e),
        (Err(b), Err(i)) => bail!("{b:#}\n\n{i:#}"),
    }

    let moto = root.join(".tools/moto-venv/bin/moto_server");
    let pg = phases.run("start PostgreSQL", || {
        let pg = PgServer::start(&PgOptions::default())
            .context("cannot start the test PostgreSQL server")?;
        eprintln!("test PostgreSQL on 127.0.0.1:{}", pg.port());
        Ok(pg)
    })?;
    let result = phases.run("tests (nextest)", || {
        run_cmd(
            nextest(&root, args, clippy.as_deref())
                .arg("--no-fail-fast")
                .env(PG_URL_ENV, pg.admin_url())
                .env(ferry_testkit::moto::MOTO_BIN_ENV, &moto),
        )
    });
    drop(pg);
    result.context("tests failed")
}

/// `cargo nextest run` of the workspace (or the packages the caller picked), built with
/// `clippy` as the workspace's rustc wrapper when given.
fn nextest(root: &Path, args: &TestArgs, clippy: Option<&Path>) -> Command {
    let mut cmd = Command::new("cargo");
    cmd.current_dir(root)
        .args(["nextest", "run", "--locked"])
        .args(
            // Every package, unless the caller picked some (`-- -p numbers-api`).
            (!args
                .nextest_args
                .iter()
                .any(|a| a == "-p" || a.starts_with("--package")))
            .then_some("--workspace"),
        )
        .args(&args.nextest_args);
    if let Some(driver) = clippy {
        cmd.env("RUSTC_WORKSPACE_WRAPPER", driver)
            .env("CLIPPY_ARGS", CLIPPY_DENY_WARNINGS);
    }
    cmd
}

/// The active toolchain's `clippy-driver` (what `cargo clippy` runs as the rustc wrapper).
fn clippy_driver() -> anyhow::Result<PathBuf> {
    let rustc = std::env::var_os("RUSTC").unwrap_or_else(|| "rustc".into());
    let sysroot = output(Command::new(&rustc).args(["--print", "sysroot"]))?;
    let driver = Path::new(sysroot.trim()).join("bin/clippy-driver");
    if !driver.is_file() {
        return Err(anyhow!(
            "{} is missing: install clippy (`rustup component add clippy`)",
            driver.display()
        ));
    }
    Ok(driver)
}
