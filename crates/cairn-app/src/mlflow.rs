//! Export to MLflow: runs written in MLflow's file-store layout (docs/mlflow.md), so a team
//! that outgrows one machine can move its history onto an MLflow server.
//!
//! ```text
//! <out>/cairn-export.json                  marker: {"format": "cairn-mlflow-export", "format_version": 1, ...}
//! <out>/0/meta.yaml                        MLflow's "Default" experiment (MLflow always has one)
//! <out>/<experiment_id>/meta.yaml          the exported experiment
//! <out>/<experiment_id>/<run_id>/meta.yaml run info: name, status, start/end in ms
//!                               params/<key>    the value as text, no newline
//!                               metrics/<key>   one line per point: "<timestamp ms> <value> <step>"
//!                               tags/<key>      the value as text (mlflow.runName, mlflow.note.content, ...)
//!                               artifacts/<path> copied from the content-addressed store
//! ```
//!
//! Keys with `/` become nested folders, as MLflow writes them. A key MLflow cannot store (its
//! characters, or a path that does not normalise to itself) is refused with its run and kind,
//! or renamed when asked. The output is a pure function of the selected runs: the experiment
//! id is derived from its name, runs are written in id order, and the folder appears whole
//! (written beside it, then renamed into place).

use crate::{AppError, ErrorCode, Result, Workspace};
use cairn_core::{ProgressObserver, Run, RunStatus, Step};
use cairn_store::LoggedPoint;
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

/// The marker file that makes a folder "a previous export" that may be replaced.
pub const EXPORT_MARKER: &str = "cairn-export.json";
const EXPORT_FORMAT: &str = "cairn-mlflow-export";
const EXPORT_FORMAT_VERSION: u32 = 1;
/// MLflow's limits (mlflow/utils/validation.py). A file store reads longer values, a server
/// refuses them: they are reported as warnings.
const MAX_KEY_LENGTH: usize = 250;
const MAX_PARAM_VALUE_LENGTH: usize = 6000;
const MAX_TAG_VALUE_LENGTH: usize = 8000;
const MAX_EXPERIMENT_NAME_LENGTH: usize = 500;
/// Runs read from the index per page when a query selects them.
const SEARCH_PAGE: usize = 1000;

/// What one export shares across its runs.
struct ExportContext<'a> {
    req: &'a MlflowExport,
    target: &'a Path,
    experiment_id: &'a str,
    root_uri: &'a str,
    exp_dir: &'a Path,
    artifacts: &'a cairn_store::ArtifactsByRun,
    total: u64,
}

/// What to export and where.
#[derive(Debug, Clone)]
pub struct MlflowExport {
    /// The MLflow tracking root to write (`file://<out>`); must be missing, empty, or a
    /// previous export (which is replaced whole).
    pub out: PathBuf,
    /// The MLflow experiment the runs go into (default `cairn`).
    pub experiment: String,
    /// A query in the query language selecting the runs; `None` exports every run.
    pub query: Option<String>,
    /// Rename keys MLflow cannot store (bad characters become `_`, empty or `.`/`..` path
    /// parts are dropped or replaced) instead of refusing the export.
    pub rename_bad_keys: bool,
}

impl MlflowExport {
    pub fn new(out: impl Into<PathBuf>) -> Self {
        MlflowExport {
            out: out.into(),
            experiment: "cairn".into(),
            query: None,
            rename_bad_keys: false,
        }
    }
}

/// What an export wrote.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MlflowExportSummary {
    pub out: String,
    pub tracking_uri: String,
    pub experiment: String,
    pub experiment_id: String,
    pub runs: u64,
    pub params: u64,
    pub tags: u64,
    /// Metric series (one file each) and the points in them.
    pub metrics: u64,
    pub metric_points: u64,
    pub artifacts: u64,
    pub artifact_bytes: u64,
    /// Keys renamed because MLflow cannot store them (only with `rename_bad_keys`).
    pub renamed: Vec<KeyRename>,
    /// Values an MLflow server would refuse (a file store keeps them), and system tags that
    /// replaced a user tag of the same name.
    pub warnings: Vec<String>,
    /// True when a previous export at `out` was replaced.
    pub replaced: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct KeyRename {
    pub run_id: String,
    /// `param`, `metric` or `tag`.
    pub kind: String,
    pub from: String,
    pub to: String,
}

impl Workspace {
    /// Writes the selected runs as an MLflow file store at `req.out` (docs/mlflow.md).
    ///
    /// Reports one step per run; a `Break` from the observer stops the export, removes what
    /// was written and returns a `cancelled` error (the previous export, if any, stays).
    pub fn export_mlflow(
        &mut self,
        req: &MlflowExport,
        observer: &mut dyn ProgressObserver,
    ) -> Result<MlflowExportSummary> {
        check_experiment_name(&req.experiment)?;
        let target = absolute(&req.out)?;
        let replaced = check_target(&target)?;
        let ids = self.export_selection(req.query.as_deref())?;

        let parent = target.parent().expect("absolute path has a parent");
        let name = target
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "mlruns".into());
        let tmp = parent.join(format!(".{name}.cairn-tmp-{}", std::process::id()));
        if tmp.exists() {
            remove_dir(&tmp)?;
        }
        let result = self.write_export(req, &target, &tmp, &ids, replaced, observer);
        match result {
            Ok(summary) => {
                install(&tmp, &target, replaced)?;
                Ok(summary)
            }
            Err(e) => {
                let _ = std::fs::remove_dir_all(&tmp);
                Err(e)
            }
        }
    }

    /// The ids of the runs to export, in id (creation) order.
    fn export_selection(&mut self, query: Option<&str>) -> Result<Vec<cairn_core::RunId>> {
        let mut ids: Vec<cairn_core::RunId> = match query.map(str::trim) {
            None | Some("") => self.store.list_runs()?.into_iter().map(|r| r.id).collect(),
            Some(text) => {
                let parsed = crate::parse_query(text)?;
                let mut ids = Vec::new();
                if parsed.limit.is_some() || parsed.offset.is_some() {
                    // The query's own LIMIT/OFFSET pick one page.
                    let found = self.search(text, SEARCH_PAGE, 0)?;
                    ids.extend(found.runs.into_iter().map(|r| r.id));
                } else {
                    let mut offset = 0;
                    loop {
                        let found = self.search(text, SEARCH_PAGE, offset)?;
                        let n = found.runs.len();
                        ids.extend(found.runs.into_iter().map(|r| r.id));
                        offset += n;
                        if n == 0 || offset >= found.total {
                            break;
                        }
                    }
                }
                ids
            }
        };
        ids.sort();
        ids.dedup();
        Ok(ids)
    }

    fn write_export(
        &self,
        req: &MlflowExport,
        target: &Path,
        tmp: &Path,
        ids: &[cairn_core::RunId],
        replaced: bool,
        observer: &mut dyn ProgressObserver,
    ) -> Result<MlflowExportSummary> {
        let experiment_id = experiment_id(&req.experiment);
        let root_uri = file_uri(target);
        let mut summary = MlflowExportSummary {
            out: target.display().to_string(),
            tracking_uri: root_uri.clone(),
            experiment: req.experiment.clone(),
            experiment_id: experiment_id.clone(),
            runs: 0,
            params: 0,
            tags: 0,
            metrics: 0,
            metric_points: 0,
            artifacts: 0,
            artifact_bytes: 0,
            renamed: Vec::new(),
            warnings: Vec::new(),
            replaced,
        };
        let exp_dir = tmp.join(&experiment_id);
        create_dir(&exp_dir)?;
        let total = ids.len() as u64;
        let mut times = (i64::MAX, 0i64);
        // Artifacts in one query and metric histories in one ordered pass over the store (the
        // tables have no index on the run id: a query per run would scan them once per run).
        let artifacts = self.store.all_artifacts()?;
        // A lookup by id costs a query each; past a few hundred runs one read of every run is
        // cheaper (the same read `cairn runs list` and an index rebuild make).
        let mut runs: BTreeMap<String, Run> = if ids.len() > 200 {
            self.store
                .list_runs()?
                .into_iter()
                .map(|r| (r.id.as_str().to_string(), r))
                .collect()
        } else {
            BTreeMap::new()
        };
        let ctx = ExportContext {
            req,
            target,
            experiment_id: &experiment_id,
            root_uri: &root_uri,
            exp_dir: &exp_dir,
            artifacts: &artifacts,
            total,
        };
        let no_history = BTreeMap::new();
        let mut next = 0usize;
        let mut outcome: Result<()> = Ok(());
        let mut previous: Option<String> = None;
        self.store.each_metric_history(|run_id, history| {
            if previous.as_deref().is_some_and(|p| p >= run_id) {
                outcome = Err(AppError::new(
                    ErrorCode::Internal,
                    "the store returned metric histories out of run id order; nothing was exported",
                ));
                return ControlFlow::Break(());
            }
            previous = Some(run_id.to_string());
            while next < ids.len() && ids[next].as_str() <= run_id {
                let h = if ids[next].as_str() == run_id {
                    &history
                } else {
                    &no_history
                };
                if let Err(e) = self.export_run(
                    &ctx,
                    next,
                    &ids[next],
                    h,
                    &mut runs,
                    &mut times,
                    &mut summary,
                    observer,
                ) {
                    outcome = Err(e);
                    return ControlFlow::Break(());
                }
                next += 1;
            }
            if next == ids.len() {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })?;
        outcome?;
        while next < ids.len() {
            self.export_run(
                &ctx,
                next,
                &ids[next],
                &no_history,
                &mut runs,
                &mut times,
                &mut summary,
                observer,
            )?;
            next += 1;
        }
        let (mut first_ms, last_ms) = times;
        let _ = observer.on_step(&Step {
            stage: "export".into(),
            done: total,
            total: Some(total),
            message: format!("{total} runs written"),
            metrics: Default::default(),
        });
        if ids.is_empty() {
            first_ms = 0;
        }
        let (first_ms, last_ms) = (first_ms, last_ms.max(first_ms));
        if experiment_id != "0" {
            write_experiment_meta(tmp, "0", "Default", &root_uri, (first_ms, last_ms))?;
        }
        write_experiment_meta(
            tmp,
            &experiment_id,
            &req.experiment,
            &root_uri,
            (first_ms, last_ms),
        )?;
        // Keys in sorted order, so the text is the same with or without serde_json's
        // `preserve_order`.
        let marker = serde_json::json!({
            "cairn_version": crate::CAIRN_VERSION,
            "experiment": req.experiment,
            "experiment_id": experiment_id,
            "format": EXPORT_FORMAT,
            "format_version": EXPORT_FORMAT_VERSION,
            "query": req.query.clone().unwrap_or_default(),
            "runs": summary.runs,
        });
        let text = serde_json::to_string_pretty(&marker).expect("json") + "\n";
        write_file(&tmp.join(EXPORT_MARKER), text.as_bytes())?;
        Ok(summary)
    }

    /// Reports progress (and stops when asked), then writes one run.
    #[allow(clippy::too_many_arguments)]
    fn export_run(
        &self,
        ctx: &ExportContext<'_>,
        i: usize,
        id: &cairn_core::RunId,
        history: &BTreeMap<String, Vec<LoggedPoint>>,
        runs: &mut BTreeMap<String, Run>,
        (first_ms, last_ms): &mut (i64, i64),
        summary: &mut MlflowExportSummary,
        observer: &mut dyn ProgressObserver,
    ) -> Result<()> {
        let step = Step {
            stage: "export".into(),
            done: i as u64,
            total: Some(ctx.total),
            message: format!("run {}", id.short()),
            metrics: Default::default(),
        };
        if observer.on_step(&step).is_break() {
            return Err(AppError::new(
                ErrorCode::Cancelled,
                format!(
                    "export cancelled after {i} of {} runs; nothing was written to {}",
                    ctx.total,
                    ctx.target.display()
                ),
            ));
        }
        let run = match runs.remove(id.as_str()) {
            Some(run) => run,
            None => self.store.run(id)?,
        };
        let (start, end) = run_times(&run)?;
        *first_ms = (*first_ms).min(start);
        *last_ms = (*last_ms).max(end.unwrap_or(start));
        let run_uri = format!("{}/{}/{}", ctx.root_uri, ctx.experiment_id, run.id);
        let run_dir = ctx.exp_dir.join(run.id.as_str());
        let artifacts = ctx
            .artifacts
            .get(id.as_str())
            .map_or(&[][..], Vec::as_slice);
        self.write_run(
            ctx.req,
            &run,
            history,
            artifacts,
            (ctx.experiment_id, &run_uri, &run_dir),
            (start, end),
            summary,
        )?;
        summary.runs += 1;
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    fn write_run(
        &self,
        req: &MlflowExport,
        run: &Run,
        history: &BTreeMap<String, Vec<LoggedPoint>>,
        artifacts: &[(String, String, u64)],
        (experiment_id, run_uri, run_dir): (&str, &str, &Path),
        (start, end): (i64, Option<i64>),
        summary: &mut MlflowExportSummary,
    ) -> Result<()> {
        let run_id = run.id.as_str();
        // Every folder MLflow checks for (`_is_valid_run_directory`), even when empty.
        for sub in ["metrics", "params", "artifacts", "tags"] {
            create_dir(&run_dir.join(sub))?;
        }
        let mut meta = String::new();
        let _ = writeln!(
            meta,
            "artifact_uri: {}",
            yaml_str(&format!("{run_uri}/artifacts"))
        );
        let _ = writeln!(
            meta,
            "end_time: {}",
            end.map_or("null".into(), |e| e.to_string())
        );
        let _ = writeln!(meta, "entry_point_name: ''");
        let _ = writeln!(meta, "experiment_id: '{experiment_id}'");
        let _ = writeln!(meta, "lifecycle_stage: active");
        let _ = writeln!(meta, "run_id: {run_id}");
        let _ = writeln!(meta, "run_name: {}", yaml_str(&run.name));
        let _ = writeln!(meta, "source_name: ''");
        let _ = writeln!(meta, "source_type: 4");
        let _ = writeln!(meta, "source_version: ''");
        let _ = writeln!(meta, "start_time: {start}");
        let _ = writeln!(meta, "status: {}", status_code(run.status));
        let _ = writeln!(meta, "tags: []");
        let _ = writeln!(meta, "user_id: cairn");
        write_file(&run_dir.join("meta.yaml"), meta.as_bytes())?;

        // Params.
        let params: Vec<(String, String)> = run
            .params
            .iter()
            .map(|(k, v)| (k.clone(), v.to_string()))
            .collect();
        let params = mlflow_keys(req, run_id, "param", params, summary)?;
        for (key, value) in &params {
            if value.chars().count() > MAX_PARAM_VALUE_LENGTH {
                summary.warnings.push(format!(
                    "run {run_id}: param `{key}` is {} characters; an MLflow server refuses more than {MAX_PARAM_VALUE_LENGTH}",
                    value.chars().count()
                ));
            }
            write_key_file(&run_dir.join("params"), key, value.as_bytes())?;
        }
        summary.params += params.len() as u64;

        // Tags: the run's own, then MLflow's and Cairn's system tags (which win).
        let mut tags: BTreeMap<String, String> = run.tags.clone();
        // MLflow's system tags come from the run's fields the way search answers them.
        let mut system: Vec<(&str, String)> = run.mlflow_system_tags();
        system.extend([
            ("cairn.model", run.model.clone()),
            ("cairn.dataset", run.dataset.clone()),
            ("cairn.dataset_hash", run.dataset_hash.clone()),
            ("cairn.target", run.target.clone()),
            ("cairn.seed", run.seed.to_string()),
        ]);
        if let Some(error) = &run.error {
            system.push(("cairn.error", error.clone()));
        }
        if !run.environment.is_null() && run.environment != serde_json::json!({}) {
            system.push(("cairn.environment", run.environment.to_string()));
        }
        for (key, value) in system {
            if let Some(old) = tags.insert(key.to_string(), value.clone())
                && old != value
            {
                summary.warnings.push(format!(
                    "run {run_id}: the run's own tag `{key}` was replaced by the system tag of that name"
                ));
            }
        }
        let tags = mlflow_keys(req, run_id, "tag", tags.into_iter().collect(), summary)?;
        for (key, value) in &tags {
            if value.chars().count() > MAX_TAG_VALUE_LENGTH {
                summary.warnings.push(format!(
                    "run {run_id}: tag `{key}` is {} characters; an MLflow server refuses more than {MAX_TAG_VALUE_LENGTH}",
                    value.chars().count()
                ));
            }
            write_key_file(&run_dir.join("tags"), key, value.as_bytes())?;
        }
        summary.tags += tags.len() as u64;

        // Metrics: one file per series, each point with the time it was logged (a point
        // without one — recorded before points had times, or imported — takes the run's start).
        let keys: Vec<(String, String)> = history.keys().map(|k| (k.clone(), k.clone())).collect();
        let keys = mlflow_keys(req, run_id, "metric", keys, summary)?;
        for (key, original) in &keys {
            let points = &history[original];
            let mut text = String::with_capacity(points.len() * 24);
            for p in points {
                let at = p.logged_at.unwrap_or(start);
                let _ = writeln!(text, "{at} {} {}", metric_value(p.value), p.step);
            }
            write_key_file(&run_dir.join("metrics"), key, text.as_bytes())?;
            summary.metric_points += points.len() as u64;
        }
        summary.metrics += keys.len() as u64;

        // Artifacts, checked against their hash on the way out.
        for (path, sha, size) in artifacts {
            let rel = artifact_path(path).ok_or_else(|| {
                AppError::invalid(format!(
                    "run {run_id}: artifact path `{path}` cannot be written inside the run's artifact folder (it is absolute or has `..`, `.` or empty parts)"
                ))
            })?;
            let bytes = self.artifacts.get(sha)?;
            write_key_file(&run_dir.join("artifacts"), &rel, &bytes)?;
            summary.artifacts += 1;
            summary.artifact_bytes += *size;
        }
        Ok(())
    }
}

/// MLflow's numeric run status (mlflow/protos/service.proto `RunStatus`).
fn status_code(status: RunStatus) -> u8 {
    match status {
        RunStatus::Running => 1,
        RunStatus::Queued => 2,
        RunStatus::Finished => 3,
        RunStatus::Failed => 4,
        RunStatus::Killed => 5,
    }
}

/// A metric value as MLflow's reader (`float()`) takes it: shortest round-trip decimal,
/// `nan`, `inf`, `-inf`.
fn metric_value(v: f64) -> String {
    if v.is_nan() {
        "nan".into()
    } else if v.is_infinite() {
        if v > 0.0 { "inf".into() } else { "-inf".into() }
    } else {
        format!("{v:?}")
    }
}

/// Start and end of a run in milliseconds since the epoch.
fn run_times(run: &Run) -> Result<(i64, Option<i64>)> {
    let ms = |text: &str| -> Result<i64> {
        text.parse::<jiff::Timestamp>()
            .map(|t| t.as_millisecond())
            .map_err(|e| {
                AppError::new(
                    ErrorCode::Internal,
                    format!("run {}: cannot read the time `{text}`: {e}", run.id),
                )
            })
    };
    let start = ms(&run.created_at)?;
    let end = run.finished_at.as_deref().map(ms).transpose()?;
    Ok((start, end))
}

/// The experiment's id: a number derived from its name (MLflow ids are decimal strings), so
/// exporting again gives the same folders. `Default` is MLflow's experiment `0`.
pub(crate) fn experiment_id(name: &str) -> String {
    if name == "Default" {
        return "0".into();
    }
    let hash = cairn_core::sha256_hex(name.as_bytes());
    let n = u64::from_str_radix(&hash[..16], 16).expect("hex") >> 4;
    // MLflow's own ids are 18 or 19 digits and never start with 0.
    (n % 900_000_000_000_000_000 + 100_000_000_000_000_000).to_string()
}

fn check_experiment_name(name: &str) -> Result<()> {
    if name.trim().is_empty() {
        return Err(AppError::invalid(
            "the MLflow experiment name is empty; pass --experiment NAME",
        ));
    }
    if name.chars().count() > MAX_EXPERIMENT_NAME_LENGTH {
        return Err(AppError::invalid(format!(
            "the MLflow experiment name is {} characters; MLflow takes at most {MAX_EXPERIMENT_NAME_LENGTH}",
            name.chars().count()
        )));
    }
    Ok(())
}

/// Why MLflow cannot store this key (mlflow/utils/validation.py: `_validate_param_name`,
/// `_validate_metric_name`, `_validate_tag_name`), or `None` when it can.
pub(crate) fn key_problem(key: &str) -> Option<&'static str> {
    if key.is_empty() {
        return Some("it is empty");
    }
    if key.chars().count() > MAX_KEY_LENGTH {
        return Some("it is longer than 250 characters");
    }
    if !key
        .chars()
        .all(|c| c.is_alphanumeric() || "_/.- :".contains(c))
    {
        return Some("MLflow keys may hold only letters, digits, `_`, `-`, `.`, ` `, `:` and `/`");
    }
    if key.starts_with('/')
        || key.starts_with("..")
        || key
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == "..")
    {
        return Some(
            "MLflow stores keys as file paths: it may not start with `/` or `..`, end with `/`, or have empty, `.` or `..` parts",
        );
    }
    None
}

/// A key MLflow can store, made from one it cannot.
pub(crate) fn rename_key(key: &str) -> String {
    let cleaned: String = key
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || "_/.- :".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let parts: Vec<String> = cleaned
        .split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .map(|p| {
            if p.starts_with("..") {
                p.replacen("..", "__", 1)
            } else {
                p.to_string()
            }
        })
        .collect();
    let mut out = parts.join("/");
    if out.chars().count() > MAX_KEY_LENGTH {
        out = out.chars().take(MAX_KEY_LENGTH).collect();
        out = out.trim_end_matches('/').to_string();
    }
    if out.is_empty() { "_".into() } else { out }
}

/// Checks (or renames) the keys of one kind in one run, and refuses keys that would need a
/// file and a folder of the same name (`a` and `a/b`). Returns `(mlflow key, value)`.
fn mlflow_keys(
    req: &MlflowExport,
    run_id: &str,
    kind: &str,
    entries: Vec<(String, String)>,
    summary: &mut MlflowExportSummary,
) -> Result<Vec<(String, String)>> {
    let mut out = Vec::with_capacity(entries.len());
    let mut seen = BTreeSet::new();
    for (key, value) in entries {
        let key = match key_problem(&key) {
            None => key,
            Some(why) if !req.rename_bad_keys => {
                return Err(AppError::invalid(format!(
                    "run {run_id}: MLflow cannot store the {kind} key `{}`: {why}. Rename it in Cairn, export without this run (--query), or pass --rename-bad-keys",
                    key.escape_debug()
                )));
            }
            Some(_) => {
                let to = rename_key(&key);
                summary.renamed.push(KeyRename {
                    run_id: run_id.into(),
                    kind: kind.into(),
                    from: key,
                    to: to.clone(),
                });
                to
            }
        };
        if !seen.insert(key.clone()) {
            return Err(AppError::invalid(format!(
                "run {run_id}: two {kind} keys become `{key}` in MLflow; rename one of them in Cairn"
            )));
        }
        out.push((key, value));
    }
    for key in &seen {
        let mut prefix = String::new();
        for part in key.split('/') {
            if !prefix.is_empty() && seen.contains(&prefix) {
                return Err(AppError::invalid(format!(
                    "run {run_id}: the {kind} keys `{prefix}` and `{key}` cannot both be stored: MLflow writes `{prefix}` as a file and `{key}` inside a folder of that name. Rename one of them in Cairn"
                )));
            }
            if !prefix.is_empty() {
                prefix.push('/');
            }
            prefix.push_str(part);
        }
    }
    Ok(out)
}

/// A stored artifact path as a relative path inside `artifacts/`, or `None` when it would
/// leave it.
fn artifact_path(path: &str) -> Option<String> {
    let path = path.replace('\\', "/");
    if path.starts_with('/')
        || path
            .split('/')
            .any(|p| p.is_empty() || p == "." || p == ".." || p.contains(':'))
    {
        return None;
    }
    Some(path)
}

/// A YAML scalar for a string, as PyYAML would read it back: plain when that is unambiguous,
/// otherwise double-quoted (a JSON string is a valid YAML double-quoted scalar).
fn yaml_str(s: &str) -> String {
    let plain = s
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '/')
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:".contains(c))
        && !s.contains(": ")
        && !s.ends_with(':')
        && !matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "on" | "off" | "null" | "y" | "n"
        );
    if plain {
        s.to_string()
    } else {
        serde_json::to_string(s).expect("json string")
    }
}

fn write_experiment_meta(
    root: &Path,
    id: &str,
    name: &str,
    root_uri: &str,
    (created, updated): (i64, i64),
) -> Result<()> {
    let dir = root.join(id);
    create_dir(&dir)?;
    let mut meta = String::new();
    let _ = writeln!(
        meta,
        "artifact_location: {}",
        yaml_str(&format!("{root_uri}/{id}"))
    );
    let _ = writeln!(meta, "creation_time: {created}");
    let _ = writeln!(meta, "experiment_id: '{id}'");
    let _ = writeln!(meta, "last_update_time: {updated}");
    let _ = writeln!(meta, "lifecycle_stage: active");
    let _ = writeln!(meta, "name: {}", yaml_str(name));
    write_file(&dir.join("meta.yaml"), meta.as_bytes())
}

/// `file://` and the path percent-encoded as Python's `Path.as_uri()` does.
fn file_uri(path: &Path) -> String {
    let mut uri = String::from("file://");
    for b in path.to_string_lossy().as_bytes() {
        if b.is_ascii_alphanumeric() || b"/_.-~".contains(b) {
            uri.push(*b as char);
        } else {
            let _ = write!(uri, "%{b:02X}");
        }
    }
    uri
}

fn absolute(path: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(path)
        .map_err(|e| AppError::io(format!("resolving {}", path.display()), e))?;
    // Resolve `..` and symlinks in the parent, so the URIs written inside are the real place.
    let parent = abs.parent().map(Path::to_path_buf);
    let name = abs.file_name().map(|n| n.to_os_string());
    match (parent, name) {
        (Some(parent), Some(name)) => {
            std::fs::create_dir_all(&parent)
                .map_err(|e| AppError::io(format!("creating {}", parent.display()), e))?;
            let parent = parent
                .canonicalize()
                .map_err(|e| AppError::io(format!("resolving {}", parent.display()), e))?;
            Ok(parent.join(name))
        }
        _ => Err(AppError::invalid(format!(
            "{} cannot be an export folder; name a folder such as ./mlruns",
            path.display()
        ))),
    }
}

/// Whether `out` holds a previous export (to be replaced); an error when it holds anything
/// else.
fn check_target(out: &Path) -> Result<bool> {
    match std::fs::read_dir(out) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(AppError::io(
            format!("reading {} (the export folder)", out.display()),
            e,
        )),
        Ok(mut entries) => {
            if entries.next().is_none() {
                return Ok(false);
            }
            let marker = out.join(EXPORT_MARKER);
            let ours = std::fs::read_to_string(&marker)
                .ok()
                .and_then(|t| serde_json::from_str::<serde_json::Value>(&t).ok())
                .is_some_and(|v| v["format"] == EXPORT_FORMAT);
            if ours {
                Ok(true)
            } else {
                Err(AppError::new(
                    ErrorCode::InvalidInput,
                    format!(
                        "{} is not empty and is not a previous Cairn export (it has no {EXPORT_MARKER}); choose a new or empty folder",
                        out.display()
                    ),
                ))
            }
        }
    }
}

/// Moves the finished export into place: the previous export (if any) is moved aside first
/// and removed after.
fn install(tmp: &Path, target: &Path, replaced: bool) -> Result<()> {
    let rename = |from: &Path, to: &Path| {
        std::fs::rename(from, to)
            .map_err(|e| AppError::io(format!("moving {} to {}", from.display(), to.display()), e))
    };
    if replaced {
        let old = tmp.with_file_name(format!(
            "{}.old",
            tmp.file_name().expect("name").to_string_lossy()
        ));
        if old.exists() {
            remove_dir(&old)?;
        }
        rename(target, &old)?;
        if let Err(e) = rename(tmp, target) {
            let _ = std::fs::rename(&old, target);
            return Err(e);
        }
        remove_dir(&old)?;
    } else {
        if target.exists() {
            // An empty folder: rename() replaces it.
            std::fs::remove_dir(target)
                .map_err(|e| AppError::io(format!("replacing {}", target.display()), e))?;
        }
        rename(tmp, target)?;
    }
    Ok(())
}

fn create_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|e| AppError::io(format!("creating {}", dir.display()), e))
}

fn remove_dir(dir: &Path) -> Result<()> {
    std::fs::remove_dir_all(dir).map_err(|e| AppError::io(format!("removing {}", dir.display()), e))
}

fn write_file(path: &Path, bytes: &[u8]) -> Result<()> {
    let write = || -> std::io::Result<()> {
        let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
        f.write_all(bytes)?;
        f.flush()
    };
    write().map_err(|e| AppError::io(format!("writing {}", path.display()), e))
}

/// Writes `dir/<key>`, where a key with `/` is a nested path (checked by `key_problem`).
fn write_key_file(dir: &Path, key: &str, bytes: &[u8]) -> Result<()> {
    let path = key
        .split('/')
        .fold(dir.to_path_buf(), |p, part| p.join(part));
    if key.contains('/') {
        create_dir(path.parent().expect("nested"))?;
    }
    write_file(&path, bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_mlflow_refuses() {
        for ok in ["lr", "val/acc", "a.b-c d:e", "学习率", "x/y/z"] {
            assert_eq!(key_problem(ok), None, "{ok}");
        }
        for bad in [
            "",
            "/abs",
            "../up",
            "..dots",
            "a//b",
            "a/",
            "a/./b",
            "a/../b",
            ".",
            "semi;colon",
            "new\nline",
            "star*",
        ] {
            assert!(key_problem(bad).is_some(), "{bad:?}");
        }
        assert!(key_problem(&"k".repeat(251)).is_some());
        for bad in ["/abs", "../up", "a//b", "a/", "semi;colon", "x/../y", ""] {
            let renamed = rename_key(bad);
            assert_eq!(key_problem(&renamed), None, "{bad:?} -> {renamed:?}");
        }
        assert_eq!(rename_key("../up"), "__/up");
        assert_eq!(rename_key("semi;colon"), "semi_colon");
    }

    #[test]
    fn yaml_strings_and_uris() {
        assert_eq!(yaml_str("r1"), "r1");
        assert_eq!(yaml_str("file:///tmp/x"), "file:///tmp/x");
        assert_eq!(yaml_str("true"), "\"true\"");
        assert_eq!(yaml_str("123"), "\"123\"");
        assert_eq!(yaml_str("a: b"), "\"a: b\"");
        assert_eq!(yaml_str("it's \"x\"\n"), "\"it's \\\"x\\\"\\n\"");
        assert_eq!(yaml_str(""), "\"\"");
        assert_eq!(
            file_uri(Path::new("/tmp/a b/ü")),
            "file:///tmp/a%20b/%C3%BC"
        );
    }

    #[test]
    fn experiment_ids_are_stable_decimal() {
        let id = experiment_id("cairn");
        assert_eq!(id, experiment_id("cairn"));
        assert_ne!(id, experiment_id("other"));
        assert_eq!(id.len(), 18);
        assert!(id.bytes().all(|b| b.is_ascii_digit()));
        assert_eq!(experiment_id("Default"), "0");
    }

    #[test]
    fn values_and_statuses() {
        assert_eq!(metric_value(0.5), "0.5");
        assert_eq!(metric_value(1.0), "1.0");
        assert_eq!(metric_value(1e-7), "1e-7");
        assert_eq!(metric_value(f64::NAN), "nan");
        assert_eq!(metric_value(f64::NEG_INFINITY), "-inf");
        assert_eq!(status_code(RunStatus::Killed), 5);
        assert_eq!(
            artifact_path("model/weights.safetensors").as_deref(),
            Some("model/weights.safetensors")
        );
        assert_eq!(artifact_path("../x"), None);
        assert_eq!(artifact_path("/etc/passwd"), None);
    }
}
