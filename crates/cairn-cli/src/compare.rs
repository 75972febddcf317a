//! `cairn runs compare A B ...`: the params that differ, final metrics, and (with `--history`)
//! every metric's full history written to a CSV or JSON file.

use crate::output::{Output, table};
use crate::{Cli, open};
use cairn_app::json::{FinalMetric, RunComparison};
use cairn_app::{AppError, CompareOptions, HistoryFormat};
use std::path::PathBuf;

#[derive(clap::Args)]
pub struct CompareArgs {
    /// The runs, by id, id prefix or name (two or more to see differences).
    #[arg(required = true, num_args = 1.., value_name = "RUN")]
    pub runs: Vec<String>,
    /// Only this metric (repeat for several; default: every metric).
    #[arg(long = "metric", value_name = "KEY")]
    pub metrics: Vec<String>,
    /// Also write the full metric histories to this file: `.csv` (run_id,run_name,key,step,value)
    /// or `.json` (docs/formats/metric-history.md).
    #[arg(long, value_name = "FILE.csv|FILE.json")]
    pub history: Option<PathBuf>,
    /// The most points per series in `--json`'s downsampled histories (LTTB).
    #[arg(long, default_value_t = 2000, value_name = "N")]
    pub max_points: usize,
}

pub fn run(cli: &Cli, out: &Output, args: &CompareArgs) -> Result<(), AppError> {
    let ws = open(cli, "comparing runs")?;
    let options = CompareOptions {
        max_points: args.max_points,
        metrics: args.metrics.clone(),
    };
    let comparison = ws.compare_runs(&args.runs, &options)?;
    let written = match &args.history {
        Some(path) => {
            let format = HistoryFormat::from_path(path)?;
            let mut file = std::fs::File::create(path)
                .map_err(|e| AppError::io(format!("creating {}", path.display()), e))?;
            let points = ws.export_histories(&args.runs, &args.metrics, format, &mut file)?;
            Some((path, points))
        }
        None => None,
    };
    if out.is_json() {
        out.json(&comparison)?;
        if let Some((path, points)) = written {
            eprintln!("wrote {points} points to {}", path.display());
        }
        return Ok(());
    }
    print_comparison(&comparison);
    if let Some((path, points)) = written {
        println!("\nwrote {points} metric points to {}", path.display());
    }
    Ok(())
}

fn print_comparison(c: &RunComparison) {
    let head_names: Vec<String> = c.runs.iter().map(|r| r.name.clone()).collect();
    let mut header: Vec<&str> = vec!["KEY"];
    header.extend(head_names.iter().map(String::as_str));

    let differing: Vec<_> = c.params.iter().filter(|p| p.differs).collect();
    println!(
        "params that differ: {} of {}",
        differing.len(),
        c.params.len()
    );
    if !differing.is_empty() {
        let rows: Vec<Vec<String>> = differing
            .iter()
            .map(|p| {
                let mut row = vec![p.key.clone()];
                row.extend(p.values.iter().map(param_text));
                row
            })
            .collect();
        table(&header, &rows);
    }
    let same: Vec<String> = c
        .params
        .iter()
        .filter(|p| !p.differs)
        .map(|p| {
            format!(
                "{}={}",
                p.key,
                p.values.first().map_or("-".into(), param_text)
            )
        })
        .collect();
    if !same.is_empty() {
        println!("same in every run: {}", same.join("  "));
    }

    println!("\nfinal metrics (last value; min..max over the history)");
    if c.metrics.is_empty() {
        println!("no metrics recorded");
    } else {
        let rows: Vec<Vec<String>> = c
            .metrics
            .iter()
            .map(|m| {
                let mut row = vec![m.key.clone()];
                row.extend(m.finals.iter().map(final_text));
                row
            })
            .collect();
        table(&header, &rows);
    }

    println!("\nruns");
    let rows: Vec<Vec<String>> = c
        .runs
        .iter()
        .map(|r| {
            vec![
                r.id.chars().take(8).collect(),
                r.name.clone(),
                r.status.clone(),
                r.model.clone(),
                r.dataset.clone(),
            ]
        })
        .collect();
    table(&["ID", "NAME", "STATUS", "MODEL", "DATA"], &rows);
}

fn param_text(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::Null => "-".into(),
        serde_json::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn final_text(f: &Option<FinalMetric>) -> String {
    match f {
        None => "-".into(),
        Some(f) if f.count == 1 => format!("{:.6}", f.last),
        Some(f) => format!("{:.6} ({:.4}..{:.4})", f.last, f.min, f.max),
    }
}
