//! Reading, paging, exporting and deleting data set versions, and their lineage.

use crate::sql::{ident, literal};
use crate::{Result, Store, StoreError};
use cairn_core::dataset::VersionSelector;
use cairn_core::profile::DatasetProfile;
use cairn_core::{
    DataType, DatasetRef, DatasetVersion, Frame, FrameColumn, FrameValues, LineageEdge,
};
use duckdb::Connection;
use std::path::Path;

/// One page of a version's rows, as text, for table views.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Page {
    pub offset: u64,
    pub total: u64,
    pub columns: Vec<String>,
    pub rows: Vec<Vec<Option<String>>>,
}

/// What `delete` did, or would refuse to do.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct DeleteOutcome {
    pub deleted: String,
    /// Runs that trained on the version (`run name (id)`), now pointing at a deleted version.
    pub runs: Vec<String>,
    /// Versions derived from it, whose lineage now names a deleted parent.
    pub derived: Vec<String>,
    /// False when another live version has the same content, so the table stays.
    pub table_dropped: bool,
}

impl Store {
    /// Every version of every data set, by name then version.
    pub fn list_versions(&self) -> Result<Vec<DatasetVersion>> {
        let mut stmt = self
            .conn
            .prepare(&format!(
                "{VERSION_SELECT} WHERE deleted_at IS NULL ORDER BY name, version"
            ))
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
        let table = self.table_of(version)?;
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

    pub(crate) fn table_of(&self, version: &DatasetVersion) -> Result<String> {
        self.conn
            .query_row(
                "SELECT table_name FROM dataset_versions WHERE name = ? AND version = ?",
                duckdb::params![version.name, version.version],
                |r| r.get(0),
            )
            .map_err(|e| StoreError::db(format!("finding the table of {}", version.label()), e))
    }

    /// How a version was read (detected or given), if it was imported from files.
    pub fn import_options(
        &self,
        version: &DatasetVersion,
    ) -> Result<Option<cairn_core::ImportOptions>> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT options_json FROM dataset_versions WHERE name = ? AND version = ?",
                duckdb::params![version.name, version.version],
                |r| r.get(0),
            )
            .map_err(|e| StoreError::db("reading import options", e))?;
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    /// The profile stored with a version.
    pub fn profile(&self, version: &DatasetVersion) -> Result<DatasetProfile> {
        let table = self.table_of(version)?;
        let json: String = self
            .conn
            .query_row(
                "SELECT profile_json FROM dataset_profiles WHERE table_name = ?",
                [&table],
                |r| r.get(0),
            )
            .map_err(|e| {
                StoreError::db(format!("reading the profile of {}", version.label()), e)
            })?;
        serde_json::from_str(&json).map_err(|e| {
            StoreError::Invalid(format!(
                "the stored profile of {} is unreadable: {e}",
                version.label()
            ))
        })
    }

    /// Rows `offset .. offset + limit` in version order, every value as text.
    ///
    /// Version tables are written once, in order, so `rowid` is the row number and a page is a
    /// range scan, as fast at row 5,000,000 as at row 0.
    pub fn page(&self, version: &DatasetVersion, offset: u64, limit: u64) -> Result<Page> {
        let table = self.table_of(version)?;
        let limit = limit.min(10_000);
        let select: Vec<String> = version
            .columns
            .iter()
            .map(|c| format!("CAST({} AS VARCHAR)", ident(&c.name)))
            .collect();
        let sql = format!(
            "SELECT {} FROM {} WHERE rowid >= ? AND rowid < ? ORDER BY rowid",
            select.join(", "),
            ident(&table)
        );
        let ctx = || format!("reading rows of {}", version.label());
        let mut stmt = self
            .conn
            .prepare(&sql)
            .map_err(|e| StoreError::db(ctx(), e))?;
        let mut rows = stmt
            .query(duckdb::params![offset as i64, (offset + limit) as i64])
            .map_err(|e| StoreError::db(ctx(), e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| StoreError::db(ctx(), e))? {
            let mut values = Vec::with_capacity(version.columns.len());
            for i in 0..version.columns.len() {
                values.push(
                    row.get::<_, Option<String>>(i)
                        .map_err(|e| StoreError::db(ctx(), e))?,
                );
            }
            out.push(values);
        }
        Ok(Page {
            offset,
            total: version.rows,
            columns: version.columns.iter().map(|c| c.name.clone()).collect(),
            rows: out,
        })
    }

    /// Writes a version to a Parquet or CSV file (by `to`'s extension), rows in version order.
    /// The file appears whole or not at all.
    pub fn export(&self, version: &DatasetVersion, to: &Path) -> Result<()> {
        let table = self.table_of(version)?;
        self.copy_query_to(
            &format!("SELECT * FROM {} ORDER BY rowid", ident(&table)),
            to,
        )
    }

    /// Writes a version as the deterministic Parquet snapshot a bundle carries: rows in version
    /// order, one writer thread, fixed row-group size and compression, so the same version
    /// always gives the same bytes (with the same DuckDB build). The file appears whole or not
    /// at all. Re-importing it gives the same version hash as long as the categorical columns
    /// are marked again (the hash covers that flag, which Parquet does not carry).
    pub fn write_snapshot(&self, version: &DatasetVersion, to: &Path) -> Result<()> {
        let table = self.table_of(version)?;
        let partial = to.with_extension("parquet.partial");
        let sql = format!(
            "SET threads = 1; COPY (SELECT * FROM {} ORDER BY rowid) TO {} (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE 65536)",
            ident(&table),
            literal(&partial.to_string_lossy())
        );
        let written = self.conn.execute_batch(&sql);
        let reset = self.conn.execute_batch("RESET threads");
        if let Err(e) = written.and(reset) {
            let _ = std::fs::remove_file(&partial);
            return Err(StoreError::db(
                format!("writing the snapshot of {}", version.label()),
                e,
            ));
        }
        std::fs::rename(&partial, to).map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            StoreError::Invalid(format!("cannot write {}: {e}", to.display()))
        })
    }

    /// Writes the rows of `query` to `to` (`.parquet`, `.csv` or `.tsv`, by its extension),
    /// atomically: a `.partial` file, renamed when complete.
    fn copy_query_to(&self, query: &str, to: &Path) -> Result<()> {
        let format = match to
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
        {
            Some(e) if e == "parquet" => "FORMAT parquet",
            Some(e) if e == "csv" => "FORMAT csv, HEADER true",
            Some(e) if e == "tsv" => "FORMAT csv, HEADER true, DELIMITER '\t'",
            _ => {
                return Err(StoreError::Invalid(format!(
                    "cannot tell the format of {}; name a .parquet, .csv or .tsv file",
                    to.display()
                )));
            }
        };
        let partial = to.with_extension(format!(
            "{}.partial",
            to.extension().and_then(|e| e.to_str()).unwrap_or("out")
        ));
        let sql = format!(
            "COPY ({query}) TO {} ({format})",
            literal(&partial.to_string_lossy())
        );
        if let Err(e) = self.conn.execute_batch(&sql) {
            let _ = std::fs::remove_file(&partial);
            return Err(StoreError::Invalid(format!(
                "cannot write {}: {}",
                to.display(),
                crate::ingest::describe_engine_error(&e.to_string()).2
            )));
        }
        std::fs::rename(&partial, to).map_err(|e| {
            let _ = std::fs::remove_file(&partial);
            StoreError::Invalid(format!("cannot write {}: {e}", to.display()))
        })
    }

    /// Writes an in-memory table (e.g. predictions) to `to`, like [`Store::export`]: numeric
    /// columns as DOUBLE, text as VARCHAR, rows in order.
    pub fn write_frame(&self, frame: &Frame, to: &Path) -> Result<()> {
        let ctx = "writing a table";
        let table = format!("cairn_frame_{}", std::process::id());
        let columns: Vec<String> = frame
            .columns
            .iter()
            .map(|c| {
                let ty = match c.values {
                    FrameValues::Numeric(_) if c.dtype == DataType::Integer => "BIGINT",
                    FrameValues::Numeric(_) => "DOUBLE",
                    FrameValues::Text(_) => "VARCHAR",
                };
                format!("{} {ty}", ident(&c.name))
            })
            .collect();
        self.conn
            .execute_batch(&format!(
                "CREATE OR REPLACE TEMP TABLE {} ({})",
                ident(&table),
                columns.join(", ")
            ))
            .map_err(|e| StoreError::db(ctx, e))?;
        let filled = (|| -> Result<()> {
            let mut app = self
                .conn
                .appender_to_catalog_and_db(&table, "temp", "main")
                .map_err(|e| StoreError::db(ctx, e))?;
            for r in 0..frame.rows() {
                let row = frame.columns.iter().map(|c| match &c.values {
                    FrameValues::Numeric(v) if c.dtype == DataType::Integer => {
                        duckdb::types::Value::from(v[r].map(|x| x as i64))
                    }
                    FrameValues::Numeric(v) => duckdb::types::Value::from(v[r]),
                    FrameValues::Text(v) => duckdb::types::Value::from(v[r].clone()),
                });
                app.append_row(duckdb::appender_params_from_iter(row))
                    .map_err(|e| StoreError::db(ctx, e))?;
            }
            app.flush().map_err(|e| StoreError::db(ctx, e))
        })();
        let written = filled.and_then(|()| {
            self.copy_query_to(&format!("SELECT * FROM temp.{}", ident(&table)), to)
        });
        let _ = self
            .conn
            .execute_batch(&format!("DROP TABLE IF EXISTS temp.{}", ident(&table)));
        written
    }

    /// Runs (as `name (id)`) and live versions derived from `version`.
    fn dependants(&self, version: &DatasetVersion) -> Result<(Vec<String>, Vec<String>)> {
        let ctx = "looking for what uses the version";
        let mut stmt = self
            .conn
            .prepare("SELECT name || ' (' || id || ')' FROM runs WHERE dataset = ? ORDER BY seq")
            .map_err(|e| StoreError::db(ctx, e))?;
        let runs = stmt
            .query_map([version.label()], |r| r.get::<_, String>(0))
            .map_err(|e| StoreError::db(ctx, e))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| StoreError::db(ctx, e))?;
        let mut stmt = self
            .conn
            .prepare(
                "SELECT l.child_name || '@' || l.child_version FROM dataset_lineage l JOIN dataset_versions v ON v.name = l.child_name AND v.version = l.child_version WHERE l.parent_name = ? AND l.parent_version = ? AND v.deleted_at IS NULL ORDER BY 1",
            )
            .map_err(|e| StoreError::db(ctx, e))?;
        let derived = stmt
            .query_map(duckdb::params![version.name, version.version], |r| {
                r.get::<_, String>(0)
            })
            .map_err(|e| StoreError::db(ctx, e))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| StoreError::db(ctx, e))?;
        Ok((runs, derived))
    }

    /// Deletes a version. Refuses while runs or derived versions reference it, unless `force`;
    /// then the version is kept as a tombstone (name, number, hash) so those references say
    /// "deleted" instead of dangling, and its data table is dropped unless another version
    /// shares it. Version numbers are never reused.
    pub fn delete_version(&self, version: &DatasetVersion, force: bool) -> Result<DeleteOutcome> {
        let (runs, derived) = self.dependants(version)?;
        let unused = runs.is_empty() && derived.is_empty();
        if !force && !unused {
            let mut uses = Vec::new();
            if !runs.is_empty() {
                uses.push(format!("runs {}", runs.join(", ")));
            }
            if !derived.is_empty() {
                uses.push(format!("derived versions {}", derived.join(", ")));
            }
            return Err(StoreError::InUse(format!(
                "{} is used by {}; delete those first, or pass --force to delete it anyway (they will show it as deleted)",
                version.label(),
                uses.join(" and ")
            )));
        }
        let table = self.table_of(version)?;
        self.in_transaction(|conn| {
            conn.execute(
                "UPDATE dataset_versions SET deleted_at = ? WHERE name = ? AND version = ?",
                duckdb::params![cairn_core::now_rfc3339(), version.name, version.version],
            )
            .map_err(|e| StoreError::db("marking the version deleted", e))?;
            let still_used: i64 = conn
                .query_row(
                    "SELECT count(*) FROM dataset_versions WHERE table_name = ? AND deleted_at IS NULL",
                    [&table],
                    |r| r.get(0),
                )
                .map_err(|e| StoreError::db("checking shared tables", e))?;
            if still_used == 0 {
                conn.execute_batch(&format!("DROP TABLE {}", ident(&table)))
                    .map_err(|e| StoreError::db("dropping the version's table", e))?;
                conn.execute("DELETE FROM dataset_profiles WHERE table_name = ?", [&table])
                    .map_err(|e| StoreError::db("dropping the version's profile", e))?;
            }
            crate::audit::append(
                conn,
                &self.actor,
                &[crate::audit::Record::new(
                    "data.delete",
                    format!("data:{}", version.label()),
                    serde_json::json!({
                        "hash": version.hash,
                        "forced": force,
                        "used_by_runs": runs,
                        "derived": derived,
                    }),
                )],
                Some(&self.audit_head),
            )?;
            Ok(DeleteOutcome {
                deleted: version.label(),
                runs,
                derived,
                table_dropped: still_used == 0,
            })
        })
    }

    /// Lineage edges touching any version of data set `name` (as child or parent).
    pub fn lineage(&self, name: &str) -> Result<Vec<LineageEdge>> {
        let ctx = "reading lineage";
        let mut stmt = self
            .conn
            .prepare(
                "SELECT l.child_name, l.child_version, l.parent_name, l.parent_version, l.kind, l.details_json, p.deleted_at IS NOT NULL \
                 FROM dataset_lineage l LEFT JOIN dataset_versions p ON p.name = l.parent_name AND p.version = l.parent_version \
                 WHERE l.child_name = ? OR l.parent_name = ? ORDER BY l.parent_name, l.parent_version, l.child_name, l.child_version",
            )
            .map_err(|e| StoreError::db(ctx, e))?;
        let rows = stmt
            .query_map(duckdb::params![name, name], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                    r.get::<_, Option<bool>>(6)?,
                ))
            })
            .map_err(|e| StoreError::db(ctx, e))?;
        let mut out = Vec::new();
        for row in rows {
            let (cn, cv, pn, pv, kind, details, deleted) =
                row.map_err(|e| StoreError::db(ctx, e))?;
            out.push(LineageEdge {
                child: format!("{cn}@{cv}"),
                parent: format!("{pn}@{pv}"),
                kind,
                details: serde_json::from_str(&details).unwrap_or(serde_json::Value::Null),
                parent_deleted: deleted.unwrap_or(true),
            });
        }
        Ok(out)
    }
}

/// The next version number of `name` (never reusing a deleted one) and its parent: the latest
/// live version.
pub(crate) fn next_version_numbers(conn: &Connection, name: &str) -> Result<(u32, Option<u32>)> {
    conn.query_row(
        "SELECT coalesce(max(version), 0), max(version) FILTER (WHERE deleted_at IS NULL) FROM dataset_versions WHERE name = ?",
        [name],
        |r| Ok((r.get::<_, i64>(0)? as u32 + 1, r.get::<_, Option<i64>>(1)?.map(|v| v as u32))),
    )
    .map_err(|e| StoreError::db("numbering the version", e))
}

const VERSION_SELECT: &str = "SELECT name, version, hash, rows, columns_json, source, created_at, parent_version FROM dataset_versions";

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
        parent_version: r.get::<_, Option<i64>>(7).ok().flatten().map(|v| v as u32),
    }))
}

pub(crate) fn load_version(conn: &Connection, name: &str, version: u32) -> Result<DatasetVersion> {
    conn.query_row(
        &format!("{VERSION_SELECT} WHERE name = ? AND version = ?"),
        duckdb::params![name, version],
        version_from_row,
    )
    .map_err(|e| StoreError::db("reading a version", e))?
}
