//! Runs: one training (or externally logged) execution with its params, metrics and status.

use crate::param::ParamValue;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// A run's id: 32 lower-case hex digits of a UUIDv7, so ids sort by creation time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(String);

impl RunId {
    pub fn new_v7() -> Self {
        RunId(uuid::Uuid::now_v7().simple().to_string())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 8 hex digits, enough to tell runs apart on screen.
    pub fn short(&self) -> &str {
        &self.0[..self.0.len().min(8)]
    }

    /// Accepts an existing id read back from storage.
    pub fn from_stored(s: String) -> Self {
        RunId(s)
    }
}

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// queued → running → finished | failed | killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RunStatus {
    Queued,
    Running,
    Finished,
    Failed,
    /// Stopped from outside: cancelled by the user, or its process died (found on the next open).
    Killed,
}

impl RunStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "queued",
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Failed => "failed",
            RunStatus::Killed => "killed",
        }
    }

    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            RunStatus::Finished | RunStatus::Failed | RunStatus::Killed
        )
    }
}

impl fmt::Display for RunStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for RunStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        Ok(match s.to_ascii_lowercase().as_str() {
            "queued" => RunStatus::Queued,
            "running" => RunStatus::Running,
            "finished" => RunStatus::Finished,
            "failed" => RunStatus::Failed,
            "killed" => RunStatus::Killed,
            _ => return Err(format!("unknown run status `{s}`")),
        })
    }
}

/// Everything recorded about a run except its metric history.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Run {
    pub id: RunId,
    pub name: String,
    pub status: RunStatus,
    pub model: String,
    /// `name@version` of the training data, and that version's content hash.
    pub dataset: String,
    pub dataset_hash: String,
    pub target: String,
    pub seed: u64,
    pub params: BTreeMap<String, ParamValue>,
    pub tags: BTreeMap<String, String>,
    /// The last value of each metric.
    pub metrics: BTreeMap<String, f64>,
    pub created_at: String,
    pub finished_at: Option<String>,
    /// Why a run failed or was killed.
    pub error: Option<String>,
    /// Environment record (versions, OS, CPU) as captured at start.
    pub environment: serde_json::Value,
    /// A markdown note, edited by people after the fact.
    #[serde(default)]
    pub note: String,
    /// The run this one belongs to (a sweep's trial names its sweep).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<RunId>,
}

impl Run {
    /// MLflow's system tags that Cairn answers from the run's own fields, as an MLflow run
    /// would carry them: `mlflow.runName` (the name), `mlflow.note.content` (the note, when
    /// there is one) and `mlflow.parentRunId` (the parent, when there is one). Cairn records
    /// no user or source, so `mlflow.user` and `mlflow.source.name` are not among them.
    pub fn mlflow_system_tags(&self) -> Vec<(&'static str, String)> {
        let mut tags = vec![("mlflow.runName", self.name.clone())];
        if !self.note.is_empty() {
            tags.push(("mlflow.note.content", self.note.clone()));
        }
        if let Some(parent) = &self.parent_id {
            tags.push(("mlflow.parentRunId", parent.as_str().to_string()));
        }
        tags
    }
}

/// A metric's whole history in six numbers, for search (`max(metrics.val_acc) > 0.9`).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricSummary {
    /// The value at the highest step (the latest written, for a repeated step).
    pub last: f64,
    /// The value at the lowest step.
    pub first: f64,
    pub min: f64,
    pub max: f64,
    pub mean: f64,
    pub count: u64,
}

/// One recorded value of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct MetricPoint {
    pub step: u64,
    pub value: f64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_sort_by_creation() {
        let a = RunId::new_v7();
        std::thread::sleep(std::time::Duration::from_millis(2));
        let b = RunId::new_v7();
        assert!(a < b);
        assert_eq!(a.as_str().len(), 32);
        assert_eq!(a.short().len(), 8);
    }

    #[test]
    fn status_round_trips() {
        for s in ["queued", "running", "finished", "failed", "killed"] {
            assert_eq!(s.parse::<RunStatus>().unwrap().as_str(), s);
        }
        assert!("done".parse::<RunStatus>().is_err());
    }
}
