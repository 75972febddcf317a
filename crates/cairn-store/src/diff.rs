//! Row-level differences between two versions, computed by DuckDB joins.
//!
//! With a key column, rows are matched on it: added, removed and changed rows, and which cells
//! changed. Without one, rows are compared as a multiset of canonical row hashes over the shared
//! columns (the same canonical form the version hash uses).

use crate::ingest::canonical_row_sql;
use crate::sql::ident;
use crate::{Result, Store, StoreError};
use cairn_core::diff::{ChangedRow, DIFF_SAMPLES, DatasetDiff, ProfileDelta, SchemaDiff};
use cairn_core::{Column, DatasetVersion};

type Row = Vec<(String, Option<String>)>;

impl Store {
    pub fn diff(
        &self,
        from: &DatasetVersion,
        to: &DatasetVersion,
        key: Option<&str>,
    ) -> Result<DatasetDiff> {
        let ta = self.table_of(from)?;
        let tb = self.table_of(to)?;
        let mut schema = SchemaDiff {
            added: Vec::new(),
            removed: Vec::new(),
            retyped: Vec::new(),
        };
        let mut shared: Vec<&Column> = Vec::new();
        for c in &from.columns {
            match to.column(&c.name) {
                None => schema.removed.push((c.name.clone(), c.dtype.clone())),
                Some(d) => {
                    if d.dtype != c.dtype {
                        schema
                            .retyped
                            .push((c.name.clone(), c.dtype.clone(), d.dtype.clone()));
                    }
                    shared.push(c);
                }
            }
        }
        for d in &to.columns {
            if from.column(&d.name).is_none() {
                schema.added.push((d.name.clone(), d.dtype.clone()));
            }
        }
        let mut diff = DatasetDiff {
            from: from.label(),
            to: to.label(),
            key: key.map(str::to_string),
            schema,
            rows_from: from.rows,
            rows_to: to.rows,
            added: 0,
            removed: 0,
            changed: 0,
            unchanged: 0,
            changed_by_column: Vec::new(),
            added_samples: Vec::new(),
            removed_samples: Vec::new(),
            changed_samples: Vec::new(),
            profile_deltas: self.profile_deltas(from, to, &shared)?,
        };
        match key {
            Some(k) => self.keyed(&mut diff, from, to, &ta, &tb, k, &shared)?,
            None => self.by_row_hash(&mut diff, from, to, &ta, &tb, &shared)?,
        }
        Ok(diff)
    }

    #[allow(clippy::too_many_arguments)]
    fn keyed(
        &self,
        diff: &mut DatasetDiff,
        from: &DatasetVersion,
        to: &DatasetVersion,
        ta: &str,
        tb: &str,
        key: &str,
        shared: &[&Column],
    ) -> Result<()> {
        for (v, t) in [(from, ta), (to, tb)] {
            if v.column(key).is_none() {
                return Err(StoreError::Invalid(format!(
                    "{} has no column `{key}` to match rows on",
                    v.label()
                )));
            }
            let dupes: i64 = self.scalar(&format!(
                "SELECT count(*) FROM (SELECT {k} FROM {t} GROUP BY {k} HAVING count(*) > 1 OR {k} IS NULL)",
                k = ident(key),
                t = ident(t)
            ))?;
            if dupes > 0 {
                return Err(StoreError::Invalid(format!(
                    "`{key}` does not identify rows in {}: {dupes} value(s) repeat or are empty; pick a unique key, or diff without --key",
                    v.label()
                )));
            }
        }
        let k = ident(key);
        let (ta_q, tb_q) = (ident(ta), ident(tb));
        diff.added = self.scalar(&format!(
            "SELECT count(*) FROM {tb_q} b WHERE NOT EXISTS (SELECT 1 FROM {ta_q} a WHERE a.{k} = b.{k})"
        ))? as u64;
        diff.removed = self.scalar(&format!(
            "SELECT count(*) FROM {ta_q} a WHERE NOT EXISTS (SELECT 1 FROM {tb_q} b WHERE a.{k} = b.{k})"
        ))? as u64;
        let cols: Vec<&Column> = shared.iter().copied().filter(|c| c.name != key).collect();
        let differs = |c: &Column| {
            format!(
                "CAST(a.{n} AS VARCHAR) IS DISTINCT FROM CAST(b.{n} AS VARCHAR)",
                n = ident(&c.name)
            )
        };
        let any = if cols.is_empty() {
            "false".to_string()
        } else {
            cols.iter()
                .map(|c| differs(c))
                .collect::<Vec<_>>()
                .join(" OR ")
        };
        let mut select = vec![format!("count(*) FILTER (WHERE {any})"), "count(*)".into()];
        select.extend(
            cols.iter()
                .map(|c| format!("count(*) FILTER (WHERE {})", differs(c))),
        );
        let join = format!("FROM {ta_q} a JOIN {tb_q} b ON a.{k} = b.{k}");
        let counts: Vec<i64> = self
            .conn
            .query_row(&format!("SELECT {} {join}", select.join(", ")), [], |r| {
                (0..select.len()).map(|i| r.get(i)).collect()
            })
            .map_err(|e| StoreError::db("comparing matched rows", e))?;
        diff.changed = counts[0] as u64;
        diff.unchanged = (counts[1] - counts[0]) as u64;
        diff.changed_by_column = cols
            .iter()
            .zip(&counts[2..])
            .filter(|(_, n)| **n > 0)
            .map(|(c, n)| (c.name.clone(), *n as u64))
            .collect();
        diff.added_samples = self.sample(
            to,
            &format!("WHERE NOT EXISTS (SELECT 1 FROM {ta_q} a WHERE a.{k} = t.{k})"),
            tb,
        )?;
        diff.removed_samples = self.sample(
            from,
            &format!("WHERE NOT EXISTS (SELECT 1 FROM {tb_q} b WHERE b.{k} = t.{k})"),
            ta,
        )?;
        if diff.changed > 0 {
            let mut select = vec![format!("CAST(a.{k} AS VARCHAR)")];
            for c in &cols {
                let n = ident(&c.name);
                select.push(format!("CAST(a.{n} AS VARCHAR)"));
                select.push(format!("CAST(b.{n} AS VARCHAR)"));
            }
            let sql = format!(
                "SELECT {} {join} WHERE {any} ORDER BY b.rowid LIMIT {DIFF_SAMPLES}",
                select.join(", ")
            );
            let ctx = "sampling changed rows";
            let mut stmt = self
                .conn
                .prepare(&sql)
                .map_err(|e| StoreError::db(ctx, e))?;
            let mut rows = stmt.query([]).map_err(|e| StoreError::db(ctx, e))?;
            while let Some(row) = rows.next().map_err(|e| StoreError::db(ctx, e))? {
                let key_value: Option<String> = row.get(0).map_err(|e| StoreError::db(ctx, e))?;
                let mut cells = Vec::new();
                for (i, c) in cols.iter().enumerate() {
                    let before: Option<String> =
                        row.get(1 + 2 * i).map_err(|e| StoreError::db(ctx, e))?;
                    let after: Option<String> =
                        row.get(2 + 2 * i).map_err(|e| StoreError::db(ctx, e))?;
                    if before != after {
                        cells.push((c.name.clone(), before, after));
                    }
                }
                diff.changed_samples.push(ChangedRow {
                    key: key_value.unwrap_or_default(),
                    cells,
                });
            }
        }
        Ok(())
    }

    fn by_row_hash(
        &self,
        diff: &mut DatasetDiff,
        from: &DatasetVersion,
        to: &DatasetVersion,
        ta: &str,
        tb: &str,
        shared: &[&Column],
    ) -> Result<()> {
        let canon = format!(
            "md5({})",
            canonical_row_sql(shared.iter().map(|c| c.name.as_str()))
        );
        let (ta_q, tb_q) = (ident(ta), ident(tb));
        let only_b = format!("SELECT {canon} FROM {tb_q} EXCEPT ALL SELECT {canon} FROM {ta_q}");
        let only_a = format!("SELECT {canon} FROM {ta_q} EXCEPT ALL SELECT {canon} FROM {tb_q}");
        diff.added = self.scalar(&format!("SELECT count(*) FROM ({only_b})"))? as u64;
        diff.removed = self.scalar(&format!("SELECT count(*) FROM ({only_a})"))? as u64;
        diff.unchanged = to.rows - diff.added;
        diff.added_samples = self.sample(to, &format!("WHERE {canon} IN ({only_b})"), tb)?;
        diff.removed_samples = self.sample(from, &format!("WHERE {canon} IN ({only_a})"), ta)?;
        Ok(())
    }

    fn scalar(&self, sql: &str) -> Result<i64> {
        self.conn
            .query_row(sql, [], |r| r.get(0))
            .map_err(|e| StoreError::db("comparing versions", e))
    }

    /// Up to [`DIFF_SAMPLES`] rows of `version` (table alias `t`) matching `filter`, in order.
    fn sample(&self, version: &DatasetVersion, filter: &str, table: &str) -> Result<Vec<Row>> {
        let select: Vec<String> = version
            .columns
            .iter()
            .map(|c| format!("CAST(t.{} AS VARCHAR)", ident(&c.name)))
            .collect();
        let sql = format!(
            "SELECT {} FROM {} t {filter} ORDER BY t.rowid LIMIT {DIFF_SAMPLES}",
            select.join(", "),
            ident(table)
        );
        let ctx = "sampling rows";
        let mut stmt = self
            .conn
            .prepare(&sql)
            .map_err(|e| StoreError::db(ctx, e))?;
        let mut rows = stmt.query([]).map_err(|e| StoreError::db(ctx, e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| StoreError::db(ctx, e))? {
            let mut values = Vec::new();
            for (i, c) in version.columns.iter().enumerate() {
                values.push((
                    c.name.clone(),
                    row.get::<_, Option<String>>(i)
                        .map_err(|e| StoreError::db(ctx, e))?,
                ));
            }
            out.push(values);
        }
        Ok(out)
    }

    fn profile_deltas(
        &self,
        from: &DatasetVersion,
        to: &DatasetVersion,
        shared: &[&Column],
    ) -> Result<Vec<ProfileDelta>> {
        let (pa, pb) = (self.profile(from)?, self.profile(to)?);
        let mut out = Vec::new();
        for c in shared {
            let (Some(a), Some(b)) = (pa.column(&c.name), pb.column(&c.name)) else {
                continue;
            };
            let num = |f: fn(&cairn_core::profile::NumericStats) -> Option<f64>| match (
                a.numeric.as_ref().and_then(f),
                b.numeric.as_ref().and_then(f),
            ) {
                (Some(x), Some(y)) => Some(y - x),
                _ => None,
            };
            out.push(ProfileDelta {
                column: c.name.clone(),
                nulls: b.nulls as i64 - a.nulls as i64,
                distinct: b.distinct as i64 - a.distinct as i64,
                mean: num(|n| Some(n.mean)),
                std: num(|n| n.std),
                min: num(|n| Some(n.min)),
                max: num(|n| Some(n.max)),
            });
        }
        Ok(out)
    }
}
