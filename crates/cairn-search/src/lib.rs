//! The search index over runs, backed by tantivy: the query language's engine.
//!
//! Each run is one document: its attributes, data set, params, tags and a summary of each
//! metric's history (last, first, min, max, mean) as fast (columnar) JSON fields that
//! structured conditions and sorting read, plus text fields (name, note, tags, the rest) for
//! free-text words and phrases, plus the run itself, stored, so a result page needs no
//! database round trip.
//!
//! The index is a cache: DuckDB is the truth, and every commit carries, as its payload, the
//! workspace change sequence number it reflects. Whoever opens the index compares that number
//! with the store's and re-indexes what lags, so a crash between the two writes heals on open.
//!
//! This crate knows tantivy and `cairn-core`'s nouns; it must not know DuckDB, Candle or Tauri.

mod engine;
pub mod query;
pub mod records;
mod stored;

use cairn_core::query::Query;
use cairn_core::{MetricSummary, ParamValue, Run};
pub use engine::{ATTRIBUTES, DATASET_KEYS};
pub use query::{QueryError, parse as parse_query};
use std::collections::BTreeMap;
use std::path::Path;
use tantivy::query::AllQuery;
use tantivy::schema::{
    FAST, Field, JsonObjectOptions, OwnedValue, STORED, STRING, Schema, TEXT, Value,
};
use tantivy::{Index, IndexReader, IndexWriter, ReloadPolicy, TantivyDocument, Term};

#[derive(Debug, thiserror::Error)]
pub enum SearchError {
    #[error("the search index failed: {0}; rebuild it with `cairn index rebuild`")]
    Index(#[from] tantivy::TantivyError),
    /// The query parses but cannot mean anything (an unknown attribute, a metric compared with
    /// text).
    #[error("{0}")]
    Query(String),
    #[error("cannot open the search index at {path}: {reason}")]
    Open { path: String, reason: String },
    #[error(
        "a stored run in the search index is unreadable ({0}); rebuild it with `cairn index rebuild`"
    )]
    Stored(String),
}

impl SearchError {
    pub(crate) fn semantic(message: String) -> SearchError {
        SearchError::Query(message)
    }
}

pub type Result<T, E = SearchError> = std::result::Result<T, E>;

/// A run as the index takes it: the run and a summary of each metric's history.
#[derive(Debug, Clone)]
pub struct RunDoc {
    pub run: Run,
    pub metrics: BTreeMap<String, MetricSummary>,
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Results {
    /// Runs matching the filter, in all.
    pub total: usize,
    /// The page: `offset .. offset + limit` of the ordered matches. The environment record is
    /// not kept in the index (`Value::Null` here); read the run from the store for it.
    pub runs: Vec<Run>,
}

pub(crate) struct Fields {
    id: Field,
    created: Field,
    stored: Field,
    attr: Field,
    dataset: Field,
    param: Field,
    tag: Field,
    metric: [Field; 5],
    name_text: Field,
    note_text: Field,
    tag_text: Field,
    other_text: Field,
}

impl Fields {
    pub(crate) fn text_fields(&self) -> Vec<Field> {
        vec![
            self.name_text,
            self.note_text,
            self.tag_text,
            self.other_text,
        ]
    }
}

pub struct SearchIndex {
    index: Index,
    reader: IndexReader,
    writer: IndexWriter,
    fields: Fields,
}

/// Heap for the single indexing thread (tantivy's minimum is 15 MB).
const WRITER_HEAP: usize = 50_000_000;

/// Bumped whenever the document layout changes; an index of another layout is rebuilt.
const LAYOUT: u32 = 4;

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let columns = || JsonObjectOptions::default().set_fast("raw");
    let fields = Fields {
        id: b.add_text_field("id", STRING),
        created: b.add_u64_field("created", FAST),
        stored: b.add_text_field("run", STORED),
        attr: b.add_json_field("attr", columns()),
        dataset: b.add_json_field("dataset", columns()),
        param: b.add_json_field("param", columns()),
        tag: b.add_json_field("tag", columns()),
        metric: [
            b.add_json_field("m_last", columns()),
            b.add_json_field("m_first", columns()),
            b.add_json_field("m_min", columns()),
            b.add_json_field("m_max", columns()),
            b.add_json_field("m_mean", columns()),
        ],
        name_text: b.add_text_field("name", TEXT),
        note_text: b.add_text_field("note", TEXT),
        tag_text: b.add_text_field("tags", TEXT),
        other_text: b.add_text_field("text", TEXT),
    };
    (b.build(), fields)
}

/// Sort key for "newest first": the first 16 hex digits of a UUIDv7 id (its millisecond
/// timestamp and sequence).
/// The key "newest first" sorts by, and every ordering's tie-break (as MLflow's, which breaks
/// ties by start time, newest first): the run's start time in epoch milliseconds, which is the
/// time its client gave, or else the time in its id (UUIDv7: milliseconds first).
fn created_key(run: &Run) -> u64 {
    if let Some(ms) = cairn_core::epoch_millis(&run.created_at) {
        return ms.max(0) as u64;
    }
    let s = run.id.as_str();
    u64::from_str_radix(&s[..s.len().min(12)], 16).unwrap_or(0)
}

fn number(v: f64) -> Option<OwnedValue> {
    (!v.is_nan()).then_some(OwnedValue::F64(v))
}

fn text(s: &str) -> OwnedValue {
    OwnedValue::Str(s.to_string())
}

/// Params keep their type: numbers as numbers (ints too), the rest as their text.
fn param_value(v: &ParamValue) -> Option<OwnedValue> {
    match v.as_f64() {
        Some(n) => number(n),
        None => Some(text(&v.to_string())),
    }
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
        let this = Self::from_index(index, fields)?;
        match this.index.load_metas()?.payload {
            Some(p) if !p.starts_with(&format!("{LAYOUT}:")) => {
                Err(open_err(format!("it was written by another version ({p})")))
            }
            _ => Ok(this),
        }
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
            .and_then(|p| p.split_once(':').and_then(|(_, seq)| seq.parse().ok()))
            .unwrap_or(0))
    }

    /// Replaces the documents of `runs` and records `seq` as reflected, in one commit.
    pub fn upsert_runs(&mut self, runs: &[RunDoc], seq: u64) -> Result<()> {
        for doc in runs {
            self.writer
                .delete_term(Term::from_field_text(self.fields.id, doc.run.id.as_str()));
            self.writer.add_document(self.document(doc))?;
        }
        self.commit(seq)
    }

    /// Throws the index away and indexes `runs` afresh.
    pub fn rebuild(&mut self, runs: &[RunDoc], seq: u64) -> Result<()> {
        self.writer.delete_all_documents()?;
        for doc in runs {
            self.writer.add_document(self.document(doc))?;
        }
        self.commit(seq)
    }

    fn commit(&mut self, seq: u64) -> Result<()> {
        let mut prepared = self.writer.prepare_commit()?;
        prepared.set_payload(&format!("{LAYOUT}:{seq}"));
        prepared.commit()?;
        self.reader.reload()?;
        Ok(())
    }

    pub fn num_docs(&self) -> u64 {
        self.reader.searcher().num_docs()
    }

    /// Runs matching `query`'s filter, ordered by its `ORDER BY` (then relevance when it has
    /// free text, then newest first), the page `offset .. offset + limit`. The query's own
    /// `LIMIT`/`OFFSET`, when given, win over the arguments.
    pub fn search(&self, query: &Query, limit: usize, offset: usize) -> Result<Results> {
        let limit = query.limit.unwrap_or(limit);
        let offset = query.offset.unwrap_or(offset);
        let filter = match &query.filter {
            Some(expr) => engine::compile(expr, &self.index, &self.fields)?,
            None => Box::new(AllQuery),
        };
        let by_score =
            query.order_by.is_empty() && query.filter.as_ref().is_some_and(engine::has_text);
        let collector = engine::SortingCollector {
            plan: engine::SortPlan::new(&query.order_by, by_score)?,
            offset,
            limit,
        };
        let searcher = self.reader.searcher();
        let page = searcher.search(filter.as_ref(), &collector)?;
        let mut runs = Vec::with_capacity(page.addresses.len());
        for address in page.addresses {
            let doc: TantivyDocument = searcher.doc(address)?;
            let json = doc
                .get_first(self.fields.stored)
                .and_then(|v| v.as_str())
                .ok_or_else(|| SearchError::Stored("a document has no stored run".into()))?;
            runs.push(stored::decode(json).map_err(|e| SearchError::Stored(e.to_string()))?);
        }
        Ok(Results {
            total: page.total,
            runs,
        })
    }

    fn document(&self, doc: &RunDoc) -> TantivyDocument {
        let f = &self.fields;
        let run = &doc.run;
        let mut out = TantivyDocument::default();
        out.add_text(f.id, run.id.as_str());
        out.add_u64(f.created, created_key(run));
        out.add_text(f.stored, stored::encode(run));

        let mut attr: BTreeMap<String, OwnedValue> = [
            ("id", text(run.id.as_str())),
            ("name", text(&run.name)),
            ("status", text(run.status.as_str())),
            ("model", text(&run.model)),
            ("dataset", text(&run.dataset)),
            ("target", text(&run.target)),
            ("seed", OwnedValue::F64(run.seed as f64)),
            ("created_at", text(&run.created_at)),
            ("note", text(&run.note)),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        let optional = [
            ("finished_at", run.finished_at.as_deref()),
            ("parent_id", run.parent_id.as_ref().map(|p| p.as_str())),
            ("error", run.error.as_deref()),
        ];
        for (k, v) in optional {
            if let Some(v) = v {
                attr.insert(k.into(), text(v));
            }
        }
        // Times also as epoch milliseconds, which MLflow's clients compare them with and
        // which sort in time order whatever the text's precision.
        let times = [
            ("created_at", Some(run.created_at.as_str())),
            ("finished_at", run.finished_at.as_deref()),
        ];
        for (k, v) in times {
            if let Some(ms) = v.and_then(cairn_core::epoch_millis) {
                attr.insert(
                    format!("{k}{}", engine::MILLIS_SUFFIX),
                    OwnedValue::F64(ms as f64),
                );
            }
        }
        out.add_object(f.attr, attr);

        if let Some((name, version)) = run.dataset.rsplit_once('@') {
            let mut data = BTreeMap::from([
                ("name".to_string(), text(name)),
                ("hash".to_string(), text(&run.dataset_hash)),
            ]);
            if let Ok(v) = version.parse::<f64>() {
                data.insert("version".into(), OwnedValue::F64(v));
            }
            out.add_object(f.dataset, data);
        }
        out.add_object(
            f.param,
            run.params
                .iter()
                .filter_map(|(k, v)| Some((k.clone(), param_value(v)?)))
                .collect(),
        );
        // The run's tags, then MLflow's system tags from its own fields (which win, as in
        // the MLflow export).
        let mut tags: BTreeMap<String, OwnedValue> =
            run.tags.iter().map(|(k, v)| (k.clone(), text(v))).collect();
        for (k, v) in run.mlflow_system_tags() {
            tags.insert(k.to_string(), text(&v));
        }
        out.add_object(f.tag, tags);
        let pick: [fn(&MetricSummary) -> f64; 5] =
            [|m| m.last, |m| m.first, |m| m.min, |m| m.max, |m| m.mean];
        for (field, get) in f.metric.iter().zip(pick) {
            out.add_object(
                *field,
                doc.metrics
                    .iter()
                    .filter_map(|(k, m)| Some((k.clone(), number(get(m))?)))
                    .collect(),
            );
        }

        out.add_text(f.name_text, &run.name);
        out.add_text(f.note_text, &run.note);
        for (k, v) in &run.tags {
            out.add_text(f.tag_text, format!("{k} {v}"));
        }
        let mut other = format!(
            "{} {} {} {} {}",
            run.id, run.model, run.dataset, run.target, run.status
        );
        for (k, v) in &run.params {
            other.push_str(&format!(" {k} {v}"));
        }
        out.add_text(f.other_text, other);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::{RunId, RunStatus};

    struct Fixture {
        idx: SearchIndex,
    }

    fn summary(values: &[f64]) -> MetricSummary {
        MetricSummary {
            last: *values.last().unwrap(),
            first: values[0],
            min: values.iter().copied().fold(f64::INFINITY, f64::min),
            max: values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            mean: values.iter().sum::<f64>() / values.len() as f64,
            count: values.len() as u64,
        }
    }

    /// name, status, team tag, lr (NaN: the text `auto`), optimizer, val_acc history.
    type Spec<'a> = (&'a str, RunStatus, &'a str, f64, &'a str, &'a [f64]);

    /// Runs `r0` … `r5`, created in that order.
    fn fixture() -> Fixture {
        let specs: [Spec; 6] = [
            (
                "baseline-logreg",
                RunStatus::Finished,
                "risk",
                0.1,
                "adam",
                &[0.5, 0.8, 0.85],
            ),
            (
                "wide-sweep",
                RunStatus::Finished,
                "fraud",
                0.01,
                "sgd",
                &[0.6, 0.95, 0.9],
            ),
            (
                "deep mlp",
                RunStatus::Failed,
                "risk-eu",
                0.3,
                "adam",
                &[0.2],
            ),
            ("tiny", RunStatus::Killed, "Risk", 1.0, "sgd", &[]),
            (
                "auto-lr",
                RunStatus::Finished,
                "ops",
                f64::NAN,
                "adamw",
                &[0.7, 0.7],
            ),
            ("r5", RunStatus::Running, "ops", 0.05, "adam", &[0.99, 0.1]),
        ];
        let mut docs = Vec::new();
        for (i, (name, status, team, lr, opt, acc)) in specs.into_iter().enumerate() {
            let mut params = BTreeMap::from([
                ("optimizer".to_string(), ParamValue::Str(opt.into())),
                ("epochs".to_string(), ParamValue::Int(10 * (i as i64 + 1))),
                (
                    "layers".to_string(),
                    ParamValue::List(vec![ParamValue::Int(64)]),
                ),
                ("nesterov".to_string(), ParamValue::Bool(i % 2 == 0)),
                ("batch.size".to_string(), ParamValue::Int(32 << i)),
            ]);
            // `auto-lr` has a string learning rate: typed values stay typed.
            params.insert(
                "lr".into(),
                if lr.is_nan() {
                    ParamValue::Str("auto".into())
                } else {
                    ParamValue::Float(lr)
                },
            );
            let mut tags = BTreeMap::from([("team".to_string(), team.to_string())]);
            if i == 1 {
                tags.insert("owner".into(), "ana".into());
            }
            let metrics: BTreeMap<String, MetricSummary> = if acc.is_empty() {
                BTreeMap::new()
            } else {
                BTreeMap::from([("val_acc".to_string(), summary(acc))])
            };
            let run = Run {
                id: RunId::from_stored(format!(
                    "{:016x}{:016x}",
                    0x0190_0000_0000_0000u64 + i as u64,
                    i
                )),
                name: name.into(),
                status,
                model: if i < 2 {
                    "logistic".into()
                } else {
                    "mlp".into()
                },
                dataset: if i == 3 {
                    "adult@2".into()
                } else {
                    "penguins@1".into()
                },
                dataset_hash: format!("{i:064x}"),
                target: "y".into(),
                seed: 40 + i as u64,
                params,
                tags,
                metrics: metrics.iter().map(|(k, m)| (k.clone(), m.last)).collect(),
                created_at: format!("2026-11-23T10:0{i}:00Z"),
                // Each run but the running one ended 30 s after it started.
                finished_at: (status != RunStatus::Running)
                    .then(|| format!("2026-11-23T10:0{i}:30Z")),
                error: None,
                environment: serde_json::json!({"os": "linux"}),
                note: if i == 2 {
                    "Diverged after the warm-up; try gradient clipping".into()
                } else {
                    String::new()
                },
                parent_id: (i == 5).then(|| {
                    RunId::from_stored(format!("{:016x}{:016x}", 0x0190_0000_0000_0001u64, 1))
                }),
            };
            docs.push(RunDoc { run, metrics });
        }
        let mut idx = SearchIndex::in_ram().unwrap();
        // Two commits: results must not depend on segments.
        idx.upsert_runs(&docs[..3], 3).unwrap();
        idx.upsert_runs(&docs[3..], 6).unwrap();
        Fixture { idx }
    }

    impl Fixture {
        fn names(&self, q: &str) -> Vec<String> {
            let query = parse_query(q).unwrap_or_else(|e| panic!("{q}: {e}"));
            self.idx
                .search(&query, 100, 0)
                .unwrap_or_else(|e| panic!("{q}: {e}"))
                .runs
                .into_iter()
                .map(|r| r.name)
                .collect()
        }

        fn set(&self, q: &str) -> Vec<String> {
            let mut n = self.names(q);
            n.sort();
            n
        }

        /// The error of a query that fails to parse or to run.
        fn fails(&self, q: &str) -> String {
            match parse_query(q) {
                Err(e) => e.to_string(),
                Ok(query) => match self.idx.search(&query, 10, 0) {
                    Err(e) => e.to_string(),
                    Ok(found) => panic!("{q}: expected an error, found {} runs", found.total),
                },
            }
        }

        fn error(&self, q: &str) -> String {
            self.idx
                .search(&parse_query(q).unwrap(), 10, 0)
                .unwrap_err()
                .to_string()
        }
    }

    fn sorted(names: &[&str]) -> Vec<String> {
        let mut v: Vec<String> = names.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    }

    #[test]
    fn numeric_params_compare_as_numbers() {
        let f = fixture();
        // As strings "0.05" < "0.1" < "0.01"... would order differently; numbers do not.
        assert_eq!(f.set("params.lr < 0.1"), sorted(&["wide-sweep", "r5"]));
        assert_eq!(
            f.set("params.lr <= 0.1"),
            sorted(&["baseline-logreg", "wide-sweep", "r5"])
        );
        assert_eq!(f.set("params.lr > 0.2"), sorted(&["deep mlp", "tiny"]));
        assert_eq!(f.set("params.lr >= 1"), sorted(&["tiny"]));
        assert_eq!(f.set("params.lr = 0.01"), sorted(&["wide-sweep"]));
        // MLflow users quote numbers; a quoted number still compares as a number.
        assert_eq!(f.set("params.lr = '0.01'"), sorted(&["wide-sweep"]));
        assert_eq!(
            f.set("params.epochs >= 40"),
            sorted(&["tiny", "auto-lr", "r5"])
        );
        // A string param is compared as a string, and `!=` needs a value.
        assert_eq!(f.set("params.lr = 'auto'"), sorted(&["auto-lr"]));
        assert_eq!(f.set("params.lr != 0.01").len(), 5);
        assert_eq!(f.set("params.missing != 1"), Vec::<String>::new());
        assert_eq!(
            f.set("params.nesterov = true"),
            sorted(&["baseline-logreg", "deep mlp", "auto-lr"])
        );
        assert_eq!(f.set("params.layers = '[64]'").len(), 6);
        assert_eq!(
            f.set("params.`batch.size` > 256"),
            sorted(&["auto-lr", "r5"])
        );
    }

    #[test]
    fn strings_tags_attributes_and_data_sets() {
        let f = fixture();
        assert_eq!(
            f.set("params.optimizer = 'adam'"),
            sorted(&["baseline-logreg", "deep mlp", "r5"])
        );
        assert_eq!(
            f.set("params.optimizer != 'adam'"),
            sorted(&["wide-sweep", "tiny", "auto-lr"])
        );
        assert_eq!(
            f.set("params.optimizer IN ('sgd', 'adamw')"),
            sorted(&["wide-sweep", "tiny", "auto-lr"])
        );
        assert_eq!(
            f.set("params.optimizer NOT IN ('sgd', 'adamw')"),
            sorted(&["baseline-logreg", "deep mlp", "r5"])
        );
        assert_eq!(
            f.set("params.lr IN (0.1, 0.3, 'auto')"),
            sorted(&["baseline-logreg", "deep mlp", "auto-lr"])
        );
        assert_eq!(
            f.set("tags.team LIKE 'risk%'"),
            sorted(&["baseline-logreg", "deep mlp"])
        );
        assert_eq!(
            f.set("tags.team ILIKE 'risk%'"),
            sorted(&["baseline-logreg", "deep mlp", "tiny"])
        );
        assert_eq!(
            f.set("tags.team NOT LIKE 'risk%'"),
            sorted(&["wide-sweep", "tiny", "auto-lr", "r5"])
        );
        assert_eq!(f.set("tags.owner IS NULL").len(), 5);
        assert_eq!(f.set("tags.owner IS NOT NULL"), sorted(&["wide-sweep"]));
        assert_eq!(
            f.set("attributes.status = 'FINISHED'"),
            sorted(&["baseline-logreg", "wide-sweep", "auto-lr"])
        );
        assert_eq!(
            f.set("attributes.status IN ('failed', 'killed')"),
            sorted(&["deep mlp", "tiny"])
        );
        assert_eq!(f.set("attributes.run_name = 'tiny'"), sorted(&["tiny"]));
        assert_eq!(
            f.set("attributes.model = 'logistic'"),
            sorted(&["baseline-logreg", "wide-sweep"])
        );
        assert_eq!(f.set("attributes.seed > 43"), sorted(&["auto-lr", "r5"]));
        assert_eq!(
            f.set("attributes.created_at >= '2026-11-23T10:04:00Z'"),
            sorted(&["auto-lr", "r5"])
        );
        assert_eq!(f.set("attributes.parent_id IS NOT NULL"), sorted(&["r5"]));
        assert_eq!(f.set("datasets.name = 'adult'"), sorted(&["tiny"]));
        assert_eq!(f.set("datasets.version = 1").len(), 5);
        assert_eq!(
            f.set(&format!("datasets.hash = '{:064x}'", 4)),
            sorted(&["auto-lr"])
        );
    }

    #[test]
    fn metrics_and_aggregates_over_history() {
        let f = fixture();
        assert_eq!(
            f.set("metrics.val_acc > 0.8"),
            sorted(&["baseline-logreg", "wide-sweep"])
        );
        assert_eq!(
            f.set("max(metrics.val_acc) > 0.9"),
            sorted(&["wide-sweep", "r5"])
        );
        assert_eq!(
            f.set("min(metrics.val_acc) < 0.3"),
            sorted(&["deep mlp", "r5"])
        );
        assert_eq!(f.set("last(metrics.val_acc) = 0.1"), sorted(&["r5"]));
        assert_eq!(
            f.set("first(metrics.val_acc) = 0.6"),
            sorted(&["wide-sweep"])
        );
        assert_eq!(f.set("mean(metrics.val_acc) = 0.7"), sorted(&["auto-lr"]));
        assert_eq!(f.set("metrics.val_acc IS NULL"), sorted(&["tiny"]));
        let err = f.error("metrics.val_acc > 'high'");
        assert!(err.contains("metrics.val_acc is a number"), "{err}");
    }

    #[test]
    fn boolean_logic_and_precedence() {
        let f = fixture();
        assert_eq!(
            f.set("params.optimizer = 'sgd' OR tags.team = 'ops' AND params.lr < 0.1"),
            sorted(&["wide-sweep", "tiny", "r5"])
        );
        assert_eq!(
            f.set("(params.optimizer = 'sgd' OR tags.team = 'ops') AND params.lr < 0.1"),
            sorted(&["wide-sweep", "r5"])
        );
        // NOT negates the whole condition: runs without the key match `NOT key = v`.
        assert_eq!(
            f.set("NOT metrics.val_acc > 0.8"),
            sorted(&["deep mlp", "tiny", "auto-lr", "r5"])
        );
        assert_eq!(
            f.set("NOT (attributes.status = 'finished' OR attributes.status = 'running')"),
            sorted(&["deep mlp", "tiny"])
        );
    }

    #[test]
    fn free_text_matches_names_notes_tags_and_mixes_with_filters() {
        let f = fixture();
        assert_eq!(f.set("sweep"), sorted(&["wide-sweep"]));
        assert_eq!(f.set("clipping"), sorted(&["deep mlp"]));
        assert_eq!(f.set("\"gradient clipping\""), sorted(&["deep mlp"]));
        assert_eq!(f.set("\"clipping gradient\""), Vec::<String>::new());
        assert_eq!(f.set("ana"), sorted(&["wide-sweep"]));
        assert_eq!(
            f.set("risk"),
            sorted(&["baseline-logreg", "deep mlp", "tiny"])
        );
        assert_eq!(
            f.set("risk AND params.lr < 0.5"),
            sorted(&["baseline-logreg", "deep mlp"])
        );
        assert_eq!(
            f.set("risk params.lr < 0.5"),
            sorted(&["baseline-logreg", "deep mlp"])
        );
        assert_eq!(
            f.set("sweep OR attributes.status = 'killed'"),
            sorted(&["wide-sweep", "tiny"])
        );
        assert_eq!(f.set("NOT risk").len(), 3);
        assert!(f.set("nothing-like-this").is_empty());
    }

    #[test]
    fn order_by_any_key_with_missing_values_last_and_paging() {
        let f = fixture();
        assert_eq!(
            f.names("ORDER BY metrics.val_acc DESC"),
            [
                "wide-sweep",
                "baseline-logreg",
                "auto-lr",
                "deep mlp",
                "r5",
                "tiny"
            ]
        );
        assert_eq!(
            f.names("ORDER BY metrics.val_acc ASC"),
            [
                "r5",
                "deep mlp",
                "auto-lr",
                "baseline-logreg",
                "wide-sweep",
                "tiny"
            ]
        );
        assert_eq!(
            f.names("ORDER BY max(metrics.val_acc) DESC LIMIT 2"),
            ["r5", "wide-sweep"]
        );
        // Numbers before strings: `auto` comes after every numeric lr.
        assert_eq!(
            f.names("ORDER BY params.lr"),
            [
                "wide-sweep",
                "r5",
                "baseline-logreg",
                "deep mlp",
                "tiny",
                "auto-lr"
            ]
        );
        assert_eq!(
            f.names("ORDER BY params.optimizer, params.lr DESC"),
            [
                "deep mlp",
                "baseline-logreg",
                "r5",
                "auto-lr",
                "tiny",
                "wide-sweep"
            ]
        );
        assert_eq!(
            f.names("ORDER BY attributes.name LIMIT 2 OFFSET 1"),
            ["baseline-logreg", "deep mlp"]
        );
        // Without ORDER BY: newest first.
        assert_eq!(f.names("")[0], "r5");
        let q = parse_query("params.optimizer = 'adam'").unwrap();
        let page = f.idx.search(&q, 1, 1).unwrap();
        assert_eq!(page.total, 3);
        assert_eq!(page.runs.len(), 1);
        assert_eq!(page.runs[0].name, "deep mlp");
        assert_eq!(page.runs[0].params["lr"], ParamValue::Float(0.3));
        assert_eq!(
            page.runs[0].note,
            "Diverged after the warm-up; try gradient clipping"
        );
    }

    // The expected answers below are MLflow 3.17's for the same six runs logged to an MLflow
    // file store (start 10:0i:00 UTC, end 30 s later but for the running r5).
    const R0_START_MS: i64 = 1_795_428_000_000;

    #[test]
    fn mlflow_backticked_entity_types() {
        let f = fixture();
        assert_eq!(
            f.set("`metric`.val_acc >= 0.8"),
            sorted(&["baseline-logreg", "wide-sweep"])
        );
        assert_eq!(
            f.set("`metrics`.`val_acc` < 0.5"),
            sorted(&["deep mlp", "r5"])
        );
        assert_eq!(f.set("`params`.optimizer = 'adamw'"), sorted(&["auto-lr"]));
        assert_eq!(f.set("`tags`.team = 'Risk'"), sorted(&["tiny"]));
        assert_eq!(
            f.set("`attributes`.status = 'FINISHED'"),
            sorted(&["baseline-logreg", "wide-sweep", "auto-lr"])
        );
    }

    #[test]
    fn mlflow_attribute_spellings_and_bare_names() {
        let f = fixture();
        for q in [
            "attributes.`Run name` = 'tiny'",
            "attributes.`run name` = 'tiny'",
            "`run name` = 'tiny'",
            "`Run Name` = 'tiny'",
            "run_name = 'tiny'",
            "attribute.run_name = 'tiny'",
            "attr.run_name = 'tiny'",
            "tags.mlflow.runName = 'tiny'",
            "tags.`mlflow.runName` = 'tiny'",
        ] {
            assert_eq!(f.set(q), sorted(&["tiny"]), "{q}");
        }
        let r1 = format!("{:016x}{:016x}", 0x0190_0000_0000_0001u64, 1);
        assert_eq!(
            f.set(&format!("run_name = 'r5' AND run_id IN ('{r1}', 'x')")),
            Vec::<String>::new()
        );
        assert_eq!(
            f.set(&format!("run_id IN ('{r1}') OR run_name LIKE 'ti%'")),
            sorted(&["wide-sweep", "tiny"])
        );
        assert_eq!(f.set("status != 'FINISHED' AND model = 'mlp'").len(), 3);
        // A bare word before an operator is an attribute; anywhere else it is free text.
        assert_eq!(f.set("clipping"), sorted(&["deep mlp"]));
        assert_eq!(f.set("clipping status = 'FAILED'"), sorted(&["deep mlp"]));
        let e = f.fails("lr > 0.1");
        assert!(
            e.contains("no attribute `lr`") && e.contains("params.lr"),
            "{e}"
        );
        // After ORDER BY every name is a key.
        assert_eq!(
            f.names("ORDER BY run_name ASC"),
            [
                "auto-lr",
                "baseline-logreg",
                "deep mlp",
                "r5",
                "tiny",
                "wide-sweep"
            ]
        );
        // MLflow's system tags answer from the run's own fields.
        assert_eq!(
            f.set(&format!("tags.mlflow.parentRunId = '{r1}'")),
            sorted(&["r5"])
        );
        assert_eq!(
            f.set("tags.`mlflow.note.content` LIKE '%clipping%'"),
            sorted(&["deep mlp"])
        );
    }

    #[test]
    fn mlflow_times_compare_as_epoch_milliseconds() {
        let f = fixture();
        let cases: Vec<(String, Vec<String>)> = vec![
            (
                format!("created >= {}", R0_START_MS + 240_000),
                sorted(&["auto-lr", "r5"]),
            ),
            (
                format!("Created < {}", R0_START_MS + 120_000),
                sorted(&["baseline-logreg", "wide-sweep"]),
            ),
            (
                format!("attributes.start_time = {}", R0_START_MS + 120_000),
                sorted(&["deep mlp"]),
            ),
            (
                format!("end_time <= {}", R0_START_MS + 90_000),
                sorted(&["baseline-logreg", "wide-sweep"]),
            ),
            (
                "end_time > 0".into(),
                sorted(&[
                    "baseline-logreg",
                    "wide-sweep",
                    "deep mlp",
                    "tiny",
                    "auto-lr",
                ]),
            ),
            // Cairn's own spellings: RFC 3339 text and dates.
            (
                "attributes.created_at >= '2026-11-23T10:04:00Z'".into(),
                sorted(&["auto-lr", "r5"]),
            ),
            (
                "created_at < '2026-11-23T11:01:00+01:00'".into(),
                sorted(&["baseline-logreg"]),
            ),
            ("start_time < '2026-11-23'".into(), vec![]),
            (
                format!("start_time IN ({}, {})", R0_START_MS, R0_START_MS + 300_000),
                sorted(&["baseline-logreg", "r5"]),
            ),
        ];
        for (q, want) in cases {
            assert_eq!(f.set(&q), want, "{q}");
        }
        assert_eq!(
            f.names("ORDER BY start_time DESC"),
            [
                "r5",
                "auto-lr",
                "tiny",
                "deep mlp",
                "wide-sweep",
                "baseline-logreg"
            ]
        );
        // A run without an end sorts last, as in MLflow.
        assert_eq!(
            f.names("ORDER BY end_time DESC"),
            [
                "auto-lr",
                "tiny",
                "deep mlp",
                "wide-sweep",
                "baseline-logreg",
                "r5"
            ]
        );
        assert_eq!(
            f.names("ORDER BY attributes.`end_time` ASC"),
            [
                "baseline-logreg",
                "wide-sweep",
                "deep mlp",
                "tiny",
                "auto-lr",
                "r5"
            ]
        );
    }

    #[test]
    fn type_mismatches_are_errors_naming_the_column() {
        let f = fixture();
        let cases = [
            (
                "start_time > 'yesterday'",
                "attributes.start_time is a time",
            ),
            ("end_time = true", "attributes.end_time is a time"),
            ("tags.team = 2024", "tags.team is text; quote the value"),
            ("attributes.status = 1", "attributes.status is text"),
            ("metrics.val_acc = 'high'", "metrics.val_acc is a number"),
            (
                "metrics.val_acc LIKE '0.9%'",
                "metrics.val_acc is a number and LIKE",
            ),
            (
                "attributes.seed LIKE '4%'",
                "attributes.seed is a number and LIKE",
            ),
            ("datasets.version = 'one'", "datasets.version is a number"),
            (
                "models.alias = 'production'",
                "`models.alias` filters registered model versions, not runs",
            ),
            ("models.version > 1", "cairn registry search"),
        ];
        for (q, want) in cases {
            let e = f.fails(q);
            assert!(e.contains(want), "{q}: {e}");
        }
        // A param is a number in one run and text in another: both readings stay open, and
        // `!=` returns the runs of the other type too (as MLflow, which compares text).
        assert_eq!(f.set("params.lr != '0.01'").len(), 5);
        assert!(
            f.set("params.lr != '0.01'")
                .contains(&"auto-lr".to_string())
        );
        assert_eq!(f.set("params.lr = 'fast'"), Vec::<String>::new());
    }

    #[test]
    fn meaningless_queries_are_explained() {
        let f = fixture();
        assert!(
            f.error("attributes.colour = 'red'")
                .contains("no attribute `colour`")
        );
        assert!(f.error("datasets.rows > 3").contains("datasets.name"));
    }

    #[test]
    fn upsert_replaces_and_rebuild_resets() {
        let f = fixture();
        let mut idx = f.idx;
        let q = parse_query("").unwrap();
        let mut first = idx.search(&q, 10, 0).unwrap().runs.pop().unwrap();
        first.name = "renamed".into();
        idx.upsert_runs(
            &[RunDoc {
                run: first,
                metrics: BTreeMap::new(),
            }],
            7,
        )
        .unwrap();
        assert_eq!(idx.num_docs(), 6);
        assert_eq!(idx.indexed_seq().unwrap(), 7);
        let hits = idx.search(&parse_query("renamed").unwrap(), 10, 0).unwrap();
        assert_eq!(hits.total, 1);
        idx.rebuild(&[], 8).unwrap();
        assert_eq!(idx.num_docs(), 0);
        assert_eq!(idx.indexed_seq().unwrap(), 8);
    }

    #[test]
    fn an_index_of_another_layout_is_refused_so_it_gets_rebuilt() {
        let dir = tempfile::tempdir().unwrap();
        {
            let mut idx = SearchIndex::open(dir.path()).unwrap();
            idx.rebuild(&[], 5).unwrap();
        }
        assert_eq!(
            SearchIndex::open(dir.path())
                .unwrap()
                .indexed_seq()
                .unwrap(),
            5
        );
        {
            let idx = SearchIndex::open(dir.path()).unwrap();
            let mut writer = idx.writer;
            writer.delete_all_documents().unwrap();
            let mut prepared = writer.prepare_commit().unwrap();
            prepared.set_payload("1:5");
            prepared.commit().unwrap();
        }
        let err = SearchIndex::open(dir.path()).err().unwrap().to_string();
        assert!(err.contains("another version"), "{err}");
    }
}
