//! The server's counters in Prometheus text format (`GET /metrics`): requests by model, route and
//! status; latency histograms by model and route; the time of each phase of a request (parse,
//! validate, preprocess, infer, serialise), which `cairn loadtest --profile` reads; hot swaps,
//! shadow requests and request-log records dropped.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

/// Upper bounds of the latency buckets, in seconds.
pub const BUCKETS: [f64; 16] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
    5.0, 10.0,
];

/// The phases of a request, in order.
pub const PHASES: [&str; 5] = ["parse", "validate", "preprocess", "infer", "serialise"];

#[derive(Default)]
struct Histogram {
    counts: [u64; BUCKETS.len()],
    sum: f64,
    count: u64,
}

#[derive(Default)]
struct Inner {
    requests: BTreeMap<(String, String, &'static str, u16), u64>,
    latency: BTreeMap<(String, &'static str), Histogram>,
    phases: BTreeMap<(String, &'static str), f64>,
    counters: BTreeMap<(&'static str, String), u64>,
}

#[derive(Default)]
pub struct Metrics {
    inner: Mutex<Inner>,
}

impl Metrics {
    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// One answered request.
    pub fn request(
        &self,
        model: &str,
        version: &str,
        route: &'static str,
        status: u16,
        latency: Duration,
        phases: Option<&[Duration; 5]>,
    ) {
        let mut m = self.lock();
        *m.requests
            .entry((model.to_string(), version.to_string(), route, status))
            .or_default() += 1;
        let h = m.latency.entry((model.to_string(), route)).or_default();
        let s = latency.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| s <= *b) {
            h.counts[i] += 1;
        }
        h.sum += s;
        h.count += 1;
        if let Some(p) = phases {
            for (name, d) in PHASES.iter().zip(p) {
                *m.phases.entry((model.to_string(), name)).or_default() += d.as_secs_f64();
            }
        }
    }

    /// Adds one to a plain counter (`model_swaps`, `shadow_requests`, `shadow_skipped`,
    /// `request_log_dropped`), labelled by model.
    pub fn count(&self, counter: &'static str, model: &str) {
        *self
            .lock()
            .counters
            .entry((counter, model.to_string()))
            .or_default() += 1;
    }

    /// The text exposition format, version 0.0.4.
    pub fn render(&self) -> String {
        let m = self.lock();
        let mut out = String::new();
        let esc = |s: &str| {
            s.replace('\\', "\\\\")
                .replace('"', "\\\"")
                .replace('\n', "\\n")
        };
        out.push_str("# HELP cairn_requests_total Inference requests answered, by model, version, route and HTTP status.\n# TYPE cairn_requests_total counter\n");
        for ((model, version, route, status), n) in &m.requests {
            let _ = writeln!(
                out,
                "cairn_requests_total{{model=\"{}\",version=\"{}\",route=\"{route}\",code=\"{status}\"}} {n}",
                esc(model),
                esc(version)
            );
        }
        out.push_str("# HELP cairn_request_errors_total Inference requests answered with a 4xx or 5xx status.\n# TYPE cairn_request_errors_total counter\n");
        let mut errors: BTreeMap<(&str, &str), u64> = BTreeMap::new();
        for ((model, _, route, status), n) in &m.requests {
            if *status >= 400 {
                *errors.entry((model, route)).or_default() += n;
            }
        }
        for ((model, route), n) in errors {
            let _ = writeln!(
                out,
                "cairn_request_errors_total{{model=\"{}\",route=\"{route}\"}} {n}",
                esc(model)
            );
        }
        out.push_str("# HELP cairn_request_duration_seconds Time from a request's last byte read to its answer, by model and route.\n# TYPE cairn_request_duration_seconds histogram\n");
        for ((model, route), h) in &m.latency {
            let mut cumulative = 0;
            for (b, c) in BUCKETS.iter().zip(h.counts) {
                cumulative += c;
                let _ = writeln!(
                    out,
                    "cairn_request_duration_seconds_bucket{{model=\"{}\",route=\"{route}\",le=\"{b}\"}} {cumulative}",
                    esc(model)
                );
            }
            let labels = format!("model=\"{}\",route=\"{route}\"", esc(model));
            let _ = writeln!(
                out,
                "cairn_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}",
                h.count
            );
            let _ = writeln!(
                out,
                "cairn_request_duration_seconds_sum{{{labels}}} {}",
                h.sum
            );
            let _ = writeln!(
                out,
                "cairn_request_duration_seconds_count{{{labels}}} {}",
                h.count
            );
        }
        out.push_str("# HELP cairn_phase_seconds_total Time spent in each phase of the requests that reached the model.\n# TYPE cairn_phase_seconds_total counter\n");
        for ((model, phase), s) in &m.phases {
            let _ = writeln!(
                out,
                "cairn_phase_seconds_total{{model=\"{}\",phase=\"{phase}\"}} {s}",
                esc(model)
            );
        }
        for (name, help) in [
            (
                "model_swaps",
                "Hot swaps of a served alias to another version.",
            ),
            (
                "shadow_requests",
                "Requests also answered by the shadow model.",
            ),
            (
                "shadow_skipped",
                "Requests not sent to the shadow because too many shadow requests were pending.",
            ),
            (
                "request_log_dropped",
                "Request-log records dropped because the log fell behind.",
            ),
        ] {
            let _ = writeln!(
                out,
                "# HELP cairn_{name}_total {help}\n# TYPE cairn_{name}_total counter"
            );
            for ((c, model), n) in &m.counters {
                if *c == name {
                    let _ = writeln!(out, "cairn_{name}_total{{model=\"{}\"}} {n}", esc(model));
                }
            }
        }
        out
    }
}

/// Reads one sample's value from a Prometheus text body: the sum of every line of `name` whose
/// labels include each of `labels` (`key="value"`).
pub fn sample_sum(text: &str, name: &str, labels: &[&str]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (head, value) = l.rsplit_once(' ')?;
            let (metric, rest) = head.split_once('{').unwrap_or((head, ""));
            (metric == name && labels.iter().all(|want| rest.contains(want)))
                .then(|| value.parse::<f64>().ok())
                .flatten()
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_exposition_has_cumulative_buckets_and_reads_back() {
        let m = Metrics::default();
        let phases = [Duration::from_micros(10); 5];
        m.request(
            "iris",
            "1",
            "kserve",
            200,
            Duration::from_micros(300),
            Some(&phases),
        );
        m.request("iris", "1", "kserve", 400, Duration::from_millis(2), None);
        m.count("model_swaps", "iris");
        let t = m.render();
        assert!(
            t.contains(
                "cairn_requests_total{model=\"iris\",version=\"1\",route=\"kserve\",code=\"200\"} 1"
            ),
            "{t}"
        );
        assert!(t.contains("le=\"0.0005\"} 1"));
        assert!(t.contains("le=\"0.0025\"} 2"));
        assert!(t.contains("le=\"+Inf\"} 2"));
        assert_eq!(
            sample_sum(&t, "cairn_request_errors_total", &["model=\"iris\""]),
            1.0
        );
        assert_eq!(sample_sum(&t, "cairn_requests_total", &[]), 2.0);
        assert!(
            (sample_sum(&t, "cairn_phase_seconds_total", &["phase=\"infer\""]) - 1e-5).abs()
                < 1e-12
        );
        assert_eq!(sample_sum(&t, "cairn_model_swaps_total", &[]), 1.0);
    }
}
