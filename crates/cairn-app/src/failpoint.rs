//! Named pauses for crash tests: a test sets `CAIRN_FAILPOINT=<name>`, waits for the marker
//! file `<workspace>/failpoint-<name>` to appear, and kills the process exactly there (for
//! example between a training run's last metric batch and its outcome). Without the variable
//! a failpoint costs one environment lookup and does nothing.

use std::path::Path;
use std::time::Duration;

/// The environment variable that names the failpoint to pause at.
pub const FAILPOINT_VAR: &str = "CAIRN_FAILPOINT";

/// How long a failpoint waits to be killed before it lets the work go on.
const PAUSE: Duration = Duration::from_secs(60);

/// Pauses here when `CAIRN_FAILPOINT` is `name`: writes the marker file into `root`, then
/// sleeps (the test kills the process meanwhile).
pub(crate) fn pause(name: &str, root: &Path) {
    if std::env::var(FAILPOINT_VAR).ok().as_deref() != Some(name) {
        return;
    }
    let marker = root.join(format!("failpoint-{name}"));
    let _ = std::fs::write(&marker, std::process::id().to_string());
    std::thread::sleep(PAUSE);
    let _ = std::fs::remove_file(&marker);
}
