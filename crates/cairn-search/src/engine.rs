//! Evaluating a parsed [`Query`] against the index.
//!
//! Structured conditions (`metrics.acc > 0.9`, `params.opt IN ('adam', 'sgd')`, `tags.team LIKE
//! 'risk%'`, `IS NULL`) are predicates over the fast (columnar) JSON fields; free-text words and
//! phrases are tantivy text queries over names, notes, tags and the rest. `AND`, `OR` and `NOT`
//! become tantivy boolean queries over both, so one query mixes them freely. Sorting reads the
//! same columns; runs without a sort key's value come last in either direction.

use crate::{Fields, SearchError};
use cairn_core::query::{Aggregate, CompareOp, Expr, Key, Literal, Namespace, OrderKey};
use std::cmp::Ordering;
use std::sync::Arc;
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::columnar::{Column, StrColumn};
use tantivy::query::doc_predicate_query::{DocPredicateQuery, FunctionPredicate};
use tantivy::query::{AllQuery, BooleanQuery, EmptyQuery, Occur, Query, QueryParser};
use tantivy::{DocAddress, DocId, Index, Score, SegmentOrdinal, SegmentReader};

/// `attributes.*` names and the aliases MLflow users type.
pub const ATTRIBUTES: &[&str] = &[
    "id",
    "name",
    "status",
    "model",
    "dataset",
    "target",
    "seed",
    "created_at",
    "finished_at",
    "parent_id",
    "note",
    "error",
];

/// `datasets.*` names.
pub const DATASET_KEYS: &[&str] = &["name", "version", "hash"];

fn attribute(name: &str) -> Option<&'static str> {
    let canonical = match name.to_ascii_lowercase().as_str() {
        "run_id" | "run_uuid" => "id",
        "run_name" | "run name" => "name",
        "start_time" | "created" => "created_at",
        "end_time" => "finished_at",
        "parent_run_id" => "parent_id",
        other => return ATTRIBUTES.iter().find(|a| **a == other).copied(),
    };
    Some(canonical)
}

/// The type of the values a key holds, which decides what it may be compared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyType {
    /// Metrics, `attributes.seed`, `datasets.version`.
    Number,
    /// Tags and the other attributes and data set keys.
    Text,
    /// `attributes.created_at` and `finished_at`: RFC 3339 text, compared as instants.
    Time,
    /// Params: a number in one run, text in another.
    Mixed,
}

fn key_type(key: &Key) -> Result<KeyType, SearchError> {
    Ok(match key.namespace {
        Namespace::Metric => KeyType::Number,
        Namespace::Param => KeyType::Mixed,
        Namespace::Tag => KeyType::Text,
        Namespace::Model => return Err(models_are_not_runs(key)),
        Namespace::Attribute | Namespace::Dataset => {
            match column_name(key)?.rsplit('.').next().unwrap_or_default() {
                "seed" | "version" => KeyType::Number,
                "created_at" | "finished_at" => KeyType::Time,
                _ => KeyType::Text,
            }
        }
    })
}

/// The column of a time attribute's epoch milliseconds (the attribute's own column holds
/// its RFC 3339 text).
fn millis_column(key: &Key) -> Result<Option<String>, SearchError> {
    Ok(match key_type(key)? {
        KeyType::Time => Some(format!("{}{MILLIS_SUFFIX}", column_name(key)?)),
        _ => None,
    })
}

/// Appended to a time attribute's name for its epoch-milliseconds column (`created_at_ms`).
pub(crate) const MILLIS_SUFFIX: &str = "_ms";

/// The column to sort a key by: a time's milliseconds, else the key's own column.
fn sort_column(key: &Key) -> Result<String, SearchError> {
    match millis_column(key)? {
        Some(c) => Ok(c),
        None => column_name(key),
    }
}

/// The fast-field column name of a key: `param.lr`, `m_max.val_acc`, with dots and backslashes
/// in the key escaped (a key is one JSON path segment).
pub(crate) fn column_name(key: &Key) -> Result<String, SearchError> {
    let field = match key.namespace {
        Namespace::Metric => match key.aggregate.unwrap_or(Aggregate::Last) {
            Aggregate::Last => "m_last",
            Aggregate::First => "m_first",
            Aggregate::Min => "m_min",
            Aggregate::Max => "m_max",
            Aggregate::Mean => "m_mean",
        },
        Namespace::Param => "param",
        Namespace::Tag => "tag",
        Namespace::Attribute => "attr",
        Namespace::Dataset => "dataset",
        Namespace::Model => return Err(models_are_not_runs(key)),
    };
    let name = match key.namespace {
        Namespace::Attribute => attribute(&key.name).ok_or_else(|| {
            SearchError::semantic(format!(
                "there is no attribute `{name}`; attributes are {} (a name before an operator, \
                 without a prefix, is an attribute: write metrics.{name}, params.{name} or \
                 tags.{name} for those)",
                ATTRIBUTES.join(", "),
                name = key.name,
            ))
        })?,
        Namespace::Dataset => DATASET_KEYS
            .iter()
            .find(|k| k.eq_ignore_ascii_case(&key.name))
            .copied()
            .ok_or_else(|| {
                SearchError::semantic(format!(
                    "there is no `datasets.{}`; use datasets.name, datasets.version or datasets.hash",
                    key.name
                ))
            })?,
        _ => key.name.as_str(),
    };
    Ok(format!("{field}.{}", escape_path(name)))
}

/// Runs carry no `models.*` keys: those filter model versions.
fn models_are_not_runs(key: &Key) -> SearchError {
    SearchError::semantic(format!(
        "`models.{}` filters registered model versions, not runs: search them with `cairn \
         registry search` (`cairn search` lists the model versions a query matches after the runs)",
        key.name
    ))
}

fn escape_path(segment: &str) -> String {
    segment.replace('\\', "\\\\").replace('.', "\\.")
}

fn display_key(key: &Key) -> String {
    let ns = match key.namespace {
        Namespace::Metric => "metrics",
        Namespace::Param => "params",
        Namespace::Tag => "tags",
        Namespace::Attribute => "attributes",
        Namespace::Dataset => "datasets",
        Namespace::Model => "models",
    };
    let plain = format!("{ns}.{}", key.name);
    match key.aggregate {
        None => plain,
        Some(a) => format!("{}({plain})", format!("{a:?}").to_lowercase()),
    }
}

type NumTest = Arc<dyn Fn(f64) -> bool + Send + Sync>;
type StrTest = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// A condition on one key: which values pass, by type. A key holds a number or a string in
/// each run (bools and lists are indexed as strings).
#[derive(Clone)]
struct Condition {
    column: String,
    num: Option<NumTest>,
    text: Option<StrTest>,
    /// Pass runs that have no value for the key (`IS NULL`), instead of runs that do.
    when_missing: bool,
}

fn compare<T: PartialOrd + ?Sized>(a: &T, op: CompareOp, b: &T) -> bool {
    match op {
        CompareOp::Eq => a == b,
        CompareOp::Ne => a != b,
        CompareOp::Lt => a < b,
        CompareOp::Le => a <= b,
        CompareOp::Gt => a > b,
        CompareOp::Ge => a >= b,
    }
}

/// A text literal as a number when it reads as one (`params.lr = '0.01'`, MLflow's habit).
fn numeric_text(text: &str) -> Option<f64> {
    text.trim().parse::<f64>().ok().filter(|v| v.is_finite())
}

/// Status values are stored lower-case; MLflow users write `'FINISHED'`.
fn normalise(key: &Key, text: &str) -> String {
    if key.namespace == Namespace::Attribute && attribute(&key.name) == Some("status") {
        text.to_ascii_lowercase()
    } else {
        text.to_string()
    }
}

fn show_literal(lit: &Literal) -> String {
    match lit {
        Literal::Text(t) => format!("'{t}'"),
        Literal::Bool(b) => b.to_string(),
        Literal::Number(n) => n.to_string(),
    }
}

/// The text a literal matches, if any; a number against a key that only holds text is an
/// error (it could never match).
fn literal_text(key: &Key, lit: &Literal) -> Result<Option<String>, SearchError> {
    Ok(match lit {
        Literal::Number(n) => {
            if key_type(key)? == KeyType::Text {
                return Err(SearchError::semantic(format!(
                    "{} is text; quote the value: {} = '{n}'",
                    display_key(key),
                    display_key(key)
                )));
            }
            None
        }
        Literal::Text(t) => Some(normalise(key, t)),
        Literal::Bool(b) => Some(b.to_string()),
    })
}

/// The number a literal matches, if any; text that is not a number against a key that only
/// holds numbers is an error (it could never match). A time attribute takes epoch
/// milliseconds (a number, quoted or not) or RFC 3339 text, and nothing else.
fn literal_number(key: &Key, lit: &Literal) -> Result<Option<f64>, SearchError> {
    let kind = key_type(key)?;
    let n = match lit {
        Literal::Number(n) => Some(*n),
        Literal::Text(t) => numeric_text(t).or_else(|| {
            (kind == KeyType::Time)
                .then(|| cairn_core::epoch_millis(t).map(|ms| ms as f64))
                .flatten()
        }),
        Literal::Bool(_) => None,
    };
    if n.is_none() {
        match kind {
            KeyType::Number => {
                return Err(SearchError::semantic(format!(
                    "{} is a number; compare it with a number, not {}",
                    display_key(key),
                    show_literal(lit)
                )));
            }
            KeyType::Time => {
                return Err(SearchError::semantic(format!(
                    "{} is a time; compare it with epoch milliseconds (1795428000000) or RFC \
                     3339 text ('2026-11-23T10:00:00Z', or a date '2026-11-23'), not {}",
                    display_key(key),
                    show_literal(lit)
                )));
            }
            KeyType::Text | KeyType::Mixed => {}
        }
    }
    Ok(n)
}

/// A condition's column and the text literals it matches: a time attribute compares by its
/// milliseconds only, every other key by its own column and both types.
fn typed_column(key: &Key) -> Result<(String, bool), SearchError> {
    Ok(match millis_column(key)? {
        Some(ms) => (ms, false),
        None => (column_name(key)?, true),
    })
}

impl Condition {
    fn compare(key: &Key, op: CompareOp, value: &Literal) -> Result<Condition, SearchError> {
        // `a != b` is "a has a value and it is not b": negate equality below, keep presence.
        let eq_op = if op == CompareOp::Ne {
            CompareOp::Eq
        } else {
            op
        };
        let (column, by_text) = typed_column(key)?;
        let num = literal_number(key, value)?
            .map(|n| -> NumTest { Arc::new(move |v: f64| compare(&v, eq_op, &n)) });
        let text = if by_text {
            literal_text(key, value)?
                .map(|t| -> StrTest { Arc::new(move |v: &str| compare(v, eq_op, t.as_str())) })
        } else {
            None
        };
        let cond = Condition {
            column,
            num,
            text,
            when_missing: false,
        };
        Ok(if op == CompareOp::Ne {
            cond.negated()
        } else {
            cond
        })
    }

    fn one_of(key: &Key, values: &[Literal], negated: bool) -> Result<Condition, SearchError> {
        let (column, by_text) = typed_column(key)?;
        let mut nums = Vec::new();
        let mut texts = Vec::new();
        for v in values {
            nums.extend(literal_number(key, v)?);
            if by_text {
                texts.extend(literal_text(key, v)?);
            }
        }
        let cond = Condition {
            column,
            num: Some(Arc::new(move |v: f64| nums.contains(&v))),
            text: Some(Arc::new(move |v: &str| texts.iter().any(|t| t == v))),
            when_missing: false,
        };
        Ok(if negated { cond.negated() } else { cond })
    }

    fn like(
        key: &Key,
        pattern: &str,
        case_insensitive: bool,
        negated: bool,
    ) -> Result<Condition, SearchError> {
        if key_type(key)? == KeyType::Number {
            return Err(SearchError::semantic(format!(
                "{} is a number and LIKE matches text; compare it with =, <, <=, >, >= or IN",
                display_key(key)
            )));
        }
        let pattern = normalise(key, pattern);
        let matcher = LikePattern::new(&pattern, case_insensitive);
        let cond = Condition {
            column: column_name(key)?,
            num: None,
            text: Some(Arc::new(move |v: &str| matcher.matches(v))),
            when_missing: false,
        };
        Ok(if negated {
            // NOT LIKE: string values that do not match.
            Condition {
                num: None,
                ..cond.negated()
            }
        } else {
            cond
        })
    }

    fn is_null(key: &Key, negated: bool) -> Result<Condition, SearchError> {
        Ok(Condition {
            column: column_name(key)?,
            num: Some(Arc::new(|_| true)),
            text: Some(Arc::new(|_| true)),
            when_missing: !negated,
        })
    }

    /// Present and failing the test.
    fn negated(self) -> Condition {
        let num = self.num.clone();
        let text = self.text.clone();
        Condition {
            column: self.column,
            num: Some(Arc::new(move |v| !num.as_ref().is_some_and(|t| t(v)))),
            text: Some(Arc::new(move |v| !text.as_ref().is_some_and(|t| t(v)))),
            when_missing: false,
        }
    }

    fn into_query(self) -> Box<dyn Query> {
        let cond = Arc::new(self);
        let predicate = FunctionPredicate::from(move |segment: &SegmentReader| {
            let columns = SegmentColumns::open(segment, &cond.column)?;
            let passes = columns.text_passes(cond.text.as_deref())?;
            let cond = cond.clone();
            Ok(move |doc: DocId| {
                let num = columns.num.as_ref().and_then(|c| c.first(doc));
                let ord = columns.ords(doc);
                if num.is_none() && ord.is_none() {
                    return cond.when_missing;
                }
                if cond.when_missing {
                    return false;
                }
                num.is_some_and(|v| cond.num.as_ref().is_some_and(|t| t(v)))
                    || ord.is_some_and(|o| passes.get(o as usize).copied().unwrap_or(false))
            })
        });
        Box::new(DocPredicateQuery::from(predicate))
    }
}

/// A key's columns in one segment: its numbers and its strings (either may be absent).
struct SegmentColumns {
    num: Option<Column<f64>>,
    text: Option<StrColumn>,
}

impl SegmentColumns {
    fn open(segment: &SegmentReader, column: &str) -> tantivy::Result<SegmentColumns> {
        let fast = segment.fast_fields();
        Ok(SegmentColumns {
            num: fast.column_opt::<f64>(column)?,
            text: fast.str(column)?,
        })
    }

    fn ords(&self, doc: DocId) -> Option<u64> {
        self.text.as_ref().and_then(|c| c.ords().first(doc))
    }

    /// For each distinct string of the segment (by term ordinal), whether it passes.
    fn text_passes(
        &self,
        test: Option<&(dyn Fn(&str) -> bool + Send + Sync)>,
    ) -> tantivy::Result<Vec<bool>> {
        let (Some(column), Some(test)) = (&self.text, test) else {
            return Ok(Vec::new());
        };
        let dict = column.dictionary();
        let mut passes = vec![false; dict.num_terms()];
        let mut stream = dict.stream()?;
        while stream.advance() {
            let ord = stream.term_ord() as usize;
            if let Ok(s) = std::str::from_utf8(stream.key()) {
                passes[ord] = test(s);
            }
        }
        Ok(passes)
    }

    fn string(&self, doc: DocId) -> Option<String> {
        let ord = self.ords(doc)?;
        let mut out = String::new();
        self.text.as_ref()?.ord_to_str(ord, &mut out).ok()?;
        Some(out)
    }
}

/// SQL `LIKE`: `%` any run of characters, `_` exactly one; `\%`, `\_` and `\\` are literal.
struct LikePattern {
    tokens: Vec<LikeToken>,
    case_insensitive: bool,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum LikeToken {
    Any,
    One,
    Char(char),
}

impl LikePattern {
    fn new(pattern: &str, case_insensitive: bool) -> LikePattern {
        let mut tokens = Vec::new();
        let mut chars = pattern.chars();
        while let Some(c) = chars.next() {
            tokens.push(match c {
                '%' => LikeToken::Any,
                '_' => LikeToken::One,
                '\\' => LikeToken::Char(chars.next().unwrap_or('\\')),
                c if case_insensitive => LikeToken::Char(lower(c)),
                c => LikeToken::Char(c),
            });
        }
        LikePattern {
            tokens,
            case_insensitive,
        }
    }

    fn matches(&self, text: &str) -> bool {
        let chars: Vec<char> = if self.case_insensitive {
            text.chars().map(lower).collect()
        } else {
            text.chars().collect()
        };
        // Greedy match with backtracking to the last `%`: linear in practice.
        let (mut t, mut p) = (0usize, 0usize);
        let mut star: Option<(usize, usize)> = None;
        while t < chars.len() {
            match self.tokens.get(p) {
                Some(LikeToken::Any) => {
                    star = Some((p, t));
                    p += 1;
                }
                Some(LikeToken::One) => {
                    t += 1;
                    p += 1;
                }
                Some(LikeToken::Char(c)) if *c == chars[t] => {
                    t += 1;
                    p += 1;
                }
                _ => match star {
                    Some((sp, st)) => {
                        p = sp + 1;
                        t = st + 1;
                        star = Some((sp, st + 1));
                    }
                    None => return false,
                },
            }
        }
        self.tokens[p..].iter().all(|k| *k == LikeToken::Any)
    }
}

fn lower(c: char) -> char {
    c.to_lowercase().next().unwrap_or(c)
}

/// Compiles a filter into a tantivy query.
pub(crate) fn compile(
    expr: &Expr,
    index: &Index,
    fields: &Fields,
) -> Result<Box<dyn Query>, SearchError> {
    let many = |items: &[Expr], occur: Occur| -> Result<Box<dyn Query>, SearchError> {
        let clauses = items
            .iter()
            .map(|e| Ok((occur, compile(e, index, fields)?)))
            .collect::<Result<Vec<_>, SearchError>>()?;
        Ok(Box::new(BooleanQuery::new(clauses)))
    };
    Ok(match expr {
        Expr::And(items) => many(items, Occur::Must)?,
        Expr::Or(items) => many(items, Occur::Should)?,
        Expr::Not(inner) => Box::new(BooleanQuery::new(vec![
            (Occur::Must, Box::new(AllQuery) as Box<dyn Query>),
            (Occur::MustNot, compile(inner, index, fields)?),
        ])),
        Expr::Compare { key, op, value } => Condition::compare(key, *op, value)?.into_query(),
        Expr::In {
            key,
            values,
            negated,
        } => Condition::one_of(key, values, *negated)?.into_query(),
        Expr::IsNull { key, negated } => Condition::is_null(key, *negated)?.into_query(),
        Expr::Like {
            key,
            pattern,
            case_insensitive,
            negated,
        } => Condition::like(key, pattern, *case_insensitive, *negated)?.into_query(),
        Expr::Text(words) => text_query(words, index, fields)?,
    })
}

/// A word or phrase against names, notes, tags and the other text (model, data set, params).
fn text_query(words: &str, index: &Index, fields: &Fields) -> Result<Box<dyn Query>, SearchError> {
    let cleaned: String = words
        .chars()
        .map(|c| if c == '"' || c == '\\' { ' ' } else { c })
        .collect();
    if cleaned.trim().is_empty() {
        return Ok(Box::new(EmptyQuery));
    }
    let parser = QueryParser::for_index(index, fields.text_fields());
    parser
        .parse_query(&format!("\"{}\"", cleaned.trim()))
        .map_err(|e| SearchError::semantic(format!("cannot search for `{words}`: {e}")))
}

pub(crate) fn has_text(expr: &Expr) -> bool {
    match expr {
        Expr::And(items) | Expr::Or(items) => items.iter().any(has_text),
        Expr::Not(inner) => has_text(inner),
        Expr::Text(_) => true,
        _ => false,
    }
}

/// A value to sort by. Numbers sort before strings; a run without the value sorts last.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum SortValue {
    Num(f64),
    Str(String),
    Missing,
}

fn cmp_values(a: &SortValue, b: &SortValue, descending: bool) -> Ordering {
    use SortValue::*;
    let ord = match (a, b) {
        (Missing, Missing) => return Ordering::Equal,
        (Missing, _) => return Ordering::Greater,
        (_, Missing) => return Ordering::Less,
        (Num(x), Num(y)) => x.total_cmp(y),
        (Str(x), Str(y)) => x.cmp(y),
        (Num(_), Str(_)) => Ordering::Less,
        (Str(_), Num(_)) => Ordering::Greater,
    };
    if descending { ord.reverse() } else { ord }
}

/// How results are ordered: the query's `ORDER BY` keys, then relevance when the query has
/// free text, then newest first.
pub(crate) struct SortPlan {
    keys: Vec<(String, bool)>,
    by_score: bool,
}

impl SortPlan {
    pub(crate) fn new(order_by: &[OrderKey], by_score: bool) -> Result<SortPlan, SearchError> {
        let keys = order_by
            .iter()
            .map(|o| Ok((sort_column(&o.key)?, o.descending)))
            .collect::<Result<_, SearchError>>()?;
        Ok(SortPlan { keys, by_score })
    }
}

/// One matching run: where its sort values are, its score and creation order.
struct Candidate {
    score: Score,
    /// The run's start in epoch milliseconds (`created_key`): newest first breaks ties.
    created: u64,
    address: DocAddress,
    /// Index of its first sort value in its segment's `values`.
    at: usize,
}

/// What a segment found: its matches, and their sort values side by side (one flat vector,
/// `keys` values per match, so collecting allocates nothing per run).
pub(crate) struct SegmentFound {
    candidates: Vec<Candidate>,
    values: Vec<SortValue>,
}

/// The ordered page of matches and how many matched in all.
pub(crate) struct Page {
    pub(crate) total: usize,
    pub(crate) addresses: Vec<DocAddress>,
}

/// Collects every matching run's sort values, counts them, and selects the page
/// `offset .. offset + limit` without sorting what falls outside it.
pub(crate) struct SortingCollector {
    pub(crate) plan: SortPlan,
    pub(crate) offset: usize,
    pub(crate) limit: usize,
}

pub(crate) struct SegmentSorting {
    segment: SegmentOrdinal,
    columns: Vec<SegmentColumns>,
    created: Option<Column<u64>>,
    found: SegmentFound,
}

impl Collector for SortingCollector {
    type Fruit = Page;
    type Child = SegmentSorting;

    fn for_segment(
        &self,
        segment: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SegmentSorting> {
        let columns = self
            .plan
            .keys
            .iter()
            .map(|(name, _)| SegmentColumns::open(reader, name))
            .collect::<tantivy::Result<_>>()?;
        Ok(SegmentSorting {
            segment,
            columns,
            created: reader.fast_fields().column_opt::<u64>("created")?,
            found: SegmentFound {
                candidates: Vec::new(),
                values: Vec::new(),
            },
        })
    }

    fn requires_scoring(&self) -> bool {
        self.plan.by_score
    }

    fn merge_fruits(&self, fruits: Vec<SegmentFound>) -> tantivy::Result<Page> {
        let n = self.plan.keys.len();
        let mut all: Vec<(usize, &Candidate)> = fruits
            .iter()
            .enumerate()
            .flat_map(|(s, f)| f.candidates.iter().map(move |c| (s, c)))
            .collect();
        let total = all.len();
        let cmp = |a: &(usize, &Candidate), b: &(usize, &Candidate)| {
            let va = &fruits[a.0].values[a.1.at..a.1.at + n];
            let vb = &fruits[b.0].values[b.1.at..b.1.at + n];
            for ((x, y), (_, descending)) in va.iter().zip(vb).zip(&self.plan.keys) {
                let o = cmp_values(x, y, *descending);
                if o != Ordering::Equal {
                    return o;
                }
            }
            if self.plan.by_score {
                let o = b.1.score.total_cmp(&a.1.score);
                if o != Ordering::Equal {
                    return o;
                }
            }
            b.1.created
                .cmp(&a.1.created)
                .then(a.1.address.cmp(&b.1.address))
        };
        let end = self.offset.saturating_add(self.limit).min(total);
        if end < total && end > 0 {
            all.select_nth_unstable_by(end - 1, cmp);
            all.truncate(end);
        }
        if end == 0 {
            all.clear();
        }
        all.sort_unstable_by(cmp);
        Ok(Page {
            total,
            addresses: all
                .into_iter()
                .skip(self.offset)
                .map(|(_, c)| c.address)
                .collect(),
        })
    }
}

impl SegmentCollector for SegmentSorting {
    type Fruit = SegmentFound;

    fn collect(&mut self, doc: DocId, score: Score) {
        let at = self.found.values.len();
        for c in &self.columns {
            self.found
                .values
                .push(if let Some(v) = c.num.as_ref().and_then(|n| n.first(doc)) {
                    SortValue::Num(v)
                } else if let Some(s) = c.string(doc) {
                    SortValue::Str(s)
                } else {
                    SortValue::Missing
                });
        }
        self.found.candidates.push(Candidate {
            score,
            created: self
                .created
                .as_ref()
                .and_then(|c| c.first(doc))
                .unwrap_or(0),
            address: DocAddress::new(self.segment, doc),
            at,
        });
    }

    fn harvest(self) -> SegmentFound {
        self.found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn like_patterns() {
        let cases = [
            ("risk%", false, "risk-team", true),
            ("risk%", false, "Risk-team", false),
            ("risk%", true, "Risk-team", true),
            ("%team", false, "risk-team", true),
            ("%sk-t%", false, "risk-team", true),
            ("r_sk", false, "risk", true),
            ("r_sk", false, "rsk", false),
            ("%", false, "", true),
            ("_", false, "", false),
            ("a%b%c", false, "axxbyyc", true),
            ("a%b%c", false, "axxbyy", false),
            ("100\\%", false, "100%", true),
            ("100\\%", false, "1000", false),
            ("ÉTÉ%", true, "été-2026", true),
        ];
        for (pattern, ci, text, want) in cases {
            assert_eq!(
                LikePattern::new(pattern, ci).matches(text),
                want,
                "{pattern} {ci} {text}"
            );
        }
    }

    #[test]
    fn keys_become_escaped_column_names() {
        let key = |ns, name: &str, aggregate| Key {
            namespace: ns,
            name: name.into(),
            aggregate,
        };
        assert_eq!(
            column_name(&key(Namespace::Metric, "val.acc", Some(Aggregate::Max))).unwrap(),
            "m_max.val\\.acc"
        );
        assert_eq!(
            column_name(&key(Namespace::Attribute, "run_name", None)).unwrap(),
            "attr.name"
        );
        let err = column_name(&key(Namespace::Attribute, "colour", None)).unwrap_err();
        assert!(err.to_string().contains("no attribute `colour`"), "{err}");
        assert!(column_name(&key(Namespace::Dataset, "rows", None)).is_err());
    }

    #[test]
    fn missing_values_sort_last_both_ways() {
        use SortValue::*;
        let mut v = vec![
            Missing,
            Num(2.0),
            Str("b".into()),
            Num(1.0),
            Str("a".into()),
        ];
        v.sort_by(|a, b| cmp_values(a, b, false));
        assert_eq!(
            v,
            vec![
                Num(1.0),
                Num(2.0),
                Str("a".into()),
                Str("b".into()),
                Missing
            ]
        );
        v.sort_by(|a, b| cmp_values(a, b, true));
        assert_eq!(
            v,
            vec![
                Str("b".into()),
                Str("a".into()),
                Num(2.0),
                Num(1.0),
                Missing
            ]
        );
    }
}
