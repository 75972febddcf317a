//! The seeded training loop: splits, preprocessing, mini-batches, optimiser, schedule,
//! early stopping, checkpoints, and the final predictions on the held-out rows.
//!
//! Everything random — the split, the starting weights, the batch order, dropout masks — comes
//! from Cairn's [`SplitMix64`] streams derived from the seed, so on the CPU the same seed, data
//! and spec give bit-identical weights, and a run resumed from a checkpoint continues exactly
//! where the uninterrupted run would be.

use crate::checkpoint::{Checkpoint, TrainerState};
use crate::device::resolve_device;
use crate::model::{
    AffineConfig, CnnConfig, MlpConfig, Mode, ModelConfig, ModelKind, Net, seeded_init,
};
use crate::optim::{OptimConfig, Optimizer, OptimizerKind, learning_rate};
use crate::preprocess::{Preprocessor, Task};
use crate::spec::{DeviceChoice, TrainSpec};
use crate::{Result, TrainError};
use cairn_core::{Frame, SplitMix64};
use candle_core::{D, DType, Device, Tensor, Var};
use candle_nn::{VarBuilder, VarMap};
use std::collections::BTreeMap;
use std::ops::ControlFlow;

/// What one epoch produced.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochReport {
    /// 1-based.
    pub epoch: usize,
    pub epochs: usize,
    /// `train_loss`, `train_accuracy` (classification), `lr`, and `val_*` with a validation split.
    pub metrics: BTreeMap<String, f64>,
}

/// One optimisation step.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct StepReport {
    /// 1-based, counted over the whole run.
    pub step: usize,
    pub epoch: usize,
    pub loss: f64,
    pub lr: f64,
}

/// Receives the run as it happens. `Break` from any method cancels training: the weights at
/// that point are kept and the outcome says `cancelled`.
pub trait TrainObserver {
    fn on_epoch(&mut self, report: &EpochReport) -> ControlFlow<()>;
    fn on_step(&mut self, _step: &StepReport) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
    /// A checkpoint (safetensors bytes) after `epoch`.
    fn on_checkpoint(&mut self, _epoch: usize, _bytes: &[u8]) -> ControlFlow<()> {
        ControlFlow::Continue(())
    }
}

impl<F: FnMut(&EpochReport) -> ControlFlow<()>> TrainObserver for F {
    fn on_epoch(&mut self, report: &EpochReport) -> ControlFlow<()> {
        self(report)
    }
}

/// Predictions on the held-out test rows.
#[derive(Debug, Clone, PartialEq)]
pub enum TestPredictions {
    /// Class indices and row-major `n × classes` probabilities.
    Classification { y_true: Vec<u32>, proba: Vec<f64> },
    /// Targets and predictions in the target's units.
    Regression { y_true: Vec<f64>, y_pred: Vec<f64> },
}

#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The weights as a safetensors file (names sorted; no metadata).
    pub weights: Vec<u8>,
    pub preprocessor: Preprocessor,
    pub config: ModelConfig,
    /// The last epoch's metrics.
    pub final_metrics: BTreeMap<String, f64>,
    pub epochs_run: usize,
    /// With early stopping, the epoch whose weights were kept.
    pub best_epoch: Option<usize>,
    pub stopped_early: bool,
    pub cancelled: bool,
    pub n_train: usize,
    pub n_val: usize,
    pub n_test: usize,
    /// Rows (0-based, in data order) of the test split, and the model's predictions for them.
    pub test_rows: Vec<usize>,
    pub test: TestPredictions,
    /// The device the run used, e.g. `cpu` or `cuda:0`.
    pub device: String,
}

/// Splits rows into train / validation / test with the seeded, stratified assignment used by
/// `cairn data split`.
pub fn split_rows(
    frame: &Frame,
    target: &str,
    spec: &TrainSpec,
) -> Result<(Vec<usize>, Vec<usize>, Vec<usize>)> {
    let rows = frame.rows();
    let strata = if spec.stratify {
        frame.column(target).map(|c| c.values.to_text())
    } else {
        None
    };
    let train_share = 1.0 - spec.test_size - spec.val_size;
    let mut ratios = vec![train_share];
    if spec.val_size > 0.0 {
        ratios.push(spec.val_size);
    }
    ratios.push(spec.test_size);
    let parts = cairn_core::split::assign_parts(rows, &ratios, spec.seed, strata.as_deref(), None);
    let test_part = (ratios.len() - 1) as u8;
    let pick = |p: u8| -> Vec<usize> { (0..rows).filter(|&r| parts[r] == p).collect() };
    let train = pick(0);
    let val = if spec.val_size > 0.0 { pick(1) } else { vec![] };
    let test = pick(test_part);
    if train.is_empty() || test.is_empty() || (spec.val_size > 0.0 && val.is_empty()) {
        return Err(TrainError::Invalid(format!(
            "{rows} rows are too few to split into train ({}), validation ({}) and test ({}) rows",
            train.len(),
            val.len(),
            test.len()
        )));
    }
    Ok((train, val, test))
}

/// The model configuration for `spec` over preprocessed features.
fn model_config(spec: &TrainSpec, pre: &Preprocessor) -> Result<ModelConfig> {
    let n_features = pre.n_features();
    let n_outputs = pre.n_outputs();
    Ok(match spec.model {
        ModelKind::Linear => ModelConfig::Linear(AffineConfig {
            n_features,
            n_outputs,
        }),
        ModelKind::Logistic => ModelConfig::Logistic(AffineConfig {
            n_features,
            n_outputs,
        }),
        ModelKind::Mlp => ModelConfig::Mlp(MlpConfig {
            n_features,
            hidden: spec.hidden.clone(),
            n_outputs,
            activation: spec.activation,
            dropout: spec.dropout,
            batch_norm: spec.batch_norm,
        }),
        ModelKind::Cnn => {
            let (channels, height, width) = match spec.image_shape {
                Some(s) => s,
                None => {
                    let side = (n_features as f64).sqrt().round() as usize;
                    if side * side != n_features {
                        return Err(TrainError::Invalid(format!(
                            "the CNN reads each row as an image, and {n_features} features are not a square; give `--param image_shape=[channels, height, width]`"
                        )));
                    }
                    (1, side, side)
                }
            };
            if channels * height * width != n_features {
                return Err(TrainError::Invalid(format!(
                    "image_shape [{channels}, {height}, {width}] holds {} values, and the rows have {n_features} features after preprocessing",
                    channels * height * width
                )));
            }
            ModelConfig::Cnn(CnnConfig {
                channels,
                height,
                width,
                conv: spec.conv.clone(),
                kernel: spec.kernel,
                dense: spec.dense,
                n_outputs,
                dropout: spec.dropout,
                batch_norm: spec.batch_norm,
            })
        }
    })
}

/// Targets as a tensor: class indices (u32) or scaled values `(n, 1)` (f32).
fn targets(pre: &Preprocessor, frame: &Frame, rows: &[usize], device: &Device) -> Result<Tensor> {
    Ok(match pre.task() {
        Task::Classification => Tensor::from_vec(pre.labels(frame, rows)?, rows.len(), device)?,
        Task::Regression => {
            let y: Vec<f32> = pre
                .target_values(frame, rows)?
                .into_iter()
                .map(|v| pre.scale_target(v) as f32)
                .collect();
            Tensor::from_vec(y, (rows.len(), 1), device)?
        }
    })
}

/// Mean loss of a batch: (class-weighted) cross-entropy, or squared error.
fn loss_fn(task: Task, out: &Tensor, y: &Tensor, class_weights: Option<&Tensor>) -> Result<Tensor> {
    Ok(match task {
        Task::Classification => {
            let logp = candle_nn::ops::log_softmax(out, D::Minus1)?;
            let picked = logp.gather(&y.unsqueeze(1)?, 1)?.squeeze(1)?;
            match class_weights {
                None => picked.mean_all()?.neg()?,
                Some(w) => {
                    let wr = w.index_select(y, 0)?;
                    ((picked * &wr)?.sum_all()? / wr.sum_all()?.to_scalar::<f32>()? as f64)?
                        .neg()?
                }
            }
        }
        Task::Regression => (out - y)?.sqr()?.mean_all()?,
    })
}

fn scalar(t: &Tensor) -> Result<f64> {
    Ok(t.to_dtype(DType::F64)?.to_scalar::<f64>()?)
}

/// Model outputs over `x` in batches (evaluation mode), as a host `Vec` (row-major).
fn outputs(net: &Net, x: &Tensor, batch: usize) -> Result<Vec<f32>> {
    let n = x.dim(0)?;
    let mut out = Vec::new();
    let mut start = 0;
    while start < n {
        let len = batch.min(n - start);
        let o = net.forward(&x.narrow(0, start, len)?)?;
        out.extend(o.flatten_all()?.to_vec1::<f32>()?);
        start += len;
    }
    Ok(out)
}

/// Loss and accuracy (classification) or loss, RMSE and R² (regression) on a split.
fn evaluate(
    net: &Net,
    pre: &Preprocessor,
    x: &Tensor,
    y: &Tensor,
    prefix: &str,
) -> Result<BTreeMap<String, f64>> {
    let task = pre.task();
    let k = pre.n_outputs();
    let out = outputs(net, x, 4096)?;
    let n = x.dim(0)?;
    let out_t = Tensor::from_vec(out, (n, k), &Device::Cpu)?;
    let y = y.to_device(&Device::Cpu)?;
    let mut m = BTreeMap::new();
    m.insert(
        format!("{prefix}loss"),
        scalar(&loss_fn(task, &out_t, &y, None)?)?,
    );
    match task {
        Task::Classification => {
            let pred = out_t.argmax(D::Minus1)?;
            let correct = scalar(&pred.eq(&y)?.to_dtype(DType::F32)?.sum_all()?)?;
            m.insert(format!("{prefix}accuracy"), correct / n as f64);
        }
        Task::Regression => {
            let p = out_t.flatten_all()?.to_vec1::<f32>()?;
            let t = y.flatten_all()?.to_vec1::<f32>()?;
            let (yp, yt): (Vec<f64>, Vec<f64>) = p
                .iter()
                .zip(&t)
                .map(|(a, b)| (pre.unscale(*a as f64), pre.unscale(*b as f64)))
                .unzip();
            let mean = yt.iter().sum::<f64>() / n as f64;
            let ss_res: f64 = yp.iter().zip(&yt).map(|(a, b)| (a - b).powi(2)).sum();
            let ss_tot: f64 = yt.iter().map(|b| (b - mean).powi(2)).sum();
            m.insert(format!("{prefix}rmse"), (ss_res / n as f64).sqrt());
            m.insert(
                format!("{prefix}r2"),
                if ss_tot > 0.0 {
                    1.0 - ss_res / ss_tot
                } else {
                    0.0
                },
            );
        }
    }
    Ok(m)
}

/// The model variables, sorted by name.
fn sorted_vars(varmap: &VarMap) -> Vec<(String, Var)> {
    let data = varmap.data().lock().expect("varmap lock");
    let mut vars: Vec<(String, Var)> = data.iter().map(|(k, v)| (k.clone(), v.clone())).collect();
    vars.sort_by(|a, b| a.0.cmp(&b.0));
    vars
}

fn is_trainable(name: &str) -> bool {
    !(name.ends_with("running_mean") || name.ends_with("running_var"))
}

/// A copy of every variable's value (for best-weights and checkpoints).
fn snapshot(vars: &[(String, Var)]) -> Result<BTreeMap<String, Tensor>> {
    vars.iter()
        .map(|(n, v)| Ok((n.clone(), v.as_tensor().copy()?)))
        .collect()
}

fn restore(vars: &[(String, Var)], values: &BTreeMap<String, Tensor>) -> Result<()> {
    for (name, var) in vars {
        let t = values.get(name).ok_or_else(|| {
            TrainError::Invalid(format!("the saved weights have no tensor `{name}`"))
        })?;
        var.set(&t.to_device(var.device())?)?;
    }
    Ok(())
}

/// The safetensors bytes of `tensors` (moved to the CPU; names sorted).
pub fn to_safetensors(
    tensors: &BTreeMap<String, Tensor>,
    metadata: Option<(&str, String)>,
) -> Result<Vec<u8>> {
    let cpu: BTreeMap<String, Tensor> = tensors
        .iter()
        .map(|(k, v)| Ok((k.clone(), v.to_device(&Device::Cpu)?)))
        .collect::<Result<_>>()?;
    let meta = metadata.map(|(k, v)| std::collections::HashMap::from([(k.to_string(), v)]));
    Ok(safetensors::serialize(cpu.iter(), meta)?)
}

/// Trains `spec.model` to predict `target` from `frame`, starting fresh or from `resume`.
pub fn train(
    frame: &Frame,
    target: &str,
    spec: &TrainSpec,
    device: DeviceChoice,
    resume: Option<&Checkpoint>,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome> {
    let device = resolve_device(device)?;
    let (train_rows, val_rows, test_rows) = split_rows(frame, target, spec)?;
    let pre = Preprocessor::fit(frame, target, spec.task, &spec.preprocess, &train_rows)?;
    let cfg = model_config(spec, &pre)?;
    let n_features = pre.n_features();
    let to_x = |r: &[usize]| -> Result<Tensor> {
        Ok(Tensor::from_vec(
            pre.transform(frame, r)?,
            (r.len(), n_features),
            &device,
        )?)
    };
    let (x_train, y_train) = (
        to_x(&train_rows)?,
        targets(&pre, frame, &train_rows, &device)?,
    );
    let (x_val, y_val) = (to_x(&val_rows)?, targets(&pre, frame, &val_rows, &device)?);
    let (x_test, y_test) = (
        to_x(&test_rows)?,
        targets(&pre, frame, &test_rows, &device)?,
    );

    let class_weights = if spec.balanced_classes {
        let labels = pre.labels(frame, &train_rows)?;
        let k = pre.n_outputs();
        let mut counts = vec![0usize; k];
        for l in &labels {
            counts[*l as usize] += 1;
        }
        let n = labels.len() as f64;
        let w: Vec<f32> = counts
            .iter()
            .map(|&c| {
                if c == 0 {
                    0.0
                } else {
                    (n / (k as f64 * c as f64)) as f32
                }
            })
            .collect();
        Some(Tensor::from_vec(w, k, &device)?)
    } else {
        None
    };

    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    let net = Net::load(vb, &cfg)?;
    seeded_init(&varmap, spec.seed)?;
    let vars = sorted_vars(&varmap);
    let trainable: Vec<(String, Var)> = vars
        .iter()
        .filter(|(n, _)| is_trainable(n))
        .cloned()
        .collect();
    let penalised: Vec<Var> = trainable
        .iter()
        .filter(|(n, v)| n.ends_with(".weight") && v.rank() >= 2)
        .map(|(_, v)| v.clone())
        .collect();
    let mut opt = Optimizer::new(
        OptimConfig {
            kind: spec.optimizer,
            momentum: if spec.optimizer == OptimizerKind::Sgd {
                spec.momentum
            } else {
                0.0
            },
            nesterov: spec.nesterov,
            weight_decay: spec.weight_decay,
            beta1: 0.9,
            beta2: 0.999,
            eps: 1e-8,
        },
        trainable.clone(),
    );

    let n_train = train_rows.len();
    let batch_size = if spec.batch_size == 0 {
        n_train
    } else {
        spec.batch_size
    };
    let steps_per_epoch = n_train.div_ceil(batch_size);
    let total_steps = steps_per_epoch * spec.epochs;
    let warmup_steps = spec.warmup_epochs * steps_per_epoch;
    let fingerprint = serde_json::to_string(spec).expect("spec serialises");
    let higher_is_better = matches!(spec.monitor.as_str(), "val_accuracy" | "val_r2");

    let mut state = TrainerState::fresh(spec.seed);
    let mut best: Option<BTreeMap<String, Tensor>> = None;
    if let Some(ck) = resume {
        if ck.state.spec != fingerprint {
            return Err(TrainError::Invalid(
                "the checkpoint was written by a run with other settings (model, params or seed); resume needs the same ones".into(),
            ));
        }
        restore(&vars, &ck.model)?;
        opt.restore(&ck.optimizer, ck.state.optimizer_step)?;
        best = (!ck.best.is_empty()).then(|| ck.best.clone());
        state = ck.state.clone();
    }
    state.spec = fingerprint;

    let mut final_metrics = BTreeMap::new();
    let mut cancelled = false;
    let mut stopped_early = false;
    'epochs: while state.epoch < spec.epochs {
        let epoch = state.epoch + 1;
        let mut order: Vec<u32> = (0..n_train as u32).collect();
        let mut shuffle = SplitMix64::new(state.shuffle_rng);
        shuffle.shuffle(&mut order);
        state.shuffle_rng = shuffle.state();
        let mut dropout_rng = SplitMix64::new(state.dropout_rng);
        let (mut loss_sum, mut correct, mut seen) = (0f64, 0f64, 0usize);
        for batch in order.chunks(batch_size) {
            let lr = learning_rate(
                spec.lr,
                spec.schedule,
                warmup_steps,
                state.global_step,
                steps_per_epoch,
                total_steps,
            );
            let idx = Tensor::from_slice(batch, batch.len(), &device)?;
            let xb = x_train.index_select(&idx, 0)?;
            let yb = y_train.index_select(&idx, 0)?;
            let out = net.forward_t(&xb, &mut Mode::Train(&mut dropout_rng))?;
            let data_loss = loss_fn(spec.task, &out, &yb, class_weights.as_ref())?;
            let mut loss = data_loss.clone();
            for w in &penalised {
                if spec.l2 > 0.0 {
                    loss = (loss + (w.as_tensor().sqr()?.sum_all()? * (spec.l2 / 2.0))?)?;
                }
                if spec.l1 > 0.0 {
                    loss = (loss + (w.as_tensor().abs()?.sum_all()? * spec.l1)?)?;
                }
            }
            let mut grads = loss.backward()?;
            if spec.clip_norm > 0.0 {
                opt.clip_grad_norm(&mut grads, spec.clip_norm)?;
            }
            opt.step(&grads, lr)?;
            state.global_step += 1;
            let batch_loss = scalar(&data_loss)?;
            loss_sum += batch_loss * batch.len() as f64;
            seen += batch.len();
            if spec.task == Task::Classification {
                correct += scalar(
                    &out.argmax(D::Minus1)?
                        .eq(&yb)?
                        .to_dtype(DType::F32)?
                        .sum_all()?,
                )?;
            }
            let step = StepReport {
                step: state.global_step,
                epoch,
                loss: batch_loss,
                lr,
            };
            if observer.on_step(&step).is_break() {
                cancelled = true;
                break 'epochs;
            }
        }
        state.dropout_rng = dropout_rng.state();
        state.epoch = epoch;

        let mut metrics = BTreeMap::from([
            ("train_loss".to_string(), loss_sum / seen as f64),
            (
                "lr".to_string(),
                learning_rate(
                    spec.lr,
                    spec.schedule,
                    warmup_steps,
                    state.global_step.saturating_sub(1),
                    steps_per_epoch,
                    total_steps,
                ),
            ),
        ]);
        if spec.task == Task::Classification {
            metrics.insert("train_accuracy".into(), correct / seen as f64);
        }
        if !val_rows.is_empty() {
            metrics.extend(evaluate(&net, &pre, &x_val, &y_val, "val_")?);
        }
        if spec.early_stopping {
            let value = metrics.get(&spec.monitor).copied().unwrap_or(f64::NAN);
            let improved = match state.best_value {
                None => true,
                Some(b) if higher_is_better => value > b + spec.min_delta,
                Some(b) => value < b - spec.min_delta,
            };
            if improved {
                state.best_value = Some(value);
                state.best_epoch = Some(epoch);
                state.bad_epochs = 0;
                best = Some(snapshot(&vars)?);
            } else {
                state.bad_epochs += 1;
            }
        }
        final_metrics = metrics.clone();
        let report = EpochReport {
            epoch,
            epochs: spec.epochs,
            metrics,
        };
        if observer.on_epoch(&report).is_break() {
            cancelled = epoch < spec.epochs;
            break;
        }
        if spec.checkpoint_every > 0 && epoch.is_multiple_of(spec.checkpoint_every) {
            let (opt_state, opt_step) = opt.state()?;
            state.optimizer_step = opt_step;
            let ck = Checkpoint {
                state: state.clone(),
                model: snapshot(&vars)?,
                optimizer: opt_state,
                best: best.clone().unwrap_or_default(),
            };
            if observer.on_checkpoint(epoch, &ck.to_bytes()?).is_break() {
                cancelled = epoch < spec.epochs;
                break;
            }
        }
        if spec.early_stopping && state.bad_epochs >= spec.patience {
            stopped_early = true;
            break;
        }
    }

    if spec.early_stopping
        && let Some(b) = &best
    {
        restore(&vars, b)?;
    }
    let model_tensors = snapshot(&vars)?;
    let weights = to_safetensors(&model_tensors, None)?;
    let test = predict_tensor(&net, &pre, &x_test)?;
    let test = match test {
        Predictions::Classes { proba } => TestPredictions::Classification {
            y_true: pre.labels(frame, &test_rows)?,
            proba,
        },
        Predictions::Values { values } => TestPredictions::Regression {
            y_true: pre.target_values(frame, &test_rows)?,
            y_pred: values,
        },
    };
    let _ = y_test;
    Ok(TrainOutcome {
        weights,
        preprocessor: pre,
        config: cfg,
        final_metrics,
        epochs_run: state.epoch,
        best_epoch: if spec.early_stopping {
            state.best_epoch
        } else {
            None
        },
        stopped_early,
        cancelled,
        n_train,
        n_val: val_rows.len(),
        n_test: test_rows.len(),
        test_rows,
        test,
        device: crate::device::describe(&device),
    })
}

/// A model's predictions for a batch of rows.
#[derive(Debug, Clone, PartialEq)]
pub enum Predictions {
    /// Row-major `n × classes` probabilities.
    Classes { proba: Vec<f64> },
    /// Values in the target's units.
    Values { values: Vec<f64> },
}

fn predict_tensor(net: &Net, pre: &Preprocessor, x: &Tensor) -> Result<Predictions> {
    let n = x.dim(0)?;
    let out = outputs(net, x, 4096)?;
    Ok(match pre.task() {
        Task::Classification => {
            let t = Tensor::from_vec(out, (n, pre.n_outputs()), &Device::Cpu)?;
            let p = crate::model::softmax(&t.to_dtype(DType::F64)?)?;
            Predictions::Classes {
                proba: p.flatten_all()?.to_vec1::<f64>()?,
            }
        }
        Task::Regression => Predictions::Values {
            values: out.iter().map(|v| pre.unscale(*v as f64)).collect(),
        },
    })
}

/// A trained model ready to predict: configuration, preprocessing and weights.
pub struct LoadedModel {
    pub preprocessor: Preprocessor,
    pub config: ModelConfig,
    net: Net,
    device: Device,
}

impl LoadedModel {
    pub fn load(
        weights: &[u8],
        preprocessor: Preprocessor,
        config: ModelConfig,
        device: DeviceChoice,
    ) -> Result<LoadedModel> {
        let device = resolve_device(device)?;
        let tensors = candle_core::safetensors::load_buffer(weights, &device)?;
        let vb = VarBuilder::from_tensors(tensors.into_iter().collect(), DType::F32, &device);
        let net = Net::load(vb, &config)?;
        Ok(LoadedModel {
            preprocessor,
            config,
            net,
            device,
        })
    }

    /// Predictions for every row of `frame` (the same transform as in training).
    pub fn predict(&self, frame: &Frame) -> Result<Predictions> {
        Ok(self.predict_timed(frame)?.0)
    }

    /// [`LoadedModel::predict`], with the time of the preprocessing and of the network.
    pub fn predict_timed(
        &self,
        frame: &Frame,
    ) -> Result<(Predictions, std::time::Duration, std::time::Duration)> {
        let t = std::time::Instant::now();
        let rows: Vec<usize> = (0..frame.rows()).collect();
        let n = self.preprocessor.n_features();
        let x = Tensor::from_vec(
            self.preprocessor.transform(frame, &rows)?,
            (rows.len(), n),
            &self.device,
        )?;
        let pre = t.elapsed();
        let t = std::time::Instant::now();
        let p = predict_tensor(&self.net, &self.preprocessor, &x)?;
        Ok((p, pre, t.elapsed()))
    }
}
