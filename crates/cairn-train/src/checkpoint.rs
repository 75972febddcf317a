//! Checkpoints: everything a run needs to continue bit for bit, in one safetensors file.
//!
//! Tensors are stored as `model.NAME` (weights and batch-norm statistics), `optim.NAME.I`
//! (momentum buffers or Adam moments) and `best.NAME` (early stopping's best weights so far);
//! the trainer's counters and generator states sit in the header's metadata under `cairn`.

use crate::trainer::to_safetensors;
use crate::{Result, TrainError};
use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The checkpoint format; bumped when its layout changes.
pub const CHECKPOINT_FORMAT: u32 = 1;

/// The trainer's counters and generator states after an epoch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainerState {
    pub format_version: u32,
    /// Epochs completed.
    pub epoch: usize,
    pub global_step: usize,
    pub optimizer_step: u64,
    pub shuffle_rng: u64,
    pub dropout_rng: u64,
    pub best_value: Option<f64>,
    pub best_epoch: Option<usize>,
    pub bad_epochs: usize,
    /// The training spec (JSON) the checkpoint belongs to; a resume must match it.
    pub spec: String,
}

impl TrainerState {
    /// The state before the first epoch: generator streams derived from the seed.
    pub fn fresh(seed: u64) -> TrainerState {
        TrainerState {
            format_version: CHECKPOINT_FORMAT,
            epoch: 0,
            global_step: 0,
            optimizer_step: 0,
            shuffle_rng: seed ^ 0x5EED_0FBA_7C4E_5000,
            dropout_rng: seed ^ 0xD80F_0D80_F0D8_0F0D,
            best_value: None,
            best_epoch: None,
            bad_epochs: 0,
            spec: String::new(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Checkpoint {
    pub state: TrainerState,
    pub model: BTreeMap<String, Tensor>,
    pub optimizer: BTreeMap<String, Tensor>,
    pub best: BTreeMap<String, Tensor>,
}

const GROUPS: [&str; 3] = ["model.", "optim.", "best."];

impl Checkpoint {
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        let mut all = BTreeMap::new();
        for (prefix, map) in GROUPS
            .iter()
            .zip([&self.model, &self.optimizer, &self.best])
        {
            for (k, v) in map {
                all.insert(format!("{prefix}{k}"), v.clone());
            }
        }
        let state = serde_json::to_string(&self.state).expect("state serialises");
        to_safetensors(&all, Some(("cairn", state)))
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Checkpoint> {
        let bad = |why: String| TrainError::Invalid(format!("not a Cairn checkpoint: {why}"));
        let (_, meta) = safetensors::SafeTensors::read_metadata(bytes)?;
        let state_json = meta
            .metadata()
            .as_ref()
            .and_then(|m| m.get("cairn"))
            .ok_or_else(|| bad("its header has no `cairn` state".into()))?;
        let state: TrainerState =
            serde_json::from_str(state_json).map_err(|e| bad(e.to_string()))?;
        if state.format_version != CHECKPOINT_FORMAT {
            return Err(bad(format!(
                "format {} (this Cairn reads format {CHECKPOINT_FORMAT})",
                state.format_version
            )));
        }
        let tensors = candle_core::safetensors::load_buffer(bytes, &Device::Cpu)?;
        let mut groups: [BTreeMap<String, Tensor>; 3] = Default::default();
        for (name, t) in tensors {
            let Some(i) = GROUPS.iter().position(|p| name.starts_with(p)) else {
                return Err(bad(format!("unexpected tensor `{name}`")));
            };
            groups[i].insert(name[GROUPS[i].len()..].to_string(), t);
        }
        let [model, optimizer, best] = groups;
        Ok(Checkpoint {
            state,
            model,
            optimizer,
            best,
        })
    }
}
