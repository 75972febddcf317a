//! Metric histories read for comparing runs and exporting them: whole series, in step order,
//! read as Arrow columns (no per-row conversion), so a series of a million points is read in
//! milliseconds.

use crate::{Result, Store, StoreError};
use cairn_core::{MetricPoint, RunId};
use duckdb::arrow::array::{Array, Float64Array, Int64Array};

/// One metric of one run, every recorded point in step order.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSeries {
    pub run_id: String,
    pub key: String,
    pub points: Vec<MetricPoint>,
}

impl Store {
    /// The histories of `keys` (every metric the runs recorded when `None`) of each run, in
    /// the order of `runs`, then by key; points in step order (a step recorded twice keeps
    /// both values, in the order they were written). A run without a key has no series for it.
    pub fn metric_series(
        &self,
        runs: &[RunId],
        keys: Option<&[String]>,
    ) -> Result<Vec<MetricSeries>> {
        let mut out = Vec::new();
        for run in runs {
            for key in self.metric_keys_of(run, keys)? {
                let points = self.series_points(run, &key)?;
                out.push(MetricSeries {
                    run_id: run.as_str().to_string(),
                    key,
                    points,
                });
            }
        }
        Ok(out)
    }

    /// The metric keys `run` recorded, sorted; only those in `wanted` when given.
    fn metric_keys_of(&self, run: &RunId, wanted: Option<&[String]>) -> Result<Vec<String>> {
        let ctx = "listing a run's metrics";
        let mut stmt = self
            .conn
            .prepare("SELECT DISTINCT key FROM metrics WHERE run_id = ? ORDER BY key")
            .map_err(|e| StoreError::db(ctx, e))?;
        let rows = stmt
            .query_map([run.as_str()], |r| r.get::<_, String>(0))
            .map_err(|e| StoreError::db(ctx, e))?;
        let keys: Vec<String> = rows
            .collect::<Result<_, _>>()
            .map_err(|e| StoreError::db(ctx, e))?;
        Ok(match wanted {
            None => keys,
            Some(wanted) => keys.into_iter().filter(|k| wanted.contains(k)).collect(),
        })
    }

    fn series_points(&self, run: &RunId, key: &str) -> Result<Vec<MetricPoint>> {
        let ctx = "reading a metric's history";
        let mut stmt = self
            .conn
            .prepare(
                "SELECT step, value FROM metrics WHERE run_id = ? AND key = ? ORDER BY step, rowid",
            )
            .map_err(|e| StoreError::db(ctx, e))?;
        let mut points = Vec::new();
        for batch in stmt
            .stream_arrow([run.as_str(), key])
            .map_err(|e| StoreError::db(ctx, e))?
        {
            let batch = batch.map_err(|e| StoreError::db(ctx, e))?;
            let steps = batch.column(0).as_any().downcast_ref::<Int64Array>();
            let values = batch.column(1).as_any().downcast_ref::<Float64Array>();
            let (Some(steps), Some(values)) = (steps, values) else {
                return Err(StoreError::Invalid(format!(
                    "metric history arrived as {:?}, not (BIGINT, DOUBLE)",
                    batch.schema()
                )));
            };
            points.reserve(steps.len());
            for (&step, &value) in steps.values().iter().zip(values.values().iter()) {
                points.push(MetricPoint {
                    step: step as u64,
                    value,
                });
            }
        }
        Ok(points)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::NewRun;

    fn run(store: &Store, name: &str) -> RunId {
        let id = RunId::new_v7();
        store
            .insert_run(&NewRun {
                id: id.clone(),
                model: "mlp".into(),
                pid: 1,
                ..NewRun::named(name)
            })
            .unwrap();
        id
    }

    #[test]
    fn series_come_in_run_then_key_then_step_order() {
        let store = Store::open_in_memory().unwrap();
        let a = run(&store, "a");
        let b = run(&store, "b");
        store
            .append_metrics(&a, &[("loss", 2, 0.5), ("loss", 1, 0.9), ("acc", 1, 0.7)])
            .unwrap();
        store.append_metrics(&b, &[("loss", 1, 0.8)]).unwrap();
        store.append_metrics(&a, &[("loss", 3, 0.4)]).unwrap();
        let all = store.metric_series(&[b.clone(), a.clone()], None).unwrap();
        let shape: Vec<(&str, &str, Vec<u64>)> = all
            .iter()
            .map(|s| {
                (
                    if s.run_id == a.as_str() { "a" } else { "b" },
                    s.key.as_str(),
                    s.points.iter().map(|p| p.step).collect(),
                )
            })
            .collect();
        assert_eq!(
            shape,
            [
                ("b", "loss", vec![1]),
                ("a", "acc", vec![1]),
                ("a", "loss", vec![1, 2, 3])
            ]
        );
        let only = store
            .metric_series(&[a.clone(), b], Some(&["loss".to_string()][..]))
            .unwrap();
        assert_eq!(only.len(), 2);
        assert_eq!(only[0].points[2].value, 0.4);
    }

    #[test]
    fn a_million_points_read_whole_and_in_order() {
        let store = Store::open_in_memory().unwrap();
        let a = run(&store, "long");
        let points: Vec<(&str, u64, f64)> = (0..1_000_000u64)
            .rev()
            .map(|i| ("loss", i, i as f64 * 0.5))
            .collect();
        store.append_metrics(&a, &points).unwrap();
        let got = store.metric_series(&[a], None).unwrap();
        assert_eq!(got.len(), 1);
        let p = &got[0].points;
        assert_eq!(p.len(), 1_000_000);
        assert!(p.windows(2).all(|w| w[0].step + 1 == w[1].step));
        assert_eq!(p[999_999].value, 999_999.0 * 0.5);
    }
}
