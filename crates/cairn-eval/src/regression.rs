//! Regression metrics, equal to scikit-learn's.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::EvalError;
use crate::sum::{mean, sum};

/// Every regression metric of one set of predictions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegressionMetrics {
    /// `root_mean_squared_error(y, pred)`.
    pub rmse: f64,
    /// `mean_absolute_error(y, pred)`.
    pub mae: f64,
    /// `r2_score(y, pred)`: 1.0 for a perfect prediction, and for a constant `y_true` 1.0 when
    /// predicted exactly, else 0.0. `None` for fewer than two rows (scikit-learn returns NaN).
    pub r2: Option<f64>,
    /// `mean_absolute_percentage_error(y, pred)`: mean of `|pred - y| / max(|y|, f64::EPSILON)`,
    /// a fraction (0.05 = 5 %), huge when some `y` is 0.
    pub mape: f64,
}

impl RegressionMetrics {
    /// The scalar metrics, named `{prefix}rmse`, `{prefix}mae`, `{prefix}r2` and `{prefix}mape`;
    /// an undefined R² is left out.
    pub fn flat(&self, prefix: &str) -> BTreeMap<String, f64> {
        [
            ("rmse", Some(self.rmse)),
            ("mae", Some(self.mae)),
            ("r2", self.r2),
            ("mape", Some(self.mape)),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.map(|v| (format!("{prefix}{name}"), v)))
        .collect()
    }
}

/// Regression metrics of `y_pred` against `y_true`, one value per row in each.
///
/// One deliberate difference from scikit-learn: when every `y_true` is the same number, R² follows
/// scikit-learn's documented rule (1.0 if predicted exactly, else 0.0) even where numpy's mean of
/// that constant is off by an ulp, which makes scikit-learn divide by a tiny non-zero variance and
/// report R² near -1e29 (e.g. `y_true = [0.1, 0.1, 0.1]`).
pub fn regression(y_true: &[f64], y_pred: &[f64]) -> Result<RegressionMetrics, EvalError> {
    if y_true.len() != y_pred.len() {
        return Err(EvalError::LengthMismatch {
            left_name: "y_true",
            left: y_true.len(),
            right_name: "y_pred",
            right: y_pred.len(),
        });
    }
    if y_true.is_empty() {
        return Err(EvalError::Empty { input: "y_true" });
    }
    for (input, values) in [("y_true", y_true), ("y_pred", y_pred)] {
        if let Some((row, &value)) = values.iter().enumerate().find(|(_, v)| !v.is_finite()) {
            return Err(EvalError::NotFinite {
                input,
                row,
                column: None,
                value,
            });
        }
    }

    let squared: Vec<f64> = y_true
        .iter()
        .zip(y_pred)
        .map(|(t, p)| (t - p) * (t - p))
        .collect();
    let absolute: Vec<f64> = y_true
        .iter()
        .zip(y_pred)
        .map(|(t, p)| (p - t).abs())
        .collect();
    let percentage: Vec<f64> = y_true
        .iter()
        .zip(&absolute)
        .map(|(t, a)| a / t.abs().max(f64::EPSILON))
        .collect();

    Ok(RegressionMetrics {
        rmse: mean(&squared).sqrt(),
        mae: mean(&absolute),
        r2: r2(y_true, &squared),
        mape: mean(&percentage),
    })
}

/// `r2_score` with `force_finite=True`.
fn r2(y_true: &[f64], squared_errors: &[f64]) -> Option<f64> {
    if y_true.len() < 2 {
        return None;
    }
    let numerator = sum(squared_errors);
    let constant = y_true.iter().all(|&y| y == y_true[0]);
    let denominator = if constant {
        0.0
    } else {
        let centre = mean(y_true);
        let deviations: Vec<f64> = y_true.iter().map(|y| (y - centre) * (y - centre)).collect();
        sum(&deviations)
    };
    Some(if numerator == 0.0 {
        1.0
    } else if denominator == 0.0 {
        0.0
    } else {
        1.0 - numerator / denominator
    })
}
