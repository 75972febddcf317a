//! The query language's parser: text → [`cairn_core::query::Query`].
//!
//! MLflow's search grammar is a subset (`metrics.acc > 0.9 AND params.lr = 0.01`,
//! `tags.team LIKE 'risk%'`, `attributes.status = 'FINISHED'`, `datasets.name = 'adult'`); on
//! top of it: `OR`, `NOT`, parentheses, `IN (…)`, `IS [NOT] NULL`, `ILIKE`, aggregates over a
//! metric's history (`max(metrics.val_acc) > 0.9`, `min`, `last`, `first`, `mean`), free-text
//! words and `"quoted phrases"`, `ORDER BY key [ASC|DESC], …`, `LIMIT n [OFFSET m]`.
//! Words next to each other are ANDed. `AND` binds tighter than `OR`; `NOT` tighter than both.
//! Keys with special characters are quoted with backticks or double quotes:
//! ``params.`batch size` = 32``. Every error names the 1-based column where it went wrong.

use cairn_core::query::{Aggregate, CompareOp, Expr, Key, Literal, Namespace, OrderKey, Query};
use std::fmt;

/// A syntax error at a column (1-based, counted in characters).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueryError {
    pub column: usize,
    pub message: String,
}

impl fmt::Display for QueryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "column {}: {}", self.column, self.message)
    }
}

impl std::error::Error for QueryError {}

impl QueryError {
    /// The query with a caret under the column, for terminals.
    pub fn pointer(&self, query: &str) -> String {
        format!("{query}\n{}^", " ".repeat(self.column.saturating_sub(1)))
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    /// `'single'` — a string value (or a phrase in text position).
    Single(String),
    /// `"double"` — a phrase, a quoted key name, or a string value.
    Double(String),
    /// `` `backtick` `` — a quoted key name.
    Backtick(String),
    Number(f64),
    Op(CompareOp),
    Dot,
    Comma,
    LParen,
    RParen,
}

fn describe(t: Option<&Tok>) -> String {
    match t {
        None => "the end of the query".into(),
        Some(Tok::Word(w)) => format!("`{w}`"),
        Some(Tok::Single(s)) => format!("'{s}'"),
        Some(Tok::Double(s)) => format!("\"{s}\""),
        Some(Tok::Backtick(s)) => format!("`{s}`"),
        Some(Tok::Number(n)) => format!("{n}"),
        Some(Tok::Op(_)) => "a comparison operator".into(),
        Some(Tok::Dot) => "`.`".into(),
        Some(Tok::Comma) => "`,`".into(),
        Some(Tok::LParen) => "`(`".into(),
        Some(Tok::RParen) => "`)`".into(),
    }
}

fn lex(input: &str) -> Result<Vec<(Tok, usize)>, QueryError> {
    let chars: Vec<char> = input.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    let err = |col: usize, message: String| QueryError {
        column: col + 1,
        message,
    };
    while i < chars.len() {
        let c = chars[i];
        let start = i;
        if c.is_whitespace() {
            i += 1;
            continue;
        }
        let tok = match c {
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '.' if !chars.get(i + 1).is_some_and(|d| d.is_ascii_digit()) => {
                i += 1;
                Tok::Dot
            }
            '=' => {
                i += if chars.get(i + 1) == Some(&'=') { 2 } else { 1 };
                Tok::Op(CompareOp::Eq)
            }
            '!' if chars.get(i + 1) == Some(&'=') => {
                i += 2;
                Tok::Op(CompareOp::Ne)
            }
            '<' => match chars.get(i + 1) {
                Some('=') => {
                    i += 2;
                    Tok::Op(CompareOp::Le)
                }
                Some('>') => {
                    i += 2;
                    Tok::Op(CompareOp::Ne)
                }
                _ => {
                    i += 1;
                    Tok::Op(CompareOp::Lt)
                }
            },
            '>' => {
                if chars.get(i + 1) == Some(&'=') {
                    i += 2;
                    Tok::Op(CompareOp::Ge)
                } else {
                    i += 1;
                    Tok::Op(CompareOp::Gt)
                }
            }
            '\'' | '"' | '`' => {
                // A doubled quote inside stands for the quote itself.
                let mut text = String::new();
                i += 1;
                loop {
                    match chars.get(i) {
                        None => {
                            return Err(err(
                                start,
                                format!("this {c} is never closed; add a closing {c}"),
                            ));
                        }
                        Some(&q) if q == c && chars.get(i + 1) == Some(&c) => {
                            text.push(c);
                            i += 2;
                        }
                        Some(&q) if q == c => {
                            i += 1;
                            break;
                        }
                        Some(&other) => {
                            text.push(other);
                            i += 1;
                        }
                    }
                }
                match c {
                    '\'' => Tok::Single(text),
                    '"' => Tok::Double(text),
                    _ => Tok::Backtick(text),
                }
            }
            c if c.is_ascii_digit()
                || c == '.'
                || ((c == '-' || c == '+')
                    && chars
                        .get(i + 1)
                        .is_some_and(|d| d.is_ascii_digit() || *d == '.')) =>
            {
                i += 1;
                while i < chars.len()
                    && (chars[i].is_alphanumeric()
                        || matches!(chars[i], '.' | '_' | '-' | '/' | ':')
                        || (chars[i] == '+' && matches!(chars[i - 1], 'e' | 'E')))
                {
                    i += 1;
                }
                let text: String = chars[start..i].iter().collect();
                match text.parse::<f64>() {
                    Ok(n) if n.is_finite() => Tok::Number(n),
                    // Something like `2024-run` or `3d`: a word in text position.
                    _ => Tok::Word(text),
                }
            }
            c if c.is_alphanumeric() || c == '_' => {
                while i < chars.len()
                    && (chars[i].is_alphanumeric() || matches!(chars[i], '_' | '-' | '/' | ':'))
                {
                    i += 1;
                }
                Tok::Word(chars[start..i].iter().collect())
            }
            other => {
                return Err(err(
                    start,
                    format!("unexpected character `{other}`; quote text that contains it"),
                ));
            }
        };
        out.push((tok, start + 1));
    }
    Ok(out)
}

fn namespace(word: &str) -> Option<Namespace> {
    Some(match word.to_ascii_lowercase().as_str() {
        "metrics" | "metric" => Namespace::Metric,
        "params" | "param" | "parameters" => Namespace::Param,
        "tags" | "tag" => Namespace::Tag,
        "attributes" | "attribute" | "attr" | "run" => Namespace::Attribute,
        "datasets" | "dataset" => Namespace::Dataset,
        "models" | "model" => Namespace::Model,
        _ => return None,
    })
}

fn aggregate(word: &str) -> Option<Aggregate> {
    Some(match word.to_ascii_lowercase().as_str() {
        "last" => Aggregate::Last,
        "first" => Aggregate::First,
        "min" => Aggregate::Min,
        "max" => Aggregate::Max,
        "mean" | "avg" => Aggregate::Mean,
        _ => return None,
    })
}

/// Where a key is read: in a filter a bare name is a key only before an operator (else it is
/// a free-text word); after ORDER BY every name is a key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyPosition {
    Filter,
    OrderBy,
}

struct Parser {
    toks: Vec<(Tok, usize)>,
    pos: usize,
    end_column: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos).map(|t| &t.0)
    }

    fn peek_at(&self, k: usize) -> Option<&Tok> {
        self.toks.get(self.pos + k).map(|t| &t.0)
    }

    fn column(&self) -> usize {
        self.toks.get(self.pos).map_or(self.end_column, |t| t.1)
    }

    fn error<T>(&self, message: String) -> Result<T, QueryError> {
        Err(QueryError {
            column: self.column(),
            message,
        })
    }

    fn is_keyword(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_keyword(&mut self, kw: &str) -> bool {
        let yes = self.is_keyword(kw);
        if yes {
            self.pos += 1;
        }
        yes
    }

    fn expect(&mut self, tok: Tok, what: &str) -> Result<(), QueryError> {
        if self.peek() == Some(&tok) {
            self.pos += 1;
            Ok(())
        } else {
            self.error(format!("expected {what}, found {}", describe(self.peek())))
        }
    }

    /// Whether the next token ends an AND-chain.
    fn at_boundary(&self) -> bool {
        matches!(self.peek(), None | Some(Tok::RParen))
            || self.is_keyword("OR")
            || (self.is_keyword("ORDER")
                && matches!(self.peek_at(1), Some(Tok::Word(w)) if w.eq_ignore_ascii_case("BY")))
            || self.is_keyword("LIMIT")
            || self.is_keyword("OFFSET")
    }

    fn query(&mut self) -> Result<Query, QueryError> {
        let mut q = Query::default();
        if !self.at_boundary() || self.peek() == Some(&Tok::RParen) {
            q.filter = Some(self.or()?);
        }
        if self.eat_keyword("ORDER") {
            if !self.eat_keyword("BY") {
                return self.error("expected BY after ORDER".into());
            }
            loop {
                let key = self.key(KeyPosition::OrderBy)?.ok_or(()).or_else(|()| {
                    self.error(format!(
                        "expected a key to order by (e.g. metrics.accuracy, params.lr, attributes.created_at), found {}",
                        describe(self.peek())
                    ))
                })?;
                let descending = if self.eat_keyword("DESC") {
                    true
                } else {
                    self.eat_keyword("ASC");
                    false
                };
                q.order_by.push(OrderKey { key, descending });
                if self.peek() == Some(&Tok::Comma) {
                    self.pos += 1;
                } else {
                    break;
                }
            }
        }
        if self.eat_keyword("LIMIT") {
            q.limit = Some(self.count("LIMIT")?);
        }
        if self.eat_keyword("OFFSET") {
            q.offset = Some(self.count("OFFSET")?);
        }
        if self.peek().is_some() {
            return self.error(format!(
                "unexpected {}; a query is FILTER [ORDER BY …] [LIMIT n [OFFSET m]]",
                describe(self.peek())
            ));
        }
        Ok(q)
    }

    fn count(&mut self, what: &str) -> Result<usize, QueryError> {
        match self.peek() {
            Some(Tok::Number(n)) if *n >= 0.0 && n.fract() == 0.0 => {
                let n = *n as usize;
                self.pos += 1;
                Ok(n)
            }
            other => self.error(format!(
                "{what} takes a whole number ≥ 0, found {}",
                describe(other)
            )),
        }
    }

    fn or(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.and()?];
        while self.eat_keyword("OR") {
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Expr::Or(items)
        })
    }

    fn and(&mut self) -> Result<Expr, QueryError> {
        let mut items = vec![self.unary()?];
        loop {
            if self.eat_keyword("AND") {
                items.push(self.unary()?);
            } else if self.at_boundary() {
                break;
            } else {
                items.push(self.unary()?);
            }
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Expr::And(items)
        })
    }

    fn unary(&mut self) -> Result<Expr, QueryError> {
        if self.eat_keyword("NOT") {
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        match self.peek() {
            Some(Tok::LParen) => {
                self.pos += 1;
                if self.peek() == Some(&Tok::RParen) {
                    return self.error("empty parentheses; put a condition inside".into());
                }
                let e = self.or()?;
                self.expect(Tok::RParen, "`)` to close the parenthesis")?;
                Ok(e)
            }
            None => self.error("expected a condition or a word, found the end of the query".into()),
            Some(Tok::RParen) => self.error("unexpected `)`; there is no `(` to close".into()),
            _ => self.term(),
        }
    }

    /// Whether the token `k` places ahead starts an operator: a comparison, `IN`, `LIKE`,
    /// `ILIKE`, `IS`, or `NOT` before `IN`/`LIKE`/`ILIKE`.
    fn operator_follows(&self, k: usize) -> bool {
        let kw = |t: Option<&Tok>, words: &[&str]| matches!(t, Some(Tok::Word(w)) if words.iter().any(|k| w.eq_ignore_ascii_case(k)));
        matches!(self.peek_at(k), Some(Tok::Op(_)))
            || kw(self.peek_at(k), &["IN", "LIKE", "ILIKE", "IS"])
            || (kw(self.peek_at(k), &["NOT"]) && kw(self.peek_at(k + 1), &["IN", "LIKE", "ILIKE"]))
    }

    /// A key, if the tokens here start one: `ns.name`, ``ns.`name` ``, `agg(metrics.name)`,
    /// or a bare attribute name (before an operator, or anywhere in ORDER BY).
    fn key(&mut self, position: KeyPosition) -> Result<Option<Key>, QueryError> {
        if let Some(Tok::Word(w)) = self.peek().cloned()
            && let Some(agg) = aggregate(&w)
            && self.peek_at(1) == Some(&Tok::LParen)
        {
            let agg_col = self.column();
            self.pos += 2;
            let Some(mut key) = self.key(KeyPosition::Filter)? else {
                return self.error(format!(
                    "expected a metric inside {w}(…), e.g. {w}(metrics.val_accuracy), found {}",
                    describe(self.peek())
                ));
            };
            if key.namespace != Namespace::Metric {
                return Err(QueryError {
                    column: agg_col,
                    message: "aggregates (min, max, last, first, mean) apply to metrics only"
                        .into(),
                });
            }
            key.aggregate = Some(agg);
            self.expect(Tok::RParen, "`)` after the metric")?;
            return Ok(Some(key));
        }
        // MLflow's bare attribute names: `run_name = 'x'`, `` `Run name` = 'x' ``, and in
        // ORDER BY `start_time DESC`.
        let bare = |p: &Parser| match p.peek() {
            Some(Tok::Word(w))
                if !["AND", "OR", "NOT"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                Some(w.clone())
            }
            Some(Tok::Backtick(w) | Tok::Double(w)) => Some(w.clone()),
            _ => None,
        };
        // The namespace may be backticked, as MLflow allows: `` `metrics`.acc ``.
        let ns = match self.peek() {
            Some(Tok::Word(w) | Tok::Backtick(w)) if self.peek_at(1) == Some(&Tok::Dot) => {
                namespace(w)
            }
            _ => None,
        };
        let Some(ns) = ns else {
            let Some(name) = bare(self) else {
                return Ok(None);
            };
            if !(position == KeyPosition::OrderBy || self.operator_follows(1)) {
                return Ok(None);
            }
            self.pos += 1;
            return Ok(Some(Key {
                namespace: Namespace::Attribute,
                name,
                aggregate: None,
            }));
        };
        self.pos += 2;
        let name = match self.peek() {
            Some(Tok::Word(n) | Tok::Backtick(n) | Tok::Double(n)) => n.clone(),
            Some(Tok::Number(n)) => n.to_string(),
            other => {
                return self.error(format!(
                    "expected a name after `{}.`, found {}; quote names with special characters in backticks",
                    match ns {
                        Namespace::Metric => "metrics",
                        Namespace::Param => "params",
                        Namespace::Tag => "tags",
                        Namespace::Attribute => "attributes",
                        Namespace::Dataset => "datasets",
                        Namespace::Model => "models",
                    },
                    describe(other)
                ));
            }
        };
        self.pos += 1;
        // Dotted names: `metrics.val.acc` is the metric `val.acc`.
        let mut name = name;
        while self.peek() == Some(&Tok::Dot) {
            match self.peek_at(1) {
                Some(Tok::Word(n) | Tok::Backtick(n)) => {
                    name.push('.');
                    name.push_str(n);
                    self.pos += 2;
                }
                _ => break,
            }
        }
        Ok(Some(Key {
            namespace: ns,
            name,
            aggregate: None,
        }))
    }

    fn literal(&mut self) -> Result<Literal, QueryError> {
        let lit = match self.peek() {
            Some(Tok::Number(n)) => Literal::Number(*n),
            Some(Tok::Single(s) | Tok::Double(s)) => Literal::Text(s.clone()),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("true") => Literal::Bool(true),
            Some(Tok::Word(w)) if w.eq_ignore_ascii_case("false") => Literal::Bool(false),
            Some(Tok::Word(w))
                if !["AND", "OR", "NOT", "ORDER", "LIMIT"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k)) =>
            {
                Literal::Text(w.clone())
            }
            other => {
                return self.error(format!(
                    "expected a value (a number, 'text', true or false), found {}",
                    describe(other)
                ));
            }
        };
        self.pos += 1;
        Ok(lit)
    }

    fn term(&mut self) -> Result<Expr, QueryError> {
        let Some(key) = self.key(KeyPosition::Filter)? else {
            // Free text.
            let text = match self.peek() {
                Some(Tok::Word(w)) => w.clone(),
                Some(Tok::Double(s) | Tok::Single(s)) => s.clone(),
                Some(Tok::Number(n)) => n.to_string(),
                other => {
                    return self.error(format!(
                        "expected a condition (e.g. metrics.accuracy > 0.9) or a word, found {}",
                        describe(other)
                    ));
                }
            };
            self.pos += 1;
            return Ok(Expr::Text(text));
        };
        let negated = self.eat_keyword("NOT");
        if let Some(Tok::Op(op)) = self.peek() {
            if negated {
                return self.error("NOT goes before the condition: NOT key = value".into());
            }
            let op = *op;
            self.pos += 1;
            let value = self.literal()?;
            return Ok(Expr::Compare { key, op, value });
        }
        if self.eat_keyword("IN") {
            self.expect(Tok::LParen, "`(` after IN")?;
            let mut values = vec![self.literal()?];
            while self.peek() == Some(&Tok::Comma) {
                self.pos += 1;
                values.push(self.literal()?);
            }
            self.expect(Tok::RParen, "`,` or `)` in the IN list")?;
            return Ok(Expr::In {
                key,
                values,
                negated,
            });
        }
        let like = self.is_keyword("LIKE");
        if like || self.is_keyword("ILIKE") {
            self.pos += 1;
            let pattern = match self.literal()? {
                Literal::Text(t) => t,
                other => {
                    self.pos -= 1;
                    return self.error(format!(
                        "LIKE takes a quoted pattern such as 'risk%', found {other:?}"
                    ));
                }
            };
            return Ok(Expr::Like {
                key,
                pattern,
                case_insensitive: !like,
                negated,
            });
        }
        if self.eat_keyword("IS") {
            if negated {
                return self.error("write IS NOT NULL, not NOT IS NULL".into());
            }
            let negated = self.eat_keyword("NOT");
            if !self.eat_keyword("NULL") {
                return self.error(format!(
                    "expected NULL after IS, found {}",
                    describe(self.peek())
                ));
            }
            return Ok(Expr::IsNull { key, negated });
        }
        self.error(format!(
            "expected an operator after the key (=, !=, <, <=, >, >=, IN, LIKE, ILIKE, IS NULL), found {}",
            describe(self.peek())
        ))
    }
}

/// Parses a query. An empty query matches every run.
pub fn parse(input: &str) -> Result<Query, QueryError> {
    let toks = lex(input)?;
    let mut p = Parser {
        toks,
        pos: 0,
        end_column: input.chars().count() + 1,
    };
    p.query()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(ns: Namespace, name: &str) -> Key {
        Key {
            namespace: ns,
            name: name.into(),
            aggregate: None,
        }
    }
    fn m(name: &str) -> Key {
        k(Namespace::Metric, name)
    }
    fn cmp(key: Key, op: CompareOp, value: Literal) -> Expr {
        Expr::Compare { key, op, value }
    }
    fn num(n: f64) -> Literal {
        Literal::Number(n)
    }
    fn text(s: &str) -> Literal {
        Literal::Text(s.into())
    }
    fn filter(q: &str) -> Expr {
        parse(q)
            .unwrap_or_else(|e| panic!("{q}: {e}"))
            .filter
            .unwrap()
    }

    #[test]
    fn every_operator_and_namespace() {
        use CompareOp::*;
        let cases: Vec<(&str, Expr)> = vec![
            ("metrics.acc > 0.9", cmp(m("acc"), Gt, num(0.9))),
            ("metrics.acc >= 0.9", cmp(m("acc"), Ge, num(0.9))),
            ("metrics.loss < 1e-3", cmp(m("loss"), Lt, num(0.001))),
            ("metrics.loss <= -2", cmp(m("loss"), Le, num(-2.0))),
            (
                "params.lr = 0.01",
                cmp(k(Namespace::Param, "lr"), Eq, num(0.01)),
            ),
            (
                "params.lr == .5",
                cmp(k(Namespace::Param, "lr"), Eq, num(0.5)),
            ),
            (
                "params.opt != 'adam'",
                cmp(k(Namespace::Param, "opt"), Ne, text("adam")),
            ),
            (
                "params.opt <> \"sgd\"",
                cmp(k(Namespace::Param, "opt"), Ne, text("sgd")),
            ),
            (
                "params.nesterov = true",
                cmp(k(Namespace::Param, "nesterov"), Eq, Literal::Bool(true)),
            ),
            (
                "attributes.status = 'FINISHED'",
                cmp(k(Namespace::Attribute, "status"), Eq, text("FINISHED")),
            ),
            (
                "attr.status = finished",
                cmp(k(Namespace::Attribute, "status"), Eq, text("finished")),
            ),
            (
                "datasets.name = 'adult'",
                cmp(k(Namespace::Dataset, "name"), Eq, text("adult")),
            ),
            (
                "tags.team LIKE 'risk%'",
                Expr::Like {
                    key: k(Namespace::Tag, "team"),
                    pattern: "risk%".into(),
                    case_insensitive: false,
                    negated: false,
                },
            ),
            (
                "tags.team NOT ILIKE 'Risk%'",
                Expr::Like {
                    key: k(Namespace::Tag, "team"),
                    pattern: "Risk%".into(),
                    case_insensitive: true,
                    negated: true,
                },
            ),
            (
                "params.model IN ('mlp', 'cnn')",
                Expr::In {
                    key: k(Namespace::Param, "model"),
                    values: vec![text("mlp"), text("cnn")],
                    negated: false,
                },
            ),
            (
                "params.depth NOT IN (2, 3)",
                Expr::In {
                    key: k(Namespace::Param, "depth"),
                    values: vec![num(2.0), num(3.0)],
                    negated: true,
                },
            ),
            (
                "tags.owner IS NULL",
                Expr::IsNull {
                    key: k(Namespace::Tag, "owner"),
                    negated: false,
                },
            ),
            (
                "tags.owner is not null",
                Expr::IsNull {
                    key: k(Namespace::Tag, "owner"),
                    negated: true,
                },
            ),
            (
                "max(metrics.val_acc) > 0.9",
                cmp(
                    Key {
                        aggregate: Some(Aggregate::Max),
                        ..m("val_acc")
                    },
                    Gt,
                    num(0.9),
                ),
            ),
            (
                "MIN(metrics.loss) < 0.1",
                cmp(
                    Key {
                        aggregate: Some(Aggregate::Min),
                        ..m("loss")
                    },
                    Lt,
                    num(0.1),
                ),
            ),
            (
                "last(metrics.loss) < 0.1",
                cmp(
                    Key {
                        aggregate: Some(Aggregate::Last),
                        ..m("loss")
                    },
                    Lt,
                    num(0.1),
                ),
            ),
        ];
        for (q, want) in cases {
            assert_eq!(filter(q), want, "{q}");
        }
    }

    #[test]
    fn quoted_keys_with_special_characters() {
        use CompareOp::*;
        let cases: Vec<(&str, Expr)> = vec![
            (
                "params.`batch size` = 32",
                cmp(k(Namespace::Param, "batch size"), Eq, num(32.0)),
            ),
            ("metrics.\"val-acc\" > 0.5", cmp(m("val-acc"), Gt, num(0.5))),
            (
                "tags.`it``s` = 'x'",
                cmp(k(Namespace::Tag, "it`s"), Eq, text("x")),
            ),
            ("metrics.val.acc > 0.5", cmp(m("val.acc"), Gt, num(0.5))),
            (
                "tags.note = 'it''s'",
                cmp(k(Namespace::Tag, "note"), Eq, text("it's")),
            ),
            (
                "params.layer/1 = 3",
                cmp(k(Namespace::Param, "layer/1"), Eq, num(3.0)),
            ),
        ];
        for (q, want) in cases {
            assert_eq!(filter(q), want, "{q}");
        }
    }

    #[test]
    fn precedence_not_and_or_parentheses() {
        let a = || Expr::Text("a".into());
        let b = || Expr::Text("b".into());
        let c = || Expr::Text("c".into());
        assert_eq!(
            filter("a OR b AND c"),
            Expr::Or(vec![a(), Expr::And(vec![b(), c()])])
        );
        assert_eq!(
            filter("a AND b OR c"),
            Expr::Or(vec![Expr::And(vec![a(), b()]), c()])
        );
        assert_eq!(
            filter("(a OR b) c"),
            Expr::And(vec![Expr::Or(vec![a(), b()]), c()])
        );
        assert_eq!(
            filter("NOT a b"),
            Expr::And(vec![Expr::Not(Box::new(a())), b()])
        );
        assert_eq!(
            filter("NOT (a OR b)"),
            Expr::Not(Box::new(Expr::Or(vec![a(), b()])))
        );
        assert_eq!(
            filter("a or not b"),
            Expr::Or(vec![a(), Expr::Not(Box::new(b()))])
        );
    }

    #[test]
    fn free_text_mixes_with_filters() {
        assert_eq!(
            filter("churn \"gradient boosting\" metrics.auc > 0.8"),
            Expr::And(vec![
                Expr::Text("churn".into()),
                Expr::Text("gradient boosting".into()),
                cmp(m("auc"), CompareOp::Gt, num(0.8)),
            ])
        );
        // A namespace word not followed by a dot is just a word.
        assert_eq!(filter("metrics"), Expr::Text("metrics".into()));
        assert_eq!(filter("2024-q3"), Expr::Text("2024-q3".into()));
    }

    #[test]
    fn order_by_limit_offset() {
        let q = parse("attributes.status = 'finished' ORDER BY metrics.acc DESC, params.lr LIMIT 10 OFFSET 20").unwrap();
        assert_eq!(
            q.order_by,
            vec![
                OrderKey {
                    key: m("acc"),
                    descending: true
                },
                OrderKey {
                    key: k(Namespace::Param, "lr"),
                    descending: false
                },
            ]
        );
        assert_eq!((q.limit, q.offset), (Some(10), Some(20)));
        let q = parse("ORDER BY max(metrics.val_acc) DESC LIMIT 5").unwrap();
        assert_eq!(q.filter, None);
        assert_eq!(q.order_by[0].key.aggregate, Some(Aggregate::Max));
        assert_eq!(parse("").unwrap(), Query::default());
        assert_eq!(parse("   ").unwrap(), Query::default());
    }

    #[test]
    fn errors_point_at_the_column() {
        let cases: &[(&str, usize, &str)] = &[
            ("metrics.acc >", 14, "expected a value"),
            ("metrics.acc ~ 3", 13, "unexpected character `~`"),
            ("metrics.acc 0.9", 13, "expected an operator after the key"),
            ("(a OR b", 8, "`)` to close"),
            ("a OR b)", 7, "unexpected `)`"),
            ("tags.team = 'risk", 13, "never closed"),
            ("metrics. > 1", 10, "expected a name after `metrics.`"),
            ("max(params.lr) > 1", 1, "apply to metrics only"),
            ("max(acc) > 1", 5, "expected a metric inside max"),
            ("params.x IN (1, 2", 18, "`,` or `)` in the IN list"),
            ("params.x IN 1", 13, "`(` after IN"),
            ("tags.t LIKE 3", 13, "quoted pattern"),
            ("tags.t IS 3", 11, "expected NULL after IS"),
            ("a LIMIT x", 9, "whole number"),
            ("a LIMIT 1.5", 9, "whole number"),
            ("ORDER BY 3", 10, "expected a key to order by"),
            ("a ORDER BY", 11, "expected a key to order by"),
            ("a AND", 6, "the end of the query"),
            ("()", 2, "empty parentheses"),
            ("a LIMIT 3 b", 11, "unexpected `b`"),
            ("params.x NOT = 3", 14, "NOT goes before"),
        ];
        for (q, col, want) in cases {
            let e = parse(q).expect_err(q);
            assert!(e.message.contains(want), "{q}: {e}");
            assert_eq!(e.column, *col, "{q}: {e}\n{}", e.pointer(q));
        }
        let e = parse("metrics.acc >").unwrap_err();
        assert_eq!(e.pointer("metrics.acc >"), "metrics.acc >\n             ^");
    }
}
