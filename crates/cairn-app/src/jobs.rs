//! Jobs: long work — training, bundle export, import and reproduce, data imports, and later
//! sweeps, servers, monitors and pipelines — with an id, a kind, a stream of progress, cancel,
//! and an outcome. The one job model the CLI and the desktop both use.
//!
//! A job's work is a closure handed a [`JobContext`]. The context is the work's
//! [`ProgressObserver`]: each step it reports becomes the job's progress (and is sent to the
//! registry's listener: the desktop's event stream), and once the job is cancelled the context
//! answers `Break`, so the work stops at its next step. Work takes its workspace turns through
//! [`JobContext::workspace`], whose waits show in the job as `waiting_for` (who holds the
//! workspace and for what).
//!
//! [`Jobs::spawn`] runs the work on a thread of its own and answers at once (the desktop: many
//! jobs at a time, each visible in the jobs panel); [`Jobs::run`] runs it on the calling thread
//! and forwards every step to an observer too (the CLI: its progress bar, where Ctrl-C breaks).
//!
//! Jobs never hold the workspace between their turns, so any number run beside each other and
//! beside every other command.

use crate::json::{AppError as ErrorDto, BundleExported, RunSummary, TrainProgress};
use crate::{ErrorCode, ImportSummary, LockHolder, Result, WorkspaceDir};
use cairn_core::{ProgressObserver, Step};
use serde::Serialize;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};
use ts_rs::TS;

/// What kind of work a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Train,
    BundleExport,
    BundleImport,
    BundleReproduce,
    DataImport,
    MlflowExport,
    Demo,
}

/// Where a job is: running, or how it ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, TS)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Running,
    Finished,
    Failed,
    /// Stopped on request (a cancelled training run is recorded as `killed`).
    Cancelled,
}

impl JobState {
    pub fn is_terminal(self) -> bool {
        self != JobState::Running
    }
}

/// What a finished job produced, for the window to show.
#[derive(Debug, Clone, Serialize, TS)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum JobOutcome {
    /// A training run (finished, or killed when cancelled).
    Run(RunSummary),
    Bundle(BundleExported),
    Imported(ImportSummary),
}

impl From<cairn_core::Run> for JobOutcome {
    fn from(run: cairn_core::Run) -> Self {
        JobOutcome::Run(run.into())
    }
}

impl From<crate::BundleSummary> for JobOutcome {
    fn from(b: crate::BundleSummary) -> Self {
        JobOutcome::Bundle(b.into())
    }
}

impl From<ImportSummary> for JobOutcome {
    fn from(i: ImportSummary) -> Self {
        JobOutcome::Imported(i)
    }
}

/// One job as the jobs panel and `--json` see it.
#[derive(Debug, Clone, Serialize, TS)]
pub struct JobInfo {
    /// `job-1`, `job-2`, … within this process.
    pub id: String,
    pub kind: JobKind,
    /// What it works on, in no language: "penguins@1 · mlp", a run, a file name (the window
    /// names the kind in its own language beside it).
    pub title: String,
    pub state: JobState,
    pub started_at: String,
    pub ended_at: Option<String>,
    /// The last step reported.
    pub progress: Option<TrainProgress>,
    /// While a turn waits for the workspace: who holds it and for what.
    pub waiting_for: Option<String>,
    pub cancel_requested: bool,
    pub error: Option<ErrorDto>,
    pub outcome: Option<JobOutcome>,
}

/// Told of every change of every job (the desktop forwards it to the window as an event).
pub type JobListener = Arc<dyn Fn(&JobInfo) + Send + Sync>;

/// Progress without new values is passed to the listener at most this often per job; steps
/// with metrics (an epoch) and state changes always are.
const PROGRESS_EVERY: Duration = Duration::from_millis(100);

/// Ended jobs kept for the panel; older ones are forgotten.
const KEEP_ENDED: usize = 100;

struct Entry {
    info: JobInfo,
    cancel: Arc<AtomicBool>,
    sent_at: Instant,
}

struct Registry {
    next: AtomicU64,
    jobs: Mutex<Vec<Entry>>,
    changed: Condvar,
    listener: Option<JobListener>,
}

impl Registry {
    fn lock(&self) -> MutexGuard<'_, Vec<Entry>> {
        self.jobs.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn add(&self, kind: JobKind, title: String) -> (String, Arc<AtomicBool>) {
        let id = format!("job-{}", self.next.fetch_add(1, Ordering::Relaxed) + 1);
        let cancel = Arc::new(AtomicBool::new(false));
        let info = JobInfo {
            id: id.clone(),
            kind,
            title,
            state: JobState::Running,
            started_at: cairn_core::now_rfc3339(),
            ended_at: None,
            progress: None,
            waiting_for: None,
            cancel_requested: false,
            error: None,
            outcome: None,
        };
        {
            let mut jobs = self.lock();
            jobs.push(Entry {
                info: info.clone(),
                cancel: cancel.clone(),
                sent_at: Instant::now(),
            });
            let ended = jobs.iter().filter(|e| e.info.state.is_terminal()).count();
            if ended > KEEP_ENDED {
                let mut drop = ended - KEEP_ENDED;
                jobs.retain(|e| {
                    let forget = drop > 0 && e.info.state.is_terminal();
                    drop -= usize::from(forget);
                    !forget
                });
            }
        }
        self.tell(&info);
        (id, cancel)
    }

    fn tell(&self, info: &JobInfo) {
        if let Some(listener) = &self.listener {
            listener(info);
        }
    }

    /// Applies `f` to job `id`; tells the listener when `always` or when it was not told for
    /// a while.
    fn update(&self, id: &str, always: bool, f: impl FnOnce(&mut JobInfo)) {
        let told = {
            let mut jobs = self.lock();
            let Some(e) = jobs.iter_mut().find(|e| e.info.id == id) else {
                return;
            };
            f(&mut e.info);
            (always || e.sent_at.elapsed() >= PROGRESS_EVERY).then(|| {
                e.sent_at = Instant::now();
                e.info.clone()
            })
        };
        if let Some(info) = told {
            self.tell(&info);
        }
    }

    fn finish(&self, id: &str, result: std::thread::Result<Result<Option<JobOutcome>>>) {
        self.update(id, true, |info| {
            info.ended_at = Some(cairn_core::now_rfc3339());
            info.waiting_for = None;
            match result {
                Ok(Ok(outcome)) => {
                    info.state = if info.cancel_requested {
                        JobState::Cancelled
                    } else {
                        JobState::Finished
                    };
                    info.outcome = outcome;
                }
                Ok(Err(e)) => {
                    info.state = if e.code == ErrorCode::Cancelled {
                        JobState::Cancelled
                    } else {
                        JobState::Failed
                    };
                    info.error = Some(ErrorDto::from(&e));
                }
                Err(panic) => {
                    let what = panic
                        .downcast_ref::<&str>()
                        .map(|s| s.to_string())
                        .or_else(|| panic.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "unknown".into());
                    info.state = JobState::Failed;
                    info.error = Some(ErrorDto::from(&crate::AppError::new(
                        ErrorCode::Internal,
                        format!("the job stopped on an internal error ({what}); please report it"),
                    )));
                }
            }
        });
        self.changed.notify_all();
    }
}

/// The jobs of one process (one desktop window, one CLI command).
#[derive(Clone)]
pub struct Jobs {
    inner: Arc<Registry>,
}

impl Default for Jobs {
    fn default() -> Self {
        Jobs::new()
    }
}

impl Jobs {
    pub fn new() -> Jobs {
        Jobs::build(None)
    }

    /// Jobs whose every change is told to `listener` (called on the job's thread; keep it
    /// quick).
    pub fn with_listener(listener: impl Fn(&JobInfo) + Send + Sync + 'static) -> Jobs {
        Jobs::build(Some(Arc::new(listener)))
    }

    fn build(listener: Option<JobListener>) -> Jobs {
        Jobs {
            inner: Arc::new(Registry {
                next: AtomicU64::new(0),
                jobs: Mutex::new(Vec::new()),
                changed: Condvar::new(),
                listener,
            }),
        }
    }

    /// Starts `work` on a thread of its own and answers at once with the job as it starts.
    pub fn spawn<T, F>(&self, kind: JobKind, title: impl Into<String>, work: F) -> JobInfo
    where
        T: Into<JobOutcome>,
        F: FnOnce(&mut JobContext<'_>) -> Result<T> + Send + 'static,
    {
        let (id, cancel) = self.inner.add(kind, title.into());
        let registry = self.inner.clone();
        let job = id.clone();
        let started = std::thread::Builder::new()
            .name(format!("cairn-{id}"))
            .spawn(move || {
                let mut ctx = JobContext {
                    id: job.clone(),
                    registry: registry.clone(),
                    cancel,
                    forward: None,
                };
                let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                    work(&mut ctx).map(|t| Some(t.into()))
                }));
                registry.finish(&job, result);
            });
        if let Err(e) = started {
            self.inner.finish(
                &id,
                Ok(Err(crate::AppError::io("starting the job's thread", e))),
            );
        }
        self.get(&id).expect("a job just added is listed")
    }

    /// Runs `work` as a job on this thread, forwarding each step to `observer` as well; a
    /// `Break` from the observer cancels the job.
    pub fn run<T>(
        &self,
        kind: JobKind,
        title: impl Into<String>,
        observer: &mut dyn ProgressObserver,
        work: impl FnOnce(&mut JobContext<'_>) -> Result<T>,
    ) -> Result<T> {
        let (id, cancel) = self.inner.add(kind, title.into());
        let mut ctx = JobContext {
            id: id.clone(),
            registry: self.inner.clone(),
            cancel,
            forward: Some(observer),
        };
        let result = work(&mut ctx);
        let recorded = match &result {
            Ok(_) => Ok(None),
            Err(e) => Err(crate::AppError::new(e.code, e.message.clone())),
        };
        self.inner.finish(&id, Ok(recorded));
        result
    }

    /// Asks job `id` to stop at its next step; false when no such job runs.
    pub fn cancel(&self, id: &str) -> bool {
        let mut found = false;
        self.inner.update(id, true, |info| {
            if !info.state.is_terminal() {
                info.cancel_requested = true;
                found = true;
            }
        });
        if found && let Some(e) = self.inner.lock().iter().find(|e| e.info.id == id) {
            e.cancel.store(true, Ordering::SeqCst);
        }
        found
    }

    /// Every job, oldest first.
    pub fn list(&self) -> Vec<JobInfo> {
        self.inner.lock().iter().map(|e| e.info.clone()).collect()
    }

    pub fn get(&self, id: &str) -> Option<JobInfo> {
        self.inner
            .lock()
            .iter()
            .find(|e| e.info.id == id)
            .map(|e| e.info.clone())
    }

    /// Waits up to `timeout` for job `id` to end; the job as it is then.
    pub fn wait(&self, id: &str, timeout: Duration) -> Option<JobInfo> {
        let deadline = Instant::now() + timeout;
        let mut jobs = self.inner.lock();
        loop {
            let info = jobs.iter().find(|e| e.info.id == id)?.info.clone();
            let left = deadline.saturating_duration_since(Instant::now());
            if info.state.is_terminal() || left.is_zero() {
                return Some(info);
            }
            jobs = self
                .inner
                .changed
                .wait_timeout(jobs, left)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// What a job's work reports through and asks with.
pub struct JobContext<'a> {
    id: String,
    registry: Arc<Registry>,
    cancel: Arc<AtomicBool>,
    forward: Option<&'a mut dyn ProgressObserver>,
}

impl JobContext<'_> {
    pub fn id(&self) -> &str {
        &self.id
    }

    pub fn is_cancelled(&self) -> bool {
        self.cancel.load(Ordering::SeqCst)
    }

    /// `dir`, whose turns show in this job while they wait (who holds the workspace).
    pub fn workspace(&self, dir: &WorkspaceDir) -> WorkspaceDir {
        let (registry, id) = (self.registry.clone(), self.id.clone());
        dir.clone().on_wait(move |holder: &LockHolder| {
            let who = holder.to_string();
            registry.update(&id, true, |info| info.waiting_for = Some(who));
        })
    }
}

impl ProgressObserver for JobContext<'_> {
    fn on_step(&mut self, step: &Step) -> ControlFlow<()> {
        let always = !step.metrics.is_empty() || step.total.is_some_and(|t| step.done >= t);
        self.registry.update(&self.id, always, |info| {
            info.progress = Some(TrainProgress::from(step));
            info.waiting_for = None;
        });
        if let Some(forward) = self.forward.as_deref_mut()
            && forward.on_step(step).is_break()
            && !self.cancel.swap(true, Ordering::SeqCst)
        {
            self.registry
                .update(&self.id, true, |info| info.cancel_requested = true);
        }
        if self.is_cancelled() {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    }
}

/// The job declarations for the generated TypeScript bindings.
pub(crate) fn declarations(cfg: &ts_rs::Config) -> Vec<String> {
    vec![
        JobKind::decl(cfg),
        JobState::decl(cfg),
        JobOutcome::decl(cfg),
        JobInfo::decl(cfg),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn step(done: u64, metrics: bool) -> Step {
        Step {
            stage: "train".into(),
            done,
            total: Some(100),
            message: format!("epoch {done}"),
            metrics: if metrics {
                BTreeMap::from([("loss".to_string(), 1.0 / (done as f64 + 1.0))])
            } else {
                BTreeMap::new()
            },
        }
    }

    #[test]
    fn jobs_run_side_by_side_report_progress_and_cancel() {
        let seen: Arc<Mutex<Vec<JobInfo>>> = Arc::default();
        let sink = seen.clone();
        let jobs = Jobs::with_listener(move |info| sink.lock().unwrap().push(info.clone()));
        let (go, wait) = std::sync::mpsc::channel::<()>();
        let slow = jobs.spawn(JobKind::Train, "slow", move |ctx| {
            for i in 0.. {
                if ctx.on_step(&step(i, true)).is_break() {
                    return Ok(crate::BundleSummary {
                        path: "stopped".into(),
                        run_id: String::new(),
                        entries: i as usize,
                        bytes: 0,
                        root_hash: String::new(),
                        signed_by: None,
                    });
                }
                if i == 3 {
                    let _ = go.send(());
                }
                std::thread::sleep(Duration::from_millis(5));
            }
            unreachable!()
        });
        let quick = jobs.spawn(JobKind::BundleExport, "quick", |ctx| {
            let _ = ctx.on_step(&step(1, false));
            Err::<crate::BundleSummary, _>(crate::AppError::invalid("no such run"))
        });
        let quick = jobs.wait(&quick.id, Duration::from_secs(10)).unwrap();
        assert_eq!(quick.state, JobState::Failed);
        assert_eq!(quick.error.unwrap().code, "invalid_input");

        wait.recv_timeout(Duration::from_secs(10)).unwrap();
        let running = jobs.get(&slow.id).unwrap();
        assert_eq!(running.state, JobState::Running);
        assert!(running.progress.unwrap().done >= 3);
        assert!(jobs.cancel(&slow.id));
        let ended = jobs.wait(&slow.id, Duration::from_secs(10)).unwrap();
        assert_eq!(ended.state, JobState::Cancelled);
        assert!(ended.ended_at.is_some());
        assert!(matches!(ended.outcome, Some(JobOutcome::Bundle(_))));
        assert!(!jobs.cancel(&slow.id), "an ended job cannot be cancelled");
        assert_eq!(jobs.list().len(), 2);

        // Every epoch (a step with metrics) reached the listener, in order.
        let seen = seen.lock().unwrap();
        let epochs: Vec<u64> = seen
            .iter()
            .filter(|i| i.id == slow.id)
            .filter_map(|i| i.progress.as_ref().map(|p| p.done))
            .collect();
        let last = *epochs.last().unwrap();
        let mut unique = epochs.clone();
        unique.dedup();
        assert_eq!(unique, (0..=last).collect::<Vec<_>>());
        assert_eq!(seen.last().unwrap().state, JobState::Cancelled);
    }

    #[test]
    fn a_job_run_in_place_is_cancelled_by_its_observer() {
        let jobs = Jobs::new();
        let mut stop_at_2 = |s: &Step| {
            if s.done >= 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        };
        let done = jobs
            .run(JobKind::Train, "in place", &mut stop_at_2, |ctx| {
                let mut n = 0;
                while ctx.on_step(&step(n, false)).is_continue() {
                    n += 1;
                }
                Ok(n)
            })
            .unwrap();
        assert_eq!(done, 2);
        let info = &jobs.list()[0];
        assert_eq!(info.state, JobState::Cancelled);
        assert!(info.cancel_requested);
    }

    #[test]
    fn a_panicking_job_fails_with_a_message() {
        let jobs = Jobs::new();
        let job = jobs.spawn(JobKind::Demo, "boom", |_| -> Result<crate::BundleSummary> {
            panic!("broken invariant")
        });
        let ended = jobs.wait(&job.id, Duration::from_secs(10)).unwrap();
        assert_eq!(ended.state, JobState::Failed);
        assert!(
            ended.error.unwrap().message.contains("broken invariant"),
            "the panic's message is kept"
        );
    }
}
