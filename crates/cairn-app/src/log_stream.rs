//! The JSON-lines protocol of `cairn log` (docs/tracking.md): one event per line, applied to a
//! [`LogSession`]. A line that cannot be read or does not fit is rejected whole, with its line
//! number, the field (or column) and what to do; it never half-applies.
//!
//! ```text
//! {"event":"start","name":"exp-1","params":{"lr":0.01},"tags":{"team":"risk"},"note":"…","parent":"…","dataset":"adult@2","time":1795428000000}
//! {"event":"param","key":"lr","value":0.01}
//! {"event":"metric","key":"loss","value":0.5,"step":3}
//! {"event":"metrics","values":{"loss":0.5,"acc":0.9},"step":3}
//! {"event":"tag","key":"team","value":"risk"}
//! {"event":"note","text":"…"}
//! {"event":"artifact","path":"model.onnx","name":"optional/path/in/run"}
//! {"event":"end","status":"finished","error":"…","time":"2026-11-23T10:00:30Z"}
//! ```
//!
//! A run starts and ends when its `start` and `end` lines are read, or at their `time`
//! (epoch milliseconds or RFC 3339), not when the batch holding them is written.

use crate::log::{LogSession, RunLogger, RunStart};
use crate::{AppError, ErrorCode};
use cairn_core::{ParamValue, RunStatus};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::path::Path;

/// Lines longer than this are rejected (and skipped without being held in memory).
pub const MAX_LINE_BYTES: usize = 8 * 1024 * 1024;

const EVENTS: &str = "start, param, metric, metrics, tag, note, artifact or end";

/// Why a line was not applied.
#[derive(Debug)]
pub enum LineError {
    /// The line is wrong: it was skipped (or, with `--strict`, stops the stream).
    Input(String),
    /// Recording failed (the workspace stayed locked, the disk is full, …): stop.
    Fatal(AppError),
}

impl std::fmt::Display for LineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LineError::Input(m) => f.write_str(m),
            LineError::Fatal(e) => f.write_str(&e.message),
        }
    }
}

/// One event, checked.
#[derive(Debug, Clone, PartialEq)]
pub enum LogEvent {
    Start {
        name: Option<String>,
        params: BTreeMap<String, ParamValue>,
        tags: BTreeMap<String, String>,
        note: String,
        parent: Option<String>,
        dataset: Option<String>,
        /// When the run started (RFC 3339), if the line says.
        time: Option<String>,
    },
    Param {
        key: String,
        value: ParamValue,
    },
    Metrics {
        values: Vec<(String, f64)>,
        step: Option<u64>,
    },
    Tag {
        key: String,
        value: String,
    },
    Note {
        text: String,
    },
    Artifact {
        path: String,
        name: Option<String>,
    },
    End {
        status: RunStatus,
        error: Option<String>,
        /// When the run ended (RFC 3339), if the line says.
        time: Option<String>,
    },
}

/// What a value is, for messages: `the string "NaN"`, `null`, `an object`, ….
fn describe(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => format!("`{b}`"),
        Value::Number(n) => format!("the number {n}"),
        Value::String(s) => {
            let short: String = s.chars().take(40).collect();
            let more = if short.len() < s.len() { "…" } else { "" };
            format!("the string \"{}{more}\"", short.escape_debug())
        }
        Value::Array(_) => "an array".into(),
        Value::Object(_) => "an object".into(),
    }
}

struct Fields<'a> {
    event: &'a str,
    map: &'a Map<String, Value>,
}

type Checked<T> = Result<T, String>;

impl<'a> Fields<'a> {
    fn only(&self, allowed: &[&str]) -> Checked<()> {
        for key in self.map.keys() {
            if key != "event" && !allowed.contains(&key.as_str()) {
                let list = if allowed.is_empty() {
                    "it has no other fields".to_string()
                } else {
                    format!("its fields are {}", allowed.join(", "))
                };
                return Err(format!(
                    "field `{}` is not part of a `{}` event ({list}); check the spelling",
                    key.escape_debug(),
                    self.event
                ));
            }
        }
        Ok(())
    }

    fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    fn required(&self, key: &str, example: &str) -> Checked<&'a Value> {
        self.get(key).ok_or_else(|| {
            format!(
                "field `{key}` is missing; a `{}` event looks like {example}",
                self.event
            )
        })
    }

    fn string(&self, key: &str, v: &'a Value) -> Checked<&'a str> {
        v.as_str()
            .ok_or_else(|| format!("field `{key}`: expected a string, found {}", describe(v)))
    }

    fn opt_string(&self, key: &str) -> Checked<Option<String>> {
        match self.get(key) {
            None => Ok(None),
            Some(v) => self.string(key, v).map(|s| Some(s.to_string())),
        }
    }
}

fn metric_value(field: &str, v: &Value) -> Checked<f64> {
    match v {
        Value::Number(n) => n
            .as_f64()
            .filter(|f| f.is_finite())
            .ok_or_else(|| format!("field `{field}`: {n} is not a finite number")),
        Value::String(s)
            if matches!(
                s.to_ascii_lowercase().trim_start_matches(['+', '-']),
                "nan" | "inf" | "infinity"
            ) =>
        {
            Err(format!(
                "field `{field}`: expected a number, found {}; Cairn records finite numbers only (JSON has no NaN or infinity): skip the point",
                describe(v)
            ))
        }
        other => Err(format!(
            "field `{field}`: expected a number, found {}; send it unquoted, e.g. 0.5",
            describe(other)
        )),
    }
}

fn step_value(v: &Value) -> Checked<Option<u64>> {
    match v {
        Value::Null => Ok(None),
        Value::Number(n) => match n.as_u64() {
            Some(s) if s <= i64::MAX as u64 => Ok(Some(s)),
            _ => Err(format!(
                "field `step`: {n} is not a whole number from 0 to 9223372036854775807; leave `step` out to use the next step"
            )),
        },
        other => Err(format!(
            "field `step`: expected a whole number ≥ 0, found {}",
            describe(other)
        )),
    }
}

/// A JSON value as a typed param: integers stay ints, numbers with a fraction or exponent are
/// floats, and lists hold params.
pub fn param_value(field: &str, v: &Value) -> Checked<ParamValue> {
    match v {
        Value::Bool(b) => Ok(ParamValue::Bool(*b)),
        Value::String(s) => Ok(ParamValue::Str(s.clone())),
        Value::Number(n) => {
            if let Some(i) = n.as_i64() {
                Ok(ParamValue::Int(i))
            } else if n.is_u64() {
                Err(format!(
                    "field `{field}`: {n} is larger than a 64-bit integer; send it as a string"
                ))
            } else {
                n.as_f64()
                    .filter(|f| f.is_finite())
                    .map(ParamValue::Float)
                    .ok_or_else(|| format!("field `{field}`: {n} is not a finite number"))
            }
        }
        Value::Array(items) => items
            .iter()
            .enumerate()
            .map(|(i, item)| param_value(&format!("{field}[{i}]"), item))
            .collect::<Checked<Vec<_>>>()
            .map(ParamValue::List),
        Value::Null => Err(format!(
            "field `{field}`: null is not a param value; leave the param out"
        )),
        Value::Object(_) => Err(format!(
            "field `{field}`: an object is not a param value; flatten it into keys such as `{field}.a`, or send it as a string"
        )),
    }
}

/// Below this many epoch milliseconds (March 1973) a `time` is taken for seconds sent by mistake.
const EARLIEST_MILLIS: f64 = 1e11;

/// A `time` field: epoch milliseconds (as MLflow's clients send them) or RFC 3339 text, as the
/// RFC 3339 UTC text runs record.
fn time_value(v: &Value) -> Checked<String> {
    let how = "epoch milliseconds (1795428000000) or RFC 3339 text (\"2026-11-23T10:00:00Z\")";
    let ms = match v {
        Value::Number(n) => {
            let x = n.as_f64().unwrap_or(f64::NAN);
            if !x.is_finite() || x.fract() != 0.0 || x < 0.0 {
                return Err(format!(
                    "field `time`: {n} is not a whole, non-negative number of milliseconds; send {how}"
                ));
            }
            if x < EARLIEST_MILLIS {
                return Err(format!(
                    "field `time`: {n} is before 1973 in milliseconds (seconds? multiply by 1000); send {how}"
                ));
            }
            x as i64
        }
        Value::String(t) => cairn_core::epoch_millis(t).ok_or_else(|| {
            format!(
                "field `time`: \"{}\" is not a time; send {how}",
                t.escape_debug()
            )
        })?,
        other => {
            return Err(format!(
                "field `time`: expected {how}, found {}",
                describe(other)
            ));
        }
    };
    cairn_core::rfc3339_from_millis(ms)
        .ok_or_else(|| format!("field `time`: {ms} is out of range; send {how}"))
}

fn opt_time(f: &Fields) -> Checked<Option<String>> {
    match f.get("time") {
        None | Some(Value::Null) => Ok(None),
        Some(v) => time_value(v).map(Some),
    }
}

fn key_of(field: &str, what: &str, key: &str) -> Checked<String> {
    crate::log::check_key(what, key)
        .map(|()| key.to_string())
        .map_err(|e| format!("field `{field}`: {}", e.message))
}

/// Reads one line (already without its line ending) into an event. `Ok(None)`: a blank line.
pub fn parse_line(text: &str) -> Checked<Option<LogEvent>> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    let value: Value = serde_json::from_str(text).map_err(|e| {
        let msg = e.to_string();
        let msg = msg.rfind(" at line ").map_or(msg.as_str(), |at| &msg[..at]);
        format!(
            "column {}: not JSON ({msg}); each line must be one JSON object such as {{\"event\":\"metric\",\"key\":\"loss\",\"value\":0.5}}",
            e.column()
        )
    })?;
    let Value::Object(map) = &value else {
        return Err(format!(
            "expected a JSON object, found {}; each line is one event such as {{\"event\":\"metric\",\"key\":\"loss\",\"value\":0.5}}",
            describe(&value)
        ));
    };
    let event = match map.get("event") {
        None => {
            return Err(format!(
                "field `event` is missing; say what the line is: {EVENTS}"
            ));
        }
        Some(Value::String(s)) => s.as_str(),
        Some(other) => {
            return Err(format!(
                "field `event`: expected a string ({EVENTS}), found {}",
                describe(other)
            ));
        }
    };
    let f = Fields { event, map };
    let ev = match event {
        "start" => {
            f.only(&[
                "name", "params", "tags", "note", "parent", "dataset", "time",
            ])?;
            let mut params = BTreeMap::new();
            match f.get("params") {
                None | Some(Value::Null) => {}
                Some(Value::Object(p)) => {
                    for (k, v) in p {
                        let field = format!("params.{k}");
                        params.insert(key_of(&field, "param", k)?, param_value(&field, v)?);
                    }
                }
                Some(other) => {
                    return Err(format!(
                        "field `params`: expected an object such as {{\"lr\":0.01}}, found {}",
                        describe(other)
                    ));
                }
            }
            let mut tags = BTreeMap::new();
            match f.get("tags") {
                None | Some(Value::Null) => {}
                Some(Value::Object(t)) => {
                    for (k, v) in t {
                        let field = format!("tags.{k}");
                        let value = v.as_str().ok_or_else(|| {
                            format!(
                                "field `{field}`: expected a string, found {}; tag values are strings, e.g. \"3\"",
                                describe(v)
                            )
                        })?;
                        tags.insert(key_of(&field, "tag", k)?, value.to_string());
                    }
                }
                Some(other) => {
                    return Err(format!(
                        "field `tags`: expected an object such as {{\"team\":\"risk\"}}, found {}",
                        describe(other)
                    ));
                }
            }
            LogEvent::Start {
                name: f.opt_string("name")?,
                params,
                tags,
                note: f.opt_string("note")?.unwrap_or_default(),
                parent: f.opt_string("parent")?,
                dataset: f.opt_string("dataset")?,
                time: opt_time(&f)?,
            }
        }
        "param" => {
            f.only(&["key", "value"])?;
            let ex = r#"{"event":"param","key":"lr","value":0.01}"#;
            let key = f.string("key", f.required("key", ex)?)?;
            LogEvent::Param {
                key: key_of("key", "param", key)?,
                value: param_value("value", f.required("value", ex)?)?,
            }
        }
        "metric" => {
            f.only(&["key", "value", "step"])?;
            let ex = r#"{"event":"metric","key":"loss","value":0.5,"step":3}"#;
            let key = f.string("key", f.required("key", ex)?)?;
            LogEvent::Metrics {
                values: vec![(
                    key_of("key", "metric", key)?,
                    metric_value("value", f.required("value", ex)?)?,
                )],
                step: f.get("step").map(step_value).transpose()?.flatten(),
            }
        }
        "metrics" => {
            f.only(&["values", "step"])?;
            let ex = r#"{"event":"metrics","values":{"loss":0.5,"acc":0.9},"step":3}"#;
            let Value::Object(vals) = f.required("values", ex)? else {
                return Err(format!(
                    "field `values`: expected an object such as {{\"loss\":0.5}}, found {}",
                    describe(&map["values"])
                ));
            };
            if vals.is_empty() {
                return Err("field `values` is empty; give at least one metric".into());
            }
            let mut values = Vec::with_capacity(vals.len());
            for (k, v) in vals {
                let field = format!("values.{k}");
                values.push((key_of(&field, "metric", k)?, metric_value(&field, v)?));
            }
            LogEvent::Metrics {
                values,
                step: f.get("step").map(step_value).transpose()?.flatten(),
            }
        }
        "tag" => {
            f.only(&["key", "value"])?;
            let ex = r#"{"event":"tag","key":"team","value":"risk"}"#;
            let key = f.string("key", f.required("key", ex)?)?;
            let value = f.required("value", ex)?;
            let value = value.as_str().ok_or_else(|| {
                format!(
                    "field `value`: expected a string, found {}; tag values are strings, e.g. \"3\"",
                    describe(value)
                )
            })?;
            LogEvent::Tag {
                key: key_of("key", "tag", key)?,
                value: value.to_string(),
            }
        }
        "note" => {
            f.only(&["text"])?;
            let text = f.required("text", r##"{"event":"note","text":"# Findings"}"##)?;
            LogEvent::Note {
                text: f.string("text", text)?.to_string(),
            }
        }
        "artifact" => {
            f.only(&["path", "name"])?;
            let path = f.required("path", r#"{"event":"artifact","path":"model.onnx"}"#)?;
            LogEvent::Artifact {
                path: f.string("path", path)?.to_string(),
                name: f.opt_string("name")?,
            }
        }
        "end" => {
            f.only(&["status", "error", "time"])?;
            let status = match f.opt_string("status")? {
                None => RunStatus::Finished,
                Some(s) => match s.to_ascii_lowercase().as_str() {
                    "finished" => RunStatus::Finished,
                    "failed" => RunStatus::Failed,
                    "killed" => RunStatus::Killed,
                    _ => {
                        return Err(format!(
                            "field `status`: `{}` is not an end status; use finished, failed or killed",
                            s.escape_debug()
                        ));
                    }
                },
            };
            LogEvent::End {
                status,
                error: f.opt_string("error")?,
                time: opt_time(&f)?,
            }
        }
        other => {
            return Err(format!(
                "unknown event `{}`; the events are {EVENTS}",
                other.escape_debug()
            ));
        }
    };
    Ok(Some(ev))
}

/// A stream of lines applied to a session: at most one run open at a time; after `end`, the
/// next `start` begins the next run.
pub struct LogStream {
    session: Option<LogSession>,
    run: Option<(RunLogger, u64)>,
    /// The line of a rejected `start`, while no run is open since.
    rejected_start: Option<u64>,
    /// Lines read (including blank and rejected ones).
    pub lines: u64,
    /// Lines rejected.
    pub rejected: u64,
}

impl LogStream {
    pub fn new(session: LogSession) -> LogStream {
        LogStream {
            session: Some(session),
            run: None,
            rejected_start: None,
            lines: 0,
            rejected: 0,
        }
    }

    /// Applies line number `number` (1-based), given as raw bytes without its line ending.
    pub fn line(&mut self, number: u64, bytes: &[u8]) -> Result<(), LineError> {
        self.lines = self.lines.max(number);
        let result = self.apply(number, bytes);
        if let Err(LineError::Input(_)) = &result {
            self.rejected += 1;
        }
        result
    }

    fn apply(&mut self, number: u64, bytes: &[u8]) -> Result<(), LineError> {
        let at = |m: String| LineError::Input(format!("line {number}: {m}"));
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        let bytes = if number == 1 {
            bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes)
        } else {
            bytes
        };
        let text = std::str::from_utf8(bytes).map_err(|e| {
            at(format!(
                "not UTF-8 text (byte {} of the line cannot be decoded); write lines as UTF-8 JSON",
                e.valid_up_to() + 1
            ))
        })?;
        let Some(event) = parse_line(text).map_err(at)? else {
            return Ok(());
        };
        let input = |e: AppError| match e.code {
            ErrorCode::InvalidInput | ErrorCode::NotFound => {
                LineError::Input(format!("line {number}: {}", e.message))
            }
            _ => LineError::Fatal(e),
        };
        if let LogEvent::Start {
            name,
            params,
            tags,
            note,
            parent,
            dataset,
            time,
        } = event
        {
            if let Some((run, started)) = &self.run {
                return Err(at(format!(
                    "a run is already open (`{}`, started at line {started}); send {{\"event\":\"end\"}} before the next start",
                    run.name()
                )));
            }
            let session = self.session.as_ref().expect("open until finish");
            return match session.start(RunStart {
                name,
                params,
                tags,
                note,
                parent,
                dataset,
                time,
            }) {
                Ok(run) => {
                    self.run = Some((run, number));
                    self.rejected_start = None;
                    Ok(())
                }
                Err(e) => {
                    self.rejected_start = Some(number);
                    Err(input(e))
                }
            };
        }
        let Some((run, _)) = &self.run else {
            let why = match self.rejected_start {
                Some(line) => format!("no run is open (the start at line {line} was rejected)"),
                None => "no run is open".to_string(),
            };
            return Err(at(format!(
                "{why}; send {{\"event\":\"start\"}} before other events"
            )));
        };
        match event {
            LogEvent::Start { .. } => unreachable!("handled above"),
            LogEvent::Param { key, value } => run.param(&key, value).map_err(input),
            LogEvent::Metrics { values, step } => {
                let values: Vec<(&str, f64)> =
                    values.iter().map(|(k, v)| (k.as_str(), *v)).collect();
                run.metrics(&values, step).map_err(input)
            }
            LogEvent::Tag { key, value } => run.tag(&key, &value).map_err(input),
            LogEvent::Note { text } => run.note(&text).map_err(input),
            LogEvent::Artifact { path, name } => run
                .artifact(Path::new(&path), name.as_deref())
                .map(|_| ())
                .map_err(input),
            LogEvent::End {
                status,
                error,
                time,
            } => {
                let (run, _) = self.run.take().expect("checked");
                run.end_at(status, error.as_deref(), time)
                    .map(|_| ())
                    .map_err(input)
            }
        }
    }

    /// Ends the stream: a run still open is recorded as failed with `why` (e.g. the input
    /// ended without `end`), and everything is flushed.
    pub fn finish(mut self, why: &str) -> Result<(), AppError> {
        let ended = match self.run.take() {
            Some((run, _)) => run.end(RunStatus::Failed, Some(why)).map(|_| ()),
            None => Ok(()),
        };
        let session = self.session.take().expect("open until finish");
        let closed = session.close(why);
        ended.and(closed)
    }

    /// Whether a run is open, and the line of its start.
    pub fn open_run(&self) -> Option<u64> {
        self.run.as_ref().map(|(_, line)| *line)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typed_params_keep_their_type() {
        let ev = parse_line(
            r#"{"event":"start","params":{"lr":0.01,"layers":[64,32],"opt":"adam","bn":true,"epochs":10,"one":1.0}}"#,
        )
        .unwrap()
        .unwrap();
        let LogEvent::Start { params, .. } = ev else {
            panic!()
        };
        assert_eq!(params["lr"], ParamValue::Float(0.01));
        assert_eq!(
            params["layers"],
            ParamValue::List(vec![ParamValue::Int(64), ParamValue::Int(32)])
        );
        assert_eq!(params["opt"], ParamValue::Str("adam".into()));
        assert_eq!(params["bn"], ParamValue::Bool(true));
        assert_eq!(params["epochs"], ParamValue::Int(10));
        assert_eq!(params["one"], ParamValue::Float(1.0));
    }

    #[test]
    fn metric_steps_are_optional() {
        assert_eq!(
            parse_line(r#"{"event":"metric","key":"loss","value":0.5}"#).unwrap(),
            Some(LogEvent::Metrics {
                values: vec![("loss".into(), 0.5)],
                step: None
            })
        );
        assert_eq!(
            parse_line(r#"{"event":"metrics","values":{"a":1,"b":2.5},"step":7}"#).unwrap(),
            Some(LogEvent::Metrics {
                values: vec![("a".into(), 1.0), ("b".into(), 2.5)],
                step: Some(7)
            })
        );
        assert_eq!(parse_line("   ").unwrap(), None);
    }
}
