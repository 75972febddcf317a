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
use crate::lock::WorkspaceLock;
use crate::{AppError, ErrorCode, Result};
use cairn_core::{DatasetRef, DatasetVersion, MetricPoint, Run};
use cairn_search::SearchIndex;
use cairn_store::Store;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

/// An open workspace. Holds the workspace lock until dropped.
pub struct Workspace {
    root: PathBuf,
    pub(crate) store: Store,
    pub(crate) artifacts: ArtifactStore,
    pub(crate) index: SearchIndex,
    _lock: WorkspaceLock,
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
    /// Opens the workspace at `root`, creating it when the folder is missing or empty.
    ///
    /// Opening takes the workspace lock, marks runs whose process died as killed, and brings the
    /// search index up to date with the store.
    pub fn open(root: &Path) -> Result<Workspace> {
        let marker = root.join(MARKER);
        if !marker.exists() {
            let empty = match std::fs::read_dir(root) {
                Ok(mut it) => it.next().is_none(),
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
        let lock = WorkspaceLock::acquire(root)?;
        if !marker.exists() {
            let text = serde_json::json!({ "format_version": MARKER_FORMAT }).to_string();
            std::fs::write(&marker, text)
                .map_err(|e| AppError::io(format!("writing {}", marker.display()), e))?;
        }
        let store = Store::open(&root.join("cairn.duckdb"))?;
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
            _lock: lock,
            recovered,
        };
        ws.catch_up_index()?;
        Ok(ws)
    }

    /// [`Workspace::open`], waiting up to `timeout` while another process holds the workspace
    /// lock; after that, the same "in use by …" error as `open`. Loggers that hold the lock
    /// only while they flush take turns this way.
    pub fn open_waiting(root: &Path, timeout: std::time::Duration) -> Result<Workspace> {
        let started = std::time::Instant::now();
        // Spread retries of processes that wait together.
        let mut pause = std::time::Duration::from_millis(2 + u64::from(std::process::id() % 7));
        loop {
            match Workspace::open(root) {
                Err(e) if e.code == ErrorCode::WorkspaceLocked && started.elapsed() < timeout => {
                    std::thread::sleep(pause.min(timeout.saturating_sub(started.elapsed())));
                    pause = (pause * 2).min(std::time::Duration::from_millis(50));
                }
                other => return other,
            }
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
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

    /// A run by id, id prefix or name, with its history and artifacts.
    pub fn run(&self, key: &str) -> Result<RunDetail> {
        let run = self.store.find_run(key)?;
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
