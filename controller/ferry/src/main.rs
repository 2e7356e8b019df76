//! The `ferry` binary: `validate`, `render` and `schema` over a manifests folder.
//! Thin: parsing arguments and printing; the work is in `ferry-core`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use ferry_core::kinds::{EcrRepository, EcsService, Environment};
use ferry_core::printable::escape;
use ferry_core::render::{Digests, render};
use ferry_core::{discover, load_environment};
use kube_schema::Schemas;

mod aws;
mod import;
mod kube_schema;
mod run;

/// Ferry: GitOps for Amazon ECS.
#[derive(Parser)]
#[command(name = "ferry", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Check manifests: every error with file:line, exit 1 when there is any.
    Validate {
        /// The manifests folder.
        #[arg(long, default_value = "manifests")]
        manifests: PathBuf,
        /// One environment (default: every folder with an Environment).
        #[arg(long)]
        env: Option<String>,
    },
    /// Print the exact ECS/ECR API inputs for an environment (`--cli-input-json` shapes).
    Render {
        /// The manifests folder.
        #[arg(long, default_value = "manifests")]
        manifests: PathBuf,
        /// The environment.
        #[arg(long)]
        env: String,
        /// Output format.
        #[arg(short, long, value_enum, default_value = "json")]
        output: Format,
    },
    /// Show what apply would change on ECS/ECR, field by field (exit 0 = none, 2 = changes).
    Plan(aws::PlanArgs),
    /// Apply the plan to ECS/ECR (exit non-zero when a change or rollout failed).
    Apply(aws::ApplyArgs),
    /// Per service: sync, health, live vs desired revision, image digests.
    Status(aws::StatusArgs),
    /// Redeploy the task definitions of the last good revision (or `--to`), follow the
    /// rollouts, and pause `ferry run`'s automatic sync of the environment until the next
    /// git revision.
    Rollback(aws::RollbackArgs),
    /// Let a paused blue/green, canary or linear deployment go on (ECS ContinueServiceDeployment).
    Promote(aws::DeploymentArgs),
    /// Stop a blue/green, canary or linear deployment in progress and roll it back.
    Abort(aws::DeploymentArgs),
    /// Write manifests for services that already run: from a live cluster (`--cluster`), or
    /// offline from ECS's JSON (`--task-definition`, `--service-definition`).
    Import(import::ImportArgs),
    /// Run the GitOps controller: watch a folder or follow a git branch, reconcile every
    /// environment, serve status.
    Run(Box<run::RunArgs>),
    /// Probe a running controller's `/healthz` (a container HEALTHCHECK without curl).
    CheckHealth {
        /// The status server address.
        #[arg(long, default_value = "127.0.0.1:9000")]
        listen: std::net::SocketAddr,
    },
    /// Write CRDs and JSON Schemas of the kinds (for editors and kubeconform).
    Schema {
        /// Folder to write into (stdout when absent).
        #[arg(long)]
        out_dir: Option<PathBuf>,
        /// Output format on stdout.
        #[arg(short, long, value_enum, default_value = "yaml")]
        output: Format,
    },
}

#[derive(ValueEnum, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Yaml,
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Run(args) => {
            init_tracing();
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()?;
            runtime.block_on(run::run(*args))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Plan(args) => aws::plan(&args),
        Command::Import(args) => import::run(&args),
        Command::Apply(args) => aws::apply(&args),
        Command::Status(args) => aws::status(&args),
        Command::Rollback(args) => aws::rollback(&args),
        Command::Promote(args) => {
            aws::deployment_action(&args, ferry_core::platform::DeploymentAction::Promote)
        }
        Command::Abort(args) => {
            aws::deployment_action(&args, ferry_core::platform::DeploymentAction::Abort)
        }
        Command::Validate { manifests, env } => validate(&manifests, env.as_deref()),
        Command::Render {
            manifests,
            env,
            output,
        } => {
            let state = match load_environment(&manifests, &env) {
                Ok(s) => s,
                Err(diags) => {
                    eprintln!("{diags}");
                    eprintln!(
                        "{} error(s) in environment `{}`",
                        diags.0.len(),
                        escape(&env)
                    );
                    return Ok(ExitCode::FAILURE);
                }
            };
            print(&render(&state, &Digests::new()), output)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::CheckHealth { listen } => Ok(check_health(listen)),
        Command::Schema { out_dir, output } => {
            let schemas = Schemas::build::<Environment, EcsService, EcrRepository>();
            match out_dir {
                Some(dir) => {
                    let written = schemas.write_to(&dir)?;
                    for path in written {
                        println!("wrote {}", path.display());
                    }
                }
                None => match output {
                    Format::Yaml => print!("{}", schemas.crds_yaml()?),
                    Format::Json => println!("{}", serde_json::to_string_pretty(&schemas.crds)?),
                },
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// `ferry check-health`: the container probe, shared with the services.
fn check_health(addr: std::net::SocketAddr) -> ExitCode {
    let probe = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())
        .and_then(|rt| {
            rt.block_on(http_probe::check_health(addr))
                .map_err(|e| e.to_string())
        });
    match probe {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("{e}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    if std::env::var("LOG_FORMAT").is_ok_and(|f| f == "json") {
        builder.json().init();
    } else {
        builder.init();
    }
}

fn validate(manifests: &Path, env: Option<&str>) -> anyhow::Result<ExitCode> {
    // Without --env, the whole folder is walked: a file no environment loads, or an
    // environment whose own file is broken, is still an error (nothing is silently skipped).
    let (envs, problems) = match env {
        Some(e) => (vec![e.to_owned()], Vec::new()),
        None => match discover(manifests) {
            Ok(found) => (found.environments, found.problems),
            Err(diags) => {
                eprintln!("{diags}");
                return Ok(ExitCode::FAILURE);
            }
        },
    };
    if envs.is_empty() && problems.is_empty() {
        anyhow::bail!(
            "no environment found under {} (a folder with a kind: Environment document)",
            escape(&manifests.display().to_string())
        );
    }
    let mut printed = BTreeSet::new();
    let mut failed = false;
    for env in &envs {
        match load_environment(manifests, env) {
            Ok(state) => println!(
                "ok {}: {} service(s), {} repositor{}",
                escape(env),
                state.services.len(),
                state.repositories.len(),
                if state.repositories.len() == 1 {
                    "y"
                } else {
                    "ies"
                }
            ),
            Err(diags) => {
                failed = true;
                for d in &diags.0 {
                    let line = d.to_string();
                    if !printed.contains(&line) {
                        eprintln!("{line}");
                        printed.insert(line);
                    }
                }
                eprintln!("FAILED {}: {} error(s)", escape(env), diags.0.len());
            }
        }
    }
    // Problems no environment's load reported, by top-level folder.
    let mut rest: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for d in &problems {
        let line = d.to_string();
        if printed.contains(&line) {
            continue;
        }
        let folder = d
            .file
            .components()
            .next()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .unwrap_or_default();
        rest.entry(folder).or_default().push(line);
    }
    for (folder, lines) in &rest {
        failed = true;
        for line in lines {
            eprintln!("{line}");
        }
        eprintln!("FAILED {}: {} error(s)", escape(folder), lines.len());
    }
    Ok(if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}

fn print<T: serde::Serialize>(value: &T, format: Format) -> anyhow::Result<()> {
    match format {
        Format::Json => println!(
            "{}",
            serde_json::to_string_pretty(value).context("cannot encode JSON")?
        ),
        Format::Yaml => print!(
            "{}",
            serde_yaml_ng::to_string(value).context("cannot encode YAML")?
        ),
    }
    Ok(())
}
