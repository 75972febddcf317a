//! Data sets and their immutable, content-hashed versions.

use serde::{Deserialize, Serialize};
use std::fmt;

/// The logical type of a column, independent of the file format it came from.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum DataType {
    Boolean,
    Integer,
    Float,
    String,
    Date,
    Timestamp,
    /// Any other engine type, kept by name (e.g. `"DECIMAL(10,2)"`).
    Other(String),
}

impl DataType {
    /// Parses a type name a user writes in an override (`integer`, `float`, `string`, ...).
    pub fn parse_user(text: &str) -> Result<DataType, String> {
        match text.trim().to_ascii_lowercase().as_str() {
            "bool" | "boolean" => Ok(DataType::Boolean),
            "int" | "integer" | "bigint" => Ok(DataType::Integer),
            "float" | "double" | "number" => Ok(DataType::Float),
            "str" | "string" | "text" | "varchar" => Ok(DataType::String),
            "date" => Ok(DataType::Date),
            "timestamp" | "datetime" => Ok(DataType::Timestamp),
            other => Err(format!(
                "unknown type `{other}`; use boolean, integer, float, string, date or timestamp"
            )),
        }
    }

    /// Whether a model can read the column as a number without encoding.
    pub fn is_numeric(&self) -> bool {
        matches!(
            self,
            DataType::Boolean | DataType::Integer | DataType::Float
        )
    }
}

impl fmt::Display for DataType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DataType::Boolean => f.write_str("boolean"),
            DataType::Integer => f.write_str("integer"),
            DataType::Float => f.write_str("float"),
            DataType::String => f.write_str("string"),
            DataType::Date => f.write_str("date"),
            DataType::Timestamp => f.write_str("timestamp"),
            DataType::Other(s) => f.write_str(s),
        }
    }
}

/// One column of a data set version's schema.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Column {
    pub name: String,
    pub dtype: DataType,
    pub nullable: bool,
    /// Marked by the user as categorical (a label or code, not a quantity).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub categorical: bool,
}

/// An immutable version of a data set. `hash` is computed from the logical table (column names,
/// types and values in row order), never from file bytes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct DatasetVersion {
    pub name: String,
    pub version: u32,
    pub hash: String,
    pub rows: u64,
    pub columns: Vec<Column>,
    /// File name the version was imported from (no directory: host paths never leave the machine).
    pub source: String,
    pub created_at: String,
    /// The version of the same data set this one followed, if any.
    #[serde(default)]
    pub parent_version: Option<u32>,
}

impl DatasetVersion {
    /// `name@version`, the stable way to name this version.
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }
}

/// The most columns a data set version may have. Hashing and profiling cost grows faster than
/// linearly with the column count in DuckDB's planner (10,000 columns take minutes to hash even
/// in an optimised build), so wider files are refused with a clear error instead.
pub const MAX_COLUMNS: usize = 1024;

/// The kind of file an import reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum FileFormat {
    /// CSV, TSV and other delimited text.
    Csv,
    Parquet,
    /// A JSON array of objects, or JSON Lines (one object per line).
    Json,
}

impl FileFormat {
    /// The format implied by a file's extension.
    pub fn from_path(path: &std::path::Path) -> Option<FileFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "tsv" | "txt" => Some(FileFormat::Csv),
            "parquet" | "pq" => Some(FileFormat::Parquet),
            "json" | "jsonl" | "ndjson" => Some(FileFormat::Json),
            _ => None,
        }
    }

    pub fn parse(text: &str) -> Result<FileFormat, String> {
        match text.to_ascii_lowercase().as_str() {
            "csv" | "tsv" => Ok(FileFormat::Csv),
            "parquet" => Ok(FileFormat::Parquet),
            "json" | "jsonl" | "ndjson" => Ok(FileFormat::Json),
            other => Err(format!(
                "unknown format `{other}`; use csv, tsv, parquet or json"
            )),
        }
    }
}

/// Text encodings a CSV import reads (DuckDB's built-in decoders).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub enum TextEncoding {
    Utf8,
    Utf16,
    Latin1,
}

impl TextEncoding {
    pub fn parse(text: &str) -> Result<TextEncoding, String> {
        match text.to_ascii_lowercase().replace('_', "-").as_str() {
            "utf-8" | "utf8" => Ok(TextEncoding::Utf8),
            "utf-16" | "utf16" | "utf-16le" => Ok(TextEncoding::Utf16),
            "latin-1" | "latin1" | "iso-8859-1" | "cp1252" | "windows-1252" => {
                Ok(TextEncoding::Latin1)
            }
            other => Err(format!(
                "unknown encoding `{other}`; use utf-8, utf-16 or latin-1"
            )),
        }
    }

    /// The name DuckDB's `read_csv(encoding = ...)` takes.
    pub fn engine_name(self) -> &'static str {
        match self {
            TextEncoding::Utf8 => "utf-8",
            TextEncoding::Utf16 => "utf-16",
            TextEncoding::Latin1 => "latin-1",
        }
    }
}

/// A user's say over one column at import.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ColumnOverride {
    pub column: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dtype: Option<DataType>,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub not_null: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub categorical: bool,
}

/// How to read the file(s) of an import. Every field left `None` is detected; what was detected
/// or given is stored with the version.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ImportOptions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub format: Option<FileFormat>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delimiter: Option<char>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quote: Option<char>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub header: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encoding: Option<TextEncoding>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<ColumnOverride>,
}

impl ImportOptions {
    /// The override for `column`, creating it if needed.
    pub fn column_mut(&mut self, column: &str) -> &mut ColumnOverride {
        if let Some(i) = self.columns.iter().position(|c| c.column == column) {
            return &mut self.columns[i];
        }
        self.columns.push(ColumnOverride {
            column: column.to_string(),
            ..Default::default()
        });
        self.columns.last_mut().expect("just pushed")
    }
}

/// How one version was derived from another (a split part, a filter, ...).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LineageEdge {
    pub child: String,
    pub parent: String,
    /// `"split"`.
    pub kind: String,
    pub details: serde_json::Value,
    /// True when the parent version has since been deleted (with `--force`).
    pub parent_deleted: bool,
}

/// How a user addresses a data set version: `NAME`, `NAME@3`, `NAME@latest`, `NAME@<hash prefix>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DatasetRef {
    pub name: String,
    pub selector: VersionSelector,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VersionSelector {
    Latest,
    Number(u32),
    HashPrefix(String),
}

impl DatasetRef {
    pub fn parse(text: &str) -> Result<Self, String> {
        let (name, sel) = match text.split_once('@') {
            Some((n, s)) => (n, Some(s)),
            None => (text, None),
        };
        if name.is_empty() {
            return Err(format!(
                "`{text}` has no data set name; write NAME, NAME@3, NAME@latest or NAME@<hash prefix>"
            ));
        }
        let selector = match sel {
            None | Some("latest") => VersionSelector::Latest,
            Some(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) && s.len() < 9 => {
                VersionSelector::Number(
                    s.parse()
                        .map_err(|_| format!("bad version number in `{text}`"))?,
                )
            }
            Some(s) if s.len() >= 4 && s.bytes().all(|b| b.is_ascii_hexdigit()) => {
                VersionSelector::HashPrefix(s.to_ascii_lowercase())
            }
            Some(s) => {
                return Err(format!(
                    "`{s}` in `{text}` is neither a version number, `latest`, nor a hash prefix of at least 4 hex digits"
                ));
            }
        };
        Ok(Self {
            name: name.to_string(),
            selector,
        })
    }
}

/// Turns a file stem into a data set name: lower-case letters, digits and `_`, starting with a letter.
pub fn dataset_name_from_stem(stem: &str) -> String {
    let mut out: String = stem
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if !out.starts_with(|c: char| c.is_ascii_alphabetic()) {
        out.insert_str(0, "ds_");
    }
    out
}

/// Checks a user-given data set name.
pub fn validate_dataset_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "data set name `{name}` is not allowed: use 1-64 letters, digits, `_` or `-`, starting with a letter"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_selector() {
        let cases = [
            ("iris", VersionSelector::Latest),
            ("iris@latest", VersionSelector::Latest),
            ("iris@3", VersionSelector::Number(3)),
            ("iris@ABCD12", VersionSelector::HashPrefix("abcd12".into())),
        ];
        for (text, want) in cases {
            assert_eq!(DatasetRef::parse(text).unwrap().selector, want, "{text}");
        }
        assert!(DatasetRef::parse("@3").is_err());
        assert!(DatasetRef::parse("iris@x").is_err());
        assert!(DatasetRef::parse("iris@ab").is_err());
    }

    #[test]
    fn names_from_stems() {
        assert_eq!(dataset_name_from_stem("Breast Cancer"), "breast_cancer");
        assert_eq!(dataset_name_from_stem("2024-data"), "ds_2024_data");
        assert!(validate_dataset_name("breast_cancer").is_ok());
        assert!(validate_dataset_name("1x").is_err());
        assert!(validate_dataset_name("a/b").is_err());
    }
}
