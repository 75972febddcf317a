//! Training and inference with Candle: preprocessing fitted on the training split, models
//! written as `Config` + `load(vb, cfg)` + `forward`, a seeded trainer that streams per-epoch
//! metrics to an observer, and weights serialised as safetensors.
//!
//! This crate knows Candle and the nouns of `cairn-core`. It must not know DuckDB, tantivy,
//! Tauri, or where anything is stored: it is handed a [`cairn_core::Frame`] and hands back bytes.

mod error;
pub mod model;
pub mod preprocess;
pub mod split;
mod trainer;

pub use error::TrainError;
pub use model::ModelKind;
pub use preprocess::Preprocessor;
pub use trainer::{EpochReport, TrainObserver, TrainOutcome, TrainSpec, predict_proba, train};

pub type Result<T, E = TrainError> = std::result::Result<T, E>;

/// The Candle version this crate was built against, for environment records.
pub const CANDLE_VERSION: &str = "0.11.1";
