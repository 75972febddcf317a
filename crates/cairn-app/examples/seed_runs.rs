//! Seeds a workspace with many finished runs for the desktop's Runs and Compare views (the E2E
//! test, and by hand to feel 100,000 runs): `seed_runs WORKSPACE COUNT [LONG_POINTS]`.
//!
//! Runs `seed-00001` .. are `mlp` or `logistic` on `iris@1`, with params `lr` (float),
//! `epochs` and `batch_size` (ints), `optimizer` (adam | sgd | adamw) and `hidden` (a list);
//! tags `team` and `purpose=seed`; metrics `loss` and `val_accuracy` over 40 epochs and
//! `test_accuracy` once. `seed-00001` records `LONG_POINTS` (default 100,000) `loss` steps, for
//! the "n of N points" of a downsampled chart. The runs are dated one minute apart, ending a
//! day before now, so runs made afterwards list first. Prints one JSON line.

use cairn_app::{ParamValue, RunStatus, Workspace};
use cairn_core::{RunId, SplitMix64};
use cairn_store::{NewRun, RecordedRun, Store};
use std::collections::BTreeMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: seed_runs WORKSPACE COUNT [LONG_POINTS]";
    let root = std::path::PathBuf::from(args.get(1).ok_or(usage)?);
    let count: usize = args.get(2).ok_or(usage)?.parse()?;
    let long_points: u64 = args.get(3).map_or(Ok(100_000), |a| a.parse())?;
    let started = Instant::now();
    drop(Workspace::open(&root).map_err(|e| e.message)?); // creates it when new
    let now_ms = SystemTime::now().duration_since(UNIX_EPOCH)?.as_millis() as u64;
    let first_ms = now_ms - 86_400_000 - count as u64 * 60_000;
    let mut rng = SplitMix64::new(20_260_101);
    let store = Store::open(&root.join("cairn.duckdb"))?;
    let batch = 5_000;
    for from in (0..count).step_by(batch) {
        let runs: Vec<RecordedRun> = (from..(from + batch).min(count))
            .map(|i| seeded_run(i, first_ms + i as u64 * 60_000, long_points, &mut rng))
            .collect();
        store.insert_recorded_runs(&runs)?;
    }
    drop(store);
    // Index now, so the app's first search does not have to.
    let ws = Workspace::open(&root).map_err(|e| e.message)?;
    println!(
        "{}",
        serde_json::json!({
            "workspace": root.display().to_string(),
            "seeded": count,
            "runs": ws.info().map_err(|e| e.message)?.runs,
            "seconds": started.elapsed().as_secs_f64(),
        })
    );
    Ok(())
}

fn seeded_run(i: usize, at_ms: u64, long_points: u64, rng: &mut SplitMix64) -> RecordedRun {
    let model = if i.is_multiple_of(3) {
        "logistic"
    } else {
        "mlp"
    };
    let lr: f64 = [0.001, 0.003, 0.01, 0.03, 0.1, 0.3][rng.next_u64() as usize % 6];
    let epochs = [10i64, 20, 40, 80][rng.next_u64() as usize % 4];
    let batch_size = [16i64, 32, 64, 128][rng.next_u64() as usize % 4];
    let optimizer = ["adam", "sgd", "adamw"][rng.next_u64() as usize % 3];
    let team = ["risk", "growth", "vision"][i % 3];
    let skill = 0.55 + 0.4 * (1.0 - (lr.log10() + 2.0).abs() / 2.0) + 0.05 * rng.next_f64();
    let mut metrics = Vec::new();
    let loss_steps = if i == 0 { long_points } else { 40 };
    for step in 1..=loss_steps {
        let t = step as f64 / loss_steps as f64 * 40.0;
        let noise = 0.02 * (rng.next_f64() - 0.5);
        // Points spread over the run's 30 s.
        let logged = at_ms as i64 + (step * 30_000 / loss_steps) as i64;
        metrics.push((
            "loss".into(),
            step,
            1.2 * (-t * lr.sqrt()).exp() + 0.1 + noise,
            Some(logged),
        ));
    }
    for step in 1..=40u64 {
        let acc = skill * (1.0 - (-(step as f64) / 8.0).exp());
        let logged = at_ms as i64 + step as i64 * 750;
        metrics.push(("val_accuracy".into(), step, acc.min(0.999), Some(logged)));
    }
    let end = Some(at_ms as i64 + 30_000);
    metrics.push(("test_accuracy".into(), 40, (skill - 0.01).min(0.999), end));
    let params = BTreeMap::from([
        ("lr".into(), ParamValue::Float(lr)),
        ("epochs".into(), ParamValue::Int(epochs)),
        ("batch_size".into(), ParamValue::Int(batch_size)),
        ("optimizer".into(), ParamValue::Str(optimizer.into())),
        (
            "hidden".into(),
            ParamValue::List(vec![ParamValue::Int(64), ParamValue::Int(32)]),
        ),
    ]);
    RecordedRun {
        run: NewRun {
            id: run_id_at(at_ms, rng),
            model: model.into(),
            dataset: "iris@1".into(),
            dataset_hash: "0".repeat(64),
            target: "target".into(),
            seed: i as u64,
            params,
            tags: BTreeMap::from([
                ("team".into(), team.into()),
                ("purpose".into(), "seed".into()),
            ]),
            source: "seed".into(),
            ..NewRun::named(format!("seed-{:05}", i + 1))
        },
        status: if i % 17 == 5 {
            RunStatus::Failed
        } else {
            RunStatus::Finished
        },
        created_at: rfc3339(at_ms),
        finished_at: Some(rfc3339(at_ms + 30_000)),
        metrics,
    }
}

/// A UUIDv7 (simple hex, as `RunId::new_v7`) for a past moment, so ids sort by that time.
fn run_id_at(ms: u64, rng: &mut SplitMix64) -> RunId {
    let rand_a = rng.next_u64() & 0x0fff;
    let rand_b = (rng.next_u64() & 0x3fff_ffff_ffff_ffff) | 0x8000_0000_0000_0000;
    RunId::from_stored(format!(
        "{:012x}7{rand_a:03x}{rand_b:016x}",
        ms & 0xffff_ffff_ffff
    ))
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ` for milliseconds since 1970 (the proleptic Gregorian calendar).
fn rfc3339(ms: u64) -> String {
    let secs = ms / 1000;
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        ms % 1000
    )
}
