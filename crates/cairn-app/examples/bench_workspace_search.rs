//! Search latency through the workspace, as the desktop app and the CLI search:
//! `bench_workspace_search WORKSPACE REPEATS QUERY...` prints one JSON object with, per query, the number
//! of matches and the p50/p95 of `Workspace::search` (the index catch-up check, the query, and
//! decoding the page of 100 runs). The first search after opening (which indexes whatever
//! lags) is reported apart, as `first_ms`.

use cairn_app::Workspace;
use std::time::Instant;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: bench_workspace_search WORKSPACE REPEATS QUERY...";
    let root = args.get(1).ok_or(usage)?;
    let repeats: usize = args.get(2).ok_or(usage)?.parse()?;
    let t = Instant::now();
    let mut ws = Workspace::open(std::path::Path::new(root)).map_err(|e| e.message)?;
    let open_ms = t.elapsed().as_secs_f64() * 1e3;
    let mut results = Vec::new();
    for query in &args[3..] {
        let t = Instant::now();
        let first = ws.search(query, 100, 0).map_err(|e| e.message)?;
        let first_ms = t.elapsed().as_secs_f64() * 1e3;
        let mut times = Vec::with_capacity(repeats);
        for _ in 0..repeats {
            let t = Instant::now();
            let found = ws.search(query, 100, 0).map_err(|e| e.message)?;
            times.push(t.elapsed().as_secs_f64() * 1e3);
            assert_eq!(found.total, first.total);
        }
        times.sort_by(f64::total_cmp);
        let pct = |p: f64| times[((times.len() - 1) as f64 * p).round() as usize];
        results.push(serde_json::json!({
            "query": query,
            "matches": first.total,
            "page": first.runs.len(),
            "first_ms": first_ms,
            "p50_ms": pct(0.5),
            "p95_ms": pct(0.95),
            "repeats": repeats,
        }));
    }
    println!(
        "{}",
        serde_json::json!({"open_ms": open_ms, "runs": ws.info().map_err(|e| e.message)?.runs, "queries": results})
    );
    Ok(())
}
