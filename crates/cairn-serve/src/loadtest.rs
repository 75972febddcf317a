//! An open-loop load tester (docs/serving.md, "Load tests"): requests are scheduled at a constant
//! rate, request `i` at `start + i / rate`, whatever the server does; each of `connections`
//! keep-alive connections takes the next scheduled request when it is free. A request's
//! corrected latency counts from its *intended* send time, so a server that stalls is charged
//! for every request that should have been sent during the stall (coordinated omission, as wrk2
//! corrects it); the uncorrected latency counts from the actual send, as Locust measures.
//! Both go into HdrHistograms (3 significant digits, microseconds).
//!
//! Bounded: at most `rate × duration` requests; nothing is sent after `duration + timeout`;
//! each request times out; only loopback addresses are accepted.

use bytes::Bytes;
use hdrhistogram::Histogram;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde::Serialize;
use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// One load test.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    pub addr: SocketAddr,
    pub path: String,
    /// Request bodies, sent in turn.
    pub bodies: Vec<Bytes>,
    pub content_type: String,
    /// Extra headers (a bearer token).
    pub headers: Vec<(String, String)>,
    /// Requests per second.
    pub rate: f64,
    pub duration: Duration,
    pub connections: usize,
    pub timeout: Duration,
}

/// Latency percentiles, in microseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Percentiles {
    pub p50: u64,
    pub p90: u64,
    pub p95: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
    pub mean: f64,
}

impl Percentiles {
    fn of(h: &Histogram<u64>) -> Percentiles {
        if h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p95: h.value_at_quantile(0.95),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            max: h.max(),
            mean: h.mean(),
        }
    }
}

/// One second of the test (by intended send time).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Second {
    pub second: u32,
    pub requests: u64,
    pub errors: u64,
    /// Corrected, microseconds.
    pub p50: u64,
    pub p99: u64,
}

/// One bar of the corrected latency histogram.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct Bar {
    /// Upper bound, microseconds.
    pub le: u64,
    pub count: u64,
}

/// What a load test measured.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct LoadReport {
    pub format_version: u32,
    pub target: String,
    pub rate: f64,
    pub duration_s: f64,
    pub connections: usize,
    /// Requests scheduled (`rate × duration`).
    pub scheduled: u64,
    pub sent: u64,
    pub completed: u64,
    /// Answers with a status below 400.
    pub ok: u64,
    /// Errors by status code, `timeout` or `connect`, and `not_sent` (scheduled requests the
    /// test ended before sending: the server had fallen that far behind).
    pub errors: BTreeMap<String, u64>,
    /// Completed answers per second of the test.
    pub throughput: f64,
    pub elapsed_s: f64,
    /// From the intended send time (coordinated omission corrected).
    pub corrected: Percentiles,
    /// From the actual send time (what a closed-loop tester reports).
    pub uncorrected: Percentiles,
    pub timeline: Vec<Second>,
    pub histogram: Vec<Bar>,
}

pub const REPORT_FORMAT: u32 = 1;

/// Where a running test is.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LoadProgress {
    pub elapsed_s: f64,
    pub duration_s: f64,
    pub sent: u64,
    pub completed: u64,
    pub errors: u64,
}

/// Parses `http://HOST:PORT/PATH` (loopback only) into an address and a path.
pub fn parse_url(url: &str) -> Result<(SocketAddr, String), String> {
    let rest = url.strip_prefix("http://").ok_or_else(|| {
        if url.starts_with("https://") {
            format!("{url}: https is not supported; the load tester talks plain HTTP on loopback")
        } else {
            format!("{url}: give an http:// URL, e.g. http://127.0.0.1:8080/v2/models/iris/infer")
        }
    })?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], rest[i..].to_string()),
        None => (rest, "/".to_string()),
    };
    let hostport = if hostport.contains(':') && !hostport.ends_with(']') {
        hostport.to_string()
    } else {
        format!("{hostport}:80")
    };
    let addr = hostport
        .to_socket_addrs()
        .map_err(|e| format!("{url}: the address does not resolve: {e}"))?
        .find(|a| a.ip().is_loopback())
        .ok_or_else(|| {
            format!(
                "{url}: not a loopback address; the load tester only talks to this machine \
                 (127.0.0.0/8 or ::1)"
            )
        })?;
    Ok((addr, path))
}

const MAX_US: u64 = 3_600_000_000;

fn histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, MAX_US, 3)
        .unwrap_or_else(|_| Histogram::new(3).unwrap_or_else(|_| unreachable!()))
}

struct Shared {
    spec: LoadSpec,
    next: AtomicU64,
    scheduled: u64,
    sent: AtomicU64,
    completed: AtomicU64,
    errors: AtomicU64,
    stop: AtomicBool,
    start: Instant,
    last_send: Instant,
    timeline: Mutex<BTreeMap<u32, (Histogram<u64>, u64)>>,
}

struct WorkerResult {
    corrected: Histogram<u64>,
    uncorrected: Histogram<u64>,
    errors: BTreeMap<String, u64>,
    ok: u64,
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(addr: SocketAddr) -> Result<Sender, String> {
    let stream = tokio::net::TcpStream::connect(addr)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| format!("HTTP handshake with {addr} failed: {e}"))?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn worker(s: Arc<Shared>) -> WorkerResult {
    let mut r = WorkerResult {
        corrected: histogram(),
        uncorrected: histogram(),
        errors: BTreeMap::new(),
        ok: 0,
    };
    let mut sender: Option<Sender> = None;
    let host = s.spec.addr.to_string();
    loop {
        if s.stop.load(Ordering::Relaxed) {
            break;
        }
        let i = s.next.fetch_add(1, Ordering::Relaxed);
        if i >= s.scheduled {
            break;
        }
        let intended = s.start + Duration::from_secs_f64(i as f64 / s.spec.rate);
        tokio::time::sleep_until(intended.into()).await;
        if Instant::now() > s.last_send {
            // Nothing is sent past duration + timeout; what is left is counted as not sent.
            s.stop.store(true, Ordering::Relaxed);
            break;
        }
        let err = |r: &mut WorkerResult, what: String| {
            *r.errors.entry(what).or_default() += 1;
            s.errors.fetch_add(1, Ordering::Relaxed);
        };
        if sender.as_ref().is_none_or(|c| c.is_closed()) {
            match tokio::time::timeout(s.spec.timeout, connect(s.spec.addr)).await {
                Ok(Ok(c)) => sender = Some(c),
                _ => {
                    err(&mut r, "connect".into());
                    sender = None;
                    continue;
                }
            }
        }
        let Some(conn) = sender.as_mut() else {
            continue;
        };
        if conn.ready().await.is_err() {
            err(&mut r, "connect".into());
            sender = None;
            continue;
        }
        let body = s.spec.bodies[(i as usize) % s.spec.bodies.len()].clone();
        let mut req = Request::post(&s.spec.path)
            .header(hyper::header::HOST, &host)
            .header(hyper::header::CONTENT_TYPE, &s.spec.content_type);
        for (k, v) in &s.spec.headers {
            req = req.header(k, v);
        }
        let Ok(req) = req.body(Full::new(body)) else {
            err(&mut r, "request".into());
            continue;
        };
        let sent_at = Instant::now();
        s.sent.fetch_add(1, Ordering::Relaxed);
        let answer = tokio::time::timeout(s.spec.timeout, async {
            let resp = conn.send_request(req).await?;
            let status = resp.status().as_u16();
            resp.into_body().collect().await?;
            Ok::<u16, hyper::Error>(status)
        })
        .await;
        let done = Instant::now();
        let status = match answer {
            Ok(Ok(status)) => status,
            Ok(Err(_)) => {
                err(&mut r, "connect".into());
                sender = None;
                continue;
            }
            Err(_) => {
                err(&mut r, "timeout".into());
                sender = None;
                continue;
            }
        };
        s.completed.fetch_add(1, Ordering::Relaxed);
        let corrected =
            (done.saturating_duration_since(intended).as_micros() as u64).clamp(1, MAX_US);
        let uncorrected =
            (done.saturating_duration_since(sent_at).as_micros() as u64).clamp(1, MAX_US);
        let _ = r.corrected.record(corrected);
        let _ = r.uncorrected.record(uncorrected);
        let failed = status >= 400;
        if failed {
            err(&mut r, status.to_string());
        } else {
            r.ok += 1;
        }
        let second = (i as f64 / s.spec.rate) as u32;
        if let Ok(mut t) = s.timeline.lock() {
            let e = t.entry(second).or_insert_with(|| (histogram(), 0));
            let _ = e.0.record(corrected);
            e.1 += u64::from(failed);
        }
    }
    r
}

/// One plain GET on loopback (model metadata, `/metrics`): `(status, body)`.
pub fn get(addr: SocketAddr, path: &str, token: Option<&str>) -> Result<(u16, Vec<u8>), String> {
    if !addr.ip().is_loopback() {
        return Err(format!("{addr}: not a loopback address"));
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start a runtime: {e}"))?;
    runtime.block_on(async {
        tokio::time::timeout(Duration::from_secs(10), async {
            let mut c = connect(addr).await?;
            let mut req = Request::get(path).header(hyper::header::HOST, addr.to_string());
            if let Some(t) = token {
                req = req.header(hyper::header::AUTHORIZATION, format!("Bearer {t}"));
            }
            let req = req
                .body(Full::new(Bytes::new()))
                .map_err(|e| e.to_string())?;
            let resp = c
                .send_request(req)
                .await
                .map_err(|e| format!("GET {path}: {e}"))?;
            let status = resp.status().as_u16();
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("GET {path}: {e}"))?
                .to_bytes();
            Ok((status, body.to_vec()))
        })
        .await
        .map_err(|_| format!("GET {path} on {addr}: no answer within 10 s"))?
    })
}

/// Runs the test, reporting progress about four times a second; `Break` from `on_progress`
/// stops it (the report covers what was sent).
pub fn run(
    spec: LoadSpec,
    on_progress: &mut dyn FnMut(&LoadProgress) -> ControlFlow<()>,
) -> Result<LoadReport, String> {
    if !spec.addr.ip().is_loopback() {
        return Err(format!(
            "{}: not a loopback address; the load tester only talks to this machine",
            spec.addr
        ));
    }
    if !(spec.rate > 0.0 && spec.rate <= 1_000_000.0) {
        return Err(format!(
            "--rate {}: give a rate from 1 to 1000000 requests per second",
            spec.rate
        ));
    }
    if spec.duration.is_zero() || spec.duration > Duration::from_secs(3600) {
        return Err("--duration: give a duration from 1 s to 1 h".into());
    }
    if spec.connections == 0 || spec.connections > 1024 {
        return Err("--connections: give 1 to 1024".into());
    }
    if spec.bodies.is_empty() {
        return Err("no request body to send".into());
    }
    let scheduled = (spec.rate * spec.duration.as_secs_f64()).ceil() as u64;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the load tester's runtime: {e}"))?;
    let target = format!("http://{}{}", spec.addr, spec.path);
    runtime.block_on(async move {
        // The first connection proves the server is there before the clock starts.
        connect(spec.addr)
            .await
            .map_err(|e| format!("{e}; is the server running?"))?;
        let start = Instant::now() + Duration::from_millis(20);
        let s = Arc::new(Shared {
            last_send: start + spec.duration + spec.timeout,
            spec: spec.clone(),
            next: AtomicU64::new(0),
            scheduled,
            sent: AtomicU64::new(0),
            completed: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            stop: AtomicBool::new(false),
            start,
            timeline: Mutex::new(BTreeMap::new()),
        });
        let mut set = tokio::task::JoinSet::new();
        for _ in 0..spec.connections {
            set.spawn(worker(s.clone()));
        }
        let mut results = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                done = set.join_next() => match done {
                    Some(Ok(r)) => results.push(r),
                    Some(Err(_)) => {}
                    None => break,
                },
                _ = tick.tick() => {
                    let p = LoadProgress {
                        elapsed_s: start.elapsed().as_secs_f64(),
                        duration_s: spec.duration.as_secs_f64(),
                        sent: s.sent.load(Ordering::Relaxed),
                        completed: s.completed.load(Ordering::Relaxed),
                        errors: s.errors.load(Ordering::Relaxed),
                    };
                    if on_progress(&p).is_break() {
                        s.stop.store(true, Ordering::Relaxed);
                    }
                }
            }
        }
        let elapsed = start.elapsed().as_secs_f64();
        let mut corrected = histogram();
        let mut uncorrected = histogram();
        let mut errors: BTreeMap<String, u64> = BTreeMap::new();
        let mut ok = 0;
        for r in results {
            let _ = corrected.add(&r.corrected);
            let _ = uncorrected.add(&r.uncorrected);
            for (k, v) in r.errors {
                *errors.entry(k).or_default() += v;
            }
            ok += r.ok;
        }
        let sent = s.sent.load(Ordering::Relaxed);
        let completed = s.completed.load(Ordering::Relaxed);
        let attempted = s.next.load(Ordering::Relaxed).min(scheduled);
        let unsent = scheduled.saturating_sub(attempted.max(sent));
        if unsent > 0 {
            *errors.entry("not_sent".into()).or_default() += unsent;
        }
        let timeline = s
            .timeline
            .lock()
            .map(|t| {
                t.iter()
                    .map(|(sec, (h, e))| Second {
                        second: *sec,
                        requests: h.len(),
                        errors: *e,
                        p50: h.value_at_quantile(0.5),
                        p99: h.value_at_quantile(0.99),
                    })
                    .collect()
            })
            .unwrap_or_default();
        let histogram = bars(&corrected);
        Ok(LoadReport {
            format_version: REPORT_FORMAT,
            target,
            rate: spec.rate,
            duration_s: spec.duration.as_secs_f64(),
            connections: spec.connections,
            scheduled,
            sent,
            completed,
            ok,
            errors,
            throughput: completed as f64 / elapsed.max(1e-9),
            elapsed_s: elapsed,
            corrected: Percentiles::of(&corrected),
            uncorrected: Percentiles::of(&uncorrected),
            timeline,
            histogram,
        })
    })
}

/// The corrected histogram in bars doubling in width from 10 µs.
fn bars(h: &Histogram<u64>) -> Vec<Bar> {
    let mut out = Vec::new();
    if h.is_empty() {
        return out;
    }
    let mut lo = 0u64;
    let mut hi = 10u64;
    loop {
        let count = h.count_between(lo + u64::from(lo > 0), hi);
        out.push(Bar { le: hi, count });
        if hi >= h.max() || hi >= MAX_US {
            break;
        }
        lo = hi;
        hi *= 2;
    }
    out
}

/// A service-level objective: `p99<5ms`, `p50<=800us`, `errors<1%`, several joined by commas.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Objective {
    /// `p50`, `p90`, `p95`, `p99`, `p999`, `max`, `mean` or `errors`.
    pub measure: String,
    pub inclusive: bool,
    /// Microseconds, or a fraction for `errors`.
    pub limit: f64,
    pub text: String,
}

/// One objective checked against a report.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct ObjectiveResult {
    pub objective: String,
    /// The measured value, in the objective's unit (ms, or % for errors).
    pub value: f64,
    pub passed: bool,
}

pub fn parse_slo(text: &str) -> Result<Vec<Objective>, String> {
    let mut out = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (measure, inclusive, rest) = if let Some((m, r)) = part.split_once("<=") {
            (m, true, r)
        } else if let Some((m, r)) = part.split_once('<') {
            (m, false, r)
        } else {
            return Err(format!(
                "--slo `{part}`: expected MEASURE<LIMIT, e.g. p99<5ms, p50<=800us, errors<1%"
            ));
        };
        let measure = measure.trim().to_ascii_lowercase();
        let rest = rest.trim();
        let limit = if measure == "errors" {
            let n = rest.strip_suffix('%').ok_or_else(|| {
                format!("--slo `{part}`: give the error limit as a percentage, e.g. errors<1%")
            })?;
            n.trim()
                .parse::<f64>()
                .map_err(|_| format!("--slo `{part}`: `{n}` is not a number"))?
                / 100.0
        } else {
            if !["p50", "p90", "p95", "p99", "p999", "p99.9", "max", "mean"]
                .contains(&measure.as_str())
            {
                return Err(format!(
                    "--slo `{part}`: `{measure}` is not a measure; use p50, p90, p95, p99, p99.9, max, mean or errors"
                ));
            }
            let (num, scale) = if let Some(n) = rest.strip_suffix("us") {
                (n, 1.0)
            } else if let Some(n) = rest.strip_suffix("µs") {
                (n, 1.0)
            } else if let Some(n) = rest.strip_suffix("ms") {
                (n, 1e3)
            } else if let Some(n) = rest.strip_suffix('s') {
                (n, 1e6)
            } else {
                return Err(format!(
                    "--slo `{part}`: give a unit: us, ms or s (e.g. p99<5ms)"
                ));
            };
            num.trim()
                .parse::<f64>()
                .map_err(|_| format!("--slo `{part}`: `{}` is not a number", num.trim()))?
                * scale
        };
        if !(limit.is_finite() && limit >= 0.0) {
            return Err(format!(
                "--slo `{part}`: the limit must be a positive number"
            ));
        }
        out.push(Objective {
            measure: if measure == "p99.9" {
                "p999".into()
            } else {
                measure
            },
            inclusive,
            limit,
            text: part.to_string(),
        });
    }
    if out.is_empty() {
        return Err("--slo: give at least one objective, e.g. p99<5ms".into());
    }
    Ok(out)
}

/// Checks objectives against the corrected latencies and the error share.
pub fn check_slo(objectives: &[Objective], r: &LoadReport) -> Vec<ObjectiveResult> {
    objectives
        .iter()
        .map(|o| {
            let c = &r.corrected;
            let (value, shown) = match o.measure.as_str() {
                "errors" => {
                    let errors: u64 = r.errors.values().sum();
                    let share = errors as f64 / (r.scheduled.max(1)) as f64;
                    (share, share * 100.0)
                }
                m => {
                    let us = match m {
                        "p50" => c.p50 as f64,
                        "p90" => c.p90 as f64,
                        "p95" => c.p95 as f64,
                        "p99" => c.p99 as f64,
                        "p999" => c.p999 as f64,
                        "max" => c.max as f64,
                        _ => c.mean,
                    };
                    (us, us / 1e3)
                }
            };
            let passed = if o.inclusive {
                value <= o.limit
            } else {
                value < o.limit
            };
            ObjectiveResult {
                objective: o.text.clone(),
                value: shown,
                passed,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hdrhistogram_corrects_as_its_own_example_says() {
        // One value of 1000 with an expected interval of 1: 1000 values recorded (1000, 999, …, 1).
        let mut h: Histogram<u64> = Histogram::new(3).unwrap();
        h.record_correct(1000, 1).unwrap();
        assert_eq!(h.len(), 1000);
        assert_eq!(h.min(), 1);
        assert_eq!(h.max(), 1000);
    }

    #[test]
    fn objectives_parse_and_check() {
        let o = parse_slo("p99<5ms, p50<=800us, errors<1%").unwrap();
        assert_eq!(o[0].limit, 5000.0);
        assert!(o[1].inclusive);
        assert_eq!(o[2].limit, 0.01);
        for bad in [
            "", "p99", "p99<5", "p77<5ms", "errors<1", "p99<xms", "p99<-1ms",
        ] {
            assert!(parse_slo(bad).is_err(), "{bad}");
        }
        let mut r = LoadReport {
            format_version: 1,
            target: String::new(),
            rate: 1.0,
            duration_s: 1.0,
            connections: 1,
            scheduled: 100,
            sent: 100,
            completed: 100,
            ok: 100,
            errors: BTreeMap::new(),
            throughput: 100.0,
            elapsed_s: 1.0,
            corrected: Percentiles {
                p50: 800,
                p99: 4999,
                ..Percentiles::default()
            },
            uncorrected: Percentiles::default(),
            timeline: vec![],
            histogram: vec![],
        };
        assert!(check_slo(&o, &r).iter().all(|c| c.passed));
        r.corrected.p99 = 5000;
        r.errors.insert("500".into(), 1);
        let c = check_slo(&o, &r);
        assert_eq!(
            c.iter().map(|c| c.passed).collect::<Vec<_>>(),
            [false, true, false]
        );
        assert_eq!(c[0].value, 5.0);
    }

    #[test]
    fn urls_are_loopback_only() {
        assert_eq!(
            parse_url("http://127.0.0.1:8080/v2/models/iris/infer").unwrap(),
            (
                "127.0.0.1:8080".parse().unwrap(),
                "/v2/models/iris/infer".to_string()
            )
        );
        assert_eq!(
            parse_url("http://[::1]:9/x").unwrap().0,
            "[::1]:9".parse().unwrap()
        );
        for bad in [
            "https://127.0.0.1/",
            "127.0.0.1:80",
            "http://10.1.2.3:80/",
            "http://192.168.0.1/",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
    }
}
