//! Training, checkpoints, resume and inference through the real workspace: DuckDB on disk,
//! the artifact store, Candle on CPU.

use cairn_app::{
    DeviceChoice, ErrorCode, ParamValue, Progress, RunStatus, Step, TrainRequest, Workspace,
};
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../sample-data")
        .join(name)
}

fn workspace(dir: &Path, files: &[&str]) -> Workspace {
    let mut ws = Workspace::open(&dir.join("ws")).unwrap();
    for f in files {
        ws.import_dataset(
            &sample(f),
            None,
            Default::default(),
            &mut Progress::silent(),
        )
        .unwrap();
    }
    ws
}

fn request(data: &str, target: &str, model: &str, params: &[(&str, &str)]) -> TrainRequest {
    TrainRequest {
        dataset: data.into(),
        target: target.into(),
        model: model.into(),
        seed: 42,
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), ParamValue::infer(v)))
            .collect(),
        ..Default::default()
    }
}

fn weights_sha(ws: &Workspace, run: &str) -> String {
    ws.run(run)
        .unwrap()
        .artifacts
        .iter()
        .find(|a| a.path == "model/weights.safetensors")
        .unwrap()
        .sha256
        .clone()
}

#[test]
fn penguins_with_missing_values_score_and_predict() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = workspace(dir.path(), &["penguins.csv"]);
    let mut req = request("penguins", "species", "logistic", &[]);
    req.name = Some("peng".into());
    let run = ws.lend(|d| d.train(&req, &mut Progress::silent())).unwrap();
    assert_eq!(run.status, RunStatus::Finished);
    let acc = run.metrics["test_accuracy"];
    assert!(acc >= 0.97, "penguins species accuracy {acc}");
    assert_eq!(run.environment["device"], "cpu");
    let eval = ws.run_evaluation("peng").unwrap();
    let m = eval.metrics.unwrap();
    let cm: Vec<Vec<u64>> =
        serde_json::from_value(m["metrics"]["confusion_matrix"].clone()).unwrap();
    assert_eq!(cm.len(), 3);
    assert_eq!(
        cm.iter().flatten().sum::<u64>() as f64,
        run.metrics["n_test"]
    );
    assert_eq!(
        m["classes"],
        serde_json::json!(["Adelie", "Chinstrap", "Gentoo"])
    );

    // Batch scoring into Parquet, read back through the import path.
    let out = dir.path().join("scores.parquet");
    let s = ws
        .predict_dataset("peng", "penguins", &out, DeviceChoice::Cpu)
        .unwrap();
    assert_eq!(s.rows, 344);
    assert_eq!(
        s.columns,
        [
            "row",
            "species",
            "prediction",
            "probability",
            "proba_Adelie",
            "proba_Chinstrap",
            "proba_Gentoo"
        ]
    );
    let back = ws
        .import_dataset(
            &out,
            Some("scores"),
            Default::default(),
            &mut Progress::silent(),
        )
        .unwrap();
    assert_eq!(back.version.rows, 344);
    let page = ws.dataset_page("scores", 0, 344).unwrap();
    let agree = page.rows.iter().filter(|r| r[1] == r[2]).count();
    assert!(
        agree as f64 / 344.0 > 0.97,
        "{agree} of 344 predictions match"
    );

    // Single records: the documented fallbacks, and clear per-field errors.
    let good = serde_json::json!({
        "island": "Biscoe", "bill_length_mm": 46.1, "bill_depth_mm": 13.2,
        "flipper_length_mm": 211, "body_mass_g": 4500, "sex": "female", "year": 2007
    });
    let p = ws
        .predict_records("peng", &good, DeviceChoice::Cpu)
        .unwrap();
    assert_eq!(p[0].prediction, "Gentoo");
    let probs = p[0].probabilities.as_ref().unwrap();
    assert!((probs.values().sum::<f64>() - 1.0).abs() < 1e-9);
    assert!(p[0].warnings.is_empty());
    let mut fallback = good.clone();
    fallback["sex"] = serde_json::Value::Null;
    fallback["island"] = "Atlantis".into();
    let p = ws
        .predict_records("peng", &fallback, DeviceChoice::Cpu)
        .unwrap();
    assert_eq!(p[0].warnings.len(), 2, "{:?}", p[0].warnings);
    assert!(
        p[0].warnings[0].contains("`Atlantis` was not seen"),
        "{:?}",
        p[0].warnings
    );

    let cases: Vec<(serde_json::Value, &str)> = vec![
        (
            {
                let mut v = good.clone();
                v.as_object_mut().unwrap().remove("body_mass_g");
                v
            },
            "record 1, field `body_mass_g`: missing; the model needs a number",
        ),
        (
            {
                let mut v = good.clone();
                v["bill_length_mm"] = "NaN".into();
                v
            },
            "record 1, field `bill_length_mm`: expected a number, got the text \"NaN\"",
        ),
        (
            {
                let mut v = good.clone();
                v["island"] = 3.into();
                v
            },
            "record 1, field `island`: expected a text category, got the number 3",
        ),
        (
            serde_json::json!([good.clone(), 7]),
            "record 2: expected an object",
        ),
        (serde_json::json!([]), "non-empty array"),
        (serde_json::json!("Biscoe"), "expected a JSON object"),
    ];
    for (input, want) in cases {
        let err = ws
            .predict_records("peng", &input, DeviceChoice::Cpu)
            .unwrap_err();
        assert_eq!(err.code, ErrorCode::InvalidInput);
        assert!(err.message.contains(want), "{input}: {}", err.message);
    }

    // Scoring data that lacks a feature column names it.
    ws.import_dataset(
        &sample("iris.csv"),
        None,
        Default::default(),
        &mut Progress::silent(),
    )
    .unwrap();
    let err = ws
        .predict_dataset(
            "peng",
            "iris",
            &dir.path().join("x.parquet"),
            DeviceChoice::Cpu,
        )
        .unwrap_err();
    assert!(
        err.message.contains("iris@1") && err.message.contains("column `"),
        "{}",
        err.message
    );
    assert!(!dir.path().join("x.parquet").exists());
}

#[test]
fn unseen_error_policy_refuses_by_field() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = workspace(dir.path(), &["penguins.csv"]);
    let mut req = request(
        "penguins",
        "species",
        "logistic",
        &[("unseen", "error"), ("epochs", "5")],
    );
    req.name = Some("strict".into());
    ws.lend(|d| d.train(&req, &mut Progress::silent())).unwrap();
    let rec = serde_json::json!({
        "island": "Atlantis", "bill_length_mm": 46.1, "bill_depth_mm": 13.2,
        "flipper_length_mm": 211, "body_mass_g": 4500, "sex": "female", "year": 2007
    });
    let err = ws
        .predict_records("strict", &rec, DeviceChoice::Cpu)
        .unwrap_err();
    assert!(
        err.message.contains("field `island`: category `Atlantis` was not seen in training; known: Biscoe, Dream, Torgersen"),
        "{}",
        err.message
    );
}

#[test]
fn a_cancelled_run_is_killed_and_resumes_to_the_uninterrupted_weights() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = workspace(dir.path(), &["wine.csv"]);
    let target = "target";
    let params = [
        ("epochs", "8"),
        ("hidden", "[32]"),
        ("dropout", "0.1"),
        ("checkpoint_every", "2"),
        ("val_size", "0.15"),
    ];
    let mut whole = request("wine", target, "mlp", &params);
    whole.name = Some("whole".into());
    ws.lend(|d| d.train(&whole, &mut Progress::silent()))
        .unwrap();

    let mut cut = request("wine", target, "mlp", &params);
    cut.name = Some("cut".into());
    let run = ws
        .lend(|d| {
            d.train(&cut, &mut |s: &Step| {
                if s.total.is_some() && s.done == 5 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            })
        })
        .unwrap();
    assert_eq!(run.status, RunStatus::Killed);
    assert!(
        run.error.as_deref().unwrap().contains("after epoch 5 of 8"),
        "{:?}",
        run.error
    );

    let resumed = ws
        .lend(|d| {
            d.train(
                &TrainRequest {
                    resume: Some("cut".into()),
                    ..Default::default()
                },
                &mut Progress::silent(),
            )
        })
        .unwrap();
    assert_eq!(resumed.status, RunStatus::Finished);
    assert_eq!(resumed.name, "cut-resumed");
    assert_eq!(resumed.tags["resumed_at_epoch"], "4");
    assert_eq!(resumed.params, ws.run("whole").unwrap().run.params);
    assert_eq!(
        weights_sha(&ws, &resumed.id.to_string()),
        weights_sha(&ws, "whole"),
        "resumed from epoch 4, the final weights are the uninterrupted run's, byte for byte"
    );
    assert_eq!(
        resumed.metrics["test_accuracy"],
        ws.run("whole").unwrap().run.metrics["test_accuracy"]
    );

    // A bundle carries the model, not the checkpoints.
    let zip = dir.path().join("whole.zip");
    ws.export_bundle("whole", &zip).unwrap();
    let report = cairn_app::verify_bundle(&zip).unwrap();
    let paths: Vec<&str> = report
        .manifest
        .entries
        .iter()
        .map(|e| e.path.as_str())
        .collect();
    assert!(paths.contains(&"model/weights.safetensors") && paths.contains(&"eval/metrics.json"));
    assert!(
        !paths.iter().any(|p| p.starts_with("checkpoints/")),
        "{paths:?}"
    );

    let err = ws
        .lend(|d| {
            d.train(
                &TrainRequest {
                    resume: Some("whole-nope".into()),
                    ..Default::default()
                },
                &mut Progress::silent(),
            )
        })
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::NotFound, "{}", err.message);
    let mut plain = request("wine", target, "logistic", &[("epochs", "2")]);
    plain.name = Some("plain".into());
    ws.lend(|d| d.train(&plain, &mut Progress::silent()))
        .unwrap();
    let err = ws
        .lend(|d| {
            d.train(
                &TrainRequest {
                    resume: Some("plain".into()),
                    ..Default::default()
                },
                &mut Progress::silent(),
            )
        })
        .unwrap_err();
    assert!(err.message.contains("checkpoint_every"), "{}", err.message);
}

#[test]
fn regression_runs_record_residuals() {
    let dir = tempfile::tempdir().unwrap();
    let mut ws = workspace(dir.path(), &["diabetes.csv"]);
    let mut req = request("diabetes", "target", "linear", &[]);
    req.name = Some("lin".into());
    let run = ws.lend(|d| d.train(&req, &mut Progress::silent())).unwrap();
    let r2 = run.metrics["test_r2"];
    assert!((r2 - 0.4718).abs() < 0.01, "R² {r2}");
    let eval = ws.run_evaluation("lin").unwrap();
    let p = eval.predictions.unwrap();
    assert_eq!(
        p["y_true"].as_array().unwrap().len() as f64,
        run.metrics["n_test"]
    );
}
