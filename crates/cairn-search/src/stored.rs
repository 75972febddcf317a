//! The run as stored in its index document: compact JSON (params as plain JSON values, no
//! environment record), so a result page decodes fast.

use cairn_core::{ParamValue, Run, RunId, RunStatus};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

#[derive(Serialize, Deserialize)]
struct Stored {
    id: String,
    name: String,
    status: RunStatus,
    model: String,
    dataset: String,
    dataset_hash: String,
    target: String,
    seed: u64,
    params: BTreeMap<String, serde_json::Value>,
    tags: BTreeMap<String, String>,
    metrics: BTreeMap<String, f64>,
    created_at: String,
    finished_at: Option<String>,
    error: Option<String>,
    note: String,
    parent_id: Option<String>,
}

/// A param as plain JSON: `3` (int), `0.1` / `1.0` (float), `true`, `"adam"`, `[64, 32]`.
fn param_to_json(v: &ParamValue) -> serde_json::Value {
    match v {
        ParamValue::Int(i) => (*i).into(),
        ParamValue::Float(f) => serde_json::Number::from_f64(*f)
            .map(serde_json::Value::Number)
            .unwrap_or_else(|| f.to_string().into()),
        ParamValue::Bool(b) => (*b).into(),
        ParamValue::Str(s) => s.clone().into(),
        ParamValue::List(items) => items.iter().map(param_to_json).collect(),
    }
}

fn param_from_json(v: serde_json::Value) -> ParamValue {
    use serde_json::Value as J;
    match v {
        J::Number(n) => match n.as_i64() {
            Some(i) => ParamValue::Int(i),
            None => ParamValue::Float(n.as_f64().unwrap_or(f64::NAN)),
        },
        J::Bool(b) => ParamValue::Bool(b),
        J::String(s) => ParamValue::Str(s),
        J::Array(items) => ParamValue::List(items.into_iter().map(param_from_json).collect()),
        other => ParamValue::Str(other.to_string()),
    }
}

pub(crate) fn encode(run: &Run) -> String {
    let stored = Stored {
        id: run.id.as_str().to_string(),
        name: run.name.clone(),
        status: run.status,
        model: run.model.clone(),
        dataset: run.dataset.clone(),
        dataset_hash: run.dataset_hash.clone(),
        target: run.target.clone(),
        seed: run.seed,
        params: run
            .params
            .iter()
            .map(|(k, v)| (k.clone(), param_to_json(v)))
            .collect(),
        tags: run.tags.clone(),
        metrics: run.metrics.clone(),
        created_at: run.created_at.clone(),
        finished_at: run.finished_at.clone(),
        error: run.error.clone(),
        note: run.note.clone(),
        parent_id: run.parent_id.as_ref().map(|p| p.as_str().to_string()),
    };
    serde_json::to_string(&stored).expect("a run serialises")
}

pub(crate) fn decode(json: &str) -> serde_json::Result<Run> {
    let s: Stored = serde_json::from_str(json)?;
    Ok(Run {
        id: RunId::from_stored(s.id),
        name: s.name,
        status: s.status,
        model: s.model,
        dataset: s.dataset,
        dataset_hash: s.dataset_hash,
        target: s.target,
        seed: s.seed,
        params: s
            .params
            .into_iter()
            .map(|(k, v)| (k, param_from_json(v)))
            .collect(),
        tags: s.tags,
        metrics: s.metrics,
        created_at: s.created_at,
        finished_at: s.finished_at,
        error: s.error,
        environment: serde_json::Value::Null,
        note: s.note,
        parent_id: s.parent_id.map(RunId::from_stored),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn params_keep_their_types_through_the_index() {
        let params = BTreeMap::from([
            ("i".to_string(), ParamValue::Int(-3)),
            ("f".to_string(), ParamValue::Float(1.0)),
            ("g".to_string(), ParamValue::Float(1e-3)),
            ("b".to_string(), ParamValue::Bool(false)),
            ("s".to_string(), ParamValue::Str("12".into())),
            (
                "l".to_string(),
                ParamValue::List(vec![ParamValue::Int(64), ParamValue::Float(0.5)]),
            ),
        ]);
        let run = Run {
            id: RunId::new_v7(),
            name: "n".into(),
            status: RunStatus::Killed,
            model: "mlp".into(),
            dataset: "d@1".into(),
            dataset_hash: "h".into(),
            target: "y".into(),
            seed: u64::MAX,
            params,
            tags: BTreeMap::from([("t".into(), "v".into())]),
            metrics: BTreeMap::from([("acc".into(), 0.25)]),
            created_at: "c".into(),
            finished_at: Some("f".into()),
            error: Some("e".into()),
            environment: serde_json::Value::Null,
            note: "# note".into(),
            parent_id: Some(RunId::new_v7()),
        };
        assert_eq!(decode(&encode(&run)).unwrap(), run);
    }
}
