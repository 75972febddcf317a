//! Preprocessing fitted on the training rows and saved with the model, so inference runs the
//! exact same transform: no training/serving skew by construction.
//!
//! Numeric columns: missing values are imputed (mean, median, most frequent or a constant, with
//! an optional 0/1 missing-indicator column), then scaled (standardised, min-max or left as
//! they are) with statistics of the imputed training values — the order of scikit-learn's
//! `Pipeline(SimpleImputer, StandardScaler)`. Text columns: one-hot (one column per training
//! category) or ordinal (the category's index in sorted order) encoding; a missing value is
//! imputed with the most frequent category when `impute = most_frequent` and is otherwise "no
//! category" (all zeros, or -1 for ordinal). A category never seen in training is, by the
//! `unseen` policy, either encoded as "no category" or refused with an error naming the column.
//! The target is label-encoded (classes sorted) for classification, standardised for regression.

use crate::{Result, TrainError};
use cairn_core::{Frame, FrameValues};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Text columns with more distinct values than this are refused for encoding.
pub const MAX_CATEGORIES: usize = 256;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Scaling {
    #[default]
    Standardize,
    #[serde(rename = "minmax")]
    MinMax,
    None,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Impute {
    #[default]
    Mean,
    Median,
    MostFrequent,
    Constant,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Encoding {
    #[default]
    #[serde(rename = "onehot")]
    OneHot,
    Ordinal,
}

/// What inference does with a text value that training never saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Unseen {
    /// Encode as "no category": all zeros for one-hot, -1 for ordinal.
    #[default]
    Ignore,
    /// Refuse the row with an error naming the column and the value.
    Error,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Task {
    #[default]
    Classification,
    Regression,
}

impl Task {
    pub fn as_str(self) -> &'static str {
        match self {
            Task::Classification => "classification",
            Task::Regression => "regression",
        }
    }
}

/// The choices that decide how preprocessing is fitted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct PreprocessConfig {
    pub scaling: Scaling,
    pub impute: Impute,
    /// The fill value for `impute = constant` (numeric columns).
    pub impute_value: f64,
    pub missing_indicator: bool,
    pub categorical: Encoding,
    pub unseen: Unseen,
    /// Feature columns to use (empty: every column but the target and `exclude`).
    pub features: Vec<String>,
    pub exclude: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeatureSpec {
    /// `x' = (x - shift) / scale`, a missing `x` replaced by `fill` first; with `indicator`, an
    /// extra 0/1 column says whether `x` was missing.
    Numeric {
        column: String,
        fill: f64,
        shift: f64,
        scale: f64,
        indicator: bool,
    },
    /// One indicator per training category. A missing value becomes `fill` when there is one.
    OneHot {
        column: String,
        categories: Vec<String>,
        fill: Option<String>,
        indicator: bool,
    },
    /// The index of the category in `categories`; -1 for "no category".
    Ordinal {
        column: String,
        categories: Vec<String>,
        fill: Option<String>,
        indicator: bool,
    },
}

impl FeatureSpec {
    pub fn column(&self) -> &str {
        match self {
            FeatureSpec::Numeric { column, .. }
            | FeatureSpec::OneHot { column, .. }
            | FeatureSpec::Ordinal { column, .. } => column,
        }
    }

    fn indicator(&self) -> bool {
        match self {
            FeatureSpec::Numeric { indicator, .. }
            | FeatureSpec::OneHot { indicator, .. }
            | FeatureSpec::Ordinal { indicator, .. } => *indicator,
        }
    }

    pub fn width(&self) -> usize {
        let base = match self {
            FeatureSpec::Numeric { .. } | FeatureSpec::Ordinal { .. } => 1,
            FeatureSpec::OneHot { categories, .. } => categories.len(),
        };
        base + usize::from(self.indicator())
    }

    /// Whether the column holds numbers (`true`) or text categories.
    pub fn is_numeric(&self) -> bool {
        matches!(self, FeatureSpec::Numeric { .. })
    }

    /// The names of the model-input columns this feature produces, in order.
    pub fn output_names(&self) -> Vec<String> {
        let mut names = match self {
            FeatureSpec::Numeric { column, .. } | FeatureSpec::Ordinal { column, .. } => {
                vec![column.clone()]
            }
            FeatureSpec::OneHot {
                column, categories, ..
            } => categories.iter().map(|c| format!("{column}={c}")).collect(),
        };
        if self.indicator() {
            names.push(format!("{}__missing", self.column()));
        }
        names
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum TargetSpec {
    /// Label encoding: the model's output `i` is `classes[i]`.
    Classes {
        column: String,
        classes: Vec<String>,
    },
    /// The model predicts `(y - mean) / std`; predictions are mapped back.
    Numeric { column: String, mean: f64, std: f64 },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    pub format_version: u32,
    pub config: PreprocessConfig,
    pub features: Vec<FeatureSpec>,
    pub target: TargetSpec,
}

/// The format of `preprocessing.json`; bumped when the meaning of a field changes.
pub const PREPROCESSING_FORMAT: u32 = 2;

fn no_column(frame: &Frame, column: &str, role: &str) -> TrainError {
    let names: Vec<&str> = frame.columns.iter().map(|c| c.name.as_str()).collect();
    TrainError::Column {
        column: column.into(),
        reason: format!(
            "there is no such column to use as {role}; the data set has: {}",
            names.join(", ")
        ),
    }
}

fn median(sorted: &[f64]) -> f64 {
    let n = sorted.len();
    if n == 0 {
        return 0.0;
    }
    if n % 2 == 1 {
        sorted[n / 2]
    } else {
        (sorted[n / 2 - 1] + sorted[n / 2]) / 2.0
    }
}

/// The most frequent value; ties go to the smallest (scikit-learn's `most_frequent`).
fn most_frequent<T: Ord + Clone>(values: impl Iterator<Item = T>) -> Option<T> {
    let mut counts: BTreeMap<T, usize> = BTreeMap::new();
    for v in values {
        *counts.entry(v).or_default() += 1;
    }
    let best = counts.values().copied().max()?;
    counts.into_iter().find(|(_, c)| *c == best).map(|(v, _)| v)
}

/// `f64` ordered by `total_cmp`, for counting numeric values.
#[derive(Debug, Clone, Copy, PartialEq)]
struct Num(f64);
impl Eq for Num {}
impl PartialOrd for Num {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Num {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl Preprocessor {
    /// Fits on `rows` of `frame`.
    pub fn fit(
        frame: &Frame,
        target: &str,
        task: Task,
        config: &PreprocessConfig,
        rows: &[usize],
    ) -> Result<Preprocessor> {
        let target_col = frame
            .column(target)
            .ok_or_else(|| no_column(frame, target, "the target"))?;
        let target_spec = match task {
            Task::Classification => {
                let labels = target_col.values.to_text();
                check_target_present(target, rows.iter().map(|&r| labels[r].is_some()))?;
                let classes: BTreeSet<String> =
                    rows.iter().filter_map(|&r| labels[r].clone()).collect();
                if classes.len() < 2 {
                    return Err(TrainError::Column {
                        column: target.into(),
                        reason: format!(
                            "the training rows hold {} class(es); classification needs at least 2",
                            classes.len()
                        ),
                    });
                }
                if classes.len() > MAX_CATEGORIES {
                    return Err(TrainError::Column {
                        column: target.into(),
                        reason: format!(
                            "{} distinct values is too many classes (limit {MAX_CATEGORIES}); for a numeric target use a regression model (`--model linear`, or `task=regression`)",
                            classes.len()
                        ),
                    });
                }
                TargetSpec::Classes {
                    column: target.into(),
                    classes: classes.into_iter().collect(),
                }
            }
            Task::Regression => {
                let FrameValues::Numeric(v) = &target_col.values else {
                    return Err(TrainError::Column {
                        column: target.into(),
                        reason: "regression needs a numeric target, and this column holds text; use a classifier (`--model logistic` or `mlp`)".into(),
                    });
                };
                check_target_present(target, rows.iter().map(|&r| v[r].is_some()))?;
                let ys: Vec<f64> = rows.iter().filter_map(|&r| v[r]).collect();
                let (mean, std) = mean_std(&ys);
                TargetSpec::Numeric {
                    column: target.into(),
                    mean,
                    std,
                }
            }
        };

        for name in config.features.iter().chain(&config.exclude) {
            if frame.column(name).is_none() {
                return Err(no_column(frame, name, "a feature"));
            }
        }
        let chosen = frame.columns.iter().filter(|c| {
            c.name != target
                && !config.exclude.contains(&c.name)
                && (config.features.is_empty() || config.features.contains(&c.name))
        });
        let mut features = Vec::new();
        for col in chosen {
            match &col.values {
                FrameValues::Numeric(v) => {
                    let present: Vec<f64> = rows.iter().filter_map(|&r| v[r]).collect();
                    let has_missing = present.len() < rows.len();
                    let fill = match config.impute {
                        Impute::Mean => mean_std(&present).0,
                        Impute::Median => {
                            let mut s = present.clone();
                            s.sort_by(f64::total_cmp);
                            median(&s)
                        }
                        Impute::MostFrequent => {
                            most_frequent(present.iter().map(|&x| Num(x))).map_or(0.0, |n| n.0)
                        }
                        Impute::Constant => config.impute_value,
                    };
                    let filled: Vec<f64> = rows.iter().map(|&r| v[r].unwrap_or(fill)).collect();
                    let (shift, scale) = match config.scaling {
                        Scaling::Standardize => mean_std(&filled),
                        Scaling::MinMax => {
                            let lo = filled.iter().copied().fold(f64::INFINITY, f64::min);
                            let hi = filled.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                            if lo.is_finite() && hi - lo > 1e-12 {
                                (lo, hi - lo)
                            } else {
                                (if lo.is_finite() { lo } else { 0.0 }, 1.0)
                            }
                        }
                        Scaling::None => (0.0, 1.0),
                    };
                    features.push(FeatureSpec::Numeric {
                        column: col.name.clone(),
                        fill,
                        shift,
                        scale,
                        indicator: config.missing_indicator && has_missing,
                    });
                }
                FrameValues::Text(v) => {
                    let present: Vec<&String> =
                        rows.iter().filter_map(|&r| v[r].as_ref()).collect();
                    let has_missing = present.len() < rows.len();
                    let cats: BTreeSet<String> = present.iter().map(|s| (*s).clone()).collect();
                    if cats.len() > MAX_CATEGORIES {
                        return Err(TrainError::Column {
                            column: col.name.clone(),
                            reason: format!(
                                "{} distinct text values is too many to encode (limit {MAX_CATEGORIES}); it looks like an identifier — leave it out with `--param exclude=[{}]`",
                                cats.len(),
                                col.name
                            ),
                        });
                    }
                    let fill = match config.impute {
                        Impute::MostFrequent => most_frequent(present.iter().map(|s| (*s).clone())),
                        _ => None,
                    };
                    let column = col.name.clone();
                    let categories = cats.into_iter().collect();
                    let indicator = config.missing_indicator && has_missing;
                    features.push(match config.categorical {
                        Encoding::OneHot => FeatureSpec::OneHot {
                            column,
                            categories,
                            fill,
                            indicator,
                        },
                        Encoding::Ordinal => FeatureSpec::Ordinal {
                            column,
                            categories,
                            fill,
                            indicator,
                        },
                    });
                }
            }
        }
        if features.is_empty() {
            return Err(TrainError::Invalid(
                "the data set has no feature columns besides the target".into(),
            ));
        }
        Ok(Preprocessor {
            format_version: PREPROCESSING_FORMAT,
            config: config.clone(),
            features,
            target: target_spec,
        })
    }

    pub fn n_features(&self) -> usize {
        self.features.iter().map(FeatureSpec::width).sum()
    }

    /// The model's number of outputs: one per class, or one for regression.
    pub fn n_outputs(&self) -> usize {
        match &self.target {
            TargetSpec::Classes { classes, .. } => classes.len(),
            TargetSpec::Numeric { .. } => 1,
        }
    }

    pub fn task(&self) -> Task {
        match self.target {
            TargetSpec::Classes { .. } => Task::Classification,
            TargetSpec::Numeric { .. } => Task::Regression,
        }
    }

    pub fn target_column(&self) -> &str {
        match &self.target {
            TargetSpec::Classes { column, .. } | TargetSpec::Numeric { column, .. } => column,
        }
    }

    pub fn classes(&self) -> &[String] {
        match &self.target {
            TargetSpec::Classes { classes, .. } => classes,
            TargetSpec::Numeric { .. } => &[],
        }
    }

    /// Names of the model-input columns, in order.
    pub fn output_names(&self) -> Vec<String> {
        self.features
            .iter()
            .flat_map(FeatureSpec::output_names)
            .collect()
    }

    /// The feature matrix of `rows`, row-major, `rows.len() × n_features()`.
    pub fn transform(&self, frame: &Frame, rows: &[usize]) -> Result<Vec<f32>> {
        let width = self.n_features();
        let mut out = vec![0f32; rows.len() * width];
        let mut offset = 0;
        for spec in &self.features {
            let col = frame
                .column(spec.column())
                .ok_or_else(|| TrainError::Column {
                    column: spec.column().into(),
                    reason: format!(
                        "the model needs this column ({}), and the input does not have it",
                        if spec.is_numeric() {
                            "a number"
                        } else {
                            "text"
                        }
                    ),
                })?;
            let w = spec.width();
            match (spec, &col.values) {
                (
                    FeatureSpec::Numeric {
                        fill,
                        shift,
                        scale,
                        indicator,
                        ..
                    },
                    FrameValues::Numeric(v),
                ) => {
                    for (i, &r) in rows.iter().enumerate() {
                        let x = v[r].filter(|x| x.is_finite());
                        if let Some(bad) = v[r].filter(|x| !x.is_finite()) {
                            return Err(TrainError::Column {
                                column: spec.column().into(),
                                reason: format!(
                                    "row {}: {bad} is not a finite number; leave the value empty to have it imputed",
                                    r + 1
                                ),
                            });
                        }
                        let cell = &mut out[i * width + offset..i * width + offset + w];
                        cell[0] = ((x.unwrap_or(*fill) - shift) / scale) as f32;
                        if *indicator {
                            cell[1] = f32::from(u8::from(x.is_none()));
                        }
                    }
                }
                (
                    FeatureSpec::OneHot {
                        categories,
                        fill,
                        indicator,
                        ..
                    }
                    | FeatureSpec::Ordinal {
                        categories,
                        fill,
                        indicator,
                        ..
                    },
                    FrameValues::Text(v),
                ) => {
                    let one_hot = matches!(spec, FeatureSpec::OneHot { .. });
                    for (i, &r) in rows.iter().enumerate() {
                        let value = v[r].as_ref().or(fill.as_ref());
                        let code = match value {
                            None => None,
                            Some(s) => match categories.binary_search(s) {
                                Ok(k) => Some(k),
                                Err(_) if self.config.unseen == Unseen::Ignore => None,
                                Err(_) => {
                                    return Err(TrainError::Column {
                                        column: spec.column().into(),
                                        reason: format!(
                                            "row {}: category `{s}` was not seen in training (known: {}); the model was trained with unseen=error",
                                            r + 1,
                                            preview(categories)
                                        ),
                                    });
                                }
                            },
                        };
                        let cell = &mut out[i * width + offset..i * width + offset + w];
                        if one_hot {
                            if let Some(k) = code {
                                cell[k] = 1.0;
                            }
                        } else {
                            cell[0] = code.map_or(-1.0, |k| k as f32);
                        }
                        if *indicator {
                            cell[w - 1] = f32::from(u8::from(v[r].is_none()));
                        }
                    }
                }
                (FeatureSpec::Numeric { .. }, FrameValues::Text(_)) => {
                    return Err(TrainError::Column {
                        column: spec.column().into(),
                        reason: "the model was trained on numbers here, and the input holds text"
                            .into(),
                    });
                }
                (_, FrameValues::Numeric(_)) => {
                    return Err(TrainError::Column {
                        column: spec.column().into(),
                        reason: "the model was trained on text categories here, and the input holds numbers".into(),
                    });
                }
            }
            offset += w;
        }
        Ok(out)
    }

    /// Class indices of `rows` of the target column (classification).
    pub fn labels(&self, frame: &Frame, rows: &[usize]) -> Result<Vec<u32>> {
        let TargetSpec::Classes { column, classes } = &self.target else {
            return Err(TrainError::Invalid(
                "a regression model has no class labels".into(),
            ));
        };
        let col = frame
            .column(column)
            .ok_or_else(|| no_column(frame, column, "the target"))?;
        let text = col.values.to_text();
        rows.iter()
            .map(|&r| {
                let label = text[r].as_deref().ok_or_else(|| TrainError::Column {
                    column: column.clone(),
                    reason: format!("row {}: the target is missing", r + 1),
                })?;
                classes
                    .binary_search_by(|c| c.as_str().cmp(label))
                    .map(|i| i as u32)
                    .map_err(|_| TrainError::Column {
                        column: column.clone(),
                        reason: format!("row {}: class `{label}` was not seen in training", r + 1),
                    })
            })
            .collect()
    }

    /// The raw numeric target of `rows` (regression).
    pub fn target_values(&self, frame: &Frame, rows: &[usize]) -> Result<Vec<f64>> {
        let TargetSpec::Numeric { column, .. } = &self.target else {
            return Err(TrainError::Invalid(
                "a classification model has no numeric target".into(),
            ));
        };
        let col = frame
            .column(column)
            .ok_or_else(|| no_column(frame, column, "the target"))?;
        let FrameValues::Numeric(v) = &col.values else {
            return Err(TrainError::Column {
                column: column.clone(),
                reason: "the target holds text; the model predicts numbers".into(),
            });
        };
        rows.iter()
            .map(|&r| {
                v[r].ok_or_else(|| TrainError::Column {
                    column: column.clone(),
                    reason: format!("row {}: the target is missing", r + 1),
                })
            })
            .collect()
    }

    /// Regression: the model's (scaled) output back in the target's units.
    pub fn unscale(&self, y: f64) -> f64 {
        match self.target {
            TargetSpec::Numeric { mean, std, .. } => y * std + mean,
            TargetSpec::Classes { .. } => y,
        }
    }

    /// Regression: a target value in the model's (scaled) units.
    pub fn scale_target(&self, y: f64) -> f64 {
        match self.target {
            TargetSpec::Numeric { mean, std, .. } => (y - mean) / std,
            TargetSpec::Classes { .. } => y,
        }
    }
}

fn preview(categories: &[String]) -> String {
    let mut s: Vec<String> = categories
        .iter()
        .take(8)
        .map(|c| format!("`{c}`"))
        .collect();
    if categories.len() > 8 {
        s.push(format!("… {} in all", categories.len()));
    }
    s.join(", ")
}

fn check_target_present(target: &str, present: impl Iterator<Item = bool>) -> Result<()> {
    let missing = present.filter(|p| !p).count();
    if missing > 0 {
        return Err(TrainError::Column {
            column: target.into(),
            reason: format!(
                "{missing} training rows have no target value; a target needs a value in every row (filter them out, e.g. with a quality rule, and import a new version)"
            ),
        });
    }
    Ok(())
}

/// Mean and population standard deviation (1 when the values are constant or absent).
fn mean_std(values: &[f64]) -> (f64, f64) {
    let n = values.len().max(1) as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
    let std = if var.sqrt() > 1e-12 { var.sqrt() } else { 1.0 };
    (mean, std)
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::{DataType, FrameColumn};

    fn frame() -> Frame {
        Frame {
            columns: vec![
                FrameColumn {
                    name: "x".into(),
                    dtype: DataType::Float,
                    values: FrameValues::Numeric(vec![Some(1.0), Some(3.0), None, Some(5.0)]),
                },
                FrameColumn {
                    name: "c".into(),
                    dtype: DataType::String,
                    values: FrameValues::Text(vec![
                        Some("b".into()),
                        Some("a".into()),
                        None,
                        Some("z".into()),
                    ]),
                },
                FrameColumn {
                    name: "y".into(),
                    dtype: DataType::String,
                    values: FrameValues::Text(vec![
                        Some("no".into()),
                        Some("yes".into()),
                        Some("no".into()),
                        Some("yes".into()),
                    ]),
                },
            ],
        }
    }

    fn fit(cfg: &PreprocessConfig) -> Preprocessor {
        Preprocessor::fit(&frame(), "y", Task::Classification, cfg, &[0, 1, 2]).unwrap()
    }

    #[test]
    fn fits_on_training_rows_only_and_encodes() {
        let f = frame();
        let p = fit(&PreprocessConfig::default());
        assert_eq!(p.classes(), ["no", "yes"]);
        assert_eq!(
            p.features[0],
            FeatureSpec::Numeric {
                column: "x".into(),
                fill: 2.0,
                shift: 2.0,
                // Population std of the imputed training values [1, 3, 2].
                scale: (2.0f64 / 3.0).sqrt(),
                indicator: false,
            }
        );
        let x = p.transform(&f, &[0, 1, 2, 3]).unwrap();
        let s = (2.0f64 / 3.0).sqrt();
        let z = |v: f64| ((v - 2.0) / s) as f32;
        // x imputed and standardised; missing text -> zeros; `z` unseen -> zeros.
        assert_eq!(
            x,
            vec![
                z(1.0),
                0.0,
                1.0,
                z(3.0),
                1.0,
                0.0,
                z(2.0),
                0.0,
                0.0,
                z(5.0),
                0.0,
                0.0
            ]
        );
        assert_eq!(p.labels(&f, &[0, 1, 2, 3]).unwrap(), vec![0, 1, 0, 1]);
        assert_eq!(p.output_names(), ["x", "c=a", "c=b"]);
    }

    #[test]
    fn imputers_scalers_encoders_and_indicators() {
        let f = frame();
        let cfg = PreprocessConfig {
            scaling: Scaling::MinMax,
            impute: Impute::MostFrequent,
            missing_indicator: true,
            categorical: Encoding::Ordinal,
            ..Default::default()
        };
        let p = fit(&cfg);
        // most frequent of [1, 3] is the smaller on a tie; min-max over [1, 3, 1].
        assert_eq!(
            p.features[0],
            FeatureSpec::Numeric {
                column: "x".into(),
                fill: 1.0,
                shift: 1.0,
                scale: 2.0,
                indicator: true,
            }
        );
        let x = p.transform(&f, &[0, 1, 2, 3]).unwrap();
        // Columns: x, x__missing, c (ordinal), c__missing.
        assert_eq!(p.output_names(), ["x", "x__missing", "c", "c__missing"]);
        assert_eq!(
            x,
            vec![
                0.0, 0.0, 1.0, 0.0, //
                1.0, 0.0, 0.0, 0.0, //
                0.0, 1.0, 0.0, 1.0, // missing text imputed with `a` (tie → smallest)
                2.0, 0.0, -1.0, 0.0, // unseen `z` → -1
            ]
        );
        let med = fit(&PreprocessConfig {
            impute: Impute::Median,
            scaling: Scaling::None,
            ..Default::default()
        });
        assert_eq!(med.transform(&f, &[2]).unwrap()[0], 2.0);
        let konst = fit(&PreprocessConfig {
            impute: Impute::Constant,
            impute_value: -7.0,
            scaling: Scaling::None,
            ..Default::default()
        });
        assert_eq!(konst.transform(&f, &[2]).unwrap()[0], -7.0);
    }

    #[test]
    fn unseen_error_policy_names_the_value() {
        let p = fit(&PreprocessConfig {
            unseen: Unseen::Error,
            ..Default::default()
        });
        let err = p.transform(&frame(), &[3]).unwrap_err().to_string();
        assert!(err.contains("column `c`") && err.contains("`z`"), "{err}");
    }

    #[test]
    fn regression_target_is_standardised() {
        let f = frame();
        let p = Preprocessor::fit(
            &f,
            "x",
            Task::Regression,
            &PreprocessConfig::default(),
            &[0, 1, 3],
        )
        .unwrap();
        assert_eq!(p.n_outputs(), 1);
        assert!((p.unscale(p.scale_target(4.5)) - 4.5).abs() < 1e-12);
        let err = Preprocessor::fit(
            &f,
            "x",
            Task::Regression,
            &PreprocessConfig::default(),
            &[0, 2],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("1 training rows have no target"), "{err}");
        let err = Preprocessor::fit(
            &f,
            "c",
            Task::Regression,
            &PreprocessConfig::default(),
            &[0],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("numeric target"), "{err}");
    }

    #[test]
    fn explains_bad_targets_and_inputs() {
        let f = frame();
        let err = Preprocessor::fit(
            &f,
            "nope",
            Task::Classification,
            &PreprocessConfig::default(),
            &[0, 1],
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("`nope`") && err.contains("x, c, y"), "{err}");
        let p = fit(&PreprocessConfig::default());
        let mut g = f.clone();
        g.columns.remove(0);
        let err = p.transform(&g, &[0]).unwrap_err().to_string();
        assert!(
            err.contains("column `x`") && err.contains("a number"),
            "{err}"
        );
        let mut h = f.clone();
        h.columns[0].values = FrameValues::Numeric(vec![Some(f64::NAN); 4]);
        let err = p.transform(&h, &[1]).unwrap_err().to_string();
        assert!(err.contains("row 2") && err.contains("NaN"), "{err}");
    }
}
