//! Importing a bundle into a workspace: the run, its model files and its data lineage.
//!
//! Everything is checked before anything is written: the zip (hostile entries refused from the
//! central directory, before any entry is inflated), every entry's hash, the signature when
//! keys are trusted, and the records (`run.json`, `metrics/history.json`,
//! `data/reference.json`) parsed. Then, in order: the data snapshot (one transaction, rolled
//! back unless it hashes to the bundled version hash), the model files (content-addressed
//! blobs: harmless if what follows fails) and the run with its metrics and artifacts (one
//! transaction through `Store::write_runs`).

use super::SNAPSHOT;
use crate::train::{CHECKPOINTS, CONFIG, PREPROCESSING, WEIGHTS};
use crate::{AppError, ErrorCode, Result, Workspace};
use cairn_bundle::{Entries, VerifyReport};
use cairn_core::{
    Column, ColumnOverride, FileFormat, ImportOptions, ParamValue, RunId, RunStatus,
    progress::Progress,
};
use cairn_store::{ImportRequest, NewRun, RunChanges, VersionClaim};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The tag an imported run carries: the bundle's file name and root hash.
pub const IMPORTED_FROM: &str = "cairn.imported_from";

/// What `import_bundle` recreated.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ImportSummary {
    pub file: String,
    pub root_hash: String,
    /// The fingerprint of the key that signed the manifest; absent when unsigned.
    pub signed_by: Option<String>,
    pub run_id: String,
    pub run_name: String,
    /// The run's data version here: `name@version` of the imported snapshot, or the bundled
    /// reference when the bundle has no data (then the data is absent from this workspace).
    pub dataset: String,
    pub dataset_hash: String,
    /// Whether the bundle carried `data/snapshot.parquet` (imported as that version).
    pub data_imported: bool,
    /// Whether the data version is new here (false: the same content was already stored).
    pub data_created: bool,
    #[ts(type = "number")]
    pub artifacts: usize,
    #[ts(type = "number")]
    pub metric_points: usize,
}

/// `run.json` as `contents.rs` writes it.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct BundledRun {
    pub id: String,
    pub name: String,
    pub model: String,
    pub target: String,
    pub seed: u64,
    #[serde(default)]
    pub params: BTreeMap<String, ParamValue>,
    #[serde(default)]
    pub tags: BTreeMap<String, String>,
    /// Final metrics; `null` is a metric that was NaN (a diverged run), written as JSON can.
    #[serde(default)]
    pub metrics: BTreeMap<String, Option<f64>>,
    pub created_at: String,
    #[serde(default)]
    pub finished_at: Option<String>,
    #[serde(default)]
    pub environment: serde_json::Value,
    #[serde(default)]
    pub note: String,
    #[serde(default)]
    pub parent_id: Option<String>,
}

/// The tag that keeps a bundled run's parent when that run is not in this workspace.
pub const PARENT_RUN: &str = "cairn.parent_run_id";

/// `data/reference.json`.
#[derive(Debug, Clone, Deserialize)]
pub(super) struct DataReference {
    pub name: String,
    pub version: u32,
    pub hash: String,
    #[serde(default)]
    pub columns: Vec<Column>,
}

impl DataReference {
    pub fn label(&self) -> String {
        format!("{}@{}", self.name, self.version)
    }

    /// The options that make a Parquet snapshot import as this version again: Parquet, and the
    /// categorical marks (the hash covers them; Parquet cannot carry them).
    pub fn import_options(&self) -> ImportOptions {
        ImportOptions {
            format: Some(FileFormat::Parquet),
            columns: self
                .columns
                .iter()
                .filter(|c| c.categorical)
                .map(|c| ColumnOverride {
                    column: c.name.clone(),
                    categorical: true,
                    ..ColumnOverride::default()
                })
                .collect(),
            ..ImportOptions::default()
        }
    }
}

/// A bundle read into memory, verified and parsed ([`read_bundle`]): what import needs, known
/// good before a workspace is even opened.
pub struct VerifiedBundle {
    pub(super) shown: String,
    pub(super) report: VerifyReport,
    pub(super) entries: Entries,
    pub(super) run: BundledRun,
    pub(super) run_id: RunId,
    pub(super) reference: DataReference,
    /// `metric → [(step, value)]`.
    pub(super) history: BTreeMap<String, Vec<(u64, Option<f64>)>>,
}

impl VerifiedBundle {
    /// The bundled run's id.
    pub fn run_id(&self) -> &str {
        self.run_id.as_str()
    }

    /// The bundled run's name.
    pub fn run_name(&self) -> &str {
        &self.run.name
    }
}

fn invalid_entry(shown: &str, entry: &str, why: impl std::fmt::Display) -> AppError {
    AppError::new(
        ErrorCode::BundleInvalid,
        format!("{shown}: bundle entry `{entry}` is not valid: {why}; nothing was imported"),
    )
}

fn parse<T: serde::de::DeserializeOwned>(shown: &str, entries: &Entries, entry: &str) -> Result<T> {
    let bytes = entries
        .get(entry)
        .ok_or_else(|| invalid_entry(shown, entry, "it is missing"))?;
    serde_json::from_slice(bytes).map_err(|e| invalid_entry(shown, entry, e))
}

/// Reads, verifies (every hash; with `trust` public key files, a signature by one of them) and
/// parses a bundle. Any problem is an error naming the entries; nothing is written anywhere.
pub fn read_bundle(path: &Path, trust: &[PathBuf]) -> Result<VerifiedBundle> {
    let super::BundleContents {
        path: shown,
        report,
        entries,
    } = super::inspect_bundle(path, trust)?;
    if !report.ok() {
        let problems: Vec<String> = report
            .problems
            .iter()
            .map(|p| format!("  {}: {}", p.entry, p.issue))
            .collect();
        return Err(AppError::new(
            ErrorCode::BundleInvalid,
            format!(
                "{shown} does not verify; nothing was imported:\n{}",
                problems.join("\n")
            ),
        ));
    }
    let run: BundledRun = parse(&shown, &entries, "run.json")?;
    if run.id.len() != 32
        || !run
            .id
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(invalid_entry(
            &shown,
            "run.json",
            format!("`{}` is not a run id (32 lower-case hex digits)", run.id),
        ));
    }
    if run.id != report.manifest.run_id {
        return Err(invalid_entry(
            &shown,
            "run.json",
            format!(
                "its id {} differs from the manifest's run_id {}",
                run.id, report.manifest.run_id
            ),
        ));
    }
    for (field, time) in [
        ("created_at", Some(run.created_at.as_str())),
        ("finished_at", run.finished_at.as_deref()),
    ] {
        if let Some(time) = time.filter(|t| !is_timestamp(t)) {
            return Err(invalid_entry(
                &shown,
                "run.json",
                format!("its {field} `{time}` is not a timestamp like 2026-01-31T12:00:00.5Z"),
            ));
        }
    }
    let reference: DataReference = parse(&shown, &entries, "data/reference.json")?;
    let bad_reference = |why: String| invalid_entry(&shown, "data/reference.json", why);
    if reference.hash.len() != 64
        || !reference
            .hash
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    {
        return Err(bad_reference(format!(
            "its hash `{}` is not a SHA-256 (64 lower-case hex digits)",
            reference.hash
        )));
    }
    cairn_core::dataset::validate_dataset_name(&reference.name)
        .map_err(|why| bad_reference(format!("its name `{}`: {why}", reference.name)))?;
    if reference.version == 0 {
        return Err(bad_reference(
            "its version is 0; versions count from 1".into(),
        ));
    }
    let history: BTreeMap<String, Vec<(u64, Option<f64>)>> =
        parse(&shown, &entries, "metrics/history.json")?;
    for needed in [WEIGHTS, PREPROCESSING, CONFIG] {
        if !entries.contains_key(needed) {
            return Err(invalid_entry(&shown, needed, "it is missing"));
        }
    }
    Ok(VerifiedBundle {
        shown,
        report,
        entries,
        run_id: RunId::from_stored(run.id.clone()),
        run,
        reference,
        history,
    })
}

/// `2026-01-31T12:00:00.5Z` and the like: digits and `-:.TZ+`, starting with a date. Enough to
/// keep a bundle's times from carrying anything else into records and files written later.
fn is_timestamp(t: &str) -> bool {
    let b = t.as_bytes();
    (10..=40).contains(&b.len())
        && b[..4].iter().all(u8::is_ascii_digit)
        && b[4] == b'-'
        && b.iter()
            .all(|c| c.is_ascii_digit() || matches!(c, b'-' | b':' | b'.' | b'T' | b'Z' | b'+'))
}

/// The entries that are run artifacts (the model files and the evaluation records), as
/// opposed to the records written at export.
fn is_artifact(path: &str) -> bool {
    (path.starts_with("model/") || path.starts_with("eval/")) && !path.starts_with(CHECKPOINTS)
}

impl Workspace {
    /// Imports a bundle file: verifies it (with `trust` not empty, requires a signature by one
    /// of those public key files), then recreates its run — same id, name, model, params,
    /// tags, metrics and histories, environment and times, status finished, tagged
    /// [`IMPORTED_FROM`] — with its model files as artifacts and its data version (from
    /// `data/snapshot.parquet` when present, else only the reference). A bundle whose run is
    /// already here is refused, naming that run.
    pub fn import_bundle(&mut self, path: &Path, trust: &[PathBuf]) -> Result<ImportSummary> {
        let b = read_bundle(path, trust)?;
        self.import_verified_bundle(b)
    }

    /// [`Workspace::import_bundle`] for a bundle already read and verified by [`read_bundle`]
    /// (so a hostile file is refused before the workspace is opened, or created).
    pub fn import_verified_bundle(&mut self, b: VerifiedBundle) -> Result<ImportSummary> {
        if let Ok(existing) = self.store.run(&b.run_id) {
            return Err(AppError::new(
                ErrorCode::InvalidInput,
                format!(
                    "{}: run {} ({}) is already in this workspace (source: {}); nothing was imported",
                    b.shown,
                    existing.name,
                    existing.id,
                    existing
                        .tags
                        .get(IMPORTED_FROM)
                        .map(|t| format!("imported from {t}"))
                        .unwrap_or_else(|| "recorded here".into())
                ),
            ));
        }
        // The data version: the snapshot back as the same version, or the reference alone.
        let (dataset, data_created) = match b.entries.get(SNAPSHOT) {
            Some(bytes) => {
                let outcome = self.import_snapshot(&b.shown, &b.reference, bytes)?;
                (outcome.version.label(), outcome.created)
            }
            None => {
                let here = self
                    .resolve_dataset(&format!("{}@{}", b.reference.name, b.reference.hash))
                    .ok()
                    .filter(|v| v.hash == b.reference.hash);
                (
                    here.map(|v| v.label())
                        .unwrap_or_else(|| b.reference.label()),
                    false,
                )
            }
        };
        // Model files into the content-addressed store (deduplicated by hash).
        let mut artifacts = Vec::new();
        for (path, bytes) in b.entries.iter().filter(|(p, _)| is_artifact(p)) {
            let sha = self.artifacts.put(bytes)?;
            artifacts.push((path.clone(), sha, bytes.len() as u64));
        }
        // The run, its history and artifacts: one transaction.
        let file_name = Path::new(&b.shown)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| b.shown.clone());
        let mut tags = b.run.tags.clone();
        tags.insert(
            IMPORTED_FROM.into(),
            format!("{file_name} (root hash {})", b.report.manifest.root_hash),
        );
        let mut metrics: Vec<(String, u64, f64)> = Vec::new();
        for (key, points) in &b.history {
            metrics.extend(
                points
                    .iter()
                    .filter_map(|(step, v)| v.map(|v| (key.clone(), *step, v))),
            );
        }
        // A final metric without a history (none today) still comes back, at step 0.
        for (key, value) in &b.run.metrics {
            if let (false, Some(value)) = (b.history.contains_key(key), value) {
                metrics.push((key.clone(), 0, *value));
            }
        }
        // The parent run (a sweep, say) is linked when it is here too; otherwise its id is kept
        // as a tag, so lineage still names it.
        let parent_id = match b.run.parent_id.as_deref() {
            Some(id) => {
                let id = RunId::from_stored(id.to_string());
                if self.store.run(&id).is_ok() {
                    Some(id)
                } else {
                    tags.insert(PARENT_RUN.into(), id.as_str().to_string());
                    None
                }
            }
            None => None,
        };
        let (pid, pid_started) = crate::process::current();
        let mut changes = RunChanges::new(b.run_id.clone());
        changes.create = Some(NewRun {
            id: b.run_id.clone(),
            name: b.run.name.clone(),
            model: b.run.model.clone(),
            dataset: dataset.clone(),
            dataset_hash: b.reference.hash.clone(),
            target: b.run.target.clone(),
            seed: b.run.seed,
            params: b.run.params.clone(),
            tags,
            environment: b.run.environment.clone(),
            pid,
            pid_started,
            source: "bundle".into(),
            note: b.run.note.clone(),
            parent_id,
            status: RunStatus::Running,
        });
        let metric_points = metrics.len();
        // A bundle's records keep no point times: the points take the run's start.
        changes.metrics = metrics
            .into_iter()
            .map(|(k, s, v)| (k, s, v, None))
            .collect();
        changes.artifacts = artifacts.clone();
        changes.end = Some((RunStatus::Finished, None));
        changes.times = Some((b.run.created_at.clone(), b.run.finished_at.clone()));
        changes.audit.push(cairn_store::Record::new(
            "bundle.import",
            format!("run:{}", b.run_id),
            serde_json::json!({
                "file": b.shown,
                "root_hash": b.report.manifest.root_hash,
                "dataset": dataset,
                "data_imported": b.entries.contains_key(SNAPSHOT),
            }),
        ));
        self.store.write_runs(&[changes])?;
        self.reindex()?;
        Ok(ImportSummary {
            file: b.shown,
            root_hash: b.report.manifest.root_hash,
            signed_by: match b.report.signature {
                cairn_bundle::SignatureStatus::Valid { fingerprint, .. } => Some(fingerprint),
                _ => None,
            },
            run_id: b.run_id.to_string(),
            run_name: b.run.name,
            dataset,
            dataset_hash: b.reference.hash,
            data_imported: b.entries.contains_key(SNAPSHOT),
            data_created,
            artifacts: artifacts.len(),
            metric_points,
        })
    }

    /// Imports a bundle's data snapshot as data set `reference.name`, refusing (rolling back)
    /// unless it hashes to `reference.hash`, numbered `reference.version` where that number
    /// is above every number the name has used here. The Parquet bytes go through a scratch file inside
    /// the workspace, removed afterwards.
    pub(super) fn import_snapshot(
        &self,
        shown: &str,
        reference: &DataReference,
        bytes: &[u8],
    ) -> Result<cairn_store::ImportOutcome> {
        // The version's source reads `<bundle file name>.snapshot.parquet`.
        let bundle_name = Path::new(shown)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "bundle".into());
        let dir = self
            .root()
            .join(format!(".bundle-import-{}", std::process::id()));
        let scratch = dir.join(format!("{bundle_name}.snapshot.parquet"));
        std::fs::create_dir_all(&dir)
            .and_then(|()| std::fs::write(&scratch, bytes))
            .map_err(|e| AppError::io(format!("writing {}", scratch.display()), e))?;
        let outcome = self.store.import_expecting(
            &ImportRequest {
                path: &scratch,
                name: &reference.name,
                options: reference.import_options(),
            },
            Some(&VersionClaim {
                hash: reference.hash.clone(),
                version: reference.version,
            }),
            &mut Progress::silent(),
        );
        let _ = std::fs::remove_dir_all(&dir);
        outcome.map_err(|e| {
            AppError::new(
                ErrorCode::BundleInvalid,
                format!(
                    "{shown}: bundle entry `{SNAPSHOT}` does not come back as {} ({}): {}; nothing was imported",
                    reference.label(),
                    reference.hash,
                    AppError::from(e).message
                ),
            )
        })
    }
}
