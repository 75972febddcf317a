//! Column profiles, computed by DuckDB in three passes over a version's table: one aggregate
//! query for counts, distinct counts, ranges, moments, quantiles and string lengths; one for all
//! numeric histograms; one small grouped query per non-float column for its most frequent values.
//! Columns are taken in batches, so a table with 10,000 columns is a few dozen queries.

use crate::sql::ident;
use crate::{Result, StoreError};
use cairn_core::profile::{
    APPROX_DISTINCT_ERROR, ColumnProfile, DatasetProfile, EXACT_DISTINCT_MAX_ROWS,
    EXACT_QUANTILE_MAX_ROWS, HISTOGRAM_BINS, Histogram, LengthStats, NumericStats, QUANTILES,
    TOP_VALUES, TopValue,
};
use cairn_core::{Column, DataType};
use duckdb::Connection;
use std::collections::BTreeMap;

const BATCH: usize = 100;

pub(crate) fn compute(
    conn: &Connection,
    table: &str,
    columns: &[Column],
    rows: u64,
) -> Result<DatasetProfile> {
    let mut out = Vec::with_capacity(columns.len());
    for batch in columns.chunks(BATCH) {
        let mut profiles = first_pass(conn, table, batch, rows)?;
        histograms(conn, table, batch, &mut profiles)?;
        for (col, p) in batch.iter().zip(profiles.iter_mut()) {
            if col.dtype != DataType::Float && p.count > 0 && p.distinct < p.count {
                p.top = top_values(conn, table, &col.name)?;
            }
        }
        out.extend(profiles);
    }
    Ok(DatasetProfile { rows, columns: out })
}

fn is_text(dtype: &DataType) -> bool {
    matches!(dtype, DataType::String | DataType::Other(_))
}

fn first_pass(
    conn: &Connection,
    table: &str,
    columns: &[Column],
    rows: u64,
) -> Result<Vec<ColumnProfile>> {
    let exact_distinct = rows <= EXACT_DISTINCT_MAX_ROWS;
    let exact_quantiles = rows <= EXACT_QUANTILE_MAX_ROWS;
    let qs = QUANTILES
        .iter()
        .map(|q| q.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let mut select = Vec::new();
    for c in columns {
        let col = ident(&c.name);
        select.push(format!("count({col})"));
        select.push(if exact_distinct {
            format!("count(DISTINCT {col})")
        } else {
            format!("approx_count_distinct({col})")
        });
        select.push(format!("CAST(min({col}) AS VARCHAR)"));
        select.push(format!("CAST(max({col}) AS VARCHAR)"));
        if c.dtype.is_numeric() {
            let x = format!("CAST({col} AS DOUBLE)");
            select.push(format!("min({x})"));
            select.push(format!("max({x})"));
            select.push(format!("avg({x})"));
            select.push(format!("stddev_samp({x})"));
            select.push(if exact_quantiles {
                format!("CAST(to_json(quantile_cont({x}, [{qs}])) AS VARCHAR)")
            } else {
                format!("CAST(to_json(approx_quantile({x}, [{qs}])) AS VARCHAR)")
            });
        } else if is_text(&c.dtype) {
            select.push(format!("min(length({col}))"));
            select.push(format!("max(length({col}))"));
            select.push(format!("avg(length({col}))"));
        }
    }
    let sql = format!("SELECT {} FROM {}", select.join(", "), ident(table));
    let ctx = "profiling the columns";
    conn.query_row(&sql, [], |r| {
        let mut i = 0usize;
        let next_i64 = |i: &mut usize| -> duckdb::Result<Option<i64>> {
            *i += 1;
            r.get::<_, Option<i64>>(*i - 1)
        };
        let mut profiles = Vec::with_capacity(columns.len());
        for c in columns {
            let count = next_i64(&mut i)?.unwrap_or(0) as u64;
            let distinct = next_i64(&mut i)?.unwrap_or(0) as u64;
            let min: Option<String> = r.get(i)?;
            let max: Option<String> = r.get(i + 1)?;
            i += 2;
            let mut numeric = None;
            let mut lengths = None;
            if c.dtype.is_numeric() {
                let vals: [Option<f64>; 4] =
                    [r.get(i)?, r.get(i + 1)?, r.get(i + 2)?, r.get(i + 3)?];
                let q: Option<String> = r.get(i + 4)?;
                i += 5;
                if let [Some(lo), Some(hi), Some(mean), std] = vals {
                    let qv: Vec<f64> = q
                        .and_then(|q| serde_json::from_str(&q).ok())
                        .unwrap_or_default();
                    numeric = Some(NumericStats {
                        min: lo,
                        max: hi,
                        mean,
                        std,
                        quantiles: QUANTILES.iter().copied().zip(qv).collect(),
                        quantiles_exact: exact_quantiles,
                        histogram: Histogram {
                            edges: Vec::new(),
                            counts: Vec::new(),
                        },
                    });
                }
            } else if is_text(&c.dtype) {
                let lo = next_i64(&mut i)?;
                let hi = next_i64(&mut i)?;
                let mean: Option<f64> = r.get(i)?;
                i += 1;
                if let (Some(lo), Some(hi), Some(mean)) = (lo, hi, mean) {
                    lengths = Some(LengthStats {
                        min: lo as u64,
                        max: hi as u64,
                        mean,
                    });
                }
            }
            profiles.push(ColumnProfile {
                name: c.name.clone(),
                dtype: c.dtype.clone(),
                count,
                nulls: rows - count,
                distinct,
                distinct_exact: exact_distinct,
                distinct_error: (!exact_distinct).then_some(APPROX_DISTINCT_ERROR),
                min,
                max,
                numeric,
                lengths,
                top: Vec::new(),
            });
        }
        Ok(profiles)
    })
    .map_err(|e| StoreError::db(ctx, e))
}

/// Equal-width histograms of every numeric column of the batch, in one query.
fn histograms(
    conn: &Connection,
    table: &str,
    columns: &[Column],
    profiles: &mut [ColumnProfile],
) -> Result<()> {
    let mut select = Vec::new();
    let mut targets = Vec::new();
    for (i, (c, p)) in columns.iter().zip(profiles.iter_mut()).enumerate() {
        let Some(n) = p.numeric.as_mut() else {
            continue;
        };
        if n.max <= n.min {
            n.histogram = Histogram {
                edges: vec![n.min, n.max],
                counts: vec![p.count],
            };
            continue;
        }
        let width = (n.max - n.min) / HISTOGRAM_BINS as f64;
        select.push(format!(
            "CAST(to_json(histogram(least(CAST(floor((CAST({c} AS DOUBLE) - ({:e})) / ({:e})) AS INTEGER), {})) FILTER (WHERE {c} IS NOT NULL)) AS VARCHAR)",
            n.min,
            width,
            HISTOGRAM_BINS - 1,
            c = ident(&c.name),
        ));
        targets.push(i);
    }
    if select.is_empty() {
        return Ok(());
    }
    let sql = format!("SELECT {} FROM {}", select.join(", "), ident(table));
    let maps: Vec<Option<String>> = conn
        .query_row(&sql, [], |r| (0..targets.len()).map(|i| r.get(i)).collect())
        .map_err(|e| StoreError::db("computing histograms", e))?;
    for (&i, map) in targets.iter().zip(maps) {
        let Some(n) = profiles[i].numeric.as_mut() else {
            continue;
        };
        let bins: BTreeMap<String, u64> = map
            .and_then(|m| serde_json::from_str(&m).ok())
            .unwrap_or_default();
        let width = (n.max - n.min) / HISTOGRAM_BINS as f64;
        let mut counts = vec![0u64; HISTOGRAM_BINS];
        for (k, v) in bins {
            if let Ok(k) = k.parse::<usize>() {
                counts[k.min(HISTOGRAM_BINS - 1)] += v;
            }
        }
        let mut edges: Vec<f64> = (0..HISTOGRAM_BINS)
            .map(|k| n.min + width * k as f64)
            .collect();
        edges.push(n.max);
        n.histogram = Histogram { edges, counts };
    }
    Ok(())
}

fn top_values(conn: &Connection, table: &str, column: &str) -> Result<Vec<TopValue>> {
    let col = ident(column);
    let sql = format!(
        "SELECT CAST({col} AS VARCHAR) AS v, count(*) AS n FROM {} WHERE {col} IS NOT NULL GROUP BY {col} ORDER BY n DESC, v LIMIT {TOP_VALUES}",
        ident(table)
    );
    let ctx = || format!("finding the most frequent values of `{column}`");
    let mut stmt = conn.prepare(&sql).map_err(|e| StoreError::db(ctx(), e))?;
    let rows = stmt
        .query_map([], |r| {
            Ok(TopValue {
                value: r.get(0)?,
                count: r.get::<_, i64>(1)? as u64,
            })
        })
        .map_err(|e| StoreError::db(ctx(), e))?;
    rows.collect::<std::result::Result<Vec<_>, _>>()
        .map_err(|e| StoreError::db(ctx(), e))
}
