//! Sources of revisions: a plain folder watched with `notify` (revision = content hash), or a
//! git repository fetched with the `git` CLI on an interval and on demand (revision = commit).
//! Each revision is copied into its own snapshot folder, so the files a reconcile reads never
//! change under it.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use sha2::{Digest, Sha256};
use tokio::sync::{Notify, watch};

use super::status::StatusSnapshot;

/// One version of the manifests.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Revision {
    /// Commit SHA, or `dir-<hash>` for a folder.
    pub(crate) id: String,
    /// The manifests root of this revision (a snapshot that never changes).
    pub(crate) root: PathBuf,
    /// When it was made: the commit time (git) or when the change was seen (folder).
    pub(crate) created: Option<std::time::SystemTime>,
}

/// Hash every entry under `dir` (paths and contents, sorted), ignoring hidden files. Links
/// count by their target text and are never followed (a link loop cannot make the walk
/// endless); FIFOs, sockets and devices count by their type and are never opened.
pub(crate) fn content_hash(dir: &Path) -> std::io::Result<String> {
    let mut entries = Vec::new();
    collect(dir, dir, &mut entries)?;
    entries.sort();
    let mut hasher = Sha256::new();
    for (rel, kind) in entries {
        hasher.update(rel.to_string_lossy().as_bytes());
        hasher.update([0]);
        match kind {
            Entry::File => hasher.update(std::fs::read(dir.join(&rel))?),
            Entry::Link(target) => {
                hasher.update(b"link:");
                hasher.update(target.to_string_lossy().as_bytes());
            }
            Entry::Special => hasher.update(b"special"),
        }
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    Ok(digest.iter().take(6).map(|b| format!("{b:02x}")).collect())
}

/// What a snapshot holds at a path.
#[derive(Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Entry {
    File,
    Link(PathBuf),
    Special,
}

fn collect(root: &Path, dir: &Path, out: &mut Vec<(PathBuf, Entry)>) -> std::io::Result<()> {
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let path = entry.path();
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            collect(root, &path, out)?;
            continue;
        }
        let kind = if file_type.is_symlink() {
            Entry::Link(std::fs::read_link(&path)?)
        } else if file_type.is_file() {
            Entry::File
        } else {
            Entry::Special
        };
        let rel = path
            .strip_prefix(root)
            .map(Path::to_path_buf)
            .unwrap_or(path);
        out.push((rel, kind));
    }
    Ok(())
}

/// Copy the tree as it is: links stay links (as a git checkout has them), and a FIFO, socket
/// or device becomes a link to the original, so that loading refuses it by its type, by name,
/// without anything opening it.
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        if entry.file_name().to_string_lossy().starts_with('.') {
            continue;
        }
        let target = to.join(entry.file_name());
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            copy_tree(&entry.path(), &target)?;
        } else if file_type.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(entry.path())?, target)?;
        } else if file_type.is_file() {
            std::fs::copy(entry.path(), target)?;
        } else {
            std::os::unix::fs::symlink(std::path::absolute(entry.path())?, target)?;
        }
    }
    Ok(())
}

/// Snapshot `dir` if its content changed since `last`; the new revision, if any.
fn snapshot_folder(
    dir: &Path,
    snapshots: &Path,
    last: Option<&str>,
) -> std::io::Result<Option<Revision>> {
    let id = format!("dir-{}", content_hash(dir)?);
    if last == Some(id.as_str()) {
        return Ok(None);
    }
    let root = snapshots.join(&id);
    if !root.exists() {
        let partial = snapshots.join(format!(".{id}.partial"));
        let _ = std::fs::remove_dir_all(&partial);
        copy_tree(dir, &partial)?;
        std::fs::rename(&partial, &root)?;
    }
    Ok(Some(Revision {
        id,
        root,
        created: Some(std::time::SystemTime::now()),
    }))
}

/// Watch `dir`: publish a revision now and after every change (debounced, so an editor's
/// write-then-rename is one change).
pub(crate) async fn watch_folder(
    dir: PathBuf,
    snapshots: PathBuf,
    revisions: watch::Sender<Option<Revision>>,
    status: watch::Sender<StatusSnapshot>,
) {
    let (events_tx, mut events) = tokio::sync::mpsc::unbounded_channel::<()>();
    let debouncer = notify_debouncer_full::new_debouncer(
        Duration::from_millis(150),
        None,
        move |result: notify_debouncer_full::DebounceEventResult| {
            if result.is_ok_and(|events| !events.is_empty()) {
                let _ = events_tx.send(());
            }
        },
    );
    let _debouncer = match debouncer {
        Ok(mut d) => match d.watch(&dir, notify::RecursiveMode::Recursive) {
            Ok(()) => Some(d),
            Err(e) => {
                status.send_modify(|s| {
                    s.source_error = Some(format!("cannot watch {}: {e}", dir.display()))
                });
                None
            }
        },
        Err(e) => {
            status.send_modify(|s| {
                s.source_error = Some(format!("cannot watch {}: {e}", dir.display()))
            });
            None
        }
    };
    let mut last: Option<String> = None;
    loop {
        let (d, s) = (dir.clone(), snapshots.clone());
        let prev = last.clone();
        let result =
            tokio::task::spawn_blocking(move || snapshot_folder(&d, &s, prev.as_deref())).await;
        match result {
            Ok(Ok(Some(rev))) => {
                tracing::info!(revision = %rev.id, "new revision from the folder");
                last = Some(rev.id.clone());
                status.send_modify(|s| {
                    s.source_revision = Some(rev.id.clone());
                    s.source_error = None;
                });
                let _ = revisions.send(Some(rev));
            }
            Ok(Ok(None)) => {}
            Ok(Err(e)) => status.send_modify(|s| {
                s.source_error = Some(format!("cannot read {}: {e}", dir.display()))
            }),
            Err(e) => {
                status.send_modify(|s| s.source_error = Some(format!("snapshot task failed: {e}")))
            }
        }
        // A change event, or a slow poll as a safety net for missed events.
        tokio::select! {
            event = events.recv() => if event.is_none() { return },
            () = tokio::time::sleep(Duration::from_secs(30)) => {}
        }
    }
}

/// Options of a git source.
#[derive(Clone, Debug)]
pub(crate) struct GitSource {
    /// Repository URL or path.
    pub(crate) url: String,
    /// Branch to follow.
    pub(crate) branch: String,
    /// Manifests folder inside the repository.
    pub(crate) path: String,
    /// Poll interval.
    pub(crate) interval: Duration,
    /// Credentials for a private repository.
    pub(crate) auth: GitAuth,
}

/// Credentials of a private repository, as files: git reads them through a credential
/// helper (HTTPS) or `ssh -i` (SSH) configured in the child's environment, so no secret is ever
/// in an argument, a URL, a log line or the status.
#[derive(Clone, Debug, Default)]
pub(crate) struct GitAuth {
    /// File holding an HTTPS token (e.g. a GitHub token), read at every fetch.
    pub(crate) token_file: Option<PathBuf>,
    /// The user name sent with the token.
    pub(crate) username: String,
    /// Private key for SSH URLs.
    pub(crate) ssh_key_file: Option<PathBuf>,
    /// Known hosts for SSH URLs (host keys are always checked).
    pub(crate) known_hosts_file: Option<PathBuf>,
}

/// The credential helper git runs for HTTPS: answers `get` from the token file named in its
/// environment (shell builtins only, so the token is never in a process's arguments) and ignores
/// `store` / `erase` (nothing is ever written anywhere).
const CREDENTIAL_HELPER: &str = "!ferry_credential() { test \"$1\" = get || exit 0; \
     read -r token < \"$FERRY_GIT_TOKEN_FILE\" || test -n \"$token\"; \
     printf 'username=%s\\npassword=%s\\n' \"$FERRY_GIT_USERNAME\" \"$token\"; }; ferry_credential";

/// A path quoted for the shell that runs `GIT_SSH_COMMAND`.
fn shell_quote(path: &Path) -> String {
    format!("'{}'", path.display().to_string().replace('\'', "'\\''"))
}

impl GitAuth {
    /// Configure `cmd` (a git command) with these credentials, through its environment only.
    fn configure(&self, cmd: &mut tokio::process::Command) {
        // Credentials never come from a prompt or a helper of the user's configuration (which
        // might store them on disk).
        cmd.env_remove("GIT_ASKPASS").env_remove("SSH_ASKPASS");
        let mut config = vec![("credential.helper", String::new())];
        if let Some(token_file) = &self.token_file {
            config.push(("credential.helper", CREDENTIAL_HELPER.to_owned()));
            cmd.env("FERRY_GIT_TOKEN_FILE", token_file)
                .env("FERRY_GIT_USERNAME", &self.username);
        }
        cmd.env("GIT_CONFIG_COUNT", config.len().to_string());
        for (i, (key, value)) in config.iter().enumerate() {
            cmd.env(format!("GIT_CONFIG_KEY_{i}"), key)
                .env(format!("GIT_CONFIG_VALUE_{i}"), value);
        }
        if self.ssh_key_file.is_some() || self.known_hosts_file.is_some() {
            let mut ssh = String::from(
                "ssh -F /dev/null -o BatchMode=yes -o StrictHostKeyChecking=yes -o PasswordAuthentication=no",
            );
            if let Some(key) = &self.ssh_key_file {
                ssh.push_str(" -o IdentitiesOnly=yes -o IdentityAgent=none -i ");
                ssh.push_str(&shell_quote(key));
            }
            if let Some(known) = &self.known_hosts_file {
                ssh.push_str(" -o UserKnownHostsFile=");
                ssh.push_str(&shell_quote(known));
            }
            cmd.env("GIT_SSH_COMMAND", ssh);
        }
    }

    /// `text` with the token (if it somehow appears) replaced by `***`.
    fn scrub(&self, text: &str) -> String {
        let token = self
            .token_file
            .as_deref()
            .and_then(|f| std::fs::read_to_string(f).ok())
            .map(|t| t.trim().to_owned())
            .filter(|t| t.len() >= 4);
        match token {
            Some(token) => text.replace(&token, "***"),
            None => text.to_owned(),
        }
    }
}

/// The URL without credentials, safe to show.
pub(crate) fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => match rest.split_once('@') {
            Some((_, host))
                if !rest.split('/').next().unwrap_or("").is_empty()
                    && rest.find('@') < rest.find('/') =>
            {
                format!("{scheme}://***@{host}")
            }
            _ => url.to_owned(),
        },
        None => url.to_owned(),
    }
}

async fn git(auth: &GitAuth, args: &[&str], dir: Option<&Path>) -> Result<String, String> {
    let mut cmd = tokio::process::Command::new("git");
    if let Some(dir) = dir {
        cmd.arg("--git-dir").arg(dir);
    }
    cmd.args(args)
        .env("GIT_TERMINAL_PROMPT", "0")
        .stdin(std::process::Stdio::null())
        .kill_on_drop(true);
    auth.configure(&mut cmd);
    let out = cmd
        .output()
        .await
        .map_err(|e| format!("cannot run git: {e}"))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
    } else {
        // git names the URL in its errors: without credentials, and never the token.
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stderr = stderr
            .split_whitespace()
            .map(|w| {
                let bare = w.trim_matches(|c| c == '\'' || c == '"');
                if bare.contains("://") {
                    w.replace(bare, &redact_url(bare))
                } else {
                    w.to_owned()
                }
            })
            .collect::<Vec<_>>()
            .join(" ");
        Err(auth.scrub(&format!(
            "git {} failed: {}",
            args.first().unwrap_or(&""),
            stderr.trim()
        )))
    }
}

/// One fetch: update the cache, resolve the branch, snapshot a new commit.
async fn fetch_once(
    source: &GitSource,
    cache: &Path,
    snapshots: &Path,
    last: Option<&str>,
) -> Result<Option<Revision>, String> {
    if !cache.join("HEAD").exists() {
        let _ = tokio::fs::remove_dir_all(cache).await;
        git(
            &source.auth,
            &[
                "clone",
                "--bare",
                "--quiet",
                &source.url,
                &cache.display().to_string(),
            ],
            None,
        )
        .await?;
    } else {
        git(
            &source.auth,
            &[
                "fetch",
                "--quiet",
                "--prune",
                "origin",
                "+refs/heads/*:refs/heads/*",
            ],
            Some(cache),
        )
        .await?;
    }
    let sha = git(
        &source.auth,
        &[
            "rev-parse",
            "--verify",
            &format!("refs/heads/{}^{{commit}}", source.branch),
        ],
        Some(cache),
    )
    .await?;
    if last == Some(sha.as_str()) {
        return Ok(None);
    }
    let checkout = snapshots.join(&sha);
    if !checkout.exists() {
        let partial = snapshots.join(format!(".{sha}.partial"));
        let _ = tokio::fs::remove_dir_all(&partial).await;
        tokio::fs::create_dir_all(&partial)
            .await
            .map_err(|e| e.to_string())?;
        let work_tree = format!("--work-tree={}", partial.display());
        git(
            &source.auth,
            &[
                &work_tree, "checkout", "--quiet", "--force", &sha, "--", ".",
            ],
            Some(cache),
        )
        .await?;
        tokio::fs::rename(&partial, &checkout)
            .await
            .map_err(|e| e.to_string())?;
    }
    let created = git(
        &source.auth,
        &["log", "-1", "--format=%ct", &sha],
        Some(cache),
    )
    .await
    .ok()
    .and_then(|t| t.parse::<u64>().ok())
    .map(|secs| std::time::UNIX_EPOCH + Duration::from_secs(secs));
    Ok(Some(Revision {
        id: sha,
        root: checkout.join(&source.path),
        created,
    }))
}

/// Follow a branch: fetch on the interval and whenever `fetch_now` is notified (webhook);
/// failures are reported and retried with backoff, the last good revision stays.
pub(crate) async fn follow_git(
    source: GitSource,
    cache: PathBuf,
    snapshots: PathBuf,
    fetch_now: Arc<Notify>,
    revisions: watch::Sender<Option<Revision>>,
    status: watch::Sender<StatusSnapshot>,
) {
    let mut last: Option<String> = None;
    let mut failures = 0u32;
    loop {
        match fetch_once(&source, &cache, &snapshots, last.as_deref()).await {
            Ok(Some(rev)) => {
                failures = 0;
                tracing::info!(revision = %rev.id, "new commit");
                last = Some(rev.id.clone());
                status.send_modify(|s| {
                    s.source_revision = Some(rev.id.clone());
                    s.source_error = None;
                });
                let _ = revisions.send(Some(rev));
            }
            Ok(None) => {
                failures = 0;
                status.send_modify(|s| s.source_error = None);
            }
            Err(e) => {
                failures += 1;
                tracing::warn!(error = %e, "fetch failed");
                status.send_modify(|s| s.source_error = Some(e));
            }
        }
        let wait = if failures == 0 {
            source.interval
        } else {
            super::backoff(failures).min(source.interval)
        };
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = fetch_now.notified() => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_hash_changes_with_content_and_ignores_hidden_files() {
        let dir = tempfile::tempdir().expect("dir");
        std::fs::write(dir.path().join("a.yaml"), "a: 1").expect("write");
        let first = content_hash(dir.path()).expect("hash");
        std::fs::write(dir.path().join(".a.yaml.swp"), "junk").expect("write");
        assert_eq!(content_hash(dir.path()).expect("hash"), first);
        std::fs::write(dir.path().join("a.yaml"), "a: 2").expect("write");
        assert_ne!(content_hash(dir.path()).expect("hash"), first);
    }

    #[test]
    fn credentials_never_show() {
        assert_eq!(
            redact_url("https://user:token@github.com/o/r.git"),
            "https://***@github.com/o/r.git"
        );
        assert_eq!(redact_url("/srv/git/repo.git"), "/srv/git/repo.git");
        assert_eq!(
            redact_url("https://github.com/o/r.git"),
            "https://github.com/o/r.git"
        );
    }
}
