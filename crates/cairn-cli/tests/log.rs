//! `cairn log` as a script uses it: JSON lines on stdin, crash safety under SIGKILL, two
//! processes writing to one workspace, hostile input, typed params found by search.

mod common;
use common::*;

use serde_json::Value;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Output};
use std::time::{Duration, Instant};

fn spawn_log(ws: &Path, args: &[&str]) -> Child {
    let args: Vec<&str> = std::iter::once("log").chain(args.iter().copied()).collect();
    spawn_cairn(ws, &args, &[], true)
}

/// Runs `cairn log ARGS` with `input` on stdin to the end.
fn log(ws: &Path, args: &[&str], input: &[u8]) -> Output {
    let mut child = spawn_log(ws, args);
    let mut stdin = child.stdin.take().unwrap();
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let out = child.wait_with_output().unwrap();
    writer.join().unwrap();
    out
}

fn metric_lines(from: u64, to: u64) -> String {
    (from..to)
        .map(|i| {
            format!(
                "{{\"event\":\"metric\",\"key\":\"loss\",\"value\":{},\"step\":{i}}}\n",
                1.0 / (i + 1) as f64
            )
        })
        .collect()
}

/// Points of `loss` the workspace holds for `run` (opened in this process, briefly).
fn stored_points(ws: &Path, run: &str) -> usize {
    let w = cairn_app::Workspace::open_waiting(ws, Duration::from_secs(20)).unwrap();
    match w.run(run) {
        Ok(d) => d.history.get("loss").map_or(0, Vec::len),
        Err(_) => 0,
    }
}

#[test]
fn sigkill_keeps_every_flushed_batch_and_the_run_is_found_killed() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let mut child = spawn_log(&ws, &["--flush-every", "500"]);
    let mut stdin = child.stdin.take().unwrap();
    // 1 start + 999 points = 1,000 events: two flushes by count (499, then 999 points).
    stdin
        .write_all(br#"{"event":"start","name":"crash","params":{"lr":0.1}}"#)
        .unwrap();
    stdin.write_all(b"\n").unwrap();
    stdin.write_all(metric_lines(0, 999).as_bytes()).unwrap();
    stdin.flush().unwrap();
    let started = Instant::now();
    while stored_points(&ws, "crash") < 999 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no flush visible"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    // More points, below the count threshold: the kill may come before their flush.
    stdin.write_all(metric_lines(999, 1299).as_bytes()).unwrap();
    stdin.flush().unwrap();
    kill_hard(&mut child);

    let shown = json(&cairn(&ws, &["runs", "show", "crash", "--json"]));
    assert_eq!(shown["status"], "killed");
    let error = shown["error"].as_str().unwrap();
    assert!(
        error.contains(&format!(
            "`cairn log` process running it (pid {})",
            child.id()
        )) && error.contains("ended without finishing"),
        "{error}"
    );
    let steps: Vec<u64> = shown["history"]["loss"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["step"].as_u64().unwrap())
        .collect();
    // Everything up to the last flushed batch, in order, without a gap (a batch lands whole;
    // a timed flush may have written some of the last 300 before the kill).
    assert!(steps.len() >= 999, "{} points", steps.len());
    assert_eq!(steps, (0..steps.len() as u64).collect::<Vec<_>>());
    assert_eq!(shown["params"]["lr"]["value"], 0.1);

    let found = json(&cairn(
        &ws,
        &["runs", "search", "attributes.status = 'killed'", "--json"],
    ));
    assert_eq!(found["total"], 1);
    assert_eq!(found["runs"][0]["name"], "crash");
    assert_eq!(found["runs"][0]["status"], "killed");
}

#[test]
fn two_processes_logging_at_once_lose_nothing() {
    const POINTS: u64 = 20_000;
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    json(&cairn(&ws, &["init", "--json"]));
    let children: Vec<_> = ["left", "right"]
        .into_iter()
        .map(|name| {
            let mut child = spawn_log(&ws, &["--flush-every", "2000", "--json"]);
            let mut stdin = child.stdin.take().unwrap();
            let mut input = format!(
                "{{\"event\":\"start\",\"name\":\"{name}\",\"tags\":{{\"side\":\"{name}\"}}}}\n"
            );
            for i in 0..POINTS {
                input.push_str(&format!(
                    "{{\"event\":\"metrics\",\"values\":{{\"loss\":{},\"acc\":{}}}}}\n",
                    1.0 / (i + 1) as f64,
                    i as f64 / POINTS as f64
                ));
            }
            input.push_str("{\"event\":\"end\",\"status\":\"finished\"}\n");
            let writer = std::thread::spawn(move || {
                // Small writes, so both processes are busy at the same time.
                for chunk in input.as_bytes().chunks(64 * 1024) {
                    stdin.write_all(chunk).unwrap();
                }
            });
            (name, child, writer)
        })
        .collect();
    for (name, child, writer) in children {
        writer.join().unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let landed: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(landed["name"], name);
        assert_eq!(landed["status"], "finished");
        assert_eq!(landed["metrics"], 2 * POINTS);
    }
    for name in ["left", "right"] {
        let shown = json(&cairn(&ws, &["runs", "show", name, "--json"]));
        assert_eq!(shown["status"], "finished");
        assert_eq!(shown["tags"]["side"], name);
        for key in ["loss", "acc"] {
            let steps: Vec<u64> = shown["history"][key]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p["step"].as_u64().unwrap())
                .collect();
            assert_eq!(steps, (0..POINTS).collect::<Vec<_>>(), "{name} {key}");
        }
    }
    let found = json(&cairn(
        &ws,
        &["runs", "search", "attributes.status = 'finished'", "--json"],
    ));
    assert_eq!(found["total"], 2);
}

#[test]
fn hostile_input_is_reported_by_line_and_the_rest_recorded() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let mut input: Vec<u8> = Vec::new();
    input.extend_from_slice(b"\xEF\xBB\xBF{\"event\":\"start\",\"name\":\"ok\"}\n"); // 1
    input.extend_from_slice(b"garbage\n"); // 2
    input.extend_from_slice(b"{\"event\":\"metric\",\"key\":\"loss\",\"value\":\"NaN\"}\n"); // 3
    input.extend_from_slice(b"\xff\xfe\xfd\n"); // 4
    input.extend_from_slice(&vec![b'x'; cairn_app::MAX_LINE_BYTES + 1]); // 5
    input.extend_from_slice(b"\n");
    input.extend_from_slice(b"{\"event\":\"metric\",\"key\":\"loss\",\"value\":0.5}\r\n"); // 6
    input.extend_from_slice(b"\n"); // 7
    input.extend_from_slice(b"{\"event\":\"end\"}\n"); // 8
    let out = log(&ws, &[], &input);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    for (line, what) in [
        (2, "column 1: not JSON"),
        (3, "finite numbers only"),
        (4, "not UTF-8"),
        (5, "longer than 8 MiB"),
    ] {
        let reported = stderr
            .lines()
            .find(|l| l.starts_with(&format!("cairn log: line {line}: ")))
            .unwrap_or_else(|| panic!("line {line} not reported: {stderr}"));
        assert!(reported.contains(what), "{line}: {reported}");
    }
    assert!(stderr.contains("4 of 8 lines were rejected"), "{stderr}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("finished: 0 params, 0 tags, 1 metric points"),
        "{stdout}"
    );
    let shown = json(&cairn(&ws, &["runs", "show", "ok", "--json"]));
    assert_eq!(shown["status"], "finished");
    assert_eq!(shown["history"]["loss"][0]["value"], 0.5);

    // --strict stops at the first bad line; the open run is failed, with the reason.
    let strict = log(
        &ws,
        &["--strict", "--json"],
        b"{\"event\":\"start\",\"name\":\"strict\"}\n{\"event\":\"metric\",\"key\":\"a\",\"value\":1}\n{\"event\":\"metric\",\"key\":\"a\"}\n{\"event\":\"metric\",\"key\":\"a\",\"value\":2}\n",
    );
    assert_eq!(strict.status.code(), Some(1));
    let landed: Value = serde_json::from_slice(&strict.stdout).unwrap();
    assert_eq!(landed["status"], "failed");
    assert!(
        landed["error"]
            .as_str()
            .unwrap()
            .contains("--strict stopped at line 3: field `value` is missing"),
        "{landed}"
    );
    assert_eq!(landed["metrics"], 1);
}

#[test]
fn typed_params_round_trip_and_search_compares_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let input = br##"{"event":"start","name":"exp-1","params":{"lr":0.01,"layers":[64,32],"opt":"adam","bn":true,"epochs":10,"one":1.0},"tags":{"team":"risk"},"note":"# Baseline"}
{"event":"metric","key":"loss","value":0.5}
{"event":"end","status":"finished"}
{"event":"start","name":"exp-2","params":{"lr":0.5},"parent":"exp-1"}
{"event":"end","status":"failed","error":"diverged"}
"##;
    let out = log(&ws, &["--json"], input);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let landed: Vec<Value> = out
        .stdout
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    assert_eq!(landed.len(), 2);
    assert_eq!(landed[0]["params"], 6);
    assert_eq!(landed[1]["status"], "failed");

    let shown = json(&cairn(&ws, &["runs", "show", "exp-1", "--json"]));
    let p = &shown["params"];
    assert_eq!(p["lr"], serde_json::json!({"type": "float", "value": 0.01}));
    assert_eq!(p["epochs"], serde_json::json!({"type": "int", "value": 10}));
    assert_eq!(p["one"], serde_json::json!({"type": "float", "value": 1.0}));
    assert_eq!(p["bn"], serde_json::json!({"type": "bool", "value": true}));
    assert_eq!(
        p["opt"],
        serde_json::json!({"type": "str", "value": "adam"})
    );
    assert_eq!(
        p["layers"],
        serde_json::json!({"type": "list", "value": [{"type": "int", "value": 64}, {"type": "int", "value": 32}]})
    );
    assert_eq!(shown["note"], "# Baseline");
    assert_eq!(shown["children"], 1);
    let child = json(&cairn(&ws, &["runs", "show", "exp-2", "--json"]));
    assert_eq!(child["parent_id"], shown["id"]);
    assert_eq!(child["error"], "diverged");

    let found = json(&cairn(
        &ws,
        &["runs", "search", "params.lr < 0.1", "--json"],
    ));
    assert_eq!(found["total"], 1);
    assert_eq!(found["runs"][0]["name"], "exp-1");
    let q = format!(
        "attributes.parent_run_id = '{}'",
        shown["id"].as_str().unwrap()
    );
    let found = json(&cairn(&ws, &["runs", "search", &q, "--json"]));
    assert_eq!(found["runs"][0]["name"], "exp-2");
    let text = cairn(&ws, &["runs", "show", "exp-1"]);
    let text = String::from_utf8_lossy(&text.stdout);
    assert!(text.contains("children  1 runs"), "{text}");

    // A logged run has no trained model: bundling it is refused, saying why, and writes nothing.
    let zip = dir.path().join("exp-1.zip");
    let refused = cairn(
        &ws,
        &[
            "bundle",
            "export",
            "exp-1",
            "--out",
            zip.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(refused.status.code(), Some(1));
    let err: Value = serde_json::from_slice(&refused.stdout).unwrap();
    let err = err["error"].clone();
    assert_eq!(err["code"], "invalid_input");
    let err = err["message"].as_str().unwrap();
    assert!(
        err.contains("has no trained model") && err.contains("cairn train"),
        "{err}"
    );
    assert!(!zip.exists());
}

#[test]
fn input_that_ends_without_end_records_a_failed_run() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let out = log(
        &ws,
        &["--json"],
        b"{\"event\":\"start\",\"name\":\"cut\"}\n{\"event\":\"metric\",\"key\":\"loss\",\"value\":1}\n",
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let landed: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(landed["status"], "failed");
    assert!(
        landed["error"]
            .as_str()
            .unwrap()
            .contains("without an `end` event"),
        "{landed}"
    );
    let shown = json(&cairn(&ws, &["runs", "show", "cut", "--json"]));
    assert_eq!(shown["status"], "failed");
    assert_eq!(shown["history"]["loss"].as_array().unwrap().len(), 1);
}

#[test]
fn system_metrics_are_sampled_while_a_run_is_open() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let mut child = spawn_log(&ws, &["--system-metrics-every", "0.2"]);
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(b"{\"event\":\"start\",\"name\":\"sys\"}\n")
        .unwrap();
    stdin.flush().unwrap();
    // Samples are taken while the run is open: wait until it is on disk, then for samples.
    let started = Instant::now();
    while cairn_app::Workspace::open_waiting(&ws, Duration::from_secs(20))
        .unwrap()
        .run("sys")
        .is_err()
    {
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the run never landed"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(Duration::from_millis(1500));
    stdin.write_all(b"{\"event\":\"end\"}\n").unwrap();
    drop(stdin);
    ok(&child.wait_with_output().unwrap());
    let shown = json(&cairn(&ws, &["runs", "show", "sys", "--json"]));
    let cpu = shown["history"]["system/cpu_percent"].as_array().unwrap();
    assert!(cpu.len() >= 3, "{cpu:?}");
    let rss = shown["metrics"]["system/rss_mb"].as_f64().unwrap();
    assert!(rss > 0.0);
}

/// Now as epoch milliseconds.
fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

fn time_of(run: &Value, field: &str) -> i64 {
    let text = run[field]
        .as_str()
        .unwrap_or_else(|| panic!("{field}: {run}"));
    cairn_core::epoch_millis(text).unwrap_or_else(|| panic!("{field}: {text}"))
}

#[test]
fn runs_start_and_end_when_their_lines_arrive_or_at_their_time() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    // The workspace exists and the process is reading before the timed lines are sent (the
    // 50 ms are counted from a line's arrival, not from the process's start).
    log(
        &ws,
        &[],
        b"{\"event\":\"start\",\"name\":\"first\"}\n{\"event\":\"end\"}\n",
    );
    let mut child = spawn_log(&ws, &[]);
    let mut stdin = child.stdin.take().unwrap();
    let mut send = |line: &str| -> i64 {
        let at = now_ms();
        stdin.write_all(format!("{line}\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
        at
    };
    send(r#"{"event":"start","name":"warm-up"}"#);
    send(r#"{"event":"end"}"#);
    std::thread::sleep(Duration::from_millis(1500));
    // Two short runs within one second: each starts and ends when its line arrives.
    let a_start = send(r#"{"event":"start","name":"a"}"#);
    std::thread::sleep(Duration::from_millis(120));
    let a_end = send(r#"{"event":"end"}"#);
    std::thread::sleep(Duration::from_millis(120));
    let b_start = send(r#"{"event":"start","name":"b"}"#);
    std::thread::sleep(Duration::from_millis(120));
    let b_end = send(r#"{"event":"end"}"#);
    // A run replayed from a log: its own times, in either form.
    send(r#"{"event":"start","name":"replayed","time":1795428000000}"#);
    send(r#"{"event":"end","status":"killed","time":"2026-11-23T11:00:30.5+01:00"}"#);
    drop(stdin);
    ok(&child.wait_with_output().unwrap());

    for (name, start, end) in [("a", a_start, a_end), ("b", b_start, b_end)] {
        let run = json(&cairn(&ws, &["runs", "show", name, "--json"]));
        for (field, sent) in [("created_at", start), ("finished_at", end)] {
            let got = time_of(&run, field);
            assert!(
                (sent - 2..=sent + 50).contains(&got),
                "{name}.{field}: recorded {got}, line sent at {sent}"
            );
        }
    }
    let a = json(&cairn(&ws, &["runs", "show", "a", "--json"]));
    let b = json(&cairn(&ws, &["runs", "show", "b", "--json"]));
    assert!(time_of(&a, "finished_at") > time_of(&a, "created_at"));
    assert!(time_of(&b, "created_at") > time_of(&a, "finished_at"));
    let replayed = json(&cairn(&ws, &["runs", "show", "replayed", "--json"]));
    assert_eq!(replayed["created_at"], "2026-11-23T10:00:00Z");
    assert_eq!(replayed["finished_at"], "2026-11-23T10:00:30.5Z");
    assert_eq!(replayed["status"], "killed");
    // Search compares them as MLflow's clients do.
    let found = json(&cairn(
        &ws,
        &["runs", "search", "start_time = 1795428000000", "--json"],
    ));
    assert_eq!(found["total"], 1, "{found}");

    // A time that is not one is refused with the line and what to send.
    let bad = log(
        &ws,
        &[],
        b"{\"event\":\"start\",\"name\":\"c\",\"time\":1700000000}\n{\"event\":\"start\",\"name\":\"d\",\"time\":\"noon\"}\n{\"event\":\"start\",\"name\":\"e\",\"time\":true}\n",
    );
    let stderr = String::from_utf8_lossy(&bad.stderr);
    for (line, what) in [
        (1, "seconds? multiply by 1000"),
        (2, "\"noon\" is not a time"),
        (3, "expected epoch milliseconds"),
    ] {
        assert!(
            stderr.contains(&format!("line {line}: field `time`: ")) && stderr.contains(what),
            "{line}: {stderr}"
        );
    }
}
