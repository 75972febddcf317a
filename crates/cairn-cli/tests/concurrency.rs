//! One workspace, many commands at once, as people use it from several terminals: a long
//! `cairn train` never locks the others out, two trainings run side by side and keep every
//! point, a command waiting for a big import is told who holds the workspace, and a training
//! killed between its last metric batch and its outcome is never `finished` without weights.

mod common;
use common::*;

use serde_json::Value;
use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

/// The tests of this file time trainings; they take turns so that one's training does not
/// slow another's on a two-core machine.
fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock().unwrap_or_else(|p| p.into_inner())
}

fn finish(child: Child) -> Value {
    let out = child.wait_with_output().unwrap();
    json(&out)
}

fn import_digits(ws: &Path) {
    ok(&cairn(
        ws,
        &["data", "import", sample("digits.csv").to_str().unwrap()],
    ));
}

/// `cairn train` of an MLP on digits for `epochs` epochs, named `name`.
fn train_args(name: &str, epochs: u64) -> Vec<String> {
    [
        "--json", "train", "--data", "digits", "--target", "target", "--model", "mlp", "--name",
        name, "--param",
    ]
    .iter()
    .map(|s| s.to_string())
    .chain([format!("epochs={epochs}")])
    .collect()
}

/// Runs a command that must succeed; its JSON answer and how long it took.
fn timed(ws: &Path, args: &[&str]) -> (Value, f64) {
    let started = Instant::now();
    let v = json(&cairn(ws, args));
    (v, started.elapsed().as_secs_f64())
}

/// Every metric point of a trained run is there: one `step_loss` per optimisation step and one
/// point per epoch of each epoch metric.
fn assert_every_point(run: &Value, epochs: u64) {
    assert_eq!(run["status"], "finished", "{}", run["error"]);
    let history = &run["history"];
    let n_train = run["metrics"]["n_train"].as_f64().unwrap() as u64;
    // The MLP default batch size (the run records the params it was given).
    let batch = run["params"]["batch_size"].as_i64().unwrap_or(32) as u64;
    let steps_per_epoch = n_train.div_ceil(batch);
    let step_loss = history["step_loss"].as_array().unwrap();
    assert_eq!(step_loss.len() as u64, epochs * steps_per_epoch);
    let steps: Vec<u64> = step_loss
        .iter()
        .map(|p| p["step"].as_u64().unwrap())
        .collect();
    assert_eq!(steps, (1..=epochs * steps_per_epoch).collect::<Vec<_>>());
    for key in ["train_loss", "train_accuracy", "lr"] {
        let epochs_seen: Vec<u64> = history[key]
            .as_array()
            .unwrap_or_else(|| panic!("no {key}"))
            .iter()
            .map(|p| p["step"].as_u64().unwrap())
            .collect();
        assert_eq!(epochs_seen, (1..=epochs).collect::<Vec<_>>(), "{key}");
    }
    assert!(
        run["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["path"] == "model/weights.safetensors")
    );
}

/// The commands that must answer while trainings run.
const READERS: [&[&str]; 3] = [
    &["runs", "list"],
    &["search", "attributes.status = 'running'"],
    &["data", "profile", "digits"],
];

/// How long a command that must succeed takes.
fn timed_ok(ws: &Path, args: &[&str]) -> Duration {
    let started = Instant::now();
    ok(&cairn(ws, args));
    started.elapsed()
}

/// Times a command that must succeed while `training` still runs.
fn answers_while(ws: &Path, training: &mut Child, args: &[&str]) -> Duration {
    let started = Instant::now();
    let out = cairn(ws, args);
    let took = started.elapsed();
    ok(&out);
    assert!(
        training.try_wait().unwrap().is_none(),
        "`cairn {}` answered only after the training ended",
        args.join(" ")
    );
    took
}

#[test]
fn a_long_training_locks_no_one_out_and_two_trainings_keep_every_point() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    import_digits(&ws);

    // How long an epoch takes here (the difference of two runs leaves out the start-up), so
    // the long run lasts at least a minute on any machine.
    let (_, five) = timed(&ws, &to_refs(&train_args("probe-5", 5)));
    let (_, twenty) = timed(&ws, &to_refs(&train_args("probe-20", 20)));
    // A noisy difference must not ask for an hour of training: an epoch takes at least a
    // quarter of the 20-epoch run's average.
    let per_epoch = ((twenty - five) / 15.0).max(twenty / 80.0);
    let long_epochs = ((80.0 / per_epoch).ceil() as u64).clamp(20, 5_000);
    let short_epochs = (long_epochs / 6).max(5);
    eprintln!("# {per_epoch:.3} s per epoch: the long run has {long_epochs} epochs");

    // The same commands with nothing else running: the difference is the wait for the workspace.
    let idle: Vec<f64> = READERS
        .iter()
        .map(|args| timed_ok(&ws, args).as_secs_f64())
        .collect();

    let started = Instant::now();
    let mut long = spawn_cairn(&ws, &to_refs(&train_args("long", long_epochs)), &[], false);
    // Wait until the long run is recorded and training (its first epoch is written at once).
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        let runs = json(&cairn(&ws, &["--json", "runs", "list"]));
        if runs
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["name"] == "long" && r["status"] == "running")
        {
            break;
        }
        assert!(Instant::now() < deadline, "the long run never started");
        assert!(
            long.try_wait().unwrap().is_none(),
            "the long run ended early"
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // A second training in another terminal, at the same time.
    let short = spawn_cairn(
        &ws,
        &to_refs(&train_args("short", short_epochs)),
        &[],
        false,
    );

    let mut waits = Vec::new();
    for round in 0..3 {
        for (i, args) in READERS.iter().enumerate() {
            waits.push((i, answers_while(&ws, &mut long, args)));
        }
        if round < 2 {
            std::thread::sleep(Duration::from_secs(2));
        }
    }
    for (i, took) in &waits {
        let what = READERS[*i].join(" ");
        eprintln!(
            "# `cairn {what}` answered in {} ms during training ({} ms with nothing running)",
            took.as_millis(),
            (idle[*i] * 1000.0).round()
        );
        // Far below the length of the training (a loaded CI machine is slow to start a debug
        // binary; the wait for the workspace itself is milliseconds).
        assert!(
            *took < Duration::from_secs(15),
            "`cairn {what}` took {took:?}"
        );
    }

    let short = finish(short);
    let long = finish(long);
    let long_took = started.elapsed();
    eprintln!("# the long run took {:.1} s", long_took.as_secs_f64());
    // Sized from the probes for 80 s; the probes' timing is noisy on a shared machine, and
    // what matters — every reader answered while it ran — is asserted in `answers_while`.
    assert!(
        long_took >= Duration::from_secs(30),
        "the long run was meant to be long: {long_took:?}"
    );
    assert_every_point(&short, short_epochs);
    assert_every_point(&long, long_epochs);
    // They overlapped: the short one started after the long one and ended before it.
    assert!(short["created_at"].as_str() > long["created_at"].as_str());
    assert!(short["finished_at"].as_str() < long["finished_at"].as_str());
}

fn to_refs(args: &[String]) -> Vec<&str> {
    args.iter().map(String::as_str).collect()
}

#[test]
fn a_command_waiting_for_the_workspace_is_told_who_holds_it_and_why() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    ok(&cairn(&ws, &["init"]));
    // This test process holds the workspace for a turn, as a big import does.
    let held = cairn_app::WorkspaceDir::new(&ws)
        .open("importing big.csv")
        .unwrap();
    let started = Instant::now();
    let out = cairn(&ws, &["--wait", "1.5", "runs", "list"]);
    let took = started.elapsed();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    let me = format!("Cairn process {}", std::process::id());
    assert!(
        stderr.contains("waiting for the workspace") && stderr.contains(&me),
        "{stderr}"
    );
    assert!(stderr.contains("importing big.csv"), "{stderr}");
    assert!(stderr.contains("in use by"), "{stderr}");
    assert!(took >= Duration::from_millis(1500), "{took:?}");

    // Released meanwhile: the waiter gets its turn.
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(700));
        drop(held);
    });
    ok(&cairn(&ws, &["--wait", "30", "runs", "list"]));
    release.join().unwrap();
}

/// The runs of `ws`, read as the next command would (which also marks dead owners' runs).
fn run_named(ws: &Path, name: &str) -> Value {
    json(&cairn(ws, &["--json", "runs", "show", name]))
}

fn has_weights(run: &Value) -> bool {
    run["artifacts"]
        .as_array()
        .unwrap()
        .iter()
        .any(|a| a["path"] == "model/weights.safetensors")
}

#[cfg(unix)]
#[test]
fn a_kill_between_the_last_metric_batch_and_the_outcome_leaves_a_killed_run() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    ok(&cairn(
        &ws,
        &["data", "import", sample("iris.csv").to_str().unwrap()],
    ));
    let point = "train-before-outcome";
    let mut child = spawn_cairn(
        &ws,
        &[
            "train",
            "--data",
            "iris",
            "--target",
            "target",
            "--name",
            "paused",
            "--param",
            "epochs=20",
        ],
        &[(cairn_app::FAILPOINT_VAR, point)],
        false,
    );
    let marker = ws.join(format!("failpoint-{point}"));
    let deadline = Instant::now() + Duration::from_secs(120);
    while !marker.exists() {
        assert!(Instant::now() < deadline, "the failpoint was never reached");
        assert!(child.try_wait().unwrap().is_none(), "training ended early");
        std::thread::sleep(Duration::from_millis(20));
    }
    kill_hard(&mut child);

    let run = run_named(&ws, "paused");
    assert_eq!(run["status"], "killed", "{run}");
    assert!(
        !has_weights(&run),
        "a killed run before its outcome has no weights"
    );
    // Its history up to the last batch is there: every epoch of the 20.
    assert_eq!(run["history"]["train_loss"].as_array().unwrap().len(), 20);
    assert!(
        run["history"].get("test_accuracy").is_none(),
        "the test metrics are part of the outcome"
    );
}

#[cfg(unix)]
#[test]
fn kills_at_random_moments_never_leave_a_finished_run_without_weights() {
    let _turn = one_at_a_time();
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    ok(&cairn(
        &ws,
        &["data", "import", sample("iris.csv").to_str().unwrap()],
    ));
    // A run to time: then kill later and later runs, from early in training to after its end.
    let (_, length) = timed(
        &ws,
        &[
            "--json",
            "train",
            "--data",
            "iris",
            "--target",
            "target",
            "--name",
            "probe",
            "--param",
            "epochs=40",
        ],
    );
    let trials = 12;
    for i in 0..trials {
        let name = format!("t{i}");
        let mut child = spawn_cairn(
            &ws,
            &[
                "train",
                "--data",
                "iris",
                "--target",
                "target",
                "--name",
                &name,
                "--param",
                "epochs=40",
            ],
            &[],
            false,
        );
        // From half the run's length to 1.6 times it (process start included).
        let at = Duration::from_secs_f64(length * (0.5 + 1.1 * i as f64 / (trials - 1) as f64));
        std::thread::sleep(at);
        let _ = child.kill();
        child.wait().unwrap();
        let out = cairn(&ws, &["--json", "runs", "show", &name]);
        if !out.status.success() {
            continue; // killed before the run was recorded
        }
        let run = json(&out);
        match run["status"].as_str().unwrap() {
            "finished" => assert!(has_weights(&run), "trial {i}: finished without weights"),
            "killed" => {}
            other => panic!("trial {i}: a run left {other}"),
        }
    }
}
