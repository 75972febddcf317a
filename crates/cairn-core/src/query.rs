//! The query language's syntax tree: structured filters over runs (metrics, params, tags,
//! attributes, data sets), free-text words and phrases, ordering and paging.
//!
//! The parser lives in `cairn-search`; evaluation against the store and the index happens in
//! the engines. This module only names the pieces.

use serde::{Deserialize, Serialize};

/// Which family of run fields a key names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Namespace {
    Metric,
    Param,
    Tag,
    /// `status`, `name`, `model`, `target`, `created_at`, … of the run itself.
    Attribute,
    /// The training data: `name`, `version`, `hash`.
    Dataset,
    /// A registered model version: `name`, `version`, `alias`, `description`, `run`,
    /// `archived` (filters over model versions; runs have none).
    Model,
}

/// An aggregate over a metric's history; without one a metric key means its last value.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Aggregate {
    Last,
    First,
    Min,
    Max,
    Mean,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Key {
    pub namespace: Namespace,
    pub name: String,
    pub aggregate: Option<Aggregate>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Literal {
    Number(f64),
    Text(String),
    Bool(bool),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum CompareOp {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    Not(Box<Expr>),
    Compare {
        key: Key,
        op: CompareOp,
        value: Literal,
    },
    In {
        key: Key,
        values: Vec<Literal>,
        negated: bool,
    },
    IsNull {
        key: Key,
        negated: bool,
    },
    /// SQL `LIKE`: `%` any run of characters, `_` one character.
    Like {
        key: Key,
        pattern: String,
        case_insensitive: bool,
        negated: bool,
    },
    /// A free-text word or a quoted phrase, matched against names, notes and tags.
    Text(String),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrderKey {
    pub key: Key,
    pub descending: bool,
}

/// A whole query: `FILTER [ORDER BY key [ASC|DESC], …] [LIMIT n [OFFSET m]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct Query {
    pub filter: Option<Expr>,
    pub order_by: Vec<OrderKey>,
    pub limit: Option<usize>,
    pub offset: Option<usize>,
}
