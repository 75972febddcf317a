//! Recording runs from anywhere: a buffered, crash-safe logger for Rust callers, and the engine
//! behind `cairn log` (docs/tracking.md).
//!
//! A [`LogSession`] buffers the changes of its runs (creation, params, tags, note, metric
//! points, artifacts, end) and flushes them on a background thread once `flush_every` events
//! are pending, at least every `flush_interval` (one second) while something is pending, and
//! when asked; a caller that gets 16 × `flush_every` events ahead of the disk flushes itself. A flush opens the
//! workspace for one turn ([`WorkspaceDir::turn`]), writes the whole buffer in ONE transaction
//! ([`cairn_store::Store::write_runs`]), brings the search index up to date and releases the
//! workspace lock. So:
//!
//! - **Concurrency**: several processes (two `cairn log`, a script and the desktop app) record
//!   into one workspace by taking turns on the lock, each for the length of one flush; nothing
//!   is refused and nothing is lost. A process that cannot get the lock within `lock_timeout`
//!   (someone trains for an hour) gets the usual "in use by …" error, and its buffer stays
//!   pending for the next try.
//! - **Crashes**: a batch lands whole or not at all; a killed logger loses at most what it had
//!   not flushed. Its runs carry its pid, start time and heartbeat, so the next process to open
//!   the workspace marks them `killed` (see `process.rs`), while runs of loggers that are alive
//!   are left alone.
//!
//! Artifacts are copied into the content-addressed store when they are logged (no lock is
//! needed for that: blobs are written atomically under their hash), and recorded on the run at
//! the next flush.

use crate::artifacts::ArtifactStore;
use crate::sysmetrics::{SystemSample, SystemSampler};
use crate::{AppError, ErrorCode, Result, WorkspaceDir, environment, process};
use cairn_core::{ParamValue, RunId, RunStatus};
use cairn_store::{NewRun, RunChanges};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, Weak};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The caller flushes itself once this many times `flush_every` events are pending.
const BACKPRESSURE: usize = 16;

/// Called with each ended run once its end is durably written.
pub type OnLanded = Arc<dyn Fn(&RunOutcome) + Send + Sync>;

/// How a [`LogSession`] buffers and flushes.
#[derive(Clone)]
pub struct LogOptions {
    /// Flush when this many events (a metric point, param, tag, … each counts one) are pending.
    pub flush_every: usize,
    /// Flush at least this often while something is pending.
    pub flush_interval: Duration,
    /// How long a flush waits for another process to release the workspace.
    pub lock_timeout: Duration,
    /// Sample system metrics this often while a run is open (`None`: off).
    pub system_metrics_every: Option<Duration>,
    /// The process whose memory `system/rss_mb` reports (default: this one).
    pub system_metrics_pid: Option<u32>,
    /// Where the runs come from, recorded on each: `api` (default) or `log`.
    pub source: String,
    pub on_landed: Option<OnLanded>,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            flush_every: 5_000,
            flush_interval: Duration::from_secs(1),
            lock_timeout: Duration::from_secs(60),
            system_metrics_every: None,
            system_metrics_pid: None,
            source: "api".into(),
            on_landed: None,
        }
    }
}

impl std::fmt::Debug for LogOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogOptions")
            .field("flush_every", &self.flush_every)
            .field("flush_interval", &self.flush_interval)
            .field("lock_timeout", &self.lock_timeout)
            .field("system_metrics_every", &self.system_metrics_every)
            .field("source", &self.source)
            .finish_non_exhaustive()
    }
}

/// What a run starts with. Everything is optional.
#[derive(Debug, Clone, Default)]
pub struct RunStart {
    /// Default: `run-` and the id's last 8 hex digits.
    pub name: Option<String>,
    pub params: BTreeMap<String, ParamValue>,
    pub tags: BTreeMap<String, String>,
    /// Markdown.
    pub note: String,
    /// The parent run: an id, a unique id prefix, or a unique name — of a run of this session
    /// or of the workspace.
    pub parent: Option<String>,
    /// The data the run used, `NAME`, `NAME@3`, `NAME@<hash prefix>`; recorded with its hash.
    pub dataset: Option<String>,
    /// When the run started (RFC 3339); default: the moment of this call.
    pub time: Option<String>,
}

/// An ended run and how much was recorded for it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunOutcome {
    pub id: String,
    pub name: String,
    pub status: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub params: u64,
    pub tags: u64,
    /// Metric points.
    pub metrics: u64,
    pub artifacts: u64,
}

/// A workspace being recorded into. Flushes in the background; see the module doc.
pub struct LogSession {
    inner: Arc<Inner>,
    flusher: Option<JoinHandle<()>>,
}

/// One open run of a [`LogSession`]. Ending it (or dropping it: then it is recorded as
/// failed) closes it.
pub struct RunLogger {
    inner: Arc<Inner>,
    id: RunId,
    name: String,
    ended: bool,
}

struct Inner {
    dir: WorkspaceDir,
    /// What this session's turns are for, shown to whoever waits for the workspace.
    purpose: String,
    opts: LogOptions,
    artifacts: ArtifactStore,
    /// The environment record without the per-run seed and data hash.
    environment: serde_json::Value,
    state: Mutex<State>,
    tick: Condvar,
    /// Flushes take turns, so batches land in the order they were taken.
    flush_turn: Mutex<()>,
}

struct OpenRun {
    next_step: HashMap<String, u64>,
    outcome: RunOutcome,
    sampler: Option<SystemSampler>,
}

struct State {
    /// At most one entry per run.
    pending: Vec<RunChanges>,
    pending_events: usize,
    open: BTreeMap<RunId, OpenRun>,
    /// Runs started in this session by name, for `parent`.
    started: Vec<(String, RunId)>,
    /// Ended runs whose end is pending, reported when it lands.
    ending: Vec<RunOutcome>,
    last_flush: Instant,
    last_beat: Instant,
    closing: bool,
    /// A background flush failed: returned by the next call (the data stays pending).
    failure: Option<AppError>,
    datasets: HashMap<String, (String, String)>,
}

impl State {
    fn changes(&mut self, id: &RunId) -> &mut RunChanges {
        let at = match self.pending.iter().position(|c| &c.id == id) {
            Some(i) => i,
            None => {
                self.pending.push(RunChanges::new(id.clone()));
                self.pending.len() - 1
            }
        };
        &mut self.pending[at]
    }
}

/// Keys of params, tags and metrics: not empty, at most 250 characters, no control characters.
pub fn check_key(what: &str, key: &str) -> Result<()> {
    let problem = if key.is_empty() {
        Some("is empty".to_string())
    } else if key.chars().count() > 250 {
        Some("is longer than 250 characters".to_string())
    } else if key.chars().any(char::is_control) {
        Some("holds a control character (newline, tab, …)".to_string())
    } else if key.trim() != key {
        Some("starts or ends with a space".to_string())
    } else {
        None
    };
    match problem {
        Some(p) => Err(AppError::invalid(format!(
            "the {what} name `{}` {p}; use a name such as `val_loss` or `train/acc`",
            key.escape_debug()
        ))),
        None => Ok(()),
    }
}

fn check_param(key: &str, value: &ParamValue) -> Result<()> {
    match value {
        ParamValue::Float(f) if !f.is_finite() => Err(AppError::invalid(format!(
            "param `{key}` is {f}; params are finite numbers, bools, strings or lists of them"
        ))),
        ParamValue::List(items) => items.iter().try_for_each(|v| check_param(key, v)),
        _ => Ok(()),
    }
}

/// A path inside a run: relative, `/`-separated, no `.` or `..` parts.
fn check_artifact_name(name: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.starts_with('/')
        || name.contains('\\')
        || name.chars().any(char::is_control)
        || name
            .split('/')
            .any(|part| part.is_empty() || part == "." || part == "..");
    if bad {
        return Err(AppError::invalid(format!(
            "the artifact name `{}` is not a relative path inside the run; use a name such as `model/weights.onnx`",
            name.escape_debug()
        )));
    }
    Ok(())
}

impl LogSession {
    /// Opens a session on the workspace at `root` (created when the folder is new or empty).
    /// The workspace is opened once, to check it and read the engine version, and released.
    pub fn open(root: &Path, opts: LogOptions) -> Result<LogSession> {
        let dir = WorkspaceDir::new(root).waiting(opts.lock_timeout);
        LogSession::open_dir(&dir, opts)
    }

    /// [`LogSession::open`] on a [`WorkspaceDir`] (whose wait notice this session's turns use;
    /// `opts.lock_timeout` is how long each waits).
    pub fn open_dir(dir: &WorkspaceDir, opts: LogOptions) -> Result<LogSession> {
        let dir = dir.clone().waiting(opts.lock_timeout);
        let duckdb = dir.turn("opening a log session", |ws| {
            Ok(ws.store.engine_version()?)
        })?;
        let environment = environment::capture(&duckdb, 0, "");
        LogSession::with_environment(&dir, opts, environment, "recording runs".into())
    }

    /// A session whose caller has read the environment record already (training does, in its
    /// first turn); `purpose` names its turns.
    pub(crate) fn with_environment(
        dir: &WorkspaceDir,
        opts: LogOptions,
        environment: serde_json::Value,
        purpose: String,
    ) -> Result<LogSession> {
        if opts.flush_every == 0 {
            return Err(AppError::invalid("flush_every must be at least 1"));
        }
        let dir = dir.clone().waiting(opts.lock_timeout);
        let inner = Arc::new(Inner {
            artifacts: ArtifactStore::new(dir.root().join("artifacts")),
            dir,
            purpose,
            environment,
            opts,
            state: Mutex::new(State {
                pending: Vec::new(),
                pending_events: 0,
                open: BTreeMap::new(),
                started: Vec::new(),
                ending: Vec::new(),
                last_flush: Instant::now(),
                last_beat: Instant::now(),
                closing: false,
                failure: None,
                datasets: HashMap::new(),
            }),
            tick: Condvar::new(),
            flush_turn: Mutex::new(()),
        });
        let weak = Arc::downgrade(&inner);
        let flusher = std::thread::Builder::new()
            .name("cairn-log-flush".into())
            .spawn(move || background_flush(weak))
            .map_err(|e| AppError::io("starting the flush thread", e))?;
        Ok(LogSession {
            inner,
            flusher: Some(flusher),
        })
    }

    /// Starts a run. Its parent and data set are resolved now, so a wrong one is an error here.
    pub fn start(&self, start: RunStart) -> Result<RunLogger> {
        let inner = &self.inner;
        for (k, v) in &start.params {
            check_key("param", k)?;
            check_param(k, v)?;
        }
        for k in start.tags.keys() {
            check_key("tag", k)?;
        }
        let parent = match &start.parent {
            None => None,
            Some(key) => Some(inner.resolve_parent(key)?),
        };
        let (dataset, dataset_hash) = match &start.dataset {
            None => (String::new(), String::new()),
            Some(text) => inner.resolve_dataset(text)?,
        };
        let id = RunId::new_v7();
        let name = start
            .name
            .clone()
            .filter(|n| !n.trim().is_empty())
            .unwrap_or_else(|| format!("run-{}", &id.as_str()[24..]));
        let seed = match start.params.get("seed") {
            Some(ParamValue::Int(s)) if *s >= 0 => *s as u64,
            _ => 0,
        };
        let model = match start.params.get("model") {
            Some(ParamValue::Str(m)) => m.clone(),
            _ => String::new(),
        };
        let mut env = inner.environment.clone();
        env["seed"] = seed.into();
        env["data_version_hash"] = dataset_hash.clone().into();
        let (pid, pid_started) = process::current();
        let new = NewRun {
            id: id.clone(),
            name: name.clone(),
            model,
            dataset,
            dataset_hash,
            target: String::new(),
            seed,
            params: start.params.clone(),
            tags: start.tags.clone(),
            environment: env,
            pid,
            pid_started,
            source: inner.opts.source.clone(),
            note: start.note.clone(),
            parent_id: parent,
            status: RunStatus::Running,
        };
        self.start_at(new, start.time)
    }

    /// Starts a run described in full (training describes its model, target and environment).
    pub(crate) fn start_new(&self, new: NewRun) -> Result<RunLogger> {
        self.start_at(new, None)
    }

    /// Starts a run that started at `time` (RFC 3339), or now: its start is the moment it was
    /// asked for, not that of the write that records it.
    fn start_at(&self, new: NewRun, time: Option<String>) -> Result<RunLogger> {
        let started_at = time.unwrap_or_else(cairn_core::now_rfc3339);
        let inner = &self.inner;
        let (id, name) = (new.id.clone(), new.name.clone());
        let (params, tags) = (new.params.len(), new.tags.len());
        let sampler = inner.opts.system_metrics_every.map(|every| {
            let weak = Arc::downgrade(inner);
            let run = id.clone();
            let watched = inner.opts.system_metrics_pid.unwrap_or(new.pid);
            SystemSampler::start(every, watched, move |sample: SystemSample| {
                if let Some(inner) = weak.upgrade() {
                    inner.record_sample(&run, sample);
                }
            })
        });
        {
            let mut st = inner.lock()?;
            let changes = st.changes(&id);
            changes.create = Some(new);
            changes.times = Some((started_at, None));
            st.pending_events += 1 + params + tags;
            st.started.push((name.clone(), id.clone()));
            st.open.insert(
                id.clone(),
                OpenRun {
                    next_step: HashMap::new(),
                    outcome: RunOutcome {
                        id: id.as_str().to_string(),
                        name: name.clone(),
                        status: RunStatus::Running.as_str().into(),
                        error: None,
                        params: params as u64,
                        tags: tags as u64,
                        metrics: 0,
                        artifacts: 0,
                    },
                    sampler,
                },
            );
        }
        inner.flush_if_full()?;
        Ok(RunLogger {
            inner: inner.clone(),
            id,
            name,
            ended: false,
        })
    }

    /// Writes everything pending now (waiting for the workspace lock if needed).
    pub fn flush(&self) -> Result<()> {
        self.inner.flush(false)
    }

    /// Flushes and stops the background thread. Runs still open are ended as failed with
    /// `why`.
    pub fn close(mut self, why: &str) -> Result<()> {
        self.shutdown(why)
    }

    fn shutdown(&mut self, why: &str) -> Result<()> {
        let open: Vec<RunId> = match self.inner.state.lock() {
            Ok(st) => st.open.keys().cloned().collect(),
            Err(_) => Vec::new(),
        };
        for id in open {
            let _ = self
                .inner
                .end(&id, RunStatus::Failed, Some(why.to_string()));
        }
        if let Ok(mut st) = self.inner.state.lock() {
            st.closing = true;
        }
        self.inner.tick.notify_all();
        if let Some(t) = self.flusher.take() {
            let _ = t.join();
        }
        self.inner.flush(false)
    }
}

impl Drop for LogSession {
    fn drop(&mut self) {
        if self.flusher.is_some() {
            let _ = self.shutdown("the program closed its log session without ending the run");
        }
    }
}

impl RunLogger {
    pub fn id(&self) -> &RunId {
        &self.id
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    /// Sets (or replaces) a param.
    pub fn param(&self, key: &str, value: ParamValue) -> Result<()> {
        check_key("param", key)?;
        check_param(key, &value)?;
        self.inner.change(&self.id, 1, |c, run| {
            if c.params.insert(key.to_string(), value).is_none() {
                run.outcome.params += 1;
            }
        })
    }

    /// Records `value` of metric `key` at `step` (default: one past the last step of that
    /// key in this run, starting at 0).
    pub fn metric(&self, key: &str, value: f64, step: Option<u64>) -> Result<()> {
        self.metrics(&[(key, value)], step)
    }

    /// Several metrics at one step (each key's own next step when `step` is `None`).
    pub fn metrics(&self, values: &[(&str, f64)], step: Option<u64>) -> Result<()> {
        for (key, value) in values {
            check_key("metric", key)?;
            if !value.is_finite() {
                return Err(AppError::invalid(format!(
                    "metric `{key}` is {value}; Cairn records finite numbers only (skip the point)"
                )));
            }
        }
        let at = Some(cairn_core::now_millis());
        self.inner.change(&self.id, values.len(), |c, run| {
            for (key, value) in values {
                let next = run.next_step.entry(key.to_string()).or_insert(0);
                let s = step.unwrap_or(*next);
                *next = (*next).max(s.saturating_add(1));
                c.metrics.push((key.to_string(), s, *value, at));
            }
            run.outcome.metrics += values.len() as u64;
        })
    }

    pub fn tag(&self, key: &str, value: &str) -> Result<()> {
        check_key("tag", key)?;
        self.inner.change(&self.id, 1, |c, run| {
            if c.tags.insert(key.to_string(), value.to_string()).is_none() {
                run.outcome.tags += 1;
            }
        })
    }

    /// Replaces the run's markdown note.
    pub fn note(&self, text: &str) -> Result<()> {
        self.inner
            .change(&self.id, 1, |c, _| c.note = Some(text.to_string()))
    }

    /// Copies the file at `path` into the artifact store (deduplicated by SHA-256) and records
    /// it on the run as `name` (default: the file's name). Returns the SHA-256.
    pub fn artifact(&self, path: &Path, name: Option<&str>) -> Result<String> {
        let name = match name {
            Some(n) => n.to_string(),
            None => path
                .file_name()
                .map(|f| f.to_string_lossy().into_owned())
                .ok_or_else(|| AppError::invalid(format!("{} names no file", path.display())))?,
        };
        check_artifact_name(&name)?;
        let meta = std::fs::metadata(path).map_err(|e| {
            AppError::new(
                ErrorCode::InvalidInput,
                format!("cannot read the artifact {}: {e}", path.display()),
            )
        })?;
        if !meta.is_file() {
            return Err(AppError::invalid(format!(
                "the artifact {} is not a file; log each file of a folder as its own artifact",
                path.display()
            )));
        }
        let bytes = std::fs::read(path).map_err(|e| {
            AppError::new(
                ErrorCode::InvalidInput,
                format!("cannot read the artifact {}: {e}", path.display()),
            )
        })?;
        let sha = self.inner.artifacts.put(&bytes)?;
        let size = bytes.len() as u64;
        let recorded = sha.clone();
        self.inner.change(&self.id, 1, move |c, run| {
            c.artifacts.push((name, recorded, size));
            run.outcome.artifacts += 1;
        })?;
        Ok(sha)
    }

    /// Metric points exactly as a trainer reports them — `(key, step, value)`, keys known to be
    /// valid, values possibly NaN (a diverging loss is history too).
    pub(crate) fn record_points(&self, points: Vec<(String, u64, f64)>) -> Result<()> {
        let n = points.len();
        let at = Some(cairn_core::now_millis());
        self.inner.change(&self.id, n, move |c, run| {
            c.metrics
                .extend(points.into_iter().map(|(k, s, v)| (k, s, v, at)));
            run.outcome.metrics += n as u64;
        })
    }

    /// Stores `bytes` in the artifact store and records them on the run as `name` with the
    /// next flush.
    pub(crate) fn artifact_bytes(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let sha = self.inner.artifacts.put(bytes)?;
        let (name, size) = (name.to_string(), bytes.len() as u64);
        self.inner.change(&self.id, 1, move |c, run| {
            c.artifacts.push((name, sha, size));
            run.outcome.artifacts += 1;
        })
    }

    /// Ends the run with its last metric points and artifacts, written together with the end
    /// in ONE transaction before this returns: a crash leaves either all of it or a run that
    /// is still `running` (and is then found killed), never an ended run without its files.
    pub(crate) fn finish(
        mut self,
        points: Vec<(String, u64, f64)>,
        artifacts: &[(&str, Vec<u8>)],
        status: RunStatus,
        error: Option<String>,
    ) -> Result<RunOutcome> {
        let mut stored = Vec::with_capacity(artifacts.len());
        for (name, bytes) in artifacts {
            // Blobs are written under their hash before the transaction that names them.
            let sha = self.inner.artifacts.put(bytes)?;
            stored.push((name.to_string(), sha, bytes.len() as u64));
        }
        self.ended = true;
        // Stamped before the end is, so the last points are never after the run's end.
        let at = Some(cairn_core::now_millis());
        let outcome = self
            .inner
            .end_with(&self.id, status, error, None, |c, run| {
                run.outcome.metrics += points.len() as u64;
                run.outcome.artifacts += stored.len() as u64;
                c.metrics
                    .extend(points.into_iter().map(|(k, s, v)| (k, s, v, at)));
                c.artifacts.extend(stored);
            })?;
        self.inner.flush(false)?;
        Ok(outcome)
    }

    /// Ends the run (`Finished`, `Failed` or `Killed`; `error` says why). The end is written
    /// with the next flush; the outcome says what was recorded.
    pub fn end(self, status: RunStatus, error: Option<&str>) -> Result<RunOutcome> {
        self.end_at(status, error, None)
    }

    /// Ends the run as [`RunLogger::end`] does, recording it as ended at `time` (RFC 3339)
    /// instead of now.
    pub fn end_at(
        mut self,
        status: RunStatus,
        error: Option<&str>,
        time: Option<String>,
    ) -> Result<RunOutcome> {
        self.ended = true;
        self.inner
            .end_with(&self.id, status, error.map(str::to_string), time, |_, _| {})
    }
}

impl Drop for RunLogger {
    fn drop(&mut self) {
        if !self.ended {
            let _ = self.inner.end(
                &self.id,
                RunStatus::Failed,
                Some("the program dropped the run's logger without ending the run".into()),
            );
        }
    }
}

impl Inner {
    fn lock(&self) -> Result<MutexGuard<'_, State>> {
        let mut st = self.state.lock().map_err(|_| poisoned())?;
        if let Some(e) = st.failure.take() {
            return Err(e);
        }
        Ok(st)
    }

    /// Applies `f` to the pending changes of open run `id`, counting `events`.
    fn change(
        &self,
        id: &RunId,
        events: usize,
        f: impl FnOnce(&mut RunChanges, &mut OpenRun),
    ) -> Result<()> {
        {
            let mut st = self.lock()?;
            let st = &mut *st;
            let Some(run) = st.open.get_mut(id) else {
                return Err(AppError::invalid(format!(
                    "run {id} has ended; start a new run"
                )));
            };
            let at = match st.pending.iter().position(|c| &c.id == id) {
                Some(i) => i,
                None => {
                    st.pending.push(RunChanges::new(id.clone()));
                    st.pending.len() - 1
                }
            };
            f(&mut st.pending[at], run);
            st.pending_events += events;
        }
        self.flush_if_full()
    }

    fn record_sample(&self, id: &RunId, sample: SystemSample) {
        let Ok(mut st) = self.state.lock() else {
            return;
        };
        let st = &mut *st;
        let Some(run) = st.open.get_mut(id) else {
            return;
        };
        run.outcome.metrics += sample.values.len() as u64;
        st.pending_events += sample.values.len();
        let c = match st.pending.iter().position(|c| &c.id == id) {
            Some(i) => &mut st.pending[i],
            None => {
                st.pending.push(RunChanges::new(id.clone()));
                st.pending.last_mut().expect("pushed")
            }
        };
        let at = Some(cairn_core::now_millis());
        for (key, value) in sample.values {
            c.metrics.push((key.to_string(), sample.index, value, at));
        }
    }

    fn end(&self, id: &RunId, status: RunStatus, error: Option<String>) -> Result<RunOutcome> {
        self.end_with(id, status, error, None, |_, _| {})
    }

    /// Ends run `id`, applying `last` to its pending changes under the same lock, so nothing
    /// of it can be flushed apart from the end.
    fn end_with(
        &self,
        id: &RunId,
        status: RunStatus,
        error: Option<String>,
        time: Option<String>,
        last: impl FnOnce(&mut RunChanges, &mut OpenRun),
    ) -> Result<RunOutcome> {
        let ended_at = time.unwrap_or_else(cairn_core::now_rfc3339);
        if !status.is_terminal() {
            return Err(AppError::invalid(format!(
                "a run ends as finished, failed or killed, not {status}"
            )));
        }
        let (outcome, sampler) = {
            let mut st = self.lock()?;
            let Some(mut run) = st.open.remove(id) else {
                return Err(AppError::invalid(format!("run {id} has already ended")));
            };
            let changes = st.changes(id);
            last(changes, &mut run);
            run.outcome.status = status.as_str().into();
            run.outcome.error = error.clone();
            let changes = st.changes(id);
            changes.end = Some((status, error));
            changes.ended_at = Some(ended_at);
            st.pending_events += 1;
            st.ending.push(run.outcome.clone());
            (run.outcome, run.sampler.take())
        };
        // Joined outside the lock: the sampler may be waiting for it.
        drop(sampler);
        self.flush_if_full()?;
        Ok(outcome)
    }

    /// Past `flush_every` pending events, asks the background thread to flush (the caller
    /// goes on: parsing and writing overlap, and a slow write takes everything pending when it
    /// ends); past [`BACKPRESSURE`] times that, the caller writes itself, so a writer that
    /// outruns the disk waits instead of filling memory.
    fn flush_if_full(&self) -> Result<()> {
        let pending = self.lock()?.pending_events;
        if pending >= self.opts.flush_every.saturating_mul(BACKPRESSURE) {
            self.flush(false)
        } else {
            if pending >= self.opts.flush_every {
                self.tick.notify_all();
            }
            Ok(())
        }
    }

    /// Writes what is pending in one transaction. `beat`: also when only heartbeats are due.
    fn flush(&self, beat: bool) -> Result<()> {
        let _turn = self
            .flush_turn
            .lock()
            .map_err(|_| AppError::new(ErrorCode::Internal, "a flush panicked"))?;
        let (mut changes, landing) = {
            let mut st = self.state.lock().map_err(|_| poisoned())?;
            if st.pending.is_empty() && (!beat || st.open.is_empty()) {
                st.last_flush = Instant::now();
                return Ok(());
            }
            let mut changes = std::mem::take(&mut st.pending);
            st.pending_events = 0;
            // Every open run's owner is alive: say so.
            for id in st.open.keys() {
                match changes.iter_mut().find(|c| &c.id == id) {
                    Some(c) => c.heartbeat = true,
                    None => {
                        let mut c = RunChanges::new(id.clone());
                        c.heartbeat = true;
                        changes.push(c);
                    }
                }
            }
            (changes, std::mem::take(&mut st.ending))
        };
        let written: Result<()> = self.dir.turn(&self.purpose, |ws| {
            if ws.store.write_runs(&changes)?.is_some() {
                // The data is safe in DuckDB; an index that lags is caught up on the next
                // open.
                if let Err(e) = ws.reindex() {
                    tracing::warn!(error = %e, "search index not updated after a flush");
                }
            }
            Ok(())
        });
        let mut st = self.state.lock().map_err(|_| poisoned())?;
        st.last_flush = Instant::now();
        match written {
            Ok(()) => {
                st.last_beat = Instant::now();
                drop(st);
                if let Some(cb) = &self.opts.on_landed {
                    for o in &landing {
                        cb(o);
                    }
                }
                Ok(())
            }
            Err(e) => {
                // Nothing landed: put the batch back in front of what came since.
                let newer = std::mem::take(&mut st.pending);
                let mut restored = std::mem::take(&mut changes);
                for c in &mut restored {
                    c.heartbeat = false;
                }
                for c in newer {
                    match restored.iter_mut().find(|r| r.id == c.id) {
                        Some(r) => r.absorb(c),
                        None => restored.push(c),
                    }
                }
                st.pending_events = restored
                    .iter()
                    .map(|c| c.metrics.len() + c.params.len() + c.tags.len() + 1)
                    .sum();
                st.pending = restored;
                let mut ending = landing;
                ending.append(&mut st.ending);
                st.ending = ending;
                Err(e)
            }
        }
    }

    fn resolve_parent(&self, key: &str) -> Result<RunId> {
        {
            let st = self.lock()?;
            let mine: Vec<&RunId> = st
                .started
                .iter()
                .filter(|(name, id)| name == key || id.as_str().starts_with(key))
                .map(|(_, id)| id)
                .collect();
            match mine.len() {
                1 => return Ok(mine[0].clone()),
                0 => {}
                n => {
                    return Err(AppError::invalid(format!(
                        "parent `{key}` matches {n} runs of this session; give more of the id"
                    )));
                }
            }
        }
        self.dir
            .turn("finding a parent run", |ws| Ok(ws.store.find_run(key)?.id))
    }

    fn resolve_dataset(&self, text: &str) -> Result<(String, String)> {
        if let Some(found) = self.lock()?.datasets.get(text) {
            return Ok(found.clone());
        }
        let v = self
            .dir
            .turn("finding a data set", |ws| ws.resolve_dataset(text))?;
        let found = (v.label(), v.hash.clone());
        self.lock()?
            .datasets
            .insert(text.to_string(), found.clone());
        Ok(found)
    }
}

fn poisoned() -> AppError {
    AppError::new(
        ErrorCode::Internal,
        "the log session's state is poisoned (a thread panicked)",
    )
}

/// Flushes when `flush_every` events are pending, at least every `flush_interval` while
/// something is pending, and writes heartbeats for open runs; ends when the session closes.
fn background_flush(inner: Weak<Inner>) {
    let step = Duration::from_millis(100);
    loop {
        let Some(inner) = inner.upgrade() else { return };
        let (due, beat) = {
            let Ok(st) = inner.state.lock() else { return };
            let Ok((st, _)) = inner.tick.wait_timeout(st, step) else {
                return;
            };
            if st.closing {
                return;
            }
            let due = st.pending_events >= inner.opts.flush_every
                || (!st.pending.is_empty() && st.last_flush.elapsed() >= inner.opts.flush_interval);
            let beat = !st.open.is_empty() && st.last_beat.elapsed() >= process::HEARTBEAT_EVERY;
            (due, beat)
        };
        if (due || beat)
            && let Err(e) = inner.flush(beat)
            && let Ok(mut st) = inner.state.lock()
        {
            st.failure = Some(e);
        }
    }
}
