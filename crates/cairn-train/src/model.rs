//! Models: each is a `Config` + `load(vb, cfg)` + `forward`.

use candle_core::{Result, Tensor};
use candle_nn::{Init, Module, VarBuilder};
use serde::{Deserialize, Serialize};

/// The model families Cairn trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Logistic (binary) / softmax (multiclass) regression.
    Logistic,
}

impl ModelKind {
    pub fn parse(text: &str) -> std::result::Result<ModelKind, String> {
        match text {
            "logistic" | "logreg" | "softmax" => Ok(ModelKind::Logistic),
            other => Err(format!("unknown model `{other}`; available: logistic")),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Logistic => "logistic",
        }
    }
}

/// Softmax regression: `logits = x Wᵀ + b`. Weights start at zero, so training is fully
/// determined by the data order (the problem is convex; zero is a fine start).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogisticConfig {
    pub n_features: usize,
    pub n_classes: usize,
}

#[derive(Debug, Clone)]
pub struct Logistic {
    weight: Tensor,
    bias: Tensor,
}

impl Logistic {
    pub fn load(vb: VarBuilder, cfg: &LogisticConfig) -> Result<Self> {
        let weight =
            vb.get_with_hints((cfg.n_classes, cfg.n_features), "weight", Init::Const(0.0))?;
        let bias = vb.get_with_hints(cfg.n_classes, "bias", Init::Const(0.0))?;
        Ok(Self { weight, bias })
    }

    /// Sum of squared weights (not the bias), for the L2 penalty.
    pub fn l2(&self) -> Result<Tensor> {
        self.weight.sqr()?.sum_all()
    }
}

impl Module for Logistic {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        x.matmul(&self.weight.t()?)?.broadcast_add(&self.bias)
    }
}
