//! Opening a bundle to look at it: the verification report plus the entries it holds, for the
//! desktop's Bundles view. Needs no workspace and writes nothing.

use crate::{AppError, Result};
use cairn_bundle::VerifyReport;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// A verified (or not) bundle and its entries, read into memory.
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
    let bytes =
        std::fs::read(path).map_err(|e| AppError::io(format!("reading {}", path.display()), e))?;
    let shown = path.display().to_string();
    let report = cairn_bundle::verify_trusted(&shown, &bytes, &trusted)?;
    let (entries, _) = cairn_bundle::read_entries(&shown, &bytes)?;
    Ok(BundleContents {
        path: shown,
        report,
        entries,
    })
}
