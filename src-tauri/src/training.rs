//! The desktop's training job: one at a time per window, its steps streamed over a Tauri
//! channel, stopped by a flag the observer checks.
//!
//! A job holds the workspace (`&mut Workspace`) for its whole length, through the same turn as
//! every other command: commands the window sends meanwhile wait for the job to end, so a view
//! opened during training shows its loading state and fills in when the run is recorded.
//! Cancelling takes no turn: it only flips the job's flag, and the trainer stops at its next
//! report (every epoch, and every 50 steps within one).

use cairn_app::json::{AppError, TrainProgress};
use cairn_app::{ProgressObserver, Step};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

/// The cancel flag of the job in progress, if one is.
#[derive(Default)]
pub(crate) struct TrainingSlot(Mutex<Option<Arc<AtomicBool>>>);

impl TrainingSlot {
    fn lock(&self) -> MutexGuard<'_, Option<Arc<AtomicBool>>> {
        self.0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Claims the slot for a new job; `None` when a job is already running. The job ends (and
    /// the slot frees) when the returned claim is dropped.
    pub(crate) fn claim(self: &Arc<Self>) -> Option<JobClaim> {
        let mut slot = self.lock();
        if slot.is_some() {
            return None;
        }
        let cancel = Arc::new(AtomicBool::new(false));
        *slot = Some(cancel.clone());
        Some(JobClaim {
            slot: self.clone(),
            cancel,
        })
    }

    /// [`TrainingSlot::claim`], or the `in_use` error the window shows when a job is running.
    pub(crate) fn claim_or_busy(self: &Arc<Self>) -> Result<JobClaim, AppError> {
        self.claim().ok_or_else(|| AppError {
            code: cairn_app::ErrorCode::InUse.as_str().into(),
            message: "a job (training or a bundle export) is already running in this window; \
                      wait for it to end or cancel it"
                .into(),
        })
    }

    /// Asks the running job to stop; false when none is running.
    pub(crate) fn cancel(&self) -> bool {
        match &*self.lock() {
            Some(flag) => {
                flag.store(true, Ordering::Relaxed);
                true
            }
            None => false,
        }
    }
}

/// A running job's hold on the slot.
pub(crate) struct JobClaim {
    slot: Arc<TrainingSlot>,
    cancel: Arc<AtomicBool>,
}

impl JobClaim {
    /// An observer that hands each step to `send` and breaks once the job is cancelled.
    pub(crate) fn observer<F: FnMut(TrainProgress)>(&self, send: F) -> ChannelObserver<F> {
        ChannelObserver {
            send,
            cancel: self.cancel.clone(),
        }
    }
}

impl Drop for JobClaim {
    fn drop(&mut self) {
        *self.slot.lock() = None;
    }
}

/// Forwards training steps to the window (the desktop's twin of the CLI's progress bar).
pub(crate) struct ChannelObserver<F> {
    send: F,
    cancel: Arc<AtomicBool>,
}

impl<F: FnMut(TrainProgress)> ProgressObserver for ChannelObserver<F> {
    fn on_step(&mut self, step: &Step) -> ControlFlow<()> {
        if self.cancel.load(Ordering::Relaxed) {
            return ControlFlow::Break(());
        }
        (self.send)(TrainProgress::from(step));
        ControlFlow::Continue(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn epoch(done: u64) -> Step {
        Step {
            stage: "train".into(),
            done,
            total: Some(10),
            message: format!("epoch {done}"),
            metrics: BTreeMap::from([("train_loss".to_string(), 1.0 / done as f64)]),
        }
    }

    #[test]
    fn one_job_at_a_time_and_cancel_stops_it() {
        let slot = Arc::new(TrainingSlot::default());
        assert!(!slot.cancel(), "nothing to cancel before a job");
        let claim = slot.claim().expect("the slot is free");
        assert!(slot.claim().is_none(), "a second job is refused");

        let mut seen = Vec::new();
        let mut observer = claim.observer(|p| seen.push(p));
        assert!(observer.on_step(&epoch(1)).is_continue());
        assert!(observer.on_step(&epoch(2)).is_continue());
        assert!(slot.cancel());
        assert!(observer.on_step(&epoch(3)).is_break());
        drop(observer);
        assert_eq!(seen.len(), 2);
        assert_eq!((seen[1].done, seen[1].total), (2, Some(10)));
        assert_eq!(seen[1].metrics["train_loss"], 0.5);

        drop(claim);
        assert!(!slot.cancel(), "the slot frees when the job ends");
        let again = slot.claim().expect("a new job may start");
        let mut observer = again.observer(|_| {});
        assert!(
            observer.on_step(&epoch(1)).is_continue(),
            "a new job starts uncancelled"
        );
    }
}
