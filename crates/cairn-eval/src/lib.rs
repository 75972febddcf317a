//! Evaluation metrics for Cairn: classification metrics from class probabilities (accuracy,
//! balanced accuracy, precision/recall/F1 per class and averaged, ROC AUC, average precision,
//! log loss, Brier score, confusion matrix) and regression metrics (RMSE, MAE, R², MAPE), each
//! equal to scikit-learn's figure within 1e-9 (checked against fixtures that
//! `fixtures/make_fixtures.py` produces with scikit-learn; in practice bit for bit). The one
//! deliberate difference, R² of a constant target, is documented on [`regression`].
//!
//! This crate is pure statistics on slices of numbers: it must not know any engine (no DuckDB,
//! Candle, tantivy, Tauri, tokio), do no IO and read no clock. Sums follow numpy's pairwise order in
//! a fixed sequence (no threads), so the same inputs always give the same bits.

mod classification;
mod error;
mod ranking;
mod regression;
mod sum;

pub use classification::{ClassMetrics, ClassificationMetrics, classification};
pub use error::EvalError;
pub use regression::{RegressionMetrics, regression};
