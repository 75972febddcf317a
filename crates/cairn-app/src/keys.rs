//! Ed25519 key files for signing bundles: making a pair, reading either half.
//!
//! The formats live in `cairn_bundle::sign` and `docs/formats/bundle.md`; this module does the
//! file work: the secret key is written with mode 0600 and nothing is ever overwritten.

use crate::{AppError, ErrorCode, Result};
use cairn_bundle::{KeyError, PublicKey, SecretKey};
use serde::Serialize;
use std::io::{Read, Write};
use std::path::{Path, PathBuf};

/// Key files are one short line; anything longer is not a key file.
const MAX_KEY_FILE_BYTES: u64 = 4096;

#[derive(Debug, Clone, Serialize)]
pub struct KeyPairSummary {
    pub secret_key: String,
    pub public_key: String,
    /// First 16 hex digits of the SHA-256 of the public key bytes.
    pub fingerprint: String,
}

fn key_error(e: KeyError) -> AppError {
    AppError::invalid(e.to_string())
}

/// Makes a new key pair in `dir`: `NAME.key` (secret, mode 0600) and `NAME.pub`.
/// Refuses to overwrite either file.
pub fn new_key_pair(dir: &Path, name: &str) -> Result<KeyPairSummary> {
    if name.is_empty() || name.contains(['/', '\\']) || name.starts_with('.') {
        return Err(AppError::invalid(format!(
            "key name `{name}` must be a plain file name (no `/`, not starting with `.`)"
        )));
    }
    let secret_path = dir.join(format!("{name}.key"));
    let public_path = dir.join(format!("{name}.pub"));
    for p in [&secret_path, &public_path] {
        if p.exists() {
            return Err(AppError::invalid(format!(
                "{} already exists; Cairn never overwrites a key file: choose another --name or --out",
                p.display()
            )));
        }
    }
    std::fs::create_dir_all(dir)
        .map_err(|e| AppError::io(format!("creating {}", dir.display()), e))?;
    let key = SecretKey::generate().map_err(|e| AppError::new(ErrorCode::Internal, e))?;
    write_new(&secret_path, key.to_file_text().as_bytes(), 0o600)?;
    let public = key.public();
    write_new(&public_path, public.to_file_text().as_bytes(), 0o644)?;
    Ok(KeyPairSummary {
        secret_key: secret_path.display().to_string(),
        public_key: public_path.display().to_string(),
        fingerprint: public.fingerprint(),
    })
}

fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(mode);
    }
    #[cfg(not(unix))]
    let _ = mode;
    let mut file = options
        .open(path)
        .map_err(|e| AppError::io(format!("creating key file {}", path.display()), e))?;
    file.write_all(bytes)
        .and_then(|()| file.sync_all())
        .map_err(|e| AppError::io(format!("writing key file {}", path.display()), e))
}

fn read_key_file(path: &Path) -> Result<Vec<u8>> {
    let file = std::fs::File::open(path).map_err(|e| {
        AppError::io(
            format!(
                "cannot read key file {} (make one with `cairn keys new`)",
                path.display()
            ),
            e,
        )
    })?;
    let mut bytes = Vec::new();
    file.take(MAX_KEY_FILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| AppError::io(format!("reading key file {}", path.display()), e))?;
    if bytes.len() as u64 > MAX_KEY_FILE_BYTES {
        return Err(AppError::invalid(format!(
            "key file `{}`: over {MAX_KEY_FILE_BYTES} bytes, so not a Cairn key file",
            path.display()
        )));
    }
    Ok(bytes)
}

/// Reads a secret key file (`cairn-ed25519-secret-v1 <hex>`).
pub fn read_secret_key(path: &Path) -> Result<SecretKey> {
    SecretKey::parse(&path.display().to_string(), &read_key_file(path)?).map_err(key_error)
}

/// Reads a public key file (`cairn-ed25519-public-v1 <hex>`).
pub fn read_public_key(path: &Path) -> Result<PublicKey> {
    PublicKey::parse(&path.display().to_string(), &read_key_file(path)?).map_err(key_error)
}

/// Reads every `--trust` key file.
pub fn read_public_keys(paths: &[PathBuf]) -> Result<Vec<PublicKey>> {
    paths.iter().map(|p| read_public_key(p)).collect()
}
