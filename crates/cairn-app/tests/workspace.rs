//! The workspace end to end on real files: DuckDB on disk, tantivy on disk, Candle on CPU.

use cairn_app::{ErrorCode, Progress, RunStatus, Step, TrainRequest, Workspace};
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../sample-data")
        .join(name)
}

fn request(name: &str, seed: u64) -> TrainRequest {
    TrainRequest {
        dataset: "breast_cancer".into(),
        target: "target".into(),
        model: "logistic".into(),
        seed,
        name: Some(name.into()),
        tags: BTreeMap::from([("team".into(), "oncology".into())]),
        params: BTreeMap::new(),
        ..Default::default()
    }
}

#[test]
fn breast_cancer_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    let mut ws = Workspace::open(&root).unwrap();
    let imported = ws
        .import_dataset(
            &sample("breast_cancer.csv"),
            None,
            Default::default(),
            &mut cairn_app::Progress::silent(),
        )
        .unwrap();
    assert!(imported.created);
    assert_eq!(imported.version.name, "breast_cancer");
    assert_eq!(
        (imported.version.rows, imported.version.columns.len()),
        (569, 31)
    );

    let mut steps: Vec<Step> = Vec::new();
    let run = ws
        .lend(|d| {
            d.train(&request("bc-a", 42), &mut |s: &Step| {
                steps.push(s.clone());
                ControlFlow::Continue(())
            })
        })
        .unwrap();
    assert_eq!(run.status, RunStatus::Finished);
    let acc = run.metrics["test_accuracy"];
    assert!(
        acc >= 0.95,
        "logistic regression on breast cancer reached only {acc}"
    );
    let epochs: Vec<&Step> = steps
        .iter()
        .filter(|s| s.stage == "train" && s.total.is_some())
        .collect();
    assert_eq!(epochs.len(), 100);
    assert!(epochs.iter().all(|s| s.metrics.contains_key("train_loss")));
    let detail = ws.run("bc-a").unwrap();
    assert_eq!(detail.history["train_loss"].len(), 100);
    let paths: Vec<&str> = detail.artifacts.iter().map(|a| a.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "eval/metrics.json",
            "model/config.json",
            "model/preprocessing.json",
            "model/weights.safetensors"
        ]
    );

    // Same seed, same data, same config: the same weights, bit for bit.
    let again = ws
        .lend(|d| d.train(&request("bc-b", 42), &mut Progress::silent()))
        .unwrap();
    let weights = |key: &str| {
        ws.run(key)
            .unwrap()
            .artifacts
            .into_iter()
            .find(|a| a.path.ends_with(".safetensors"))
            .unwrap()
            .sha256
    };
    assert_eq!(weights("bc-a"), weights("bc-b"));
    assert_eq!(again.metrics, run.metrics);

    // Search by name, tag value and param value.
    let mut found = |q: &str| {
        ws.search(q, 10, 0)
            .unwrap()
            .runs
            .into_iter()
            .map(|r| r.name)
            .collect::<Vec<_>>()
    };
    assert_eq!(found("bc-a"), vec!["bc-a"]);
    assert_eq!(found("oncology").len(), 2);
    assert_eq!(found("0.01").len(), 2);

    // Bundles are byte-identical across exports and verify.
    let a = dir.path().join("a.zip");
    let b = dir.path().join("b.zip");
    ws.export_bundle("bc-a", &a).unwrap();
    ws.export_bundle("bc-a", &b).unwrap();
    assert_eq!(std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    assert!(cairn_app::verify_bundle(&a).unwrap().ok());
    // The model also travels as ONNX (checked against onnxruntime by tests/interop).
    let (entries, _) = cairn_bundle::read_entries("a.zip", &std::fs::read(&a).unwrap()).unwrap();
    let onnx = &entries["model/model.onnx"];
    let config: cairn_train::ModelConfig =
        serde_json::from_slice(&entries["model/config.json"]).unwrap();
    let pre: cairn_train::Preprocessor =
        serde_json::from_slice(&entries["model/preprocessing.json"]).unwrap();
    let again = cairn_train::to_onnx(&config, &entries["model/weights.safetensors"], &pre).unwrap();
    assert_eq!(onnx, &again);

    // Importing the same file again adds nothing.
    assert!(
        !ws.import_dataset(
            &sample("breast_cancer.csv"),
            None,
            Default::default(),
            &mut cairn_app::Progress::silent()
        )
        .unwrap()
        .created
    );
    assert_eq!(ws.datasets().unwrap().len(), 1);

    // The version two runs trained on cannot be deleted without --force, and says by whom.
    let err = ws.delete_dataset("breast_cancer@1", false).unwrap_err();
    assert_eq!(err.code, cairn_app::ErrorCode::InUse);
    assert!(
        err.message.contains("bc-a") && err.message.contains("bc-b"),
        "{}",
        err.message
    );
    let forced = ws.delete_dataset("breast_cancer@1", true).unwrap();
    assert_eq!(forced.runs.len(), 2);
    assert!(ws.datasets().unwrap().is_empty());
    assert_eq!(ws.run("bc-a").unwrap().run.dataset, "breast_cancer@1");
}

#[test]
fn a_second_open_names_the_holder() {
    let dir = tempfile::tempdir().unwrap();
    let _first = Workspace::open(dir.path()).unwrap();
    let err = Workspace::open(dir.path())
        .err()
        .expect("second open must fail");
    assert_eq!(err.code, ErrorCode::WorkspaceLocked);
    assert!(
        err.message
            .contains(&format!("process {}", std::process::id())),
        "{}",
        err.message
    );
}

#[test]
fn refuses_a_folder_that_is_not_a_workspace() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("notes.txt"), "mine").unwrap();
    let err = Workspace::open(dir.path()).err().unwrap();
    assert_eq!(err.code, ErrorCode::NotAWorkspace);
}

#[test]
fn a_lost_index_is_rebuilt_on_open() {
    let dir = tempfile::tempdir().unwrap();
    {
        let mut ws = Workspace::open(dir.path()).unwrap();
        ws.import_dataset(
            &sample("iris.csv"),
            None,
            Default::default(),
            &mut cairn_app::Progress::silent(),
        )
        .unwrap();
        let mut req = request("iris-run", 1);
        req.dataset = "iris".into();
        req.params
            .insert("epochs".into(), cairn_app::ParamValue::Int(5));
        ws.lend(|d| d.train(&req, &mut Progress::silent())).unwrap();
    }
    std::fs::remove_dir_all(dir.path().join("index")).unwrap();
    let mut ws = Workspace::open(dir.path()).unwrap();
    assert_eq!(ws.search("iris-run", 5, 0).unwrap().total, 1);
}

#[test]
fn training_errors_name_the_column() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(dir.path()).unwrap();
    ws.import_dataset(
        &sample("iris.csv"),
        None,
        Default::default(),
        &mut cairn_app::Progress::silent(),
    )
    .unwrap();
    let mut req = request("x", 1);
    req.dataset = "iris".into();
    req.target = "species".into();
    let err = ws
        .lend(|d| d.train(&req, &mut Progress::silent()))
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput);
    assert!(
        err.message.contains("`species`") && err.message.contains("sepal_length_cm"),
        "{}",
        err.message
    );
    assert!(
        ws.runs().unwrap().is_empty(),
        "no run is recorded for a request that cannot start"
    );
}
