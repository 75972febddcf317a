//! The workspace on disk and the handle every use case goes through.
//!
//! ```text
//! <root>/workspace.json   marker: {"format_version": 1}
//! <root>/cairn.duckdb     metadata and data (DuckDB, with its WAL beside it)
//! <root>/artifacts/       content-addressed files (weights, preprocessing, ...)
//! <root>/index/           tantivy full-text index (a cache, rebuilt from DuckDB at will)
//! <root>/cairn.lock       who holds the workspace
//! ```

use crate::artifacts::ArtifactStore;
use crate::json::{DatasetSummary, RunSummary, WorkspaceInfo};
use crate::lock::{TurnRequest, WaitNotice, WorkspaceLock};
use crate::{AppError, ErrorCode, LockHolder, Result};
use cairn_core::{DatasetRef, DatasetVersion, MetricPoint, Run};
use cairn_search::SearchIndex;
use cairn_store::Store;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

const MARKER: &str = "workspace.json";
const MARKER_FORMAT: u32 = 1;

/// Where a workspace lives when neither `--workspace` nor `CAIRN_WORKSPACE` says otherwise:
/// the platform data directory (`~/.local/share/cairn/workspace` on Linux).
pub fn default_workspace_dir() -> Result<PathBuf> {
    directories::ProjectDirs::from("org", "cairn", "cairn")
        .map(|d| d.data_dir().join("workspace"))
        .ok_or_else(|| {
            AppError::new(
                ErrorCode::Io,
                "no home directory found; pass --workspace DIR or set CAIRN_WORKSPACE",
            )
        })
}

/// How long a turn waits in the queue by default before it gives up naming the holder: long
/// enough for any turn but a big import's one transaction.
pub const DEFAULT_TURN_TIMEOUT: Duration = Duration::from_secs(60);

/// A workspace folder, not opened: what long work (training, bundles, jobs) holds between its
/// turns. Each [`WorkspaceDir::turn`] opens the workspace, waits its place in the queue (told
/// who it waits for through [`WorkspaceDir::on_wait`]), runs, and releases it — so nothing
/// holds the workspace for the length of a job (ARCHITECTURE.md, "Turns").
#[derive(Clone)]
pub struct WorkspaceDir {
    root: PathBuf,
    timeout: Duration,
    notice: Option<WaitNotice>,
}

impl std::fmt::Debug for WorkspaceDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WorkspaceDir")
            .field("root", &self.root)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

impl WorkspaceDir {
    /// The workspace at `root` (created on its first turn when the folder is new or empty);
    /// turns wait up to [`DEFAULT_TURN_TIMEOUT`].
    pub fn new(root: impl Into<PathBuf>) -> WorkspaceDir {
        WorkspaceDir {
            root: root.into(),
            timeout: DEFAULT_TURN_TIMEOUT,
            notice: None,
        }
    }

    /// Turns wait up to `timeout` for their place.
    pub fn waiting(mut self, timeout: Duration) -> WorkspaceDir {
        self.timeout = timeout;
        self
    }

    /// `notice` is told who holds the workspace when a turn has waited a moment (after any
    /// notice given before).
    pub fn on_wait(mut self, notice: impl Fn(&LockHolder) + Send + Sync + 'static) -> WorkspaceDir {
        self.notice = Some(match self.notice.take() {
            None => std::sync::Arc::new(notice),
            Some(before) => std::sync::Arc::new(move |h: &LockHolder| {
                before(h);
                notice(h);
            }),
        });
        self
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// Opens the workspace for one turn that lasts as long as the returned handle; `purpose`
    /// is shown to whoever waits meanwhile. Prefer [`WorkspaceDir::turn`].
    pub fn open(&self, purpose: &str) -> Result<Workspace> {
        Workspace::open_turn(
            &self.root,
            &TurnRequest {
                purpose,
                timeout: self.timeout,
                notice: self.notice.as_ref(),
            },
        )
    }

    /// Runs `f` in one turn: the workspace is open (and locked) only while `f` runs.
    pub fn turn<T>(&self, purpose: &str, f: impl FnOnce(&mut Workspace) -> Result<T>) -> Result<T> {
        let mut ws = self.open(purpose)?;
        f(&mut ws)
    }
}

/// An open workspace: one turn. Holds the workspace lock until dropped; keep it short.
pub struct Workspace {
    root: PathBuf,
    pub(crate) store: Store,
    pub(crate) artifacts: ArtifactStore,
    pub(crate) index: SearchIndex,
    /// `None` only while the turn is lent ([`Workspace::lend`]).
    _lock: Option<WorkspaceLock>,
    /// Runs found interrupted (their process died) when this handle opened.
    recovered: Vec<String>,
}

/// A run with its full metric history and artifacts.
#[derive(Debug, Clone, Serialize)]
pub struct RunDetail {
    #[serde(flatten)]
    pub run: Run,
    pub history: BTreeMap<String, Vec<MetricPoint>>,
    pub artifacts: Vec<ArtifactRef>,
    /// How many runs name this one as their parent.
    pub children: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct ArtifactRef {
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

impl Workspace {
    /// Opens the workspace at `root` for one turn, creating it when the folder is missing or
    /// empty; fails at once (naming the holder) when another turn holds it.
    ///
    /// Opening takes the workspace lock, marks runs whose process died as killed, and brings the
    /// search index up to date with the store.
    pub fn open(root: &Path) -> Result<Workspace> {
        Workspace::open_turn(
            root,
            &TurnRequest {
                purpose: "",
                timeout: Duration::ZERO,
                notice: None,
            },
        )
    }

    /// [`Workspace::open`], waiting up to `timeout` in the queue while other turns hold the
    /// workspace; after that, the same "in use by …" error as `open`.
    pub fn open_waiting(root: &Path, timeout: Duration) -> Result<Workspace> {
        Workspace::open_turn(
            root,
            &TurnRequest {
                purpose: "",
                timeout,
                notice: None,
            },
        )
    }

    pub(crate) fn open_turn(root: &Path, req: &TurnRequest<'_>) -> Result<Workspace> {
        let marker = root.join(MARKER);
        if !marker.exists() {
            let empty = match std::fs::read_dir(root) {
                // The lock's own files may be there already: another turn is creating it.
                Ok(it) => it
                    .flatten()
                    .all(|e| crate::lock::is_lock_file(&e.file_name())),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => true,
                Err(e) => return Err(AppError::io(format!("reading {}", root.display()), e)),
            };
            if !empty {
                return Err(AppError::new(
                    ErrorCode::NotAWorkspace,
                    format!(
                        "{} is not a Cairn workspace (it has files but no {MARKER}); choose an empty or new folder",
                        root.display()
                    ),
                ));
            }
            std::fs::create_dir_all(root)
                .map_err(|e| AppError::io(format!("creating {}", root.display()), e))?;
        }
        let lock = WorkspaceLock::acquire(root, req)?;
        if !marker.exists() {
            let text = serde_json::json!({ "format_version": MARKER_FORMAT }).to_string();
            std::fs::write(&marker, text)
                .map_err(|e| AppError::io(format!("writing {}", marker.display()), e))?;
        }
        let mut store = Store::open(&root.join("cairn.duckdb"))?;
        store.set_actor(crate::audit::os_user());
        let recovered: Vec<String> = store
            .mark_orphaned_runs_killed(crate::process::orphan_reason)?
            .into_iter()
            .map(|id| id.as_str().to_string())
            .collect();
        if !recovered.is_empty() {
            tracing::warn!(runs = ?recovered, "marked runs whose process died as killed");
        }
        let index = open_index(&root.join("index"))?;
        let mut ws = Workspace {
            root: root.to_path_buf(),
            store,
            artifacts: ArtifactStore::new(root.join("artifacts")),
            index,
            _lock: Some(lock),
            recovered,
        };
        ws.catch_up_index()?;
        Ok(ws)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Lets go of this turn while `work` takes turns of its own (training, a bundle export
    /// through [`WorkspaceDir`]), then takes a new turn — for callers that keep a workspace
    /// open (tests, scripts). Holding the turn while calling `WorkspaceDir` work would make
    /// that work wait for this very handle.
    pub fn lend<T>(&mut self, work: impl FnOnce(&WorkspaceDir) -> Result<T>) -> Result<T> {
        let dir = WorkspaceDir::new(&self.root);
        // An in-memory stand-in keeps `self` whole while the workspace is closed.
        let closed = Workspace {
            root: self.root.clone(),
            store: Store::open_in_memory()?,
            artifacts: ArtifactStore::new(self.root.join("artifacts")),
            index: SearchIndex::in_ram()?,
            _lock: None,
            recovered: Vec::new(),
        };
        drop(std::mem::replace(self, closed));
        let out = work(&dir);
        *self = dir.open("")?;
        out
    }

    /// Ids of runs this open found interrupted and marked killed.
    pub fn recovered_runs(&self) -> &[String] {
        &self.recovered
    }

    /// Indexes every run changed since the index's last commit.
    fn catch_up_index(&mut self) -> Result<()> {
        let seen = self.index.indexed_seq()?;
        let current = self.store.change_seq()?;
        if seen > current {
            // The index is ahead of the store (e.g. copied from elsewhere): start over.
            return self.rebuild_index();
        }
        if seen < current {
            let (runs, seq) = self.store.runs_changed_since(seen)?;
            let ids: Vec<_> = runs.iter().map(|r| r.id.clone()).collect();
            // Summarising a long id list is slower than summarising everything once.
            let few = (ids.len() <= 500).then_some(ids.as_slice());
            let docs = self.run_docs(runs, few)?;
            self.index.upsert_runs(&docs, seq)?;
        }
        Ok(())
    }

    /// Runs with their metric summaries, as the index takes them.
    fn run_docs(
        &self,
        runs: Vec<Run>,
        ids: Option<&[cairn_core::RunId]>,
    ) -> Result<Vec<cairn_search::RunDoc>> {
        let mut summaries = self.store.metric_summaries(ids)?;
        Ok(runs
            .into_iter()
            .map(|run| cairn_search::RunDoc {
                metrics: summaries.remove(run.id.as_str()).unwrap_or_default(),
                run,
            })
            .collect())
    }

    /// Re-creates the search index from DuckDB.
    pub fn rebuild_index(&mut self) -> Result<()> {
        let seq = self.store.change_seq()?;
        let runs = self.store.list_runs()?;
        let docs = self.run_docs(runs, None)?;
        self.index.rebuild(&docs, seq)?;
        Ok(())
    }

    pub fn info(&self) -> Result<WorkspaceInfo> {
        let datasets = self.datasets()?.len();
        let runs = self.store.count_runs()?;
        Ok(WorkspaceInfo {
            path: self.root.display().to_string(),
            schema_version: self.store.schema_version()?,
            datasets: datasets as u32,
            runs: runs as u32,
        })
    }

    /// The latest version of each data set, by name.
    pub fn datasets(&self) -> Result<Vec<DatasetSummary>> {
        let mut latest: BTreeMap<String, DatasetVersion> = BTreeMap::new();
        for v in self.store.list_versions()? {
            latest.insert(v.name.clone(), v);
        }
        Ok(latest.into_values().map(DatasetSummary::from).collect())
    }

    pub fn dataset_versions(&self) -> Result<Vec<DatasetVersion>> {
        Ok(self.store.list_versions()?)
    }

    pub fn resolve_dataset(&self, text: &str) -> Result<DatasetVersion> {
        let r = DatasetRef::parse(text).map_err(AppError::invalid)?;
        Ok(self.store.resolve_dataset(&r)?)
    }

    /// All runs, newest first.
    pub fn runs(&self) -> Result<Vec<Run>> {
        Ok(self.store.list_runs()?)
    }

    pub fn run_summaries(&self) -> Result<Vec<RunSummary>> {
        Ok(self.runs()?.into_iter().map(RunSummary::from).collect())
    }

    /// A run by id, id prefix or name — or by a registered version (`NAME@N`, `NAME@alias`),
    /// which names its run.
    pub(crate) fn find_run(&self, key: &str) -> Result<Run> {
        Ok(match self.model_run_id(key)? {
            Some(id) => self.store.find_run(&id)?,
            None => self.store.find_run(key)?,
        })
    }

    /// A run by id, id prefix, name or registered version, with its history and artifacts.
    pub fn run(&self, key: &str) -> Result<RunDetail> {
        let run = self.find_run(key)?;
        let history = self.store.metric_history(&run.id)?;
        let artifacts = self
            .store
            .artifacts(&run.id)?
            .into_iter()
            .map(|(path, sha256, size)| ArtifactRef { path, sha256, size })
            .collect();
        let children = self.store.count_children(&run.id)?;
        Ok(RunDetail {
            run,
            history,
            artifacts,
            children,
        })
    }

    /// Re-indexes runs changed since the last commit (after a write, before a search).
    pub(crate) fn reindex(&mut self) -> Result<()> {
        self.catch_up_index()
    }
}

/// Opens the index, starting a fresh one if the folder holds something unreadable.
fn open_index(dir: &Path) -> Result<SearchIndex> {
    match SearchIndex::open(dir) {
        Ok(index) => Ok(index),
        Err(first) => {
            tracing::warn!(error = %first, "search index unreadable; rebuilding it from the store");
            std::fs::remove_dir_all(dir)
                .map_err(|e| AppError::io(format!("removing {}", dir.display()), e))?;
            Ok(SearchIndex::open(dir)?)
        }
    }
}
