//! Preprocessing fitted on the training rows and saved with the model, so inference runs the
//! exact same transform: no training/serving skew by construction.
//!
//! Numeric columns are standardised (missing values imputed with the training mean, i.e. 0 after
//! scaling); text columns are one-hot encoded over the categories seen in training, and a category
//! never seen in training encodes as all zeros. The target is label-encoded, classes sorted.

use crate::{Result, TrainError};
use cairn_core::{Frame, FrameValues};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

/// Text columns with more distinct values than this are refused for one-hot encoding.
pub const MAX_CATEGORIES: usize = 256;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeatureSpec {
    /// `(x - mean) / std`; a missing value becomes 0 (the mean).
    Standardize { column: String, mean: f64, std: f64 },
    /// One indicator per training category; unseen categories and missing values are all zeros.
    OneHot {
        column: String,
        categories: Vec<String>,
    },
}

impl FeatureSpec {
    pub fn column(&self) -> &str {
        match self {
            FeatureSpec::Standardize { column, .. } | FeatureSpec::OneHot { column, .. } => column,
        }
    }

    pub fn width(&self) -> usize {
        match self {
            FeatureSpec::Standardize { .. } => 1,
            FeatureSpec::OneHot { categories, .. } => categories.len(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Preprocessor {
    pub format_version: u32,
    pub features: Vec<FeatureSpec>,
    pub target: String,
    /// Class labels; the model's output `i` is `classes[i]`.
    pub classes: Vec<String>,
}

impl Preprocessor {
    /// Fits on `rows` of `frame`: every column but `target` becomes a feature.
    pub fn fit(frame: &Frame, target: &str, rows: &[usize]) -> Result<Preprocessor> {
        let target_col = frame.column(target).ok_or_else(|| {
            let names: Vec<&str> = frame.columns.iter().map(|c| c.name.as_str()).collect();
            TrainError::Column {
                column: target.into(),
                reason: format!(
                    "there is no such column; the data set has: {}",
                    names.join(", ")
                ),
            }
        })?;
        let labels = target_col.values.to_text();
        let missing = labels.iter().filter(|l| l.is_none()).count();
        if missing > 0 {
            return Err(TrainError::Column {
                column: target.into(),
                reason: format!(
                    "{missing} rows have no target value; a target needs a value in every row"
                ),
            });
        }
        let classes: BTreeSet<String> = rows.iter().filter_map(|&r| labels[r].clone()).collect();
        if classes.len() < 2 {
            return Err(TrainError::Column {
                column: target.into(),
                reason: format!(
                    "the training rows hold {} class(es); classification needs at least 2",
                    classes.len()
                ),
            });
        }
        let mut features = Vec::new();
        for col in frame.columns.iter().filter(|c| c.name != target) {
            match &col.values {
                FrameValues::Numeric(v) => {
                    let present: Vec<f64> = rows.iter().filter_map(|&r| v[r]).collect();
                    let n = present.len().max(1) as f64;
                    let mean = present.iter().sum::<f64>() / n;
                    let var = present.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / n;
                    let std = if var.sqrt() > 1e-12 { var.sqrt() } else { 1.0 };
                    features.push(FeatureSpec::Standardize {
                        column: col.name.clone(),
                        mean,
                        std,
                    });
                }
                FrameValues::Text(v) => {
                    let cats: BTreeSet<String> =
                        rows.iter().filter_map(|&r| v[r].clone()).collect();
                    if cats.len() > MAX_CATEGORIES {
                        return Err(TrainError::Column {
                            column: col.name.clone(),
                            reason: format!(
                                "{} distinct text values is too many to one-hot encode (limit {MAX_CATEGORIES}); it looks like an identifier — remove the column",
                                cats.len()
                            ),
                        });
                    }
                    features.push(FeatureSpec::OneHot {
                        column: col.name.clone(),
                        categories: cats.into_iter().collect(),
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
            format_version: 1,
            features,
            target: target.into(),
            classes: classes.into_iter().collect(),
        })
    }

    pub fn n_features(&self) -> usize {
        self.features.iter().map(FeatureSpec::width).sum()
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
                    reason: "the model needs this column, and the input does not have it".into(),
                })?;
            match (spec, &col.values) {
                (FeatureSpec::Standardize { mean, std, .. }, FrameValues::Numeric(v)) => {
                    for (i, &r) in rows.iter().enumerate() {
                        out[i * width + offset] = v[r].map_or(0.0, |x| ((x - mean) / std) as f32);
                    }
                }
                (FeatureSpec::OneHot { categories, .. }, FrameValues::Text(v)) => {
                    for (i, &r) in rows.iter().enumerate() {
                        if let Some(k) =
                            v[r].as_ref().and_then(|s| categories.binary_search(s).ok())
                        {
                            out[i * width + offset + k] = 1.0;
                        }
                    }
                }
                (FeatureSpec::Standardize { .. }, FrameValues::Text(_)) => {
                    return Err(TrainError::Column {
                        column: spec.column().into(),
                        reason: "the model was trained on numbers here, and the input holds text"
                            .into(),
                    });
                }
                (FeatureSpec::OneHot { .. }, FrameValues::Numeric(_)) => {
                    return Err(TrainError::Column {
                        column: spec.column().into(),
                        reason: "the model was trained on text categories here, and the input holds numbers".into(),
                    });
                }
            }
            offset += spec.width();
        }
        Ok(out)
    }

    /// Class indices of `rows` of the target column.
    pub fn labels(&self, frame: &Frame, rows: &[usize]) -> Result<Vec<u32>> {
        let col = frame
            .column(&self.target)
            .ok_or_else(|| TrainError::Column {
                column: self.target.clone(),
                reason: "the target column is missing".into(),
            })?;
        let text = col.values.to_text();
        rows.iter()
            .map(|&r| {
                let label = text[r].as_deref().unwrap_or("");
                self.classes
                    .binary_search_by(|c| c.as_str().cmp(label))
                    .map(|i| i as u32)
                    .map_err(|_| TrainError::Column {
                        column: self.target.clone(),
                        reason: format!("row {}: class `{label}` was not seen in training", r + 1),
                    })
            })
            .collect()
    }
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

    #[test]
    fn fits_on_training_rows_only_and_encodes() {
        let f = frame();
        let p = Preprocessor::fit(&f, "y", &[0, 1, 2]).unwrap();
        assert_eq!(p.classes, vec!["no", "yes"]);
        assert_eq!(
            p.features[0],
            FeatureSpec::Standardize {
                column: "x".into(),
                mean: 2.0,
                std: 1.0
            }
        );
        assert_eq!(
            p.features[1],
            FeatureSpec::OneHot {
                column: "c".into(),
                categories: vec!["a".into(), "b".into()]
            }
        );
        let x = p.transform(&f, &[0, 1, 2, 3]).unwrap();
        // x standardised; missing -> 0; `z` unseen -> all zeros.
        assert_eq!(
            x,
            vec![-1.0, 0.0, 1.0, 1.0, 1.0, 0.0, 0.0, 0.0, 0.0, 3.0, 0.0, 0.0]
        );
        assert_eq!(p.labels(&f, &[0, 1, 2, 3]).unwrap(), vec![0, 1, 0, 1]);
    }

    #[test]
    fn explains_bad_targets_and_inputs() {
        let f = frame();
        let err = Preprocessor::fit(&f, "nope", &[0, 1])
            .unwrap_err()
            .to_string();
        assert!(err.contains("`nope`") && err.contains("x, c, y"), "{err}");
        let p = Preprocessor::fit(&f, "y", &[0, 1]).unwrap();
        let mut g = f.clone();
        g.columns.remove(0);
        let err = p.transform(&g, &[0]).unwrap_err().to_string();
        assert!(err.contains("column `x`"), "{err}");
    }
}
