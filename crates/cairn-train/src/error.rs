#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error("column `{column}`: {reason}")]
    Column { column: String, reason: String },
    #[error("{0}")]
    Invalid(String),
    #[error("tensor computation failed: {0}")]
    Candle(#[from] candle_core::Error),
    #[error("writing weights failed: {0}")]
    Safetensors(#[from] safetensors::SafeTensorError),
}
