//! The audit log's benchmark half in Rust (`cargo xtask bench audit` runs it in release):
//! `bench_audit WORKSPACE ENTRIES RUNS REPEATS`.
//!
//! 1. Appends ENTRIES synthetic entries (batches of 10,000) and times `Workspace::audit_verify`
//!    over them REPEATS times.
//! 2. In a second workspace, records RUNS finished runs one transaction each (a run's start and
//!    end through the one write path, with their two audit entries) and reports the time spent
//!    inside the audit appends of those transactions (`cairn_store::audit_append_time`).
//!
//! Prints one JSON line.

use cairn_app::{ParamValue, RunStatus, Workspace};
use cairn_core::RunId;
use cairn_store::{NewRun, RecordedRun, Store};
use std::collections::BTreeMap;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: bench_audit WORKSPACE ENTRIES RUNS REPEATS";
    let root = std::path::PathBuf::from(args.get(1).ok_or(usage)?);
    let entries: u64 = args.get(2).ok_or(usage)?.parse()?;
    let runs: usize = args.get(3).ok_or(usage)?.parse()?;
    let repeats: usize = args.get(4).ok_or(usage)?.parse()?;

    let log_ws = root.join("log");
    drop(Workspace::open(&log_ws).map_err(|e| e.message)?);
    let store = Store::open(&log_ws.join("cairn.duckdb"))?;
    let t = Instant::now();
    store.seed_audit(entries)?;
    let seed_s = t.elapsed().as_secs_f64();
    drop(store);
    let ws = Workspace::open(&log_ws).map_err(|e| e.message)?;
    let mut verify_s = Vec::new();
    for _ in 0..repeats {
        let t = Instant::now();
        let r = ws.audit_verify().map_err(|e| e.message)?;
        verify_s.push(t.elapsed().as_secs_f64());
        if !r.ok || r.entries != entries {
            return Err(format!("verify: ok {} over {} entries", r.ok, r.entries).into());
        }
    }
    drop(ws);

    let runs_ws = root.join("runs");
    drop(Workspace::open(&runs_ws).map_err(|e| e.message)?);
    let store = Store::open(&runs_ws.join("cairn.duckdb"))?;
    let made: Vec<RecordedRun> = (0..runs).map(run).collect();
    // One run per transaction (the worst case), then 250 per transaction: what one `cairn log`
    // flush of 5,000 events holds for runs of about 20 events each.
    let mut timed = Vec::new();
    for per_batch in [1usize, 250] {
        let (_, spent_before) = cairn_store::audit_append_time();
        let t = Instant::now();
        for chunk in made.chunks(per_batch) {
            let fresh: Vec<RecordedRun> = chunk
                .iter()
                .map(|r| RecordedRun {
                    run: NewRun {
                        id: RunId::new_v7(),
                        ..r.run.clone()
                    },
                    ..r.clone()
                })
                .collect();
            store.insert_recorded_runs(&fresh)?;
        }
        let runs_s = t.elapsed().as_secs_f64();
        let audit_s = (cairn_store::audit_append_time().1 - spent_before).as_secs_f64();
        timed.push(
            serde_json::json!({"per_batch": per_batch, "runs_s": runs_s, "audit_s": audit_s}),
        );
    }
    println!(
        "{}",
        serde_json::json!({
            "entries": entries,
            "seed_s": seed_s,
            "verify_s": verify_s,
            "runs": runs,
            "timed": timed,
            "db": log_ws.join("cairn.duckdb").display().to_string(),
        })
    );
    Ok(())
}

/// A finished run with 10 params, 5 metrics and 3 tags, like the tracking benchmark's.
fn run(i: usize) -> RecordedRun {
    let params: BTreeMap<String, ParamValue> = (0..10)
        .map(|p| {
            (
                format!("p{p}"),
                ParamValue::Float(i as f64 * 0.1 + p as f64),
            )
        })
        .collect();
    let tags = (0..3).map(|t| (format!("t{t}"), format!("v{i}"))).collect();
    RecordedRun {
        run: NewRun {
            model: "mlp".into(),
            dataset: "bench@1".into(),
            dataset_hash: "0".repeat(64),
            target: "y".into(),
            seed: i as u64,
            params,
            tags,
            ..NewRun::named(format!("run-{i:05}"))
        },
        status: RunStatus::Finished,
        created_at: cairn_core::now_rfc3339(),
        finished_at: Some(cairn_core::now_rfc3339()),
        metrics: (0..5)
            .map(|m| (format!("m{m}"), 0, i as f64 / 1000.0, None))
            .collect(),
    }
}
