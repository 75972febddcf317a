//! `cairn log`: record runs from JSON lines on standard input (docs/tracking.md). Glue only:
//! read bounded lines, hand them to `cairn_app::LogStream`, print what landed and what was
//! rejected.

use crate::Cli;
use crate::output::Output;
use cairn_app::{
    AppError, LineError, LogOptions, LogSession, LogStream, MAX_LINE_BYTES, RunOutcome,
};
use std::io::{BufRead, Write};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

#[derive(clap::Args)]
pub struct LogArgs {
    /// Write to the workspace once N events are pending (a metric point, param, tag, …
    /// counts one), and at least every second while something is pending.
    #[arg(long, value_name = "N", default_value_t = 5_000)]
    flush_every: usize,
    /// How long a flush waits for another process to release the workspace.
    #[arg(long, value_name = "SECS", default_value_t = 60.0)]
    lock_timeout: f64,
    /// Stop at the first bad line (the open run is recorded as failed). Default: report bad
    /// lines on stderr and go on.
    #[arg(long)]
    strict: bool,
    /// Record system metrics (CPU %, memory of the process that started `cairn log`, GPU)
    /// every SECS seconds while a run is open; 0 = off.
    #[arg(long, value_name = "SECS", default_value_t = 0.0)]
    system_metrics_every: f64,
}

/// `0` means off; a negative or non-finite number is refused, naming the flag.
pub fn seconds(flag: &str, secs: f64) -> Result<Option<Duration>, AppError> {
    if !secs.is_finite() || secs < 0.0 {
        return Err(AppError::invalid(format!(
            "{flag} {secs}: give a number of seconds ≥ 0 (0 = off)"
        )));
    }
    Ok((secs > 0.0).then(|| Duration::from_secs_f64(secs)))
}

pub fn run(cli: &Cli, out: &Output, args: &LogArgs) -> Result<ExitCode, AppError> {
    if args.flush_every == 0 {
        return Err(AppError::invalid("--flush-every 0: give at least 1"));
    }
    let json = out.is_json();
    let on_landed = move |o: &RunOutcome| {
        let mut stdout = std::io::stdout().lock();
        let _ = if json {
            writeln!(
                stdout,
                "{}",
                serde_json::to_string(o).expect("outcome serialises")
            )
        } else {
            writeln!(
                stdout,
                "run {} ({}) {}{}: {} params, {} tags, {} metric points, {} artifacts",
                o.name,
                o.id,
                o.status,
                o.error
                    .as_ref()
                    .map(|e| format!(" ({e})"))
                    .unwrap_or_default(),
                o.params,
                o.tags,
                o.metrics,
                o.artifacts
            )
        };
        let _ = stdout.flush();
    };
    let opts = LogOptions {
        flush_every: args.flush_every,
        lock_timeout: seconds("--lock-timeout", args.lock_timeout)?.unwrap_or_default(),
        system_metrics_every: seconds("--system-metrics-every", args.system_metrics_every)?,
        system_metrics_pid: watched_pid(),
        source: "log".into(),
        on_landed: Some(Arc::new(on_landed)),
        ..LogOptions::default()
    };
    let session = LogSession::open_dir(&crate::dir(cli)?, opts)?;
    let mut stream = LogStream::new(session);
    let stdin = std::io::stdin();
    let mut input = stdin.lock();
    let mut buf = Vec::new();
    let mut number = 0u64;
    loop {
        let read = match read_line(&mut input, &mut buf) {
            Ok(r) => r,
            Err(e) => {
                fatal(AppError::io(
                    format!("reading line {} of stdin", number + 1),
                    e,
                ));
            }
        };
        let Some(too_long) = read else { break };
        number += 1;
        let result = if too_long {
            stream.rejected += 1;
            Err(LineError::Input(format!(
                "line {number}: longer than {} MiB; it was skipped (put large content in an artifact file)",
                MAX_LINE_BYTES / (1024 * 1024)
            )))
        } else {
            stream.line(number, &buf)
        };
        match result {
            Ok(()) => {}
            Err(LineError::Fatal(e)) => fatal(e),
            Err(LineError::Input(msg)) if args.strict => {
                eprintln!("error: {msg}");
                let why = format!("cairn log --strict stopped at {msg}");
                stream.finish(&why)?;
                return Ok(ExitCode::from(1));
            }
            Err(LineError::Input(msg)) => eprintln!("cairn log: {msg}"),
        }
    }
    let rejected = stream.rejected;
    let why = match stream.open_run() {
        Some(line) => format!(
            "the input ended after line {number} without an `end` event for the run started at line {line} (the writer stopped or crashed)"
        ),
        None => String::new(),
    };
    stream.finish(&why)?;
    if rejected > 0 {
        eprintln!(
            "cairn log: {rejected} of {number} lines were rejected (see above); the rest is recorded"
        );
        return Ok(ExitCode::from(2));
    }
    Ok(ExitCode::SUCCESS)
}

/// A failure that stops recording. Exits at once: what was not flushed is lost, and runs this
/// process had written are marked killed by the next process that opens the workspace.
fn fatal(e: AppError) -> ! {
    eprintln!("error: {}", e.message);
    std::process::exit(1);
}

/// The process whose memory `system/rss_mb` reports: the one that started `cairn log` (the
/// script, when it runs `cairn log` as a subprocess).
fn watched_pid() -> Option<u32> {
    #[cfg(unix)]
    {
        Some(std::os::unix::process::parent_id())
    }
    #[cfg(not(unix))]
    {
        None
    }
}

/// Reads one line into `buf` (without its `\n`), holding at most [`MAX_LINE_BYTES`]: a longer
/// line is consumed and dropped. `None` at the end of the input; `Some(true)` for a line too
/// long.
fn read_line(input: &mut impl BufRead, buf: &mut Vec<u8>) -> std::io::Result<Option<bool>> {
    buf.clear();
    let mut too_long = false;
    let mut any = false;
    loop {
        let chunk = match input.fill_buf() {
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        if chunk.is_empty() {
            return Ok(any.then_some(too_long));
        }
        any = true;
        let (part, done) = match chunk.iter().position(|&b| b == b'\n') {
            Some(i) => (&chunk[..i], Some(i + 1)),
            None => (chunk, None),
        };
        if !too_long {
            if buf.len() + part.len() > MAX_LINE_BYTES {
                too_long = true;
                buf.clear();
            } else {
                buf.extend_from_slice(part);
            }
        }
        let used = done.unwrap_or(chunk.len());
        input.consume(used);
        if done.is_some() {
            return Ok(Some(too_long));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_bounded() {
        let long = vec![b'x'; MAX_LINE_BYTES + 10];
        let mut data = b"a\r\n\n".to_vec();
        data.extend_from_slice(&long);
        data.extend_from_slice(b"\nlast");
        let mut input = std::io::BufReader::with_capacity(1024, &data[..]);
        let mut buf = Vec::new();
        assert_eq!(read_line(&mut input, &mut buf).unwrap(), Some(false));
        assert_eq!(buf, b"a\r");
        assert_eq!(read_line(&mut input, &mut buf).unwrap(), Some(false));
        assert!(buf.is_empty());
        assert_eq!(read_line(&mut input, &mut buf).unwrap(), Some(true));
        assert!(buf.is_empty());
        assert_eq!(read_line(&mut input, &mut buf).unwrap(), Some(false));
        assert_eq!(buf, b"last");
        assert_eq!(read_line(&mut input, &mut buf).unwrap(), None);
    }

    #[test]
    fn seconds_are_checked() {
        assert_eq!(seconds("--x", 0.0).unwrap(), None);
        assert_eq!(
            seconds("--x", 1.5).unwrap(),
            Some(Duration::from_millis(1500))
        );
        assert!(seconds("--x", -1.0).unwrap_err().message.contains("--x"));
    }
}
