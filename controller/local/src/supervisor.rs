//! One supervised child process: started in its own process group with its environment,
//! working folder and log file; restarted with exponential backoff when it exits; probed for
//! health; stopped (SIGTERM, then SIGKILL) as a group so no grandchild survives.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::watch;

/// Everything needed to run one container as a process.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ProcessSpec {
    /// Program and arguments.
    pub(crate) command: Vec<String>,
    /// Environment variables (the only ones, besides PATH/HOME/LANG/RUST_LOG passed through).
    pub(crate) env: Vec<(String, String)>,
    /// Working folder.
    pub(crate) working_dir: PathBuf,
    /// Log file (appended).
    pub(crate) log_file: PathBuf,
    /// Port to probe, if any.
    pub(crate) port: Option<u16>,
    /// HTTP path to probe on that port, if any.
    pub(crate) health_path: Option<String>,
    /// A health check command (`CMD ...` or `CMD-SHELL ...`), used when no HTTP check is set.
    pub(crate) health_command: Option<Vec<String>>,
}

/// What the supervisor knows right now.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ProcessStatus {
    /// PID of the running child.
    pub(crate) pid: Option<u32>,
    /// The last probe succeeded.
    pub(crate) healthy: bool,
    /// Exits since start.
    pub(crate) restarts: u32,
    /// Consecutive quick exits (crash loop when >= 2).
    pub(crate) quick_failures: u32,
    /// How the last run ended, with the last line it logged.
    pub(crate) last_exit: Option<String>,
}

/// Handle on a supervised process.
#[derive(Debug)]
pub(crate) struct Supervised {
    status: Arc<Mutex<ProcessStatus>>,
    stop: watch::Sender<bool>,
    task: tokio::task::JoinHandle<()>,
}

/// A process that ran at least this long was not crash-looping.
const STABLE_AFTER: Duration = Duration::from_secs(10);
/// Backoff bounds between restarts.
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(30);
/// How long a process gets to exit after SIGTERM.
const STOP_GRACE: Duration = Duration::from_secs(5);

impl Supervised {
    /// Start supervising `spec`; `on_pid` records every PID started (for orphan clean-up).
    pub(crate) fn start(spec: ProcessSpec, on_pid: Arc<dyn Fn(u32) + Send + Sync>) -> Self {
        let status = Arc::new(Mutex::new(ProcessStatus::default()));
        let (stop, stop_rx) = watch::channel(false);
        let task = tokio::spawn(supervise(spec, status.clone(), stop_rx, on_pid));
        Self { status, stop, task }
    }

    /// A copy of the current status.
    pub(crate) fn status(&self) -> ProcessStatus {
        self.status.lock().map(|s| s.clone()).unwrap_or_default()
    }

    /// Stop the process (group) and wait for the supervisor to finish.
    pub(crate) async fn stop(self) {
        let _ = self.stop.send(true);
        let _ = self.task.await;
    }
}

fn set(status: &Mutex<ProcessStatus>, f: impl FnOnce(&mut ProcessStatus)) {
    if let Ok(mut s) = status.lock() {
        f(&mut s);
    }
}

async fn supervise(
    spec: ProcessSpec,
    status: Arc<Mutex<ProcessStatus>>,
    mut stop: watch::Receiver<bool>,
    on_pid: Arc<dyn Fn(u32) + Send + Sync>,
) {
    loop {
        let started = Instant::now();
        let mut child = match spawn(&spec).await {
            Ok(child) => child,
            Err(reason) => {
                set(&status, |s| {
                    s.pid = None;
                    s.healthy = false;
                    s.restarts += 1;
                    s.quick_failures += 1;
                    s.last_exit = Some(reason);
                });
                if wait_or_stop(&mut stop, backoff(&status)).await {
                    return;
                }
                continue;
            }
        };
        let pid = child.id();
        if let Some(pid) = pid {
            on_pid(pid);
        }
        set(&status, |s| {
            s.pid = pid;
            s.healthy = false;
        });
        let mut probe = tokio::time::interval(Duration::from_millis(500));
        let exit = loop {
            tokio::select! {
                exit = child.wait() => break exit,
                _ = stop.changed() => {
                    terminate(&mut child, pid).await;
                    set(&status, |s| { s.pid = None; s.healthy = false; });
                    return;
                }
                _ = probe.tick() => {
                    let healthy = probe_health(&spec).await;
                    set(&status, |s| {
                        s.healthy = healthy;
                        if healthy && started.elapsed() >= STABLE_AFTER {
                            s.quick_failures = 0;
                        }
                    });
                }
            }
        };
        let how = match exit {
            Ok(code) => format!("exited with {code}"),
            Err(e) => format!("could not be waited for: {e}"),
        };
        let last_line = last_log_line(&spec.log_file).await;
        let quick = started.elapsed() < STABLE_AFTER;
        set(&status, |s| {
            s.pid = None;
            s.healthy = false;
            s.restarts += 1;
            s.quick_failures = if quick { s.quick_failures + 1 } else { 1 };
            s.last_exit = Some(match &last_line {
                Some(line) => format!("{how}; last log line: {line}"),
                None => how.clone(),
            });
        });
        tracing::warn!(command = ?spec.command, %how, "process exited; restarting with backoff");
        if wait_or_stop(&mut stop, backoff(&status)).await {
            return;
        }
    }
}

fn backoff(status: &Mutex<ProcessStatus>) -> Duration {
    let failures = status.lock().map(|s| s.quick_failures).unwrap_or(1);
    let factor = 2u32.saturating_pow(failures.saturating_sub(1).min(10));
    (BACKOFF_MIN * factor).min(BACKOFF_MAX)
}

/// Sleep `delay`; true when a stop was requested meanwhile.
async fn wait_or_stop(stop: &mut watch::Receiver<bool>, delay: Duration) -> bool {
    if *stop.borrow() {
        return true;
    }
    tokio::select! {
        () = tokio::time::sleep(delay) => *stop.borrow(),
        _ = stop.changed() => true,
    }
}

/// Run `spec` once to its end (a one-off task): its exit code, or an error when it cannot
/// start or is still running at `deadline` (then its process group is stopped).
pub(crate) async fn run_to_end(
    spec: &ProcessSpec,
    deadline: std::time::Instant,
) -> Result<i32, String> {
    let mut child = spawn(spec).await?;
    let pid = child.id();
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    match tokio::time::timeout(left, child.wait()).await {
        Ok(Ok(status)) => Ok(status.code().unwrap_or(128 + status_signal(&status))),
        Ok(Err(e)) => Err(format!("waiting for it: {e}")),
        Err(_) => {
            terminate(&mut child, pid).await;
            Err(format!(
                "did not finish within {}s; stopped it",
                left.as_secs()
            ))
        }
    }
}

fn status_signal(status: &std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status.signal().unwrap_or(0)
}

/// `setpriv` (util-linux), which starts a program with a parent-death signal; looked up once.
fn parent_death_wrapper() -> Option<&'static std::path::Path> {
    static SETPRIV: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    SETPRIV
        .get_or_init(|| {
            let found = ["/usr/bin/setpriv", "/bin/setpriv"]
                .into_iter()
                .map(PathBuf::from)
                .find(|p| p.is_file());
            if found.is_none() {
                tracing::warn!("setpriv (util-linux) not found: local processes will not die with ferry if it is killed");
            }
            found
        })
        .as_deref()
}

/// The file `program` names, as the process would find it (relative to its working folder, or
/// on its PATH); `None` when there is none, so that spawning it directly reports the error.
fn resolve(program: &str, spec: &ProcessSpec) -> Option<PathBuf> {
    if program.contains('/') {
        let path = spec.working_dir.join(program);
        return path.is_file().then_some(path);
    }
    let path = spec
        .env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| std::ffi::OsString::from(v))
        .or_else(|| std::env::var_os("PATH"))?;
    std::env::split_paths(&path)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

async fn spawn(spec: &ProcessSpec) -> Result<tokio::process::Child, String> {
    let (program, args) = spec.command.split_first().ok_or("empty command")?;
    tokio::fs::create_dir_all(&spec.working_dir)
        .await
        .map_err(|e| format!("cannot create {}: {e}", spec.working_dir.display()))?;
    if let Some(parent) = spec.log_file.parent() {
        tokio::fs::create_dir_all(parent)
            .await
            .map_err(|e| format!("cannot create {}: {e}", parent.display()))?;
    }
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&spec.log_file)
        .map_err(|e| format!("cannot open log {}: {e}", spec.log_file.display()))?;
    let log_err = log
        .try_clone()
        .map_err(|e| format!("cannot open log: {e}"))?;
    let mut cmd = match (parent_death_wrapper(), resolve(program, spec)) {
        // The process dies with Ferry (even on kill -9): `setpriv --pdeathsig KILL` sets
        // PR_SET_PDEATHSIG and then execs the program itself, so Ferry stays its parent.
        (Some(setpriv), Some(resolved)) => {
            let mut c = tokio::process::Command::new(setpriv);
            c.args(["--pdeathsig", "KILL", "--"]).arg(resolved);
            c
        }
        _ => tokio::process::Command::new(program),
    };
    cmd.args(args)
        .current_dir(&spec.working_dir)
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(log)
        .stderr(log_err)
        .process_group(0)
        .kill_on_drop(true);
    for var in ["PATH", "HOME", "LANG", "RUST_LOG", "TMPDIR"] {
        if let Ok(v) = std::env::var(var) {
            cmd.env(var, v);
        }
    }
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    cmd.spawn()
        .map_err(|e| format!("cannot start `{program}`: {e}"))
}

/// SIGTERM the process group, then SIGKILL after the grace period.
async fn terminate(child: &mut tokio::process::Child, pid: Option<u32>) {
    let Some(pid) = pid.and_then(|p| i32::try_from(p).ok()) else {
        let _ = child.kill().await;
        return;
    };
    let _ = killpg(Pid::from_raw(pid), Signal::SIGTERM);
    if tokio::time::timeout(STOP_GRACE, child.wait())
        .await
        .is_err()
    {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
        let _ = child.wait().await;
    }
    // Anything left in the group (grandchildren) goes too.
    let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
}

/// Kill a process group left over from an earlier run (best effort).
pub(crate) fn kill_leftover(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = killpg(Pid::from_raw(pid), Signal::SIGKILL);
    }
}

async fn probe_health(spec: &ProcessSpec) -> bool {
    if spec.health_path.is_none()
        && let Some(command) = &spec.health_command
    {
        return run_health_command(spec, command).await;
    }
    let Some(port) = spec.port else { return true };
    let connect = tokio::net::TcpStream::connect(("127.0.0.1", port));
    let Ok(Ok(mut stream)) = tokio::time::timeout(Duration::from_secs(1), connect).await else {
        return false;
    };
    let Some(path) = &spec.health_path else {
        return true;
    };
    let request = format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    let exchange = async {
        stream.write_all(request.as_bytes()).await?;
        let mut head = [0u8; 12];
        stream.read_exact(&mut head).await?;
        Ok::<_, std::io::Error>(head)
    };
    match tokio::time::timeout(Duration::from_secs(2), exchange).await {
        Ok(Ok(head)) => head.starts_with(b"HTTP/1.1 2") || head.starts_with(b"HTTP/1.0 2"),
        _ => false,
    }
}

/// ECS semantics: `["CMD", prog, args...]` runs the program, `["CMD-SHELL", "line"]` runs
/// `sh -c line`; exit 0 within 5 seconds is healthy.
async fn run_health_command(spec: &ProcessSpec, command: &[String]) -> bool {
    let argv: Vec<String> = match command.split_first() {
        Some((first, rest)) if first == "CMD-SHELL" => {
            vec!["sh".into(), "-c".into(), rest.join(" ")]
        }
        Some((first, rest)) if first == "CMD" => rest.to_vec(),
        _ => command.to_vec(),
    };
    let Some((program, args)) = argv.split_first() else {
        return false;
    };
    let mut cmd = tokio::process::Command::new(program);
    cmd.args(args)
        .current_dir(&spec.working_dir)
        .env_clear()
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    for var in ["PATH", "HOME", "LANG"] {
        if let Ok(v) = std::env::var(var) {
            cmd.env(var, v);
        }
    }
    for (k, v) in &spec.env {
        cmd.env(k, v);
    }
    matches!(tokio::time::timeout(Duration::from_secs(5), cmd.status()).await, Ok(Ok(status)) if status.success())
}

async fn last_log_line(path: &std::path::Path) -> Option<String> {
    let text = tokio::fs::read(path).await.ok()?;
    let tail = &text[text.len().saturating_sub(4096)..];
    String::from_utf8_lossy(tail)
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .map(|l| l.chars().take(300).collect())
}
