//! The audit log's nouns: an event, a chained entry, and the pure hash that links each entry to
//! the one before it (docs/formats/audit-log.md).
//!
//! An entry's hash is `SHA-256("cairn-audit-v1\n" ‖ canonical JSON of {action, actor, at, key,
//! payload, prev, seq, subject})`, keys sorted, no whitespace, the payload itself already in
//! canonical form. The first entry's `prev` is 64 zeros. Editing, deleting, inserting or
//! reordering an entry breaks the chain at that entry; cutting entries off the end is only
//! visible against a signed checkpoint of an earlier head ([`checkpoint_message`]).
//!
//! No clock is read here: callers hand in the time.

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// The domain separator hashed before every entry.
pub const DOMAIN: &[u8] = b"cairn-audit-v1\n";
/// The `prev` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// A state change to record: what happened, to what, by whom, when.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AuditEvent {
    /// RFC 3339, handed in by the caller.
    pub at: String,
    /// The OS user that made the change.
    pub actor: String,
    /// The fingerprint of the key that signed the change, when one did.
    pub key: Option<String>,
    /// A dotted verb: `data.import`, `run.start`, `registry.alias_move`, ….
    pub action: String,
    /// What changed: `data:iris@2`, `run:<id>`, `model:iris@3`, `model:iris@production`.
    pub subject: String,
    #[cfg_attr(feature = "ts", ts(type = "unknown"))]
    pub payload: Value,
}

/// One entry of the log as stored: the event, its place in the chain and its hash.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct AuditEntry {
    pub seq: u64,
    pub at: String,
    pub actor: String,
    pub key: Option<String>,
    pub action: String,
    pub subject: String,
    /// The payload in canonical JSON, exactly as hashed.
    pub payload: String,
    pub prev: String,
    pub hash: String,
}

impl AuditEntry {
    /// Chains `event` after the entry `(prev_seq, prev_hash)` (or first, after `None`).
    pub fn chain(event: &AuditEvent, prev: Option<(u64, &str)>) -> AuditEntry {
        let (seq, prev) = match prev {
            Some((s, h)) => (s + 1, h.to_string()),
            None => (1, GENESIS.to_string()),
        };
        let payload = canonical_json(&event.payload);
        let mut entry = AuditEntry {
            seq,
            at: event.at.clone(),
            actor: event.actor.clone(),
            key: event.key.clone(),
            action: event.action.clone(),
            subject: event.subject.clone(),
            payload,
            prev,
            hash: String::new(),
        };
        entry.hash = entry.computed_hash();
        entry
    }

    /// The hash this entry's fields give (equal to `hash` unless the entry was edited).
    pub fn computed_hash(&self) -> String {
        self.parts().computed_hash()
    }

    pub fn parts(&self) -> EntryParts<'_> {
        EntryParts {
            seq: self.seq,
            at: &self.at,
            actor: &self.actor,
            key: self.key.as_deref(),
            action: &self.action,
            subject: &self.subject,
            payload: &self.payload,
            prev: &self.prev,
            hash: &self.hash,
        }
    }
}

/// An entry's fields borrowed from wherever they were read (a verifier reads a million
/// without copying them).
#[derive(Debug, Clone, Copy)]
pub struct EntryParts<'a> {
    pub seq: u64,
    pub at: &'a str,
    pub actor: &'a str,
    pub key: Option<&'a str>,
    pub action: &'a str,
    pub subject: &'a str,
    pub payload: &'a str,
    pub prev: &'a str,
    pub hash: &'a str,
}

impl EntryParts<'_> {
    /// The hash these fields give, as lower-case hex.
    pub fn computed_hash(&self) -> String {
        let mut text = String::with_capacity(192 + self.payload.len());
        entry_message(self, &mut text);
        let mut h = Sha256::new();
        h.update(DOMAIN);
        h.update(text.as_bytes());
        hex::encode(h.finalize())
    }
}

/// The canonical JSON of an entry's hashed fields (keys in sorted order).
fn entry_message(e: &EntryParts<'_>, out: &mut String) {
    out.push_str("{\"action\":");
    push_json_string(out, e.action);
    out.push_str(",\"actor\":");
    push_json_string(out, e.actor);
    out.push_str(",\"at\":");
    push_json_string(out, e.at);
    out.push_str(",\"key\":");
    match e.key {
        Some(k) => push_json_string(out, k),
        None => out.push_str("null"),
    }
    out.push_str(",\"payload\":");
    out.push_str(e.payload);
    out.push_str(",\"prev\":");
    push_json_string(out, e.prev);
    out.push_str(",\"seq\":");
    out.push_str(&e.seq.to_string());
    out.push_str(",\"subject\":");
    push_json_string(out, e.subject);
    out.push('}');
}

/// Why a chain does not verify, at the first entry that breaks it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ChainBreak {
    /// The sequence number the entry should have had (the first bad one).
    pub seq: u64,
    pub reason: String,
}

/// Walks a log in stored order, checking numbering, links and hashes; `Err` names the first
/// bad entry. Feed entries with [`ChainVerifier::next`] and finish with [`ChainVerifier::head`].
#[derive(Debug, Default)]
pub struct ChainVerifier {
    expected_seq: u64,
    prev: Option<String>,
}

impl ChainVerifier {
    pub fn new() -> Self {
        ChainVerifier {
            expected_seq: 1,
            prev: None,
        }
    }

    pub fn next(&mut self, e: &AuditEntry) -> Result<(), ChainBreak> {
        let parts = e.parts();
        let computed = parts.computed_hash();
        self.next_hashed(&parts, &computed)
    }

    /// [`ChainVerifier::next`] for an entry whose hash the caller already computed (with
    /// [`EntryParts::computed_hash`], perhaps on another thread).
    pub fn next_hashed(&mut self, e: &EntryParts<'_>, computed: &str) -> Result<(), ChainBreak> {
        let seq = self.expected_seq;
        let prev = self.prev.as_deref().unwrap_or(GENESIS);
        if e.seq != seq {
            return Err(ChainBreak {
                seq,
                reason: if e.seq > seq {
                    format!(
                        "entry {seq} is missing (the next stored entry is {}): an entry was deleted",
                        e.seq
                    )
                } else {
                    format!(
                        "entry {} appears where entry {seq} belongs: entries were reordered or inserted",
                        e.seq
                    )
                },
            });
        }
        if e.prev != prev {
            return Err(ChainBreak {
                seq,
                reason: format!(
                    "entry {seq} does not link to the entry before it (prev {} ≠ {}): an entry \
                     was inserted, deleted or reordered",
                    short(e.prev),
                    short(prev)
                ),
            });
        }
        if computed != e.hash {
            return Err(ChainBreak {
                seq,
                reason: format!(
                    "entry {seq}'s contents do not match its hash ({} stored, {} computed): it \
                     was edited",
                    short(e.hash),
                    short(computed)
                ),
            });
        }
        self.expected_seq += 1;
        self.prev = Some(e.hash.to_string());
        Ok(())
    }

    /// `(entries checked, head hash)`.
    pub fn head(&self) -> (u64, String) {
        (
            self.expected_seq - 1,
            self.prev.clone().unwrap_or_else(|| GENESIS.to_string()),
        )
    }
}

fn short(h: &str) -> &str {
    h.get(..12).unwrap_or(h)
}

/// The bytes a checkpoint's signature covers: the log's size and head hash.
pub fn checkpoint_message(size: u64, head: &str, at: &str) -> Vec<u8> {
    format!("cairn-audit-checkpoint-v1\n{size}\n{head}\n{at}\n").into_bytes()
}

/// Canonical JSON: object keys sorted by their UTF-8 bytes, no insignificant whitespace,
/// numbers as serde_json writes them, strings with JSON's minimal escapes.
pub fn canonical_json(v: &Value) -> String {
    let mut out = String::new();
    write_canonical(v, &mut out);
    out
}

fn write_canonical(v: &Value, out: &mut String) {
    match v {
        Value::Null => out.push_str("null"),
        Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
        Value::Number(n) => out.push_str(&n.to_string()),
        Value::String(s) => push_json_string(out, s),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_canonical(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_string(out, k);
                out.push(':');
                write_canonical(&map[k], out);
            }
            out.push('}');
        }
    }
}

fn push_json_string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn event(i: u64) -> AuditEvent {
        AuditEvent {
            at: format!("2026-12-07T10:00:{:02}Z", i % 60),
            actor: "ana".into(),
            key: None,
            action: "run.start".into(),
            subject: format!("run:{i}"),
            payload: json!({"z": 1, "a": [true, null, "x\"y"], "m": {"b": 2.5, "a": "é"}}),
        }
    }

    fn log(n: u64) -> Vec<AuditEntry> {
        let mut out: Vec<AuditEntry> = Vec::new();
        for i in 0..n {
            let prev = out.last().map(|e| (e.seq, e.hash.as_str()));
            let e = AuditEntry::chain(&event(i), prev);
            out.push(e);
        }
        out
    }

    fn verify(entries: &[AuditEntry]) -> Result<(u64, String), ChainBreak> {
        let mut v = ChainVerifier::new();
        for e in entries {
            v.next(e)?;
        }
        Ok(v.head())
    }

    #[test]
    fn canonical_json_sorts_keys_and_escapes() {
        assert_eq!(
            canonical_json(
                &json!({"z": 1, "a": [true, null, "x\"y\n"], "m": {"b": 2.5, "a": "é"}})
            ),
            r#"{"a":[true,null,"x\"y\n"],"m":{"a":"é","b":2.5},"z":1}"#
        );
    }

    #[test]
    fn the_first_hash_is_fixed() {
        // A change to the format changes this vector: bump the domain and document it.
        let e = AuditEntry::chain(&event(0), None);
        assert_eq!(e.seq, 1);
        assert_eq!(e.prev, GENESIS);
        let mut text = String::new();
        entry_message(&e.parts(), &mut text);
        assert_eq!(
            text,
            r#"{"action":"run.start","actor":"ana","at":"2026-12-07T10:00:00Z","key":null,"payload":{"a":[true,null,"x\"y"],"m":{"a":"é","b":2.5},"z":1},"prev":"0000000000000000000000000000000000000000000000000000000000000000","seq":1,"subject":"run:0"}"#
        );
        let mut bytes = DOMAIN.to_vec();
        bytes.extend_from_slice(text.as_bytes());
        assert_eq!(e.hash, crate::sha256_hex(&bytes));
    }

    #[test]
    fn a_chain_verifies_and_every_tampering_names_the_first_bad_entry() {
        let good = log(6);
        assert_eq!(verify(&good).unwrap(), (6, good[5].hash.clone()));
        assert_eq!(verify(&[]).unwrap(), (0, GENESIS.to_string()));

        let mut edited = good.clone();
        edited[2].payload = edited[2].payload.replace("2.5", "3.5");
        assert_eq!(verify(&edited).unwrap_err().seq, 3);

        let mut deleted = good.clone();
        deleted.remove(3);
        assert_eq!(verify(&deleted).unwrap_err().seq, 4);

        let mut swapped = good.clone();
        swapped.swap(1, 2);
        assert_eq!(verify(&swapped).unwrap_err().seq, 2);

        // Swapped and renumbered: the links break.
        let mut renumbered = swapped.clone();
        renumbered[1].seq = 2;
        renumbered[2].seq = 3;
        let err = verify(&renumbered).unwrap_err();
        assert_eq!(err.seq, 2);
        assert!(err.reason.contains("does not link"), "{}", err.reason);

        // An entry inserted and the rest renumbered and rehashed after it: caught at its place.
        let mut inserted = good[..2].to_vec();
        let fake = AuditEntry::chain(&event(99), Some((2, "f".repeat(64).as_str())));
        inserted.push(fake);
        assert_eq!(verify(&inserted).unwrap_err().seq, 3);

        // Truncation verifies as a chain: only a checkpoint catches it.
        assert!(verify(&good[..4]).is_ok());
    }
}
