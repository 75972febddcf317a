//! Serving (docs/serving.md): registered versions and bundle files as `cairn-serve`
//! predictors, the request log written in batches (one workspace turn per batch, with the alias
//! check of hot swap in the same turn), and the load tests whose reports become a version's
//! `latency` evidence.
//!
//! A server holds no workspace between its turns: the CLI, the desktop and other servers work on
//! beside it. A killed server loses at most the records of its last unflushed second.

use crate::registry::{ModelVersionRecord, signature};
use crate::train::{CONFIG, PREPROCESSING, WEIGHTS};
use crate::{AppError, ErrorCode, Result, Workspace, WorkspaceDir};
use cairn_core::registry::InputColumn;
use cairn_serve::{
    ModelGroup, ModelInfo, Policy, Prediction, Predictor, RequestRecord, RequestSink, Scored,
    ServerConfig, ServerHandle, Slot, Task,
};
use cairn_store::RequestRow;
use cairn_train::{DeviceChoice, LoadedModel, ModelConfig, Predictions, Preprocessor};
use serde::Serialize;
use std::collections::VecDeque;
use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A trained model with its preprocessing, as the server calls it.
pub struct ServedModel {
    info: ModelInfo,
    model: LoadedModel,
}

impl Predictor for ServedModel {
    fn info(&self) -> &ModelInfo {
        &self.info
    }

    fn predict(&self, frame: &cairn_core::Frame) -> std::result::Result<Scored, String> {
        let (p, preprocess, infer) = self.model.predict_timed(frame).map_err(|e| e.to_string())?;
        Ok(Scored {
            prediction: match p {
                Predictions::Classes { proba } => Prediction::Classes { proba },
                Predictions::Values { values } => Prediction::Values { values },
            },
            preprocess,
            infer,
        })
    }
}

/// Builds a predictor from a bundle's bytes.
fn served_model(
    bytes: &[u8],
    shown: &str,
    name: &str,
    version: u32,
    run_id: &str,
    inputs: Option<Vec<InputColumn>>,
) -> Result<ServedModel> {
    let (report, entries) = cairn_bundle::verify_and_read(shown, bytes, &[])?;
    if !report.ok() {
        return Err(AppError::new(
            ErrorCode::BundleInvalid,
            format!("{shown} does not verify; run `cairn bundle verify` on it for the details"),
        ));
    }
    let get = |path: &str| {
        entries.get(path).ok_or_else(|| {
            AppError::invalid(format!(
                "{shown} has no `{path}`: it holds no trained model"
            ))
        })
    };
    let unreadable = |what: &str, e: serde_json::Error| {
        AppError::new(
            ErrorCode::BundleInvalid,
            format!("the {what} in {shown} does not read ({e}); it may come from another Cairn"),
        )
    };
    let pre: Preprocessor =
        serde_json::from_slice(get(PREPROCESSING)?).map_err(|e| unreadable("preprocessing", e))?;
    let cfg: ModelConfig =
        serde_json::from_slice(get(CONFIG)?).map_err(|e| unreadable("model config", e))?;
    let inputs = inputs
        .filter(|i| !i.is_empty())
        .unwrap_or_else(|| signature(Some(&pre), None, None));
    let task = match pre.task() {
        cairn_train::preprocess::Task::Classification => Task::Classification {
            classes: pre.classes().to_vec(),
        },
        cairn_train::preprocess::Task::Regression => Task::Regression,
    };
    let unseen_ignored = pre.config.unseen == cairn_train::preprocess::Unseen::Ignore;
    let model = LoadedModel::load(get(WEIGHTS)?, pre, cfg, DeviceChoice::Cpu)?;
    Ok(ServedModel {
        info: ModelInfo {
            name: name.to_string(),
            version,
            source: shown.to_string(),
            run_id: run_id.to_string(),
            inputs,
            task,
            unseen_ignored,
        },
        model,
    })
}

/// A model version's bundle and record, read in a turn (the model is built after it).
struct VersionBytes {
    name: String,
    version: u32,
    bytes: Vec<u8>,
    record: ModelVersionRecord,
}

impl Workspace {
    /// The request log of `cairn serve`, newest `filter.limit` rows in time order.
    pub fn requests(&self, filter: &cairn_store::RequestFilter) -> Result<Vec<RequestRow>> {
        Ok(self.store.requests(filter)?)
    }

    fn version_bytes(&self, name: &str, version: u32) -> Result<VersionBytes> {
        let row = self.resolve_model(&format!("{name}@{version}"))?;
        self.row_bytes(row)
    }

    fn row_bytes(&self, row: cairn_store::ModelVersionRow) -> Result<VersionBytes> {
        let record: ModelVersionRecord = serde_json::from_str(&row.record_json).map_err(|e| {
            AppError::new(
                ErrorCode::Internal,
                format!(
                    "the record of {}@{} does not read ({e})",
                    row.name, row.version
                ),
            )
        })?;
        let bytes = self.artifacts.get(&row.bundle_sha256)?;
        Ok(VersionBytes {
            name: row.name,
            version: row.version,
            bytes,
            record,
        })
    }
}

fn version_model(v: &VersionBytes) -> Result<ServedModel> {
    served_model(
        &v.bytes,
        &format!("{}@{}", v.name, v.version),
        &v.name,
        v.version,
        &v.record.run_id,
        Some(v.record.signature.clone()),
    )
}

/// One target (`NAME@alias`, `NAME@N`, or a bundle file) as a predictor, read in one turn (for
/// `cairn validate`).
pub(crate) fn load_one(dir: &WorkspaceDir, target: &str) -> Result<ServedModel> {
    if is_bundle_file(target) {
        return bundle_file_model(target).map(|(_, m)| m);
    }
    let v = dir.turn("validate: reading the model", |ws| {
        let row = ws.resolve_model(target)?;
        ws.row_bytes(row)
    })?;
    version_model(&v)
}

/// Whether a serve target names a bundle file rather than a registered model.
fn is_bundle_file(target: &str) -> bool {
    target.ends_with(".zip") || Path::new(target).is_file()
}

/// A bundle file as a served model, named by its run's name, version 1, its signature taken from
/// its preprocessing.
fn bundle_file_model(target: &str) -> Result<(String, ServedModel)> {
    let path = Path::new(target);
    let bundle = crate::read_bundle(path, &[])?;
    let bytes =
        std::fs::read(path).map_err(|e| AppError::io(format!("reading {}", path.display()), e))?;
    let name = bundle.run_name().to_string();
    let model = served_model(&bytes, target, &name, 1, bundle.run_id(), None)?;
    Ok((name, model))
}

/// How `cairn serve` runs.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    pub host: IpAddr,
    pub port: u16,
    pub token: Option<String>,
    /// `production=90,challenger=10`.
    pub routes: Option<String>,
    /// The arm that also gets every request, off the hot path.
    pub shadow: Option<String>,
    pub policy: Policy,
    /// Keep request inputs in the log (else only their digest).
    pub log_inputs: bool,
    /// How often the request log is flushed and served aliases are checked.
    pub flush_every: Duration,
}

impl Default for ServeOptions {
    fn default() -> Self {
        ServeOptions {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 8080,
            token: None,
            routes: None,
            shadow: None,
            policy: Policy::default(),
            log_inputs: true,
            flush_every: Duration::from_secs(1),
        }
    }
}

/// One arm of a served model.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ServedArm {
    /// The alias it follows, or `v3`.
    pub label: String,
    pub version: u32,
    pub source: String,
    /// Its share of traffic in percent (of the model's routed requests).
    pub weight: f64,
    pub shadow: bool,
}

/// A served model name with its arms.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ServedName {
    pub name: String,
    pub arms: Vec<ServedArm>,
    /// `/v2/models/NAME/infer` and friends.
    pub infer_url: String,
    pub curl: String,
}

/// Something a running server did that its user should hear of.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum ServeEvent {
    /// A served alias moved and the server switched to the new version.
    Swapped {
        model: String,
        alias: String,
        from: u32,
        to: u32,
    },
    /// A batch of the request log was written.
    Flushed { rows: u64, total: u64 },
    /// Something failed and will be tried again (a flush, a reload).
    Trouble { message: String },
}

type EventSink = Arc<dyn Fn(&ServeEvent) + Send + Sync>;

/// Records waiting to be written, at most this many (then the oldest are dropped, counted).
const LOG_QUEUE: usize = 100_000;
/// Recent requests kept in memory for the status display.
const RECENT: usize = 200;

struct RequestLog {
    tx: SyncSender<RequestRecord>,
    dropped: AtomicU64,
    recent: Mutex<VecDeque<RequestRecord>>,
}

impl RequestSink for RequestLog {
    fn record(&self, record: RequestRecord) {
        if let Ok(mut r) = self.recent.lock() {
            if r.len() == RECENT {
                r.pop_front();
            }
            r.push_back(record.clone());
        }
        if let Err(TrySendError::Full(_) | TrySendError::Disconnected(_)) = self.tx.try_send(record)
        {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

fn to_row(server: &str, r: RequestRecord) -> RequestRow {
    RequestRow {
        server: server.to_string(),
        ts: r.ts,
        request_id: r.request_id,
        model: r.model,
        version: r.version,
        arm: r.arm,
        route: r.route.to_string(),
        shadow: r.shadow,
        status: r.status,
        latency_us: r.latency_us,
        outcome: r.outcome.to_string(),
        problems_json: serde_json::to_string(&r.problems).unwrap_or_else(|_| "[]".into()),
        rows: r.rows as u32,
        inputs_json: r.inputs.map(|v| v.to_string()),
        inputs_sha256: r.inputs_sha256,
        prediction_json: r.prediction.map(|v| v.to_string()),
    }
}

/// Live figures of a running server.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct ServeStatus {
    pub server: String,
    pub url: String,
    pub models: Vec<ServedName>,
    pub requests: u64,
    pub errors: u64,
    /// Answers per second over the last 5 seconds.
    pub rate: f64,
    /// Latency of the answers of the last 5 seconds, milliseconds.
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
    /// Request-log rows written so far, and dropped because the log fell behind.
    pub logged: u64,
    pub dropped: u64,
    pub recent: Vec<RecentRequest>,
    pub swaps: Vec<ServeEvent>,
}

/// One recent request, for the status display.
#[derive(Debug, Clone, Serialize, ts_rs::TS)]
pub struct RecentRequest {
    pub ts: String,
    pub model: String,
    pub version: u32,
    pub arm: String,
    pub route: String,
    pub shadow: bool,
    pub status: u16,
    pub latency_ms: f64,
    pub outcome: String,
    pub problems: Vec<String>,
}

/// A running server with its request log and alias watch; stop it with [`Serving::stop`].
pub struct Serving {
    handle: Arc<ServerHandle>,
    log: Arc<RequestLog>,
    stop: Arc<AtomicBool>,
    keeper: Option<std::thread::JoinHandle<()>>,
    logged: Arc<AtomicU64>,
    swaps: Arc<Mutex<Vec<ServeEvent>>>,
    pub server: String,
    pub url: String,
    pub models: Vec<ServedName>,
}

struct Target {
    label: String,
    alias: Option<String>,
    model: ServedModel,
}

impl WorkspaceDir {
    /// Starts a server for `targets` (`NAME@alias`, `NAME@N`, `NAME`, or a bundle file):
    /// targets of one name are the arms of one model, split by `opts.routes`.
    pub fn serve(
        &self,
        targets: &[String],
        opts: &ServeOptions,
        on_event: impl Fn(&ServeEvent) + Send + Sync + 'static,
    ) -> Result<Serving> {
        if targets.is_empty() {
            return Err(AppError::invalid(
                "nothing to serve: give NAME@alias, NAME@N or a bundle file (BUNDLE.zip)",
            ));
        }
        // Read every registered version in one turn; build the models after it.
        let mut read: Vec<(Option<String>, Result<VersionBytes>)> = Vec::new();
        let (files, registered): (Vec<&String>, Vec<&String>) =
            targets.iter().partition(|t| is_bundle_file(t));
        if !registered.is_empty() {
            self.turn("serve: reading the models", |ws| {
                for t in &registered {
                    let row = ws.resolve_model(t)?;
                    let alias = t
                        .split_once('@')
                        .map(|(_, p)| p)
                        .filter(|p| p.parse::<u32>().is_err())
                        .map(str::to_string);
                    read.push((alias, ws.row_bytes(row)));
                }
                Ok(())
            })?;
        }
        let mut loaded: Vec<(String, Target)> = Vec::new();
        for (alias, bytes) in read {
            let v = bytes?;
            let model = version_model(&v)?;
            let label = alias.clone().unwrap_or_else(|| format!("v{}", v.version));
            loaded.push((
                v.name.clone(),
                Target {
                    label,
                    alias,
                    model,
                },
            ));
        }
        for text in files {
            let (name, model) = bundle_file_model(text)?;
            loaded.push((
                name,
                Target {
                    label: "v1".into(),
                    alias: None,
                    model,
                },
            ));
        }
        // Group by name, in the order given.
        let mut groups: Vec<(String, Vec<Target>)> = Vec::new();
        for (name, t) in loaded {
            match groups.iter_mut().find(|(n, _)| *n == name) {
                Some((_, ts)) => {
                    if ts.iter().any(|x| x.label == t.label) {
                        return Err(AppError::invalid(format!(
                            "{name} {} is given twice",
                            t.label
                        )));
                    }
                    ts.push(t)
                }
                None => groups.push((name, vec![t])),
            }
        }
        let routes = opts
            .routes
            .as_deref()
            .map(cairn_serve::parse_routes)
            .transpose()
            .map_err(AppError::invalid)?;
        let mut model_groups = Vec::new();
        let mut watched: Vec<(String, String, Arc<Slot>)> = Vec::new();
        let mut names = Vec::new();
        let base = |addr: &str| format!("http://{addr}");
        for (name, targets) in groups {
            let labels: Vec<String> = targets.iter().map(|t| t.label.clone()).collect();
            let slots: Vec<Arc<Slot>> = targets
                .into_iter()
                .map(|t| Arc::new(Slot::new(t.alias, Arc::new(t.model))))
                .collect();
            for s in &slots {
                if let Some(a) = &s.alias {
                    watched.push((name.clone(), a.clone(), s.clone()));
                }
            }
            let index = |arm: &str, flag: &str| {
                labels.iter().position(|l| l == arm).ok_or_else(|| {
                    AppError::invalid(format!(
                        "{flag} names the arm `{arm}`, but {name} is served as {}; give each arm \
                         as a target too, e.g. `cairn serve {name}@production {name}@challenger`",
                        labels.join(", ")
                    ))
                })
            };
            let group_routes = match &routes {
                Some(r) if slots.len() > 1 || r.len() > 1 => r
                    .iter()
                    .map(|(arm, w)| Ok((index(arm, "--route")?, *w)))
                    .collect::<Result<Vec<_>>>()?,
                _ => Vec::new(),
            };
            let shadow = opts
                .shadow
                .as_deref()
                .filter(|_| slots.len() > 1)
                .map(|a| index(a, "--shadow"))
                .transpose()?;
            if let (Some(s), Some(r)) = (shadow, &routes)
                && r.iter().any(|(arm, w)| *arm == labels[s] && *w > 0)
            {
                return Err(AppError::invalid(format!(
                    "--shadow {}: the shadow also has a --route weight; a shadow gets copies of \
                     requests, not requests of its own — give it weight 0 or drop it from --route",
                    labels[s]
                )));
            }
            let total: u32 = group_routes.iter().map(|(_, w)| *w).sum();
            let arms = slots
                .iter()
                .enumerate()
                .map(|(i, s)| {
                    let p = s.get();
                    let info = p.info();
                    let weight = if group_routes.is_empty() {
                        if i == 0 { 100.0 } else { 0.0 }
                    } else {
                        group_routes
                            .iter()
                            .filter(|(x, _)| *x == i)
                            .map(|(_, w)| f64::from(*w) * 100.0 / f64::from(total.max(1)))
                            .sum()
                    };
                    ServedArm {
                        label: s.label(),
                        version: info.version,
                        source: info.source.clone(),
                        weight,
                        shadow: shadow == Some(i),
                    }
                })
                .collect();
            names.push((name.clone(), arms));
            model_groups.push(ModelGroup {
                name,
                slots,
                routes: group_routes,
                shadow,
            });
        }
        if opts.shadow.is_some() && model_groups.iter().all(|g| g.shadow.is_none()) {
            return Err(AppError::invalid(
                "--shadow needs a model served with two arms, e.g. `cairn serve iris@production \
                 iris@challenger --shadow challenger`",
            ));
        }
        let (tx, rx) = std::sync::mpsc::sync_channel(LOG_QUEUE);
        let log = Arc::new(RequestLog {
            tx,
            dropped: AtomicU64::new(0),
            recent: Mutex::new(VecDeque::new()),
        });
        let config = ServerConfig {
            host: opts.host,
            port: opts.port,
            token: opts.token.clone(),
            policy: opts.policy,
            log_inputs: opts.log_inputs,
            server_version: crate::CAIRN_VERSION.to_string(),
            ..ServerConfig::default()
        };
        let handle = Arc::new(
            cairn_serve::start(config, model_groups, log.clone()).map_err(|m| {
                AppError::new(
                    if m.contains("loopback") {
                        ErrorCode::InvalidInput
                    } else {
                        ErrorCode::Io
                    },
                    m,
                )
            })?,
        );
        let addr = handle.addr.to_string();
        let url = base(&addr);
        let server = format!("serve-{}", uuid_like());
        let models = names
            .into_iter()
            .map(|(name, arms)| {
                let infer_url = format!("{url}/v2/models/{name}/infer");
                let curl = curl_example(&infer_url, handle.groups(), &name, opts.token.is_some());
                ServedName {
                    name,
                    arms,
                    infer_url,
                    curl,
                }
            })
            .collect();
        let stop = Arc::new(AtomicBool::new(false));
        let logged = Arc::new(AtomicU64::new(0));
        let swaps = Arc::new(Mutex::new(Vec::new()));
        let on_event: EventSink = Arc::new(on_event);
        let keeper = {
            let ctx = Keeper {
                dir: self.clone(),
                rx,
                server: server.clone(),
                watched,
                handle: handle.clone(),
                stop: stop.clone(),
                every: opts.flush_every,
                logged: logged.clone(),
                swaps: swaps.clone(),
                on_event,
            };
            std::thread::Builder::new()
                .name("cairn-serve-log".into())
                .spawn(move || ctx.run())
                .map_err(|e| AppError::io("starting the request log thread".to_string(), e))?
        };
        Ok(Serving {
            handle,
            log,
            stop,
            keeper: Some(keeper),
            logged,
            swaps,
            server,
            url,
            models,
        })
    }
}

fn uuid_like() -> String {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{:x}{:04x}", t as u64, std::process::id() & 0xffff)
}

/// A `curl` line that calls the model with one example row (its training midpoint).
fn curl_example(url: &str, groups: &[ModelGroup], name: &str, token: bool) -> String {
    let Some(g) = groups.iter().find(|g| g.name == name) else {
        return String::new();
    };
    let p = g.slots[0].get();
    let inputs: Vec<serde_json::Value> = p
        .info()
        .inputs
        .iter()
        .map(|c| {
            if c.role == "numeric" {
                let x = match (c.min, c.max) {
                    (Some(a), Some(b)) => ((a + b) / 2.0 * 100.0).round() / 100.0,
                    _ => 0.0,
                };
                serde_json::json!({"name": c.name, "shape": [1], "datatype": "FP64", "data": [x]})
            } else {
                let v = c.categories.first().cloned().unwrap_or_default();
                serde_json::json!({"name": c.name, "shape": [1], "datatype": "BYTES", "data": [v]})
            }
        })
        .collect();
    let body = serde_json::json!({ "inputs": inputs }).to_string();
    format!(
        "curl -s {url}{} -H 'Content-Type: application/json' -d '{}'",
        if token {
            " -H \"Authorization: Bearer $TOKEN\""
        } else {
            ""
        },
        body.replace('\'', "'\\''")
    )
}

struct Keeper {
    dir: WorkspaceDir,
    rx: Receiver<RequestRecord>,
    server: String,
    watched: Vec<(String, String, Arc<Slot>)>,
    handle: Arc<ServerHandle>,
    stop: Arc<AtomicBool>,
    every: Duration,
    logged: Arc<AtomicU64>,
    swaps: Arc<Mutex<Vec<ServeEvent>>>,
    on_event: EventSink,
}

impl Keeper {
    /// Every `every`: one turn that appends the batch and reads the served aliases; a moved
    /// alias's new version is read in the same turn and swapped in after it.
    fn run(self) {
        let mut pending: Vec<RequestRow> = Vec::new();
        let mut last = Instant::now();
        loop {
            let stopping = self.stop.load(Ordering::Relaxed);
            let wait = self.every.saturating_sub(last.elapsed());
            match self
                .rx
                .recv_timeout(if stopping { Duration::ZERO } else { wait })
            {
                Ok(r) => {
                    pending.push(to_row(&self.server, r));
                    while let Ok(r) = self.rx.try_recv() {
                        pending.push(to_row(&self.server, r));
                        if pending.len() >= 10_000 {
                            break;
                        }
                    }
                    if !stopping && last.elapsed() < self.every && pending.len() < 10_000 {
                        continue;
                    }
                }
                Err(RecvTimeoutError::Timeout) => {}
                Err(RecvTimeoutError::Disconnected) => {}
            }
            self.turn(&mut pending);
            last = Instant::now();
            if stopping && pending.is_empty() {
                break;
            }
            if stopping && self.rx.try_recv().is_err() {
                // One last try for what failed; then give up rather than hang a stop.
                self.turn(&mut pending);
                break;
            }
        }
    }

    fn turn(&self, pending: &mut Vec<RequestRow>) {
        let mut moved: Vec<(Arc<Slot>, String, u32, VersionBytes)> = Vec::new();
        let result = self.dir.turn("serve: request log and aliases", |ws| {
            ws.store.append_requests(pending)?;
            for (name, alias, slot) in &self.watched {
                let now = slot.get().info().version;
                let Some((_, v)) = ws
                    .store
                    .aliases(name)?
                    .into_iter()
                    .find(|(a, _)| a == alias)
                else {
                    continue;
                };
                if v != now {
                    moved.push((slot.clone(), alias.clone(), now, ws.version_bytes(name, v)?));
                }
            }
            Ok(())
        });
        match result {
            Ok(()) => {
                let n = pending.len() as u64;
                pending.clear();
                if n > 0 {
                    let total = self.logged.fetch_add(n, Ordering::Relaxed) + n;
                    (self.on_event)(&ServeEvent::Flushed { rows: n, total });
                }
            }
            Err(e) => {
                if pending.len() > LOG_QUEUE {
                    let over = pending.len() - LOG_QUEUE;
                    pending.drain(..over);
                }
                (self.on_event)(&ServeEvent::Trouble {
                    message: format!(
                        "the request log could not be written (will retry): {}",
                        e.message
                    ),
                });
            }
        }
        for (slot, alias, from, bytes) in moved {
            match version_model(&bytes) {
                Ok(m) => {
                    let to = m.info.version;
                    self.handle.swap(&slot, Arc::new(m));
                    let e = ServeEvent::Swapped {
                        model: bytes.name.clone(),
                        alias,
                        from,
                        to,
                    };
                    (self.on_event)(&e);
                    if let Ok(mut s) = self.swaps.lock() {
                        s.push(e);
                    }
                }
                Err(e) => (self.on_event)(&ServeEvent::Trouble {
                    message: format!(
                        "{}@{alias} moved to v{} but it does not load: {}; still serving v{from}",
                        bytes.name, bytes.version, e.message
                    ),
                }),
            }
        }
    }
}

impl Serving {
    pub fn addr(&self) -> std::net::SocketAddr {
        self.handle.addr
    }

    pub fn status(&self) -> ServeStatus {
        let stats = self.handle.stats();
        let recent: Vec<RequestRecord> = self
            .log
            .recent
            .lock()
            .map(|r| r.iter().cloned().collect())
            .unwrap_or_default();
        let now = cairn_core::now_millis();
        let window: Vec<&RequestRecord> = recent
            .iter()
            .filter(|r| {
                !r.shadow && cairn_core::epoch_millis(&r.ts).is_some_and(|t| now - t <= 5_000)
            })
            .collect();
        let mut lat: Vec<f64> = window.iter().map(|r| r.latency_us as f64 / 1e3).collect();
        lat.sort_by(f64::total_cmp);
        let q =
            |p: f64| (!lat.is_empty()).then(|| lat[((lat.len() - 1) as f64 * p).round() as usize]);
        ServeStatus {
            server: self.server.clone(),
            url: self.url.clone(),
            models: self.models.clone(),
            requests: stats.requests,
            errors: stats.errors,
            rate: window.len() as f64 / 5.0,
            p50_ms: q(0.5),
            p99_ms: q(0.99),
            logged: self.logged.load(Ordering::Relaxed),
            dropped: self.log.dropped.load(Ordering::Relaxed),
            recent: recent
                .iter()
                .rev()
                .take(50)
                .map(|r| RecentRequest {
                    ts: r.ts.clone(),
                    model: r.model.clone(),
                    version: r.version,
                    arm: r.arm.clone(),
                    route: r.route.to_string(),
                    shadow: r.shadow,
                    status: r.status,
                    latency_ms: r.latency_us as f64 / 1e3,
                    outcome: r.outcome.to_string(),
                    problems: r.problems.clone(),
                })
                .collect(),
            swaps: self.swaps.lock().map(|s| s.clone()).unwrap_or_default(),
        }
    }

    /// Stops the server (requests in flight finish), writes what is left of the request log,
    /// and returns the last status.
    pub fn stop(mut self) -> ServeStatus {
        self.shutdown();
        self.status()
    }

    fn shutdown(&mut self) {
        // Stop taking requests first, so the log's last batch holds every answered one.
        self.handle.shutdown();
        self.stop.store(true, Ordering::Relaxed);
        if let Some(k) = self.keeper.take() {
            let _ = k.join();
        }
    }
}

impl Drop for Serving {
    fn drop(&mut self) {
        self.shutdown();
    }
}
