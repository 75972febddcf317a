//! The training loop's contracts: bit-identical weights for the same seed on the CPU, resume
//! from a checkpoint reaching the same final weights, cancellation, early stopping, and the
//! saved model predicting what the trainer predicted.

mod common;

use cairn_core::{DataType, Frame, FrameColumn, FrameValues, SplitMix64};
use cairn_train::{
    Checkpoint, DeviceChoice, EpochReport, LoadedModel, ModelKind, Predictions, StepReport,
    TestPredictions, TrainObserver, TrainSpec, train,
};
use common::{accuracy, read_csv, spec};
use std::ops::ControlFlow;

/// Three Gaussian blobs in 4 dimensions, a text column, and a few missing values.
fn blobs(n: usize) -> Frame {
    let mut rng = SplitMix64::new(3);
    let mut cols: Vec<Vec<Option<f64>>> = vec![Vec::new(); 4];
    let (mut colour, mut y) = (Vec::new(), Vec::new());
    for i in 0..n {
        let class = i % 3;
        for (d, col) in cols.iter_mut().enumerate() {
            let centre = if d % 3 == class { 2.5 } else { -1.0 };
            let v = centre + rng.normal();
            col.push(if i % 37 == d { None } else { Some(v) });
        }
        colour.push(Some(["red", "green", "blue"][(i / 3) % 3].to_string()));
        y.push(Some(format!("class-{class}")));
    }
    let mut columns: Vec<FrameColumn> = cols
        .into_iter()
        .enumerate()
        .map(|(d, v)| FrameColumn {
            name: format!("x{d}"),
            dtype: DataType::Float,
            values: FrameValues::Numeric(v),
        })
        .collect();
    columns.push(FrameColumn {
        name: "colour".into(),
        dtype: DataType::String,
        values: FrameValues::Text(colour),
    });
    columns.push(FrameColumn {
        name: "y".into(),
        dtype: DataType::String,
        values: FrameValues::Text(y),
    });
    Frame { columns }
}

/// Collects epochs and checkpoints; stops after `stop_at` epochs when set.
#[derive(Default)]
struct Recorder {
    epochs: Vec<EpochReport>,
    steps: usize,
    checkpoints: Vec<(usize, Vec<u8>)>,
    stop_at: Option<usize>,
}

impl TrainObserver for Recorder {
    fn on_epoch(&mut self, r: &EpochReport) -> ControlFlow<()> {
        self.epochs.push(r.clone());
        match self.stop_at {
            Some(n) if r.epoch >= n => ControlFlow::Break(()),
            _ => ControlFlow::Continue(()),
        }
    }
    fn on_step(&mut self, _s: &StepReport) -> ControlFlow<()> {
        self.steps += 1;
        ControlFlow::Continue(())
    }
    fn on_checkpoint(&mut self, epoch: usize, bytes: &[u8]) -> ControlFlow<()> {
        self.checkpoints.push((epoch, bytes.to_vec()));
        ControlFlow::Continue(())
    }
}

fn run(
    frame: &Frame,
    s: &TrainSpec,
    resume: Option<&Checkpoint>,
    rec: &mut Recorder,
) -> cairn_train::TrainOutcome {
    train(frame, "y", s, DeviceChoice::Cpu, resume, rec).unwrap()
}

/// An MLP with dropout and batch norm, SGD with Nesterov momentum, a cosine schedule with
/// warm-up, gradient clipping and balanced class weights: every source of randomness and state.
fn busy_spec(seed: u64) -> TrainSpec {
    busy_spec_with(seed, "sgd")
}

fn busy_spec_with(seed: u64, optimizer: &str) -> TrainSpec {
    spec(
        ModelKind::Mlp,
        seed,
        &[
            ("epochs", "6"),
            ("hidden", "[16, 8]"),
            ("dropout", "0.2"),
            ("batch_norm", "true"),
            ("optimizer", optimizer),
            ("nesterov", "true"),
            ("lr", "0.05"),
            ("schedule", "cosine"),
            ("warmup_epochs", "1"),
            ("clip_norm", "1.0"),
            ("class_weight", "balanced"),
            ("val_size", "0.1"),
            ("checkpoint_every", "2"),
        ],
    )
}

#[test]
fn same_seed_same_bytes_and_another_seed_differs() {
    let f = blobs(300);
    let (mut r1, mut r2, mut r3) = (
        Recorder::default(),
        Recorder::default(),
        Recorder::default(),
    );
    let a = run(&f, &busy_spec(1), None, &mut r1);
    let b = run(&f, &busy_spec(1), None, &mut r2);
    assert_eq!(a.weights, b.weights, "same seed, same safetensors bytes");
    assert_eq!(r1.epochs, r2.epochs, "same seed, same metrics");
    assert_eq!(a.test, b.test);
    let c = run(&f, &busy_spec(2), None, &mut r3);
    assert_ne!(a.weights, c.weights);
    assert_eq!(r1.epochs.len(), 6);
    assert_eq!(r1.steps, 6 * a.n_train.div_ceil(32));
    assert_eq!(
        r1.checkpoints.iter().map(|c| c.0).collect::<Vec<_>>(),
        vec![2, 4, 6]
    );
    assert!(accuracy(&a) > 0.9, "{:?}", r1.epochs.last());
}

#[test]
fn resuming_from_a_checkpoint_reaches_the_same_weights() {
    for optimizer in ["sgd", "adam", "adamw"] {
        let f = blobs(300);
        let mut full = Recorder::default();
        let whole = run(&f, &busy_spec_with(5, optimizer), None, &mut full);
        // Interrupted after epoch 3, with a checkpoint at 2: resume from it.
        let mut cut = Recorder {
            stop_at: Some(3),
            ..Default::default()
        };
        let partial = run(&f, &busy_spec_with(5, optimizer), None, &mut cut);
        assert!(partial.cancelled);
        let (epoch, bytes) = cut.checkpoints.last().unwrap();
        assert_eq!(*epoch, 2);
        let ck = Checkpoint::from_bytes(bytes).unwrap();
        assert_eq!(ck.state.epoch, 2);
        let mut rest = Recorder::default();
        let resumed = run(&f, &busy_spec_with(5, optimizer), Some(&ck), &mut rest);
        assert_eq!(
            resumed.weights, whole.weights,
            "resume must give the uninterrupted weights"
        );
        assert_eq!(rest.epochs, full.epochs[2..].to_vec());
        // The checkpoint is not changed by training from it: a second resume ends the same way.
        let again = run(
            &f,
            &busy_spec_with(5, optimizer),
            Some(&ck),
            &mut Recorder::default(),
        );
        assert!(
            again.weights == whole.weights,
            "{optimizer}: a second resume from the same checkpoint"
        );
        // Another spec refuses the checkpoint.
        let err = train(
            &f,
            "y",
            &busy_spec_with(6, optimizer),
            DeviceChoice::Cpu,
            Some(&ck),
            &mut Recorder::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("other settings"), "{err}");
        assert!(Checkpoint::from_bytes(&whole.weights).is_err());
    }
}

#[test]
fn cancelling_keeps_the_weights_so_far() {
    let f = blobs(120);
    let mut rec = Recorder {
        stop_at: Some(2),
        ..Default::default()
    };
    let out = run(
        &f,
        &spec(ModelKind::Logistic, 1, &[("epochs", "10")]),
        None,
        &mut rec,
    );
    assert!(out.cancelled);
    assert_eq!(out.epochs_run, 2);
}

#[test]
fn early_stopping_keeps_the_best_epoch() {
    let f = blobs(300);
    let s = spec(
        ModelKind::Mlp,
        3,
        &[
            ("epochs", "200"),
            ("early_stopping", "true"),
            ("patience", "3"),
            ("lr", "0.01"),
        ],
    );
    let mut rec = Recorder::default();
    let out = run(&f, &s, None, &mut rec);
    assert!(out.stopped_early, "ran {} epochs", out.epochs_run);
    let best = out.best_epoch.unwrap();
    assert_eq!(out.epochs_run, best + 3);
    let losses: Vec<f64> = rec.epochs.iter().map(|e| e.metrics["val_loss"]).collect();
    let min = losses.iter().cloned().fold(f64::INFINITY, f64::min);
    assert_eq!(losses[best - 1], min);
}

#[test]
fn every_model_and_optimiser_learns_and_predicts_like_the_trainer() {
    let f = blobs(240);
    let cases: Vec<(ModelKind, Vec<(&str, &str)>)> = vec![
        (
            ModelKind::Logistic,
            vec![("l1", "0.001"), ("optimizer", "sgd"), ("lr", "0.1")],
        ),
        (
            ModelKind::Mlp,
            vec![
                ("optimizer", "adamw"),
                ("weight_decay", "0.01"),
                ("activation", "tanh"),
                ("epochs", "30"),
            ],
        ),
        (
            ModelKind::Mlp,
            vec![
                ("schedule", "step"),
                ("step_size", "5"),
                ("activation", "gelu"),
                ("epochs", "20"),
                ("categorical", "ordinal"),
            ],
        ),
    ];
    for (model, kv) in cases {
        let s = spec(model, 9, &kv);
        let out = run(&f, &s, None, &mut Recorder::default());
        assert!(accuracy(&out) > 0.9, "{model:?} {kv:?}: {}", accuracy(&out));
        let loaded = LoadedModel::load(
            &out.weights,
            out.preprocessor.clone(),
            out.config.clone(),
            DeviceChoice::Cpu,
        )
        .unwrap();
        let mut test_frame = f.clone();
        for c in &mut test_frame.columns {
            c.values = match &c.values {
                FrameValues::Numeric(v) => {
                    FrameValues::Numeric(out.test_rows.iter().map(|&r| v[r]).collect())
                }
                FrameValues::Text(v) => {
                    FrameValues::Text(out.test_rows.iter().map(|&r| v[r].clone()).collect())
                }
            };
        }
        let Predictions::Classes { proba } = loaded.predict(&test_frame).unwrap() else {
            panic!()
        };
        let TestPredictions::Classification { proba: want, .. } = &out.test else {
            panic!()
        };
        assert_eq!(
            &proba, want,
            "{model:?}: the saved model predicts what the trainer did"
        );
    }
}

#[test]
fn a_cnn_needs_an_image_shape_that_fits() {
    let f = blobs(60);
    let err = train(
        &f,
        "y",
        &spec(ModelKind::Cnn, 1, &[]),
        DeviceChoice::Cpu,
        None,
        &mut Recorder::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(err.contains("image_shape"), "{err}");
}

#[test]
fn regression_mlp_on_diabetes() {
    let f = read_csv("diabetes.csv");
    let s = spec(
        ModelKind::Mlp,
        1,
        &[
            ("task", "regression"),
            ("hidden", "[16]"),
            ("epochs", "60"),
            ("lr", "0.01"),
        ],
    );
    let out = train(
        &f,
        "target",
        &s,
        DeviceChoice::Cpu,
        None,
        &mut Recorder::default(),
    )
    .unwrap();
    assert!(common::r2(&out) > 0.3, "R² {}", common::r2(&out));
}

#[test]
fn cuda_without_the_feature_says_how_to_get_it() {
    if cfg!(feature = "cuda") {
        return;
    }
    let err = train(
        &blobs(30),
        "y",
        &spec(ModelKind::Logistic, 1, &[]),
        DeviceChoice::Cuda(0),
        None,
        &mut Recorder::default(),
    )
    .unwrap_err()
    .to_string();
    assert!(
        err.contains("--features cuda") && err.contains("--device cpu"),
        "{err}"
    );
}
