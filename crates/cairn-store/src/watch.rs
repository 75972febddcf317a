//! Long statements with progress and cancellation.
//!
//! DuckDB reports how far the running statement has got and can be interrupted from another
//! thread. Long work therefore runs on a second connection to the same database, on a scoped
//! worker thread, inside one transaction; this thread polls the progress, hands it to the
//! caller's observer and, when the observer says stop, interrupts the statement. The worker's
//! transaction then rolls back, so a cancelled import leaves nothing behind.

use crate::{Result, Store, StoreError};
use cairn_core::{ProgressObserver, Step};
use duckdb::Connection;
use std::ops::ControlFlow;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

/// What the worker tells the watching thread, and how it learns that it should stop.
pub(crate) struct Watch {
    stage: Mutex<(String, String)>,
    cancelled: AtomicBool,
}

impl Watch {
    /// Names the stage now running (shown with the statement's progress).
    pub(crate) fn stage(&self, stage: &str, message: impl Into<String>) -> Result<()> {
        *self.stage.lock().expect("stage lock") = (stage.to_string(), message.into());
        self.check()
    }

    /// Fails with [`StoreError::Cancelled`] once the observer has asked to stop.
    pub(crate) fn check(&self) -> Result<()> {
        if self.cancelled.load(Ordering::SeqCst) {
            Err(StoreError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Turns an engine error into `Cancelled` when it came from our interrupt.
    pub(crate) fn engine(&self, err: StoreError) -> StoreError {
        if self.cancelled.load(Ordering::SeqCst) {
            StoreError::Cancelled
        } else {
            err
        }
    }
}

impl Store {
    /// Runs `work` in one transaction on a worker connection, reporting progress to `observer`.
    pub(crate) fn watched<T: Send>(
        &self,
        observer: &mut dyn ProgressObserver,
        work: impl FnOnce(&Connection, &Watch) -> Result<T> + Send,
    ) -> Result<T> {
        let worker = self
            .conn
            .try_clone()
            .map_err(|e| StoreError::db("opening a worker connection", e))?;
        worker
            .set_query_progress_tracking(true)
            .map_err(|e| StoreError::db("enabling progress", e))?;
        let progress = worker.progress_handle();
        let interrupt = worker.interrupt_handle();
        let watch = Watch {
            stage: Mutex::new(("start".into(), String::new())),
            cancelled: AtomicBool::new(false),
        };
        std::thread::scope(|scope| {
            let watch_ref = &watch;
            let handle = scope.spawn(move || {
                let result = crate::transaction(&worker, |conn| work(conn, watch_ref));
                result.map_err(|e| watch_ref.engine(e))
            });
            let mut last: Option<(String, u64)> = None;
            while !handle.is_finished() {
                std::thread::sleep(Duration::from_millis(100));
                let (stage, message) = watch.stage.lock().expect("stage lock").clone();
                let permille = progress
                    .query_progress()
                    .percentage()
                    .map(|p| (p.clamp(0.0, 100.0) * 10.0) as u64);
                let key = (stage.clone(), permille.unwrap_or(0));
                if last.as_ref() == Some(&key) {
                    continue;
                }
                last = Some(key);
                let step = Step {
                    stage,
                    done: permille.unwrap_or(0),
                    total: permille.map(|_| 1000),
                    message,
                    metrics: Default::default(),
                };
                if let ControlFlow::Break(()) = observer.on_step(&step) {
                    watch.cancelled.store(true, Ordering::SeqCst);
                    interrupt.interrupt();
                }
            }
            let out = handle
                .join()
                .unwrap_or_else(|_| Err(StoreError::Invalid("a worker thread panicked".into())));
            // The worker's connection may have appended to the audit log.
            self.forget_audit_head();
            out
        })
    }
}
