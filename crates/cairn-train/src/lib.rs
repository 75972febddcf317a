//! Training and inference with Candle: preprocessing fitted on the training split and saved
//! with the model; models written as `Config` + `load(vb, cfg)` + `forward` (linear, logistic,
//! MLP, CNN); optimisers and schedules; a seeded trainer that streams per-step and per-epoch
//! metrics to an observer, checkpoints, and resumes bit for bit; device choice and discovery;
//! the ONNX writer (model and preprocessing as one graph).
//!
//! This crate knows Candle and the nouns of `cairn-core`. It must not know DuckDB, tantivy,
//! Tauri, or where anything is stored: it is handed a [`cairn_core::Frame`] and hands back bytes.

pub mod checkpoint;
pub mod device;
pub mod devices;
mod error;
pub mod model;
pub mod onnx;
pub mod optim;
pub mod preprocess;
pub mod spec;
mod trainer;
pub mod weights;

pub use checkpoint::Checkpoint;
pub use error::TrainError;
pub use model::{ModelConfig, ModelKind};
pub use onnx::{OnnxOutput, OnnxSignature, onnx_signature, to_onnx};
pub use preprocess::{Preprocessor, Task};
pub use spec::{DeviceChoice, PARAMS, TrainSpec, params_for};
pub use trainer::{
    EpochReport, LoadedModel, Predictions, StepReport, TestPredictions, TrainObserver,
    TrainOutcome, split_rows, train,
};

pub use weights::{TensorDiff, compare_safetensors};

pub type Result<T, E = TrainError> = std::result::Result<T, E>;

/// The Candle version this crate was built against, for environment records.
pub const CANDLE_VERSION: &str = "0.11.1";
