//! `cairn loadtest` (docs/serving.md, "Load tests"): against a URL on loopback, or against a
//! registered version served in this process for the length of the test; bodies from a file or
//! from rows of a data version; the SLO checked on the corrected latencies; the report stored on
//! the version as its `latency` evidence, which the registry's latency gate reads.

use crate::{AppError, ErrorCode, Result, ServeOptions, WorkspaceDir};
use bytes::Bytes;
use cairn_core::registry::InputColumn;
use cairn_core::{Frame, FrameValues};
use cairn_serve::loadtest::{self, LoadProgress, LoadReport, LoadSpec, ObjectiveResult};
use serde::Serialize;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::time::Duration;

/// Rows of a data version turned into request bodies, at most.
const MAX_BODIES: usize = 1000;

#[derive(Debug, Clone)]
pub struct LoadTestOptions {
    pub rate: f64,
    pub duration: Duration,
    pub connections: usize,
    pub body: Option<PathBuf>,
    pub from_data: Option<String>,
    pub slo: Option<String>,
    pub profile: bool,
    pub token: Option<String>,
    /// Store the report on this version (`NAME@N`) when the target is a URL.
    pub record: Option<String>,
    pub timeout: Duration,
}

impl Default for LoadTestOptions {
    fn default() -> Self {
        LoadTestOptions {
            rate: 100.0,
            duration: Duration::from_secs(10),
            connections: 16,
            body: None,
            from_data: None,
            slo: None,
            profile: false,
            token: None,
            record: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// The mean time of one phase of a request on the server, from its `/metrics`.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct PhaseShare {
    pub phase: String,
    pub mean_us: f64,
    /// Of the five phases' total.
    pub share: f64,
}

/// What a load test found, as stored and shown.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct LoadTestOutcome {
    pub report: LoadReport,
    pub slo: Vec<ObjectiveResult>,
    pub slo_passed: bool,
    pub profile: Vec<PhaseShare>,
    /// `NAME@N` the report was stored on as `latency` evidence.
    pub recorded_on: Option<String>,
    /// The model version that answered, when known.
    pub model: Option<String>,
}

fn kserve_body(inputs: &[InputColumn], frame: &Frame, row: usize) -> Value {
    let tensors: Vec<Value> = inputs
        .iter()
        .filter_map(|c| {
            let col = frame.column(&c.name)?;
            Some(match &col.values {
                FrameValues::Numeric(v) => {
                    json!({"name": c.name, "shape": [1], "datatype": "FP64", "data": [v[row]]})
                }
                FrameValues::Text(v) => {
                    json!({"name": c.name, "shape": [1], "datatype": "BYTES", "data": [v[row]]})
                }
            })
        })
        .collect();
    json!({ "inputs": tensors })
}

fn split_body(inputs: &[InputColumn], frame: &Frame, row: usize) -> Value {
    let cols: Vec<&InputColumn> = inputs
        .iter()
        .filter(|c| frame.column(&c.name).is_some())
        .collect();
    let data: Vec<Value> = cols
        .iter()
        .filter_map(|c| frame.column(&c.name))
        .map(|col| match &col.values {
            FrameValues::Numeric(v) => json!(v[row]),
            FrameValues::Text(v) => json!(v[row]),
        })
        .collect();
    json!({"dataframe_split": {"columns": cols.iter().map(|c| &c.name).collect::<Vec<_>>(), "data": [data]}})
}

/// The inputs a KServe path's model declares (`GET /v2/models/NAME`), when it answers.
fn remote_inputs(addr: SocketAddr, path: &str, token: Option<&str>) -> Option<Vec<InputColumn>> {
    let meta = path.strip_suffix("/infer")?;
    let (status, body) = loadtest::get(addr, meta, token).ok()?;
    if status != 200 {
        return None;
    }
    let v: Value = serde_json::from_slice(&body).ok()?;
    Some(
        v["inputs"]
            .as_array()?
            .iter()
            .filter_map(|i| {
                Some(InputColumn {
                    name: i["name"].as_str()?.to_string(),
                    dtype: String::new(),
                    role: if i["datatype"] == "BYTES" {
                        "categorical"
                    } else {
                        "numeric"
                    }
                    .into(),
                    min: None,
                    max: None,
                    categories: vec![],
                    nulls_seen: false,
                })
            })
            .collect(),
    )
}

fn phases(text: &str) -> Vec<(String, f64)> {
    cairn_serve::metrics::PHASES
        .iter()
        .map(|p| {
            (
                p.to_string(),
                cairn_serve::metrics::sample_sum(
                    text,
                    "cairn_phase_seconds_total",
                    &[&format!("phase=\"{p}\"")],
                ),
            )
        })
        .collect()
}

fn answered(text: &str) -> f64 {
    cairn_serve::metrics::sample_sum(text, "cairn_requests_total", &["code=\"200\""])
}

impl WorkspaceDir {
    /// Runs a load test against `target`: `http://127.0.0.1:PORT/PATH`, or `NAME@alias` /
    /// `NAME@N` served here for the length of the test.
    pub fn loadtest(
        &self,
        target: &str,
        opts: &LoadTestOptions,
        on_progress: &mut dyn FnMut(&LoadProgress) -> ControlFlow<()>,
    ) -> Result<LoadTestOutcome> {
        let objectives = opts
            .slo
            .as_deref()
            .map(loadtest::parse_slo)
            .transpose()
            .map_err(AppError::invalid)?;
        let mut serving = None;
        let (addr, path, inputs, model, default_data) =
            if target.starts_with("http://") || target.starts_with("https://") {
                let (addr, path) = loadtest::parse_url(target).map_err(AppError::invalid)?;
                let inputs = remote_inputs(addr, &path, opts.token.as_deref());
                // Without a body, rows of the recorded version's training data.
                let data = match (&opts.record, &opts.body, &opts.from_data) {
                    (Some(v), None, None) => self.turn("loadtest: reading the model", |ws| {
                        Ok(ws.model_version(v)?.record.data)
                    })?,
                    _ => None,
                };
                (addr, path, inputs, opts.record.clone(), data)
            } else {
                let s = self.serve(
                    &[target.to_string()],
                    &ServeOptions {
                        port: 0,
                        ..ServeOptions::default()
                    },
                    |_| {},
                )?;
                let name = s.models[0].name.clone();
                let version = s.models[0].arms[0].version;
                let (inputs, data) = self.turn("loadtest: reading the model", |ws| {
                    let v = ws.model_version(&format!("{name}@{version}"))?;
                    Ok((v.record.signature, v.record.data))
                })?;
                let addr = s.addr();
                serving = Some(s);
                (
                    addr,
                    format!("/v2/models/{name}/infer"),
                    Some(inputs),
                    Some(format!("{name}@{version}")),
                    data,
                )
            };
        let mlflow = path.ends_with("/invocations");
        let (bodies, content_type) = match (
            &opts.body,
            opts.from_data.as_ref().or(default_data.as_ref()),
        ) {
            (Some(file), _) => {
                let b = std::fs::read(file)
                    .map_err(|e| AppError::io(format!("reading {}", file.display()), e))?;
                let csv = file
                    .extension()
                    .is_some_and(|e| e.eq_ignore_ascii_case("csv"));
                (
                    vec![Bytes::from(b)],
                    if csv { "text/csv" } else { "application/json" },
                )
            }
            (None, Some(data)) => {
                let frame = self.turn("loadtest: reading the data", |ws| {
                    let v = ws.resolve_dataset(data)?;
                    Ok(ws.store.read_frame(&v)?)
                })?;
                let inputs = inputs.clone().unwrap_or_else(|| {
                    frame
                        .columns
                        .iter()
                        .map(|c| InputColumn {
                            name: c.name.clone(),
                            dtype: String::new(),
                            role: if matches!(c.values, FrameValues::Numeric(_)) {
                                "numeric"
                            } else {
                                "categorical"
                            }
                            .into(),
                            min: None,
                            max: None,
                            categories: vec![],
                            nulls_seen: false,
                        })
                        .collect()
                });
                let n = frame.rows().min(MAX_BODIES);
                if n == 0 {
                    return Err(AppError::invalid(format!("{data} has no rows to send")));
                }
                let bodies = (0..n)
                    .map(|r| {
                        let v = if mlflow {
                            split_body(&inputs, &frame, r)
                        } else {
                            kserve_body(&inputs, &frame, r)
                        };
                        Bytes::from(v.to_string())
                    })
                    .collect();
                (bodies, "application/json")
            }
            (None, None) => {
                return Err(AppError::invalid(
                    "give the requests to send: --body FILE (one request body) or --from-data NAME@N (one request per row)",
                ));
            }
        };
        let mut headers = Vec::new();
        if let Some(t) = &opts.token {
            headers.push(("authorization".to_string(), format!("Bearer {t}")));
        }
        let before = if opts.profile {
            Some(
                loadtest::get(addr, "/metrics", opts.token.as_deref())
                    .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
                    .map_err(|m| AppError::new(ErrorCode::Io, m))?,
            )
        } else {
            None
        };
        let report = loadtest::run(
            LoadSpec {
                addr,
                path: path.clone(),
                bodies,
                content_type: content_type.to_string(),
                headers,
                rate: opts.rate,
                duration: opts.duration,
                connections: opts.connections,
                timeout: opts.timeout,
            },
            on_progress,
        )
        .map_err(|m| AppError::new(ErrorCode::Io, m))?;
        let profile = match before {
            Some(before) => {
                let after = loadtest::get(addr, "/metrics", opts.token.as_deref())
                    .map(|(_, b)| String::from_utf8_lossy(&b).into_owned())
                    .map_err(|m| AppError::new(ErrorCode::Io, m))?;
                let n = (answered(&after) - answered(&before)).max(1.0);
                let deltas: Vec<(String, f64)> = phases(&after)
                    .into_iter()
                    .zip(phases(&before))
                    .map(|((p, a), (_, b))| (p, (a - b).max(0.0) / n * 1e6))
                    .collect();
                let total: f64 = deltas.iter().map(|(_, d)| d).sum();
                deltas
                    .into_iter()
                    .map(|(phase, mean_us)| PhaseShare {
                        phase,
                        mean_us,
                        share: if total > 0.0 { mean_us / total } else { 0.0 },
                    })
                    .collect()
            }
            None => Vec::new(),
        };
        drop(serving);
        let slo = objectives
            .as_ref()
            .map(|o| loadtest::check_slo(o, &report))
            .unwrap_or_default();
        let slo_passed = slo.iter().all(|c| c.passed);
        let mut outcome = LoadTestOutcome {
            report,
            slo,
            slo_passed,
            profile,
            recorded_on: None,
            model: model.clone(),
        };
        if let Some(m) = &model {
            let payload = serde_json::to_string(&outcome).unwrap_or_default();
            let recorded = self.turn("loadtest: recording the report", |ws| {
                let row = ws.resolve_model(m)?;
                let at = cairn_core::now_rfc3339();
                let subject = format!("model:{}@{}", row.name, row.version);
                let summary = json!({
                    "rate": outcome.report.rate,
                    "duration_s": outcome.report.duration_s,
                    "p99_us": outcome.report.corrected.p99,
                    "errors": outcome.report.errors.values().sum::<u64>(),
                    "slo_passed": slo_passed,
                });
                ws.store.atomically(|tx| {
                    tx.insert_evidence(&row.name, row.version, "latency", &payload, &at)?;
                    tx.audit(&[cairn_store::Record::new(
                        "evidence.latency",
                        subject,
                        summary,
                    )])
                })?;
                Ok(format!("{}@{}", row.name, row.version))
            })?;
            outcome.recorded_on = Some(recorded);
        }
        Ok(outcome)
    }
}
