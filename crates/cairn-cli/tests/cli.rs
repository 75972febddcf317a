//! The `cairn` binary as a user runs it: the acceptance checks of the foundation issue.

mod common;
use common::*;

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// Imports a file from `sample-data/` into the workspace, checking that it succeeds.
fn import_sample(ws: &Path, name: &str) -> Value {
    json(&cairn(
        ws,
        &["data", "import", sample(name).to_str().unwrap(), "--json"],
    ))
}

/// Offset of the first data byte of `entry` in a zip, read from its local file header.
fn entry_data_offset(zip: &[u8], entry: &str) -> usize {
    let name = entry.as_bytes();
    let at = zip
        .windows(name.len())
        .position(|w| w == name)
        .expect("entry present");
    let header = at - 30;
    assert_eq!(
        &zip[header..header + 4],
        b"PK\x03\x04",
        "local header before the first name"
    );
    let extra = u16::from_le_bytes([zip[header + 28], zip[header + 29]]) as usize;
    at + name.len() + extra
}

#[test]
fn demo_bundle_verify_tamper_and_search() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    std::fs::create_dir(&ws).unwrap();
    let summary = json(&cairn(&ws, &["demo", "--json"]));
    let acc = summary["test_accuracy"].as_f64().unwrap();
    assert!(acc >= 0.95, "demo accuracy {acc}");
    assert_eq!(summary["data_version_hash"].as_str().unwrap().len(), 64);
    assert_eq!(summary["run_id"].as_str().unwrap().len(), 32);
    assert_eq!(summary["bundle_verified"], Value::Bool(true));
    let bundle = PathBuf::from(summary["bundle_path"].as_str().unwrap());

    let ok = cairn(&ws, &["bundle", "verify", bundle.to_str().unwrap()]);
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );

    let mut bytes = std::fs::read(&bundle).unwrap();
    let at = entry_data_offset(&bytes, "model/weights.safetensors");
    bytes[at + 200] ^= 0x10;
    let tampered = dir.path().join("tampered.zip");
    std::fs::write(&tampered, &bytes).unwrap();
    let bad = cairn(&ws, &["bundle", "verify", tampered.to_str().unwrap()]);
    assert!(!bad.status.success());
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(stderr.contains("model/weights.safetensors"), "{stderr}");

    // A user's own run, found by name, tag value and param value.
    let trained = json(&cairn(
        &ws,
        &[
            "train",
            "--data",
            "breast_cancer",
            "--target",
            "target",
            "--model",
            "logistic",
            "--seed",
            "7",
            "--name",
            "risk-baseline",
            "--tag",
            "team=riskdesk",
            "--param",
            "lr=0.05",
            "--param",
            "epochs=20",
            "--json",
        ],
    ));
    assert_eq!(trained["status"], "finished");
    assert_eq!(
        trained["params"]["lr"],
        serde_json::json!({"type": "float", "value": 0.05})
    );
    for query in [
        "risk-baseline",
        "riskdesk",
        "0.05",
        "params.lr < 0.06 AND params.epochs = 20",
        "tags.team LIKE 'risk%' ORDER BY metrics.train_loss",
    ] {
        let hits = json(&cairn(&ws, &["search", query, "--json"]));
        assert_eq!(hits["total"], 1, "query {query}");
        let names: Vec<&str> = hits["runs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|h| h["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, vec!["risk-baseline"], "query {query}");
    }
    let demo_hits = json(&cairn(&ws, &["runs", "search", "demo-logistic", "--json"]));
    assert_eq!(demo_hits["runs"][0]["id"], summary["run_id"]);
    // Both runs, best test accuracy first; then paging.
    let ordered = json(&cairn(
        &ws,
        &[
            "runs",
            "search",
            "ORDER BY metrics.test_accuracy DESC",
            "--json",
        ],
    ));
    let acc: Vec<f64> = ordered["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["metrics"]["test_accuracy"].as_f64().unwrap())
        .collect();
    assert_eq!(acc.len(), 2);
    assert!(acc[0] >= acc[1], "{acc:?}");
    let second = json(&cairn(
        &ws,
        &[
            "runs",
            "search",
            "ORDER BY metrics.test_accuracy DESC",
            "--limit",
            "1",
            "--offset",
            "1",
            "--json",
        ],
    ));
    assert_eq!(second["total"], 2);
    assert_eq!(
        second["runs"][0]["metrics"]["test_accuracy"]
            .as_f64()
            .unwrap(),
        acc[1]
    );

    let runs = json(&cairn(&ws, &["runs", "list", "--json"]));
    assert_eq!(runs.as_array().unwrap().len(), 2);
    let shown = json(&cairn(&ws, &["runs", "show", "risk-baseline", "--json"]));
    assert_eq!(shown["history"]["train_loss"].as_array().unwrap().len(), 20);
}

#[test]
fn hostile_imports_fail_with_file_and_line_and_leave_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    import_sample(&ws, "iris.csv");
    let before = json(&cairn(&ws, &["data", "list", "--json"]));

    let cases: &[(&str, &[u8], Option<&str>)] = &[
        ("empty.csv", b"", None),
        (
            "ragged.csv",
            b"a,b,c\n1,2,3\n4,5,6\n7,8,9,10\n",
            Some("line 4"),
        ),
        (
            "corrupt_utf8.csv",
            b"a,b\n1,caf\xc3\xa9\n2,caf\xe9\n",
            Some("line 3, column b"),
        ),
    ];
    for (name, bytes, line) in cases {
        let path = dir.path().join(name);
        std::fs::write(&path, bytes).unwrap();
        let out = cairn(&ws, &["data", "import", path.to_str().unwrap()]);
        assert!(!out.status.success(), "{name} must fail");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(name), "{name}: {stderr}");
        if let Some(line) = line {
            assert!(stderr.contains(line), "{name}: {stderr}");
        }
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
    assert_eq!(json(&cairn(&ws, &["data", "list", "--json"])), before);
}

#[test]
fn sigkill_mid_training_leaves_a_killed_run() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    import_sample(&ws, "breast_cancer.csv");
    let mut child = spawn_cairn(
        &ws,
        &[
            "train",
            "--data",
            "breast_cancer",
            "--target",
            "target",
            "--name",
            "doomed",
            "--param",
            "epochs=1000000",
        ],
        &[],
        false,
    );
    // Wait for the first epoch line on stderr: the run is recorded and metrics are flowing.
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    loop {
        let line = lines.next().expect("training prints progress").unwrap();
        if line.starts_with("[train]") {
            break;
        }
    }
    // While it runs, a second process reads the workspace (training holds it only in turns)
    // and sees the run as running.
    let busy = json(&cairn(&ws, &["runs", "list", "--json"]));
    assert_eq!(busy[0]["name"], "doomed");
    assert_eq!(busy[0]["status"], "running");

    kill_hard(&mut child);
    let runs = json(&cairn(&ws, &["runs", "list", "--json"]));
    let run = &runs.as_array().unwrap()[0];
    assert_eq!(run["name"], "doomed");
    assert_eq!(run["status"], "killed");
    assert!(
        run["metrics"]["train_loss"].as_f64().is_some(),
        "metrics up to the kill are kept"
    );
    let shown = json(&cairn(&ws, &["runs", "show", "doomed", "--json"]));
    assert!(
        shown["error"]
            .as_str()
            .unwrap()
            .contains("ended without finishing")
    );
}

/// Every `cairn data` subcommand, as a user runs it, with the documented `--json` shapes.
#[test]
fn data_commands_walk_the_data_lifecycle() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let imported = import_sample(&ws, "penguins.csv");
    assert_eq!(imported["created"], true);
    assert_eq!(imported["version"]["rows"], 344);

    // A second version with one changed cell (first row's bill_length_mm 39.1 -> 40.1).
    let text = std::fs::read_to_string(sample("penguins.csv")).unwrap();
    let edited = dir.path().join("penguins_v2.csv");
    std::fs::write(
        &edited,
        text.replacen("Torgersen,39.1,", "Torgersen,40.1,", 1),
    )
    .unwrap();
    let v2 = json(&cairn(
        &ws,
        &[
            "data",
            "import",
            edited.to_str().unwrap(),
            "--name",
            "penguins",
            "--json",
        ],
    ));
    assert_eq!(v2["version"]["version"], 2);
    assert_eq!(v2["version"]["parent_version"], 1);

    let shown = json(&cairn(&ws, &["data", "show", "penguins", "--json"]));
    assert_eq!(shown["versions"].as_array().unwrap().len(), 2);

    let head = json(&cairn(
        &ws,
        &["data", "head", "penguins@1", "--offset", "340", "--json"],
    ));
    assert_eq!(head["total"], 344);
    assert_eq!(head["rows"].as_array().unwrap().len(), 4);
    assert_eq!(head["columns"][0], "species");

    let profile = json(&cairn(&ws, &["data", "profile", "penguins@1", "--json"]));
    let sex = &profile["profile"]["columns"][6];
    assert_eq!(
        (sex["name"].as_str(), sex["nulls"].as_u64()),
        (Some("sex"), Some(11))
    );

    let diff = json(&cairn(&ws, &["data", "diff", "penguins@1", "@2", "--json"]));
    assert_eq!(
        (diff["added"].as_u64(), diff["removed"].as_u64()),
        (Some(1), Some(1))
    );

    let rules = dir.path().join("rules.toml");
    std::fs::write(
        &rules,
        "[[rules]]\ncheck = \"not_null\"\ncolumn = \"sex\"\n",
    )
    .unwrap();
    let check = cairn(
        &ws,
        &[
            "data",
            "check",
            "penguins",
            "--rules",
            rules.to_str().unwrap(),
            "--json",
        ],
    );
    assert_eq!(check.status.code(), Some(1), "a failing rule exits 1");
    let report: Value = serde_json::from_slice(&check.stdout).unwrap();
    assert_eq!(report["results"][0]["failing"], 11);
    std::fs::write(
        &rules,
        "[[rules]]\ncheck = \"not_null\"\ncolumn = \"sex\"\nbogus = 1\n",
    )
    .unwrap();
    let bad = cairn(
        &ws,
        &[
            "data",
            "check",
            "penguins",
            "--rules",
            rules.to_str().unwrap(),
        ],
    );
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(
        stderr.contains("rules.toml") && stderr.contains("line 4"),
        "{stderr}"
    );

    // The same split in a second, fresh workspace gives the same versions.
    let split_args = [
        "data",
        "split",
        "penguins",
        "--ratios",
        "0.8,0.2",
        "--seed",
        "3",
        "--stratify",
        "species",
        "--json",
    ];
    let parts = json(&cairn(&ws, &split_args));
    let other = dir.path().join("other");
    import_sample(&other, "penguins.csv");
    json(&cairn(
        &other,
        &[
            "data",
            "import",
            edited.to_str().unwrap(),
            "--name",
            "penguins",
            "--json",
        ],
    ));
    let parts_again = json(&cairn(&other, &split_args));
    let hashes = |p: &Value| -> Vec<String> {
        p["parts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["version"]["hash"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(hashes(&parts), hashes(&parts_again));
    assert_eq!(parts["parts"][0]["version"]["name"], "penguins-train");

    let out = dir.path().join("train.parquet");
    let exported = json(&cairn(
        &ws,
        &[
            "data",
            "export",
            "penguins-train",
            "-o",
            out.to_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(exported["rows"], parts["parts"][0]["version"]["rows"]);
    let again = import_sample_path(&other, &out, "penguins-train");
    assert_eq!(
        again["created"], false,
        "the exported Parquet is the same table"
    );

    let refused = cairn(&ws, &["data", "delete", "penguins@2"]);
    assert!(!refused.status.success());
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--force"));
    let deleted = json(&cairn(
        &ws,
        &["data", "delete", "penguins@2", "--force", "--json"],
    ));
    assert_eq!(deleted["derived"].as_array().unwrap().len(), 2);
    let lineage = json(&cairn(&ws, &["data", "show", "penguins-train", "--json"]));
    assert_eq!(lineage["lineage"][0]["parent_deleted"], true);
}

fn import_sample_path(ws: &Path, path: &Path, name: &str) -> Value {
    json(&cairn(
        ws,
        &[
            "data",
            "import",
            path.to_str().unwrap(),
            "--name",
            name,
            "--json",
        ],
    ))
}

#[test]
fn devices_says_plainly_when_there_is_no_gpu() {
    let dir = tempfile::tempdir().unwrap();
    let report = json(&cairn(&dir.path().join("ws"), &["devices", "--json"]));
    assert!(report["cpu"]["cores"].as_u64().unwrap() >= 1);
    assert!(!report["cpu"]["model"].as_str().unwrap().is_empty());
    if std::path::Path::new("/proc/driver/nvidia").exists() {
        return; // A machine with a driver: the no-GPU sentence does not apply.
    }
    assert_eq!(report["gpus"], serde_json::json!([]));
    assert_eq!(report["driver_version"], Value::Null);
    let note = report["cuda_note"].as_str().unwrap();
    assert!(note.contains("No NVIDIA driver found"), "{note}");
    let text = cairn(&dir.path().join("ws"), &["devices"]);
    assert!(text.status.success());
    assert!(String::from_utf8_lossy(&text.stdout).contains("No NVIDIA driver found"));
}

#[test]
fn train_predict_and_resume_from_the_command_line() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    import_sample(&ws, "iris.csv");
    let trained = json(&cairn(
        &ws,
        &[
            "train",
            "--data",
            "iris",
            "--target",
            "target",
            "--model",
            "mlp",
            "--name",
            "flower",
            "--param",
            "epochs=6",
            "--param",
            "lr=0.05",
            "--param",
            "hidden=[16]",
            "--param",
            "checkpoint_every=3",
            "--device",
            "auto",
            "--json",
        ],
    ));
    assert_eq!(trained["status"], "finished");
    assert_eq!(trained["params"]["hidden"]["value"][0]["value"], 16);
    assert!(trained["metrics"]["test_f1_macro"].as_f64().unwrap() > 0.5);
    assert_eq!(trained["environment"]["device"], "cpu");

    let out = dir.path().join("scores.csv");
    let scored = json(&cairn(
        &ws,
        &[
            "predict",
            "flower",
            "--data",
            "iris",
            "--out",
            out.to_str().unwrap(),
            "--json",
        ],
    ));
    assert_eq!(scored["rows"], 150);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.starts_with("row,target,prediction,probability,proba_"),
        "{text:.80}"
    );
    assert_eq!(text.lines().count(), 151);

    let record = r#"{"sepal_length_cm": 5.1, "sepal_width_cm": 3.5, "petal_length_cm": 1.4, "petal_width_cm": 0.2}"#;
    let preds = json(&cairn(
        &ws,
        &["predict", "flower", "--record", record, "--json"],
    ));
    assert_eq!(preds[0]["prediction"], "setosa");
    let bad = cairn(
        &ws,
        &[
            "predict",
            "flower",
            "--record",
            r#"{"sepal_length_cm": "long"}"#,
        ],
    );
    assert!(!bad.status.success());
    let msg = String::from_utf8_lossy(&bad.stderr);
    assert!(
        msg.contains("field `sepal_length_cm`: expected a number")
            && msg.contains("field `petal_width_cm`: missing"),
        "{msg}"
    );
    let bad = cairn(&ws, &["predict", "flower", "--record", "{oops"]);
    assert!(String::from_utf8_lossy(&bad.stderr).contains("line 1, column 2"));

    let resumed = json(&cairn(&ws, &["train", "--resume", "flower", "--json"]));
    assert_eq!(resumed["tags"]["resumed_from"], trained["id"]);
    let cuda = cairn(
        &ws,
        &[
            "train", "--data", "iris", "--target", "target", "--device", "cuda:0",
        ],
    );
    if !cfg!(feature = "cuda") {
        assert!(String::from_utf8_lossy(&cuda.stderr).contains("--features cuda"));
    }
    let models = json(&cairn(&ws, &["models", "cnn", "--json"]));
    assert!(
        models["cnn"]
            .as_array()
            .unwrap()
            .iter()
            .any(|p| p["key"] == "conv")
    );
}
