//! Data quality rules (read from TOML) and the report of checking them.
//!
//! ```toml
//! [rows]               # optional bounds on the row count
//! min = 100
//! max = 1_000_000
//!
//! [[rules]]
//! check = "not_null"   # not_null | unique | range | allowed | regex | expr
//! column = "age"
//!
//! [[rules]]
//! name = "adults only"  # optional; defaults to a description of the check
//! check = "range"
//! column = "age"
//! min = 18
//! max = 120
//!
//! [[rules]]
//! check = "expr"       # a SQL boolean over the row; rows where it is false fail
//! expr = "capital_gain >= 0 OR capital_loss = 0"
//! ```

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct QualityRules {
    #[serde(default)]
    pub rows: Option<RowBounds>,
    #[serde(default)]
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct RowBounds {
    pub min: Option<u64>,
    pub max: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Rule {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(flatten)]
    pub check: Check,
}

#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(tag = "check", rename_all = "snake_case")]
pub enum Check {
    NotNull {
        column: String,
    },
    Unique {
        column: String,
    },
    Range {
        column: String,
        min: Option<f64>,
        max: Option<f64>,
    },
    Allowed {
        column: String,
        values: Vec<toml::Value>,
    },
    Regex {
        column: String,
        pattern: String,
    },
    Expr {
        expr: String,
    },
}

impl Check {
    pub fn column(&self) -> Option<&str> {
        match self {
            Check::NotNull { column }
            | Check::Unique { column }
            | Check::Range { column, .. }
            | Check::Allowed { column, .. }
            | Check::Regex { column, .. } => Some(column),
            Check::Expr { .. } => None,
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Check::NotNull { .. } => "not_null",
            Check::Unique { .. } => "unique",
            Check::Range { .. } => "range",
            Check::Allowed { .. } => "allowed",
            Check::Regex { .. } => "regex",
            Check::Expr { .. } => "expr",
        }
    }

    /// A one-line description, used when the rule has no name.
    pub fn describe(&self) -> String {
        match self {
            Check::NotNull { column } => format!("{column} is not null"),
            Check::Unique { column } => format!("{column} is unique"),
            Check::Range { column, min, max } => match (min, max) {
                (Some(a), Some(b)) => format!("{column} in [{a}, {b}]"),
                (Some(a), None) => format!("{column} >= {a}"),
                (None, Some(b)) => format!("{column} <= {b}"),
                (None, None) => format!("{column} has a range"),
            },
            Check::Allowed { column, values } => format!(
                "{column} in {{{}}}",
                values
                    .iter()
                    .map(toml_value_text)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Check::Regex { column, pattern } => format!("{column} matches /{pattern}/"),
            Check::Expr { expr } => expr.clone(),
        }
    }
}

/// A TOML scalar as plain text (strings unquoted).
pub fn toml_value_text(v: &toml::Value) -> String {
    match v {
        toml::Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

impl QualityRules {
    /// Parses a rules file's text; errors name the line and column.
    pub fn parse(text: &str) -> Result<QualityRules, String> {
        let rules: QualityRules = toml::from_str(text).map_err(|e| {
            let mut msg = e.message().to_string();
            if let Some(span) = e.span() {
                let (line, col) = line_col(text, span.start);
                msg = format!("line {line}, column {col}: {msg}");
            }
            msg
        })?;
        check_rule_keys(text)?;
        for (i, rule) in rules.rules.iter().enumerate() {
            let problem = match &rule.check {
                Check::Range {
                    min: None,
                    max: None,
                    ..
                } => Some("a range rule needs `min`, `max` or both"),
                Check::Allowed { values, .. } if values.is_empty() => {
                    Some("an allowed rule needs at least one value")
                }
                Check::Allowed { values, .. }
                    if values
                        .iter()
                        .any(|v| matches!(v, toml::Value::Array(_) | toml::Value::Table(_))) =>
                {
                    Some("allowed values must be strings, numbers or booleans")
                }
                Check::Expr { expr } if expr.contains(';') => {
                    Some("an expression is one SQL condition; remove the `;`")
                }
                _ => None,
            };
            if let Some(p) = problem {
                return Err(format!("rule {} ({}): {p}", i + 1, rule.check.describe()));
            }
        }
        Ok(rules)
    }
}

/// Serde ignores unknown keys inside a flattened, tagged rule; a misspelt key (`colum`, `maxx`)
/// must not silently weaken a check, so each rule's keys are checked against its kind.
fn check_rule_keys(text: &str) -> Result<(), String> {
    let table: toml::Table = toml::from_str(text).map_err(|e| e.message().to_string())?;
    let Some(toml::Value::Array(rules)) = table.get("rules") else {
        return Ok(());
    };
    let mut search_from = 0;
    for (i, rule) in rules.iter().enumerate() {
        let Some(rule) = rule.as_table() else {
            continue;
        };
        let allowed: &[&str] = match rule.get("check").and_then(|c| c.as_str()) {
            Some("not_null" | "unique") => &["column"],
            Some("range") => &["column", "min", "max"],
            Some("allowed") => &["column", "values"],
            Some("regex") => &["column", "pattern"],
            Some("expr") => &["expr"],
            _ => continue,
        };
        let at = text[search_from..]
            .find("[[rules]]")
            .map_or(search_from, |p| search_from + p);
        search_from = at + 1;
        for key in rule.keys() {
            if key == "check" || key == "name" || allowed.contains(&key.as_str()) {
                continue;
            }
            let line = text[at..]
                .lines()
                .position(|l| l.trim_start().starts_with(key.as_str()))
                .map(|p| text[..at].matches('\n').count() + p + 1);
            let place = line.map_or(String::new(), |l| format!("line {l}: "));
            return Err(format!(
                "{place}rule {} has an unknown key `{key}`; a `{}` rule takes {}",
                i + 1,
                rule.get("check").and_then(|c| c.as_str()).unwrap_or(""),
                ["name", "check"]
                    .iter()
                    .chain(allowed)
                    .map(|k| format!("`{k}`"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
    }
    Ok(())
}

pub(crate) fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    (line, col)
}

/// The outcome of checking a version against a rules file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct QualityReport {
    pub dataset: String,
    pub version: u32,
    pub rows: u64,
    pub passed: bool,
    pub results: Vec<RuleResult>,
    pub checked_at: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct RuleResult {
    pub name: String,
    pub check: String,
    pub column: Option<String>,
    pub passed: bool,
    /// Rows that break the rule (for `rows`, the row count when out of bounds, else 0).
    pub failing: u64,
    /// Up to five failing rows: their 0-based row number and values, as text.
    pub samples: Vec<SampleRow>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS))]
pub struct SampleRow {
    pub row: u64,
    pub values: Vec<(String, Option<String>)>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_check() {
        let r = QualityRules::parse(
            r#"
[rows]
min = 10
[[rules]]
check = "not_null"
column = "a"
[[rules]]
check = "unique"
column = "id"
[[rules]]
check = "range"
column = "a"
min = 0
[[rules]]
name = "colours"
check = "allowed"
column = "c"
values = ["red", "blue"]
[[rules]]
check = "regex"
column = "c"
pattern = "^[a-z]+$"
[[rules]]
check = "expr"
expr = "a < b"
"#,
        )
        .unwrap();
        assert_eq!(r.rows.as_ref().unwrap().min, Some(10));
        assert_eq!(r.rules.len(), 6);
        assert_eq!(r.rules[3].name.as_deref(), Some("colours"));
        assert_eq!(r.rules[2].check.describe(), "a >= 0");
    }

    #[test]
    fn bad_rules_name_the_place() {
        let cases = [
            ("[[rules]]\ncheck = \"nope\"\ncolumn = \"a\"\n", "line 1"),
            ("[[rules]]\ncheck = \"range\"\ncolumn = \"a\"\n", "rule 1"),
            ("[[rules]]\ncheck = \"not_null\"\n", "column"),
            ("[rows]\nmin = -1\n", "line 2"),
            ("[[rules]\n", "line 1"),
            (
                "[[rules]]\ncheck = \"expr\"\nexpr = \"1=1; drop table x\"\n",
                ";",
            ),
            (
                "[[rules]]\ncheck = \"unique\"\ncolumn = \"a\"\n[[rules]]\ncheck = \"range\"\ncolumn = \"a\"\nmaxx = 3\nmin = 1\n",
                "line 7: rule 2 has an unknown key `maxx`",
            ),
        ];
        for (text, want) in cases {
            let err = QualityRules::parse(text).unwrap_err();
            assert!(err.contains(want), "{text:?}: {err}");
        }
    }
}
