//! The DuckDB store: one workspace file holding metadata (data set versions, runs, params, tags,
//! metrics, artifacts) and the data itself, one table per content-hashed data set version.
//!
//! This crate knows DuckDB and the nouns of `cairn-core`; it must not know Candle, tantivy, Tauri
//! or how a workspace directory is laid out beyond the one file it is handed.

mod aggregates;
mod audit;
mod bulk;
mod csv_check;
mod diff;
mod error;
mod export;
mod history;
mod ingest;
mod migrate;
mod profile;
mod quality;
mod registry;
mod requests;
mod runs;
mod sketch;
mod split;
mod sql;
mod versions;
mod watch;

pub use audit::{ChainStatus, Checkpoint, Record, append_time as audit_append_time};
pub use bulk::RecordedRun;
pub use cairn_core::FileFormat;
pub use error::{ImportError, StoreError};
pub use export::{ArtifactsByRun, LoggedPoint};
pub use history::MetricSeries;
pub use ingest::{ImportOutcome, ImportRequest, VersionClaim};
pub use migrate::SCHEMA_VERSION;
pub use registry::{
    AliasMove, ApprovalRow, ModelVersionRow, NewModelVersion, RegisteredModelRow, Tx,
};
pub use requests::{RequestFilter, RequestRow};
pub use runs::{LiveRun, NewRun, PointChange, RunChanges};
pub use versions::{DeleteOutcome, Page};

use duckdb::Connection;
use std::path::Path;

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// An open DuckDB workspace database.
pub struct Store {
    conn: Connection,
    /// Who the audit entries of this handle's changes name (the OS user; set by the caller).
    actor: String,
    /// The audit log's head as this handle last appended it (see `audit::HeadCache`).
    audit_head: audit::HeadCache,
}

impl Store {
    /// Opens (creating if needed) the database file and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Store> {
        let conn = Connection::open(path)
            .map_err(|e| StoreError::db(format!("opening {}", path.display()), e))?;
        Self::from_connection(conn)
    }

    /// A hermetic in-memory twin for unit tests.
    pub fn open_in_memory() -> Result<Store> {
        let conn = Connection::open_in_memory()
            .map_err(|e| StoreError::db("opening an in-memory database", e))?;
        Self::from_connection(conn)
    }

    fn from_connection(conn: Connection) -> Result<Store> {
        let store = Store {
            conn,
            actor: "unknown".into(),
            audit_head: Default::default(),
        };
        migrate::migrate(&store.conn)?;
        Ok(store)
    }

    /// Names `actor` in the audit entries of every change made through this handle.
    pub fn set_actor(&mut self, actor: impl Into<String>) {
        self.actor = actor.into();
    }

    pub fn actor(&self) -> &str {
        &self.actor
    }

    pub fn schema_version(&self) -> Result<u32> {
        migrate::current_version(&self.conn)
    }

    /// The DuckDB library version, e.g. `v1.4.1`.
    pub fn engine_version(&self) -> Result<String> {
        self.conn
            .query_row("SELECT version()", [], |r| r.get(0))
            .map_err(|e| StoreError::db("reading version", e))
    }

    /// Writes everything to the main file (DuckDB otherwise does this on its own schedule).
    pub fn checkpoint(&self) -> Result<()> {
        self.conn
            .execute_batch("CHECKPOINT")
            .map_err(|e| StoreError::db("checkpoint", e))
    }

    /// Runs `f` inside one transaction: all of its writes land, or none do.
    fn in_transaction<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let out = transaction(&self.conn, f);
        if out.is_err() {
            // Rolled back: the head this handle cached may be one that never committed.
            self.forget_audit_head();
        }
        out
    }

    /// Drops the cached audit head (after work on another connection, or a rollback).
    pub(crate) fn forget_audit_head(&self) {
        if let Ok(mut h) = self.audit_head.lock() {
            *h = None;
        }
    }
}

/// Runs `f` inside one transaction on `conn`: all of its writes land, or none do.
pub(crate) fn transaction<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> Result<T>,
) -> Result<T> {
    conn.execute_batch("BEGIN TRANSACTION")
        .map_err(|e| StoreError::db("begin", e))?;
    match f(conn) {
        Ok(v) => {
            conn.execute_batch("COMMIT")
                .map_err(|e| StoreError::db("commit", e))?;
            Ok(v)
        }
        Err(err) => {
            let _ = conn.execute_batch("ROLLBACK");
            Err(err)
        }
    }
}
