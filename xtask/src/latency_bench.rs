//! `cargo xtask bench latency`: how fast `ferry run` reacts (filled in below).

/// Run and print the table.
pub(crate) fn run() -> anyhow::Result<()> {
    anyhow::bail!("bench latency: not built yet")
}
