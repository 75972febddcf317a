//! `cairn data …`: arguments, the call into `cairn-app`, and printing.

use crate::output::{Output, table};
use crate::progress;
use crate::{Cli, open};
use cairn_app::json::RowPage;
use cairn_app::{AppError, DataType, FileFormat, ImportOptions, SplitSpec, TextEncoding};
use clap::Subcommand;
use serde_json::json;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum DataCommand {
    /// Import a CSV/TSV, Parquet or JSON file, or a folder of same-schema files, as a new version.
    Import {
        /// A file, or a folder whose files of one format are read in name order.
        path: PathBuf,
        /// Data set name (default: from the file or folder name).
        #[arg(long)]
        name: Option<String>,
        /// File format: csv, tsv, parquet or json (default: from the extension).
        #[arg(long)]
        format: Option<String>,
        /// CSV field delimiter, e.g. `,` `;` `|` or `\t` (default: detected).
        #[arg(long)]
        delimiter: Option<String>,
        /// CSV quote character (default: detected, `"` or `'`).
        #[arg(long)]
        quote: Option<char>,
        /// The first line holds column names (default: detected).
        #[arg(long, conflicts_with = "no_header")]
        header: bool,
        /// The first line is data; columns are named column0, column1, ...
        #[arg(long)]
        no_header: bool,
        /// Text encoding: utf-8, utf-16 or latin-1 (default: detected).
        #[arg(long)]
        encoding: Option<String>,
        /// Read a column as a type: COLUMN=boolean|integer|float|string|date|timestamp (repeatable).
        #[arg(long = "type", value_name = "COLUMN=TYPE")]
        types: Vec<String>,
        /// Refuse the import if this column has an empty value (repeatable).
        #[arg(long = "not-null", value_name = "COLUMN")]
        not_null: Vec<String>,
        /// Mark a column as categorical, a label or code rather than a quantity (repeatable).
        #[arg(long, value_name = "COLUMN")]
        categorical: Vec<String>,
    },
    /// List data sets (latest version of each).
    List,
    /// Show one data set: every version, its schema and lineage.
    Show { name: String },
    /// Print rows of a version.
    Head {
        /// NAME, NAME@3, NAME@latest or NAME@<hash prefix>.
        #[arg(value_name = "VERSION")]
        dataset: String,
        #[arg(long, default_value_t = 0)]
        offset: u64,
        #[arg(long, default_value_t = 20)]
        limit: u64,
    },
    /// Show the profile stored with a version: types, nulls, distinct values, ranges, histograms.
    Profile {
        #[arg(value_name = "VERSION")]
        dataset: String,
    },
    /// Check a version against quality rules in a TOML file; exits 1 if a rule fails.
    Check {
        #[arg(value_name = "VERSION")]
        dataset: String,
        #[arg(long, value_name = "FILE.toml")]
        rules: PathBuf,
    },
    /// Compare two versions: schema, rows added/removed/changed, profile deltas.
    Diff {
        /// The older version.
        from: String,
        /// The newer version (`@3` means the same data set).
        to: String,
        /// Match rows on this column and report changed cells.
        #[arg(long)]
        key: Option<String>,
    },
    /// Split a version into derived versions NAME-train, NAME-valid, NAME-test, reproducibly.
    Split {
        #[arg(value_name = "VERSION")]
        dataset: String,
        /// Shares: `0.8,0.2` (train/test), `0.7,0.15,0.15` (train/valid/test) or `a=0.5,b=0.5`.
        #[arg(long, default_value = "0.7,0.15,0.15")]
        ratios: String,
        #[arg(long, default_value_t = 42)]
        seed: u64,
        /// Keep this column's class proportions in every part.
        #[arg(long)]
        stratify: Option<String>,
        /// Keep rows with the same value of this column in one part.
        #[arg(long)]
        group: Option<String>,
    },
    /// Write a version to a .parquet, .csv or .tsv file.
    Export {
        #[arg(value_name = "VERSION")]
        dataset: String,
        #[arg(short, long, value_name = "FILE")]
        out: PathBuf,
    },
    /// Delete a version; refused while runs or derived versions use it, unless --force.
    Delete {
        #[arg(value_name = "VERSION")]
        dataset: String,
        #[arg(long)]
        force: bool,
    },
}

fn parse_delimiter(text: &str) -> Result<char, AppError> {
    match text {
        "\\t" | "tab" | "\t" => Ok('\t'),
        t if t.chars().count() == 1 => Ok(t.chars().next().expect("one char")),
        t => Err(AppError::invalid(format!(
            "`{t}` is not one delimiter character; use e.g. `,` `;` `|` or `\\t`"
        ))),
    }
}

#[allow(clippy::too_many_arguments)]
fn import_options(
    format: &Option<String>,
    delimiter: &Option<String>,
    quote: Option<char>,
    header: bool,
    no_header: bool,
    encoding: &Option<String>,
    types: &[String],
    not_null: &[String],
    categorical: &[String],
) -> Result<ImportOptions, AppError> {
    let mut o = ImportOptions {
        format: format
            .as_deref()
            .map(FileFormat::parse)
            .transpose()
            .map_err(AppError::invalid)?,
        delimiter: delimiter.as_deref().map(parse_delimiter).transpose()?,
        quote,
        header: if header {
            Some(true)
        } else if no_header {
            Some(false)
        } else {
            None
        },
        encoding: encoding
            .as_deref()
            .map(TextEncoding::parse)
            .transpose()
            .map_err(AppError::invalid)?,
        columns: Vec::new(),
    };
    if format.as_deref() == Some("tsv") && o.delimiter.is_none() {
        o.delimiter = Some('\t');
    }
    for t in types {
        let (col, ty) = t.split_once('=').ok_or_else(|| {
            AppError::invalid(format!("--type `{t}`: write COLUMN=TYPE, e.g. zip=string"))
        })?;
        o.column_mut(col).dtype = Some(
            DataType::parse_user(ty).map_err(|e| AppError::invalid(format!("--type {t}: {e}")))?,
        );
    }
    for c in not_null {
        o.column_mut(c).not_null = true;
    }
    for c in categorical {
        o.column_mut(c).categorical = true;
    }
    Ok(o)
}

fn cell(v: &Option<String>) -> String {
    v.clone().unwrap_or_else(|| "∅".into())
}

fn num(v: Option<f64>) -> String {
    match v {
        Some(x) if x.abs() >= 1e6 || (x != 0.0 && x.abs() < 1e-3) => format!("{x:.4e}"),
        Some(x) => format!("{:.4}", x)
            .trim_end_matches('0')
            .trim_end_matches('.')
            .to_string(),
        None => "-".into(),
    }
}

pub fn run(cli: &Cli, out: &Output, cmd: &DataCommand) -> Result<ExitCode, AppError> {
    match cmd {
        DataCommand::Import {
            path,
            name,
            format,
            delimiter,
            quote,
            header,
            no_header,
            encoding,
            types,
            not_null,
            categorical,
        } => {
            let options = import_options(
                format,
                delimiter,
                *quote,
                *header,
                *no_header,
                encoding,
                types,
                not_null,
                categorical,
            )?;
            let mut ws = open(cli, &format!("importing {}", path.display()))?;
            let cancel = progress::cancel_on_ctrl_c();
            let mut bar = progress::Bar::new(out.is_json(), "import");
            let outcome =
                ws.import_dataset(path, name.as_deref(), options, &mut bar.observer(&cancel));
            bar.finish();
            out.imported(&outcome?)?;
        }
        DataCommand::List => out.datasets(&open(cli, "listing data sets")?.datasets()?)?,
        DataCommand::Show { name } => {
            let d = open(cli, "showing a data set")?.dataset_detail(name)?;
            if out.is_json() {
                return out.json(&d).map(|_| ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = d
                .versions
                .iter()
                .map(|v| {
                    vec![
                        format!("v{}", v.version),
                        v.parent_version.map_or("-".into(), |p| format!("v{p}")),
                        v.rows.to_string(),
                        v.columns.len().to_string(),
                        v.hash[..12].to_string(),
                        v.created_at.clone(),
                        v.source.clone(),
                    ]
                })
                .collect();
            println!("{}", d.name);
            table(
                &[
                    "VERSION", "PARENT", "ROWS", "COLUMNS", "HASH", "CREATED", "SOURCE",
                ],
                &rows,
            );
            if let Some(latest) = d.versions.last() {
                println!("\ncolumns of v{}:", latest.version);
                let rows: Vec<Vec<String>> = latest
                    .columns
                    .iter()
                    .map(|c| {
                        let mut flags = Vec::new();
                        if c.nullable {
                            flags.push("nullable");
                        }
                        if c.categorical {
                            flags.push("categorical");
                        }
                        vec![c.name.clone(), c.dtype.to_string(), flags.join(", ")]
                    })
                    .collect();
                table(&["COLUMN", "TYPE", ""], &rows);
            }
            if let Some(r) = d.read_as.last() {
                let o = &r.options;
                let mut how =
                    vec![format!("{:?}", o.format.unwrap_or(FileFormat::Csv)).to_lowercase()];
                if let Some(c) = o.delimiter {
                    how.push(format!("delimiter {c:?}"));
                }
                if let Some(q) = o.quote {
                    how.push(format!("quote {q:?}"));
                }
                if let Some(h) = o.header {
                    how.push(if h {
                        "header".into()
                    } else {
                        "no header".into()
                    });
                }
                if let Some(e) = o.encoding {
                    how.push(e.engine_name().to_string());
                }
                for c in &o.columns {
                    let mut said = Vec::new();
                    if let Some(t) = &c.dtype {
                        said.push(t.to_string());
                    }
                    if c.not_null {
                        said.push("not null".into());
                    }
                    if c.categorical {
                        said.push("categorical".into());
                    }
                    how.push(format!("{}: {}", c.column, said.join(" ")));
                }
                println!("\nv{} was read as: {}", r.version, how.join(", "));
            }
            if !d.lineage.is_empty() {
                println!("\nlineage:");
                for e in &d.lineage {
                    let deleted = if e.parent_deleted { " (deleted)" } else { "" };
                    println!("  {} <- {} of {}{deleted}", e.child, e.kind, e.parent);
                }
            }
        }
        DataCommand::Head {
            dataset: version,
            offset,
            limit,
        } => {
            let page =
                RowPage::from(open(cli, "reading rows")?.dataset_page(version, *offset, *limit)?);
            if out.is_json() {
                return out.json(&page).map(|_| ExitCode::SUCCESS);
            }
            let header: Vec<&str> = page.columns.iter().map(String::as_str).collect();
            let rows: Vec<Vec<String>> = page
                .rows
                .iter()
                .map(|r| r.iter().map(cell).collect())
                .collect();
            table(&header, &rows);
            println!(
                "rows {}–{} of {}",
                page.offset + 1,
                page.offset + page.rows.len() as u64,
                page.total
            );
        }
        DataCommand::Profile { dataset: version } => {
            let (v, p) = open(cli, "reading a profile")?.dataset_profile(version)?;
            if out.is_json() {
                return out
                    .json(&json!({ "version": v.label(), "hash": v.hash, "profile": p }))
                    .map(|_| ExitCode::SUCCESS);
            }
            println!("{} — {} rows", v.label(), p.rows);
            let rows: Vec<Vec<String>> = p
                .columns
                .iter()
                .map(|c| {
                    let n = c.numeric.as_ref();
                    let distinct = if c.distinct_exact {
                        c.distinct.to_string()
                    } else {
                        format!("~{}", c.distinct)
                    };
                    let top = c
                        .top
                        .iter()
                        .take(3)
                        .map(|t| format!("{} ({})", t.value, t.count))
                        .collect::<Vec<_>>()
                        .join(", ");
                    vec![
                        c.name.clone(),
                        c.dtype.to_string(),
                        c.nulls.to_string(),
                        distinct,
                        c.min.clone().unwrap_or_default(),
                        c.max.clone().unwrap_or_default(),
                        num(n.map(|n| n.mean)),
                        num(n.and_then(|n| n.std)),
                        num(n.and_then(|n| n.quantiles.iter().find(|q| q.0 == 0.5).map(|q| q.1))),
                        top,
                    ]
                })
                .collect();
            table(
                &[
                    "COLUMN", "TYPE", "NULLS", "DISTINCT", "MIN", "MAX", "MEAN", "STD", "MEDIAN",
                    "TOP",
                ],
                &rows,
            );
        }
        DataCommand::Check {
            dataset: version,
            rules,
        } => {
            let report =
                open(cli, &format!("checking {version}"))?.check_quality(version, rules)?;
            let code = if report.passed {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            };
            if out.is_json() {
                return out.json(&report).map(|_| code);
            }
            for r in &report.results {
                let mark = if r.passed { "PASS" } else { "FAIL" };
                println!("{mark}  {}  ({} failing)", r.name, r.failing);
                for s in &r.samples {
                    let vals: Vec<String> = s
                        .values
                        .iter()
                        .map(|(k, v)| format!("{k}={}", cell(v)))
                        .collect();
                    println!("        row {}: {}", s.row, vals.join(" "));
                }
            }
            let failed = report.results.iter().filter(|r| !r.passed).count();
            println!(
                "{}: {} of {} rules passed on {}@{}",
                if report.passed { "passed" } else { "failed" },
                report.results.len() - failed,
                report.results.len(),
                report.dataset,
                report.version
            );
            return Ok(code);
        }
        DataCommand::Diff { from, to, key } => {
            let d = open(cli, "diffing versions")?.diff_datasets(from, to, key.as_deref())?;
            if out.is_json() {
                return out.json(&d).map(|_| ExitCode::SUCCESS);
            }
            println!(
                "{} → {}  ({} → {} rows)",
                d.from, d.to, d.rows_from, d.rows_to
            );
            for (c, t) in &d.schema.added {
                println!("  + column {c} ({t})");
            }
            for (c, t) in &d.schema.removed {
                println!("  - column {c} ({t})");
            }
            for (c, a, b) in &d.schema.retyped {
                println!("  ~ column {c}: {a} → {b}");
            }
            let matched = match &d.key {
                Some(k) => format!("matched on `{k}`"),
                None => "matched by row content".into(),
            };
            println!(
                "rows ({matched}): {} added, {} removed, {} changed, {} unchanged",
                d.added, d.removed, d.changed, d.unchanged
            );
            for (c, n) in &d.changed_by_column {
                println!("  {c}: {n} changed");
            }
            for r in &d.changed_samples {
                for (c, a, b) in &r.cells {
                    println!(
                        "  {} = {}: {c} {} → {}",
                        d.key.as_deref().unwrap_or(""),
                        r.key,
                        cell(a),
                        cell(b)
                    );
                }
            }
            for (label, samples) in [("+", &d.added_samples), ("-", &d.removed_samples)] {
                for s in samples {
                    let vals: Vec<String> =
                        s.iter().map(|(k, v)| format!("{k}={}", cell(v))).collect();
                    println!("  {label} {}", vals.join(" "));
                }
            }
        }
        DataCommand::Split {
            dataset: version,
            ratios,
            seed,
            stratify,
            group,
        } => {
            let spec = SplitSpec {
                parts: SplitSpec::parse_parts(ratios).map_err(AppError::invalid)?,
                seed: *seed,
                stratify: stratify.clone(),
                group: group.clone(),
            };
            let mut ws = open(cli, &format!("splitting {version}"))?;
            let cancel = progress::cancel_on_ctrl_c();
            let mut bar = progress::Bar::new(out.is_json(), "split");
            let result = ws.split_dataset(version, &spec, &mut bar.observer(&cancel));
            bar.finish();
            let parts = result?;
            if out.is_json() {
                let list: Vec<_> = parts
                    .iter()
                    .map(|o| json!({ "created": o.created, "version": o.version }))
                    .collect();
                return out
                    .json(&json!({ "parts": list }))
                    .map(|_| ExitCode::SUCCESS);
            }
            for o in &parts {
                let v = &o.version;
                let verb = if o.created { "created" } else { "unchanged" };
                println!(
                    "{verb} {} ({} rows) hash {}",
                    v.label(),
                    v.rows,
                    &v.hash[..12]
                );
            }
        }
        DataCommand::Export {
            dataset: version,
            out: to,
        } => {
            let v = open(cli, &format!("exporting {version}"))?.export_dataset(version, to)?;
            out.message(
                &format!("wrote {} ({} rows) to {}", v.label(), v.rows, to.display()),
                &json!({ "version": v.label(), "hash": v.hash, "rows": v.rows, "path": to }),
            )?;
        }
        DataCommand::Delete {
            dataset: version,
            force,
        } => {
            let d = open(cli, &format!("deleting {version}"))?.delete_dataset(version, *force)?;
            let mut text = format!("deleted {}", d.deleted);
            if !d.runs.is_empty() {
                text.push_str(&format!(
                    "\n  runs that now name a deleted version: {}",
                    d.runs.join(", ")
                ));
            }
            if !d.derived.is_empty() {
                text.push_str(&format!(
                    "\n  derived versions whose parent is deleted: {}",
                    d.derived.join(", ")
                ));
            }
            if !d.table_dropped {
                text.push_str("\n  its data stays: another version has the same content");
            }
            out.message(&text, &d)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
