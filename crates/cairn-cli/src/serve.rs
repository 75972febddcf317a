//! `cairn serve`, `cairn loadtest` and `cairn validate`: the local inference server, its load
//! tester and the validation cases (docs/serving.md).

use crate::output::{Output, table};
use crate::{Cli, dir, progress};
use cairn_app::{
    AppError, ExtraPolicy, LoadTestOptions, RangePolicy, ServeEvent, ServeOptions, ServePolicy,
};
use clap::Args;
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

/// How a served model treats inputs (shared by `serve` and `validate`).
#[derive(Args, Clone)]
pub struct PolicyArgs {
    /// A value outside the training range: accept, warn (answer, with a warning) or reject
    /// (400). Bounds are inclusive: the training min and max themselves are in range.
    #[arg(long, default_value = "warn", value_name = "POLICY")]
    out_of_range: String,
    /// A field the model does not know: ignore or reject (400).
    #[arg(long, default_value = "ignore", value_name = "POLICY")]
    extra: String,
}

impl PolicyArgs {
    fn policy(&self) -> Result<ServePolicy, AppError> {
        Ok(ServePolicy {
            out_of_range: RangePolicy::parse(&self.out_of_range)
                .map_err(|e| AppError::invalid(format!("--out-of-range: {e}")))?,
            extra: ExtraPolicy::parse(&self.extra)
                .map_err(|e| AppError::invalid(format!("--extra: {e}")))?,
            unseen_ignored: false,
        })
    }
}

#[derive(Args)]
pub struct ServeArgs {
    /// NAME@alias (followed: the server switches when the alias moves), NAME@N, or BUNDLE.zip;
    /// several at once. Targets of one name are the arms of one model (see --route).
    #[arg(required = true, value_name = "TARGET")]
    targets: Vec<String>,
    #[arg(long, default_value_t = 8080)]
    port: u16,
    /// 127.0.0.1 by default; any address that is not loopback needs --token.
    #[arg(long, default_value = "127.0.0.1")]
    host: IpAddr,
    /// A bearer token every request must carry (`Authorization: Bearer TOKEN`).
    #[arg(long, env = "CAIRN_SERVE_TOKEN")]
    token: Option<String>,
    /// Split a model's traffic between its arms by weight: `production=90,challenger=10`
    /// (sticky by the `x-cairn-route-key` header when a request has one).
    #[arg(long, value_name = "ARM=W,…")]
    route: Option<String>,
    /// Also send every request to this arm off the hot path and log both answers.
    #[arg(long, value_name = "ARM")]
    shadow: Option<String>,
    #[command(flatten)]
    policy: PolicyArgs,
    /// Keep only each request's SHA-256 digest in the request log, not its inputs.
    #[arg(long)]
    digest_only: bool,
    /// Stop by itself after this many seconds (default: run until Ctrl-C).
    #[arg(long, value_name = "SECS")]
    for_seconds: Option<f64>,
}

pub fn serve(cli: &Cli, out: &Output, a: &ServeArgs) -> Result<ExitCode, AppError> {
    let opts = ServeOptions {
        host: a.host,
        port: a.port,
        token: a.token.clone(),
        routes: a.route.clone(),
        shadow: a.shadow.clone(),
        policy: a.policy.policy()?,
        log_inputs: !a.digest_only,
        ..ServeOptions::default()
    };
    let json = out.is_json();
    let serving = dir(cli)?.serve(&a.targets, &opts, move |e| match e {
        ServeEvent::Swapped {
            model,
            alias,
            from,
            to,
        } => eprintln!("{model}@{alias} moved: now serving version {to} (was {from})"),
        ServeEvent::Trouble { message } => eprintln!("warning: {message}"),
        ServeEvent::Flushed { .. } => {}
    })?;
    let cancel = progress::cancel_on_ctrl_c();
    let status = serving.status();
    if json {
        out.json(&status)?;
    } else {
        println!("serving on {}", serving.url);
        for m in &serving.models {
            let arms: Vec<String> = m
                .arms
                .iter()
                .map(|arm| {
                    let mut s = format!(
                        "{} (version {}, {:.0}%)",
                        arm.label, arm.version, arm.weight
                    );
                    if arm.shadow {
                        s.push_str(", shadow");
                    }
                    s
                })
                .collect();
            println!("  {}: {}", m.name, arms.join("; "));
            println!("    KServe v2: {}", m.infer_url);
        }
        println!("  MLflow:    {}/invocations", serving.url);
        println!("  metrics:   {}/metrics", serving.url);
        if let Some(m) = serving.models.first() {
            println!("try:\n{}", m.curl);
        }
        println!("Ctrl-C stops the server.");
    }
    use std::io::Write;
    let _ = std::io::stdout().flush();
    let started = Instant::now();
    let mut last_line = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        if cancel.load(Ordering::SeqCst) {
            break;
        }
        if a.for_seconds
            .is_some_and(|s| started.elapsed().as_secs_f64() >= s)
        {
            break;
        }
        if !json && last_line.elapsed() >= Duration::from_secs(10) {
            let s = serving.status();
            if s.rate > 0.0 {
                eprintln!(
                    "{:.0} req/s · p50 {} · p99 {} · {} requests, {} errors, {} logged",
                    s.rate,
                    ms(s.p50_ms),
                    ms(s.p99_ms),
                    s.requests,
                    s.errors,
                    s.logged
                );
            }
            last_line = Instant::now();
        }
    }
    let last = serving.stop();
    if json {
        out.json(&last)?;
    } else {
        println!(
            "stopped: {} requests ({} errors); {} written to the request log{}",
            last.requests,
            last.errors,
            last.logged,
            if last.dropped > 0 {
                format!(", {} dropped (the log fell behind)", last.dropped)
            } else {
                String::new()
            }
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn ms(v: Option<f64>) -> String {
    v.map_or("-".into(), |v| format!("{v:.2} ms"))
}

fn us(v: u64) -> String {
    if v >= 10_000 {
        format!("{:.1} ms", v as f64 / 1000.0)
    } else {
        format!("{:.3} ms", v as f64 / 1000.0)
    }
}

#[derive(Args)]
pub struct LoadTestArgs {
    /// `http://127.0.0.1:PORT/v2/models/NAME/infer` (or `/invocations`), loopback only; or
    /// NAME@alias / NAME@N, served here for the length of the test.
    target: String,
    /// Requests per second, sent on schedule whether or not answers have come (open loop).
    #[arg(long, default_value_t = 100.0)]
    rate: f64,
    /// How long: `30s`, `2m`, or seconds.
    #[arg(long, default_value = "10s")]
    duration: String,
    /// Connections to spread the requests over.
    #[arg(long, default_value_t = 16)]
    connections: usize,
    /// The request body to send (JSON; KServe or MLflow by the URL's path).
    #[arg(long, value_name = "FILE", conflicts_with = "from_data")]
    body: Option<PathBuf>,
    /// Build request bodies from rows of this data version (default: the model's training
    /// data).
    #[arg(long, value_name = "DATASET@N")]
    from_data: Option<String>,
    /// Objectives that must hold, e.g. `p99<5ms,errors<0.1%`; exit code 1 when one fails.
    #[arg(long)]
    slo: Option<String>,
    /// Split the server's time into parse, validate, preprocess, infer and serialise (from
    /// its /metrics).
    #[arg(long)]
    profile: bool,
    /// A bearer token for the server.
    #[arg(long, env = "CAIRN_SERVE_TOKEN")]
    token: Option<String>,
    /// Store the report on this model version (NAME@N) when the target is a URL; a NAME@…
    /// target is stored on the version it served.
    #[arg(long, value_name = "NAME@N")]
    record: Option<String>,
    /// How long one request may take before it counts as a `timeout` error.
    #[arg(long, default_value = "10s")]
    timeout: String,
}

pub fn loadtest(cli: &Cli, out: &Output, a: &LoadTestArgs) -> Result<ExitCode, AppError> {
    let opts = LoadTestOptions {
        rate: a.rate,
        duration: duration("--duration", &a.duration)?,
        connections: a.connections,
        body: a.body.clone(),
        from_data: a.from_data.clone(),
        slo: a.slo.clone(),
        profile: a.profile,
        token: a.token.clone(),
        record: a.record.clone(),
        timeout: duration("--timeout", &a.timeout)?,
    };
    let cancel = progress::cancel_on_ctrl_c();
    let json = out.is_json();
    let mut last = Instant::now();
    let outcome = dir(cli)?.loadtest(&a.target, &opts, &mut |p| {
        if !json && last.elapsed() >= Duration::from_secs(1) {
            eprintln!(
                "[loadtest] {:.0}/{:.0} s · {} sent · {} answered · {} errors",
                p.elapsed_s, p.duration_s, p.sent, p.completed, p.errors
            );
            last = Instant::now();
        }
        if cancel.load(Ordering::SeqCst) {
            ControlFlow::Break(())
        } else {
            ControlFlow::Continue(())
        }
    })?;
    if json {
        out.json(&outcome)?;
    } else {
        let r = &outcome.report;
        println!(
            "{}: {:.0} req/s for {:.1} s over {} connections",
            r.target, r.rate, r.duration_s, r.connections
        );
        println!(
            "  {} scheduled, {} sent, {} answered ({} ok); throughput {:.1} answers/s",
            r.scheduled, r.sent, r.completed, r.ok, r.throughput
        );
        if !r.errors.is_empty() {
            let e: Vec<String> = r.errors.iter().map(|(k, v)| format!("{k}: {v}")).collect();
            println!("  errors: {}", e.join(", "));
        }
        let row = |what: &str, p: &cairn_app::LoadPercentiles| {
            vec![
                what.to_string(),
                us(p.p50),
                us(p.p90),
                us(p.p95),
                us(p.p99),
                us(p.p999),
                us(p.max),
            ]
        };
        table(
            &["latency", "p50", "p90", "p95", "p99", "p99.9", "max"],
            &[
                row("corrected", &r.corrected),
                row("uncorrected", &r.uncorrected),
            ],
        );
        println!(
            "  corrected: from each request's intended send time (coordinated omission); \
             uncorrected: from when it was actually sent"
        );
        if !outcome.profile.is_empty() {
            let rows: Vec<Vec<String>> = outcome
                .profile
                .iter()
                .map(|p| {
                    vec![
                        p.phase.clone(),
                        format!("{:.1} µs", p.mean_us),
                        format!("{:.0}%", p.share * 100.0),
                    ]
                })
                .collect();
            table(&["server phase", "mean", "share"], &rows);
        }
        for o in &outcome.slo {
            let unit = if o.objective.starts_with("errors") {
                "%"
            } else {
                " ms"
            };
            println!(
                "  SLO {}: {} (measured {:.3}{unit})",
                o.objective,
                if o.passed { "pass" } else { "FAIL" },
                o.value
            );
        }
        if let Some(v) = &outcome.recorded_on {
            println!("  stored on {v} as latency evidence (the registry's latency gate reads it)");
        }
    }
    Ok(if outcome.slo_passed {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// `30s`, `2m`, `500ms` or plain seconds.
fn duration(flag: &str, text: &str) -> Result<Duration, AppError> {
    let t = text.trim();
    let (num, scale) = if let Some(n) = t.strip_suffix("ms") {
        (n, 0.001)
    } else if let Some(n) = t.strip_suffix('s') {
        (n, 1.0)
    } else if let Some(n) = t.strip_suffix('m') {
        (n, 60.0)
    } else if let Some(n) = t.strip_suffix('h') {
        (n, 3600.0)
    } else {
        (t, 1.0)
    };
    let secs = num
        .trim()
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v > 0.0)
        .map(|v| v * scale)
        .filter(|v| *v <= 86_400.0)
        .ok_or_else(|| {
            AppError::invalid(format!(
                "{flag} `{text}`: give a positive duration up to a day, e.g. 30s, 2m or 500ms"
            ))
        })?;
    Ok(Duration::from_secs_f64(secs))
}

#[derive(Args)]
pub struct ValidateArgs {
    /// NAME@N, NAME@alias or BUNDLE.zip.
    #[arg(value_name = "NAME@N")]
    target: String,
    /// Cases to try (JSON list or JSON lines of {class, name, row, expect}); default: cases of
    /// every class generated from the model's signature.
    #[arg(long, value_name = "FILE")]
    cases: Option<PathBuf>,
    #[command(flatten)]
    policy: PolicyArgs,
}

pub fn validate(cli: &Cli, out: &Output, a: &ValidateArgs) -> Result<ExitCode, AppError> {
    let outcomes = dir(cli)?.validate_model(&a.target, a.cases.as_deref(), &a.policy.policy()?)?;
    let unexpected = outcomes
        .iter()
        .filter(|o| o.as_expected == Some(false))
        .count();
    if out.is_json() {
        out.json(&outcomes)?;
    } else {
        let rows: Vec<Vec<String>> = outcomes
            .iter()
            .map(|o| {
                let answer = match (&o.prediction, o.problems.first(), o.warnings.first()) {
                    (Some(p), _, Some(w)) => format!("{} (warning: {w})", compact(p)),
                    (Some(p), _, None) => compact(p),
                    (None, Some(e), _) => e.clone(),
                    (None, None, _) => String::new(),
                };
                vec![
                    o.case.class.clone(),
                    o.case.name.clone(),
                    format!("{} {}", o.status, o.got),
                    match o.as_expected {
                        Some(true) => "yes".into(),
                        Some(false) => {
                            format!("NO (expected {})", o.case.expect.as_deref().unwrap_or(""))
                        }
                        None => "-".into(),
                    },
                    answer,
                ]
            })
            .collect();
        table(
            &[
                "class",
                "case",
                "answer",
                "as expected",
                "prediction or problem",
            ],
            &rows,
        );
        if unexpected > 0 {
            println!("{unexpected} case(s) were not answered as expected");
        }
    }
    Ok(if unexpected > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn compact(v: &serde_json::Value) -> String {
    let s = v.to_string();
    if s.chars().count() > 80 {
        format!("{}…", s.chars().take(79).collect::<String>())
    } else {
        s
    }
}

#[derive(Args)]
pub struct RequestsArgs {
    /// Only this served model's requests.
    #[arg(long)]
    model: Option<String>,
    /// Only this server session's (as `cairn serve --json` names it).
    #[arg(long)]
    server: Option<String>,
    /// From this time on (RFC 3339, UTC), inclusive.
    #[arg(long, value_name = "TIME")]
    since: Option<String>,
    /// Up to this time (RFC 3339, UTC), inclusive.
    #[arg(long, value_name = "TIME")]
    until: Option<String>,
    /// Also the shadow's answers.
    #[arg(long)]
    shadow: bool,
    /// The newest N requests.
    #[arg(long, default_value_t = 50)]
    limit: usize,
}

pub fn requests(cli: &Cli, out: &Output, a: &RequestsArgs) -> Result<ExitCode, AppError> {
    let filter = cairn_app::RequestFilter {
        model: a.model.clone(),
        server: a.server.clone(),
        since: a.since.clone(),
        until: a.until.clone(),
        include_shadow: a.shadow,
        limit: Some(a.limit),
    };
    let rows = crate::open(cli, "reading the request log")?.requests(&filter)?;
    if out.is_json() {
        out.json(&rows)?;
    } else if rows.is_empty() {
        println!("no requests logged (cairn serve writes them)");
    } else {
        let t: Vec<Vec<String>> = rows
            .iter()
            .map(|r| {
                vec![
                    r.ts.clone(),
                    format!("{}@{}", r.model, r.version),
                    r.arm.clone() + if r.shadow { " (shadow)" } else { "" },
                    r.route.clone(),
                    r.status.to_string(),
                    r.outcome.clone(),
                    us(r.latency_us),
                    r.rows.to_string(),
                ]
            })
            .collect();
        table(
            &[
                "time",
                "model",
                "arm",
                "route",
                "status",
                "validation",
                "latency",
                "rows",
            ],
            &t,
        );
    }
    Ok(ExitCode::SUCCESS)
}
