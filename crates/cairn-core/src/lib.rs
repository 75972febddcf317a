//! The nouns of Cairn: identifiers, data set versions and schemas, runs with typed params and
//! metrics, content hashes, the seeded random generator and the progress protocol.
//!
//! This crate must not know any engine or do any IO: no DuckDB, Candle, tantivy, Tauri, tokio,
//! no files, no clock other than what callers hand in. Every other crate speaks in these types.

pub mod dataset;
pub mod diff;
pub mod downsample;
pub mod frame;
pub mod hash;
pub mod param;
pub mod profile;
pub mod progress;
pub mod quality;
pub mod query;
pub mod rng;
pub mod run;
pub mod split;

pub use dataset::{
    Column, ColumnOverride, DataType, DatasetRef, DatasetVersion, FileFormat, ImportOptions,
    LineageEdge, TextEncoding, VersionSelector,
};
pub use frame::{Frame, FrameColumn, FrameValues};
pub use hash::{Sha256Hex, sha256_hex};
pub use param::{ParamParseError, ParamValue, parse_key_value};
pub use progress::{Progress, ProgressObserver, Step};
pub use rng::SplitMix64;
pub use run::{MetricPoint, MetricSummary, Run, RunId, RunStatus};

/// The current time as an RFC 3339 UTC string with millisecond precision.
pub fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .round(jiff::Unit::Millisecond)
        .map(|t| t.to_string())
        .unwrap_or_default()
}
