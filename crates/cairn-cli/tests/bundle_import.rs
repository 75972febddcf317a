//! Bundles travel and come back (issue 6, items 4 and 5): `bundle export --include-data`
//! (deterministic snapshot), `bundle import` (round trip, hostile zips refused with nothing
//! written), `bundle reproduce` (retraining matches; tampered data does not).

mod common;

use common::{
    cairn, cairn_env, json, listing, manifest_root_hash, ok, reseal, rezip, sample, unzip,
};
use serde_json::Value;
use std::collections::BTreeMap;
use std::io::{Cursor, Write};
use std::path::{Path, PathBuf};
use std::process::Output;
use zip::CompressionMethod;
use zip::write::SimpleFileOptions;

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Imports `data` into `ws`, trains `model` on it with `params`, and returns the run's name.
fn train(ws: &Path, data: &str, target: &str, model: &str, params: &[&str]) -> String {
    let name = data.trim_end_matches(".csv");
    json(&cairn(ws, &["data", "import", p(&sample(data)), "--json"]));
    let run_name = format!("{name}-{model}");
    let mut args = vec![
        "train", "--data", name, "--target", target, "--model", model, "--seed", "7", "--name",
        &run_name, "--json",
    ];
    for param in params {
        args.extend(["--param", param]);
    }
    let run = json(&cairn(ws, &args));
    assert_eq!(run["status"], "finished");
    run_name
}

fn export(ws: &Path, run: &str, out: &Path, include_data: bool) {
    let mut args = vec!["bundle", "export", run, "--out", p(out), "--json"];
    if include_data {
        args.push("--include-data");
    }
    json(&cairn(ws, &args));
}

/// A zip of `entries` in the given order, every entry deflated.
fn zip_of(entries: &[(&str, &[u8])]) -> Vec<u8> {
    let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
    for (path, bytes) in entries {
        z.start_file(
            *path,
            SimpleFileOptions::default().compression_method(CompressionMethod::Deflated),
        )
        .unwrap();
        z.write_all(bytes).unwrap();
    }
    z.finish().unwrap().into_inner()
}

/// Every local (`PK\3\4`) and central (`PK\1\2`) header of the entry named `name`:
/// `(offset of the header, offset of the name)`.
fn headers_of(bytes: &[u8], name: &str) -> Vec<(usize, usize, bool)> {
    let mut found = Vec::new();
    let le16 = |at: usize| u16::from_le_bytes([bytes[at], bytes[at + 1]]) as usize;
    for i in 0..bytes.len().saturating_sub(46) {
        let (local, name_at, len_at) = match bytes[i..i + 4] {
            [0x50, 0x4b, 0x03, 0x04] => (true, i + 30, i + 26),
            [0x50, 0x4b, 0x01, 0x02] => (false, i + 46, i + 28),
            _ => continue,
        };
        let len = le16(len_at);
        if bytes.get(name_at..name_at + len) == Some(name.as_bytes()) {
            found.push((i, name_at, local));
        }
    }
    found
}

/// Renames an entry in place (same length), in its local and central headers.
fn rename_entry(bytes: &mut [u8], from: &str, to: &str) {
    assert_eq!(from.len(), to.len());
    let headers = headers_of(bytes, from);
    assert_eq!(headers.len(), 2, "{from}");
    for (_, name_at, _) in headers {
        bytes[name_at..name_at + to.len()].copy_from_slice(to.as_bytes());
    }
}

/// Makes the local and central headers of `name` declare `size` unpacked bytes.
fn lie_about_size(bytes: &mut [u8], name: &str, size: u32) {
    let headers = headers_of(bytes, name);
    assert_eq!(headers.len(), 2, "{name}");
    for (at, _, local) in headers {
        let field = if local { at + 22 } else { at + 24 };
        bytes[field..field + 4].copy_from_slice(&size.to_le_bytes());
    }
}

/// Makes only the local header of `name` declare `size` unpacked bytes.
fn lie_in_local_header(bytes: &mut [u8], name: &str, size: u32) {
    let (at, _, _) = headers_of(bytes, name).into_iter().find(|h| h.2).unwrap();
    bytes[at + 22..at + 26].copy_from_slice(&size.to_le_bytes());
}

/// The entries of a bundle file.
fn entries_of(file: &Path) -> BTreeMap<String, Vec<u8>> {
    unzip(&std::fs::read(file).unwrap())
}

fn run_fields(show: &Value) -> Value {
    let mut v = show.clone();
    let obj = v.as_object_mut().unwrap();
    for k in ["artifacts", "children", "note", "error"] {
        obj.remove(k);
    }
    obj["tags"]
        .as_object_mut()
        .unwrap()
        .remove("cairn.imported_from");
    v
}

#[test]
fn a_run_travels_to_a_fresh_workspace_and_predicts_the_same() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b, c) = (
        dir.path().join("A"),
        dir.path().join("B"),
        dir.path().join("C"),
    );
    let run = train(&a, "iris.csv", "target", "logistic", &["epochs=5"]);

    // Deterministic, snapshot included.
    let (b1, b2) = (dir.path().join("b1.zip"), dir.path().join("b2.zip"));
    export(&a, &run, &b1, true);
    export(&a, &run, &b2, true);
    assert_eq!(std::fs::read(&b1).unwrap(), std::fs::read(&b2).unwrap());
    assert!(entries_of(&b1).contains_key("data/snapshot.parquet"));

    let shown_a = json(&cairn(&a, &["runs", "show", &run, "--json"]));
    let summary = json(&cairn(&b, &["bundle", "import", p(&b1), "--json"]));
    assert_eq!(summary["run_id"], shown_a["id"]);
    assert_eq!(summary["data_imported"], true);
    assert_eq!(summary["data_created"], true);
    assert_eq!(summary["dataset"], "iris@1");
    assert_eq!(summary["dataset_hash"], shown_a["dataset_hash"]);

    // The same run: id, name, model, target, seed, typed params, tags, metrics, full
    // histories, environment, times, data version and hash.
    let shown_b = json(&cairn(&b, &["runs", "show", &run, "--json"]));
    assert_eq!(run_fields(&shown_a), run_fields(&shown_b));
    assert_eq!(shown_b["status"], "finished");
    assert!(
        shown_b["tags"]["cairn.imported_from"]
            .as_str()
            .unwrap()
            .starts_with("b1.zip (root hash ")
    );
    let weights = |show: &Value| {
        show["artifacts"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["path"] == "model/weights.safetensors")
            .unwrap()["sha256"]
            .clone()
    };
    assert_eq!(weights(&shown_a), weights(&shown_b));
    // The data version came back with the same name, number and content hash.
    let versions = json(&cairn(&b, &["data", "list", "--json"]));
    let text = versions.to_string();
    assert!(
        text.contains(shown_a["dataset_hash"].as_str().unwrap()),
        "{text}"
    );

    // Predictions in B equal those in A.
    let (pa, pb) = (dir.path().join("pa.csv"), dir.path().join("pb.csv"));
    ok(&cairn(
        &a,
        &["predict", &run, "--data", "iris@1", "--out", p(&pa)],
    ));
    ok(&cairn(
        &b,
        &["predict", &run, "--data", "iris@1", "--out", p(&pb)],
    ));
    assert_eq!(std::fs::read(&pa).unwrap(), std::fs::read(&pb).unwrap());

    // A second import is refused, naming the run already here.
    let again = cairn(&b, &["bundle", "import", p(&b1)]);
    assert!(!again.status.success());
    let err = stderr(&again);
    assert!(
        err.contains("already in this workspace") && err.contains(shown_a["id"].as_str().unwrap()),
        "{err}"
    );
    assert_eq!(
        json(&cairn(&b, &["runs", "list", "--json"]))
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // Without a snapshot: the run keeps its data reference, `runs show` works, no data here.
    let bare = dir.path().join("bare.zip");
    export(&a, &run, &bare, false);
    let summary = json(&cairn(&c, &["bundle", "import", p(&bare), "--json"]));
    assert_eq!(summary["data_imported"], false);
    let shown_c = json(&cairn(&c, &["runs", "show", &run, "--json"]));
    assert_eq!(shown_c["dataset"], "iris@1");
    assert_eq!(shown_c["dataset_hash"], shown_a["dataset_hash"]);
    assert_eq!(
        json(&cairn(&c, &["data", "list", "--json"])).to_string(),
        json(&cairn(&dir.path().join("D"), &["data", "list", "--json"])).to_string()
    );
    // Exporting it again needs its data: a clear refusal that says how, and no file.
    let again = dir.path().join("again.zip");
    let refused = cairn(&c, &["bundle", "export", &run, "--out", p(&again)]);
    assert!(!refused.status.success());
    let err = String::from_utf8_lossy(&refused.stderr);
    assert!(
        err.contains("`iris@1`")
            && err.contains("not in this workspace")
            && err.contains("--include-data"),
        "{err}"
    );
    assert!(!again.exists());

    // Signed: --trust the signer's key to import; another key is refused, nothing imported.
    let keys = dir.path().join("keys");
    for name in ["release", "other"] {
        json(&cairn(
            &a,
            &["keys", "new", "--out", p(&keys), "--name", name, "--json"],
        ));
    }
    let signed = dir.path().join("signed.zip");
    json(&cairn(
        &a,
        &[
            "bundle",
            "export",
            &run,
            "--out",
            p(&signed),
            "--sign",
            p(&keys.join("release.key")),
            "--include-data",
            "--json",
        ],
    ));
    let e = dir.path().join("E");
    let summary = json(&cairn(
        &e,
        &[
            "bundle",
            "import",
            p(&signed),
            "--trust",
            p(&keys.join("release.pub")),
            "--json",
        ],
    ));
    assert!(summary["signed_by"].is_string(), "{summary}");
    let f = dir.path().join("F");
    let out = cairn(
        &f,
        &[
            "bundle",
            "import",
            p(&signed),
            "--trust",
            p(&keys.join("other.pub")),
        ],
    );
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("manifest.sig: signed by an untrusted key"),
        "{}",
        stderr(&out)
    );
    assert!(!f.exists());
}

#[test]
fn a_run_with_a_nan_metric_still_imports() {
    // A diverged run's NaN final metric is written as JSON null; import keeps the rest.
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("A");
    let run = train(&a, "iris.csv", "target", "logistic", &["epochs=2"]);
    let file = dir.path().join("run.zip");
    export(&a, &run, &file, false);
    let mut entries = entries_of(&file);
    let mut v: Value = serde_json::from_slice(&entries["run.json"]).unwrap();
    v["metrics"]["train_loss"] = Value::Null;
    entries.insert("run.json".into(), serde_json::to_vec_pretty(&v).unwrap());
    reseal(&mut entries);
    let nan = dir.path().join("nan.zip");
    std::fs::write(&nan, rezip(&entries)).unwrap();
    let b = dir.path().join("B");
    let out = cairn(&b, &["bundle", "import", p(&nan), "--json"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let shown = json(&cairn(&b, &["runs", "show", &run, "--json"]));
    assert_eq!(shown["status"], "finished");
    assert!(shown["metrics"]["test_accuracy"].as_f64().is_some());
}

#[test]
fn hostile_bundles_are_refused_and_nothing_is_written() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("A");
    let run = train(&a, "iris.csv", "target", "logistic", &["epochs=2"]);
    let good_file = dir.path().join("good.zip");
    export(&a, &run, &good_file, true);
    let good = std::fs::read(&good_file).unwrap();
    let entries = entries_of(&good_file);
    let with = |extra: (&str, &[u8])| {
        let mut list: Vec<(&str, &[u8])> = entries
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_slice()))
            .collect();
        list.push(extra);
        zip_of(&list)
    };

    let mut cases: Vec<(&str, Vec<u8>, &str)> = Vec::new();
    cases.push(("slip", with(("../evil", b"x")), "../evil"));
    let mut absolute = with(("Xtmp/evil", b"x"));
    rename_entry(&mut absolute, "Xtmp/evil", "/tmp/evil");
    cases.push(("absolute", absolute, "/tmp/evil"));
    let symlink = {
        let mut z = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (k, v) in &entries {
            z.start_file(k.as_str(), SimpleFileOptions::default())
                .unwrap();
            z.write_all(v).unwrap();
        }
        z.add_symlink("model/link", "/etc/passwd", SimpleFileOptions::default())
            .unwrap();
        z.finish().unwrap().into_inner()
    };
    cases.push(("symlink", symlink, "model/link"));
    let mut duplicate = with(("run.jsoX", b"{}"));
    rename_entry(&mut duplicate, "run.jsoX", "run.json");
    cases.push((
        "duplicate",
        duplicate,
        "`run.json` is refused: the name appears twice",
    ));
    cases.push((
        "bomb",
        with(("zeros.bin", &vec![0u8; 50 << 20])),
        "zeros.bin",
    ));
    let mut lying = rezip(&entries);
    lie_about_size(&mut lying, "run.json", 10);
    cases.push(("lying sizes", lying, "run.json"));
    // A bomb whose headers (local and central) both claim 1,000 bytes: read only that far.
    let mut lying_bomb = with(("zeros.bin", &vec![0u8; 50 << 20]));
    lie_about_size(&mut lying_bomb, "zeros.bin", 1000);
    cases.push((
        "lying bomb",
        lying_bomb,
        "zeros.bin: it cannot be read back",
    ));
    let mut local_lie = good.clone();
    lie_in_local_header(&mut local_lie, "run.json", 1 << 30);
    cases.push((
        "local header lies",
        local_lie,
        "`run.json` is refused: its local header disagrees",
    ));
    let many: Vec<(String, Vec<u8>)> = (0..10_001).map(|i| (format!("f/{i:05}"), vec![])).collect();
    let many: Vec<(&str, &[u8])> = many
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_slice()))
        .collect();
    cases.push(("too many", zip_of(&many), "10001 entries"));
    cases.push((
        "truncated",
        good[..good.len() / 2].to_vec(),
        "is not a bundle Cairn can read",
    ));
    let mut tampered = entries.clone();
    tampered.insert("run.json".into(), b"{\"id\": \"x\"}".to_vec());
    cases.push(("tampered", rezip(&tampered), "run.json"));
    let mut forged = entries.clone();
    let mut m: Value = serde_json::from_slice(&forged["manifest.json"]).unwrap();
    let listed = m["entries"].as_array_mut().unwrap();
    listed.push(
        serde_json::json!({"path": "../evil", "sha256": cairn_core::sha256_hex(b"x"), "size": 1}),
    );
    m["root_hash"] = manifest_root_hash(listed).into();
    forged.insert(
        "manifest.json".into(),
        serde_json::to_vec_pretty(&m).unwrap(),
    );
    cases.push(("manifest path", rezip(&forged), "../evil"));
    // Records that pass every hash (the manifest is rebuilt) but carry hostile values.
    let with_json = |entry: &str, edit: &dyn Fn(&mut Value)| {
        let mut e = entries.clone();
        let mut v: Value = serde_json::from_slice(&e[entry]).unwrap();
        edit(&mut v);
        e.insert(entry.into(), serde_json::to_vec_pretty(&v).unwrap());
        reseal(&mut e);
        rezip(&e)
    };
    cases.push((
        "reference hash",
        with_json("data/reference.json", &|v| {
            v["hash"] = "aéééééééééééé".into()
        }),
        "data/reference.json",
    ));
    cases.push((
        "reference name",
        with_json("data/reference.json", &|v| v["name"] = "../../x".into()),
        "data/reference.json",
    ));
    cases.push((
        "run time",
        with_json("run.json", &|v| v["created_at"] = "2026'\nevil: 1".into()),
        "created_at",
    ));

    let hostile = dir.path().join("hostile");
    std::fs::create_dir(&hostile).unwrap();
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    let b = dir.path().join("B");
    ok(&cairn(&b, &["init"]));
    let files: Vec<(PathBuf, &str, &str)> = cases
        .iter()
        .map(|(name, bytes, expect)| {
            let f = hostile.join(format!("{}.zip", name.replace(' ', "-")));
            std::fs::write(&f, bytes).unwrap();
            (f, *name, *expect)
        })
        .collect();
    let volatile = |paths: Vec<PathBuf>| -> Vec<PathBuf> {
        paths
            .into_iter()
            .filter(|p| !p.to_string_lossy().contains("cairn.duckdb.wal"))
            .collect()
    };
    let before = volatile(listing(dir.path()));
    for (file, name, expect) in &files {
        let out = cairn_env(&b, &["bundle", "import", p(file)], &[("TMPDIR", &tmp)]);
        let err = stderr(&out);
        eprintln!("{name}: {err}");
        assert!(!out.status.success(), "{name}: imported: {}", ok(&out));
        assert!(
            err.contains(expect),
            "{name}: expected `{expect}` in\n{err}"
        );
        assert!(
            err.contains("refused")
                || err.contains("nothing was imported")
                || err.contains("not a bundle"),
            "{name}: {err}"
        );
        assert_eq!(volatile(listing(dir.path())), before, "{name} wrote files");
        assert!(listing(&tmp).is_empty(), "{name} wrote to TMPDIR");
    }
    assert_eq!(
        json(&cairn(&b, &["runs", "list", "--json"])),
        serde_json::json!([])
    );
    assert!(!dir.path().join("evil").exists() && !Path::new("/tmp/evil").exists());
    // Checked before the workspace is opened: a new one is not even created.
    let fresh = dir.path().join("never");
    let out = cairn(&fresh, &["bundle", "import", p(&files[0].0)]);
    assert!(!out.status.success());
    assert!(!fresh.exists());
}

#[test]
fn reproduce_matches_for_logistic_and_mlp_and_not_for_other_data() {
    let dir = tempfile::tempdir().unwrap();
    let a = dir.path().join("A");
    let tmp = dir.path().join("tmp");
    std::fs::create_dir(&tmp).unwrap();
    for (data, target, model, params) in [
        ("iris.csv", "target", "logistic", &["epochs=5"][..]),
        (
            "penguins.csv",
            "species",
            "mlp",
            &["epochs=3", "hidden=16"][..],
        ),
    ] {
        let run = train(&a, data, target, model, params);
        let file = dir.path().join(format!("{run}.zip"));
        export(&a, &run, &file, true);
        let out = cairn_env(
            &a,
            &["bundle", "reproduce", p(&file), "--json"],
            &[("TMPDIR", &tmp)],
        );
        let report = json(&out);
        assert_eq!(report["match"], true, "{report:#}");
        assert_eq!(report["data_hash_matches"], true);
        assert!(report["metrics"].as_array().unwrap().len() > 5);
        assert!(
            report["weights"]
                .as_array()
                .unwrap()
                .iter()
                .all(|w| w["identical"] == true),
            "{report:#}"
        );
        // The scratch workspace is gone.
        assert!(listing(&tmp).is_empty(), "{:?}", listing(&tmp));
    }

    // Other data behind a resealed manifest: verifies, retrains, and does not match.
    let iris_bundle = dir.path().join("iris-logistic.zip");
    let mut entries = entries_of(&iris_bundle);
    let text = std::fs::read_to_string(sample("iris.csv")).unwrap();
    let fewer: String = text.lines().take(120).map(|l| format!("{l}\n")).collect();
    let other = dir.path().join("other.csv");
    std::fs::write(&other, fewer).unwrap();
    let o = dir.path().join("O");
    json(&cairn(&o, &["data", "import", p(&other), "--json"]));
    let parquet = dir.path().join("other.parquet");
    ok(&cairn(
        &o,
        &["data", "export", "other@1", "--out", p(&parquet)],
    ));
    entries.insert(
        "data/snapshot.parquet".into(),
        std::fs::read(&parquet).unwrap(),
    );
    let resealed = dir.path().join("resealed.zip");
    reseal(&mut entries);
    std::fs::write(&resealed, rezip(&entries)).unwrap();
    let out = cairn(&a, &["bundle", "reproduce", p(&resealed), "--json"]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["match"], false);
    assert_eq!(report["data_hash_matches"], false);
    // Import refuses it: the snapshot is not the version the run names. Nothing is kept.
    let r = dir.path().join("R");
    ok(&cairn(&r, &["init"]));
    let out = cairn(&r, &["bundle", "import", p(&resealed)]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("`data/snapshot.parquet` does not come back as iris@1"),
        "{}",
        stderr(&out)
    );
    assert_eq!(
        json(&cairn(&r, &["runs", "list", "--json"])),
        serde_json::json!([])
    );
    assert_eq!(
        json(&cairn(&r, &["data", "list", "--json"])),
        json(&cairn(
            &dir.path().join("empty"),
            &["data", "list", "--json"]
        ))
    );
    assert!(
        !listing(&r)
            .iter()
            .any(|p| p.to_string_lossy().contains("snapshot"))
    );

    // Swapped without resealing: verification fails on the snapshot.
    let mut swapped = entries_of(&iris_bundle);
    swapped.insert(
        "data/snapshot.parquet".into(),
        std::fs::read(&parquet).unwrap(),
    );
    let swapped_file = dir.path().join("swapped.zip");
    std::fs::write(&swapped_file, rezip(&swapped)).unwrap();
    let out = cairn(&a, &["bundle", "reproduce", p(&swapped_file)]);
    assert!(!out.status.success());
    assert!(
        stderr(&out).contains("data/snapshot.parquet: modified"),
        "{}",
        stderr(&out)
    );

    // No snapshot: say how to get one.
    let bare = dir.path().join("bare.zip");
    export(&a, "iris-logistic", &bare, false);
    let out = cairn(&a, &["bundle", "reproduce", p(&bare)]);
    assert!(!out.status.success());
    assert!(stderr(&out).contains("--include-data"), "{}", stderr(&out));
}
