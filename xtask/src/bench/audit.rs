//! `cargo xtask bench audit`: the audit log, measured in one run side by side with an auditor's
//! independent check in Python (`benches/audit_peer.py`: the duckdb package and hashlib,
//! following docs/formats/audit-log.md alone): (a) `cairn audit verify` over 1,000,000 entries
//! (goal ≤ 2 s on this machine), (b) the share of recording a run (its start and end through
//! the one write path, one transaction each) spent appending its two audit entries (goal ≤ 5%). The
//! Rust half is `crates/cairn-app/examples/bench_audit.rs`, built in release.

use super::{Machine, PyEnv, ensure_venv, median, release_build, section_head, write_section};
use anyhow::{Context, Result, bail};
use serde_json::Value;
use std::fs;
use std::path::Path;
use std::process::Command;

pub const USAGE: &str =
    "usage: cargo xtask bench audit [--entries 1000000] [--runs 1000] [--repeats 3]";
const SECTION: &str = "## Audit log (issue 16)";

pub fn main(args: &[String]) -> Result<()> {
    let (mut entries, mut runs, mut repeats) = (1_000_000u64, 1_000usize, 3usize);
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut value = || -> Result<String> {
            it.next()
                .map(|v| v.replace('_', ""))
                .with_context(|| format!("{a} needs a value\n{USAGE}"))
        };
        match a.as_str() {
            "--entries" => entries = value()?.parse().context("--entries takes a count")?,
            "--runs" => runs = value()?.parse().context("--runs takes a count")?,
            "--repeats" => repeats = value()?.parse().context("--repeats takes a count")?,
            other => bail!("unknown option {other}\n{USAGE}"),
        }
    }
    if entries == 0 || runs == 0 || repeats == 0 {
        bail!("counts must be at least 1");
    }
    let shown = std::iter::once("cargo xtask bench audit".to_string())
        .chain(args.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ");
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let cache = Path::new(&home).join(".cache/cairn-bench");
    let work = cache.join("work/audit");
    let _ = fs::remove_dir_all(&work);
    fs::create_dir_all(&work).with_context(|| format!("creating {}", work.display()))?;

    println!("[1/3] release builds: cairn, bench_audit");
    let cairn_bin = super::build_cairn(&home)?;
    let bench = release_build(
        &home,
        &["-p", "cairn-app", "--example", "bench_audit"],
        "release/examples/bench_audit",
    )?;
    println!("[2/3] python peer (duckdb=={})", super::DUCKDB_PIN);
    let python = ensure_venv(
        &cache,
        &PyEnv {
            dir: "venv-audit",
            probe: "import duckdb; print(duckdb.__version__)",
            want: super::DUCKDB_PIN.to_string(),
            installs: vec![vec![format!("duckdb=={}", super::DUCKDB_PIN)]],
        },
    )?;
    println!("[3/3] Cairn: {entries} entries, {runs} runs; then the peer");
    let out = Command::new(&bench)
        .arg(&work)
        .args([entries.to_string(), runs.to_string(), repeats.to_string()])
        .output()
        .context("running bench_audit")?;
    if !out.status.success() {
        bail!(
            "bench_audit failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let cairn: Value = serde_json::from_slice(&out.stdout).context("bench_audit's JSON")?;
    // What the goal compares with: `cairn log` creating the same number of runs (its JSON lines
    // are the tracking benchmark's), start to exit, median of `repeats`.
    let lines = super::tracking::runs_file(&work, runs)?;
    let mut log_walls = Vec::new();
    for _ in 0..repeats {
        let sample = super::tracking::cairn_log(
            &cairn_bin,
            &work.join("ws-log"),
            &lines,
            &work.join("time.txt"),
        )?;
        log_walls.push(sample.wall.as_secs_f64());
    }
    let log_s = median(log_walls);
    let db = cairn["db"].as_str().context("db")?.to_string();
    let peer_out = Command::new(&python)
        .arg(crate::root().join("benches/audit_peer.py"))
        .args([&db, &repeats.to_string()])
        .output()
        .context("running benches/audit_peer.py")?;
    if !peer_out.status.success() {
        bail!(
            "audit_peer.py failed: {}",
            String::from_utf8_lossy(&peer_out.stderr)
        );
    }
    let peer: Value = serde_json::from_slice(&peer_out.stdout).context("the peer's JSON")?;
    if peer["ok"] != Value::Bool(true) || peer["entries"].as_u64() != Some(entries) {
        bail!("the peer does not verify Cairn's log: {peer}");
    }
    let secs = |v: &Value| -> Vec<f64> {
        v.as_array()
            .map(|a| a.iter().filter_map(Value::as_f64).collect())
            .unwrap_or_default()
    };
    let cairn_verify = median(secs(&cairn["verify_s"]));
    let peer_verify = median(secs(&peer["seconds"]));
    let timed: Vec<(u64, f64, f64)> = cairn["timed"]
        .as_array()
        .context("timed")?
        .iter()
        .map(|t| {
            (
                t["per_batch"].as_u64().unwrap_or(0),
                t["runs_s"].as_f64().unwrap_or(f64::NAN),
                t["audit_s"].as_f64().unwrap_or(f64::NAN),
            )
        })
        .collect();
    let m = Machine::probe();
    let mut s = section_head(SECTION, "audit", &shown, &super::cairn_commit(), &m, "");
    s.push_str(&format!(
        "- Peer: `benches/audit_peer.py` (Python 3, duckdb {} and hashlib): an auditor's check \
         written from docs/formats/audit-log.md alone; it agrees with Cairn that the log verifies\n\n",
        super::DUCKDB_PIN
    ));
    s.push_str(
        "| task | Cairn | peer | peer / Cairn | goal |\n| --- | ---: | ---: | ---: | --- |\n",
    );
    s.push_str(&format!(
        "| (a) verify {entries} entries (median of {repeats}) | {cairn_verify:.2} s ({:.0} entries/s) | {peer_verify:.2} s | **{:.1}×** | ≤ 2 s: {} |\n",
        entries as f64 / cairn_verify,
        peer_verify / cairn_verify,
        if cairn_verify <= 2.0 { "met" } else { "not met" }
    ));
    for (per_batch, runs_s, audit_s) in &timed {
        let share = audit_s / runs_s * 100.0;
        s.push_str(&format!(
            "| (b) audit entries' share of writing {runs} runs, {per_batch} per transaction | {share:.1}% ({:.1} µs of {:.1} µs a run) | — | — | — |\n",
            audit_s / runs as f64 * 1e6,
            runs_s / runs as f64 * 1e6,
        ));
    }
    if let Some((per_batch, _, audit_s)) = timed.last() {
        let share = audit_s / log_s * 100.0;
        s.push_str(&format!(
            "| (b) audit entries ({per_batch} runs per transaction) against `cairn log` creating {runs} runs (median of {repeats}: {log_s:.2} s, {:.0} runs/s) | {share:.1}% ({:.1} µs of {:.0} µs a run) | — | — | ≤ 5%: {} |\n",
            runs as f64 / log_s,
            audit_s / runs as f64 * 1e6,
            log_s / runs as f64 * 1e6,
            if share <= 5.0 { "met" } else { "not met" }
        ));
    }
    s.push('\n');
    s.push_str(&format!(
        "(a) `Workspace::audit_verify` (what `cairn audit verify` runs) reads every entry in \
         sequence order from DuckDB as Arrow batches, recomputes each SHA-256 (two threads) and \
         checks each link; the {entries} entries were appended in batches of 10,000 in {:.1} s. \
         The peer reads the same rows with the duckdb package and hashes them with hashlib. \
         (b) {runs} finished runs (10 params, 5 metrics, 3 tags) recorded through `write_runs` — \
         each run's start and end with their two audit entries — one run per transaction and \
         250 per transaction (one `cairn log` flush of 5,000 events holds about that many runs \
         of 20 events); the time spent appending the audit entries is timed inside the store. \
         DuckDB's cost here is per statement (about a millisecond each on this machine); an \
         append is one statement (the entries in one INSERT, or DuckDB's appender past 64), \
         after the handle found the log's head once.\n",
        cairn["seed_s"].as_f64().unwrap_or(f64::NAN)
    ));
    write_section(SECTION, &s)
}
