//! The training use case: data version → Candle → tracked run with metrics and artifacts.
//!
//! Metrics recorded per run:
//! - `step_loss` at every optimisation step (step = global step, 1-based);
//! - the epoch metrics (`train_loss`, `train_accuracy`, `lr`, `val_*`) at step = epoch;
//! - the held-out test metrics (`test_accuracy`, `test_f1_macro`, … or `test_rmse`, `test_r2`, …)
//!   once, at step = the last epoch run.
//!
//! Points are written in batches (the first epoch at once, then at most every second), so a
//! killed process keeps its history up to the last batch.

use crate::{AppError, ErrorCode, Result, Workspace, environment};
use cairn_core::{ParamValue, ProgressObserver, Run, RunId, RunStatus, Step};
use cairn_store::NewRun;
use cairn_train::{
    Checkpoint, DeviceChoice, EpochReport, ModelKind, StepReport, TestPredictions, TrainObserver,
    TrainSpec,
};
use std::collections::BTreeMap;
use std::ops::ControlFlow;

#[derive(Debug, Clone, Default)]
pub struct TrainRequest {
    /// `NAME`, `NAME@3`, `NAME@<hash prefix>`.
    pub dataset: String,
    pub target: String,
    pub model: String,
    pub seed: u64,
    pub name: Option<String>,
    pub tags: BTreeMap<String, String>,
    pub params: BTreeMap<String, ParamValue>,
    pub device: DeviceChoice,
    /// Continue this run (id, prefix or name) from its last checkpoint, in a new run: the
    /// data, target, model, seed and params are the old run's; `name`, `tags` and `device`
    /// still apply.
    pub resume: Option<String>,
    /// Sample system metrics (`system/cpu_percent`, `system/rss_mb`, GPU) this often while
    /// training (`None`: off).
    pub system_metrics_every: Option<std::time::Duration>,
}

/// Artifact paths inside a run (and inside its bundle).
pub(crate) const WEIGHTS: &str = "model/weights.safetensors";
pub(crate) const PREPROCESSING: &str = "model/preprocessing.json";
pub(crate) const CONFIG: &str = "model/config.json";
pub(crate) const EVAL_METRICS: &str = "eval/metrics.json";
pub(crate) const EVAL_PREDICTIONS: &str = "eval/predictions.json";
pub(crate) const CHECKPOINTS: &str = "checkpoints/";

/// Test predictions kept for plots (residuals, calibration) at most.
const MAX_KEPT_PREDICTIONS: usize = 10_000;

fn checkpoint_path(epoch: usize) -> String {
    format!("{CHECKPOINTS}epoch-{epoch:05}.safetensors")
}

fn json_bytes(value: &serde_json::Value) -> Vec<u8> {
    serde_json::to_vec_pretty(value).expect("json serialises")
}

/// Streams the trainer's reports into the store and to the progress observer.
struct Recorder<'a> {
    ws: &'a Workspace,
    id: &'a RunId,
    observer: &'a mut dyn ProgressObserver,
    /// Points not yet written: (metric, step, value).
    pending: Vec<(String, u64, f64)>,
    /// When the last batch was written; `None` before the first.
    flushed_at: Option<std::time::Instant>,
    error: Option<AppError>,
    /// System metric points sampled since the last flush.
    system: Option<SystemPoints>,
}

type SystemPoints = std::sync::Arc<std::sync::Mutex<Vec<(String, u64, f64)>>>;

/// Metric points are written in batches: at most this often (and at the end of training), so
/// a kill loses at most this much history. The first epoch is written at once.
const FLUSH_EVERY: std::time::Duration = std::time::Duration::from_secs(1);

impl Recorder<'_> {
    fn fail(&mut self, e: impl Into<AppError>) -> ControlFlow<()> {
        self.error = Some(e.into());
        ControlFlow::Break(())
    }

    fn flush(&mut self) -> std::result::Result<(), cairn_store::StoreError> {
        self.flushed_at = Some(std::time::Instant::now());
        if let Some(system) = &self.system
            && let Ok(mut points) = system.lock()
        {
            self.pending.append(&mut points);
        }
        if self.pending.is_empty() {
            return Ok(());
        }
        let points: Vec<(&str, u64, f64)> = self
            .pending
            .iter()
            .map(|(k, s, v)| (k.as_str(), *s, *v))
            .collect();
        self.ws.store.append_metrics(self.id, &points)?;
        self.pending.clear();
        Ok(())
    }

    fn due(&self) -> bool {
        self.flushed_at.is_none_or(|t| t.elapsed() >= FLUSH_EVERY) || self.pending.len() >= 65_536
    }
}

impl TrainObserver for Recorder<'_> {
    fn on_step(&mut self, s: &StepReport) -> ControlFlow<()> {
        self.pending
            .push(("step_loss".into(), s.step as u64, s.loss));
        if self.pending.len() >= 65_536
            && let Err(e) = self.flush()
        {
            return self.fail(e);
        }
        // Steps are not forwarded one by one (a bar per step would flood the terminal and the
        // window); the observer still gets the chance to cancel within an epoch.
        if s.step.is_multiple_of(50) {
            return self.observer.on_step(&Step {
                stage: "train".into(),
                done: s.epoch as u64 - 1,
                total: None,
                message: format!("step {} loss {:.4}", s.step, s.loss),
                metrics: Default::default(),
            });
        }
        ControlFlow::Continue(())
    }

    fn on_epoch(&mut self, r: &EpochReport) -> ControlFlow<()> {
        self.pending.extend(
            r.metrics
                .iter()
                .map(|(k, v)| (k.clone(), r.epoch as u64, *v)),
        );
        if self.due()
            && let Err(e) = self.flush()
        {
            return self.fail(e);
        }
        let get = |k: &str| r.metrics.get(k).copied();
        let mut message = format!("loss {:.4}", get("train_loss").unwrap_or(f64::NAN));
        for k in ["val_loss", "val_accuracy", "train_accuracy", "val_r2"] {
            if let Some(v) = get(k) {
                message.push_str(&format!("  {} {v:.4}", k.replace('_', " ")));
                if k == "val_accuracy" {
                    break;
                }
            }
        }
        self.observer.on_step(&Step {
            stage: "train".into(),
            done: r.epoch as u64,
            total: Some(r.epochs as u64),
            message,
            metrics: r.metrics.clone(),
        })
    }

    fn on_checkpoint(&mut self, epoch: usize, bytes: &[u8]) -> ControlFlow<()> {
        // The history up to a checkpoint is on disk before the checkpoint is.
        if let Err(e) = self.flush() {
            return self.fail(e);
        }
        let stored = self.ws.artifacts.put(bytes).and_then(|sha| {
            Ok(self.ws.store.add_artifact(
                self.id,
                &checkpoint_path(epoch),
                &sha,
                bytes.len() as u64,
            )?)
        });
        match stored {
            Ok(()) => ControlFlow::Continue(()),
            Err(e) => self.fail(e),
        }
    }
}

/// What a training run is asked to do, after `--resume` is resolved.
struct Plan {
    dataset: String,
    target: String,
    model: ModelKind,
    seed: u64,
    params: BTreeMap<String, ParamValue>,
    resume: Option<(Run, Checkpoint)>,
}

impl Workspace {
    fn plan(&self, req: &TrainRequest) -> Result<Plan> {
        let Some(key) = &req.resume else {
            return Ok(Plan {
                dataset: req.dataset.clone(),
                target: req.target.clone(),
                model: ModelKind::parse(&req.model).map_err(AppError::invalid)?,
                seed: req.seed,
                params: req.params.clone(),
                resume: None,
            });
        };
        let old = self.store.find_run(key)?;
        let last = self
            .store
            .artifacts(&old.id)?
            .into_iter()
            .filter(|(path, _, _)| path.starts_with(CHECKPOINTS))
            .max_by(|a, b| a.0.cmp(&b.0))
            .ok_or_else(|| {
                AppError::invalid(format!(
                    "run {} ({}) has no checkpoint to resume from; train with `--param checkpoint_every=N` to write them",
                    old.name,
                    old.id.short()
                ))
            })?;
        let bytes = self.artifacts.get(&last.1)?;
        let ck = Checkpoint::from_bytes(&bytes)
            .map_err(|e| AppError::invalid(format!("{} of run {}: {e}", last.0, old.id.short())))?;
        Ok(Plan {
            dataset: old.dataset.clone(),
            target: old.target.clone(),
            model: ModelKind::parse(&old.model).map_err(AppError::invalid)?,
            seed: old.seed,
            params: old.params.clone(),
            resume: Some((old, ck)),
        })
    }

    /// Trains a model and records everything about it as a run. Progress arrives per epoch
    /// (with the epoch's metrics) and every 50 steps; if the observer breaks, training stops
    /// and the run is recorded as killed, with the weights reached so far.
    pub fn train(
        &mut self,
        req: &TrainRequest,
        observer: &mut dyn ProgressObserver,
    ) -> Result<Run> {
        let plan = self.plan(req)?;
        let spec = TrainSpec::from_params(plan.model, plan.seed, &plan.params)?;
        let version = self.resolve_dataset(&plan.dataset)?;
        if version.column(&plan.target).is_none() {
            let names: Vec<&str> = version.columns.iter().map(|c| c.name.as_str()).collect();
            return Err(AppError::invalid(format!(
                "{} has no column `{}` to use as --target; its columns are: {}",
                version.label(),
                plan.target,
                names.join(", ")
            )));
        }
        let device = cairn_train::device::resolve_device(req.device)?;
        let _ = observer.on_step(&Step {
            stage: "load".into(),
            done: 0,
            total: None,
            message: format!("reading {}", version.label()),
            metrics: Default::default(),
        });
        let frame = self.store.read_frame(&version)?;

        let id = RunId::new_v7();
        let name = req.name.clone().unwrap_or_else(|| match &plan.resume {
            Some((old, _)) => format!("{}-resumed", old.name),
            None => format!(
                "{}-{}-{}",
                version.name,
                plan.model.as_str(),
                &id.as_str()[28..]
            ),
        });
        let mut params = spec.as_params();
        params.extend(plan.params.clone());
        let mut tags = req.tags.clone();
        if let Some((old, ck)) = &plan.resume {
            tags.insert("resumed_from".into(), old.id.to_string());
            tags.insert("resumed_at_epoch".into(), ck.state.epoch.to_string());
        }
        let mut environment =
            environment::capture(&self.store.engine_version()?, plan.seed, &version.hash);
        environment["device"] = cairn_train::device::describe(&device).into();
        let (pid, pid_started) = crate::process::current();
        self.store.insert_run(&NewRun {
            id: id.clone(),
            name,
            model: plan.model.as_str().into(),
            dataset: version.label(),
            dataset_hash: version.hash.clone(),
            target: plan.target.clone(),
            seed: plan.seed,
            params,
            tags,
            environment,
            pid,
            pid_started,
            source: "train".into(),
            note: String::new(),
            parent_id: None,
            status: RunStatus::Running,
        })?;
        self.reindex()?;
        let system: Option<SystemPoints> = req.system_metrics_every.map(|_| Default::default());
        let _sampler = req
            .system_metrics_every
            .zip(system.clone())
            .map(|(every, sink)| {
                crate::sysmetrics::SystemSampler::start(every, pid, move |s| {
                    if let Ok(mut points) = sink.lock() {
                        points.extend(
                            s.values
                                .into_iter()
                                .map(|(k, v)| (k.to_string(), s.index, v)),
                        );
                    }
                })
            });

        let result = {
            let mut rec = Recorder {
                ws: self,
                id: &id,
                observer,
                pending: Vec::new(),
                flushed_at: None,
                error: None,
                system,
            };
            let out = cairn_train::train(
                &frame,
                &plan.target,
                &spec,
                req.device,
                plan.resume.as_ref().map(|(_, ck)| ck),
                &mut rec,
            );
            let flushed = rec.flush();
            match (out, rec.error.take(), flushed) {
                (_, Some(e), _) => Err(e),
                (Err(e), None, _) => Err(AppError::from(e)),
                (Ok(_), None, Err(e)) => Err(AppError::from(e)),
                (Ok(out), None, Ok(())) => Ok(out),
            }
        };
        let out = match result.and_then(|out| self.record_outcome(&id, &out).map(|()| out)) {
            Ok(out) => out,
            Err(e) => {
                self.store
                    .finish_run(&id, RunStatus::Failed, Some(&e.message))?;
                self.reindex()?;
                return Err(e);
            }
        };
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

    /// Stores the model, the test metrics and the evaluation artifacts of a trained run.
    fn record_outcome(&self, id: &RunId, out: &cairn_train::TrainOutcome) -> Result<()> {
        let internal = |e: cairn_eval::EvalError| {
            AppError::new(
                ErrorCode::TrainingFailed,
                format!("scoring the test rows: {e}"),
            )
        };
        let step = out.epochs_run as u64;
        let (metrics_json, predictions_json, flat) = match &out.test {
            TestPredictions::Classification { y_true, proba } => {
                let classes = out.preprocessor.classes();
                let m =
                    cairn_eval::classification(y_true, proba, classes.len()).map_err(internal)?;
                let flat = m.flat("test_");
                (
                    serde_json::json!({
                        "task": "classification",
                        "classes": classes,
                        "test_rows": out.n_test,
                        "metrics": m,
                    }),
                    None,
                    flat,
                )
            }
            TestPredictions::Regression { y_true, y_pred } => {
                let m = cairn_eval::regression(y_true, y_pred).map_err(internal)?;
                let flat = m.flat("test_");
                let keep = y_true.len().min(MAX_KEPT_PREDICTIONS);
                (
                    serde_json::json!({
                        "task": "regression",
                        "target": out.preprocessor.target_column(),
                        "test_rows": out.n_test,
                        "metrics": m,
                    }),
                    Some(serde_json::json!({
                        "rows": &out.test_rows[..keep].iter().map(|r| r + 1).collect::<Vec<_>>(),
                        "y_true": &y_true[..keep],
                        "y_pred": &y_pred[..keep],
                    })),
                    flat,
                )
            }
        };
        let mut points: Vec<(&str, u64, f64)> =
            flat.iter().map(|(k, v)| (k.as_str(), step, *v)).collect();
        let extra = [
            ("n_train", out.n_train as f64),
            ("n_val", out.n_val as f64),
            ("n_test", out.n_test as f64),
        ];
        points.extend(extra.iter().map(|(k, v)| (*k, step, *v)));
        if let Some(best) = out.best_epoch {
            points.push(("best_epoch", step, best as f64));
        }
        self.store.append_metrics(id, &points)?;

        let mut files: Vec<(&str, Vec<u8>)> = vec![
            (WEIGHTS, out.weights.clone()),
            (
                PREPROCESSING,
                json_bytes(
                    &serde_json::to_value(&out.preprocessor).expect("preprocessor serialises"),
                ),
            ),
            (
                CONFIG,
                json_bytes(&serde_json::to_value(&out.config).expect("config serialises")),
            ),
            (EVAL_METRICS, json_bytes(&metrics_json)),
        ];
        if let Some(p) = predictions_json {
            files.push((EVAL_PREDICTIONS, json_bytes(&p)));
        }
        for (path, bytes) in files {
            let sha = self.artifacts.put(&bytes)?;
            self.store
                .add_artifact(id, path, &sha, bytes.len() as u64)?;
        }
        Ok(())
    }
}

/// A run's evaluation artifacts, for the run page: the test metrics with the confusion matrix
/// (`eval/metrics.json`) and, for regression, test predictions for a residual plot
/// (`eval/predictions.json`). Either is `None` when the run has not written it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RunEvaluation {
    pub metrics: Option<serde_json::Value>,
    pub predictions: Option<serde_json::Value>,
}

impl Workspace {
    pub fn run_evaluation(&self, run_key: &str) -> Result<RunEvaluation> {
        let run = self.store.find_run(run_key)?;
        let artifacts = self.store.artifacts(&run.id)?;
        let read = |path: &str| -> Result<Option<serde_json::Value>> {
            let Some((_, sha, _)) = artifacts.iter().find(|(p, _, _)| p == path) else {
                return Ok(None);
            };
            let bytes = self.artifacts.get(sha)?;
            serde_json::from_slice(&bytes).map(Some).map_err(|e| {
                AppError::new(
                    ErrorCode::Internal,
                    format!("{path} of run {} is not valid JSON: {e}", run.id.short()),
                )
            })
        };
        Ok(RunEvaluation {
            metrics: read(EVAL_METRICS)?,
            predictions: read(EVAL_PREDICTIONS)?,
        })
    }
}
