//! Exporting a run as a deterministic bundle, and verifying one.

use crate::train::{CHECKPOINTS, CONFIG, PREPROCESSING, WEIGHTS};
use crate::{AppError, ErrorCode, Result, Workspace, WorkspaceDir};
use cairn_bundle::VerifyReport;
use cairn_core::RunStatus;
use cairn_core::progress::{Progress, ProgressObserver, Step};
use serde::Serialize;
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

mod contents;
mod import;
mod inspect;
mod mlflow_dir;
mod onnx;
mod reproduce;

pub use import::{ImportSummary, VerifiedBundle, read_bundle};
pub use inspect::{BundleContents, inspect_bundle};
pub use reproduce::{MetricCheck, ReproduceReport, TensorCheck, reproduce_bundle};

/// The bundle entry holding the training data version (with `--include-data`).
pub(crate) const SNAPSHOT: &str = "data/snapshot.parquet";

#[derive(Debug, Clone, Serialize)]
pub struct BundleSummary {
    pub path: String,
    pub run_id: String,
    pub entries: usize,
    pub bytes: u64,
    pub root_hash: String,
    /// The fingerprint of the key that signed the manifest; absent when unsigned.
    pub signed_by: Option<String>,
}

/// What goes into a bundle beyond the model, and whether to sign it.
#[derive(Debug, Clone, Default)]
pub struct ExportOptions {
    /// Sign the manifest with this secret key file (from `cairn keys new`).
    pub sign: Option<PathBuf>,
    /// Add a Parquet snapshot of the training data version (`data/snapshot.parquet`), which
    /// `cairn bundle reproduce` needs.
    pub include_data: bool,
}

impl Workspace {
    /// Writes the bundle of a finished run to `out` (atomically: a temp file, then a rename).
    pub fn export_bundle(&self, run_key: &str, out: &Path) -> Result<BundleSummary> {
        self.export_bundle_with(
            run_key,
            out,
            &ExportOptions::default(),
            &mut Progress::silent(),
        )
    }

    /// Like [`Workspace::export_bundle`], signing the manifest with the secret key file `sign`.
    pub fn export_bundle_signed(
        &self,
        run_key: &str,
        out: &Path,
        sign: Option<&Path>,
    ) -> Result<BundleSummary> {
        let opts = ExportOptions {
            sign: sign.map(Path::to_path_buf),
            ..ExportOptions::default()
        };
        self.export_bundle_with(run_key, out, &opts, &mut Progress::silent())
    }

    /// Writes the bundle of a finished run to `out` with `opts`, reporting each stage
    /// (`bundle`) to `progress`; a cancel request stops before anything is written. The whole
    /// export runs in this open workspace's turn; [`WorkspaceDir::export_bundle`] holds the
    /// workspace only while it reads.
    pub fn export_bundle_with(
        &self,
        run_key: &str,
        out: &Path,
        opts: &ExportOptions,
        progress: &mut dyn ProgressObserver,
    ) -> Result<BundleSummary> {
        let summary = export(out, opts, progress, |progress, stage| {
            self.any_bundle_entries(run_key, out, opts, progress, stage)
        })?;
        self.store.record(&[export_record(run_key, &summary)])?;
        Ok(summary)
    }

    /// The entries of a run's bundle without data (for the registry), built in memory.
    pub(crate) fn run_bundle_entries(
        &self,
        run_key: &str,
        scratch: &Path,
    ) -> Result<(String, BTreeMap<String, Vec<u8>>)> {
        let opts = ExportOptions::default();
        let mut stage = export_stages(&opts);
        self.bundle_entries(run_key, scratch, &opts, &mut Progress::silent(), &mut stage)
    }

    /// The entries of a registered version's bundle: the stored model bundle's entries (its
    /// manifest and signature apart) and the registry's evidence under `registry/`.
    fn model_bundle_entries(
        &self,
        key: &str,
        progress: &mut dyn ProgressObserver,
        stage: &mut Stages,
    ) -> Result<(String, BTreeMap<String, Vec<u8>>)> {
        let row = self.resolve_model(key)?;
        stage.next(
            progress,
            "collecting the registered bundle and its evidence",
        )?;
        let bytes = self.artifacts.get(&row.bundle_sha256)?;
        let (report, mut entries) =
            cairn_bundle::verify_and_read("the registered bundle", &bytes, &[])?;
        if !report.ok() {
            return Err(AppError::new(
                ErrorCode::BundleInvalid,
                format!(
                    "the stored bundle of {}@{} does not verify",
                    row.name, row.version
                ),
            ));
        }
        entries.remove(cairn_bundle::MANIFEST);
        entries.remove(cairn_bundle::SIGNATURE);
        entries.extend(self.registry_entries(&row)?);
        Ok((report.manifest.run_id, entries))
    }

    /// A run's bundle, or a registered version's (`NAME@N`, `NAME@alias`) with its evidence.
    fn any_bundle_entries(
        &self,
        key: &str,
        out: &Path,
        opts: &ExportOptions,
        progress: &mut dyn ProgressObserver,
        stage: &mut Stages,
    ) -> Result<(String, BTreeMap<String, Vec<u8>>)> {
        let is_model = key
            .split_once('@')
            .is_some_and(|(name, _)| self.store.registered_model(name).ok().flatten().is_some());
        if is_model {
            if opts.include_data {
                return Err(AppError::invalid(
                    "--include-data exports a run's bundle; export the run (`cairn bundle export RUN --include-data`) for a reproducible bundle",
                ));
            }
            self.model_bundle_entries(key, progress, stage)
        } else {
            self.bundle_entries(key, out, opts, progress, stage)
        }
    }

    /// Reads everything a run's bundle holds: its model files (with the ONNX model made from
    /// them) and records, and with `--include-data` the data snapshot.
    fn bundle_entries(
        &self,
        run_key: &str,
        out: &Path,
        opts: &ExportOptions,
        progress: &mut dyn ProgressObserver,
        stage: &mut Stages,
    ) -> Result<(String, BTreeMap<String, Vec<u8>>)> {
        let detail = self.run(run_key)?;
        let run = &detail.run;
        if run.status != RunStatus::Finished {
            return Err(AppError::invalid(format!(
                "run {} ({}) is {}; only finished runs can be bundled",
                run.name,
                run.id.short(),
                run.status
            )));
        }
        stage.next(progress, "collecting the model and its records")?;
        let mut entries: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        // Checkpoints are for resuming training here, not for production: they stay out.
        for a in detail
            .artifacts
            .iter()
            .filter(|a| !a.path.starts_with(CHECKPOINTS))
        {
            entries.insert(a.path.clone(), self.artifacts.get(&a.sha256)?);
        }
        if !entries.contains_key(WEIGHTS) {
            return Err(AppError::invalid(format!(
                "run {} ({}) has no trained model (no `{WEIGHTS}`): it was recorded, not trained by \
                 Cairn (`cairn log`), so there is nothing to bundle; bundle a run made by \
                 `cairn train`",
                run.name,
                run.id.short()
            )));
        }
        for needed in [PREPROCESSING, CONFIG] {
            if !entries.contains_key(needed) {
                return Err(AppError::new(
                    ErrorCode::Internal,
                    format!("run {} has no `{needed}` artifact", run.id),
                ));
            }
        }
        onnx::add_onnx(&mut entries)?;
        // The data reference, profile, split and input example come from the data version: a
        // run imported from a bundle without its snapshot has none here.
        let version = self.resolve_dataset(&run.dataset).map_err(|e| {
            AppError::invalid(format!(
                "run {} trained on `{}` (hash {}), which is not in this workspace ({}); a bundle \
                 describes its data, so import that version first (a bundle exported with \
                 --include-data carries it), or export from the workspace that has it",
                run.name,
                run.dataset,
                run.dataset_hash.get(..12).unwrap_or(&run.dataset_hash),
                e.message
            ))
        })?;
        contents::add_records(self, &detail, &version, &mut entries)?;
        if opts.include_data {
            stage.next(progress, "writing the data snapshot")?;
            entries.insert(SNAPSHOT.into(), self.snapshot_bytes(&version, out)?);
        }
        Ok((run.id.as_str().to_string(), entries))
    }
}

impl WorkspaceDir {
    /// Writes the bundle of a finished run to `out` with `opts` (see
    /// [`Workspace::export_bundle_with`]), holding the workspace for one turn while it reads
    /// the run, its files and data; the zip is built, verified and written after the turn.
    pub fn export_bundle(
        &self,
        run_key: &str,
        out: &Path,
        opts: &ExportOptions,
        progress: &mut dyn ProgressObserver,
    ) -> Result<BundleSummary> {
        let summary = export(out, opts, progress, |progress, stage| {
            self.turn(&format!("reading run {run_key} for a bundle"), |ws| {
                ws.any_bundle_entries(run_key, out, opts, progress, stage)
            })
        })?;
        self.turn("recording a bundle export", |ws| {
            Ok(ws.store.record(&[export_record(run_key, &summary)])?)
        })?;
        Ok(summary)
    }
}

/// The audit entry of a bundle written.
fn export_record(key: &str, s: &BundleSummary) -> cairn_store::Record {
    let subject = if key.contains('@') {
        format!("model:{key}")
    } else {
        format!("run:{}", s.run_id)
    };
    cairn_store::Record::new(
        "bundle.export",
        subject,
        serde_json::json!({"path": s.path, "root_hash": s.root_hash, "signed_by": s.signed_by, "bytes": s.bytes}),
    )
    .signed_by(s.signed_by.clone())
}

/// An export: the signing key read first (a bad key file fails before any work), the run's
/// entries collected by `collect`, then the zip built, verified and written.
fn export(
    out: &Path,
    opts: &ExportOptions,
    progress: &mut dyn ProgressObserver,
    collect: impl FnOnce(
        &mut dyn ProgressObserver,
        &mut Stages,
    ) -> Result<(String, BTreeMap<String, Vec<u8>>)>,
) -> Result<BundleSummary> {
    let key = read_signing_key(opts)?;
    let mut stage = export_stages(opts);
    let collected = collect(progress, &mut stage)?;
    write_bundle_file(collected, key, out, progress, &mut stage)
}

/// Reads the signing key first: a bad key file fails before any work is done.
fn read_signing_key(opts: &ExportOptions) -> Result<Option<cairn_bundle::SecretKey>> {
    opts.sign
        .as_deref()
        .map(crate::keys::read_secret_key)
        .transpose()
}

fn export_stages(opts: &ExportOptions) -> Stages {
    Stages::new(
        "bundle",
        // The stages below, then "done".
        if opts.include_data { 5 } else { 4 },
        "bundle export cancelled; nothing was written",
    )
}

/// Zips, verifies and writes (atomically: a temp file, then a rename) a bundle's entries.
fn write_bundle_file(
    (run_id, entries): (String, BTreeMap<String, Vec<u8>>),
    key: Option<cairn_bundle::SecretKey>,
    out: &Path,
    progress: &mut dyn ProgressObserver,
    stage: &mut Stages,
) -> Result<BundleSummary> {
    stage.next(progress, "writing the zip")?;
    let bytes = cairn_bundle::write_bundle_signed(
        &run_id,
        &format!("cairn {}", crate::CAIRN_VERSION),
        &entries,
        key.as_ref(),
    )?;
    // Check the bytes with the reader's own rules before anything reaches the disk: a bundle
    // that its reader would refuse (an entry over the size limits, say) is an error here, not
    // a file left behind.
    stage.next(progress, "verifying the bundle")?;
    let shown = out.display().to_string();
    let report = cairn_bundle::verify(&shown, &bytes)?;
    if !report.ok() {
        let problems: Vec<String> = report
            .problems
            .iter()
            .map(|p| format!("{}: {}", p.entry, p.issue))
            .collect();
        return Err(AppError::new(
            ErrorCode::Internal,
            format!(
                "the bundle for {shown} does not verify ({}); nothing was written",
                problems.join("; ")
            ),
        ));
    }
    let tmp = out.with_extension("zip.partial");
    if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)
            .map_err(|e| AppError::io(format!("creating {}", dir.display()), e))?;
    }
    std::fs::write(&tmp, &bytes)
        .map_err(|e| AppError::io(format!("writing {}", tmp.display()), e))?;
    std::fs::rename(&tmp, out)
        .map_err(|e| AppError::io(format!("writing {}", out.display()), e))?;
    stage.done(progress);
    Ok(BundleSummary {
        path: out.display().to_string(),
        run_id,
        entries: report.manifest.entries.len() + 1 + usize::from(key.is_some()),
        bytes: bytes.len() as u64,
        root_hash: report.manifest.root_hash,
        signed_by: key.map(|k| k.public().fingerprint()),
    })
}

impl Workspace {
    /// The deterministic Parquet snapshot of `version`, written through a scratch file beside
    /// `out` (removed again).
    fn snapshot_bytes(&self, version: &cairn_core::DatasetVersion, out: &Path) -> Result<Vec<u8>> {
        let name = out
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "bundle".into());
        let scratch =
            out.with_file_name(format!(".{name}.{}.snapshot.parquet", std::process::id()));
        if let Some(dir) = scratch.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| AppError::io(format!("creating {}", dir.display()), e))?;
        }
        let written = self.store.write_snapshot(version, &scratch);
        let bytes = written.and_then(|()| {
            std::fs::read(&scratch).map_err(|e| {
                cairn_store::StoreError::Invalid(format!("reading back {}: {e}", scratch.display()))
            })
        });
        let _ = std::fs::remove_file(&scratch);
        Ok(bytes?)
    }
}

/// Numbered stages of long bundle work (export, reproduce) for a progress observer: each
/// stage is reported as it starts, and a cancel request then becomes a `cancelled` error. The
/// observer is passed per call, so it can serve other work (training) between stages.
pub(super) struct Stages {
    /// The `Step::stage` reported (`bundle`, `reproduce`).
    name: &'static str,
    /// The error message when cancelled.
    cancelled: &'static str,
    done: u64,
    total: u64,
}

impl Stages {
    /// Stages counted `0, 1, …`, then "done" at `total`.
    pub(super) fn new(name: &'static str, total: u64, cancelled: &'static str) -> Self {
        Stages {
            name,
            cancelled,
            done: 0,
            total,
        }
    }

    fn report(&self, progress: &mut dyn ProgressObserver, message: &str) -> ControlFlow<()> {
        progress.on_step(&Step {
            stage: self.name.into(),
            done: self.done,
            total: Some(self.total),
            message: message.into(),
            metrics: BTreeMap::new(),
        })
    }

    /// Reports the start of the next stage; a cancel request becomes an error.
    pub(super) fn next(
        &mut self,
        progress: &mut dyn ProgressObserver,
        message: &str,
    ) -> Result<()> {
        let flow = self.report(progress, message);
        self.done += 1;
        match flow {
            ControlFlow::Continue(()) => Ok(()),
            ControlFlow::Break(()) => Err(AppError::new(
                ErrorCode::Cancelled,
                self.cancelled.to_string(),
            )),
        }
    }

    /// Reports the end (past every stage there is nothing left to cancel).
    pub(super) fn done(&mut self, progress: &mut dyn ProgressObserver) {
        self.done = self.total;
        let _ = self.report(progress, "done");
    }
}

/// Verifies a bundle file; needs no workspace. A signature, if present, must be valid but
/// need not be trusted.
pub fn verify_bundle(path: &Path) -> Result<VerifyReport> {
    verify_bundle_trusted(path, &[])
}

/// Verifies a bundle file; with `trust` (public key files) not empty, also requires a valid
/// signature by one of those keys.
pub fn verify_bundle_trusted(path: &Path, trust: &[PathBuf]) -> Result<VerifyReport> {
    Ok(inspect_bundle(path, trust)?.report)
}
