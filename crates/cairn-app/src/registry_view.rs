//! Reading the registry as the desktop window shows it: one version with the evidence kept
//! about it (its latest gate report per alias, its signed approvals, the alias moves that
//! touched it) and a model's alias history, as DTOs with TypeScript bindings. Reads only;
//! every change goes through `registry.rs`.

use crate::{ModelVersionView, Result, Workspace};
use cairn_core::registry::{Approval, GateReport};
use cairn_store::AliasMove;
use serde::Serialize;
use ts_rs::TS;

/// One move of an alias: a new alias, a move, or a removal (`to_version` null).
#[derive(Debug, Clone, Serialize, TS)]
pub struct AliasMoveView {
    pub alias: String,
    pub from_version: Option<u32>,
    pub to_version: Option<u32>,
    /// RFC 3339.
    pub at: String,
    pub actor: String,
    /// The requester's key fingerprint, when the move was requested with a key.
    pub key: Option<String>,
    pub reason: String,
    pub forced: bool,
    pub gate_report_sha256: Option<String>,
}

impl From<AliasMove> for AliasMoveView {
    fn from(m: AliasMove) -> Self {
        AliasMoveView {
            alias: m.alias,
            from_version: m.from_version,
            to_version: m.to_version,
            at: m.at,
            actor: m.actor,
            key: m.key,
            reason: m.reason,
            forced: m.forced,
            gate_report_sha256: m.gate_report_sha256,
        }
    }
}

/// The newest gate report stored for a version and an alias (by a promotion, refused or not,
/// or an approval).
#[derive(Debug, Clone, Serialize, TS)]
pub struct StoredGateReport {
    pub alias: String,
    pub sha256: String,
    /// When it was stored, RFC 3339.
    pub at: String,
    pub report: GateReport,
}

/// One model as its page shows it: the summary, every version (archived ones included), the
/// policy in force and every alias move (`cairn registry show NAME --json` and the desktop).
#[derive(Debug, Clone, Serialize, TS)]
pub struct ModelPage {
    pub model: crate::ModelSummary,
    pub versions: Vec<ModelVersionView>,
    /// The policy in force (the model's own, else the workspace default), as TOML text.
    pub policy: Option<String>,
    /// The model's name, or `workspace default`.
    pub policy_scope: Option<String>,
    /// Every move of the model's aliases, oldest first.
    pub moves: Vec<AliasMoveView>,
}

/// One registered version and the evidence kept about it.
#[derive(Debug, Clone, Serialize, TS)]
pub struct VersionEvidence {
    pub version: ModelVersionView,
    /// The aliases the policy in force names (what this version may be promoted to with gates).
    pub policy_aliases: Vec<String>,
    /// The newest stored report per alias, by alias.
    pub gate_reports: Vec<StoredGateReport>,
    /// Every approval signed for this version, oldest first.
    pub approvals: Vec<Approval>,
    /// The alias moves to or from this version, oldest first.
    pub moves: Vec<AliasMoveView>,
}

impl Workspace {
    /// `text`'s version (`NAME@N`, `NAME@alias`, `NAME`) with its gate reports, approvals
    /// and the alias moves that touched it.
    pub fn version_evidence(&self, text: &str) -> Result<VersionEvidence> {
        let row = self.resolve_model(text)?;
        let policy_aliases: Vec<String> = self.policy_for(&row.name)?.aliases.into_keys().collect();
        let all_moves = self.store.alias_moves(&row.name, None)?;
        let stored = self.store.approvals(&row.name, row.version, None)?;
        let mut aliases: Vec<String> = policy_aliases.clone();
        aliases.extend(all_moves.iter().map(|m| m.alias.clone()));
        aliases.extend(stored.iter().map(|a| a.alias.clone()));
        aliases.sort();
        aliases.dedup();
        let mut gate_reports = Vec::new();
        for alias in aliases {
            if let Some((sha256, json, at)) =
                self.store
                    .latest_gate_report(&row.name, row.version, &alias)?
            {
                let report: GateReport = serde_json::from_str(&json).map_err(|e| {
                    crate::AppError::new(
                        crate::ErrorCode::Internal,
                        format!(
                            "the gate report {} of {}@{} does not read ({e}); the workspace is damaged",
                            &sha256[..12.min(sha256.len())],
                            row.name,
                            row.version
                        ),
                    )
                })?;
                gate_reports.push(StoredGateReport {
                    alias,
                    sha256,
                    at,
                    report,
                });
            }
        }
        let approvals = stored
            .into_iter()
            .filter_map(|a| serde_json::from_str(&a.approval_json).ok())
            .collect();
        let moves = all_moves
            .into_iter()
            .filter(|m| m.to_version == Some(row.version) || m.from_version == Some(row.version))
            .map(AliasMoveView::from)
            .collect();
        Ok(VersionEvidence {
            version: self.model_version(&format!("{}@{}", row.name, row.version))?,
            policy_aliases,
            gate_reports,
            approvals,
            moves,
        })
    }

    /// `name`'s page: its versions, policy, and every move of its aliases.
    pub fn model_page(&self, name: &str) -> Result<ModelPage> {
        let detail = self.model_detail(name)?;
        let moves = self
            .alias_history(name, None, None)?
            .moves
            .into_iter()
            .map(AliasMoveView::from)
            .collect();
        Ok(ModelPage {
            model: detail.model,
            versions: detail.versions,
            policy: detail.policy,
            policy_scope: detail.policy_scope,
            moves,
        })
    }
}

/// The registry and audit DTOs for the generated TypeScript bindings.
pub(crate) fn declarations(cfg: &ts_rs::Config) -> Vec<String> {
    use cairn_core::registry::{ApprovalClaim, GateCheck, InputColumn};
    use cairn_core::{audit, registry};
    vec![
        crate::AliasPointer::decl(cfg),
        crate::ModelSummary::decl(cfg),
        ModelPage::decl(cfg),
        crate::ModelVersionView::decl(cfg),
        crate::ModelVersionRecord::decl(cfg),
        InputColumn::decl(cfg),
        registry::ReferenceSketch::decl(cfg),
        registry::ColumnSketch::decl(cfg),
        registry::NumericSketch::decl(cfg),
        GateCheck::decl(cfg),
        registry::CheckFacts::decl(cfg),
        GateReport::decl(cfg),
        ApprovalClaim::decl(cfg),
        Approval::decl(cfg),
        crate::PromotionOutcome::decl(cfg),
        crate::ApprovalOutcome::decl(cfg),
        AliasMoveView::decl(cfg),
        StoredGateReport::decl(cfg),
        VersionEvidence::decl(cfg),
        audit::AuditEntry::decl(cfg),
        audit::ChainBreak::decl(cfg),
        crate::CheckpointStatus::decl(cfg),
        crate::AuditReport::decl(cfg),
        crate::ServedArm::decl(cfg),
        crate::ServedName::decl(cfg),
        crate::ServeEvent::decl(cfg),
        crate::ServeStatus::decl(cfg),
        crate::RecentRequest::decl(cfg),
        crate::PhaseShare::decl(cfg),
        crate::LoadTestOutcome::decl(cfg),
        cairn_serve::loadtest::LoadReport::decl(cfg),
        cairn_serve::loadtest::Percentiles::decl(cfg),
        cairn_serve::loadtest::Second::decl(cfg),
        cairn_serve::loadtest::Bar::decl(cfg),
        cairn_serve::loadtest::ObjectiveResult::decl(cfg),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_move_keeps_every_field_but_the_model_name() {
        let m = AliasMove {
            name: "iris".into(),
            alias: "production".into(),
            from_version: Some(1),
            to_version: Some(2),
            at: "2026-12-07T10:00:00.000Z".into(),
            actor: "ana".into(),
            key: Some("0123456789abcdef".into()),
            reason: "rollback drill".into(),
            forced: true,
            gate_report_sha256: Some("ab".repeat(32)),
        };
        let v = AliasMoveView::from(m);
        assert_eq!(
            (v.alias.as_str(), v.from_version, v.to_version, v.forced),
            ("production", Some(1), Some(2), true)
        );
        assert_eq!(v.reason, "rollback drill");
        assert_eq!(v.key.as_deref(), Some("0123456789abcdef"));
    }
}
