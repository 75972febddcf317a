//! The environment record captured with each run: what built Cairn (version, git commit,
//! rustc), the machine (OS, kernel, CPU model and SIMD flags, memory, NVIDIA GPUs and driver),
//! the engines (Candle, DuckDB), and what the run learned from (seed, data version hash).
//!
//! Each probe reads a file or runs a tool and never fails a run: what cannot be read is left
//! out (or "unknown"). The parsers are pure functions of the text, tested on fixed samples.

use serde::Serialize;
use serde_json::{Value, json};
use std::time::Duration;

/// The git commit this build came from (`abc123def456`, `...-dirty`, or `unknown`).
pub const GIT_COMMIT: &str = env!("CAIRN_GIT_COMMIT");
/// `rustc --version` of the compiler that built Cairn.
pub const RUSTC_VERSION: &str = env!("CAIRN_RUSTC_VERSION");

const SIMD_FLAGS: [&str; 9] = [
    "sse4_2",
    "avx",
    "avx2",
    "fma",
    "avx512f",
    "avx512bw",
    "avx512_vnni",
    "neon",
    "asimd",
];

/// CPU model and the SIMD flags Candle can use, from `/proc/cpuinfo` text.
pub(crate) fn parse_cpuinfo(text: &str) -> (String, Vec<String>) {
    let field = |name: &str| {
        text.lines()
            .find(|l| l.split(':').next().is_some_and(|k| k.trim() == name))
            .and_then(|l| l.split_once(':'))
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_default()
    };
    let flags = field("flags") + " " + &field("Features");
    let simd = SIMD_FLAGS
        .iter()
        .filter(|w| flags.split_whitespace().any(|f| f == **w))
        .map(|s| s.to_string())
        .collect();
    let mut model = field("model name");
    if model.is_empty() {
        // ARM kernels name the CPU elsewhere (or not at all).
        model = field("Model");
    }
    (model, simd)
}

/// `(NAME, VERSION_ID or VERSION)` from `/etc/os-release` text; quotes removed.
pub(crate) fn parse_os_release(text: &str) -> (Option<String>, Option<String>) {
    let get = |key: &str| {
        text.lines()
            .filter_map(|l| l.split_once('='))
            .find(|(k, _)| k.trim() == key)
            .map(|(_, v)| v.trim().trim_matches('"').trim_matches('\'').to_string())
            .filter(|v| !v.is_empty())
    };
    (get("NAME"), get("VERSION_ID").or_else(|| get("VERSION")))
}

/// Total memory in bytes from `/proc/meminfo` text (`MemTotal: N kB`).
pub(crate) fn parse_meminfo(text: &str) -> Option<u64> {
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let mut parts = line["MemTotal:".len()..].split_whitespace();
    let n: u64 = parts.next()?.parse().ok()?;
    match parts.next() {
        Some("kB") | None => Some(n * 1024),
        Some(_) => None,
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Gpu {
    pub name: String,
    pub driver_version: String,
}

/// GPUs from `nvidia-smi --query-gpu=name,driver_version --format=csv,noheader` output.
pub(crate) fn parse_nvidia_smi(text: &str) -> Vec<Gpu> {
    text.lines()
        .filter_map(|l| {
            let (name, driver) = l.rsplit_once(',')?;
            let (name, driver) = (name.trim(), driver.trim());
            (!name.is_empty() && !driver.is_empty()).then(|| Gpu {
                name: name.to_string(),
                driver_version: driver.to_string(),
            })
        })
        .collect()
}

/// Runs `nvidia-smi` when it is installed, giving up after a few seconds (a wedged driver
/// must not stall a run). Absent or failing: no GPUs.
fn nvidia_gpus() -> Vec<Gpu> {
    let child = std::process::Command::new("nvidia-smi")
        .args(["--query-gpu=name,driver_version", "--format=csv,noheader"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn();
    let Ok(mut child) = child else {
        return Vec::new();
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    loop {
        match child.try_wait() {
            Ok(Some(status)) if status.success() => break,
            Ok(Some(_)) | Err(_) => return Vec::new(),
            Ok(None) if std::time::Instant::now() > deadline => {
                let _ = child.kill();
                let _ = child.wait();
                return Vec::new();
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(20)),
        }
    }
    let mut text = String::new();
    if let Some(mut out) = child.stdout.take() {
        use std::io::Read;
        let _ = out.read_to_string(&mut text);
    }
    parse_nvidia_smi(&text)
}

fn read(path: &str) -> String {
    std::fs::read_to_string(path).unwrap_or_default()
}

pub fn capture(duckdb_version: &str, seed: u64, data_hash: &str) -> Value {
    let (cpu_model, simd) = parse_cpuinfo(&read("/proc/cpuinfo"));
    let (os_name, os_version) = parse_os_release(&read("/etc/os-release"));
    let kernel = read("/proc/sys/kernel/osrelease").trim().to_string();
    let mut env = json!({
        "cairn_version": crate::CAIRN_VERSION,
        "cairn_commit": GIT_COMMIT,
        "rustc_version": RUSTC_VERSION,
        "os": std::env::consts::OS,
        "os_name": os_name,
        "os_version": os_version,
        "arch": std::env::consts::ARCH,
        "cpu_model": cpu_model,
        "cpu_cores": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        "simd": simd,
        "memory_bytes": parse_meminfo(&read("/proc/meminfo")),
        "device": "cpu",
        "candle_version": cairn_train::CANDLE_VERSION,
        "duckdb_version": duckdb_version,
        "seed": seed,
        "data_version_hash": data_hash,
    });
    if !kernel.is_empty() {
        env["kernel"] = kernel.into();
    }
    let gpus = nvidia_gpus();
    if !gpus.is_empty() {
        env["gpus"] = serde_json::to_value(&gpus).expect("gpus serialise");
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpuinfo_model_and_simd() {
        let text = "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz\nflags\t\t: fpu vme sse4_2 avx avx2 fma avx512f avx512bw avx512_vnni\n\nprocessor\t: 1\n";
        let (model, simd) = parse_cpuinfo(text);
        assert_eq!(model, "Intel(R) Xeon(R) Platinum 8481C CPU @ 2.70GHz");
        assert_eq!(
            simd,
            [
                "sse4_2",
                "avx",
                "avx2",
                "fma",
                "avx512f",
                "avx512bw",
                "avx512_vnni"
            ]
        );
        let arm = "processor\t: 0\nFeatures\t: fp asimd evtstrm aes\nCPU part\t: 0xd0c\n";
        assert_eq!(
            parse_cpuinfo(arm),
            (String::new(), vec!["asimd".to_string()])
        );
        assert_eq!(parse_cpuinfo(""), (String::new(), vec![]));
    }

    #[test]
    fn os_release() {
        let debian = "PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nNAME=\"Debian GNU/Linux\"\nVERSION_ID=\"12\"\nVERSION=\"12 (bookworm)\"\n";
        assert_eq!(
            parse_os_release(debian),
            (Some("Debian GNU/Linux".into()), Some("12".into()))
        );
        let arch = "NAME=\"Arch Linux\"\nID=arch\nBUILD_ID=rolling\n";
        assert_eq!(parse_os_release(arch), (Some("Arch Linux".into()), None));
        let no_id = "NAME=Foo\nVERSION='2 (x)'\n";
        assert_eq!(
            parse_os_release(no_id),
            (Some("Foo".into()), Some("2 (x)".into()))
        );
        assert_eq!(parse_os_release(""), (None, None));
    }

    #[test]
    fn meminfo_total() {
        let text = "MemTotal:       131841236 kB\nMemFree:         1234 kB\n";
        assert_eq!(parse_meminfo(text), Some(131_841_236 * 1024));
        assert_eq!(parse_meminfo("MemFree: 1 kB\n"), None);
        assert_eq!(parse_meminfo("MemTotal: lots\n"), None);
    }

    #[test]
    fn nvidia_smi_lines() {
        let text = "NVIDIA H100 80GB HBM3, 550.54.15\nNVIDIA GeForce RTX 4090, 555.42.02\n\n";
        assert_eq!(
            parse_nvidia_smi(text),
            [
                Gpu {
                    name: "NVIDIA H100 80GB HBM3".into(),
                    driver_version: "550.54.15".into()
                },
                Gpu {
                    name: "NVIDIA GeForce RTX 4090".into(),
                    driver_version: "555.42.02".into()
                },
            ]
        );
        assert!(parse_nvidia_smi("").is_empty());
        assert!(parse_nvidia_smi("No devices were found").is_empty());
    }

    #[test]
    fn capture_has_the_build_and_machine() {
        let env = capture("v1.2.0", 7, "abc");
        assert_eq!(env["seed"], 7);
        assert_eq!(env["data_version_hash"], "abc");
        assert_eq!(env["duckdb_version"], "v1.2.0");
        assert!(!env["cairn_commit"].as_str().unwrap().is_empty());
        assert!(
            env["rustc_version"].as_str().unwrap().starts_with("rustc")
                || env["rustc_version"] == "unknown"
        );
        if cfg!(target_os = "linux") {
            assert!(env["memory_bytes"].as_u64().unwrap() > 0);
            assert!(env["kernel"].is_string());
        }
    }
}
