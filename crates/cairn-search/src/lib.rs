//! The full-text index over runs, backed by tantivy.
//!
//! The index is a cache: DuckDB is the truth, and every commit carries, as its payload, the
//! workspace change sequence number it reflects. Whoever opens the index compares that number
//! with the store's and re-indexes what lags, so a crash between the two writes heals on open.
//!
//! This crate knows tantivy and `cairn-core`'s nouns; it must not know DuckDB, Candle or Tauri.

pub mod query;

use cairn_core::{Run, RunId};
pub use query::{QueryError, parse as parse_query};
use std::path::Path;
use tantivy::collector::TopDocs;
use tantivy::query::QueryParser;
use tantivy::schema::{Field, STORED, STRING, Schema, TEXT, Value};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("the search index failed: {0}; rebuild it with `cairn index rebuild`")]
    Index(#[from] tantivy::TantivyError),
    #[error("cannot read the search query `{query}`: {reason}")]
    Query { query: String, reason: String },
    #[error("cannot open the search index at {path}: {reason}")]
    Open { path: String, reason: String },
}

pub type Result<T, E = SearchError> = std::result::Result<T, E>;

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct Hit {
    pub run_id: RunId,
    pub score: f32,
}

struct Fields {
    id: Field,
    name: Field,
    tags: Field,
    params: Field,
    text: Field,
}

pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: IndexWriter,
    fields: Fields,
}

/// Heap for the single indexing thread (tantivy's minimum is 15 MB).
const WRITER_HEAP: usize = 20_000_000;

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let fields = Fields {
        id: b.add_text_field("id", STRING | STORED),
        name: b.add_text_field("name", TEXT),
        tags: b.add_text_field("tags", TEXT),
        params: b.add_text_field("params", TEXT),
        text: b.add_text_field("text", TEXT),
    };
    (b.build(), fields)
}

impl SearchIndex {
    /// Opens the index in `dir`, creating it when the folder is empty.
    pub fn open(dir: &Path) -> Result<SearchIndex> {
        let open_err = |reason: String| SearchError::Open {
            path: dir.display().to_string(),
            reason,
        };
        std::fs::create_dir_all(dir).map_err(|e| open_err(e.to_string()))?;
        let (schema, fields) = schema();
        let mmap =
            tantivy::directory::MmapDirectory::open(dir).map_err(|e| open_err(e.to_string()))?;
        let index = Index::open_or_create(mmap, schema).map_err(|e| open_err(e.to_string()))?;
        Self::from_index(index, fields)
    }

    /// A hermetic in-RAM twin for tests.
    pub fn in_ram() -> Result<SearchIndex> {
        let (schema, fields) = schema();
        Self::from_index(Index::create_in_ram(schema), fields)
    }

    fn from_index(index: Index, fields: Fields) -> Result<SearchIndex> {
        let writer = index.writer_with_num_threads(1, WRITER_HEAP)?;
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()?;
        Ok(SearchIndex {
            index,
            reader,
            writer,
            fields,
        })
    }

    /// The workspace change sequence number the last commit reflects (0 for a new index).
    pub fn indexed_seq(&self) -> Result<u64> {
        Ok(self
            .index
            .load_metas()?
            .payload
            .and_then(|p| p.parse().ok())
            .unwrap_or(0))
    }

    /// Replaces the documents of `runs` and records `seq` as reflected, in one commit.
    pub fn upsert_runs(&mut self, runs: &[Run], seq: u64) -> Result<()> {
        for run in runs {
            self.writer
                .delete_term(Term::from_field_text(self.fields.id, run.id.as_str()));
            self.writer.add_document(self.document(run))?;
        }
        self.commit(seq)
    }

    /// Throws the index away and indexes `runs` afresh.
    pub fn rebuild(&mut self, runs: &[Run], seq: u64) -> Result<()> {
        self.writer.delete_all_documents()?;
        for run in runs {
            self.writer.add_document(self.document(run))?;
        }
        self.commit(seq)
    }

    fn commit(&mut self, seq: u64) -> Result<()> {
        let mut prepared = self.writer.prepare_commit()?;
        prepared.set_payload(&seq.to_string());
        prepared.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Runs matching `query`, best first. Words match names, tags, params (keys and values),
    /// model, data set and status; `name:`, `tags:` and `params:` restrict a word to one field;
    /// `"..."` is a phrase; `AND`, `OR`, `-word` combine.
    pub fn search(&self, query: &str, limit: usize) -> Result<Vec<Hit>> {
        let f = &self.fields;
        let mut parser =
            QueryParser::for_index(&self.index, vec![f.name, f.tags, f.params, f.text]);
        parser.set_conjunction_by_default();
        let q = parser.parse_query(query).map_err(|e| SearchError::Query {
            query: query.to_string(),
            reason: e.to_string(),
        })?;
        let searcher = self.reader.searcher();
        let top = searcher.search(&q, &TopDocs::with_limit(limit.max(1)).order_by_score())?;
        let mut hits = Vec::with_capacity(top.len());
        for (score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            if let Some(id) = doc.get_first(f.id).and_then(|v| v.as_str()) {
                hits.push(Hit {
                    run_id: RunId::from_stored(id.to_string()),
                    score,
                });
            }
        }
        Ok(hits)
    }

    fn document(&self, run: &Run) -> TantivyDocument {
        let f = &self.fields;
        let mut doc = TantivyDocument::default();
        doc.add_text(f.id, run.id.as_str());
        doc.add_text(f.name, &run.name);
        for (k, v) in &run.tags {
            doc.add_text(f.tags, format!("{k} {v}"));
        }
        for (k, v) in &run.params {
            doc.add_text(f.params, format!("{k} {v}"));
        }
        doc.add_text(
            f.text,
            format!(
                "{} {} {} {} {}",
                run.id, run.model, run.dataset, run.target, run.status
            ),
        );
        doc
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::{ParamValue, RunStatus};
    use std::collections::BTreeMap;

    fn run(name: &str, team: &str, lr: f64) -> Run {
        Run {
            id: RunId::new_v7(),
            name: name.into(),
            status: RunStatus::Finished,
            model: "logistic".into(),
            dataset: "breast_cancer@1".into(),
            dataset_hash: String::new(),
            target: "target".into(),
            seed: 1,
            params: BTreeMap::from([("lr".into(), ParamValue::Float(lr))]),
            tags: BTreeMap::from([("team".into(), team.into())]),
            metrics: BTreeMap::new(),
            created_at: String::new(),
            finished_at: None,
            error: None,
            environment: serde_json::Value::Null,
            note: String::new(),
            parent_id: None,
        }
    }

    #[test]
    fn finds_runs_by_name_tag_and_param() {
        let mut idx = SearchIndex::in_ram().unwrap();
        let a = run("baseline-logreg", "risk", 0.05);
        let b = run("wide-sweep", "fraud", 0.3);
        idx.upsert_runs(&[a.clone(), b.clone()], 2).unwrap();
        assert_eq!(idx.indexed_seq().unwrap(), 2);
        let ids = |q: &str| {
            idx.search(q, 10)
                .unwrap()
                .into_iter()
                .map(|h| h.run_id)
                .collect::<Vec<_>>()
        };
        assert_eq!(ids("baseline"), vec![a.id.clone()]);
        assert_eq!(ids("fraud"), vec![b.id.clone()]);
        assert_eq!(ids("tags:risk"), vec![a.id.clone()]);
        assert_eq!(ids("0.05"), vec![a.id.clone()]);
        assert_eq!(ids("\"lr 0.3\""), vec![b.id.clone()]);
        assert_eq!(ids("breast_cancer").len(), 2);
        assert!(ids("nothing-like-this").is_empty());
    }

    #[test]
    fn upsert_replaces_and_rebuild_resets() {
        let mut idx = SearchIndex::in_ram().unwrap();
        let mut a = run("a", "x", 0.1);
        idx.upsert_runs(std::slice::from_ref(&a), 1).unwrap();
        a.name = "renamed".into();
        idx.upsert_runs(std::slice::from_ref(&a), 2).unwrap();
        assert_eq!(idx.num_docs(), 1);
        assert_eq!(idx.search("renamed", 5).unwrap().len(), 1);
        idx.rebuild(&[], 3).unwrap();
        assert_eq!(idx.num_docs(), 0);
        assert_eq!(idx.indexed_seq().unwrap(), 3);
    }

    #[test]
    fn bad_queries_are_reported() {
        let idx = SearchIndex::in_ram().unwrap();
        let err = idx.search("nosuchfield:x", 5).unwrap_err().to_string();
        assert!(err.contains("nosuchfield"), "{err}");
    }
}
