//! What every CLI test does: run the `cairn` binary on a workspace and read its output.
// Each test crate uses its own subset of these helpers.
#![allow(dead_code)]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// `cairn --workspace WS ARGS...`, run to the end (never the user's `CAIRN_WORKSPACE`).
pub fn cairn(ws: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cairn"))
        .arg("--workspace")
        .arg(ws)
        .args(args)
        .env_remove("CAIRN_WORKSPACE")
        .output()
        .expect("cairn runs")
}

/// The stdout of a command that must have succeeded.
pub fn ok(out: &Output) -> String {
    assert!(
        out.status.success(),
        "failed: {}\n{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&out.stdout)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The JSON stdout of a command that must have succeeded.
pub fn json(out: &Output) -> Value {
    let text = ok(out);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}"))
}

/// A file of `sample-data/`.
pub fn sample(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../sample-data")
        .join(name)
}

/// [`cairn`] with extra environment variables (e.g. `TMPDIR`, to watch where files appear).
pub fn cairn_env(ws: &Path, args: &[&str], envs: &[(&str, &Path)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
    cmd.arg("--workspace")
        .arg(ws)
        .args(args)
        .env_remove("CAIRN_WORKSPACE");
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.output().expect("cairn runs")
}

/// Every path under `dir`, relative to it, sorted.
pub fn listing(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let path = e.path();
            out.push(path.strip_prefix(dir).unwrap().to_path_buf());
            if e.file_type().map(|t| t.is_dir()).unwrap_or(false) {
                stack.push(path);
            }
        }
    }
    out.sort();
    out
}
