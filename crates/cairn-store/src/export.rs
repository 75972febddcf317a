//! Whole-store reads for exports: every run's metric history in one ordered pass, and every
//! artifact in one query, so exporting N runs costs one scan instead of N (the `metrics` and
//! `artifacts` tables have no index on `run_id`).

use crate::{Result, Store, StoreError};
use std::collections::BTreeMap;
use std::ops::ControlFlow;

/// Each run's artifacts, `run_id → [(path, sha256, size)]`.
pub type ArtifactsByRun = BTreeMap<String, Vec<(String, String, u64)>>;

/// A metric point with the time it was logged (epoch milliseconds; `None` for points recorded
/// before points had times, or imported without them).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LoggedPoint {
    pub step: u64,
    pub value: f64,
    pub logged_at: Option<i64>,
}

impl Store {
    /// Calls `f(run_id, history)` for each run that has metric points, in run id order, with
    /// its whole history (per key, by step, then in the order logged). Only one run's history
    /// is in memory at a time. `f` returning `Break` stops the pass.
    pub fn each_metric_history(
        &self,
        mut f: impl FnMut(&str, BTreeMap<String, Vec<LoggedPoint>>) -> ControlFlow<()>,
    ) -> Result<()> {
        let ctx = "reading metric histories";
        let mut stmt = self
            .conn
            .prepare(
                "SELECT run_id, key, step, value, logged_at FROM metrics ORDER BY run_id, key, step, rowid",
            )
            .map_err(|e| StoreError::db(ctx, e))?;
        let mut rows = stmt.query([]).map_err(|e| StoreError::db(ctx, e))?;
        let mut current: Option<String> = None;
        let mut history: BTreeMap<String, Vec<LoggedPoint>> = BTreeMap::new();
        while let Some(row) = rows.next().map_err(|e| StoreError::db(ctx, e))? {
            let run: String = row.get(0).map_err(|e| StoreError::db(ctx, e))?;
            let key: String = row.get(1).map_err(|e| StoreError::db(ctx, e))?;
            let step: i64 = row.get(2).map_err(|e| StoreError::db(ctx, e))?;
            let value: f64 = row.get(3).map_err(|e| StoreError::db(ctx, e))?;
            let logged_at: Option<i64> = row.get(4).map_err(|e| StoreError::db(ctx, e))?;
            if current.as_deref() != Some(run.as_str()) {
                if let Some(done) = current.take()
                    && f(&done, std::mem::take(&mut history)).is_break()
                {
                    return Ok(());
                }
                current = Some(run);
            }
            history.entry(key).or_default().push(LoggedPoint {
                step: step as u64,
                value,
                logged_at,
            });
        }
        if let Some(done) = current {
            let _ = f(&done, history);
        }
        Ok(())
    }

    /// Every artifact, `run_id → [(path, sha256, size)]` by path.
    pub fn all_artifacts(&self) -> Result<ArtifactsByRun> {
        let ctx = "listing artifacts";
        let mut stmt = self
            .conn
            .prepare("SELECT run_id, path, sha256, size FROM artifacts ORDER BY run_id, path")
            .map_err(|e| StoreError::db(ctx, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)? as u64,
                ))
            })
            .map_err(|e| StoreError::db(ctx, e))?;
        let mut out = ArtifactsByRun::new();
        for row in rows {
            let (run, path, sha, size) = row.map_err(|e| StoreError::db(ctx, e))?;
            out.entry(run).or_default().push((path, sha, size));
        }
        Ok(out)
    }
}
