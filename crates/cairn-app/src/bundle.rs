//! Exporting a run as a deterministic bundle, and verifying one.

use crate::train::{CHECKPOINTS, CONFIG, PREPROCESSING, WEIGHTS};
use crate::{AppError, ErrorCode, Result, Workspace};
use cairn_bundle::VerifyReport;
use cairn_core::RunStatus;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

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

impl Workspace {
    /// Writes the bundle of a finished run to `out` (atomically: a temp file, then a rename).
    pub fn export_bundle(&self, run_key: &str, out: &Path) -> Result<BundleSummary> {
        self.export_bundle_signed(run_key, out, None)
    }

    /// Like [`Workspace::export_bundle`], signing the manifest with the secret key file `sign`.
    pub fn export_bundle_signed(
        &self,
        run_key: &str,
        out: &Path,
        sign: Option<&Path>,
    ) -> Result<BundleSummary> {
        // Read the key first: a bad key file fails before any work is done.
        let key = sign.map(crate::keys::read_secret_key).transpose()?;
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
        let mut entries: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        // Checkpoints are for resuming training here, not for production: they stay out.
        for a in detail
            .artifacts
            .iter()
            .filter(|a| !a.path.starts_with(CHECKPOINTS))
        {
            entries.insert(a.path.clone(), self.artifacts.get(&a.sha256)?);
        }
        for needed in [WEIGHTS, PREPROCESSING, CONFIG] {
            if !entries.contains_key(needed) {
                return Err(AppError::new(
                    ErrorCode::Internal,
                    format!("run {} has no `{needed}` artifact", run.id),
                ));
            }
        }
        let pretty = |v: serde_json::Value| serde_json::to_vec_pretty(&v).expect("json serialises");
        entries.insert(
            "run.json".into(),
            pretty(serde_json::json!({
                "format_version": 1,
                "id": run.id,
                "name": run.name,
                "status": run.status,
                "model": run.model,
                "target": run.target,
                "seed": run.seed,
                "params": run.params,
                "tags": run.tags,
                "metrics": run.metrics,
                "created_at": run.created_at,
                "finished_at": run.finished_at,
                "environment": run.environment,
            })),
        );
        let history: BTreeMap<&String, Vec<(u64, f64)>> = detail
            .history
            .iter()
            .map(|(k, pts)| (k, pts.iter().map(|p| (p.step, p.value)).collect()))
            .collect();
        entries.insert(
            "metrics/history.json".into(),
            pretty(serde_json::json!(history)),
        );
        let version = self.resolve_dataset(&run.dataset)?;
        entries.insert(
            "data/reference.json".into(),
            pretty(serde_json::json!({
                "name": version.name,
                "version": version.version,
                "hash": version.hash,
                "rows": version.rows,
                "columns": version.columns,
                "source": version.source,
            })),
        );
        let bytes = cairn_bundle::write_bundle_signed(
            run.id.as_str(),
            &format!("cairn {}", crate::CAIRN_VERSION),
            &entries,
            key.as_ref(),
        )?;
        let tmp = out.with_extension("zip.partial");
        if let Some(dir) = out.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| AppError::io(format!("creating {}", dir.display()), e))?;
        }
        std::fs::write(&tmp, &bytes)
            .map_err(|e| AppError::io(format!("writing {}", tmp.display()), e))?;
        std::fs::rename(&tmp, out)
            .map_err(|e| AppError::io(format!("writing {}", out.display()), e))?;
        let report = cairn_bundle::verify(&out.display().to_string(), &bytes)?;
        Ok(BundleSummary {
            path: out.display().to_string(),
            run_id: run.id.as_str().to_string(),
            entries: report.manifest.entries.len() + 1 + usize::from(key.is_some()),
            bytes: bytes.len() as u64,
            root_hash: report.manifest.root_hash,
            signed_by: key.map(|k| k.public().fingerprint()),
        })
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
    let trusted = crate::keys::read_public_keys(trust)?;
    let bytes =
        std::fs::read(path).map_err(|e| AppError::io(format!("reading {}", path.display()), e))?;
    Ok(cairn_bundle::verify_trusted(
        &path.display().to_string(),
        &bytes,
        &trusted,
    )?)
}
