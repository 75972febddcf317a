//! The model registry (docs/registry.md): registering a run's (or a bundle file's) model as an
//! immutable version with its signature and reference sketch; aliases that move only through
//! the gates of a policy and signed approvals; the history of every move. Every change commits
//! with its audit entry in one transaction (`Store::atomically`).

use crate::train::{PREPROCESSING, WEIGHTS};
use crate::{AppError, ErrorCode, Result, Workspace};
use cairn_core::registry::{
    AliasPolicy, Approval, ApprovalClaim, CheckFacts, GATE_REPORT_FORMAT, GateCheck, GatePolicy,
    GateReport, InputColumn, ModelRef, ReferenceSketch, VersionPick, metric_checks, validate_alias,
    validate_model_name,
};
use cairn_store::{AliasMove, ApprovalRow, ModelVersionRow, NewModelVersion, Record};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;
use std::path::Path;

/// The format of [`ModelVersionRecord`]; bumped when a field's meaning changes.
pub const VERSION_RECORD_FORMAT: u32 = 1;

/// What a registered version records about its model, fixed at registration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct ModelVersionRecord {
    pub format_version: u32,
    pub run_id: String,
    pub run_name: String,
    /// The model kind (`mlp`, `logistic`, …).
    pub model_kind: String,
    pub target: String,
    /// The training data version (`NAME@N`) and its content hash.
    pub data: Option<String>,
    pub data_hash: String,
    pub signature: Vec<InputColumn>,
    /// The held-out test metrics (`test_*`).
    pub test_metrics: BTreeMap<String, f64>,
    pub reference: Option<ReferenceSketch>,
    /// The SHA-256 of the stored bundle file (its key in the artifact store).
    pub bundle_sha256: String,
    /// The root hash of the bundle's model entries (what gate reports and approvals name).
    pub bundle_root: String,
    pub bundle_bytes: u64,
}

/// A model version as shown.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ModelVersionView {
    pub name: String,
    pub version: u32,
    pub created_at: String,
    pub created_by: String,
    pub description: String,
    pub archived_at: Option<String>,
    pub archive_reason: Option<String>,
    pub tags: BTreeMap<String, String>,
    /// Aliases that point at this version now.
    pub aliases: Vec<String>,
    pub record: ModelVersionRecord,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct AliasPointer {
    pub alias: String,
    pub version: u32,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ModelSummary {
    pub name: String,
    pub description: String,
    pub created_at: String,
    pub versions: u32,
    pub latest: u32,
    pub aliases: Vec<AliasPointer>,
}

/// A model with its versions (read by [`Workspace::model_page`], the shape shown).
#[derive(Debug, Clone, Serialize)]
pub(crate) struct ModelDetail {
    pub model: ModelSummary,
    pub versions: Vec<ModelVersionView>,
    /// The policy in force (the model's own, else the workspace default), as TOML text.
    pub policy: Option<String>,
    pub policy_scope: Option<String>,
}

/// The outcome of a promotion (or of evaluating one).
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct PromotionOutcome {
    pub model: String,
    pub version: u32,
    pub alias: String,
    pub from_version: Option<u32>,
    /// Whether the alias moved.
    pub moved: bool,
    pub forced: bool,
    pub reason: String,
    pub report: GateReport,
    pub gate_report_sha256: String,
    pub approvals: GateCheck,
    /// Whether every gate and the approvals passed.
    pub passed: bool,
}

#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ApprovalOutcome {
    pub approval: Approval,
    /// Approvals counted for this alias now (valid, trusted, for the current gate report).
    pub counted: usize,
    pub required: u32,
}

/// Which version an alias pointed at, at a time.
#[derive(Debug, Clone, Serialize)]
pub struct AliasAt {
    pub alias: String,
    pub version: Option<u32>,
    /// When it started pointing there.
    pub since: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AliasHistory {
    pub model: String,
    pub moves: Vec<AliasMove>,
    /// With `--at`: where each alias pointed then.
    pub at: Option<String>,
    pub pointing: Vec<AliasAt>,
}

/// How `promote` may proceed.
#[derive(Debug, Clone, Default)]
pub struct PromoteOptions {
    /// Move the alias even though gates fail (needs `reason`).
    pub force: bool,
    pub reason: Option<String>,
    /// The requester's secret key file: signs the request; with `separate_duties` its
    /// approval does not count.
    pub key: Option<std::path::PathBuf>,
    /// Only evaluate: store nothing, move nothing.
    pub dry_run: bool,
}

/// Options of `register`.
#[derive(Debug, Clone, Default)]
pub struct RegisterOptions {
    pub description: String,
    pub tags: BTreeMap<String, String>,
}

fn model_subject(name: &str, version: u32) -> String {
    format!("model:{name}@{version}")
}

/// The kinds of evidence later gates read from `evidence` (filled by eval, drift, loadtest).
const EVIDENCE_HINTS: [(&str, &str); 2] = [
    ("worst_slice", "`cairn eval NAME@N --data REF --slice COL`"),
    ("drift", "`cairn drift NAME@N CURRENT`"),
];

impl Workspace {
    // ---- reading ------------------------------------------------------------------------

    /// The error for a model name that is not registered, listing those that are.
    fn unknown_model(&self, name: &str) -> AppError {
        let names: Vec<String> = self
            .store
            .registered_models()
            .unwrap_or_default()
            .into_iter()
            .map(|m| m.name)
            .collect();
        AppError::new(
            ErrorCode::NotFound,
            if names.is_empty() {
                format!(
                    "no registered model `{}`: the registry is empty; register one with \
                         `cairn registry register RUN --name {}`",
                    name, name
                )
            } else {
                format!(
                    "no registered model `{}`; registered models: {}",
                    name,
                    names.join(", ")
                )
            },
        )
    }

    /// Resolves `NAME`, `NAME@N` or `NAME@alias` to a stored version.
    pub(crate) fn resolve_model(&self, text: &str) -> Result<ModelVersionRow> {
        let r = ModelRef::parse(text).map_err(AppError::invalid)?;
        let model = self
            .store
            .registered_model(&r.name)?
            .ok_or_else(|| self.unknown_model(&r.name))?;
        let number = match &r.pick {
            VersionPick::Number(n) => *n,
            VersionPick::Latest => self
                .store
                .model_versions(&r.name)?
                .into_iter()
                .rev()
                .find(|v| v.archived_at.is_none())
                .map(|v| v.version)
                .ok_or_else(|| {
                    AppError::new(
                        ErrorCode::NotFound,
                        format!("model `{}` has no version that is not archived", r.name),
                    )
                })?,
            VersionPick::Alias(a) => model
                .aliases
                .iter()
                .find(|(alias, _)| alias == a)
                .map(|(_, v)| *v)
                .ok_or_else(|| {
                    let known: Vec<String> = model
                        .aliases
                        .iter()
                        .map(|(a, v)| format!("{a} → v{v}"))
                        .collect();
                    AppError::new(
                        ErrorCode::NotFound,
                        format!(
                            "model `{}` has no alias `{a}`{}",
                            r.name,
                            if known.is_empty() {
                                "; it has no aliases yet (`cairn registry promote`)".to_string()
                            } else {
                                format!("; its aliases: {}", known.join(", "))
                            }
                        ),
                    )
                })?,
        };
        self.store.model_version(&r.name, number)?.ok_or_else(|| {
            AppError::new(
                ErrorCode::NotFound,
                format!(
                    "model `{}` has no version {number}; its versions are 1 to {}",
                    r.name, model.latest
                ),
            )
        })
    }

    /// The run behind `key` when it names a model version (`NAME@N`, `NAME@alias`).
    pub(crate) fn model_run_id(&self, key: &str) -> Result<Option<String>> {
        let Some((name, _)) = key.split_once('@') else {
            return Ok(None);
        };
        if self.store.registered_model(name)?.is_none() {
            return Ok(None);
        }
        let row = self.resolve_model(key)?;
        Ok(Some(row.run_id.ok_or_else(|| {
            AppError::invalid(format!(
                "{key} was registered from a bundle without its run"
            ))
        })?))
    }

    fn view(&self, row: ModelVersionRow) -> Result<ModelVersionView> {
        let record: ModelVersionRecord = serde_json::from_str(&row.record_json).map_err(|e| {
            AppError::new(
                ErrorCode::Internal,
                format!(
                    "the record of {}@{} does not read ({e}); the workspace is damaged",
                    row.name, row.version
                ),
            )
        })?;
        let aliases = self
            .store
            .aliases(&row.name)?
            .into_iter()
            .filter(|(_, v)| *v == row.version)
            .map(|(a, _)| a)
            .collect();
        Ok(ModelVersionView {
            name: row.name,
            version: row.version,
            created_at: row.created_at,
            created_by: row.created_by,
            description: row.description,
            archived_at: row.archived_at,
            archive_reason: row.archive_reason,
            tags: row.tags,
            aliases,
            record,
        })
    }

    pub fn registered_models(&self) -> Result<Vec<ModelSummary>> {
        Ok(self
            .store
            .registered_models()?
            .into_iter()
            .map(|m| ModelSummary {
                name: m.name,
                description: m.description,
                created_at: m.created_at,
                versions: m.versions,
                latest: m.latest,
                aliases: m
                    .aliases
                    .into_iter()
                    .map(|(alias, version)| AliasPointer { alias, version })
                    .collect(),
            })
            .collect())
    }

    /// A model with every version (archived ones included).
    pub(crate) fn model_detail(&self, name: &str) -> Result<ModelDetail> {
        validate_model_name(name).map_err(AppError::invalid)?;
        let model = self
            .registered_models()?
            .into_iter()
            .find(|m| m.name == name)
            .ok_or_else(|| self.unknown_model(name))?;
        let versions = self
            .store
            .model_versions(name)?
            .into_iter()
            .map(|r| self.view(r))
            .collect::<Result<_>>()?;
        let (policy, scope) = match self.store.policy(name)? {
            Some(p) => (Some(p), Some(name.to_string())),
            None => match self.store.policy("")? {
                Some(p) => (Some(p), Some("workspace default".to_string())),
                None => (None, None),
            },
        };
        Ok(ModelDetail {
            model,
            versions,
            policy,
            policy_scope: scope,
        })
    }

    /// One version by `NAME@N`, `NAME@alias` or `NAME` (the latest).
    pub fn model_version(&self, text: &str) -> Result<ModelVersionView> {
        let row = self.resolve_model(text)?;
        self.view(row)
    }

    // ---- registering --------------------------------------------------------------------

    /// Registers the model of a finished run as the next version of `name`.
    pub fn register_run(
        &mut self,
        run_key: &str,
        name: &str,
        opts: &RegisterOptions,
    ) -> Result<ModelVersionView> {
        validate_model_name(name).map_err(AppError::invalid)?;
        let root = self.root().to_path_buf();
        let (run_id, bytes, report) = self.bundle_bytes(run_key, &root)?;
        self.register_bytes(&run_id, name, bytes, report, opts, None)
    }

    /// Registers a bundle file (verified first; its run is imported when missing).
    pub fn register_bundle(
        &mut self,
        path: &Path,
        name: &str,
        opts: &RegisterOptions,
    ) -> Result<ModelVersionView> {
        validate_model_name(name).map_err(AppError::invalid)?;
        let bundle = crate::read_bundle(path, &[])?;
        let bytes = std::fs::read(path)
            .map_err(|e| AppError::io(format!("reading {}", path.display()), e))?;
        let run_id = bundle.run_id().to_string();
        let report = cairn_bundle::verify(&path.display().to_string(), &bytes)?;
        if report.registry.is_some() {
            return Err(AppError::invalid(format!(
                "{} was exported from a registry (it holds `registry/` evidence); register the \
                 bundle its run was exported as, or import it with `cairn bundle import`",
                path.display()
            )));
        }
        if self.store.find_run(&run_id).is_err() {
            self.import_verified_bundle(bundle)?;
        }
        self.register_bytes(
            &run_id,
            name,
            bytes,
            report,
            opts,
            Some(path.display().to_string()),
        )
    }

    fn register_bytes(
        &mut self,
        run_id: &str,
        name: &str,
        bytes: Vec<u8>,
        report: cairn_bundle::VerifyReport,
        opts: &RegisterOptions,
        from_file: Option<String>,
    ) -> Result<ModelVersionView> {
        let detail = self.run(run_id)?;
        let run = &detail.run;
        let entries = cairn_bundle::verify_and_read("the bundle", &bytes, &[])?.1;
        let pre: Option<cairn_train::Preprocessor> = entries
            .get(PREPROCESSING)
            .and_then(|b| serde_json::from_slice(b).ok());
        let version = self.resolve_dataset(&run.dataset).ok();
        let feature_columns: Vec<String> = pre
            .as_ref()
            .map(|p| p.features.iter().map(|f| f.column().to_string()).collect())
            .unwrap_or_default();
        let reference = match &version {
            Some(v) => {
                let mut cols = feature_columns.clone();
                cols.push(run.target.clone());
                Some(self.store.reference_sketch(v, &cols)?)
            }
            None => None,
        };
        let signature = signature(pre.as_ref(), reference.as_ref(), version.as_ref());
        let bundle_sha256 = self.artifacts.put(&bytes)?;
        let record = ModelVersionRecord {
            format_version: VERSION_RECORD_FORMAT,
            run_id: run.id.as_str().to_string(),
            run_name: run.name.clone(),
            model_kind: run.model.clone(),
            target: run.target.clone(),
            data: version.as_ref().map(|v| v.label()),
            data_hash: run.dataset_hash.clone(),
            signature,
            test_metrics: run
                .metrics
                .iter()
                .filter(|(k, _)| k.starts_with("test_"))
                .map(|(k, v)| (k.clone(), *v))
                .collect(),
            reference,
            bundle_root: report.manifest.model_root(),
            bundle_sha256: bundle_sha256.clone(),
            bundle_bytes: bytes.len() as u64,
        };
        let new = NewModelVersion {
            name: name.to_string(),
            run_id: Some(record.run_id.clone()),
            bundle_sha256: bundle_sha256.clone(),
            bundle_root: record.bundle_root.clone(),
            bundle_bytes: record.bundle_bytes,
            data_hash: Some(record.data_hash.clone()),
            record_json: serde_json::to_string(&record).expect("a record serialises"),
            description: opts.description.clone(),
            tags: opts.tags.clone(),
        };
        let at = cairn_core::now_rfc3339();
        let root = self.root().to_path_buf();
        let number = self.store.atomically(|tx| {
            let n = tx.insert_version(&new, &at)?;
            tx.audit(&[Record::new(
                "registry.register",
                model_subject(name, n),
                json!({
                    "run": record.run_id,
                    "bundle_sha256": bundle_sha256,
                    "bundle_root": record.bundle_root,
                    "data_hash": record.data_hash,
                    "from_file": from_file,
                    "test_metrics": record.test_metrics,
                }),
            )])?;
            crate::failpoint::pause("registry.register", &root);
            Ok(n)
        })?;
        self.model_version(&format!("{name}@{number}"))
    }

    /// Hides a version from `NAME` (latest) and from promotion; it stays readable.
    pub fn archive_version(&mut self, text: &str, reason: &str) -> Result<ModelVersionView> {
        let row = self.resolve_model(text)?;
        if reason.trim().is_empty() {
            return Err(AppError::invalid(
                "archiving needs a reason (--reason TEXT): it is kept in the audit log",
            ));
        }
        if row.archived_at.is_some() {
            return Err(AppError::invalid(format!(
                "{}@{} is already archived",
                row.name, row.version
            )));
        }
        let pointing: Vec<String> = self
            .store
            .aliases(&row.name)?
            .into_iter()
            .filter(|(_, v)| *v == row.version)
            .map(|(a, _)| a)
            .collect();
        if !pointing.is_empty() {
            return Err(AppError::invalid(format!(
                "{}@{} is what alias {} points at; move the alias first",
                row.name,
                row.version,
                pointing.join(", ")
            )));
        }
        let at = cairn_core::now_rfc3339();
        self.store.atomically(|tx| {
            tx.archive_version(&row.name, row.version, reason, &at)?;
            tx.audit(&[Record::new(
                "registry.archive",
                model_subject(&row.name, row.version),
                json!({"reason": reason}),
            )])
        })?;
        self.model_version(&format!("{}@{}", row.name, row.version))
    }

    /// Sets (`Some`) or removes (`None`) a tag of a version.
    pub fn tag_version(
        &mut self,
        text: &str,
        key: &str,
        value: Option<&str>,
    ) -> Result<ModelVersionView> {
        let row = self.resolve_model(text)?;
        if key.is_empty() || key.len() > 250 {
            return Err(AppError::invalid("a tag key is 1–250 characters"));
        }
        self.store.atomically(|tx| {
            tx.set_tag(&row.name, row.version, key, value)?;
            tx.audit(&[Record::new(
                "registry.tag",
                model_subject(&row.name, row.version),
                json!({"key": key, "value": value}),
            )])
        })?;
        self.model_version(&format!("{}@{}", row.name, row.version))
    }

    /// Sets the description of a model (`NAME`) or of a version (`NAME@N`).
    pub fn describe_model(&mut self, text: &str, description: &str) -> Result<()> {
        let r = ModelRef::parse(text).map_err(AppError::invalid)?;
        let version = match r.pick {
            VersionPick::Latest if !text.contains('@') => {
                self.store
                    .registered_model(&r.name)?
                    .ok_or_else(|| self.unknown_model(&r.name))?;
                None
            }
            _ => Some(self.resolve_model(text)?.version),
        };
        let subject = match version {
            Some(v) => model_subject(&r.name, v),
            None => format!("model:{}", r.name),
        };
        self.store.atomically(|tx| {
            tx.set_description(&r.name, version, description)?;
            tx.audit(&[Record::new(
                "registry.describe",
                subject,
                json!({"description": description}),
            )])
        })?;
        Ok(())
    }

    // ---- policies -----------------------------------------------------------------------

    /// Stores a policy for `model` (or the workspace default when `None`) from a TOML file;
    /// errors name the file, line and column.
    pub fn set_policy(&mut self, model: Option<&str>, file: &Path) -> Result<GatePolicy> {
        let text = std::fs::read_to_string(file)
            .map_err(|e| AppError::io(format!("reading {}", file.display()), e))?;
        let policy = GatePolicy::parse(&text)
            .map_err(|e| AppError::invalid(format!("{}: {e}", file.display())))?;
        for (alias, p) in &policy.aliases {
            trusted_keys(alias, p)
                .map_err(|e| AppError::invalid(format!("{}: {e}", file.display())))?;
        }
        if let Some(m) = model {
            self.store
                .registered_model(m)?
                .ok_or_else(|| self.unknown_model(m))?;
        }
        let scope = model.unwrap_or("");
        let at = cairn_core::now_rfc3339();
        self.store.atomically(|tx| {
            tx.set_policy(scope, Some(&text), &at)?;
            tx.audit(&[Record::new(
                "registry.policy",
                match model {
                    Some(m) => format!("model:{m}"),
                    None => "workspace".to_string(),
                },
                json!({"sha256": cairn_core::sha256_hex(text.as_bytes()), "text": text}),
            )])
        })?;
        Ok(policy)
    }

    /// The workspace's default policy text, if one is set.
    pub fn workspace_policy(&self) -> Result<Option<String>> {
        Ok(self.store.policy("")?)
    }

    /// The policy in force for `model`: its own, else the workspace default, else none.
    pub(crate) fn policy_for(&self, model: &str) -> Result<GatePolicy> {
        let text = match self.store.policy(model)? {
            Some(t) => Some(t),
            None => self.store.policy("")?,
        };
        match text {
            None => Ok(GatePolicy::default()),
            Some(t) => GatePolicy::parse(&t).map_err(|e| {
                AppError::new(
                    ErrorCode::Internal,
                    format!("the stored policy of `{model}` does not parse ({e}); set it again"),
                )
            }),
        }
    }

    // ---- gates, promotion, approvals ----------------------------------------------------

    /// Evaluates every gate of `alias` for `row` (approvals apart).
    fn gate_report(
        &self,
        row: &ModelVersionRow,
        alias: &str,
        p: &AliasPolicy,
    ) -> Result<GateReport> {
        let record: ModelVersionRecord = self.view(row.clone())?.record;
        let current = self
            .store
            .aliases(&row.name)?
            .into_iter()
            .find(|(a, _)| a == alias)
            .map(|(_, v)| v);
        let mut checks = Vec::new();
        // The bundle is the thing promoted: it must still be whole.
        let bundle_check = match self.artifacts.get(&record.bundle_sha256) {
            Err(e) => (
                false,
                format!("the stored bundle cannot be read: {}", e.message),
            ),
            Ok(bytes) => match cairn_bundle::verify("the stored bundle", &bytes) {
                Ok(r) if r.ok() && cairn_core::sha256_hex(&bytes) == record.bundle_sha256 => {
                    (true, String::new())
                }
                Ok(r) => (
                    false,
                    format!(
                        "the stored bundle does not verify: {}",
                        r.problems
                            .iter()
                            .map(|p| format!("{}: {}", p.entry, p.issue))
                            .collect::<Vec<_>>()
                            .join("; ")
                    ),
                ),
                Err(e) => (false, format!("the stored bundle does not verify: {e}")),
            },
        };
        checks.push(GateCheck {
            check: "bundle_verifies".into(),
            value: Some(if bundle_check.0 { "yes" } else { "no" }.into()),
            threshold: "yes".into(),
            passed: bundle_check.0,
            detail: bundle_check.1,
            facts: CheckFacts::code(if bundle_check.0 {
                "ok"
            } else {
                "bundle_invalid"
            }),
        });
        let current_metrics = match current {
            Some(v) => match self.store.model_version(&row.name, v)? {
                Some(cur) => Some((v, self.view(cur)?.record.test_metrics)),
                None => None,
            },
            None => None,
        };
        checks.extend(metric_checks(
            &p.metrics,
            &record.test_metrics,
            current_metrics.as_ref().map(|(v, m)| (*v, m)),
        ));
        if p.data_quality {
            let (passed, value, detail, code, dataset) = match record
                .data
                .as_deref()
                .map(|d| self.resolve_dataset(d))
            {
                None | Some(Err(_)) => (
                    false,
                    None,
                    format!(
                        "the training data (hash {}) is not in this workspace, so its quality \
                         cannot be shown",
                        record.data_hash.get(..12).unwrap_or(&record.data_hash)
                    ),
                    "no_data",
                    None,
                ),
                Some(Ok(v)) => match self.store.last_quality_report(&v)? {
                    None => (
                        false,
                        None,
                        format!(
                            "{} has no quality report; check it with `cairn data check {} --rules FILE`",
                            v.label(),
                            v.label()
                        ),
                        "quality_missing",
                        Some(v.label()),
                    ),
                    Some(q) if q.passed => (
                        true,
                        Some("passed".into()),
                        String::new(),
                        "ok",
                        Some(v.label()),
                    ),
                    Some(q) => (
                        false,
                        Some("failed".into()),
                        format!(
                            "{}'s last quality check ({}) failed: {}",
                            v.label(),
                            q.checked_at,
                            q.results
                                .iter()
                                .filter(|r| !r.passed)
                                .map(|r| r.name.clone())
                                .collect::<Vec<_>>()
                                .join(", ")
                        ),
                        "quality_failed",
                        Some(v.label()),
                    ),
                },
            };
            checks.push(GateCheck {
                check: "data_quality".into(),
                value,
                threshold: "passed".into(),
                passed,
                detail,
                facts: CheckFacts {
                    dataset,
                    command: (code == "quality_missing").then(|| "cairn data check".to_string()),
                    ..CheckFacts::code(code)
                },
            });
        }
        if p.reproduce {
            let (passed, value, detail) = match self.store.latest_evidence(
                &row.name,
                row.version,
                "reproduce",
            )? {
                None => (
                    false,
                    None,
                    format!(
                        "no reproduction is recorded for {}@{}; run `cairn registry reproduce {}@{}`",
                        row.name, row.version, row.name, row.version
                    ),
                ),
                Some((json, at)) => {
                    let matches = serde_json::from_str::<serde_json::Value>(&json)
                        .ok()
                        .and_then(|v| v["matches"].as_bool())
                        .unwrap_or(false);
                    (
                        matches,
                        Some(if matches { "matched" } else { "differed" }.into()),
                        if matches {
                            format!("reproduced {at}")
                        } else {
                            format!(
                                "the reproduction of {at} did not match: see `cairn audit log --subject model:{}@{}`",
                                row.name, row.version
                            )
                        },
                    )
                }
            };
            checks.push(GateCheck {
                check: "reproduce".into(),
                facts: CheckFacts {
                    command: Some(format!(
                        "cairn registry reproduce {}@{}",
                        row.name, row.version
                    )),
                    ..CheckFacts::code(match value.as_deref() {
                        None => "reproduce_missing",
                        Some("matched") => "ok",
                        _ => "reproduce_differed",
                    })
                },
                value,
                threshold: "matched".into(),
                passed,
                detail,
            });
        }
        if let Some(l) = &p.latency {
            let threshold = format!("p99 ≤ {} ms", l.p99_ms);
            let hint = "cairn loadtest NAME@N --rate R --duration D";
            let check = match self
                .store
                .latest_evidence(&row.name, row.version, "latency")?
            {
                None => GateCheck {
                    check: "latency".into(),
                    value: None,
                    threshold,
                    passed: false,
                    detail: format!(
                        "no load test is recorded for {}@{}; run `cairn loadtest {}@{} --rate R --duration D`",
                        row.name, row.version, row.name, row.version
                    ),
                    facts: CheckFacts {
                        command: Some(hint.into()),
                        ..CheckFacts::code("evidence_missing")
                    },
                },
                Some((json, at)) => {
                    let v: serde_json::Value = serde_json::from_str(&json).unwrap_or_default();
                    let p99_ms = v["report"]["corrected"]["p99"].as_f64().map(|us| us / 1e3);
                    let rate = v["report"]["rate"].as_f64().unwrap_or(0.0);
                    let passed = p99_ms.is_some_and(|x| x <= l.p99_ms);
                    GateCheck {
                        check: "latency".into(),
                        value: p99_ms.map(|x| format!("{x:.3} ms")),
                        threshold,
                        passed,
                        detail: format!(
                            "the load test of {at} at {rate} requests/s measured a corrected p99 of {}",
                            p99_ms.map_or("nothing".into(), |x| format!("{x:.3} ms"))
                        ),
                        facts: CheckFacts {
                            command: (!passed).then(|| hint.to_string()),
                            ..CheckFacts::code(if passed { "ok" } else { "latency_over" })
                        },
                    }
                }
            };
            checks.push(check);
        }
        let evidence_gates: Vec<(&str, String, bool)> = [
            (
                "worst_slice",
                p.worst_slice
                    .as_ref()
                    .map(|w| format!("worst slice {} ≥ {}", w.metric, w.threshold))
                    .unwrap_or_default(),
                p.worst_slice.is_some(),
            ),
            (
                "drift",
                p.drift
                    .as_ref()
                    .map(|d| format!("drifted share ≤ {}", d.max_drift_share))
                    .unwrap_or_default(),
                p.drift.is_some(),
            ),
        ]
        .into_iter()
        .filter(|(_, _, on)| *on)
        .collect();
        for (kind, threshold, _) in evidence_gates {
            let hint = EVIDENCE_HINTS
                .iter()
                .find(|(k, _)| *k == kind)
                .map_or("the command that records it", |(_, h)| *h);
            checks.push(GateCheck {
                check: kind.into(),
                value: None,
                threshold,
                passed: false,
                detail: format!(
                    "no {kind} evidence is recorded for {}@{}; produce it with {hint}",
                    row.name, row.version
                ),
                facts: CheckFacts {
                    command: Some(hint.trim_matches('`').to_string()),
                    ..CheckFacts::code("evidence_missing")
                },
            });
        }
        let passed = checks.iter().all(|c| c.passed);
        Ok(GateReport {
            format_version: GATE_REPORT_FORMAT,
            model: row.name.clone(),
            version: row.version,
            alias: alias.to_string(),
            bundle_root: record.bundle_root,
            current_version: current,
            checks,
            passed,
        })
    }

    /// The approvals check: valid signatures by trusted keys over `report_sha`, distinct
    /// keys, the requester's not counted under `separate_duties`.
    fn approvals_check(
        &self,
        row: &ModelVersionRow,
        alias: &str,
        p: &AliasPolicy,
        report_sha: &str,
        requester: Option<&str>,
    ) -> Result<(GateCheck, Vec<String>)> {
        let required = p.approvals;
        let trusted = trusted_keys(alias, p).map_err(AppError::invalid)?;
        let mut counted: Vec<String> = Vec::new();
        let (mut stale, mut requester_excluded) = (0u32, false);
        let mut notes: Vec<String> = Vec::new();
        for a in self.store.approvals(&row.name, row.version, Some(alias))? {
            let Ok(approval) = serde_json::from_str::<Approval>(&a.approval_json) else {
                notes.push(format!(
                    "a stored approval by {} does not read",
                    a.fingerprint
                ));
                continue;
            };
            let valid = cairn_bundle::PublicKey::from_text(&approval.public_key)
                .map(|k| k.verifies(&approval.claim.message(), &approval.signature))
                .unwrap_or(false);
            if !valid {
                notes.push(format!(
                    "the approval by {} has a bad signature",
                    a.fingerprint
                ));
            } else if !trusted.iter().any(|k| k.fingerprint() == a.fingerprint) {
                notes.push(format!("{} is no longer a trusted key", a.fingerprint));
            } else if approval.claim.gate_report_sha256 != report_sha {
                stale += 1;
                notes.push(format!(
                    "the approval by {} signed an earlier gate report (the evidence has changed since): approve again",
                    a.fingerprint
                ));
            } else if p.separate_duties && requester == Some(a.fingerprint.as_str()) {
                requester_excluded = true;
                notes.push(format!(
                    "the requester's own approval ({}) does not count (separate_duties)",
                    a.fingerprint
                ));
            } else if !counted.contains(&a.fingerprint) {
                counted.push(a.fingerprint.clone());
            }
        }
        let mut passed = counted.len() >= required as usize;
        let needs_requester = required > 0 && p.separate_duties && requester.is_none();
        if needs_requester {
            passed = false;
            notes.push(
                "separate_duties is on: name the requester with --key so that its approval is not counted"
                    .into(),
            );
        }
        let mut detail = if counted.is_empty() {
            String::new()
        } else {
            format!("approved by {}", counted.join(", "))
        };
        if !notes.is_empty() {
            if !detail.is_empty() {
                detail.push_str("; ");
            }
            detail.push_str(&notes.join("; "));
        }
        if !passed && required > 0 && counted.len() < required as usize {
            if !detail.is_empty() {
                detail.push_str("; ");
            }
            detail.push_str(&format!(
                "approve with `cairn registry approve {}@{} --alias {alias} --key KEY`",
                row.name, row.version
            ));
        }
        Ok((
            GateCheck {
                check: "approvals".into(),
                value: Some(format!("{} of {required}", counted.len())),
                threshold: format!("{required} approvals"),
                passed,
                detail,
                facts: CheckFacts {
                    counted: Some(counted.len() as u32),
                    required: Some(required),
                    requester_excluded: Some(requester_excluded),
                    stale: Some(stale),
                    needs_requester: Some(needs_requester),
                    ..CheckFacts::code(if passed { "ok" } else { "approvals" })
                },
            },
            counted,
        ))
    }

    /// Evaluates the gates of moving `alias` to `text`'s version and, when they pass (or
    /// with `force` and a reason), moves it — the gate report, the move and their audit
    /// entries in one transaction. A refused promotion stores its gate report and fails
    /// naming each failing check.
    pub fn promote(
        &mut self,
        text: &str,
        alias: &str,
        opts: &PromoteOptions,
    ) -> Result<PromotionOutcome> {
        validate_alias(alias).map_err(AppError::invalid)?;
        let row = self.resolve_model(text)?;
        if let Some(at) = &row.archived_at {
            return Err(AppError::invalid(format!(
                "{}@{} was archived at {at} ({}); an archived version cannot be promoted",
                row.name,
                row.version,
                row.archive_reason.as_deref().unwrap_or("no reason given")
            )));
        }
        let reason = opts.reason.clone().unwrap_or_default();
        if opts.force && reason.trim().is_empty() {
            return Err(AppError::invalid(
                "--force needs --reason TEXT: a forced promotion is recorded with its reason",
            ));
        }
        let requester = opts
            .key
            .as_deref()
            .map(crate::keys::read_secret_key)
            .transpose()?
            .map(|k| k.public().fingerprint());
        let policy = self.policy_for(&row.name)?;
        let p = policy.alias(alias).cloned().unwrap_or_default();
        let report = self.gate_report(&row, alias, &p)?;
        let sha = report.hash();
        let (approvals, counted) =
            self.approvals_check(&row, alias, &p, &sha, requester.as_deref())?;
        let passed = report.passed && approvals.passed;
        let from_version = report.current_version;
        let mut outcome = PromotionOutcome {
            model: row.name.clone(),
            version: row.version,
            alias: alias.to_string(),
            from_version,
            moved: false,
            forced: false,
            reason: reason.clone(),
            report: report.clone(),
            gate_report_sha256: sha.clone(),
            approvals: approvals.clone(),
            passed,
        };
        if from_version == Some(row.version) {
            return Err(AppError::invalid(format!(
                "{}@{alias} already points at version {}",
                row.name, row.version
            )));
        }
        if opts.dry_run {
            return Ok(outcome);
        }
        let at = cairn_core::now_rfc3339();
        let subject = format!("model:{}@{alias}", row.name);
        if !passed && !opts.force {
            let failing: Vec<&GateCheck> = report
                .failing()
                .chain((!approvals.passed).then_some(&approvals))
                .collect();
            self.store.atomically(|tx| {
                store_gate_report(tx, &row, alias, &sha, &report, &at)?;
                tx.audit(&[Record::new(
                    "registry.promotion_refused",
                    subject.clone(),
                    json!({
                        "version": row.version,
                        "gate_report": sha,
                        "failing": failing.iter().map(|c| &c.check).collect::<Vec<_>>(),
                    }),
                )
                .signed_by(requester.clone())])
            })?;
            let lines: Vec<String> = failing
                .iter()
                .map(|c| {
                    format!(
                        "  {}: {} (value {}, needs {})",
                        c.check,
                        if c.detail.is_empty() {
                            "failed"
                        } else {
                            &c.detail
                        },
                        c.value.as_deref().unwrap_or("none"),
                        c.threshold
                    )
                })
                .collect();
            return Err(AppError::new(
                ErrorCode::GateFailed,
                format!(
                    "refused: {}@{} cannot become {}@{alias}; {} failing check{}:\n{}\n(the gate \
                     report is stored as {}; `--force --reason TEXT` overrides, recorded as forced)",
                    row.name,
                    row.version,
                    row.name,
                    lines.len(),
                    if lines.len() == 1 { "" } else { "s" },
                    lines.join("\n"),
                    &sha[..12]
                ),
            ));
        }
        let forced = !passed;
        let root = self.root().to_path_buf();
        let m = AliasMove {
            name: row.name.clone(),
            alias: alias.to_string(),
            from_version,
            to_version: Some(row.version),
            at: at.clone(),
            actor: self.store.actor().to_string(),
            key: requester.clone(),
            reason: reason.clone(),
            forced,
            gate_report_sha256: Some(sha.clone()),
        };
        self.store.atomically(|tx| {
            store_gate_report(tx, &row, alias, &sha, &report, &at)?;
            tx.move_alias(&m)?;
            tx.audit(&[Record::new(
                "registry.alias_move",
                subject.clone(),
                json!({
                    "from": from_version,
                    "to": row.version,
                    "forced": forced,
                    "reason": reason,
                    "gate_report": sha,
                    "approvals": counted,
                    "failing": report.failing().chain((!approvals.passed).then_some(&approvals)).map(|c| &c.check).collect::<Vec<_>>(),
                }),
            )
            .signed_by(requester.clone())])?;
            crate::failpoint::pause("registry.promote", &root);
            Ok(())
        })?;
        outcome.moved = true;
        outcome.forced = forced;
        Ok(outcome)
    }

    /// Removes an alias (recorded as a move to no version).
    pub fn remove_alias(&mut self, name: &str, alias: &str, reason: &str) -> Result<()> {
        validate_alias(alias).map_err(AppError::invalid)?;
        let row = self.resolve_model(&format!("{name}@{alias}"))?;
        let m = AliasMove {
            name: row.name.clone(),
            alias: alias.to_string(),
            from_version: Some(row.version),
            to_version: None,
            at: cairn_core::now_rfc3339(),
            actor: self.store.actor().to_string(),
            key: None,
            reason: reason.to_string(),
            forced: false,
            gate_report_sha256: None,
        };
        self.store.atomically(|tx| {
            tx.move_alias(&m)?;
            tx.audit(&[Record::new(
                "registry.alias_move",
                format!("model:{name}@{alias}"),
                json!({"from": row.version, "to": null, "reason": reason, "forced": false}),
            )])
        })?;
        Ok(())
    }

    /// Signs an approval of moving `alias` to `text`'s version, over its current gate report.
    pub fn approve(
        &mut self,
        text: &str,
        alias: &str,
        key_file: &Path,
        comment: &str,
    ) -> Result<ApprovalOutcome> {
        validate_alias(alias).map_err(AppError::invalid)?;
        let row = self.resolve_model(text)?;
        if row.archived_at.is_some() {
            return Err(AppError::invalid(format!(
                "{}@{} is archived; an archived version cannot be approved",
                row.name, row.version
            )));
        }
        let key = crate::keys::read_secret_key(key_file)?;
        let public = key.public();
        let fp = public.fingerprint();
        let policy = self.policy_for(&row.name)?;
        let p = policy.alias(alias).cloned().unwrap_or_default();
        let trusted = trusted_keys(alias, &p).map_err(AppError::invalid)?;
        if p.approvals == 0 {
            return Err(AppError::invalid(format!(
                "the policy of `{}` asks for no approvals for alias `{alias}`; set one with \
                 `cairn registry policy set` (approvals = K, trusted_keys = [...])",
                row.name
            )));
        }
        if !trusted.iter().any(|k| k.fingerprint() == fp) {
            return Err(AppError::invalid(format!(
                "key {fp} ({}) is not trusted by the policy for {}@{alias}; trusted keys: {}",
                key_file.display(),
                row.name,
                trusted
                    .iter()
                    .map(|k| k.fingerprint())
                    .collect::<Vec<_>>()
                    .join(", ")
            )));
        }
        let report = self.gate_report(&row, alias, &p)?;
        let sha = report.hash();
        let already = self
            .store
            .approvals(&row.name, row.version, Some(alias))?
            .into_iter()
            .any(|a| a.fingerprint == fp && a.gate_report_sha256 == sha);
        if already {
            return Err(AppError::invalid(format!(
                "key {fp} has already approved {}@{} for `{alias}` on this gate report",
                row.name, row.version
            )));
        }
        let at = cairn_core::now_rfc3339();
        let claim = ApprovalClaim {
            model: row.name.clone(),
            version: row.version,
            bundle_root: report.bundle_root.clone(),
            alias: alias.to_string(),
            gate_report_sha256: sha.clone(),
            comment: comment.to_string(),
            at: at.clone(),
        };
        let approval = Approval {
            signature: key.sign_hex(&claim.message()),
            claim,
            public_key: public.to_hex(),
            fingerprint: fp.clone(),
        };
        let stored = ApprovalRow {
            name: row.name.clone(),
            version: row.version,
            alias: alias.to_string(),
            gate_report_sha256: sha.clone(),
            approval_json: serde_json::to_string(&approval).expect("an approval serialises"),
            fingerprint: fp.clone(),
            at: at.clone(),
        };
        self.store.atomically(|tx| {
            store_gate_report(tx, &row, alias, &sha, &report, &at)?;
            tx.insert_approval(&stored)?;
            tx.audit(&[Record::new(
                "registry.approve",
                model_subject(&row.name, row.version),
                json!({"alias": alias, "gate_report": sha, "comment": comment, "signature": approval.signature}),
            )
            .signed_by(Some(fp.clone()))])
        })?;
        let (_, counted) = self.approvals_check(&row, alias, &p, &sha, None)?;
        Ok(ApprovalOutcome {
            approval,
            counted: counted.len(),
            required: p.approvals,
        })
    }

    /// Every move of `name`'s aliases (or of one); with `at`, where each pointed then.
    pub fn alias_history(
        &self,
        name: &str,
        alias: Option<&str>,
        at: Option<&str>,
    ) -> Result<AliasHistory> {
        validate_model_name(name).map_err(AppError::invalid)?;
        if let Some(a) = alias {
            validate_alias(a).map_err(AppError::invalid)?;
        }
        if self.store.registered_model(name)?.is_none() {
            return Err(self.unknown_model(name));
        }
        let moves = self.store.alias_moves(name, alias)?;
        let mut pointing = Vec::new();
        if let Some(t) = at {
            let t_ms = cairn_core::epoch_millis(t)
                .or_else(|| t.trim().parse::<i64>().ok())
                .ok_or_else(|| {
                    AppError::invalid(format!(
                        "--at `{t}` is not a time; give RFC 3339 (2026-12-07T10:00:00Z), a date \
                         (2026-12-07) or epoch milliseconds"
                    ))
                })?;
            let mut aliases: Vec<&str> = moves.iter().map(|m| m.alias.as_str()).collect();
            aliases.sort();
            aliases.dedup();
            for a in aliases {
                let last = moves.iter().rfind(|m| {
                    m.alias == a && cairn_core::epoch_millis(&m.at).is_some_and(|ms| ms <= t_ms)
                });
                pointing.push(AliasAt {
                    alias: a.to_string(),
                    version: last.and_then(|m| m.to_version),
                    since: last.map(|m| m.at.clone()),
                });
            }
        }
        Ok(AliasHistory {
            model: name.to_string(),
            moves,
            at: at.map(str::to_string),
            pointing,
        })
    }

    /// The registry evidence a model version's bundle carries: its record, the gate reports
    /// of the moves to it, and its approvals.
    pub(crate) fn registry_entries(
        &self,
        row: &ModelVersionRow,
    ) -> Result<BTreeMap<String, Vec<u8>>> {
        use cairn_bundle::registry::{APPROVALS_ENTRY, GATE_REPORTS_DIR, VERSION_ENTRY};
        let view = self.view(row.clone())?;
        let mut out = BTreeMap::new();
        let pretty = |v: &serde_json::Value| {
            let mut b = serde_json::to_vec_pretty(v).expect("json serialises");
            b.push(b'\n');
            b
        };
        out.insert(
            VERSION_ENTRY.to_string(),
            pretty(&json!({
                "format_version": VERSION_RECORD_FORMAT,
                "name": view.name,
                "version": view.version,
                "created_at": view.created_at,
                "created_by": view.created_by,
                "aliases": view.aliases,
                "record": view.record,
                "alias_moves": self.store.alias_moves(&row.name, None)?
                    .into_iter().filter(|m| m.to_version == Some(row.version) || m.from_version == Some(row.version))
                    .collect::<Vec<_>>(),
            })),
        );
        let mut reports: BTreeMap<String, String> = BTreeMap::new();
        for m in self.store.alias_moves(&row.name, None)? {
            if m.to_version == Some(row.version)
                && let Some(sha) = &m.gate_report_sha256
            {
                reports.insert(m.alias.clone(), sha.clone());
            }
        }
        let approvals: Vec<Approval> = self
            .store
            .approvals(&row.name, row.version, None)?
            .into_iter()
            .filter_map(|a| serde_json::from_str(&a.approval_json).ok())
            .collect();
        for a in &approvals {
            reports
                .entry(a.claim.alias.clone())
                .or_insert_with(|| a.claim.gate_report_sha256.clone());
        }
        // Every report an approval signed travels, named by alias (and hash when several).
        let mut shas: Vec<(String, String)> = reports.into_iter().collect();
        for a in &approvals {
            if !shas.iter().any(|(_, s)| s == &a.claim.gate_report_sha256) {
                shas.push((a.claim.alias.clone(), a.claim.gate_report_sha256.clone()));
            }
        }
        for (alias, sha) in shas {
            if let Some(json) = self.store.gate_report(&sha)? {
                let value: serde_json::Value = serde_json::from_str(&json)
                    .map_err(|e| AppError::new(ErrorCode::Internal, e.to_string()))?;
                let mut name = format!("{GATE_REPORTS_DIR}{alias}.json");
                if out.contains_key(&name) {
                    name = format!("{GATE_REPORTS_DIR}{alias}-{}.json", &sha[..12]);
                }
                out.insert(name, pretty(&value));
            }
        }
        if !approvals.is_empty() {
            out.insert(
                APPROVALS_ENTRY.to_string(),
                pretty(&serde_json::to_value(&approvals).expect("approvals serialise")),
            );
        }
        Ok(out)
    }
}

/// Stores a gate report under its hash (once) with its audit entry, inside `tx`.
fn store_gate_report(
    tx: &cairn_store::Tx<'_>,
    row: &ModelVersionRow,
    alias: &str,
    sha: &str,
    report: &GateReport,
    at: &str,
) -> cairn_store::Result<()> {
    let json = serde_json::to_string(report).expect("a report serialises");
    if tx.insert_gate_report(sha, &row.name, row.version, alias, &json, at)? {
        tx.audit(&[Record::new(
            "registry.gate_report",
            model_subject(&row.name, row.version),
            json!({"alias": alias, "sha256": sha, "passed": report.passed}),
        )])?;
    }
    Ok(())
}

/// The trusted public keys of an alias policy; an entry that is not a key is named.
fn trusted_keys(
    alias: &str,
    p: &AliasPolicy,
) -> std::result::Result<Vec<cairn_bundle::PublicKey>, String> {
    p.trusted_keys
        .iter()
        .enumerate()
        .map(|(i, k)| {
            cairn_bundle::PublicKey::from_text(k).map_err(|e| {
                format!(
                    "[aliases.{alias}] `trusted_keys[{}]`: {}; give the line of a `.pub` file \
                     (`cairn-ed25519-public-v1 <64 hex>`) or its 64 hex digits",
                    i + 1,
                    e.reason
                )
            })
        })
        .collect()
}

/// The input signature: each feature column with its type, training range, categories and
/// whether nulls were seen (from the sketch of the training data; from the preprocessing alone
/// when the data is not here).
pub(crate) fn signature(
    pre: Option<&cairn_train::Preprocessor>,
    sketch: Option<&ReferenceSketch>,
    version: Option<&cairn_core::DatasetVersion>,
) -> Vec<InputColumn> {
    use cairn_train::preprocess::FeatureSpec;
    let Some(pre) = pre else {
        return Vec::new();
    };
    pre.features
        .iter()
        .map(|f| {
            let col = f.column();
            let s = sketch.and_then(|s| s.columns.iter().find(|c| c.name == col));
            let dtype = version
                .and_then(|v| v.columns.iter().find(|c| c.name == col))
                .map(|c| c.dtype.to_string())
                .or_else(|| s.map(|s| s.dtype.clone()))
                .unwrap_or_default();
            let (role, categories) = match f {
                FeatureSpec::Numeric { .. } => ("numeric", Vec::new()),
                FeatureSpec::OneHot { categories, .. }
                | FeatureSpec::Ordinal { categories, .. } => ("categorical", categories.clone()),
            };
            InputColumn {
                name: col.to_string(),
                dtype,
                role: role.into(),
                min: s.and_then(|s| s.numeric.as_ref()).map(|n| n.min),
                max: s.and_then(|s| s.numeric.as_ref()).map(|n| n.max),
                categories,
                nulls_seen: s.is_some_and(|s| s.nulls > 0),
            }
        })
        .collect()
}

/// The bundle file of a run, made in memory: `(run id, bytes, its verify report)`.
impl Workspace {
    fn bundle_bytes(
        &self,
        run_key: &str,
        scratch: &Path,
    ) -> Result<(String, Vec<u8>, cairn_bundle::VerifyReport)> {
        let (run_id, entries) = self.run_bundle_entries(run_key, scratch)?;
        if !entries.contains_key(WEIGHTS) {
            return Err(AppError::invalid(format!(
                "run {run_key} has no trained model"
            )));
        }
        let bytes = cairn_bundle::write_bundle(
            &run_id,
            &format!("cairn {}", crate::CAIRN_VERSION),
            &entries,
        )?;
        let report = cairn_bundle::verify("the bundle", &bytes)?;
        if !report.ok() {
            return Err(AppError::new(
                ErrorCode::Internal,
                format!("the bundle of run {run_key} does not verify"),
            ));
        }
        Ok((run_id, bytes, report))
    }
}
