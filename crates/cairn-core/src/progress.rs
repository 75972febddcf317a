//! The push-model progress protocol.
//!
//! Long work reports each step to a [`ProgressObserver`]; the observer's return value both
//! acknowledges the step and decides whether the work goes on. The CLI maps it to a progress bar,
//! the desktop to a channel, tests to a `Vec`.

use std::collections::BTreeMap;
use std::ops::ControlFlow;

/// One step of long work.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Step {
    /// What is being done, e.g. `"import"`, `"train"`, `"bundle"`.
    pub stage: String,
    /// Units done so far and, when known, in all.
    pub done: u64,
    pub total: Option<u64>,
    /// A short human message, e.g. `"epoch 3/50 loss 0.21"`.
    pub message: String,
    /// Named values for live charts (e.g. an epoch's `train_loss`, `val_accuracy`); empty when
    /// the step carries none.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub metrics: BTreeMap<String, f64>,
}

/// Receives progress; returning `ControlFlow::Break(())` asks the work to stop (cancellation).
pub trait ProgressObserver {
    fn on_step(&mut self, step: &Step) -> ControlFlow<()>;
}

/// Progress that nobody watches.
pub struct Progress;

impl Progress {
    /// An observer that ignores every step and never cancels.
    pub fn silent() -> impl ProgressObserver {
        |_: &Step| ControlFlow::Continue(())
    }
}

impl<F: FnMut(&Step) -> ControlFlow<()>> ProgressObserver for F {
    fn on_step(&mut self, step: &Step) -> ControlFlow<()> {
        self(step)
    }
}
