//! The difference between two data set versions.

use crate::DataType;
use serde::{Deserialize, Serialize};

/// How many sample rows a diff keeps for each kind of change.
pub const DIFF_SAMPLES: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DatasetDiff {
    pub from: String,
    pub to: String,
    /// The key column rows were matched on; `None` means rows were matched by their content hash.
    pub key: Option<String>,
    pub schema: SchemaDiff,
    pub rows_from: u64,
    pub rows_to: u64,
    pub added: u64,
    pub removed: u64,
    /// Rows whose key is in both versions but whose values differ (only with a key).
    pub changed: u64,
    pub unchanged: u64,
    /// For each shared column, how many matched rows changed in it (only with a key).
    pub changed_by_column: Vec<(String, u64)>,
    pub added_samples: Vec<Vec<(String, Option<String>)>>,
    pub removed_samples: Vec<Vec<(String, Option<String>)>>,
    pub changed_samples: Vec<ChangedRow>,
    pub profile_deltas: Vec<ProfileDelta>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SchemaDiff {
    pub added: Vec<(String, DataType)>,
    pub removed: Vec<(String, DataType)>,
    /// `(column, type before, type after)`.
    pub retyped: Vec<(String, DataType, DataType)>,
}

impl SchemaDiff {
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.removed.is_empty() && self.retyped.is_empty()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ChangedRow {
    pub key: String,
    /// `(column, before, after)` for each column that changed.
    pub cells: Vec<(String, Option<String>, Option<String>)>,
}

/// How one column's profile moved between the versions (`after - before`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ProfileDelta {
    pub column: String,
    pub nulls: i64,
    pub distinct: i64,
    pub mean: Option<f64>,
    pub std: Option<f64>,
    pub min: Option<f64>,
    pub max: Option<f64>,
}
