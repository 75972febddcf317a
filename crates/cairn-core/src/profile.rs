//! Column profiles stored with each data set version.

use crate::DataType;
use serde::{Deserialize, Serialize};

/// Distinct counts are exact up to this many non-null values in a column; above it they come from
/// DuckDB's HyperLogLog sketch (`approx_count_distinct`, 1024 registers).
pub const EXACT_DISTINCT_MAX_ROWS: u64 = 1_000_000;
/// Relative standard error of the approximate distinct count, as DuckDB states it:
/// sqrt(pi/2) / sqrt(1024).
pub const APPROX_DISTINCT_ERROR: f64 = 0.039;
/// Quantiles are exact up to this many rows, t-digest approximations (`approx_quantile`) above.
pub const EXACT_QUANTILE_MAX_ROWS: u64 = 1_000_000;
/// The quantiles every numeric column reports.
pub const QUANTILES: [f64; 5] = [0.05, 0.25, 0.5, 0.75, 0.95];
/// Equal-width bins in a numeric histogram.
pub const HISTOGRAM_BINS: usize = 20;
/// How many most frequent values a non-float column reports.
pub const TOP_VALUES: usize = 10;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DatasetProfile {
    pub rows: u64,
    pub columns: Vec<ColumnProfile>,
}

impl DatasetProfile {
    pub fn column(&self, name: &str) -> Option<&ColumnProfile> {
        self.columns.iter().find(|c| c.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ColumnProfile {
    pub name: String,
    pub dtype: DataType,
    /// Non-null values.
    pub count: u64,
    pub nulls: u64,
    pub distinct: u64,
    /// False when `distinct` is a HyperLogLog estimate; its relative error is `distinct_error`.
    pub distinct_exact: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub distinct_error: Option<f64>,
    /// Smallest and largest value as text (numbers, dates, strings alike).
    pub min: Option<String>,
    pub max: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub numeric: Option<NumericStats>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lengths: Option<LengthStats>,
    /// Most frequent values (not for float columns), most frequent first, ties by value.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub top: Vec<TopValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct NumericStats {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    /// Sample standard deviation (n - 1), as pandas and numpy with `ddof=1` report it.
    pub std: Option<f64>,
    /// `(p, value)` pairs for [`QUANTILES`], linear interpolation like numpy's default.
    pub quantiles: Vec<(f64, f64)>,
    pub quantiles_exact: bool,
    pub histogram: Histogram,
}

/// Equal-width bins over `[min, max]`; the last bin includes `max`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Histogram {
    pub edges: Vec<f64>,
    pub counts: Vec<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LengthStats {
    pub min: u64,
    pub max: u64,
    pub mean: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct TopValue {
    pub value: String,
    pub count: u64,
}
