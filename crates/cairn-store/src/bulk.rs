//! Writing many finished runs at once — for seeding test and benchmark workspaces (thousands
//! to a hundred thousand runs) where a transaction per run would take minutes. A thin layer
//! over [`Store::write_runs`], the one write path of runs: one transaction, one `change_seq`
//! bump that stamps every run, so the search index picks them up on its next catch-up.

use crate::{PointChange, Result, RunChanges, Store};
use cairn_core::RunStatus;

/// A run that already happened: what `insert_run` records, how it ended, and its metrics.
#[derive(Debug, Clone)]
pub struct RecordedRun {
    pub run: crate::NewRun,
    pub status: RunStatus,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// `(key, step, value, logged at)`.
    pub metrics: Vec<PointChange>,
}

impl Store {
    /// Records `runs` in one transaction: all land or none do.
    pub fn insert_recorded_runs(&self, runs: &[RecordedRun]) -> Result<()> {
        let batch: Vec<RunChanges> = runs
            .iter()
            .map(|r| {
                let mut c = RunChanges::new(r.run.id.clone());
                c.create = Some(r.run.clone());
                c.metrics = r.metrics.clone();
                c.end = r.status.is_terminal().then_some((r.status, None));
                c.times = Some((r.created_at.clone(), r.finished_at.clone()));
                c
            })
            .collect();
        self.write_runs(&batch)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::ParamValue;
    use std::collections::BTreeMap;

    #[test]
    fn recorded_runs_read_back_like_inserted_ones() {
        let store = Store::open_in_memory().unwrap();
        let seq0 = store.change_seq().unwrap();
        let runs: Vec<RecordedRun> = (0..3)
            .map(|i| RecordedRun {
                run: crate::NewRun {
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
                    pid: 1,
                    ..crate::NewRun::named(format!("seeded-{i}"))
                },
                status: RunStatus::Finished,
                created_at: "2026-01-01T00:00:00Z".into(),
                finished_at: Some("2026-01-01T00:01:00Z".into()),
                metrics: vec![
                    ("loss".into(), 0, 1.0, None),
                    ("loss".into(), 1, 0.5 + i as f64, None),
                ],
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
