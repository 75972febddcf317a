//! Finding runs again: the query language (docs/query-language.md) over the tantivy index.

use crate::json::{RunKeys, RunRow, SearchPage};
use crate::{Result, Workspace};

/// `attributes.*` keys a query may name.
pub const ATTRIBUTES: &[&str] = &[
    "id",
    "name",
    "status",
    "model",
    "target",
    "seed",
    "created_at",
    "finished_at",
    "parent_id",
    "note",
];

/// `datasets.*` keys a query may name.
pub const DATASET_KEYS: &[&str] = &["name", "version", "hash"];

impl Workspace {
    /// Runs matching `query` (the query language; empty = all runs, newest first), one page.
    ///
    /// A syntax error is an `AppError` with code `query` whose message names the column.
    pub fn search_runs(&mut self, query: &str, limit: usize, offset: usize) -> Result<SearchPage> {
        let started = std::time::Instant::now();
        // Placeholder until the query engine lands: every run, newest first.
        let _ = query;
        let all = self.store.list_runs()?;
        let total = all.len() as u64;
        let runs = all
            .into_iter()
            .skip(offset)
            .take(limit)
            .map(RunRow::from)
            .collect();
        Ok(SearchPage {
            total,
            offset: offset as u64,
            runs,
            took_ms: started.elapsed().as_secs_f64() * 1e3,
        })
    }

    /// Metric, param and tag names in use, and the attribute and data set names, sorted.
    pub fn run_keys(&self) -> Result<RunKeys> {
        Ok(RunKeys {
            metrics: self.store.distinct_keys("metrics")?,
            params: self.store.distinct_keys("run_params")?,
            tags: self.store.distinct_keys("run_tags")?,
            attributes: ATTRIBUTES.iter().map(|s| s.to_string()).collect(),
            datasets: DATASET_KEYS.iter().map(|s| s.to_string()).collect(),
        })
    }
}

impl From<cairn_core::Run> for RunRow {
    fn from(r: cairn_core::Run) -> Self {
        RunRow {
            id: r.id.as_str().to_string(),
            name: r.name,
            status: r.status.as_str().to_string(),
            model: r.model,
            dataset: r.dataset,
            target: r.target,
            created_at: r.created_at,
            finished_at: r.finished_at,
            parent_id: r.parent_id.map(|p| p.as_str().to_string()),
            params: r
                .params
                .iter()
                .map(|(k, v)| (k.clone(), param_json(v)))
                .collect(),
            metrics: r.metrics,
            tags: r.tags,
        }
    }
}

/// A param as plain JSON: `0.1`, `3`, `true`, `"adam"`, `[64, 32]`.
pub(crate) fn param_json(v: &cairn_core::ParamValue) -> serde_json::Value {
    use cairn_core::ParamValue as P;
    match v {
        P::Int(i) => (*i).into(),
        P::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or_else(|| f.to_string().into()),
        P::Bool(b) => (*b).into(),
        P::Str(s) => s.clone().into(),
        P::List(items) => items.iter().map(param_json).collect(),
    }
}
