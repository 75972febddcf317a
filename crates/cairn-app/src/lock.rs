//! The workspace lock: one turn at a time, granted in arrival order.
//!
//! DuckDB allows one writing process per database file, so every use of a workspace — a CLI
//! command, a desktop call, one flush of a logger or of a training run — takes a *turn*: it
//! holds the lock while the workspace is open and releases it when done. Long work (training,
//! bundles, sweeps, servers) takes many short turns, never one long one.
//!
//! ```text
//! <root>/cairn.lock            the lock (an OS file lock), and who holds it as JSON
//! <root>/cairn.queue/guard     a short-held OS lock that serialises taking and checking tickets
//! <root>/cairn.queue/<ticket>  one file per waiter, OS-locked by its waiter while it waits
//! ```
//!
//! **Fairness.** A waiter takes a ticket (one more than the highest live ticket) and may take the
//! lock only when no live waiter holds a lower ticket, so a process that opens the workspace in a
//! tight loop queues behind a logger that arrived first instead of winning every race for the
//! lock. A waiter killed by SIGKILL leaves its ticket file behind, but the OS drops its lock on
//! it: the next waiter that finds the file unlocked removes it. The OS drops the main lock too
//! when its holder dies, so no lock is ever stale.
//!
//! **Who holds it.** The holder writes its pid, command line, purpose ("importing big.csv") and
//! start time into `cairn.lock`; a waiter is told who it waits for (after [`NOTICE_AFTER`]), and
//! the error after its timeout names the holder.
//!
//! The OS locks are per open file, so two threads of one process queue like two processes.

use crate::{AppError, ErrorCode, Result};
use serde::{Deserialize, Serialize};
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const LOCK_FILE: &str = "cairn.lock";
const QUEUE_DIR: &str = "cairn.queue";
const GUARD_FILE: &str = "guard";

/// Whether a folder entry is one of the lock's own files (present before a workspace exists).
pub(crate) fn is_lock_file(name: &std::ffi::OsStr) -> bool {
    name == LOCK_FILE || name == QUEUE_DIR
}

/// A waiter is told who holds the workspace once it has waited this long.
pub const NOTICE_AFTER: Duration = Duration::from_millis(500);

/// How often a waiter looks again: the first looks are quick (most turns are short).
const FIRST_POLL: Duration = Duration::from_micros(500);
const MAX_POLL: Duration = Duration::from_millis(10);

/// Who holds a workspace, as written in `cairn.lock`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockHolder {
    pub pid: u32,
    /// The holder's command line (program name without its folder).
    pub command: String,
    /// What the turn is for, e.g. `importing big.csv` (empty when not said).
    #[serde(default)]
    pub purpose: String,
    /// When the turn began (RFC 3339).
    pub since: String,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Cairn process {} (`{}`", self.pid, self.command)?;
        if !self.purpose.is_empty() {
            write!(f, ", {}", self.purpose)?;
        }
        write!(f, ", since {})", self.since)
    }
}

/// Called once while a turn waits (after [`NOTICE_AFTER`]) with who holds the workspace.
pub type WaitNotice = std::sync::Arc<dyn Fn(&LockHolder) + Send + Sync>;

/// How a turn asks for the lock.
#[derive(Clone)]
pub struct TurnRequest<'a> {
    /// What the turn is for, shown to whoever waits for it.
    pub purpose: &'a str,
    /// Give up after waiting this long (zero: do not wait).
    pub timeout: Duration,
    pub notice: Option<&'a WaitNotice>,
}

/// Held for as long as this value lives.
pub struct WorkspaceLock {
    _file: File,
}

/// This process's command line, as the holder record shows it.
fn command_line() -> String {
    std::env::args()
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
        .join(" ")
}

fn open_rw(path: &Path) -> Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| AppError::io(format!("opening {}", path.display()), e))
}

/// The holder named in `cairn.lock`, if it can be read.
fn read_holder(file: &mut File) -> Option<LockHolder> {
    let mut text = String::new();
    file.seek(SeekFrom::Start(0)).ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

fn locked_error(root: &Path, holder: Option<&LockHolder>, waited: Duration) -> AppError {
    let who = holder.map_or_else(|| "another Cairn process".to_string(), |h| h.to_string());
    let waited = if waited.is_zero() {
        String::new()
    } else {
        format!(" (waited {:.1} s)", waited.as_secs_f64())
    };
    AppError::new(
        ErrorCode::WorkspaceLocked,
        format!(
            "the workspace {} is in use by {who}{waited}; wait for it to finish or stop it, or use another workspace with --workspace",
            root.display()
        ),
    )
}

/// A waiter's place in the queue; its file is removed when it is dropped.
struct Ticket {
    number: u64,
    path: PathBuf,
    _file: File,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// The queue folder of a workspace.
struct Queue {
    dir: PathBuf,
    guard: File,
}

impl Queue {
    fn open(root: &Path) -> Result<Queue> {
        let dir = root.join(QUEUE_DIR);
        std::fs::create_dir_all(&dir)
            .map_err(|e| AppError::io(format!("creating {}", dir.display()), e))?;
        let guard = open_rw(&dir.join(GUARD_FILE))?;
        Ok(Queue { dir, guard })
    }

    /// Runs `f` while holding the guard (held for microseconds; the OS drops it if we die).
    fn guarded<T>(&self, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.guard
            .lock()
            .map_err(|e| AppError::io(format!("locking {}", self.dir.display()), e))?;
        let out = f();
        let _ = self.guard.unlock();
        out
    }

    /// Tickets in the folder: (number, path).
    fn tickets(&self) -> Result<Vec<(u64, PathBuf)>> {
        let entries = std::fs::read_dir(&self.dir)
            .map_err(|e| AppError::io(format!("reading {}", self.dir.display()), e))?;
        let mut out = Vec::new();
        for entry in entries.flatten() {
            let name = entry.file_name();
            let Some(number) = name
                .to_str()
                .and_then(|n| n.split('-').next())
                .and_then(|n| n.parse::<u64>().ok())
            else {
                continue;
            };
            out.push((number, entry.path()));
        }
        Ok(out)
    }

    /// Takes the next ticket: one above every ticket in the queue, locked before anyone can
    /// see it (both under the guard), so no checker takes it for a dead waiter's.
    fn take(&self) -> Result<Ticket> {
        self.guarded(|| {
            let number = self.tickets()?.iter().map(|t| t.0).max().unwrap_or(0) + 1;
            let path = self.dir.join(format!(
                "{number:020}-{}-{:x}",
                std::process::id(),
                ticket_salt()
            ));
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| AppError::io(format!("creating {}", path.display()), e))?;
            file.try_lock().map_err(|e| {
                AppError::new(ErrorCode::Io, format!("locking {}: {e}", path.display()))
            })?;
            Ok(Ticket {
                number,
                path,
                _file: file,
            })
        })
    }

    /// Whether a live waiter holds a ticket below `mine`; dead waiters' tickets are removed.
    fn someone_ahead(&self, mine: u64) -> Result<bool> {
        self.guarded(|| {
            let mut ahead = false;
            for (number, path) in self.tickets()? {
                if number >= mine {
                    continue;
                }
                let Ok(file) = OpenOptions::new().write(true).open(&path) else {
                    continue; // removed meanwhile
                };
                match file.try_lock() {
                    // Nobody holds it: its waiter died (or is just leaving). Clear it.
                    Ok(()) => {
                        let _ = std::fs::remove_file(&path);
                    }
                    Err(TryLockError::WouldBlock) => ahead = true,
                    Err(TryLockError::Error(e)) => {
                        return Err(AppError::io(format!("checking {}", path.display()), e));
                    }
                }
            }
            Ok(ahead)
        })
    }
}

/// Distinguishes tickets of threads of one process that take the same number in turn.
fn ticket_salt() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

impl WorkspaceLock {
    /// Takes the workspace's lock for one turn, queueing in arrival order behind earlier
    /// waiters, for at most `req.timeout`; after that, an error naming the holder.
    pub fn acquire(root: &Path, req: &TurnRequest<'_>) -> Result<WorkspaceLock> {
        let path = root.join(LOCK_FILE);
        let mut file = open_rw(&path)?;
        let started = Instant::now();
        let queue = Queue::open(root)?;
        let ticket = queue.take()?;
        let mut poll = FIRST_POLL;
        let mut noticed = false;
        loop {
            if !queue.someone_ahead(ticket.number)? {
                match file.try_lock() {
                    Ok(()) => break,
                    Err(TryLockError::WouldBlock) => {}
                    Err(TryLockError::Error(e)) => {
                        return Err(AppError::io(format!("locking {}", path.display()), e));
                    }
                }
            }
            let waited = started.elapsed();
            if waited >= req.timeout {
                return Err(locked_error(root, read_holder(&mut file).as_ref(), waited));
            }
            if !noticed
                && waited >= NOTICE_AFTER
                && let Some(notice) = req.notice
                && let Some(holder) = read_holder(&mut file)
            {
                notice(&holder);
                noticed = true;
            }
            std::thread::sleep(poll.min(req.timeout - waited));
            poll = (poll * 2).min(MAX_POLL);
        }
        drop(ticket);
        let holder = LockHolder {
            pid: std::process::id(),
            command: command_line(),
            purpose: req.purpose.to_string(),
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    fn req(timeout_ms: u64) -> TurnRequest<'static> {
        TurnRequest {
            purpose: "testing",
            timeout: Duration::from_millis(timeout_ms),
            notice: None,
        }
    }

    #[test]
    fn a_second_turn_waits_then_names_the_holder_and_purpose() {
        let dir = tempfile::tempdir().unwrap();
        let held = WorkspaceLock::acquire(dir.path(), &req(0)).unwrap();
        let err = WorkspaceLock::acquire(dir.path(), &req(50)).err().unwrap();
        assert_eq!(err.code, ErrorCode::WorkspaceLocked);
        assert!(
            err.message
                .contains(&format!("process {}", std::process::id()))
        );
        assert!(err.message.contains("testing"), "{}", err.message);
        drop(held);
        WorkspaceLock::acquire(dir.path(), &req(0)).unwrap();
        // Nothing is left in the queue.
        let left: Vec<_> = std::fs::read_dir(dir.path().join(QUEUE_DIR))
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .filter(|n| n != GUARD_FILE)
            .collect();
        assert!(left.is_empty(), "{left:?}");
    }

    #[test]
    fn a_waiter_is_told_who_holds_it() {
        let dir = tempfile::tempdir().unwrap();
        let held = WorkspaceLock::acquire(dir.path(), &req(0)).unwrap();
        let seen: Arc<Mutex<Vec<LockHolder>>> = Arc::default();
        let sink = seen.clone();
        let notice: WaitNotice =
            Arc::new(move |h: &LockHolder| sink.lock().unwrap().push(h.clone()));
        let root = dir.path().to_path_buf();
        let waiter = std::thread::spawn(move || {
            WorkspaceLock::acquire(
                &root,
                &TurnRequest {
                    purpose: "second",
                    timeout: Duration::from_secs(20),
                    notice: Some(&notice),
                },
            )
            .map(|_| ())
        });
        std::thread::sleep(NOTICE_AFTER + Duration::from_millis(300));
        drop(held);
        waiter.join().unwrap().unwrap();
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 1, "told once");
        assert_eq!(seen[0].purpose, "testing");
        assert_eq!(seen[0].pid, std::process::id());
    }

    #[test]
    fn a_dead_waiters_ticket_does_not_block_the_queue() {
        let dir = tempfile::tempdir().unwrap();
        let queue = Queue::open(dir.path()).unwrap();
        // A ticket file nobody holds, as a SIGKILLed waiter leaves it.
        std::fs::write(queue.dir.join(format!("{:020}-1-0", 1)), b"").unwrap();
        let lock = WorkspaceLock::acquire(dir.path(), &req(1000));
        assert!(lock.is_ok());
        assert!(!queue.dir.join(format!("{:020}-1-0", 1)).exists());
    }

    #[test]
    fn turns_are_granted_in_arrival_order() {
        // A holder, then waiters arriving 30 ms apart: they get the lock in that order, although
        // the first holder re-requests at once each time it lets go.
        let dir = tempfile::tempdir().unwrap();
        let order: Arc<Mutex<Vec<usize>>> = Arc::default();
        let held = WorkspaceLock::acquire(dir.path(), &req(0)).unwrap();
        let mut waiters = Vec::new();
        for i in 0..4 {
            let (root, order) = (dir.path().to_path_buf(), order.clone());
            waiters.push(std::thread::spawn(move || {
                let _l = WorkspaceLock::acquire(&root, &req(20_000)).unwrap();
                order.lock().unwrap().push(i);
                std::thread::sleep(Duration::from_millis(5));
            }));
            std::thread::sleep(Duration::from_millis(30));
        }
        drop(held);
        for w in waiters {
            w.join().unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3]);
    }
}
