//! The training use case: data version → Candle → tracked run with metrics and artifacts.
//!
//! Metrics recorded per run:
//! - `step_loss` at every optimisation step (step = global step, 1-based);
//! - the epoch metrics (`train_loss`, `train_accuracy`, `lr`, `val_*`) at step = epoch;
//! - the held-out test metrics (`test_accuracy`, `test_f1_macro`, … or `test_rmse`, `test_r2`, …)
//!   once, at step = the last epoch run.
//!
//! Points are written in batches (the first epoch at once, then at most every second), so a
//! killed process keeps its history up to the last batch. The outcome (the last points, the
//! test metrics, the model files and the end state) is one transaction: a run is never
//! `finished` without its weights.

use crate::{
    AppError, ErrorCode, LogOptions, LogSession, Result, RunLogger, Workspace, WorkspaceDir,
    environment,
};
use cairn_core::{DatasetVersion, ParamValue, ProgressObserver, Run, RunId, RunStatus, Step};
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

/// Streams the trainer's reports into the run's log session and to the progress observer.
struct Recorder<'a> {
    session: &'a LogSession,
    logger: &'a RunLogger,
    observer: &'a mut dyn ProgressObserver,
    /// Points not yet handed to the session: (metric, step, value).
    pending: Vec<(String, u64, f64)>,
    epochs_seen: usize,
    error: Option<AppError>,
}

/// Step points are handed to the log session in chunks of this many (one lock per chunk).
const HAND_OVER: usize = 4_096;

impl Recorder<'_> {
    fn fail(&mut self, e: impl Into<AppError>) -> ControlFlow<()> {
        self.error = Some(e.into());
        ControlFlow::Break(())
    }

    fn hand_over(&mut self) -> Result<()> {
        if self.pending.is_empty() {
            return Ok(());
        }
        self.logger.record_points(std::mem::take(&mut self.pending))
    }
}

impl TrainObserver for Recorder<'_> {
    fn on_step(&mut self, s: &StepReport) -> ControlFlow<()> {
        self.pending
            .push(("step_loss".into(), s.step as u64, s.loss));
        if self.pending.len() >= HAND_OVER
            && let Err(e) = self.hand_over()
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
        self.epochs_seen += 1;
        // The first epoch is written at once (a run page shows it); later ones land with the
        // session's flushes, at least every second.
        let handed = self.hand_over().and_then(|()| {
            if self.epochs_seen == 1 {
                self.session.flush()
            } else {
                Ok(())
            }
        });
        if let Err(e) = handed {
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
        // The history up to a checkpoint is on disk with the checkpoint, in one transaction.
        let stored = self
            .hand_over()
            .and_then(|()| self.logger.artifact_bytes(&checkpoint_path(epoch), bytes))
            .and_then(|()| self.session.flush());
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

/// Everything training reads from the workspace, in its first turn.
struct TrainingInput {
    plan: Plan,
    spec: TrainSpec,
    version: DatasetVersion,
    frame: cairn_core::Frame,
    engine_version: String,
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
        let old = self.find_run(key)?;
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

    /// Training's first turn: the plan, the data version and its rows.
    fn training_input(&self, req: &TrainRequest) -> Result<TrainingInput> {
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
        let frame = self.store.read_frame(&version)?;
        Ok(TrainingInput {
            plan,
            spec,
            version,
            frame,
            engine_version: self.store.engine_version()?,
        })
    }
}

/// Metric batches of a training run are written at least this often.
const FLUSH_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

impl WorkspaceDir {
    /// Trains a model and records everything about it as a run. Progress arrives per epoch
    /// (with the epoch's metrics) and every 50 steps; if the observer breaks, training stops
    /// and the run is recorded as killed, with the weights reached so far.
    ///
    /// The workspace is never held for the length of training: one turn reads the data, the
    /// run's metrics land in turns of at most a second's worth (through a [`LogSession`]),
    /// and the outcome — last metrics, test metrics, model files and end state — in one last
    /// turn, as one transaction.
    pub fn train(&self, req: &TrainRequest, observer: &mut dyn ProgressObserver) -> Result<Run> {
        let device = cairn_train::device::resolve_device(req.device)?;
        let _ = observer.on_step(&Step {
            stage: "load".into(),
            done: 0,
            total: None,
            message: format!("reading {}", req.dataset),
            metrics: Default::default(),
        });
        let TrainingInput {
            plan,
            spec,
            version,
            frame,
            engine_version,
        } = self.turn(&format!("reading {} for training", req.dataset), |ws| {
            ws.training_input(req)
        })?;

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
        let mut environment = environment::capture(&engine_version, plan.seed, &version.hash);
        environment["device"] = cairn_train::device::describe(&device).into();
        let (pid, pid_started) = crate::process::current();
        let session = LogSession::with_environment(
            self,
            LogOptions {
                // Every step's loss is a point: flush by time, not by count.
                flush_every: 1 << 20,
                flush_interval: FLUSH_INTERVAL,
                lock_timeout: self.timeout(),
                system_metrics_every: req.system_metrics_every,
                system_metrics_pid: None,
                source: "train".into(),
                on_landed: None,
            },
            serde_json::Value::Null,
            format!("recording training run {name}"),
        )?;
        let logger = session.start_new(NewRun {
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
        // The run is in the workspace (running) before the first step.
        session.flush()?;

        let (trained, pending) = {
            let mut rec = Recorder {
                session: &session,
                logger: &logger,
                observer,
                pending: Vec::new(),
                epochs_seen: 0,
                error: None,
            };
            let out = cairn_train::train(
                &frame,
                &plan.target,
                &spec,
                req.device,
                plan.resume.as_ref().map(|(_, ck)| ck),
                &mut rec,
            );
            let trained = match (out, rec.error.take()) {
                (_, Some(e)) => Err(e),
                (Err(e), None) => Err(AppError::from(e)),
                (Ok(out), None) => Ok(out),
            };
            (trained, std::mem::take(&mut rec.pending))
        };
        let ended = trained.and_then(|out| {
            let (points, files) = outcome_records(&out)?;
            // Every step's point is in the workspace before the outcome is written.
            logger.record_points(pending)?;
            session.flush()?;
            crate::failpoint::pause("train-before-outcome", self.root());
            let (status, why) = if out.cancelled {
                let why = format!(
                    "cancelled by the user after epoch {} of {}",
                    out.epochs_run, spec.epochs
                );
                (RunStatus::Killed, Some(why))
            } else {
                (RunStatus::Finished, None)
            };
            Ok((points, files, status, why))
        });
        match ended {
            Ok((points, files, status, why)) => {
                logger.finish(points, &files, status, why)?;
            }
            Err(e) => {
                logger.end(RunStatus::Failed, Some(&e.message))?;
                session.close("training failed")?;
                return Err(e);
            }
        }
        session.close("training ended")?;
        self.turn("reading the trained run", |ws| Ok(ws.store.run(&id)?))
    }
}

/// A metric point: key, step, value.
type Point = (String, u64, f64);
/// A file of a run: artifact name and bytes.
type RunFile = (&'static str, Vec<u8>);

/// The outcome of a trained run as it is recorded: the test metrics (at step = the last epoch
/// run) and the model and evaluation files.
fn outcome_records(out: &cairn_train::TrainOutcome) -> Result<(Vec<Point>, Vec<RunFile>)> {
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
            let m = cairn_eval::classification(y_true, proba, classes.len()).map_err(internal)?;
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
    let mut points: Vec<(String, u64, f64)> = flat.into_iter().map(|(k, v)| (k, step, v)).collect();
    let extra = [
        ("n_train", out.n_train as f64),
        ("n_val", out.n_val as f64),
        ("n_test", out.n_test as f64),
    ];
    points.extend(extra.iter().map(|(k, v)| (k.to_string(), step, *v)));
    if let Some(best) = out.best_epoch {
        points.push(("best_epoch".into(), step, best as f64));
    }

    let mut files: Vec<(&'static str, Vec<u8>)> = vec![
        (WEIGHTS, out.weights.clone()),
        (
            PREPROCESSING,
            json_bytes(&serde_json::to_value(&out.preprocessor).expect("preprocessor serialises")),
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
    Ok((points, files))
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
        let run = self.find_run(run_key)?;
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
