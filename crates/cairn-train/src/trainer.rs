//! The seeded training loop.

use crate::model::{Logistic, LogisticConfig, ModelKind};
use crate::preprocess::Preprocessor;
use crate::split::train_test_indices;
use crate::{Result, TrainError};
use cairn_core::{Frame, ParamValue, SplitMix64};
use candle_core::{D, DType, Device, Tensor};
use candle_nn::optim::{AdamW, Optimizer, ParamsAdamW};
use candle_nn::{Module, VarBuilder, VarMap};
use std::collections::BTreeMap;
use std::ops::ControlFlow;

/// Everything that decides a training run besides the data.
#[derive(Debug, Clone, PartialEq)]
pub struct TrainSpec {
    pub model: ModelKind,
    pub seed: u64,
    pub epochs: usize,
    pub batch_size: usize,
    pub learning_rate: f64,
    /// L2 penalty on the weights (not the bias), added to the mean loss as `l2/2 · ‖W‖²`.
    pub l2: f64,
    pub test_fraction: f64,
}

/// Hyperparameter keys `train` understands, with their defaults.
pub const KNOWN_PARAMS: &[(&str, &str)] = &[
    ("epochs", "100"),
    ("batch_size", "32"),
    ("lr", "0.01"),
    ("l2", "0.001"),
    ("test_size", "0.2"),
];

impl TrainSpec {
    /// Reads hyperparameters from typed params; unknown keys are refused, naming the known ones.
    pub fn from_params(
        model: ModelKind,
        seed: u64,
        params: &BTreeMap<String, ParamValue>,
    ) -> Result<TrainSpec> {
        let mut spec = TrainSpec {
            model,
            seed,
            epochs: 100,
            batch_size: 32,
            learning_rate: 0.01,
            l2: 0.001,
            test_fraction: 0.2,
        };
        let known: Vec<&str> = KNOWN_PARAMS.iter().map(|(k, _)| *k).collect();
        for (key, value) in params {
            let bad = |want: &str| {
                TrainError::Invalid(format!("param `{key}` must be {want}, got `{value}`"))
            };
            let num = value.as_f64();
            match key.as_str() {
                "epochs" => {
                    spec.epochs = positive_int(value).ok_or_else(|| bad("a positive integer"))?
                }
                "batch_size" => {
                    spec.batch_size =
                        positive_int(value).ok_or_else(|| bad("a positive integer"))?
                }
                "lr" => {
                    spec.learning_rate = num
                        .filter(|x| *x > 0.0)
                        .ok_or_else(|| bad("a positive number"))?
                }
                "l2" => {
                    spec.l2 = num
                        .filter(|x| *x >= 0.0)
                        .ok_or_else(|| bad("a number ≥ 0"))?
                }
                "test_size" => {
                    spec.test_fraction = num
                        .filter(|x| *x > 0.0 && *x < 1.0)
                        .ok_or_else(|| bad("between 0 and 1"))?
                }
                _ => {
                    return Err(TrainError::Invalid(format!(
                        "unknown param `{key}` for model {}; known params: {}",
                        model.as_str(),
                        known.join(", ")
                    )));
                }
            }
        }
        Ok(spec)
    }

    /// The effective hyperparameters, to record with the run.
    pub fn as_params(&self) -> BTreeMap<String, ParamValue> {
        BTreeMap::from([
            ("epochs".into(), ParamValue::Int(self.epochs as i64)),
            ("batch_size".into(), ParamValue::Int(self.batch_size as i64)),
            ("lr".into(), ParamValue::Float(self.learning_rate)),
            ("l2".into(), ParamValue::Float(self.l2)),
            ("test_size".into(), ParamValue::Float(self.test_fraction)),
            ("optimizer".into(), ParamValue::Str("adamw".into())),
        ])
    }
}

fn positive_int(v: &ParamValue) -> Option<usize> {
    match v {
        ParamValue::Int(i) if *i > 0 => Some(*i as usize),
        _ => None,
    }
}

/// What one epoch produced.
#[derive(Debug, Clone, PartialEq)]
pub struct EpochReport {
    /// 1-based.
    pub epoch: usize,
    pub epochs: usize,
    pub metrics: BTreeMap<String, f64>,
}

/// Receives each epoch; `Break` cancels training after that epoch.
pub trait TrainObserver {
    fn on_epoch(&mut self, report: &EpochReport) -> ControlFlow<()>;
}

impl<F: FnMut(&EpochReport) -> ControlFlow<()>> TrainObserver for F {
    fn on_epoch(&mut self, report: &EpochReport) -> ControlFlow<()> {
        self(report)
    }
}

#[derive(Debug, Clone)]
pub struct TrainOutcome {
    /// The weights as a safetensors file.
    pub weights: Vec<u8>,
    pub preprocessor: Preprocessor,
    /// The model's `Config`, as JSON.
    pub config: serde_json::Value,
    /// The metrics after the last epoch run.
    pub final_metrics: BTreeMap<String, f64>,
    pub epochs_run: usize,
    pub cancelled: bool,
    pub n_train: usize,
    pub n_test: usize,
}

/// Trains `spec.model` to predict `target` from every other column of `frame`, on CPU.
pub fn train(
    frame: &Frame,
    target: &str,
    spec: &TrainSpec,
    observer: &mut dyn TrainObserver,
) -> Result<TrainOutcome> {
    let device = Device::Cpu;
    let rows = frame.rows();
    if rows < 2 {
        return Err(TrainError::Invalid(format!(
            "{rows} row(s) is too few to train and test on"
        )));
    }
    let (train_rows, test_rows) = train_test_indices(rows, spec.test_fraction, spec.seed);
    let pre = Preprocessor::fit(frame, target, &train_rows)?;
    let n_features = pre.n_features();
    let cfg = LogisticConfig {
        n_features,
        n_classes: pre.classes.len(),
    };

    let to_x = |r: &[usize]| -> Result<Tensor> {
        Ok(Tensor::from_vec(
            pre.transform(frame, r)?,
            (r.len(), n_features),
            &device,
        )?)
    };
    let to_y = |r: &[usize]| -> Result<Tensor> {
        Ok(Tensor::from_vec(pre.labels(frame, r)?, r.len(), &device)?)
    };
    let (x_train, y_train) = (to_x(&train_rows)?, to_y(&train_rows)?);
    let (x_test, y_test) = (to_x(&test_rows)?, to_y(&test_rows)?);

    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &device);
    let model = Logistic::load(vb, &cfg)?;
    let mut opt = AdamW::new(
        varmap.all_vars(),
        ParamsAdamW {
            lr: spec.learning_rate,
            weight_decay: 0.0,
            ..ParamsAdamW::default()
        },
    )?;

    let mut order: Vec<u32> = (0..train_rows.len() as u32).collect();
    let mut rng = SplitMix64::new(spec.seed ^ 0x5EED_0FBA_7C4E_5000);
    let mut final_metrics = BTreeMap::new();
    let mut epochs_run = 0;
    let mut cancelled = false;
    for epoch in 1..=spec.epochs {
        rng.shuffle(&mut order);
        for batch in order.chunks(spec.batch_size) {
            let idx = Tensor::from_slice(batch, batch.len(), &device)?;
            let xb = x_train.index_select(&idx, 0)?;
            let yb = y_train.index_select(&idx, 0)?;
            let logits = model.forward(&xb)?;
            let mut loss = candle_nn::loss::cross_entropy(&logits, &yb)?;
            if spec.l2 > 0.0 {
                loss = (loss + (model.l2()? * (spec.l2 / 2.0))?)?;
            }
            opt.backward_step(&loss)?;
        }
        epochs_run = epoch;
        let (train_loss, train_acc) = evaluate(&model, &x_train, &y_train)?;
        let (test_loss, test_acc) = evaluate(&model, &x_test, &y_test)?;
        final_metrics = BTreeMap::from([
            ("train_loss".to_string(), train_loss),
            ("train_accuracy".to_string(), train_acc),
            ("test_loss".to_string(), test_loss),
            ("test_accuracy".to_string(), test_acc),
        ]);
        let report = EpochReport {
            epoch,
            epochs: spec.epochs,
            metrics: final_metrics.clone(),
        };
        if observer.on_epoch(&report).is_break() {
            cancelled = epoch < spec.epochs;
            break;
        }
    }

    let tensors = varmap
        .data()
        .lock()
        .expect("varmap lock")
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect::<BTreeMap<_, _>>();
    let weights = safetensors::serialize(tensors.iter(), None)?;
    Ok(TrainOutcome {
        weights,
        preprocessor: pre,
        config: serde_json::json!({ "model": spec.model.as_str(), "logistic": cfg }),
        final_metrics,
        epochs_run,
        cancelled,
        n_train: train_rows.len(),
        n_test: test_rows.len(),
    })
}

/// Mean cross-entropy and accuracy of `model` on `(x, y)`.
fn evaluate(model: &Logistic, x: &Tensor, y: &Tensor) -> Result<(f64, f64)> {
    let logits = model.forward(x)?;
    let loss = candle_nn::loss::cross_entropy(&logits, y)?.to_scalar::<f32>()? as f64;
    let pred = logits.argmax(D::Minus1)?;
    let correct = pred
        .eq(y)?
        .to_dtype(DType::F32)?
        .sum_all()?
        .to_scalar::<f32>()? as f64;
    Ok((loss, correct / y.dims()[0] as f64))
}

/// Class probabilities for every row of `frame`, using saved weights and preprocessing.
pub fn predict_proba(weights: &[u8], pre: &Preprocessor, frame: &Frame) -> Result<Vec<Vec<f32>>> {
    let device = Device::Cpu;
    let tensors = candle_core::safetensors::load_buffer(weights, &device)?;
    let vb = VarBuilder::from_tensors(tensors.into_iter().collect(), DType::F32, &device);
    let cfg = LogisticConfig {
        n_features: pre.n_features(),
        n_classes: pre.classes.len(),
    };
    let model = Logistic::load(vb, &cfg)?;
    let rows: Vec<usize> = (0..frame.rows()).collect();
    let x = Tensor::from_vec(
        pre.transform(frame, &rows)?,
        (rows.len(), cfg.n_features),
        &device,
    )?;
    let probs = candle_nn::ops::softmax(&model.forward(&x)?, D::Minus1)?;
    Ok(probs.to_vec2::<f32>()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::{DataType, FrameColumn, FrameValues};

    /// Two well-separated Gaussian blobs.
    fn blobs(n: usize) -> Frame {
        let mut rng = SplitMix64::new(3);
        let (mut a, mut b, mut y) = (vec![], vec![], vec![]);
        for i in 0..n {
            let class = i % 2;
            let centre = if class == 0 { -2.0 } else { 2.0 };
            a.push(Some(centre + rng.normal()));
            b.push(Some(-centre + rng.normal()));
            y.push(Some(if class == 0 {
                "left".to_string()
            } else {
                "right".to_string()
            }));
        }
        let num = |name: &str, v| FrameColumn {
            name: name.into(),
            dtype: DataType::Float,
            values: FrameValues::Numeric(v),
        };
        Frame {
            columns: vec![
                num("a", a),
                num("b", b),
                FrameColumn {
                    name: "y".into(),
                    dtype: DataType::String,
                    values: FrameValues::Text(y),
                },
            ],
        }
    }

    fn spec(seed: u64) -> TrainSpec {
        TrainSpec::from_params(
            ModelKind::Logistic,
            seed,
            &BTreeMap::from([("epochs".into(), ParamValue::Int(20))]),
        )
        .unwrap()
    }

    #[test]
    fn learns_separable_data_and_is_bit_deterministic() {
        let f = blobs(400);
        let mut seen = Vec::new();
        let a = train(&f, "y", &spec(1), &mut |r: &EpochReport| {
            seen.push(r.epoch);
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(seen, (1..=20).collect::<Vec<_>>());
        assert!(
            a.final_metrics["test_accuracy"] > 0.97,
            "{:?}",
            a.final_metrics
        );
        let b = train(&f, "y", &spec(1), &mut |_: &EpochReport| {
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_eq!(a.weights, b.weights, "same seed, same bytes");
        let c = train(&f, "y", &spec(2), &mut |_: &EpochReport| {
            ControlFlow::Continue(())
        })
        .unwrap();
        assert_ne!(
            a.weights, c.weights,
            "another seed, another split and order"
        );

        let probs = predict_proba(&a.weights, &a.preprocessor, &f).unwrap();
        assert_eq!(probs.len(), 400);
        assert!((probs[0][0] + probs[0][1] - 1.0).abs() < 1e-5);
    }

    #[test]
    fn cancellation_stops_after_the_epoch() {
        let f = blobs(100);
        let out = train(&f, "y", &spec(1), &mut |r: &EpochReport| {
            if r.epoch == 3 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap();
        assert!(out.cancelled);
        assert_eq!(out.epochs_run, 3);
    }

    #[test]
    fn params_are_checked() {
        let p = |k: &str, v: ParamValue| BTreeMap::from([(k.to_string(), v)]);
        assert!(
            TrainSpec::from_params(ModelKind::Logistic, 0, &p("lr", ParamValue::Float(-1.0)))
                .is_err()
        );
        let err = TrainSpec::from_params(
            ModelKind::Logistic,
            0,
            &p("momentum", ParamValue::Float(0.9)),
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("known params: epochs"), "{err}");
        assert_eq!(
            TrainSpec::from_params(ModelKind::Logistic, 0, &p("lr", ParamValue::Int(1)))
                .unwrap()
                .learning_rate,
            1.0
        );
    }
}
