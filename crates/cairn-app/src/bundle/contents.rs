//! The records a bundle carries beside the model: the run, final metrics and histories, the
//! data reference, lineage, the environment, the model card, the MLflow directory and the
//! KServe example.

use crate::workspace::RunDetail;
use crate::{Result, Workspace};
use cairn_core::{DatasetVersion, Frame, Run, RunId};
use cairn_train::{ModelKind, Preprocessor, TrainSpec};
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::fmt::Write as _;

/// How far up the parent chain lineage follows (a guard against a cycle in a damaged store).
const MAX_PARENTS: usize = 32;

pub(super) fn pretty(v: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(v).expect("json serialises");
    bytes.push(b'\n');
    bytes
}

/// Adds every record entry for `detail`'s run (trained on `version`) to `entries`, which
/// already hold the model files.
pub(super) fn add_records(
    ws: &Workspace,
    detail: &RunDetail,
    version: &DatasetVersion,
    entries: &mut BTreeMap<String, Vec<u8>>,
) -> Result<()> {
    let run = &detail.run;
    let pre: Option<Preprocessor> = entries
        .get(crate::train::PREPROCESSING)
        .and_then(|b| serde_json::from_slice(b).ok());
    entries.insert(
        "run.json".into(),
        pretty(&json!({
            "format_version": 1,
            "id": run.id,
            "name": run.name,
            "status": run.status,
            "model": run.model,
            "dataset": run.dataset,
            "dataset_hash": run.dataset_hash,
            "target": run.target,
            "seed": run.seed,
            "params": run.params,
            "tags": run.tags,
            "note": run.note,
            "parent_id": run.parent_id,
            "metrics": run.metrics,
            "created_at": run.created_at,
            "finished_at": run.finished_at,
            "environment": run.environment,
        })),
    );
    entries.insert("metrics/final.json".into(), pretty(&json!(run.metrics)));
    let history: BTreeMap<&String, Vec<(u64, f64)>> = detail
        .history
        .iter()
        .map(|(k, pts)| (k, pts.iter().map(|p| (p.step, p.value)).collect()))
        .collect();
    entries.insert("metrics/history.json".into(), pretty(&json!(history)));
    entries.insert(
        "environment.json".into(),
        pretty(&json!({ "format_version": 1, "run_id": run.id, "environment": run.environment })),
    );
    let (_, profile) = ws.dataset_profile(&version.label())?;
    entries.insert(
        "data/reference.json".into(),
        pretty(&json!({
            "name": version.name,
            "version": version.version,
            "label": version.label(),
            "hash": version.hash,
            "rows": version.rows,
            "columns": version.columns,
            "source": version.source,
            "parent_version": version.parent_version,
            "profile": profile,
        })),
    );
    // The data is read once, for the split's row numbers and the MLflow input example; a
    // version whose rows are gone (deleted with --force) still bundles, without those.
    let frame = ws.store.read_frame(version).ok();
    let split = frame.as_ref().and_then(|frame| split_record(run, frame));
    super::mlflow_dir::add_mlflow_dir(run, version, frame.as_ref(), entries)?;
    let lineage = lineage(ws, run, version, split, entries)?;
    entries.insert("lineage.json".into(), pretty(&lineage));
    let card = model_card(run, version, pre.as_ref(), &lineage);
    entries.insert("model_card.md".into(), card_markdown(&card).into_bytes());
    entries.insert("model_card.json".into(), pretty(&card));
    entries.insert(
        "kserve/inferenceservice.yaml".into(),
        kserve_manifest(run).into_bytes(),
    );
    Ok(())
}

/// The train / validation / test split the run used: its settings, and the row counts and a
/// SHA-256 of each part's row numbers, recomputed from the data (the split is seeded, so
/// anyone with the data can check it). `None` when the params do not describe a Cairn split.
fn split_record(run: &Run, frame: &Frame) -> Option<Value> {
    let kind = ModelKind::parse(&run.model).ok()?;
    let spec = TrainSpec::from_params(kind, run.seed, &run.params).ok()?;
    let (train, val, test) = cairn_train::split_rows(frame, &run.target, &spec).ok()?;
    let part = |rows: &[usize]| {
        let mut text = String::with_capacity(rows.len() * 6);
        for r in rows {
            // 1-based row numbers, one per line: `sha256sum` of that list recomputes it.
            let _ = writeln!(text, "{}", r + 1);
        }
        json!({ "rows": rows.len(), "row_numbers_sha256": cairn_core::hash::sha256_hex(text.as_bytes()).to_string() })
    };
    Some(json!({
        "method": if spec.stratify { "seeded, stratified by the target" } else { "seeded" },
        "seed": spec.seed,
        "test_size": spec.test_size,
        "val_size": spec.val_size,
        "stratify": spec.stratify,
        "train": part(&train),
        "validation": part(&val),
        "test": part(&test),
    }))
}

fn lineage(
    ws: &Workspace,
    run: &Run,
    version: &DatasetVersion,
    split: Option<Value>,
    entries: &BTreeMap<String, Vec<u8>>,
) -> Result<Value> {
    // The data version's own history: each earlier version it followed.
    let mut data_history = Vec::new();
    let mut parent = version.parent_version;
    while let Some(v) = parent {
        match ws.resolve_dataset(&format!("{}@{v}", version.name)) {
            Ok(p) => {
                data_history.push(json!({ "version": p.version, "hash": p.hash, "rows": p.rows }));
                parent = p.parent_version.filter(|n| *n < p.version);
            }
            Err(_) => break,
        }
    }
    let mut parents = Vec::new();
    let mut next: Option<RunId> = run.parent_id.clone();
    while let Some(id) = next.take() {
        if parents.len() >= MAX_PARENTS {
            break;
        }
        match ws.store.run(&id) {
            Ok(p) => {
                parents.push(
                    json!({ "id": p.id, "name": p.name, "model": p.model, "status": p.status }),
                );
                next = p.parent_id.clone();
            }
            Err(_) => {
                parents.push(json!({ "id": id, "missing": true }));
            }
        }
    }
    let model_files: BTreeMap<&String, String> = entries
        .iter()
        .filter(|(p, _)| p.starts_with("model/"))
        .map(|(p, b)| (p, cairn_core::hash::sha256_hex(b).to_string()))
        .collect();
    Ok(json!({
        "format_version": 1,
        "run": {
            "id": run.id,
            "name": run.name,
            "created_at": run.created_at,
            "finished_at": run.finished_at,
            "seed": run.seed,
        },
        "parents": parents,
        "data": [{
            "role": "training",
            "name": version.name,
            "version": version.version,
            "hash": version.hash,
            "rows": version.rows,
            "source": version.source,
            "earlier_versions": data_history,
        }],
        "split": split,
        "model_files": model_files,
    }))
}

/// "the columns a, b and c", or the first few and how many more.
fn column_list(columns: &[String]) -> String {
    const SHOWN: usize = 6;
    let quoted: Vec<String> = columns.iter().map(|c| format!("`{c}`")).collect();
    match quoted.len() {
        0 => "no columns".to_string(),
        1 => format!("the column {}", quoted[0]),
        n if n <= SHOWN => format!(
            "the columns {} and {}",
            quoted[..n - 1].join(", "),
            quoted[n - 1]
        ),
        n => format!(
            "{n} columns ({}, and {} more)",
            quoted[..SHOWN].join(", "),
            n - SHOWN
        ),
    }
}

/// The model card as JSON: what the model is, what it was trained on, how well it did, and
/// what it should not be used for.
fn model_card(
    run: &Run,
    version: &DatasetVersion,
    pre: Option<&Preprocessor>,
    lineage: &Value,
) -> Value {
    let task = pre.map(|p| p.task().as_str()).unwrap_or("unknown");
    let features: Vec<String> = pre
        .map(|p| p.features.iter().map(|f| f.column().to_string()).collect())
        .unwrap_or_default();
    let classes: Vec<String> = pre.map(|p| p.classes().to_vec()).unwrap_or_default();
    let test: BTreeMap<&String, f64> = run
        .metrics
        .iter()
        .filter(|(k, _)| k.starts_with("test_"))
        .map(|(k, v)| (k, *v))
        .collect();
    let intended_use = run.tags.get("intended_use").cloned().unwrap_or_else(|| {
        format!(
            "{task} of `{}` from {} of data like `{}`. Written by Cairn from the run record; \
             set the run tag `intended_use` to replace this text.",
            run.target,
            column_list(&features),
            version.label()
        )
    });
    let mut limitations = vec![
        format!(
            "Trained on {} rows of `{}` (hash {}); inputs unlike these rows (new ranges, new categories, a shifted population) are outside what was measured.",
            version.rows,
            version.label(),
            &version.hash[..version.hash.len().min(16)]
        ),
        "The metrics come from one held-out test split; they are estimates with sampling error, not guarantees.".to_string(),
        "No slice, fairness or drift evaluation is recorded with this bundle.".to_string(),
    ];
    if pre.is_some_and(|p| p.features.iter().any(|f| !f.is_numeric())) {
        limitations.push(
            "Text categories not seen in training are encoded as \"no category\" (all zeros)."
                .to_string(),
        );
    }
    if let Some(extra) = run.tags.get("limitations") {
        limitations.push(extra.clone());
    }
    json!({
        "format_version": 1,
        "model": {
            "name": run.name,
            "run_id": run.id,
            "kind": run.model,
            "task": task,
            "target": run.target,
            "classes": classes,
            "features": features,
            "params": run.params.iter().map(|(k, v)| (k.clone(), v.to_string())).collect::<BTreeMap<_, _>>(),
            "seed": run.seed,
            "trained_at": run.finished_at,
            "formats": ["safetensors (model/weights.safetensors)", "ONNX (model/model.onnx)", "MLflow model (mlflow/)"],
        },
        "intended_use": intended_use,
        "data": {
            "training": version.label(),
            "hash": version.hash,
            "rows": version.rows,
            "columns": version.columns.len(),
            "source": version.source,
            "split": lineage.get("split"),
        },
        "metrics": { "test": test, "final": run.metrics },
        "limitations": limitations,
        "notes": run.note,
    })
}

fn card_markdown(card: &Value) -> String {
    let s = |v: &Value| match v {
        Value::String(t) => t.clone(),
        Value::Null => "—".to_string(),
        other => other.to_string(),
    };
    let m = &card["model"];
    let mut md = String::new();
    let _ = writeln!(md, "# Model card: {}\n", s(&m["name"]));
    let _ = writeln!(
        md,
        "Model `{}` for {} of `{}`; run `{}`, trained {}.\n",
        s(&m["kind"]),
        s(&m["task"]),
        s(&m["target"]),
        s(&m["run_id"]),
        s(&m["trained_at"])
    );
    let _ = writeln!(md, "## Intended use\n\n{}\n", s(&card["intended_use"]));
    let d = &card["data"];
    let _ = writeln!(md, "## Data\n");
    let _ = writeln!(
        md,
        "- Training data: `{}` ({} rows, {} columns, from `{}`)",
        s(&d["training"]),
        s(&d["rows"]),
        s(&d["columns"]),
        s(&d["source"])
    );
    let _ = writeln!(md, "- Content hash: `{}`", s(&d["hash"]));
    if let Some(split) = d["split"].as_object() {
        let _ = writeln!(
            md,
            "- Split ({}, seed {}): {} train / {} validation / {} test rows",
            s(&split["method"]),
            s(&split["seed"]),
            s(&split["train"]["rows"]),
            s(&split["validation"]["rows"]),
            s(&split["test"]["rows"])
        );
    }
    if let Some(features) = m["features"].as_array().filter(|f| !f.is_empty()) {
        let names: Vec<String> = features.iter().map(|f| format!("`{}`", s(f))).collect();
        let _ = writeln!(md, "- Features: {}", names.join(", "));
    }
    if let Some(classes) = m["classes"].as_array().filter(|c| !c.is_empty()) {
        let names: Vec<String> = classes.iter().map(|c| format!("`{}`", s(c))).collect();
        let _ = writeln!(md, "- Classes: {}", names.join(", "));
    }
    let _ = writeln!(md, "\n## Metrics (held-out test rows)\n");
    match card["metrics"]["test"]
        .as_object()
        .filter(|t| !t.is_empty())
    {
        Some(test) => {
            let _ = writeln!(md, "| metric | value |\n| --- | --- |");
            for (k, v) in test {
                let value = v
                    .as_f64()
                    .map(|x| format!("{x:.4}"))
                    .unwrap_or_else(|| s(v));
                let _ = writeln!(md, "| {} | {value} |", k.trim_start_matches("test_"));
            }
        }
        None => {
            let _ = writeln!(md, "No test metrics were recorded.");
        }
    }
    let _ = writeln!(md, "\n## Limitations\n");
    for l in card["limitations"].as_array().into_iter().flatten() {
        let _ = writeln!(md, "- {}", s(l));
    }
    let _ = writeln!(md, "\n## Hyperparameters\n");
    let _ = writeln!(md, "| param | value |\n| --- | --- |");
    let _ = writeln!(md, "| seed | {} |", s(&m["seed"]));
    for (k, v) in m["params"].as_object().into_iter().flatten() {
        let _ = writeln!(md, "| {k} | {} |", s(v));
    }
    if let Some(note) = card["notes"].as_str().filter(|n| !n.trim().is_empty()) {
        let _ = writeln!(md, "\n## Notes\n\n{}", note.trim_end());
    }
    let _ = writeln!(
        md,
        "\n## Files\n\nWeights `model/weights.safetensors`, ONNX `model/model.onnx`, MLflow model `mlflow/`, \
         preprocessing `model/preprocessing.json`; lineage `lineage.json`; environment `environment.json`."
    );
    md
}

/// A name KServe accepts: a DNS-1035 label (lowercase letters, digits and `-`, starting with
/// a letter, at most 63 characters).
fn dns_label(name: &str, id: &str) -> String {
    let mut out: String = name
        .to_ascii_lowercase()
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
        .collect();
    while out.contains("--") {
        out = out.replace("--", "-");
    }
    let mut out = out.trim_matches('-').to_string();
    if !out.starts_with(|c: char| c.is_ascii_lowercase()) {
        out = format!("cairn-{out}");
    }
    let suffix = &id[..id.len().min(8)].to_ascii_lowercase();
    out.truncate(63 - suffix.len() - 1);
    format!("{}-{suffix}", out.trim_end_matches('-'))
}

/// An example KServe `InferenceService` serving `model/model.onnx` with the Triton runtime.
fn kserve_manifest(run: &Run) -> String {
    let name = dns_label(&run.name, run.id.as_str());
    format!(
        "# Example KServe InferenceService for this bundle's ONNX model (model/model.onnx).\n\
         # Copy model/model.onnx to <storage>/{name}/1/model.onnx (Triton's model repository\n\
         # layout), point storageUri at <storage>, and apply with `kubectl apply -f`.\n\
         # Inputs and outputs: see docs/formats/bundle.md (model.onnx) or mlflow/MLmodel.\n\
         apiVersion: serving.kserve.io/v1beta1\n\
         kind: InferenceService\n\
         metadata:\n\
         \x20 name: {name}\n\
         \x20 annotations:\n\
         \x20   cairn.dev/run-id: \"{id}\"\n\
         spec:\n\
         \x20 predictor:\n\
         \x20   model:\n\
         \x20     modelFormat:\n\
         \x20       name: onnx\n\
         \x20     runtime: kserve-tritonserver\n\
         \x20     storageUri: pvc://models/\n\
         \x20     resources:\n\
         \x20       requests:\n\
         \x20         cpu: \"1\"\n\
         \x20         memory: 1Gi\n\
         \x20       limits:\n\
         \x20         cpu: \"1\"\n\
         \x20         memory: 1Gi\n",
        id = run.id.as_str()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn column_lists_stay_short() {
        let cols = |n: usize| (0..n).map(|i| format!("c{i}")).collect::<Vec<_>>();
        assert_eq!(column_list(&cols(1)), "the column `c0`");
        assert_eq!(column_list(&cols(3)), "the columns `c0`, `c1` and `c2`");
        assert_eq!(
            column_list(&cols(30)),
            "30 columns (`c0`, `c1`, `c2`, `c3`, `c4`, `c5`, and 24 more)"
        );
    }

    #[test]
    fn dns_labels_are_kserve_names() {
        assert_eq!(
            dns_label("Iris MLP #3", "0193ABCDEF"),
            "iris-mlp-3-0193abcd"
        );
        assert_eq!(dns_label("3rd", "abc"), "cairn-3rd-abc");
        assert_eq!(dns_label("__", "abcdef0123"), "cairn-abcdef01");
        let long = dns_label(&"x".repeat(200), "0123456789");
        assert!(long.len() <= 63, "{long}");
        assert!(long.ends_with("-01234567"));
    }
}
