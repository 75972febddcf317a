//! The model registry's nouns: model references (`iris@3`, `iris@production`), alias rules, a
//! version's input signature and reference sketch, promotion policies (TOML, errors with line
//! and column), gate reports, and the message an approval signs (docs/registry.md).
//!
//! No IO and no clock: the registry's use cases in `cairn-app` hand values in.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The metric names Cairn's trainer records (with a `test_`, `val_` or `train_` prefix), the
/// only ones a policy may name. `cairn-eval`'s tests check its metrics are all listed.
pub const CLASSIFICATION_METRICS: &[&str] = &[
    "accuracy",
    "balanced_accuracy",
    "precision_macro",
    "recall_macro",
    "f1_macro",
    "precision_weighted",
    "recall_weighted",
    "f1_weighted",
    "roc_auc",
    "pr_auc",
    "log_loss",
    "brier",
];
pub const REGRESSION_METRICS: &[&str] = &["rmse", "mae", "r2", "mape"];
/// Metrics where smaller is better (a policy's `greater_is_better` defaults from this).
pub const LOWER_IS_BETTER: &[&str] = &["log_loss", "brier", "rmse", "mae", "mape", "loss"];
const METRIC_PREFIXES: &[&str] = &["test_", "val_", "train_"];

/// Whether `name` is a metric Cairn records: a prefix and a known metric (or `loss`).
pub fn is_known_metric(name: &str) -> bool {
    METRIC_PREFIXES.iter().any(|p| {
        name.strip_prefix(p).is_some_and(|m| {
            m == "loss" || CLASSIFICATION_METRICS.contains(&m) || REGRESSION_METRICS.contains(&m)
        })
    })
}

fn lower_is_better(metric: &str) -> bool {
    let base = METRIC_PREFIXES
        .iter()
        .find_map(|p| metric.strip_prefix(p))
        .unwrap_or(metric);
    LOWER_IS_BETTER.contains(&base)
}

/// Which version of a registered model: `NAME` (the latest), `NAME@3`, `NAME@alias`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum VersionPick {
    Latest,
    Number(u32),
    Alias(String),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelRef {
    pub name: String,
    pub pick: VersionPick,
}

impl ModelRef {
    /// Parses `NAME`, `NAME@N`, `NAME@vN`, `NAME@latest` or `NAME@alias`.
    pub fn parse(text: &str) -> Result<ModelRef, String> {
        let (name, pick) = match text.split_once('@') {
            None => (text, VersionPick::Latest),
            Some((name, "latest")) => (name, VersionPick::Latest),
            Some((name, sel)) => {
                let digits = sel
                    .strip_prefix('v')
                    .or_else(|| sel.strip_prefix('V'))
                    .unwrap_or(sel);
                if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
                    let n: u32 = digits.parse().map_err(|_| {
                        format!("`{text}`: version `{sel}` is too large; versions count from 1")
                    })?;
                    if n == 0 {
                        return Err(format!("`{text}`: versions count from 1"));
                    }
                    (name, VersionPick::Number(n))
                } else {
                    validate_alias(sel).map_err(|e| format!("`{text}`: {e}"))?;
                    (name, VersionPick::Alias(sel.to_string()))
                }
            }
        };
        validate_model_name(name).map_err(|e| format!("`{text}`: {e}"))?;
        Ok(ModelRef {
            name: name.to_string(),
            pick,
        })
    }
}

impl std::fmt::Display for ModelRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.pick {
            VersionPick::Latest => write!(f, "{}", self.name),
            VersionPick::Number(n) => write!(f, "{}@{n}", self.name),
            VersionPick::Alias(a) => write!(f, "{}@{a}", self.name),
        }
    }
}

/// A registered model's name: 1–128 characters of letters, digits, `_`, `-` and `.`, starting
/// with a letter or digit.
pub fn validate_model_name(name: &str) -> Result<(), String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if name.is_empty() {
        return Err("a model name cannot be empty".into());
    }
    if name.len() > 128 || !ok_chars || !name.as_bytes()[0].is_ascii_alphanumeric() {
        return Err(format!(
            "model name `{name}` must be 1–128 ASCII letters, digits, `_`, `-` or `.`, starting \
             with a letter or digit"
        ));
    }
    Ok(())
}

/// An alias: `^[A-Za-z0-9_-]{1,64}$`, except `latest` and `v<digits>` (reserved, as in MLflow).
pub fn validate_alias(alias: &str) -> Result<(), String> {
    if alias.is_empty() {
        return Err("an alias cannot be empty".into());
    }
    if let Some(c) = alias
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '_' | '-')))
    {
        return Err(format!(
            "alias `{alias}` has `{c}`; an alias is 1–64 ASCII letters, digits, `_` or `-`"
        ));
    }
    if alias.len() > 64 {
        return Err(format!(
            "alias `{alias}` is {} characters; the limit is 64",
            alias.len()
        ));
    }
    if alias.eq_ignore_ascii_case("latest") {
        return Err(
            "alias `latest` is reserved: `NAME@latest` always means the newest version".into(),
        );
    }
    let digits = alias.strip_prefix('v').or_else(|| alias.strip_prefix('V'));
    if digits.is_some_and(|d| !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit())) {
        return Err(format!(
            "alias `{alias}` is reserved: `v<digits>` names a version number (`NAME@{}`)",
            &alias[1..]
        ));
    }
    Ok(())
}

/// One input column as the model was trained on it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct InputColumn {
    pub name: String,
    /// The data version's type (`int64`, `float64`, `string`, …).
    pub dtype: String,
    /// `numeric` or `categorical`, as the preprocessing treats it.
    pub role: String,
    pub min: Option<f64>,
    pub max: Option<f64>,
    /// The categories seen in training (categorical columns).
    pub categories: Vec<String>,
    pub nulls_seen: bool,
}

/// Per-column statistics of the training data, kept so that drift can be tested later
/// without the training table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ReferenceSketch {
    pub format_version: u32,
    pub rows: u64,
    pub columns: Vec<ColumnSketch>,
}

pub const SKETCH_FORMAT: u32 = 1;
/// Quantiles kept per numeric column: 0, 0.01, …, 1.
pub const SKETCH_QUANTILES: usize = 101;
/// Categories kept per column, most frequent first; the rest are counted together.
pub const SKETCH_MAX_CATEGORIES: usize = 1000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ColumnSketch {
    pub name: String,
    pub dtype: String,
    /// Non-null values.
    pub count: u64,
    pub nulls: u64,
    pub numeric: Option<NumericSketch>,
    /// `(value, count)`, most frequent first (every column with at most
    /// [`SKETCH_MAX_CATEGORIES`] distinct values, and every text column).
    pub categories: Vec<(String, u64)>,
    /// Rows whose value is not among `categories` (0 when every category is kept).
    pub other_count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct NumericSketch {
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub std: Option<f64>,
    /// [`SKETCH_QUANTILES`] values at 0, 0.01, …, 1 (continuous, linear interpolation).
    pub quantiles: Vec<f64>,
    pub histogram_edges: Vec<f64>,
    pub histogram_counts: Vec<u64>,
}

// ---------------------------------------------------------------------------------------------
// Policies

/// A promotion policy: per alias, what it requires before it may point at a version.
///
/// ```toml
/// [aliases.production]
/// approvals = 2                # signed approvals from trusted keys
/// separate_duties = true       # the requester's key does not count
/// trusted_keys = ["cairn-ed25519-public-v1 <64 hex>"]
/// data_quality = true          # the training data passed its last quality check
/// reproduce = false            # `cairn bundle reproduce` matched
///
/// [[aliases.production.metrics]]
/// metric = "test_accuracy"
/// threshold = 0.9              # the value itself must reach this
/// min_absolute_change = 0.01   # … and beat the version the alias points at now by this
/// min_relative_change = 0.0    # … and by this fraction of it
/// greater_is_better = true     # default: false for losses and errors, true otherwise
///
/// [aliases.production.worst_slice]   # evidence: `cairn eval --slice …`
/// metric = "accuracy"
/// threshold = 0.8
/// [aliases.production.drift]         # evidence: `cairn drift`
/// max_drift_share = 0.5
/// [aliases.production.latency]       # evidence: `cairn loadtest`
/// p99_ms = 50.0
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct GatePolicy {
    #[serde(default)]
    pub aliases: BTreeMap<String, AliasPolicy>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct AliasPolicy {
    #[serde(default)]
    pub approvals: u32,
    #[serde(default)]
    pub separate_duties: bool,
    #[serde(default)]
    pub trusted_keys: Vec<String>,
    #[serde(default)]
    pub data_quality: bool,
    #[serde(default)]
    pub reproduce: bool,
    #[serde(default)]
    pub metrics: Vec<MetricThreshold>,
    #[serde(default)]
    pub worst_slice: Option<WorstSliceGate>,
    #[serde(default)]
    pub drift: Option<DriftGate>,
    #[serde(default)]
    pub latency: Option<LatencyGate>,
}

/// MLflow's `MetricThreshold`, checked against the candidate and the current version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct MetricThreshold {
    pub metric: String,
    #[serde(default)]
    pub threshold: Option<f64>,
    #[serde(default)]
    pub min_absolute_change: Option<f64>,
    #[serde(default)]
    pub min_relative_change: Option<f64>,
    #[serde(default)]
    pub greater_is_better: Option<bool>,
}

impl MetricThreshold {
    pub fn greater_is_better(&self) -> bool {
        self.greater_is_better
            .unwrap_or_else(|| !lower_is_better(&self.metric))
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct WorstSliceGate {
    pub metric: String,
    pub threshold: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct DriftGate {
    /// The largest share of drifted columns allowed (dataset drift at ≥ 0.5 by default).
    pub max_drift_share: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
#[serde(deny_unknown_fields)]
pub struct LatencyGate {
    pub p99_ms: f64,
}

impl GatePolicy {
    /// Parses a policy file's text; errors name the line and column (or the alias and field).
    pub fn parse(text: &str) -> Result<GatePolicy, String> {
        let policy: GatePolicy = toml::from_str(text).map_err(|e| {
            let mut msg = e.message().trim_end().to_string();
            if let Some(span) = e.span() {
                let (line, col) = crate::quality::line_col(text, span.start);
                msg = format!("line {line}, column {col}: {msg}");
            }
            msg
        })?;
        for (alias, p) in &policy.aliases {
            validate_alias(alias).map_err(|e| format!("[aliases.{alias}]: {e}"))?;
            let at = |field: &str| format!("[aliases.{alias}] `{field}`");
            for (i, m) in p.metrics.iter().enumerate() {
                let field = format!("metrics[{}].metric", i + 1);
                if !is_known_metric(&m.metric) {
                    return Err(format!(
                        "{}: unknown metric `{}`; use a metric Cairn records, such as \
                         test_accuracy, test_f1_macro, test_roc_auc, test_rmse or test_r2 \
                         (prefix test_, val_ or train_)",
                        at(&field),
                        m.metric
                    ));
                }
                if m.threshold.is_none()
                    && m.min_absolute_change.is_none()
                    && m.min_relative_change.is_none()
                {
                    return Err(format!(
                        "{}: a metric check needs `threshold`, `min_absolute_change` or \
                         `min_relative_change`",
                        at(&format!("metrics[{}]", i + 1))
                    ));
                }
                for (name, v) in [
                    ("threshold", m.threshold),
                    ("min_absolute_change", m.min_absolute_change),
                    ("min_relative_change", m.min_relative_change),
                ] {
                    if v.is_some_and(|v| !v.is_finite()) {
                        return Err(format!(
                            "{}: must be a finite number",
                            at(&format!("metrics[{}].{name}", i + 1))
                        ));
                    }
                }
            }
            if p.approvals > 0 && p.trusted_keys.is_empty() {
                return Err(format!(
                    "{}: {} approvals are required but no key is trusted; list the approvers' \
                     public keys (`cairn keys new` writes them)",
                    at("trusted_keys"),
                    p.approvals
                ));
            }
            if let Some(d) = &p.drift
                && !(0.0..=1.0).contains(&d.max_drift_share)
            {
                return Err(format!(
                    "{}: a share between 0 and 1",
                    at("drift.max_drift_share")
                ));
            }
            if let Some(l) = &p.latency
                && !(l.p99_ms.is_finite() && l.p99_ms > 0.0)
            {
                return Err(format!("{}: a positive number of ms", at("latency.p99_ms")));
            }
        }
        Ok(policy)
    }

    pub fn alias(&self, alias: &str) -> Option<&AliasPolicy> {
        self.aliases.get(alias)
    }
}

// ---------------------------------------------------------------------------------------------
// Gate reports

/// The outcome of one gate check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct GateCheck {
    /// `metric:test_accuracy`, `bundle_verifies`, `data_quality`, `approvals`, ….
    pub check: String,
    /// The observed value, as text (a number, `yes`/`no`, `1 of 2`), when there is one.
    pub value: Option<String>,
    /// What the check requires, as text.
    pub threshold: String,
    pub passed: bool,
    /// Why it failed, or what evidence to produce.
    pub detail: String,
    /// The same facts as numbers and codes, for a window to say in its own language.
    #[serde(default)]
    pub facts: CheckFacts,
}

/// A check's facts: `code` says what happened, the other fields what it compared. `threshold`
/// and `detail` say the same in English.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct CheckFacts {
    /// `ok`; metrics: `below_bound`, `no_improvement`, `no_metric`, `no_baseline_metric`,
    /// `no_current`; `bundle_invalid`; `quality_missing`, `quality_failed`, `no_data`;
    /// `reproduce_missing`, `reproduce_differed`; `evidence_missing`; approvals: `approvals`.
    pub code: String,
    pub metric: Option<String>,
    pub value: Option<f64>,
    /// The value needed.
    pub bound: Option<f64>,
    pub greater_is_better: Option<bool>,
    /// The version the alias points at now, and its value of the metric.
    pub baseline_version: Option<u32>,
    pub baseline: Option<f64>,
    /// The change asked for: an amount, or with `relative` a fraction.
    pub min_change: Option<f64>,
    pub relative: Option<bool>,
    /// Approvals counted and required; how many were left out as the requester's or as stale.
    pub counted: Option<u32>,
    pub required: Option<u32>,
    pub requester_excluded: Option<bool>,
    pub stale: Option<u32>,
    pub needs_requester: Option<bool>,
    pub dataset: Option<String>,
    /// The command that produces missing evidence.
    pub command: Option<String>,
}

impl CheckFacts {
    pub fn code(code: &str) -> CheckFacts {
        CheckFacts {
            code: code.into(),
            ..CheckFacts::default()
        }
    }
}

/// Every gate of one promotion, evaluated: the report stored with the alias move and signed
/// by approvals (through its hash).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct GateReport {
    pub format_version: u32,
    pub model: String,
    pub version: u32,
    pub alias: String,
    /// The model bundle's root hash.
    pub bundle_root: String,
    /// The version the alias pointed at when the report was made.
    pub current_version: Option<u32>,
    pub checks: Vec<GateCheck>,
    pub passed: bool,
}

pub const GATE_REPORT_FORMAT: u32 = 1;

impl GateReport {
    /// The SHA-256 of the report's canonical JSON: what approvals sign.
    pub fn hash(&self) -> String {
        let v = serde_json::to_value(self).expect("a gate report serialises");
        crate::sha256_hex(crate::audit::canonical_json(&v).as_bytes())
    }

    pub fn failing(&self) -> impl Iterator<Item = &GateCheck> {
        self.checks.iter().filter(|c| !c.passed)
    }
}

/// The checks of `thresholds` for a candidate's metrics against the current version's (if
/// the alias points at one): MLflow's rules — `threshold` bounds the candidate's value;
/// `min_absolute_change` and `min_relative_change` require it to beat the current one.
pub fn metric_checks(
    thresholds: &[MetricThreshold],
    candidate: &BTreeMap<String, f64>,
    current: Option<(u32, &BTreeMap<String, f64>)>,
) -> Vec<GateCheck> {
    let mut out = Vec::new();
    for t in thresholds {
        let gib = t.greater_is_better();
        let (cmp, sign) = if gib { ("≥", 1.0) } else { ("≤", -1.0) };
        let name = format!("metric:{}", t.metric);
        let facts = |code: &str| CheckFacts {
            metric: Some(t.metric.clone()),
            greater_is_better: Some(gib),
            ..CheckFacts::code(code)
        };
        let Some(&value) = candidate.get(&t.metric) else {
            out.push(GateCheck {
                check: name,
                value: None,
                threshold: describe_threshold(t),
                passed: false,
                detail: format!(
                    "the version has no `{}`; it is recorded by `cairn train` on a held-out \
                     test split",
                    t.metric
                ),
                facts: facts("no_metric"),
            });
            continue;
        };
        if let Some(th) = t.threshold {
            let passed = sign * (value - th) >= 0.0;
            out.push(GateCheck {
                check: name.clone(),
                value: Some(fmt_num(value)),
                threshold: format!("{cmp} {}", fmt_num(th)),
                passed,
                detail: if passed {
                    String::new()
                } else {
                    format!(
                        "{} = {} is not {cmp} {}",
                        t.metric,
                        fmt_num(value),
                        fmt_num(th)
                    )
                },
                facts: CheckFacts {
                    value: Some(value),
                    bound: Some(th),
                    ..facts(if passed { "ok" } else { "below_bound" })
                },
            });
        }
        let changes = [
            ("min_absolute_change", t.min_absolute_change, false),
            ("min_relative_change", t.min_relative_change, true),
        ];
        for (field, min_change, relative) in changes {
            let Some(min_change) = min_change else {
                continue;
            };
            let check = format!("{name}.{field}");
            let Some((cur_v, cur_metrics)) = current else {
                out.push(GateCheck {
                    check,
                    value: Some(fmt_num(value)),
                    threshold: format!("no current version to compare with ({field} {min_change})"),
                    passed: true,
                    detail: "the alias points at no version yet".into(),
                    facts: CheckFacts {
                        value: Some(value),
                        min_change: Some(min_change),
                        relative: Some(relative),
                        ..facts("no_current")
                    },
                });
                continue;
            };
            let Some(&base) = cur_metrics.get(&t.metric) else {
                out.push(GateCheck {
                    check,
                    value: Some(fmt_num(value)),
                    threshold: format!("{field} {min_change} over v{cur_v}"),
                    passed: false,
                    detail: format!("the current version v{cur_v} has no `{}`", t.metric),
                    facts: CheckFacts {
                        value: Some(value),
                        baseline_version: Some(cur_v),
                        min_change: Some(min_change),
                        relative: Some(relative),
                        ..facts("no_baseline_metric")
                    },
                });
                continue;
            };
            let needed = if relative {
                base + sign * min_change * base.abs()
            } else {
                base + sign * min_change
            };
            let passed = sign * (value - needed) >= -1e-12;
            let what = if relative {
                format!("{}% of", fmt_num(min_change * 100.0))
            } else {
                fmt_num(min_change)
            };
            out.push(GateCheck {
                check,
                value: Some(fmt_num(value)),
                threshold: format!(
                    "{cmp} {} (v{cur_v}'s {} {} {what})",
                    fmt_num(needed),
                    fmt_num(base),
                    if gib { "+" } else { "−" }
                ),
                passed,
                detail: if passed {
                    String::new()
                } else {
                    format!(
                        "{} = {} does not beat v{cur_v}'s {} by {what} (needs {cmp} {})",
                        t.metric,
                        fmt_num(value),
                        fmt_num(base),
                        fmt_num(needed)
                    )
                },
                facts: CheckFacts {
                    value: Some(value),
                    bound: Some(needed),
                    baseline_version: Some(cur_v),
                    baseline: Some(base),
                    min_change: Some(min_change),
                    relative: Some(relative),
                    ..facts(if passed { "ok" } else { "no_improvement" })
                },
            });
        }
    }
    out
}

fn describe_threshold(t: &MetricThreshold) -> String {
    let mut parts = Vec::new();
    let cmp = if t.greater_is_better() { "≥" } else { "≤" };
    if let Some(th) = t.threshold {
        parts.push(format!("{cmp} {}", fmt_num(th)));
    }
    if let Some(a) = t.min_absolute_change {
        parts.push(format!("min_absolute_change {}", fmt_num(a)));
    }
    if let Some(r) = t.min_relative_change {
        parts.push(format!("min_relative_change {}", fmt_num(r)));
    }
    parts.join(", ")
}

/// A number as people read it: up to 6 significant decimals, no trailing zeros.
pub fn fmt_num(v: f64) -> String {
    if v.is_finite() && v.fract() == 0.0 && v.abs() < 1e15 {
        return format!("{v:.0}");
    }
    let s = format!("{v:.6}");
    let s = s.trim_end_matches('0').trim_end_matches('.');
    s.to_string()
}

// ---------------------------------------------------------------------------------------------
// Approvals

/// What an approval's Ed25519 signature covers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ApprovalClaim {
    pub model: String,
    pub version: u32,
    pub bundle_root: String,
    pub alias: String,
    pub gate_report_sha256: String,
    pub comment: String,
    /// RFC 3339.
    pub at: String,
}

impl ApprovalClaim {
    /// The signed bytes: a domain line, then the claim's canonical JSON.
    pub fn message(&self) -> Vec<u8> {
        let v = serde_json::to_value(self).expect("a claim serialises");
        let mut out = b"cairn-approval-v1\n".to_vec();
        out.extend_from_slice(crate::audit::canonical_json(&v).as_bytes());
        out
    }
}

/// A signed approval as stored and as carried in a bundle (`registry/approvals.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Approval {
    #[serde(flatten)]
    pub claim: ApprovalClaim,
    /// The approver's public key, 64 hex digits.
    pub public_key: String,
    pub fingerprint: String,
    /// The Ed25519 signature of [`ApprovalClaim::message`], 128 hex digits.
    pub signature: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn model_refs_parse() {
        let r = |s: &str| ModelRef::parse(s).map(|r| r.pick);
        assert_eq!(r("iris"), Ok(VersionPick::Latest));
        assert_eq!(r("iris@latest"), Ok(VersionPick::Latest));
        assert_eq!(r("iris@3"), Ok(VersionPick::Number(3)));
        assert_eq!(r("iris@v3"), Ok(VersionPick::Number(3)));
        assert_eq!(
            r("iris@production"),
            Ok(VersionPick::Alias("production".into()))
        );
        assert!(r("iris@0").unwrap_err().contains("count from 1"));
        assert!(r("@prod").unwrap_err().contains("cannot be empty"));
        assert!(r("ir is@3").unwrap_err().contains("model name"));
        assert!(r("iris@pro duction").unwrap_err().contains("has ` `"));
    }

    #[test]
    fn aliases_follow_mlflow_rules() {
        for ok in [
            "production",
            "champion",
            "a",
            "A_b-9",
            &"x".repeat(64),
            "v",
            "v1a",
            "version",
        ] {
            assert!(validate_alias(ok).is_ok(), "{ok}");
        }
        let bad: &[(&str, &str)] = &[
            ("latest", "reserved"),
            ("LATEST", "reserved"),
            ("v2", "reserved"),
            ("V10", "reserved"),
            (&"x".repeat(65), "limit is 64"),
            ("prodüction", "has `ü`"),
            ("prod/1", "has `/`"),
            ("", "empty"),
        ];
        for (alias, needle) in bad {
            let e = validate_alias(alias).unwrap_err();
            assert!(e.contains(needle), "{alias}: {e}");
        }
    }

    #[test]
    fn policies_parse_and_errors_name_the_field_or_line() {
        let p = GatePolicy::parse(
            "[aliases.production]\napprovals = 2\nseparate_duties = true\ntrusted_keys = [\"k\"]\n\
             [[aliases.production.metrics]]\nmetric = \"test_accuracy\"\nmin_absolute_change = 0.01\n\
             [[aliases.production.metrics]]\nmetric = \"test_log_loss\"\nthreshold = 0.5\n",
        )
        .unwrap();
        let a = p.alias("production").unwrap();
        assert_eq!(a.approvals, 2);
        assert!(a.metrics[0].greater_is_better());
        assert!(!a.metrics[1].greater_is_better());

        let cases: &[(&str, &str)] = &[
            ("[aliases.production\napprovals = 2", "line 1, column"),
            (
                "[aliases.production]\napprovals = \"two\"",
                "line 2, column 13",
            ),
            (
                "[aliases.production]\napprovalz = 2",
                "line 2, column 1: unknown field `approvalz`",
            ),
            (
                "[[aliases.production.metrics]]\nmetric = \"test_acuracy\"\nthreshold = 0.9",
                "`metrics[1].metric`: unknown metric `test_acuracy`",
            ),
            (
                "[[aliases.production.metrics]]\nmetric = \"test_accuracy\"",
                "needs `threshold`",
            ),
            (
                "[aliases.latest]\napprovals = 0",
                "[aliases.latest]: alias `latest` is reserved",
            ),
            ("[aliases.prod]\napprovals = 1", "no key is trusted"),
            (
                "[aliases.prod.drift]\nmax_drift_share = 2.0",
                "between 0 and 1",
            ),
        ];
        for (text, needle) in cases {
            let e = GatePolicy::parse(text).unwrap_err();
            assert!(e.contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn metric_checks_follow_mlflow_thresholds() {
        let m = |v: f64| BTreeMap::from([("test_accuracy".to_string(), v)]);
        let t = MetricThreshold {
            metric: "test_accuracy".into(),
            threshold: Some(0.8),
            min_absolute_change: Some(0.01),
            min_relative_change: None,
            greater_is_better: None,
        };
        // No current version: only the threshold counts.
        let c = metric_checks(std::slice::from_ref(&t), &m(0.85), None);
        assert!(c.iter().all(|c| c.passed), "{c:?}");
        // 0.955 vs current 0.95: +0.005 < 0.01.
        let cur = m(0.95);
        let c = metric_checks(std::slice::from_ref(&t), &m(0.955), Some((1, &cur)));
        let bad: Vec<_> = c.iter().filter(|c| !c.passed).collect();
        assert_eq!(bad.len(), 1);
        assert_eq!(bad[0].check, "metric:test_accuracy.min_absolute_change");
        assert_eq!(bad[0].value.as_deref(), Some("0.955"));
        assert!(
            bad[0].threshold.starts_with("≥ 0.96"),
            "{}",
            bad[0].threshold
        );
        let c = metric_checks(std::slice::from_ref(&t), &m(0.97), Some((1, &cur)));
        assert!(c.iter().all(|c| c.passed), "{c:?}");
        // Lower is better: a relative 10% cut of the loss.
        let loss = MetricThreshold {
            metric: "test_log_loss".into(),
            threshold: None,
            min_absolute_change: None,
            min_relative_change: Some(0.1),
            greater_is_better: None,
        };
        let cur = BTreeMap::from([("test_log_loss".to_string(), 0.5)]);
        let cand = |v: f64| BTreeMap::from([("test_log_loss".to_string(), v)]);
        assert!(metric_checks(std::slice::from_ref(&loss), &cand(0.45), Some((1, &cur)))[0].passed);
        assert!(
            !metric_checks(std::slice::from_ref(&loss), &cand(0.46), Some((1, &cur)))[0].passed
        );
        // A missing metric fails and says where it comes from.
        let c = metric_checks(&[t], &BTreeMap::new(), None);
        assert!(!c[0].passed && c[0].detail.contains("no `test_accuracy`"));
    }
}
