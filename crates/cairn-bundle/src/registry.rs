//! The registry's evidence inside a bundle exported from a model version (`cairn bundle export
//! NAME@N`): `registry/version.json` (the version's record), `registry/gate-reports/<alias>.json`
//! (each gate report that moved an alias to it) and `registry/approvals.json` (the signed
//! approvals). The model entries are everything outside `registry/`; their root hash (the
//! *model root*) is what gate reports and approvals name, so adding evidence does not change
//! what was approved. Verified offline: each approval's Ed25519 signature, its model root, and
//! the gate report it signed.

use crate::{Entries, Manifest, ManifestEntry, Problem, PublicKey};
use cairn_core::registry::{Approval, GateReport};
use serde::{Deserialize, Serialize};

pub const REGISTRY_DIR: &str = "registry/";
pub const VERSION_ENTRY: &str = "registry/version.json";
pub const GATE_REPORTS_DIR: &str = "registry/gate-reports/";
pub const APPROVALS_ENTRY: &str = "registry/approvals.json";

impl Manifest {
    /// The root hash over the model entries only (everything outside `registry/`): equal to
    /// `root_hash` for a bundle without registry evidence.
    pub fn model_root(&self) -> String {
        let model: Vec<ManifestEntry> = self
            .entries
            .iter()
            .filter(|e| !e.path.starts_with(REGISTRY_DIR))
            .cloned()
            .collect();
        Manifest::root_hash_of(&model)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegistryStatus {
    pub model: Option<String>,
    pub version: Option<u32>,
    pub gate_reports: Vec<GateReportStatus>,
    pub approvals: Vec<ApprovalStatus>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GateReportStatus {
    pub entry: String,
    pub alias: String,
    pub sha256: String,
    pub passed: bool,
    pub valid: bool,
    pub problem: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalStatus {
    /// 1-based position in `registry/approvals.json`.
    pub index: usize,
    pub fingerprint: String,
    pub alias: String,
    pub at: String,
    pub comment: String,
    pub valid: bool,
    pub problem: Option<String>,
}

/// Checks the registry evidence of a bundle, if it has any.
pub(crate) fn check(
    manifest: &Manifest,
    entries: &Entries,
) -> (Option<RegistryStatus>, Vec<Problem>) {
    if !entries.keys().any(|k| k.starts_with(REGISTRY_DIR)) {
        return (None, Vec::new());
    }
    let root = manifest.model_root();
    let mut problems = Vec::new();
    let mut status = RegistryStatus {
        model: None,
        version: None,
        gate_reports: Vec::new(),
        approvals: Vec::new(),
    };
    for (path, bytes) in entries.range(GATE_REPORTS_DIR.to_string()..) {
        if !path.starts_with(GATE_REPORTS_DIR) {
            break;
        }
        let mut s = GateReportStatus {
            entry: path.clone(),
            alias: String::new(),
            sha256: String::new(),
            passed: false,
            valid: false,
            problem: None,
        };
        match serde_json::from_slice::<GateReport>(bytes) {
            Err(e) => s.problem = Some(format!("not a gate report: {e}")),
            Ok(r) => {
                s.alias = r.alias.clone();
                s.sha256 = r.hash();
                s.passed = r.passed;
                status.model.get_or_insert(r.model.clone());
                status.version.get_or_insert(r.version);
                if r.bundle_root != root {
                    s.problem = Some(format!(
                        "it names model root {}, but this bundle's model entries hash to {root}",
                        r.bundle_root
                    ));
                } else {
                    s.valid = true;
                }
            }
        }
        if let Some(p) = &s.problem {
            problems.push(Problem {
                entry: path.clone(),
                issue: p.clone(),
            });
        }
        status.gate_reports.push(s);
    }
    if let Some(bytes) = entries.get(APPROVALS_ENTRY) {
        match serde_json::from_slice::<Vec<Approval>>(bytes) {
            Err(e) => problems.push(Problem {
                entry: APPROVALS_ENTRY.into(),
                issue: format!("not a list of approvals: {e}"),
            }),
            Ok(list) => {
                for (i, a) in list.iter().enumerate() {
                    let problem = approval_problem(a, &root, &status.gate_reports);
                    if let Some(p) = &problem {
                        problems.push(Problem {
                            entry: APPROVALS_ENTRY.into(),
                            issue: format!("approval {} (key {}): {p}", i + 1, a.fingerprint),
                        });
                    }
                    status.approvals.push(ApprovalStatus {
                        index: i + 1,
                        fingerprint: a.fingerprint.clone(),
                        alias: a.claim.alias.clone(),
                        at: a.claim.at.clone(),
                        comment: a.claim.comment.clone(),
                        valid: problem.is_none(),
                        problem,
                    });
                }
            }
        }
    }
    (Some(status), problems)
}

fn approval_problem(a: &Approval, root: &str, reports: &[GateReportStatus]) -> Option<String> {
    let key = match PublicKey::from_text(&a.public_key) {
        Ok(k) => k,
        Err(e) => return Some(format!("its public key is not valid ({})", e.reason)),
    };
    if key.fingerprint() != a.fingerprint {
        return Some(format!(
            "its fingerprint does not match its public key ({})",
            key.fingerprint()
        ));
    }
    if !key.verifies(&a.claim.message(), &a.signature) {
        return Some("the signature does not verify: the approval was altered".into());
    }
    if a.claim.bundle_root != root {
        return Some(format!(
            "it approves model root {}, not this bundle's {root}",
            a.claim.bundle_root
        ));
    }
    if !reports
        .iter()
        .any(|r| r.valid && r.sha256 == a.claim.gate_report_sha256)
    {
        return Some(format!(
            "the gate report it signed ({}) is not in the bundle",
            a.claim.gate_report_sha256
        ));
    }
    None
}
