//! `cairn validate NAME@N [--cases FILE]` (docs/serving.md, "Validation"): the four classes of
//! input the deployment checklist names — in range, out of range, missing, boundary — plus null,
//! unseen category and wrong type, generated from the version's signature (or read from a file),
//! each put through the server's own validator and model, with what the model answers.

use crate::{AppError, Result, WorkspaceDir};
use cairn_core::registry::InputColumn;
use cairn_serve::{Cell, Policy, Prediction, Predictor, RangePolicy, Table, Task};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// One input row to try, with what a correct server does with it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ts_rs::TS)]
pub struct ValidationCase {
    /// `in_range`, `out_of_range`, `missing`, `boundary`, `null`, `unseen_category`,
    /// `wrong_type`, or any word a cases file uses.
    pub class: String,
    /// What the case is, in words (`sepal_length above the training maximum`).
    pub name: String,
    /// Field → value; a field left out is missing.
    #[ts(type = "Record<string, unknown>")]
    pub row: serde_json::Map<String, serde_json::Value>,
    /// `accept`, `warn` or `reject`; absent in a cases file: not checked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<String>,
}

/// What the server did with one case.
#[derive(Debug, Clone, PartialEq, Serialize, ts_rs::TS)]
pub struct CaseOutcome {
    pub case: ValidationCase,
    /// `accept`, `warn` (answered, with warnings) or `reject` (a 400).
    pub got: String,
    /// HTTP status the server gives it: 200 or 400 (500 when the model fails).
    pub status: u16,
    /// Whether `got` is what the case expects (`None` when it expects nothing).
    pub as_expected: Option<bool>,
    pub problems: Vec<String>,
    pub warnings: Vec<String>,
    /// The model's answer: `{"label", "probabilities"}` or `{"value"}`.
    #[ts(type = "unknown")]
    pub prediction: Option<serde_json::Value>,
}

fn numeric(c: &InputColumn) -> bool {
    c.role == "numeric"
}

fn integral(c: &InputColumn) -> bool {
    c.dtype.starts_with("int") || c.dtype.starts_with("uint")
}

fn number(c: &InputColumn, x: f64) -> serde_json::Value {
    if integral(c) && x.fract() == 0.0 && x.abs() < 9.0e15 {
        serde_json::Value::from(x as i64)
    } else {
        serde_json::Number::from_f64(x).map_or(serde_json::Value::Null, serde_json::Value::Number)
    }
}

/// A value inside the training range (the middle, rounded for integer columns) or a seen
/// category.
fn typical(c: &InputColumn) -> serde_json::Value {
    if numeric(c) {
        let x = match (c.min, c.max) {
            (Some(lo), Some(hi)) => {
                let mid = lo + (hi - lo) / 2.0;
                if integral(c) {
                    mid.round().clamp(lo, hi)
                } else {
                    mid
                }
            }
            (Some(v), None) | (None, Some(v)) => v,
            (None, None) => 0.0,
        };
        number(c, x)
    } else {
        c.categories
            .first()
            .map_or_else(|| serde_json::Value::from("a"), |s| s.clone().into())
    }
}

/// The cases `cairn validate` generates for a signature, given the range policy the server uses.
pub fn generate_cases(inputs: &[InputColumn], policy: &Policy) -> Vec<ValidationCase> {
    let base: serde_json::Map<String, serde_json::Value> = inputs
        .iter()
        .map(|c| (c.name.clone(), typical(c)))
        .collect();
    let with = |field: &str, v: serde_json::Value| {
        let mut row = base.clone();
        row.insert(field.to_string(), v);
        row
    };
    let out_of_range = match policy.out_of_range {
        RangePolicy::Accept => "accept",
        RangePolicy::Warn => "warn",
        RangePolicy::Reject => "reject",
    };
    let case = |class: &str, name: String, row, expect: &str| ValidationCase {
        class: class.into(),
        name,
        row,
        expect: Some(expect.into()),
    };
    let mut cases = vec![case(
        "in_range",
        "every field at a typical training value".into(),
        base.clone(),
        "accept",
    )];
    let ranged: Vec<&InputColumn> = inputs
        .iter()
        .filter(|c| numeric(c) && c.min.is_some() && c.max.is_some())
        .collect();
    if !ranged.is_empty() {
        let at = |pick: fn(&InputColumn) -> f64| {
            let mut row = base.clone();
            for c in &ranged {
                row.insert(c.name.clone(), number(c, pick(c)));
            }
            row
        };
        cases.push(case(
            "boundary",
            "every numeric field exactly at its training minimum".into(),
            at(|c| c.min.unwrap_or(0.0)),
            "accept",
        ));
        cases.push(case(
            "boundary",
            "every numeric field exactly at its training maximum".into(),
            at(|c| c.max.unwrap_or(0.0)),
            "accept",
        ));
    }
    for c in &ranged {
        let (lo, hi) = (c.min.unwrap_or(0.0), c.max.unwrap_or(0.0));
        let step = if hi > lo { (hi - lo).max(1.0) } else { 1.0 };
        cases.push(case(
            "out_of_range",
            format!("{} above the training maximum ({})", c.name, hi),
            with(&c.name, number(c, hi + step)),
            out_of_range,
        ));
        cases.push(case(
            "out_of_range",
            format!("{} below the training minimum ({})", c.name, lo),
            with(&c.name, number(c, lo - step)),
            out_of_range,
        ));
    }
    for c in inputs {
        let mut row = base.clone();
        row.remove(&c.name);
        cases.push(case(
            "missing",
            format!("{} left out", c.name),
            row,
            "reject",
        ));
    }
    for c in inputs {
        cases.push(case(
            "null",
            format!("{} null", c.name),
            with(&c.name, serde_json::Value::Null),
            if c.nulls_seen { "accept" } else { "reject" },
        ));
    }
    for c in inputs.iter().filter(|c| !numeric(c)) {
        cases.push(case(
            "unseen_category",
            format!("{} a category training never saw", c.name),
            with(&c.name, "__never_seen__".into()),
            if policy.unseen_ignored {
                "warn"
            } else {
                "reject"
            },
        ));
    }
    if let Some(c) = inputs.iter().find(|c| numeric(c)) {
        cases.push(case(
            "wrong_type",
            format!("{} as text", c.name),
            with(&c.name, "not a number".into()),
            "reject",
        ));
    }
    cases
}

/// Reads cases from a JSON array or JSON lines, naming the line of a bad one.
pub fn read_cases(path: &Path) -> Result<Vec<ValidationCase>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| AppError::io(format!("reading {}", path.display()), e))?;
    let bad = |line: usize, e: serde_json::Error| {
        AppError::invalid(format!(
            "{}:{line}:{}: not a case ({e}); each case is {{\"class\": \"boundary\", \"name\": \
             \"…\", \"row\": {{\"field\": value, …}}, \"expect\": \"accept\"}} (expect optional)",
            path.display(),
            e.column()
        ))
    };
    if text.trim_start().starts_with('[') {
        return serde_json::from_str(&text).map_err(|e| bad(e.line(), e));
    }
    let mut cases = Vec::new();
    for (i, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        cases.push(serde_json::from_str(line).map_err(|e| bad(i + 1, e))?);
    }
    if cases.is_empty() {
        return Err(AppError::invalid(format!(
            "{} holds no cases; write one JSON object per line or a JSON array",
            path.display()
        )));
    }
    Ok(cases)
}

/// Runs one case through the validator and the model, as the server would.
pub fn run_case(model: &dyn Predictor, policy: &Policy, case: ValidationCase) -> CaseOutcome {
    let info = model.info();
    let table = Table {
        rows: 1,
        columns: case
            .row
            .iter()
            .map(|(k, v)| (k.clone(), vec![Cell::from_json(v)]))
            .collect(),
    };
    let policy = Policy {
        unseen_ignored: info.unseen_ignored,
        ..*policy
    };
    let (got, status, problems, warnings, prediction) =
        match cairn_serve::validate::validate(&info.inputs, &table, &policy) {
            Err((problems, more)) => {
                let mut p: Vec<String> = problems.iter().map(|p| p.text()).collect();
                if more > 0 {
                    p.push(format!("and {more} more"));
                }
                ("reject", 400, p, Vec::new(), None)
            }
            Ok(checked) => {
                let warnings: Vec<String> = checked
                    .warnings
                    .iter()
                    .filter(|w| w.rule != "extra")
                    .map(|w| w.text())
                    .collect();
                match model.predict(&checked.frame) {
                    Ok(scored) => {
                        let answer = match (&scored.prediction, &info.task) {
                            (Prediction::Classes { proba }, Task::Classification { classes }) => {
                                let best = proba
                                    .iter()
                                    .enumerate()
                                    .fold(
                                        (0, f64::MIN),
                                        |b, (i, &p)| if p > b.1 { (i, p) } else { b },
                                    )
                                    .0;
                                serde_json::json!({
                                    "label": classes.get(best).cloned().unwrap_or_default(),
                                    "probabilities": proba,
                                })
                            }
                            (Prediction::Values { values }, _) => {
                                serde_json::json!({ "value": values.first() })
                            }
                            (Prediction::Classes { proba }, _) => {
                                serde_json::json!({ "probabilities": proba })
                            }
                        };
                        let got = if warnings.is_empty() {
                            "accept"
                        } else {
                            "warn"
                        };
                        (got, 200, Vec::new(), warnings, Some(answer))
                    }
                    Err(e) => (
                        "reject",
                        500,
                        vec![format!("the model failed: {e}")],
                        warnings,
                        None,
                    ),
                }
            }
        };
    CaseOutcome {
        as_expected: case.expect.as_deref().map(|e| e == got),
        case,
        got: got.into(),
        status,
        problems,
        warnings,
        prediction,
    }
}

impl WorkspaceDir {
    /// `cairn validate`: the cases (generated from the signature, or `cases`), each with what
    /// the model served under `policy` does with it.
    pub fn validate_model(
        &self,
        target: &str,
        cases: Option<&Path>,
        policy: &Policy,
    ) -> Result<Vec<CaseOutcome>> {
        let model = crate::serving::load_one(self, target)?;
        let cases = match cases {
            Some(p) => read_cases(p)?,
            None => generate_cases(
                &model.info().inputs,
                &Policy {
                    unseen_ignored: model.info().unseen_ignored,
                    ..*policy
                },
            ),
        };
        Ok(cases
            .into_iter()
            .map(|c| run_case(&model, policy, c))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn col(name: &str, role: &str, dtype: &str, min: Option<f64>, max: Option<f64>) -> InputColumn {
        InputColumn {
            name: name.into(),
            dtype: dtype.into(),
            role: role.into(),
            min,
            max,
            categories: if role == "categorical" {
                vec!["x".into(), "y".into()]
            } else {
                vec![]
            },
            nulls_seen: false,
        }
    }

    #[test]
    fn generated_cases_cover_the_four_classes_and_expect_what_the_validator_does() {
        let inputs = vec![
            col("a", "numeric", "float64", Some(1.0), Some(3.0)),
            col("n", "numeric", "int64", Some(0.0), Some(9.0)),
            col("c", "categorical", "string", None, None),
        ];
        for range in [RangePolicy::Accept, RangePolicy::Warn, RangePolicy::Reject] {
            let policy = Policy {
                out_of_range: range,
                ..Policy::default()
            };
            let cases = generate_cases(&inputs, &policy);
            for class in [
                "in_range",
                "out_of_range",
                "missing",
                "boundary",
                "null",
                "unseen_category",
            ] {
                assert!(cases.iter().any(|c| c.class == class), "{class}");
            }
            for case in cases {
                let table = Table {
                    rows: 1,
                    columns: case
                        .row
                        .iter()
                        .map(|(k, v)| (k.clone(), vec![Cell::from_json(v)]))
                        .collect(),
                };
                let got = match cairn_serve::validate::validate(&inputs, &table, &policy) {
                    Err(_) => "reject",
                    Ok(c) if c.warnings.iter().any(|w| w.rule != "extra") => "warn",
                    Ok(_) => "accept",
                };
                assert_eq!(
                    Some(got),
                    case.expect.as_deref(),
                    "{}: {:?}",
                    case.name,
                    case.row
                );
            }
        }
        let cases = generate_cases(&inputs, &Policy::default());
        let max = cases
            .iter()
            .find(|c| c.name.contains("maximum") && c.class == "boundary")
            .unwrap();
        assert_eq!(max.row["a"], serde_json::json!(3.0));
        assert_eq!(max.row["n"], serde_json::json!(9));
    }

    #[test]
    fn a_bad_cases_file_names_its_line() {
        let dir = std::env::temp_dir().join(format!("cairn-cases-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let p = dir.join("cases.jsonl");
        std::fs::write(
            &p,
            "{\"class\":\"x\",\"name\":\"n\",\"row\":{}}\n{\"class\": 3}\n",
        )
        .unwrap();
        let e = read_cases(&p).unwrap_err().to_string();
        assert!(e.contains("cases.jsonl:2:"), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
