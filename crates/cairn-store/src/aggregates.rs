//! Metric summaries (first, last, min, max, mean, count of each metric's history) for the
//! search index, computed by DuckDB in one pass.

use crate::{Result, Store, StoreError};
use cairn_core::{MetricSummary, RunId};
use std::collections::BTreeMap;

/// Summaries by run id, then metric key.
pub type Summaries = BTreeMap<String, BTreeMap<String, MetricSummary>>;

impl Store {
    /// The summary of every metric of `runs` (all runs when `None`).
    pub fn metric_summaries(&self, runs: Option<&[RunId]>) -> Result<Summaries> {
        let ctx = "summarising metrics";
        let base = "SELECT run_id, key, arg_max(value, step), arg_min(value, step), min(value), \
                    max(value), avg(value), count(*) FROM metrics";
        let (sql, args): (String, Vec<&str>) = match runs {
            None => (format!("{base} GROUP BY run_id, key"), vec![]),
            Some([]) => return Ok(Summaries::new()),
            Some(ids) => (
                format!(
                    "{base} WHERE run_id IN ({}) GROUP BY run_id, key",
                    vec!["?"; ids.len()].join(", ")
                ),
                ids.iter().map(|id| id.as_str()).collect(),
            ),
        };
        let mut stmt = self
            .conn
            .prepare(&sql)
            .map_err(|e| StoreError::db(ctx, e))?;
        let rows = stmt
            .query_map(duckdb::params_from_iter(args), |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    MetricSummary {
                        last: r.get(2)?,
                        first: r.get(3)?,
                        min: r.get(4)?,
                        max: r.get(5)?,
                        mean: r.get(6)?,
                        count: r.get::<_, i64>(7)? as u64,
                    },
                ))
            })
            .map_err(|e| StoreError::db(ctx, e))?;
        let mut out = Summaries::new();
        for row in rows {
            let (run, key, summary) = row.map_err(|e| StoreError::db(ctx, e))?;
            out.entry(run).or_default().insert(key, summary);
        }
        Ok(out)
    }
}
