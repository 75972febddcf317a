//! The workspace lock: one Cairn process writes a workspace at a time.
//!
//! DuckDB allows one writing process per database file. Rather than let a second process hit
//! DuckDB's lock error, Cairn takes an OS file lock on `cairn.lock` first and writes who holds it
//! (pid, command, start time) into the file, so the second process can name the holder. The OS
//! drops the lock when the holder dies, even by SIGKILL, so a lock is never stale.

use crate::{AppError, ErrorCode, Result};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;

#[derive(Debug, Serialize, Deserialize)]
struct Holder {
    pid: u32,
    command: String,
    since: String,
}

/// Held for as long as this value lives.
pub struct WorkspaceLock {
    _file: File,
}

impl WorkspaceLock {
    pub fn acquire(root: &Path) -> Result<WorkspaceLock> {
        let path = root.join("cairn.lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(|e| AppError::io(format!("opening {}", path.display()), e))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => {
                let mut text = String::new();
                let _ = file.read_to_string(&mut text);
                let who = match serde_json::from_str::<Holder>(&text) {
                    Ok(h) => format!(
                        "Cairn process {} (`{}`, since {})",
                        h.pid, h.command, h.since
                    ),
                    Err(_) => "another Cairn process".to_string(),
                };
                return Err(AppError::new(
                    ErrorCode::WorkspaceLocked,
                    format!(
                        "the workspace {} is in use by {who}; wait for it to finish or stop it, or use another workspace with --workspace",
                        root.display()
                    ),
                ));
            }
            Err(TryLockError::Error(e)) => {
                return Err(AppError::io(format!("locking {}", path.display()), e));
            }
        }
        let holder = Holder {
            pid: std::process::id(),
            command: std::env::args()
                .enumerate()
                .map(|(i, a)| {
                    if i == 0 {
                        Path::new(&a)
                            .file_name()
                            .map_or(a.clone(), |f| f.to_string_lossy().into())
                    } else {
                        a
                    }
                })
                .collect::<Vec<_>>()
                .join(" "),
            since: cairn_core::now_rfc3339(),
        };
        let write = |file: &mut File| -> std::io::Result<()> {
            file.set_len(0)?;
            file.seek(SeekFrom::Start(0))?;
            file.write_all(
                serde_json::to_string(&holder)
                    .expect("holder serialises")
                    .as_bytes(),
            )?;
            file.flush()
        };
        write(&mut file).map_err(|e| AppError::io(format!("writing {}", path.display()), e))?;
        Ok(WorkspaceLock { _file: file })
    }
}
