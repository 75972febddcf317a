//! `cairn export mlflow`: runs written as an MLflow file store (docs/mlflow.md). Glue only.

use crate::output::Output;
use crate::{Cli, open, progress};
use cairn_app::{AppError, MlflowExport};
use clap::Subcommand;
use std::path::PathBuf;

#[derive(Subcommand)]
pub enum ExportCommand {
    /// Write runs in MLflow's file-store layout: open it with
    /// `MlflowClient(tracking_uri="file://DIR")` or `mlflow server --backend-store-uri DIR`.
    Mlflow {
        /// The folder to write (the MLflow tracking root). Must be new, empty, or a previous
        /// export, which is replaced whole.
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
        /// Only the runs this query selects (docs/query-language.md); default: every run.
        #[arg(long, value_name = "QUERY")]
        query: Option<String>,
        /// The MLflow experiment the runs go into.
        #[arg(long, value_name = "NAME", default_value = "cairn")]
        experiment: String,
        /// Rename keys MLflow cannot store (e.g. `a//b`, `x;y`) instead of refusing.
        #[arg(long)]
        rename_bad_keys: bool,
    },
}

pub fn run(cli: &Cli, out: &Output, cmd: &ExportCommand) -> Result<(), AppError> {
    match cmd {
        ExportCommand::Mlflow {
            out: dir,
            query,
            experiment,
            rename_bad_keys,
        } => {
            let mut ws = open(
                cli,
                &format!("exporting runs to MLflow at {}", dir.display()),
            )?;
            let req = MlflowExport {
                out: dir.clone(),
                experiment: experiment.clone(),
                query: query.clone(),
                rename_bad_keys: *rename_bad_keys,
            };
            let cancel = progress::cancel_on_ctrl_c();
            let mut bar = progress::Bar::new(out.is_json(), "export");
            let result = ws.export_mlflow(&req, &mut bar.observer(&cancel));
            bar.finish();
            let s = result?;
            if out.is_json() {
                return out.json(&s);
            }
            for w in &s.warnings {
                eprintln!("warning: {w}");
            }
            for r in &s.renamed {
                eprintln!(
                    "renamed {} key `{}` → `{}` in run {}",
                    r.kind, r.from, r.to, r.run_id
                );
            }
            println!(
                "exported {} runs ({} params, {} tags, {} metric series with {} points, {} artifacts) to {}{}",
                s.runs,
                s.params,
                s.tags,
                s.metrics,
                s.metric_points,
                s.artifacts,
                s.out,
                if s.replaced {
                    " (replacing the previous export)"
                } else {
                    ""
                }
            );
            println!(
                "MLflow experiment `{}` (id {}); read it with MLFLOW_ALLOW_FILE_STORE=true and tracking URI {}",
                s.experiment, s.experiment_id, s.tracking_uri
            );
            Ok(())
        }
    }
}
