//! Everything that decides a training run besides the data, read from typed params.
//!
//! Every hyperparameter has one row in [`PARAMS`]: its key, what it means, and its default per
//! model. Unknown keys are refused with the list of known ones; a value of the wrong type or out
//! of range is refused naming the key and what it must be.

use crate::model::{Activation, ModelKind};
use crate::optim::{OptimizerKind, Schedule};
use crate::preprocess::{Encoding, Impute, PreprocessConfig, Scaling, Task, Unseen};
use crate::{Result, TrainError};
use cairn_core::ParamValue;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Where tensors live: chosen once, at the edge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case", tag = "kind", content = "ordinal")]
pub enum DeviceChoice {
    #[default]
    Cpu,
    Cuda(usize),
    /// The first CUDA GPU when this build has CUDA support and a driver answers; else the CPU.
    Auto,
}

impl DeviceChoice {
    pub fn parse(text: &str) -> std::result::Result<DeviceChoice, String> {
        match text.trim() {
            "cpu" => Ok(DeviceChoice::Cpu),
            "auto" => Ok(DeviceChoice::Auto),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            t => match t.strip_prefix("cuda:").map(str::parse::<usize>) {
                Some(Ok(n)) => Ok(DeviceChoice::Cuda(n)),
                _ => Err(format!(
                    "unknown device `{t}`; use cpu, cuda, cuda:N (N = 0, 1, …) or auto"
                )),
            },
        }
    }
}

/// A parsed, checked training configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainSpec {
    pub model: ModelKind,
    pub task: Task,
    pub seed: u64,
    pub epochs: usize,
    /// Rows per step; 0 is the whole training split (full-batch gradient descent).
    pub batch_size: usize,
    pub lr: f64,
    pub optimizer: OptimizerKind,
    pub momentum: f64,
    pub nesterov: bool,
    pub weight_decay: f64,
    pub schedule: Schedule,
    pub warmup_epochs: usize,
    /// L1 and L2 penalties on the weights (not biases), added to the mean loss as
    /// `l1·‖W‖₁ + l2/2·‖W‖²`.
    pub l1: f64,
    pub l2: f64,
    pub clip_norm: f64,
    pub balanced_classes: bool,
    pub test_size: f64,
    pub val_size: f64,
    pub stratify: bool,
    pub early_stopping: bool,
    pub patience: usize,
    pub min_delta: f64,
    /// `val_loss`, `val_accuracy`, `val_rmse`, `val_r2`.
    pub monitor: String,
    pub checkpoint_every: usize,
    pub hidden: Vec<usize>,
    pub activation: Activation,
    pub dropout: f32,
    pub batch_norm: bool,
    pub conv: Vec<usize>,
    pub kernel: usize,
    pub dense: usize,
    /// `(channels, height, width)`; `None` infers a square single-channel image.
    pub image_shape: Option<(usize, usize, usize)>,
    pub preprocess: PreprocessConfig,
}

/// One hyperparameter: key, meaning, and default for linear/logistic/mlp/cnn ("" = not used).
pub struct ParamDoc {
    pub key: &'static str,
    pub help: &'static str,
    pub defaults: [&'static str; 4],
}

const fn p(key: &'static str, help: &'static str, defaults: [&'static str; 4]) -> ParamDoc {
    ParamDoc {
        key,
        help,
        defaults,
    }
}

const fn all(d: &'static str) -> [&'static str; 4] {
    [d, d, d, d]
}

/// The hyperparameters `train` understands: `[linear, logistic, mlp, cnn]` defaults.
pub const PARAMS: &[ParamDoc] = &[
    p(
        "task",
        "classification or regression",
        [
            "regression",
            "classification",
            "classification",
            "classification",
        ],
    ),
    p(
        "epochs",
        "passes over the training rows",
        ["3000", "100", "100", "30"],
    ),
    p(
        "batch_size",
        "rows per gradient step (0: the whole training split)",
        ["0", "32", "32", "32"],
    ),
    p("lr", "learning rate", ["0.1", "0.01", "0.001", "0.001"]),
    p(
        "optimizer",
        "sgd, adam or adamw",
        ["adam", "adam", "adam", "adam"],
    ),
    p("momentum", "SGD momentum", ["0.9", "0.9", "0.9", "0.9"]),
    p(
        "nesterov",
        "Nesterov momentum for SGD",
        ["false", "false", "false", "false"],
    ),
    p(
        "weight_decay",
        "weight decay (coupled for sgd/adam, decoupled for adamw)",
        ["0", "0", "0", "0"],
    ),
    p(
        "schedule",
        "constant, step or cosine",
        ["cosine", "constant", "constant", "constant"],
    ),
    p(
        "step_size",
        "epochs between decays (schedule=step)",
        ["30", "30", "30", "10"],
    ),
    p(
        "gamma",
        "decay factor (schedule=step)",
        ["0.1", "0.1", "0.1", "0.1"],
    ),
    p(
        "min_lr",
        "final learning rate (schedule=cosine)",
        ["0", "0", "0", "0"],
    ),
    p(
        "warmup_epochs",
        "linear warm-up before the schedule",
        ["0", "0", "0", "0"],
    ),
    p("l1", "L1 penalty on weights", ["0", "0", "0", "0"]),
    p("l2", "L2 penalty on weights", ["0", "0.001", "0", "0"]),
    p(
        "clip_norm",
        "clip the global gradient norm (0: off)",
        ["0", "0", "0", "0"],
    ),
    p(
        "class_weight",
        "none or balanced",
        ["", "none", "none", "none"],
    ),
    p(
        "test_size",
        "share of rows held out for the test metrics",
        ["0.2", "0.2", "0.2", "0.2"],
    ),
    p(
        "val_size",
        "share of rows for validation (0: none; 0.1 when early_stopping)",
        ["0", "0", "0", "0"],
    ),
    p(
        "stratify",
        "keep class shares in every split (classification)",
        ["", "true", "true", "true"],
    ),
    p(
        "early_stopping",
        "stop when the monitored validation metric stalls; keep the best weights",
        ["false", "false", "false", "false"],
    ),
    p(
        "patience",
        "epochs without improvement before stopping",
        ["10", "10", "10", "5"],
    ),
    p(
        "min_delta",
        "smallest change that counts as improvement",
        ["0", "0", "0", "0"],
    ),
    p(
        "monitor",
        "val_loss, val_accuracy, val_rmse or val_r2",
        ["val_loss", "val_loss", "val_loss", "val_loss"],
    ),
    p(
        "checkpoint_every",
        "save a checkpoint every N epochs (0: never)",
        ["0", "0", "0", "0"],
    ),
    p("hidden", "hidden layer widths", ["", "", "[128, 64]", ""]),
    p(
        "activation",
        "relu, tanh, sigmoid or gelu",
        ["", "", "relu", ""],
    ),
    p("dropout", "dropout probability", ["", "", "0", "0.25"]),
    p(
        "batch_norm",
        "batch normalisation after each hidden layer",
        ["", "", "false", "false"],
    ),
    p("conv", "convolution channels", ["", "", "", "[16, 32]"]),
    p("kernel", "convolution kernel size", ["", "", "", "3"]),
    p(
        "dense",
        "width of the dense layer after the convolutions",
        ["", "", "", "64"],
    ),
    p(
        "image_shape",
        "[channels, height, width] (default: square, 1 channel)",
        ["", "", "", ""],
    ),
    p(
        "scaling",
        "standardize, minmax or none (numeric columns)",
        all("standardize"),
    ),
    p(
        "impute",
        "mean, median, most_frequent or constant",
        all("mean"),
    ),
    p("impute_value", "fill value for impute=constant", all("0")),
    p(
        "missing_indicator",
        "add a 0/1 column per feature with missing values",
        all("false"),
    ),
    p(
        "categorical",
        "onehot or ordinal (text columns)",
        all("onehot"),
    ),
    p(
        "unseen",
        "ignore or error: a category not seen in training",
        all("ignore"),
    ),
    p(
        "features",
        "feature columns (default: all but the target)",
        all("[]"),
    ),
    p("exclude", "columns to leave out", all("[]")),
];

fn model_index(model: ModelKind) -> usize {
    match model {
        ModelKind::Linear => 0,
        ModelKind::Logistic => 1,
        ModelKind::Mlp => 2,
        ModelKind::Cnn => 3,
    }
}

/// The params that apply to `model`, with their defaults.
pub fn params_for(model: ModelKind) -> Vec<(&'static str, &'static str, &'static str)> {
    let i = model_index(model);
    PARAMS
        .iter()
        .filter(|d| !d.defaults[i].is_empty() || d.key == "image_shape" && i == 3)
        .map(|d| (d.key, d.defaults[i], d.help))
        .collect()
}

fn usize_list(v: &ParamValue) -> Option<Vec<usize>> {
    match v {
        ParamValue::List(items) => items.iter().map(positive_int).collect(),
        ParamValue::Int(_) => positive_int(v).map(|n| vec![n]),
        _ => None,
    }
}

fn str_list(v: &ParamValue) -> Option<Vec<String>> {
    match v {
        ParamValue::List(items) => Some(items.iter().map(|i| i.to_string()).collect()),
        ParamValue::Str(s) if s.is_empty() => Some(vec![]),
        ParamValue::Str(s) => Some(vec![s.clone()]),
        _ => None,
    }
}

fn positive_int(v: &ParamValue) -> Option<usize> {
    match v {
        ParamValue::Int(i) if *i > 0 => Some(*i as usize),
        _ => None,
    }
}

fn non_negative_int(v: &ParamValue) -> Option<usize> {
    match v {
        ParamValue::Int(i) if *i >= 0 => Some(*i as usize),
        _ => None,
    }
}

fn boolean(v: &ParamValue) -> Option<bool> {
    match v {
        ParamValue::Bool(b) => Some(*b),
        _ => None,
    }
}

fn word(v: &ParamValue) -> Option<&str> {
    match v {
        ParamValue::Str(s) => Some(s.as_str()),
        _ => None,
    }
}

impl TrainSpec {
    /// Reads hyperparameters from typed params over the model's defaults.
    pub fn from_params(
        model: ModelKind,
        seed: u64,
        given: &BTreeMap<String, ParamValue>,
    ) -> Result<TrainSpec> {
        let applicable = params_for(model);
        for key in given.keys() {
            if !applicable.iter().any(|(k, _, _)| k == key) {
                let known: Vec<&str> = applicable.iter().map(|(k, _, _)| *k).collect();
                return Err(TrainError::Invalid(format!(
                    "unknown param `{key}` for model {}; known params: {}",
                    model.as_str(),
                    known.join(", ")
                )));
            }
        }
        let mut merged: BTreeMap<&str, ParamValue> = applicable
            .iter()
            .map(|(k, d, _)| (*k, ParamValue::infer(d)))
            .collect();
        for (k, v) in given {
            merged.insert(k.as_str(), v.clone());
        }
        let get = |key: &str| {
            merged
                .get(key)
                .cloned()
                .unwrap_or(ParamValue::Str(String::new()))
        };
        fn bad(key: &str, value: &ParamValue, want: &str) -> TrainError {
            TrainError::Invalid(format!("param `{key}` must be {want}, got `{value}`"))
        }
        let num = |key: &str, ok: &dyn Fn(f64) -> bool, want: &str| -> Result<f64> {
            let v = get(key);
            v.as_f64()
                .filter(|x| ok(*x))
                .ok_or_else(|| bad(key, &v, want))
        };
        let pos_int = |key: &str| -> Result<usize> {
            let v = get(key);
            positive_int(&v).ok_or_else(|| bad(key, &v, "a positive integer"))
        };
        let nn_int = |key: &str| -> Result<usize> {
            let v = get(key);
            non_negative_int(&v).ok_or_else(|| bad(key, &v, "an integer ≥ 0"))
        };
        let flag = |key: &str| -> Result<bool> {
            let v = get(key);
            boolean(&v).ok_or_else(|| bad(key, &v, "true or false"))
        };
        let choice = |key: &str, options: &[&str]| -> Result<String> {
            let v = get(key);
            word(&v)
                .filter(|w| options.contains(w))
                .map(str::to_string)
                .ok_or_else(|| bad(key, &v, &format!("one of {}", options.join(", "))))
        };
        let uses = |key: &str| applicable.iter().any(|(k, _, _)| *k == key);

        let task = match choice("task", &["classification", "regression"])?.as_str() {
            "regression" => Task::Regression,
            _ => Task::Classification,
        };
        match (model, task) {
            (ModelKind::Linear, Task::Classification) => {
                return Err(TrainError::Invalid(
                    "linear regression predicts numbers; for classes use `--model logistic`".into(),
                ));
            }
            (ModelKind::Logistic | ModelKind::Cnn, Task::Regression) => {
                return Err(TrainError::Invalid(format!(
                    "model {} is a classifier; for a numeric target use `--model linear` or `--model mlp --param task=regression`",
                    model.as_str()
                )));
            }
            _ => {}
        }
        let optimizer = match choice("optimizer", &["sgd", "adam", "adamw"])?.as_str() {
            "sgd" => OptimizerKind::Sgd,
            "adamw" => OptimizerKind::AdamW,
            _ => OptimizerKind::Adam,
        };
        let schedule = match choice("schedule", &["constant", "step", "cosine"])?.as_str() {
            "step" => Schedule::Step {
                step_size: pos_int("step_size")?,
                gamma: num("gamma", &|x| x > 0.0 && x <= 1.0, "in (0, 1]")?,
            },
            "cosine" => Schedule::Cosine {
                min_lr: num("min_lr", &|x| x >= 0.0, "a number ≥ 0")?,
            },
            _ => Schedule::Constant,
        };
        let early_stopping = flag("early_stopping")?;
        let mut val_size = num("val_size", &|x| (0.0..1.0).contains(&x), "in [0, 1)")?;
        if early_stopping && val_size == 0.0 {
            val_size = 0.1;
        }
        let test_size = num("test_size", &|x| x > 0.0 && x < 1.0, "between 0 and 1")?;
        if test_size + val_size >= 0.9 {
            return Err(TrainError::Invalid(format!(
                "test_size {test_size} + val_size {val_size} leave too few rows to train on; keep their sum below 0.9"
            )));
        }
        let monitor = choice(
            "monitor",
            &["val_loss", "val_accuracy", "val_rmse", "val_r2"],
        )?;
        match (task, monitor.as_str()) {
            (Task::Classification, "val_rmse" | "val_r2") | (Task::Regression, "val_accuracy") => {
                return Err(TrainError::Invalid(format!(
                    "monitor `{monitor}` does not apply to {}",
                    task.as_str()
                )));
            }
            _ => {}
        }
        let image_shape = match given.get("image_shape") {
            None => None,
            Some(v) => match usize_list(v).as_deref() {
                Some(&[c, h, w]) if h >= 2 && w >= 2 => Some((c, h, w)),
                _ => return Err(bad("image_shape", v, "[channels, height, width]")),
            },
        };
        let list = |key: &str| -> Result<Vec<usize>> {
            let v = get(key);
            usize_list(&v).ok_or_else(|| bad(key, &v, "a list of positive integers, e.g. [64, 32]"))
        };
        let names = |key: &str| -> Result<Vec<String>> {
            let v = get(key);
            str_list(&v).ok_or_else(|| bad(key, &v, "a list of column names, e.g. [a, b]"))
        };
        let preprocess = PreprocessConfig {
            scaling: match choice("scaling", &["standardize", "minmax", "none"])?.as_str() {
                "minmax" => Scaling::MinMax,
                "none" => Scaling::None,
                _ => Scaling::Standardize,
            },
            impute: match choice("impute", &["mean", "median", "most_frequent", "constant"])?
                .as_str()
            {
                "median" => Impute::Median,
                "most_frequent" => Impute::MostFrequent,
                "constant" => Impute::Constant,
                _ => Impute::Mean,
            },
            impute_value: num("impute_value", &f64::is_finite, "a number")?,
            missing_indicator: flag("missing_indicator")?,
            categorical: match choice("categorical", &["onehot", "ordinal"])?.as_str() {
                "ordinal" => Encoding::Ordinal,
                _ => Encoding::OneHot,
            },
            unseen: match choice("unseen", &["ignore", "error"])?.as_str() {
                "error" => Unseen::Error,
                _ => Unseen::Ignore,
            },
            features: names("features")?,
            exclude: names("exclude")?,
        };
        let dropout = if uses("dropout") {
            num("dropout", &|x| (0.0..1.0).contains(&x), "in [0, 1)")? as f32
        } else {
            0.0
        };
        Ok(TrainSpec {
            model,
            task,
            seed,
            epochs: pos_int("epochs")?,
            batch_size: nn_int("batch_size")?,
            lr: num("lr", &|x| x > 0.0 && x.is_finite(), "a positive number")?,
            optimizer,
            momentum: num("momentum", &|x| (0.0..1.0).contains(&x), "in [0, 1)")?,
            nesterov: flag("nesterov")?,
            weight_decay: num("weight_decay", &|x| x >= 0.0, "a number ≥ 0")?,
            schedule,
            warmup_epochs: nn_int("warmup_epochs")?,
            l1: num("l1", &|x| x >= 0.0, "a number ≥ 0")?,
            l2: num("l2", &|x| x >= 0.0, "a number ≥ 0")?,
            clip_norm: num("clip_norm", &|x| x >= 0.0, "a number ≥ 0")?,
            balanced_classes: uses("class_weight")
                && choice("class_weight", &["none", "balanced"])? == "balanced",
            test_size,
            val_size,
            stratify: task == Task::Classification && uses("stratify") && flag("stratify")?,
            early_stopping,
            patience: pos_int("patience")?,
            min_delta: num("min_delta", &|x| x >= 0.0, "a number ≥ 0")?,
            monitor,
            checkpoint_every: nn_int("checkpoint_every")?,
            hidden: if uses("hidden") {
                list("hidden")?
            } else {
                vec![]
            },
            activation: if uses("activation") {
                let v = get("activation");
                word(&v)
                    .ok_or_else(|| bad("activation", &v, "relu, tanh, sigmoid or gelu"))
                    .and_then(|w| {
                        Activation::parse(w).map_err(|want| bad("activation", &v, &want))
                    })?
            } else {
                Activation::Relu
            },
            dropout,
            batch_norm: uses("batch_norm") && flag("batch_norm")?,
            conv: if uses("conv") { list("conv")? } else { vec![] },
            kernel: if uses("kernel") {
                pos_int("kernel")?
            } else {
                3
            },
            dense: if uses("dense") { pos_int("dense")? } else { 0 },
            image_shape,
            preprocess,
        })
    }

    /// The effective hyperparameters, typed, to record with the run.
    pub fn as_params(&self) -> BTreeMap<String, ParamValue> {
        let f = ParamValue::Float;
        let i = |n: usize| ParamValue::Int(n as i64);
        let s = |t: &str| ParamValue::Str(t.to_string());
        let b = ParamValue::Bool;
        let ints = |v: &[usize]| ParamValue::List(v.iter().map(|n| i(*n)).collect());
        let strs = |v: &[String]| ParamValue::List(v.iter().map(|n| s(n)).collect());
        let ser = |v: &dyn erased::AsStr| ParamValue::Str(v.as_str());
        let mut m: BTreeMap<String, ParamValue> = BTreeMap::new();
        let mut put = |k: &str, v: ParamValue| {
            m.insert(k.to_string(), v);
        };
        put("task", s(self.task.as_str()));
        put("epochs", i(self.epochs));
        put("batch_size", i(self.batch_size));
        put("lr", f(self.lr));
        put("optimizer", s(self.optimizer.as_str()));
        if self.optimizer == OptimizerKind::Sgd {
            put("momentum", f(self.momentum));
            put("nesterov", b(self.nesterov));
        }
        put("weight_decay", f(self.weight_decay));
        match self.schedule {
            Schedule::Constant => put("schedule", s("constant")),
            Schedule::Step { step_size, gamma } => {
                put("schedule", s("step"));
                put("step_size", i(step_size));
                put("gamma", f(gamma));
            }
            Schedule::Cosine { min_lr } => {
                put("schedule", s("cosine"));
                put("min_lr", f(min_lr));
            }
        }
        put("warmup_epochs", i(self.warmup_epochs));
        put("l1", f(self.l1));
        put("l2", f(self.l2));
        put("clip_norm", f(self.clip_norm));
        if self.task == Task::Classification {
            put(
                "class_weight",
                s(if self.balanced_classes {
                    "balanced"
                } else {
                    "none"
                }),
            );
            put("stratify", b(self.stratify));
        }
        put("test_size", f(self.test_size));
        put("val_size", f(self.val_size));
        put("early_stopping", b(self.early_stopping));
        if self.early_stopping {
            put("patience", i(self.patience));
            put("min_delta", f(self.min_delta));
            put("monitor", s(&self.monitor));
        }
        put("checkpoint_every", i(self.checkpoint_every));
        match self.model {
            ModelKind::Mlp => {
                put("hidden", ints(&self.hidden));
                put("activation", ser(&self.activation));
                put("dropout", f(self.dropout as f64));
                put("batch_norm", b(self.batch_norm));
            }
            ModelKind::Cnn => {
                put("conv", ints(&self.conv));
                put("kernel", i(self.kernel));
                put("dense", i(self.dense));
                put("dropout", f(self.dropout as f64));
                put("batch_norm", b(self.batch_norm));
                if let Some((c, h, w)) = self.image_shape {
                    put("image_shape", ints(&[c, h, w]));
                }
            }
            _ => {}
        }
        let pp = &self.preprocess;
        put("scaling", ser(&pp.scaling));
        put("impute", ser(&pp.impute));
        if pp.impute == Impute::Constant {
            put("impute_value", f(pp.impute_value));
        }
        put("missing_indicator", b(pp.missing_indicator));
        put("categorical", ser(&pp.categorical));
        put("unseen", ser(&pp.unseen));
        if !pp.features.is_empty() {
            put("features", strs(&pp.features));
        }
        if !pp.exclude.is_empty() {
            put("exclude", strs(&pp.exclude));
        }
        m
    }
}

mod erased {
    /// The serde name of a unit enum value (`"most_frequent"`), for recording params.
    pub trait AsStr {
        fn as_str(&self) -> String;
    }
    impl<T: serde::Serialize> AsStr for T {
        fn as_str(&self) -> String {
            match serde_json::to_value(self) {
                Ok(serde_json::Value::String(s)) => s,
                other => format!("{other:?}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(model: ModelKind, kv: &[(&str, &str)]) -> Result<TrainSpec> {
        let given = kv
            .iter()
            .map(|(k, v)| (k.to_string(), ParamValue::infer(v)))
            .collect();
        TrainSpec::from_params(model, 7, &given)
    }

    #[test]
    fn defaults_per_model_and_round_trip() {
        let mlp = spec(ModelKind::Mlp, &[]).unwrap();
        assert_eq!(mlp.hidden, vec![128, 64]);
        assert_eq!(mlp.lr, 0.001);
        let lin = spec(ModelKind::Linear, &[]).unwrap();
        assert_eq!(lin.task, Task::Regression);
        // The recorded params read back to the same spec.
        for model in ModelKind::ALL {
            let a = spec(model, &[]).unwrap();
            let again = TrainSpec::from_params(model, 7, &a.as_params()).unwrap();
            assert_eq!(a, again, "{model:?}");
        }
        let cnn = spec(
            ModelKind::Cnn,
            &[("image_shape", "[1, 8, 8]"), ("schedule", "cosine")],
        )
        .unwrap();
        assert_eq!(cnn.image_shape, Some((1, 8, 8)));
        assert_eq!(cnn.schedule, Schedule::Cosine { min_lr: 0.0 });
        assert_eq!(
            TrainSpec::from_params(ModelKind::Cnn, 7, &cnn.as_params()).unwrap(),
            cnn
        );
    }

    #[test]
    fn refuses_bad_params_by_name() {
        type Case<'a> = (ModelKind, &'a [(&'a str, &'a str)], &'a str);
        let cases: &[Case] = &[
            (
                ModelKind::Logistic,
                &[("lr", "-1")],
                "param `lr` must be a positive number",
            ),
            (
                ModelKind::Logistic,
                &[("hidden", "[3]")],
                "unknown param `hidden` for model logistic",
            ),
            (
                ModelKind::Mlp,
                &[("hidden", "[0]")],
                "param `hidden` must be a list",
            ),
            (ModelKind::Mlp, &[("activation", "swish")], "relu, tanh"),
            (
                ModelKind::Mlp,
                &[("optimizer", "lbfgs")],
                "one of sgd, adam, adamw",
            ),
            (ModelKind::Mlp, &[("dropout", "1.5")], "in [0, 1)"),
            (
                ModelKind::Linear,
                &[("task", "classification")],
                "--model logistic",
            ),
            (
                ModelKind::Logistic,
                &[("task", "regression")],
                "--model linear",
            ),
            (
                ModelKind::Linear,
                &[("monitor", "val_accuracy")],
                "does not apply",
            ),
            (
                ModelKind::Mlp,
                &[("test_size", "0.5"), ("val_size", "0.45")],
                "too few rows",
            ),
            (
                ModelKind::Cnn,
                &[("image_shape", "[8, 8]")],
                "[channels, height, width]",
            ),
        ];
        for (model, kv, want) in cases {
            let err = spec(*model, kv).unwrap_err().to_string();
            assert!(err.contains(want), "{kv:?}: {err}");
        }
        assert_eq!(spec(ModelKind::Logistic, &[("lr", "1")]).unwrap().lr, 1.0);
        assert_eq!(
            spec(ModelKind::Mlp, &[("early_stopping", "true")])
                .unwrap()
                .val_size,
            0.1
        );
    }

    #[test]
    fn devices_parse() {
        assert_eq!(DeviceChoice::parse("cpu"), Ok(DeviceChoice::Cpu));
        assert_eq!(DeviceChoice::parse("cuda"), Ok(DeviceChoice::Cuda(0)));
        assert_eq!(DeviceChoice::parse("cuda:1"), Ok(DeviceChoice::Cuda(1)));
        assert_eq!(DeviceChoice::parse("auto"), Ok(DeviceChoice::Auto));
        assert!(DeviceChoice::parse("tpu").unwrap_err().contains("cuda:N"));
    }
}
