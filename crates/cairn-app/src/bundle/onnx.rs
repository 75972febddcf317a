//! `model/model.onnx`: the bundled model as one ONNX graph (preprocessing included), written
//! from the three model entries by `cairn_train::onnx` (docs/formats/bundle.md, "model.onnx").

use crate::train::{CONFIG, PREPROCESSING, WEIGHTS};
use crate::{AppError, ErrorCode, Result};
use cairn_train::{ModelConfig, Preprocessor};
use std::collections::BTreeMap;

/// The bundle entry holding the ONNX model.
pub(crate) const ONNX: &str = "model/model.onnx";

/// Reads the weights, preprocessing and config entries and inserts `model/model.onnx`.
pub(super) fn add_onnx(entries: &mut BTreeMap<String, Vec<u8>>) -> Result<()> {
    let get = |path: &str| {
        entries.get(path).ok_or_else(|| {
            AppError::new(
                ErrorCode::Internal,
                format!("the bundle has no `{path}` to write {ONNX} from"),
            )
        })
    };
    let unreadable = |path: &str, e: serde_json::Error| {
        AppError::new(
            ErrorCode::Internal,
            format!("`{path}` is not readable ({e}); {ONNX} cannot be written"),
        )
    };
    let pre: Preprocessor =
        serde_json::from_slice(get(PREPROCESSING)?).map_err(|e| unreadable(PREPROCESSING, e))?;
    let config: ModelConfig =
        serde_json::from_slice(get(CONFIG)?).map_err(|e| unreadable(CONFIG, e))?;
    let onnx = cairn_train::to_onnx(&config, get(WEIGHTS)?, &pre)?;
    entries.insert(ONNX.to_string(), onnx);
    Ok(())
}
