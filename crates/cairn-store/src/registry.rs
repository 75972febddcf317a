//! The model registry's tables: registered models, their immutable versions, aliases and every
//! move of one, gate reports, approvals and policies. Tables, not policy: which move is allowed
//! is decided in `cairn-app`; here every change is written with its audit entries in one
//! transaction ([`Store::atomically`]).

use crate::audit::{self, Record};
use crate::{Result, Store, StoreError};
use duckdb::{Connection, OptionalExt, params};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A version about to be registered; its number is the next free one.
#[derive(Debug, Clone)]
pub struct NewModelVersion {
    pub name: String,
    pub run_id: Option<String>,
    pub bundle_sha256: String,
    pub bundle_root: String,
    pub bundle_bytes: u64,
    pub data_hash: Option<String>,
    /// The version's typed record (cairn-app's `ModelVersionRecord`) as JSON.
    pub record_json: String,
    pub description: String,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVersionRow {
    pub name: String,
    pub version: u32,
    pub run_id: Option<String>,
    pub bundle_sha256: String,
    pub bundle_root: String,
    pub bundle_bytes: u64,
    pub data_hash: Option<String>,
    pub record_json: String,
    pub created_at: String,
    pub created_by: String,
    pub description: String,
    pub archived_at: Option<String>,
    pub archive_reason: Option<String>,
    pub tags: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisteredModelRow {
    pub name: String,
    pub description: String,
    pub created_at: String,
    pub versions: u32,
    pub latest: u32,
    /// `(alias, version)`, by alias.
    pub aliases: Vec<(String, u32)>,
}

/// One move of an alias (a new alias, a move, or a removal when `to_version` is `None`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AliasMove {
    pub name: String,
    pub alias: String,
    pub from_version: Option<u32>,
    pub to_version: Option<u32>,
    pub at: String,
    pub actor: String,
    /// The requester's key fingerprint, when the move was requested with a key.
    pub key: Option<String>,
    pub reason: String,
    pub forced: bool,
    pub gate_report_sha256: Option<String>,
}

/// A stored approval (its fields are `cairn_core::registry::Approval`'s).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ApprovalRow {
    pub name: String,
    pub version: u32,
    pub alias: String,
    pub gate_report_sha256: String,
    /// The approval as JSON (`cairn_core::registry::Approval`).
    pub approval_json: String,
    pub fingerprint: String,
    pub at: String,
}

/// A transaction's view of the registry tables and the audit log.
pub struct Tx<'a> {
    conn: &'a Connection,
    actor: &'a str,
    head: &'a audit::HeadCache,
}

impl Store {
    /// Runs `f` in one transaction: every registry change and audit entry it makes lands, or
    /// none does.
    pub fn atomically<T>(&self, f: impl FnOnce(&Tx<'_>) -> Result<T>) -> Result<T> {
        self.in_transaction(|conn| {
            f(&Tx {
                conn,
                actor: &self.actor,
                head: &self.audit_head,
            })
        })
    }
}

fn db(ctx: &'static str) -> impl Fn(duckdb::Error) -> StoreError {
    move |e| StoreError::db(ctx, e)
}

impl Tx<'_> {
    pub fn audit(&self, records: &[Record]) -> Result<()> {
        audit::append(self.conn, self.actor, records, Some(self.head))
    }

    pub fn actor(&self) -> &str {
        self.actor
    }

    /// Registers the next version of `v.name` (creating the model on its first version).
    pub fn insert_version(&self, v: &NewModelVersion, at: &str) -> Result<u32> {
        let ctx = "registering the version";
        let exists: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM registered_models WHERE name = ?",
                [&v.name],
                |r| r.get(0),
            )
            .map_err(db(ctx))?;
        if exists == 0 {
            self.conn
                .execute(
                    "INSERT INTO registered_models VALUES (?, '', ?)",
                    params![v.name, at],
                )
                .map_err(db(ctx))?;
        }
        let next: i64 = self
            .conn
            .query_row(
                "SELECT coalesce(max(version), 0) + 1 FROM model_versions WHERE name = ?",
                [&v.name],
                |r| r.get(0),
            )
            .map_err(db(ctx))?;
        self.conn
            .execute(
                "INSERT INTO model_versions VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL)",
                params![
                    v.name,
                    next,
                    v.run_id,
                    v.bundle_sha256,
                    v.bundle_root,
                    v.bundle_bytes as i64,
                    v.data_hash,
                    v.record_json,
                    at,
                    self.actor,
                    v.description
                ],
            )
            .map_err(db(ctx))?;
        for (k, val) in &v.tags {
            self.set_tag(&v.name, next as u32, k, Some(val))?;
        }
        Ok(next as u32)
    }

    pub fn archive_version(&self, name: &str, version: u32, reason: &str, at: &str) -> Result<()> {
        self.conn
            .execute(
                "UPDATE model_versions SET archived_at = ?, archive_reason = ? WHERE name = ? AND version = ?",
                params![at, reason, name, version],
            )
            .map_err(db("archiving the version"))?;
        Ok(())
    }

    /// Sets (or with `None` removes) a version's tag.
    pub fn set_tag(&self, name: &str, version: u32, key: &str, value: Option<&str>) -> Result<()> {
        let ctx = "setting a tag";
        self.conn
            .execute(
                "DELETE FROM model_version_tags WHERE name = ? AND version = ? AND key = ?",
                params![name, version, key],
            )
            .map_err(db(ctx))?;
        if let Some(value) = value {
            self.conn
                .execute(
                    "INSERT INTO model_version_tags VALUES (?, ?, ?, ?)",
                    params![name, version, key, value],
                )
                .map_err(db(ctx))?;
        }
        Ok(())
    }

    /// Sets the description of a model (`version` `None`) or of one version.
    pub fn set_description(&self, name: &str, version: Option<u32>, text: &str) -> Result<()> {
        let ctx = "setting the description";
        match version {
            None => self.conn.execute(
                "UPDATE registered_models SET description = ? WHERE name = ?",
                params![text, name],
            ),
            Some(v) => self.conn.execute(
                "UPDATE model_versions SET description = ? WHERE name = ? AND version = ?",
                params![text, name, v],
            ),
        }
        .map_err(db(ctx))?;
        Ok(())
    }

    /// Points `m.alias` at `m.to_version` (or removes it) and records the move.
    pub fn move_alias(&self, m: &AliasMove) -> Result<()> {
        let ctx = "moving the alias";
        self.conn
            .execute(
                "DELETE FROM model_aliases WHERE name = ? AND alias = ?",
                params![m.name, m.alias],
            )
            .map_err(db(ctx))?;
        if let Some(v) = m.to_version {
            self.conn
                .execute(
                    "INSERT INTO model_aliases VALUES (?, ?, ?)",
                    params![m.name, m.alias, v],
                )
                .map_err(db(ctx))?;
        }
        self.conn
            .execute(
                "INSERT INTO alias_moves VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                params![
                    m.name,
                    m.alias,
                    m.from_version,
                    m.to_version,
                    m.at,
                    m.actor,
                    m.key,
                    m.reason,
                    m.forced,
                    m.gate_report_sha256
                ],
            )
            .map_err(db(ctx))?;
        Ok(())
    }

    /// Stores a gate report under its hash (once: the same report twice is one row).
    #[allow(clippy::too_many_arguments)]
    pub fn insert_gate_report(
        &self,
        sha256: &str,
        name: &str,
        version: u32,
        alias: &str,
        report_json: &str,
        at: &str,
    ) -> Result<bool> {
        let ctx = "storing the gate report";
        let exists: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM gate_reports WHERE sha256 = ?",
                [sha256],
                |r| r.get(0),
            )
            .map_err(db(ctx))?;
        if exists > 0 {
            return Ok(false);
        }
        self.conn
            .execute(
                "INSERT INTO gate_reports VALUES (?, ?, ?, ?, ?, ?)",
                params![sha256, name, version, alias, report_json, at],
            )
            .map_err(db(ctx))?;
        Ok(true)
    }

    pub fn insert_approval(&self, a: &ApprovalRow) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO approvals VALUES (?, ?, ?, ?, ?, ?, ?)",
                params![
                    a.name,
                    a.version,
                    a.alias,
                    a.gate_report_sha256,
                    a.fingerprint,
                    a.approval_json,
                    a.at
                ],
            )
            .map_err(db("storing the approval"))?;
        Ok(())
    }

    /// Records evidence for a later gate (`reproduce`, and the evaluations, drift reports and
    /// load tests of later releases) about a version.
    pub fn insert_evidence(
        &self,
        name: &str,
        version: u32,
        kind: &str,
        payload_json: &str,
        at: &str,
    ) -> Result<()> {
        self.conn
            .execute(
                "INSERT INTO evidence VALUES (?, ?, ?, ?, ?)",
                params![name, version, kind, payload_json, at],
            )
            .map_err(db("storing evidence"))?;
        Ok(())
    }

    /// Stores the policy of a model (`scope` = its name) or the workspace default (`""`);
    /// `None` removes it.
    pub fn set_policy(&self, scope: &str, text: Option<&str>, at: &str) -> Result<()> {
        let ctx = "storing the policy";
        self.conn
            .execute("DELETE FROM policies WHERE scope = ?", [scope])
            .map_err(db(ctx))?;
        if let Some(text) = text {
            self.conn
                .execute(
                    "INSERT INTO policies VALUES (?, ?, ?)",
                    params![scope, text, at],
                )
                .map_err(db(ctx))?;
        }
        Ok(())
    }
}

const VERSION_COLUMNS: &str = "name, version, run_id, bundle_sha256, bundle_root, bundle_bytes, \
     data_hash, record_json, created_at, created_by, coalesce(description, ''), archived_at, archive_reason";

fn version_row(r: &duckdb::Row<'_>) -> duckdb::Result<ModelVersionRow> {
    Ok(ModelVersionRow {
        name: r.get(0)?,
        version: r.get::<_, i64>(1)? as u32,
        run_id: r.get(2)?,
        bundle_sha256: r.get(3)?,
        bundle_root: r.get(4)?,
        bundle_bytes: r.get::<_, i64>(5)? as u64,
        data_hash: r.get(6)?,
        record_json: r.get(7)?,
        created_at: r.get(8)?,
        created_by: r.get(9)?,
        description: r.get(10)?,
        archived_at: r.get(11)?,
        archive_reason: r.get(12)?,
        tags: BTreeMap::new(),
    })
}

fn move_row(r: &duckdb::Row<'_>) -> duckdb::Result<AliasMove> {
    Ok(AliasMove {
        name: r.get(0)?,
        alias: r.get(1)?,
        from_version: r.get::<_, Option<i64>>(2)?.map(|v| v as u32),
        to_version: r.get::<_, Option<i64>>(3)?.map(|v| v as u32),
        at: r.get(4)?,
        actor: r.get(5)?,
        key: r.get(6)?,
        reason: r.get(7)?,
        forced: r.get(8)?,
        gate_report_sha256: r.get(9)?,
    })
}

impl Store {
    /// Every registered model with its version count and aliases, by name.
    pub fn registered_models(&self) -> Result<Vec<RegisteredModelRow>> {
        let ctx = "listing models";
        let mut stmt = self
            .conn
            .prepare(
                "SELECT m.name, coalesce(m.description, ''), m.created_at, \
                 (SELECT count(*) FROM model_versions v WHERE v.name = m.name), \
                 (SELECT coalesce(max(version), 0) FROM model_versions v WHERE v.name = m.name) \
                 FROM registered_models m ORDER BY m.name",
            )
            .map_err(db(ctx))?;
        let rows = stmt
            .query_map([], |r| {
                Ok(RegisteredModelRow {
                    name: r.get(0)?,
                    description: r.get(1)?,
                    created_at: r.get(2)?,
                    versions: r.get::<_, i64>(3)? as u32,
                    latest: r.get::<_, i64>(4)? as u32,
                    aliases: Vec::new(),
                })
            })
            .map_err(db(ctx))?;
        let mut models: Vec<RegisteredModelRow> =
            rows.collect::<Result<_, _>>().map_err(db(ctx))?;
        for m in &mut models {
            m.aliases = self.aliases(&m.name)?;
        }
        Ok(models)
    }

    pub fn registered_model(&self, name: &str) -> Result<Option<RegisteredModelRow>> {
        Ok(self
            .registered_models()?
            .into_iter()
            .find(|m| m.name == name))
    }

    /// The versions of `name`, oldest first, with their tags.
    pub fn model_versions(&self, name: &str) -> Result<Vec<ModelVersionRow>> {
        let ctx = "listing versions";
        let mut stmt = self
            .conn
            .prepare(&format!(
                "SELECT {VERSION_COLUMNS} FROM model_versions WHERE name = ? ORDER BY version"
            ))
            .map_err(db(ctx))?;
        let rows = stmt.query_map([name], version_row).map_err(db(ctx))?;
        let mut versions: Vec<ModelVersionRow> = rows.collect::<Result<_, _>>().map_err(db(ctx))?;
        let mut tags = self.tags(name)?;
        for v in &mut versions {
            v.tags = tags.remove(&v.version).unwrap_or_default();
        }
        Ok(versions)
    }

    pub fn model_version(&self, name: &str, version: u32) -> Result<Option<ModelVersionRow>> {
        let ctx = "reading the version";
        let row = self
            .conn
            .query_row(
                &format!(
                    "SELECT {VERSION_COLUMNS} FROM model_versions WHERE name = ? AND version = ?"
                ),
                params![name, version],
                version_row,
            )
            .optional()
            .map_err(db(ctx))?;
        Ok(row.map(|mut v| {
            v.tags = self
                .tags(name)
                .ok()
                .and_then(|mut t| t.remove(&version))
                .unwrap_or_default();
            v
        }))
    }

    fn tags(&self, name: &str) -> Result<BTreeMap<u32, BTreeMap<String, String>>> {
        let ctx = "reading tags";
        let mut stmt = self
            .conn
            .prepare("SELECT version, key, value FROM model_version_tags WHERE name = ?")
            .map_err(db(ctx))?;
        let rows = stmt
            .query_map([name], |r| {
                Ok((r.get::<_, i64>(0)? as u32, r.get(1)?, r.get(2)?))
            })
            .map_err(db(ctx))?;
        let mut out: BTreeMap<u32, BTreeMap<String, String>> = BTreeMap::new();
        for row in rows {
            let (v, k, val): (u32, String, String) = row.map_err(db(ctx))?;
            out.entry(v).or_default().insert(k, val);
        }
        Ok(out)
    }

    /// `(alias, version)` of `name`, by alias.
    pub fn aliases(&self, name: &str) -> Result<Vec<(String, u32)>> {
        let ctx = "reading aliases";
        let mut stmt = self
            .conn
            .prepare("SELECT alias, version FROM model_aliases WHERE name = ? ORDER BY alias")
            .map_err(db(ctx))?;
        let rows = stmt
            .query_map([name], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u32)))
            .map_err(db(ctx))?;
        rows.collect::<Result<_, _>>().map_err(db(ctx))
    }

    /// Every move of `name`'s aliases (or of one), oldest first.
    pub fn alias_moves(&self, name: &str, alias: Option<&str>) -> Result<Vec<AliasMove>> {
        let ctx = "reading alias history";
        let mut stmt = self
            .conn
            .prepare(
                "SELECT name, alias, from_version, to_version, moved_at, actor, key, reason, forced, gate_report_sha256 \
                 FROM alias_moves WHERE name = ?1 AND (?2 IS NULL OR alias = ?2) ORDER BY moved_at, rowid",
            )
            .map_err(db(ctx))?;
        let rows = stmt
            .query_map(params![name, alias], move_row)
            .map_err(db(ctx))?;
        rows.collect::<Result<_, _>>().map_err(db(ctx))
    }

    /// A stored gate report's JSON by its hash.
    pub fn gate_report(&self, sha256: &str) -> Result<Option<String>> {
        self.conn
            .query_row(
                "SELECT report_json FROM gate_reports WHERE sha256 = ?",
                [sha256],
                |r| r.get(0),
            )
            .optional()
            .map_err(db("reading the gate report"))
    }

    /// The newest gate report of a version for an alias, `(sha256, json, at)`.
    pub fn latest_gate_report(
        &self,
        name: &str,
        version: u32,
        alias: &str,
    ) -> Result<Option<(String, String, String)>> {
        self.conn
            .query_row(
                "SELECT sha256, report_json, created_at FROM gate_reports WHERE name = ? AND version = ? AND alias = ? ORDER BY created_at DESC, rowid DESC LIMIT 1",
                params![name, version, alias],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()
            .map_err(db("reading the gate report"))
    }

    /// Approvals of a version (for one alias, or all), oldest first.
    pub fn approvals(
        &self,
        name: &str,
        version: u32,
        alias: Option<&str>,
    ) -> Result<Vec<ApprovalRow>> {
        let ctx = "reading approvals";
        let mut stmt = self
            .conn
            .prepare(
                "SELECT name, version, alias, gate_report_sha256, approval_json, fingerprint, created_at FROM approvals \
                 WHERE name = ?1 AND version = ?2 AND (?3 IS NULL OR alias = ?3) ORDER BY created_at, rowid",
            )
            .map_err(db(ctx))?;
        let rows = stmt
            .query_map(params![name, version, alias], |r| {
                Ok(ApprovalRow {
                    name: r.get(0)?,
                    version: r.get::<_, i64>(1)? as u32,
                    alias: r.get(2)?,
                    gate_report_sha256: r.get(3)?,
                    approval_json: r.get(4)?,
                    fingerprint: r.get(5)?,
                    at: r.get(6)?,
                })
            })
            .map_err(db(ctx))?;
        rows.collect::<Result<_, _>>().map_err(db(ctx))
    }

    /// The newest evidence of `kind` about a version, `(payload JSON, at)`.
    pub fn latest_evidence(
        &self,
        name: &str,
        version: u32,
        kind: &str,
    ) -> Result<Option<(String, String)>> {
        self.conn
            .query_row(
                "SELECT payload_json, created_at FROM evidence WHERE name = ? AND version = ? AND kind = ? \
                 ORDER BY created_at DESC, rowid DESC LIMIT 1",
                params![name, version, kind],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
            .map_err(db("reading evidence"))
    }

    /// The stored policy text of a model (`scope` = its name) or the workspace default (`""`).
    pub fn policy(&self, scope: &str) -> Result<Option<String>> {
        self.conn
            .query_row("SELECT text FROM policies WHERE scope = ?", [scope], |r| {
                r.get(0)
            })
            .optional()
            .map_err(db("reading the policy"))
    }
}
