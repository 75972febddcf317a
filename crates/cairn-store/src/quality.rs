//! Checking a version against quality rules: one aggregate query counts the failing rows of
//! every row-wise rule; `unique` rules group once each; failing rules fetch a few sample rows.

use crate::sql::{ident, literal};
use crate::{Result, Store, StoreError};
use cairn_core::quality::{Check, QualityReport, QualityRules, RuleResult, SampleRow};
use cairn_core::{DataType, DatasetVersion};

const SAMPLES: usize = 5;

/// The SQL condition under which a row breaks the rule.
fn failing_condition(check: &Check, table: &str, version: &DatasetVersion) -> String {
    match check {
        Check::NotNull { column } => format!("{} IS NULL", ident(column)),
        Check::Unique { column } => format!(
            "{c} IN (SELECT {c} FROM {t} WHERE {c} IS NOT NULL GROUP BY {c} HAVING count(*) > 1)",
            c = ident(column),
            t = ident(table)
        ),
        Check::Range { column, min, max } => {
            let c = ident(column);
            let mut parts = Vec::new();
            if let Some(lo) = min {
                parts.push(format!("{c} < {lo:e}"));
            }
            if let Some(hi) = max {
                parts.push(format!("{c} > {hi:e}"));
            }
            format!("({})", parts.join(" OR "))
        }
        Check::Allowed { column, values } => {
            let numeric = version
                .column(column)
                .is_some_and(|c| c.dtype.is_numeric() && c.dtype != DataType::Boolean);
            let list: Vec<String> = values
                .iter()
                .map(|v| match v {
                    toml::Value::Integer(i) if numeric => i.to_string(),
                    toml::Value::Float(f) if numeric => format!("{f:e}"),
                    other => literal(&cairn_core::quality::toml_value_text(other)),
                })
                .collect();
            let c = if numeric {
                ident(column)
            } else {
                format!("CAST({} AS VARCHAR)", ident(column))
            };
            format!("{c} NOT IN ({})", list.join(", "))
        }
        Check::Regex { column, pattern } => format!(
            "NOT regexp_full_match(CAST({} AS VARCHAR), {})",
            ident(column),
            literal(pattern)
        ),
        Check::Expr { expr } => format!("NOT coalesce(({expr}), false)"),
    }
}

impl Store {
    /// Checks `version` against `rules`, stores the report with the version and returns it.
    pub fn check_quality(
        &self,
        version: &DatasetVersion,
        rules: &QualityRules,
    ) -> Result<QualityReport> {
        let table = self.table_of(version)?;
        for (i, rule) in rules.rules.iter().enumerate() {
            if let Some(col) = rule.check.column()
                && version.column(col).is_none()
            {
                return Err(StoreError::Invalid(format!(
                    "rule {} ({}) names column `{col}`, which {} does not have; its columns are: {}",
                    i + 1,
                    rule.check.describe(),
                    version.label(),
                    version
                        .columns
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )));
            }
        }
        let conditions: Vec<String> = rules
            .rules
            .iter()
            .map(|r| failing_condition(&r.check, &table, version))
            .collect();
        let mut failing: Vec<u64> = Vec::with_capacity(conditions.len());
        if !conditions.is_empty() {
            // Each rule is bound separately first, so a broken expression names its rule.
            for (i, cond) in conditions.iter().enumerate() {
                let probe = format!(
                    "SELECT count(*) FROM (SELECT * FROM {} LIMIT 1) WHERE {cond}",
                    ident(&table)
                );
                if let Err(e) = self.conn.query_row(&probe, [], |r| r.get::<_, i64>(0)) {
                    return Err(StoreError::Invalid(format!(
                        "rule {} ({}) cannot be evaluated: {}",
                        i + 1,
                        rules.rules[i].check.describe(),
                        crate::ingest::describe_engine_error(&e.to_string()).2
                    )));
                }
            }
            let select: Vec<String> = conditions
                .iter()
                .map(|c| format!("count(*) FILTER (WHERE {c})"))
                .collect();
            let sql = format!("SELECT {} FROM {}", select.join(", "), ident(&table));
            failing = self
                .conn
                .query_row(&sql, [], |r| {
                    (0..conditions.len())
                        .map(|i| r.get::<_, i64>(i).map(|v| v as u64))
                        .collect()
                })
                .map_err(|e| {
                    StoreError::Invalid(format!(
                        "the rules cannot be evaluated on {}: {}",
                        version.label(),
                        crate::ingest::describe_engine_error(&e.to_string()).2
                    ))
                })?;
        }
        let mut results = Vec::new();
        if let Some(bounds) = &rules.rows {
            let ok = bounds.min.is_none_or(|m| version.rows >= m)
                && bounds.max.is_none_or(|m| version.rows <= m);
            results.push(RuleResult {
                name: format!(
                    "row count in [{}, {}]",
                    bounds.min.map_or("-".into(), |m| m.to_string()),
                    bounds.max.map_or("-".into(), |m| m.to_string())
                ),
                check: "rows".into(),
                column: None,
                passed: ok,
                failing: if ok { 0 } else { version.rows },
                samples: Vec::new(),
            });
        }
        for ((rule, cond), failed) in rules.rules.iter().zip(&conditions).zip(failing) {
            let samples = if failed > 0 {
                self.sample_rows(&table, version, cond)?
            } else {
                Vec::new()
            };
            results.push(RuleResult {
                name: rule.name.clone().unwrap_or_else(|| rule.check.describe()),
                check: rule.check.kind().into(),
                column: rule.check.column().map(str::to_string),
                passed: failed == 0,
                failing: failed,
                samples,
            });
        }
        let report = QualityReport {
            dataset: version.name.clone(),
            version: version.version,
            rows: version.rows,
            passed: results.iter().all(|r| r.passed),
            results,
            checked_at: cairn_core::now_rfc3339(),
        };
        self.conn
            .execute(
                "INSERT INTO quality_reports VALUES (?, ?, ?, ?)",
                duckdb::params![
                    version.name,
                    version.version,
                    serde_json::to_string(&report).expect("report serialises"),
                    report.checked_at
                ],
            )
            .map_err(|e| StoreError::db("storing the quality report", e))?;
        Ok(report)
    }

    /// The most recent quality report of a version, if it was ever checked.
    pub fn last_quality_report(&self, version: &DatasetVersion) -> Result<Option<QualityReport>> {
        let json: Option<String> = self
            .conn
            .query_row(
                "SELECT report_json FROM quality_reports WHERE name = ? AND version = ? ORDER BY created_at DESC LIMIT 1",
                duckdb::params![version.name, version.version],
                |r| r.get(0),
            )
            .ok();
        Ok(json.and_then(|j| serde_json::from_str(&j).ok()))
    }

    fn sample_rows(
        &self,
        table: &str,
        version: &DatasetVersion,
        condition: &str,
    ) -> Result<Vec<SampleRow>> {
        let select: Vec<String> = version
            .columns
            .iter()
            .map(|c| format!("CAST({} AS VARCHAR)", ident(&c.name)))
            .collect();
        let sql = format!(
            "SELECT rowid, {} FROM {} WHERE {condition} ORDER BY rowid LIMIT {SAMPLES}",
            select.join(", "),
            ident(table)
        );
        let ctx = "sampling failing rows";
        let mut stmt = self
            .conn
            .prepare(&sql)
            .map_err(|e| StoreError::db(ctx, e))?;
        let mut rows = stmt.query([]).map_err(|e| StoreError::db(ctx, e))?;
        let mut out = Vec::new();
        while let Some(row) = rows.next().map_err(|e| StoreError::db(ctx, e))? {
            let rowid: i64 = row.get(0).map_err(|e| StoreError::db(ctx, e))?;
            let mut values = Vec::new();
            for (i, c) in version.columns.iter().enumerate() {
                values.push((
                    c.name.clone(),
                    row.get::<_, Option<String>>(i + 1)
                        .map_err(|e| StoreError::db(ctx, e))?,
                ));
            }
            out.push(SampleRow {
                row: rowid as u64,
                values,
            });
        }
        Ok(out)
    }
}
