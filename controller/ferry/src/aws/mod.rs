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
use ferry_core::load::DesiredState;
use ferry_core::load_environment;
use ferry_core::plan::Plan;
use ferry_core::platform::{ApplyOptions, Observed, Platform, ResultCode};
use ferry_core::render::{Rendered, render};
use ferry_ecs::{AwsSettings, EcsOptions, EcsPlatform};

/// Output of `plan` and `status`.
#[derive(clap::ValueEnum, Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Output {
    /// For people (colored on a terminal).
    Text,
    /// For tools.
    Json,
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

async fn connect(desired: &DesiredState, options: EcsOptions) -> EcsPlatform {
    let settings = AwsSettings {
        region: std::env::var("AWS_REGION")
            .ok()
            .or_else(|| desired.environment.spec.region.clone()),
        ..AwsSettings::default()
    };
    EcsPlatform::connect(&settings, options).await
}

async fn observe(platform: &EcsPlatform, desired: DesiredState) -> anyhow::Result<Observation> {
    let observed = platform
        .observe(&desired)
        .await
        .with_context(|| format!("cannot observe environment `{}`", desired.env))?;
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
    let desired = match load(&args.target) {
        Ok(d) => d,
        Err(code) => return Ok(code),
    };
    let o = runtime()?.block_on(async {
        let platform = connect(&desired, EcsOptions::default()).await;
        observe(&platform, desired).await
    })?;
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&o.plan)?),
        Output::Text => print!("{}", show::plan(&o.plan, color())),
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
            .await
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
        let platform = connect(&desired, EcsOptions::default()).await;
        observe(&platform, desired).await
    })?;
    let rows = show::status_rows(&o.desired, &o.observed, &o.rendered, &o.plan);
    match args.output {
        Output::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
        Output::Text => print!("{}", show::status(&o.desired.env, &rows, color())),
    }
    Ok(ExitCode::SUCCESS)
}
