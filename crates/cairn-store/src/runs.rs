//! Runs, their typed params, tags, metric history and artifacts.
//!
//! Every change to a run bumps the workspace's `change_seq` and stamps the run with it, so the
//! search index can tell exactly which runs it has not seen yet.

use crate::{Result, Store, StoreError};
use cairn_core::{MetricPoint, ParamValue, Run, RunId, RunStatus};
use duckdb::{Connection, params};
use std::collections::BTreeMap;

/// What is known about a run when it starts.
#[derive(Debug, Clone)]
pub struct NewRun {
    pub id: RunId,
    pub name: String,
    pub model: String,
    pub dataset: String,
    pub dataset_hash: String,
    pub target: String,
    pub seed: u64,
    pub params: BTreeMap<String, ParamValue>,
    pub tags: BTreeMap<String, String>,
    pub environment: serde_json::Value,
    pub pid: u32,
}

const RUN_SELECT: &str = "SELECT id, name, status, model, dataset, dataset_hash, target, seed, params_json, tags_json, \
     environment_json, created_at, finished_at, error FROM runs";

impl Store {
    /// Records a new run as `running` (one transaction with its params and tags).
    pub fn insert_run(&self, run: &NewRun) -> Result<Run> {
        let created_at = cairn_core::now_rfc3339();
        self.in_transaction(|conn| {
            let seq = next_seq(conn)?;
            conn.execute(
                "INSERT INTO runs VALUES (?, ?, 'running', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?)",
                params![
                    run.id.as_str(),
                    run.name,
                    run.model,
                    run.dataset,
                    run.dataset_hash,
                    run.target,
                    run.seed,
                    serde_json::to_string(&run.params).expect("params serialise"),
                    serde_json::to_string(&run.tags).expect("tags serialise"),
                    run.environment.to_string(),
                    run.pid,
                    created_at,
                    seq,
                ],
            )
            .map_err(|e| StoreError::db("recording the run", e))?;
            for (key, value) in &run.params {
                let text = match value {
                    ParamValue::Str(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                };
                conn.execute(
                    "INSERT INTO run_params VALUES (?, ?, ?, ?, ?, ?)",
                    params![
                        run.id.as_str(),
                        key,
                        value.type_name(),
                        value.as_f64(),
                        text,
                        serde_json::to_string(value).expect("param serialises"),
                    ],
                )
                .map_err(|e| StoreError::db("recording params", e))?;
            }
            for (key, value) in &run.tags {
                conn.execute("INSERT INTO run_tags VALUES (?, ?, ?)", params![run.id.as_str(), key, value])
                    .map_err(|e| StoreError::db("recording tags", e))?;
            }
            Ok(())
        })?;
        self.run(&run.id)
    }

    /// Moves a run to a terminal status.
    pub fn finish_run(&self, id: &RunId, status: RunStatus, error: Option<&str>) -> Result<()> {
        self.in_transaction(|conn| {
            let seq = next_seq(conn)?;
            conn.execute(
                "UPDATE runs SET status = ?, finished_at = ?, error = ?, seq = ? WHERE id = ?",
                params![
                    status.as_str(),
                    cairn_core::now_rfc3339(),
                    error,
                    seq,
                    id.as_str()
                ],
            )
            .map_err(|e| StoreError::db("updating the run's status", e))?;
            Ok(())
        })
    }

    /// Marks every run still `running` as killed. Called by the sole holder of the workspace
    /// lock when it opens: a run that is running without a live owner died with its process.
    pub fn mark_orphaned_runs_killed(&self) -> Result<Vec<RunId>> {
        let orphans: Vec<(String, Option<i64>)> = {
            let mut stmt = self
                .conn
                .prepare(
                    "SELECT id, pid FROM runs WHERE status IN ('running', 'queued') ORDER BY id",
                )
                .map_err(|e| StoreError::db("looking for interrupted runs", e))?;
            let rows = stmt
                .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
                .map_err(|e| StoreError::db("looking for interrupted runs", e))?;
            rows.collect::<Result<_, _>>()
                .map_err(|e| StoreError::db("looking for interrupted runs", e))?
        };
        for (id, pid) in &orphans {
            let why = match pid {
                Some(pid) => {
                    format!("the process running it (pid {pid}) ended without finishing the run")
                }
                None => "the process running it ended without finishing the run".to_string(),
            };
            self.finish_run(
                &RunId::from_stored(id.clone()),
                RunStatus::Killed,
                Some(&why),
            )?;
        }
        Ok(orphans
            .into_iter()
            .map(|(id, _)| RunId::from_stored(id))
            .collect())
    }

    /// Appends metric points `(key, step, value)` in one transaction: a batch lands whole or not at all.
    pub fn append_metrics(&self, id: &RunId, points: &[(&str, u64, f64)]) -> Result<()> {
        if points.is_empty() {
            return Ok(());
        }
        self.in_transaction(|conn| {
            let mut app = conn
                .appender("metrics")
                .map_err(|e| StoreError::db("opening the metric appender", e))?;
            for (key, step, value) in points {
                app.append_row(params![id.as_str(), key, *step as i64, value])
                    .map_err(|e| StoreError::db("appending a metric", e))?;
            }
            app.flush()
                .map_err(|e| StoreError::db("flushing metrics", e))?;
            Ok(())
        })
    }

    pub fn add_artifact(&self, id: &RunId, path: &str, sha256: &str, size: u64) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO artifacts VALUES (?, ?, ?, ?)",
                params![id.as_str(), path, sha256, size as i64],
            )
            .map_err(|e| StoreError::db("recording an artifact", e))?;
        Ok(())
    }

    /// `(path, sha256, size)` of each artifact of a run, by path.
    pub fn artifacts(&self, id: &RunId) -> Result<Vec<(String, String, u64)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT path, sha256, size FROM artifacts WHERE run_id = ? ORDER BY path")
            .map_err(|e| StoreError::db("listing artifacts", e))?;
        let rows = stmt
            .query_map([id.as_str()], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get::<_, i64>(2)? as u64))
            })
            .map_err(|e| StoreError::db("listing artifacts", e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| StoreError::db("listing artifacts", e))
    }

    /// One run by id.
    pub fn run(&self, id: &RunId) -> Result<Run> {
        let mut runs = self.query_runs(&format!("{RUN_SELECT} WHERE id = ?"), &[id.as_str()])?;
        runs.pop()
            .ok_or_else(|| StoreError::not_found(format!("run {id}"), ""))
    }

    /// Finds a run by full id, unique id prefix, or unique name.
    pub fn find_run(&self, key: &str) -> Result<Run> {
        let by_id = self.query_runs(
            &format!("{RUN_SELECT} WHERE starts_with(id, ?) ORDER BY id"),
            &[key],
        )?;
        let candidates = if by_id.is_empty() {
            self.query_runs(&format!("{RUN_SELECT} WHERE name = ? ORDER BY id"), &[key])?
        } else {
            by_id
        };
        match candidates.len() {
            1 => Ok(candidates.into_iter().next().expect("one")),
            0 => Err(StoreError::not_found(
                format!("run `{key}`"),
                "list runs with `cairn runs list`",
            )),
            n => Err(StoreError::Invalid(format!(
                "`{key}` matches {n} runs ({}); give more of the id",
                candidates
                    .iter()
                    .map(|r| r.id.short().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// All runs, newest first.
    pub fn list_runs(&self) -> Result<Vec<Run>> {
        self.query_runs(&format!("{RUN_SELECT} ORDER BY id DESC"), &[])
    }

    /// Runs changed after `seq`, and the workspace's current change sequence number.
    pub fn runs_changed_since(&self, seq: u64) -> Result<(Vec<Run>, u64)> {
        let runs = self.query_runs(
            &format!("{RUN_SELECT} WHERE seq > CAST(? AS BIGINT) ORDER BY id"),
            &[&seq.to_string()],
        )?;
        Ok((runs, self.change_seq()?))
    }

    /// The distinct `key`s of `metrics`, `run_params` or `run_tags`, sorted.
    pub fn distinct_keys(&self, table: &str) -> Result<Vec<String>> {
        let table = match table {
            "metrics" | "run_params" | "run_tags" => table,
            other => return Err(StoreError::Invalid(format!("no key table `{other}`"))),
        };
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT DISTINCT key FROM {table} ORDER BY key"))
            .map_err(|e| StoreError::db("listing keys", e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| StoreError::db("listing keys", e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| StoreError::db("listing keys", e))
    }

    pub fn change_seq(&self) -> Result<u64> {
        read_seq(&self.conn)
    }

    /// The full history of every metric of a run, by key then step.
    pub fn metric_history(&self, id: &RunId) -> Result<BTreeMap<String, Vec<MetricPoint>>> {
        let mut stmt = self
            .conn
            .prepare(
                "SELECT key, step, value FROM metrics WHERE run_id = ? ORDER BY key, step, rowid",
            )
            .map_err(|e| StoreError::db("reading metrics", e))?;
        let rows = stmt
            .query_map([id.as_str()], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)? as u64,
                    r.get::<_, f64>(2)?,
                ))
            })
            .map_err(|e| StoreError::db("reading metrics", e))?;
        let mut out: BTreeMap<String, Vec<MetricPoint>> = BTreeMap::new();
        for row in rows {
            let (key, step, value) = row.map_err(|e| StoreError::db("reading metrics", e))?;
            out.entry(key)
                .or_default()
                .push(MetricPoint { step, value });
        }
        Ok(out)
    }

    fn query_runs(&self, sql: &str, args: &[&str]) -> Result<Vec<Run>> {
        let ctx = "reading runs";
        let mut stmt = self.conn.prepare(sql).map_err(|e| StoreError::db(ctx, e))?;
        let mut runs = Vec::new();
        let mut rows = stmt
            .query(duckdb::params_from_iter(args))
            .map_err(|e| StoreError::db(ctx, e))?;
        while let Some(r) = rows.next().map_err(|e| StoreError::db(ctx, e))? {
            let get_s = |i: usize| -> Result<String> {
                r.get::<_, String>(i).map_err(|e| StoreError::db(ctx, e))
            };
            let status: RunStatus = get_s(2)?.parse().map_err(StoreError::Invalid)?;
            let bad = |what: &str, e: serde_json::Error| {
                StoreError::Invalid(format!("stored {what} of a run are unreadable: {e}"))
            };
            runs.push(Run {
                id: RunId::from_stored(get_s(0)?),
                name: get_s(1)?,
                status,
                model: get_s(3)?,
                dataset: get_s(4)?,
                dataset_hash: get_s(5)?,
                target: get_s(6)?,
                seed: r.get::<_, u64>(7).map_err(|e| StoreError::db(ctx, e))?,
                params: serde_json::from_str(&get_s(8)?).map_err(|e| bad("params", e))?,
                tags: serde_json::from_str(&get_s(9)?).map_err(|e| bad("tags", e))?,
                metrics: BTreeMap::new(),
                environment: serde_json::from_str(&get_s(10)?)
                    .map_err(|e| bad("environment", e))?,
                created_at: get_s(11)?,
                finished_at: r.get(12).map_err(|e| StoreError::db(ctx, e))?,
                error: r.get(13).map_err(|e| StoreError::db(ctx, e))?,
                note: String::new(),
                parent_id: None,
            });
        }
        drop(rows);
        self.fill_final_metrics(&mut runs)?;
        Ok(runs)
    }

    fn fill_final_metrics(&self, runs: &mut [Run]) -> Result<()> {
        if runs.is_empty() {
            return Ok(());
        }
        let ctx = "reading final metrics";
        let mut stmt = self
            .conn
            .prepare("SELECT run_id, key, arg_max(value, step) FROM metrics GROUP BY run_id, key")
            .map_err(|e| StoreError::db(ctx, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, f64>(2)?,
                ))
            })
            .map_err(|e| StoreError::db(ctx, e))?;
        let mut index: BTreeMap<String, usize> = BTreeMap::new();
        for (i, run) in runs.iter().enumerate() {
            index.insert(run.id.as_str().to_string(), i);
        }
        for row in rows {
            let (id, key, value) = row.map_err(|e| StoreError::db(ctx, e))?;
            if let Some(&i) = index.get(&id) {
                runs[i].metrics.insert(key, value);
            }
        }
        Ok(())
    }
}

fn read_seq(conn: &Connection) -> Result<u64> {
    conn.query_row(
        "SELECT CAST(value AS BIGINT) FROM meta WHERE key = 'change_seq'",
        [],
        |r| r.get::<_, i64>(0),
    )
    .map(|v| v as u64)
    .map_err(|e| StoreError::db("reading the change sequence", e))
}

fn next_seq(conn: &Connection) -> Result<u64> {
    let seq = read_seq(conn)? + 1;
    conn.execute(
        "UPDATE meta SET value = ? WHERE key = 'change_seq'",
        [seq.to_string()],
    )
    .map_err(|e| StoreError::db("bumping the change sequence", e))?;
    Ok(seq)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn new_run(name: &str) -> NewRun {
        NewRun {
            id: RunId::new_v7(),
            name: name.into(),
            model: "logistic".into(),
            dataset: "d@1".into(),
            dataset_hash: "ab".repeat(32),
            target: "y".into(),
            seed: 7,
            params: BTreeMap::from([
                ("lr".into(), ParamValue::Float(0.1)),
                ("epochs".into(), ParamValue::Int(5)),
            ]),
            tags: BTreeMap::from([("team".into(), "risk".into())]),
            environment: serde_json::json!({"os": "linux"}),
            pid: 1,
        }
    }

    #[test]
    fn run_lifecycle() {
        let store = Store::open_in_memory().unwrap();
        let seq0 = store.change_seq().unwrap();
        let run = store.insert_run(&new_run("first")).unwrap();
        assert_eq!(run.status, RunStatus::Running);
        assert_eq!(run.params["lr"], ParamValue::Float(0.1));
        store
            .append_metrics(
                &run.id,
                &[("loss", 0, 1.0), ("loss", 1, 0.5), ("acc", 1, 0.9)],
            )
            .unwrap();
        store
            .finish_run(&run.id, RunStatus::Finished, None)
            .unwrap();
        let got = store.find_run("first").unwrap();
        assert_eq!(got.status, RunStatus::Finished);
        assert_eq!(got.metrics["loss"], 0.5);
        assert_eq!(got.metrics["acc"], 0.9);
        assert_eq!(store.find_run(&run.id.as_str()[..10]).unwrap().id, run.id);
        let hist = store.metric_history(&run.id).unwrap();
        assert_eq!(
            hist["loss"],
            vec![
                MetricPoint {
                    step: 0,
                    value: 1.0
                },
                MetricPoint {
                    step: 1,
                    value: 0.5
                }
            ]
        );
        let (changed, seq) = store.runs_changed_since(seq0).unwrap();
        assert_eq!(changed.len(), 1);
        assert_eq!(seq, seq0 + 2);
        assert!(store.runs_changed_since(seq).unwrap().0.is_empty());
    }

    #[test]
    fn orphans_are_marked_killed() {
        let store = Store::open_in_memory().unwrap();
        let a = store.insert_run(&new_run("a")).unwrap();
        let b = store.insert_run(&new_run("b")).unwrap();
        store.finish_run(&b.id, RunStatus::Finished, None).unwrap();
        assert_eq!(
            store.mark_orphaned_runs_killed().unwrap(),
            vec![a.id.clone()]
        );
        let a = store.run(&a.id).unwrap();
        assert_eq!(a.status, RunStatus::Killed);
        assert!(a.error.unwrap().contains("pid 1"));
        assert_eq!(store.run(&b.id).unwrap().status, RunStatus::Finished);
    }

    #[test]
    fn ambiguous_and_missing_runs_are_explained() {
        let store = Store::open_in_memory().unwrap();
        store.insert_run(&new_run("same")).unwrap();
        store.insert_run(&new_run("same")).unwrap();
        assert!(
            store
                .find_run("same")
                .unwrap_err()
                .to_string()
                .contains("matches 2 runs")
        );
        assert!(
            store
                .find_run("nope")
                .unwrap_err()
                .to_string()
                .contains("cairn runs list")
        );
    }
}
