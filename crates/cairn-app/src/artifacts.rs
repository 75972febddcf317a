//! The content-addressed artifact store: `artifacts/sha256/<2 hex>/<62 hex>`.
//! Identical bytes are stored once; every write is atomic (temp file, fsync, rename).

use crate::{AppError, ErrorCode, Result};
use cairn_core::sha256_hex;
use std::io::Write;
use std::path::PathBuf;

pub struct ArtifactStore {
    root: PathBuf,
}

impl ArtifactStore {
    pub fn new(root: PathBuf) -> Self {
        ArtifactStore { root }
    }

    fn path_of(&self, sha: &str) -> PathBuf {
        self.root.join("sha256").join(&sha[..2]).join(&sha[2..])
    }

    /// Stores `bytes`, returning their SHA-256.
    pub fn put(&self, bytes: &[u8]) -> Result<String> {
        let sha = sha256_hex(bytes);
        let path = self.path_of(&sha);
        if path.exists() {
            return Ok(sha);
        }
        let dir = path.parent().expect("has parent");
        std::fs::create_dir_all(dir)
            .map_err(|e| AppError::io(format!("creating {}", dir.display()), e))?;
        let tmp = dir.join(format!(".{}.tmp-{}", &sha[2..10], std::process::id()));
        let write = || -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()?;
            std::fs::rename(&tmp, &path)
        };
        write().map_err(|e| AppError::io(format!("writing artifact {}", path.display()), e))?;
        Ok(sha)
    }

    /// Reads the bytes with this SHA-256, checking them.
    pub fn get(&self, sha: &str) -> Result<Vec<u8>> {
        if sha.len() != 64 || !sha.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(AppError::invalid(format!("`{sha}` is not a SHA-256")));
        }
        let path = self.path_of(sha);
        let bytes = std::fs::read(&path)
            .map_err(|e| AppError::io(format!("reading artifact {}", path.display()), e))?;
        if sha256_hex(&bytes) != sha {
            return Err(AppError::new(
                ErrorCode::Internal,
                format!(
                    "artifact {} is corrupt (its content no longer matches its hash)",
                    path.display()
                ),
            ));
        }
        Ok(bytes)
    }
}
