//! Ed25519 signatures over `manifest.json`, and the text formats of Cairn key files.
//!
//! A key file is one line: `cairn-ed25519-secret-v1 <64 hex>` (the 32-byte seed) or
//! `cairn-ed25519-public-v1 <64 hex>` (the 32-byte public key). A key's fingerprint is the first
//! 16 hex digits of the SHA-256 of its 32 public-key bytes. Ed25519 signatures are deterministic,
//! so a signed bundle stays byte-identical from one export to the next.

use cairn_core::sha256_hex;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use serde::{Deserialize, Serialize};

pub const SECRET_HEADER: &str = "cairn-ed25519-secret-v1";
pub const PUBLIC_HEADER: &str = "cairn-ed25519-public-v1";
/// The zip entry holding the signature; it is not listed in the manifest (it signs it).
pub const SIGNATURE: &str = "manifest.sig";
pub const ALGORITHM: &str = "ed25519";

#[derive(Debug, thiserror::Error)]
#[error("key file `{path}`: {reason}")]
pub struct KeyError {
    pub path: String,
    pub reason: String,
}

/// A secret key read from (or made for) a key file.
#[derive(Clone)]
pub struct SecretKey(SigningKey);

/// A public key: what `--trust` is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicKey(VerifyingKey);

impl std::fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SecretKey({})", self.public().fingerprint())
    }
}

impl SecretKey {
    /// A new key from the operating system's random source.
    pub fn generate() -> Result<SecretKey, String> {
        let mut seed = [0u8; 32];
        getrandom::getrandom(&mut seed)
            .map_err(|e| format!("the system random source failed: {e}"))?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    pub fn public(&self) -> PublicKey {
        PublicKey(self.0.verifying_key())
    }

    /// The key file text, ending in a newline.
    pub fn to_file_text(&self) -> String {
        format!("{SECRET_HEADER} {}\n", hex::encode(self.0.to_bytes()))
    }

    /// Parses a secret key file; `shown` names the file in errors.
    pub fn parse(shown: &str, text: &[u8]) -> Result<SecretKey, KeyError> {
        let seed = parse_key(shown, text, SECRET_HEADER, PUBLIC_HEADER, "secret")?;
        Ok(SecretKey(SigningKey::from_bytes(&seed)))
    }

    fn sign(&self, message: &[u8]) -> Signature {
        self.0.sign(message)
    }

    /// The Ed25519 signature of `message`, as 128 hex digits (approvals, checkpoints).
    pub fn sign_hex(&self, message: &[u8]) -> String {
        hex::encode(self.sign(message).to_bytes())
    }
}

impl PublicKey {
    pub fn to_hex(&self) -> String {
        hex::encode(self.0.as_bytes())
    }

    /// A public key from its 64 hex digits, or from a public key file's line
    /// (`cairn-ed25519-public-v1 <64 hex>`).
    pub fn from_text(text: &str) -> Result<PublicKey, KeyError> {
        let text = text.trim();
        if text.starts_with(PUBLIC_HEADER) || text.starts_with(SECRET_HEADER) {
            return PublicKey::parse("(inline key)", text.as_bytes());
        }
        PublicKey::parse("(inline key)", format!("{PUBLIC_HEADER} {text}").as_bytes())
    }

    /// Whether `signature_hex` is this key's valid signature of `message`.
    pub fn verifies(&self, message: &[u8], signature_hex: &str) -> bool {
        let Ok(bytes) = hex::decode(signature_hex) else {
            return false;
        };
        let Ok(sig) = <[u8; 64]>::try_from(bytes.as_slice()) else {
            return false;
        };
        self.0.verify(message, &Signature::from_bytes(&sig)).is_ok()
    }

    /// First 16 hex digits of the SHA-256 of the 32 public-key bytes.
    pub fn fingerprint(&self) -> String {
        sha256_hex(self.0.as_bytes())[..16].to_string()
    }

    pub fn to_file_text(&self) -> String {
        format!("{PUBLIC_HEADER} {}\n", self.to_hex())
    }

    /// Parses a public key file; `shown` names the file in errors.
    pub fn parse(shown: &str, text: &[u8]) -> Result<PublicKey, KeyError> {
        let bytes = parse_key(shown, text, PUBLIC_HEADER, SECRET_HEADER, "public")?;
        VerifyingKey::from_bytes(&bytes)
            .map(PublicKey)
            .map_err(|_| KeyError {
                path: shown.into(),
                reason: "the 32 bytes are not a valid Ed25519 public key".into(),
            })
    }
}

fn parse_key(
    shown: &str,
    text: &[u8],
    header: &str,
    other: &str,
    kind: &str,
) -> Result<[u8; 32], KeyError> {
    let err = |reason: String| KeyError {
        path: shown.into(),
        reason,
    };
    let text = std::str::from_utf8(text)
        .map_err(|_| err(format!("not a Cairn {kind} key file (it is not text); expected one line `{header} <64 hex digits>`")))?;
    let mut parts = text.split_whitespace();
    let (found, hex_text) = (parts.next(), parts.next());
    if parts.next().is_some() {
        return Err(err(format!(
            "unexpected text after the key; expected one line `{header} <64 hex digits>`"
        )));
    }
    match found {
        None => return Err(err(format!("the file is empty; expected one line `{header} <64 hex digits>` (make one with `cairn keys new`)"))),
        Some(h) if h == other && kind == "public" => return Err(err(
            "this is a secret key; give the public key file (`.pub`), and keep the secret key private".into(),
        )),
        Some(h) if h == other => return Err(err(
            "this is a public key; signing needs the secret key file made by `cairn keys new`".into(),
        )),
        Some(h) if h != header && h.starts_with("cairn-") && h.ends_with("-v1") => return Err(err(format!(
            "key type `{h}` is not supported; Cairn signs with `{header}` keys"
        ))),
        Some(h) if h != header => return Err(err(format!(
            "not a Cairn {kind} key file (it starts `{}`); expected one line `{header} <64 hex digits>`",
            h.chars().take(40).collect::<String>()
        ))),
        Some(_) => {}
    }
    let hex_text = hex_text.ok_or_else(|| err(format!("the key is missing after `{header}`")))?;
    let bytes = hex::decode(hex_text).map_err(|e| err(format!("the key is not hex ({e})")))?;
    <[u8; 32]>::try_from(bytes.as_slice()).map_err(|_| {
        err(format!(
            "the key is {} bytes; an Ed25519 key is 32 bytes (64 hex digits)",
            bytes.len()
        ))
    })
}

/// The `manifest.sig` entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignatureFile {
    pub algorithm: String,
    pub public_key: String,
    pub fingerprint: String,
    /// Over the exact bytes of `manifest.json`.
    pub signature: String,
}

/// Signs the exact manifest bytes; returns the `manifest.sig` bytes.
pub fn sign_manifest(key: &SecretKey, manifest_bytes: &[u8]) -> Vec<u8> {
    let public = key.public();
    let file = SignatureFile {
        algorithm: ALGORITHM.into(),
        public_key: public.to_hex(),
        fingerprint: public.fingerprint(),
        signature: hex::encode(key.sign(manifest_bytes).to_bytes()),
    };
    let mut bytes = serde_json::to_vec_pretty(&file).expect("signature serialises");
    bytes.push(b'\n');
    bytes
}

/// What verify found about the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum SignatureStatus {
    /// No `manifest.sig`.
    Unsigned,
    /// The signature over `manifest.json` checks with the key it names; `trusted` says
    /// whether that key was among the `--trust` keys (false when none were given).
    Valid { fingerprint: String, trusted: bool },
    /// The signature does not check: the manifest or the signature was modified.
    Invalid { reason: String },
}

/// Checks `manifest.sig` (if present) against the exact `manifest.json` bytes.
pub fn check_signature(
    manifest_bytes: &[u8],
    sig_bytes: Option<&[u8]>,
    trusted: &[PublicKey],
) -> SignatureStatus {
    let Some(sig_bytes) = sig_bytes else {
        return SignatureStatus::Unsigned;
    };
    let invalid = |reason: String| SignatureStatus::Invalid { reason };
    let file: SignatureFile = match serde_json::from_slice(sig_bytes) {
        Ok(f) => f,
        Err(e) => return invalid(format!("`{SIGNATURE}` is not valid JSON ({e})")),
    };
    if file.algorithm != ALGORITHM {
        return invalid(format!(
            "algorithm `{}` is not supported (only `{ALGORITHM}`)",
            file.algorithm
        ));
    }
    let key = match hex::decode(&file.public_key)
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b.as_slice()).ok())
        .and_then(|b| VerifyingKey::from_bytes(&b).ok())
    {
        Some(k) => PublicKey(k),
        None => return invalid("the public key in it is not a valid Ed25519 key".into()),
    };
    let signature = match hex::decode(&file.signature)
        .ok()
        .and_then(|b| <[u8; 64]>::try_from(b.as_slice()).ok())
    {
        Some(b) => Signature::from_bytes(&b),
        None => return invalid("the signature is not 64 bytes of hex".into()),
    };
    if key.0.verify(manifest_bytes, &signature).is_err() {
        return invalid(
            "bad signature: the manifest or the signature was modified after signing".into(),
        );
    }
    SignatureStatus::Valid {
        fingerprint: key.fingerprint(),
        trusted: trusted.contains(&key),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn key_files_round_trip() {
        let key = SecretKey::generate().unwrap();
        let again = SecretKey::parse("k", key.to_file_text().as_bytes()).unwrap();
        assert_eq!(again.public(), key.public());
        let public = PublicKey::parse("p", key.public().to_file_text().as_bytes()).unwrap();
        assert_eq!(public, key.public());
        assert_eq!(public.fingerprint().len(), 16);
    }

    #[test]
    fn hostile_key_files_are_refused_by_name() {
        let key = SecretKey::generate().unwrap();
        let public_text = key.public().to_file_text();
        let secret_text = key.to_file_text();
        let cases: Vec<(&str, Vec<u8>, &str)> = vec![
            ("empty", vec![], "empty"),
            ("spaces", b"  \n".to_vec(), "empty"),
            ("binary", vec![0xff, 0xfe, 0], "not text"),
            (
                "header",
                b"ssh-ed25519 AAAA".to_vec(),
                "not a Cairn public key file",
            ),
            (
                "other type",
                b"cairn-rsa-public-v1 00".to_vec(),
                "not supported",
            ),
            (
                "no key",
                format!("{PUBLIC_HEADER}\n").into_bytes(),
                "missing",
            ),
            (
                "bad hex",
                format!("{PUBLIC_HEADER} zz{}\n", "0".repeat(62)).into_bytes(),
                "not hex",
            ),
            (
                "short",
                format!("{PUBLIC_HEADER} abcd\n").into_bytes(),
                "2 bytes",
            ),
            (
                "long",
                format!("{PUBLIC_HEADER} {}\n", "ab".repeat(33)).into_bytes(),
                "33 bytes",
            ),
            (
                "trailing",
                format!("{} extra", public_text.trim()).into_bytes(),
                "unexpected",
            ),
            (
                "secret",
                secret_text.clone().into_bytes(),
                "this is a secret key",
            ),
        ];
        for (name, bytes, expect) in cases {
            let err = PublicKey::parse(name, &bytes).unwrap_err().to_string();
            assert!(err.contains(expect) && err.contains(name), "{name}: {err}");
        }
        let err = SecretKey::parse("pub", public_text.as_bytes())
            .unwrap_err()
            .to_string();
        assert!(err.contains("this is a public key"), "{err}");
        let err = SecretKey::parse("s", b"").unwrap_err().to_string();
        assert!(err.contains("empty"), "{err}");
    }

    #[test]
    fn signature_checks_catch_every_change() {
        let key = SecretKey::generate().unwrap();
        let other = SecretKey::generate().unwrap();
        let sig = sign_manifest(&key, b"manifest");
        assert_eq!(sig, sign_manifest(&key, b"manifest"), "deterministic");
        let trusted = [key.public()];
        assert!(matches!(
            check_signature(b"manifest", Some(&sig), &trusted),
            SignatureStatus::Valid { trusted: true, .. }
        ));
        assert!(matches!(
            check_signature(b"manifest", Some(&sig), &[other.public()]),
            SignatureStatus::Valid { trusted: false, .. }
        ));
        assert!(matches!(
            check_signature(b"manifesT", Some(&sig), &trusted),
            SignatureStatus::Invalid { .. }
        ));
        assert_eq!(
            check_signature(b"manifest", None, &trusted),
            SignatureStatus::Unsigned
        );
        for garbage in [&b"{}"[..], b"not json", b""] {
            assert!(matches!(
                check_signature(b"manifest", Some(garbage), &trusted),
                SignatureStatus::Invalid { .. }
            ));
        }
        // A signature swapped for another key's, with that key's public key: valid, untrusted.
        let swapped = sign_manifest(&other, b"manifest");
        assert!(matches!(
            check_signature(b"manifest", Some(&swapped), &trusted),
            SignatureStatus::Valid { trusted: false, .. }
        ));
    }
}
