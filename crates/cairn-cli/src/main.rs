//! `cairn`: the command-line face of Cairn. Glue only: parse arguments, call `cairn-app`,
//! print the result for people (tables, progress bars) or for programs (`--json`).

mod compare;
mod data;
mod export;
mod log;
mod model;
mod output;
mod progress;
mod registry;
mod search;
mod serve;

use anyhow::Result;
use cairn_app::{AppError, JobKind, Jobs, Workspace, WorkspaceDir};
use clap::{Parser, Subcommand};
use output::Output;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "cairn",
    version,
    about = "Cairn: the offline ML lifecycle workbench",
    propagate_version = true
)]
pub(crate) struct Cli {
    /// Workspace folder (default: the platform data folder, e.g. ~/.local/share/cairn/workspace).
    #[arg(long, global = true, env = "CAIRN_WORKSPACE", value_name = "DIR")]
    workspace: Option<PathBuf>,
    /// Print machine-readable JSON on stdout instead of text.
    #[arg(long, global = true)]
    json: bool,
    /// How long a command waits for its turn of the workspace while other work holds it (a
    /// big import holds it for its one transaction); after that it stops naming the holder.
    #[arg(long, global = true, value_name = "SECS", default_value_t = 60.0)]
    wait: f64,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create (or open) the workspace and print where it is.
    Init,
    /// Data sets: import, inspect, profile, check, diff, split, export and delete versions.
    #[command(subcommand)]
    Data(data::DataCommand),
    /// Train a model on a data set version and record the run.
    Train(model::TrainArgs),
    /// Predict with a run's model: score a data set version into a file, or JSON records.
    Predict(model::PredictArgs),
    /// List the CPU and the CUDA GPUs this machine can train on.
    Devices,
    /// List the models and their hyperparameters with defaults.
    Models {
        /// linear, logistic, mlp or cnn (default: all).
        model: Option<String>,
    },
    /// Record runs from JSON lines on stdin, one event per line (docs/tracking.md).
    Log(log::LogArgs),
    /// List and inspect runs.
    #[command(subcommand)]
    Runs(RunsCommand),
    /// Find runs with the query language (short for `cairn runs search`).
    Search(search::SearchArgs),
    /// Export, verify, import and reproduce bundles.
    #[command(subcommand)]
    Bundle(BundleCommand),
    /// The model registry: versions, aliases, promotion gates and signed approvals.
    #[command(subcommand)]
    Registry(registry::RegistryCommand),
    /// The tamper-evident audit log of every change to the workspace.
    #[command(subcommand)]
    Audit(registry::AuditCommand),
    /// Where a model version, run or data version came from and went: source file → data
    /// version → split → run → model version → bundle → aliases.
    Lineage {
        /// NAME@N or NAME@alias (a registered model), a run, or a data set version.
        key: String,
        /// text (an edge list), json, dot (Graphviz) or mermaid.
        #[arg(long, default_value = "text")]
        format: String,
    },
    /// Make Ed25519 key pairs for signing bundles.
    #[command(subcommand)]
    Keys(KeysCommand),
    /// Maintain the search index.
    #[command(subcommand)]
    Index(IndexCommand),
    /// Export runs to other tools (MLflow).
    #[command(subcommand)]
    Export(export::ExportCommand),
    /// Serve models over HTTP on 127.0.0.1: KServe v2, MLflow scoring, Prometheus metrics.
    Serve(serve::ServeArgs),
    /// Load-test a served model at a constant rate, latency corrected for coordinated omission.
    Loadtest(serve::LoadTestArgs),
    /// The request log of `cairn serve`: every answered request, newest last.
    Requests(serve::RequestsArgs),
    /// Try a model on in-range, out-of-range, missing, boundary, null and unseen inputs.
    Validate(serve::ValidateArgs),
    /// Walk the lifecycle on the bundled sample data: import, train, search, bundle, verify.
    Demo,
}

#[derive(Subcommand)]
enum RunsCommand {
    /// List runs, newest first.
    List,
    /// Show one run (by id, id prefix or name) with its params, metrics and artifacts.
    Show { run: String },
    /// Find runs: filters on metrics, params, tags, attributes and data sets, free text,
    /// ORDER BY, paging (docs/query-language.md).
    Search(search::SearchArgs),
    /// Compare runs: the params that differ, final metrics, and (--history) full metric
    /// histories as CSV or JSON.
    Compare(compare::CompareArgs),
}

#[derive(Subcommand)]
enum BundleCommand {
    /// Write a finished run's bundle, or a registered version's (NAME@N, NAME@alias) with its
    /// gate reports and approvals.
    Export {
        run: String,
        #[arg(short, long, value_name = "FILE.zip")]
        out: PathBuf,
        /// Sign the manifest with this secret key file (made by `cairn keys new`).
        #[arg(long, value_name = "KEYFILE")]
        sign: Option<PathBuf>,
        /// Add a Parquet snapshot of the training data (needed by `cairn bundle reproduce`).
        #[arg(long)]
        include_data: bool,
    },
    /// Check every entry of a bundle against its manifest, and its signature if any.
    Verify {
        file: PathBuf,
        /// Require a valid signature by this public key file (repeatable: any one of them).
        #[arg(long, value_name = "PUBKEYFILE")]
        trust: Vec<PathBuf>,
    },
    /// Verify a bundle and recreate its run (model files, metrics, data lineage) here.
    Import {
        file: PathBuf,
        /// Require a valid signature by this public key file (repeatable: any one of them).
        #[arg(long, value_name = "PUBKEYFILE")]
        trust: Vec<PathBuf>,
    },
    /// Retrain a bundle's run from its data snapshot on the CPU, in a scratch workspace, and
    /// compare metrics and weights; exit code 1 when they do not match.
    Reproduce { file: PathBuf },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Make a new Ed25519 key pair: NAME.key (secret, mode 0600) and NAME.pub.
    New {
        /// The folder to write the key files in.
        #[arg(long, value_name = "DIR", default_value = ".")]
        out: PathBuf,
        /// The key files' base name.
        #[arg(long, default_value = "cairn")]
        name: String,
    },
}

#[derive(Subcommand)]
enum IndexCommand {
    /// Rebuild the search index from the workspace database.
    Rebuild,
}

fn main() -> ExitCode {
    // Like other Unix tools, stop quietly when the reader of stdout goes away
    // (`cairn runs list | head`) instead of panicking on a write to a closed pipe.
    #[cfg(unix)]
    // SAFETY: restoring the default disposition of SIGPIPE before any thread starts.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    let cli = Cli::parse();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("CAIRN_LOG")
                .unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .without_time()
        .init();
    let out = Output::new(cli.json);
    match run(&cli, &out) {
        Ok(code) => code,
        Err(err) => {
            out.error(&err);
            ExitCode::from(1)
        }
    }
}

pub(crate) fn workspace_dir(cli: &Cli) -> Result<PathBuf, AppError> {
    match &cli.workspace {
        Some(dir) => Ok(dir.clone()),
        None => cairn_app::default_workspace_dir(),
    }
}

/// The workspace as long work holds it between turns: each turn waits its place in the queue
/// (up to `--wait`), and says on stderr who it waits for.
pub(crate) fn dir(cli: &Cli) -> Result<WorkspaceDir, AppError> {
    let wait = log::seconds("--wait", cli.wait)?.unwrap_or_default();
    Ok(WorkspaceDir::new(workspace_dir(cli)?)
        .waiting(wait)
        .on_wait(|holder| {
            eprintln!("waiting for the workspace: it is in use by {holder}");
        }))
}

/// Opens the workspace for one turn that lasts as long as the handle: for what a command
/// reads or writes at once. Other work (training, loggers, the desktop) takes turns too, so
/// this waits in the queue when the workspace is busy.
pub(crate) fn open(cli: &Cli, purpose: &str) -> Result<Workspace, AppError> {
    dir(cli)?.open(purpose)
}

fn run(cli: &Cli, out: &Output) -> Result<ExitCode, AppError> {
    match &cli.command {
        Command::Init => {
            let ws = open(cli, "creating the workspace")?;
            out.info(&ws.info()?)?;
        }
        Command::Data(cmd) => return data::run(cli, out, cmd),
        Command::Train(args) => return model::train(cli, out, args),
        Command::Predict(args) => return model::predict(cli, out, args),
        Command::Log(args) => return log::run(cli, out, args),
        Command::Devices => return model::devices(out),
        Command::Models { model: m } => return model::models(out, m.as_deref()),
        Command::Runs(RunsCommand::List) => out.runs(&open(cli, "listing runs")?.runs()?)?,
        Command::Runs(RunsCommand::Show { run }) => {
            out.run_detail(&open(cli, "showing a run")?.run(run)?)?
        }
        Command::Search(args) | Command::Runs(RunsCommand::Search(args)) => {
            search::run(cli, out, args)?
        }
        Command::Runs(RunsCommand::Compare(args)) => compare::run(cli, out, args)?,
        Command::Bundle(BundleCommand::Export {
            run,
            out: file,
            sign,
            include_data,
        }) => {
            let dir = dir(cli)?;
            let opts = cairn_app::ExportOptions {
                sign: sign.clone(),
                include_data: *include_data,
            };
            let cancel = progress::cancel_on_ctrl_c();
            let mut bar = progress::Bar::new(out.is_json(), "bundle");
            let result = Jobs::new().run(
                JobKind::BundleExport,
                format!("Bundle of {run}"),
                &mut bar.observer(&cancel),
                |job| job.workspace(&dir).export_bundle(run, file, &opts, job),
            );
            bar.finish();
            out.bundle(&result?)?;
        }
        Command::Bundle(BundleCommand::Verify { file, trust }) => {
            let report = cairn_app::verify_bundle_trusted(file, trust)?;
            out.verify(file, &report)?;
            if !report.ok() {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Bundle(BundleCommand::Import { file, trust }) => {
            // Verify before opening: a hostile bundle leaves even a new workspace uncreated.
            let bundle = cairn_app::read_bundle(file, trust)?;
            let mut ws = open(cli, &format!("importing {}", file.display()))?;
            out.bundle_imported(&ws.import_verified_bundle(bundle)?)?;
        }
        Command::Bundle(BundleCommand::Reproduce { file }) => {
            let cancel = progress::cancel_on_ctrl_c();
            let mut bar = progress::Bar::new(out.is_json(), "reproduce");
            let result = Jobs::new().run(
                JobKind::BundleReproduce,
                format!("Reproduce {}", file.display()),
                &mut bar.observer(&cancel),
                |job| cairn_app::reproduce_bundle(file, job),
            );
            bar.finish();
            let report = result?;
            out.reproduced(&report)?;
            if !report.matches {
                return Ok(ExitCode::from(1));
            }
        }
        Command::Keys(KeysCommand::New { out: dir, name }) => {
            out.keys(&cairn_app::new_key_pair(dir, name)?)?;
        }
        Command::Export(cmd) => export::run(cli, out, cmd)?,
        Command::Registry(cmd) => return registry::run(cli, out, cmd),
        Command::Lineage { key, format } => {
            let g = open(cli, &format!("reading the lineage of {key}"))?.lineage(key)?;
            match (out.is_json(), format.as_str()) {
                (true, _) | (false, "json") => out.json(&g)?,
                (false, "dot") => print!("{}", g.to_dot()),
                (false, "mermaid") => print!("{}", g.to_mermaid()),
                (false, "text") => {
                    let label = |id: &str| {
                        g.nodes
                            .iter()
                            .find(|n| n.id == id)
                            .map_or(id.to_string(), |n| n.label.clone())
                    };
                    for e in &g.edges {
                        println!("{}  →  {}   [{}]", label(&e.from), label(&e.to), e.label);
                    }
                }
                (false, other) => {
                    return Err(AppError::invalid(format!(
                        "--format `{other}`: use text, json, dot or mermaid"
                    )));
                }
            }
        }
        Command::Audit(cmd) => return registry::audit(cli, out, cmd),
        Command::Index(IndexCommand::Rebuild) => {
            let mut ws = open(cli, "rebuilding the search index")?;
            ws.rebuild_index()?;
            out.message(
                &format!("rebuilt the search index of {}", ws.root().display()),
                &ws.info()?,
            )?;
        }
        Command::Serve(args) => return serve::serve(cli, out, args),
        Command::Loadtest(args) => return serve::loadtest(cli, out, args),
        Command::Validate(args) => return serve::validate(cli, out, args),
        Command::Requests(args) => return serve::requests(cli, out, args),
        Command::Demo => {
            let dir = match &cli.workspace {
                Some(dir) => dir.clone(),
                None => fresh_demo_dir()?,
            };
            let dir = WorkspaceDir::new(dir);
            let cancel = progress::cancel_on_ctrl_c();
            let mut bar = progress::Bar::new(out.is_json(), "demo");
            let summary =
                Jobs::new().run(JobKind::Demo, "Demo", &mut bar.observer(&cancel), |job| {
                    dir.demo(job)
                });
            bar.finish();
            out.demo(&summary?)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A new, empty folder beside the default workspace for a demo run.
fn fresh_demo_dir() -> Result<PathBuf, AppError> {
    let base = cairn_app::default_workspace_dir()?;
    let parent = base.parent().unwrap_or(Path::new("."));
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    Ok(parent.join(format!("demo-{stamp}")))
}
