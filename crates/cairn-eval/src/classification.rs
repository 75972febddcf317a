//! Classification metrics from class probabilities, equal to scikit-learn's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::ranking::{average_precision, roc_auc};
use crate::sum::{mean, sum, weighted_mean};

/// Precision, recall and F1 of one class against the rest, and how many rows truly are that class.
///
/// An undefined ratio (no row predicted as the class, or none truly of it) is 0.0, scikit-learn's
/// default `zero_division`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassMetrics {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: u64,
}

/// Every classification metric of one set of predictions; see [`classification`] for the
/// scikit-learn call each field equals.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassificationMetrics {
    /// `accuracy_score(y, pred)`.
    pub accuracy: f64,
    /// `balanced_accuracy_score(y, pred)`: mean recall over the classes present in `y_true`.
    pub balanced_accuracy: f64,
    /// `precision_score(y, pred, labels=range(k), average="macro")`, and so on: unweighted mean
    /// over all `k` classes, absent ones included (as 0.0).
    pub precision_macro: f64,
    pub recall_macro: f64,
    pub f1_macro: f64,
    /// The same averages weighted by support.
    pub precision_weighted: f64,
    pub recall_weighted: f64,
    pub f1_weighted: f64,
    /// One entry per class index `0..k`.
    pub per_class: Vec<ClassMetrics>,
    /// Binary: `roc_auc_score(y, p1)`. Multiclass: `roc_auc_score(y, P, multi_class="ovr",
    /// average="macro")`. `None` where scikit-learn gives no number: a binary `y_true` with one
    /// class only, a multiclass `y_true` missing a class, or probability rows that do not sum to 1
    /// (`np.allclose`).
    pub roc_auc: Option<f64>,
    /// Binary: `average_precision_score(y, p1)`. Multiclass: `average_precision_score(y, P)`, the
    /// macro mean of one-vs-rest average precision over `label_binarize(y, classes=range(k))`.
    /// `None` where a class it averages over has no row in `y_true` (scikit-learn raises, or for
    /// binary warns and returns 0.0).
    pub pr_auc: Option<f64>,
    /// `log_loss(y, P, labels=range(k))`: probabilities clipped to `[eps, 1 - eps]` with
    /// `eps = f64::EPSILON`, not renormalised.
    pub log_loss: f64,
    /// Binary: `brier_score_loss(y, p1)`, mean of `(y - p1)²`, in `[0, 1]`.
    /// Multiclass: `brier_score_loss(y, P, labels=range(k))`, mean over rows of
    /// `Σ_c (onehot(y)_c - P_c)²`, in `[0, 2]` (scikit-learn ≥ 1.7, not halved).
    pub brier: f64,
    /// `confusion_matrix(y, pred, labels=range(k))`: rows are true classes, columns predicted.
    pub confusion_matrix: Vec<Vec<u64>>,
}

impl ClassificationMetrics {
    /// The scalar metrics, named `{prefix}accuracy`, `{prefix}balanced_accuracy`,
    /// `{prefix}precision_macro`, `{prefix}recall_macro`, `{prefix}f1_macro`,
    /// `{prefix}precision_weighted`, `{prefix}recall_weighted`, `{prefix}f1_weighted`,
    /// `{prefix}roc_auc`, `{prefix}pr_auc`, `{prefix}log_loss` and `{prefix}brier`; undefined
    /// metrics are left out.
    pub fn flat(&self, prefix: &str) -> BTreeMap<String, f64> {
        let scalars = [
            ("accuracy", Some(self.accuracy)),
            ("balanced_accuracy", Some(self.balanced_accuracy)),
            ("precision_macro", Some(self.precision_macro)),
            ("recall_macro", Some(self.recall_macro)),
            ("f1_macro", Some(self.f1_macro)),
            ("precision_weighted", Some(self.precision_weighted)),
            ("recall_weighted", Some(self.recall_weighted)),
            ("f1_weighted", Some(self.f1_weighted)),
            ("roc_auc", self.roc_auc),
            ("pr_auc", self.pr_auc),
            ("log_loss", Some(self.log_loss)),
            ("brier", Some(self.brier)),
        ];
        scalars
            .into_iter()
            .filter_map(|(name, value)| value.map(|v| (format!("{prefix}{name}"), v)))
            .collect()
    }
}

/// Classification metrics of `y_true` (class indices `0..n_classes`) against `proba`, the
/// row-major `y_true.len() × n_classes` matrix of predicted class probabilities (rows sum to 1).
///
/// The predicted class of a row is its most probable class, the first one on ties (`np.argmax`).
/// Each field equals the scikit-learn call written on it, with `y` = `y_true`, `P` = `proba`,
/// `p1` = `P[:, 1]`, `pred` = `P.argmax(axis=1)` and `k` = `n_classes`.
pub fn classification(
    y_true: &[u32],
    proba: &[f64],
    n_classes: usize,
) -> Result<ClassificationMetrics, EvalError> {
    let k = n_classes;
    if k < 2 {
        return Err(EvalError::TooFewClasses { n_classes });
    }
    let n = y_true.len();
    if proba.len() != n.saturating_mul(k) {
        return Err(EvalError::LengthMismatch {
            left_name: "y_true × n_classes",
            left: n.saturating_mul(k),
            right_name: "proba",
            right: proba.len(),
        });
    }
    if n == 0 {
        return Err(EvalError::Empty { input: "y_true" });
    }
    for (row, &class) in y_true.iter().enumerate() {
        if class as usize >= k {
            return Err(EvalError::ClassOutOfRange {
                row,
                class,
                n_classes: k,
            });
        }
    }
    for (i, &value) in proba.iter().enumerate() {
        let (row, class) = (i / k, i % k);
        if !value.is_finite() {
            return Err(EvalError::NotFinite {
                input: "proba",
                row,
                column: Some(class),
                value,
            });
        }
        if !(0.0..=1.0).contains(&value) {
            return Err(EvalError::ProbabilityOutOfRange { row, class, value });
        }
    }

    let rows: Vec<&[f64]> = proba.chunks_exact(k).collect();
    let truth: Vec<usize> = y_true.iter().map(|&c| c as usize).collect();
    let predicted: Vec<usize> = rows.iter().map(|row| argmax(row)).collect();

    let mut confusion_matrix = vec![vec![0u64; k]; k];
    for (&t, &p) in truth.iter().zip(&predicted) {
        confusion_matrix[t][p] += 1;
    }
    let support: Vec<u64> = confusion_matrix.iter().map(|r| r.iter().sum()).collect();
    let predicted_count: Vec<u64> = (0..k)
        .map(|c| confusion_matrix.iter().map(|r| r[c]).sum())
        .collect();
    let correct: u64 = (0..k).map(|c| confusion_matrix[c][c]).sum();

    let ratio = |num: f64, den: u64| if den == 0 { 0.0 } else { num / den as f64 };
    let per_class: Vec<ClassMetrics> = (0..k)
        .map(|c| {
            let tp = confusion_matrix[c][c] as f64;
            ClassMetrics {
                precision: ratio(tp, predicted_count[c]),
                recall: ratio(tp, support[c]),
                f1: ratio(2.0 * tp, support[c] + predicted_count[c]),
                support: support[c],
            }
        })
        .collect();
    let precision: Vec<f64> = per_class.iter().map(|m| m.precision).collect();
    let recall: Vec<f64> = per_class.iter().map(|m| m.recall).collect();
    let f1: Vec<f64> = per_class.iter().map(|m| m.f1).collect();
    let weights: Vec<f64> = support.iter().map(|&s| s as f64).collect();
    let present_recall: Vec<f64> = (0..k)
        .filter(|&c| support[c] > 0)
        .map(|c| recall[c])
        .collect();

    let all_present = support.iter().all(|&s| s > 0);
    let (roc_auc, pr_auc) = if k == 2 {
        let positive: Vec<bool> = truth.iter().map(|&t| t == 1).collect();
        let p1: Vec<f64> = rows.iter().map(|row| row[1]).collect();
        (roc_auc(&positive, &p1), average_precision(&positive, &p1))
    } else if all_present {
        let per_class_scores = |metric: fn(&[bool], &[f64]) -> Option<f64>| -> Option<f64> {
            let scores: Option<Vec<f64>> = (0..k)
                .map(|c| {
                    let positive: Vec<bool> = truth.iter().map(|&t| t == c).collect();
                    let score: Vec<f64> = rows.iter().map(|row| row[c]).collect();
                    metric(&positive, &score)
                })
                .collect();
            scores.map(|s| mean(&s))
        };
        // roc_auc_score refuses scores that are not probabilities: np.allclose(1, row sums).
        let rows_sum_to_one = rows
            .iter()
            .all(|row| (1.0 - sum(row)).abs() <= 1e-8 + 1e-5 * sum(row).abs());
        let roc = if rows_sum_to_one {
            per_class_scores(roc_auc)
        } else {
            None
        };
        (roc, per_class_scores(average_precision))
    } else {
        (None, None)
    };

    Ok(ClassificationMetrics {
        accuracy: correct as f64 / n as f64,
        balanced_accuracy: mean(&present_recall),
        precision_macro: mean(&precision),
        recall_macro: mean(&recall),
        f1_macro: mean(&f1),
        precision_weighted: weighted_mean(&precision, &weights),
        recall_weighted: weighted_mean(&recall, &weights),
        f1_weighted: weighted_mean(&f1, &weights),
        per_class,
        roc_auc,
        pr_auc,
        log_loss: log_loss(&truth, &rows),
        brier: brier(&truth, &rows),
        confusion_matrix,
    })
}

/// Index of the largest value, the first one on ties (`np.argmax`).
fn argmax(row: &[f64]) -> usize {
    let mut best = 0;
    for (c, &value) in row.iter().enumerate().skip(1) {
        if value > row[best] {
            best = c;
        }
    }
    best
}

/// scikit-learn's `log_loss`: clip to `[eps, 1 - eps]`, mean of `-ln(p[true class])`.
fn log_loss(truth: &[usize], rows: &[&[f64]]) -> f64 {
    let eps = f64::EPSILON;
    let losses: Vec<f64> = truth
        .iter()
        .zip(rows)
        .map(|(&t, row)| -row[t].clamp(eps, 1.0 - eps).ln())
        .collect();
    mean(&losses)
}

/// scikit-learn's `brier_score_loss`: binary on the positive-class probability (halved sum over
/// the two columns `1 - p1`, `p1`), multiclass on all columns without halving.
fn brier(truth: &[usize], rows: &[&[f64]]) -> f64 {
    if rows[0].len() == 2 {
        let terms: Vec<f64> = truth
            .iter()
            .zip(rows)
            .map(|(&t, row)| {
                let (t1, p1) = (if t == 1 { 1.0 } else { 0.0 }, row[1]);
                let (t0, p0) = (1.0 - t1, 1.0 - p1);
                sum(&[(t0 - p0) * (t0 - p0), (t1 - p1) * (t1 - p1)])
            })
            .collect();
        mean(&terms) * 0.5
    } else {
        let terms: Vec<f64> = truth
            .iter()
            .zip(rows)
            .map(|(&t, row)| {
                let squares: Vec<f64> = row
                    .iter()
                    .enumerate()
                    .map(|(c, &p)| {
                        let d = if c == t { 1.0 } else { 0.0 } - p;
                        d * d
                    })
                    .collect();
                sum(&squares)
            })
            .collect();
        mean(&terms)
    }
}
