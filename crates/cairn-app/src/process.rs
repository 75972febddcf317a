//! Whether the process that owns a live run is still there.
//!
//! A run records its owner's pid and the owner's start time. On Linux the start time is field 22
//! of `/proc/PID/stat` (clock ticks after boot) with the boot id, so a pid the kernel has since
//! given to another process is told apart. Where neither can be read, the run's heartbeat
//! decides: an owner that has not written one for [`HEARTBEAT_DEAD_AFTER`] is taken as dead.

use cairn_store::LiveRun;
use std::sync::OnceLock;
use std::time::Duration;

/// A live owner writes a heartbeat at least this often (with every flush, and on its own when
/// nothing else is written).
pub(crate) const HEARTBEAT_EVERY: Duration = Duration::from_secs(30);
/// An owner whose pid cannot be checked and whose last heartbeat is older than this is dead.
pub(crate) const HEARTBEAT_DEAD_AFTER: Duration = Duration::from_secs(120);

/// This process: its pid and start time.
pub(crate) fn current() -> (u32, Option<String>) {
    static STARTED: OnceLock<Option<String>> = OnceLock::new();
    let pid = std::process::id();
    (pid, STARTED.get_or_init(|| start_time(pid)).clone())
}

/// What can be said about a process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Liveness {
    /// The pid runs, and it is the same process (same start time).
    Alive,
    /// No process has that pid.
    Gone,
    /// The pid runs, but it was started at another time: the owner died and the pid was reused.
    Reused,
    /// This platform cannot tell.
    Unknown,
}

/// The start time of `pid` as text, or `None` where it cannot be read.
pub(crate) fn start_time(pid: u32) -> Option<String> {
    #[cfg(target_os = "linux")]
    {
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
        // Field 2 (the command) is in parentheses and may hold spaces or `)`: split after the
        // last `)`; the fields after it start at field 3, so field 22 is the 20th.
        let rest = &stat[stat.rfind(')')? + 1..];
        let mut fields = rest.split_whitespace();
        // Field 3, the state: a zombie (Z) or dead (X) process has ended; it only waits to be
        // reaped by its parent.
        if matches!(fields.next(), Some("Z" | "X" | "x")) {
            return None;
        }
        let ticks = fields.nth(18)?;
        let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
        Some(format!("linux:{}:{ticks}", boot.trim()))
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = pid;
        None
    }
}

/// Whether the process `pid` that started at `started` still runs.
pub(crate) fn liveness(pid: u32, started: &str) -> Liveness {
    if !cfg!(target_os = "linux") || !started.starts_with("linux:") {
        return Liveness::Unknown;
    }
    match start_time(pid) {
        None => Liveness::Gone,
        Some(now) if now == started => Liveness::Alive,
        Some(_) => Liveness::Reused,
    }
}

fn owner(run: &LiveRun) -> String {
    let what = match run.source.as_deref() {
        Some("train") => "the `cairn train` process",
        Some("log") => "the `cairn log` process",
        Some("api") => "the program",
        _ => "the process",
    };
    match run.pid {
        Some(pid) => format!("{what} running it (pid {pid})"),
        None => format!("{what} running it"),
    }
}

/// Why a live run is dead (its owner is gone), or `None` while its owner may be alive. Called
/// by the holder of the workspace lock when it opens the workspace.
pub(crate) fn orphan_reason(run: &LiveRun) -> Option<String> {
    let who = owner(run);
    if let (Some(pid), Some(started)) = (run.pid, run.pid_started.as_deref()) {
        match liveness(pid as u32, started) {
            Liveness::Alive => return None,
            Liveness::Gone => return Some(format!("{who} ended without finishing the run")),
            Liveness::Reused => {
                return Some(format!(
                    "{who} ended without finishing the run (the pid now belongs to another process)"
                ));
            }
            Liveness::Unknown => {}
        }
    }
    let Some(beat) = run.heartbeat_at.as_deref() else {
        // Recorded by an older Cairn, which held the workspace lock for the whole run: since
        // we hold the lock now, its process is gone.
        return Some(format!("{who} ended without finishing the run"));
    };
    let age = match beat.parse::<jiff::Timestamp>() {
        // A heartbeat "from the future" (rounding, a clock step back) counts as fresh.
        Ok(t) => jiff::Timestamp::now()
            .duration_since(t)
            .try_into()
            .unwrap_or(Duration::ZERO),
        Err(_) => Duration::MAX,
    };
    (age > HEARTBEAT_DEAD_AFTER).then(|| {
        format!(
            "{who} ended without finishing the run (no heartbeat for {} s)",
            age.as_secs().min(u32::MAX as u64)
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_core::RunId;

    fn live(pid: Option<i64>, started: Option<String>, beat: Option<String>) -> LiveRun {
        LiveRun {
            id: RunId::new_v7(),
            pid,
            pid_started: started,
            heartbeat_at: beat,
            source: Some("log".into()),
        }
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn this_process_is_alive_and_a_reused_pid_is_not() {
        let (pid, started) = current();
        let started = started.expect("linux reads /proc");
        assert_eq!(liveness(pid, &started), Liveness::Alive);
        let other = started.rsplit_once(':').unwrap().0.to_string() + ":1";
        assert_eq!(liveness(pid, &other), Liveness::Reused);
        assert_eq!(
            orphan_reason(&live(Some(pid as i64), Some(started), None)),
            None
        );
        let why = orphan_reason(&live(Some(pid as i64), Some(other), None)).unwrap();
        assert!(
            why.contains("another process") && why.contains("`cairn log`"),
            "{why}"
        );
    }

    #[test]
    #[cfg(target_os = "linux")]
    fn a_dead_pid_is_gone() {
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        let started = start_time(pid);
        child.wait().unwrap();
        if let Some(started) = started {
            assert_eq!(liveness(pid, &started), Liveness::Gone);
        }
        let why = orphan_reason(&live(
            Some(pid as i64),
            Some(format!("linux:x:{}", u64::MAX)),
            None,
        ))
        .unwrap();
        assert!(why.contains(&format!("pid {pid}")), "{why}");
    }

    #[test]
    fn without_a_pid_check_the_heartbeat_decides() {
        let fresh = cairn_core::now_rfc3339();
        assert_eq!(orphan_reason(&live(None, None, Some(fresh))), None);
        let old = "2020-01-01T00:00:00Z".to_string();
        let why = orphan_reason(&live(Some(7), Some("other-os:1".into()), Some(old))).unwrap();
        assert!(why.contains("no heartbeat"), "{why}");
        // A run from before heartbeats existed, found by the lock holder: dead.
        assert!(orphan_reason(&live(Some(7), None, None)).is_some());
    }
}
