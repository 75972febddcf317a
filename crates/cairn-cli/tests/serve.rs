//! `cairn serve`, `cairn loadtest` and `cairn validate` as a user runs them: a real server on
//! 127.0.0.1 answered over real sockets, an alias moved under load, a kill -9.

mod common;
use common::*;

use serde_json::{Value, json};
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

const FEATURES: [&str; 4] = [
    "sepal_length_cm",
    "sepal_width_cm",
    "petal_length_cm",
    "petal_width_cm",
];

/// One HTTP/1.1 request over a new connection; the status and the body.
fn http(port: u16, method: &str, path: &str, content_type: &str, body: &[u8]) -> (u16, Value) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: {content_type}\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    s.write_all(body).unwrap();
    let mut raw = Vec::new();
    s.read_to_end(&mut raw).unwrap();
    let text = String::from_utf8_lossy(&raw);
    let status: u16 = text[9..12].parse().unwrap();
    let (_, body) = text.split_once("\r\n\r\n").unwrap();
    let v = serde_json::from_str(body.trim()).unwrap_or(Value::String(body.to_string()));
    (status, v)
}

fn kserve(row: [f64; 4]) -> Vec<u8> {
    let inputs: Vec<Value> = FEATURES
        .iter()
        .zip(row)
        .map(|(n, x)| json!({"name": n, "shape": [1], "datatype": "FP64", "data": [x]}))
        .collect();
    json!({"id": "r1", "inputs": inputs})
        .to_string()
        .into_bytes()
}

/// Starts `cairn serve ARGS --port 0` and returns it with its port (from its first line).
fn serve(ws: &Path, args: &[&str]) -> (std::process::Child, u16) {
    let mut all = vec!["serve", "--port", "0", "--for-seconds", "120"];
    all.extend_from_slice(args);
    let mut child = spawn_cairn(ws, &all, &[], false);
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let port = line
        .trim()
        .rsplit(':')
        .next()
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no port in {line:?}"));
    // Keep reading stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || {
        let mut sink = String::new();
        let _ = out.read_to_string(&mut sink);
    });
    (child, port)
}

#[test]
fn serve_validate_hot_swap_and_kill() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    ok(&cairn(
        &ws,
        &["data", "import", sample("iris.csv").to_str().unwrap()],
    ));
    for (model, name) in [("logistic", "a"), ("logistic", "b")] {
        ok(&cairn(
            &ws,
            &[
                "train",
                "--data",
                "iris@1",
                "--target",
                "target",
                "--model",
                model,
                "--name",
                name,
                "--param",
                "epochs=100",
            ],
        ));
        ok(&cairn(
            &ws,
            &["registry", "register", name, "--name", "iris"],
        ));
    }
    ok(&cairn(
        &ws,
        &["registry", "promote", "iris@1", "--alias", "production"],
    ));

    // `cairn validate`: every generated case answered as documented (exit 0), under reject.
    let cases = json(&cairn(
        &ws,
        &["validate", "iris@1", "--out-of-range", "reject", "--json"],
    ));
    let cases = cases.as_array().unwrap();
    for class in [
        "in_range",
        "out_of_range",
        "missing",
        "boundary",
        "null",
        "wrong_type",
    ] {
        assert!(
            cases.iter().any(|c| c["case"]["class"] == class),
            "no {class} case"
        );
    }
    for c in cases {
        assert_eq!(c["as_expected"], true, "{c}");
    }

    let (mut server, port) = serve(&ws, &["iris@production", "--out-of-range", "reject"]);
    // KServe v2 and MLflow scoring give one answer for one row.
    let (status, k) = http(
        port,
        "POST",
        "/v2/models/iris/infer",
        "application/json",
        &kserve([5.1, 3.5, 1.4, 0.2]),
    );
    assert_eq!(status, 200, "{k}");
    assert_eq!(k["id"], "r1");
    assert_eq!(k["model_version"], "1");
    let label = k["outputs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|o| o["name"] == "label")
        .unwrap()["data"][0]
        .clone();
    assert_eq!(label, "setosa");
    let split = json!({"dataframe_split": {"columns": FEATURES, "data": [[5.1, 3.5, 1.4, 0.2]]}});
    let (status, m) = http(
        port,
        "POST",
        "/invocations",
        "application/json",
        split.to_string().as_bytes(),
    );
    assert_eq!(status, 200, "{m}");
    assert_eq!(m["predictions"][0]["prediction"], label);
    let csv = format!("{}\n5.1,3.5,1.4,0.2\n", FEATURES.join(","));
    let (status, c) = http(port, "POST", "/invocations", "text/csv", csv.as_bytes());
    assert_eq!(status, 200, "{c}");
    assert_eq!(c["predictions"], m["predictions"]);
    let (status, e) = http(port, "POST", "/invocations", "text/plain", b"x");
    assert_eq!(status, 415, "{e}");
    assert!(e["error_code"].is_string(), "{e}");

    // Validation over the wire: the second row out of range (reject), named by row and field.
    let bad = json!({"dataframe_split": {"columns": FEATURES,
        "data": [[5.1, 3.5, 1.4, 0.2], [5.1, 3.5, 99.0, 0.2]]}});
    let (status, e) = http(
        port,
        "POST",
        "/invocations",
        "application/json",
        bad.to_string().as_bytes(),
    );
    assert_eq!(status, 400, "{e}");
    let msg = e["message"].as_str().unwrap();
    assert!(
        msg.contains("row 2") && msg.contains("petal_length_cm"),
        "{msg}"
    );
    let (status, e) = http(
        port,
        "POST",
        "/v2/models/nosuch/infer",
        "application/json",
        &kserve([5.1, 3.5, 1.4, 0.2]),
    );
    assert_eq!(status, 404, "{e}");
    assert!(e["error"].is_string(), "{e}");

    // Move the alias while a load test runs at 300 requests/s: not one request fails.
    let url = format!("http://127.0.0.1:{port}/v2/models/iris/infer");
    let ws2 = ws.clone();
    let load = std::thread::spawn(move || {
        cairn(
            &ws2,
            &[
                "loadtest",
                &url,
                "--rate",
                "300",
                "--duration",
                "5s",
                "--record",
                "iris@1",
                "--slo",
                "errors<=0%",
                "--json",
            ],
        )
    });
    std::thread::sleep(Duration::from_millis(1500));
    ok(&cairn(
        &ws,
        &["registry", "promote", "iris@2", "--alias", "production"],
    ));
    let report = json(&load.join().unwrap());
    let r = &report["report"];
    assert_eq!(r["scheduled"], 1500, "{r}");
    assert_eq!(r["ok"], 1500, "{}", r["errors"]);
    assert_eq!(report["slo_passed"], true);
    assert_eq!(report["recorded_on"], "iris@1");
    // After the switch the server answers with version 2.
    let (_, k) = http(
        port,
        "POST",
        "/v2/models/iris/infer",
        "application/json",
        &kserve([5.1, 3.5, 1.4, 0.2]),
    );
    assert_eq!(k["model_version"], "2", "{k}");

    // kill -9: the workspace still opens and the registry reads.
    std::thread::sleep(Duration::from_millis(1500));
    kill_hard(&mut server);
    let mut stderr = String::new();
    server
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(
        stderr.contains("iris@production moved: now serving version 2"),
        "{stderr}"
    );
    ok(&cairn(&ws, &["registry", "show", "iris@1"]));
    ok(&cairn(&ws, &["runs", "list"]));
    // The request log holds every batch flushed before the kill (the last one was 1.5 s
    // before it): each load-test request, answered by version 1 and then by version 2.
    let log = json(&cairn(
        &ws,
        &["requests", "--model", "iris", "--limit", "100000", "--json"],
    ));
    let log = log.as_array().unwrap();
    let kserve_ok: Vec<&Value> = log
        .iter()
        .filter(|r| r["route"] == "kserve" && r["status"] == 200)
        .collect();
    assert!(
        kserve_ok.len() >= 1501,
        "{} kserve answers logged",
        kserve_ok.len()
    );
    let versions: Vec<u64> = kserve_ok
        .iter()
        .map(|r| r["version"].as_u64().unwrap())
        .collect();
    let switch = versions
        .iter()
        .position(|v| *v == 2)
        .expect("version 2 answered");
    assert!(switch > 1, "version 1 answered first");
    // Version 1 answered first, version 2 last: the log shows the switch. (Requests in flight at
    // the swap finish on version 1; once, in about ten runs, one version-2 answer was seen ~300
    // rows before the others — noted on issue 17, not yet explained.)
    assert!(
        versions[..100].iter().all(|v| *v == 1),
        "{:?}",
        &versions[..100]
    );
    let tail = &versions[versions.len() - 100..];
    assert!(tail.iter().all(|v| *v == 2), "{tail:?}\n{stderr}");
    let rejected = log
        .iter()
        .find(|r| r["status"] == 400)
        .expect("the 400 is logged");
    assert_eq!(rejected["outcome"], "rejected");
}

#[test]
fn serve_refuses_what_it_cannot_do_safely() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    // Non-loopback without a token, and an unknown target, fail with a clear message.
    let out = cairn(&ws, &["serve", "nosuch@1", "--port", "0"]);
    assert!(!out.status.success());
    let out = cairn(
        &ws,
        &[
            "loadtest",
            "http://10.0.0.1:80/invocations",
            "--duration",
            "1s",
        ],
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("loopback"), "{err}");
    let out = cairn(
        &ws,
        &["loadtest", "http://127.0.0.1:1/x", "--duration", "0s"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--duration"));
}

/// The sum of a Prometheus counter's samples whose labels include every one of `labels`.
fn counter(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| l.starts_with(&format!("{name}{{")))
        .filter(|l| labels.iter().all(|want| l.contains(want)))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

fn metrics(port: u16) -> String {
    match http(port, "GET", "/metrics", "text/plain", b"").1 {
        Value::String(s) => s,
        v => panic!("metrics are not text: {v}"),
    }
}

#[test]
fn ab_split_over_ten_thousand_requests_and_shadow() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    ok(&cairn(
        &ws,
        &["data", "import", sample("iris.csv").to_str().unwrap()],
    ));
    for name in ["a", "b"] {
        ok(&cairn(
            &ws,
            &[
                "train",
                "--data",
                "iris@1",
                "--target",
                "target",
                "--model",
                "logistic",
                "--name",
                name,
                "--param",
                "epochs=50",
            ],
        ));
        ok(&cairn(
            &ws,
            &["registry", "register", name, "--name", "iris"],
        ));
    }

    // 90/10 over 10,000 requests: each arm's share within one point of its weight.
    let (mut server, port) = serve(&ws, &["iris@1", "iris@2", "--route", "v1=90,v2=10"]);
    let url = format!("http://127.0.0.1:{port}/v2/models/iris/infer");
    let report = json(&cairn(
        &ws,
        &[
            "loadtest",
            &url,
            "--rate",
            "1000",
            "--duration",
            "10s",
            "--from-data",
            "iris@1",
            "--json",
        ],
    ));
    assert_eq!(
        report["report"]["ok"], 10_000,
        "{}",
        report["report"]["errors"]
    );
    let text = metrics(port);
    let v1 = counter(
        &text,
        "cairn_requests_total",
        &["version=\"1\"", "code=\"200\""],
    );
    let v2 = counter(
        &text,
        "cairn_requests_total",
        &["version=\"2\"", "code=\"200\""],
    );
    assert_eq!(v1 + v2, 10_000.0, "{text}");
    let share = v2 / (v1 + v2) * 100.0;
    assert!((share - 10.0).abs() <= 1.0, "challenger share {share:.2}%");
    kill_hard(&mut server);

    // Shadow: the client gets the primary's answers; the shadow answers every request too.
    let (mut server, port) = serve(&ws, &["iris@1", "iris@2", "--shadow", "v2"]);
    for _ in 0..20 {
        let (status, k) = http(
            port,
            "POST",
            "/v2/models/iris/infer",
            "application/json",
            &kserve([6.3, 2.8, 5.1, 1.5]),
        );
        assert_eq!(status, 200, "{k}");
        assert_eq!(k["model_version"], "1", "{k}");
    }
    let mut shadowed = 0.0;
    for _ in 0..50 {
        shadowed = counter(
            &metrics(port),
            "cairn_shadow_requests_total",
            &["model=\"iris\""],
        );
        if shadowed >= 20.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(shadowed, 20.0);
    kill_hard(&mut server);
}
