//! The environment record captured with each run.

use serde_json::{Value, json};

/// CPU model and SIMD flags from `/proc/cpuinfo` (Linux); empty elsewhere.
fn cpu() -> (String, Vec<String>) {
    let text = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let wanted = [
        "sse4_2",
        "avx",
        "avx2",
        "fma",
        "avx512f",
        "avx512bw",
        "avx512_vnni",
        "neon",
        "asimd",
    ];
    let flags = field("flags") + " " + &field("Features");
    let simd = wanted
        .iter()
        .filter(|w| flags.split_whitespace().any(|f| f == **w))
        .map(|s| s.to_string())
        .collect();
    (field("model name"), simd)
}

pub fn capture(duckdb_version: &str, seed: u64, data_hash: &str) -> Value {
    let (cpu_model, simd) = cpu();
    json!({
        "cairn_version": crate::CAIRN_VERSION,
        "os": std::env::consts::OS,
        "arch": std::env::consts::ARCH,
        "cpu_model": cpu_model,
        "cpu_cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "simd": simd,
        "device": "cpu",
        "candle_version": cairn_train::CANDLE_VERSION,
        "duckdb_version": duckdb_version,
        "seed": seed,
        "data_version_hash": data_hash,
    })
}
