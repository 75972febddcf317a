//! A data version's reference sketch (`cairn_core::registry::ReferenceSketch`): per column the
//! counts, quantiles and histogram of numeric values and the category counts — what drift tests
//! need later without the table. Computed in DuckDB when a model version is registered.

use crate::sql::ident;
use crate::{Result, Store, StoreError};
use cairn_core::DatasetVersion;
use cairn_core::registry::{
    ColumnSketch, NumericSketch, ReferenceSketch, SKETCH_FORMAT, SKETCH_MAX_CATEGORIES,
    SKETCH_QUANTILES,
};

impl Store {
    /// The sketch of `columns` of `version` (all columns when empty).
    pub fn reference_sketch(
        &self,
        version: &DatasetVersion,
        columns: &[String],
    ) -> Result<ReferenceSketch> {
        let profile = self.profile(version)?;
        let table = ident(&self.table_of(version)?);
        let mut out = Vec::new();
        for c in &version.columns {
            if !columns.is_empty() && !columns.contains(&c.name) {
                continue;
            }
            let p = profile.column(&c.name);
            let col = ident(&c.name);
            let ctx = "sketching the training data";
            let numeric = match p.and_then(|p| p.numeric.as_ref()) {
                Some(n) if c.dtype.is_numeric() => {
                    let probs: Vec<String> = (0..SKETCH_QUANTILES)
                        .map(|i| format!("{}", i as f64 / (SKETCH_QUANTILES - 1) as f64))
                        .collect();
                    let sql = format!(
                        "SELECT CAST(quantile_cont(CAST({col} AS DOUBLE), [{}]) AS VARCHAR) FROM {table}",
                        probs.join(", ")
                    );
                    let text: Option<String> = self
                        .conn
                        .query_row(&sql, [], |r| r.get(0))
                        .map_err(|e| StoreError::db(ctx, e))?;
                    let quantiles: Vec<f64> = text
                        .as_deref()
                        .unwrap_or("[]")
                        .trim_matches(|c| c == '[' || c == ']')
                        .split(',')
                        .filter_map(|s| s.trim().parse().ok())
                        .collect();
                    Some(NumericSketch {
                        min: n.min,
                        max: n.max,
                        mean: n.mean,
                        std: n.std,
                        quantiles,
                        histogram_edges: n.histogram.edges.clone(),
                        histogram_counts: n.histogram.counts.clone(),
                    })
                }
                _ => None,
            };
            let distinct = p.map_or(u64::MAX, |p| p.distinct);
            let mut categories = Vec::new();
            let mut other_count = 0;
            if numeric.is_none() || distinct <= SKETCH_MAX_CATEGORIES as u64 {
                let sql = format!(
                    "SELECT CAST({col} AS VARCHAR) AS v, count(*) AS n FROM {table} WHERE {col} IS NOT NULL \
                     GROUP BY v ORDER BY n DESC, v LIMIT {}",
                    SKETCH_MAX_CATEGORIES + 1
                );
                let mut stmt = self
                    .conn
                    .prepare(&sql)
                    .map_err(|e| StoreError::db(ctx, e))?;
                let rows = stmt
                    .query_map([], |r| {
                        Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
                    })
                    .map_err(|e| StoreError::db(ctx, e))?;
                categories = rows
                    .collect::<std::result::Result<Vec<_>, _>>()
                    .map_err(|e| StoreError::db(ctx, e))?;
                if categories.len() > SKETCH_MAX_CATEGORIES {
                    categories.truncate(SKETCH_MAX_CATEGORIES);
                    let kept: u64 = categories.iter().map(|(_, n)| n).sum();
                    other_count = p.map_or(0, |p| p.count).saturating_sub(kept);
                }
            }
            out.push(ColumnSketch {
                name: c.name.clone(),
                dtype: c.dtype.to_string(),
                count: p.map_or(0, |p| p.count),
                nulls: p.map_or(0, |p| p.nulls),
                numeric,
                categories,
                other_count,
            });
        }
        Ok(ReferenceSketch {
            format_version: SKETCH_FORMAT,
            rows: version.rows,
            columns: out,
        })
    }
}
