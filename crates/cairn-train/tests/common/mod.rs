//! Test helpers: read a sample CSV into a Frame the way the store types it (a column is numeric
//! when every non-empty value parses as a number), and train with typed params.
#![allow(dead_code)]

use cairn_core::{DataType, Frame, FrameColumn, FrameValues, ParamValue};
use cairn_train::{DeviceChoice, ModelKind, TrainOutcome, TrainSpec};
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::PathBuf;

pub fn sample(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../sample-data")
        .join(name)
}

pub fn read_csv(name: &str) -> Frame {
    let mut rdr = csv::Reader::from_path(sample(name)).unwrap();
    let headers: Vec<String> = rdr.headers().unwrap().iter().map(String::from).collect();
    let mut cols: Vec<Vec<String>> = vec![Vec::new(); headers.len()];
    for rec in rdr.records() {
        for (i, v) in rec.unwrap().iter().enumerate() {
            cols[i].push(v.to_string());
        }
    }
    let columns = headers
        .into_iter()
        .zip(cols)
        .map(|(name, vals)| {
            let numeric = vals
                .iter()
                .all(|v| v.is_empty() || v.parse::<f64>().is_ok());
            let values = if numeric {
                FrameValues::Numeric(vals.iter().map(|v| v.parse().ok()).collect())
            } else {
                FrameValues::Text(
                    vals.into_iter()
                        .map(|v| (!v.is_empty()).then_some(v))
                        .collect(),
                )
            };
            FrameColumn {
                name,
                dtype: if numeric {
                    DataType::Float
                } else {
                    DataType::String
                },
                values,
            }
        })
        .collect();
    Frame { columns }
}

pub fn spec(model: ModelKind, seed: u64, kv: &[(&str, &str)]) -> TrainSpec {
    let given: BTreeMap<String, ParamValue> = kv
        .iter()
        .map(|(k, v)| (k.to_string(), ParamValue::infer(v)))
        .collect();
    TrainSpec::from_params(model, seed, &given).unwrap()
}

pub fn fit(frame: &Frame, target: &str, spec: &TrainSpec) -> TrainOutcome {
    cairn_train::train(
        frame,
        target,
        spec,
        DeviceChoice::Cpu,
        None,
        &mut |_: &cairn_train::EpochReport| ControlFlow::Continue(()),
    )
    .unwrap()
}

/// Accuracy of the test predictions (classification).
pub fn accuracy(out: &TrainOutcome) -> f64 {
    let cairn_train::TestPredictions::Classification { y_true, proba } = &out.test else {
        panic!("not a classifier");
    };
    let k = proba.len() / y_true.len();
    let correct = y_true
        .iter()
        .enumerate()
        .filter(|(i, y)| {
            let row = &proba[i * k..(i + 1) * k];
            let best = (0..k).fold(0, |b, j| if row[j] > row[b] { j } else { b });
            best == **y as usize
        })
        .count();
    correct as f64 / y_true.len() as f64
}

pub fn r2(out: &TrainOutcome) -> f64 {
    let cairn_train::TestPredictions::Regression { y_true, y_pred } = &out.test else {
        panic!("not a regressor");
    };
    let mean = y_true.iter().sum::<f64>() / y_true.len() as f64;
    let ss_res: f64 = y_true
        .iter()
        .zip(y_pred)
        .map(|(a, b)| (a - b).powi(2))
        .sum();
    let ss_tot: f64 = y_true.iter().map(|a| (a - mean).powi(2)).sum();
    1.0 - ss_res / ss_tot
}
