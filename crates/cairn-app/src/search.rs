//! Finding runs again: the query language (docs/query-language.md) over the tantivy index.

use crate::json::{RunKeys, RunRow, SearchPage};
use crate::{AppError, ErrorCode, Result, Workspace};
use cairn_core::Run;

pub use cairn_search::{ATTRIBUTES, DATASET_KEYS};

/// Runs matching a query, one page.
#[derive(Debug, Clone)]
pub struct SearchOutcome {
    pub total: usize,
    /// The page. The environment record is not kept in the index: it is `null` here; read
    /// the run (`Workspace::run`) for it.
    pub runs: Vec<Run>,
    pub took: std::time::Duration,
}

/// Parses a query, turning a syntax error into an `AppError` that names and points at the
/// column.
pub fn parse_query(text: &str) -> Result<cairn_core::query::Query> {
    cairn_search::parse_query(text).map_err(|e| {
        AppError::new(
            ErrorCode::Query,
            format!(
                "cannot read the query at column {}: {}\n{}",
                e.column,
                e.message,
                e.pointer(text)
            ),
        )
    })
}

impl Workspace {
    /// Runs matching `query` in the query language (docs/query-language.md; empty = every
    /// run, newest first), the page `offset .. offset + limit` (a `LIMIT`/`OFFSET` in the
    /// query wins). Brings the index up to date with the store first.
    pub fn search(&mut self, query: &str, limit: usize, offset: usize) -> Result<SearchOutcome> {
        let parsed = parse_query(query)?;
        self.reindex()?;
        let started = std::time::Instant::now();
        let found = self.index.search(&parsed, limit, offset)?;
        Ok(SearchOutcome {
            total: found.total,
            runs: found.runs,
            took: started.elapsed(),
        })
    }

    /// [`Workspace::search`] as the desktop app and `--json` show it.
    pub fn search_runs(&mut self, query: &str, limit: usize, offset: usize) -> Result<SearchPage> {
        let found = self.search(query, limit, offset)?;
        Ok(SearchPage {
            total: found.total as u64,
            offset: offset as u64,
            runs: found.runs.into_iter().map(RunRow::from).collect(),
            took_ms: found.took.as_secs_f64() * 1e3,
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
