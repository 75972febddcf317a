//! The query language evaluated over a few records in memory — registered model versions and
//! data set versions, which number in the hundreds, not the millions the tantivy index serves.
//! Same grammar, same meaning: comparisons need a value of the key's type (a number compared
//! with text matches nothing), `LIKE` is SQL's, free-text words match any of the record's text.

use cairn_core::query::{CompareOp, Expr, Key, Literal, Query};
use std::cmp::Ordering;

/// A value a record holds for a key.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Number(f64),
    Text(String),
    /// Several values (a version's aliases): the key matches when one of them does.
    Texts(Vec<String>),
}

/// A record the query language can filter and order.
pub trait Record {
    /// The record's value for `key`, or `None` (`IS NULL`).
    fn value(&self, key: &Key) -> Option<Value>;
    /// Everything free-text words are matched against, lower-cased or not.
    fn text(&self) -> String;
}

/// Whether `rec` matches the filter of `query` (no filter: everything).
pub fn matches(query: &Query, rec: &dyn Record) -> bool {
    let text = rec.text().to_lowercase();
    query.filter.as_ref().is_none_or(|e| eval(e, rec, &text))
}

/// Orders records by the query's `ORDER BY` (missing values last); stable otherwise.
pub fn order<R: Record>(query: &Query, records: &mut [R]) {
    if query.order_by.is_empty() {
        return;
    }
    records.sort_by(|a, b| {
        for o in &query.order_by {
            let (va, vb) = (a.value(&o.key), b.value(&o.key));
            let ord = match (va, vb) {
                (None, None) => Ordering::Equal,
                (None, Some(_)) => Ordering::Greater,
                (Some(_), None) => Ordering::Less,
                (Some(x), Some(y)) => {
                    let c = compare_values(&x, &y);
                    if o.descending { c.reverse() } else { c }
                }
            };
            if ord != Ordering::Equal {
                return ord;
            }
        }
        Ordering::Equal
    });
}

fn compare_values(a: &Value, b: &Value) -> Ordering {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => x.total_cmp(y),
        (Value::Number(_), _) => Ordering::Less,
        (_, Value::Number(_)) => Ordering::Greater,
        _ => first_text(a).cmp(&first_text(b)),
    }
}

fn first_text(v: &Value) -> String {
    match v {
        Value::Text(t) => t.clone(),
        Value::Texts(ts) => ts.first().cloned().unwrap_or_default(),
        Value::Number(n) => n.to_string(),
    }
}

fn texts(v: &Value) -> Vec<&str> {
    match v {
        Value::Text(t) => vec![t.as_str()],
        Value::Texts(ts) => ts.iter().map(String::as_str).collect(),
        Value::Number(_) => Vec::new(),
    }
}

fn eval(e: &Expr, rec: &dyn Record, text: &str) -> bool {
    match e {
        Expr::And(items) => items.iter().all(|i| eval(i, rec, text)),
        Expr::Or(items) => items.iter().any(|i| eval(i, rec, text)),
        Expr::Not(inner) => !eval(inner, rec, text),
        Expr::Text(word) => text.contains(&word.to_lowercase()),
        Expr::IsNull { key, negated } => rec.value(key).is_none() != *negated,
        Expr::Compare { key, op, value } => rec.value(key).is_some_and(|v| compare(&v, *op, value)),
        Expr::In {
            key,
            values,
            negated,
        } => {
            let hit = rec
                .value(key)
                .is_some_and(|v| values.iter().any(|lit| compare(&v, CompareOp::Eq, lit)));
            rec.value(key).is_some() && hit != *negated
        }
        Expr::Like {
            key,
            pattern,
            case_insensitive,
            negated,
        } => rec.value(key).is_some_and(|v| {
            let hit = texts(&v).iter().any(|t| {
                if *case_insensitive {
                    like(&t.to_lowercase(), &pattern.to_lowercase())
                } else {
                    like(t, pattern)
                }
            });
            hit != *negated
        }),
    }
}

fn compare(v: &Value, op: CompareOp, lit: &Literal) -> bool {
    let ord = match (v, lit) {
        (Value::Number(x), Literal::Number(y)) => x.partial_cmp(y),
        (Value::Number(x), Literal::Bool(b)) => x.partial_cmp(&f64::from(u8::from(*b))),
        (Value::Text(_) | Value::Texts(_), Literal::Text(t)) => {
            // A multi-valued key: `=` when one value is equal, `!=` when none is.
            let values = texts(v);
            return match op {
                CompareOp::Eq => values.iter().any(|x| x == t),
                CompareOp::Ne => values.iter().all(|x| x != t),
                _ => values
                    .iter()
                    .any(|x| cmp_op(x.as_bytes().cmp(t.as_bytes()), op)),
            };
        }
        _ => None,
    };
    ord.is_some_and(|o| cmp_op(o, op))
}

fn cmp_op(o: Ordering, op: CompareOp) -> bool {
    match op {
        CompareOp::Eq => o == Ordering::Equal,
        CompareOp::Ne => o != Ordering::Equal,
        CompareOp::Lt => o == Ordering::Less,
        CompareOp::Le => o != Ordering::Greater,
        CompareOp::Gt => o == Ordering::Greater,
        CompareOp::Ge => o != Ordering::Less,
    }
}

/// SQL `LIKE`: `%` any run of characters, `_` exactly one.
fn like(text: &str, pattern: &str) -> bool {
    let t: Vec<char> = text.chars().collect();
    let p: Vec<char> = pattern.chars().collect();
    // prev[j]: does t[..i] match p[..j]
    let mut prev = vec![false; p.len() + 1];
    prev[0] = true;
    for j in 1..=p.len() {
        prev[j] = prev[j - 1] && p[j - 1] == '%';
    }
    for i in 1..=t.len() {
        let mut cur = vec![false; p.len() + 1];
        for j in 1..=p.len() {
            cur[j] = match p[j - 1] {
                '%' => cur[j - 1] || prev[j],
                '_' => prev[j - 1],
                c => prev[j - 1] && c == t[i - 1],
            };
        }
        prev = cur;
    }
    prev[p.len()]
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::query::Namespace;

    struct V {
        name: &'static str,
        version: f64,
        aliases: Vec<String>,
        acc: Option<f64>,
    }

    impl Record for V {
        fn value(&self, key: &Key) -> Option<Value> {
            match (key.namespace, key.name.as_str()) {
                (Namespace::Model, "name") => Some(Value::Text(self.name.into())),
                (Namespace::Model, "version") => Some(Value::Number(self.version)),
                (Namespace::Model, "alias") if !self.aliases.is_empty() => {
                    Some(Value::Texts(self.aliases.clone()))
                }
                (Namespace::Metric, "test_accuracy") => self.acc.map(Value::Number),
                _ => None,
            }
        }
        fn text(&self) -> String {
            format!("{} {}", self.name, self.aliases.join(" "))
        }
    }

    fn versions() -> Vec<V> {
        vec![
            V {
                name: "iris",
                version: 1.0,
                aliases: vec!["production".into()],
                acc: Some(0.9),
            },
            V {
                name: "iris",
                version: 2.0,
                aliases: vec![],
                acc: Some(0.95),
            },
            V {
                name: "churn",
                version: 1.0,
                aliases: vec!["staging".into(), "canary".into()],
                acc: None,
            },
        ]
    }

    fn hits(q: &str) -> Vec<String> {
        let query = crate::parse_query(q).unwrap();
        let mut vs: Vec<V> = versions()
            .into_iter()
            .filter(|v| matches(&query, v))
            .collect();
        order(&query, &mut vs);
        vs.iter()
            .map(|v| format!("{}@{}", v.name, v.version))
            .collect()
    }

    #[test]
    fn model_queries_filter_and_order() {
        assert_eq!(hits("models.name = 'iris'"), ["iris@1", "iris@2"]);
        assert_eq!(hits("models.alias = 'canary'"), ["churn@1"]);
        assert_eq!(hits("models.alias IS NULL"), ["iris@2"]);
        assert_eq!(hits("models.version >= 2"), ["iris@2"]);
        assert_eq!(hits("metrics.test_accuracy > 0.92"), ["iris@2"]);
        assert_eq!(hits("models.name LIKE 'ch%'"), ["churn@1"]);
        assert_eq!(hits("models.name IN ('churn', 'x')"), ["churn@1"]);
        assert_eq!(hits("production"), ["iris@1"]);
        assert_eq!(
            hits("models.name = 'iris' ORDER BY metrics.test_accuracy DESC"),
            ["iris@2", "iris@1"]
        );
        // A number compared with text matches nothing rather than everything.
        assert!(hits("models.version = 'two'").is_empty());
        assert!(hits("params.lr > 0").is_empty());
    }

    #[test]
    fn like_is_sql_like() {
        assert!(like("production", "prod%"));
        assert!(like("production", "%duct%"));
        assert!(like("ab", "a_"));
        assert!(!like("abc", "a_"));
        assert!(like("", "%"));
        assert!(!like("x", ""));
    }
}
