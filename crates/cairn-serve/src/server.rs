//! The HTTP server: routes of both protocols, bearer-token guard, body limits and timeouts, the
//! request log's records, A/B routing and the shadow.
//!
//! Each request is answered on the runtime's worker threads (inference of a tabular model takes
//! microseconds; a thread hop would cost more than it saves); the shadow's work goes to the
//! blocking pool, off the hot path, with at most [`ServerConfig::shadow_pending`] pending.

use crate::ServeError;
use crate::kserve::{self, HEADER_LENGTH};
use crate::metrics::{Metrics, PHASES};
use crate::mlflow;
use crate::model::{ModelGroup, ModelInfo, Predictor, Slot};
use crate::validate::{self, Policy, Problem, Table};
use axum::Router;
use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use axum::routing::{get, post};
use hyper_util::rt::{TokioIo, TokioTimer};
use serde::Serialize;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// How the server listens and what it allows.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    pub host: IpAddr,
    /// 0 picks a free port.
    pub port: u16,
    /// Required (as `Authorization: Bearer …`) on every route when set; a host that is not
    /// loopback must have one.
    pub token: Option<String>,
    /// The largest request body, in bytes (413 beyond it).
    pub body_limit: usize,
    /// How long a client may take to send its headers, and then its body (408 beyond it).
    pub read_timeout: Duration,
    pub policy: Policy,
    /// Keep each request's inputs in the log (`false`: only their SHA-256).
    pub log_inputs: bool,
    /// Shadow requests allowed to wait; beyond it a request is not shadowed (counted).
    pub shadow_pending: usize,
    /// Shown by `GET /v2` and `GET /version`.
    pub server_version: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: IpAddr::from([127, 0, 0, 1]),
            port: 8080,
            token: None,
            body_limit: 16 << 20,
            read_timeout: Duration::from_secs(10),
            policy: Policy::default(),
            log_inputs: true,
            shadow_pending: 256,
            server_version: String::new(),
        }
    }
}

/// One answered inference request, as the request log keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RequestRecord {
    /// When it was answered (RFC 3339, UTC, milliseconds).
    pub ts: String,
    pub request_id: String,
    pub model: String,
    pub version: u32,
    /// The alias of the arm that answered, or `v3` for a fixed version.
    pub arm: String,
    /// `kserve` or `mlflow`.
    pub route: &'static str,
    /// The shadow's own answer (the client saw the primary's).
    pub shadow: bool,
    pub status: u16,
    pub latency_us: u64,
    /// `ok`, `warned` (answered, with validation warnings), `rejected` (a 4xx for its input),
    /// `error` (the model failed).
    pub outcome: &'static str,
    pub problems: Vec<String>,
    pub rows: usize,
    /// The inputs as `{"columns", "data"}`; absent when the policy keeps only their digest.
    pub inputs: Option<Value>,
    pub inputs_sha256: String,
    /// The answer, as `/invocations` gives it (`predictions`).
    pub prediction: Option<Value>,
}

/// Where records go; called on the request's thread, so it must not block.
pub trait RequestSink: Send + Sync + 'static {
    fn record(&self, record: RequestRecord);
}

/// Live counts for a status display.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct ServerStats {
    pub requests: u64,
    pub errors: u64,
    pub in_flight: usize,
}

struct Shared {
    groups: Vec<ModelGroup>,
    config: ServerConfig,
    metrics: Metrics,
    sink: Arc<dyn RequestSink>,
    seq: AtomicU64,
    errors: AtomicU64,
    in_flight: AtomicUsize,
    shadow_pending: AtomicUsize,
}

impl Shared {
    fn group(&self, name: &str) -> Result<&ModelGroup, ServeError> {
        self.groups
            .iter()
            .find(|g| g.name == name)
            .ok_or_else(|| ServeError::not_found(format!("Model with name {name} does not exist.")))
    }
}

/// A running server; dropping it stops it.
pub struct ServerHandle {
    pub addr: SocketAddr,
    shared: Arc<Shared>,
    shutdown: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    thread: std::sync::Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl ServerHandle {
    pub fn groups(&self) -> &[ModelGroup] {
        &self.shared.groups
    }

    /// Switches a slot to another predictor (hot swap); requests in flight finish on the old one.
    pub fn swap(&self, slot: &Slot, predictor: Arc<dyn Predictor>) {
        let model = predictor.info().name.clone();
        slot.swap(predictor);
        self.shared.metrics.count("model_swaps", &model);
    }

    pub fn metrics_text(&self) -> String {
        self.shared.metrics.render()
    }

    pub fn stats(&self) -> ServerStats {
        ServerStats {
            requests: self.shared.seq.load(Ordering::Relaxed),
            errors: self.shared.errors.load(Ordering::Relaxed),
            in_flight: self.shared.in_flight.load(Ordering::Relaxed),
        }
    }

    /// Counts a request-log record the sink had to drop.
    pub fn dropped(&self, model: &str) {
        self.shared.metrics.count("request_log_dropped", model);
    }

    /// Stops accepting, lets requests in flight finish (up to 5 s), and returns; later calls
    /// do nothing.
    pub fn shutdown(&self) {
        if let Some(tx) = self.shutdown.lock().ok().and_then(|mut s| s.take()) {
            let _ = tx.send(());
        }
        if let Some(t) = self.thread.lock().ok().and_then(|mut t| t.take()) {
            let _ = t.join();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Binds the address (failing at once if it is taken or not allowed) and serves on a thread of
/// its own until the handle is stopped or dropped.
pub fn start(
    config: ServerConfig,
    groups: Vec<ModelGroup>,
    sink: Arc<dyn RequestSink>,
) -> Result<ServerHandle, String> {
    if !config.host.is_loopback() && config.token.as_deref().is_none_or(str::is_empty) {
        return Err(format!(
            "--host {} is not a loopback address: anyone on the network could call the model; \
             give --token SECRET so every request must send `Authorization: Bearer SECRET`, or \
             serve on 127.0.0.1",
            config.host
        ));
    }
    if groups.is_empty() {
        return Err("nothing to serve: give at least one model".into());
    }
    let listener = std::net::TcpListener::bind((config.host, config.port)).map_err(|e| {
        format!(
            "cannot listen on {}:{}: {e}{}",
            config.host,
            config.port,
            if e.kind() == std::io::ErrorKind::AddrInUse {
                "; another program uses the port: pick another with --port, or --port 0 for a free one"
            } else {
                ""
            }
        )
    })?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("cannot listen: {e}"))?;
    let addr = listener
        .local_addr()
        .map_err(|e| format!("cannot listen: {e}"))?;
    let shared = Arc::new(Shared {
        groups,
        config,
        metrics: Metrics::default(),
        sink,
        seq: AtomicU64::new(0),
        errors: AtomicU64::new(0),
        in_flight: AtomicUsize::new(0),
        shadow_pending: AtomicUsize::new(0),
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get().clamp(1, 8)))
        .thread_name("cairn-serve")
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the server's runtime: {e}"))?;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let app = router(shared.clone());
    let s2 = shared.clone();
    let thread = std::thread::Builder::new()
        .name("cairn-serve-accept".into())
        .spawn(move || runtime.block_on(accept_loop(listener, app, s2, rx)))
        .map_err(|e| format!("cannot start the server thread: {e}"))?;
    Ok(ServerHandle {
        addr,
        shared,
        shutdown: std::sync::Mutex::new(Some(tx)),
        thread: std::sync::Mutex::new(Some(thread)),
    })
}

/// Connections served at once; more are closed as they arrive.
const MAX_CONNECTIONS: usize = 4096;

async fn accept_loop(
    listener: std::net::TcpListener,
    app: Router,
    shared: Arc<Shared>,
    mut shutdown: tokio::sync::oneshot::Receiver<()>,
) {
    let Ok(listener) = tokio::net::TcpListener::from_std(listener) else {
        return;
    };
    let connections = Arc::new(AtomicUsize::new(0));
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((stream, _)) = accepted else { continue };
                if connections.load(Ordering::Relaxed) >= MAX_CONNECTIONS {
                    drop(stream);
                    continue;
                }
                let _ = stream.set_nodelay(true);
                let service = hyper_util::service::TowerToHyperService::new(app.clone());
                let timeout = shared.config.read_timeout;
                let live = connections.clone();
                live.fetch_add(1, Ordering::Relaxed);
                tokio::spawn(async move {
                    let _ = hyper::server::conn::http1::Builder::new()
                        .timer(TokioTimer::new())
                        .header_read_timeout(timeout)
                        .keep_alive(true)
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                    live.fetch_sub(1, Ordering::Relaxed);
                });
            }
            _ = &mut shutdown => break,
        }
    }
    drop(listener);
    let deadline = Instant::now() + Duration::from_secs(5);
    while shared.in_flight.load(Ordering::Relaxed) > 0 && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/v2/health/live",
            get(|| async { json_ok(json!({"live": true})) }),
        )
        .route(
            "/v2/health/ready",
            get(|| async { json_ok(json!({"ready": true})) }),
        )
        .route("/v2", get(server_metadata))
        .route("/v2/models/{name}", get(model_metadata))
        .route("/v2/models/{name}/versions/{version}", get(model_metadata))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route(
            "/v2/models/{name}/versions/{version}/ready",
            get(model_ready),
        )
        .route("/v2/models/{name}/infer", post(kserve_infer))
        .route(
            "/v2/models/{name}/versions/{version}/infer",
            post(kserve_infer),
        )
        .route("/invocations", post(mlflow_invocations))
        .route("/ping", get(|| async { ping() }))
        .route("/health", get(|| async { ping() }))
        .route("/version", get(version))
        .route("/metrics", get(metrics))
        .fallback(fallback)
        .layer(middleware::from_fn_with_state(shared.clone(), guard))
        .with_state(shared)
}

fn json_response(status: u16, v: &Value) -> Response {
    let mut r = Response::new(Body::from(v.to_string()));
    *r.status_mut() = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    r
}

fn json_ok(v: Value) -> Response {
    json_response(200, &v)
}

fn kserve_error(e: &ServeError) -> Response {
    json_response(e.status, &json!({"error": e.message}))
}

fn mlflow_error(e: &ServeError) -> Response {
    let code = match e.status {
        400 | 413 | 415 | 408 => "BAD_REQUEST",
        404 => "RESOURCE_DOES_NOT_EXIST",
        401 => "UNAUTHENTICATED",
        _ => "INTERNAL_ERROR",
    };
    json_response(e.status, &json!({"error_code": code, "message": e.message}))
}

fn ping() -> Response {
    json_response(200, &Value::Null).map(|_| Body::from("\n"))
}

async fn guard(State(s): State<Arc<Shared>>, req: Request, next: Next) -> Response {
    if let Some(token) = &s.config.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if given != Some(token.as_str()) {
            let mut r = json_response(
                401,
                &json!({"error": "this server needs `Authorization: Bearer TOKEN` (the --token it was started with)"}),
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
    }
    next.run(req).await
}

async fn fallback(req: Request) -> Response {
    kserve_error(&ServeError::not_found(format!(
        "no route {} {}; this server answers /v2/… (KServe v2), /invocations (MLflow), /ping, \
         /health, /version and /metrics",
        req.method(),
        req.uri().path()
    )))
}

async fn server_metadata(State(s): State<Arc<Shared>>) -> Response {
    json_ok(json!({
        "name": "cairn",
        "version": s.config.server_version,
        "extensions": ["binary_tensor_data"],
    }))
}

async fn version(State(s): State<Arc<Shared>>) -> Response {
    let mut r = Response::new(Body::from(s.config.server_version.clone()));
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    r
}

async fn metrics(State(s): State<Arc<Shared>>) -> Response {
    let mut r = Response::new(Body::from(s.metrics.render()));
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4"),
    );
    r
}

fn parse_version(name: &str, text: &str) -> Result<u32, ServeError> {
    text.parse().map_err(|_| {
        ServeError::not_found(format!(
            "Model with name {name} and version {text} does not exist."
        ))
    })
}

/// The slot for a path: the pinned version, or `None` to route by weight.
fn pinned_slot(
    group: &ModelGroup,
    params: &HashMap<String, String>,
) -> Result<Option<Arc<Slot>>, ServeError> {
    match params.get("version") {
        None => Ok(None),
        Some(v) => {
            let n = parse_version(&group.name, v)?;
            group.slot_for_version(n).map(Some).ok_or_else(|| {
                ServeError::not_found(format!(
                    "Model with name {} and version {v} does not exist.",
                    group.name
                ))
            })
        }
    }
}

async fn model_metadata(
    State(s): State<Arc<Shared>>,
    Path(params): Path<HashMap<String, String>>,
) -> Response {
    let name = params.get("name").cloned().unwrap_or_default();
    let answer = (|| {
        let group = s.group(&name)?;
        let slot = pinned_slot(group, &params)?.unwrap_or_else(|| group.slots[0].clone());
        let mut versions: Vec<u32> = group.slots.iter().map(|s| s.get().info().version).collect();
        versions.sort_unstable();
        versions.dedup();
        Ok::<_, ServeError>(kserve::metadata(slot.get().info(), &versions))
    })();
    match answer {
        Ok(v) => json_ok(v),
        Err(e) => kserve_error(&e),
    }
}

async fn model_ready(
    State(s): State<Arc<Shared>>,
    Path(params): Path<HashMap<String, String>>,
) -> Response {
    let name = params.get("name").cloned().unwrap_or_default();
    match s.group(&name).and_then(|g| pinned_slot(g, &params)) {
        Ok(_) => json_ok(json!({"name": name, "ready": true})),
        Err(e) => kserve_error(&e),
    }
}

/// Reads the body within the time and size limits.
async fn read_body(s: &Shared, req: Request) -> Result<(HeaderMap, bytes::Bytes), ServeError> {
    let limit = s.config.body_limit;
    let too_big = || ServeError {
        status: 413,
        message: format!("the request body is larger than the limit of {limit} bytes"),
    };
    let (parts, body) = req.into_parts();
    if let Some(n) = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        && n > limit as u64
    {
        return Err(too_big());
    }
    match tokio::time::timeout(s.config.read_timeout, axum::body::to_bytes(body, limit)).await {
        Err(_) => Err(ServeError {
            status: 408,
            message: format!(
                "the request body did not arrive within {} s",
                s.config.read_timeout.as_secs_f64()
            ),
        }),
        Ok(Err(e)) => {
            let text = format!("{e}");
            if text.contains("length limit") {
                Err(too_big())
            } else {
                Err(ServeError::bad_request(format!(
                    "the request body does not read: {text}"
                )))
            }
        }
        Ok(Ok(b)) => Ok((parts.headers, b)),
    }
}

struct InFlight<'a>(&'a AtomicUsize);
impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// What a request resolved to before the model ran.
struct Routed {
    slot: Arc<Slot>,
    predictor: Arc<dyn Predictor>,
    pinned: bool,
    group: usize,
}

fn route(
    s: &Shared,
    name: &str,
    params: &HashMap<String, String>,
    key: Option<&str>,
    seq: u64,
) -> Result<Routed, ServeError> {
    let gi = s
        .groups
        .iter()
        .position(|g| g.name == name)
        .ok_or_else(|| ServeError::not_found(format!("Model with name {name} does not exist.")))?;
    let group = &s.groups[gi];
    let (slot, pinned) = match pinned_slot(group, params)? {
        Some(slot) => (slot, true),
        None => (group.slots[group.pick(key, seq)].clone(), false),
    };
    let predictor = slot.get();
    Ok(Routed {
        slot,
        predictor,
        pinned,
        group: gi,
    })
}

/// A scored request: the answer, its validation warnings, and the time validation took.
type ScoreOk = (crate::Scored, Vec<Problem>, Duration);

/// Validation and the model: the answer, its warnings, and the validate / preprocess / infer
/// times; `Err` with the problems when the input is rejected.
fn score(
    s: &Shared,
    predictor: &dyn Predictor,
    table: &mut Table,
) -> Result<ScoreOk, (ServeError, Vec<Problem>)> {
    let info = predictor.info();
    let t = Instant::now();
    if let Err(p) = validate::expand_features(&info.inputs, table) {
        let e = ServeError::bad_request(validate::problems_message(std::slice::from_ref(&p), 0));
        return Err((e, vec![p]));
    }
    let policy = Policy {
        unseen_ignored: info.unseen_ignored,
        ..s.config.policy
    };
    let checked = match validate::validate(&info.inputs, table, &policy) {
        Ok(c) => c,
        Err((problems, more)) => {
            let e = ServeError::bad_request(validate::problems_message(&problems, more));
            return Err((e, problems));
        }
    };
    let validated = t.elapsed();
    match predictor.predict(&checked.frame) {
        Ok(scored) => Ok((scored, checked.warnings, validated)),
        Err(m) => Err((
            ServeError::internal(format!("the model failed: {m}")),
            Vec::new(),
        )),
    }
}

fn digest(v: &Value) -> String {
    hex::encode(Sha256::digest(v.to_string().as_bytes()))
}

#[allow(clippy::too_many_arguments)]
fn record(
    s: &Shared,
    routed: Option<&Routed>,
    name: &str,
    route: &'static str,
    request_id: String,
    status: u16,
    latency: Duration,
    outcome: &'static str,
    problems: &[Problem],
    table: &Table,
    prediction: Option<Value>,
    shadow: bool,
) {
    let inputs = table.to_split_json();
    let (version, arm) = match routed {
        Some(r) => (r.predictor.info().version, r.slot.label()),
        None => (0, String::new()),
    };
    s.sink.record(RequestRecord {
        ts: cairn_core::now_rfc3339(),
        request_id,
        model: name.to_string(),
        version,
        arm,
        route,
        shadow,
        status,
        latency_us: latency.as_micros() as u64,
        outcome,
        problems: problems.iter().map(Problem::text).collect(),
        rows: table.rows,
        inputs_sha256: digest(&inputs),
        inputs: s.config.log_inputs.then_some(inputs),
        prediction,
    });
}

/// Sends the request to the group's shadow, off the hot path, and logs its answer.
fn shadow(
    s: &Arc<Shared>,
    routed: &Routed,
    name: &str,
    route: &'static str,
    request_id: &str,
    table: &Table,
) {
    let group = &s.groups[routed.group];
    let Some(si) = group.shadow else { return };
    if routed.pinned || Arc::ptr_eq(&group.slots[si], &routed.slot) {
        return;
    }
    if s.shadow_pending.fetch_add(1, Ordering::Relaxed) >= s.config.shadow_pending {
        s.shadow_pending.fetch_sub(1, Ordering::Relaxed);
        s.metrics.count("shadow_skipped", name);
        return;
    }
    let s = s.clone();
    let slot = group.slots[si].clone();
    let (name, request_id, mut table) = (name.to_string(), request_id.to_string(), table.clone());
    tokio::task::spawn_blocking(move || {
        let t = Instant::now();
        let routed = Routed {
            predictor: slot.get(),
            slot,
            pinned: false,
            group: 0,
        };
        let answer = score(&s, routed.predictor.as_ref(), &mut table);
        let (status, outcome, problems, prediction) = match answer {
            Ok((scored, warnings, _)) => {
                let p = mlflow::response(routed.predictor.info(), &scored.prediction, table.rows);
                (
                    200,
                    if warnings.is_empty() { "ok" } else { "warned" },
                    warnings,
                    Some(p["predictions"].clone()),
                )
            }
            Err((e, problems)) => (
                e.status,
                if e.status == 400 { "rejected" } else { "error" },
                problems,
                None,
            ),
        };
        record(
            &s,
            Some(&routed),
            &name,
            route,
            request_id,
            status,
            t.elapsed(),
            outcome,
            &problems,
            &table,
            prediction,
            true,
        );
        s.metrics.count("shadow_requests", &name);
        s.shadow_pending.fetch_sub(1, Ordering::Relaxed);
    });
}

fn request_key(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-cairn-route-key")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
}

fn request_id(headers: &HeaderMap, seq: u64) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .map_or_else(|| format!("r{seq}"), |v| v.chars().take(128).collect())
}

fn with_arm(mut r: Response, routed: &Routed) -> Response {
    let info = routed.predictor.info();
    if let Ok(v) = HeaderValue::from_str(&info.version.to_string()) {
        r.headers_mut().insert("x-cairn-model-version", v);
    }
    if let Ok(v) = HeaderValue::from_str(&routed.slot.label()) {
        r.headers_mut().insert("x-cairn-arm", v);
    }
    r
}

async fn kserve_infer(
    State(s): State<Arc<Shared>>,
    Path(params): Path<HashMap<String, String>>,
    req: Request,
) -> Response {
    s.in_flight.fetch_add(1, Ordering::Relaxed);
    let _guard = InFlight(&s.in_flight);
    let t0 = Instant::now();
    let seq = s.seq.fetch_add(1, Ordering::Relaxed);
    let name = params.get("name").cloned().unwrap_or_default();
    let (headers, body) = match read_body(&s, req).await {
        Ok(b) => b,
        Err(e) => return fail(&s, &name, "kserve", t0, kserve_error(&e), e.status),
    };
    let rid = request_id(&headers, seq);
    let routed = match route(&s, &name, &params, request_key(&headers).as_deref(), seq) {
        Ok(r) => r,
        Err(e) => return fail(&s, &name, "kserve", t0, kserve_error(&e), e.status),
    };
    let header_len = match headers
        .get(HEADER_LENGTH)
        .map(|v| v.to_str().ok().and_then(|t| t.parse::<usize>().ok()))
    {
        None => None,
        Some(Some(n)) => Some(n),
        Some(None) => {
            let e =
                ServeError::bad_request("Inference-Header-Content-Length is not a number of bytes");
            return fail(&s, &name, "kserve", t0, kserve_error(&e), 400);
        }
    };
    let mut call = Call {
        s: &s,
        routed: &routed,
        name: &name,
        route: "kserve",
        rid,
        t0,
        error: kserve_error,
    };
    let tp = Instant::now();
    let mut request = match kserve::parse_request(&body, header_len) {
        Ok(r) => r,
        Err(e) => return call.refuse(&e, "rejected", &[], &Table::default()),
    };
    let parsed = tp.elapsed();
    if let Some(Value::String(id)) = &request.id {
        call.rid = id.chars().take(128).collect();
    }
    let info = routed.predictor.info().clone();
    let (scored, warnings, validated) =
        match score(&s, routed.predictor.as_ref(), &mut request.table) {
            Ok(x) => x,
            Err((e, problems)) => {
                let outcome = if e.status == 400 { "rejected" } else { "error" };
                return call.refuse(&e, outcome, &problems, &request.table);
            }
        };
    let ts = Instant::now();
    let rows = request.table.rows;
    let response = match kserve::response(&info, &request, &scored.prediction, rows) {
        Ok(r) => r,
        Err(e) => return call.refuse(&e, "rejected", &[], &request.table),
    };
    let (json_part, blob) = response;
    let json_bytes = json_part.to_string().into_bytes();
    let mut r = if blob.is_empty() {
        json_response(200, &json_part)
    } else {
        let len = json_bytes.len();
        let mut all = json_bytes;
        all.extend_from_slice(&blob);
        let mut r = Response::new(Body::from(all));
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/octet-stream"),
        );
        if let Ok(v) = HeaderValue::from_str(&len.to_string()) {
            r.headers_mut().insert(HEADER_LENGTH, v);
        }
        r
    };
    let serialised = ts.elapsed();
    r = with_arm(r, &routed);
    let phases = [
        parsed,
        validated,
        scored.preprocess,
        scored.infer,
        serialised,
    ];
    call.answered(r, &info, phases, &warnings, &request.table, || {
        mlflow::response(&info, &scored.prediction, rows)["predictions"].take()
    })
}

/// One routed inference request of either protocol, as its log record and metrics need it.
struct Call<'a> {
    s: &'a Arc<Shared>,
    routed: &'a Routed,
    name: &'a str,
    route: &'static str,
    rid: String,
    t0: Instant,
    /// The protocol's error body.
    error: fn(&ServeError) -> Response,
}

impl Call<'_> {
    /// Logs a refused request and answers with the protocol's error, naming the arm.
    fn refuse(
        self,
        e: &ServeError,
        outcome: &'static str,
        problems: &[Problem],
        table: &Table,
    ) -> Response {
        record(
            self.s,
            Some(self.routed),
            self.name,
            self.route,
            self.rid,
            e.status,
            self.t0.elapsed(),
            outcome,
            problems,
            table,
            None,
            false,
        );
        let r = with_arm((self.error)(e), self.routed);
        fail(self.s, self.name, self.route, self.t0, r, e.status)
    }

    /// Counts an answered request with its five phases, sends it to the shadow and logs it
    /// (the prediction's log form is made after the latency is taken).
    fn answered(
        self,
        r: Response,
        info: &ModelInfo,
        phases: [Duration; 5],
        warnings: &[Problem],
        table: &Table,
        prediction: impl FnOnce() -> Value,
    ) -> Response {
        let latency = self.t0.elapsed();
        self.s.metrics.request(
            self.name,
            &info.version.to_string(),
            self.route,
            200,
            latency,
            Some(&phases),
        );
        let prediction = prediction();
        let outcome = if warnings.is_empty() { "ok" } else { "warned" };
        shadow(self.s, self.routed, self.name, self.route, &self.rid, table);
        record(
            self.s,
            Some(self.routed),
            self.name,
            self.route,
            self.rid,
            200,
            latency,
            outcome,
            warnings,
            table,
            Some(prediction),
            false,
        );
        r
    }
}

fn fail(
    s: &Shared,
    name: &str,
    route: &'static str,
    t0: Instant,
    r: Response,
    status: u16,
) -> Response {
    s.errors.fetch_add(1, Ordering::Relaxed);
    s.metrics
        .request(name, "", route, status, t0.elapsed(), None);
    r
}

async fn mlflow_invocations(State(s): State<Arc<Shared>>, req: Request) -> Response {
    s.in_flight.fetch_add(1, Ordering::Relaxed);
    let _guard = InFlight(&s.in_flight);
    let t0 = Instant::now();
    let seq = s.seq.fetch_add(1, Ordering::Relaxed);
    // MLflow's server serves one model: the first one given.
    let name = s.groups[0].name.clone();
    let format = match mlflow::content_type(
        req.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
    ) {
        Ok(f) => f,
        Err(e) => return fail(&s, &name, "mlflow", t0, mlflow_error(&e), e.status),
    };
    let (headers, body) = match read_body(&s, req).await {
        Ok(b) => b,
        Err(e) => return fail(&s, &name, "mlflow", t0, mlflow_error(&e), e.status),
    };
    let rid = request_id(&headers, seq);
    let routed = match route(
        &s,
        &name,
        &HashMap::new(),
        request_key(&headers).as_deref(),
        seq,
    ) {
        Ok(r) => r,
        Err(e) => return fail(&s, &name, "mlflow", t0, mlflow_error(&e), e.status),
    };
    let call = Call {
        s: &s,
        routed: &routed,
        name: &name,
        route: "mlflow",
        rid,
        t0,
        error: mlflow_error,
    };
    let tp = Instant::now();
    let mut table = match mlflow::parse(&body, format) {
        Ok(t) => t,
        Err(e) => return call.refuse(&e, "rejected", &[], &Table::default()),
    };
    let parsed = tp.elapsed();
    let info = routed.predictor.info().clone();
    let (scored, warnings, validated) = match score(&s, routed.predictor.as_ref(), &mut table) {
        Ok(x) => x,
        Err((e, problems)) => {
            let outcome = if e.status == 400 { "rejected" } else { "error" };
            return call.refuse(&e, outcome, &problems, &table);
        }
    };
    let ts = Instant::now();
    let mut answer = mlflow::response(&info, &scored.prediction, table.rows);
    let r = with_arm(json_response(200, &answer), &routed);
    let serialised = ts.elapsed();
    let phases = [
        parsed,
        validated,
        scored.preprocess,
        scored.infer,
        serialised,
    ];
    call.answered(r, &info, phases, &warnings, &table, || {
        answer["predictions"].take()
    })
}

/// The phases' names, for reports.
pub fn phase_names() -> [&'static str; 5] {
    PHASES
}
