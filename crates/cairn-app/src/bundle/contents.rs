//! The records a bundle carries beside the model: the run, metric histories, the data
//! reference, lineage, the environment, the model card, the MLflow directory and the KServe
//! example.

use crate::workspace::RunDetail;
use crate::{Result, Workspace};
use cairn_core::DatasetVersion;
use std::collections::BTreeMap;

fn pretty(v: serde_json::Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(&v).expect("json serialises");
    bytes.push(b'\n');
    bytes
}

/// Adds every record entry for `detail`'s run (trained on `version`) to `entries`.
pub(super) fn add_records(
    _ws: &Workspace,
    detail: &RunDetail,
    version: &DatasetVersion,
    entries: &mut BTreeMap<String, Vec<u8>>,
) -> Result<()> {
    let run = &detail.run;
    entries.insert(
        "run.json".into(),
        pretty(serde_json::json!({
            "format_version": 1,
            "id": run.id,
            "name": run.name,
            "status": run.status,
            "model": run.model,
            "target": run.target,
            "seed": run.seed,
            "params": run.params,
            "tags": run.tags,
            "metrics": run.metrics,
            "created_at": run.created_at,
            "finished_at": run.finished_at,
            "environment": run.environment,
        })),
    );
    let history: BTreeMap<&String, Vec<(u64, f64)>> = detail
        .history
        .iter()
        .map(|(k, pts)| (k, pts.iter().map(|p| (p.step, p.value)).collect()))
        .collect();
    entries.insert(
        "metrics/history.json".into(),
        pretty(serde_json::json!(history)),
    );
    entries.insert(
        "data/reference.json".into(),
        pretty(serde_json::json!({
            "name": version.name,
            "version": version.version,
            "hash": version.hash,
            "rows": version.rows,
            "columns": version.columns,
            "source": version.source,
        })),
    );
    Ok(())
}
