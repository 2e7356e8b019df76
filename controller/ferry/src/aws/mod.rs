//! `ferry plan | apply | status` against Amazon ECS/ECR (or any ECS-compatible endpoint named
//! by `AWS_ENDPOINT_URL`): load the environment, observe it through `ferry-ecs`, diff, and
//! print (or apply) the plan. Printing lives in `show`; decisions stay in ferry-core.

mod show;

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use ferry_core::diff::diff;
use ferry_core::kinds::EnvironmentSpec;
use ferry_core::load::DesiredState;
use ferry_core::load_environment;
use ferry_core::plan::Plan;
use ferry_core::platform::{ApplyOptions, Observed, Platform, ResultCode};
use ferry_core::render::{Rendered, render};
use ferry_ecs::{AssumeRole, AwsSettings, EcsOptions, EcsPlatform, diagnose};

/// Output of `plan` and `status`.
#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Output {
    /// For people (colored on a terminal).
    Text,
    /// For tools.
    Json,
    /// For pull request comments (`plan` only): a compact table, drift marked.
    Markdown,
}

/// Where the manifests are and which environment.
#[derive(clap::Args, Debug)]
pub(crate) struct Target {
    /// The manifests folder.
    #[arg(long, default_value = "manifests")]
    manifests: PathBuf,
    /// The environment.
    #[arg(long)]
    env: String,
}

/// `ferry plan`.
#[derive(clap::Args, Debug)]
pub(crate) struct PlanArgs {
    #[command(flatten)]
    target: Target,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    output: Output,
    /// The manifests the change is compared with (e.g. the pull request's base branch): a
    /// change that this folder's plan has too is drift (live differs from git already), not
    /// something the change under review does. Marked in `-o markdown`.
    #[arg(long)]
    baseline: Option<PathBuf>,
}

/// `ferry apply`.
#[derive(clap::Args, Debug)]
pub(crate) struct ApplyArgs {
    #[command(flatten)]
    target: Target,
    /// Follow every rollout until it completes, fails or times out.
    #[arg(long)]
    wait: bool,
    /// How long to wait for rollouts (e.g. `10m`, `90s`).
    #[arg(long, default_value = "10m", value_parser = humantime::parse_duration)]
    timeout: Duration,
    /// Task definition revisions kept per family (older unused ones are deregistered).
    #[arg(long, default_value_t = 5)]
    keep_revisions: usize,
}

/// `ferry status`.
#[derive(clap::Args, Debug)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    target: Target,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "text")]
    output: Output,
}

struct Observation {
    desired: DesiredState,
    observed: Observed,
    rendered: Rendered,
    plan: Plan,
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn load(target: &Target) -> Result<DesiredState, ExitCode> {
    load_environment(&target.manifests, &target.env).map_err(|diags| {
        eprintln!("{diags}");
        eprintln!(
            "{} error(s) in environment `{}`",
            diags.0.len(),
            ferry_core::printable::escape(&target.env)
        );
        ExitCode::FAILURE
    })
}

/// How the commands reach AWS for `desired`'s environment.
fn settings(desired: &DesiredState) -> AwsSettings {
    environment_settings(&desired.environment.spec)
}

/// How Ferry reaches AWS for an environment: its account, its role (assumed from Ferry's own
/// credential chain) and its region (`spec.aws.region`, else `AWS_REGION`, else the older
/// `spec.region`).
pub(crate) fn environment_settings(spec: &EnvironmentSpec) -> AwsSettings {
    let aws = spec.aws.clone().unwrap_or_default();
    AwsSettings {
        region: aws
            .region
            .clone()
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| spec.region.clone()),
        account_id: spec.account_id().map(str::to_owned),
        role: aws.role_arn.map(|arn| AssumeRole {
            arn,
            external_id: aws.external_id,
            session_name: aws.role_session_name,
            duration: aws
                .duration_seconds
                .map(|s| Duration::from_secs(u64::from(s))),
        }),
        ..AwsSettings::default()
    }
}

/// Why `settings`' credentials may not be used (wrong account, role that cannot be assumed),
/// checked before anything is read.
pub(crate) async fn account_problem(settings: &AwsSettings) -> Option<anyhow::Error> {
    use ferry_ecs::EcsApi;
    let api = ferry_ecs::SdkApi::connect(settings).await;
    api.verify_account().await.err().map(anyhow::Error::new)
}

/// The platform of `desired`'s environment, its account checked: a refusal (wrong account,
/// role that cannot be assumed) is the error, and nothing was read or written.
async fn connect(desired: &DesiredState, options: EcsOptions) -> anyhow::Result<EcsPlatform> {
    let platform = EcsPlatform::connect(&settings(desired), options).await;
    platform
        .verify_account()
        .await
        .map_err(|e| anyhow::anyhow!("environment `{}`: {}", desired.env, e.message))?;
    Ok(platform)
}

/// The error of a failed call to AWS, as one line: when the credentials, the permissions, the
/// region or the endpoint are the cause, that cause and its fix (found by a diagnosis with the
/// same settings); else `what` with the first line of the platform's message, without the
/// SDK's Debug dump or any secret.
pub(crate) async fn explain(desired: &DesiredState, what: &str, message: &str) -> anyhow::Error {
    let cluster = desired.environment.spec.cluster.as_deref();
    let settings = settings(desired);
    // The diagnosis signs with Ferry's own chain: with an assumed role it would look at
    // another account than the environment's.
    let diagnosis = match settings.role {
        None => diagnose::diagnose(&settings, cluster).await,
        Some(_) => None,
    };
    match diagnosis {
        Some(problem) => anyhow::anyhow!("{problem}"),
        None => anyhow::anyhow!("{what}: {}", diagnose::scrub(message, &[])),
    }
}

async fn observe(platform: &EcsPlatform, desired: DesiredState) -> anyhow::Result<Observation> {
    let observed = match platform.observe(&desired).await {
        Ok(o) => o,
        Err(e) => {
            let what = format!("cannot observe environment `{}`", desired.env);
            return Err(explain(&desired, &what, &e.message).await);
        }
    };
    let rendered = render(&desired, &observed.digests);
    let plan = diff(&desired, &rendered, &observed.actual);
    Ok(Observation {
        desired,
        observed,
        rendered,
        plan,
    })
}

fn color() -> bool {
    std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
}

/// `ferry plan`: exit 0 = no changes, 2 = changes, 1 = error.
pub(crate) fn plan(args: &PlanArgs) -> anyhow::Result<ExitCode> {
    let desired = if args.output == Output::Markdown {
        match load_environment(&args.target.manifests, &args.target.env) {
            Ok(d) => d,
            Err(diags) => {
                print!(
                    "{}",
                    show::invalid_markdown(&args.target.env, &diags.to_string())
                );
                return Ok(ExitCode::FAILURE);
            }
        }
    } else {
        match load(&args.target) {
            Ok(d) => d,
            Err(code) => return Ok(code),
        }
    };
    // The baseline's environment, when it loads (a new environment has none).
    let baseline = args
        .baseline
        .as_deref()
        .and_then(|dir| load_environment(dir, &args.target.env).ok());
    let (o, drift) = runtime()?.block_on(async {
        let platform = connect(&desired, EcsOptions::default()).await?;
        let o = observe(&platform, desired).await?;
        let drift = match baseline {
            Some(base) => {
                let rendered = render(&base, &o.observed.digests);
                show::same_changes(&o.plan, &diff(&base, &rendered, &o.observed.actual))
            }
            None => Default::default(),
        };
        anyhow::Ok((o, drift))
    })?;
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&o.plan)?),
        Output::Text => print!("{}", show::plan(&o.plan, color())),
        Output::Markdown => print!("{}", show::plan_markdown(&o.plan, &drift)),
    }
    Ok(if o.plan.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(2)
    })
}

/// `ferry apply`: non-zero when any change or rollout failed.
pub(crate) fn apply(args: &ApplyArgs) -> anyhow::Result<ExitCode> {
    let desired = match load(&args.target) {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    let colored = color();
    runtime()?.block_on(async {
        let options = EcsOptions {
            keep_task_definitions: args.keep_revisions,
            ..EcsOptions::default()
        };
        let platform = connect(&desired, options)
            .await?
            .with_progress(Arc::new(|line: &str| eprintln!("  … {line}")));
        let o = observe(&platform, desired).await?;
        print!("{}", show::plan(&o.plan, colored));
        if o.plan.is_empty() {
            return Ok(ExitCode::SUCCESS);
        }
        let apply_options = ApplyOptions {
            wait: args.wait,
            timeout: args.timeout,
        };
        if args.wait {
            eprintln!(
                "applying, then following rollouts (up to {}s)...",
                args.timeout.as_secs()
            );
        }
        let results = platform
            .apply(&o.desired, &o.rendered, &o.plan, &apply_options)
            .await;
        print!("{}", show::results(&results, colored));
        let gc = platform.last_gc();
        for (family, arns) in &gc.deregistered {
            println!(
                "task definition GC: deregistered {} old revision(s) of {family}",
                arns.len()
            );
        }
        for e in &gc.errors {
            eprintln!("task definition GC: {e}");
        }
        let calls = platform.calls().snapshot();
        let line: Vec<String> = calls.iter().map(|(k, v)| format!("{k}={v}")).collect();
        eprintln!("API calls: {}", line.join(" "));
        let ok = results.iter().all(|r| r.code != ResultCode::Failed);
        Ok(if ok {
            ExitCode::SUCCESS
        } else {
            ExitCode::FAILURE
        })
    })
}

/// `ferry status`: per service sync and health, live vs desired revision, image digests.
pub(crate) fn status(args: &StatusArgs) -> anyhow::Result<ExitCode> {
    let desired = match load(&args.target) {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    let o = runtime()?.block_on(async {
        let platform = connect(&desired, EcsOptions::default()).await?;
        observe(&platform, desired).await
    })?;
    let rows = show::status_rows(&o.desired, &o.observed, &o.rendered, &o.plan);
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Output::Text | Output::Markdown => {
            print!("{}", show::status(&o.desired.env, &rows, color()))
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `ferry promote` / `ferry abort`.
#[derive(clap::Args, Debug)]
pub(crate) struct DeploymentArgs {
    #[command(flatten)]
    target: Target,
    /// The service whose blue/green, canary or linear deployment is in progress.
    service: String,
}

/// `ferry promote`: let a paused deployment go on; `ferry abort`: stop it and roll back.
pub(crate) fn deployment_action(
    args: &DeploymentArgs,
    action: ferry_core::platform::DeploymentAction,
) -> anyhow::Result<ExitCode> {
    use ferry_core::platform::Platform;
    let desired = match load(&args.target) {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    if !desired.services.contains_key(&args.service) {
        eprintln!(
            "no EcsService `{}` in environment `{}`",
            ferry_core::printable::escape(&args.service),
            desired.env
        );
        return Ok(ExitCode::FAILURE);
    }
    runtime()?.block_on(async {
        let platform = connect(&desired, EcsOptions::default()).await?;
        match platform
            .deployment_action(&desired, &args.service, action)
            .await
        {
            Ok(said) => {
                println!("{said}");
                Ok(ExitCode::SUCCESS)
            }
            Err(e) if e.transient => {
                let what = format!("cannot reach the deployment of `{}`", args.service);
                eprintln!("error: {:#}", explain(&desired, &what, &e.message).await);
                Ok(ExitCode::FAILURE)
            }
            Err(e) => {
                eprintln!("{}", diagnose::scrub(&e.message, &[]));
                Ok(ExitCode::FAILURE)
            }
        }
    })
}

/// `ferry rollback`.
#[derive(clap::Args, Debug)]
pub(crate) struct RollbackArgs {
    #[command(flatten)]
    target: Target,
    /// The revision to go back to (a full id or a prefix of at least 7 characters, from
    /// history); default: the last good revision before the current one, else (no history)
    /// the previous task definition revision of each service in ECS.
    #[arg(long)]
    to: Option<String>,
    /// Ferry's state folder (its history database is `history.db` inside).
    #[arg(long, default_value = ".ferry")]
    state_dir: PathBuf,
    /// The history database (default: a SQLite file in the state folder).
    #[arg(long, env = "FERRY_DATABASE_URL", hide_env_values = true)]
    database_url: Option<String>,
    /// How long to follow the rollback's rollouts (default: the environment's rolloutTimeout).
    #[arg(long, value_parser = humantime::parse_duration)]
    timeout: Option<Duration>,
}

/// `ferry rollback`: redeploy the task definitions of the last good revision (or the named
/// one), follow the rollouts, and record it so a `ferry run` on the same history starts with
/// automatic sync paused until the next git revision.
pub(crate) fn rollback(args: &RollbackArgs) -> anyhow::Result<ExitCode> {
    let desired = match load(&args.target) {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    runtime()?.block_on(rollback_async(args, desired))
}

async fn rollback_async(args: &RollbackArgs, desired: DesiredState) -> anyhow::Result<ExitCode> {
    use crate::run::history::History;
    use ferry_core::platform::{Rollout, RolloutOutcome};

    let env = desired.env.clone();
    let url = match &args.database_url {
        Some(u) => u.clone(),
        None => {
            std::fs::create_dir_all(&args.state_dir)
                .with_context(|| format!("cannot create {}", args.state_dir.display()))?;
            format!(
                "sqlite://{}?mode=rwc",
                args.state_dir.join("history.db").display()
            )
        }
    };
    let history = History::open(&url)
        .await
        .map_err(|e| anyhow::anyhow!("cannot open the history database: {e}"))?;
    let platform = connect(&desired, EcsOptions::default()).await?;
    let remembered = history.remembered(&env).await.unwrap_or_default();
    let except = remembered
        .failed
        .as_ref()
        .map(|(r, _, _)| r.clone())
        .or(remembered.applied.clone());
    let from_history = history
        .good_revision(&env, args.to.as_deref(), except.as_deref())
        .await
        .map_err(|e| anyhow::anyhow!("cannot read history: {e}"))?;
    let (revision, revisions) = match from_history {
        Some(good) => (good.revision, good.deployed),
        None if args.to.is_some() => {
            eprintln!(
                "no good sync of revision `{}` in the history of `{env}` ({url_shown})",
                args.to.as_deref().unwrap_or_default(),
                url_shown = crate::run::redacted_database(&url)
            );
            return Ok(ExitCode::FAILURE);
        }
        None => {
            // No history: each service's previous task definition revision in ECS.
            let observed = match platform.observe(&desired).await {
                Ok(o) => o,
                Err(e) => {
                    let what = format!("cannot observe environment `{env}`");
                    return Err(explain(&desired, &what, &e.message).await);
                }
            };
            let mut previous = std::collections::BTreeMap::new();
            for name in desired.services.keys() {
                let Some(live) = observed
                    .health
                    .get(name)
                    .and_then(|h| h.live_revision.clone())
                else {
                    continue;
                };
                if let Some(p) = previous_revision(&platform, &live).await? {
                    previous.insert(name.clone(), p);
                }
            }
            ("ecs-previous-revisions".to_owned(), previous)
        }
    };
    let revisions: std::collections::BTreeMap<String, String> = revisions
        .into_iter()
        .filter(|(name, _)| desired.services.contains_key(name))
        .collect();
    if revisions.is_empty() {
        eprintln!("nothing to roll back to in `{env}`: no earlier revision is known");
        return Ok(ExitCode::FAILURE);
    }
    println!("rolling back `{env}` to {revision}");
    let head = history
        .recent(&env, 1)
        .await
        .ok()
        .and_then(|r| r.into_iter().next())
        .and_then(|a| a.head);
    let started = std::time::Instant::now();
    let results = platform.redeploy(&desired, &revisions).await;
    let mut failed = Vec::new();
    for r in &results {
        println!("  {}: {}", r.key.name, r.message);
        if r.code == ResultCode::Failed {
            failed.push(format!("{}: {}", r.key.name, r.message));
        }
    }
    let mut pending: Vec<Rollout> = results.iter().filter_map(|r| r.rollout.clone()).collect();
    let timeout = args
        .timeout
        .unwrap_or_else(|| desired.environment.spec.rollout_timeout());
    let deadline = std::time::Instant::now() + timeout;
    while failed.is_empty() && !pending.is_empty() {
        if let Ok(healths) = platform.follow(&desired, &pending).await {
            pending.retain(|r| {
                let Some(h) = healths.get(&r.service) else {
                    return true;
                };
                match RolloutOutcome::judge(r, h) {
                    Some(RolloutOutcome::Completed) => {
                        println!("  {}: {}", r.service, h.message);
                        false
                    }
                    Some(o) => {
                        failed.push(format!("{}: {}: {}", r.service, o.as_str(), h.message));
                        false
                    }
                    None => true,
                }
            });
        }
        if pending.is_empty() {
            break;
        }
        if std::time::Instant::now() >= deadline {
            for r in pending.drain(..) {
                failed.push(format!(
                    "{}: RolloutTimedOut: not done within {}",
                    r.service,
                    humantime::format_duration(timeout)
                ));
            }
            break;
        }
        tokio::time::sleep(Duration::from_secs(5).min(deadline - std::time::Instant::now())).await;
    }
    let ok = failed.is_empty();
    let attempt =
        crate::run::rollback_attempt(&revision, head, &revisions, &failed, started.elapsed());
    if let Err(e) = history.record(&env, &attempt).await {
        eprintln!("warning: cannot record the rollback in history: {e}");
    }
    if ok {
        println!(
            "rolled back `{env}` to {revision}; a `ferry run` on this history keeps auto-sync paused until the next git revision (or POST /resume)"
        );
        Ok(ExitCode::SUCCESS)
    } else {
        eprintln!("the rollback did not complete:\n  {}", failed.join("\n  "));
        Ok(ExitCode::FAILURE)
    }
}

/// The newest ACTIVE revision of `live`'s family older than `live`.
async fn previous_revision(platform: &EcsPlatform, live: &str) -> anyhow::Result<Option<String>> {
    use ferry_ecs::EcsApi;
    let short = ferry_core::health::short_revision(live);
    let Some((family, n)) = short.rsplit_once(':') else {
        return Ok(None);
    };
    let Ok(n) = n.parse::<u64>() else {
        return Ok(None);
    };
    let arns = platform
        .api()
        .list_task_definitions(family)
        .await
        .with_context(|| format!("cannot list the revisions of {family}"))?;
    Ok(arns
        .into_iter()
        .filter_map(|a| {
            let (f, m) = ferry_core::health::short_revision(&a).rsplit_once(':')?;
            let m: u64 = m.parse().ok()?;
            (f == family && m < n).then_some((m, a))
        })
        .max_by_key(|(m, _)| *m)
        .map(|(_, a)| a))
}
