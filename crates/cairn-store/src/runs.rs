//! Runs, their typed params, tags, metric history and artifacts.
//!
//! There is one write path, [`Store::write_runs`]: every change to a run (creation, params,
//! tags, note, metric points, artifacts, end status) goes through it, in one transaction per
//! call that bumps the workspace's `change_seq` once and stamps every changed run with it, so
//! the search index can tell exactly which runs it has not seen yet. The older one-change
//! methods (`insert_run`, `append_metrics`, `add_artifact`, `finish_run`) are thin wrappers.

use crate::sql::literal;
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
    /// The owner process.
    pub pid: u32,
    /// The owner process's start time as `crate`-independent text (see cairn-app's
    /// `process.rs`), to tell a reused pid apart; `None` where it cannot be read.
    pub pid_started: Option<String>,
    /// Where the run was recorded from: `train`, `log`, `api`.
    pub source: String,
    pub note: String,
    pub parent_id: Option<RunId>,
    /// `Running` (the default) or `Queued`.
    pub status: RunStatus,
}

impl NewRun {
    /// A run called `name` with a fresh id, owned by this process, recorded through the API,
    /// with nothing else set: the base of a struct update (`NewRun { params, ..NewRun::named("x") }`).
    pub fn named(name: impl Into<String>) -> NewRun {
        NewRun {
            id: RunId::new_v7(),
            name: name.into(),
            model: String::new(),
            dataset: String::new(),
            dataset_hash: String::new(),
            target: String::new(),
            seed: 0,
            params: BTreeMap::new(),
            tags: BTreeMap::new(),
            environment: serde_json::json!({}),
            pid: std::process::id(),
            pid_started: None,
            source: "api".into(),
            note: String::new(),
            parent_id: None,
            status: RunStatus::Running,
        }
    }
}

/// A metric point as it is written: key, step, value, and when it was logged (epoch
/// milliseconds; `None` when unknown, e.g. a point imported from a bundle).
pub type PointChange = (String, u64, f64, Option<i64>);

/// Everything that changes about one run in one [`Store::write_runs`] call.
///
/// Changes apply in this order: creation, params, tags, note, metric points, artifacts, end.
/// A param or tag already recorded is replaced (the last value wins); a note replaces the note;
/// an artifact path already recorded is replaced.
#[derive(Debug, Clone)]
pub struct RunChanges {
    pub id: RunId,
    pub create: Option<NewRun>,
    pub params: BTreeMap<String, ParamValue>,
    pub tags: BTreeMap<String, String>,
    pub note: Option<String>,
    /// `(key, step, value, logged at in epoch ms)`.
    pub metrics: Vec<PointChange>,
    /// `(path in the run, sha256, size)`.
    pub artifacts: Vec<(String, String, u64)>,
    /// A terminal status and why (for failed and killed runs).
    pub end: Option<(RunStatus, Option<String>)>,
    /// Stamp `heartbeat_at` with the time of the write (the owner is alive).
    pub heartbeat: bool,
    /// For a new run: its `created_at` (and, for one that already happened elsewhere —
    /// seeding, imports — its `finished_at`) instead of the time of the write.
    pub times: Option<(String, Option<String>)>,
    /// With `end`: when the run ended (RFC 3339), instead of the time of the write.
    pub ended_at: Option<String>,
    /// Further audit entries that commit with this change (a bundle import, say).
    pub audit: Vec<crate::audit::Record>,
}

impl RunChanges {
    pub fn new(id: RunId) -> Self {
        RunChanges {
            id,
            create: None,
            params: BTreeMap::new(),
            tags: BTreeMap::new(),
            note: None,
            metrics: Vec::new(),
            artifacts: Vec::new(),
            end: None,
            heartbeat: false,
            times: None,
            ended_at: None,
            audit: Vec::new(),
        }
    }

    /// Whether this changes what search sees (everything but a heartbeat).
    pub fn changes_content(&self) -> bool {
        self.create.is_some()
            || !self.params.is_empty()
            || !self.tags.is_empty()
            || self.note.is_some()
            || !self.metrics.is_empty()
            || !self.artifacts.is_empty()
            || self.end.is_some()
    }

    /// Folds later changes of the same run into these, as if both were written in turn.
    pub fn absorb(&mut self, later: RunChanges) {
        debug_assert_eq!(self.id, later.id);
        if self.create.is_none() {
            self.create = later.create;
        }
        self.params.extend(later.params);
        self.tags.extend(later.tags);
        if later.note.is_some() {
            self.note = later.note;
        }
        self.metrics.extend(later.metrics);
        self.artifacts.extend(later.artifacts);
        if later.end.is_some() {
            self.end = later.end;
            self.ended_at = later.ended_at;
        }
        if self.times.is_none() {
            self.times = later.times;
        }
        self.heartbeat |= later.heartbeat;
    }
}

/// A run still `running` or `queued`, with what tells whether its owner is alive.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveRun {
    pub id: RunId,
    pub pid: Option<i64>,
    pub pid_started: Option<String>,
    pub heartbeat_at: Option<String>,
    pub source: Option<String>,
}

const RUN_SELECT: &str = "SELECT id, name, status, model, dataset, dataset_hash, target, seed, params_json, tags_json, \
     environment_json, created_at, finished_at, error, coalesce(note, ''), parent_id FROM runs";

/// Above this many runs, reading every run's final metrics in one scan beats a long id list.
const FEW_RUNS: usize = 500;

fn param_text(value: &ParamValue) -> String {
    match value {
        ParamValue::Str(s) => s.clone(),
        other => other.to_string(),
    }
}

fn json_text<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("params and tags serialise")
}

impl Store {
    /// Applies the changes of many runs in ONE transaction with ONE bump of `change_seq`: the
    /// batch lands whole or not at all. New runs, their params and tags and all metric points
    /// go through DuckDB's appender. Returns the sequence number the changed runs carry now
    /// (`None` when the batch held only heartbeats, which do not bump it).
    pub fn write_runs(&self, batch: &[RunChanges]) -> Result<Option<u64>> {
        if batch.is_empty() {
            return Ok(None);
        }
        let now = cairn_core::now_rfc3339();
        self.in_transaction(|conn| {
            let seq = if batch.iter().any(RunChanges::changes_content) {
                Some(next_seq(conn)?)
            } else {
                None
            };
            let created: Vec<&RunChanges> = batch.iter().filter(|c| c.create.is_some()).collect();
            if !created.is_empty() {
                insert_new_runs(conn, &created, seq.unwrap_or(0), &now)?;
            }
            for c in batch.iter().filter(|c| c.create.is_none()) {
                update_existing(conn, c)?;
            }
            append_points(conn, batch)?;
            for c in batch {
                for (path, sha, size) in &c.artifacts {
                    conn.execute(
                        "DELETE FROM artifacts WHERE run_id = ? AND path = ?",
                        params![c.id.as_str(), path],
                    )
                    .map_err(|e| StoreError::db("recording an artifact", e))?;
                    conn.execute(
                        "INSERT INTO artifacts VALUES (?, ?, ?, ?)",
                        params![c.id.as_str(), path, sha, *size as i64],
                    )
                    .map_err(|e| StoreError::db("recording an artifact", e))?;
                }
            }
            // Stamp: the seq of every changed run that already existed (new runs carry it),
            // and the heartbeat of every run the writer says is alive.
            let stamped: Vec<&RunChanges> = batch
                .iter()
                .filter(|c| c.create.is_none() && c.changes_content())
                .collect();
            if let Some(seq) = seq
                && !stamped.is_empty()
            {
                let n = conn
                    .execute(
                        &format!(
                            "UPDATE runs SET seq = ? WHERE id IN ({})",
                            id_list(stamped.iter().map(|c| &c.id))
                        ),
                        params![seq as i64],
                    )
                    .map_err(|e| StoreError::db("stamping changed runs", e))?;
                if n != distinct(stamped.iter().map(|c| &c.id)) {
                    let missing = stamped
                        .iter()
                        .map(|c| c.id.as_str())
                        .next()
                        .unwrap_or_default();
                    return Err(StoreError::not_found(
                        format!("a run written to (e.g. {missing})"),
                        "runs are created before they are written to",
                    ));
                }
            }
            let beating: Vec<&RunId> = batch
                .iter()
                .filter(|c| c.heartbeat && c.create.is_none())
                .map(|c| &c.id)
                .collect();
            if !beating.is_empty() {
                conn.execute(
                    &format!(
                        "UPDATE runs SET heartbeat_at = ? WHERE id IN ({})",
                        id_list(beating.into_iter())
                    ),
                    params![now],
                )
                .map_err(|e| StoreError::db("recording a heartbeat", e))?;
            }
            crate::audit::append(
                conn,
                &self.actor,
                &run_audit_records(batch),
                Some(&self.audit_head),
            )?;
            Ok(seq)
        })
    }

    /// Records a new run (one transaction with its params and tags).
    pub fn insert_run(&self, run: &NewRun) -> Result<Run> {
        let mut c = RunChanges::new(run.id.clone());
        c.create = Some(run.clone());
        self.write_runs(&[c])?;
        self.run(&run.id)
    }

    /// Moves a run to a terminal status.
    pub fn finish_run(&self, id: &RunId, status: RunStatus, error: Option<&str>) -> Result<()> {
        let mut c = RunChanges::new(id.clone());
        c.end = Some((status, error.map(str::to_string)));
        self.write_runs(&[c]).map(|_| ())
    }

    /// Runs still `running` or `queued`, with their owner's pid, start time and heartbeat.
    pub fn live_runs(&self) -> Result<Vec<LiveRun>> {
        let ctx = "looking for interrupted runs";
        let mut stmt = self
            .conn
            .prepare(
                "SELECT id, pid, pid_started, heartbeat_at, source FROM runs \
                 WHERE status IN ('running', 'queued') ORDER BY id",
            )
            .map_err(|e| StoreError::db(ctx, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(LiveRun {
                    id: RunId::from_stored(r.get(0)?),
                    pid: r.get(1)?,
                    pid_started: r.get(2)?,
                    heartbeat_at: r.get(3)?,
                    source: r.get(4)?,
                })
            })
            .map_err(|e| StoreError::db(ctx, e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| StoreError::db(ctx, e))
    }

    /// Marks as killed every live run for which `judge` gives a reason (its owner died), in
    /// one transaction; returns their ids.
    pub fn mark_orphaned_runs_killed(
        &self,
        judge: impl Fn(&LiveRun) -> Option<String>,
    ) -> Result<Vec<RunId>> {
        let mut batch = Vec::new();
        for run in self.live_runs()? {
            if let Some(why) = judge(&run) {
                let mut c = RunChanges::new(run.id);
                c.end = Some((RunStatus::Killed, Some(why)));
                batch.push(c);
            }
        }
        self.write_runs(&batch)?;
        Ok(batch.into_iter().map(|c| c.id).collect())
    }

    /// Appends metric points `(key, step, value)` in one transaction: a batch lands whole or not at all.
    pub fn append_metrics(&self, id: &RunId, points: &[(&str, u64, f64)]) -> Result<()> {
        if points.is_empty() {
            return Ok(());
        }
        let mut c = RunChanges::new(id.clone());
        let now = cairn_core::epoch_millis(&cairn_core::now_rfc3339());
        c.metrics = points
            .iter()
            .map(|(k, s, v)| (k.to_string(), *s, *v, now))
            .collect();
        self.write_runs(&[c]).map(|_| ())
    }

    pub fn add_artifact(&self, id: &RunId, path: &str, sha256: &str, size: u64) -> Result<()> {
        let mut c = RunChanges::new(id.clone());
        c.artifacts = vec![(path.to_string(), sha256.to_string(), size)];
        self.write_runs(&[c]).map(|_| ())
    }

    /// How many runs the workspace holds.
    pub fn count_runs(&self) -> Result<u64> {
        self.conn
            .query_row("SELECT count(*) FROM runs", [], |r| r.get::<_, i64>(0))
            .map(|n| n as u64)
            .map_err(|e| StoreError::db("counting runs", e))
    }

    /// How many runs name `id` as their parent.
    pub fn count_children(&self, id: &RunId) -> Result<u64> {
        self.conn
            .query_row(
                "SELECT count(*) FROM runs WHERE parent_id = ?",
                [id.as_str()],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
            .map_err(|e| StoreError::db("counting child runs", e))
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
                note: get_s(14)?,
                parent_id: r
                    .get::<_, Option<String>>(15)
                    .map_err(|e| StoreError::db(ctx, e))?
                    .map(RunId::from_stored),
            });
        }
        drop(rows);
        self.fill_final_metrics(&mut runs)?;
        Ok(runs)
    }

    /// Fills each run's last metric values, reading only these runs' points when they are few.
    fn fill_final_metrics(&self, runs: &mut [Run]) -> Result<()> {
        if runs.is_empty() {
            return Ok(());
        }
        let ctx = "reading final metrics";
        let filter = if runs.len() <= FEW_RUNS {
            format!("WHERE run_id IN ({})", id_list(runs.iter().map(|r| &r.id)))
        } else {
            String::new()
        };
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT run_id, key, arg_max(value, step) FROM metrics {filter} GROUP BY run_id, key"
            ))
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

/// `'id1', 'id2', …` for an `IN (…)` list (ids are quoted, never trusted).
fn id_list<'a>(ids: impl Iterator<Item = &'a RunId>) -> String {
    ids.map(|id| literal(id.as_str()))
        .collect::<Vec<_>>()
        .join(", ")
}

fn distinct<'a>(ids: impl Iterator<Item = &'a RunId>) -> usize {
    ids.collect::<std::collections::BTreeSet<_>>().len()
}

/// A new run with the params and tags of its batch folded in.
type MergedRun<'a> = (
    &'a RunChanges,
    BTreeMap<String, ParamValue>,
    BTreeMap<String, String>,
);

/// New runs with their params and tags, through appenders. A run created and ended in the same
/// batch is inserted with its end status.
fn insert_new_runs(conn: &Connection, created: &[&RunChanges], seq: u64, now: &str) -> Result<()> {
    let ctx = "recording new runs";
    let mut merged: Vec<MergedRun> = Vec::with_capacity(created.len());
    for c in created {
        let run = c.create.as_ref().expect("created");
        let mut params = run.params.clone();
        params.extend(c.params.clone());
        let mut tags = run.tags.clone();
        tags.extend(c.tags.clone());
        merged.push((c, params, tags));
    }
    {
        let mut app = conn.appender("runs").map_err(|e| StoreError::db(ctx, e))?;
        for (c, params, tags) in &merged {
            let run = c.create.as_ref().expect("created");
            let (status, mut finished_at, error) = match &c.end {
                Some((status, error)) => (
                    *status,
                    Some(c.ended_at.clone().unwrap_or_else(|| now.to_string())),
                    error.clone(),
                ),
                None => (run.status, None, None),
            };
            let created_at = match &c.times {
                Some((created, finished)) => {
                    finished_at = finished.clone().or(finished_at);
                    created.as_str()
                }
                None => now,
            };
            let note = c.note.clone().unwrap_or_else(|| run.note.clone());
            app.append_row(params![
                run.id.as_str(),
                run.name,
                status.as_str(),
                run.model,
                run.dataset,
                run.dataset_hash,
                run.target,
                run.seed,
                json_text(params),
                json_text(tags),
                run.environment.to_string(),
                run.pid as i64,
                created_at,
                finished_at,
                error,
                seq as i64,
                note,
                run.parent_id.as_ref().map(|p| p.as_str().to_string()),
                run.source,
                run.pid_started,
                now,
            ])
            .map_err(|e| StoreError::db(ctx, e))?;
        }
        app.flush().map_err(|e| StoreError::db(ctx, e))?;
    }
    {
        let mut app = conn
            .appender("run_params")
            .map_err(|e| StoreError::db(ctx, e))?;
        for (c, params, _) in &merged {
            for (key, value) in params {
                app.append_row(params![
                    c.id.as_str(),
                    key,
                    value.type_name(),
                    value.as_f64(),
                    param_text(value),
                    json_text(value),
                ])
                .map_err(|e| StoreError::db("recording params", e))?;
            }
        }
        app.flush()
            .map_err(|e| StoreError::db("recording params", e))?;
    }
    let mut app = conn
        .appender("run_tags")
        .map_err(|e| StoreError::db(ctx, e))?;
    for (c, _, tags) in &merged {
        for (key, value) in tags {
            app.append_row(params![c.id.as_str(), key, value])
                .map_err(|e| StoreError::db("recording tags", e))?;
        }
    }
    app.flush().map_err(|e| StoreError::db("recording tags", e))
}

/// Params, tags, note and end status of a run recorded earlier.
fn update_existing(conn: &Connection, c: &RunChanges) -> Result<()> {
    let id = c.id.as_str();
    if !c.params.is_empty() || !c.tags.is_empty() {
        let stored: Option<(String, String)> = conn
            .query_row(
                "SELECT params_json, tags_json FROM runs WHERE id = ?",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .map(Some)
            .or_else(|e| match e {
                duckdb::Error::QueryReturnedNoRows => Ok(None),
                e => Err(StoreError::db("reading a run", e)),
            })?;
        let Some((params_json, tags_json)) = stored else {
            return Err(StoreError::not_found(
                format!("run {id}"),
                "runs are created before they are written to",
            ));
        };
        let bad = |what: &str, e: serde_json::Error| {
            StoreError::Invalid(format!("stored {what} of run {id} are unreadable: {e}"))
        };
        if !c.params.is_empty() {
            let mut all: BTreeMap<String, ParamValue> =
                serde_json::from_str(&params_json).map_err(|e| bad("params", e))?;
            for (key, value) in &c.params {
                conn.execute(
                    "DELETE FROM run_params WHERE run_id = ? AND key = ?",
                    params![id, key],
                )
                .map_err(|e| StoreError::db("recording params", e))?;
                conn.execute(
                    "INSERT INTO run_params VALUES (?, ?, ?, ?, ?, ?)",
                    params![
                        id,
                        key,
                        value.type_name(),
                        value.as_f64(),
                        param_text(value),
                        json_text(value),
                    ],
                )
                .map_err(|e| StoreError::db("recording params", e))?;
                all.insert(key.clone(), value.clone());
            }
            conn.execute(
                "UPDATE runs SET params_json = ? WHERE id = ?",
                params![json_text(&all), id],
            )
            .map_err(|e| StoreError::db("recording params", e))?;
        }
        if !c.tags.is_empty() {
            let mut all: BTreeMap<String, String> =
                serde_json::from_str(&tags_json).map_err(|e| bad("tags", e))?;
            for (key, value) in &c.tags {
                conn.execute(
                    "DELETE FROM run_tags WHERE run_id = ? AND key = ?",
                    params![id, key],
                )
                .map_err(|e| StoreError::db("recording tags", e))?;
                conn.execute(
                    "INSERT INTO run_tags VALUES (?, ?, ?)",
                    params![id, key, value],
                )
                .map_err(|e| StoreError::db("recording tags", e))?;
                all.insert(key.clone(), value.clone());
            }
            conn.execute(
                "UPDATE runs SET tags_json = ? WHERE id = ?",
                params![json_text(&all), id],
            )
            .map_err(|e| StoreError::db("recording tags", e))?;
        }
    }
    if let Some(note) = &c.note {
        conn.execute("UPDATE runs SET note = ? WHERE id = ?", params![note, id])
            .map_err(|e| StoreError::db("recording the note", e))?;
    }
    if let Some((status, error)) = &c.end {
        let ended_at = c.ended_at.clone().unwrap_or_else(cairn_core::now_rfc3339);
        conn.execute(
            "UPDATE runs SET status = ?, finished_at = ?, error = ? WHERE id = ?",
            params![status.as_str(), ended_at, error, id],
        )
        .map_err(|e| StoreError::db("updating the run's status", e))?;
    }
    Ok(())
}

/// Every metric point of the batch through one appender.
fn append_points(conn: &Connection, batch: &[RunChanges]) -> Result<()> {
    if batch.iter().all(|c| c.metrics.is_empty()) {
        return Ok(());
    }
    let mut app = conn
        .appender("metrics")
        .map_err(|e| StoreError::db("opening the metric appender", e))?;
    for c in batch {
        let id = c.id.as_str();
        for (key, step, value, at) in &c.metrics {
            app.append_row(params![id, key, *step as i64, value, at])
                .map_err(|e| StoreError::db("appending a metric", e))?;
        }
    }
    app.flush()
        .map_err(|e| StoreError::db("flushing metrics", e))
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

/// The audit entries of a batch: each run started and each run ended.
fn run_audit_records(batch: &[RunChanges]) -> Vec<crate::audit::Record> {
    let mut out = Vec::new();
    for c in batch {
        let subject = format!("run:{}", c.id.as_str());
        if let Some(new) = &c.create {
            out.push(crate::audit::Record::new(
                "run.start",
                subject.clone(),
                serde_json::json!({
                    "name": new.name,
                    "model": new.model,
                    "dataset": new.dataset,
                    "dataset_hash": new.dataset_hash,
                }),
            ));
        }
        if let Some((status, error)) = &c.end {
            out.push(crate::audit::Record::new(
                "run.end",
                subject,
                serde_json::json!({"status": status.as_str(), "error": error}),
            ));
        }
        out.extend(c.audit.iter().cloned());
    }
    out
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
            pid_started: None,
            source: "train".into(),
            note: String::new(),
            parent_id: None,
            status: RunStatus::Running,
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
        assert_eq!(seq, seq0 + 3, "insert, metrics and finish each bump it");
        assert!(store.runs_changed_since(seq).unwrap().0.is_empty());
    }

    #[test]
    fn orphans_are_marked_killed() {
        let store = Store::open_in_memory().unwrap();
        let a = store.insert_run(&new_run("a")).unwrap();
        let b = store.insert_run(&new_run("b")).unwrap();
        store.finish_run(&b.id, RunStatus::Finished, None).unwrap();
        let judge = |r: &LiveRun| r.pid.map(|p| format!("pid {p} ended without finishing"));
        assert_eq!(
            store.mark_orphaned_runs_killed(judge).unwrap(),
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

    #[test]
    fn metric_appends_stamp_the_run_for_the_index() {
        let store = Store::open_in_memory().unwrap();
        let run = store.insert_run(&new_run("m")).unwrap();
        let seq = store.change_seq().unwrap();
        store.append_metrics(&run.id, &[("loss", 0, 1.0)]).unwrap();
        let (changed, now) = store.runs_changed_since(seq).unwrap();
        assert_eq!(now, seq + 1);
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].metrics["loss"], 1.0);
    }

    #[test]
    fn a_batch_of_many_runs_is_one_transaction_and_one_seq() {
        let store = Store::open_in_memory().unwrap();
        let old = store.insert_run(&new_run("old")).unwrap();
        let seq = store.change_seq().unwrap();
        let mut batch = Vec::new();
        for i in 0..3 {
            let mut r = new_run(&format!("new-{i}"));
            r.parent_id = Some(old.id.clone());
            r.note = "# hello".into();
            let mut c = RunChanges::new(r.id.clone());
            c.create = Some(r);
            c.params
                .insert("layers".into(), ParamValue::List(vec![ParamValue::Int(64)]));
            c.tags.insert("k".into(), "v".into());
            c.metrics = vec![
                ("loss".into(), 0, 2.0, None),
                ("loss".into(), 1, 1.0, Some(7)),
            ];
            c.artifacts = vec![("a.txt".into(), "ab".repeat(32), 3)];
            if i == 2 {
                c.end = Some((RunStatus::Failed, Some("boom".into())));
            }
            batch.push(c);
        }
        let mut upd = RunChanges::new(old.id.clone());
        upd.params.insert("lr".into(), ParamValue::Float(0.5));
        upd.tags.insert("team".into(), "ml".into());
        upd.note = Some("edited".into());
        upd.metrics = vec![("acc".into(), 7, 0.75, None)];
        batch.push(upd);
        assert_eq!(store.write_runs(&batch).unwrap(), Some(seq + 1));
        let (changed, now) = store.runs_changed_since(seq).unwrap();
        assert_eq!((changed.len(), now), (4, seq + 1));

        let child = store.find_run("new-2").unwrap();
        assert_eq!(child.status, RunStatus::Failed);
        assert_eq!(child.error.as_deref(), Some("boom"));
        assert_eq!(child.parent_id.as_ref(), Some(&old.id));
        assert_eq!(child.note, "# hello");
        assert_eq!(
            child.params["layers"],
            ParamValue::List(vec![ParamValue::Int(64)])
        );
        assert_eq!(child.params["lr"], ParamValue::Float(0.1));
        assert_eq!(child.tags["k"], "v");
        assert_eq!(child.metrics["loss"], 1.0);
        assert_eq!(store.artifacts(&child.id).unwrap().len(), 1);
        assert_eq!(store.count_children(&old.id).unwrap(), 3);
        assert_eq!(store.count_runs().unwrap(), 4);

        let old = store.run(&old.id).unwrap();
        assert_eq!(old.params["lr"], ParamValue::Float(0.5));
        assert_eq!(old.params["epochs"], ParamValue::Int(5));
        assert_eq!(old.tags["team"], "ml");
        assert_eq!(old.note, "edited");
        assert_eq!(old.metrics["acc"], 0.75);
        assert_eq!(
            store.distinct_keys("run_params").unwrap(),
            ["epochs", "layers", "lr"]
        );
        let n: i64 = store
            .conn
            .query_row(
                "SELECT count(*) FROM run_params WHERE run_id = ? AND key = 'lr'",
                [old.id.as_str()],
                |r| r.get(0),
            )
            .unwrap();
        assert_eq!(n, 1, "a param set again replaces its row");
    }

    #[test]
    fn a_batch_lands_whole_or_not_at_all() {
        let store = Store::open_in_memory().unwrap();
        let seq = store.change_seq().unwrap();
        let r = new_run("fresh");
        let mut c = RunChanges::new(r.id.clone());
        c.create = Some(r);
        c.metrics = vec![("loss".into(), 0, 1.0, None)];
        let mut ghost = RunChanges::new(RunId::new_v7());
        ghost.metrics = vec![("loss".into(), 0, 1.0, None)];
        let err = store.write_runs(&[c, ghost]).unwrap_err();
        assert!(err.to_string().contains("created before"), "{err}");
        assert_eq!(store.count_runs().unwrap(), 0);
        assert_eq!(store.change_seq().unwrap(), seq);
        let n: i64 = store
            .conn
            .query_row("SELECT count(*) FROM metrics", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 0);
    }

    #[test]
    fn heartbeats_do_not_bump_the_sequence() {
        let store = Store::open_in_memory().unwrap();
        let run = store.insert_run(&new_run("beat")).unwrap();
        let seq = store.change_seq().unwrap();
        let mut c = RunChanges::new(run.id.clone());
        c.heartbeat = true;
        assert_eq!(store.write_runs(&[c]).unwrap(), None);
        assert_eq!(store.change_seq().unwrap(), seq);
        assert!(store.live_runs().unwrap()[0].heartbeat_at.is_some());
    }
}
