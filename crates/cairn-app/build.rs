//! Records what built this crate, for each run's environment: the git commit (with `-dirty`
//! when tracked files differed from it) and the rustc version. Without git (a source tarball)
//! both fall back to "unknown". The commit is re-read when HEAD or the branch it names moves
//! (not on every edit, which would rebuild this crate and its dependents each time), so
//! `-dirty` says whether tracked files differed from the commit when this script last ran.

use std::path::{Path, PathBuf};
use std::process::Command;

fn output(cmd: &mut Command) -> Option<String> {
    let out = cmd.output().ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8(out.stdout).ok()?.trim().to_string();
    (!text.is_empty()).then_some(text)
}

fn git(root: &Path, args: &[&str]) -> Option<String> {
    output(Command::new("git").arg("-C").arg(root).args(args))
}

fn main() {
    let manifest = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"));
    let root = manifest.join("../..");

    let commit = git(&root, &["rev-parse", "--short=12", "HEAD"]);
    let dirty = commit.is_some()
        && git(&root, &["status", "--porcelain", "--untracked-files=no"]).is_some();
    let commit = match commit {
        Some(c) if dirty => format!("{c}-dirty"),
        Some(c) => c,
        None => "unknown".into(),
    };
    println!("cargo:rustc-env=CAIRN_GIT_COMMIT={commit}");

    if let Some(git_dir) = git(&root, &["rev-parse", "--absolute-git-dir"]) {
        let git_dir = PathBuf::from(git_dir);
        let head = git_dir.join("HEAD");
        println!("cargo:rerun-if-changed={}", head.display());
        let common = git(&root, &["rev-parse", "--git-common-dir"])
            .map(|c| {
                let p = PathBuf::from(c);
                if p.is_absolute() { p } else { root.join(p) }
            })
            .unwrap_or_else(|| git_dir.clone());
        if let Some(r) = std::fs::read_to_string(&head)
            .ok()
            .and_then(|h| h.strip_prefix("ref: ").map(|r| r.trim().to_string()))
        {
            for base in [&git_dir, &common] {
                let path = base.join(&r);
                if path.exists() {
                    println!("cargo:rerun-if-changed={}", path.display());
                }
            }
            println!(
                "cargo:rerun-if-changed={}",
                common.join("packed-refs").display()
            );
        }
    } else {
        println!("cargo:rerun-if-changed=build.rs");
    }

    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let version = output(Command::new(rustc).arg("--version")).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=CAIRN_RUSTC_VERSION={version}");
}
