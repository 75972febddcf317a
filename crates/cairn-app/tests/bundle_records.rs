//! What a bundle says about its run beside the model: lineage, model card, environment,
//! metrics, data reference and the KServe example — checked against the workspace's own records.

use cairn_app::{TrainRequest, Workspace};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../sample-data")
        .join(name)
}

fn json(b: &cairn_app::BundleContents, entry: &str) -> Value {
    b.json(entry)
        .unwrap_or_else(|| panic!("{entry} missing or not JSON"))
}

#[test]
fn a_bundle_records_lineage_card_environment_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = Workspace::open(&dir.path().join("ws")).unwrap();
    let silent = &mut cairn_app::Progress::silent();
    let csv = sample("penguins.csv");
    ws.import_dataset(&csv, None, Default::default(), silent)
        .unwrap();
    // A second version of the same data set: one cell changed.
    let text = std::fs::read_to_string(&csv).unwrap();
    let changed = dir.path().join("penguins.csv");
    std::fs::write(&changed, text.replacen("39.1", "40.1", 1)).unwrap();
    ws.import_dataset(&changed, Some("penguins"), Default::default(), silent)
        .unwrap();
    let v1 = ws.resolve_dataset("penguins@1").unwrap();
    let v2 = ws.resolve_dataset("penguins@2").unwrap();
    assert_ne!(v1.hash, v2.hash);

    let req = TrainRequest {
        dataset: "penguins@2".into(),
        target: "species".into(),
        model: "mlp".into(),
        seed: 11,
        name: Some("Penguins MLP".into()),
        tags: BTreeMap::from([(
            "intended_use".into(),
            "Teaching: species from measurements".into(),
        )]),
        params: BTreeMap::from([
            ("epochs".into(), cairn_core::ParamValue::Int(5)),
            ("val_size".into(), cairn_core::ParamValue::Float(0.1)),
        ]),
        ..Default::default()
    };
    ws.lend(|d| d.train(&req, silent)).unwrap();
    let run = ws.run("Penguins MLP").unwrap().run;
    let zip = dir.path().join("b.zip");
    ws.export_bundle("Penguins MLP", &zip).unwrap();
    let b = cairn_app::inspect_bundle(&zip, &[]).unwrap();
    assert!(b.report.ok(), "{:?}", b.report.problems);

    // Lineage: the data version with its earlier version, the split the run really used.
    let lineage = json(&b, "lineage.json");
    let data = &lineage["data"][0];
    assert_eq!(data["hash"], v2.hash.as_str());
    assert_eq!(data["hash"], run.dataset_hash.as_str());
    assert_eq!(data["version"], 2);
    assert_eq!(data["earlier_versions"][0]["hash"], v1.hash.as_str());
    let split = &lineage["split"];
    for (part, metric) in [
        ("train", "n_train"),
        ("validation", "n_val"),
        ("test", "n_test"),
    ] {
        assert_eq!(
            split[part]["rows"].as_f64().unwrap(),
            run.metrics[metric],
            "{part} rows"
        );
        assert_eq!(
            split[part]["row_numbers_sha256"].as_str().unwrap().len(),
            64
        );
    }
    assert_eq!(split["seed"], 11);
    assert_eq!(lineage["run"]["id"], run.id.as_str());
    assert_eq!(lineage["parents"], serde_json::json!([]));
    for e in &b.report.manifest.entries {
        if e.path.starts_with("model/") {
            assert_eq!(
                lineage["model_files"][&e.path],
                e.sha256.as_str(),
                "{}",
                e.path
            );
        }
    }

    // Metrics: final values and every history point.
    let finals = json(&b, "metrics/final.json");
    for (k, v) in &run.metrics {
        assert_eq!(finals[k].as_f64(), Some(*v), "{k}");
    }
    let history = json(&b, "metrics/history.json");
    let detail = ws.run("Penguins MLP").unwrap();
    for (k, points) in &detail.history {
        assert_eq!(history[k].as_array().unwrap().len(), points.len(), "{k}");
    }

    // Environment and data reference.
    assert_eq!(json(&b, "environment.json")["environment"], run.environment);
    let reference = json(&b, "data/reference.json");
    assert_eq!(reference["label"], "penguins@2");
    assert_eq!(reference["profile"]["rows"], 344);
    assert_eq!(reference["parent_version"], 1);

    // The model card, in JSON and markdown.
    let card = json(&b, "model_card.json");
    assert_eq!(card["intended_use"], "Teaching: species from measurements");
    assert_eq!(
        card["model"]["classes"],
        serde_json::json!(["Adelie", "Chinstrap", "Gentoo"])
    );
    assert_eq!(
        card["metrics"]["test"]["test_accuracy"].as_f64(),
        Some(run.metrics["test_accuracy"])
    );
    let limitations = card["limitations"].as_array().unwrap();
    assert!(
        limitations
            .iter()
            .any(|l| l.as_str().unwrap().contains("344 rows of `penguins@2`"))
    );
    assert!(
        limitations
            .iter()
            .any(|l| l.as_str().unwrap().contains("no category")),
        "penguins has text columns"
    );
    let md = b.text("model_card.md").unwrap();
    assert!(md.starts_with("# Model card: Penguins MLP\n"), "{md}");
    assert!(md.contains("## Intended use\n\nTeaching: species from measurements"));
    assert!(md.contains(&format!(
        "{} train / {} validation / {} test rows",
        run.metrics["n_train"], run.metrics["n_val"], run.metrics["n_test"]
    )));

    // KServe: a valid name and the ONNX format.
    let kserve = b.text("kserve/inferenceservice.yaml").unwrap();
    let short = &run.id.as_str()[..8];
    assert!(
        kserve.contains(&format!("  name: penguins-mlp-{short}\n")),
        "{kserve}"
    );
    assert!(kserve.contains("kind: InferenceService\n"));
    assert!(kserve.contains("        name: onnx\n"));
}
