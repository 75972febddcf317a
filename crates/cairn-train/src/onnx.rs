//! The ONNX writer: a trained model and its fitted preprocessing as one ONNX graph
//! (`model/model.onnx` in a bundle), so production can run it with onnxruntime and no Cairn.
//!
//! The protobuf messages are a hand-written subset of `onnx.proto` (proto2) with its field
//! numbers, encoded with `prost`: no protoc, no build script. Scalars that proto2 tracks for
//! presence (an attribute's `i`, `f`, …) are `Option`s so that a zero is still written, and
//! repeated scalars are written unpacked, as proto2 does. The output is deterministic: the same
//! model gives the same bytes (no timestamps, nodes and initializers in a fixed order).
//!
//! The graph's one input, `features` (float32 `[N, F]`), holds the model-input columns before
//! scaling: raw numbers for numeric columns (NaN for missing), the encoded columns for text
//! ones (see [`onnx_signature`]). The graph imputes, adds missing indicators, scales, runs the
//! network and maps its output the way [`crate::LoadedModel::predict`] does: the
//! preprocessing, softmax and target unscaling are computed in float64, as Candle's path does.

use crate::model::{Activation, AffineConfig, CnnConfig, MlpConfig, ModelConfig};
use crate::preprocess::{FeatureSpec, Preprocessor, TargetSpec};
use crate::{Result, TrainError};
use serde::Serialize;
use std::collections::BTreeSet;

/// The ONNX IR version written (onnxruntime ≥ 1.14 loads it).
pub const IR_VERSION: i64 = 8;
/// The opset of the default domain the graph uses.
pub const OPSET: i64 = 17;
/// The name of the graph's input.
pub const INPUT: &str = "features";

/// The protobuf messages of `onnx.proto` that the writer needs, with its field numbers.
pub mod proto {
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ModelProto {
        #[prost(int64, optional, tag = "1")]
        pub ir_version: Option<i64>,
        #[prost(message, repeated, tag = "8")]
        pub opset_import: Vec<OperatorSetIdProto>,
        #[prost(string, optional, tag = "2")]
        pub producer_name: Option<String>,
        #[prost(string, optional, tag = "3")]
        pub producer_version: Option<String>,
        #[prost(string, optional, tag = "4")]
        pub domain: Option<String>,
        #[prost(int64, optional, tag = "5")]
        pub model_version: Option<i64>,
        #[prost(string, optional, tag = "6")]
        pub doc_string: Option<String>,
        #[prost(message, optional, tag = "7")]
        pub graph: Option<GraphProto>,
        #[prost(message, repeated, tag = "14")]
        pub metadata_props: Vec<StringStringEntryProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct OperatorSetIdProto {
        #[prost(string, optional, tag = "1")]
        pub domain: Option<String>,
        #[prost(int64, optional, tag = "2")]
        pub version: Option<i64>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct StringStringEntryProto {
        #[prost(string, optional, tag = "1")]
        pub key: Option<String>,
        #[prost(string, optional, tag = "2")]
        pub value: Option<String>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct GraphProto {
        #[prost(message, repeated, tag = "1")]
        pub node: Vec<NodeProto>,
        #[prost(string, optional, tag = "2")]
        pub name: Option<String>,
        #[prost(message, repeated, tag = "5")]
        pub initializer: Vec<TensorProto>,
        #[prost(string, optional, tag = "10")]
        pub doc_string: Option<String>,
        #[prost(message, repeated, tag = "11")]
        pub input: Vec<ValueInfoProto>,
        #[prost(message, repeated, tag = "12")]
        pub output: Vec<ValueInfoProto>,
        #[prost(message, repeated, tag = "13")]
        pub value_info: Vec<ValueInfoProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct NodeProto {
        #[prost(string, repeated, tag = "1")]
        pub input: Vec<String>,
        #[prost(string, repeated, tag = "2")]
        pub output: Vec<String>,
        #[prost(string, optional, tag = "3")]
        pub name: Option<String>,
        #[prost(string, optional, tag = "4")]
        pub op_type: Option<String>,
        #[prost(message, repeated, tag = "5")]
        pub attribute: Vec<AttributeProto>,
        #[prost(string, optional, tag = "6")]
        pub doc_string: Option<String>,
        #[prost(string, optional, tag = "7")]
        pub domain: Option<String>,
    }

    /// `AttributeProto.AttributeType`.
    pub mod attribute_type {
        pub const FLOAT: i32 = 1;
        pub const INT: i32 = 2;
        pub const STRING: i32 = 3;
        pub const TENSOR: i32 = 4;
        pub const FLOATS: i32 = 6;
        pub const INTS: i32 = 7;
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct AttributeProto {
        #[prost(string, optional, tag = "1")]
        pub name: Option<String>,
        #[prost(int32, optional, tag = "20")]
        pub r#type: Option<i32>,
        #[prost(float, optional, tag = "2")]
        pub f: Option<f32>,
        #[prost(int64, optional, tag = "3")]
        pub i: Option<i64>,
        #[prost(bytes = "vec", optional, tag = "4")]
        pub s: Option<Vec<u8>>,
        #[prost(message, optional, tag = "5")]
        pub t: Option<TensorProto>,
        #[prost(float, repeated, packed = "false", tag = "7")]
        pub floats: Vec<f32>,
        #[prost(int64, repeated, packed = "false", tag = "8")]
        pub ints: Vec<i64>,
    }

    /// `TensorProto.DataType`.
    pub mod data_type {
        pub const FLOAT: i32 = 1;
        pub const BOOL: i32 = 9;
        pub const INT64: i32 = 7;
        pub const DOUBLE: i32 = 11;
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorProto {
        #[prost(int64, repeated, packed = "false", tag = "1")]
        pub dims: Vec<i64>,
        #[prost(int32, optional, tag = "2")]
        pub data_type: Option<i32>,
        #[prost(string, optional, tag = "8")]
        pub name: Option<String>,
        /// Little-endian values, row-major.
        #[prost(bytes = "vec", optional, tag = "9")]
        pub raw_data: Option<Vec<u8>>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct ValueInfoProto {
        #[prost(string, optional, tag = "1")]
        pub name: Option<String>,
        #[prost(message, optional, tag = "2")]
        pub r#type: Option<TypeProto>,
        #[prost(string, optional, tag = "3")]
        pub doc_string: Option<String>,
    }

    /// `TypeProto`, of which only the `tensor_type` member of the `value` oneof is used.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TypeProto {
        #[prost(message, optional, tag = "1")]
        pub tensor_type: Option<TypeProtoTensor>,
    }

    /// `TypeProto.Tensor`.
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TypeProtoTensor {
        #[prost(int32, optional, tag = "1")]
        pub elem_type: Option<i32>,
        #[prost(message, optional, tag = "2")]
        pub shape: Option<TensorShapeProto>,
    }

    #[derive(Clone, PartialEq, prost::Message)]
    pub struct TensorShapeProto {
        #[prost(message, repeated, tag = "1")]
        pub dim: Vec<Dimension>,
    }

    /// `TensorShapeProto.Dimension`; one of `dim_value` and `dim_param` is set (a oneof).
    #[derive(Clone, PartialEq, prost::Message)]
    pub struct Dimension {
        #[prost(int64, optional, tag = "1")]
        pub dim_value: Option<i64>,
        #[prost(string, optional, tag = "2")]
        pub dim_param: Option<String>,
    }
}

use proto::{
    AttributeProto, Dimension, GraphProto, ModelProto, NodeProto, OperatorSetIdProto,
    StringStringEntryProto, TensorProto, TensorShapeProto, TypeProto, TypeProtoTensor,
    ValueInfoProto, attribute_type, data_type,
};

/// One output of the exported graph.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OnnxOutput {
    pub name: String,
    /// `float32` or `int64`.
    pub dtype: String,
    /// `-1` stands for the batch dimension `N`.
    pub shape: Vec<i64>,
}

/// The exported graph's interface: what a caller feeds and what it gets back.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OnnxSignature {
    /// The one input tensor's name (`features`), float32 `[N, input_columns.len()]`.
    pub input: String,
    /// The columns of `features`, in order.
    pub input_columns: Vec<String>,
    pub outputs: Vec<OnnxOutput>,
    pub opset: i64,
}

/// The columns of the graph's `features` input, in order: a numeric column by its own name
/// (raw value, NaN for missing; its `__missing` indicator is computed in the graph); a one-hot
/// column as its `column=category` indicators (plus `column__missing` when the model has that
/// indicator); an ordinal column as the category index (-1 for none, plus `column__missing`).
pub fn input_columns(pre: &Preprocessor) -> Vec<String> {
    pre.features
        .iter()
        .flat_map(|f| match f {
            FeatureSpec::Numeric { column, .. } => vec![column.clone()],
            _ => f.output_names(),
        })
        .collect()
}

/// The interface of the graph [`to_onnx`] writes for this model.
pub fn onnx_signature(config: &ModelConfig, pre: &Preprocessor) -> OnnxSignature {
    let outputs = match &pre.target {
        TargetSpec::Classes { classes, .. } => vec![
            OnnxOutput {
                name: "probabilities".into(),
                dtype: "float32".into(),
                shape: vec![-1, classes.len() as i64],
            },
            OnnxOutput {
                name: "label".into(),
                dtype: "int64".into(),
                shape: vec![-1],
            },
        ],
        TargetSpec::Numeric { .. } => vec![OnnxOutput {
            name: "prediction".into(),
            dtype: "float32".into(),
            shape: vec![-1, n_outputs(config) as i64],
        }],
    };
    OnnxSignature {
        input: INPUT.into(),
        input_columns: input_columns(pre),
        outputs,
        opset: OPSET,
    }
}

fn n_outputs(config: &ModelConfig) -> usize {
    match config {
        ModelConfig::Linear(c) | ModelConfig::Logistic(c) => c.n_outputs,
        ModelConfig::Mlp(c) => c.n_outputs,
        ModelConfig::Cnn(c) => c.n_outputs,
    }
}

fn n_features(config: &ModelConfig) -> usize {
    match config {
        ModelConfig::Linear(c) | ModelConfig::Logistic(c) => c.n_features,
        ModelConfig::Mlp(c) => c.n_features,
        ModelConfig::Cnn(c) => c.channels * c.height * c.width,
    }
}

fn invalid(msg: impl std::fmt::Display) -> TrainError {
    TrainError::Invalid(format!("ONNX export: {msg}"))
}

/// The weights file, checked tensor by tensor against the shapes the config needs.
struct Weights<'a> {
    st: safetensors::SafeTensors<'a>,
}

impl Weights<'_> {
    /// The little-endian float32 bytes of tensor `name`, which must have shape `dims`.
    fn get(&self, name: &str, dims: &[usize]) -> Result<Vec<u8>> {
        let view = self.st.tensor(name).map_err(|_| {
            invalid(format_args!(
                "the weights have no tensor `{name}` (shape {dims:?}), which the model config needs"
            ))
        })?;
        if view.dtype() != safetensors::Dtype::F32 {
            return Err(invalid(format_args!(
                "tensor `{name}` is {:?}; the exporter reads float32 weights",
                view.dtype()
            )));
        }
        if view.shape() != dims {
            return Err(invalid(format_args!(
                "tensor `{name}` has shape {:?}, and the model config needs {dims:?}",
                view.shape()
            )));
        }
        Ok(view.data().to_vec())
    }
}

fn attr_int(name: &str, v: i64) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_type::INT),
        i: Some(v),
        ..Default::default()
    }
}

fn attr_ints(name: &str, v: &[i64]) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_type::INTS),
        ints: v.to_vec(),
        ..Default::default()
    }
}

fn attr_float(name: &str, v: f32) -> AttributeProto {
    AttributeProto {
        name: Some(name.into()),
        r#type: Some(attribute_type::FLOAT),
        f: Some(v),
        ..Default::default()
    }
}

fn tensor(name: &str, dtype: i32, dims: &[usize], raw: Vec<u8>) -> TensorProto {
    TensorProto {
        dims: dims.iter().map(|&d| d as i64).collect(),
        data_type: Some(dtype),
        name: Some(name.into()),
        raw_data: Some(raw),
    }
}

fn value_info(name: &str, elem: i32, dims: &[Option<i64>]) -> ValueInfoProto {
    ValueInfoProto {
        name: Some(name.into()),
        r#type: Some(TypeProto {
            tensor_type: Some(TypeProtoTensor {
                elem_type: Some(elem),
                shape: Some(TensorShapeProto {
                    dim: dims
                        .iter()
                        .map(|d| match d {
                            Some(v) => Dimension {
                                dim_value: Some(*v),
                                dim_param: None,
                            },
                            None => Dimension {
                                dim_value: None,
                                dim_param: Some("N".into()),
                            },
                        })
                        .collect(),
                }),
            }),
        }),
        doc_string: None,
    }
}

/// Builds the node list and initializers in order; names are unique by construction.
#[derive(Default)]
struct Graph {
    nodes: Vec<NodeProto>,
    initializers: Vec<TensorProto>,
    names: BTreeSet<String>,
}

impl Graph {
    fn fresh(&mut self, base: &str) -> String {
        let mut name = base.to_string();
        let mut k = 1;
        while self.names.contains(&name) {
            name = format!("{base}_{k}");
            k += 1;
        }
        self.names.insert(name.clone());
        name
    }

    fn init(&mut self, name: &str, dtype: i32, dims: &[usize], raw: Vec<u8>) -> String {
        let name = self.fresh(name);
        self.initializers.push(tensor(&name, dtype, dims, raw));
        name
    }

    fn f32s(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.init(name, data_type::FLOAT, dims, raw)
    }

    fn f64s(&mut self, name: &str, values: &[f64]) -> String {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.init(name, data_type::DOUBLE, &[values.len()], raw)
    }

    fn i64s(&mut self, name: &str, values: &[i64]) -> String {
        let raw = values.iter().flat_map(|v| v.to_le_bytes()).collect();
        self.init(name, data_type::INT64, &[values.len()], raw)
    }

    /// Adds a node whose one output is named after `out` (made unique); returns that name.
    fn op(&mut self, op: &str, inputs: &[&str], out: &str, attrs: Vec<AttributeProto>) -> String {
        let out = self.fresh(out);
        self.op_named(op, inputs, &out, attrs);
        out
    }

    /// Adds a node whose output has exactly the name `out` (a graph output, reserved up front).
    fn op_named(&mut self, op: &str, inputs: &[&str], out: &str, attrs: Vec<AttributeProto>) {
        self.nodes.push(NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![out.to_string()],
            name: Some(format!("{op}:{out}")),
            op_type: Some(op.into()),
            attribute: attrs,
            doc_string: None,
            domain: None,
        });
    }

    fn cast(&mut self, x: &str, to: i32, out: &str) -> String {
        self.op("Cast", &[x], out, vec![attr_int("to", to as i64)])
    }

    /// `x Wᵀ + b` with `W` `(out, in)` from the weights under `prefix`.
    fn dense(
        &mut self,
        w: &Weights,
        x: &str,
        prefix: &str,
        inp: usize,
        out: usize,
    ) -> Result<String> {
        let wn = format!("{prefix}.weight");
        let bn = format!("{prefix}.bias");
        let wd = w.get(&wn, &[out, inp])?;
        let bd = w.get(&bn, &[out])?;
        let wi = self.init(&wn, data_type::FLOAT, &[out, inp], wd);
        let bi = self.init(&bn, data_type::FLOAT, &[out], bd);
        Ok(self.op(
            "Gemm",
            &[x, &wi, &bi],
            &format!("{prefix}.out"),
            vec![attr_int("transB", 1)],
        ))
    }

    /// Inference-mode batch normalisation with the running statistics under `prefix`.
    fn batch_norm(&mut self, w: &Weights, x: &str, prefix: &str, c: usize) -> Result<String> {
        let mut inputs = Vec::new();
        for leaf in ["weight", "bias", "running_mean", "running_var"] {
            let name = format!("{prefix}.{leaf}");
            let data = w.get(&name, &[c])?;
            inputs.push(self.init(&name, data_type::FLOAT, &[c], data));
        }
        let refs: Vec<&str> = std::iter::once(x)
            .chain(inputs.iter().map(String::as_str))
            .collect();
        Ok(self.op(
            "BatchNormalization",
            &refs,
            &format!("{prefix}.out"),
            vec![attr_float("epsilon", 1e-5)],
        ))
    }

    fn activation(&mut self, x: &str, act: Activation) -> String {
        match act {
            Activation::Relu => self.op("Relu", &[x], "relu", vec![]),
            Activation::Tanh => self.op("Tanh", &[x], "tanh", vec![]),
            Activation::Sigmoid => self.op("Sigmoid", &[x], "sigmoid", vec![]),
            Activation::Gelu => self.gelu(x),
        }
    }

    /// Candle's `gelu`, the tanh approximation, from elementary ops (opset 17 has no Gelu):
    /// `0.5·x·(1 + tanh(√(2/π)·x·(1 + 0.044715·x²)))`, in the order Candle evaluates it.
    fn gelu(&mut self, x: &str) -> String {
        let half = self.f32s("gelu.half", &[], &[0.5]);
        let one = self.f32s("gelu.one", &[], &[1.0]);
        let c = self.f32s("gelu.c", &[], &[0.044715]);
        // Candle's SQRT_TWO_OVER_PI_F32: √(2/π) rounded to float32.
        let k = self.f32s(
            "gelu.sqrt_2_over_pi",
            &[],
            &[(2.0 / std::f64::consts::PI).sqrt() as f32],
        );
        // ((0.5·x)·(1 + tanh((k·x)·(1 + (0.044715·x)·x)))), operation by operation.
        let hx = self.op("Mul", &[&half, x], "gelu.hx", vec![]);
        let cx = self.op("Mul", &[&c, x], "gelu.cx", vec![]);
        let cxx = self.op("Mul", &[&cx, x], "gelu.cxx", vec![]);
        let inner = self.op("Add", &[&one, &cxx], "gelu.inner", vec![]);
        let kx = self.op("Mul", &[&k, x], "gelu.kx", vec![]);
        let arg = self.op("Mul", &[&kx, &inner], "gelu.arg", vec![]);
        let t = self.op("Tanh", &[&arg], "gelu.tanh", vec![]);
        let t1 = self.op("Add", &[&one, &t], "gelu.tanh1", vec![]);
        self.op("Mul", &[&hx, &t1], "gelu", vec![])
    }
}

/// The preprocessing part: `features` (raw) → the model-input matrix, float32.
fn preprocessing(g: &mut Graph, pre: &Preprocessor) -> String {
    // Per input column: fill, shift, scale (pass-through columns: 0, 0, 1), and where each
    // model-input column comes from: input column j, or the missing indicator of j (F + j).
    let mut fill = Vec::new();
    let mut shift = Vec::new();
    let mut scale = Vec::new();
    let mut gather: Vec<i64> = Vec::new();
    let mut has_indicator = false;
    let width = input_columns(pre).len() as i64;
    for f in &pre.features {
        match f {
            FeatureSpec::Numeric {
                fill: fv,
                shift: sv,
                scale: cv,
                indicator,
                ..
            } => {
                let j = fill.len() as i64;
                fill.push(*fv);
                shift.push(*sv);
                scale.push(*cv);
                gather.push(j);
                if *indicator {
                    gather.push(width + j);
                    has_indicator = true;
                }
            }
            FeatureSpec::OneHot { .. } | FeatureSpec::Ordinal { .. } => {
                for _ in 0..f.width() {
                    gather.push(fill.len() as i64);
                    fill.push(0.0);
                    shift.push(0.0);
                    scale.push(1.0);
                }
            }
        }
    }
    let x = g.cast(INPUT, data_type::DOUBLE, "pre.x64");
    let nan = g.op("IsNaN", &[&x], "pre.missing", vec![]);
    let fill = g.f64s("pre.fill", &fill);
    let shift = g.f64s("pre.shift", &shift);
    let scale = g.f64s("pre.scale", &scale);
    let filled = g.op("Where", &[&nan, &fill, &x], "pre.imputed", vec![]);
    let centred = g.op("Sub", &[&filled, &shift], "pre.centred", vec![]);
    let mut scaled = g.op("Div", &[&centred, &scale], "pre.scaled", vec![]);
    if has_indicator {
        let ind = g.cast(&nan, data_type::DOUBLE, "pre.indicators");
        let both = g.op(
            "Concat",
            &[&scaled, &ind],
            "pre.with_indicators",
            vec![attr_int("axis", 1)],
        );
        let idx = g.i64s("pre.columns", &gather);
        scaled = g.op(
            "Gather",
            &[&both, &idx],
            "pre.model_input64",
            vec![attr_int("axis", 1)],
        );
    }
    g.cast(&scaled, data_type::FLOAT, "model_input")
}

fn affine(g: &mut Graph, w: &Weights, x: &str, c: &AffineConfig) -> Result<String> {
    g.dense(w, x, "linear", c.n_features, c.n_outputs)
}

fn mlp(g: &mut Graph, w: &Weights, x: &str, c: &MlpConfig) -> Result<String> {
    let mut h = x.to_string();
    let mut width = c.n_features;
    for (i, &units) in c.hidden.iter().enumerate() {
        h = g.dense(w, &h, &format!("hidden{i}"), width, units)?;
        if c.batch_norm {
            h = g.batch_norm(w, &h, &format!("bn{i}"), units)?;
        }
        h = g.activation(&h, c.activation);
        // Dropout is the identity at inference.
        width = units;
    }
    g.dense(w, &h, "out", width, c.n_outputs)
}

fn cnn(g: &mut Graph, w: &Weights, x: &str, c: &CnnConfig) -> Result<String> {
    let shape = g.i64s(
        "cnn.image_shape",
        &[-1, c.channels as i64, c.height as i64, c.width as i64],
    );
    let mut h = g.op("Reshape", &[x, &shape], "cnn.image", vec![]);
    let k = c.kernel;
    let p = (k / 2) as i64;
    let mut c_in = c.channels;
    for (i, &ch) in c.conv.iter().enumerate() {
        let prefix = format!("conv{i}");
        let wn = format!("{prefix}.weight");
        let bn = format!("{prefix}.bias");
        let wd = w.get(&wn, &[ch, c_in, k, k])?;
        let bd = w.get(&bn, &[ch])?;
        let wi = g.init(&wn, data_type::FLOAT, &[ch, c_in, k, k], wd);
        let bi = g.init(&bn, data_type::FLOAT, &[ch], bd);
        h = g.op(
            "Conv",
            &[&h, &wi, &bi],
            &format!("{prefix}.out"),
            vec![
                attr_ints("kernel_shape", &[k as i64, k as i64]),
                attr_ints("pads", &[p, p, p, p]),
                attr_ints("strides", &[1, 1]),
            ],
        );
        if c.batch_norm {
            h = g.batch_norm(w, &h, &format!("bn{i}"), ch)?;
        }
        h = g.op("Relu", &[&h], "relu", vec![]);
        c_in = ch;
    }
    h = g.op(
        "MaxPool",
        &[&h],
        "cnn.pool",
        vec![
            attr_ints("kernel_shape", &[2, 2]),
            attr_ints("strides", &[2, 2]),
        ],
    );
    h = g.op("Flatten", &[&h], "cnn.flat", vec![attr_int("axis", 1)]);
    h = g.dense(w, &h, "fc", c.flat_width(), c.dense)?;
    h = g.op("Relu", &[&h], "relu", vec![]);
    g.dense(w, &h, "out", c.dense, c.n_outputs)
}

/// The ONNX model (serialised `ModelProto`) of a trained model: its config, its safetensors
/// weights and its fitted preprocessing. See the module documentation for the graph.
pub fn to_onnx(config: &ModelConfig, weights: &[u8], pre: &Preprocessor) -> Result<Vec<u8>> {
    let st = safetensors::SafeTensors::deserialize(weights).map_err(|e| {
        invalid(format_args!(
            "the weights are not a readable safetensors file: {e}"
        ))
    })?;
    let w = Weights { st };
    if n_features(config) != pre.n_features() {
        return Err(invalid(format_args!(
            "the model config takes {} input features, and the preprocessing makes {}",
            n_features(config),
            pre.n_features()
        )));
    }
    if n_outputs(config) != pre.n_outputs() {
        return Err(invalid(format_args!(
            "the model config has {} outputs, and the target needs {}",
            n_outputs(config),
            pre.n_outputs()
        )));
    }
    let mut g = Graph::default();
    for reserved in [INPUT, "probabilities", "label", "prediction"] {
        g.names.insert(reserved.into());
    }
    let x = preprocessing(&mut g, pre);
    let out = match config {
        ModelConfig::Linear(c) | ModelConfig::Logistic(c) => affine(&mut g, &w, &x, c)?,
        ModelConfig::Mlp(c) => mlp(&mut g, &w, &x, c)?,
        ModelConfig::Cnn(c) => cnn(&mut g, &w, &x, c)?,
    };
    let sig = onnx_signature(config, pre);
    let mut outputs = Vec::new();
    let mut metadata = vec![
        ("cairn.model", config.kind().as_str().to_string()),
        ("cairn.task", pre.task().as_str().to_string()),
        ("cairn.target", pre.target_column().to_string()),
        (
            "cairn.input_columns",
            serde_json::to_string(&sig.input_columns).expect("strings serialise"),
        ),
    ];
    // As Candle's path: the float32 output is widened to float64 before the softmax or the
    // unscaling, and the result is narrowed to float32 at the end.
    let out64 = g.cast(&out, data_type::DOUBLE, "output64");
    match &pre.target {
        TargetSpec::Classes { classes, .. } => {
            let p = g.op("Softmax", &[&out64], "proba64", vec![attr_int("axis", -1)]);
            g.op_named(
                "Cast",
                &[&p],
                "probabilities",
                vec![attr_int("to", data_type::FLOAT as i64)],
            );
            g.op_named(
                "ArgMax",
                &[&p],
                "label",
                vec![attr_int("axis", 1), attr_int("keepdims", 0)],
            );
            let k = Some(classes.len() as i64);
            outputs.push(value_info("probabilities", data_type::FLOAT, &[None, k]));
            outputs.push(value_info("label", data_type::INT64, &[None]));
            metadata.push((
                "cairn.classes",
                serde_json::to_string(classes).expect("strings serialise"),
            ));
        }
        TargetSpec::Numeric { mean, std, .. } => {
            let s = g.f64s("target.std", &[*std]);
            let m = g.f64s("target.mean", &[*mean]);
            let y = g.op("Mul", &[&out64, &s], "target.scaled", vec![]);
            let y = g.op("Add", &[&y, &m], "prediction64", vec![]);
            g.op_named(
                "Cast",
                &[&y],
                "prediction",
                vec![attr_int("to", data_type::FLOAT as i64)],
            );
            let k = Some(n_outputs(config) as i64);
            outputs.push(value_info("prediction", data_type::FLOAT, &[None, k]));
        }
    }
    let f = Some(sig.input_columns.len() as i64);
    let graph = GraphProto {
        node: g.nodes,
        name: Some(format!("cairn_{}", config.kind().as_str())),
        initializer: g.initializers,
        doc_string: None,
        input: vec![value_info(INPUT, data_type::FLOAT, &[None, f])],
        output: outputs,
        value_info: vec![],
    };
    let model = ModelProto {
        ir_version: Some(IR_VERSION),
        opset_import: vec![OperatorSetIdProto {
            domain: Some(String::new()),
            version: Some(OPSET),
        }],
        producer_name: Some("cairn".into()),
        producer_version: Some(env!("CARGO_PKG_VERSION").into()),
        domain: None,
        model_version: None,
        doc_string: None,
        graph: Some(graph),
        metadata_props: metadata
            .into_iter()
            .map(|(k, v)| StringStringEntryProto {
                key: Some(k.into()),
                value: Some(v),
            })
            .collect(),
    };
    Ok(prost::Message::encode_to_vec(&model))
}

#[cfg(test)]
mod tests;
