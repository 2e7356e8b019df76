//! The `ferry` binary: `validate`, `render` and `schema` over a manifests folder.
//! Thin: parsing arguments and printing; the work is in `ferry-core`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};
use ferry_core::kinds::{EcrRepository, EcsService, Environment};
use ferry_core::render::{Digests, render};
use ferry_core::{discover_environments, load_environment};
use kube_schema::Schemas;

mod aws;
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
        Command::Apply(args) => aws::apply(&args),
        Command::Status(args) => aws::status(&args),
        Command::Rollback(args) => aws::rollback(&args),
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
                    eprintln!("{} error(s) in environment `{env}`", diags.0.len());
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
    let envs = match env {
        Some(e) => vec![e.to_owned()],
        None => discover_environments(manifests).map_err(|d| anyhow::anyhow!("{d}"))?,
    };
    if envs.is_empty() {
        anyhow::bail!(
            "no environment found under {} (a folder with a kind: Environment document)",
            manifests.display()
        );
    }
    let mut errors = 0;
    for env in &envs {
        match load_environment(manifests, env) {
            Ok(state) => println!(
                "ok {env}: {} service(s), {} repositor{}",
                state.services.len(),
                state.repositories.len(),
                if state.repositories.len() == 1 {
                    "y"
                } else {
                    "ies"
                }
            ),
            Err(diags) => {
                errors += diags.0.len();
                eprintln!("{diags}");
                eprintln!("FAILED {env}: {} error(s)", diags.0.len());
            }
        }
    }
    Ok(if errors == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
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
