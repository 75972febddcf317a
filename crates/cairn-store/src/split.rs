//! Splitting a version into derived versions (train/valid/test), reproducibly.
//!
//! Which row goes where is decided by [`cairn_core::split::assign_parts`] from the rows in version
//! order and the seed; DuckDB then copies each part's rows, in order, into a new version named
//! `NAME-PART` whose lineage points at the parent. Same inputs, same seed: same rows and the same
//! version hashes, in any workspace on any machine.

use crate::ingest::{ImportOutcome, NewVersion, register_table};
use crate::sql::ident;
use crate::{Result, Store, StoreError};
use cairn_core::split::{SplitSpec, assign_parts};
use cairn_core::{DatasetVersion, ProgressObserver};

impl Store {
    pub fn split(
        &self,
        version: &DatasetVersion,
        spec: &SplitSpec,
        observer: &mut dyn ProgressObserver,
    ) -> Result<Vec<ImportOutcome>> {
        for (what, col) in [("stratify", &spec.stratify), ("group", &spec.group)] {
            if let Some(c) = col
                && version.column(c).is_none()
            {
                return Err(StoreError::Invalid(format!(
                    "cannot {what} by `{c}`: {} has no such column",
                    version.label()
                )));
            }
        }
        for (part, _) in &spec.parts {
            let name = format!("{}-{part}", version.name);
            cairn_core::dataset::validate_dataset_name(&name).map_err(StoreError::Invalid)?;
        }
        let table = self.table_of(version)?;
        let strata = spec
            .stratify
            .as_deref()
            .map(|c| self.text_column(&table, c))
            .transpose()?;
        let groups = spec
            .group
            .as_deref()
            .map(|c| self.text_column(&table, c))
            .transpose()?;
        let ratios: Vec<f64> = spec.parts.iter().map(|(_, r)| *r).collect();
        let parts = assign_parts(
            version.rows as usize,
            &ratios,
            spec.seed,
            strata.as_deref(),
            groups.as_deref(),
        );
        let categorical: Vec<String> = version
            .columns
            .iter()
            .filter(|c| c.categorical)
            .map(|c| c.name.clone())
            .collect();
        let parts = &parts;
        let table = &table;
        let actor = self.actor.as_str();
        self.watched(observer, move |conn, watch| {
            watch.stage("split", "assigning rows")?;
            let assign = format!("_assign_{}", cairn_core::RunId::new_v7());
            conn.execute_batch(&format!(
                "CREATE TEMP TABLE {} (row_number BIGINT, part UTINYINT)",
                ident(&assign)
            ))
            .map_err(|e| StoreError::db("preparing the split", e))?;
            {
                let mut app = conn
                    .appender(&assign)
                    .map_err(|e| StoreError::db("preparing the split", e))?;
                for (row, part) in parts.iter().enumerate() {
                    app.append_row(duckdb::params![row as i64, *part])
                        .map_err(|e| StoreError::db("preparing the split", e))?;
                }
                app.flush()
                    .map_err(|e| StoreError::db("preparing the split", e))?;
            }
            let mut outcomes = Vec::new();
            for (i, (part, _)) in spec.parts.iter().enumerate() {
                if !parts.contains(&(i as u8)) {
                    continue;
                }
                watch.stage("split", format!("writing {part}"))?;
                let scratch = format!("_split_{}", cairn_core::RunId::new_v7());
                conn.execute_batch(&format!(
                    "CREATE TABLE {} AS SELECT t.* FROM {} t JOIN {} a ON t.rowid = a.row_number WHERE a.part = {i} ORDER BY t.rowid",
                    ident(&scratch),
                    ident(table),
                    ident(&assign)
                ))
                .map_err(|e| watch.engine(StoreError::db(format!("writing part {part}"), e)))?;
                let name = format!("{}-{part}", version.name);
                outcomes.push(register_table(
                    conn,
                    watch,
                    &scratch,
                    NewVersion {
                        name: &name,
                        source: format!("{} split {part}", version.label()),
                        options_json: None,
                        categorical: categorical.clone(),
                        claim: None,
                        actor,
                        lineage: Some((
                            version.name.clone(),
                            version.version,
                            "split",
                            serde_json::json!({
                                "part": part,
                                "parts": spec.parts,
                                "seed": spec.seed,
                                "stratify": spec.stratify,
                                "group": spec.group,
                            }),
                        )),
                    },
                )?);
            }
            conn.execute_batch(&format!("DROP TABLE {}", ident(&assign)))
                .map_err(|e| StoreError::db("finishing the split", e))?;
            Ok(outcomes)
        })
    }

    /// A column's values as text (NULL as `None`), in version order.
    fn text_column(&self, table: &str, column: &str) -> Result<Vec<Option<String>>> {
        let ctx = || format!("reading column `{column}`");
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT CAST({} AS VARCHAR) FROM {} ORDER BY rowid",
                ident(column),
                ident(table)
            ))
            .map_err(|e| StoreError::db(ctx(), e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, Option<String>>(0))
            .map_err(|e| StoreError::db(ctx(), e))?;
        rows.collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| StoreError::db(ctx(), e))
    }
}
