//! MLflow's scoring protocol (`POST /invocations`, SPECS.md): a JSON body with exactly one of
//! `dataframe_split`, `dataframe_records`, `instances` or `inputs` (and optional `params`), or a
//! `text/csv` body with a header row. A classifier answers one record per row —
//! `prediction` (the class), `probability` (of that class) and `proba_<class>` — the columns
//! `cairn predict` writes; a regressor answers the list of values.

use crate::ServeError;
use crate::kserve::argmax;
use crate::model::{ModelInfo, Prediction, Task};
use crate::validate::{Cell, Table};
use serde_json::{Map, Value, json};

/// The request's content type as the scoring server accepts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

/// Reads the `Content-Type` header: `application/json` or `text/csv`, UTF-8 only; anything
/// else is 415.
pub fn content_type(header: Option<&str>) -> Result<Format, ServeError> {
    let unsupported = |what: String| ServeError {
        status: 415,
        message: what,
    };
    let Some(h) = header else {
        return Err(unsupported(
            "the request has no Content-Type; send application/json or text/csv".into(),
        ));
    };
    let mut parts = h.split(';').map(str::trim);
    let mime = parts.next().unwrap_or("").to_ascii_lowercase();
    for p in parts {
        let (k, v) = p.split_once('=').unwrap_or((p, ""));
        let v = v.trim_matches('"').to_ascii_lowercase();
        if k.trim().eq_ignore_ascii_case("charset") {
            if v != "utf-8" && v != "utf8" {
                return Err(unsupported(format!(
                    "the charset `{v}` is not supported; send UTF-8"
                )));
            }
        } else {
            return Err(unsupported(format!(
                "the content type parameter `{}` is not supported",
                k.trim()
            )));
        }
    }
    match mime.as_str() {
        "application/json" => Ok(Format::Json),
        "text/csv" => Ok(Format::Csv),
        other => Err(unsupported(format!(
            "this predictor only supports the content types application/json and text/csv, not `{other}`"
        ))),
    }
}

fn bad(message: impl Into<String>) -> ServeError {
    ServeError::bad_request(message)
}

/// Parses a scoring request into a table.
pub fn parse(body: &[u8], format: Format) -> Result<Table, ServeError> {
    match format {
        Format::Csv => parse_csv(body),
        Format::Json => parse_json(body),
    }
}

fn parse_csv(body: &[u8]) -> Result<Table, ServeError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        bad(format!(
            "the CSV body is not UTF-8 (at byte {})",
            e.valid_up_to()
        ))
    })?;
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(true)
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = reader
        .headers()
        .map_err(|e| bad(format!("the CSV header row does not read: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    if headers.is_empty() || headers.iter().all(String::is_empty) {
        return Err(bad("the CSV body has no header row of column names"));
    }
    let mut columns: Vec<(String, Vec<Cell>)> =
        headers.iter().map(|h| (h.clone(), Vec::new())).collect();
    let mut rows = 0;
    for (i, rec) in reader.records().enumerate() {
        let rec = rec.map_err(|e| bad(format!("CSV line {}: {e}", i + 2)))?;
        if rec.len() != headers.len() {
            return Err(bad(format!(
                "CSV line {}: {} fields, the header has {}",
                i + 2,
                rec.len(),
                headers.len()
            )));
        }
        for (c, field) in rec.iter().enumerate() {
            columns[c].1.push(Cell::Raw(field.to_string()));
        }
        rows += 1;
    }
    if rows == 0 {
        return Err(bad("the CSV body has a header but no rows"));
    }
    Ok(Table { rows, columns })
}

fn from_records(records: &[Value], what: &str) -> Result<Table, ServeError> {
    if records.is_empty() {
        return Err(bad(format!("`{what}` is empty")));
    }
    let mut names: Vec<String> = Vec::new();
    for (i, r) in records.iter().enumerate() {
        let o = r
            .as_object()
            .ok_or_else(|| bad(format!("`{what}`[{i}] must be an object of column → value")))?;
        for k in o.keys() {
            if !names.contains(k) {
                names.push(k.clone());
            }
        }
    }
    let columns = names
        .iter()
        .map(|n| {
            let cells = records
                .iter()
                .map(|r| r.get(n).map_or(Cell::Other("absent"), Cell::from_json))
                .collect();
            (n.clone(), cells)
        })
        .collect::<Vec<(String, Vec<Cell>)>>();
    // A field absent from some records is missing there: reported per row by the validator as
    // a wrong value, so name it plainly.
    for (n, cells) in &columns {
        if let Some(r) = cells.iter().position(|c| *c == Cell::Other("absent")) {
            return Err(bad(format!(
                "`{what}`[{r}] has no field `{n}`; every record needs every input field"
            )));
        }
    }
    Ok(Table {
        rows: records.len(),
        columns,
    })
}

fn from_columns(cols: &Map<String, Value>, what: &str) -> Result<Table, ServeError> {
    let mut rows = None;
    let mut columns = Vec::new();
    for (name, v) in cols {
        let cells: Vec<Cell> = match v {
            Value::Array(items) => items.iter().map(Cell::from_json).collect(),
            scalar => vec![Cell::from_json(scalar)],
        };
        if let Some(r) = rows
            && r != cells.len()
        {
            return Err(bad(format!(
                "`{what}`: column `{name}` has {} values, the columns before it {r}",
                cells.len()
            )));
        }
        rows = Some(cells.len());
        columns.push((name.clone(), cells));
    }
    Ok(Table {
        rows: rows.unwrap_or(0),
        columns,
    })
}

fn parse_json(body: &[u8]) -> Result<Table, ServeError> {
    let v: Value = serde_json::from_slice(body)
        .map_err(|e| bad(format!("the request is not valid JSON: {e}")))?;
    let Value::Object(obj) = v else {
        return Err(bad(
            "the request must be a JSON object with one of the keys dataframe_split, \
             dataframe_records, instances, inputs",
        ));
    };
    const KEYS: [&str; 4] = [
        "dataframe_split",
        "dataframe_records",
        "instances",
        "inputs",
    ];
    let given: Vec<&str> = KEYS
        .iter()
        .copied()
        .filter(|k| obj.contains_key(*k))
        .collect();
    let unknown: Vec<&String> = obj
        .keys()
        .filter(|k| !KEYS.contains(&k.as_str()) && *k != "params")
        .collect();
    if given.len() != 1 || !unknown.is_empty() {
        return Err(bad(format!(
            "the request must have exactly one of the keys dataframe_split, dataframe_records, \
             instances, inputs{}",
            if given.len() > 1 {
                format!("; it has {}", given.join(", "))
            } else if !unknown.is_empty() {
                format!(
                    "; unknown keys: {}",
                    unknown
                        .iter()
                        .map(|k| k.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                )
            } else {
                String::new()
            }
        )));
    }
    let key = given[0];
    let table = match (key, &obj[key]) {
        ("dataframe_split", Value::Object(split)) => {
            let columns: Vec<String> = split
                .get("columns")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("`dataframe_split` needs `columns`, a list of column names"))?
                .iter()
                .map(|c| c.as_str().map(str::to_string))
                .collect::<Option<_>>()
                .ok_or_else(|| bad("`dataframe_split.columns` must be a list of names"))?;
            let data = split
                .get("data")
                .and_then(Value::as_array)
                .ok_or_else(|| bad("`dataframe_split` needs `data`, a list of rows"))?;
            let mut cols: Vec<(String, Vec<Cell>)> = columns
                .iter()
                .map(|c| (c.clone(), Vec::with_capacity(data.len())))
                .collect();
            for (i, row) in data.iter().enumerate() {
                let row = row.as_array().ok_or_else(|| {
                    bad(format!(
                        "`dataframe_split.data`[{i}] must be a list of values"
                    ))
                })?;
                if row.len() != columns.len() {
                    return Err(bad(format!(
                        "`dataframe_split.data`[{i}] has {} values for {} columns",
                        row.len(),
                        columns.len()
                    )));
                }
                for (c, v) in row.iter().enumerate() {
                    cols[c].1.push(Cell::from_json(v));
                }
            }
            if data.is_empty() {
                return Err(bad("`dataframe_split.data` is empty"));
            }
            Table {
                rows: data.len(),
                columns: cols,
            }
        }
        ("dataframe_split", _) => {
            return Err(bad(
                "`dataframe_split` must be an object {\"columns\", \"data\"}",
            ));
        }
        ("dataframe_records", Value::Array(records)) => from_records(records, key)?,
        ("dataframe_records", _) => {
            return Err(bad("`dataframe_records` must be a list of objects"));
        }
        (_, Value::Array(items)) => from_records(items, key)?,
        (_, Value::Object(cols)) => from_columns(cols, key)?,
        (_, _) => {
            return Err(bad(format!(
                "`{key}` must be a list of records or an object of column → values"
            )));
        }
    };
    if table.rows == 0 {
        return Err(bad(format!("`{key}` holds no rows")));
    }
    Ok(table)
}

/// The `{"predictions": …}` answer.
pub fn response(info: &ModelInfo, prediction: &Prediction, rows: usize) -> Value {
    let predictions = match (prediction, &info.task) {
        (Prediction::Classes { proba }, Task::Classification { classes }) => {
            let k = classes.len();
            Value::Array(
                (0..rows)
                    .map(|i| {
                        let row = &proba[i * k..(i + 1) * k];
                        let best = argmax(row);
                        let mut o = Map::new();
                        o.insert("prediction".into(), classes[best].clone().into());
                        o.insert("probability".into(), json!(row[best]));
                        for (c, p) in classes.iter().zip(row) {
                            o.insert(format!("proba_{c}"), json!(p));
                        }
                        Value::Object(o)
                    })
                    .collect(),
            )
        }
        (Prediction::Values { values }, _) => json!(values),
        (Prediction::Classes { proba }, _) => json!(proba),
    };
    json!({ "predictions": predictions })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_four_json_formats_and_csv_give_one_table() {
        let split = br#"{"dataframe_split":{"columns":["x","c"],"data":[[1,"a"],[2,"b"]]}}"#;
        // Column order follows each format's own (JSON objects' keys come sorted); the server
        // finds columns by name, so compare them sorted.
        let sorted = |mut t: Table| {
            t.columns.sort_by(|a, b| a.0.cmp(&b.0));
            t
        };
        let want = sorted(parse(split, Format::Json).unwrap());
        for body in [
            br#"{"dataframe_records":[{"x":1,"c":"a"},{"x":2,"c":"b"}]}"#.as_slice(),
            br#"{"instances":[{"x":1,"c":"a"},{"x":2,"c":"b"}]}"#,
            br#"{"inputs":{"x":[1,2],"c":["a","b"]}}"#,
            br#"{"inputs":[{"x":1,"c":"a"},{"x":2,"c":"b"}], "params": {}}"#,
        ] {
            assert_eq!(
                sorted(parse(body, Format::Json).unwrap()),
                want,
                "{}",
                String::from_utf8_lossy(body)
            );
        }
        let csv = parse(b"x,c\n1,a\n2,b\n", Format::Csv).unwrap();
        assert_eq!(csv.rows, 2);
        assert_eq!(csv.columns[0].1[0], Cell::Raw("1".into()));
    }

    #[test]
    fn hostile_bodies_and_content_types() {
        for (body, want) in [
            (b"{".as_slice(), "not valid JSON"),
            (b"[]", "must be a JSON object"),
            (b"{}", "exactly one"),
            (
                br#"{"inputs":[],"instances":[]}"#,
                "it has instances, inputs",
            ),
            (br#"{"foo":1}"#, "unknown keys: foo"),
            (
                br#"{"dataframe_split":{"columns":["x"],"data":[[1,2]]}}"#,
                "2 values for 1 columns",
            ),
            (br#"{"dataframe_split":{"columns":["x"]}}"#, "needs `data`"),
            (br#"{"dataframe_split":[1]}"#, "must be an object"),
            (br#"{"dataframe_records":[1]}"#, "must be an object"),
            (
                br#"{"dataframe_records":[{"x":1},{"y":2}]}"#,
                "has no field",
            ),
            (
                br#"{"inputs":{"x":[1,2],"c":["a"]}}"#,
                "has 2 values, the columns before it 1",
            ),
            (br#"{"inputs":3}"#, "must be a list"),
            (br#"{"instances":[]}"#, "is empty"),
        ] {
            let e = parse(body, Format::Json).unwrap_err();
            assert_eq!(e.status, 400);
            assert!(
                e.message.contains(want),
                "{} → {}",
                String::from_utf8_lossy(body),
                e.message
            );
        }
        for (body, want) in [
            (b"".as_slice(), "no header"),
            (b"x,c\n", "no rows"),
            (b"x,c\n1\n", "line 2: 1 fields"),
            (b"x\n\xff\n", "not UTF-8"),
        ] {
            let e = parse(body, Format::Csv).unwrap_err();
            assert!(e.message.contains(want), "{:?} → {}", body, e.message);
        }
        assert_eq!(
            content_type(Some("application/json; charset=utf-8")).unwrap(),
            Format::Json
        );
        assert_eq!(content_type(Some("text/csv")).unwrap(), Format::Csv);
        for bad in [
            None,
            Some("text/plain"),
            Some("application/json; charset=latin-1"),
            Some("text/csv; foo=1"),
        ] {
            assert_eq!(content_type(bad).unwrap_err().status, 415, "{bad:?}");
        }
    }
}
