//! `ferry run`: the long-running controller. Wires a source (folder or git), one reconcile
//! loop per environment, the platforms, and the status server; shuts down cleanly on
//! SIGTERM/SIGINT (loops stop, local processes are stopped, exit 0).

pub(crate) mod history;
mod lease;
mod metrics;
mod notify;
mod reconcile;
mod replicas;
mod server;
mod source;
mod status;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod tests_progressive;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ferry_core::kinds::PlatformKind;
use ferry_core::load::DesiredState;
use ferry_core::plan::Plan;
use ferry_core::platform::{
    ApplyOptions, Observed, Platform, PlatformError, ResourceHealth, ResourceResult, Rollout,
};
use ferry_core::render::Rendered;
use ferry_ecs::pace::{Pace, PaceBook};
use ferry_ecs::{AwsSettings, EcsApi, EcsOptions, EcsPlatform, SdkApi};
use ferry_local::{LocalOptions, LocalPlatform};
use tokio::sync::{Notify, mpsc, watch};

use lease::{Fence, Fenced, Guard, LeaseSettings};
use reconcile::{Command, EnvLoop, LoopOptions};
use source::{GitSource, Revision};
use status::StatusSnapshot;

/// Options of `ferry run`.
#[derive(clap::Args, Debug)]
pub(crate) struct RunArgs {
    /// Watch a plain folder of manifests (revision = content hash).
    #[arg(long, conflicts_with = "repo")]
    manifests: Option<PathBuf>,
    /// Follow a git repository (URL or path), fetched with the git CLI.
    #[arg(long, required_unless_present = "manifests")]
    repo: Option<String>,
    /// Branch to follow.
    #[arg(long, default_value = "main")]
    branch: String,
    /// Manifests folder inside the repository.
    #[arg(long, default_value = "manifests")]
    path: String,
    /// Fetch interval.
    #[arg(long, default_value = "60s", value_parser = humantime::parse_duration)]
    interval: Duration,
    /// File holding an HTTPS token for a private repository (e.g. a GitHub token); git gets
    /// it through a credential helper, never in an argument or URL.
    #[arg(long, requires = "repo")]
    git_token_file: Option<PathBuf>,
    /// The user name sent with `--git-token-file` (GitHub accepts any).
    #[arg(long, default_value = "x-access-token", requires = "git_token_file")]
    git_username: String,
    /// Private key for an SSH repository URL (`git@host:o/r.git`, `ssh://...`).
    #[arg(long, requires = "repo")]
    git_ssh_key_file: Option<PathBuf>,
    /// Known hosts for SSH (host keys are always checked: an unknown host is an error).
    #[arg(long, requires = "repo")]
    git_known_hosts_file: Option<PathBuf>,
    /// Environments to run, comma separated (default: every environment found).
    #[arg(long, value_delimiter = ',')]
    env: Vec<String>,
    /// Status server address.
    #[arg(long, default_value = "127.0.0.1:9000")]
    listen: SocketAddr,
    /// How often to check for drift.
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    drift_interval: Duration,
    /// How often to refresh health between reconciles (ECS environments: at least every 30s).
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    health_interval: Duration,
    /// How often a rollout is polled while it is followed (one batched DescribeServices per
    /// 10 services rolling out).
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    rollout_poll_interval: Duration,
    /// Folder for snapshots, the git cache and local processes' data and logs.
    #[arg(long, default_value = ".ferry")]
    state_dir: PathBuf,
    /// Folder that local commands are relative to (default: the manifests folder's parent).
    #[arg(long)]
    base_dir: Option<PathBuf>,
    /// File holding the bearer token for `POST /sync`, `/rollback` and `/resume` (they are off
    /// without it). Without the file, the environment variable `FERRY_API_TOKEN` (e.g. an ECS
    /// task secret) gives it.
    #[arg(long)]
    api_token_file: Option<PathBuf>,
    /// File holding a token that the status page, `/status` and `/metrics` require (bearer, or
    /// the password of HTTP Basic authentication); they are open without it. For a Ferry
    /// reachable without an authenticating load balancer in front of it. Without the file,
    /// `FERRY_AUTH_TOKEN` gives it.
    #[arg(long)]
    auth_token_file: Option<PathBuf>,
    /// File holding the GitHub webhook secret (the webhook is off without it). Without the file,
    /// `FERRY_WEBHOOK_SECRET` gives it.
    #[arg(long)]
    webhook_secret_file: Option<PathBuf>,
    /// Notification settings (YAML): webhooks told about failed syncs, rollbacks, stalled or
    /// degraded environments, drift and recoveries (see the README).
    #[arg(long)]
    notify_config: Option<PathBuf>,
    /// Where sync history is kept (default: a SQLite file in the state folder). On
    /// PostgreSQL, several `ferry run` replicas share the environments through leases; the
    /// password may come from FERRY_DATABASE_PASSWORD instead of the URL, and a database that
    /// does not exist yet is created.
    #[arg(long, env = "FERRY_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// This replica's name among replicas on one PostgreSQL history database (shown as the
    /// owner of the environments it reconciles). Default: `<hostname>-<pid>`.
    #[arg(long, env = "FERRY_REPLICA_ID")]
    replica_id: Option<String>,
    /// How long an environment's lease lasts without renewal (PostgreSQL history): a dead
    /// replica's environments are taken over after about this long. The holder itself stops
    /// writing a third of it earlier.
    #[arg(long, default_value = "6s", value_parser = humantime::parse_duration)]
    lease_duration: Duration,
    /// How often leases are renewed and the split of environments between replicas revisited.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    lease_renew_interval: Duration,
    /// How long a replica that starts (or comes back after its heartbeat lapsed) waits before
    /// taking environments, so replicas starting together split them without churn.
    #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
    lease_join_delay: Duration,
    /// How long before they expire an environment's assumed credentials (spec.aws.roleArn)
    /// are renewed (and their account checked again).
    #[arg(long, default_value = "5m", value_parser = humantime::parse_duration)]
    credentials_renew_before: Duration,
}

/// Makes the ECS platform of an account and region, paced with the pace given (the SDK's by
/// default; tests give the fake's).
pub(crate) type EcsConnector<A> = Box<
    dyn Fn(AwsSettings, Arc<Pace>) -> Pin<Box<dyn Future<Output = Arc<EcsPlatform<A>>> + Send>>
        + Send
        + Sync,
>;

/// The platforms of this process: local processes, and ECS/ECR clients per account, role and
/// region (made on first use from the default AWS credential chain, the role assumed from it;
/// `AWS_ENDPOINT_URL` points them elsewhere), paced per account and region.
pub(crate) struct Platforms<A: EcsApi = SdkApi> {
    local: LocalPlatform,
    ecs: tokio::sync::Mutex<BTreeMap<Connection, Arc<EcsPlatform<A>>>>,
    connect: EcsConnector<A>,
    paces: PaceBook,
    /// Renew assumed credentials this long before they expire.
    renew_before: Duration,
}

/// What makes two environments share their ECS clients and credentials: the same region,
/// account and role (with its external ID, session name and duration).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Connection {
    region: String,
    account: Option<String>,
    role: Option<ferry_ecs::AssumeRole>,
}

/// The SDK's ECS platform, as `ferry run` uses it.
fn sdk_connector() -> EcsConnector<SdkApi> {
    Box::new(|settings, pace| {
        Box::pin(async move {
            Arc::new(
                EcsPlatform::connect(&settings, EcsOptions::default())
                    .await
                    .with_pace(pace),
            )
        })
    })
}

impl<A: EcsApi> Platforms<A> {
    /// Cumulative AWS calls per (region, API) so far, every account together.
    pub(crate) fn ecs_calls(&self) -> Vec<(String, String, u64)> {
        let Ok(clients) = self.ecs.try_lock() else {
            return Vec::new();
        };
        let mut sums: BTreeMap<(String, String), u64> = BTreeMap::new();
        for (connection, p) in clients.iter() {
            for (api, n) in p.calls().snapshot() {
                *sums
                    .entry((connection.region.clone(), api.to_owned()))
                    .or_default() += n;
            }
        }
        sums.into_iter()
            .map(|((region, api), n)| (region, api, n))
            .collect()
    }

    async fn ecs(&self, desired: &DesiredState) -> Arc<EcsPlatform<A>> {
        let mut settings = crate::aws::environment_settings(&desired.environment.spec);
        settings.renew_before = self.renew_before;
        let key = Connection {
            region: settings.region.clone().unwrap_or_default(),
            account: settings.account_id.clone(),
            role: settings.role.clone(),
        };
        let mut clients = self.ecs.lock().await;
        if let Some(p) = clients.get(&key) {
            return p.clone();
        }
        let pace = self
            .paces
            .pace(key.account.as_deref().unwrap_or_default(), &key.region);
        let platform = (self.connect)(settings, pace).await;
        clients.insert(key, platform.clone());
        platform
    }
}

impl<A: EcsApi> Platform for Platforms<A> {
    async fn observe(&self, desired: &DesiredState) -> Result<Observed, PlatformError> {
        match desired.environment.spec.platform {
            PlatformKind::Local => self.local.observe(desired).await,
            PlatformKind::Ecs => self.ecs(desired).await.observe(desired).await,
        }
    }

    async fn apply(
        &self,
        desired: &DesiredState,
        rendered: &Rendered,
        plan: &Plan,
        options: &ApplyOptions,
    ) -> Vec<ResourceResult> {
        match desired.environment.spec.platform {
            PlatformKind::Local => self.local.apply(desired, rendered, plan, options).await,
            PlatformKind::Ecs => {
                self.ecs(desired)
                    .await
                    .apply(desired, rendered, plan, options)
                    .await
            }
        }
    }

    async fn follow(
        &self,
        desired: &DesiredState,
        rollouts: &[Rollout],
    ) -> Result<BTreeMap<String, ResourceHealth>, PlatformError> {
        match desired.environment.spec.platform {
            PlatformKind::Local => self.local.follow(desired, rollouts).await,
            PlatformKind::Ecs => self.ecs(desired).await.follow(desired, rollouts).await,
        }
    }

    async fn redeploy(
        &self,
        desired: &DesiredState,
        revisions: &BTreeMap<String, String>,
    ) -> Vec<ResourceResult> {
        match desired.environment.spec.platform {
            PlatformKind::Local => self.local.redeploy(desired, revisions).await,
            PlatformKind::Ecs => self.ecs(desired).await.redeploy(desired, revisions).await,
        }
    }

    async fn deployment_action(
        &self,
        desired: &DesiredState,
        service: &str,
        action: ferry_core::platform::DeploymentAction,
    ) -> Result<String, PlatformError> {
        match desired.environment.spec.platform {
            PlatformKind::Local => self.local.deployment_action(desired, service, action).await,
            PlatformKind::Ecs => {
                self.ecs(desired)
                    .await
                    .deployment_action(desired, service, action)
                    .await
            }
        }
    }
}

/// A rollback done by `ferry rollback` (the CLI), as a history row: `ferry run` on the same
/// history starts with automatic sync paused until a revision other than `head` arrives.
pub(crate) fn rollback_attempt(
    revision: &str,
    head: Option<String>,
    revisions: &BTreeMap<String, String>,
    errors: &[String],
    took: Duration,
) -> status::SyncAttempt {
    status::SyncAttempt {
        revision: revision.to_owned(),
        trigger: "rollback".into(),
        started: reconcile::now_rfc3339(),
        duration_ms: u64::try_from(took.as_millis()).unwrap_or(u64::MAX),
        result: if errors.is_empty() {
            "Succeeded".into()
        } else {
            "Failed".into()
        },
        reason: (!errors.is_empty()).then(|| "RollbackFailed".into()),
        changes: revisions
            .iter()
            .map(|(n, r)| {
                format!(
                    "rollback EcsService/{n} to {}",
                    ferry_core::health::short_revision(r)
                )
            })
            .collect(),
        errors: errors.to_vec(),
        deployed: if errors.is_empty() {
            revisions.clone()
        } else {
            BTreeMap::new()
        },
        head,
        row: None,
    }
}

/// A database URL without its password, safe to print.
pub(crate) fn redacted_database(url: &str) -> String {
    source::redact_url(url)
}

/// Exponential backoff with jitter: ~1s, 2s, 4s ... up to 5 minutes.
pub(crate) fn backoff(failures: u32) -> Duration {
    let base = Duration::from_secs(1)
        .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(9)));
    let capped = base.min(Duration::from_secs(300));
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    // ±20% jitter so many environments do not retry in lockstep.
    let jitter = f64::from(nanos % 1000) / 1000.0 * 0.4 - 0.2;
    capped.mul_f64(1.0 + jitter)
}

fn read_secret(path: &Path) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let secret = text.trim().to_owned();
    anyhow::ensure!(!secret.is_empty(), "{} is empty", path.display());
    Ok(secret)
}

/// A secret from its file when one is given, else from the environment variable `var` (unset
/// or blank: none). The value is never logged.
fn secret_from(file: Option<&Path>, var: &str) -> anyhow::Result<Option<String>> {
    if let Some(file) = file {
        return read_secret(file).map(Some);
    }
    Ok(std::env::var(var)
        .ok()
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty()))
}

/// The credentials of a private repository, checked before anything starts (each file must be
/// readable; the token file must not be empty).
fn git_auth(args: &RunArgs) -> anyhow::Result<source::GitAuth> {
    if let Some(file) = &args.git_token_file {
        read_secret(file)?;
    }
    for file in [&args.git_ssh_key_file, &args.git_known_hosts_file]
        .into_iter()
        .flatten()
    {
        std::fs::metadata(file).with_context(|| format!("cannot read {}", file.display()))?;
    }
    let absolute = |p: &Option<PathBuf>| p.as_deref().map(std::path::absolute).transpose();
    Ok(source::GitAuth {
        token_file: absolute(&args.git_token_file)?,
        username: args.git_username.clone(),
        ssh_key_file: absolute(&args.git_ssh_key_file)?,
        known_hosts_file: absolute(&args.git_known_hosts_file)?,
    })
}

/// Run the controller until SIGTERM/SIGINT.
pub(crate) async fn run(args: RunArgs) -> anyhow::Result<()> {
    run_with(args, sdk_connector(), shutdown_signal()).await
}

/// Run the controller on the ECS platforms `connect` makes, until `shutdown` completes.
pub(crate) async fn run_with<A: EcsApi>(
    args: RunArgs,
    connect: EcsConnector<A>,
    shutdown: impl Future<Output = ()> + Send,
) -> anyhow::Result<()> {
    tokio::pin!(shutdown);
    std::fs::create_dir_all(&args.state_dir)
        .with_context(|| format!("cannot create {}", args.state_dir.display()))?;
    let state_dir = args.state_dir.canonicalize()?;
    let snapshots = state_dir.join("revisions");
    std::fs::create_dir_all(&snapshots)?;
    let api_token = secret_from(args.api_token_file.as_deref(), "FERRY_API_TOKEN")?;
    let read_token = secret_from(args.auth_token_file.as_deref(), "FERRY_AUTH_TOKEN")?;
    let webhook_secret = secret_from(args.webhook_secret_file.as_deref(), "FERRY_WEBHOOK_SECRET")?
        .map(String::into_bytes);

    let webhooks = args
        .notify_config
        .as_deref()
        .map(notify::load)
        .transpose()?
        .unwrap_or_default();

    let history_url = args.database_url.clone().unwrap_or_else(|| {
        format!(
            "sqlite://{}?mode=rwc",
            state_dir.join("history.db").display()
        )
    });
    let history = history::History::open(&history_url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the history database: {e}"))?;
    let replica_id = args.replica_id.clone().unwrap_or_else(default_replica_id);
    anyhow::ensure!(
        !replica_id.is_empty()
            && replica_id.len() <= 128
            && replica_id
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.:".contains(c)),
        "--replica-id must be 1 to 128 letters, digits, `-`, `_`, `.` or `:`"
    );
    let fence = Fence::new(&replica_id);
    // On PostgreSQL, replicas share the environments through leases; each writes history
    // only under the lease of the environment.
    let leases = if history.shared() {
        let settings = LeaseSettings {
            duration: args.lease_duration,
            renew_every: args.lease_renew_interval,
            join_delay: args.lease_join_delay,
        };
        settings.check().map_err(anyhow::Error::msg)?;
        let mut options = sea_orm::ConnectOptions::new(history_url.clone());
        options
            .max_connections(2)
            .min_connections(1)
            .acquire_timeout(settings.renew_every * 2)
            .sqlx_logging(false);
        let db = sea_orm::Database::connect(options)
            .await
            .map_err(|e| anyhow::anyhow!("cannot open the history database: {e}"))?;
        tracing::info!(replica = %replica_id, "replica on a shared history database: environments are split through leases");
        Some(lease::LeaseTable {
            db,
            me: replica_id.clone(),
            settings,
        })
    } else {
        None
    };
    let history = if leases.is_some() {
        history.fenced(fence.clone())
    } else {
        history
    };
    let (history_tx, history_rx) =
        tokio::sync::mpsc::unbounded_channel::<(String, status::SyncAttempt)>();
    // Told to finish once the loops have stopped: it then stores what is queued and ends,
    // without waiting for every sender to go (the loop kit, the notifier... keep theirs).
    let (writer_done, writer_done_rx) = tokio::sync::oneshot::channel::<()>();
    let writer = tokio::spawn(write_history(history.clone(), history_rx, writer_done_rx));

    let (revisions_tx, mut revisions_rx) = watch::channel::<Option<Revision>>(None);
    let (status_tx, status_rx) = watch::channel(StatusSnapshot::default());
    let fetch_now = Arc::new(Notify::new());
    let base_dir;
    let source_task = match (&args.manifests, &args.repo) {
        (Some(dir), _) => {
            let dir = dir
                .canonicalize()
                .with_context(|| format!("no manifests folder {}", dir.display()))?;
            base_dir = args
                .base_dir
                .clone()
                .unwrap_or_else(|| dir.parent().map_or_else(|| dir.clone(), Path::to_path_buf));
            status_tx.send_modify(|s| s.source = dir.display().to_string());
            tokio::spawn(source::watch_folder(
                dir,
                snapshots,
                revisions_tx,
                status_tx.clone(),
            ))
        }
        (None, Some(repo)) => {
            base_dir = args.base_dir.clone().unwrap_or(std::env::current_dir()?);
            status_tx.send_modify(|s| {
                s.source = format!(
                    "{} ({}:{})",
                    source::redact_url(repo),
                    args.branch,
                    args.path
                )
            });
            let git = GitSource {
                url: repo.clone(),
                branch: args.branch.clone(),
                path: args.path.clone(),
                interval: args.interval,
                auth: git_auth(&args)?,
            };
            tokio::spawn(source::follow_git(
                git,
                state_dir.join("git-cache"),
                snapshots,
                fetch_now.clone(),
                revisions_tx,
                status_tx.clone(),
            ))
        }
        (None, None) => anyhow::bail!("give --manifests DIR or --repo URL"),
    };

    let platforms = Arc::new(Platforms {
        local: LocalPlatform::new(LocalOptions {
            base_dir,
            state_dir: state_dir.join("local"),
        }),
        ecs: tokio::sync::Mutex::new(BTreeMap::new()),
        connect,
        paces: PaceBook::default(),
        renew_before: args.credentials_renew_before,
    });
    let metrics = Arc::new(metrics::Metrics::default());
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let commands = server::Loops::default();
    if !webhooks.is_empty() {
        notify::spawn(
            webhooks,
            status_rx.clone(),
            status_tx.clone(),
            metrics.clone(),
            history_tx.clone(),
        );
    }

    // The status server answers from the start: a source that cannot be read (wrong
    // credentials...) shows as `sourceError` before any revision exists.
    let server_state = server::ServerState {
        status: status_rx,
        metrics: metrics.clone(),
        commands: commands.clone(),
        history: history.clone(),
        api_token,
        read_token,
        webhook_secret,
        fetch_now: args.repo.is_some().then(|| fetch_now.clone()),
        replicas: leases.clone(),
        ecs_calls: {
            let platforms = platforms.clone();
            Arc::new(move || platforms.ecs_calls())
        },
    };
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let listen_address = listener.local_addr()?.to_string();
    tracing::info!("status server on http://{listen_address}");
    let mut server_shutdown = shutdown_tx.subscribe();
    let server = tokio::spawn(async move {
        let _ = axum::serve(listener, server::router(server_state))
            .with_graceful_shutdown(async move {
                let _ = server_shutdown.changed().await;
            })
            .await;
    });

    // The environments: as asked, or every one in the first revision.
    let first = loop {
        if let Some(rev) = revisions_rx.borrow_and_update().clone() {
            break rev;
        }
        tokio::select! {
            changed = revisions_rx.changed() => changed.context("the source stopped before producing a revision")?,
            () = &mut shutdown => {
                let _ = shutdown_tx.send(true);
                source_task.abort();
                let _ = server.await;
                return Ok(());
            }
        }
    };
    let envs = if args.env.is_empty() {
        let found = ferry_core::discover(&first.root).map_err(|d| anyhow::anyhow!("{d}"))?;
        // With no loadable environment, the broken files are the reason: point at them.
        anyhow::ensure!(
            !found.environments.is_empty(),
            "{}",
            if found.problems.is_empty() {
                format!(
                    "no environment found in {} (a folder with a kind: Environment document)",
                    ferry_core::printable::escape(&first.root.display().to_string())
                )
            } else {
                format!(
                    "no environment could be read from {}:\n{}",
                    ferry_core::printable::escape(&first.root.display().to_string()),
                    ferry_core::Diagnostics(found.problems)
                )
            }
        );
        found.environments
    } else {
        args.env.clone()
    };
    tracing::info!(?envs, revision = %first.id, "starting reconcile loops");

    let kit = Arc::new(LoopKit {
        platforms: platforms.clone(),
        options: LoopOptions {
            drift_interval: args.drift_interval,
            health_interval: args.health_interval,
            rollout_poll: args.rollout_poll_interval,
        },
        revisions: revisions_rx.clone(),
        status: status_tx.clone(),
        shutdown: shutdown_rx.clone(),
        metrics: metrics.clone(),
        history_tx: history_tx.clone(),
        history: history.clone(),
        commands: commands.clone(),
        replica: replica_id.clone(),
    });
    let mut loops = Vec::new();
    let mut coordinator = None;
    match &leases {
        // One process owns every environment (SQLite): today's behaviour.
        None => {
            for env in &envs {
                loops.push(kit.clone().start(env.clone(), None).await);
            }
        }
        Some(table) => {
            let kit = kit.clone();
            let start: replicas::StartLoop =
                Arc::new(move |env, guard| Box::pin(kit.clone().start(env, Some(guard))));
            let stop_platforms = platforms.clone();
            let stop: replicas::StopEnv = Arc::new(move |env| {
                let platforms = stop_platforms.clone();
                Box::pin(async move { platforms.local.stop_environment(&env).await })
            });
            coordinator = Some(tokio::spawn(
                replicas::Coordinator {
                    table: table.clone(),
                    address: listen_address.clone(),
                    envs: envs.clone(),
                    start,
                    stop,
                    history: history.clone(),
                    fence: fence.clone(),
                    status: status_tx.clone(),
                    shutdown: shutdown_rx.clone(),
                    commands: commands.clone(),
                    fetch_now: args.repo.is_some().then(|| fetch_now.clone()),
                    metrics: metrics.clone(),
                }
                .run(),
            ));
        }
    }

    shutdown.await;
    tracing::info!("shutting down: stopping loops and local processes");
    let _ = shutdown_tx.send(true);
    source_task.abort();
    for l in loops {
        let _ = tokio::time::timeout(Duration::from_secs(30), l).await;
    }
    // The coordinator waits for its loops, stops their local processes, then hands the
    // leases back so other replicas take over at once.
    if let Some(c) = coordinator {
        let _ = tokio::time::timeout(Duration::from_secs(40), c).await;
    }
    platforms.local.shutdown().await;
    drop(history_tx);
    let _ = writer_done.send(());
    let _ = tokio::time::timeout(Duration::from_secs(10), writer).await;
    let _ = server.await;
    tracing::info!("stopped");
    Ok(())
}

/// Store finished sync attempts as they come, until every sender is gone or `done` fires
/// (shutdown, after the loops stopped): then what is already queued is stored and it ends.
async fn write_history(
    history: history::History,
    mut attempts: mpsc::UnboundedReceiver<(String, status::SyncAttempt)>,
    mut done: tokio::sync::oneshot::Receiver<()>,
) {
    let mut closing = false;
    loop {
        let next = tokio::select! {
            next = attempts.recv() => next,
            _ = &mut done, if !closing => {
                // No more sends; `recv` yields what is queued, then `None`.
                closing = true;
                attempts.close();
                continue;
            }
        };
        let Some((env, attempt)) = next else {
            return;
        };
        if let Err(e) = history.record(&env, &attempt).await {
            tracing::warn!(error = %e, env = %env, "cannot record a sync attempt");
        }
    }
}

/// What starting an environment's reconcile loop needs (the same for every environment).
struct LoopKit<A: EcsApi> {
    platforms: Arc<Platforms<A>>,
    options: LoopOptions,
    revisions: watch::Receiver<Option<Revision>>,
    status: watch::Sender<StatusSnapshot>,
    shutdown: watch::Receiver<bool>,
    metrics: Arc<metrics::Metrics>,
    history_tx: mpsc::UnboundedSender<(String, status::SyncAttempt)>,
    history: history::History,
    commands: server::Loops,
    replica: String,
}

impl<A: EcsApi> LoopKit<A> {
    /// Start `env`'s loop, reading what history says about it first (a replica taking an
    /// environment over learns what its previous owner applied, held back or paused). With a
    /// lease `guard`, the loop ends when the guard does, wherever it is (the platform also
    /// refuses writes once it has), and this replica's local processes of `env` are stopped
    /// so the new owner can start its own.
    async fn start(
        self: Arc<Self>,
        env: String,
        guard: Option<Guard>,
    ) -> tokio::task::JoinHandle<()> {
        let (commands_tx, commands_rx) = mpsc::unbounded_channel::<Command>();
        if let Ok(mut c) = self.commands.write() {
            c.insert(env.clone(), commands_tx.clone());
        }
        // What ran before a restart (or under the previous owner).
        let past = self.history.recent(&env, 50).await.unwrap_or_default();
        let remembered = self.history.remembered(&env).await.unwrap_or_default();
        self.status.send_modify(|s| {
            let e = s.environments.entry(env.clone()).or_default();
            e.history = past;
            e.last_applied_revision.clone_from(&remembered.applied);
            e.owner = Some(self.replica.clone());
        });
        let env_loop = EnvLoop {
            env: env.clone(),
            platform: Arc::new(Fenced {
                inner: self.platforms.clone(),
                guard: guard.clone(),
            }),
            options: self.options.clone(),
            revisions: self.revisions.clone(),
            commands: commands_rx,
            status: self.status.clone(),
            shutdown: self.shutdown.clone(),
            metrics: self.metrics.clone(),
            history: self.history_tx.clone(),
            journal: self.history.clone(),
            remembered,
        };
        tokio::spawn(async move {
            let Some(guard) = guard else {
                return env_loop.run().await;
            };
            // Biased: each time the task wakes (a SIGSTOPped process too), the guard is
            // checked before the loop may take another step.
            let ended = tokio::select! {
                biased;
                () = guard.ended() => true,
                () = env_loop.run() => false,
            };
            if ended {
                tracing::warn!(env = %env, epoch = guard.epoch(), "lease ended: this replica stopped reconciling the environment");
                if let Ok(mut c) = self.commands.write()
                    && c.get(&env).is_some_and(|tx| tx.same_channel(&commands_tx))
                {
                    c.remove(&env);
                }
                self.platforms.local.stop_environment(&env).await;
                self.status.send_modify(|s| {
                    if let Some(e) = s.environments.get_mut(&env)
                        && e.owner.as_deref() == Some(self.replica.as_str())
                    {
                        e.owner = None;
                    }
                });
            }
        })
    }
}

/// This replica's default name: `<hostname>-<pid>`.
fn default_replica_id() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_owned())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "ferry".into());
    format!("{host}-{}", std::process::id())
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {},
        () = term => {},
    }
}

#[cfg(test)]
mod connection_tests {
    use super::*;
    use ferry_ecs::fake::FakeEcs;

    /// What the connector was asked for.
    type Connected = (AwsSettings, Arc<Pace>);

    fn environment(root: &Path, name: &str, aws: &str) -> DesiredState {
        let dir = root.join(name);
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(
            dir.join("environment.yaml"),
            format!(
                "apiVersion: ferry.dev/v1alpha1\nkind: Environment\nmetadata:\n  name: {name}\nspec:\n  aws: {aws}\n  cluster: c\n"
            ),
        )
        .expect("write");
        ferry_core::load_environment(root, name).unwrap_or_else(|d| panic!("{d}"))
    }

    #[tokio::test]
    async fn environments_share_clients_per_role_and_pacing_per_account_and_region() {
        let dir = tempfile::tempdir().expect("tmp");
        let made: Arc<std::sync::Mutex<Vec<Connected>>> = Arc::default();
        let seen = made.clone();
        let connect: EcsConnector<FakeEcs> = Box::new(move |settings, pace| {
            if let Ok(mut m) = seen.lock() {
                m.push((settings, pace));
            }
            Box::pin(async {
                Arc::new(EcsPlatform::new(
                    FakeEcs::new(&["c"], 1),
                    EcsOptions::default(),
                ))
            })
        });
        let platforms = Platforms {
            local: LocalPlatform::new(LocalOptions {
                base_dir: dir.path().to_path_buf(),
                state_dir: dir.path().join("state"),
            }),
            ecs: tokio::sync::Mutex::new(BTreeMap::new()),
            connect,
            paces: PaceBook::default(),
            renew_before: Duration::from_secs(60),
        };
        let role = |account: &str, name: &str| format!("arn:aws:iam::{account}:role/{name}");
        let a1 = environment(
            dir.path(),
            "a1",
            &format!(
                "{{ region: us-east-1, roleArn: {} }}",
                role("111111111111", "deploy")
            ),
        );
        let a2 = environment(
            dir.path(),
            "a2",
            &format!(
                "{{ region: us-east-1, roleArn: {} }}",
                role("111111111111", "deploy")
            ),
        );
        let a3 = environment(
            dir.path(),
            "a3",
            &format!(
                "{{ region: us-east-1, roleArn: {} }}",
                role("111111111111", "other")
            ),
        );
        let b = environment(
            dir.path(),
            "b",
            &format!(
                "{{ region: us-east-1, roleArn: {} }}",
                role("222222222222", "deploy")
            ),
        );
        let a_west = environment(
            dir.path(),
            "aw",
            &format!(
                "{{ region: eu-west-1, roleArn: {} }}",
                role("111111111111", "deploy")
            ),
        );
        let p1 = platforms.ecs(&a1).await;
        let p2 = platforms.ecs(&a2).await;
        assert!(Arc::ptr_eq(&p1, &p2), "one role, one set of clients");
        platforms.ecs(&a3).await;
        platforms.ecs(&b).await;
        platforms.ecs(&a_west).await;
        let made = made.lock().expect("lock").clone();
        assert_eq!(made.len(), 4, "a1 and a2 share; a3, b and aw each connect");
        let (s1, pace_a) = &made[0];
        assert_eq!(s1.account_id.as_deref(), Some("111111111111"));
        assert_eq!(s1.region.as_deref(), Some("us-east-1"));
        assert_eq!(s1.renew_before, Duration::from_secs(60));
        assert_eq!(
            s1.role.as_ref().map(|r| r.arn.as_str()),
            Some(role("111111111111", "deploy").as_str())
        );
        let (_, pace_a3) = &made[1];
        let (_, pace_b) = &made[2];
        let (_, pace_west) = &made[3];
        assert!(
            Arc::ptr_eq(pace_a, pace_a3),
            "one account and region: one pace"
        );
        assert!(
            !Arc::ptr_eq(pace_a, pace_b),
            "another account: its own pace"
        );
        assert!(
            !Arc::ptr_eq(pace_a, pace_west),
            "another region: its own pace"
        );
    }
}
