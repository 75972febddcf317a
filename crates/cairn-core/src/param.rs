//! Typed run parameters: stored and compared as their type, never as strings.

use serde::{Deserialize, Serialize};
use std::fmt;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", content = "value", rename_all = "snake_case")]
pub enum ParamValue {
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    List(Vec<ParamValue>),
}

impl ParamValue {
    /// Infers the type of a value written on a command line: `3` is an int, `0.1` and `1e-3`
    /// floats, `true`/`false` bools, `[a, 2]` a list, anything else a string. Quote with `'`
    /// or `"` to force a string.
    pub fn infer(text: &str) -> ParamValue {
        let t = text.trim();
        if let Some(inner) = t
            .strip_prefix('"')
            .and_then(|s| s.strip_suffix('"'))
            .or_else(|| t.strip_prefix('\'').and_then(|s| s.strip_suffix('\'')))
        {
            return ParamValue::Str(inner.to_string());
        }
        if let Some(inner) = t.strip_prefix('[').and_then(|s| s.strip_suffix(']')) {
            let items = inner.split(',').map(str::trim).filter(|s| !s.is_empty());
            return ParamValue::List(items.map(ParamValue::infer).collect());
        }
        match t {
            "true" => return ParamValue::Bool(true),
            "false" => return ParamValue::Bool(false),
            _ => {}
        }
        if let Ok(i) = t.parse::<i64>() {
            return ParamValue::Int(i);
        }
        if let Ok(f) = t.parse::<f64>()
            && f.is_finite()
            && t.bytes().any(|b| b.is_ascii_digit())
        {
            return ParamValue::Float(f);
        }
        ParamValue::Str(t.to_string())
    }

    pub fn type_name(&self) -> &'static str {
        match self {
            ParamValue::Int(_) => "int",
            ParamValue::Float(_) => "float",
            ParamValue::Bool(_) => "bool",
            ParamValue::Str(_) => "string",
            ParamValue::List(_) => "list",
        }
    }

    /// The value as a number, for ints and floats.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            ParamValue::Int(i) => Some(*i as f64),
            ParamValue::Float(f) => Some(*f),
            _ => None,
        }
    }
}

impl fmt::Display for ParamValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParamValue::Int(i) => write!(f, "{i}"),
            ParamValue::Float(x) => write!(f, "{x:?}"),
            ParamValue::Bool(b) => write!(f, "{b}"),
            ParamValue::Str(s) => f.write_str(s),
            ParamValue::List(items) => {
                f.write_str("[")?;
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{item}")?;
                }
                f.write_str("]")
            }
        }
    }
}

#[derive(Debug, thiserror::Error, PartialEq)]
#[error("`{text}` is not KEY=VALUE: {why}")]
pub struct ParamParseError {
    pub text: String,
    pub why: &'static str,
}

/// Splits `KEY=VALUE` as given to `--param` or `--tag`.
pub fn parse_key_value(text: &str) -> Result<(String, String), ParamParseError> {
    let Some((k, v)) = text.split_once('=') else {
        return Err(ParamParseError {
            text: text.into(),
            why: "there is no `=`",
        });
    };
    let k = k.trim();
    if k.is_empty() {
        return Err(ParamParseError {
            text: text.into(),
            why: "the key is empty",
        });
    }
    if !k
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "_-./".contains(c))
    {
        return Err(ParamParseError {
            text: text.into(),
            why: "keys may hold only letters, digits, `_`, `-`, `.` and `/`",
        });
    }
    Ok((k.to_string(), v.trim().to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn infers_types() {
        let cases = [
            ("3", ParamValue::Int(3)),
            ("-7", ParamValue::Int(-7)),
            ("0.1", ParamValue::Float(0.1)),
            ("1e-3", ParamValue::Float(1e-3)),
            ("true", ParamValue::Bool(true)),
            ("adam", ParamValue::Str("adam".into())),
            ("'3'", ParamValue::Str("3".into())),
            ("inf", ParamValue::Str("inf".into())),
            ("nan", ParamValue::Str("nan".into())),
            (
                "[64, 32]",
                ParamValue::List(vec![ParamValue::Int(64), ParamValue::Int(32)]),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(ParamValue::infer(text), want, "{text}");
        }
    }

    #[test]
    fn key_values() {
        assert_eq!(
            parse_key_value("lr=0.1").unwrap(),
            ("lr".into(), "0.1".into())
        );
        assert_eq!(
            parse_key_value("a=b=c").unwrap(),
            ("a".into(), "b=c".into())
        );
        assert!(parse_key_value("novalue").is_err());
        assert!(parse_key_value("=1").is_err());
        assert!(parse_key_value("a b=1").is_err());
    }

    #[test]
    fn json_is_tagged_by_type() {
        let v = serde_json::to_string(&ParamValue::Float(0.5)).unwrap();
        assert_eq!(v, r#"{"type":"float","value":0.5}"#);
    }
}
