//! Tools of the browser tests: Debian's Chromium (and chromedriver) through apt, and
//! playwright-core from npm into `services/frontend/e2e/node_modules` (`npm ci` from the
//! committed lock file). playwright-core never downloads a browser; the tests launch
//! `/usr/bin/chromium`.

use std::process::Command;

use anyhow::Context;

use crate::tools::{self, output, repo_root};

/// The Debian packages of the browser tests (installed by `cargo xtask test`'s one `apt-get`).
pub(crate) const DEBIAN_PACKAGES: &[(&str, &str)] = &[
    ("/usr/bin/chromium", "chromium"),
    ("/usr/bin/chromedriver", "chromium-driver"),
];

/// Make sure playwright-core is installed (idempotent; quick when the lock file is unchanged).
pub(crate) fn ensure_playwright() -> anyhow::Result<()> {
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
    output(
        Command::new("npm")
            .current_dir(&dir)
            .args(["ci", "--no-audit", "--no-fund"])
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1"),
    )
    .context("cannot install playwright-core (npm ci)")?;
    std::fs::write(&stamp, &lock).context("cannot record the npm install")?;
    Ok(())
}
