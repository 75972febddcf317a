//! The audit log's use cases (docs/formats/audit-log.md): reading it, verifying the chain and
//! the signed checkpoints, and signing a checkpoint of the head. Entries are written by the
//! store inside each change's own transaction; nothing here writes one but the checkpoint.

use crate::{AppError, ErrorCode, Result, Workspace};
use cairn_core::audit::{AuditEntry, ChainBreak, checkpoint_message};
use cairn_store::Checkpoint;
use serde::Serialize;
use std::path::Path;

/// The OS user making changes: `$USER`, `$LOGNAME` or `$USERNAME`, else (on Unix) the name
/// of this process's user id in `/etc/passwd` (or `uid N`), else `unknown`.
pub fn os_user() -> String {
    ["USER", "LOGNAME", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        .or_else(unix_user)
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(unix)]
fn unix_user() -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let uid = std::fs::metadata("/proc/self").ok()?.uid();
    let passwd = std::fs::read_to_string("/etc/passwd").unwrap_or_default();
    Some(
        passwd
            .lines()
            .find_map(|l| {
                let mut f = l.split(':');
                let name = f.next()?;
                (f.nth(1)? == uid.to_string()).then(|| name.to_string())
            })
            .unwrap_or_else(|| format!("uid {uid}")),
    )
}

#[cfg(not(unix))]
fn unix_user() -> Option<String> {
    None
}

/// One checkpoint, checked against the log.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct CheckpointStatus {
    pub size: u64,
    pub head: String,
    pub at: String,
    pub fingerprint: String,
    pub valid: bool,
    pub problem: Option<String>,
}

/// What `cairn audit verify` found.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct AuditReport {
    pub ok: bool,
    pub entries: u64,
    pub head: String,
    pub first_bad: Option<ChainBreak>,
    pub checkpoints: Vec<CheckpointStatus>,
}

impl Workspace {
    /// Entries from `since` (RFC 3339 or a date) about `subject` (and what is under it:
    /// `model:iris` also gives `model:iris@3`), the newest `limit`, oldest first.
    pub fn audit_log(
        &self,
        since: Option<&str>,
        subject: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>> {
        let since = since
            .map(|t| {
                cairn_core::epoch_millis(t)
                    .and_then(cairn_core::rfc3339_from_millis)
                    .ok_or_else(|| {
                        AppError::invalid(format!(
                            "--since `{t}` is not a time; give RFC 3339 (2026-12-07T10:00:00Z) or a date (2026-12-07)"
                        ))
                    })
            })
            .transpose()?;
        Ok(self.store.audit_entries(since.as_deref(), subject, limit)?)
    }

    /// Verifies the whole chain and every stored checkpoint: a checkpoint fails when its
    /// signature does not verify, when the log is now shorter than it (truncated), or when the
    /// entry it ends at has another hash.
    pub fn audit_verify(&self) -> Result<AuditReport> {
        let status = self.store.verify_audit()?;
        let mut checkpoints = Vec::new();
        let chain_len = if status.first_bad.is_some() {
            None
        } else {
            Some(status.entries)
        };
        for c in self.store.checkpoints()? {
            let problem = checkpoint_problem(self, &c, chain_len)?;
            checkpoints.push(CheckpointStatus {
                size: c.size,
                head: c.head,
                at: c.at,
                fingerprint: c.fingerprint,
                valid: problem.is_none(),
                problem,
            });
        }
        // Truncation: the first checkpoint the log no longer reaches names the first missing entry.
        let mut first_bad = status.first_bad.clone();
        if first_bad.is_none()
            && let Some(c) = checkpoints.iter().find(|c| c.size > status.entries)
        {
            first_bad = Some(ChainBreak {
                seq: status.entries + 1,
                reason: format!(
                    "entry {} is missing: the log ends at entry {}, but a checkpoint signed by {} at {} covers {} entries (the log was truncated)",
                    status.entries + 1,
                    status.entries,
                    c.fingerprint,
                    c.at,
                    c.size
                ),
            });
        }
        Ok(AuditReport {
            ok: first_bad.is_none() && checkpoints.iter().all(|c| c.valid),
            entries: status.entries,
            head: status.head,
            first_bad,
            checkpoints,
        })
    }

    /// Signs the head of a log that verifies, and stores the checkpoint (itself an entry).
    pub fn audit_checkpoint(&mut self, key_file: &Path) -> Result<CheckpointStatus> {
        let key = crate::keys::read_secret_key(key_file)?;
        let status = self.store.verify_audit()?;
        if let Some(b) = status.first_bad {
            return Err(AppError::new(
                ErrorCode::AuditBroken,
                format!(
                    "the audit log does not verify at entry {}: {}; a checkpoint would sign a broken log",
                    b.seq, b.reason
                ),
            ));
        }
        let at = cairn_core::now_rfc3339();
        let public = key.public();
        let c = Checkpoint {
            size: status.entries,
            head: status.head.clone(),
            at: at.clone(),
            fingerprint: public.fingerprint(),
            public_key: public.to_hex(),
            signature: key.sign_hex(&checkpoint_message(status.entries, &status.head, &at)),
        };
        self.store.add_checkpoint(&c)?;
        Ok(CheckpointStatus {
            size: c.size,
            head: c.head,
            at: c.at,
            fingerprint: c.fingerprint,
            valid: true,
            problem: None,
        })
    }
}

fn checkpoint_problem(
    ws: &Workspace,
    c: &Checkpoint,
    chain_len: Option<u64>,
) -> Result<Option<String>> {
    let signed = cairn_bundle::PublicKey::from_text(&c.public_key)
        .map(|k| {
            k.fingerprint() == c.fingerprint
                && k.verifies(&checkpoint_message(c.size, &c.head, &c.at), &c.signature)
        })
        .unwrap_or(false);
    if !signed {
        return Ok(Some(
            "its signature does not verify: the checkpoint was altered".into(),
        ));
    }
    if let Some(n) = chain_len
        && n < c.size
    {
        return Ok(Some(format!(
            "it covers {} entries but the log has {n}: the log was truncated",
            c.size
        )));
    }
    match ws.store.audit_hash_at(c.size)? {
        None if c.size == 0 => Ok(None),
        None => Ok(Some(format!("entry {} is missing", c.size))),
        Some(h) if h != c.head => Ok(Some(format!(
            "entry {} has hash {}, but the checkpoint signed {}: the log was rewritten",
            c.size,
            &h[..12],
            &c.head[..12.min(c.head.len())]
        ))),
        Some(_) => Ok(None),
    }
}
