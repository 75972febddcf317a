//! Inference: batch scoring of a data set version into a Parquet file, and single records
//! given as JSON. Both run the saved preprocessing and weights of a run — the same transform
//! as in training.

use crate::train::{CONFIG, PREPROCESSING, WEIGHTS};
use crate::{AppError, ErrorCode, Result, Workspace};
use cairn_core::{DataType, Frame, FrameColumn, FrameValues, Run};
use cairn_train::preprocess::{FeatureSpec, Unseen};
use cairn_train::{DeviceChoice, LoadedModel, ModelConfig, Predictions, Preprocessor};
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

/// What `predict` wrote.
#[derive(Debug, Clone, Serialize)]
pub struct PredictSummary {
    pub run_id: String,
    pub dataset: String,
    pub rows: u64,
    pub out: String,
    pub columns: Vec<String>,
}

/// The prediction for one JSON record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordPrediction {
    /// The class label (classification) or the value (regression).
    pub prediction: serde_json::Value,
    /// Class → probability (classification).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub probabilities: Option<BTreeMap<String, f64>>,
    /// Documented fallbacks that were applied (imputed nulls, unseen categories).
    pub warnings: Vec<String>,
}

impl Workspace {
    /// The run and its model, ready to predict.
    pub fn load_model(&self, run_key: &str, device: DeviceChoice) -> Result<(Run, LoadedModel)> {
        let run = self.find_run(run_key)?;
        let artifacts = self.store.artifacts(&run.id)?;
        let get = |path: &str| -> Result<Vec<u8>> {
            let (_, sha, _) = artifacts.iter().find(|(p, _, _)| p == path).ok_or_else(|| {
                AppError::invalid(format!(
                    "run {} ({}) has no model (`{path}` is missing); it is {} — only runs that finished training can predict",
                    run.name,
                    run.id.short(),
                    run.status
                ))
            })?;
            self.artifacts.get(sha)
        };
        let weights = get(WEIGHTS)?;
        let unreadable = |what: &str, e: serde_json::Error| {
            AppError::new(
                ErrorCode::Internal,
                format!(
                    "the {what} of run {} cannot be read by this Cairn ({e}); it may come from another version",
                    run.id.short()
                ),
            )
        };
        let pre: Preprocessor = serde_json::from_slice(&get(PREPROCESSING)?)
            .map_err(|e| unreadable("preprocessing", e))?;
        let cfg: ModelConfig =
            serde_json::from_slice(&get(CONFIG)?).map_err(|e| unreadable("model config", e))?;
        let model = LoadedModel::load(&weights, pre, cfg, device)?;
        Ok((run, model))
    }

    /// Scores every row of a data set version and writes the predictions to `out` (Parquet,
    /// CSV or TSV by extension): `row` (1-based), the target when the data has it,
    /// `prediction`, and for classifiers `probability` (of the predicted class) and one
    /// `proba_<class>` column per class.
    pub fn predict_dataset(
        &self,
        run_key: &str,
        dataset: &str,
        out: &Path,
        device: DeviceChoice,
    ) -> Result<PredictSummary> {
        let (run, model) = self.load_model(run_key, device)?;
        let version = self.resolve_dataset(dataset)?;
        let frame = self.store.read_frame(&version)?;
        let preds = model.predict(&frame).map_err(|e| {
            let mut err = AppError::from(e);
            err.message = format!("{}: {}", version.label(), err.message);
            err
        })?;
        let n = frame.rows();
        let pre = &model.preprocessor;
        let mut columns = vec![FrameColumn {
            name: "row".into(),
            dtype: DataType::Integer,
            values: FrameValues::Numeric((1..=n).map(|r| Some(r as f64)).collect()),
        }];
        if let Some(target) = frame.column(pre.target_column()) {
            columns.push(target.clone());
        }
        match preds {
            Predictions::Classes { proba } => {
                let classes = pre.classes();
                let k = classes.len();
                let best: Vec<usize> = (0..n).map(|i| argmax(&proba[i * k..(i + 1) * k])).collect();
                columns.push(text_column(
                    "prediction",
                    best.iter().map(|&b| classes[b].clone()).collect(),
                ));
                columns.push(number_column(
                    "probability",
                    (0..n).map(|i| proba[i * k + best[i]]).collect(),
                ));
                for (c, class) in classes.iter().enumerate() {
                    columns.push(number_column(
                        &format!("proba_{class}"),
                        (0..n).map(|i| proba[i * k + c]).collect(),
                    ));
                }
            }
            Predictions::Values { values } => columns.push(number_column("prediction", values)),
        }
        let names = columns.iter().map(|c| c.name.clone()).collect();
        self.store.write_frame(&Frame { columns }, out)?;
        Ok(PredictSummary {
            run_id: run.id.to_string(),
            dataset: version.label(),
            rows: n as u64,
            out: out.display().to_string(),
            columns: names,
        })
    }

    /// Predicts JSON records: one object, or an array of objects, keyed by column name.
    /// Every field the model needs must be present; `null` takes the model's documented
    /// fallback (imputation). Wrong types, missing fields and (with `unseen=error`) unseen
    /// categories are refused, each named by record and field.
    pub fn predict_records(
        &self,
        run_key: &str,
        records: &serde_json::Value,
        device: DeviceChoice,
    ) -> Result<Vec<RecordPrediction>> {
        let (_, model) = self.load_model(run_key, device)?;
        let (frame, warnings) = records_to_frame(&model.preprocessor, records)?;
        let pre = &model.preprocessor;
        let n = frame.rows();
        Ok(match model.predict(&frame)? {
            Predictions::Classes { proba } => {
                let classes = pre.classes();
                let k = classes.len();
                (0..n)
                    .map(|i| {
                        let row = &proba[i * k..(i + 1) * k];
                        RecordPrediction {
                            prediction: classes[argmax(row)].clone().into(),
                            probabilities: Some(
                                classes.iter().cloned().zip(row.iter().copied()).collect(),
                            ),
                            warnings: warnings[i].clone(),
                        }
                    })
                    .collect()
            }
            Predictions::Values { values } => values
                .into_iter()
                .enumerate()
                .map(|(i, v)| RecordPrediction {
                    prediction: v.into(),
                    probabilities: None,
                    warnings: warnings[i].clone(),
                })
                .collect(),
        })
    }
}

fn argmax(row: &[f64]) -> usize {
    (0..row.len()).fold(0, |b, j| if row[j] > row[b] { j } else { b })
}

fn number_column(name: &str, values: Vec<f64>) -> FrameColumn {
    FrameColumn {
        name: name.into(),
        dtype: DataType::Float,
        values: FrameValues::Numeric(values.into_iter().map(Some).collect()),
    }
}

fn text_column(name: &str, values: Vec<String>) -> FrameColumn {
    FrameColumn {
        name: name.into(),
        dtype: DataType::String,
        values: FrameValues::Text(values.into_iter().map(Some).collect()),
    }
}

fn describe_json(v: &serde_json::Value) -> String {
    match v {
        serde_json::Value::String(s) => format!("the text \"{s}\""),
        serde_json::Value::Number(n) => format!("the number {n}"),
        serde_json::Value::Bool(b) => format!("{b}"),
        serde_json::Value::Array(_) => "a list".into(),
        serde_json::Value::Object(_) => "an object".into(),
        serde_json::Value::Null => "null".into(),
    }
}

/// Builds the model's input columns from JSON records, checking every field; returns the
/// frame and, per record, the fallbacks that were applied.
fn records_to_frame(
    pre: &Preprocessor,
    records: &serde_json::Value,
) -> Result<(Frame, Vec<Vec<String>>)> {
    let list: Vec<&serde_json::Map<String, serde_json::Value>> = match records {
        serde_json::Value::Object(o) => vec![o],
        serde_json::Value::Array(items) if !items.is_empty() => items
            .iter()
            .enumerate()
            .map(|(i, v)| {
                v.as_object().ok_or_else(|| {
                    AppError::invalid(format!(
                        "record {}: expected an object of column → value, got {}",
                        i + 1,
                        describe_json(v)
                    ))
                })
            })
            .collect::<Result<_>>()?,
        other => {
            return Err(AppError::invalid(format!(
                "expected a JSON object (one record) or a non-empty array of objects, got {}",
                describe_json(other)
            )));
        }
    };
    let mut problems = Vec::new();
    let mut warnings = vec![Vec::new(); list.len()];
    let mut columns = Vec::new();
    for spec in &pre.features {
        let name = spec.column();
        let fallback = match spec {
            FeatureSpec::Numeric { fill, .. } => format!("imputed with {fill}"),
            FeatureSpec::OneHot { fill: Some(f), .. }
            | FeatureSpec::Ordinal { fill: Some(f), .. } => {
                format!("imputed with `{f}`")
            }
            _ => "encoded as no category".into(),
        };
        let mut nums = Vec::new();
        let mut texts = Vec::new();
        for (i, rec) in list.iter().enumerate() {
            let at = format!("record {}, field `{name}`", i + 1);
            match rec.get(name) {
                None => problems.push(format!(
                    "{at}: missing; the model needs {} (send null to have it {fallback})",
                    if spec.is_numeric() { "a number" } else { "a text category" }
                )),
                Some(serde_json::Value::Null) => {
                    warnings[i].push(format!("field `{name}` is null: {fallback}"));
                    nums.push(None);
                    texts.push(None);
                }
                Some(v) => match (spec, v) {
                    (FeatureSpec::Numeric { .. }, serde_json::Value::Number(n)) => {
                        nums.push(n.as_f64());
                    }
                    (FeatureSpec::Numeric { .. }, serde_json::Value::Bool(b)) => {
                        nums.push(Some(f64::from(u8::from(*b))));
                    }
                    (FeatureSpec::Numeric { .. }, other) => problems.push(format!(
                        "{at}: expected a number, got {} (NaN and infinity are not allowed; send null for a missing value)",
                        describe_json(other)
                    )),
                    (
                        FeatureSpec::OneHot { categories, .. }
                        | FeatureSpec::Ordinal { categories, .. },
                        serde_json::Value::String(s),
                    ) => {
                        if categories.binary_search(s).is_err() {
                            if pre.config.unseen == Unseen::Error {
                                problems.push(format!(
                                    "{at}: category `{s}` was not seen in training; known: {}",
                                    categories.join(", ")
                                ));
                            } else {
                                warnings[i].push(format!(
                                    "field `{name}`: category `{s}` was not seen in training; encoded as no category (unseen=ignore)"
                                ));
                            }
                        }
                        texts.push(Some(s.clone()));
                    }
                    (_, other) => problems.push(format!(
                        "{at}: expected a text category, got {}",
                        describe_json(other)
                    )),
                },
            }
        }
        let values = if spec.is_numeric() {
            FrameValues::Numeric(nums)
        } else {
            FrameValues::Text(texts)
        };
        columns.push(FrameColumn {
            name: name.to_string(),
            dtype: if spec.is_numeric() {
                DataType::Float
            } else {
                DataType::String
            },
            values,
        });
    }
    if !problems.is_empty() {
        let shown: Vec<&String> = problems.iter().take(20).collect();
        let more = problems.len().saturating_sub(shown.len());
        let mut message = shown
            .iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join("; ");
        if more > 0 {
            message.push_str(&format!("; and {more} more"));
        }
        return Err(AppError::invalid(message));
    }
    Ok((Frame { columns }, warnings))
}
