//! Importing files as immutable, content-hashed data set versions.
//!
//! An import is one transaction on a worker connection (see [`crate::watch`]): the file(s) are
//! read into a scratch table, the logical content hash is computed, and either the existing
//! version with that hash is returned or the scratch table becomes the next version, profiled.
//! Any error or a cancel rolls everything back, so no partial data set can remain.

use crate::csv_check::{self, CsvPlan};
use crate::sql::{ident, literal};
use crate::versions::{load_version, next_version_numbers};
use crate::watch::Watch;
use crate::{ImportError, Result, Store, StoreError};
use cairn_core::{
    Column, ColumnOverride, DataType, DatasetVersion, FileFormat, ImportOptions, ProgressObserver,
    sha256_hex,
};
use duckdb::Connection;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone)]
pub struct ImportRequest<'a> {
    /// A file, or a folder whose files (of one format, same columns) are read in name order.
    pub path: &'a Path,
    pub name: &'a str,
    pub options: ImportOptions,
}

/// The name-independent identity of a version made elsewhere: its content hash and number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VersionClaim {
    pub hash: String,
    pub version: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ImportOutcome {
    pub version: DatasetVersion,
    /// False when identical content already existed under this name (nothing was written).
    pub created: bool,
}

/// One file to read, with the SQL table function that reads it.
struct FilePlan {
    path: PathBuf,
    shown: String,
    reader: String,
    csv: Option<CsvPlan>,
}

fn import_error(
    file: &str,
    line: Option<u64>,
    column: Option<String>,
    reason: impl Into<String>,
    hint: &str,
) -> StoreError {
    StoreError::Import(ImportError {
        file: file.to_string(),
        line,
        column,
        reason: reason.into(),
        hint: hint.to_string(),
    })
}

/// The files an import reads: the one file, or a folder's files of one format, by name.
fn files_of(
    path: &Path,
    shown: &str,
    format: Option<FileFormat>,
) -> Result<(Vec<PathBuf>, FileFormat)> {
    let meta = std::fs::metadata(path).map_err(|e| {
        import_error(
            shown,
            None,
            None,
            e.to_string(),
            "check the path and that you may read it",
        )
    })?;
    if meta.is_dir() {
        let mut files = Vec::new();
        let entries = std::fs::read_dir(path).map_err(|e| {
            import_error(
                shown,
                None,
                None,
                e.to_string(),
                "check that you may read the folder",
            )
        })?;
        for entry in entries.flatten() {
            let p = entry.path();
            if p.is_file()
                && !p
                    .file_name()
                    .is_some_and(|n| n.to_string_lossy().starts_with('.'))
                && let Some(f) = FileFormat::from_path(&p)
            {
                files.push((p, f));
            }
        }
        files.sort_by(|a, b| a.0.cmp(&b.0));
        let format = match format.or_else(|| files.first().map(|f| f.1)) {
            Some(f) => f,
            None => {
                return Err(import_error(
                    shown,
                    None,
                    None,
                    "the folder holds no .csv, .tsv, .parquet, .json or .jsonl files",
                    "point at a folder of data files of one format",
                ));
            }
        };
        if let Some((odd, _)) = files.iter().find(|(_, f)| *f != format) {
            return Err(import_error(
                &odd.display().to_string(),
                None,
                None,
                format!("this file's format differs from the folder's first file ({format:?})"),
                "a folder import reads files of one format; move the others out or pass --format",
            ));
        }
        return Ok((files.into_iter().map(|f| f.0).collect(), format));
    }
    if !meta.is_file() {
        return Err(import_error(
            shown,
            None,
            None,
            "this is not a regular file",
            "name a CSV, Parquet or JSON file, or a folder of them",
        ));
    }
    let format = format
        .or_else(|| FileFormat::from_path(path))
        .ok_or_else(|| {
            import_error(
                shown,
                None,
                None,
                "the file type cannot be told from its extension",
                "use a .csv, .tsv, .parquet, .json or .jsonl file, or pass --format",
            )
        })?;
    Ok((vec![path.to_path_buf()], format))
}

impl Store {
    /// Imports a file or folder as the next version of data set `name` (or returns the identical
    /// existing one). Progress goes to `observer`, which may cancel; nothing is left behind then.
    pub fn import(
        &self,
        req: &ImportRequest<'_>,
        observer: &mut dyn ProgressObserver,
    ) -> Result<ImportOutcome> {
        self.import_expecting(req, None, observer)
    }

    /// Like [`Store::import`] for a version that exists elsewhere (a bundle's data snapshot):
    /// the import is rolled back (nothing stored) unless the data hashes to `claim.hash`, and a
    /// new version takes the number `claim.version` when that is above every number the name
    /// has used here (else the next number, as usual).
    pub fn import_expecting(
        &self,
        req: &ImportRequest<'_>,
        claim: Option<&VersionClaim>,
        observer: &mut dyn ProgressObserver,
    ) -> Result<ImportOutcome> {
        cairn_core::dataset::validate_dataset_name(req.name).map_err(StoreError::Invalid)?;
        let shown = req.path.display().to_string();
        let (files, format) = files_of(req.path, &shown, req.options.format)?;
        let mut options = req.options.clone();
        options.format = Some(format);
        let mut plans = Vec::with_capacity(files.len());
        for path in &files {
            let shown = path.display().to_string();
            if std::fs::metadata(path).map(|m| m.len()).unwrap_or(0) == 0 {
                return Err(import_error(
                    &shown,
                    None,
                    None,
                    "the file is empty (0 bytes)",
                    "a CSV needs a header line and at least one data row",
                ));
            }
            let abs = std::fs::canonicalize(path)
                .map_err(|e| import_error(&shown, None, None, e.to_string(), ""))?;
            let abs = literal(&abs.to_string_lossy());
            let plan = match format {
                FileFormat::Csv => {
                    let csv = csv_check::plan(path, &shown, &options)?;
                    // Later files of a folder are read with the first file's dialect.
                    if plans.is_empty() {
                        options.delimiter = Some(csv.delimiter as char);
                        options.quote = Some(csv.quote as char);
                        options.header = Some(csv.header);
                        options.encoding = Some(csv.encoding);
                    }
                    FilePlan {
                        reader: csv.reader_sql(&abs, &options.columns),
                        path: path.clone(),
                        shown,
                        csv: Some(csv),
                    }
                }
                FileFormat::Parquet => FilePlan {
                    reader: format!("read_parquet({abs})"),
                    path: path.clone(),
                    shown,
                    csv: None,
                },
                FileFormat::Json => FilePlan {
                    reader: format!("read_json({abs}, records = true, format = 'auto')"),
                    path: path.clone(),
                    shown,
                    csv: None,
                },
            };
            plans.push(plan);
        }
        let source = if files.len() == 1 {
            file_name(&files[0])
        } else {
            format!("{}/ ({} files)", file_name(req.path), files.len())
        };
        let options_json = serde_json::to_string(&options).expect("options serialise");
        let name = req.name;
        let options = &options;
        let plans = &plans;
        let actor = self.actor.as_str();
        self.watched(observer, move |conn, watch| {
            let scratch = format!("_import_{}", cairn_core::RunId::new_v7());
            let n = plans.len();
            for (i, plan) in plans.iter().enumerate() {
                watch.stage("read", format!("{} ({}/{n})", plan.shown, i + 1))?;
                if i == 0 {
                    conn.execute_batch(&format!(
                        "CREATE TABLE {} AS SELECT * FROM {}",
                        ident(&scratch),
                        plan.reader
                    ))
                    .map_err(|e| watch.engine(read_failure(plan, format, &e.to_string())))?;
                    if let Some(csv) = &plan.csv {
                        // The engine must see the columns Cairn saw; anything else means it
                        // misread the dialect, so find the line that misled it.
                        let seen = table_column_names(conn, &scratch)?;
                        if seen != csv.names {
                            return Err(read_failure(
                                plan,
                                format,
                                &format!(
                                    "the columns were read as {} instead of {}",
                                    seen.join(", "),
                                    csv.names.join(", ")
                                ),
                            ));
                        }
                    }
                } else {
                    let first = table_column_names(conn, &scratch)?;
                    let these = reader_column_names(conn, &plan.reader)
                        .map_err(|e| watch.engine(read_failure(plan, format, &e)))?;
                    if first != these {
                        let at = first
                            .iter()
                            .zip(&these)
                            .position(|(a, b)| a != b)
                            .unwrap_or(first.len().min(these.len()));
                        return Err(import_error(
                            &plan.shown,
                            None,
                            these.get(at).cloned(),
                            format!(
                                "its columns differ from {} at column {} (`{}` there)",
                                plans[0].shown,
                                at + 1,
                                first.get(at).map(String::as_str).unwrap_or("none")
                            ),
                            "every file of a folder import needs the same columns in the same order",
                        ));
                    }
                    conn.execute_batch(&format!(
                        "INSERT INTO {} SELECT * FROM {}",
                        ident(&scratch),
                        plan.reader
                    ))
                    .map_err(|e| watch.engine(read_failure(plan, format, &e.to_string())))?;
                }
            }
            let width = table_columns(conn, &scratch)?.len();
            if width > cairn_core::dataset::MAX_COLUMNS {
                let mut e = csv_check::too_wide(&plans[0].shown, width);
                e.line = None;
                return Err(StoreError::Import(e));
            }
            watch.stage("types", "")?;
            apply_overrides(conn, &scratch, &options.columns, format, &plans[0].shown)?;
            normalise_types(conn, &scratch)?;
            check_not_null(conn, &scratch, &options.columns, &shown)?;
            let outcome = register_table(
                conn,
                watch,
                &scratch,
                NewVersion {
                    name,
                    source,
                    options_json: Some(options_json),
                    categorical: options
                        .columns
                        .iter()
                        .filter(|c| c.categorical)
                        .map(|c| c.column.clone())
                        .collect(),
                    lineage: None,
                    claim,
                    actor,
                },
            );
            match outcome {
                Err(StoreError::Invalid(msg)) if msg == NO_ROWS => Err(import_error(
                    &shown,
                    None,
                    None,
                    "the file has a header but no data rows",
                    "add at least one row of data",
                )),
                other => other,
            }
        })
    }
}

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Explains why the engine could not read a file, finding the exact line for CSV.
fn read_failure(plan: &FilePlan, format: FileFormat, message: &str) -> StoreError {
    if message.contains("INTERRUPT") || message.contains("Interrupted") {
        return StoreError::Cancelled;
    }
    if let Some(csv) = &plan.csv
        && let Err(located) = csv_check::locate_problem(&plan.path, &plan.shown, csv)
    {
        return StoreError::Import(located);
    }
    let (line, column, reason) = describe_engine_error(message);
    let (reason, hint) = match format {
        FileFormat::Json
            if message.contains("expected records")
                && std::fs::read(&plan.path).is_ok_and(|b| b.trim_ascii() == b"[]") =>
        {
            (
                "the JSON array is empty: the file has no data rows".to_string(),
                "add at least one object (row) to the array",
            )
        }
        FileFormat::Json if message.contains("expected records") => (
            "the JSON is not an array of objects, nor one object per line".to_string(),
            "use a JSON array of objects (`[{\"a\": 1}, ...]`) or JSON Lines with one object per line",
        ),
        FileFormat::Parquet if message.contains("magic bytes") => (
            format!("{reason} (the file is not Parquet, or it was cut short)"),
            hint_for(format),
        ),
        _ => (reason, hint_for(format)),
    };
    import_error(&plan.shown, line, column, reason, hint)
}

fn reader_column_names(
    conn: &Connection,
    reader: &str,
) -> std::result::Result<Vec<String>, String> {
    let mut stmt = conn
        .prepare(&format!("DESCRIBE SELECT * FROM {reader}"))
        .map_err(|e| e.to_string())?;
    let names = stmt
        .query_map([], |r| r.get::<_, String>(0))
        .map_err(|e| e.to_string())?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| e.to_string())?;
    Ok(names)
}

fn table_column_names(conn: &Connection, table: &str) -> Result<Vec<String>> {
    Ok(table_columns(conn, table)?
        .into_iter()
        .map(|(n, _, _)| n)
        .collect())
}

/// Applies type overrides that the reader did not (CSV takes them at read time).
fn apply_overrides(
    conn: &Connection,
    table: &str,
    overrides: &[ColumnOverride],
    format: FileFormat,
    shown: &str,
) -> Result<()> {
    let names = table_column_names(conn, table)?;
    for o in overrides {
        if !names.contains(&o.column) {
            return Err(import_error(
                shown,
                None,
                Some(o.column.clone()),
                "an override names a column the file does not have",
                &format!("its columns are: {}", names.join(", ")),
            ));
        }
        if format == FileFormat::Csv {
            continue;
        }
        if let Some(dtype) = &o.dtype {
            conn.execute_batch(&format!(
                "ALTER TABLE {} ALTER COLUMN {} TYPE {}",
                ident(table),
                ident(&o.column),
                engine_type(dtype)
            ))
            .map_err(|e| {
                import_error(
                    shown,
                    None,
                    Some(o.column.clone()),
                    format!(
                        "cannot read the column as {dtype}: {}",
                        describe_engine_error(&e.to_string()).2
                    ),
                    "choose a type every value of the column fits",
                )
            })?;
        }
    }
    Ok(())
}

/// The DuckDB type that stores a logical type.
pub(crate) fn engine_type(dtype: &DataType) -> &'static str {
    match dtype {
        DataType::Boolean => "BOOLEAN",
        DataType::Integer => "BIGINT",
        DataType::Float => "DOUBLE",
        DataType::String | DataType::Other(_) => "VARCHAR",
        DataType::Date => "DATE",
        DataType::Timestamp => "TIMESTAMP",
    }
}

/// Stores every column as one of Cairn's logical types: decimals and 32-bit floats become
/// DOUBLE, nested and exotic types (JSON, lists, structs, blobs, times) become text.
fn normalise_types(conn: &Connection, table: &str) -> Result<()> {
    for (name, engine, dtype) in table_columns(conn, table)? {
        let target = match dtype {
            DataType::Float if engine != "DOUBLE" => "DOUBLE",
            DataType::Other(_) => "VARCHAR",
            _ => continue,
        };
        conn.execute_batch(&format!(
            "ALTER TABLE {} ALTER COLUMN {} TYPE {target}",
            ident(table),
            ident(&name)
        ))
        .map_err(|e| StoreError::db(format!("storing column `{name}` as {target}"), e))?;
    }
    Ok(())
}

fn check_not_null(
    conn: &Connection,
    table: &str,
    overrides: &[ColumnOverride],
    shown: &str,
) -> Result<()> {
    for o in overrides.iter().filter(|o| o.not_null) {
        let (nulls, first): (i64, Option<i64>) = conn
            .query_row(
                &format!(
                    // Inside the import transaction rowids are not row numbers; count instead.
                    "SELECT count(*) FILTER (WHERE {c} IS NULL), count(*) FILTER (WHERE rowid < (SELECT min(rowid) FROM {t} WHERE {c} IS NULL)) FROM {t}",
                    t = ident(table),
                    c = ident(&o.column)
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map_err(|e| StoreError::db("checking not-null columns", e))?;
        if nulls > 0 {
            return Err(import_error(
                shown,
                None,
                Some(o.column.clone()),
                format!(
                    "{nulls} value(s) are empty, first in data row {}, but the column was declared not null",
                    first.unwrap_or(0) + 1
                ),
                "fill the empty values or drop the not-null override",
            ));
        }
    }
    Ok(())
}

pub(crate) const NO_ROWS: &str = "the table has no rows";

/// What [`register_table`] records about a new table.
pub(crate) struct NewVersion<'a> {
    pub name: &'a str,
    pub source: String,
    pub options_json: Option<String>,
    pub categorical: Vec<String>,
    /// `(parent name, parent version, kind, details)`.
    pub lineage: Option<(String, u32, &'static str, serde_json::Value)>,
    /// For a version that exists elsewhere (bundle imports): refuse (rolling the import back)
    /// unless the table hashes to `claim.hash`, and keep its number when free.
    pub claim: Option<&'a VersionClaim>,
    /// Who the audit entry names.
    pub actor: &'a str,
}

/// Hashes a scratch table and either returns the identical existing version of `new.name`
/// (dropping the scratch table) or stores it as the next version, with its profile.
pub(crate) fn register_table(
    conn: &Connection,
    watch: &Watch,
    scratch: &str,
    new: NewVersion<'_>,
) -> Result<ImportOutcome> {
    let engine_columns = table_columns(conn, scratch)?;
    watch.stage("hash", "")?;
    let summary = summarise(conn, scratch, &engine_columns).map_err(|e| watch.engine(e))?;
    if summary.rows == 0 {
        return Err(StoreError::Invalid(NO_ROWS.into()));
    }
    let columns: Vec<Column> = engine_columns
        .into_iter()
        .zip(&summary.nulls)
        .map(|((name, _, dtype), nulls)| Column {
            categorical: new.categorical.contains(&name),
            name,
            dtype,
            nullable: *nulls > 0,
        })
        .collect();
    let hash = table_hash(&columns, &summary.rows_digest);
    if let Some(claim) = new.claim
        && claim.hash != hash
    {
        let expected = &claim.hash;
        return Err(StoreError::Invalid(format!(
            "the data hashes to {hash}, not to the expected {expected}: it is not the same data set version"
        )));
    }

    let existing: Option<i64> = conn
        .query_row(
            "SELECT version FROM dataset_versions WHERE name = ? AND hash = ? AND deleted_at IS NULL",
            duckdb::params![new.name, hash],
            |r| r.get(0),
        )
        .ok();
    if let Some(v) = existing {
        conn.execute_batch(&format!("DROP TABLE {}", ident(scratch)))
            .map_err(|e| StoreError::db("dropping the scratch table", e))?;
        let version = load_version(conn, new.name, v as u32)?;
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
        format!("DROP TABLE {}", ident(scratch))
    } else {
        format!(
            "ALTER TABLE {} RENAME TO {}",
            ident(scratch),
            ident(&table_name)
        )
    };
    conn.execute_batch(&move_sql)
        .map_err(|e| StoreError::db("storing the version's table", e))?;

    let has_profile: i64 = conn
        .query_row(
            "SELECT count(*) FROM dataset_profiles WHERE table_name = ?",
            [&table_name],
            |r| r.get(0),
        )
        .map_err(|e| StoreError::db("looking for a profile", e))?;
    if has_profile == 0 {
        watch.stage("profile", format!("{} columns", columns.len()))?;
        let profile = crate::profile::compute(conn, &table_name, &columns, summary.rows)
            .map_err(|e| watch.engine(e))?;
        conn.execute(
            "INSERT INTO dataset_profiles VALUES (?, ?)",
            duckdb::params![
                table_name,
                serde_json::to_string(&profile).expect("profile serialises")
            ],
        )
        .map_err(|e| StoreError::db("storing the profile", e))?;
    }
    watch.check()?;

    let (next, parent) = next_version_numbers(conn, new.name)?;
    let number = match new.claim {
        Some(claim) if claim.version > next => claim.version,
        _ => next,
    };
    let version = DatasetVersion {
        name: new.name.to_string(),
        version: number,
        hash,
        rows: summary.rows,
        columns,
        source: new.source,
        created_at: cairn_core::now_rfc3339(),
        parent_version: parent,
    };
    conn.execute(
        "INSERT INTO dataset_versions (name, version, hash, rows, columns_json, source, table_name, parent_version, created_at, options_json) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
            new.options_json,
        ],
    )
    .map_err(|e| StoreError::db("recording the version", e))?;
    let (action, from) = match &new.lineage {
        Some((parent, parent_version, kind, _)) => (
            "data.derive",
            serde_json::json!({"parent": format!("{parent}@{parent_version}"), "kind": kind}),
        ),
        None => ("data.import", serde_json::Value::Null),
    };
    if let Some((parent_name, parent_version, kind, details)) = new.lineage {
        conn.execute(
            "INSERT INTO dataset_lineage VALUES (?, ?, ?, ?, ?, ?)",
            duckdb::params![
                version.name,
                version.version,
                parent_name,
                parent_version,
                kind,
                details.to_string()
            ],
        )
        .map_err(|e| StoreError::db("recording lineage", e))?;
    }
    crate::audit::append(
        conn,
        new.actor,
        &[crate::audit::Record::new(
            action,
            format!("data:{}", version.label()),
            serde_json::json!({
                "hash": version.hash,
                "rows": version.rows,
                "source": version.source,
                "from": from,
            }),
        )],
        None,
    )?;
    Ok(ImportOutcome {
        version,
        created: true,
    })
}

/// `(name, DuckDB type, logical type)` of each column, in order.
pub(crate) fn table_columns(
    conn: &Connection,
    table: &str,
) -> Result<Vec<(String, String, DataType)>> {
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
        let logical = logical_type(&ty);
        out.push((name, ty, logical));
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
    /// SHA-256 (hex) over the block digests, in order (see [`summarise`]).
    rows_digest: String,
}

/// A row written canonically: every value cast to text, `\\` and the unit separator escaped,
/// NULL as `\\N`, values joined by U+001F.
pub(crate) fn canonical_row_sql<'a>(columns: impl IntoIterator<Item = &'a str>) -> String {
    let mut parts: Vec<String> = columns
        .into_iter()
        .map(|name| {
            format!(
                "coalesce(replace(replace(CAST({} AS VARCHAR), '\\', '\\\\'), chr(31), '\\u001f'), '\\N')",
                ident(name)
            )
        })
        .collect();
    // One call, not a chain of `||`: a chain of 10,000 columns exceeds the parser's depth limit.
    match parts.len() {
        0 => "''".to_string(),
        1 => parts.remove(0),
        _ => format!("concat_ws(chr(31), {})", parts.join(", ")),
    }
}

/// Rows per block of the row digest.
const HASH_BLOCK_ROWS: i64 = 65_536;

/// Row count, nulls per column and the row digest of a freshly written table.
///
/// Each row is written canonically — every value cast to text, `\` and the unit separator
/// escaped, NULL as `\N`, values joined by U+001F — and digested with MD5. The rows are taken in
/// blocks of 65,536 by row number; a block's digest is the SHA-256 of its rows' MD5 hex digests
/// in order, and the row digest is the SHA-256 of the block digests (hex) in order. MD5 and
/// SHA-256 are fixed algorithms, so the hash does not depend on the DuckDB version or the
/// machine; the blocks let DuckDB digest them in parallel instead of sorting every row at once.
fn summarise(
    conn: &Connection,
    table: &str,
    columns: &[(String, String, DataType)],
) -> Result<Summary> {
    let counts: Vec<String> = columns
        .iter()
        .map(|(name, _, _)| format!("count(*) - count({})", ident(name)))
        .collect();
    let sql = format!(
        "SELECT count(*), coalesce(min(rowid), 0), coalesce(max(rowid), -1){}{} FROM {}",
        if counts.is_empty() { "" } else { ", " },
        counts.join(", "),
        ident(table)
    );
    let (rows, first, last, nulls) = conn
        .query_row(&sql, [], |r| {
            let mut nulls = Vec::with_capacity(columns.len());
            for i in 0..columns.len() {
                nulls.push(r.get::<_, i64>(i + 3)? as u64);
            }
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                nulls,
            ))
        })
        .map_err(|e| StoreError::db("counting the imported table", e))?;
    // Row numbers are rowids from the first: tables are written once, in order, by one
    // transaction, so their rowids are contiguous. Check it rather than trust it.
    if rows > 0 && last - first + 1 != rows {
        return Err(StoreError::Invalid(format!(
            "internal: the table's row ids are not contiguous ({first}..={last} for {rows} rows)"
        )));
    }
    let canon = canonical_row_sql(columns.iter().map(|(name, _, _)| name.as_str()));
    let sql = format!(
        "SELECT (rowid - {first}) // {HASH_BLOCK_ROWS} AS block, sha256(string_agg(md5({canon}), '' ORDER BY rowid)) FROM {} GROUP BY block ORDER BY block",
        ident(table)
    );
    let ctx = "hashing the imported table";
    let mut stmt = conn.prepare(&sql).map_err(|e| StoreError::db(ctx, e))?;
    let blocks = stmt
        .query_map([], |r| r.get::<_, String>(1))
        .map_err(|e| StoreError::db(ctx, e))?
        .collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| StoreError::db(ctx, e))?;
    Ok(Summary {
        rows: rows as u64,
        nulls,
        rows_digest: sha256_hex(blocks.concat().as_bytes()),
    })
}

/// The version hash: SHA-256 over a format tag, the schema (names and logical types) and the
/// row digest.
/// A column marked categorical adds `\u{1f}categorical` to its line, so marking one is a change.
fn table_hash(columns: &[Column], rows_digest: &str) -> String {
    let mut text = String::from("cairn-table-v2\n");
    for c in columns {
        text.push_str(&format!("{}\u{1f}{}", c.name, c.dtype));
        if c.categorical {
            text.push_str("\u{1f}categorical");
        }
        text.push('\n');
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
pub(crate) fn describe_engine_error(message: &str) -> (Option<u64>, Option<String>, String) {
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
    use cairn_core::{DatasetRef, FrameValues, Progress};
    use std::io::Write;

    fn silent() -> impl ProgressObserver {
        Progress::silent()
    }

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
            options: Default::default(),
        };
        let first = store.import(&req, &mut silent()).unwrap();
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
        let again = store.import(&req, &mut silent()).unwrap();
        assert!(!again.created);
        assert_eq!(again.version, first.version);

        let p2 = write(dir.path(), "a2.csv", b"x,y,label\n1,2.5,a\n3,,c\n");
        let second = store
            .import(
                &ImportRequest {
                    path: &p2,
                    name: "a",
                    options: Default::default(),
                },
                &mut silent(),
            )
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
    fn a_snapshot_is_deterministic_and_comes_back_as_the_same_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_in_memory().unwrap();
        let mut csv = String::from("id,grade,score,when,note\n");
        for i in 0..200 {
            csv.push_str(&format!(
                "{i},{},{}.25,2026-01-{:02},{}\n",
                i % 3,
                i * 7 % 11,
                i % 28 + 1,
                if i % 5 == 0 { "" } else { "\"a,b\u{1f}c\"" }
            ));
        }
        let path = write(dir.path(), "d.csv", csv.as_bytes());
        let mut options = ImportOptions::default();
        options.column_mut("grade").categorical = true;
        let original = store
            .import(
                &ImportRequest {
                    path: &path,
                    name: "d",
                    options,
                },
                &mut silent(),
            )
            .unwrap()
            .version;
        let (s1, s2) = (dir.path().join("1.parquet"), dir.path().join("2.parquet"));
        store.write_snapshot(&original, &s1).unwrap();
        store.write_snapshot(&original, &s2).unwrap();
        assert_eq!(std::fs::read(&s1).unwrap(), std::fs::read(&s2).unwrap());

        // In another store: without the categorical mark the hash differs and nothing is kept.
        let other = Store::open_in_memory().unwrap();
        let claim = VersionClaim {
            hash: original.hash.clone(),
            version: 3,
        };
        let plain = ImportOptions {
            format: Some(FileFormat::Parquet),
            ..Default::default()
        };
        let err = other
            .import_expecting(
                &ImportRequest {
                    path: &s1,
                    name: "d",
                    options: plain.clone(),
                },
                Some(&claim),
                &mut silent(),
            )
            .unwrap_err();
        assert!(err.to_string().contains(&original.hash), "{err}");
        assert!(other.list_versions().unwrap().is_empty());
        // With it, the same version hash.
        let mut marked = plain;
        marked.column_mut("grade").categorical = true;
        let back = other
            .import_expecting(
                &ImportRequest {
                    path: &s1,
                    name: "d",
                    options: marked,
                },
                Some(&claim),
                &mut silent(),
            )
            .unwrap()
            .version;
        assert_eq!(back.hash, original.hash);
        assert_eq!(back.columns, original.columns);
        // The claimed number is kept where it is above every number used here.
        assert_eq!(back.label(), "d@3");
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
            .import(
                &ImportRequest {
                    path: &a,
                    name: "a",
                    options: Default::default(),
                },
                &mut silent(),
            )
            .unwrap()
            .version
            .hash;
        let hb = store
            .import(
                &ImportRequest {
                    path: &b,
                    name: "b",
                    options: Default::default(),
                },
                &mut silent(),
            )
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
                b"a,b\n1,caf\xc3\xa9\n2,\xff bad\n3,fine\n",
                Some(3),
                "UTF-8",
            ),
        ];
        for (name, bytes, line, words) in cases {
            let p = write(dir.path(), name, bytes);
            let err = store
                .import(
                    &ImportRequest {
                        path: &p,
                        name: "hostile",
                        options: Default::default(),
                    },
                    &mut silent(),
                )
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
