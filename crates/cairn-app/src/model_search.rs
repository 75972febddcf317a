//! The query language over registered model versions (`models.name`, `models.alias`,
//! `models.version`, their test metrics and tags, free text) and free-text search over data set
//! versions — evaluated in memory by `cairn_search::records`, since they number in the hundreds.

use crate::registry::ModelVersionView;
use crate::{Result, Workspace};
use cairn_core::DatasetVersion;
use cairn_core::query::{Expr, Key, Namespace};
use cairn_search::records::{self, Record, Value};
use serde::Serialize;
use std::collections::BTreeMap;

/// One model version a query matched.
#[derive(Debug, Clone, Serialize)]
pub struct ModelHit {
    pub name: String,
    pub version: u32,
    pub aliases: Vec<String>,
    pub run_name: String,
    pub model_kind: String,
    pub description: String,
    pub archived: bool,
    pub created_at: String,
    pub test_metrics: BTreeMap<String, f64>,
    pub tags: BTreeMap<String, String>,
}

/// One data set version whose name or source matched the query's words.
#[derive(Debug, Clone, Serialize)]
pub struct DatasetHit {
    pub label: String,
    pub rows: u64,
    pub source: String,
    pub hash: String,
}

struct VersionRecord(ModelVersionView);

impl Record for VersionRecord {
    fn value(&self, key: &Key) -> Option<Value> {
        let v = &self.0;
        let text = |s: &str| Some(Value::Text(s.to_string()));
        match key.namespace {
            Namespace::Model | Namespace::Attribute => match key.name.to_ascii_lowercase().as_str()
            {
                "name" => text(&v.name),
                "version" => Some(Value::Number(f64::from(v.version))),
                "alias" | "aliases" if !v.aliases.is_empty() => {
                    Some(Value::Texts(v.aliases.clone()))
                }
                "description" if !v.description.is_empty() => text(&v.description),
                "run" | "run_name" => text(&v.record.run_name),
                "run_id" => text(&v.record.run_id),
                "model" => text(&v.record.model_kind),
                "archived" => text(if v.archived_at.is_some() {
                    "true"
                } else {
                    "false"
                }),
                "created_at" => text(&v.created_at),
                "created_by" => text(&v.created_by),
                _ => None,
            },
            Namespace::Metric => v
                .record
                .test_metrics
                .get(&key.name)
                .map(|x| Value::Number(*x)),
            Namespace::Tag => v.tags.get(&key.name).map(|t| Value::Text(t.clone())),
            Namespace::Dataset => {
                let data = v.record.data.as_deref()?;
                let (name, version) = data.split_once('@').unwrap_or((data, ""));
                match key.name.to_ascii_lowercase().as_str() {
                    "name" => text(name),
                    "version" => version.parse::<f64>().ok().map(Value::Number),
                    "hash" => text(&v.record.data_hash),
                    _ => None,
                }
            }
            Namespace::Param => None,
        }
    }

    fn text(&self) -> String {
        let v = &self.0;
        let mut t = format!(
            "{} {}@{} {} {} {} {}",
            v.name,
            v.name,
            v.version,
            v.description,
            v.record.run_name,
            v.record.model_kind,
            v.aliases.join(" ")
        );
        for (k, val) in &v.tags {
            t.push_str(&format!(" {k} {val}"));
        }
        t
    }
}

struct DataRecord<'a>(&'a DatasetVersion);

impl Record for DataRecord<'_> {
    fn value(&self, _key: &Key) -> Option<Value> {
        None
    }

    fn text(&self) -> String {
        format!("{} {} {}", self.0.name, self.0.label(), self.0.source)
    }
}

/// Whether a filter holds only free-text words (the part of a query data sets can answer).
fn only_text(e: &Expr) -> bool {
    match e {
        Expr::Text(_) => true,
        Expr::And(items) | Expr::Or(items) => items.iter().all(only_text),
        Expr::Not(inner) => only_text(inner),
        _ => false,
    }
}

impl Workspace {
    /// The model versions `query` matches (archived ones too), newest first unless ordered.
    pub fn search_models(&self, query: &str) -> Result<Vec<ModelHit>> {
        let parsed = crate::parse_query(query)?;
        let mut found: Vec<VersionRecord> = Vec::new();
        for m in self.store.registered_models()? {
            for row in self.store.model_versions(&m.name)?.into_iter().rev() {
                let rec =
                    VersionRecord(self.model_version(&format!("{}@{}", row.name, row.version))?);
                if records::matches(&parsed, &rec) {
                    found.push(rec);
                }
            }
        }
        found.sort_by(|a, b| b.0.created_at.cmp(&a.0.created_at));
        records::order(&parsed, &mut found);
        let limit = parsed.limit.unwrap_or(usize::MAX);
        Ok(found
            .into_iter()
            .skip(parsed.offset.unwrap_or(0))
            .take(limit)
            .map(|r| {
                let v = r.0;
                ModelHit {
                    archived: v.archived_at.is_some(),
                    name: v.name,
                    version: v.version,
                    aliases: v.aliases,
                    run_name: v.record.run_name,
                    model_kind: v.record.model_kind,
                    description: v.description,
                    created_at: v.created_at,
                    test_metrics: v.record.test_metrics,
                    tags: v.tags,
                }
            })
            .collect())
    }

    /// The data set versions whose name or source contain the query's words; none for a
    /// query with structured filters (those are about runs and models).
    pub fn search_datasets(&self, query: &str) -> Result<Vec<DatasetHit>> {
        let parsed = crate::parse_query(query)?;
        let Some(filter) = &parsed.filter else {
            return Ok(Vec::new());
        };
        if !only_text(filter) {
            return Ok(Vec::new());
        }
        Ok(self
            .dataset_versions()?
            .iter()
            .filter(|v| records::matches(&parsed, &DataRecord(v)))
            .map(|v| DatasetHit {
                label: v.label(),
                rows: v.rows,
                source: v.source.clone(),
                hash: v.hash.clone(),
            })
            .collect())
    }
}
