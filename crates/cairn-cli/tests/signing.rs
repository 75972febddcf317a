//! Signed bundles end to end: `cairn keys new`, `bundle export --sign`, `bundle verify --trust`,
//! and every tamper named (issue 6, item 3).

mod common;

use common::{cairn, json, ok, rezip, sample, unzip};
use std::path::{Path, PathBuf};
use std::process::Output;

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn p(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// `cairn bundle verify FILE --trust KEY...`, which must fail naming `entry` and `cause`.
fn fails(ws: &Path, file: &Path, trust: &[&Path], entry: &str, cause: &str) {
    let mut args = vec!["bundle", "verify", p(file)];
    for t in trust {
        args.extend(["--trust", p(t)]);
    }
    let out = cairn(ws, &args);
    let err = stderr(&out);
    assert!(!out.status.success(), "{file:?} verified: {}", ok(&out));
    assert!(
        err.lines()
            .any(|l| l.trim_start().starts_with(&format!("{entry}:")) && l.contains(cause)),
        "{file:?}: expected `{entry}: …{cause}…` in\n{err}"
    );
}

#[test]
fn signed_bundles_verify_and_every_tamper_is_named() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    json(&cairn(
        &ws,
        &["data", "import", p(&sample("iris.csv")), "--json"],
    ));
    let run = json(&cairn(
        &ws,
        &[
            "train", "--data", "iris", "--target", "target", "--model", "logistic", "--seed", "3",
            "--name", "signed", "--param", "epochs=5", "--json",
        ],
    ));
    assert_eq!(run["status"], "finished");

    // Keys: two pairs; the secret is private and never overwritten.
    let keys = dir.path().join("keys");
    let made = json(&cairn(
        &ws,
        &[
            "keys",
            "new",
            "--out",
            p(&keys),
            "--name",
            "release",
            "--json",
        ],
    ));
    let (secret, public) = (keys.join("release.key"), keys.join("release.pub"));
    assert_eq!(made["secret_key"], p(&secret));
    assert_eq!(made["public_key"], p(&public));
    let fingerprint = made["fingerprint"].as_str().unwrap().to_string();
    assert_eq!(fingerprint.len(), 16);
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let before = std::fs::read(&secret).unwrap();
    let again = cairn(
        &ws,
        &["keys", "new", "--out", p(&keys), "--name", "release"],
    );
    assert!(!again.status.success());
    assert!(
        stderr(&again).contains("already exists"),
        "{}",
        stderr(&again)
    );
    assert_eq!(std::fs::read(&secret).unwrap(), before);
    json(&cairn(
        &ws,
        &[
            "keys",
            "new",
            "--out",
            p(&keys),
            "--name",
            "other",
            "--json",
        ],
    ));
    let other_pub = keys.join("other.pub");

    // Two signed exports are byte-identical, and verify with --trust.
    let (a, b) = (dir.path().join("a.zip"), dir.path().join("b.zip"));
    for f in [&a, &b] {
        let s = json(&cairn(
            &ws,
            &[
                "bundle",
                "export",
                "signed",
                "-o",
                p(f),
                "--sign",
                p(&secret),
                "--json",
            ],
        ));
        assert_eq!(s["signed_by"], fingerprint.as_str());
    }
    let good = std::fs::read(&a).unwrap();
    assert_eq!(good, std::fs::read(&b).unwrap(), "signed exports differ");
    let v = json(&cairn(
        &ws,
        &["bundle", "verify", p(&a), "--trust", p(&public), "--json"],
    ));
    assert_eq!(v["ok"], true);
    assert_eq!(v["signature"]["status"], "valid");
    assert_eq!(v["signature"]["trusted"], true);
    assert_eq!(v["signature"]["fingerprint"], fingerprint.as_str());
    // Any one of several --trust keys will do.
    let text = ok(&cairn(
        &ws,
        &[
            "bundle",
            "verify",
            p(&a),
            "--trust",
            p(&other_pub),
            "--trust",
            p(&public),
        ],
    ));
    assert!(
        text.contains(&format!("signed by trusted key {fingerprint}")),
        "{text}"
    );
    // Without --trust: reported, not required.
    let text = ok(&cairn(&ws, &["bundle", "verify", p(&a)]));
    assert!(text.contains("not checked against a trusted key"), "{text}");

    // Wrong key.
    fails(
        &ws,
        &a,
        &[&other_pub],
        "manifest.sig",
        &format!("untrusted key (fingerprint {fingerprint})"),
    );

    // Unsigned bundle: fine without --trust, refused with it.
    let plain = dir.path().join("plain.zip");
    ok(&cairn(
        &ws,
        &["bundle", "export", "signed", "-o", p(&plain)],
    ));
    let text = ok(&cairn(&ws, &["bundle", "verify", p(&plain)]));
    assert!(text.contains("unsigned"), "{text}");
    fails(&ws, &plain, &[&public], "manifest.sig", "unsigned bundle");

    let write = |name: &str, bytes: &[u8]| -> PathBuf {
        let f = dir.path().join(name);
        std::fs::write(&f, bytes).unwrap();
        f
    };
    // A flipped byte inside the stored weights.
    let mut flipped = good.clone();
    let name = b"model/weights.safetensors";
    let at = flipped.windows(name.len()).position(|w| w == name).unwrap();
    let header = at - 30;
    let extra = u16::from_le_bytes([flipped[header + 28], flipped[header + 29]]) as usize;
    flipped[at + name.len() + extra + 100] ^= 0x01;
    fails(
        &ws,
        &write("flipped.zip", &flipped),
        &[&public],
        "model/weights.safetensors",
        "modified",
    );

    let entries = unzip(&good);
    assert!(entries.contains_key("manifest.sig"));
    // Added and removed entries are named in a signed bundle.
    let mut added = entries.clone();
    added.insert("extra/notes.txt".into(), b"hello".to_vec());
    fails(
        &ws,
        &write("added.zip", &rezip(&added)),
        &[&public],
        "extra/notes.txt",
        "added",
    );
    let mut removed = entries.clone();
    removed.remove("run.json");
    fails(
        &ws,
        &write("removed.zip", &rezip(&removed)),
        &[&public],
        "run.json",
        "removed",
    );
    // manifest.sig removed: refused with --trust.
    let mut nosig = entries.clone();
    nosig.remove("manifest.sig");
    fails(
        &ws,
        &write("nosig.zip", &rezip(&nosig)),
        &[&public],
        "manifest.sig",
        "unsigned bundle",
    );
    // manifest.json modified (one byte of whitespace), re-zipped: the signature no longer holds,
    // with or without --trust.
    let mut edited = entries.clone();
    edited.get_mut("manifest.json").unwrap().push(b'\n');
    let edited = write("edited.zip", &rezip(&edited));
    fails(&ws, &edited, &[&public], "manifest.sig", "bad signature");
    fails(&ws, &edited, &[], "manifest.sig", "bad signature");
}

#[test]
fn hostile_key_files_are_refused_with_the_file_named() {
    let dir = tempfile::tempdir().unwrap();
    let ws = dir.path().join("ws");
    let bundle = dir.path().join("none.zip");
    std::fs::write(&bundle, b"not read: the key fails first").unwrap();
    let made = json(&cairn(
        &ws,
        &["keys", "new", "--out", p(dir.path()), "--json"],
    ));
    let secret = PathBuf::from(made["secret_key"].as_str().unwrap());
    let public = PathBuf::from(made["public_key"].as_str().unwrap());
    assert!(secret.ends_with("cairn.key") && public.ends_with("cairn.pub"));
    let hex64 = "ab".repeat(32);
    let cases: Vec<(&str, String, &str)> = vec![
        ("empty.pub", String::new(), "empty"),
        (
            "header.pub",
            format!("ssh-ed25519 {hex64}"),
            "not a Cairn public key file",
        ),
        (
            "badhex.pub",
            format!("cairn-ed25519-public-v1 zz{}", &hex64[2..]),
            "not hex",
        ),
        (
            "short.pub",
            "cairn-ed25519-public-v1 abcdef".into(),
            "3 bytes",
        ),
        (
            "type.pub",
            format!("cairn-rsa-public-v1 {hex64}"),
            "not supported",
        ),
        (
            "secret.pub",
            std::fs::read_to_string(&secret).unwrap(),
            "this is a secret key",
        ),
    ];
    for (name, text, cause) in cases {
        let f = dir.path().join(name);
        std::fs::write(&f, text).unwrap();
        let out = cairn(&ws, &["bundle", "verify", p(&bundle), "--trust", p(&f)]);
        let err = stderr(&out);
        assert!(!out.status.success(), "{name}");
        assert!(err.contains(p(&f)) && err.contains(cause), "{name}: {err}");
    }
    let missing = dir.path().join("missing.pub");
    let out = cairn(
        &ws,
        &["bundle", "verify", p(&bundle), "--trust", p(&missing)],
    );
    assert!(stderr(&out).contains("cannot read key file") && stderr(&out).contains("missing.pub"));
    // A public key given to --sign is refused before the workspace is touched.
    let out = cairn(
        &ws,
        &[
            "bundle",
            "export",
            "x",
            "-o",
            p(&dir.path().join("x.zip")),
            "--sign",
            p(&public),
        ],
    );
    let err = stderr(&out);
    assert!(!out.status.success());
    assert!(
        err.contains("this is a public key") && err.contains("cairn.pub"),
        "{err}"
    );
}
