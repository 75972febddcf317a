//! The training use case: data version → Candle → tracked run with metrics and artifacts.

use crate::{AppError, Result, Workspace, environment};
use cairn_core::{ParamValue, ProgressObserver, Run, RunId, RunStatus, Step};
use cairn_store::NewRun;
use cairn_train::{EpochReport, ModelKind, TrainSpec};
use std::collections::BTreeMap;
use std::ops::ControlFlow;

#[derive(Debug, Clone)]
pub struct TrainRequest {
    /// `NAME`, `NAME@3`, `NAME@<hash prefix>`.
    pub dataset: String,
    pub target: String,
    pub model: String,
    pub seed: u64,
    pub name: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub params: BTreeMap<String, ParamValue>,
}

/// Artifact paths inside a run (and inside its bundle).
pub(crate) const WEIGHTS: &str = "model/weights.safetensors";
pub(crate) const PREPROCESSING: &str = "model/preprocessing.json";
pub(crate) const CONFIG: &str = "model/config.json";

impl Workspace {
    /// Trains a model and records everything about it as a run. Progress arrives per epoch;
    /// if the observer breaks, training stops after that epoch and the run is recorded as killed.
    pub fn train(
        &mut self,
        req: &TrainRequest,
        observer: &mut dyn ProgressObserver,
    ) -> Result<Run> {
        let model = ModelKind::parse(&req.model).map_err(AppError::invalid)?;
        let spec = TrainSpec::from_params(model, req.seed, &req.params)?;
        let version = self.resolve_dataset(&req.dataset)?;
        if version.column(&req.target).is_none() {
            let names: Vec<&str> = version.columns.iter().map(|c| c.name.as_str()).collect();
            return Err(AppError::invalid(format!(
                "{} has no column `{}` to use as --target; its columns are: {}",
                version.label(),
                req.target,
                names.join(", ")
            )));
        }
        let _ = observer.on_step(&Step {
            stage: "load".into(),
            done: 0,
            total: None,
            message: format!("reading {}", version.label()),
        });
        let frame = self.store.read_frame(&version)?;

        let id = RunId::new_v7();
        let name = req.name.clone().unwrap_or_else(|| {
            format!("{}-{}-{}", version.name, model.as_str(), &id.as_str()[28..])
        });
        let mut params = spec.as_params();
        params.extend(req.params.clone());
        let environment =
            environment::capture(&self.store.engine_version()?, req.seed, &version.hash);
        self.store.insert_run(&NewRun {
            id: id.clone(),
            name,
            model: model.as_str().into(),
            dataset: version.label(),
            dataset_hash: version.hash.clone(),
            target: req.target.clone(),
            seed: req.seed,
            params,
            tags: req.tags.clone(),
            environment,
            pid: std::process::id(),
        })?;
        self.reindex()?;

        let mut write_error = None;
        let result = {
            let store = &self.store;
            let mut on_epoch = |r: &EpochReport| {
                let points: Vec<(&str, u64, f64)> = r
                    .metrics
                    .iter()
                    .map(|(k, v)| (k.as_str(), r.epoch as u64, *v))
                    .collect();
                if let Err(e) = store.append_metrics(&id, &points) {
                    write_error = Some(e);
                    return ControlFlow::Break(());
                }
                let get = |k: &str| r.metrics.get(k).copied().unwrap_or(f64::NAN);
                observer.on_step(&Step {
                    stage: "train".into(),
                    done: r.epoch as u64,
                    total: Some(r.epochs as u64),
                    message: format!(
                        "loss {:.4}  test accuracy {:.4}",
                        get("train_loss"),
                        get("test_accuracy")
                    ),
                })
            };
            cairn_train::train(&frame, &req.target, &spec, &mut on_epoch)
        };
        let outcome = match (result, write_error) {
            (_, Some(e)) => Err(AppError::from(e)),
            (Err(e), None) => Err(AppError::from(e)),
            (Ok(out), None) => Ok(out),
        };
        let out = match outcome {
            Ok(out) => out,
            Err(e) => {
                self.store
                    .finish_run(&id, RunStatus::Failed, Some(&e.message))?;
                self.reindex()?;
                return Err(e);
            }
        };
        let json = |v: &serde_json::Value| serde_json::to_vec_pretty(v).expect("json serialises");
        let files: [(&str, Vec<u8>); 3] = [
            (WEIGHTS, out.weights.clone()),
            (
                PREPROCESSING,
                json(&serde_json::to_value(&out.preprocessor).expect("preprocessor serialises")),
            ),
            (CONFIG, json(&out.config)),
        ];
        for (path, bytes) in files {
            let sha = self.artifacts.put(&bytes)?;
            self.store
                .add_artifact(&id, path, &sha, bytes.len() as u64)?;
        }
        if out.cancelled {
            let why = format!(
                "cancelled by the user after epoch {} of {}",
                out.epochs_run, spec.epochs
            );
            self.store.finish_run(&id, RunStatus::Killed, Some(&why))?;
        } else {
            self.store.finish_run(&id, RunStatus::Finished, None)?;
        }
        self.reindex()?;
        Ok(self.store.run(&id)?)
    }
}
