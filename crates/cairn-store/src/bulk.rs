//! Writing many finished runs at once — for seeding test and benchmark workspaces (thousands
//! to a hundred thousand runs) where a transaction per run would take minutes.
//!
//! Rows go in with named columns, so columns added by later migrations take their defaults.
//! Like every run write, the batch bumps `change_seq` (once) and stamps its runs with it, so
//! the search index picks them up on its next catch-up.

use crate::{Result, Store, StoreError};
use cairn_core::{ParamValue, RunStatus};
use duckdb::params;

/// A run that already happened: what `insert_run` records, how it ended, and its metrics.
#[derive(Debug, Clone)]
pub struct RecordedRun {
    pub run: crate::NewRun,
    pub status: RunStatus,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// `(key, step, value)`.
    pub metrics: Vec<(String, u64, f64)>,
}

impl Store {
    /// Records `runs` in one transaction: all land or none do.
    pub fn insert_recorded_runs(&self, runs: &[RecordedRun]) -> Result<()> {
        if runs.is_empty() {
            return Ok(());
        }
        self.in_transaction(|conn| {
            let ctx = "recording runs";
            let seq = self.change_seq()? + 1;
            conn.execute(
                "UPDATE meta SET value = ? WHERE key = 'change_seq'",
                [seq.to_string()],
            )
            .map_err(|e| StoreError::db("bumping the change sequence", e))?;
            let mut insert = conn
                .prepare(
                    "INSERT INTO runs (id, name, status, model, dataset, dataset_hash, target, seed, \
                     params_json, tags_json, environment_json, pid, created_at, finished_at, error, seq) \
                     VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, ?)",
                )
                .map_err(|e| StoreError::db(ctx, e))?;
            for r in runs {
                let n = &r.run;
                insert
                    .execute(params![
                        n.id.as_str(),
                        n.name,
                        r.status.as_str(),
                        n.model,
                        n.dataset,
                        n.dataset_hash,
                        n.target,
                        n.seed,
                        serde_json::to_string(&n.params).expect("params serialise"),
                        serde_json::to_string(&n.tags).expect("tags serialise"),
                        n.environment.to_string(),
                        n.pid,
                        r.created_at,
                        r.finished_at,
                        seq,
                    ])
                    .map_err(|e| StoreError::db(ctx, e))?;
            }
            let mut app = conn
                .appender_with_columns(
                    "run_params",
                    &["run_id", "key", "kind", "num", "text", "value_json"],
                )
                .map_err(|e| StoreError::db(ctx, e))?;
            for r in runs {
                for (key, value) in &r.run.params {
                    let text = match value {
                        ParamValue::Str(s) => s.clone(),
                        other => other.to_string(),
                    };
                    app.append_row(params![
                        r.run.id.as_str(),
                        key,
                        value.type_name(),
                        value.as_f64(),
                        text,
                        serde_json::to_string(value).expect("param serialises"),
                    ])
                    .map_err(|e| StoreError::db(ctx, e))?;
                }
            }
            app.flush().map_err(|e| StoreError::db(ctx, e))?;
            drop(app);
            let mut app = conn
                .appender_with_columns("run_tags", &["run_id", "key", "value"])
                .map_err(|e| StoreError::db(ctx, e))?;
            for r in runs {
                for (key, value) in &r.run.tags {
                    app.append_row(params![r.run.id.as_str(), key, value])
                        .map_err(|e| StoreError::db(ctx, e))?;
                }
            }
            app.flush().map_err(|e| StoreError::db(ctx, e))?;
            drop(app);
            let mut app = conn
                .appender_with_columns("metrics", &["run_id", "key", "step", "value"])
                .map_err(|e| StoreError::db(ctx, e))?;
            for r in runs {
                for (key, step, value) in &r.metrics {
                    app.append_row(params![r.run.id.as_str(), key, *step as i64, value])
                        .map_err(|e| StoreError::db(ctx, e))?;
                }
            }
            app.flush().map_err(|e| StoreError::db(ctx, e))?;
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::RunId;
    use std::collections::BTreeMap;

    #[test]
    fn recorded_runs_read_back_like_inserted_ones() {
        let store = Store::open_in_memory().unwrap();
        let seq0 = store.change_seq().unwrap();
        let runs: Vec<RecordedRun> = (0..3)
            .map(|i| RecordedRun {
                run: crate::NewRun {
                    id: RunId::new_v7(),
                    name: format!("seeded-{i}"),
                    model: "mlp".into(),
                    dataset: "d@1".into(),
                    dataset_hash: "0".repeat(64),
                    target: "y".into(),
                    seed: i,
                    params: BTreeMap::from([
                        ("lr".into(), ParamValue::Float(0.1 * i as f64)),
                        ("opt".into(), ParamValue::Str("adam".into())),
                    ]),
                    tags: BTreeMap::from([("team".into(), "risk".into())]),
                    environment: serde_json::json!({}),
                    pid: 1,
                },
                status: RunStatus::Finished,
                created_at: "2026-01-01T00:00:00Z".into(),
                finished_at: Some("2026-01-01T00:01:00Z".into()),
                metrics: vec![("loss".into(), 0, 1.0), ("loss".into(), 1, 0.5 + i as f64)],
            })
            .collect();
        store.insert_recorded_runs(&runs).unwrap();
        let (changed, seq) = store.runs_changed_since(seq0).unwrap();
        assert_eq!((changed.len(), seq), (3, seq0 + 1));
        let got = store.find_run("seeded-2").unwrap();
        assert_eq!(got.status, RunStatus::Finished);
        assert_eq!(got.params["lr"], ParamValue::Float(0.1 * 2.0));
        assert_eq!(got.metrics["loss"], 2.5);
        assert_eq!(got.created_at, "2026-01-01T00:00:00Z");
        assert_eq!(store.distinct_keys("run_params").unwrap(), ["lr", "opt"]);
    }
}
