//! The Cairn side of `cargo xtask bench train`: training throughput of Cairn's trainer on
//! generated data, and where the time of one training step goes.
//!
//! ```text
//! bench_train gen DIR                          # write the data both sides read
//! bench_train mlp DIR [--epochs 4] [--batch-size 128]
//! bench_train logistic DIR [--epochs 5] [--batch-size 512]
//! bench_train profile DIR [--epochs 2] [--batch-size 128]   # the MLP step, phase by phase
//! ```
//!
//! Each command prints JSON objects on stdout, one a line. `mlp` and `logistic` call
//! [`cairn_train::train`] exactly as `cairn train` does (a [`Frame`] in, a trained model out,
//! CPU device); the epoch times come from the observer. `profile` runs a copy of the trainer's
//! MLP step with a timer around each phase, then the same loop with an in-place Adam written
//! here as the reference for `optim.rs` (its weights must match the trainer's bit for bit), and
//! times two parts of the backward pass alone.
//!
//! The data (`DIR/NAME.x.f32`, `.y.u8`, `.split.u8`, `.json`) is raw little-endian so the Python
//! peers read the very same rows with `numpy.fromfile`: `x` is row-major `f32`, `y` the class
//! of each row, and `split` 0 for a training row and 1 for a test row, from Cairn's own seeded,
//! stratified split (the split `train` makes with the same seed).

use cairn_core::{DataType, Frame, FrameColumn, FrameValues, ParamValue, SplitMix64};
use cairn_train::model::{Activation, MlpConfig, Mode, ModelConfig, Net, seeded_init};
use cairn_train::optim::{OptimConfig, Optimizer, OptimizerKind};
use cairn_train::{DeviceChoice, EpochReport, ModelKind, StepReport, TrainObserver, TrainSpec};
use candle_core::{CpuStorage, D, DType, Device, InplaceOp2, InplaceOp3, Layout, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use std::collections::BTreeMap;
use std::io::Write;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};
use std::time::Instant;

type Error = Box<dyn std::error::Error>;
type Result<T> = std::result::Result<T, Error>;

/// Bumped whenever the generated data changes.
const DATA_VERSION: u32 = 1;
const SEED: u64 = 42;

/// One generated data set.
struct DataSpec {
    name: &'static str,
    rows: usize,
    cols: usize,
    classes: usize,
}

const MLP_DATA: DataSpec = DataSpec {
    name: "mlp",
    rows: 60_000,
    cols: 784,
    classes: 10,
};

const LOGISTIC_DATA: DataSpec = DataSpec {
    name: "logistic",
    rows: 1_000_000,
    cols: 50,
    classes: 2,
};

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (cmd, dir) = match (args.first(), args.get(1)) {
        (Some(c), Some(d)) => (c.as_str(), PathBuf::from(d)),
        _ => return Err(usage()),
    };
    let opt = |name: &str, default: usize| -> Result<usize> {
        match args.iter().position(|a| a == name) {
            Some(i) => Ok(args
                .get(i + 1)
                .ok_or_else(|| format!("{name} needs a value"))?
                .parse()?),
            None => Ok(default),
        }
    };
    let result = match cmd {
        "gen" => generate(&dir)?,
        "mlp" => run_mlp(&dir, opt("--epochs", 4)?, opt("--batch-size", 128)?)?,
        "logistic" => run_logistic(&dir, opt("--epochs", 5)?, opt("--batch-size", 512)?)?,
        "profile" => profile(&dir, opt("--epochs", 2)?, opt("--batch-size", 128)?)?,
        _ => return Err(usage()),
    };
    // One JSON object per line (`profile` gives one per variant).
    let lines = match result {
        serde_json::Value::Array(items) => items,
        one => vec![one],
    };
    let mut out = std::io::stdout().lock();
    for line in lines {
        serde_json::to_writer(&mut out, &line)?;
        writeln!(out)?;
    }
    Ok(())
}

fn usage() -> Error {
    "usage: bench_train gen|mlp|logistic|profile DIR [--epochs N] [--batch-size N]".into()
}

/// The thread count Candle's CPU matmul uses (the `gemm` crate on rayon: `RAYON_NUM_THREADS`,
/// else the physical cores).
fn candle_threads() -> usize {
    candle_core::utils::get_num_threads()
}

/// The threads of Candle's CPU element-wise ops on 64K elements or more (its barrier pool's
/// workers and the calling thread: `CANDLE_NUM_THREADS`, else as for the matmul).
fn candle_elementwise_threads() -> usize {
    candle_core::utils::barrier_pool().n_workers() + 1
}

// ---------------------------------------------------------------------------------------------
// Data.

/// Class-dependent Gaussian rows: `x = a·μ_y + ε` with `μ_c, ε ~ N(0, 1)` (MLP data), or
/// `x ~ N(0, 1)` and `y ~ Bernoulli(σ(1.5·x·w/|w|))` (logistic data: the best accuracy any
/// classifier can reach is about 0.734).
fn make(spec: &DataSpec) -> (Vec<f32>, Vec<u8>) {
    let mut rng = SplitMix64::new(SEED ^ spec.rows as u64);
    let (n, d, k) = (spec.rows, spec.cols, spec.classes);
    let mut x = vec![0f32; n * d];
    let mut y = vec![0u8; n];
    if k > 2 {
        let centres: Vec<f64> = (0..k * d).map(|_| rng.normal()).collect();
        for r in 0..n {
            let c = rng.below(k as u64) as usize;
            y[r] = c as u8;
            for j in 0..d {
                x[r * d + j] = (0.08 * centres[c * d + j] + rng.normal()) as f32;
            }
        }
    } else {
        let w: Vec<f64> = (0..d).map(|_| rng.normal()).collect();
        let norm = w.iter().map(|v| v * v).sum::<f64>().sqrt();
        for r in 0..n {
            let mut z = 0.0;
            for j in 0..d {
                let v = rng.normal();
                x[r * d + j] = v as f32;
                z += v * w[j];
            }
            let p = 1.0 / (1.0 + (-1.5 * z / norm).exp());
            y[r] = u8::from(rng.next_f64() < p);
        }
    }
    (x, y)
}

/// Rows as a frame: `f0 … f{d-1}` (floats) and the class `y`.
fn frame(x: &[f32], y: &[u8], cols: usize) -> Frame {
    let n = y.len();
    let mut columns: Vec<FrameColumn> = (0..cols)
        .map(|j| FrameColumn {
            name: format!("f{j}"),
            dtype: DataType::Float,
            values: FrameValues::Numeric((0..n).map(|r| Some(x[r * cols + j] as f64)).collect()),
        })
        .collect();
    columns.push(FrameColumn {
        name: "y".into(),
        dtype: DataType::Integer,
        values: FrameValues::Numeric(y.iter().map(|&c| Some(c as f64)).collect()),
    });
    Frame { columns }
}

fn params(kv: &[(&str, String)]) -> BTreeMap<String, ParamValue> {
    kv.iter()
        .map(|(k, v)| (k.to_string(), ParamValue::infer(v)))
        .collect()
}

fn mlp_spec(epochs: usize, batch: usize) -> Result<TrainSpec> {
    Ok(TrainSpec::from_params(
        ModelKind::Mlp,
        SEED,
        &params(&[
            ("hidden", "[256, 128]".into()),
            ("epochs", epochs.to_string()),
            ("batch_size", batch.to_string()),
            ("lr", "0.001".into()),
            ("optimizer", "adam".into()),
        ]),
    )?)
}

fn logistic_spec(epochs: usize, batch: usize) -> Result<TrainSpec> {
    Ok(TrainSpec::from_params(
        ModelKind::Logistic,
        SEED,
        &params(&[
            ("epochs", epochs.to_string()),
            ("batch_size", batch.to_string()),
            ("lr", "0.01".into()),
            ("optimizer", "adam".into()),
            ("l2", "0".into()),
        ]),
    )?)
}

fn generate(dir: &Path) -> Result<serde_json::Value> {
    std::fs::create_dir_all(dir)?;
    let mut out = Vec::new();
    for spec in [&MLP_DATA, &LOGISTIC_DATA] {
        let started = Instant::now();
        let (x, y) = make(spec);
        // The split `train` makes (it depends on the seed, test_size and stratify only).
        let train_spec = if spec.classes > 2 {
            mlp_spec(1, 128)?
        } else {
            logistic_spec(1, 512)?
        };
        let f = frame(&x, &y, spec.cols);
        let (_, _, test) = cairn_train::split_rows(&f, "y", &train_spec)?;
        let mut split = vec![0u8; spec.rows];
        for r in &test {
            split[*r] = 1;
        }
        let base = dir.join(spec.name);
        let bytes: Vec<u8> = x.iter().flat_map(|v| v.to_le_bytes()).collect();
        std::fs::write(base.with_extension("x.f32"), bytes)?;
        std::fs::write(base.with_extension("y.u8"), &y)?;
        std::fs::write(base.with_extension("split.u8"), &split)?;
        let meta = serde_json::json!({
            "name": spec.name, "version": DATA_VERSION, "rows": spec.rows, "cols": spec.cols,
            "classes": spec.classes, "test_rows": test.len(), "seed": SEED,
        });
        std::fs::write(base.with_extension("json"), meta.to_string())?;
        out.push(serde_json::json!({
            "name": spec.name, "rows": spec.rows, "cols": spec.cols,
            "test_rows": test.len(), "seconds": started.elapsed().as_secs_f64(),
        }));
    }
    Ok(serde_json::json!({ "generated": out }))
}

fn load(dir: &Path, spec: &DataSpec) -> Result<(Vec<f32>, Vec<u8>, Vec<u8>)> {
    let base = dir.join(spec.name);
    let raw = std::fs::read(base.with_extension("x.f32"))?;
    let x: Vec<f32> = raw
        .chunks_exact(4)
        .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
        .collect();
    let y = std::fs::read(base.with_extension("y.u8"))?;
    let split = std::fs::read(base.with_extension("split.u8"))?;
    if x.len() != spec.rows * spec.cols || y.len() != spec.rows || split.len() != spec.rows {
        return Err(format!(
            "{} does not hold the generated data; run `bench_train gen`",
            base.display()
        )
        .into());
    }
    Ok((x, y, split))
}

// ---------------------------------------------------------------------------------------------
// Cairn's trainer, end to end.

/// Records when each epoch ended and the first step finished.
struct Clock {
    start: Instant,
    first_step: Option<f64>,
    epoch_ends: Vec<f64>,
    train_accuracy: f64,
    train_loss: f64,
}

impl TrainObserver for Clock {
    fn on_epoch(&mut self, report: &EpochReport) -> ControlFlow<()> {
        self.epoch_ends.push(self.start.elapsed().as_secs_f64());
        self.train_accuracy = report.metrics.get("train_accuracy").copied().unwrap_or(0.0);
        self.train_loss = report.metrics.get("train_loss").copied().unwrap_or(0.0);
        ControlFlow::Continue(())
    }
    fn on_step(&mut self, step: &StepReport) -> ControlFlow<()> {
        if step.step == 1 {
            self.first_step = Some(self.start.elapsed().as_secs_f64());
        }
        ControlFlow::Continue(())
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

fn run_trainer(dir: &Path, data: &DataSpec, spec: &TrainSpec) -> Result<serde_json::Value> {
    let (x, y, split) = load(dir, data)?;
    let frame = frame(&x, &y, data.cols);
    drop(x);
    let mut clock = Clock {
        start: Instant::now(),
        first_step: None,
        epoch_ends: Vec::new(),
        train_accuracy: 0.0,
        train_loss: 0.0,
    };
    let outcome = cairn_train::train(&frame, "y", spec, DeviceChoice::Cpu, None, &mut clock)?;
    let wall = clock.start.elapsed().as_secs_f64();
    let expected_test: usize = split.iter().map(|&s| s as usize).sum();
    if outcome.n_test != expected_test {
        return Err("the trainer's split differs from the generated one".into());
    }
    let test_accuracy = match &outcome.test {
        cairn_train::TestPredictions::Classification { y_true, proba } => {
            let k = proba.len() / y_true.len().max(1);
            let correct = y_true
                .iter()
                .zip(proba.chunks(k))
                .filter(|(t, p)| {
                    let best = p
                        .iter()
                        .enumerate()
                        .max_by(|a, b| a.1.total_cmp(b.1))
                        .map(|(i, _)| i as u32);
                    best == Some(**t)
                })
                .count();
            correct as f64 / y_true.len() as f64
        }
        _ => f64::NAN,
    };
    // Epoch 1 also holds the preprocessing before the first step; later epochs are the loop alone.
    let ends = &clock.epoch_ends;
    let epoch_s: Vec<f64> = ends
        .iter()
        .enumerate()
        .map(|(i, &e)| e - if i == 0 { 0.0 } else { ends[i - 1] })
        .collect();
    let steady = median(epoch_s.iter().skip(1).copied().collect());
    let steady = if steady.is_nan() { epoch_s[0] } else { steady };
    Ok(serde_json::json!({
        "tool": "cairn",
        "candle": cairn_train::CANDLE_VERSION,
        "threads": candle_threads(),
        "elementwise_threads": candle_elementwise_threads(),
        "n_train": outcome.n_train,
        "n_test": outcome.n_test,
        "epochs": outcome.epochs_run,
        "batch_size": spec.batch_size,
        "wall_s": wall,
        "setup_s": clock.first_step.unwrap_or(0.0),
        "epoch_s": epoch_s,
        "steady_epoch_s": steady,
        "samples_per_s": outcome.n_train as f64 / steady,
        "train_loss": clock.train_loss,
        "train_accuracy": clock.train_accuracy,
        "test_accuracy": test_accuracy,
    }))
}

fn run_mlp(dir: &Path, epochs: usize, batch: usize) -> Result<serde_json::Value> {
    run_trainer(dir, &MLP_DATA, &mlp_spec(epochs, batch)?)
}

fn run_logistic(dir: &Path, epochs: usize, batch: usize) -> Result<serde_json::Value> {
    run_trainer(dir, &LOGISTIC_DATA, &logistic_spec(epochs, batch)?)
}

// ---------------------------------------------------------------------------------------------
// Where the time of one step goes: a copy of the trainer's MLP step with a timer per phase.

/// The phases of a step, as the keys of `profile`'s output (milliseconds per step).
const PHASES: [&str; 7] = [
    "batch_ms",
    "forward_ms",
    "loss_ms",
    "backward_ms",
    "optimizer_ms",
    "loss_scalar_ms",
    "accuracy_ms",
];

/// The optimiser under test: Cairn's, or the in-place Adam written here as its reference.
enum Opt {
    Cairn(Optimizer),
    Fused(FusedAdam),
}

fn profile(dir: &Path, epochs: usize, batch: usize) -> Result<serde_json::Value> {
    let (x, y, split) = load(dir, &MLP_DATA)?;
    let d = MLP_DATA.cols;
    let train: Vec<usize> = (0..split.len()).filter(|&r| split[r] == 0).collect();
    // Standardised on the training rows, as the trainer's preprocessing does.
    let mut xt = Vec::with_capacity(train.len() * d);
    for &r in &train {
        xt.extend_from_slice(&x[r * d..(r + 1) * d]);
    }
    for j in 0..d {
        let n = train.len() as f64;
        let mean = (0..train.len()).map(|i| xt[i * d + j] as f64).sum::<f64>() / n;
        let var = (0..train.len())
            .map(|i| (xt[i * d + j] as f64 - mean).powi(2))
            .sum::<f64>()
            / n;
        let sd = var.sqrt().max(1e-12);
        for i in 0..train.len() {
            xt[i * d + j] = ((xt[i * d + j] as f64 - mean) / sd) as f32;
        }
    }
    let yt: Vec<u32> = train.iter().map(|&r| y[r] as u32).collect();
    let dev = Device::Cpu;
    let x_train = Tensor::from_vec(xt, (train.len(), d), &dev)?;
    let y_train = Tensor::from_vec(yt, train.len(), &dev)?;

    let mut variants = Vec::new();
    let mut final_weights: Option<Vec<Vec<f32>>> = None;
    for fused in [false, true] {
        let varmap = VarMap::new();
        let vb = VarBuilder::from_varmap(&varmap, DType::F32, &dev);
        let cfg = ModelConfig::Mlp(MlpConfig {
            n_features: d,
            hidden: vec![256, 128],
            n_outputs: MLP_DATA.classes,
            activation: Activation::Relu,
            dropout: 0.0,
            batch_norm: false,
        });
        let net = Net::load(vb, &cfg)?;
        seeded_init(&varmap, SEED)?;
        let mut vars: Vec<(String, Var)> = varmap
            .data()
            .lock()
            .expect("varmap lock")
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        vars.sort_by(|a, b| a.0.cmp(&b.0));
        let mut opt = if fused {
            Opt::Fused(FusedAdam::new(
                vars.iter().map(|(_, v)| v.clone()).collect(),
            ))
        } else {
            Opt::Cairn(Optimizer::new(
                OptimConfig {
                    kind: OptimizerKind::Adam,
                    momentum: 0.0,
                    nesterov: false,
                    weight_decay: 0.0,
                    beta1: 0.9,
                    beta2: 0.999,
                    eps: 1e-8,
                },
                vars.clone(),
            ))
        };
        let mut totals = [0f64; PHASES.len()];
        let mut steps = 0usize;
        let mut rng = SplitMix64::new(SEED);
        let mut dropout_rng = SplitMix64::new(SEED);
        let (mut last_loss, mut epoch_walls) = (0f64, Vec::new());
        for epoch in 0..epochs {
            let mut order: Vec<u32> = (0..train.len() as u32).collect();
            rng.shuffle(&mut order);
            let epoch_start = Instant::now();
            // Epoch 1 warms the allocator and caches; only later epochs are counted.
            let count = epoch > 0 || epochs == 1;
            for b in order.chunks(batch) {
                let mut t = Instant::now();
                let mut lap = |i: usize, t: &mut Instant| {
                    if count {
                        totals[i] += t.elapsed().as_secs_f64();
                    }
                    *t = Instant::now();
                };
                let idx = Tensor::from_slice(b, b.len(), &dev)?;
                let xb = x_train.index_select(&idx, 0)?;
                let yb = y_train.index_select(&idx, 0)?;
                lap(0, &mut t);
                let out = net.forward_t(&xb, &mut Mode::Train(&mut dropout_rng))?;
                lap(1, &mut t);
                let logp = candle_nn::ops::log_softmax(&out, D::Minus1)?;
                let loss = logp
                    .gather(&yb.unsqueeze(1)?, 1)?
                    .squeeze(1)?
                    .mean_all()?
                    .neg()?;
                lap(2, &mut t);
                let grads = loss.backward()?;
                lap(3, &mut t);
                match &mut opt {
                    Opt::Cairn(o) => o.step(&grads, 0.001)?,
                    Opt::Fused(o) => o.step(&grads, 0.001)?,
                }
                lap(4, &mut t);
                last_loss = loss.to_dtype(DType::F64)?.to_scalar::<f64>()?;
                lap(5, &mut t);
                let correct = out
                    .argmax(D::Minus1)?
                    .eq(&yb)?
                    .to_dtype(DType::F32)?
                    .sum_all()?
                    .to_dtype(DType::F64)?
                    .to_scalar::<f64>()?;
                std::hint::black_box(correct);
                lap(6, &mut t);
                if count {
                    steps += 1;
                }
            }
            epoch_walls.push(epoch_start.elapsed().as_secs_f64());
        }
        let total: f64 = totals.iter().sum();
        let counted = &epoch_walls[usize::from(epochs > 1)..];
        let weights: Vec<Vec<f32>> = vars
            .iter()
            .map(|(_, v)| v.as_tensor().flatten_all()?.to_vec1::<f32>())
            .collect::<candle_core::Result<_>>()?;
        let identical = final_weights.as_ref().map(|w| *w == weights);
        final_weights.get_or_insert(weights);
        let mut line = serde_json::json!({
            "tool": "cairn-profile",
            "variant": if fused { "fused" } else { "cairn" },
            "threads": candle_threads(),
            "elementwise_threads": candle_elementwise_threads(),
            "batch_size": batch,
            "steps": steps,
            "step_ms": total / steps as f64 * 1e3,
            "samples_per_s": (counted.len() * train.len()) as f64 / counted.iter().sum::<f64>(),
            "final_loss": last_loss,
            "weights_identical": identical,
        });
        for (name, s) in PHASES.iter().zip(totals) {
            line[*name] = serde_json::json!(s / steps as f64 * 1e3);
        }
        if !fused {
            let w0 = vars
                .iter()
                .find(|(n, _)| n == "hidden0.weight")
                .map(|(_, v)| v.as_tensor().clone())
                .ok_or("no hidden0.weight")?;
            for (k, v) in backward_parts(&x_train, &w0, batch)? {
                line[k] = serde_json::json!(v);
            }
        }
        variants.push(line);
    }
    Ok(serde_json::Value::Array(variants))
}

/// Two parts of Candle's backward pass of the first layer, timed alone (ms per step):
/// `input_grad_ms`, the gradient with respect to the batch itself (`grad · W`, then
/// accumulated onto zeros), which Candle's matmul backward computes although no variable
/// needs it; and `weight_grad_ms`, the gradient Adam needs (`xᵀ · grad`) with its
/// accumulation through the transpose of `Linear`'s `x·Wᵀ` (a strided add onto zeros), of
/// which `weight_grad_matmul_ms` is the matmul alone.
fn backward_parts(x: &Tensor, w0: &Tensor, batch: usize) -> Result<Vec<(&'static str, f64)>> {
    let (out, _) = w0.dims2()?;
    let xb = x.narrow(0, 0, batch)?;
    let g = Tensor::ones((batch, out), DType::F32, x.device())?;
    let reps = 200;
    let time = |f: &dyn Fn() -> candle_core::Result<Tensor>| -> Result<f64> {
        std::hint::black_box(f()?);
        let t = Instant::now();
        for _ in 0..reps {
            std::hint::black_box(f()?);
        }
        Ok(t.elapsed().as_secs_f64() / reps as f64 * 1e3)
    };
    let input_grad = time(&|| {
        let gx = g.matmul(w0)?;
        gx.zeros_like()?.add(&gx)
    })?;
    let weight_grad = time(&|| {
        let gw_t = xb.t()?.matmul(&g)?;
        let gw = gw_t.t()?;
        gw.zeros_like()?.add(&gw)
    })?;
    let weight_grad_matmul = time(&|| xb.t()?.matmul(&g))?;
    Ok(vec![
        ("input_grad_ms", input_grad),
        ("weight_grad_ms", weight_grad),
        ("weight_grad_matmul_ms", weight_grad_matmul),
    ])
}
// ---------------------------------------------------------------------------------------------
// The reference: Adam as three in-place passes per variable, with PyTorch's update rule
// and the very f32 operations of `Optimizer::step` (so the weights are bit-identical), but no
// temporary tensors: `m ← β₁m + (1-β₁)g`, `v ← β₂v + (1-β₂)g²`, `θ ← θ - lr·m̂/(√v̂ + ε)`.

struct FusedAdam {
    vars: Vec<Var>,
    state: Vec<Option<(Tensor, Tensor)>>,
    step: i32,
}

/// `s ← a·s + b·g` (or `b·g²`), the f32 operations of `(s * a) + (g * b)` in candle.
struct Ema {
    a: f32,
    b: f32,
    square: bool,
}

/// `θ ← θ - lr·(m·c₁)/(√(v·c₂) + ε)` where `c = 1/(1-βᵗ)`, as candle computes it.
struct AdamApply {
    c1: f32,
    c2: f32,
    eps: f32,
    lr: f32,
}

fn contiguous<'a>(s: &'a CpuStorage, l: &Layout) -> candle_core::Result<&'a [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&v[a..b]),
        _ => candle_core::bail!("fused adam: f32 contiguous tensors only"),
    }
}

fn contiguous_mut<'a>(s: &'a mut CpuStorage, l: &Layout) -> candle_core::Result<&'a mut [f32]> {
    match (s, l.contiguous_offsets()) {
        (CpuStorage::F32(v), Some((a, b))) => Ok(&mut v[a..b]),
        _ => candle_core::bail!("fused adam: f32 contiguous tensors only"),
    }
}

impl InplaceOp2 for Ema {
    fn name(&self) -> &'static str {
        "adam-ema"
    }
    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
    ) -> candle_core::Result<()> {
        let g = contiguous(s2, l2)?;
        let s = contiguous_mut(s1, l1)?;
        for (s, &g) in s.iter_mut().zip(g) {
            let g = if self.square { g * g } else { g };
            *s = (*s * self.a + 0.0) + (g * self.b + 0.0);
        }
        Ok(())
    }
}

impl InplaceOp3 for AdamApply {
    fn name(&self) -> &'static str {
        "adam-apply"
    }
    fn cpu_fwd(
        &self,
        s1: &mut CpuStorage,
        l1: &Layout,
        s2: &CpuStorage,
        l2: &Layout,
        s3: &CpuStorage,
        l3: &Layout,
    ) -> candle_core::Result<()> {
        let (m, v) = (contiguous(s2, l2)?, contiguous(s3, l3)?);
        let theta = contiguous_mut(s1, l1)?;
        for ((t, &m), &v) in theta.iter_mut().zip(m).zip(v) {
            let m_hat = m * self.c1 + 0.0;
            let v_hat = v * self.c2 + 0.0;
            let update = m_hat / (v_hat.sqrt() * 1.0 + self.eps);
            *t -= update * self.lr + 0.0;
        }
        Ok(())
    }
}

impl FusedAdam {
    fn new(vars: Vec<Var>) -> FusedAdam {
        let state = vec![None; vars.len()];
        FusedAdam {
            vars,
            state,
            step: 0,
        }
    }

    fn step(&mut self, grads: &candle_core::backprop::GradStore, lr: f64) -> Result<()> {
        self.step += 1;
        let (b1, b2) = (0.9f64, 0.999f64);
        let apply = AdamApply {
            c1: (1.0 / (1.0 - b1.powi(self.step))) as f32,
            c2: (1.0 / (1.0 - b2.powi(self.step))) as f32,
            eps: 1e-8,
            lr: lr as f32,
        };
        for (var, state) in self.vars.iter().zip(self.state.iter_mut()) {
            let Some(g) = grads.get(var.as_tensor()) else {
                continue;
            };
            let (m, v) = state.get_or_insert_with(|| {
                (
                    g.zeros_like().expect("zeros"),
                    g.zeros_like().expect("zeros"),
                )
            });
            m.inplace_op2(
                g,
                &Ema {
                    a: b1 as f32,
                    b: (1.0 - b1) as f32,
                    square: false,
                },
            )?;
            v.inplace_op2(
                g,
                &Ema {
                    a: b2 as f32,
                    b: (1.0 - b2) as f32,
                    square: true,
                },
            )?;
            var.as_tensor().inplace_op3(m, v, &apply)?;
        }
        Ok(())
    }
}
