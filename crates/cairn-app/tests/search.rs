//! Search through the workspace: the index follows DuckDB, repairs itself after a crash between
//! the two writes, and answers the query language.

use cairn_app::{ErrorCode, ParamValue, Progress, RunStatus, TrainRequest, Workspace};
use cairn_core::RunId;
use cairn_store::{NewRun, Store};
use std::collections::BTreeMap;
use std::path::Path;

fn train_iris(ws: &mut Workspace, name: &str, lr: f64) {
    let req = TrainRequest {
        dataset: "iris".into(),
        target: "target".into(),
        model: "logistic".into(),
        seed: 1,
        name: Some(name.into()),
        tags: BTreeMap::from([("team".into(), "flowers".into())]),
        params: BTreeMap::from([
            ("epochs".into(), ParamValue::Int(5)),
            ("lr".into(), ParamValue::Float(lr)),
        ]),
        ..Default::default()
    };
    ws.lend(|d| d.train(&req, &mut Progress::silent())).unwrap();
}

/// What a process that died between its DuckDB commit and its index commit leaves behind.
fn write_behind_the_index(root: &Path) -> RunId {
    let store = Store::open(&root.join("cairn.duckdb")).unwrap();
    let id = RunId::new_v7();
    store
        .insert_run(&NewRun {
            id: id.clone(),
            model: "mlp".into(),
            dataset: "iris@1".into(),
            dataset_hash: "0".repeat(64),
            target: "target".into(),
            seed: 9,
            params: BTreeMap::from([("lr".into(), ParamValue::Float(0.5))]),
            tags: BTreeMap::from([("team".into(), "risk".into())]),
            source: "train".into(),
            ..NewRun::named("written-by-a-crashed-process")
        })
        .unwrap();
    store
        .append_metrics(&id, &[("acc", 1, 0.5), ("acc", 2, 0.97), ("acc", 3, 0.9)])
        .unwrap();
    store.finish_run(&id, RunStatus::Finished, None).unwrap();
    id
}

#[test]
fn a_lagging_index_is_repaired_and_answers_the_query_language() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("ws");
    {
        let mut ws = Workspace::open(&root).unwrap();
        let iris = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sample-data/iris.csv");
        ws.import_dataset(&iris, None, Default::default(), &mut Progress::silent())
            .unwrap();
        train_iris(&mut ws, "slow", 0.01);
        train_iris(&mut ws, "fast", 0.2);
    }
    let crashed = write_behind_the_index(&root);

    let mut ws = Workspace::open(&root).unwrap();
    let names = |ws: &mut Workspace, q: &str| -> Vec<String> {
        ws.search(q, 10, 0)
            .unwrap_or_else(|e| panic!("{q}: {}", e.message))
            .runs
            .into_iter()
            .map(|r| r.name)
            .collect()
    };
    assert_eq!(names(&mut ws, "").len(), 3);
    assert_eq!(
        names(&mut ws, "params.lr > 0.1 ORDER BY params.lr DESC"),
        ["written-by-a-crashed-process", "fast"]
    );
    // Aggregates over the history DuckDB holds: max 0.97, last 0.9.
    assert_eq!(
        names(&mut ws, "max(metrics.acc) > 0.95"),
        ["written-by-a-crashed-process"]
    );
    assert!(names(&mut ws, "metrics.acc > 0.95").is_empty());
    assert_eq!(
        names(
            &mut ws,
            "tags.team = 'flowers' AND attributes.status = 'FINISHED'"
        )
        .len(),
        2
    );
    assert_eq!(
        names(&mut ws, "crashed OR tags.team = 'nobody'"),
        ["written-by-a-crashed-process"]
    );
    let page = ws.search_runs("ORDER BY attributes.name", 1, 1).unwrap();
    assert_eq!(page.total, 3);
    assert_eq!(page.runs[0].name, "slow");
    assert_eq!(page.runs[0].params["lr"], serde_json::json!(0.01));
    assert!(ws.run_keys().unwrap().params.contains(&"lr".to_string()));

    // A run changed behind the open workspace's back is re-indexed before the next search.
    drop(ws);
    let store = Store::open(&root.join("cairn.duckdb")).unwrap();
    store.append_metrics(&crashed, &[("acc", 4, 0.99)]).unwrap();
    store
        .finish_run(&crashed, RunStatus::Finished, None)
        .unwrap();
    drop(store);
    let mut ws = Workspace::open(&root).unwrap();
    assert_eq!(
        names(&mut ws, "metrics.acc > 0.95"),
        ["written-by-a-crashed-process"]
    );

    let err = ws.search("metrics.acc >", 10, 0).unwrap_err();
    assert_eq!(err.code, ErrorCode::Query);
    assert!(err.message.contains("column 14"), "{}", err.message);
}
