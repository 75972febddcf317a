//! The bundle's MLflow model directory (`mlflow/`): the ONNX model with MLflow's `onnx` and
//! `python_function` flavors, a tensor signature and an input example, so
//! `mlflow.pyfunc.load_model("mlflow")` serves it without Cairn.

use crate::{AppError, ErrorCode, Result};
use cairn_core::{DatasetVersion, Frame, FrameValues, Run};
use cairn_train::onnx::{OnnxSignature, onnx_signature};
use cairn_train::preprocess::FeatureSpec;
use cairn_train::{ModelConfig, Preprocessor};
use serde_json::{Value, json};
use std::collections::BTreeMap;

/// The directory inside the bundle.
pub const DIR: &str = "mlflow";
/// Rows of the training data written as the input example.
const EXAMPLE_ROWS: usize = 5;
/// The onnx / onnxruntime releases that read opset 17 and IR version 8.
const REQUIREMENTS: &str = "mlflow>=2.9\nonnx>=1.12\nonnxruntime>=1.14\nnumpy\npandas\n";

/// Rows of the ONNX `features` input for `rows` of `frame`, in the layout of
/// `onnx_signature(..).input_columns`: numeric columns raw (NaN when missing; the graph imputes,
/// scales and adds their indicators), text columns encoded exactly as training encodes them.
pub fn onnx_input_rows(pre: &Preprocessor, frame: &Frame, rows: &[usize]) -> Result<Vec<Vec<f32>>> {
    let encoded = pre.transform(frame, rows)?;
    let width = pre.n_features();
    let mut out = Vec::with_capacity(rows.len());
    for (i, &row) in rows.iter().enumerate() {
        let encoded = &encoded[i * width..(i + 1) * width];
        let mut values = Vec::with_capacity(width);
        let mut at = 0;
        for spec in &pre.features {
            let w = spec.width();
            if let FeatureSpec::Numeric { column, .. } = spec {
                let raw = match frame.column(column).map(|c| &c.values) {
                    Some(FrameValues::Numeric(v)) => v[row].map_or(f32::NAN, |x| x as f32),
                    _ => f32::NAN,
                };
                values.push(raw);
            } else {
                values.extend_from_slice(&encoded[at..at + w]);
            }
            at += w;
        }
        out.push(values);
    }
    Ok(out)
}

fn tensor_spec(name: &str, dtype: &str, shape: &[i64]) -> Value {
    json!({ "name": name, "type": "tensor", "tensor-spec": { "dtype": dtype, "shape": shape } })
}

/// A number of the input example; a missing value (NaN) is written as JSON `null`, as
/// MLflow's own encoder writes it.
fn example_value(x: f32) -> Value {
    if x.is_finite() {
        // Through f64 by way of the shortest f32 text, so 0.1f32 prints as 0.1.
        json!(x.to_string().parse::<f64>().unwrap_or(f64::from(x)))
    } else {
        Value::Null
    }
}

/// Adds `mlflow/MLmodel`, `mlflow/model.onnx`, the input examples and environment files.
pub(super) fn add_mlflow_dir(
    run: &Run,
    version: &DatasetVersion,
    frame: Option<&Frame>,
    entries: &mut BTreeMap<String, Vec<u8>>,
) -> Result<()> {
    let missing = |what: &str| {
        AppError::new(
            ErrorCode::Internal,
            format!("the bundle of run {} has no readable `{what}`", run.id),
        )
    };
    let onnx = entries
        .get("model/model.onnx")
        .cloned()
        .ok_or_else(|| missing("model/model.onnx"))?;
    let pre: Preprocessor = entries
        .get(crate::train::PREPROCESSING)
        .and_then(|b| serde_json::from_slice(b).ok())
        .ok_or_else(|| missing(crate::train::PREPROCESSING))?;
    let config: ModelConfig = entries
        .get(crate::train::CONFIG)
        .and_then(|b| serde_json::from_slice(b).ok())
        .ok_or_else(|| missing(crate::train::CONFIG))?;
    let sig: OnnxSignature = onnx_signature(&config, &pre);
    let inputs = json!([tensor_spec(
        &sig.input,
        "float32",
        &[-1, sig.input_columns.len() as i64]
    )]);
    let outputs: Vec<Value> = sig
        .outputs
        .iter()
        .map(|o| tensor_spec(&o.name, &o.dtype, &o.shape))
        .collect();
    let mut example_rows: Vec<Value> = Vec::new();
    if let Some(frame) = frame {
        let rows: Vec<usize> = (0..frame.rows().min(EXAMPLE_ROWS)).collect();
        for values in onnx_input_rows(&pre, frame, &rows)? {
            if values.len() != sig.input_columns.len() {
                return Err(AppError::new(
                    ErrorCode::Internal,
                    format!(
                        "the input example has {} columns and the ONNX input {}",
                        values.len(),
                        sig.input_columns.len()
                    ),
                ));
            }
            example_rows.push(Value::Array(
                values.into_iter().map(example_value).collect(),
            ));
        }
    }
    let example = json!({ (sig.input.clone()): example_rows });
    let compact = |v: &Value| serde_json::to_vec(v).expect("json serialises");
    let quoted = |v: &Value| {
        // YAML single-quoted scalar: a JSON text with `'` doubled.
        format!(
            "'{}'",
            String::from_utf8(compact(v))
                .expect("utf-8")
                .replace('\'', "''")
        )
    };
    let created = run
        .finished_at
        .as_deref()
        .unwrap_or(&run.created_at)
        .replace('T', " ")
        .trim_end_matches('Z')
        .to_string();
    let mut mlmodel = String::new();
    mlmodel
        .push_str("# An MLflow model written by Cairn: mlflow.pyfunc.load_model(<this folder>)\n");
    mlmodel.push_str("artifact_path: model\n");
    mlmodel.push_str("flavors:\n  onnx:\n    code: null\n    data: model.onnx\n    onnx_version: 1.12.0\n    providers:\n    - CPUExecutionProvider\n");
    mlmodel.push_str("  python_function:\n    data: model.onnx\n    env:\n      conda: conda.yaml\n      virtualenv: python_env.yaml\n    loader_module: mlflow.onnx\n    python_version: 3.11.0\n");
    mlmodel.push_str(&format!(
        "metadata:\n  cairn_run_id: {id}\n  cairn_run_name: {name}\n  cairn_data_version: {data}\n  cairn_data_hash: {hash}\n  onnx_opset: {opset}\n  input_columns: {columns}\n",
        id = run.id.as_str(),
        name = quoted(&json!(run.name)),
        data = quoted(&json!(version.label())),
        hash = version.hash,
        opset = sig.opset,
        columns = quoted(&json!(sig.input_columns)),
    ));
    mlmodel.push_str(&format!("model_size_bytes: {}\n", onnx.len()));
    mlmodel.push_str(&format!("model_uuid: {}\n", run.id.as_str()));
    mlmodel.push_str(&format!("run_id: {}\n", run.id.as_str()));
    if !example_rows.is_empty() {
        mlmodel.push_str("saved_input_example_info:\n  artifact_path: input_example.json\n  serving_input_path: serving_input_example.json\n  type: ndarray\n");
    }
    mlmodel.push_str(&format!(
        "signature:\n  inputs: {}\n  outputs: {}\n  params: null\n",
        quoted(&inputs),
        quoted(&Value::Array(outputs))
    ));
    mlmodel.push_str(&format!("utc_time_created: '{created}'\n"));
    entries.insert(format!("{DIR}/MLmodel"), mlmodel.into_bytes());
    entries.insert(format!("{DIR}/model.onnx"), onnx);
    if !example_rows.is_empty() {
        entries.insert(format!("{DIR}/input_example.json"), compact(&example));
        let mut serving =
            serde_json::to_vec_pretty(&json!({ "inputs": example })).expect("json serialises");
        serving.push(b'\n');
        entries.insert(format!("{DIR}/serving_input_example.json"), serving);
    }
    entries.insert(
        format!("{DIR}/requirements.txt"),
        REQUIREMENTS.as_bytes().to_vec(),
    );
    entries.insert(
        format!("{DIR}/python_env.yaml"),
        b"python: 3.11\nbuild_dependencies:\n- pip\ndependencies:\n- -r requirements.txt\n"
            .to_vec(),
    );
    let mut conda =
        String::from("channels:\n- conda-forge\ndependencies:\n- python=3.11\n- pip\n- pip:\n");
    for req in REQUIREMENTS.lines() {
        conda.push_str(&format!("  - {req}\n"));
    }
    conda.push_str("name: mlflow-env\n");
    entries.insert(format!("{DIR}/conda.yaml"), conda.into_bytes());
    Ok(())
}
