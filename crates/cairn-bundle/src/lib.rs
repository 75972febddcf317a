//! Deterministic, self-describing zip bundles: the way a model leaves the machine.
//!
//! A bundle is a zip whose entries are sorted by path, stamped with a fixed time (1980-01-01)
//! and fixed permissions (0644), and described by `manifest.json`: the SHA-256 and size of every
//! other entry and a root hash over them. The same entries always give byte-identical bytes.
//! `verify` checks every hash and names each modified, added, removed or unreadable entry.
//! A bundle may also carry `manifest.sig`, an Ed25519 signature over the exact bytes of
//! `manifest.json` (see [`sign`]); it is the one entry the manifest does not list.
//!
//! This crate knows zip and JSON; it must not know DuckDB, Candle, tantivy or Tauri, nor what a
//! run is beyond the id it is handed. The format is documented in `docs/formats/bundle.md`.

pub mod registry;
pub mod sign;

use cairn_core::sha256_hex;
use serde::{Deserialize, Serialize};
pub use sign::{KeyError, PublicKey, SIGNATURE, SecretKey, SignatureStatus};
use std::collections::BTreeMap;
use std::io::{Cursor, Read, Write};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

/// The version of the bundle layout written by this build.
pub const FORMAT_VERSION: u32 = 1;
pub const MANIFEST: &str = "manifest.json";

/// Bundle entries: path → bytes.
pub type Entries = BTreeMap<String, Vec<u8>>;

/// Reading limits that keep a hostile zip from exhausting the machine.
pub const MAX_ENTRIES: usize = 10_000;
pub const MAX_ENTRY_BYTES: u64 = 2 << 30;
pub const MAX_TOTAL_BYTES: u64 = 8 << 30;
/// Deflate rarely exceeds ~1000:1 even on zeros; more than this is a zip bomb.
pub const MAX_RATIO: u64 = 1_000;
/// What all entries together may unpack to beyond their packed size. Entries are held in memory
/// while they are checked, so this bounds what a small file can make Cairn allocate (several
/// entries each under the ratio limit). Cairn stores its big entries (weights, ONNX, Parquet)
/// uncompressed, which costs nothing here; only deflated records count.
pub const MAX_INFLATED_BYTES: u64 = 1 << 30;

#[derive(Debug, thiserror::Error)]
pub enum BundleError {
    #[error("`{path}` is not a bundle Cairn can read: {reason}")]
    Unreadable { path: String, reason: String },
    #[error("bundle entry `{entry}` is refused: {reason}")]
    Hostile { entry: String, reason: String },
    #[error("cannot write the bundle: {0}")]
    Write(String),
}

pub type Result<T, E = BundleError> = std::result::Result<T, E>;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEntry {
    pub path: String,
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub format_version: u32,
    pub kind: String,
    pub run_id: String,
    pub created_by: String,
    /// Every entry but the manifest itself, sorted by path.
    pub entries: Vec<ManifestEntry>,
    /// SHA-256 over the lines `"<sha256>  <path>\n"` of `entries`, in order (`sha256sum` format).
    pub root_hash: String,
}

impl Manifest {
    fn root_hash_of(entries: &[ManifestEntry]) -> String {
        let text: String = entries
            .iter()
            .map(|e| format!("{}  {}\n", e.sha256, e.path))
            .collect();
        sha256_hex(text.as_bytes())
    }
}

/// Entries whose bytes gain nothing from deflate are stored as they are.
fn stored(path: &str) -> bool {
    path.ends_with(".safetensors") || path.ends_with(".parquet") || path.ends_with(".onnx")
}

/// Checks an entry path: relative, `/`-separated, no `..`, no empty or odd parts.
pub fn check_entry_path(path: &str) -> Result<()> {
    let refuse = |reason: &str| {
        Err(BundleError::Hostile {
            entry: path.to_string(),
            reason: reason.into(),
        })
    };
    if path.is_empty() || path.len() > 512 {
        return refuse("the path is empty or longer than 512 bytes");
    }
    if path.starts_with('/') || path.contains('\\') || path.contains(':') {
        return refuse("absolute paths, drive letters and backslashes are not allowed");
    }
    if path
        .split('/')
        .any(|part| part.is_empty() || part == "." || part == "..")
    {
        return refuse("the path has an empty, `.` or `..` part (zip-slip)");
    }
    if path.chars().any(|c| c.is_control()) {
        return refuse("the path holds control characters");
    }
    Ok(())
}

/// Writes a bundle of `entries` (path → bytes) plus its manifest, deterministically.
pub fn write_bundle(
    run_id: &str,
    created_by: &str,
    entries: &BTreeMap<String, Vec<u8>>,
) -> Result<Vec<u8>> {
    write_bundle_signed(run_id, created_by, entries, None)
}

/// Like [`write_bundle`], adding `manifest.sig` when given a key. Still deterministic:
/// Ed25519 signatures depend only on the key and the manifest bytes.
pub fn write_bundle_signed(
    run_id: &str,
    created_by: &str,
    entries: &BTreeMap<String, Vec<u8>>,
    signer: Option<&SecretKey>,
) -> Result<Vec<u8>> {
    let mut listed = Vec::with_capacity(entries.len());
    for (path, bytes) in entries {
        check_entry_path(path)?;
        if path == MANIFEST || path == SIGNATURE {
            return Err(BundleError::Write(format!(
                "`{path}` is written by Cairn itself"
            )));
        }
        listed.push(ManifestEntry {
            path: path.clone(),
            sha256: sha256_hex(bytes),
            size: bytes.len() as u64,
        });
    }
    let manifest = Manifest {
        format_version: FORMAT_VERSION,
        kind: "cairn-bundle".into(),
        run_id: run_id.into(),
        created_by: created_by.into(),
        root_hash: Manifest::root_hash_of(&listed),
        entries: listed,
    };
    let manifest_bytes = serde_json::to_vec_pretty(&manifest).expect("manifest serialises");

    let mut all: Vec<(&str, &[u8])> = entries
        .iter()
        .map(|(p, b)| (p.as_str(), b.as_slice()))
        .collect();
    all.push((MANIFEST, &manifest_bytes));
    let sig_bytes = signer.map(|key| sign::sign_manifest(key, &manifest_bytes));
    if let Some(sig) = &sig_bytes {
        all.push((SIGNATURE, sig));
    }
    all.sort_by(|a, b| a.0.cmp(b.0));

    let mut zip = ZipWriter::new(Cursor::new(Vec::new()));
    let werr = |e: zip::result::ZipError| BundleError::Write(e.to_string());
    for (path, bytes) in all {
        let method = if stored(path) {
            CompressionMethod::Stored
        } else {
            CompressionMethod::Deflated
        };
        let options = SimpleFileOptions::default()
            .compression_method(method)
            .last_modified_time(DateTime::default())
            .unix_permissions(0o644)
            .large_file(bytes.len() as u64 >= u32::MAX as u64);
        zip.start_file(path, options).map_err(werr)?;
        zip.write_all(bytes)
            .map_err(|e| BundleError::Write(e.to_string()))?;
    }
    Ok(zip.finish().map_err(werr)?.into_inner())
}

/// One thing wrong with a bundle, naming the entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub entry: String,
    pub issue: String,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerifyReport {
    pub manifest: Manifest,
    /// Empty when every entry is present, listed and matches its hash, and the signature
    /// (if any, or if trusted keys were required) checks.
    pub problems: Vec<Problem>,
    pub signature: SignatureStatus,
    /// The registry's evidence (gate reports, approvals) when the bundle carries any.
    pub registry: Option<registry::RegistryStatus>,
}

impl VerifyReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Reads every entry of a zip, refusing hostile archives before decompressing anything.
///
/// Two passes. The first looks only at the central directory (names, kinds, declared sizes and
/// ratios) and refuses the whole archive on the first hostile entry, so no byte of any entry is
/// inflated for a hostile zip. The second reads each entry through a hard byte limit of its
/// declared size + 1: an entry whose data inflates to more than the central directory declares
/// (a local header or size that lies) is cut off there and reported as a problem, never read
/// to its end.
pub fn read_entries(shown: &str, bytes: &[u8]) -> Result<(Entries, Vec<Problem>)> {
    let unreadable = |reason: String| BundleError::Unreadable {
        path: shown.to_string(),
        reason,
    };
    let mut archive = ZipArchive::new(Cursor::new(bytes)).map_err(|e| unreadable(e.to_string()))?;
    if archive.len() > MAX_ENTRIES {
        return Err(unreadable(format!(
            "it has {} entries; the limit is {MAX_ENTRIES}",
            archive.len()
        )));
    }
    // The zip reader keeps one entry per name: find repeated names in the raw directory.
    if archive.has_duplicate_names() {
        return Err(BundleError::Hostile {
            entry: repeated_name(bytes, archive.central_directory_start())
                .unwrap_or_else(|| "(unknown)".into()),
            reason: "the name appears twice in the zip".into(),
        });
    }
    // Local headers must agree with the central directory (names, sizes, CRCs, methods).
    // Opening an entry reader inflates nothing; it only finds the entry that disagrees.
    if let Err(whole) = archive.validate_header_consistency() {
        for i in 0..archive.len() {
            let opts = zip::read::ZipReadOptions::new().enforce_header_consistency(true);
            if let Err(e) = archive.by_index_with_options(i, opts).map(|_| ()) {
                let entry = match archive.name_for_index(i) {
                    Some(Ok(name)) => name.into_owned(),
                    _ => "(unnamed)".to_string(),
                };
                return Err(BundleError::Hostile {
                    entry,
                    reason: format!("its local header disagrees with the zip's directory ({e})"),
                });
            }
        }
        return Err(unreadable(format!(
            "its local headers disagree with its directory ({whole})"
        )));
    }
    // Pass 1: the central directory only (`by_index_raw` inflates nothing).
    let mut planned: Vec<(usize, String, u64)> = Vec::with_capacity(archive.len());
    let mut seen = std::collections::BTreeSet::new();
    let mut total = 0u64;
    let mut inflated = 0u64;
    for i in 0..archive.len() {
        let file = archive
            .by_index_raw(i)
            .map_err(|e| unreadable(e.to_string()))?;
        let name = file
            .name()
            .map_err(|e| unreadable(format!("entry {i} has an unreadable name ({e})")))?
            .to_string();
        let hostile = |reason: String| BundleError::Hostile {
            entry: name.clone(),
            reason,
        };
        check_entry_path(&name)?;
        if file.is_symlink() {
            return Err(hostile("symbolic links are not allowed".into()));
        }
        if !seen.insert(name.clone()) {
            return Err(hostile("the name appears twice in the zip".into()));
        }
        if file.is_dir() {
            continue;
        }
        let size = file.size();
        let packed = file.compressed_size();
        total = total.saturating_add(size);
        inflated = inflated.saturating_add(size.saturating_sub(packed));
        if inflated > MAX_INFLATED_BYTES {
            return Err(hostile(format!(
                "with it the entries unpack to {inflated} bytes more than they take packed, over \
                 the limit of {MAX_INFLATED_BYTES} (a zip bomb spread over several entries?)"
            )));
        }
        if size > MAX_ENTRY_BYTES || total > MAX_TOTAL_BYTES {
            return Err(hostile(format!(
                "{size} bytes unpacked is over the size limit"
            )));
        }
        if packed > bytes.len() as u64 {
            return Err(hostile(format!(
                "its packed size ({packed} bytes) is larger than the whole file (truncated?)"
            )));
        }
        if size / packed.max(1) > MAX_RATIO {
            return Err(hostile(format!(
                "it unpacks {}× its packed size (a zip bomb?)",
                size / packed.max(1)
            )));
        }
        planned.push((i, name, size));
    }
    // Pass 2: inflate, never past the declared size.
    let mut out = BTreeMap::new();
    let mut problems = Vec::new();
    for (i, name, size) in planned {
        let mut file = match archive.by_index(i) {
            Ok(f) => f,
            Err(e) => {
                problems.push(Problem {
                    entry: name,
                    issue: format!("it cannot be read ({e}); the entry was modified"),
                });
                continue;
            }
        };
        // The declared size is already bounded by the limits above; still, grow as data comes.
        let mut buf = Vec::with_capacity(size.min(1 << 20) as usize);
        match file.by_ref().take(size + 1).read_to_end(&mut buf) {
            Ok(_) if buf.len() as u64 == size => {
                out.insert(name, buf);
            }
            Ok(_) => problems.push(Problem {
                entry: name,
                issue: "its unpacked size differs from the size the zip declares".into(),
            }),
            Err(e) => problems.push(Problem {
                entry: name,
                issue: format!("it cannot be read back ({e}); the entry was modified"),
            }),
        }
    }
    Ok((out, problems))
}

/// The first name that appears twice among the central directory headers from `start`.
fn repeated_name(bytes: &[u8], start: u64) -> Option<String> {
    let mut at = usize::try_from(start).ok()?;
    let mut seen = std::collections::BTreeSet::new();
    let le16 = |i: usize| -> Option<usize> {
        Some(u16::from_le_bytes([*bytes.get(i)?, *bytes.get(i + 1)?]) as usize)
    };
    while bytes.get(at..at + 4)? == [0x50, 0x4b, 0x01, 0x02] {
        let (name_len, extra, comment) = (le16(at + 28)?, le16(at + 30)?, le16(at + 32)?);
        let name = String::from_utf8_lossy(bytes.get(at + 46..at + 46 + name_len)?).into_owned();
        if !seen.insert(name.clone()) {
            return Some(name);
        }
        at += 46 + name_len + extra + comment;
    }
    None
}

/// Checks a bundle: the manifest parses, every listed entry is present with its hash and size,
/// nothing unlisted is present, the root hash matches, and a `manifest.sig`, if present, is a
/// valid signature of the manifest. Does not require a signature: see [`verify_trusted`].
pub fn verify(shown: &str, bytes: &[u8]) -> Result<VerifyReport> {
    verify_trusted(shown, bytes, &[])
}

/// Like [`verify`]; when `trusted` is not empty, also requires a valid signature by one of
/// those keys (an unsigned bundle or one signed by another key is a problem on `manifest.sig`).
pub fn verify_trusted(shown: &str, bytes: &[u8], trusted: &[PublicKey]) -> Result<VerifyReport> {
    Ok(verify_and_read(shown, bytes, trusted)?.0)
}

/// Like [`verify_trusted`], also handing back the entries it read (path → bytes), so a caller
/// that imports a bundle reads each entry once, and only after every check ran. Use the entries
/// only when the report is [`VerifyReport::ok`].
pub fn verify_and_read(
    shown: &str,
    bytes: &[u8],
    trusted: &[PublicKey],
) -> Result<(VerifyReport, Entries)> {
    let (entries, mut problems) = read_entries(shown, bytes)?;
    let unreadable = |reason: String| BundleError::Unreadable {
        path: shown.to_string(),
        reason,
    };
    let manifest_bytes = entries
        .get(MANIFEST)
        .ok_or_else(|| unreadable(format!("it has no readable `{MANIFEST}`")))?;
    let manifest: Manifest = serde_json::from_slice(manifest_bytes)
        .map_err(|e| unreadable(format!("`{MANIFEST}` is not valid: {e}")))?;
    if manifest.format_version > FORMAT_VERSION {
        return Err(unreadable(format!(
            "format_version {} is newer than this Cairn reads ({FORMAT_VERSION}); upgrade Cairn",
            manifest.format_version
        )));
    }
    let unreadable_entries: Vec<String> = problems.iter().map(|p| p.entry.clone()).collect();
    for listed in &manifest.entries {
        if let Err(e) = check_entry_path(&listed.path) {
            problems.push(Problem {
                entry: listed.path.clone(),
                issue: format!("the manifest lists a hostile path: {e}"),
            });
            continue;
        }
        match entries.get(&listed.path) {
            Some(bytes) => {
                let actual = sha256_hex(bytes);
                if actual != listed.sha256 || bytes.len() as u64 != listed.size {
                    problems.push(Problem {
                        entry: listed.path.clone(),
                        issue: format!(
                            "modified: SHA-256 is {actual}, the manifest says {}",
                            listed.sha256
                        ),
                    });
                }
            }
            None if unreadable_entries.contains(&listed.path) => {}
            None => problems.push(Problem {
                entry: listed.path.clone(),
                issue: "removed: listed in the manifest but missing".into(),
            }),
        }
    }
    for path in entries
        .keys()
        .filter(|p| p.as_str() != MANIFEST && p.as_str() != SIGNATURE)
    {
        if !manifest.entries.iter().any(|e| &e.path == path) {
            problems.push(Problem {
                entry: path.clone(),
                issue: "added: present but not listed in the manifest".into(),
            });
        }
    }
    if Manifest::root_hash_of(&manifest.entries) != manifest.root_hash {
        problems.push(Problem {
            entry: MANIFEST.into(),
            issue: "modified: the root hash does not match the listed entries".into(),
        });
    }
    let signature = sign::check_signature(
        manifest_bytes,
        entries.get(SIGNATURE).map(Vec::as_slice),
        trusted,
    );
    let sig_problem = match &signature {
        SignatureStatus::Invalid { reason } => Some(reason.clone()),
        SignatureStatus::Unsigned if !trusted.is_empty() => Some(
            "unsigned bundle: --trust requires a signature by a trusted key; \
             export it with `cairn bundle export --sign KEY`"
                .into(),
        ),
        SignatureStatus::Valid {
            fingerprint,
            trusted: false,
        } if !trusted.is_empty() => Some(format!(
            "signed by an untrusted key (fingerprint {fingerprint}); none of the --trust keys \
             ({}) signed it",
            trusted
                .iter()
                .map(PublicKey::fingerprint)
                .collect::<Vec<_>>()
                .join(", ")
        )),
        _ => None,
    };
    if let Some(issue) = sig_problem {
        problems.push(Problem {
            entry: SIGNATURE.into(),
            issue,
        });
    }
    let (registry, registry_problems) = registry::check(&manifest, &entries);
    problems.extend(registry_problems);
    Ok((
        VerifyReport {
            manifest,
            problems,
            signature,
            registry,
        },
        entries,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> BTreeMap<String, Vec<u8>> {
        BTreeMap::from([
            (
                "model/weights.safetensors".to_string(),
                (0..200u8).collect::<Vec<u8>>(),
            ),
            ("run.json".to_string(), br#"{"name":"x"}"#.to_vec()),
        ])
    }

    fn entry_offset(bytes: &[u8], name: &str) -> (usize, usize) {
        let mut a = ZipArchive::new(Cursor::new(bytes)).unwrap();
        let f = a.by_name(name).unwrap();
        (
            f.data_start().unwrap() as usize,
            f.compressed_size() as usize,
        )
    }

    #[test]
    fn deterministic_and_verifies() {
        let a = write_bundle("r1", "cairn test", &sample()).unwrap();
        let b = write_bundle("r1", "cairn test", &sample()).unwrap();
        assert_eq!(a, b);
        let report = verify("a.zip", &a).unwrap();
        assert!(report.ok(), "{:?}", report.problems);
        assert_eq!(report.manifest.entries.len(), 2);
    }

    #[test]
    fn every_tamper_is_named() {
        let good = write_bundle("r1", "t", &sample()).unwrap();
        // Flip one byte inside the stored weights.
        let (start, len) = entry_offset(&good, "model/weights.safetensors");
        let mut flipped = good.clone();
        flipped[start + len / 2] ^= 0x01;
        let r = verify("f.zip", &flipped).unwrap();
        assert_eq!(r.problems.len(), 1, "{:?}", r.problems);
        assert_eq!(r.problems[0].entry, "model/weights.safetensors");

        // Add an entry / remove an entry: rebuild the zip around the same manifest.
        let (entries, _) = read_entries("g", &good).unwrap();
        let rezip = |entries: &BTreeMap<String, Vec<u8>>| {
            let mut z = ZipWriter::new(Cursor::new(Vec::new()));
            for (p, b) in entries {
                z.start_file(p.as_str(), SimpleFileOptions::default())
                    .unwrap();
                z.write_all(b).unwrap();
            }
            z.finish().unwrap().into_inner()
        };
        let mut added = entries.clone();
        added.insert("extra.txt".into(), b"hi".to_vec());
        let r = verify("a.zip", &rezip(&added)).unwrap();
        assert_eq!(
            r.problems,
            vec![Problem {
                entry: "extra.txt".into(),
                issue: "added: present but not listed in the manifest".into()
            }]
        );
        let mut removed = entries.clone();
        removed.remove("run.json");
        let r = verify("r.zip", &rezip(&removed)).unwrap();
        assert_eq!(r.problems[0].entry, "run.json");
        assert!(r.problems[0].issue.starts_with("removed"));
    }

    fn rezip(entries: &BTreeMap<String, Vec<u8>>) -> Vec<u8> {
        let mut z = ZipWriter::new(Cursor::new(Vec::new()));
        for (p, b) in entries {
            z.start_file(p.as_str(), SimpleFileOptions::default())
                .unwrap();
            z.write_all(b).unwrap();
        }
        z.finish().unwrap().into_inner()
    }

    #[test]
    fn signed_bundles_are_deterministic_and_every_tamper_is_named() {
        let key = SecretKey::generate().unwrap();
        let other = SecretKey::generate().unwrap();
        let trusted = [key.public()];
        let good = write_bundle_signed("r1", "t", &sample(), Some(&key)).unwrap();
        assert_eq!(
            good,
            write_bundle_signed("r1", "t", &sample(), Some(&key)).unwrap()
        );
        let r = verify_trusted("g.zip", &good, &trusted).unwrap();
        assert!(r.ok(), "{:?}", r.problems);
        assert!(matches!(
            r.signature,
            SignatureStatus::Valid { trusted: true, .. }
        ));
        let r = verify("g.zip", &good).unwrap();
        assert!(r.ok());
        assert!(matches!(
            r.signature,
            SignatureStatus::Valid { trusted: false, .. }
        ));

        let issues = |bytes: &[u8], trusted: &[PublicKey]| {
            let r = verify_trusted("t.zip", bytes, trusted).unwrap();
            r.problems
                .iter()
                .map(|p| format!("{}: {}", p.entry, p.issue))
                .collect::<Vec<_>>()
        };
        // Wrong key.
        let got = issues(&good, &[other.public()]);
        assert!(
            got.len() == 1
                && got[0].contains("untrusted key")
                && got[0].contains(&key.public().fingerprint()),
            "{got:?}"
        );
        // Unsigned, with --trust; without, fine.
        let unsigned = write_bundle("r1", "t", &sample()).unwrap();
        let got = issues(&unsigned, &trusted);
        assert!(
            got.len() == 1 && got[0].contains("unsigned bundle"),
            "{got:?}"
        );
        assert!(issues(&unsigned, &[]).is_empty());

        let (entries, _) = read_entries("g", &good).unwrap();
        // Added and removed entries are named, the signature still checks (manifest untouched).
        let mut added = entries.clone();
        added.insert("extra.txt".into(), b"hi".to_vec());
        let got = issues(&rezip(&added), &trusted);
        assert_eq!(
            got,
            ["extra.txt: added: present but not listed in the manifest"]
        );
        let mut removed = entries.clone();
        removed.remove("run.json");
        let got = issues(&rezip(&removed), &trusted);
        assert!(
            got.len() == 1 && got[0].starts_with("run.json: removed"),
            "{got:?}"
        );
        // Removed signature with --trust.
        let mut nosig = entries.clone();
        nosig.remove(SIGNATURE);
        let got = issues(&rezip(&nosig), &trusted);
        assert!(
            got.len() == 1 && got[0].contains("unsigned bundle"),
            "{got:?}"
        );
        // Modified manifest (a listed hash rewritten to match a modified entry).
        let mut forged = entries.clone();
        let mut m: Manifest = serde_json::from_slice(&entries[MANIFEST]).unwrap();
        let new_run = br#"{"name":"y"}"#.to_vec();
        let e = m.entries.iter_mut().find(|e| e.path == "run.json").unwrap();
        e.sha256 = sha256_hex(&new_run);
        m.root_hash = Manifest::root_hash_of(&m.entries);
        forged.insert("run.json".into(), new_run);
        forged.insert(MANIFEST.into(), serde_json::to_vec_pretty(&m).unwrap());
        for t in [&trusted[..], &[]] {
            let got = issues(&rezip(&forged), t);
            assert!(
                got.len() == 1 && got[0].starts_with("manifest.sig: bad signature"),
                "{got:?}"
            );
        }
        // Flipped byte in an entry.
        let (start, len) = entry_offset(&good, "model/weights.safetensors");
        let mut flipped = good.clone();
        flipped[start + len / 2] ^= 0x01;
        let got = issues(&flipped, &trusted);
        assert!(
            got.len() == 1
                && got[0].starts_with("model/weights.safetensors: ")
                && got[0].contains("modified"),
            "{got:?}"
        );
    }

    #[test]
    fn hostile_paths_are_refused() {
        for bad in [
            "../evil",
            "/etc/passwd",
            "a/../../b",
            "C:\\x",
            "a//b",
            "./a",
        ] {
            assert!(check_entry_path(bad).is_err(), "{bad}");
        }
        assert!(check_entry_path("model/weights.safetensors").is_ok());
        let mut z = ZipWriter::new(Cursor::new(Vec::new()));
        z.start_file("../../escape.txt", SimpleFileOptions::default())
            .unwrap();
        z.write_all(b"x").unwrap();
        let bytes = z.finish().unwrap().into_inner();
        assert!(matches!(
            read_entries("h.zip", &bytes),
            Err(BundleError::Hostile { .. })
        ));
    }

    #[test]
    fn zip_bombs_are_refused() {
        let mut z = ZipWriter::new(Cursor::new(Vec::new()));
        z.start_file(
            "zeros.bin",
            SimpleFileOptions::default().compression_method(CompressionMethod::Deflated),
        )
        .unwrap();
        z.write_all(&vec![0u8; 20 << 20]).unwrap();
        let bytes = z.finish().unwrap().into_inner();
        let err = read_entries("b.zip", &bytes).unwrap_err().to_string();
        assert!(
            err.contains("zeros.bin") && err.contains("zip bomb"),
            "{err}"
        );
    }

    /// Rewrites the unpacked size of every entry in both the local and the central headers.
    fn lie_about_sizes(bytes: &mut [u8], size: u32) {
        let mut i = 0;
        while i + 30 < bytes.len() {
            match bytes[i..i + 4] {
                [0x50, 0x4b, 0x03, 0x04] => {
                    bytes[i + 22..i + 26].copy_from_slice(&size.to_le_bytes())
                }
                [0x50, 0x4b, 0x01, 0x02] => {
                    bytes[i + 24..i + 28].copy_from_slice(&size.to_le_bytes())
                }
                _ => {}
            }
            i += 1;
        }
    }

    #[test]
    fn a_bomb_spread_over_entries_is_refused_before_inflating() {
        // Three entries of 1 MiB that do not compress, each declared at 500 MiB: every one is
        // under the ratio limit, together they would unpack 1.5 GiB from a 3 MiB file.
        let mut z = ZipWriter::new(Cursor::new(Vec::new()));
        let mut x = 0x2545_f491u32;
        for name in ["a.bin", "b.bin", "c.bin"] {
            z.start_file(
                name,
                SimpleFileOptions::default().compression_method(CompressionMethod::Deflated),
            )
            .unwrap();
            let data: Vec<u8> = (0..1u32 << 20)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            z.write_all(&data).unwrap();
        }
        let mut bytes = z.finish().unwrap().into_inner();
        lie_about_sizes(&mut bytes, 500 << 20);
        let err = read_entries("spread.zip", &bytes).unwrap_err().to_string();
        assert!(err.contains("c.bin") && err.contains("zip bomb"), "{err}");
    }

    #[test]
    fn sizes_that_lie_are_cut_off_at_the_declared_size() {
        let mut z = ZipWriter::new(Cursor::new(Vec::new()));
        z.start_file(
            "big.bin",
            SimpleFileOptions::default().compression_method(CompressionMethod::Deflated),
        )
        .unwrap();
        // 4 MiB that deflate ~100:1 (under the ratio limit as it really is).
        let data: Vec<u8> = (0..4u32 << 20).map(|i| (i % 251) as u8).collect();
        z.write_all(&data).unwrap();
        let mut bytes = z.finish().unwrap().into_inner();
        lie_about_sizes(&mut bytes, 10);
        let (entries, problems) = read_entries("lie.zip", &bytes).unwrap();
        assert!(entries.is_empty());
        assert_eq!(problems.len(), 1, "{problems:?}");
        assert_eq!(problems[0].entry, "big.bin");
        assert!(problems[0].issue.contains("declared"), "{problems:?}");
    }

    #[test]
    fn a_hostile_entry_anywhere_refuses_before_any_entry_is_inflated() {
        // The bomb comes last: the first pass must still see it before inflating `a.txt`.
        let mut z = ZipWriter::new(Cursor::new(Vec::new()));
        z.start_file("a.txt", SimpleFileOptions::default()).unwrap();
        z.write_all(b"fine").unwrap();
        z.start_file("z/../../evil", SimpleFileOptions::default())
            .unwrap();
        z.write_all(b"x").unwrap();
        let bytes = z.finish().unwrap().into_inner();
        let err = read_entries("h.zip", &bytes).unwrap_err().to_string();
        assert!(err.contains("z/../../evil"), "{err}");
    }

    #[test]
    fn duplicate_names_are_named() {
        let mut z = ZipWriter::new(Cursor::new(Vec::new()));
        for name in ["run.json", "run.jsoX"] {
            z.start_file(name, SimpleFileOptions::default()).unwrap();
            z.write_all(b"{}").unwrap();
        }
        let mut bytes = z.finish().unwrap().into_inner();
        for i in 0..bytes.len() - 8 {
            if &bytes[i..i + 8] == b"run.jsoX" {
                bytes[i + 7] = b'n';
            }
        }
        let err = read_entries("d.zip", &bytes).unwrap_err().to_string();
        assert!(err.contains("`run.json`") && err.contains("twice"), "{err}");
    }

    #[test]
    fn a_local_header_that_lies_is_refused_by_name() {
        let bytes = write_bundle("r1", "t", &sample()).unwrap();
        let mut lying = bytes.clone();
        // The local header of run.json claims 1 GiB unpacked; the central directory does not.
        let name = b"run.json";
        let at = (0..lying.len() - 4)
            .find(|&i| {
                lying[i..i + 4] == [0x50, 0x4b, 0x03, 0x04]
                    && lying.get(i + 30..i + 30 + name.len()) == Some(name)
            })
            .unwrap();
        lying[at + 22..at + 26].copy_from_slice(&(1u32 << 30).to_le_bytes());
        let err = read_entries("l.zip", &lying).unwrap_err().to_string();
        assert!(
            err.contains("`run.json`") && err.contains("local header"),
            "{err}"
        );
    }
}
