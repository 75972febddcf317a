//! The nouns of Cairn: identifiers, data set versions and schemas, runs with typed params and
//! metrics, content hashes, the seeded random generator and the progress protocol.
//!
//! This crate must not know any engine or do any IO: no DuckDB, Candle, tantivy, Tauri, tokio,
//! no files, no clock other than what callers hand in. Every other crate speaks in these types.

pub mod audit;
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
pub mod registry;
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

/// A point in time as epoch milliseconds: RFC 3339 text (`2026-11-23T10:04:00Z`,
/// `2026-11-23T10:04:00.250+01:00`) or a date (`2026-11-23`, midnight UTC). `None` for
/// anything else.
pub fn epoch_millis(text: &str) -> Option<i64> {
    let text = text.trim();
    if let Ok(t) = text.parse::<jiff::Timestamp>() {
        return Some(t.as_millisecond());
    }
    // `YYYY-MM-DD` only: jiff would also read a date-time without an offset as its date.
    if text.len() != 10 {
        return None;
    }
    let date = text.parse::<jiff::civil::Date>().ok()?;
    date.to_zoned(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_millisecond())
}

/// Epoch milliseconds as the RFC 3339 UTC text runs record (`2026-11-23T10:00:00.25Z`);
/// `None` outside the years -9999..=9999.
pub fn rfc3339_from_millis(ms: i64) -> Option<String> {
    jiff::Timestamp::from_millisecond(ms)
        .ok()
        .map(|t| t.to_string())
}

/// The current time in epoch milliseconds.
pub fn now_millis() -> i64 {
    jiff::Timestamp::now().as_millisecond()
}

/// The current time as an RFC 3339 UTC string with millisecond precision.
/// Truncated to the millisecond, as [`now_millis`] is, so a point logged after a run's start is
/// never stamped before it.
pub fn now_rfc3339() -> String {
    rfc3339_from_millis(now_millis()).unwrap_or_default()
}

#[cfg(test)]
mod time_tests {
    #[test]
    fn epoch_millis_reads_rfc3339_and_dates() {
        let cases: &[(&str, Option<i64>)] = &[
            ("2026-11-23T10:00:00Z", Some(1_795_428_000_000)),
            ("2026-11-23T10:00:00.250Z", Some(1_795_428_000_250)),
            ("2026-11-23T11:00:00+01:00", Some(1_795_428_000_000)),
            ("2026-11-23", Some(1_795_392_000_000)),
            ("1970-01-01T00:00:00Z", Some(0)),
            ("yesterday", None),
            ("1795428000000", None),
            ("2026-11-23T10:00:00", None),
        ];
        for (text, want) in cases {
            assert_eq!(super::epoch_millis(text), *want, "{text}");
        }
    }

    #[test]
    fn millis_round_trip_through_rfc3339() {
        for ms in [0, 1_795_428_000_250, 1_795_428_000_000, -1] {
            let text = super::rfc3339_from_millis(ms).unwrap();
            assert_eq!(super::epoch_millis(&text), Some(ms), "{text}");
        }
        assert_eq!(
            super::rfc3339_from_millis(1_795_428_000_250).as_deref(),
            Some("2026-11-23T10:00:00.25Z")
        );
        assert_eq!(super::rfc3339_from_millis(i64::MAX), None);
    }
}
