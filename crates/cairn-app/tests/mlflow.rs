//! Export to MLflow: the file-store layout byte for byte on a tiny workspace, keys MLflow cannot
//! store, the folder rules (new, empty or a previous export), query selection, cancellation.
//! The real MLflow client reading an export is tests/mlflow/run.sh.

use cairn_app::{ErrorCode, MlflowExport, ParamValue, Progress, RunStatus, Workspace};
use cairn_core::RunId;
use cairn_store::{NewRun, Store};
use std::collections::BTreeMap;
use std::ops::ControlFlow;
use std::path::Path;

fn new_run(name: &str, params: &[(&str, ParamValue)], tags: &[(&str, &str)]) -> NewRun {
    NewRun {
        model: "mlp".into(),
        dataset: "iris@1".into(),
        dataset_hash: "ab".repeat(32),
        target: "target".into(),
        seed: 9,
        params: params
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
        tags: tags
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        ..NewRun::named(name)
    }
}

/// Stores `bytes` in the workspace's content-addressed store as the artifact `path` of `id`.
fn add_artifact(root: &Path, store: &Store, id: &RunId, path: &str, bytes: &[u8]) {
    let sha = cairn_core::sha256_hex(bytes).to_string();
    let dir = root.join("artifacts/sha256").join(&sha[..2]);
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join(&sha[2..]), bytes).unwrap();
    store
        .add_artifact(id, path, &sha, bytes.len() as u64)
        .unwrap();
}

/// Every file under `dir` (relative path → text), and every folder (path + "/" → "").
fn tree(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap())
            .collect();
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let rel = e
                .path()
                .strip_prefix(base)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            if e.file_type().unwrap().is_dir() {
                out.insert(format!("{rel}/"), String::new());
                walk(base, &e.path(), out);
            } else {
                out.insert(rel, std::fs::read_to_string(e.path()).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

fn ms(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>().unwrap().as_millisecond()
}

struct Tiny {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    out: std::path::PathBuf,
    finished: RunId,
    failed: RunId,
}

fn tiny_workspace() -> Tiny {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    drop(Workspace::open(&root).unwrap());
    let store = Store::open(&root.join("cairn.duckdb")).unwrap();
    let a = new_run(
        "first",
        &[
            ("epochs", ParamValue::Int(5)),
            ("lr", ParamValue::Float(1e-5)),
            ("bn", ParamValue::Bool(true)),
            (
                "hidden",
                ParamValue::List(vec![ParamValue::Int(16), ParamValue::Int(8)]),
            ),
            ("opt/name", ParamValue::Str("adam".into())),
        ],
        &[("team", "risk"), ("stage/ab", "b")],
    );
    store.insert_run(&a).unwrap();
    // Points with the times they were logged, and one without (it takes the run's start).
    let mut points = cairn_store::RunChanges::new(a.id.clone());
    points.metrics = vec![
        ("loss".into(), 0, 0.5, Some(1_795_428_000_000)),
        ("loss".into(), 1, 0.25, Some(1_795_428_000_250)),
        ("loss".into(), 2, 1.0, None),
        ("val/acc".into(), 1, 1e-7, Some(1_795_428_000_251)),
    ];
    store.write_runs(&[points]).unwrap();
    add_artifact(
        &root,
        &store,
        &a.id,
        "model/weights.bin",
        b"\x00\x01weights",
    );
    store.finish_run(&a.id, RunStatus::Finished, None).unwrap();
    let b = new_run("second: \"quoted\"", &[], &[]);
    store.insert_run(&b).unwrap();
    store
        .finish_run(&b.id, RunStatus::Failed, Some("ran out of patience"))
        .unwrap();
    drop(store);
    let out = dir.path().join("mlruns");
    Tiny {
        root,
        out,
        finished: a.id,
        failed: b.id,
        _dir: dir,
    }
}

#[test]
fn the_file_store_layout_byte_for_byte() {
    let t = tiny_workspace();
    let mut ws = Workspace::open(&t.root).unwrap();
    let mut steps = Vec::new();
    let summary = ws
        .export_mlflow(&MlflowExport::new(&t.out), &mut |s: &cairn_app::Step| {
            steps.push((s.done, s.total));
            ControlFlow::Continue(())
        })
        .unwrap();
    assert_eq!(steps.first(), Some(&(0, Some(2))));
    assert_eq!(steps.last(), Some(&(2, Some(2))));
    assert_eq!(
        (
            summary.runs,
            summary.params,
            summary.metrics,
            summary.metric_points
        ),
        (2, 5, 2, 4)
    );
    assert_eq!((summary.artifacts, summary.artifact_bytes), (1, 9));
    assert!(summary.renamed.is_empty() && summary.warnings.is_empty());
    assert!(!summary.replaced);

    let a = ws.run(t.finished.as_str()).unwrap().run;
    let b = ws.run(t.failed.as_str()).unwrap().run;
    let (a_start, a_end) = (ms(&a.created_at), ms(a.finished_at.as_deref().unwrap()));
    let (b_start, b_end) = (ms(&b.created_at), ms(b.finished_at.as_deref().unwrap()));
    let root = t.out.canonicalize().unwrap();
    let uri = format!("file://{}", root.display());
    let exp = summary.experiment_id.clone();
    assert_eq!(summary.tracking_uri, uri);
    assert_eq!(exp.len(), 18);

    let (ai, bi) = (a.id.as_str(), b.id.as_str());
    let mut want: BTreeMap<String, String> = BTreeMap::new();
    let mut put = |k: String, v: String| {
        want.insert(k, v);
    };
    put(
        "cairn-export.json".into(),
        format!(
            "{{\n  \"cairn_version\": \"{}\",\n  \"experiment\": \"cairn\",\n  \"experiment_id\": \"{exp}\",\n  \"format\": \"cairn-mlflow-export\",\n  \"format_version\": 1,\n  \"query\": \"\",\n  \"runs\": 2\n}}\n",
            cairn_app::CAIRN_VERSION
        ),
    );
    put("0/".into(), String::new());
    put(
        "0/meta.yaml".into(),
        format!(
            "artifact_location: {uri}/0\ncreation_time: {a_start}\nexperiment_id: '0'\nlast_update_time: {b_end}\nlifecycle_stage: active\nname: Default\n"
        ),
    );
    put(format!("{exp}/"), String::new());
    put(
        format!("{exp}/meta.yaml"),
        format!(
            "artifact_location: {uri}/{exp}\ncreation_time: {a_start}\nexperiment_id: '{exp}'\nlast_update_time: {b_end}\nlifecycle_stage: active\nname: cairn\n"
        ),
    );
    let run_meta = |id: &str, name: &str, start: i64, end: i64, status: u8| {
        format!(
            "artifact_uri: {uri}/{exp}/{id}/artifacts\nend_time: {end}\nentry_point_name: ''\nexperiment_id: '{exp}'\nlifecycle_stage: active\nrun_id: {id}\nrun_name: {name}\nsource_name: ''\nsource_type: 4\nsource_version: ''\nstart_time: {start}\nstatus: {status}\ntags: []\nuser_id: cairn\n"
        )
    };
    for (id, files) in [
        (
            ai,
            vec![
                ("meta.yaml", run_meta(ai, "first", a_start, a_end, 3)),
                ("artifacts/", String::new()),
                ("artifacts/model/", String::new()),
                ("artifacts/model/weights.bin", "\x00\x01weights".into()),
                ("metrics/", String::new()),
                (
                    "metrics/loss",
                    format!("1795428000000 0.5 0\n1795428000250 0.25 1\n{a_start} 1.0 2\n"),
                ),
                ("metrics/val/", String::new()),
                ("metrics/val/acc", "1795428000251 1e-7 1\n".into()),
                ("params/", String::new()),
                ("params/bn", "true".into()),
                ("params/epochs", "5".into()),
                ("params/hidden", "[16, 8]".into()),
                ("params/lr", "1e-5".into()),
                ("params/opt/", String::new()),
                ("params/opt/name", "adam".into()),
                ("tags/", String::new()),
                ("tags/cairn.dataset", "iris@1".into()),
                ("tags/cairn.dataset_hash", "ab".repeat(32)),
                ("tags/cairn.model", "mlp".into()),
                ("tags/cairn.seed", "9".into()),
                ("tags/cairn.target", "target".into()),
                ("tags/mlflow.runName", "first".into()),
                ("tags/stage/", String::new()),
                ("tags/stage/ab", "b".into()),
                ("tags/team", "risk".into()),
            ],
        ),
        (
            bi,
            vec![
                (
                    "meta.yaml",
                    run_meta(bi, "\"second: \\\"quoted\\\"\"", b_start, b_end, 4),
                ),
                ("artifacts/", String::new()),
                ("metrics/", String::new()),
                ("params/", String::new()),
                ("tags/", String::new()),
                ("tags/cairn.dataset", "iris@1".into()),
                ("tags/cairn.dataset_hash", "ab".repeat(32)),
                ("tags/cairn.error", "ran out of patience".into()),
                ("tags/cairn.model", "mlp".into()),
                ("tags/cairn.seed", "9".into()),
                ("tags/cairn.target", "target".into()),
                ("tags/mlflow.runName", "second: \"quoted\"".into()),
            ],
        ),
    ] {
        put(format!("{exp}/{id}/"), String::new());
        for (path, text) in files {
            put(format!("{exp}/{id}/{path}"), text);
        }
    }
    let got = tree(&t.out);
    for (path, text) in &want {
        assert_eq!(got.get(path), Some(text), "{path}");
    }
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(extra.is_empty(), "unexpected files: {extra:?}");

    // Exporting again gives the same bytes and replaces the previous export.
    let again = ws
        .export_mlflow(&MlflowExport::new(&t.out), &mut Progress::silent())
        .unwrap();
    assert!(again.replaced);
    assert_eq!(tree(&t.out), got);
    let leftovers: Vec<_> = std::fs::read_dir(t.out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("cairn-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

#[test]
fn a_query_selects_runs_and_names_the_experiment() {
    let t = tiny_workspace();
    let mut ws = Workspace::open(&t.root).unwrap();
    let mut req = MlflowExport::new(&t.out);
    req.query = Some("attributes.status = 'FAILED'".into());
    req.experiment = "Default".into();
    let s = ws.export_mlflow(&req, &mut Progress::silent()).unwrap();
    assert_eq!((s.runs, s.experiment_id.as_str()), (1, "0"));
    let got = tree(&t.out);
    assert!(got.contains_key(&format!("0/{}/meta.yaml", t.failed)));
    assert!(!got.keys().any(|k| k.contains(t.finished.as_str())));
    assert!(got["0/meta.yaml"].contains("name: Default\n"));

    req.query = Some("metrics.loss >".into());
    let err = ws.export_mlflow(&req, &mut Progress::silent()).unwrap_err();
    assert_eq!(err.code, ErrorCode::Query);
}

#[test]
fn folders_that_are_not_exports_are_refused_and_cancelling_leaves_nothing() {
    let t = tiny_workspace();
    let mut ws = Workspace::open(&t.root).unwrap();
    std::fs::create_dir_all(&t.out).unwrap();
    std::fs::write(t.out.join("notes.txt"), "mine").unwrap();
    let err = ws
        .export_mlflow(&MlflowExport::new(&t.out), &mut Progress::silent())
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput);
    assert!(
        err.message.contains("not a previous Cairn export"),
        "{}",
        err.message
    );
    assert_eq!(
        std::fs::read_to_string(t.out.join("notes.txt")).unwrap(),
        "mine"
    );

    // An empty folder is fine.
    std::fs::remove_file(t.out.join("notes.txt")).unwrap();
    ws.export_mlflow(&MlflowExport::new(&t.out), &mut Progress::silent())
        .unwrap();

    // Cancelling at the second run keeps the previous export whole and leaves no temp folder.
    let before = tree(&t.out);
    let mut seen = 0;
    let err = ws
        .export_mlflow(&MlflowExport::new(&t.out), &mut |_: &cairn_app::Step| {
            seen += 1;
            if seen == 2 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        })
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::Cancelled);
    assert_eq!(tree(&t.out), before);
    let names: Vec<_> = std::fs::read_dir(t.out.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert!(!names.iter().any(|n| n.contains("cairn-tmp")), "{names:?}");
}

#[test]
fn keys_mlflow_cannot_store_are_refused_or_renamed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    drop(Workspace::open(&root).unwrap());
    let store = Store::open(&root.join("cairn.duckdb")).unwrap();
    let hostile = new_run(
        "hostile",
        &[
            ("../escape", ParamValue::Int(1)),
            ("a//b", ParamValue::Int(2)),
            ("semi;colon", ParamValue::Int(3)),
        ],
        &[("/etc/passwd", "x")],
    );
    store.insert_run(&hostile).unwrap();
    store
        .append_metrics(&hostile.id, &[("loss?", 0, 1.0)])
        .unwrap();
    store
        .finish_run(&hostile.id, RunStatus::Finished, None)
        .unwrap();
    drop(store);
    let mut ws = Workspace::open(&root).unwrap();
    let out = dir.path().join("mlruns");

    let err = ws
        .export_mlflow(&MlflowExport::new(&out), &mut Progress::silent())
        .unwrap_err();
    assert_eq!(err.code, ErrorCode::InvalidInput);
    assert!(err.message.contains(hostile.id.as_str()), "{}", err.message);
    assert!(
        err.message.contains("param key `../escape`"),
        "{}",
        err.message
    );
    assert!(err.message.contains("--rename-bad-keys"), "{}", err.message);
    assert!(!out.exists());
    // Nothing escaped the export folder either.
    assert!(!dir.path().join("escape").exists());

    let mut req = MlflowExport::new(&out);
    req.rename_bad_keys = true;
    let s = ws.export_mlflow(&req, &mut Progress::silent()).unwrap();
    let renames: Vec<(String, String, String)> = s
        .renamed
        .iter()
        .map(|r| (r.kind.clone(), r.from.clone(), r.to.clone()))
        .collect();
    let r = |k: &str, f: &str, t: &str| (k.to_string(), f.to_string(), t.to_string());
    assert_eq!(
        renames,
        [
            r("param", "../escape", "__/escape"),
            r("param", "a//b", "a/b"),
            r("param", "semi;colon", "semi_colon"),
            r("tag", "/etc/passwd", "etc/passwd"),
            r("metric", "loss?", "loss_"),
        ]
    );
    let run_dir = out.join(&s.experiment_id).join(hostile.id.as_str());
    assert_eq!(
        std::fs::read_to_string(run_dir.join("params/__/escape")).unwrap(),
        "1"
    );
    assert_eq!(
        std::fs::read_to_string(run_dir.join("tags/etc/passwd")).unwrap(),
        "x"
    );
    assert!(run_dir.join("metrics/loss_").is_file());

    // `a` and `a/b` would need a file and a folder of one name: refused even when renaming.
    let store_dir = dir.path().join("ws2");
    drop(Workspace::open(&store_dir).unwrap());
    let store = Store::open(&store_dir.join("cairn.duckdb")).unwrap();
    let clash = new_run(
        "clash",
        &[("a", ParamValue::Int(1)), ("a/b", ParamValue::Int(2))],
        &[],
    );
    store.insert_run(&clash).unwrap();
    drop(store);
    let mut ws2 = Workspace::open(&store_dir).unwrap();
    let err = ws2
        .export_mlflow(&req.clone(), &mut Progress::silent())
        .unwrap_err();
    assert!(
        err.message.contains("`a` and `a/b` cannot both be stored"),
        "{}",
        err.message
    );
}
