//! The append-only audit log (docs/formats/audit-log.md): one table, appended to inside the
//! transaction of the state change it records, read in order, never updated. The chain's hash
//! is `cairn_core::audit`'s; this module only stores and reads it.

use crate::{Result, Store, StoreError};
use cairn_core::audit::{AuditEntry, AuditEvent, ChainBreak, ChainVerifier, EntryParts};
use duckdb::{Connection, OptionalExt, params};
use serde::{Deserialize, Serialize};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

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

/// Time spent appending audit entries in this process, in nanoseconds, and the number of
/// appends (what `cargo xtask bench audit` reports as the entries' share of a write).
static APPEND_NANOS: AtomicU64 = AtomicU64::new(0);
static APPENDS: AtomicU64 = AtomicU64::new(0);

/// `(appends, total time)` spent in audit appends by this process so far.
pub fn append_time() -> (u64, Duration) {
    (
        APPENDS.load(Ordering::Relaxed),
        Duration::from_nanos(APPEND_NANOS.load(Ordering::Relaxed)),
    )
}

/// The head the next entry chains to, `(seq, hash)`, cached by a [`Store`] handle for the
/// transactions it runs: while a handle holds its turn of the workspace nobody else appends, so
/// the log is searched for its head once per handle, not once per change. A transaction that
/// fails forgets it (see `Store::in_transaction`); `verify` never reads it.
pub(crate) type HeadCache = std::sync::Mutex<Option<(u64, String)>>;

/// Appends `records` after the log's head, in order, on `conn` (inside the caller's
/// transaction: the entries commit with the change they record, or not at all). `cache` is
/// the handle's cached head, when the transaction runs on the handle's own connection.
pub(crate) fn append(
    conn: &Connection,
    actor: &str,
    records: &[Record],
    cache: Option<&HeadCache>,
) -> Result<()> {
    if records.is_empty() {
        return Ok(());
    }
    let started = Instant::now();
    let ctx = "appending to the audit log";
    let cached = cache.and_then(|c| c.lock().ok().and_then(|h| h.clone()));
    let head: Option<(u64, String)> = match cached {
        Some(h) => Some(h),
        None => conn
            .query_row(
                "SELECT seq, hash FROM audit_log WHERE seq = (SELECT max(seq) FROM audit_log)",
                [],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
            )
            .optional()
            .map_err(|e| StoreError::db(ctx, e))?,
    };
    let at = cairn_core::now_rfc3339();
    let mut prev = head;
    let mut entries = Vec::with_capacity(records.len());
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
        prev = Some((e.seq, e.hash.clone()));
        entries.push(e);
    }
    // DuckDB's appender is for bulk: a run's start and end go in as one prepared INSERT.
    if entries.len() > 64 {
        let mut app = conn
            .appender("audit_log")
            .map_err(|e| StoreError::db(ctx, e))?;
        for e in &entries {
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
        }
        app.flush().map_err(|e| StoreError::db(ctx, e))?;
    } else {
        // One statement for them all: DuckDB's cost here is per statement.
        let row = "(?, ?, ?, ?, ?, ?, ?, ?, ?)";
        let sql = format!(
            "INSERT INTO audit_log VALUES {}",
            vec![row; entries.len()].join(", ")
        );
        let mut values: Vec<Box<dyn duckdb::ToSql>> = Vec::with_capacity(entries.len() * 9);
        for e in &entries {
            values.push(Box::new(e.seq as i64));
            values.push(Box::new(e.at.clone()));
            values.push(Box::new(e.actor.clone()));
            values.push(Box::new(e.key.clone()));
            values.push(Box::new(e.action.clone()));
            values.push(Box::new(e.subject.clone()));
            values.push(Box::new(e.payload.clone()));
            values.push(Box::new(e.prev.clone()));
            values.push(Box::new(e.hash.clone()));
        }
        conn.prepare_cached(&sql)
            .and_then(|mut s| s.execute(duckdb::params_from_iter(values.iter())))
            .map_err(|err| StoreError::db(ctx, err))?;
    }
    if let Some(c) = cache
        && let Ok(mut h) = c.lock()
    {
        *h = prev;
    }
    APPEND_NANOS.fetch_add(started.elapsed().as_nanos() as u64, Ordering::Relaxed);
    APPENDS.fetch_add(1, Ordering::Relaxed);
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
        self.in_transaction(|conn| append(conn, &self.actor, records, Some(&self.audit_head)))
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

    /// Walks the whole log in sequence order and checks every link and hash. Entries arrive
    /// as Arrow batches; each batch's hashes are computed on two threads, then its links and
    /// hashes checked in order.
    pub fn verify_audit(&self) -> Result<ChainStatus> {
        use duckdb::arrow::array::{Array, Int64Array, StringArray};
        let ctx = "reading the audit log";
        let mut stmt = self
            .conn
            .prepare(&format!("SELECT {COLUMNS} FROM audit_log ORDER BY seq"))
            .map_err(|e| StoreError::db(ctx, e))?;
        let mut v = ChainVerifier::new();
        let mut first_bad = None;
        for batch in stmt.stream_arrow([]).map_err(|e| StoreError::db(ctx, e))? {
            let batch = batch.map_err(|e| StoreError::db(ctx, e))?;
            let text = |i: usize| {
                batch
                    .column(i)
                    .as_any()
                    .downcast_ref::<StringArray>()
                    .ok_or_else(|| StoreError::Invalid(format!("audit_log column {i} is not text")))
            };
            let seqs = batch
                .column(0)
                .as_any()
                .downcast_ref::<Int64Array>()
                .ok_or_else(|| StoreError::Invalid("audit_log.seq is not a BIGINT".into()))?;
            let (ts, actor, key, action, subject, payload, prev, hash) = (
                text(1)?,
                text(2)?,
                text(3)?,
                text(4)?,
                text(5)?,
                text(6)?,
                text(7)?,
                text(8)?,
            );
            let parts: Vec<EntryParts<'_>> = (0..batch.num_rows())
                .map(|r| EntryParts {
                    seq: seqs.value(r) as u64,
                    at: ts.value(r),
                    actor: actor.value(r),
                    key: (!key.is_null(r)).then(|| key.value(r)),
                    action: action.value(r),
                    subject: subject.value(r),
                    payload: payload.value(r),
                    prev: prev.value(r),
                    hash: hash.value(r),
                })
                .collect();
            let hashes = parallel_hashes(&parts);
            for (p, h) in parts.iter().zip(&hashes) {
                if let Err(b) = v.next_hashed(p, h) {
                    first_bad = Some(b);
                    break;
                }
            }
            if first_bad.is_some() {
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
                Some(&self.audit_head),
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

/// The hashes of `parts`, computed on two threads for a batch worth splitting.
fn parallel_hashes(parts: &[EntryParts<'_>]) -> Vec<String> {
    if parts.len() < 512 {
        return parts.iter().map(EntryParts::computed_hash).collect();
    }
    let (a, b) = parts.split_at(parts.len() / 2);
    std::thread::scope(|s| {
        let second = s.spawn(|| b.iter().map(EntryParts::computed_hash).collect::<Vec<_>>());
        let mut out: Vec<String> = a.iter().map(EntryParts::computed_hash).collect();
        out.extend(second.join().expect("a hashing thread panicked"));
        out
    })
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
