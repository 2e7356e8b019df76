//! Installing and finding the tools tasks need: a Python virtualenv under `.tools/` (git-ignored)
//! for PyPI-packaged linters, Debian packages through apt, cargo-installed helpers.
//! Every install is idempotent; a tool that cannot be had is a loud error.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, bail};

/// The repository root (the parent of `xtask/`).
pub(crate) fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map_or_else(|| PathBuf::from("."), Path::to_path_buf)
}

/// Run a command inheriting stdio; fail with the command line when it fails.
pub(crate) fn run(cmd: &mut Command) -> anyhow::Result<()> {
    let shown = describe(cmd);
    eprintln!("$ {shown}");
    let status = cmd
        .status()
        .with_context(|| format!("cannot start `{shown}`"))?;
    if !status.success() {
        bail!("`{shown}` failed ({status})");
    }
    Ok(())
}

/// Run a command and capture its stdout; fail with its output when it fails.
pub(crate) fn output(cmd: &mut Command) -> anyhow::Result<String> {
    let shown = describe(cmd);
    let out = cmd
        .output()
        .with_context(|| format!("cannot start `{shown}`"))?;
    if !out.status.success() {
        bail!(
            "`{shown}` failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn describe(cmd: &Command) -> String {
    std::iter::once(cmd.get_program().to_string_lossy().into_owned())
        .chain(cmd.get_args().map(|a| a.to_string_lossy().into_owned()))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Fail unless every tool is on the PATH, naming the missing ones and what provides them.
pub(crate) fn require(tools: &[(&str, &str)]) -> anyhow::Result<()> {
    let missing: Vec<String> = tools
        .iter()
        .filter(|(tool, _)| ferry_testkit::find_on_path(tool).is_none())
        .map(|(tool, from)| format!("`{tool}` ({from})"))
        .collect();
    if !missing.is_empty() {
        bail!("missing tools: {}", missing.join(", "));
    }
    Ok(())
}

/// A virtualenv at `.tools/<name>` with `packages` installed; returns its `bin/` folder.
pub(crate) fn venv(name: &str, packages: &[&str]) -> anyhow::Result<PathBuf> {
    require(&[("python3", "CPython 3")])?;
    let dir = repo_root().join(".tools").join(name);
    let bin = dir.join("bin");
    let stamp = dir.join(".installed");
    let wanted = packages.join("\n");
    if std::fs::read_to_string(&stamp).ok().as_deref() == Some(wanted.as_str()) {
        return Ok(bin);
    }
    if !bin.join("python").exists() {
        output(Command::new("python3").arg("-m").arg("venv").arg(&dir))?;
    }
    output(
        Command::new(bin.join("python"))
            .args([
                "-m",
                "pip",
                "install",
                "--quiet",
                "--disable-pip-version-check",
            ])
            .args(packages),
    )?;
    std::fs::write(&stamp, wanted).context("cannot record the virtualenv's packages")?;
    Ok(bin)
}

/// Make sure the Debian packages providing `tools` are installed (apt-get as root), with one
/// `apt-get install` for every missing one; apt's output is shown only when it fails.
pub(crate) fn apt(tools: &[(&str, &str)]) -> anyhow::Result<()> {
    let missing: Vec<&str> = tools
        .iter()
        .filter(|(tool, _)| {
            ferry_testkit::find_on_path(tool).is_none() && !Path::new(tool).exists()
        })
        .map(|(_, package)| *package)
        .collect();
    if missing.is_empty() {
        return Ok(());
    }
    let sudo = if ferry_testkit::is_root() {
        None
    } else {
        Some("sudo")
    };
    let apt_get = |args: &[&str]| {
        let mut cmd = match sudo {
            Some(s) => {
                let mut c = Command::new(s);
                c.arg("apt-get");
                c
            }
            None => Command::new("apt-get"),
        };
        cmd.env("DEBIAN_FRONTEND", "noninteractive").args(args);
        cmd
    };
    // The package lists may be stale or absent on a fresh machine.
    output(&mut apt_get(&["update", "-qq"]))?;
    let mut install = apt_get(&["install", "-y", "-qq", "--no-install-recommends"]);
    install.args(&missing);
    output(&mut install).with_context(|| format!("cannot install Debian packages {missing:?}"))?;
    Ok(())
}

/// `program` under `nice -n 10`: background work that must not slow the foreground build.
pub(crate) fn niced(program: impl AsRef<std::ffi::OsStr>) -> Command {
    let mut cmd = Command::new("nice");
    cmd.args(["-n", "10"]).arg(program);
    cmd
}

/// `cargo nextest` is available (installing it from crates.io when missing).
pub(crate) fn ensure_nextest() -> anyhow::Result<()> {
    let ok = Command::new("cargo")
        .args(["nextest", "--version"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        run(Command::new("cargo").args(["install", "--locked", "cargo-nextest"]))?;
    }
    Ok(())
}
