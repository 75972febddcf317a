//! Export throughput: `bench_export_mlflow DIR RUNS POINTS` records RUNS runs (10 params, 3 tags,
//! 5 metrics of POINTS steps each) straight into a new workspace at DIR/ws, then times
//! `Workspace::export_mlflow` into DIR/mlruns and prints one JSON object. Recording is not timed.

use cairn_app::{MlflowExport, ParamValue, Progress, RunStatus, Workspace};
use cairn_core::RunId;
use cairn_store::{NewRun, Store};
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: bench_export_mlflow DIR RUNS POINTS";
    let dir = std::path::PathBuf::from(args.get(1).ok_or(usage)?);
    let runs: usize = args.get(2).ok_or(usage)?.parse()?;
    let points: u64 = args.get(3).ok_or(usage)?.parse()?;
    let root = dir.join("ws");
    drop(Workspace::open(&root).map_err(|e| e.message)?);
    let t = Instant::now();
    {
        let store = Store::open(&root.join("cairn.duckdb"))?;
        for i in 0..runs {
            let id = RunId::new_v7();
            store.insert_run(&NewRun {
                id: id.clone(),
                model: "mlp".into(),
                dataset: "bench@1".into(),
                dataset_hash: "0".repeat(64),
                target: "y".into(),
                seed: i as u64,
                params: (0..10)
                    .map(|k| {
                        (
                            format!("p{k}"),
                            ParamValue::Float(i as f64 / (k + 1) as f64),
                        )
                    })
                    .collect(),
                tags: (0..3)
                    .map(|k| (format!("t{k}"), format!("v{}", i % 7)))
                    .collect(),
                environment: serde_json::json!({"seed": i}),
                ..NewRun::named(format!("run-{i}"))
            })?;
            let keys = ["m0", "m1", "m2", "m3", "m4"];
            let batch: Vec<(&str, u64, f64)> = keys
                .iter()
                .flat_map(|k| (0..points).map(move |s| (*k, s, s as f64 * 0.5)))
                .collect();
            store.append_metrics(&id, &batch)?;
            store.finish_run(&id, RunStatus::Finished, None)?;
        }
    }
    let record_s = t.elapsed().as_secs_f64();
    let mut ws = Workspace::open(&root).map_err(|e| e.message)?;
    let t = Instant::now();
    let s = ws
        .export_mlflow(
            &MlflowExport::new(dir.join("mlruns")),
            &mut Progress::silent(),
        )
        .map_err(|e| e.message)?;
    let export_s = t.elapsed().as_secs_f64();
    println!(
        "{}",
        serde_json::json!({
            "runs": s.runs,
            "metric_points": s.metric_points,
            "files": s.params + s.tags + s.metrics + 2 * s.runs,
            "record_s": record_s,
            "export_s": export_s,
            "runs_per_s": s.runs as f64 / export_s,
            "points_per_s": s.metric_points as f64 / export_s,
        })
    );
    Ok(())
}
