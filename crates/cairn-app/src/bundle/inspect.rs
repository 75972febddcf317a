//! Opening a bundle: the verification report plus the entries it holds, read once. Verify,
//! import and the desktop's Bundles view all start here. Needs no workspace, writes nothing.

use crate::{AppError, Result};
use cairn_bundle::VerifyReport;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A verified (or not) bundle and its entries, read into memory. Trust the entries only when
/// `report.ok()`.
pub struct BundleContents {
    pub path: String,
    pub report: VerifyReport,
    pub entries: BTreeMap<String, Vec<u8>>,
}

impl BundleContents {
    /// An entry parsed as JSON, if present and valid.
    pub fn json(&self, entry: &str) -> Option<serde_json::Value> {
        serde_json::from_slice(self.entries.get(entry)?).ok()
    }

    /// An entry as UTF-8 text, if present and valid.
    pub fn text(&self, entry: &str) -> Option<String> {
        String::from_utf8(self.entries.get(entry)?.clone()).ok()
    }
}

/// Verifies `path` (against `trust` when given, as `cairn bundle verify --trust`) and reads its
/// entries. A hostile or unreadable zip is an error, as in verify.
pub fn inspect_bundle(path: &Path, trust: &[PathBuf]) -> Result<BundleContents> {
    let trusted = crate::keys::read_public_keys(trust)?;
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| AppError::io(format!("reading {shown}"), e))?;
    let (report, entries) =
        cairn_bundle::verify_and_read(&shown, &bytes, &trusted).map_err(|e| {
            let hostile = matches!(e, cairn_bundle::BundleError::Hostile { .. });
            let mut err = AppError::from(e);
            if hostile {
                // The zip reader names the entry; say which file it is in, and that nothing
                // was written.
                err.message = format!("{shown}: {}; nothing was written", err.message);
            }
            err
        })?;
    Ok(BundleContents {
        path: shown,
        report,
        entries,
    })
}
