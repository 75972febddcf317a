//! Comparing runs: params side by side with what differs, final metrics, and metric histories
//! — thinned by LTTB for charts (`compare_runs`), or whole for files (`export_histories`,
//! docs/formats/metric-history.md).

use crate::json::{
    ComparedRun, FinalMetric, MetricComparison, MetricPoint, ParamComparison, RunComparison,
    SampledSeries,
};
use crate::search::param_json;
use crate::{AppError, Result, Workspace};
use cairn_core::downsample::lttb;
use cairn_core::{ParamValue, Run};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

/// The version of the metric-history export formats (CSV header, JSON `format_version`).
pub const HISTORY_FORMAT_VERSION: u32 = 1;

/// What `compare_runs` keeps of each history.
#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// The most points per series (at least 3); the default, 2,000, draws smoothly.
    pub max_points: usize,
    /// Only these metrics (all of them when empty).
    pub metrics: Vec<String>,
}

impl Default for CompareOptions {
    fn default() -> Self {
        CompareOptions {
            max_points: 2000,
            metrics: Vec::new(),
        }
    }
}

/// How `export_histories` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HistoryFormat {
    /// `run_id,run_name,key,step,value`, one row per point.
    Csv,
    /// One object with a series per run and metric, steps and values as arrays.
    Json,
}

impl HistoryFormat {
    /// The format a file name asks for: `.csv` or `.json`.
    pub fn from_path(path: &std::path::Path) -> Result<HistoryFormat> {
        match path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("csv") => Ok(HistoryFormat::Csv),
            Some("json") => Ok(HistoryFormat::Json),
            _ => Err(AppError::invalid(format!(
                "cannot tell the history format of {}: name the file .csv or .json",
                path.display()
            ))),
        }
    }
}

/// The most points a compared series may be asked to keep.
const MAX_POINTS_LIMIT: usize = 100_000;

impl Workspace {
    /// Runs (by id, id prefix or name) side by side; see [`RunComparison`].
    pub fn compare_runs(&self, keys: &[String], options: &CompareOptions) -> Result<RunComparison> {
        let runs = self.resolve_runs(keys)?;
        let max_points = options.max_points.clamp(3, MAX_POINTS_LIMIT);
        let ids: Vec<_> = runs.iter().map(|r| r.id.clone()).collect();
        let wanted = (!options.metrics.is_empty()).then_some(options.metrics.as_slice());

        let summaries = self.store.metric_summaries(Some(ids.as_slice()))?;
        let mut metrics: BTreeMap<String, MetricComparison> = BTreeMap::new();
        for (i, run) in runs.iter().enumerate() {
            for (key, s) in summaries.get(run.id.as_str()).into_iter().flatten() {
                if wanted.is_some_and(|w| !w.contains(key)) {
                    continue;
                }
                metric_entry(&mut metrics, key, runs.len()).finals[i] = Some(FinalMetric {
                    last: s.last,
                    min: s.min,
                    max: s.max,
                    count: s.count,
                });
            }
        }
        let position: BTreeMap<&str, usize> = runs
            .iter()
            .enumerate()
            .map(|(i, r)| (r.id.as_str(), i))
            .collect();
        for series in self.store.metric_series(&ids, wanted)? {
            let Some(&i) = position.get(series.run_id.as_str()) else {
                continue;
            };
            let total = series.points.len() as u64;
            let points = lttb(&series.points, max_points)
                .into_iter()
                .map(|p| MetricPoint {
                    step: p.step,
                    value: p.value,
                })
                .collect();
            metric_entry(&mut metrics, &series.key, runs.len()).series[i] =
                Some(SampledSeries { total, points });
        }

        Ok(RunComparison {
            params: param_table(&runs),
            metrics: metrics.into_values().collect(),
            runs: runs
                .into_iter()
                .map(|r| ComparedRun {
                    id: r.id.as_str().to_string(),
                    name: r.name,
                    status: r.status.as_str().to_string(),
                    model: r.model,
                    dataset: r.dataset,
                })
                .collect(),
            max_points: max_points as u32,
        })
    }

    /// Writes the full (not thinned) history of `metrics` (all when empty) of the runs to `out`.
    /// Returns how many points were written.
    pub fn export_histories(
        &self,
        keys: &[String],
        metrics: &[String],
        format: HistoryFormat,
        out: &mut dyn Write,
    ) -> Result<u64> {
        let runs = self.resolve_runs(keys)?;
        let ids: Vec<_> = runs.iter().map(|r| r.id.clone()).collect();
        let names: BTreeMap<&str, &str> = runs
            .iter()
            .map(|r| (r.id.as_str(), r.name.as_str()))
            .collect();
        let wanted = (!metrics.is_empty()).then_some(metrics);
        let all = self.store.metric_series(&ids, wanted)?;
        let io = |e: std::io::Error| AppError::io("writing the metric histories", e);
        let mut written = 0u64;
        match format {
            HistoryFormat::Csv => {
                let mut w = std::io::BufWriter::new(out);
                writeln!(w, "run_id,run_name,key,step,value").map_err(io)?;
                for s in &all {
                    let name = csv_field(names.get(s.run_id.as_str()).copied().unwrap_or(""));
                    let key = csv_field(&s.key);
                    for p in &s.points {
                        writeln!(w, "{},{name},{key},{},{}", s.run_id, p.step, p.value)
                            .map_err(io)?;
                    }
                    written += s.points.len() as u64;
                }
                w.flush().map_err(io)?;
            }
            HistoryFormat::Json => {
                let series: Vec<serde_json::Value> = all
                    .iter()
                    .map(|s| {
                        written += s.points.len() as u64;
                        serde_json::json!({
                            "run_id": s.run_id,
                            "run_name": names.get(s.run_id.as_str()).copied().unwrap_or(""),
                            "key": s.key,
                            "steps": s.points.iter().map(|p| p.step).collect::<Vec<_>>(),
                            "values": s.points.iter().map(|p| finite_or_null(p.value)).collect::<Vec<_>>(),
                        })
                    })
                    .collect();
                let doc = serde_json::json!({
                    "format_version": HISTORY_FORMAT_VERSION,
                    "runs": runs.iter().map(|r| serde_json::json!({"id": r.id.as_str(), "name": r.name})).collect::<Vec<_>>(),
                    "series": series,
                });
                let mut w = std::io::BufWriter::new(out);
                serde_json::to_writer(&mut w, &doc).map_err(|e| io(std::io::Error::other(e)))?;
                writeln!(w).map_err(io)?;
                w.flush().map_err(io)?;
            }
        }
        Ok(written)
    }

    /// Each key as a run, in order; a run named twice is an error.
    fn resolve_runs(&self, keys: &[String]) -> Result<Vec<Run>> {
        if keys.is_empty() {
            return Err(AppError::invalid(
                "name the runs to compare (ids, id prefixes or names)",
            ));
        }
        let mut seen = BTreeSet::new();
        let mut runs = Vec::with_capacity(keys.len());
        for key in keys {
            let run = self.find_run(key)?;
            if !seen.insert(run.id.as_str().to_string()) {
                return Err(AppError::invalid(format!(
                    "`{key}` names run {} ({}) a second time; name each run once",
                    run.id.short(),
                    run.name
                )));
            }
            runs.push(run);
        }
        Ok(runs)
    }
}

/// The row of `key`, made empty (no run has it yet) on first use.
fn metric_entry<'a>(
    metrics: &'a mut BTreeMap<String, MetricComparison>,
    key: &str,
    runs: usize,
) -> &'a mut MetricComparison {
    metrics
        .entry(key.to_string())
        .or_insert_with(|| MetricComparison {
            key: key.to_string(),
            finals: vec![None; runs],
            series: vec![None; runs],
        })
}

/// The union of the runs' params, each with its value per run and whether they differ.
fn param_table(runs: &[Run]) -> Vec<ParamComparison> {
    let keys: BTreeSet<&String> = runs.iter().flat_map(|r| r.params.keys()).collect();
    keys.into_iter()
        .map(|key| {
            let values: Vec<Option<&ParamValue>> = runs.iter().map(|r| r.params.get(key)).collect();
            let differs = values.windows(2).any(|w| !same_param(w[0], w[1]));
            ParamComparison {
                key: key.clone(),
                values: values
                    .into_iter()
                    .map(|v| v.map_or(serde_json::Value::Null, param_json))
                    .collect(),
                differs,
            }
        })
        .collect()
}

/// Equal as typed values; an int and a float holding the same number are the same.
fn same_param(a: Option<&ParamValue>, b: Option<&ParamValue>) -> bool {
    match (a, b) {
        (None, None) => true,
        (Some(a), Some(b)) => match (a, b) {
            (
                ParamValue::Int(_) | ParamValue::Float(_),
                ParamValue::Int(_) | ParamValue::Float(_),
            ) => a.as_f64() == b.as_f64(),
            _ => a == b,
        },
        _ => false,
    }
}

fn finite_or_null(v: f64) -> serde_json::Value {
    serde_json::Number::from_f64(v).map_or(serde_json::Value::Null, serde_json::Value::Number)
}

/// A CSV field, quoted (RFC 4180) when it holds a comma, quote or line break.
fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_differ_by_typed_value() {
        let i = |v| Some(ParamValue::Int(v));
        let f = |v| Some(ParamValue::Float(v));
        assert!(same_param(i(1).as_ref(), f(1.0).as_ref()));
        assert!(!same_param(i(1).as_ref(), f(1.5).as_ref()));
        assert!(!same_param(i(1).as_ref(), None));
        assert!(same_param(None, None));
        let s = |v: &str| Some(ParamValue::Str(v.into()));
        assert!(!same_param(s("1").as_ref(), i(1).as_ref()));
        assert!(same_param(s("adam").as_ref(), s("adam").as_ref()));
    }

    #[test]
    fn csv_fields_are_quoted_when_needed() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
    }
}
