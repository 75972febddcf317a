//! Printing results: aligned text for people, one JSON document on stdout with `--json`.

use cairn_app::json::{DatasetSummary, WorkspaceInfo};
use cairn_app::{
    AppError, BundleSummary, DemoSummary, ImportSummary, KeyPairSummary, ReproduceReport, Run,
    RunDetail, SignatureStatus, VerifyReport,
};
use serde::Serialize;
use serde_json::json;
use std::path::Path;

pub struct Output {
    json: bool,
}

type R = Result<(), AppError>;

impl Output {
    pub fn new(json: bool) -> Self {
        Output { json }
    }

    pub fn is_json(&self) -> bool {
        self.json
    }

    pub fn json<T: Serialize + ?Sized>(&self, value: &T) -> R {
        self.print_json(value)
    }

    fn print_json<T: Serialize + ?Sized>(&self, value: &T) -> R {
        use std::io::Write;
        let text = serde_json::to_string_pretty(value).expect("output serialises");
        // A closed pipe (`cairn … --json | head`) is not an error worth a panic.
        let _ = writeln!(std::io::stdout(), "{text}");
        Ok(())
    }

    pub fn error(&self, err: &AppError) {
        if self.json {
            let dto = cairn_app::json::AppError::from(err);
            println!("{}", json!({ "error": dto }));
        }
        eprintln!("error: {}", err.message);
    }

    pub fn message<T: Serialize>(&self, text: &str, value: &T) -> R {
        if self.json {
            self.print_json(value)
        } else {
            println!("{text}");
            Ok(())
        }
    }

    pub fn info(&self, info: &WorkspaceInfo) -> R {
        if self.json {
            return self.print_json(info);
        }
        println!("workspace  {}", info.path);
        println!("schema     v{}", info.schema_version);
        println!("data sets  {}", info.datasets);
        println!("runs       {}", info.runs);
        Ok(())
    }

    pub fn imported(&self, outcome: &cairn_app::ImportOutcome) -> R {
        let v = &outcome.version;
        if self.json {
            return self.print_json(&json!({ "created": outcome.created, "version": v }));
        }
        let verb = if outcome.created {
            "imported"
        } else {
            "unchanged: identical to existing"
        };
        println!(
            "{verb} {} ({} rows × {} columns)",
            v.label(),
            v.rows,
            v.columns.len()
        );
        println!("hash {}", v.hash);
        Ok(())
    }

    pub fn datasets(&self, list: &[DatasetSummary]) -> R {
        if self.json {
            return self.print_json(list);
        }
        if list.is_empty() {
            println!("no data sets yet; import one with `cairn data import FILE`");
            return Ok(());
        }
        let rows: Vec<Vec<String>> = list
            .iter()
            .map(|d| {
                vec![
                    d.name.clone(),
                    format!("v{}", d.version),
                    d.rows.to_string(),
                    d.columns.to_string(),
                    d.hash[..12].to_string(),
                    d.source.clone(),
                ]
            })
            .collect();
        table(
            &["NAME", "VERSION", "ROWS", "COLUMNS", "HASH", "SOURCE"],
            &rows,
        );
        Ok(())
    }

    pub fn runs(&self, runs: &[Run]) -> R {
        if self.json {
            let list: Vec<cairn_app::json::RunSummary> =
                runs.iter().cloned().map(Into::into).collect();
            return self.print_json(&list);
        }
        if runs.is_empty() {
            println!("no runs");
            return Ok(());
        }
        let rows: Vec<Vec<String>> = runs
            .iter()
            .map(|r| {
                vec![
                    r.id.short().to_string(),
                    r.name.clone(),
                    r.status.to_string(),
                    r.model.clone(),
                    r.dataset.clone(),
                    r.metrics
                        .get("test_accuracy")
                        .map_or("-".into(), |a| format!("{a:.4}")),
                    r.created_at.clone(),
                ]
            })
            .collect();
        table(
            &[
                "ID", "NAME", "STATUS", "MODEL", "DATA", "TEST ACC", "CREATED",
            ],
            &rows,
        );
        Ok(())
    }

    pub fn run_detail(&self, d: &RunDetail) -> R {
        if self.json {
            return self.print_json(d);
        }
        let r = &d.run;
        println!("run       {} ({})", r.name, r.id);
        println!(
            "status    {}{}",
            r.status,
            r.error
                .as_ref()
                .map(|e| format!(" — {e}"))
                .unwrap_or_default()
        );
        // Runs recorded with `cairn log` may have no model, target or data set.
        if !r.model.is_empty() || !r.target.is_empty() {
            println!(
                "model     {}  target {}  seed {}",
                r.model, r.target, r.seed
            );
        }
        if !r.dataset.is_empty() {
            println!(
                "data      {} ({})",
                r.dataset,
                r.dataset_hash.get(..12).unwrap_or(&r.dataset_hash)
            );
        }
        if let Some(parent) = &r.parent_id {
            println!("parent    {parent}");
        }
        if d.children > 0 {
            println!(
                "children  {} runs (attributes.parent_run_id = '{}')",
                d.children, r.id
            );
        }
        println!(
            "created   {}{}",
            r.created_at,
            r.finished_at
                .as_ref()
                .map(|f| format!("  finished {f}"))
                .unwrap_or_default()
        );
        if !r.tags.is_empty() {
            println!(
                "tags      {}",
                r.tags
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("  ")
            );
        }
        if !r.note.is_empty() {
            for (i, line) in r.note.lines().enumerate() {
                println!("{}{line}", if i == 0 { "note      " } else { "          " });
            }
        }
        println!(
            "params    {}",
            r.params
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join("  ")
        );
        let width = r.metrics.keys().map(String::len).max().unwrap_or(0);
        for (k, v) in &r.metrics {
            let points = d.history.get(k).map_or(0, Vec::len);
            let plural = if points == 1 { "" } else { "s" };
            println!("metric    {k:<width$}  {v:<12.6}  ({points} point{plural})");
        }
        let width = d.artifacts.iter().map(|a| a.path.len()).max().unwrap_or(0);
        for a in &d.artifacts {
            println!(
                "artifact  {:<width$}  {:>9} bytes  sha256 {}",
                a.path,
                a.size,
                &a.sha256[..12]
            );
        }
        Ok(())
    }

    pub fn bundle(&self, b: &BundleSummary) -> R {
        if self.json {
            return self.print_json(b);
        }
        println!(
            "wrote {} ({} entries, {} bytes)",
            b.path, b.entries, b.bytes
        );
        println!("root hash {}", b.root_hash);
        if let Some(fp) = &b.signed_by {
            println!("signed by key {fp}");
        }
        Ok(())
    }

    pub fn bundle_imported(&self, s: &ImportSummary) -> R {
        if self.json {
            return self.print_json(s);
        }
        println!("imported run {} ({}) from {}", s.run_name, s.run_id, s.file);
        println!("root hash {}", s.root_hash);
        if let Some(fp) = &s.signed_by {
            println!("signed by key {fp}");
        }
        let data = match (s.data_imported, s.data_created) {
            (true, true) => "imported from the bundle's snapshot",
            (true, false) => "already here (same content)",
            (false, _) => "reference only: the bundle has no data snapshot",
        };
        println!("data      {} ({data})", s.dataset);
        println!("hash      {}", s.dataset_hash);
        println!(
            "{} artifacts, {} metric points",
            s.artifacts, s.metric_points
        );
        Ok(())
    }

    pub fn reproduced(&self, r: &ReproduceReport) -> R {
        if self.json {
            return self.print_json(r);
        }
        println!(
            "{}: run {} ({}), {} on {}",
            r.file, r.run_name, r.run_id, r.model, r.dataset
        );
        println!(
            "data hash {}",
            if r.data_hash_matches {
                "matches"
            } else {
                "DIFFERS"
            }
        );
        let width = r.metrics.iter().map(|m| m.name.len()).max().unwrap_or(0);
        for m in &r.metrics {
            let got = m
                .reproduced
                .map_or_else(|| "missing".to_string(), |v| format!("{v:.6}"));
            let verdict = match (m.identical, m.matches) {
                (true, _) => "identical",
                (false, true) => "match",
                (false, false) => "MISMATCH",
            };
            println!(
                "metric  {:<width$}  bundled {:<12.6}  reproduced {:<12}  {verdict}",
                m.name, m.bundled, got
            );
        }
        let width = r.weights.iter().map(|w| w.name.len()).max().unwrap_or(0);
        for w in &r.weights {
            let verdict = if w.identical {
                "bit-identical".to_string()
            } else if let Some(d) = w.max_abs_diff {
                format!(
                    "max abs difference {d:.3e}{}",
                    if w.matches { "" } else { " MISMATCH" }
                )
            } else {
                format!("MISMATCH: {}", w.issue.as_deref().unwrap_or("differs"))
            };
            println!("tensor  {:<width$}  {verdict}", w.name);
        }
        if r.matches {
            println!("match: true (tolerance {:e})", r.tolerance);
        } else {
            println!("match: false (tolerance {:e})", r.tolerance);
        }
        Ok(())
    }

    pub fn keys(&self, k: &KeyPairSummary) -> R {
        if self.json {
            return self.print_json(k);
        }
        println!("secret key {} (keep it private)", k.secret_key);
        println!(
            "public key {} (give it to `cairn bundle verify --trust`)",
            k.public_key
        );
        println!("fingerprint {}", k.fingerprint);
        Ok(())
    }

    pub fn verify(&self, file: &Path, report: &VerifyReport) -> R {
        if self.json {
            return self.print_json(&json!({
                "file": file.display().to_string(),
                "ok": report.ok(),
                "run_id": report.manifest.run_id,
                "root_hash": report.manifest.root_hash,
                "entries": report.manifest.entries.len(),
                "problems": report.problems,
                "signature": report.signature,
                "registry": report.registry,
            }));
        }
        let signature = match &report.signature {
            SignatureStatus::Unsigned => "unsigned".to_string(),
            SignatureStatus::Valid {
                fingerprint,
                trusted: true,
            } => format!("signed by trusted key {fingerprint}"),
            SignatureStatus::Valid {
                fingerprint,
                trusted: false,
            } => format!(
                "validly signed by key {fingerprint}, not checked against a trusted key (use --trust)"
            ),
            SignatureStatus::Invalid { reason } => format!("INVALID signature: {reason}"),
        };
        if report.ok() {
            println!(
                "ok: {} — {} entries match the manifest",
                file.display(),
                report.manifest.entries.len()
            );
            println!("root hash {}", report.manifest.root_hash);
            println!("{signature}");
            if let Some(r) = &report.registry {
                println!(
                    "registry evidence for {}@{}",
                    r.model.as_deref().unwrap_or("?"),
                    r.version
                        .map(|v| v.to_string())
                        .unwrap_or_else(|| "?".into())
                );
                for g in &r.gate_reports {
                    println!(
                        "  gate report {} ({}): {}, {}",
                        g.alias,
                        &g.sha256.get(..12).unwrap_or(&g.sha256),
                        if g.passed {
                            "passed"
                        } else {
                            "failed (forced)"
                        },
                        if g.valid { "valid" } else { "INVALID" }
                    );
                }
                for a in &r.approvals {
                    println!(
                        "  approval {} for {} by key {} at {}: {}",
                        a.index,
                        a.alias,
                        a.fingerprint,
                        a.at,
                        if a.valid {
                            "valid signature"
                        } else {
                            "INVALID"
                        }
                    );
                }
            }
        } else {
            eprintln!("FAILED: {}", file.display());
            for p in &report.problems {
                eprintln!("  {}: {}", p.entry, p.issue);
            }
        }
        Ok(())
    }

    pub fn demo(&self, s: &DemoSummary) -> R {
        if self.json {
            return self.print_json(s);
        }
        println!();
        println!("Cairn demo complete");
        println!("  workspace          {}", s.workspace);
        println!(
            "  data version       {} (hash {})",
            s.dataset, s.data_version_hash
        );
        println!("  run                {} ({})", s.run_name, s.run_id);
        println!("  test accuracy      {:.4}", s.test_accuracy);
        println!(
            "  found by search    {}",
            if s.search_hits > 0 { "yes" } else { "no" }
        );
        println!("  bundle             {}", s.bundle_path);
        println!(
            "  bundle verified    {}",
            if s.bundle_verified { "yes" } else { "NO" }
        );
        Ok(())
    }
}

/// Prints rows under a header, each column as wide as its widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let parts: Vec<String> = cells
            .iter()
            .zip(&widths)
            .map(|(c, w)| format!("{c:<w$}"))
            .collect();
        println!("{}", parts.join("  ").trim_end());
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
}
