//! Infrastructure and delivery checks run by `cargo xtask test`: Terraform (fmt, offline init
//! against the machine's provider mirror, validate, `terraform test` with a mocked provider),
//! checkov on the Terraform and workflows, actionlint (with shellcheck) on the workflows.

use std::path::Path;
use std::process::Command;

use anyhow::Context;

use crate::tools::{self, output, run as run_cmd};

/// Terraform roots, each planned by `terraform test` (and the ferry module, tested on its own).
const ROOTS: &[&str] = &[
    "dev",
    "staging",
    "prod",
    "modules/ferry",
    "modules/environment",
    "modules/target_account",
];

/// Run every infrastructure check; fail on the first finding.
pub(crate) fn check(root: &Path) -> anyhow::Result<()> {
    tools::require(&[("terraform", "HashiCorp terraform >= 1.11")])?;
    let rc = root.join("environments/terraform.rc");
    let terraform = |dir: &Path| {
        let mut cmd = Command::new("terraform");
        cmd.current_dir(dir)
            .env("TF_CLI_CONFIG_FILE", &rc)
            .env("TF_IN_AUTOMATION", "1")
            .env("CHECKPOINT_DISABLE", "1");
        cmd
    };
    run_cmd(terraform(root).args(["fmt", "-check", "-recursive", "environments"]))
        .context("Terraform is not formatted: run `terraform fmt -recursive environments`")?;
    for env in ROOTS {
        let dir = root.join("environments").join(env);
        run_cmd(terraform(&dir).args(["init", "-backend=false", "-input=false", "-no-color"]))?;
        run_cmd(terraform(&dir).args(["validate", "-no-color"]))?;
        let out = output(terraform(&dir).args(["test", "-no-color"]))
            .with_context(|| format!("terraform test failed in environments/{env}"))?;
        eprintln!(
            "terraform test environments/{env}: {}",
            out.lines().last().unwrap_or("").trim()
        );
    }

    let checkov = tools::venv("checkov-venv", &["checkov==3.3.30"])?;
    for dir in ["environments", ".github/workflows"] {
        run_cmd(
            Command::new(checkov.join("checkov"))
                .current_dir(root)
                .args(["-d", dir, "--skip-download", "--compact", "--quiet"]),
        )
        .with_context(|| format!("checkov found failed checks in {dir}"))?;
    }

    tools::apt(&[("shellcheck", "shellcheck")])?;
    let lint = tools::venv("venv", crate::test::LINT_PACKAGES)?;
    let path = format!(
        "{}:{}",
        lint.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    run_cmd(
        Command::new(lint.join("actionlint"))
            .current_dir(root)
            .env("PATH", path),
    )
    .context("actionlint found problems in .github/workflows")?;
    Ok(())
}
