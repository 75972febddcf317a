//! Models: each is a `Config` + `load(vb, cfg)` + `forward`.
//!
//! Weights are created as zeros by `load` and then filled by [`seeded_init`] from Cairn's own
//! generator, never from Candle's device RNG, so the same seed gives the same starting weights
//! on every machine. Dropout masks come from the trainer's generator for the same reason.

use cairn_core::SplitMix64;
use candle_core::{D, DType, Module, ModuleT, Result, Tensor};
use candle_nn::{
    BatchNorm, BatchNormConfig, Conv2d, Conv2dConfig, Init, Linear, VarBuilder, VarMap,
};
use serde::{Deserialize, Serialize};

/// The model families Cairn trains.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ModelKind {
    /// Least-squares linear regression.
    Linear,
    /// Logistic (binary) / softmax (multiclass) regression.
    Logistic,
    /// A multi-layer perceptron.
    Mlp,
    /// A small convolutional network for image-shaped rows (e.g. 8×8 digits).
    Cnn,
}

impl ModelKind {
    pub const ALL: [ModelKind; 4] = [
        ModelKind::Linear,
        ModelKind::Logistic,
        ModelKind::Mlp,
        ModelKind::Cnn,
    ];

    pub fn parse(text: &str) -> std::result::Result<ModelKind, String> {
        match text {
            "linear" | "linreg" | "linear_regression" => Ok(ModelKind::Linear),
            "logistic" | "logreg" | "softmax" => Ok(ModelKind::Logistic),
            "mlp" => Ok(ModelKind::Mlp),
            "cnn" => Ok(ModelKind::Cnn),
            other => Err(format!(
                "unknown model `{other}`; available: linear, logistic, mlp, cnn"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            ModelKind::Linear => "linear",
            ModelKind::Logistic => "logistic",
            ModelKind::Mlp => "mlp",
            ModelKind::Cnn => "cnn",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Activation {
    Relu,
    Tanh,
    Sigmoid,
    Gelu,
}

impl Activation {
    pub fn parse(text: &str) -> std::result::Result<Activation, String> {
        Ok(match text {
            "relu" => Activation::Relu,
            "tanh" => Activation::Tanh,
            "sigmoid" => Activation::Sigmoid,
            "gelu" => Activation::Gelu,
            _ => return Err("relu, tanh, sigmoid or gelu".into()),
        })
    }

    fn apply(self, x: &Tensor) -> Result<Tensor> {
        match self {
            Activation::Relu => x.relu(),
            Activation::Tanh => x.tanh(),
            Activation::Sigmoid => candle_nn::ops::sigmoid(x),
            // The tanh approximation: exported to ONNX as elementary ops.
            Activation::Gelu => x.gelu(),
        }
    }
}

/// A dense layer `x Wᵀ + b` with PyTorch's weight layout `(out, in)`.
fn dense(inp: usize, out: usize, vb: VarBuilder) -> Result<Linear> {
    let w = vb.get_with_hints((out, inp), "weight", Init::Const(0.0))?;
    let b = vb.get_with_hints(out, "bias", Init::Const(0.0))?;
    Ok(Linear::new(w, Some(b)))
}

/// Training or evaluation; training carries the generator for dropout masks.
pub enum Mode<'a> {
    Eval,
    Train(&'a mut SplitMix64),
}

impl Mode<'_> {
    fn is_train(&self) -> bool {
        matches!(self, Mode::Train(_))
    }
}

/// Inverted dropout with a mask drawn from Cairn's generator.
fn dropout(x: &Tensor, p: f32, mode: &mut Mode) -> Result<Tensor> {
    let Mode::Train(rng) = mode else {
        return Ok(x.clone());
    };
    if p <= 0.0 {
        return Ok(x.clone());
    }
    let keep = 1.0 - p as f64;
    let n = x.elem_count();
    let mask: Vec<f32> = (0..n)
        .map(|_| {
            if rng.next_f64() < keep {
                (1.0 / keep) as f32
            } else {
                0.0
            }
        })
        .collect();
    let mask = Tensor::from_vec(mask, x.shape(), x.device())?.to_dtype(x.dtype())?;
    x * mask
}

/// `logits = x Wᵀ + b`: linear regression (one output) or logistic/softmax regression.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct AffineConfig {
    pub n_features: usize,
    pub n_outputs: usize,
}

#[derive(Debug, Clone)]
pub struct Affine {
    layer: Linear,
}

impl Affine {
    pub fn load(vb: VarBuilder, cfg: &AffineConfig) -> Result<Self> {
        Ok(Self {
            layer: dense(cfg.n_features, cfg.n_outputs, vb.pp("linear"))?,
        })
    }
}

impl Module for Affine {
    fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.layer.forward(x)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MlpConfig {
    pub n_features: usize,
    pub hidden: Vec<usize>,
    pub n_outputs: usize,
    pub activation: Activation,
    pub dropout: f32,
    pub batch_norm: bool,
}

#[derive(Debug, Clone)]
pub struct Mlp {
    layers: Vec<(Linear, Option<BatchNorm>)>,
    out: Linear,
    activation: Activation,
    dropout: f32,
}

fn bn_config() -> BatchNormConfig {
    BatchNormConfig {
        eps: 1e-5,
        remove_mean: true,
        affine: true,
        momentum: 0.1,
    }
}

impl Mlp {
    pub fn load(vb: VarBuilder, cfg: &MlpConfig) -> Result<Self> {
        let mut layers = Vec::new();
        let mut width = cfg.n_features;
        for (i, &h) in cfg.hidden.iter().enumerate() {
            let lin = dense(width, h, vb.pp(format!("hidden{i}")))?;
            let bn = if cfg.batch_norm {
                Some(candle_nn::batch_norm(
                    h,
                    bn_config(),
                    vb.pp(format!("bn{i}")),
                )?)
            } else {
                None
            };
            layers.push((lin, bn));
            width = h;
        }
        Ok(Self {
            layers,
            out: dense(width, cfg.n_outputs, vb.pp("out"))?,
            activation: cfg.activation,
            dropout: cfg.dropout,
        })
    }

    pub fn forward_t(&self, x: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        let mut h = x.clone();
        for (lin, bn) in &self.layers {
            h = lin.forward(&h)?;
            if let Some(bn) = bn {
                h = bn.forward_t(&h, mode.is_train())?;
            }
            h = self.activation.apply(&h)?;
            h = dropout(&h, self.dropout, mode)?;
        }
        self.out.forward(&h)
    }
}

/// Two 3×3 (by default) same-padded convolutions with ReLU, a 2×2 max-pool, a dense layer and
/// the output layer. Rows are read as images `(channels, height, width)`, row-major.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CnnConfig {
    pub channels: usize,
    pub height: usize,
    pub width: usize,
    pub conv: Vec<usize>,
    pub kernel: usize,
    pub dense: usize,
    pub n_outputs: usize,
    pub dropout: f32,
    pub batch_norm: bool,
}

impl CnnConfig {
    /// Features after the convolutions and the pool.
    pub fn flat_width(&self) -> usize {
        self.conv.last().copied().unwrap_or(self.channels) * (self.height / 2) * (self.width / 2)
    }
}

#[derive(Debug, Clone)]
pub struct Cnn {
    cfg: CnnConfig,
    convs: Vec<(Conv2d, Option<BatchNorm>)>,
    fc: Linear,
    out: Linear,
}

impl Cnn {
    pub fn load(vb: VarBuilder, cfg: &CnnConfig) -> Result<Self> {
        let mut convs = Vec::new();
        let mut c_in = cfg.channels;
        let conv_cfg = Conv2dConfig {
            padding: cfg.kernel / 2,
            ..Default::default()
        };
        for (i, &c) in cfg.conv.iter().enumerate() {
            let p = vb.pp(format!("conv{i}"));
            let w = p.get_with_hints(
                (c, c_in, cfg.kernel, cfg.kernel),
                "weight",
                Init::Const(0.0),
            )?;
            let b = p.get_with_hints(c, "bias", Init::Const(0.0))?;
            let bn = if cfg.batch_norm {
                Some(candle_nn::batch_norm(
                    c,
                    bn_config(),
                    vb.pp(format!("bn{i}")),
                )?)
            } else {
                None
            };
            convs.push((Conv2d::new(w, Some(b), conv_cfg), bn));
            c_in = c;
        }
        Ok(Self {
            cfg: cfg.clone(),
            convs,
            fc: dense(cfg.flat_width(), cfg.dense, vb.pp("fc"))?,
            out: dense(cfg.dense, cfg.n_outputs, vb.pp("out"))?,
        })
    }

    pub fn forward_t(&self, x: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        let n = x.dim(0)?;
        let mut h = x.reshape((n, self.cfg.channels, self.cfg.height, self.cfg.width))?;
        for (conv, bn) in &self.convs {
            h = conv.forward(&h)?;
            if let Some(bn) = bn {
                h = bn.forward_t(&h, mode.is_train())?;
            }
            h = h.relu()?;
        }
        h = h.max_pool2d(2)?.flatten_from(1)?;
        h = self.fc.forward(&h)?.relu()?;
        h = dropout(&h, self.cfg.dropout, mode)?;
        self.out.forward(&h)
    }
}

/// A model's configuration, as saved in `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "model", rename_all = "snake_case")]
pub enum ModelConfig {
    Linear(AffineConfig),
    Logistic(AffineConfig),
    Mlp(MlpConfig),
    Cnn(CnnConfig),
}

impl ModelConfig {
    pub fn kind(&self) -> ModelKind {
        match self {
            ModelConfig::Linear(_) => ModelKind::Linear,
            ModelConfig::Logistic(_) => ModelKind::Logistic,
            ModelConfig::Mlp(_) => ModelKind::Mlp,
            ModelConfig::Cnn(_) => ModelKind::Cnn,
        }
    }
}

/// A loaded model of any kind.
#[derive(Debug, Clone)]
pub enum Net {
    Affine(Affine),
    Mlp(Mlp),
    Cnn(Cnn),
}

impl Net {
    pub fn load(vb: VarBuilder, cfg: &ModelConfig) -> Result<Net> {
        Ok(match cfg {
            ModelConfig::Linear(c) | ModelConfig::Logistic(c) => Net::Affine(Affine::load(vb, c)?),
            ModelConfig::Mlp(c) => Net::Mlp(Mlp::load(vb, c)?),
            ModelConfig::Cnn(c) => Net::Cnn(Cnn::load(vb, c)?),
        })
    }

    /// Logits (classification) or the scaled prediction (regression), `(n, outputs)`.
    pub fn forward_t(&self, x: &Tensor, mode: &mut Mode) -> Result<Tensor> {
        match self {
            Net::Affine(m) => m.forward(x),
            Net::Mlp(m) => m.forward_t(x, mode),
            Net::Cnn(m) => m.forward_t(x, mode),
        }
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.forward_t(x, &mut Mode::Eval)
    }
}

/// FNV-1a of a variable name, to give each tensor its own generator stream.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Fills dense and convolution weights and biases like PyTorch's defaults — uniform in
/// `±1/√fan_in` — from `seed` and each tensor's name. Batch-norm parameters and running
/// statistics keep their constant starts (γ = 1, β = 0, mean 0, variance 1).
pub fn seeded_init(varmap: &VarMap, seed: u64) -> Result<()> {
    let data = varmap.data().lock().expect("varmap lock");
    let fan_in_of = |prefix: &str| -> Option<usize> {
        let w = data.get(&format!("{prefix}.weight"))?;
        let dims = w.dims();
        (dims.len() >= 2).then(|| dims[1..].iter().product())
    };
    let mut names: Vec<&String> = data.keys().collect();
    names.sort();
    for name in names {
        let var = &data[name];
        let (prefix, leaf) = name.rsplit_once('.').unwrap_or(("", name));
        let Some(fan_in) = fan_in_of(prefix) else {
            continue;
        };
        if leaf != "weight" && leaf != "bias" {
            continue;
        }
        let bound = 1.0 / (fan_in as f64).sqrt();
        let mut rng = SplitMix64::new(seed ^ name_hash(name));
        let values: Vec<f32> = (0..var.elem_count())
            .map(|_| ((rng.next_f64() * 2.0 - 1.0) * bound) as f32)
            .collect();
        let t = Tensor::from_vec(values, var.shape(), var.device())?.to_dtype(DType::F32)?;
        var.set(&t)?;
    }
    Ok(())
}

/// Softmax over the last dimension.
pub fn softmax(logits: &Tensor) -> Result<Tensor> {
    candle_nn::ops::softmax(logits, D::Minus1)
}
