//! `cairn train`, `cairn predict`, `cairn devices`, `cairn models`: glue over `cairn-app`.

use crate::output::{Output, table};
use crate::{Cli, open, progress};
use cairn_app::{AppError, DeviceChoice, JobKind, Jobs, ModelKind, ParamValue, TrainRequest};
use clap::Args;
use std::collections::BTreeMap;
use std::io::Read;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Args)]
pub struct TrainArgs {
    /// Data set version: NAME, NAME@3, NAME@latest or NAME@<hash prefix>.
    #[arg(long, required_unless_present = "resume")]
    data: Option<String>,
    /// Column to predict.
    #[arg(long, required_unless_present = "resume")]
    target: Option<String>,
    /// linear, logistic, mlp or cnn (`cairn models` lists their params).
    #[arg(long, default_value = "logistic")]
    model: String,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// cpu, cuda, cuda:N or auto (the first GPU when this build has CUDA, else the CPU).
    #[arg(long, default_value = "cpu")]
    device: String,
    /// Run name (default: DATASET-MODEL-xxxx).
    #[arg(long)]
    name: Option<String>,
    /// A tag, KEY=VALUE (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    tags: Vec<String>,
    /// A hyperparameter, KEY=VALUE, typed as int, float, bool, list or string (repeatable).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    params: Vec<String>,
    /// Continue RUN from its last checkpoint, in a new run with the same data and params.
    #[arg(long, value_name = "RUN", conflicts_with_all = ["data", "target", "params"])]
    resume: Option<String>,
    /// Record system metrics (CPU %, memory, GPU) every SECS seconds while training; 0 = off.
    #[arg(long, value_name = "SECS", default_value_t = 0.0)]
    system_metrics_every: f64,
}

#[derive(Args)]
pub struct PredictArgs {
    /// The run whose model predicts (id, id prefix or name).
    run: String,
    /// Score every row of this data set version.
    #[arg(long, requires = "out", conflicts_with = "record")]
    data: Option<String>,
    /// Where to write the scores: FILE.parquet, FILE.csv or FILE.tsv.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// One JSON object (or an array of objects), or `-` to read it from standard input.
    #[arg(long, value_name = "JSON")]
    record: Option<String>,
    #[arg(long, default_value = "cpu")]
    device: String,
}

fn device(text: &str) -> Result<DeviceChoice, AppError> {
    DeviceChoice::parse(text).map_err(AppError::invalid)
}

fn train_request(args: &TrainArgs) -> Result<TrainRequest, AppError> {
    let kv = |text: &String| {
        cairn_app::parse_key_value(text).map_err(|e| AppError::invalid(e.to_string()))
    };
    let mut tags = BTreeMap::new();
    for t in &args.tags {
        let (k, v) = kv(t)?;
        tags.insert(k, v);
    }
    let mut params = BTreeMap::new();
    for p in &args.params {
        let (k, v) = kv(p)?;
        params.insert(k, ParamValue::infer(&v));
    }
    Ok(TrainRequest {
        dataset: args.data.clone().unwrap_or_default(),
        target: args.target.clone().unwrap_or_default(),
        model: args.model.clone(),
        seed: args.seed,
        name: args.name.clone(),
        tags,
        params,
        device: device(&args.device)?,
        resume: args.resume.clone(),
        system_metrics_every: crate::log::seconds(
            "--system-metrics-every",
            args.system_metrics_every,
        )?,
    })
}

pub fn train(cli: &Cli, out: &Output, args: &TrainArgs) -> Result<ExitCode, AppError> {
    let req = train_request(args)?;
    let dir = crate::dir(cli)?;
    let cancel = progress::cancel_on_ctrl_c();
    let mut bar = progress::Bar::new(out.is_json(), "train");
    let title = match (&req.resume, &req.dataset) {
        (Some(run), _) => format!("Resuming {run}"),
        (None, data) => format!("Training {data} · {}", req.model),
    };
    let result = Jobs::new().run(JobKind::Train, title, &mut bar.observer(&cancel), |job| {
        job.workspace(&dir).train(&req, job)
    });
    bar.finish();
    let run = result?;
    out.run_detail(&dir.open("showing the trained run")?.run(run.id.as_str())?)?;
    Ok(if run.status == cairn_app::RunStatus::Finished {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(130)
    })
}

pub fn predict(cli: &Cli, out: &Output, args: &PredictArgs) -> Result<ExitCode, AppError> {
    let ws = open(cli, &format!("predicting with run {}", args.run))?;
    let dev = device(&args.device)?;
    match (&args.data, &args.record) {
        (Some(data), None) => {
            let file = args.out.as_ref().expect("clap requires --out with --data");
            let s = ws.predict_dataset(&args.run, data, file, dev)?;
            out.message(
                &format!(
                    "scored {} rows of {} with run {} → {} ({})",
                    s.rows,
                    s.dataset,
                    &s.run_id[..8],
                    s.out,
                    s.columns.join(", ")
                ),
                &s,
            )?;
        }
        (None, Some(text)) => {
            let text = if text == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .map_err(|e| AppError::io("reading standard input", e))?;
                s
            } else {
                text.clone()
            };
            let value: serde_json::Value = serde_json::from_str(&text).map_err(|e| {
                AppError::invalid(format!(
                    "--record is not valid JSON: {e} (line {}, column {})",
                    e.line(),
                    e.column()
                ))
            })?;
            let preds = ws.predict_records(&args.run, &value, dev)?;
            if out.is_json() {
                out.json(&preds)?;
            } else {
                for (i, p) in preds.iter().enumerate() {
                    let mut line = format!("record {}: {}", i + 1, p.prediction);
                    if let Some(probs) = &p.probabilities {
                        let best = probs.values().cloned().fold(0.0, f64::max);
                        line.push_str(&format!("  (probability {best:.4})"));
                    }
                    println!("{line}");
                    for w in &p.warnings {
                        println!("  note: {w}");
                    }
                }
            }
        }
        _ => {
            return Err(AppError::invalid(
                "say what to predict: `--data NAME@V --out FILE.parquet` for a data set, or `--record JSON` (`-` for standard input) for records",
            ));
        }
    }
    Ok(ExitCode::SUCCESS)
}

pub fn devices(out: &Output) -> Result<ExitCode, AppError> {
    let report = cairn_app::discover_devices();
    if out.is_json() {
        out.json(&report)?;
    } else {
        print!("{report}");
    }
    Ok(ExitCode::SUCCESS)
}

pub fn models(out: &Output, model: Option<&str>) -> Result<ExitCode, AppError> {
    let kinds: Vec<ModelKind> = match model {
        Some(m) => vec![ModelKind::parse(m).map_err(AppError::invalid)?],
        None => ModelKind::ALL.to_vec(),
    };
    if out.is_json() {
        let value: BTreeMap<&str, Vec<serde_json::Value>> = kinds
            .iter()
            .map(|k| {
                let params = cairn_app::params_for(*k)
                    .into_iter()
                    .map(|(key, default, help)| {
                        serde_json::json!({ "key": key, "default": default, "help": help })
                    })
                    .collect();
                (k.as_str(), params)
            })
            .collect();
        return out.json(&value).map(|()| ExitCode::SUCCESS);
    }
    for k in kinds {
        println!("{}", k.as_str());
        let rows: Vec<Vec<String>> = cairn_app::params_for(k)
            .into_iter()
            .map(|(key, default, help)| {
                vec![
                    format!("  {key}"),
                    if default.is_empty() {
                        "-".into()
                    } else {
                        default.to_string()
                    },
                    help.to_string(),
                ]
            })
            .collect();
        table(&["  param", "default", "meaning"], &rows);
        println!();
    }
    Ok(ExitCode::SUCCESS)
}
