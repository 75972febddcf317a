//! Recording runs from outside the trainer: the Rust API (`LogSession`, `RunLogger`) and the
//! JSON-lines protocol of `cairn log` (`LogStream`), on a real workspace in a temp dir.

use cairn_app::{
    LineError, LogOptions, LogSession, LogStream, ParamValue, RunOutcome, RunStart, RunStatus,
    Workspace,
};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

fn session(root: &Path, flush_every: usize) -> LogSession {
    LogSession::open(
        root,
        LogOptions {
            flush_every,
            ..LogOptions::default()
        },
    )
    .unwrap()
}

#[test]
fn typed_params_round_trip_and_compare_as_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    let s = session(&root, 1000);
    for (name, lr) in [("small", 0.01), ("large", 0.5)] {
        let run = s
            .start(RunStart {
                name: Some(name.into()),
                params: BTreeMap::from([
                    ("lr".into(), ParamValue::Float(lr)),
                    ("epochs".into(), ParamValue::Int(10)),
                    ("one".into(), ParamValue::Float(1.0)),
                    ("bn".into(), ParamValue::Bool(true)),
                    (
                        "layers".into(),
                        ParamValue::List(vec![ParamValue::Int(64), ParamValue::Int(32)]),
                    ),
                    ("opt".into(), ParamValue::Str("adam".into())),
                ]),
                tags: BTreeMap::from([("team".into(), "risk".into())]),
                note: "# Findings\nlr matters".into(),
                ..Default::default()
            })
            .unwrap();
        run.param("seed_text", ParamValue::Str("42".into()))
            .unwrap();
        for step in 0..5 {
            run.metric("loss", 1.0 / (step + 1) as f64, None).unwrap();
        }
        run.metrics(&[("acc", 0.9), ("f1", 0.8)], Some(10)).unwrap();
        run.end(RunStatus::Finished, None).unwrap();
    }
    s.close("").unwrap();

    let mut ws = Workspace::open(&root).unwrap();
    let small = ws.run("small").unwrap();
    let r = &small.run;
    assert_eq!(r.status, RunStatus::Finished);
    assert_eq!(r.params["lr"], ParamValue::Float(0.01));
    assert_eq!(r.params["epochs"], ParamValue::Int(10));
    assert_eq!(r.params["one"], ParamValue::Float(1.0), "1.0 stays a float");
    assert_eq!(r.params["bn"], ParamValue::Bool(true));
    assert_eq!(
        r.params["layers"],
        ParamValue::List(vec![ParamValue::Int(64), ParamValue::Int(32)])
    );
    assert_eq!(r.params["seed_text"], ParamValue::Str("42".into()));
    assert_eq!(r.tags["team"], "risk");
    assert_eq!(r.note, "# Findings\nlr matters");
    let steps: Vec<u64> = small.history["loss"].iter().map(|p| p.step).collect();
    assert_eq!(
        steps,
        [0, 1, 2, 3, 4],
        "steps default to the next step of each key"
    );
    assert_eq!(small.history["acc"][0].step, 10);
    assert_eq!(r.metrics["loss"], 0.2);

    let found = ws.search("params.lr < 0.1", 10, 0).unwrap();
    let names: Vec<&str> = found.runs.iter().map(|r| r.name.as_str()).collect();
    assert_eq!(names, ["small"]);
    let found = ws
        .search("params.epochs >= 10 AND params.opt = 'adam'", 10, 0)
        .unwrap();
    assert_eq!(found.total, 2);
    let found = ws.search("findings", 10, 0).unwrap();
    assert_eq!(found.total, 2, "the note is searchable text");
}

#[test]
fn parent_and_dataset_are_resolved_and_wrong_ones_refused() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    let s = session(&root, 1000);
    let parent = s
        .start(RunStart {
            name: Some("sweep".into()),
            ..Default::default()
        })
        .unwrap();
    let parent_id = parent.id().clone();
    parent.end(RunStatus::Finished, None).unwrap();
    for i in 0..3 {
        let child = s
            .start(RunStart {
                name: Some(format!("trial-{i}")),
                parent: Some("sweep".into()),
                ..Default::default()
            })
            .unwrap();
        child.end(RunStatus::Finished, None).unwrap();
    }
    let err = s
        .start(RunStart {
            parent: Some("nope".into()),
            ..Default::default()
        })
        .err()
        .unwrap();
    assert!(err.message.contains("nope"), "{}", err.message);
    let err = s
        .start(RunStart {
            dataset: Some("missing@1".into()),
            ..Default::default()
        })
        .err()
        .unwrap();
    assert!(err.message.contains("missing"), "{}", err.message);
    s.close("").unwrap();

    let mut ws = Workspace::open(&root).unwrap();
    assert_eq!(ws.run("sweep").unwrap().children, 3);
    let child = ws.run("trial-1").unwrap();
    assert_eq!(child.run.parent_id.as_ref(), Some(&parent_id));
    let q = format!("attributes.parent_run_id = '{parent_id}'");
    assert_eq!(ws.search(&q, 10, 0).unwrap().total, 3);
    assert_eq!(ws.info().unwrap().runs, 4);
}

#[test]
fn artifacts_are_stored_once_by_content() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    let file = dir.path().join("model.onnx");
    std::fs::write(&file, b"not really onnx").unwrap();
    let s = session(&root, 1000);
    let mut shas = Vec::new();
    for name in ["a", "b"] {
        let run = s
            .start(RunStart {
                name: Some(name.into()),
                ..Default::default()
            })
            .unwrap();
        shas.push(run.artifact(&file, None).unwrap());
        run.artifact(&file, Some("export/copy.onnx")).unwrap();
        assert!(run.artifact(&file, Some("../escape")).is_err());
        assert!(run.artifact(&dir.path().join("none"), None).is_err());
        run.end(RunStatus::Finished, None).unwrap();
    }
    s.close("").unwrap();
    assert_eq!(shas[0], shas[1]);
    let ws = Workspace::open(&root).unwrap();
    let paths: Vec<String> = ws
        .run("a")
        .unwrap()
        .artifacts
        .into_iter()
        .map(|a| a.path)
        .collect();
    assert_eq!(paths, ["export/copy.onnx", "model.onnx"]);
    let blobs = walk(&root.join("artifacts"));
    assert_eq!(blobs, 1, "one blob for four references");
}

fn walk(dir: &Path) -> usize {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            if p.is_dir() { walk(&p) } else { 1 }
        })
        .sum()
}

#[test]
fn flushes_land_by_count_and_by_time_and_report_ended_runs() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    let landed: Arc<Mutex<Vec<RunOutcome>>> = Default::default();
    let sink = landed.clone();
    let s = LogSession::open(
        &root,
        LogOptions {
            flush_every: 100,
            flush_interval: Duration::from_secs(3600),
            on_landed: Some(Arc::new(move |o: &RunOutcome| {
                sink.lock().unwrap().push(o.clone())
            })),
            ..LogOptions::default()
        },
    )
    .unwrap();
    let run = s.start(RunStart::default()).unwrap();
    let id = run.id().clone();
    for i in 0..250 {
        run.metric("x", i as f64, None).unwrap();
    }
    let points = |root: &Path, id: &String| -> usize {
        let ws = Workspace::open_waiting(root, Duration::from_secs(10)).unwrap();
        ws.run(id)
            .map_or(0, |d| d.history.get("x").map_or(0, Vec::len))
    };
    let key = id.as_str().to_string();
    // Past 100 pending events the background thread writes everything pending (the
    // interval is an hour, so only the count can trigger it).
    // Each look holds the workspace lock while it reads; pausing well past the flusher's
    // longest retry pause (50 ms) between looks leaves it room to take the lock (polling every
    // 20 ms starved it under a loaded CI machine).
    let started = std::time::Instant::now();
    while points(&root, &key) < 250 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no count flush"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
    // Below the count, points wait.
    for i in 250..300 {
        run.metric("x", i as f64, None).unwrap();
    }
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(points(&root, &key), 250);
    assert!(landed.lock().unwrap().is_empty());
    let outcome = run.end(RunStatus::Failed, Some("diverged")).unwrap();
    assert_eq!((outcome.metrics, outcome.status.as_str()), (300, "failed"));
    s.flush().unwrap();
    assert_eq!(points(&root, &key), 300);
    assert_eq!(landed.lock().unwrap().as_slice(), [outcome]);
    s.close("").unwrap();
    let ws = Workspace::open(&root).unwrap();
    let r = ws.run(&key).unwrap().run;
    assert_eq!(r.status, RunStatus::Failed);
    assert_eq!(r.error.as_deref(), Some("diverged"));
    drop(ws);

    // By time: one point, far below the count, lands within the interval.
    let s = LogSession::open(
        &root,
        LogOptions {
            flush_interval: Duration::from_millis(200),
            ..LogOptions::default()
        },
    )
    .unwrap();
    let run = s
        .start(RunStart {
            name: Some("timed".into()),
            ..Default::default()
        })
        .unwrap();
    run.metric("x", 1.0, None).unwrap();
    let started = std::time::Instant::now();
    while points(&root, &"timed".to_string()) < 1 {
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "no timed flush"
        );
        // As above: leave the flusher room to take the lock between looks.
        std::thread::sleep(Duration::from_millis(250));
    }
    run.end(RunStatus::Finished, None).unwrap();
    s.close("").unwrap();
}

#[test]
fn a_dropped_logger_records_a_failed_run_and_a_live_owner_is_not_killed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    let s = session(&root, 1);
    let open = s
        .start(RunStart {
            name: Some("open".into()),
            ..Default::default()
        })
        .unwrap();
    open.metric("x", 1.0, None).unwrap();
    {
        let dropped = s
            .start(RunStart {
                name: Some("dropped".into()),
                ..Default::default()
            })
            .unwrap();
        dropped.metric("x", 1.0, None).unwrap();
    }
    s.flush().unwrap();
    // Another open of the workspace while this process (the owner) is alive leaves the open
    // run running.
    {
        let ws = Workspace::open(&root).unwrap();
        assert!(ws.recovered_runs().is_empty());
        assert_eq!(ws.run("open").unwrap().run.status, RunStatus::Running);
        let d = ws.run("dropped").unwrap().run;
        assert_eq!(d.status, RunStatus::Failed);
        assert!(d.error.unwrap().contains("without ending"));
    }
    open.end(RunStatus::Finished, None).unwrap();
    s.close("").unwrap();
    let ws = Workspace::open(&root).unwrap();
    assert_eq!(ws.run("open").unwrap().run.status, RunStatus::Finished);
}

#[test]
fn two_sessions_in_two_threads_take_turns_and_lose_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    drop(Workspace::open(&root).unwrap());
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let root = root.clone();
            std::thread::spawn(move || {
                let s = session(&root, 500);
                let run = s
                    .start(RunStart {
                        name: Some(format!("w{w}")),
                        ..Default::default()
                    })
                    .unwrap();
                for i in 0..3000 {
                    run.metric("x", i as f64, None).unwrap();
                }
                run.end(RunStatus::Finished, None).unwrap();
                s.close("").unwrap();
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    let ws = Workspace::open(&root).unwrap();
    for w in ["w0", "w1"] {
        let d = ws.run(w).unwrap();
        assert_eq!(d.run.status, RunStatus::Finished);
        let steps: Vec<u64> = d.history["x"].iter().map(|p| p.step).collect();
        assert_eq!(steps, (0..3000).collect::<Vec<u64>>());
    }
}

/// Hostile input, line by line: each bad line is refused whole with its number, the field or
/// column and what to do, and the good lines around it are recorded.
#[test]
fn hostile_lines_are_refused_with_line_field_and_fix() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    let file = dir.path().join("f.txt");
    std::fs::write(&file, b"x").unwrap();
    let long_key = format!(
        r#"{{"event":"metric","key":"{}","value":1}}"#,
        "k".repeat(300)
    );
    let artifact_ok = format!(r#"{{"event":"artifact","path":"{}"}}"#, file.display());
    let artifact_dir = format!(
        r#"{{"event":"artifact","path":"{}"}}"#,
        dir.path().display()
    );
    // (bytes of the line, None = accepted, Some(what the error must say)).
    let cases: Vec<(Vec<u8>, Option<&str>)> = vec![
        (
            b"\xEF\xBB\xBF{\"event\":\"metric\",\"key\":\"x\",\"value\":1}".to_vec(),
            Some("no run is open"),
        ),
        (
            br#"{"event":"start","name":"hostile","params":{"lr":0.1}}"#.to_vec(),
            None,
        ),
        (b"".to_vec(), None),
        (b"   \t ".to_vec(), None),
        (b"not json".to_vec(), Some("column 2: not JSON")),
        (
            br#"{"event":"metric","key":"loss","value":0.5"#.to_vec(),
            Some("not JSON"),
        ),
        (
            br#"[1,2,3]"#.to_vec(),
            Some("expected a JSON object, found an array"),
        ),
        (br#""start""#.to_vec(), Some("found the string")),
        (
            br#"{"key":"loss","value":1}"#.to_vec(),
            Some("field `event` is missing"),
        ),
        (
            br#"{"event":3}"#.to_vec(),
            Some("field `event`: expected a string"),
        ),
        (
            br#"{"event":"launch"}"#.to_vec(),
            Some("unknown event `launch`"),
        ),
        (
            br#"{"event":"metric","key":"loss","value":"0.5"}"#.to_vec(),
            Some("field `value`: expected a number, found the string \"0.5\""),
        ),
        (
            br#"{"event":"metric","key":"loss","value":"NaN"}"#.to_vec(),
            Some("finite numbers only"),
        ),
        (
            br#"{"event":"metric","key":"loss","value":"-Infinity"}"#.to_vec(),
            Some("finite numbers only"),
        ),
        (
            br#"{"event":"metric","key":"loss","value":NaN}"#.to_vec(),
            Some("not JSON"),
        ),
        (
            br#"{"event":"metric","key":"loss","value":1e999}"#.to_vec(),
            Some("not JSON"),
        ),
        (
            br#"{"event":"metric","key":"loss"}"#.to_vec(),
            Some("field `value` is missing"),
        ),
        (
            br#"{"event":"metric","value":1}"#.to_vec(),
            Some("field `key` is missing"),
        ),
        (
            br#"{"event":"metric","key":"","value":1}"#.to_vec(),
            Some("is empty"),
        ),
        (long_key.into_bytes(), Some("longer than 250")),
        (
            br#"{"event":"metric","key":"loss","value":1,"step":-1}"#.to_vec(),
            Some("field `step`"),
        ),
        (
            br#"{"event":"metric","key":"loss","value":1,"step":1.5}"#.to_vec(),
            Some("field `step`"),
        ),
        (
            br#"{"event":"metric","key":"loss","value":1,"stpe":2}"#.to_vec(),
            Some("field `stpe` is not part of a `metric` event"),
        ),
        (
            br#"{"event":"metrics","values":{"a":1,"b":"x"}}"#.to_vec(),
            Some("field `values.b`"),
        ),
        (
            br#"{"event":"metrics","values":[1]}"#.to_vec(),
            Some("field `values`: expected an object"),
        ),
        (
            br#"{"event":"param","key":"big","value":18446744073709551615}"#.to_vec(),
            Some("larger than a 64-bit integer"),
        ),
        (
            br#"{"event":"param","key":"cfg","value":{"a":1}}"#.to_vec(),
            Some("an object is not a param value"),
        ),
        (
            br#"{"event":"param","key":"none","value":null}"#.to_vec(),
            Some("null is not a param value"),
        ),
        (
            br#"{"event":"param","key":"mixed","value":[1,null]}"#.to_vec(),
            Some("field `value[1]`"),
        ),
        (
            br#"{"event":"tag","key":"n","value":3}"#.to_vec(),
            Some("tag values are strings"),
        ),
        (
            br#"{"event":"note","text":null}"#.to_vec(),
            Some("field `text`: expected a string"),
        ),
        (
            br#"{"event":"artifact","path":"/no/such/file"}"#.to_vec(),
            Some("cannot read the artifact"),
        ),
        (artifact_dir.into_bytes(), Some("is not a file")),
        (
            br#"{"event":"end","status":"done"}"#.to_vec(),
            Some("use finished, failed or killed"),
        ),
        (
            br#"{"event":"start","name":"again"}"#.to_vec(),
            Some("a run is already open (`hostile`, started at line 2)"),
        ),
        (
            b"{\"event\":\"tag\",\"key\":\"k\",\"value\":\"\xff\xfe\"}".to_vec(),
            Some("not UTF-8"),
        ),
        (
            b"{\"event\":\"note\",\"text\":\"caf\xc3\xa9 \xe2\x9c\x93\"}\r".to_vec(),
            None,
        ),
        (
            br#"{"event":"param","key":"layers","value":[64,32]}"#.to_vec(),
            None,
        ),
        (
            br#"{"event":"metric","key":"loss","value":0.5,"step":3}"#.to_vec(),
            None,
        ),
        (
            br#"{"event":"metric","key":"loss","value":1e308}"#.to_vec(),
            None,
        ),
        (
            br#"{"event":"metrics","values":{"loss":0.25,"acc":0.9}}"#.to_vec(),
            None,
        ),
        (artifact_ok.into_bytes(), None),
        (br#"{"event":"end","status":"FINISHED"}"#.to_vec(), None),
        (br#"{"event":"end"}"#.to_vec(), Some("no run is open")),
        (
            br#"{"event":"start","parent":"no-such-run"}"#.to_vec(),
            Some("run `no-such-run` was not found"),
        ),
        (
            br#"{"event":"metric","key":"x","value":1}"#.to_vec(),
            Some("the start at line 45 was rejected"),
        ),
    ];
    let mut stream = LogStream::new(session(&root, 1000));
    for (i, (bytes, want)) in cases.iter().enumerate() {
        let number = i as u64 + 1;
        let got = stream.line(number, bytes);
        match (got, want) {
            (Ok(()), None) => {}
            (Err(LineError::Input(msg)), Some(want)) => {
                assert!(msg.starts_with(&format!("line {number}: ")), "{msg}");
                assert!(
                    msg.contains(want),
                    "line {number}: want `{want}` in `{msg}`"
                );
            }
            (got, want) => panic!("line {number}: got {got:?}, want {want:?}"),
        }
    }
    let rejected = cases.iter().filter(|(_, w)| w.is_some()).count() as u64;
    assert_eq!(stream.rejected, rejected);
    stream.finish("").unwrap();

    let ws = Workspace::open(&root).unwrap();
    assert_eq!(ws.info().unwrap().runs, 1, "no half-written or extra run");
    let d = ws.run("hostile").unwrap();
    assert_eq!(d.run.status, RunStatus::Finished);
    assert_eq!(d.run.note, "café ✓");
    assert_eq!(d.run.params.len(), 2);
    assert_eq!(d.run.tags.len(), 0);
    let loss: Vec<(u64, f64)> = d.history["loss"]
        .iter()
        .map(|p| (p.step, p.value))
        .collect();
    assert_eq!(loss, [(3, 0.5), (4, 1e308), (5, 0.25)]);
    assert_eq!(d.history["acc"].len(), 1);
    assert_eq!(d.artifacts.len(), 1);
}

#[test]
fn a_stream_that_ends_without_end_records_a_failed_run() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    let mut stream = LogStream::new(session(&root, 1000));
    stream
        .line(1, br#"{"event":"start","name":"cut"}"#)
        .unwrap();
    stream
        .line(2, br#"{"event":"metric","key":"x","value":1}"#)
        .unwrap();
    assert_eq!(stream.open_run(), Some(1));
    stream
        .finish("the input ended after line 2 without an `end` event")
        .unwrap();
    let ws = Workspace::open(&root).unwrap();
    let r = ws.run("cut").unwrap();
    assert_eq!(r.run.status, RunStatus::Failed);
    assert!(r.run.error.unwrap().contains("without an `end`"));
    assert_eq!(r.history["x"].len(), 1);
}

#[test]
fn training_records_system_metrics_when_asked() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(&dir.path().join("ws")).unwrap();
    let csv = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sample-data/breast_cancer.csv");
    ws.import_dataset(
        &csv,
        None,
        Default::default(),
        &mut cairn_app::Progress::silent(),
    )
    .unwrap();
    let run = ws
        .lend(|d| {
            d.train(
                &cairn_app::TrainRequest {
                    dataset: "breast_cancer".into(),
                    target: "target".into(),
                    model: "logistic".into(),
                    seed: 1,
                    name: Some("sys".into()),
                    params: BTreeMap::from([("epochs".into(), ParamValue::Int(400))]),
                    system_metrics_every: Some(Duration::from_millis(100)),
                    ..Default::default()
                },
                &mut cairn_app::Progress::silent(),
            )
        })
        .unwrap();
    let d = ws.run(run.id.as_str()).unwrap();
    let cpu = &d.history["system/cpu_percent"];
    assert!(!cpu.is_empty());
    assert!(cpu.iter().all(|p| (0.0..=100.0).contains(&p.value)));
    let steps: Vec<u64> = cpu.iter().map(|p| p.step).collect();
    assert_eq!(steps, (0..cpu.len() as u64).collect::<Vec<_>>());
    assert!(d.run.metrics["system/rss_mb"] > 1.0);
}

#[test]
fn open_waiting_waits_for_the_holder_then_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    let held = Workspace::open(&root).unwrap();
    let started = std::time::Instant::now();
    let err = Workspace::open_waiting(&root, Duration::from_millis(300))
        .err()
        .unwrap();
    assert!(started.elapsed() >= Duration::from_millis(300));
    assert_eq!(err.code, cairn_app::ErrorCode::WorkspaceLocked);
    assert!(err.message.contains("in use by"), "{}", err.message);
    // Released within the timeout: the waiter gets it.
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        drop(held);
    });
    let ws = Workspace::open_waiting(&root, Duration::from_secs(20)).unwrap();
    release.join().unwrap();
    assert_eq!(ws.info().unwrap().runs, 0);
}
