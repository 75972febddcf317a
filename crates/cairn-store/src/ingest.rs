//! Importing files as immutable, content-hashed data set versions, and reading them back.
//!
//! An import is one transaction: the file is read into a scratch table, its logical content hash
//! is computed, and either the existing version with that hash is returned or the scratch table
//! becomes the next version. Any error rolls everything back, so no partial data set can remain.

use crate::sql::{ident, literal};
use crate::{ImportError, Result, Store, StoreError};
use cairn_core::dataset::VersionSelector;
use cairn_core::{
    Column, DataType, DatasetRef, DatasetVersion, Frame, FrameColumn, FrameValues, sha256_hex,
};
use duckdb::Connection;
use std::path::Path;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileFormat {
    Csv,
    Parquet,
    Json,
}

impl FileFormat {
    /// The format implied by a file's extension.
    pub fn from_path(path: &Path) -> Option<FileFormat> {
        let ext = path.extension()?.to_str()?.to_ascii_lowercase();
        match ext.as_str() {
            "csv" | "tsv" | "txt" => Some(FileFormat::Csv),
            "parquet" | "pq" => Some(FileFormat::Parquet),
            "json" | "jsonl" | "ndjson" => Some(FileFormat::Json),
            _ => None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct ImportRequest<'a> {
    pub path: &'a Path,
    pub name: &'a str,
    /// Overrides detection from the extension.
    pub format: Option<FileFormat>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImportOutcome {
    pub version: DatasetVersion,
    /// False when identical content already existed under this name (nothing was written).
    pub created: bool,
}

impl Store {
    /// Imports a file as the next version of data set `name` (or returns the identical existing one).
    pub fn import(&self, req: &ImportRequest<'_>) -> Result<ImportOutcome> {
        cairn_core::dataset::validate_dataset_name(req.name).map_err(StoreError::Invalid)?;
        let shown = req.path.display().to_string();
        let fail = |line: Option<u64>, column: Option<String>, reason: String, hint: &str| {
            StoreError::Import(ImportError {
                file: shown.clone(),
                line,
                column,
                reason,
                hint: hint.to_string(),
            })
        };
        let meta = std::fs::metadata(req.path).map_err(|e| {
            fail(
                None,
                None,
                e.to_string(),
                "check the path and that you may read the file",
            )
        })?;
        if !meta.is_file() {
            return Err(fail(
                None,
                None,
                "this is not a regular file".into(),
                "name one CSV, Parquet or JSON file",
            ));
        }
        if meta.len() == 0 {
            return Err(fail(
                None,
                None,
                "the file is empty (0 bytes)".into(),
                "a CSV needs a header line and at least one data row",
            ));
        }
        let format = req
            .format
            .or_else(|| FileFormat::from_path(req.path))
            .ok_or_else(|| {
                fail(
                    None,
                    None,
                    "the file type cannot be told from its extension".into(),
                    "use a .csv, .tsv, .parquet, .json or .jsonl file, or pass --format",
                )
            })?;
        let source = req
            .path
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let abs =
            std::fs::canonicalize(req.path).map_err(|e| fail(None, None, e.to_string(), ""))?;
        let reader = match format {
            FileFormat::Csv => {
                let dialect = crate::csv_check::check(req.path, &shown)?;
                if dialect.data_rows == 0 {
                    return Err(fail(
                        None,
                        None,
                        "the file has a header but no data rows".into(),
                        "add at least one row of data",
                    ));
                }
                format!(
                    "read_csv({}, delim = {}, quote = '\"', escape = '\"', header = true, strict_mode = true)",
                    literal(&abs.to_string_lossy()),
                    literal(&(dialect.delimiter as char).to_string())
                )
            }
            FileFormat::Parquet => format!("read_parquet({})", literal(&abs.to_string_lossy())),
            FileFormat::Json => format!("read_json_auto({})", literal(&abs.to_string_lossy())),
        };
        let scratch = format!("_import_{}", cairn_core::RunId::new_v7());

        self.in_transaction(|conn| {
            conn.execute_batch(&format!(
                "CREATE TABLE {} AS SELECT * FROM {reader}",
                ident(&scratch)
            ))
            .map_err(|e| {
                let (line, column, reason) = describe_engine_error(&e.to_string());
                fail(line, column, reason, hint_for(format))
            })?;
            let columns = table_columns(conn, &scratch)?;
            let summary = summarise(conn, &scratch, &columns)?;
            if summary.rows == 0 {
                return Err(fail(
                    None,
                    None,
                    "the file has a header but no data rows".into(),
                    "add at least one row of data",
                ));
            }
            let columns: Vec<Column> = columns
                .into_iter()
                .zip(&summary.nulls)
                .map(|((name, dtype), nulls)| Column {
                    name,
                    dtype,
                    nullable: *nulls > 0,
                })
                .collect();
            let hash = table_hash(&columns, &summary.rows_digest);

            let existing: Option<i64> = conn
                .query_row(
                    "SELECT version FROM dataset_versions WHERE name = ? AND hash = ?",
                    duckdb::params![req.name, hash],
                    |r| r.get(0),
                )
                .ok();
            if let Some(v) = existing {
                conn.execute_batch(&format!("DROP TABLE {}", ident(&scratch)))
                    .map_err(|e| StoreError::db("dropping the scratch table", e))?;
                let version = load_version(conn, req.name, v as u32)?;
                return Ok(ImportOutcome {
                    version,
                    created: false,
                });
            }

            let table_name = format!("ds_{}", &hash[..16]);
            let shared: i64 = conn
                .query_row(
                    "SELECT count(*) FROM information_schema.tables WHERE table_name = ?",
                    [&table_name],
                    |r| r.get(0),
                )
                .map_err(|e| StoreError::db("looking for a table with this content", e))?;
            let move_sql = if shared > 0 {
                format!("DROP TABLE {}", ident(&scratch))
            } else {
                format!(
                    "ALTER TABLE {} RENAME TO {}",
                    ident(&scratch),
                    ident(&table_name)
                )
            };
            conn.execute_batch(&move_sql)
                .map_err(|e| StoreError::db("storing the version's table", e))?;

            let parent: Option<i64> = conn
                .query_row(
                    "SELECT max(version) FROM dataset_versions WHERE name = ?",
                    [req.name],
                    |r| r.get(0),
                )
                .map_err(|e| StoreError::db("reading versions", e))?;
            let version = DatasetVersion {
                name: req.name.to_string(),
                version: parent.unwrap_or(0) as u32 + 1,
                hash,
                rows: summary.rows,
                columns,
                source: source.clone(),
                created_at: cairn_core::now_rfc3339(),
            };
            conn.execute(
                "INSERT INTO dataset_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                duckdb::params![
                    version.name,
                    version.version,
                    version.hash,
                    version.rows as i64,
                    serde_json::to_string(&version.columns).expect("columns serialise"),
                    version.source,
                    table_name,
                    parent,
                    version.created_at,
                ],
            )
            .map_err(|e| StoreError::db("recording the version", e))?;
            Ok(ImportOutcome {
                version,
                created: true,
            })
        })
    }

    /// Every version of every data set, by name then version.
    pub fn list_versions(&self) -> Result<Vec<DatasetVersion>> {
        let mut stmt = self
            .conn
            .prepare(&format!("{VERSION_SELECT} ORDER BY name, version"))
            .map_err(|e| StoreError::db("listing data sets", e))?;
        let rows = stmt
            .query_map([], version_from_row)
            .map_err(|e| StoreError::db("listing data sets", e))?;
        rows.collect::<Result<Vec<_>, _>>()
            .map_err(|e| StoreError::db("listing data sets", e))?
            .into_iter()
            .collect()
    }

    /// Finds the version a user means by `NAME`, `NAME@3`, `NAME@latest` or `NAME@<hash prefix>`.
    pub fn resolve_dataset(&self, r: &DatasetRef) -> Result<DatasetVersion> {
        let all: Vec<DatasetVersion> = self
            .list_versions()?
            .into_iter()
            .filter(|v| v.name == r.name)
            .collect();
        if all.is_empty() {
            let names: Vec<String> = {
                let mut n: Vec<String> =
                    self.list_versions()?.into_iter().map(|v| v.name).collect();
                n.dedup();
                n
            };
            let hint = if names.is_empty() {
                "the workspace has no data sets yet; import one with `cairn data import FILE`"
                    .to_string()
            } else {
                format!("known data sets: {}", names.join(", "))
            };
            return Err(StoreError::not_found(
                format!("data set `{}`", r.name),
                hint,
            ));
        }
        let found: Vec<&DatasetVersion> = match &r.selector {
            VersionSelector::Latest => all.last().into_iter().collect(),
            VersionSelector::Number(n) => all.iter().filter(|v| v.version == *n).collect(),
            VersionSelector::HashPrefix(p) => all
                .iter()
                .filter(|v| v.hash.starts_with(p.as_str()))
                .collect(),
        };
        match found.as_slice() {
            [one] => Ok((*one).clone()),
            [] => Err(StoreError::not_found(
                format!("that version of `{}`", r.name),
                format!("it has versions 1 to {}", all.len()),
            )),
            _ => Err(StoreError::Invalid(format!(
                "the hash prefix matches {} versions of `{}`; give more digits",
                found.len(),
                r.name
            ))),
        }
    }

    /// Reads a version's rows, in order: numeric columns as `f64`, all others as text.
    pub fn read_frame(&self, version: &DatasetVersion) -> Result<Frame> {
        let table: String = self
            .conn
            .query_row(
                "SELECT table_name FROM dataset_versions WHERE name = ? AND version = ?",
                duckdb::params![version.name, version.version],
                |r| r.get(0),
            )
            .map_err(|e| StoreError::db(format!("finding the table of {}", version.label()), e))?;
        let select: Vec<String> = version
            .columns
            .iter()
            .map(|c| {
                let ty = if c.dtype.is_numeric() {
                    "DOUBLE"
                } else {
                    "VARCHAR"
                };
                format!("CAST({} AS {ty})", ident(&c.name))
            })
            .collect();
        let sql = format!(
            "SELECT {} FROM {} ORDER BY rowid",
            select.join(", "),
            ident(&table)
        );
        let mut values: Vec<FrameValues> = version
            .columns
            .iter()
            .map(|c| {
                let n = version.rows as usize;
                if c.dtype.is_numeric() {
                    FrameValues::Numeric(Vec::with_capacity(n))
                } else {
                    FrameValues::Text(Vec::with_capacity(n))
                }
            })
            .collect();
        let ctx = || format!("reading {}", version.label());
        let mut stmt = self
            .conn
            .prepare(&sql)
            .map_err(|e| StoreError::db(ctx(), e))?;
        let mut rows = stmt.query([]).map_err(|e| StoreError::db(ctx(), e))?;
        while let Some(row) = rows.next().map_err(|e| StoreError::db(ctx(), e))? {
            for (i, col) in values.iter_mut().enumerate() {
                match col {
                    FrameValues::Numeric(v) => {
                        v.push(row.get(i).map_err(|e| StoreError::db(ctx(), e))?)
                    }
                    FrameValues::Text(v) => {
                        v.push(row.get(i).map_err(|e| StoreError::db(ctx(), e))?)
                    }
                }
            }
        }
        Ok(Frame {
            columns: version
                .columns
                .iter()
                .zip(values)
                .map(|(c, values)| FrameColumn {
                    name: c.name.clone(),
                    dtype: c.dtype.clone(),
                    values,
                })
                .collect(),
        })
    }
}

const VERSION_SELECT: &str =
    "SELECT name, version, hash, rows, columns_json, source, created_at FROM dataset_versions";

fn version_from_row(r: &duckdb::Row<'_>) -> duckdb::Result<Result<DatasetVersion>> {
    let columns_json: String = r.get(4)?;
    let columns = serde_json::from_str(&columns_json).map_err(|e| {
        StoreError::Invalid(format!(
            "stored schema of a data set version is unreadable: {e}"
        ))
    });
    Ok(columns.map(|columns| DatasetVersion {
        name: r.get(0).unwrap_or_default(),
        version: r.get::<_, i64>(1).unwrap_or_default() as u32,
        hash: r.get(2).unwrap_or_default(),
        rows: r.get::<_, i64>(3).unwrap_or_default() as u64,
        columns,
        source: r.get(5).unwrap_or_default(),
        created_at: r.get(6).unwrap_or_default(),
    }))
}

fn load_version(conn: &Connection, name: &str, version: u32) -> Result<DatasetVersion> {
    conn.query_row(
        &format!("{VERSION_SELECT} WHERE name = ? AND version = ?"),
        duckdb::params![name, version],
        version_from_row,
    )
    .map_err(|e| StoreError::db("reading a version", e))?
}

fn table_columns(conn: &Connection, table: &str) -> Result<Vec<(String, DataType)>> {
    let mut stmt = conn
        .prepare(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ? ORDER BY ordinal_position",
        )
        .map_err(|e| StoreError::db("reading the imported schema", e))?;
    let rows = stmt
        .query_map([table], |r| {
            Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?))
        })
        .map_err(|e| StoreError::db("reading the imported schema", e))?;
    let mut out = Vec::new();
    for row in rows {
        let (name, ty) = row.map_err(|e| StoreError::db("reading the imported schema", e))?;
        out.push((name, logical_type(&ty)));
    }
    Ok(out)
}

/// Maps a DuckDB type name to Cairn's logical type, so the same table from CSV and from Parquet
/// has the same schema.
fn logical_type(engine: &str) -> DataType {
    let t = engine.to_ascii_uppercase();
    match t.as_str() {
        "BOOLEAN" => DataType::Boolean,
        "TINYINT" | "SMALLINT" | "INTEGER" | "BIGINT" | "HUGEINT" | "UTINYINT" | "USMALLINT"
        | "UINTEGER" | "UBIGINT" | "UHUGEINT" => DataType::Integer,
        "FLOAT" | "DOUBLE" => DataType::Float,
        "VARCHAR" => DataType::String,
        "DATE" => DataType::Date,
        _ if t.starts_with("DECIMAL") => DataType::Float,
        _ if t.starts_with("TIMESTAMP") => DataType::Timestamp,
        _ => DataType::Other(engine.to_string()),
    }
}

struct Summary {
    rows: u64,
    nulls: Vec<u64>,
    /// SHA-256 (hex) over the concatenated per-row MD5 digests, in row order.
    rows_digest: String,
}

/// One pass over the scratch table: row count, nulls per column and the row digest.
///
/// Each row is written canonically — every value cast to text, `\` and the unit separator
/// escaped, NULL as `\N`, values joined by U+001F — and digested with MD5; the digests, in row
/// order, are then digested with SHA-256. Both are fixed algorithms, so the hash does not depend
/// on the DuckDB version or the machine.
fn summarise(conn: &Connection, table: &str, columns: &[(String, DataType)]) -> Result<Summary> {
    let canon: Vec<String> = columns
        .iter()
        .map(|(name, _)| {
            format!(
                "coalesce(replace(replace(CAST({} AS VARCHAR), '\\', '\\\\'), chr(31), '\\u001f'), '\\N')",
                ident(name)
            )
        })
        .collect();
    let counts: Vec<String> = columns
        .iter()
        .map(|(name, _)| format!("count(*) - count({})", ident(name)))
        .collect();
    let sql = format!(
        "SELECT count(*), sha256(coalesce(string_agg(md5({}), '' ORDER BY rowid), '')){}{} FROM {}",
        canon.join(" || chr(31) || "),
        if counts.is_empty() { "" } else { ", " },
        counts.join(", "),
        ident(table)
    );
    conn.query_row(&sql, [], |r| {
        let rows: i64 = r.get(0)?;
        let rows_digest: String = r.get(1)?;
        let mut nulls = Vec::with_capacity(columns.len());
        for i in 0..columns.len() {
            nulls.push(r.get::<_, i64>(i + 2)? as u64);
        }
        Ok(Summary {
            rows: rows as u64,
            nulls,
            rows_digest,
        })
    })
    .map_err(|e| StoreError::db("hashing the imported table", e))
}

/// The version hash: SHA-256 over a format tag, the schema (names and logical types) and the
/// row digest.
fn table_hash(columns: &[Column], rows_digest: &str) -> String {
    let mut text = String::from("cairn-table-v1\n");
    for c in columns {
        text.push_str(&format!("{}\u{1f}{}\n", c.name, c.dtype));
    }
    text.push_str(rows_digest);
    sha256_hex(text.as_bytes())
}

fn hint_for(format: FileFormat) -> &'static str {
    match format {
        FileFormat::Csv => {
            "fix that line of the file (every row needs as many fields as the header, in UTF-8), then import again"
        }
        FileFormat::Parquet => "the file is not readable Parquet; write it again from its source",
        FileFormat::Json => "use a JSON array of objects, or JSON Lines with one object per line",
    }
}

/// Pulls line, column and a one-line reason out of a DuckDB reader error, dropping its
/// reader-option dump and "possible fixes" (those name DuckDB options, not Cairn's).
fn describe_engine_error(message: &str) -> (Option<u64>, Option<String>, String) {
    let number_after = |key: &str| -> Option<u64> {
        let at = message.find(key)? + key.len();
        let digits: String = message[at..]
            .trim_start()
            .chars()
            .take_while(|c| c.is_ascii_digit())
            .collect();
        digits.parse().ok()
    };
    let line = number_after("Line:").or_else(|| number_after("line "));
    let column = message.find("column \"").and_then(|at| {
        let rest = &message[at + 8..];
        rest.find('"').map(|end| rest[..end].to_string())
    });
    let mut reason_parts = Vec::new();
    for raw in message.lines() {
        let l = raw.trim();
        if l.is_empty()
            || l.starts_with("Possible fixes")
            || l.starts_with('*')
            || l.contains(" = ")
        {
            break;
        }
        if l.starts_with("Original Line") {
            continue;
        }
        let l = l
            .trim_start_matches("Invalid Input Error: ")
            .trim_start_matches("Conversion Error: ")
            .trim_start_matches("IO Error: ")
            .trim_start_matches("Binder Error: ");
        let l = match l.find("CSV Error on Line") {
            Some(0) => {
                // "CSV Error on Line: 4" — the line number is reported separately.
                continue;
            }
            _ => l,
        };
        reason_parts.push(l.to_string());
    }
    let reason = if reason_parts.is_empty() {
        message.lines().next().unwrap_or(message).to_string()
    } else {
        reason_parts.join("; ")
    };
    (line, column, reason)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> std::path::PathBuf {
        let p = dir.join(name);
        std::fs::File::create(&p).unwrap().write_all(bytes).unwrap();
        p
    }

    #[test]
    fn imports_and_deduplicates() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in_memory().unwrap();
        let p = write(dir.path(), "a.csv", b"x,y,label\n1,2.5,a\n3,,b\n");
        let req = ImportRequest {
            path: &p,
            name: "a",
            format: None,
        };
        let first = store.import(&req).unwrap();
        assert!(first.created);
        assert_eq!(first.version.version, 1);
        assert_eq!(first.version.rows, 2);
        let types: Vec<_> = first
            .version
            .columns
            .iter()
            .map(|c| (c.name.as_str(), c.dtype.clone(), c.nullable))
            .collect();
        assert_eq!(
            types,
            vec![
                ("x", DataType::Integer, false),
                ("y", DataType::Float, true),
                ("label", DataType::String, false)
            ]
        );
        let again = store.import(&req).unwrap();
        assert!(!again.created);
        assert_eq!(again.version, first.version);

        let p2 = write(dir.path(), "a2.csv", b"x,y,label\n1,2.5,a\n3,,c\n");
        let second = store
            .import(&ImportRequest {
                path: &p2,
                name: "a",
                format: None,
            })
            .unwrap();
        assert_eq!(second.version.version, 2);
        assert_ne!(second.version.hash, first.version.hash);
        let latest = store
            .resolve_dataset(&DatasetRef::parse("a").unwrap())
            .unwrap();
        assert_eq!(latest.version, 2);
        let by_hash = store.resolve_dataset(
            &DatasetRef::parse(&format!("a@{}", &first.version.hash[..8])).unwrap(),
        );
        assert_eq!(by_hash.unwrap().version, 1);

        let frame = store.read_frame(&first.version).unwrap();
        assert_eq!(frame.rows(), 2);
        assert_eq!(
            frame.column("y").unwrap().values,
            FrameValues::Numeric(vec![Some(2.5), None])
        );
        assert_eq!(
            frame.column("label").unwrap().values,
            FrameValues::Text(vec![Some("a".into()), Some("b".into())])
        );
    }

    #[test]
    fn the_hash_is_of_the_table_not_the_bytes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in_memory().unwrap();
        let a = write(dir.path(), "a.csv", b"x,y\n1,hello\n2,world\n");
        let b = write(
            dir.path(),
            "b.csv",
            b"\"x\",\"y\"\r\n1,\"hello\"\r\n2,\"world\"\r\n",
        );
        let ha = store
            .import(&ImportRequest {
                path: &a,
                name: "a",
                format: None,
            })
            .unwrap()
            .version
            .hash;
        let hb = store
            .import(&ImportRequest {
                path: &b,
                name: "b",
                format: None,
            })
            .unwrap()
            .version
            .hash;
        assert_eq!(ha, hb);
    }

    #[test]
    fn hostile_files_fail_cleanly_and_leave_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in_memory().unwrap();
        let cases: &[(&str, &[u8], Option<u64>, &str)] = &[
            ("empty.csv", b"", None, "empty"),
            ("header_only.csv", b"a,b,c\n", None, "no data rows"),
            (
                "ragged.csv",
                b"a,b,c\n1,2,3\n4,5,6\n7,8,9,10\n11,12,13\n",
                Some(4),
                "",
            ),
            (
                "bad_utf8.csv",
                b"a,b\n1,ok\n2,\xff\xfe bad\n3,fine\n",
                Some(3),
                "",
            ),
        ];
        for (name, bytes, line, words) in cases {
            let p = write(dir.path(), name, bytes);
            let err = store
                .import(&ImportRequest {
                    path: &p,
                    name: "hostile",
                    format: None,
                })
                .unwrap_err();
            let StoreError::Import(ie) = &err else {
                panic!("{name}: expected an import error, got {err}")
            };
            assert!(ie.file.ends_with(name), "{name}: {err}");
            assert_eq!(ie.line, *line, "{name}: {err}");
            assert!(err.to_string().contains(words), "{name}: {err}");
        }
        assert!(store.list_versions().unwrap().is_empty());
        let leftovers: i64 = store
            .conn
            .query_row(
                "SELECT count(*) FROM information_schema.tables WHERE table_name LIKE '_import_%'",
                [],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(leftovers, 0);
    }

    #[test]
    fn engine_errors_are_summarised() {
        let msg = "Invalid Input Error: CSV Error on Line: 4\nOriginal Line: 7,8,9,10\nExpected Number of Columns: 3 Found: 4\nPossible fixes:\n* Enable null padding\n  file = /tmp/x.csv\n";
        let (line, col, reason) = describe_engine_error(msg);
        assert_eq!(line, Some(4));
        assert_eq!(col, None);
        assert_eq!(reason, "Expected Number of Columns: 3 Found: 4");
    }
}
