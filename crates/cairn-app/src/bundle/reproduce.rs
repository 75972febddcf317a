//! Reproducing a bundle: retraining its run from `data/snapshot.parquet` and `run.json` (model,
//! target, seed, typed params) in a scratch workspace on the CPU, then comparing the final
//! metrics and the weights with the bundled ones.

use super::SNAPSHOT;
use super::import::read_bundle;
use crate::train::{TrainRequest, WEIGHTS};
use crate::{AppError, ErrorCode, Result, WorkspaceDir};
use cairn_core::RunStatus;
use cairn_core::progress::ProgressObserver;
use cairn_train::DeviceChoice;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// Two values "match" when they differ by at most this, relative to the larger magnitude
/// (absolute below 1). Same-machine CPU retraining is bit-identical; the tolerance absorbs
/// last-bit differences of other CPUs' float kernels.
pub const TOLERANCE: f64 = 1e-6;

fn close(a: f64, b: f64) -> bool {
    a == b || (a - b).abs() <= TOLERANCE * a.abs().max(b.abs()).max(1.0)
}

#[derive(Debug, Clone, Serialize)]
pub struct MetricCheck {
    pub name: String,
    pub bundled: f64,
    /// Absent when the retrained run did not record this metric.
    pub reproduced: Option<f64>,
    pub identical: bool,
    #[serde(rename = "match")]
    pub matches: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct TensorCheck {
    pub name: String,
    /// Same dtype, shape and bytes.
    pub identical: bool,
    /// The largest absolute difference, when both sides are float tensors of one shape.
    pub max_abs_diff: Option<f64>,
    pub issue: Option<String>,
    #[serde(rename = "match")]
    pub matches: bool,
}

/// What `cairn bundle reproduce` found.
#[derive(Debug, Clone, Serialize)]
pub struct ReproduceReport {
    pub file: String,
    pub run_id: String,
    pub run_name: String,
    pub model: String,
    /// The bundled data version (`name@version`) and its hash.
    pub dataset: String,
    pub dataset_hash: String,
    /// Whether the snapshot hashes to the bundled version hash.
    pub data_hash_matches: bool,
    /// Each bundled final metric (but `system/*`, which measure the machine) against the
    /// retrained run's.
    pub metrics: Vec<MetricCheck>,
    /// Each tensor of `model/weights.safetensors`.
    pub weights: Vec<TensorCheck>,
    pub tolerance: f64,
    /// Everything above matches.
    #[serde(rename = "match")]
    pub matches: bool,
}

/// A scratch folder removed when dropped.
struct ScratchDir(PathBuf);

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Reports the start of a `reproduce` stage; a cancel request becomes an error.
/// Verifies a bundle, retrains its run from the bundled data snapshot and config on the CPU
/// in a scratch workspace (a temporary folder, removed afterwards) and compares. Progress
/// (`reproduce` stages, then the training's own steps) goes to `progress`, which may cancel.
pub fn reproduce_bundle(
    path: &Path,
    progress: &mut dyn ProgressObserver,
) -> Result<ReproduceReport> {
    let b = read_bundle(path, &[])?;
    let Some(snapshot) = b.entries.get(SNAPSHOT) else {
        return Err(AppError::invalid(format!(
            "{} has no `{SNAPSHOT}`, so there is no data to retrain on; export the run again with \
             `cairn bundle export RUN --out FILE --include-data`",
            b.shown
        )));
    };
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let scratch = ScratchDir(
        std::env::temp_dir().join(format!("cairn-reproduce-{}-{stamp}", std::process::id())),
    );
    let mut stage = super::Stages::new("reproduce", 3, "reproduce cancelled");
    stage.next(
        progress,
        "importing the data snapshot into a scratch workspace",
    )?;
    let dir = WorkspaceDir::new(&scratch.0);
    let ws = dir.open("importing a bundle's data snapshot")?;
    let outcome = ws.store.import(
        &cairn_store::ImportRequest {
            path: &{
                let file = scratch.0.join(".snapshot.parquet");
                std::fs::write(&file, snapshot)
                    .map_err(|e| AppError::io(format!("writing {}", file.display()), e))?;
                file
            },
            name: &b.reference.name,
            options: b.reference.import_options(),
        },
        &mut cairn_core::progress::Progress::silent(),
    )?;
    drop(ws);
    let data_hash_matches = outcome.version.hash == b.reference.hash;
    stage.next(progress, &format!("retraining {} on the CPU", b.run.model))?;
    let req = TrainRequest {
        dataset: outcome.version.label(),
        target: b.run.target.clone(),
        model: b.run.model.clone(),
        seed: b.run.seed,
        name: Some(b.run.name.clone()),
        tags: Default::default(),
        params: b.run.params.clone(),
        device: DeviceChoice::Cpu,
        resume: None,
        system_metrics_every: None,
    };
    let run = dir.train(&req, progress)?;
    if run.status != RunStatus::Finished {
        return Err(AppError::new(
            ErrorCode::Cancelled,
            format!(
                "the retraining stopped ({}): {}",
                run.status,
                run.error.unwrap_or_default()
            ),
        ));
    }
    stage.next(progress, "comparing metrics and weights")?;
    let metrics: Vec<MetricCheck> = b
        .run
        .metrics
        .iter()
        .filter(|(k, _)| !k.starts_with("system/"))
        .map(|(name, &bundled)| {
            // A NaN metric (a diverged run) is bundled as null and matches only NaN.
            let bundled = bundled.unwrap_or(f64::NAN);
            let reproduced = run.metrics.get(name).copied();
            let identical = reproduced.is_some_and(|r| {
                r.to_bits() == bundled.to_bits() || (r.is_nan() && bundled.is_nan())
            });
            MetricCheck {
                name: name.clone(),
                bundled,
                reproduced,
                identical,
                matches: identical || reproduced.is_some_and(|r| close(bundled, r)),
            }
        })
        .collect();
    let ws = dir.open("reading the retrained run")?;
    let detail = ws.run(run.id.as_str())?;
    let retrained = detail
        .artifacts
        .iter()
        .find(|a| a.path == WEIGHTS)
        .ok_or_else(|| AppError::new(ErrorCode::Internal, "the retrained run has no weights"))?;
    let retrained = ws.artifacts.get(&retrained.sha256)?;
    let weights: Vec<TensorCheck> =
        cairn_train::compare_safetensors(&b.entries[WEIGHTS], &retrained)?
            .into_iter()
            .map(|d| TensorCheck {
                matches: d.identical || d.max_abs_diff.is_some_and(|m| m <= TOLERANCE),
                name: d.name,
                identical: d.identical,
                max_abs_diff: d.max_abs_diff,
                issue: d.issue,
            })
            .collect();
    drop(ws);
    let matches = data_hash_matches
        && metrics.iter().all(|m| m.matches)
        && !weights.is_empty()
        && weights.iter().all(|w| w.matches);
    stage.done(progress);
    Ok(ReproduceReport {
        file: b.shown,
        run_id: b.run_id.to_string(),
        run_name: b.run.name,
        model: b.run.model,
        dataset: b.reference.label(),
        dataset_hash: b.reference.hash,
        data_hash_matches,
        metrics,
        weights,
        tolerance: TOLERANCE,
        matches,
    })
}

impl WorkspaceDir {
    /// Reproduces a registered version (`NAME@N`, `NAME@alias`): exports its run with the data
    /// snapshot, retrains it in a scratch workspace (holding this workspace only to read and to
    /// record), and records the outcome as the version's `reproduce` evidence — what a policy's
    /// `reproduce = true` gate reads — with its audit entry.
    pub fn reproduce_version(
        &self,
        key: &str,
        progress: &mut dyn ProgressObserver,
    ) -> Result<ReproduceReport> {
        let (name, version, run_id) = self.turn(&format!("reading {key}"), |ws| {
            let row = ws.resolve_model(key)?;
            let run = row.run_id.clone().ok_or_else(|| {
                AppError::invalid(format!(
                    "{key} was registered from a bundle whose run is not here; nothing to retrain"
                ))
            })?;
            Ok((row.name, row.version, run))
        })?;
        let scratch = std::env::temp_dir().join(format!(
            "cairn-reproduce-{}-{}.zip",
            std::process::id(),
            cairn_core::RunId::new_v7().short()
        ));
        let opts = crate::ExportOptions {
            sign: None,
            include_data: true,
        };
        let outcome = self
            .export_bundle(&run_id, &scratch, &opts, progress)
            .and_then(|_| reproduce_bundle(&scratch, progress));
        let _ = std::fs::remove_file(&scratch);
        let report = outcome?;
        let payload = serde_json::json!({
            "matches": report.matches,
            "run": report.run_id,
            "data_hash_matches": report.data_hash_matches,
            "metrics_differing": report.metrics.iter().filter(|m| !m.matches).map(|m| &m.name).collect::<Vec<_>>(),
        });
        self.turn(&format!("recording the reproduction of {key}"), |ws| {
            let at = cairn_core::now_rfc3339();
            let text = payload.to_string();
            ws.store.atomically(|tx| {
                tx.insert_evidence(&name, version, "reproduce", &text, &at)?;
                tx.audit(&[cairn_store::Record::new(
                    "registry.reproduce",
                    format!("model:{name}@{version}"),
                    payload.clone(),
                )])
            })?;
            Ok(())
        })?;
        Ok(report)
    }
}
