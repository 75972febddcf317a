//! The append-only audit log (docs/formats/audit-log.md): one table, appended to inside the
//! transaction of the state change it records, read in order, never updated. The chain's hash
//! is `cairn_core::audit`'s; this module only stores and reads it.

use crate::{Result, Store, StoreError};
use cairn_core::audit::{AuditEntry, AuditEvent, ChainBreak, ChainVerifier};
use duckdb::{Connection, params};
use serde::{Deserialize, Serialize};

/// A signed head of the log: the size and head hash at a moment, signed by a key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub size: u64,
    pub head: String,
    pub at: String,
    pub fingerprint: String,
    pub public_key: String,
    pub signature: String,
}

/// What `verify_audit` found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainStatus {
    /// Entries checked (up to the first bad one).
    pub entries: u64,
    pub head: String,
    pub first_bad: Option<ChainBreak>,
}

/// An event about to be appended, short of its time and actor (the store's).
#[derive(Debug, Clone)]
pub struct Record {
    pub action: String,
    pub subject: String,
    pub payload: serde_json::Value,
    pub key: Option<String>,
}

impl Record {
    pub fn new(
        action: impl Into<String>,
        subject: impl Into<String>,
        payload: serde_json::Value,
    ) -> Record {
        Record {
            action: action.into(),
            subject: subject.into(),
            payload,
            key: None,
        }
    }

    pub fn signed_by(mut self, fingerprint: Option<String>) -> Record {
        self.key = fingerprint;
        self
    }
}

/// Appends `records` after the log's head, in order, on `conn` (inside the caller's
/// transaction: the entries commit with the change they record, or not at all).
pub(crate) fn append(conn: &Connection, actor: &str, records: &[Record]) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let ctx = "appending to the audit log";
    let head: Option<(i64, String)> = conn
        .query_row(
            "SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .map(Some)
        .or_else(|e| match e {
            duckdb::Error::QueryReturnedNoRows => Ok(None),
            e => Err(StoreError::db(ctx, e)),
        })?;
    let at = cairn_core::now_rfc3339();
    let mut prev = head.map(|(s, h)| (s as u64, h));
    let mut app = conn
        .appender("audit_log")
        .map_err(|e| StoreError::db(ctx, e))?;
    for r in records {
        let event = AuditEvent {
            at: at.clone(),
            actor: actor.to_string(),
            key: r.key.clone(),
            action: r.action.clone(),
            subject: r.subject.clone(),
            payload: r.payload.clone(),
        };
        let e = AuditEntry::chain(&event, prev.as_ref().map(|(s, h)| (*s, h.as_str())));
        app.append_row(params![
            e.seq as i64,
            e.at,
            e.actor,
            e.key,
            e.action,
            e.subject,
            e.payload,
            e.prev,
            e.hash
        ])
        .map_err(|err| StoreError::db(ctx, err))?;
        prev = Some((e.seq, e.hash));
    }
    app.flush().map_err(|e| StoreError::db(ctx, e))?;
    Ok(())
}

const COLUMNS: &str = "seq, ts, actor, key, action, subject, payload, prev, hash";

fn entry(r: &duckdb::Row<'_>) -> duckdb::Result<AuditEntry> {
    Ok(AuditEntry {
        seq: r.get::<_, i64>(0)? as u64,
        at: r.get(1)?,
        actor: r.get(2)?,
        key: r.get(3)?,
        action: r.get(4)?,
        subject: r.get(5)?,
        payload: r.get(6)?,
        prev: r.get(7)?,
        hash: r.get(8)?,
    })
}

impl Store {
    /// Appends `records` as one transaction of their own (changes that touch no other table:
    /// a bundle written, a checkpoint).
    pub fn record(&self, records: &[Record]) -> Result<()> {
        self.in_transaction(|conn| append(conn, &self.actor, records))
    }

    /// Entries in order, optionally from `since` (RFC 3339, inclusive) and for subjects that
    /// start with `subject`; at most `limit`, newest last.
    pub fn audit_entries(
        &self,
        since: Option<&str>,
        subject: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>> {
        let ctx = "reading the audit log";
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {COLUMNS} FROM (SELECT {COLUMNS} FROM audit_log \
                 WHERE (?1 IS NULL OR ts >= ?1) AND (?2 IS NULL OR subject = ?2 OR starts_with(subject, ?2 || '@') OR starts_with(subject, ?2 || ':')) \
                 ORDER BY seq DESC LIMIT ?3) ORDER BY seq"
            ))
            .map_err(|e| StoreError::db(ctx, e))?;
        let rows = stmt
            .query_map(params![since, subject, limit as i64], entry)
            .map_err(|e| StoreError::db(ctx, e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| StoreError::db(ctx, e))
    }

    /// Walks the whole log in sequence order and checks every link and hash.
    pub fn verify_audit(&self) -> Result<ChainStatus> {
        let ctx = "reading the audit log";
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq"))
            .map_err(|e| StoreError::db(ctx, e))?;
        let mut rows = stmt.query([]).map_err(|e| StoreError::db(ctx, e))?;
        let mut v = ChainVerifier::new();
        let mut first_bad = None;
        while let Some(row) = rows.next().map_err(|e| StoreError::db(ctx, e))? {
            let e = entry(row).map_err(|e| StoreError::db(ctx, e))?;
            if let Err(b) = v.next(&e) {
                first_bad = Some(b);
                break;
            }
        }
        let (entries, head) = v.head();
        Ok(ChainStatus {
            entries,
            head,
            first_bad,
        })
    }

    /// The hash of entry `seq`, if the log has one.
    pub fn audit_hash_at(&self, seq: u64) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT hash FROM audit_log WHERE seq = ?",
                [seq as i64],
                |r| r.get(0),
            )
            .map(Some)
            .or_else(|e| match e {
                duckdb::Error::QueryReturnedNoRows => Ok(None),
                e => Err(StoreError::db("reading the audit log", e)),
            })
    }

    /// Stores a signed checkpoint, with its audit entry, in one transaction.
    pub fn add_checkpoint(&self, c: &Checkpoint) -> Result<()> {
        self.in_transaction(|conn| {
            conn.execute(
                "INSERT INTO audit_checkpoints VALUES (?, ?, ?, ?, ?, ?)",
                params![
                    c.size as i64,
                    c.head,
                    c.at,
                    c.fingerprint,
                    c.public_key,
                    c.signature
                ],
            )
            .map_err(|e| StoreError::db("storing the checkpoint", e))?;
            append(
                conn,
                &self.actor,
                &[Record::new(
                    "audit.checkpoint",
                    "audit",
                    serde_json::json!({"size": c.size, "head": c.head}),
                )
                .signed_by(Some(c.fingerprint.clone()))],
            )
        })
    }

    /// Every stored checkpoint, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<Checkpoint>> {
        let ctx = "reading checkpoints";
        let mut stmt = self
            .conn
            .prepare("SELECT size, head, created_at, fingerprint, public_key, signature FROM audit_checkpoints ORDER BY size, created_at")
            .map_err(|e| StoreError::db(ctx, e))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(Checkpoint {
                    size: r.get::<_, i64>(0)? as u64,
                    head: r.get(1)?,
                    at: r.get(2)?,
                    fingerprint: r.get(3)?,
                    public_key: r.get(4)?,
                    signature: r.get(5)?,
                })
            })
            .map_err(|e| StoreError::db(ctx, e))?;
        rows.collect::<Result<_, _>>()
            .map_err(|e| StoreError::db(ctx, e))
    }

    /// Appends `n` synthetic entries (benchmarks and tests of a long log), in batches.
    pub fn seed_audit(&self, n: u64) -> Result<()> {
        let batch = 10_000u64;
        let mut done = 0;
        while done < n {
            let k = batch.min(n - done);
            let records: Vec<Record> = (0..k)
                .map(|i| {
                    Record::new(
                        "run.start",
                        format!("run:seed-{}", done + i),
                        serde_json::json!({"name": format!("seed-{}", done + i), "model": "mlp", "dataset": "iris@1"}),
                    )
                })
                .collect();
            self.record(&records)?;
            done += k;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn appended_entries_chain_and_tampering_is_caught() {
        let store = Store::open_in_memory().unwrap();
        store
            .record(&[
                Record::new("a.one", "x:1", json!({"k": 1})),
                Record::new("a.two", "x:2", json!({"k": 2})),
            ])
            .unwrap();
        store
            .record(&[Record::new("a.three", "x:3", json!({}))])
            .unwrap();
        let all = store.audit_entries(None, None, 100).unwrap();
        assert_eq!(all.iter().map(|e| e.seq).collect::<Vec<_>>(), [1, 2, 3]);
        assert_eq!(all[1].prev, all[0].hash);
        let ok = store.verify_audit().unwrap();
        assert_eq!((ok.entries, ok.first_bad.clone()), (3, None));
        assert_eq!(ok.head, all[2].hash);
        assert_eq!(
            store.audit_entries(None, Some("x:2"), 100).unwrap().len(),
            1
        );

        store
            .conn
            .execute_batch("UPDATE audit_log SET payload = '{\"k\":9}' WHERE seq = 2")
            .unwrap();
        assert_eq!(store.verify_audit().unwrap().first_bad.unwrap().seq, 2);
    }
}
