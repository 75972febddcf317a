//! Search latency on a synthetic on-disk index: `cargo run --release -p cairn-search --example
//! bench_search -- RUNS [REPEATS]`. Prints JSON: build time, and p50/p95 per query.
//! Runs look like issue 5's benchmark: 10 params, 5 metrics, 3 tags each.

use cairn_core::{MetricSummary, ParamValue, Run, RunId, RunStatus, SplitMix64};
use cairn_search::{RunDoc, SearchIndex, parse_query};
use std::collections::BTreeMap;
use std::time::Instant;

fn synthetic(i: usize, rng: &mut SplitMix64) -> RunDoc {
    let mut params = BTreeMap::new();
    for p in 0..10 {
        let v = if p % 3 == 2 {
            ParamValue::Str(["adam", "sgd", "adamw", "x"][(rng.next_u64() % 4) as usize].into())
        } else {
            ParamValue::Float(rng.next_f64())
        };
        params.insert(format!("p{p}"), v);
    }
    let mut metrics = BTreeMap::new();
    for m in 0..5 {
        let v = rng.next_f64();
        metrics.insert(
            format!("m{m}"),
            MetricSummary {
                last: v,
                first: v / 2.0,
                min: v / 2.0,
                max: v,
                mean: 0.75 * v,
                count: 10,
            },
        );
    }
    let tags = (0..3)
        .map(|t| (format!("t{t}"), format!("team{}", rng.next_u64() % 7)))
        .collect();
    let run = Run {
        id: RunId::from_stored(format!(
            "{:016x}{:016x}",
            0x0190_0000_0000_0000u64 + i as u64,
            rng.next_u64()
        )),
        name: format!("run-{i}"),
        status: if i.is_multiple_of(10) {
            RunStatus::Failed
        } else {
            RunStatus::Finished
        },
        model: "logistic".into(),
        dataset: "bench@1".into(),
        dataset_hash: "0".repeat(64),
        target: "y".into(),
        seed: i as u64,
        params,
        tags,
        metrics: metrics.iter().map(|(k, m)| (k.clone(), m.last)).collect(),
        created_at: "2026-11-23T00:00:00Z".into(),
        finished_at: None,
        error: None,
        environment: serde_json::Value::Null,
        note: String::new(),
        parent_id: None,
    };
    RunDoc { run, metrics }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let n: usize = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(100_000);
    let repeats: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(50);
    let dir = tempfile::tempdir().expect("temp dir");
    let mut rng = SplitMix64::new(42);
    let docs: Vec<RunDoc> = (0..n).map(|i| synthetic(i, &mut rng)).collect();
    let t = Instant::now();
    let mut index = SearchIndex::open(dir.path()).expect("index");
    for (k, chunk) in docs.chunks(10_000).enumerate() {
        index.upsert_runs(chunk, k as u64 + 1).expect("index runs");
    }
    let build_s = t.elapsed().as_secs_f64();
    drop(index);
    let index = SearchIndex::open(dir.path()).expect("reopen");
    let queries = [
        "metrics.m1 > 0.5 AND params.p1 < 0.5 ORDER BY metrics.m2 DESC LIMIT 100",
        "metrics.m1 > 0.5 AND params.p1 < 0.5 ORDER BY metrics.m2 DESC LIMIT 0",
        "metrics.m1 > 0.5 LIMIT 0",
        "LIMIT 0",
        "ORDER BY metrics.m2 DESC LIMIT 0",
        "params.p2 = 'adam' AND tags.t0 IN ('team1', 'team2') ORDER BY metrics.m0 DESC LIMIT 100",
        "max(metrics.m3) > 0.9 OR attributes.status = 'failed' ORDER BY params.p0 LIMIT 100",
        "run-4242",
    ];
    let mut out = Vec::new();
    for q in queries {
        let parsed = parse_query(q).expect("query parses");
        let mut times = Vec::with_capacity(repeats);
        let mut total = 0;
        for _ in 0..repeats {
            let t = Instant::now();
            total = index.search(&parsed, 100, 0).expect("search").total;
            times.push(t.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
        out.push(serde_json::json!({"query": q, "matches": total, "p50_ms": pct(0.5), "p95_ms": pct(0.95)}));
    }
    println!(
        "{}",
        serde_json::json!({"runs": n, "build_s": build_s, "queries": out})
    );
}
