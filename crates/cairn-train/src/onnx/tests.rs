use super::proto::{ModelProto, TensorProto};
use super::*;
use crate::model::{Net, seeded_init};
use crate::preprocess::PreprocessConfig;
use candle_core::{DType, Device, Tensor};
use candle_nn::{VarBuilder, VarMap};
use prost::Message;
use std::collections::BTreeMap;

fn numeric(column: &str, indicator: bool) -> FeatureSpec {
    FeatureSpec::Numeric {
        column: column.into(),
        fill: 1.5,
        shift: 0.25,
        scale: 2.0,
        indicator,
    }
}

fn preprocessor(features: Vec<FeatureSpec>, target: TargetSpec) -> Preprocessor {
    Preprocessor {
        format_version: crate::preprocess::PREPROCESSING_FORMAT,
        config: PreprocessConfig::default(),
        features,
        target,
    }
}

fn classes(k: usize) -> TargetSpec {
    TargetSpec::Classes {
        column: "species".into(),
        classes: (0..k).map(|i| format!("c{i}")).collect(),
    }
}

fn numbers(n: usize) -> Vec<FeatureSpec> {
    (0..n).map(|i| numeric(&format!("x{i}"), false)).collect()
}

/// Seeded weights for `config`, as the trainer would save them.
fn weights(config: &ModelConfig) -> Vec<u8> {
    let varmap = VarMap::new();
    let vb = VarBuilder::from_varmap(&varmap, DType::F32, &Device::Cpu);
    Net::load(vb, config).unwrap();
    seeded_init(&varmap, 7).unwrap();
    let data = varmap.data().lock().unwrap();
    let tensors: BTreeMap<String, Tensor> = data
        .iter()
        .map(|(k, v)| (k.clone(), v.as_tensor().clone()))
        .collect();
    safetensors::serialize(tensors.iter(), None).unwrap()
}

fn decode(bytes: &[u8]) -> ModelProto {
    ModelProto::decode(bytes).expect("a ModelProto")
}

fn ops(m: &ModelProto) -> Vec<String> {
    let g = m.graph.as_ref().unwrap();
    g.node.iter().map(|n| n.op_type.clone().unwrap()).collect()
}

fn initializer<'a>(m: &'a ModelProto, name: &str) -> &'a TensorProto {
    let g = m.graph.as_ref().unwrap();
    g.initializer
        .iter()
        .find(|t| t.name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no initializer {name}"))
}

fn output_names(m: &ModelProto) -> Vec<String> {
    let g = m.graph.as_ref().unwrap();
    g.output.iter().map(|o| o.name.clone().unwrap()).collect()
}

/// Checks what every exported model shares and returns the decoded model.
fn export(config: &ModelConfig, pre: &Preprocessor) -> ModelProto {
    let w = weights(config);
    let a = to_onnx(config, &w, pre).unwrap();
    let b = to_onnx(config, &w, pre).unwrap();
    assert_eq!(a, b, "the same model gives the same bytes");
    let m = decode(&a);
    assert_eq!(m.ir_version, Some(8));
    assert_eq!(m.opset_import.len(), 1);
    assert_eq!(m.opset_import[0].domain.as_deref(), Some(""));
    assert_eq!(m.opset_import[0].version, Some(17));
    assert_eq!(m.producer_name.as_deref(), Some("cairn"));
    let g = m.graph.as_ref().unwrap();
    assert_eq!(g.input.len(), 1);
    assert_eq!(g.input[0].name.as_deref(), Some("features"));
    let dims = &g.input[0]
        .r#type
        .as_ref()
        .unwrap()
        .tensor_type
        .as_ref()
        .unwrap()
        .shape
        .as_ref()
        .unwrap()
        .dim;
    assert_eq!(dims[0].dim_param.as_deref(), Some("N"));
    assert_eq!(dims[1].dim_value, Some(input_columns(pre).len() as i64));
    // Every node input is the graph input, an initializer or an earlier node's output.
    let mut known: BTreeSet<String> = g
        .initializer
        .iter()
        .map(|t| t.name.clone().unwrap())
        .collect();
    known.insert("features".into());
    for n in &g.node {
        for i in &n.input {
            assert!(known.contains(i), "{i} is used before it is defined");
        }
        known.extend(n.output.iter().cloned());
    }
    for o in output_names(&m) {
        assert!(known.contains(&o), "output {o} is not computed");
    }
    // Every float32 initializer's raw data matches its dims.
    for t in &g.initializer {
        let n: i64 = t.dims.iter().product();
        let size = match t.data_type.unwrap() {
            data_type::FLOAT => 4,
            data_type::DOUBLE | data_type::INT64 => 8,
            other => panic!("unexpected initializer type {other}"),
        };
        assert_eq!(
            t.raw_data.as_ref().unwrap().len() as i64,
            n * size,
            "{:?}",
            t.name
        );
    }
    let sig = onnx_signature(config, pre);
    assert_eq!(
        sig.outputs
            .iter()
            .map(|o| o.name.clone())
            .collect::<Vec<_>>(),
        output_names(&m)
    );
    m
}

#[test]
fn linear_regression_unscales_the_target() {
    let cfg = ModelConfig::Linear(AffineConfig {
        n_features: 3,
        n_outputs: 1,
    });
    let pre = preprocessor(
        numbers(3),
        TargetSpec::Numeric {
            column: "y".into(),
            mean: 150.0,
            std: 70.0,
        },
    );
    let m = export(&cfg, &pre);
    assert_eq!(
        ops(&m),
        [
            "Cast", "IsNaN", "Where", "Sub", "Div", "Cast", "Gemm", "Cast", "Mul", "Add", "Cast"
        ]
    );
    assert_eq!(output_names(&m), ["prediction"]);
    assert_eq!(initializer(&m, "linear.weight").dims, [1, 3]);
    let mean = initializer(&m, "target.mean").raw_data.clone().unwrap();
    assert_eq!(mean, 150.0f64.to_le_bytes());
    let sig = onnx_signature(&cfg, &pre);
    assert_eq!(sig.input, "features");
    assert_eq!(sig.input_columns, ["x0", "x1", "x2"]);
    assert_eq!(sig.outputs[0].shape, [-1, 1]);
    assert_eq!(sig.outputs[0].dtype, "float32");
    assert_eq!(sig.opset, 17);
}

#[test]
fn logistic_gives_softmax_probabilities_and_argmax_labels() {
    for k in [2, 3] {
        let cfg = ModelConfig::Logistic(AffineConfig {
            n_features: 4,
            n_outputs: k,
        });
        let pre = preprocessor(numbers(4), classes(k));
        let m = export(&cfg, &pre);
        let all = ops(&m);
        assert!(all.ends_with(&["Gemm", "Cast", "Softmax", "Cast", "ArgMax"].map(String::from)));
        assert_eq!(output_names(&m), ["probabilities", "label"]);
        let g = m.graph.as_ref().unwrap();
        let argmax = g
            .node
            .iter()
            .find(|n| n.op_type.as_deref() == Some("ArgMax"))
            .unwrap();
        let keepdims = argmax
            .attribute
            .iter()
            .find(|a| a.name.as_deref() == Some("keepdims"));
        assert_eq!(
            keepdims.unwrap().i,
            Some(0),
            "keepdims=0 is written, not left out"
        );
        let meta: BTreeMap<_, _> = m
            .metadata_props
            .iter()
            .map(|e| (e.key.clone().unwrap(), e.value.clone().unwrap()))
            .collect();
        assert_eq!(meta["cairn.task"], "classification");
        let expected: Vec<String> = (0..k).map(|i| format!("c{i}")).collect();
        assert_eq!(
            meta["cairn.classes"],
            serde_json::to_string(&expected).unwrap()
        );
        let sig = onnx_signature(&cfg, &pre);
        assert_eq!(sig.outputs[0].shape, [-1, k as i64]);
        assert_eq!(sig.outputs[1].dtype, "int64");
        assert_eq!(sig.outputs[1].shape, [-1]);
    }
}

#[test]
fn mlp_with_batch_norm_and_each_activation() {
    for act in [
        Activation::Relu,
        Activation::Tanh,
        Activation::Sigmoid,
        Activation::Gelu,
    ] {
        let cfg = ModelConfig::Mlp(MlpConfig {
            n_features: 5,
            hidden: vec![8, 4],
            n_outputs: 3,
            activation: act,
            dropout: 0.2,
            batch_norm: true,
        });
        let pre = preprocessor(numbers(5), classes(3));
        let m = export(&cfg, &pre);
        let all = ops(&m);
        assert_eq!(all.iter().filter(|o| *o == "Gemm").count(), 3);
        assert_eq!(all.iter().filter(|o| *o == "BatchNormalization").count(), 2);
        assert!(!all.iter().any(|o| o == "Dropout"));
        match act {
            Activation::Relu => assert_eq!(all.iter().filter(|o| *o == "Relu").count(), 2),
            Activation::Tanh => assert_eq!(all.iter().filter(|o| *o == "Tanh").count(), 2),
            Activation::Sigmoid => assert_eq!(all.iter().filter(|o| *o == "Sigmoid").count(), 2),
            // Composed: one Tanh per layer, no Gelu op in opset 17.
            Activation::Gelu => {
                assert_eq!(all.iter().filter(|o| *o == "Tanh").count(), 2);
                assert!(!all.iter().any(|o| o == "Gelu"));
            }
        }
        for name in [
            "bn0.running_mean",
            "bn0.running_var",
            "bn1.weight",
            "bn1.bias",
        ] {
            initializer(&m, name);
        }
        assert_eq!(initializer(&m, "hidden0.weight").dims, [8, 5]);
        assert_eq!(initializer(&m, "out.weight").dims, [3, 4]);
    }
}

#[test]
fn cnn_reshapes_convolves_pools_and_flattens() {
    let cfg = ModelConfig::Cnn(CnnConfig {
        channels: 1,
        height: 8,
        width: 8,
        conv: vec![4, 6],
        kernel: 3,
        dense: 16,
        n_outputs: 10,
        dropout: 0.1,
        batch_norm: true,
    });
    let pre = preprocessor(numbers(64), classes(10));
    let m = export(&cfg, &pre);
    let all = ops(&m);
    for op in [
        "Reshape",
        "Conv",
        "BatchNormalization",
        "MaxPool",
        "Flatten",
    ] {
        assert!(all.iter().any(|o| o == op), "{op} in {all:?}");
    }
    let g = m.graph.as_ref().unwrap();
    let conv = g
        .node
        .iter()
        .find(|n| n.op_type.as_deref() == Some("Conv"))
        .unwrap();
    let pads = conv
        .attribute
        .iter()
        .find(|a| a.name.as_deref() == Some("pads"))
        .unwrap();
    assert_eq!(pads.ints, [1, 1, 1, 1]);
    let shape = initializer(&m, "cnn.image_shape").raw_data.clone().unwrap();
    let dims: Vec<i64> = shape
        .chunks(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(dims, [-1, 1, 8, 8]);
    assert_eq!(initializer(&m, "conv1.weight").dims, [6, 4, 3, 3]);
    assert_eq!(initializer(&m, "fc.weight").dims, [16, 6 * 4 * 4]);
}

#[test]
fn indicators_are_computed_in_the_graph_and_text_columns_pass_through() {
    let features = vec![
        numeric("bill", true),
        FeatureSpec::OneHot {
            column: "island".into(),
            categories: vec!["A".into(), "B".into()],
            fill: None,
            indicator: true,
        },
        numeric("mass", false),
        FeatureSpec::Ordinal {
            column: "size".into(),
            categories: vec!["L".into(), "S".into()],
            fill: None,
            indicator: false,
        },
    ];
    let pre = preprocessor(features, classes(3));
    let cfg = ModelConfig::Logistic(AffineConfig {
        n_features: pre.n_features(),
        n_outputs: 3,
    });
    assert_eq!(pre.n_features(), 7);
    let sig = onnx_signature(&cfg, &pre);
    assert_eq!(
        sig.input_columns,
        [
            "bill",
            "island=A",
            "island=B",
            "island__missing",
            "mass",
            "size"
        ]
    );
    let m = export(&cfg, &pre);
    // Model columns: bill, bill__missing, island=A, island=B, island__missing, mass, size.
    let idx = initializer(&m, "pre.columns").raw_data.clone().unwrap();
    let idx: Vec<i64> = idx
        .chunks(8)
        .map(|c| i64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(idx, [0, 6, 1, 2, 3, 4, 5]);
    let fill = initializer(&m, "pre.fill").raw_data.clone().unwrap();
    let fill: Vec<f64> = fill
        .chunks(8)
        .map(|c| f64::from_le_bytes(c.try_into().unwrap()))
        .collect();
    assert_eq!(fill, [1.5, 0.0, 0.0, 0.0, 1.5, 0.0]);
}

fn err(config: &ModelConfig, w: &[u8], pre: &Preprocessor) -> String {
    to_onnx(config, w, pre).unwrap_err().to_string()
}

#[test]
fn hostile_weights_are_refused_with_the_tensor_named() {
    let cfg = ModelConfig::Mlp(MlpConfig {
        n_features: 3,
        hidden: vec![4],
        n_outputs: 2,
        activation: Activation::Relu,
        dropout: 0.0,
        batch_norm: true,
    });
    let pre = preprocessor(numbers(3), classes(2));
    let good = weights(&cfg);
    let st = safetensors::SafeTensors::deserialize(&good).unwrap();
    let rebuild = |skip: &str, replace: Option<(&str, Vec<usize>)>| -> Vec<u8> {
        let mut tensors = BTreeMap::new();
        for (name, view) in st.tensors() {
            if name == skip {
                continue;
            }
            let (shape, data) = match &replace {
                Some((n, shape)) if *n == name => {
                    let len: usize = shape.iter().product();
                    (shape.clone(), vec![0u8; len * 4])
                }
                _ => (view.shape().to_vec(), view.data().to_vec()),
            };
            tensors.insert(name, (shape, data));
        }
        let views: Vec<(String, safetensors::tensor::TensorView)> = tensors
            .iter()
            .map(|(n, (s, d))| {
                let v = safetensors::tensor::TensorView::new(safetensors::Dtype::F32, s.clone(), d)
                    .unwrap();
                (n.clone(), v)
            })
            .collect();
        safetensors::serialize(views, None).unwrap()
    };
    let missing = err(&cfg, &rebuild("bn0.running_var", None), &pre);
    assert!(missing.contains("`bn0.running_var`"), "{missing}");
    assert!(missing.contains("no tensor"), "{missing}");
    let shaped = err(
        &cfg,
        &rebuild("", Some(("hidden0.weight", vec![4, 2]))),
        &pre,
    );
    assert!(shaped.contains("`hidden0.weight`"), "{shaped}");
    assert!(
        shaped.contains("[4, 2]") && shaped.contains("[4, 3]"),
        "{shaped}"
    );
    let garbage = err(&cfg, b"not safetensors at all", &pre);
    assert!(garbage.contains("safetensors"), "{garbage}");
    assert!(err(&cfg, &[], &pre).contains("safetensors"));
    // A config that does not fit the preprocessing.
    let wide = preprocessor(numbers(4), classes(2));
    assert!(err(&cfg, &good, &wide).contains("input features"));
    let three = preprocessor(numbers(3), classes(3));
    assert!(err(&cfg, &good, &three).contains("outputs"));
    // float64 weights are named, not misread.
    let data = vec![0u8; 4 * 3 * 8];
    let v =
        safetensors::tensor::TensorView::new(safetensors::Dtype::F64, vec![4, 3], &data).unwrap();
    let f64s = safetensors::serialize([("hidden0.weight".to_string(), v)], None).unwrap();
    let typed = err(&cfg, &f64s, &pre);
    assert!(
        typed.contains("`hidden0.weight`") && typed.contains("F64"),
        "{typed}"
    );
}
