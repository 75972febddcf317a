//! `cairn runs compare` as a user runs it: real training runs on the bundled iris data, and a
//! run with a million-point history recorded through the logging API (`cairn_app::LogSession`).

mod common;
use common::*;

use cairn_app::{LogOptions, LogSession, ParamValue, RunStart, RunStatus};
use serde_json::Value;
use std::collections::BTreeMap;
use std::path::Path;

fn train(ws: &Path, name: &str, params: &[&str]) {
    let mut args = vec![
        "train", "--data", "iris", "--target", "target", "--model", "logistic", "--seed", "3",
        "--name", name,
    ];
    for p in params {
        args.extend(["--param", *p]);
    }
    ok(&cairn(ws, &args));
}

#[test]
fn compare_shows_exactly_the_differing_params_and_the_final_metrics_of_runs_show() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    ok(&cairn(
        &ws,
        &["data", "import", sample("iris.csv").to_str().unwrap()],
    ));
    train(&ws, "slow", &["lr=0.01", "epochs=6"]);
    train(&ws, "fast", &["lr=0.2", "epochs=6"]);
    train(&ws, "long", &["lr=0.2", "epochs=9"]);

    // Two runs that differ in lr only.
    let c = json(&cairn(&ws, &["runs", "compare", "slow", "fast", "--json"]));
    let names: Vec<&str> = c["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["slow", "fast"]);
    let differing = |c: &Value| -> Vec<String> {
        c["params"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|p| p["differs"] == true)
            .map(|p| p["key"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(differing(&c), ["lr"]);
    let lr = c["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "lr")
        .unwrap();
    assert_eq!(lr["values"], serde_json::json!([0.01, 0.2]));
    let epochs = c["params"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["key"] == "epochs")
        .unwrap();
    assert_eq!(
        (epochs["differs"].clone(), epochs["values"].clone()),
        (Value::Bool(false), serde_json::json!([6, 6]))
    );
    // Every param the runs recorded is listed, not only the two given.
    assert!(c["params"].as_array().unwrap().len() > 2);

    // The final metrics are `runs show`'s.
    for (i, name) in ["slow", "fast"].iter().enumerate() {
        let shown = json(&cairn(&ws, &["runs", "show", name, "--json"]));
        let shown = shown["metrics"].as_object().unwrap();
        let metrics = c["metrics"].as_array().unwrap();
        assert_eq!(metrics.len(), shown.len(), "one row per metric");
        for m in metrics {
            let key = m["key"].as_str().unwrap();
            assert_eq!(m["finals"][i]["last"], shown[key], "{name} {key}");
            let series = &m["series"][i];
            assert_eq!(series["total"], m["finals"][i]["count"]);
        }
    }
    let loss = c["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["key"] == "train_loss")
        .expect("a train_loss history");
    assert_eq!(loss["series"][0]["points"].as_array().unwrap().len(), 6);

    // Three runs: lr and epochs differ.
    let c = json(&cairn(
        &ws,
        &[
            "runs",
            "compare",
            "slow",
            "fast",
            "long",
            "--json",
            "--metric",
            "train_loss",
        ],
    ));
    assert_eq!(differing(&c), ["epochs", "lr"]);
    let keys: Vec<&str> = c["metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["train_loss"], "--metric keeps only that metric");

    // Text: the differences first, then the final metrics.
    let text = ok(&cairn(&ws, &["runs", "compare", "slow", "fast"]));
    let diff_at = text.find("params that differ: 1 of").expect(&text);
    let finals_at = text.find("final metrics").expect(&text);
    assert!(diff_at < finals_at, "{text}");
    assert!(
        text.lines()
            .any(|l| l.starts_with("lr ") && l.contains("0.01") && l.contains("0.2")),
        "{text}"
    );

    // Full histories as CSV and JSON.
    let csv = dir.path().join("h.csv");
    ok(&cairn(
        &ws,
        &[
            "runs",
            "compare",
            "slow",
            "long",
            "--metric",
            "train_loss",
            "--history",
            csv.to_str().unwrap(),
        ],
    ));
    let text = std::fs::read_to_string(&csv).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some("run_id,run_name,key,step,value"));
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    assert_eq!(rows.len(), 6 + 9);
    assert!(
        rows[..6]
            .iter()
            .all(|r| r[1] == "slow" && r[2] == "train_loss")
    );
    assert!(rows[6..].iter().all(|r| r[1] == "long"));
    let steps: Vec<&str> = rows[6..].iter().map(|r| r[3]).collect();
    assert_eq!(steps, ["1", "2", "3", "4", "5", "6", "7", "8", "9"]);
    let last: f64 = rows[14][4].parse().unwrap();
    let shown = json(&cairn(&ws, &["runs", "show", "long", "--json"]));
    assert_eq!(last, shown["metrics"]["train_loss"].as_f64().unwrap());

    let js = dir.path().join("h.json");
    ok(&cairn(
        &ws,
        &[
            "runs",
            "compare",
            "slow",
            "long",
            "--history",
            js.to_str().unwrap(),
        ],
    ));
    let doc: Value = serde_json::from_str(&std::fs::read_to_string(&js).unwrap()).unwrap();
    assert_eq!(doc["format_version"], 1);
    let loss = doc["series"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["run_name"] == "long" && s["key"] == "train_loss")
        .unwrap();
    assert_eq!(loss["steps"].as_array().unwrap().len(), 9);
    assert_eq!(loss["values"][8].as_f64().unwrap(), last);

    // Mistakes are explained.
    let out = cairn(&ws, &["runs", "compare", "slow", "slow"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("second time"));
    let out = cairn(&ws, &["runs", "compare", "slow", "--history", "h.txt"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains(".csv or .json"));
}

#[test]
fn a_million_point_series_is_downsampled_to_two_thousand_points() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    ok(&cairn(&ws, &["init"]));
    {
        let session = LogSession::open(
            &ws,
            LogOptions {
                flush_every: 200_000,
                ..LogOptions::default()
            },
        )
        .unwrap();
        for (name, n) in [("million", 1_000_000u64), ("short", 50)] {
            let run = session
                .start(RunStart {
                    name: Some(name.into()),
                    params: BTreeMap::from([("lr".into(), ParamValue::Float(0.1))]),
                    ..RunStart::default()
                })
                .unwrap();
            for i in 0..n {
                let spike = if i == 777_777 { 100.0 } else { 0.0 };
                run.metric("loss", 1.0 / (1.0 + i as f64) + spike, Some(i))
                    .unwrap();
            }
            run.end(RunStatus::Finished, None).unwrap();
        }
        session.close("test").unwrap();
    }
    let c = json(&cairn(
        &ws,
        &["runs", "compare", "million", "short", "--json"],
    ));
    assert_eq!(c["max_points"], 2000);
    assert!(
        c["params"]
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["differs"] == false)
    );
    let loss = &c["metrics"][0];
    assert_eq!(loss["key"], "loss");
    let long = &loss["series"][0];
    assert_eq!(long["total"], 1_000_000);
    let points = long["points"].as_array().unwrap();
    assert!(
        points.len() <= 2000 && points.len() >= 1000,
        "{}",
        points.len()
    );
    assert_eq!(points[0]["step"], 0);
    assert_eq!(points[points.len() - 1]["step"], 999_999);
    assert!(
        points.iter().any(|p| p["step"] == 777_777),
        "the spike at step 777,777 survives"
    );
    assert_eq!(loss["finals"][0]["max"], 100.0 + 1.0 / 777_778.0);
    let short = &loss["series"][1];
    assert_eq!(
        (
            short["total"].as_u64(),
            short["points"].as_array().unwrap().len()
        ),
        (Some(50), 50)
    );
}
