//! What every CLI test does: run the `cairn` binary on a workspace and read its output.
// Each test crate uses its own subset of these helpers.
#![allow(dead_code)]

use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};

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

/// `cairn --workspace WS ARGS...` started in the background with `envs` set, stdout and stderr
/// piped; stdin piped when `stdin` is true, else empty.
pub fn spawn_cairn(ws: &Path, args: &[&str], envs: &[(&str, &str)], stdin: bool) -> Child {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_cairn"));
    cmd.arg("--workspace")
        .arg(ws)
        .args(args)
        .env_remove("CAIRN_WORKSPACE")
        .stdin(if stdin { Stdio::piped() } else { Stdio::null() })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in envs {
        cmd.env(k, v);
    }
    cmd.spawn().expect("cairn starts")
}

/// Kills `child` the way a crash does (SIGKILL on Unix: no handler runs) and reaps it.
pub fn kill_hard(child: &mut Child) {
    child.kill().unwrap();
    child.wait().unwrap();
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

/// The entries of a zip, read as anyone would read them: with the `zip` crate, not with
/// Cairn's bundle reader (the tests forge bundles the way an outsider could).
pub fn unzip(bytes: &[u8]) -> BTreeMap<String, Vec<u8>> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).expect("a zip");
    let mut entries = BTreeMap::new();
    for i in 0..z.len() {
        let mut f = z.by_index(i).unwrap();
        let mut bytes = Vec::new();
        f.read_to_end(&mut bytes).unwrap();
        entries.insert(f.name().unwrap().to_string(), bytes);
    }
    entries
}

/// A zip of `entries` in name order with default options (not Cairn's layout: readers must
/// not care).
pub fn rezip(entries: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (path, bytes) in entries {
        z.start_file(path.as_str(), zip::write::SimpleFileOptions::default())
            .unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap().into_inner()
}

/// A bundle manifest's root hash over its `entries` (`{path, sha256}` objects), as
/// `docs/bundle-format.md` defines it: the SHA-256 of `"<sha256>  <path>\n"` per entry.
pub fn manifest_root_hash(entries: &[Value]) -> String {
    let text: String = entries
        .iter()
        .map(|e| {
            format!(
                "{}  {}\n",
                e["sha256"].as_str().unwrap(),
                e["path"].as_str().unwrap()
            )
        })
        .collect();
    cairn_core::sha256_hex(text.as_bytes())
}

/// Rewrites the manifest of `entries` so that it lists `entries` as they are now (an
/// unsigned forgery that verifies).
pub fn reseal(entries: &mut BTreeMap<String, Vec<u8>>) {
    entries.remove("manifest.sig");
    let listed: Vec<Value> = entries
        .iter()
        .filter(|(k, _)| k.as_str() != "manifest.json")
        .map(|(k, v)| json!({"path": k, "sha256": cairn_core::sha256_hex(v), "size": v.len()}))
        .collect();
    let mut m: Value = serde_json::from_slice(&entries["manifest.json"]).unwrap();
    m["root_hash"] = manifest_root_hash(&listed).into();
    m["entries"] = listed.into();
    entries.insert(
        "manifest.json".into(),
        serde_json::to_vec_pretty(&m).unwrap(),
    );
}
