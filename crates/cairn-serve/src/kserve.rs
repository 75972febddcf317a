//! The KServe v2 / Open Inference Protocol REST shapes (SPECS.md), with Triton's binary tensor
//! data extension so `tritonclient.http`'s default calls work.
//!
//! A tabular model takes one input tensor per feature column, named as the column, of shape
//! `[rows]` or `[rows, 1]`: numbers as FP32/FP64/INT*/UINT*/BOOL, categories as BYTES. A
//! classifier answers `label` (BYTES `[rows]`, the class) and `probabilities` (FP64
//! `[rows, classes]`, in the order of the model metadata's classes); a regressor answers
//! `prediction` (FP64 `[rows]`).

use crate::ServeError;
use crate::model::{ModelInfo, Prediction, Task};
use crate::validate::{Cell, FEATURES, Table};
use serde_json::{Map, Value, json};

/// The header that tells where the JSON part of a binary request or response ends.
pub const HEADER_LENGTH: &str = "inference-header-content-length";

/// A parsed infer request.
#[derive(Debug, Clone, PartialEq)]
pub struct InferRequest {
    pub id: Option<Value>,
    pub table: Table,
    /// The outputs asked for, each with whether it is wanted as binary data.
    pub outputs: Option<Vec<(String, bool)>>,
    /// `parameters.binary_data_output`: every output as binary data.
    pub binary_output: bool,
}

fn bad(message: impl Into<String>) -> ServeError {
    ServeError::bad_request(message)
}

fn flatten<'a>(v: &'a Value, out: &mut Vec<&'a Value>, depth: usize) -> Result<(), ServeError> {
    if depth > 32 {
        return Err(bad("`data` is nested more than 32 levels deep"));
    }
    match v {
        Value::Array(items) => {
            for i in items {
                flatten(i, out, depth + 1)?;
            }
        }
        other => out.push(other),
    }
    Ok(())
}

const NUMERIC_TYPES: [&str; 13] = [
    "BOOL", "UINT8", "UINT16", "UINT32", "UINT64", "INT8", "INT16", "INT32", "INT64", "FP16",
    "FP32", "FP64", "BF16",
];

fn element_size(datatype: &str) -> Option<usize> {
    Some(match datatype {
        "BOOL" | "UINT8" | "INT8" => 1,
        "UINT16" | "INT16" | "FP16" | "BF16" => 2,
        "UINT32" | "INT32" | "FP32" => 4,
        "UINT64" | "INT64" | "FP64" => 8,
        _ => return None,
    })
}

fn half_to_f64(bits: u16) -> f64 {
    let sign = if bits & 0x8000 != 0 { -1.0 } else { 1.0 };
    let exp = i32::from((bits >> 10) & 0x1f);
    let frac = f64::from(bits & 0x3ff);
    match exp {
        0 => sign * frac * 2f64.powi(-24),
        31 if frac == 0.0 => sign * f64::INFINITY,
        31 => f64::NAN,
        e => sign * (1.0 + frac / 1024.0) * 2f64.powi(e - 15),
    }
}

fn decode_binary(
    name: &str,
    datatype: &str,
    bytes: &[u8],
    count: usize,
) -> Result<Vec<Cell>, ServeError> {
    if datatype == "BYTES" {
        let mut out = Vec::with_capacity(count);
        let mut at = 0;
        while at < bytes.len() {
            let Some(len) = bytes.get(at..at + 4) else {
                return Err(bad(format!(
                    "input `{name}`: BYTES data ends inside a length prefix"
                )));
            };
            let len = u32::from_le_bytes([len[0], len[1], len[2], len[3]]) as usize;
            at += 4;
            let Some(s) = bytes.get(at..at + len) else {
                return Err(bad(format!(
                    "input `{name}`: BYTES element {} runs past the data",
                    out.len() + 1
                )));
            };
            let text = std::str::from_utf8(s).map_err(|_| {
                bad(format!(
                    "input `{name}`: BYTES element {} is not UTF-8 text",
                    out.len() + 1
                ))
            })?;
            out.push(Cell::Text(text.to_string()));
            at += len;
        }
        if out.len() != count {
            return Err(bad(format!(
                "input `{name}`: the shape holds {count} elements but the binary data holds {}",
                out.len()
            )));
        }
        return Ok(out);
    }
    let size = element_size(datatype)
        .ok_or_else(|| bad(format!("input `{name}`: unknown datatype `{datatype}`")))?;
    if bytes.len() != size * count {
        return Err(bad(format!(
            "input `{name}`: {count} elements of {datatype} are {} bytes, the binary data has {}",
            size * count,
            bytes.len()
        )));
    }
    Ok(bytes
        .chunks_exact(size)
        .map(|c| {
            let x = match datatype {
                "BOOL" => return Cell::Bool(c[0] != 0),
                "UINT8" => f64::from(c[0]),
                "INT8" => f64::from(c[0] as i8),
                "UINT16" => f64::from(u16::from_le_bytes([c[0], c[1]])),
                "INT16" => f64::from(i16::from_le_bytes([c[0], c[1]])),
                "FP16" => half_to_f64(u16::from_le_bytes([c[0], c[1]])),
                "BF16" => f64::from(f32::from_bits(
                    u32::from(u16::from_le_bytes([c[0], c[1]])) << 16,
                )),
                "UINT32" => f64::from(u32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                "INT32" => f64::from(i32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                "FP32" => f64::from(f32::from_le_bytes([c[0], c[1], c[2], c[3]])),
                "UINT64" => u64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64,
                "INT64" => i64::from_le_bytes(c.try_into().unwrap_or([0; 8])) as f64,
                _ => f64::from_le_bytes(c.try_into().unwrap_or([0; 8])),
            };
            Cell::Number(x)
        })
        .collect())
}

fn json_cells(
    name: &str,
    datatype: &str,
    data: &Value,
    count: usize,
) -> Result<Vec<Cell>, ServeError> {
    let mut flat = Vec::new();
    flatten(data, &mut flat, 0)?;
    if flat.len() != count {
        return Err(bad(format!(
            "input `{name}`: the shape holds {count} elements but `data` has {}",
            flat.len()
        )));
    }
    let numeric = NUMERIC_TYPES.contains(&datatype);
    flat.into_iter()
        .enumerate()
        .map(|(i, v)| match (numeric, v) {
            (true, Value::Number(_) | Value::Bool(_) | Value::Null) => Ok(Cell::from_json(v)),
            (false, Value::String(_) | Value::Null) => Ok(Cell::from_json(v)),
            (_, other) => Err(bad(format!(
                "input `{name}`: element {} is {}, which is not {datatype} data",
                i + 1,
                describe(other)
            ))),
        })
        .collect()
}

fn describe(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "text",
        Value::Array(_) => "a list",
        Value::Object(_) => "an object",
    }
}

/// Parses an infer request body: JSON alone, or (with `header_length`) JSON followed by the
/// binary tensor data of the inputs that declare `parameters.binary_data_size`, in order.
pub fn parse_request(
    body: &[u8],
    header_length: Option<usize>,
) -> Result<InferRequest, ServeError> {
    let (json_part, mut binary) = match header_length {
        Some(n) if n > body.len() => {
            return Err(bad(format!(
                "Inference-Header-Content-Length is {n} but the body has only {} bytes",
                body.len()
            )));
        }
        Some(n) => (&body[..n], &body[n..]),
        None => (body, &[][..]),
    };
    let v: Value = serde_json::from_slice(json_part)
        .map_err(|e| bad(format!("the request is not valid JSON: {e}")))?;
    let obj = v.as_object().ok_or_else(|| {
        bad(format!(
            "the request must be a JSON object, got {}",
            describe(&v)
        ))
    })?;
    let inputs = obj
        .get("inputs")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("the request has no `inputs` list"))?;
    if inputs.is_empty() {
        return Err(bad("`inputs` is empty; send one tensor per input column"));
    }
    let mut table = Table::default();
    let mut rows: Option<usize> = None;
    for (i, input) in inputs.iter().enumerate() {
        let at = format!("inputs[{i}]");
        let o = input.as_object().ok_or_else(|| {
            bad(format!(
                "{at} must be an object with name, shape, datatype, data"
            ))
        })?;
        let name = o
            .get("name")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("{at} has no `name`")))?;
        let datatype = o
            .get("datatype")
            .and_then(Value::as_str)
            .ok_or_else(|| bad(format!("input `{name}` has no `datatype`")))?;
        if datatype != "BYTES" && element_size(datatype).is_none() {
            return Err(bad(format!(
                "input `{name}`: unknown datatype `{datatype}`; use BOOL, INT8…INT64, UINT8…UINT64, FP16, FP32, FP64, BF16 or BYTES"
            )));
        }
        let shape: Vec<u64> = o
            .get("shape")
            .and_then(Value::as_array)
            .ok_or_else(|| bad(format!("input `{name}` has no `shape`")))?
            .iter()
            .map(|d| d.as_u64())
            .collect::<Option<_>>()
            .ok_or_else(|| {
                bad(format!(
                    "input `{name}`: `shape` must be a list of non-negative whole numbers"
                ))
            })?;
        let (n, width) = match shape.as_slice() {
            [n] | [n, 1] => (*n, 1),
            [n, k] if name == FEATURES && *k > 0 => (*n, *k),
            _ => {
                return Err(bad(format!(
                    "input `{name}` has shape {shape:?}; each input is one column, of shape [rows] or [rows, 1] (or the ONNX graph's `features`, [rows, inputs])"
                )));
            }
        };
        if n.saturating_mul(width) > 1_000_000 {
            return Err(bad(format!(
                "input `{name}`: {n} rows; a request holds at most 1000000 values per input"
            )));
        }
        let (n, width) = (n as usize, width as usize);
        if let Some(r) = rows
            && r != n
        {
            return Err(bad(format!(
                "input `{name}` has {n} rows but the inputs before it have {r}; every input needs the same number of rows"
            )));
        }
        rows = Some(n);
        let binary_size = o
            .get("parameters")
            .and_then(|p| p.get("binary_data_size"))
            .map(|s| {
                s.as_u64().ok_or_else(|| {
                    bad(format!(
                        "input `{name}`: binary_data_size must be a whole number"
                    ))
                })
            })
            .transpose()?;
        let cells = match (binary_size, o.get("data")) {
            (Some(_), Some(_)) => {
                return Err(bad(format!(
                    "input `{name}` has both `data` and binary_data_size"
                )));
            }
            (Some(size), None) => {
                let size = size as usize;
                if size > binary.len() {
                    return Err(bad(format!(
                        "input `{name}` declares {size} bytes of binary data but only {} remain",
                        binary.len()
                    )));
                }
                let (mine, rest) = binary.split_at(size);
                binary = rest;
                decode_binary(name, datatype, mine, n * width)?
            }
            (None, Some(data)) => json_cells(name, datatype, data, n * width)?,
            (None, None) => return Err(bad(format!("input `{name}` has no `data`"))),
        };
        let cells = if width > 1 {
            cells
                .chunks(width)
                .map(|c| Cell::List(c.to_vec()))
                .collect()
        } else {
            cells
        };
        if table.columns.iter().any(|(c, _)| c == name) {
            return Err(bad(format!("input `{name}` is given twice")));
        }
        table.columns.push((name.to_string(), cells));
    }
    if !binary.is_empty() {
        return Err(bad(format!(
            "{} bytes of binary data follow the inputs that no input declared",
            binary.len()
        )));
    }
    table.rows = rows.unwrap_or(0);
    let binary_output = obj
        .get("parameters")
        .and_then(|p| p.get("binary_data_output"))
        .and_then(Value::as_bool)
        .unwrap_or(false);
    let outputs = match obj.get("outputs") {
        None | Some(Value::Null) => None,
        Some(Value::Array(list)) => Some(
            list.iter()
                .enumerate()
                .map(|(i, o)| {
                    let name = o
                        .get("name")
                        .and_then(Value::as_str)
                        .ok_or_else(|| bad(format!("outputs[{i}] has no `name`")))?;
                    let binary = o
                        .get("parameters")
                        .and_then(|p| p.get("binary_data"))
                        .and_then(Value::as_bool)
                        .unwrap_or(binary_output);
                    Ok((name.to_string(), binary))
                })
                .collect::<Result<Vec<_>, ServeError>>()?,
        ),
        Some(_) => return Err(bad("`outputs` must be a list of {\"name\": …}")),
    };
    Ok(InferRequest {
        id: obj.get("id").cloned(),
        table,
        outputs,
        binary_output,
    })
}

/// The output tensors a model gives: `(name, datatype, width)`.
pub fn output_specs(info: &ModelInfo) -> Vec<(&'static str, &'static str, Option<usize>)> {
    match &info.task {
        Task::Classification { classes } => {
            vec![
                ("label", "BYTES", None),
                ("probabilities", "FP64", Some(classes.len())),
            ]
        }
        Task::Regression => vec![("prediction", "FP64", None)],
    }
}

/// The model metadata (`GET /v2/models/{name}`).
pub fn metadata(info: &ModelInfo, versions: &[u32]) -> Value {
    let inputs: Vec<Value> = info
        .inputs
        .iter()
        .map(|c| {
            json!({
                "name": c.name,
                "datatype": if c.role == "numeric" { "FP64" } else { "BYTES" },
                "shape": [-1],
            })
        })
        .collect();
    let outputs: Vec<Value> = output_specs(info)
        .into_iter()
        .map(|(name, dt, w)| match w {
            Some(w) => json!({"name": name, "datatype": dt, "shape": [-1, w]}),
            None => json!({"name": name, "datatype": dt, "shape": [-1]}),
        })
        .collect();
    let mut m = json!({
        "name": info.name,
        "versions": versions.iter().map(u32::to_string).collect::<Vec<_>>(),
        "platform": "cairn_candle",
        "inputs": inputs,
        "outputs": outputs,
    });
    if let Task::Classification { classes } = &info.task {
        m["parameters"] = json!({ "classes": classes });
    }
    m
}

/// The infer response: the JSON part and, when any output is binary, the bytes that follow it.
pub fn response(
    info: &ModelInfo,
    request: &InferRequest,
    prediction: &Prediction,
    rows: usize,
) -> Result<(Value, Vec<u8>), ServeError> {
    let specs = output_specs(info);
    let wanted: Vec<(&'static str, &'static str, Option<usize>, bool)> = match &request.outputs {
        None => specs
            .iter()
            .map(|(n, d, w)| (*n, *d, *w, request.binary_output))
            .collect(),
        Some(list) => list
            .iter()
            .map(|(name, bin)| {
                specs
                    .iter()
                    .find(|(n, _, _)| n == name)
                    .map(|(n, d, w)| (*n, *d, *w, *bin))
                    .ok_or_else(|| {
                        bad(format!(
                            "the model has no output `{name}`; its outputs are {}",
                            specs.iter().map(|s| s.0).collect::<Vec<_>>().join(", ")
                        ))
                    })
            })
            .collect::<Result<_, _>>()?,
    };
    let mut blob = Vec::new();
    let mut outputs = Vec::new();
    for (name, datatype, width, binary) in wanted {
        let (shape, data): (Vec<usize>, Vec<Value>) = match (name, prediction, &info.task) {
            ("label", Prediction::Classes { proba }, Task::Classification { classes }) => {
                let k = classes.len();
                let labels: Vec<Value> = (0..rows)
                    .map(|i| classes[argmax(&proba[i * k..(i + 1) * k])].clone().into())
                    .collect();
                (vec![rows], labels)
            }
            ("probabilities", Prediction::Classes { proba }, _) => (
                vec![rows, width.unwrap_or(0)],
                proba.iter().map(|p| json!(p)).collect(),
            ),
            ("prediction", Prediction::Values { values }, _) => {
                (vec![rows], values.iter().map(|v| json!(v)).collect())
            }
            _ => {
                return Err(ServeError::internal(
                    "the model answered another kind of output",
                ));
            }
        };
        let mut o = Map::new();
        o.insert("name".into(), name.into());
        o.insert("datatype".into(), datatype.into());
        o.insert("shape".into(), json!(shape));
        if binary {
            let start = blob.len();
            for v in &data {
                match v {
                    Value::String(s) => {
                        blob.extend_from_slice(&(s.len() as u32).to_le_bytes());
                        blob.extend_from_slice(s.as_bytes());
                    }
                    other => {
                        blob.extend_from_slice(&other.as_f64().unwrap_or(f64::NAN).to_le_bytes())
                    }
                }
            }
            o.insert(
                "parameters".into(),
                json!({"binary_data_size": blob.len() - start}),
            );
        } else {
            o.insert("data".into(), Value::Array(data));
        }
        outputs.push(Value::Object(o));
    }
    let mut r = json!({
        "model_name": info.name,
        "model_version": info.version.to_string(),
        "outputs": outputs,
    });
    if let Some(id) = &request.id {
        r["id"] = id.clone();
    }
    Ok((r, blob))
}

pub(crate) fn argmax(row: &[f64]) -> usize {
    (0..row.len()).fold(0, |b, j| if row[j] > row[b] { j } else { b })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_tensors_nested_or_flat_and_binary_ones_read_alike() {
        let nested = br#"{"id":"r1","inputs":[{"name":"x","shape":[2,1],"datatype":"FP64","data":[[1.5],[2]]},
            {"name":"c","shape":[2],"datatype":"BYTES","data":["a","b"]}]}"#;
        let r = parse_request(nested, None).unwrap();
        assert_eq!(r.id, Some(json!("r1")));
        assert_eq!(r.table.rows, 2);
        assert_eq!(
            r.table.columns[0].1,
            vec![Cell::Number(1.5), Cell::Number(2.0)]
        );
        let header = br#"{"inputs":[{"name":"x","shape":[2],"datatype":"FP32","parameters":{"binary_data_size":8}},{"name":"c","shape":[2],"datatype":"BYTES","parameters":{"binary_data_size":10}}],"parameters":{"binary_data_output":true}}"#;
        let mut body = header.to_vec();
        body.extend_from_slice(&1.5f32.to_le_bytes());
        body.extend_from_slice(&2.0f32.to_le_bytes());
        for s in ["a", "b"] {
            body.extend_from_slice(&1u32.to_le_bytes());
            body.extend_from_slice(s.as_bytes());
        }
        let b = parse_request(&body, Some(header.len())).unwrap();
        assert_eq!(b.table, r.table);
        assert!(b.binary_output);
    }

    #[test]
    fn hostile_requests_are_bad_requests_that_say_why() {
        let cases: &[(&[u8], Option<usize>, &str)] = &[
            (b"", None, "not valid JSON"),
            (b"{", None, "not valid JSON"),
            (b"[1]", None, "must be a JSON object"),
            (b"{}", None, "no `inputs`"),
            (br#"{"inputs":[]}"#, None, "empty"),
            (br#"{"inputs":[1]}"#, None, "must be an object"),
            (br#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP99","data":[1]}]}"#, None, "unknown datatype"),
            (br#"{"inputs":[{"name":"x","shape":[2],"datatype":"FP64","data":[1]}]}"#, None, "holds 2 elements"),
            (br#"{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP64","data":[1,2,3]}]}"#, None, "one column"),
            (br#"{"inputs":[{"name":"x","shape":[-1],"datatype":"FP64","data":[1]}]}"#, None, "non-negative"),
            (br#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":["a"]}]}"#, None, "not FP64"),
            (br#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1e999]}]}"#, None, "not valid JSON"),
            (br#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1]},{"name":"y","shape":[2],"datatype":"FP64","data":[1,2]}]}"#, None, "same number of rows"),
            (br#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1]},{"name":"x","shape":[1],"datatype":"FP64","data":[1]}]}"#, None, "twice"),
            (br#"{"inputs":[{"name":"x","shape":[99999999999],"datatype":"FP64","data":[1]}]}"#, None, "at most"),
            (br#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","parameters":{"binary_data_size":8}}]}"#, Some(1000), "only"),
            (br#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","parameters":{"binary_data_size":8}}]}"#, None, "only 0 remain"),
            (br#"{"inputs":[{"name":"x","shape":[1],"datatype":"FP64","data":[1]}],"outputs":{}}"#, None, "must be a list"),
        ];
        for (body, header, want) in cases {
            let e = parse_request(body, *header).unwrap_err();
            assert_eq!(e.status, 400, "{}", String::from_utf8_lossy(body));
            assert!(
                e.message.contains(want),
                "{} → {}",
                String::from_utf8_lossy(body),
                e.message
            );
        }
        let deep = format!(
            r#"{{"inputs":[{{"name":"x","shape":[1],"datatype":"FP64","data":{}1{}}}]}}"#,
            "[".repeat(100),
            "]".repeat(100)
        );
        assert_eq!(
            parse_request(deep.as_bytes(), None).unwrap_err().status,
            400
        );
    }

    #[test]
    fn fp16_decodes() {
        assert_eq!(half_to_f64(0x3c00), 1.0);
        assert_eq!(half_to_f64(0xc000), -2.0);
        assert_eq!(half_to_f64(0x3555), 0.333251953125);
    }
}
