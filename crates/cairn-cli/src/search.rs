//! `cairn runs search` (and its short form `cairn search`): the query language on the command
//! line.

use crate::output::{Output, table};
use crate::{Cli, open};
use cairn_app::query::{Expr, Key, Namespace, Query};
use cairn_app::{AppError, Run};

#[derive(clap::Args)]
pub struct SearchArgs {
    /// The query (docs/query-language.md), e.g. `metrics.val_accuracy > 0.9 AND params.lr < 0.1
    /// ORDER BY metrics.val_accuracy DESC`; words and "phrases" match names, notes and tags.
    /// Several arguments are joined with spaces. Empty: every run, newest first.
    #[arg(num_args = 0.., value_name = "QUERY")]
    pub query: Vec<String>,
    /// Runs per page (a `LIMIT` in the query wins).
    #[arg(long, default_value_t = 20)]
    pub limit: usize,
    /// Runs to skip (an `OFFSET` in the query wins).
    #[arg(long, default_value_t = 0)]
    pub offset: usize,
}

pub fn run(cli: &Cli, out: &Output, args: &SearchArgs) -> Result<(), AppError> {
    let text = args.query.join(" ");
    let mut ws = open(cli, "searching runs")?;
    // Model versions and data sets answer the same query; a `models.*` key is theirs alone.
    let models_only = mentions_models(&cairn_app::parse_query(&text)?);
    let models = ws.search_models(&text)?;
    let datasets = ws.search_datasets(&text)?;
    if out.is_json() {
        let runs = if models_only {
            serde_json::json!({"total": 0, "offset": args.offset, "runs": [], "took_ms": 0.0})
        } else {
            serde_json::to_value(ws.search_runs(&text, args.limit, args.offset)?)
                .expect("a page serialises")
        };
        let mut page = runs;
        page["models"] = serde_json::to_value(&models).expect("hits serialise");
        page["datasets"] = serde_json::to_value(&datasets).expect("hits serialise");
        return out.json(&page);
    }
    if !models_only {
        let found = ws.search(&text, args.limit, args.offset)?;
        let parsed = cairn_app::parse_query(&text)?;
        print_runs(&found.runs, &columns(&parsed));
        let shown = found.runs.len();
        let first = if shown == 0 { 0 } else { args.offset + 1 };
        println!(
            "{first}–{} of {} runs ({:.1} ms)",
            args.offset + shown,
            found.total,
            found.took.as_secs_f64() * 1e3
        );
    }
    if !models.is_empty() {
        println!();
        print_models(&models);
    }
    if !datasets.is_empty() {
        println!();
        let rows: Vec<Vec<String>> = datasets
            .iter()
            .map(|d| vec![d.label.clone(), d.rows.to_string(), d.source.clone()])
            .collect();
        table(&["DATA SET", "ROWS", "SOURCE"], &rows);
    }
    Ok(())
}

/// Model versions as a table: version, aliases, run, test accuracy or R².
pub fn print_models(models: &[cairn_app::ModelHit]) {
    let rows: Vec<Vec<String>> = models
        .iter()
        .map(|m| {
            vec![
                format!("{}@{}", m.name, m.version),
                m.aliases.join(", "),
                m.run_name.clone(),
                m.test_metrics
                    .iter()
                    .find(|(k, _)| *k == "test_accuracy" || *k == "test_r2")
                    .map(|(k, v)| format!("{k}={v:.4}"))
                    .unwrap_or_default(),
                if m.archived { "archived" } else { "" }.into(),
            ]
        })
        .collect();
    table(&["MODEL VERSION", "ALIASES", "RUN", "METRIC", ""], &rows);
}

/// Whether a query names `models.*` keys (then it is about model versions, not runs).
fn mentions_models(q: &Query) -> bool {
    let mut keys: Vec<Key> = q.order_by.iter().map(|o| o.key.clone()).collect();
    if let Some(f) = &q.filter {
        collect_keys(f, &mut keys);
    }
    keys.iter().any(|k| k.namespace == Namespace::Model)
}

/// The metric, param and tag keys a query names (order-by keys first), at most four: the
/// columns worth showing beside each run.
fn columns(query: &Query) -> Vec<Key> {
    let mut keys: Vec<Key> = query.order_by.iter().map(|o| o.key.clone()).collect();
    if let Some(filter) = &query.filter {
        collect_keys(filter, &mut keys);
    }
    let mut out: Vec<Key> = Vec::new();
    for k in keys {
        let shown = matches!(
            k.namespace,
            Namespace::Metric | Namespace::Param | Namespace::Tag
        );
        if shown && !out.contains(&k) {
            out.push(k);
        }
    }
    if out.is_empty() {
        out.push(Key {
            namespace: Namespace::Metric,
            name: "test_accuracy".into(),
            aggregate: None,
        });
    }
    out.truncate(4);
    out
}

fn collect_keys(expr: &Expr, out: &mut Vec<Key>) {
    match expr {
        Expr::And(items) | Expr::Or(items) => items.iter().for_each(|e| collect_keys(e, out)),
        Expr::Not(inner) => collect_keys(inner, out),
        Expr::Compare { key, .. }
        | Expr::In { key, .. }
        | Expr::IsNull { key, .. }
        | Expr::Like { key, .. } => out.push(key.clone()),
        Expr::Text(_) => {}
    }
}

fn cell(run: &Run, key: &Key) -> String {
    let missing = || "-".to_string();
    match key.namespace {
        // Aggregates are not on the run; its last value is what the table can show.
        Namespace::Metric => run
            .metrics
            .get(&key.name)
            .map_or_else(missing, |v| format!("{v:.4}")),
        Namespace::Param => run
            .params
            .get(&key.name)
            .map_or_else(missing, |v| v.to_string()),
        Namespace::Tag => run.tags.get(&key.name).cloned().unwrap_or_else(missing),
        _ => missing(),
    }
}

fn header(key: &Key) -> String {
    let ns = match key.namespace {
        Namespace::Metric => "metrics",
        Namespace::Param => "params",
        _ => "tags",
    };
    format!("{ns}.{}", key.name)
}

fn print_runs(runs: &[Run], keys: &[Key]) {
    if runs.is_empty() {
        println!("no runs match");
        return;
    }
    let mut head: Vec<String> = ["ID", "NAME", "STATUS", "MODEL", "DATA"]
        .iter()
        .map(|s| s.to_string())
        .collect();
    head.extend(keys.iter().map(header));
    head.push("CREATED".into());
    let rows: Vec<Vec<String>> = runs
        .iter()
        .map(|r| {
            let mut row = vec![
                r.id.short().to_string(),
                r.name.clone(),
                r.status.to_string(),
                r.model.clone(),
                r.dataset.clone(),
            ];
            row.extend(keys.iter().map(|k| cell(r, k)));
            row.push(r.created_at.clone());
            row
        })
        .collect();
    let head: Vec<&str> = head.iter().map(String::as_str).collect();
    table(&head, &rows);
}
