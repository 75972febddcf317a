//! Turns of one workspace: a reader in a tight loop cannot starve a logger's flush, training
//! leaves the workspace free between its batches, and jobs run side by side.

use cairn_app::{
    JobKind, JobOutcome, JobState, Jobs, LogOptions, LogSession, ParamValue, Progress, RunStart,
    RunStatus, TrainRequest, Workspace, WorkspaceDir,
};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../sample-data")
        .join(name)
}

/// The tests of this file measure waits; they take turns so that one's training does not
/// slow another's measurement on a two-core machine.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

fn import(root: &Path, file: &str) {
    let mut ws = Workspace::open(root).unwrap();
    ws.import_dataset(
        &sample(file),
        None,
        Default::default(),
        &mut Progress::silent(),
    )
    .unwrap();
}

#[test]
fn a_reader_opening_every_10_ms_does_not_delay_a_loggers_flush() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    Workspace::open(&root).unwrap();
    let session = LogSession::open(
        &root,
        LogOptions {
            // Flushes happen when asked, below.
            flush_every: 1 << 30,
            flush_interval: Duration::from_secs(3600),
            ..LogOptions::default()
        },
    )
    .unwrap();
    let run = session
        .start(RunStart {
            name: Some("beside-a-reader".into()),
            ..RunStart::default()
        })
        .unwrap();
    // Each flush writes 500 points; first alone, then beside the reader.
    let flush = |batch: u64| {
        for i in 0..500 {
            run.metric("loss", 1.0 / (i + 1) as f64, Some(batch * 500 + i))
                .unwrap();
        }
        let started = Instant::now();
        session.flush().unwrap();
        let took = started.elapsed();
        std::thread::sleep(Duration::from_millis(50));
        took
    };
    let mut alone: Vec<Duration> = (0..10).map(flush).collect();
    alone.sort();
    let typical = alone[alone.len() / 2];
    let stop = Arc::new(AtomicBool::new(false));
    let reader = {
        let (root, stop) = (root.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut opens = 0u32;
            while !stop.load(Ordering::Relaxed) {
                let ws = Workspace::open_waiting(&root, Duration::from_secs(30)).unwrap();
                let _ = ws.runs().unwrap();
                drop(ws);
                opens += 1;
                std::thread::sleep(Duration::from_millis(10));
            }
            opens
        })
    };
    let slowest = (10..30).map(flush).max().unwrap();
    stop.store(true, Ordering::Relaxed);
    let opens = reader.join().unwrap();
    run.end(RunStatus::Finished, None).unwrap();
    session.close("done").unwrap();
    let delay = slowest.saturating_sub(typical);
    eprintln!(
        "# flush alone (median) {typical:?}; slowest beside the reader {slowest:?}, \
         a delay of {delay:?} ({opens} opens by the reader)"
    );
    assert!(opens >= 20, "the reader kept opening ({opens} times)");
    assert!(
        delay < Duration::from_secs(1),
        "the reader delayed a flush by {delay:?}"
    );
    let ws = Workspace::open(&root).unwrap();
    assert_eq!(
        ws.run("beside-a-reader").unwrap().history["loss"].len(),
        15_000
    );
}

fn long_request(name: &str, epochs: i64) -> TrainRequest {
    TrainRequest {
        dataset: "digits".into(),
        target: "target".into(),
        model: "mlp".into(),
        seed: 3,
        name: Some(name.into()),
        params: [("epochs".to_string(), ParamValue::Int(epochs))].into(),
        ..Default::default()
    }
}

#[test]
fn while_training_runs_the_workspace_answers_and_shows_its_progress() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    import(&root, "digits.csv");
    let jobs = Jobs::new();
    let d = WorkspaceDir::new(&root);
    let job = jobs.spawn(JobKind::Train, "digits", move |ctx| {
        ctx.workspace(&d).train(&long_request("long", 100_000), ctx)
    });
    // The run appears, and its epochs grow, while the job trains; each look takes a turn.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut seen: Vec<usize> = Vec::new();
    let mut slowest = Duration::ZERO;
    while seen.len() < 3 || seen.last() == seen.first() {
        assert!(Instant::now() < deadline, "no progress visible: {seen:?}");
        let started = Instant::now();
        let ws = Workspace::open_waiting(&root, Duration::from_secs(30)).unwrap();
        slowest = slowest.max(started.elapsed());
        if let Ok(d) = ws.run("long") {
            assert_eq!(d.run.status, RunStatus::Running);
            seen.push(d.history.get("train_loss").map_or(0, Vec::len));
        }
        drop(ws);
        std::thread::sleep(Duration::from_millis(700));
    }
    eprintln!("# epochs seen while training: {seen:?}; slowest open {slowest:?}");
    assert!(
        slowest < Duration::from_secs(2),
        "an open waited {slowest:?}"
    );
    assert_eq!(jobs.get(&job.id).unwrap().state, JobState::Running);

    // A bundle export of another run at the same time, as a second job.
    {
        let mut ws = Workspace::open_waiting(&root, Duration::from_secs(30)).unwrap();
        ws.import_dataset(
            &sample("iris.csv"),
            None,
            Default::default(),
            &mut Progress::silent(),
        )
        .unwrap();
    }
    let small = WorkspaceDir::new(&root)
        .train(
            &TrainRequest {
                dataset: "iris".into(),
                target: "target".into(),
                model: "logistic".into(),
                name: Some("small".into()),
                ..Default::default()
            },
            &mut Progress::silent(),
        )
        .unwrap();
    assert_eq!(small.status, RunStatus::Finished);
    let (d, out) = (WorkspaceDir::new(&root), dir.path().join("small.zip"));
    let export = jobs.spawn(JobKind::BundleExport, "small", move |ctx| {
        ctx.workspace(&d)
            .export_bundle("small", &out, &Default::default(), ctx)
    });
    let export = jobs.wait(&export.id, Duration::from_secs(120)).unwrap();
    assert_eq!(export.state, JobState::Finished, "{:?}", export.error);
    assert!(matches!(export.outcome, Some(JobOutcome::Bundle(_))));
    assert!(dir.path().join("small.zip").exists());
    assert_eq!(jobs.get(&job.id).unwrap().state, JobState::Running);

    // Cancel: the run is recorded as killed, with what it learnt.
    assert!(jobs.cancel(&job.id));
    let ended = jobs.wait(&job.id, Duration::from_secs(120)).unwrap();
    assert_eq!(ended.state, JobState::Cancelled);
    let Some(JobOutcome::Run(run)) = ended.outcome else {
        panic!("{ended:?}")
    };
    assert_eq!(run.status, "killed");
    let ws = Workspace::open(&root).unwrap();
    let d = ws.run("long").unwrap();
    assert_eq!(d.run.status, RunStatus::Killed);
    assert!(
        d.artifacts
            .iter()
            .any(|a| a.path == "model/weights.safetensors")
    );
    let epochs = d.history["train_loss"].len();
    assert!(epochs >= *seen.last().unwrap(), "{epochs} epochs kept");
}

#[test]
fn two_trainings_in_one_process_keep_every_point() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    import(&root, "digits.csv");
    let trains: Vec<_> = [("a", 12), ("b", 9)]
        .into_iter()
        .map(|(name, epochs)| {
            let d = WorkspaceDir::new(&root);
            std::thread::spawn(move || {
                d.train(&long_request(name, epochs), &mut Progress::silent())
                    .unwrap()
            })
        })
        .collect();
    for t in trains {
        assert_eq!(t.join().unwrap().status, RunStatus::Finished);
    }
    let ws = Workspace::open(&root).unwrap();
    for (name, epochs) in [("a", 12u64), ("b", 9)] {
        let d = ws.run(name).unwrap();
        let n_train = d.run.metrics["n_train"] as u64;
        let steps = epochs * n_train.div_ceil(32);
        let step_loss: Vec<u64> = d.history["step_loss"].iter().map(|p| p.step).collect();
        assert_eq!(step_loss, (1..=steps).collect::<Vec<_>>(), "{name}");
        let per_epoch: Vec<u64> = d.history["train_loss"].iter().map(|p| p.step).collect();
        assert_eq!(per_epoch, (1..=epochs).collect::<Vec<_>>(), "{name}");
        assert!(d.run.metrics["test_accuracy"] > 0.8, "{name}");
    }
}

#[test]
fn work_that_needs_the_workspace_waits_for_a_held_turn_and_names_it() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    import(&root, "iris.csv");
    let held = WorkspaceDir::new(&root).open("importing big.csv").unwrap();
    let told: Arc<std::sync::Mutex<Vec<String>>> = Arc::default();
    let sink = told.clone();
    let d = WorkspaceDir::new(&root)
        .waiting(Duration::from_millis(1200))
        .on_wait(move |h| sink.lock().unwrap().push(h.to_string()));
    let err = d
        .train(
            &TrainRequest {
                dataset: "iris".into(),
                target: "target".into(),
                model: "logistic".into(),
                ..Default::default()
            },
            &mut Progress::silent(),
        )
        .unwrap_err();
    assert_eq!(err.code, cairn_app::ErrorCode::WorkspaceLocked);
    assert!(err.message.contains("importing big.csv"), "{}", err.message);
    let told = told.lock().unwrap();
    assert_eq!(told.len(), 1);
    assert!(told[0].contains("importing big.csv"), "{}", told[0]);
    drop(held);
}
