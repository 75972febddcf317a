//! System metrics sampled on a background thread while a run is live.
//!
//! Each sample records, as metrics at step = the sample's number (0, 1, 2, …):
//! - `system/cpu_percent` — the whole machine's CPU use, 0–100 (all cores together);
//! - `system/rss_mb` — the resident memory of the watched process, in MiB (`cairn train`
//!   watches itself; `cairn log` the process that started it, i.e. the script);
//! - `system/gpu_util_percent` and `system/gpu_memory_mb` — from `nvidia-smi` when it is on the
//!   PATH and answers (the mean utilisation and the summed memory of all GPUs); absent otherwise.
//!
//! The first sample is taken one interval after the start (CPU use is a difference of two
//! readings).

use std::sync::mpsc::{self, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

pub const CPU_PERCENT: &str = "system/cpu_percent";
pub const RSS_MB: &str = "system/rss_mb";
pub const GPU_UTIL_PERCENT: &str = "system/gpu_util_percent";
pub const GPU_MEMORY_MB: &str = "system/gpu_memory_mb";

/// One sample: its number and the values read.
#[derive(Debug, Clone, PartialEq)]
pub struct SystemSample {
    pub index: u64,
    pub values: Vec<(&'static str, f64)>,
}

/// Samples until dropped.
pub struct SystemSampler {
    stop: Option<Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl SystemSampler {
    /// Samples every `every`, handing each sample to `sink`, watching process `pid`.
    pub fn start(
        every: Duration,
        pid: u32,
        mut sink: impl FnMut(SystemSample) + Send + 'static,
    ) -> SystemSampler {
        let (stop, stopped) = mpsc::channel::<()>();
        let every = every.max(Duration::from_millis(100));
        let thread = std::thread::Builder::new()
            .name("cairn-sysmetrics".into())
            .spawn(move || {
                // A platform sysinfo cannot read records nothing.
                let Some(mut reader) = Reader::new(pid) else {
                    return;
                };
                let mut index = 0;
                loop {
                    match stopped.recv_timeout(every) {
                        Err(RecvTimeoutError::Timeout) => {}
                        _ => return,
                    }
                    sink(SystemSample {
                        index,
                        values: reader.read(),
                    });
                    index += 1;
                }
            })
            .ok();
        SystemSampler {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for SystemSampler {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Reader {
    system: sysinfo::System,
    pid: sysinfo::Pid,
    gpu: bool,
}

impl Reader {
    fn new(pid: u32) -> Option<Reader> {
        let mut system = sysinfo::System::new().ok()?;
        system.refresh_cpu_usage();
        Some(Reader {
            system,
            pid: sysinfo::Pid::from_u32(pid),
            gpu: true,
        })
    }

    fn read(&mut self) -> Vec<(&'static str, f64)> {
        let mut out = Vec::with_capacity(4);
        self.system.refresh_cpu_usage();
        out.push((CPU_PERCENT, f64::from(self.system.global_cpu_usage())));
        self.system.refresh_processes_specifics(
            sysinfo::ProcessesToUpdate::Some(&[self.pid]),
            true,
            sysinfo::ProcessRefreshKind::nothing().with_memory(),
        );
        if let Some(p) = self.system.process(self.pid) {
            out.push((RSS_MB, p.memory() as f64 / (1024.0 * 1024.0)));
        }
        if self.gpu {
            match nvidia_smi() {
                Some((util, mem)) => {
                    out.push((GPU_UTIL_PERCENT, util));
                    out.push((GPU_MEMORY_MB, mem));
                }
                // No driver tool, or it failed: stop asking for the rest of the run.
                None => self.gpu = false,
            }
        }
        out.retain(|(_, v)| v.is_finite());
        out
    }
}

/// Mean utilisation and summed memory (MiB) of every GPU, from `nvidia-smi`.
fn nvidia_smi() -> Option<(f64, f64)> {
    let out = std::process::Command::new("nvidia-smi")
        .args([
            "--query-gpu=utilization.gpu,memory.used",
            "--format=csv,noheader,nounits",
        ])
        .stderr(std::process::Stdio::null())
        .output()
        .ok()?;
    if !out.status.success() {
        return None;
    }
    parse_nvidia_smi(&String::from_utf8_lossy(&out.stdout))
}

fn parse_nvidia_smi(text: &str) -> Option<(f64, f64)> {
    let mut util = 0.0;
    let mut mem = 0.0;
    let mut n = 0;
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let (u, m) = line.split_once(',')?;
        util += u.trim().parse::<f64>().ok()?;
        mem += m.trim().parse::<f64>().ok()?;
        n += 1;
    }
    (n > 0).then(|| (util / n as f64, mem))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[test]
    fn nvidia_smi_lines_are_averaged_and_summed() {
        assert_eq!(
            parse_nvidia_smi("30, 1000\n50, 3000\n"),
            Some((40.0, 4000.0))
        );
        assert_eq!(parse_nvidia_smi(""), None);
        assert_eq!(parse_nvidia_smi("[N/A], 10"), None);
    }

    #[test]
    fn samples_cpu_and_this_process_memory() {
        let got = Arc::new(Mutex::new(Vec::new()));
        let sink = got.clone();
        let sampler =
            SystemSampler::start(Duration::from_millis(100), std::process::id(), move |s| {
                sink.lock().unwrap().push(s)
            });
        std::thread::sleep(Duration::from_millis(450));
        drop(sampler);
        let got = got.lock().unwrap();
        assert!(got.len() >= 2, "{got:?}");
        assert_eq!(got[0].index, 0);
        assert_eq!(got[1].index, 1);
        let cpu = got[1]
            .values
            .iter()
            .find(|(k, _)| *k == CPU_PERCENT)
            .unwrap()
            .1;
        assert!((0.0..=100.0).contains(&cpu), "{cpu}");
        let rss = got[1].values.iter().find(|(k, _)| *k == RSS_MB).unwrap().1;
        assert!(rss > 1.0, "{rss}");
    }
}
