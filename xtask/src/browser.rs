//! Tools of the browser tests: Debian's Chromium (and chromedriver) through apt, and
//! playwright-core from npm into `services/frontend/e2e/node_modules` (`npm ci` from the
//! committed lock file). playwright-core never downloads a browser; the tests launch
//! `/usr/bin/chromium`.

use std::process::Command;

use anyhow::Context;

use crate::tools::{self, repo_root, run as run_cmd};

/// Make sure the end-to-end browser test can run (idempotent; quick when nothing changed).
pub(crate) fn ensure_browser_tools() -> anyhow::Result<()> {
    tools::apt(&[
        ("/usr/bin/chromium", "chromium"),
        ("/usr/bin/chromedriver", "chromium-driver"),
    ])?;
    tools::require(&[("node", "Node.js 20+"), ("npm", "npm (Node.js)")])?;
    let dir = repo_root().join("services/frontend/e2e");
    let lock = std::fs::read(dir.join("package-lock.json"))
        .context("services/frontend/e2e/package-lock.json is missing")?;
    let stamp = dir.join("node_modules/.installed-lock");
    let installed = dir
        .join("node_modules/playwright-core/package.json")
        .is_file()
        && std::fs::read(&stamp).ok().as_deref() == Some(&lock[..]);
    if installed {
        return Ok(());
    }
    run_cmd(
        Command::new("npm")
            .current_dir(&dir)
            .args(["ci", "--no-audit", "--no-fund"])
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1"),
    )
    .context("cannot install playwright-core (npm ci)")?;
    std::fs::write(&stamp, &lock).context("cannot record the npm install")?;
    Ok(())
}
