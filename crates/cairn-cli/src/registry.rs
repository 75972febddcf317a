//! `cairn registry …` and `cairn audit …`: the model registry and the audit log.

use crate::output::{Output, table};
use crate::{Cli, open};
use cairn_app::{AppError, PromoteOptions, RegisterOptions};
use clap::Subcommand;
use std::path::PathBuf;
use std::process::ExitCode;

#[derive(Subcommand)]
pub enum RegistryCommand {
    /// Register a finished run's model (or a bundle file) as the next version of NAME.
    Register {
        /// The run (id, id prefix or name); leave out with --bundle.
        run: Option<String>,
        #[arg(long)]
        name: String,
        /// Register this bundle file instead of a run (verified first).
        #[arg(long, value_name = "FILE.zip", conflicts_with = "run")]
        bundle: Option<PathBuf>,
        #[arg(long, default_value = "")]
        description: String,
        /// KEY=VALUE (repeatable).
        #[arg(long = "tag", value_name = "KEY=VALUE")]
        tags: Vec<String>,
    },
    /// List registered models with their versions and aliases.
    List,
    /// Show a model (NAME) with every version, or one version (NAME@N, NAME@alias).
    Show { model: String },
    /// Hide a version from `NAME` and from promotion, keeping it (with a reason).
    Archive {
        #[arg(value_name = "NAME@N")]
        model_version: String,
        #[arg(long)]
        reason: String,
    },
    /// Set a version's tag (`KEY=VALUE`), or remove it (`KEY` with --delete).
    Tag {
        #[arg(value_name = "NAME@N")]
        model_version: String,
        tag: String,
        #[arg(long)]
        delete: bool,
    },
    /// Set the description of a model (NAME) or a version (NAME@N).
    Describe { model: String, text: String },
    /// Point an alias at a version through the policy's gates and approvals.
    Promote {
        #[arg(value_name = "NAME@N")]
        model_version: String,
        #[arg(long)]
        alias: String,
        /// Move it even though gates fail (recorded as forced; needs --reason).
        #[arg(long)]
        force: bool,
        #[arg(long)]
        reason: Option<String>,
        /// The requester's secret key file (with separate_duties its approval does not count).
        #[arg(long, value_name = "KEYFILE")]
        key: Option<PathBuf>,
        /// Evaluate the gates and show the report; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Sign an approval of pointing an alias at a version (over its current gate report).
    Approve {
        #[arg(value_name = "NAME@N")]
        model_version: String,
        #[arg(long)]
        alias: String,
        #[arg(long, value_name = "KEYFILE")]
        key: PathBuf,
        #[arg(long, default_value = "")]
        comment: String,
    },
    /// Retrain a version's run from its data in a scratch workspace, compare metrics and
    /// weights, and record the outcome as the version's `reproduce` evidence (exit 1 when they
    /// differ).
    Reproduce {
        #[arg(value_name = "NAME@N")]
        model_version: String,
    },
    /// Remove an alias (recorded as a move to no version).
    Unalias {
        model: String,
        #[arg(long)]
        alias: String,
        #[arg(long, default_value = "")]
        reason: String,
    },
    /// Every move of a model's aliases; with --at, which version each pointed at then.
    History {
        model: String,
        #[arg(long)]
        alias: Option<String>,
        /// RFC 3339, a date, or epoch milliseconds.
        #[arg(long)]
        at: Option<String>,
    },
    /// Find model versions with the query language: `models.name`, `models.alias`,
    /// `models.version`, `metrics.test_*`, `tags.*`, free text (docs/query-language.md).
    Search {
        #[arg(num_args = 0.., value_name = "QUERY")]
        query: Vec<String>,
    },
    /// Promotion policies (TOML, docs/registry.md).
    #[command(subcommand)]
    Policy(PolicyCommand),
}

#[derive(Subcommand)]
pub enum PolicyCommand {
    /// Store a policy for a model (--model NAME) or the workspace default.
    Set {
        file: PathBuf,
        #[arg(long)]
        model: Option<String>,
    },
    /// Print the policy in force for a model (or the workspace default).
    Show {
        #[arg(long)]
        model: Option<String>,
    },
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Print entries, oldest first.
    Log {
        /// RFC 3339 or a date.
        #[arg(long)]
        since: Option<String>,
        /// `model:iris` (and what is under it), `run:<id>`, `data:iris@2`, …
        #[arg(long)]
        subject: Option<String>,
        /// The newest N entries.
        #[arg(long, default_value_t = 1000)]
        limit: usize,
    },
    /// Check every entry's hash and link and every signed checkpoint; exit 1 naming the first
    /// bad entry.
    Verify,
    /// Sign the log's head with a key, so that truncation is caught later.
    Checkpoint {
        #[arg(long, value_name = "KEYFILE")]
        key: PathBuf,
    },
}

fn tags(list: &[String]) -> Result<std::collections::BTreeMap<String, String>, AppError> {
    list.iter()
        .map(|t| {
            t.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .ok_or_else(|| AppError::invalid(format!("--tag `{t}`: expected KEY=VALUE")))
        })
        .collect()
}

pub fn run(cli: &Cli, out: &Output, cmd: &RegistryCommand) -> Result<ExitCode, AppError> {
    match cmd {
        RegistryCommand::Register {
            run,
            name,
            bundle,
            description,
            tags: t,
        } => {
            let opts = RegisterOptions {
                description: description.clone(),
                tags: tags(t)?,
            };
            if let Some(file) = bundle {
                // Verify before opening: a hostile bundle leaves even a new workspace uncreated.
                cairn_app::read_bundle(file, &[])?;
            }
            let mut ws = open(cli, &format!("registering a version of {name}"))?;
            let v = match (run, bundle) {
                (_, Some(file)) => ws.register_bundle(file, name, &opts)?,
                (Some(run), None) => ws.register_run(run, name, &opts)?,
                (None, None) => {
                    return Err(AppError::invalid(
                        "name the run to register (`cairn registry register RUN --name NAME`) or give --bundle FILE",
                    ));
                }
            };
            out.message(
                &format!(
                    "registered {}@{} from run {} (bundle {}, {} input columns)",
                    v.name,
                    v.version,
                    v.record.run_name,
                    &v.record.bundle_sha256[..12],
                    v.record.signature.len()
                ),
                &v,
            )?;
        }
        RegistryCommand::List => {
            let ws = open(cli, "listing models")?;
            let models = ws.registered_models()?;
            if out.is_json() {
                out.json(&models)?;
            } else if models.is_empty() {
                println!(
                    "no registered models; register one with `cairn registry register RUN --name NAME`"
                );
            } else {
                let rows: Vec<Vec<String>> = models
                    .iter()
                    .map(|m| {
                        vec![
                            m.name.clone(),
                            m.versions.to_string(),
                            format!("v{}", m.latest),
                            m.aliases
                                .iter()
                                .map(|a| format!("{}→v{}", a.alias, a.version))
                                .collect::<Vec<_>>()
                                .join(", "),
                        ]
                    })
                    .collect();
                table(&["MODEL", "VERSIONS", "LATEST", "ALIASES"], &rows);
            }
        }
        RegistryCommand::Show { model } => {
            let ws = open(cli, "showing a model")?;
            if model.contains('@') {
                let v = ws.model_version(model)?;
                if out.is_json() {
                    out.json(&v)?;
                } else {
                    println!(
                        "{}@{}  (run {}, {})",
                        v.name, v.version, v.record.run_name, v.record.model_kind
                    );
                    println!("registered {} by {}", v.created_at, v.created_by);
                    if let Some(at) = &v.archived_at {
                        println!(
                            "ARCHIVED {at}: {}",
                            v.archive_reason.as_deref().unwrap_or("")
                        );
                    }
                    if !v.aliases.is_empty() {
                        println!("aliases: {}", v.aliases.join(", "));
                    }
                    println!("bundle sha256 {}", v.record.bundle_sha256);
                    println!(
                        "data {} (hash {})",
                        v.record.data.as_deref().unwrap_or("(not here)"),
                        &v.record.data_hash[..12.min(v.record.data_hash.len())]
                    );
                    for (k, val) in &v.record.test_metrics {
                        println!("  {k} = {val}");
                    }
                    let rows: Vec<Vec<String>> = v
                        .record
                        .signature
                        .iter()
                        .map(|c| {
                            vec![
                                c.name.clone(),
                                c.dtype.clone(),
                                c.role.clone(),
                                c.min.map(|x| x.to_string()).unwrap_or_default(),
                                c.max.map(|x| x.to_string()).unwrap_or_default(),
                                c.categories.len().to_string(),
                                if c.nulls_seen { "yes" } else { "no" }.into(),
                            ]
                        })
                        .collect();
                    table(
                        &["INPUT", "TYPE", "ROLE", "MIN", "MAX", "CATEGORIES", "NULLS"],
                        &rows,
                    );
                }
            } else {
                let d = ws.model_page(model)?;
                if out.is_json() {
                    out.json(&d)?;
                } else {
                    let rows: Vec<Vec<String>> = d
                        .versions
                        .iter()
                        .map(|v| {
                            vec![
                                format!("v{}", v.version),
                                v.record.run_name.clone(),
                                v.record
                                    .test_metrics
                                    .iter()
                                    .find(|(k, _)| *k == "test_accuracy" || *k == "test_r2")
                                    .map(|(k, x)| format!("{k}={x:.4}"))
                                    .unwrap_or_default(),
                                v.aliases.join(", "),
                                v.created_at.clone(),
                                if v.archived_at.is_some() {
                                    "archived"
                                } else {
                                    ""
                                }
                                .into(),
                            ]
                        })
                        .collect();
                    table(
                        &["VERSION", "RUN", "METRIC", "ALIASES", "REGISTERED", ""],
                        &rows,
                    );
                }
            }
        }
        RegistryCommand::Archive {
            model_version: version,
            reason,
        } => {
            let mut ws = open(cli, &format!("archiving {version}"))?;
            let v = ws.archive_version(version, reason)?;
            out.message(&format!("archived {}@{}", v.name, v.version), &v)?;
        }
        RegistryCommand::Tag {
            model_version: version,
            tag,
            delete,
        } => {
            let mut ws = open(cli, &format!("tagging {version}"))?;
            let v = if *delete {
                ws.tag_version(version, tag, None)?
            } else {
                let (k, val) = tag.split_once('=').ok_or_else(|| {
                    AppError::invalid(format!(
                        "`{tag}`: expected KEY=VALUE (or KEY with --delete)"
                    ))
                })?;
                ws.tag_version(version, k, Some(val))?
            };
            out.message(&format!("{}@{} tags: {:?}", v.name, v.version, v.tags), &v)?;
        }
        RegistryCommand::Describe { model, text } => {
            let mut ws = open(cli, &format!("describing {model}"))?;
            ws.describe_model(model, text)?;
            out.message(
                &format!("described {model}"),
                &serde_json::json!({"model": model, "description": text}),
            )?;
        }
        RegistryCommand::Promote {
            model_version: version,
            alias,
            force,
            reason,
            key,
            dry_run,
        } => {
            let mut ws = open(cli, &format!("promoting {version} to {alias}"))?;
            let opts = PromoteOptions {
                force: *force,
                reason: reason.clone(),
                key: key.clone(),
                dry_run: *dry_run,
            };
            let o = ws.promote(version, alias, &opts)?;
            if out.is_json() {
                out.json(&o)?;
            } else {
                print_checks(&o.report.checks, &o.approvals);
                if o.moved {
                    println!(
                        "{}@{alias} → v{}{}{}",
                        o.model,
                        o.version,
                        o.from_version
                            .map(|v| format!(" (was v{v})"))
                            .unwrap_or_default(),
                        if o.forced {
                            format!(" FORCED: {}", o.reason)
                        } else {
                            String::new()
                        }
                    );
                } else {
                    println!(
                        "dry run: {}@{alias} would {}",
                        o.model,
                        if o.passed {
                            format!("move to v{}", o.version)
                        } else {
                            "be refused".into()
                        }
                    );
                }
            }
        }
        RegistryCommand::Approve {
            model_version: version,
            alias,
            key,
            comment,
        } => {
            let mut ws = open(cli, &format!("approving {version} for {alias}"))?;
            let a = ws.approve(version, alias, key, comment)?;
            out.message(
                &format!(
                    "approved {}@{} for {alias} with key {} ({} of {} approvals)",
                    a.approval.claim.model,
                    a.approval.claim.version,
                    a.approval.fingerprint,
                    a.counted,
                    a.required
                ),
                &a,
            )?;
        }
        RegistryCommand::Reproduce { model_version } => {
            let dir = crate::dir(cli)?;
            let cancel = crate::progress::cancel_on_ctrl_c();
            let mut bar = crate::progress::Bar::new(out.is_json(), "reproduce");
            let result = cairn_app::Jobs::new().run(
                cairn_app::JobKind::BundleReproduce,
                format!("Reproduce {model_version}"),
                &mut bar.observer(&cancel),
                |job| dir.reproduce_version(model_version, job),
            );
            bar.finish();
            let report = result?;
            out.reproduced(&report)?;
            if !report.matches {
                return Ok(ExitCode::from(1));
            }
        }
        RegistryCommand::Unalias {
            model,
            alias,
            reason,
        } => {
            let mut ws = open(cli, &format!("removing {model}@{alias}"))?;
            ws.remove_alias(model, alias, reason)?;
            out.message(
                &format!("removed {model}@{alias}"),
                &serde_json::json!({"model": model, "alias": alias}),
            )?;
        }
        RegistryCommand::History { model, alias, at } => {
            let ws = open(cli, &format!("reading the history of {model}"))?;
            let h = ws.alias_history(model, alias.as_deref(), at.as_deref())?;
            if out.is_json() {
                out.json(&h)?;
            } else if let Some(t) = &h.at {
                for p in &h.pointing {
                    match p.version {
                        Some(v) => println!(
                            "at {t}: {}@{} → v{v} (since {})",
                            h.model,
                            p.alias,
                            p.since.as_deref().unwrap_or("")
                        ),
                        None => println!("at {t}: {}@{} pointed at no version", h.model, p.alias),
                    }
                }
                if h.pointing.is_empty() {
                    println!("at {t}: no alias of {} had moved yet", h.model);
                }
            } else {
                let rows: Vec<Vec<String>> = h
                    .moves
                    .iter()
                    .map(|m| {
                        vec![
                            m.at.clone(),
                            m.alias.clone(),
                            m.from_version
                                .map(|v| format!("v{v}"))
                                .unwrap_or_else(|| "-".into()),
                            m.to_version
                                .map(|v| format!("v{v}"))
                                .unwrap_or_else(|| "-".into()),
                            m.actor.clone(),
                            if m.forced { "forced" } else { "" }.into(),
                            m.reason.clone(),
                        ]
                    })
                    .collect();
                table(&["AT", "ALIAS", "FROM", "TO", "BY", "", "REASON"], &rows);
            }
        }
        RegistryCommand::Search { query } => {
            let ws = open(cli, "searching model versions")?;
            let hits = ws.search_models(&query.join(" "))?;
            if out.is_json() {
                out.json(&hits)?;
            } else if hits.is_empty() {
                println!("no model version matches");
            } else {
                crate::search::print_models(&hits);
            }
        }
        RegistryCommand::Policy(PolicyCommand::Set { file, model }) => {
            let mut ws = open(cli, "storing a policy")?;
            let p = ws.set_policy(model.as_deref(), file)?;
            out.message(
                &format!(
                    "policy for {} stored ({} alias{})",
                    model.as_deref().unwrap_or("the workspace"),
                    p.aliases.len(),
                    if p.aliases.len() == 1 { "" } else { "es" }
                ),
                &p,
            )?;
        }
        RegistryCommand::Policy(PolicyCommand::Show { model }) => {
            let ws = open(cli, "reading a policy")?;
            let text = match model {
                Some(m) => ws.model_page(m)?.policy,
                None => ws.workspace_policy()?,
            };
            match (out.is_json(), text) {
                (true, t) => out.json(&serde_json::json!({"model": model, "policy": t}))?,
                (false, Some(t)) => print!("{t}"),
                (false, None) => {
                    println!("no policy: every promotion only needs a bundle that verifies")
                }
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_checks(checks: &[cairn_app::GateCheck], approvals: &cairn_app::GateCheck) {
    let rows: Vec<Vec<String>> = checks
        .iter()
        .chain(std::iter::once(approvals))
        .map(|c| {
            vec![
                if c.passed { "pass" } else { "FAIL" }.into(),
                c.check.clone(),
                c.value.clone().unwrap_or_default(),
                c.threshold.clone(),
                c.detail.clone(),
            ]
        })
        .collect();
    table(&["", "CHECK", "VALUE", "NEEDS", "DETAIL"], &rows);
}

pub fn audit(cli: &Cli, out: &Output, cmd: &AuditCommand) -> Result<ExitCode, AppError> {
    match cmd {
        AuditCommand::Log {
            since,
            subject,
            limit,
        } => {
            let ws = open(cli, "reading the audit log")?;
            let entries = ws.audit_log(since.as_deref(), subject.as_deref(), *limit)?;
            if out.is_json() {
                out.json(&entries)?;
            } else {
                let rows: Vec<Vec<String>> = entries
                    .iter()
                    .map(|e| {
                        vec![
                            e.seq.to_string(),
                            e.at.clone(),
                            match &e.key {
                                Some(k) => format!("{} ({k})", e.actor),
                                None => e.actor.clone(),
                            },
                            e.action.clone(),
                            e.subject.clone(),
                            e.payload.chars().take(100).collect(),
                        ]
                    })
                    .collect();
                table(
                    &["SEQ", "AT", "ACTOR", "ACTION", "SUBJECT", "PAYLOAD"],
                    &rows,
                );
            }
        }
        AuditCommand::Verify => {
            let ws = open(cli, "verifying the audit log")?;
            let r = ws.audit_verify()?;
            if out.is_json() {
                out.json(&r)?;
            } else if r.ok {
                println!(
                    "ok: {} entries, head {}; {} checkpoint{} verified",
                    r.entries,
                    &r.head[..16],
                    r.checkpoints.len(),
                    if r.checkpoints.len() == 1 { "" } else { "s" }
                );
            } else {
                if let Some(b) = &r.first_bad {
                    eprintln!("FAILED at entry {}: {}", b.seq, b.reason);
                }
                for c in r.checkpoints.iter().filter(|c| !c.valid) {
                    eprintln!(
                        "checkpoint of {} entries by {} at {}: {}",
                        c.size,
                        c.fingerprint,
                        c.at,
                        c.problem.as_deref().unwrap_or("")
                    );
                }
            }
            if !r.ok {
                return Ok(ExitCode::from(1));
            }
        }
        AuditCommand::Checkpoint { key } => {
            let mut ws = open(cli, "signing an audit checkpoint")?;
            let c = ws.audit_checkpoint(key)?;
            out.message(
                &format!(
                    "checkpoint: {} entries, head {}, signed by {}",
                    c.size,
                    &c.head[..16],
                    c.fingerprint
                ),
                &c,
            )?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
