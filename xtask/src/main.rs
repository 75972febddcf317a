//! Project chores: `cargo xtask codegen [--check]` and `cargo xtask deps`.

use anyhow::{Context, Result, bail};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("codegen") => codegen(args.iter().any(|a| a == "--check")),
        Some("deps") => deps(),
        _ => {
            eprintln!("usage: cargo xtask codegen [--check] | deps");
            bail!("unknown task")
        }
    }
}

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("xtask sits in the workspace")
        .to_path_buf()
}

/// Writes (or, with `--check`, compares) the generated TypeScript bindings.
fn codegen(check: bool) -> Result<()> {
    let path = root().join("ui/src/lib/bindings.ts");
    let fresh = cairn_app::json::typescript_bindings();
    if check {
        let current = std::fs::read_to_string(&path).unwrap_or_default();
        if current != fresh {
            bail!(
                "{} is stale; run `cargo xtask codegen` and commit the result",
                path.display()
            );
        }
        println!("bindings are fresh");
    } else {
        std::fs::write(&path, fresh).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// The architecture invariants of ARCHITECTURE.md, checked as absences in each crate's
/// normal dependency closure (what `cargo tree -e normal -p CRATE` prints).
const RULES: &[(&str, &[&str])] = &[
    (
        "cairn-core",
        &[
            "cairn-store",
            "cairn-train",
            "cairn-search",
            "cairn-bundle",
            "cairn-app",
            "duckdb",
            "candle-core",
            "tantivy",
            "tauri",
            "tokio",
            "zip",
            "clap",
        ],
    ),
    (
        "cairn-store",
        &[
            "cairn-train",
            "cairn-search",
            "cairn-bundle",
            "cairn-app",
            "candle-core",
            "tantivy",
            "tauri",
            "zip",
            "clap",
        ],
    ),
    (
        "cairn-train",
        &[
            "cairn-store",
            "cairn-search",
            "cairn-bundle",
            "cairn-app",
            "duckdb",
            "tantivy",
            "tauri",
            "zip",
            "clap",
        ],
    ),
    (
        "cairn-search",
        &[
            "cairn-store",
            "cairn-train",
            "cairn-bundle",
            "cairn-app",
            "duckdb",
            "candle-core",
            "tauri",
            "zip",
            "clap",
        ],
    ),
    (
        "cairn-bundle",
        &[
            "cairn-store",
            "cairn-train",
            "cairn-search",
            "cairn-app",
            "duckdb",
            "candle-core",
            "tantivy",
            "tauri",
            "clap",
        ],
    ),
    ("cairn-app", &["tauri", "clap"]),
    ("cairn-cli", &["tauri"]),
    ("cairn-desktop", &["clap"]),
];

fn closure(krate: &str) -> Result<BTreeSet<String>> {
    let out = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .current_dir(root())
        .args([
            "tree", "-e", "normal", "-p", krate, "--prefix", "none", "-f", "{p}",
        ])
        .output()
        .context("running cargo tree")?;
    if !out.status.success() {
        bail!(
            "cargo tree -p {krate} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect())
}

fn deps() -> Result<()> {
    let mut broken = Vec::new();
    for (krate, forbidden) in RULES {
        let deps = closure(krate)?;
        for f in *forbidden {
            if deps.contains(*f) {
                broken.push(format!(
                    "{krate} depends on {f} (see `cargo tree -e normal -i {f} -p {krate}`)"
                ));
            }
        }
        println!(
            "{krate}: {} dependencies, none forbidden",
            deps.len().saturating_sub(1)
        );
    }
    if !broken.is_empty() {
        bail!("architecture invariants broken:\n  {}", broken.join("\n  "));
    }
    Ok(())
}
