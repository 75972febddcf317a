//! Input validation against a model's signature (docs/serving.md, "Validation"): every request,
//! whatever its protocol, becomes a [`Table`] of named columns, and every cell is checked
//! against the field's type, its training range and categories before the model sees it.
//!
//! Rules, in the order they are checked for each cell:
//! - `missing`: a field of the signature absent from the request → rejected.
//! - `extra`: a field the model does not know → ignored (default) or rejected (`--extra reject`).
//! - `type`: a number where text is expected or the reverse → rejected.
//! - `null`: null or NaN → accepted and imputed when the training data had nulls in that
//!   column, rejected otherwise.
//! - `unseen_category`: a category not seen in training → rejected (a model trained with
//!   `unseen=ignore` accepts it, with a warning).
//! - `range`: a number below the training minimum or above the maximum → accepted, warned
//!   (default) or rejected, by the policy; the bounds are inclusive, so the minimum and the
//!   maximum themselves are in range. A model without recorded ranges (a bundle file) skips it.

use cairn_core::registry::InputColumn;
use cairn_core::{DataType, Frame, FrameColumn, FrameValues};
use serde::Serialize;

/// One cell of a request, before validation.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Null,
    Number(f64),
    Text(String),
    Bool(bool),
    /// Untyped text (a CSV field): a number for a numeric input, a category otherwise; empty is
    /// null.
    Raw(String),
    /// A list of scalars: one row of the ONNX graph's `features` tensor (see
    /// [`expand_features`]).
    List(Vec<Cell>),
    /// Anything else (a list, an object), named for the error.
    Other(&'static str),
}

impl Cell {
    pub fn from_json(v: &serde_json::Value) -> Cell {
        match v {
            serde_json::Value::Null => Cell::Null,
            serde_json::Value::Bool(b) => Cell::Bool(*b),
            serde_json::Value::Number(n) => {
                n.as_f64().map_or(Cell::Other("a number"), Cell::Number)
            }
            serde_json::Value::String(s) => Cell::Text(s.clone()),
            serde_json::Value::Array(items)
                if items.iter().all(|i| !i.is_array() && !i.is_object()) =>
            {
                Cell::List(items.iter().map(Cell::from_json).collect())
            }
            serde_json::Value::Array(_) => Cell::Other("a nested list"),
            serde_json::Value::Object(_) => Cell::Other("an object"),
        }
    }

    fn shown(&self) -> String {
        match self {
            Cell::Null => "null".into(),
            Cell::Number(x) => fmt_num(*x),
            Cell::Text(s) => format!("\"{}\"", truncate(s, 60)),
            Cell::Bool(b) => b.to_string(),
            Cell::Raw(s) => format!("\"{}\"", truncate(s, 60)),
            Cell::List(items) => format!("a list of {}", items.len()),
            Cell::Other(what) => (*what).to_string(),
        }
    }

    pub fn to_json(&self) -> serde_json::Value {
        match self {
            Cell::Null => serde_json::Value::Null,
            Cell::Number(x) => serde_json::Number::from_f64(*x)
                .map_or(serde_json::Value::Null, serde_json::Value::Number),
            Cell::Text(s) => s.clone().into(),
            Cell::Bool(b) => (*b).into(),
            Cell::Raw(s) => s.clone().into(),
            Cell::List(items) => items.iter().map(Cell::to_json).collect(),
            Cell::Other(w) => (*w).into(),
        }
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        format!("{}…", s.chars().take(n).collect::<String>())
    }
}

fn fmt_num(x: f64) -> String {
    if x.is_nan() {
        "NaN".into()
    } else {
        format!("{x}")
    }
}

/// A request's rows, column by column.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Table {
    pub rows: usize,
    pub columns: Vec<(String, Vec<Cell>)>,
}

impl Table {
    /// The table as MLflow's `dataframe_split` (`{"columns", "data"}`), as the request log keeps it.
    pub fn to_split_json(&self) -> serde_json::Value {
        let columns: Vec<&str> = self.columns.iter().map(|(n, _)| n.as_str()).collect();
        let data: Vec<serde_json::Value> = (0..self.rows)
            .map(|r| {
                serde_json::Value::Array(self.columns.iter().map(|(_, c)| c[r].to_json()).collect())
            })
            .collect();
        serde_json::json!({ "columns": columns, "data": data })
    }
}

/// The name of the exported ONNX graph's one input tensor.
pub const FEATURES: &str = "features";

/// A request that sends the ONNX graph's `features` tensor (one list per row, the layout the
/// bundle's MLflow model and ONNX model take) instead of one field per column: for a model
/// whose inputs are all numeric the tensor's columns are the inputs in order, so the table is
/// rewritten into them. Any other table is left as it is.
pub fn expand_features(inputs: &[InputColumn], table: &mut Table) -> Result<(), Problem> {
    let [(name, cells)] = table.columns.as_slice() else {
        return Ok(());
    };
    if name != FEATURES || inputs.iter().any(|c| c.name == FEATURES) {
        return Ok(());
    }
    if inputs.iter().any(|c| c.role != "numeric") {
        return Err(Problem {
            row: None,
            field: FEATURES.into(),
            value: None,
            rule: "type",
            message: "this model has categorical inputs; send one field per column (the                       `features` tensor is accepted only when every input is a number)"
                .into(),
        });
    }
    let k = inputs.len();
    let mut columns: Vec<(String, Vec<Cell>)> = inputs
        .iter()
        .map(|c| (c.name.clone(), Vec::with_capacity(table.rows)))
        .collect();
    for (r, cell) in cells.iter().enumerate() {
        let row: &[Cell] = match cell {
            Cell::List(items) => items,
            other => std::slice::from_ref(other),
        };
        if row.len() != k {
            return Err(Problem {
                row: Some(r + 1),
                field: FEATURES.into(),
                value: Some(cell.shown()),
                rule: "type",
                message: format!(
                    "a row of `features` holds {k} numbers ({}), this one holds {}",
                    inputs
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                    row.len()
                ),
            });
        }
        for (c, v) in row.iter().enumerate() {
            columns[c].1.push(v.clone());
        }
    }
    table.columns = columns;
    Ok(())
}

/// What to do with a number outside the training range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum RangePolicy {
    Accept,
    #[default]
    Warn,
    Reject,
}

/// What to do with a field the model does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ExtraPolicy {
    #[default]
    Ignore,
    Reject,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
pub struct Policy {
    pub out_of_range: RangePolicy,
    pub extra: ExtraPolicy,
    /// Whether categories not seen in training are let through (the model's `unseen=ignore`).
    pub unseen_ignored: bool,
}

impl RangePolicy {
    pub fn parse(s: &str) -> Result<RangePolicy, String> {
        match s {
            "accept" => Ok(RangePolicy::Accept),
            "warn" => Ok(RangePolicy::Warn),
            "reject" => Ok(RangePolicy::Reject),
            _ => Err(format!(
                "`{s}` is not a range policy; use accept, warn or reject"
            )),
        }
    }
}

impl ExtraPolicy {
    pub fn parse(s: &str) -> Result<ExtraPolicy, String> {
        match s {
            "ignore" => Ok(ExtraPolicy::Ignore),
            "reject" => Ok(ExtraPolicy::Reject),
            _ => Err(format!(
                "`{s}` is not an extra-field policy; use ignore or reject"
            )),
        }
    }
}

/// One problem with one cell (or a whole field when `row` is `None`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Problem {
    /// 1-based row of the request; `None` when the problem is the field's, not a row's.
    pub row: Option<usize>,
    pub field: String,
    pub value: Option<String>,
    /// `missing`, `extra`, `type`, `null`, `unseen_category`, `range`.
    pub rule: &'static str,
    pub message: String,
}

impl Problem {
    pub fn text(&self) -> String {
        let at = match self.row {
            Some(r) => format!("row {r}, field `{}`", self.field),
            None => format!("field `{}`", self.field),
        };
        format!("{at}: {} (rule: {})", self.message, self.rule)
    }
}

/// The outcome of validating a request.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Checked {
    pub frame: Frame,
    /// Problems that did not stop the request (out of range under `warn`, ignored extras).
    pub warnings: Vec<Problem>,
}

/// Problems reported per request before the rest are counted.
pub const MAX_PROBLEMS: usize = 50;

/// Validates `table` against `inputs`; `Err` carries every problem that rejects it (at most
/// [`MAX_PROBLEMS`] of them, then how many more).
pub fn validate(
    inputs: &[InputColumn],
    table: &Table,
    policy: &Policy,
) -> Result<Checked, (Vec<Problem>, usize)> {
    let mut errors: Vec<Problem> = Vec::new();
    let mut more = 0usize;
    let mut warnings = Vec::new();
    let mut push = |errors: &mut Vec<Problem>, p: Problem| {
        if errors.len() < MAX_PROBLEMS {
            errors.push(p);
        } else {
            more += 1;
        }
    };
    for (name, _) in &table.columns {
        if !inputs.iter().any(|c| &c.name == name) {
            let p = Problem {
                row: None,
                field: name.clone(),
                value: None,
                rule: "extra",
                message: format!(
                    "the model has no input `{name}`; its inputs are {}",
                    inputs
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            };
            match policy.extra {
                ExtraPolicy::Ignore => warnings.push(p),
                ExtraPolicy::Reject => push(&mut errors, p),
            }
        }
    }
    let mut columns = Vec::with_capacity(inputs.len());
    for input in inputs {
        let Some((_, cells)) = table.columns.iter().find(|(n, _)| n == &input.name) else {
            push(
                &mut errors,
                Problem {
                    row: None,
                    field: input.name.clone(),
                    value: None,
                    rule: "missing",
                    message: format!(
                        "missing; the model needs {} for every row",
                        if input.role == "numeric" {
                            "a number"
                        } else {
                            "a text category"
                        }
                    ),
                },
            );
            continue;
        };
        let numeric = input.role == "numeric";
        let mut nums = Vec::with_capacity(if numeric { table.rows } else { 0 });
        let mut texts = Vec::with_capacity(if numeric { 0 } else { table.rows });
        for (r, cell) in cells.iter().enumerate() {
            let typed;
            let cell = match cell {
                Cell::Raw(s) if s.trim().is_empty() => &Cell::Null,
                Cell::Raw(s) if numeric => {
                    typed = s
                        .trim()
                        .parse::<f64>()
                        .map_or_else(|_| cell.clone(), Cell::Number);
                    &typed
                }
                Cell::Raw(s) => {
                    typed = Cell::Text(s.clone());
                    &typed
                }
                other => other,
            };
            let problem = |rule: &'static str, message: String| Problem {
                row: Some(r + 1),
                field: input.name.clone(),
                value: Some(cell.shown()),
                rule,
                message,
            };
            let is_null =
                matches!(cell, Cell::Null) || matches!(cell, Cell::Number(x) if x.is_nan());
            if is_null {
                if input.nulls_seen {
                    nums.push(None);
                    texts.push(None);
                } else {
                    push(
                        &mut errors,
                        problem(
                            "null",
                            format!(
                                "{} is not allowed: the training data had no missing values in \
                                 this column, so the model has no fallback learnt for it",
                                cell.shown()
                            ),
                        ),
                    );
                }
                continue;
            }
            if numeric {
                let x = match cell {
                    Cell::Number(x) => *x,
                    Cell::Bool(b) => f64::from(u8::from(*b)),
                    other => {
                        push(
                            &mut errors,
                            problem("type", format!("expected a number, got {}", other.shown())),
                        );
                        continue;
                    }
                };
                if !x.is_finite() {
                    push(
                        &mut errors,
                        problem("type", "infinity is not a number the model can use".into()),
                    );
                    continue;
                }
                if let (Some(lo), Some(hi)) = (input.min, input.max)
                    && (x < lo || x > hi)
                    && policy.out_of_range != RangePolicy::Accept
                {
                    let p = problem(
                        "range",
                        format!(
                            "{} is {} the training {} {} (the range seen in training is [{}, {}], \
                             bounds included)",
                            fmt_num(x),
                            if x < lo { "below" } else { "above" },
                            if x < lo { "minimum" } else { "maximum" },
                            fmt_num(if x < lo { lo } else { hi }),
                            fmt_num(lo),
                            fmt_num(hi)
                        ),
                    );
                    if policy.out_of_range == RangePolicy::Reject {
                        push(&mut errors, p);
                        continue;
                    }
                    warnings.push(p);
                }
                nums.push(Some(x));
            } else {
                let s = match cell {
                    Cell::Text(s) => s.clone(),
                    other => {
                        push(
                            &mut errors,
                            problem(
                                "type",
                                format!("expected a text category, got {}", other.shown()),
                            ),
                        );
                        continue;
                    }
                };
                if !input.categories.is_empty() && !input.categories.iter().any(|c| c == &s) {
                    let shown: Vec<&str> = input
                        .categories
                        .iter()
                        .take(20)
                        .map(String::as_str)
                        .collect();
                    let p = problem(
                        "unseen_category",
                        format!(
                            "the category was not seen in training; known: {}{}",
                            shown.join(", "),
                            if input.categories.len() > 20 {
                                ", …"
                            } else {
                                ""
                            }
                        ),
                    );
                    if !policy.unseen_ignored {
                        push(&mut errors, p);
                        continue;
                    }
                    warnings.push(p);
                }
                texts.push(Some(s));
            }
        }
        columns.push(if numeric {
            FrameColumn {
                name: input.name.clone(),
                dtype: DataType::Float,
                values: FrameValues::Numeric(nums),
            }
        } else {
            FrameColumn {
                name: input.name.clone(),
                dtype: DataType::String,
                values: FrameValues::Text(texts),
            }
        });
    }
    if !errors.is_empty() {
        return Err((errors, more));
    }
    Ok(Checked {
        frame: Frame { columns },
        warnings,
    })
}

/// The message of a rejected request: every problem (up to the limit), then how many more.
pub fn problems_message(problems: &[Problem], more: usize) -> String {
    let mut s = format!(
        "the input does not match the model's signature: {}",
        problems
            .iter()
            .map(Problem::text)
            .collect::<Vec<_>>()
            .join("; ")
    );
    if more > 0 {
        s.push_str(&format!("; and {more} more problems"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    fn num(name: &str, min: f64, max: f64, nulls: bool) -> InputColumn {
        InputColumn {
            name: name.into(),
            dtype: "float64".into(),
            role: "numeric".into(),
            min: Some(min),
            max: Some(max),
            categories: vec![],
            nulls_seen: nulls,
        }
    }

    fn cat(name: &str, cats: &[&str]) -> InputColumn {
        InputColumn {
            name: name.into(),
            dtype: "string".into(),
            role: "categorical".into(),
            min: None,
            max: None,
            categories: cats.iter().map(|c| c.to_string()).collect(),
            nulls_seen: false,
        }
    }

    fn table(cols: Vec<(&str, Vec<Cell>)>) -> Table {
        Table {
            rows: cols[0].1.len(),
            columns: cols.into_iter().map(|(n, c)| (n.to_string(), c)).collect(),
        }
    }

    fn sig() -> Vec<InputColumn> {
        vec![
            num("x", 1.0, 5.0, false),
            num("y", 0.0, 1.0, true),
            cat("c", &["a", "b"]),
        ]
    }

    fn check(t: Table, policy: Policy) -> Result<Checked, (Vec<Problem>, usize)> {
        validate(&sig(), &t, &policy)
    }

    fn ok_row(x: Cell, y: Cell, c: Cell) -> Table {
        table(vec![("x", vec![x]), ("y", vec![y]), ("c", vec![c])])
    }

    #[test]
    fn every_class_of_input_gets_its_documented_answer() {
        use Cell::*;
        let reject = Policy {
            out_of_range: RangePolicy::Reject,
            ..Policy::default()
        };
        // In range.
        let c = check(ok_row(Number(3.0), Number(0.5), Text("a".into())), reject).unwrap();
        assert!(c.warnings.is_empty());
        // Exactly at the minimum and maximum: accepted even under reject.
        for x in [1.0, 5.0] {
            assert!(check(ok_row(Number(x), Number(0.0), Text("b".into())), reject).is_ok());
        }
        // Out of range: rejected under reject, warned under warn, silent under accept.
        let (p, _) = check(ok_row(Number(5.5), Number(0.5), Text("a".into())), reject).unwrap_err();
        assert_eq!(
            (p[0].row, p[0].field.as_str(), p[0].rule),
            (Some(1), "x", "range")
        );
        assert!(
            p[0].text().contains("5.5 is above the training maximum 5"),
            "{}",
            p[0].text()
        );
        let w = check(
            ok_row(Number(0.5), Number(0.5), Text("a".into())),
            Policy::default(),
        );
        assert_eq!(w.unwrap().warnings[0].rule, "range");
        let a = Policy {
            out_of_range: RangePolicy::Accept,
            ..Policy::default()
        };
        assert!(
            check(ok_row(Number(99.0), Number(0.5), Text("a".into())), a)
                .unwrap()
                .warnings
                .is_empty()
        );
        // Missing field.
        let (p, _) = check(
            table(vec![
                ("x", vec![Number(2.0)]),
                ("c", vec![Text("a".into())]),
            ]),
            reject,
        )
        .unwrap_err();
        assert_eq!(
            (p[0].row, p[0].field.as_str(), p[0].rule),
            (None, "y", "missing")
        );
        // Null where training had none; NaN likewise; null where it had some → imputed.
        for bad in [Null, Number(f64::NAN)] {
            let (p, _) = check(ok_row(bad, Number(0.5), Text("a".into())), reject).unwrap_err();
            assert_eq!(p[0].rule, "null");
        }
        let c = check(ok_row(Number(2.0), Null, Text("a".into())), reject).unwrap();
        assert_eq!(c.frame.columns[1].values, FrameValues::Numeric(vec![None]));
        // Unseen category.
        let (p, _) = check(ok_row(Number(2.0), Number(0.5), Text("z".into())), reject).unwrap_err();
        assert_eq!((p[0].field.as_str(), p[0].rule), ("c", "unseen_category"));
        assert!(p[0].text().contains("known: a, b"));
        // Wrong types.
        let (p, _) = check(ok_row(Text("3".into()), Number(0.5), Number(1.0)), reject).unwrap_err();
        assert_eq!(
            p.iter().map(|p| p.rule).collect::<Vec<_>>(),
            ["type", "type"]
        );
        // Infinity.
        let (p, _) = check(
            ok_row(Number(f64::INFINITY), Number(0.5), Text("a".into())),
            reject,
        )
        .unwrap_err();
        assert_eq!(p[0].rule, "type");
        // Extra field: ignored with a warning, or rejected.
        let mut t = ok_row(Number(2.0), Number(0.5), Text("a".into()));
        t.columns.push(("zzz".into(), vec![Number(1.0)]));
        assert_eq!(check(t.clone(), reject).unwrap().warnings[0].rule, "extra");
        let strict = Policy {
            extra: ExtraPolicy::Reject,
            ..reject
        };
        assert_eq!(check(t, strict).unwrap_err().0[0].rule, "extra");
    }

    #[test]
    fn many_bad_rows_are_each_reported_up_to_the_limit() {
        let n = 120;
        let t = table(vec![
            (
                "x",
                (0..n)
                    .map(|i| Cell::Number(if i % 2 == 0 { 3.0 } else { 9.0 }))
                    .collect(),
            ),
            ("y", vec![Cell::Number(0.5); n]),
            ("c", vec![Cell::Text("a".into()); n]),
        ]);
        let reject = Policy {
            out_of_range: RangePolicy::Reject,
            ..Policy::default()
        };
        let (p, more) = check(t, reject).unwrap_err();
        assert_eq!(p.len(), MAX_PROBLEMS);
        assert_eq!(more, 60 - MAX_PROBLEMS);
        assert_eq!(p[0].row, Some(2));
        assert_eq!(p[1].row, Some(4));
        assert!(problems_message(&p, more).ends_with("and 10 more problems"));
    }
}
