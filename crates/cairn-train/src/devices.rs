//! What this machine can train on: the CPU (model, cores, SIMD extensions detected at run time)
//! and any NVIDIA GPUs the driver reports.
//!
//! GPUs are listed through `cudarc`'s driver API. In the default build cudarc loads `libcuda` at
//! run time (`fallback-dynamic-loading`), so a binary built on a machine without CUDA runs
//! everywhere and, where no driver is installed, says so instead of failing. In a build with the
//! `cuda` feature, Candle makes cudarc link `libcuda.so.1` instead; such a binary only starts where
//! the driver is installed, and [`DeviceReport::cuda_build`] is `true`.
//!
//! Discovery only asks the driver about devices (`cuInit`, `cuDeviceGet*`); it creates no CUDA
//! context, so it allocates no GPU memory and is cheap to call.

use std::fmt;

use serde::{Deserialize, Serialize};

/// The command that builds a CLI able to train on NVIDIA GPUs (see `docs/gpu.md`).
pub const CUDA_REBUILD_COMMAND: &str = "cargo build --release -p cairn-cli --features cuda";

/// The host CPU as seen by this process.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct CpuInfo {
    /// Brand string, e.g. "AMD EPYC 7B13"; "unknown" where the platform does not say.
    pub model: String,
    /// Logical cores this process may use (`std::thread::available_parallelism`, which honours
    /// CPU affinity and cgroup quotas).
    pub cores: usize,
    /// Physical cores of the machine, where the OS says (Linux: `/proc/cpuinfo`).
    pub physical_cores: Option<usize>,
    /// SIMD extensions detected at run time, in a fixed order (x86_64: `sse4.2`, `avx`, `avx2`,
    /// `fma`, `f16c`, `avx512f`, `avx512bw`, `avx512vnni`; aarch64: `neon`, `fp16`, `dotprod`,
    /// `sve`).
    pub simd: Vec<String>,
    /// Target architecture of this binary, e.g. "x86_64".
    pub arch: String,
}

/// One NVIDIA GPU as reported by the CUDA driver.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct GpuInfo {
    /// CUDA device ordinal: the `N` of `--device cuda:N`.
    pub ordinal: usize,
    pub name: String,
    /// Total device memory.
    pub memory_bytes: u64,
    /// (major, minor), e.g. (9, 0) for an H100.
    pub compute_capability: (i32, i32),
    /// "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx", as `nvidia-smi -L` prints it.
    pub uuid: Option<String>,
}

/// Everything `cairn devices` reports.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct DeviceReport {
    pub cpu: CpuInfo,
    pub gpus: Vec<GpuInfo>,
    /// CUDA version the driver supports (`cuDriverGetVersion`), e.g. "13.0"; `None` without a
    /// driver.
    pub driver_version: Option<String>,
    /// One or two plain sentences on what was found and where training will run.
    pub cuda_note: String,
    /// Whether this binary was built with the `cuda` feature, i.e. can train on the GPUs listed.
    pub cuda_build: bool,
}

/// Looks at the CPU and asks the CUDA driver, if one is installed, for its GPUs. Never fails:
/// whatever goes wrong with the driver ends up in [`DeviceReport::cuda_note`].
pub fn discover() -> DeviceReport {
    let cpu = cpu_info();
    let cuda_build = cfg!(feature = "cuda");
    let driver = query_driver();
    let cuda_note = cuda_note(&driver, cuda_build);
    let (gpus, driver_version) = match driver {
        DriverQuery::Answered { version, gpus } => (gpus, version),
        DriverQuery::InitFailed { version, .. } => (Vec::new(), version),
        DriverQuery::NotInstalled | DriverQuery::MissingSymbols(_) | DriverQuery::Crashed(_) => {
            (Vec::new(), None)
        }
    };
    DeviceReport {
        cpu,
        gpus,
        driver_version,
        cuda_note,
        cuda_build,
    }
}

/// What the CUDA driver said, before it is turned into a report.
#[derive(Debug, Clone, PartialEq)]
enum DriverQuery {
    /// No `libcuda` could be loaded.
    NotInstalled,
    /// The library loaded but a call failed (no device, driver/kernel module mismatch, ...).
    InitFailed {
        version: Option<String>,
        call: &'static str,
        error: String,
    },
    Answered {
        version: Option<String>,
        gpus: Vec<GpuInfo>,
    },
    /// The loaded `libcuda` lacks functions every driver since CUDA 11.4 has.
    MissingSymbols(Vec<&'static str>),
    /// cudarc panicked; the panic message.
    Crashed(String),
}

fn cuda_note(driver: &DriverQuery, cuda_build: bool) -> String {
    let cpu_fallback = "training runs on the CPU.";
    match driver {
        DriverQuery::NotInstalled => {
            format!("No NVIDIA driver found (libcuda.so.1 could not be loaded); {cpu_fallback}")
        }
        DriverQuery::MissingSymbols(names) => format!(
            "The NVIDIA driver library (libcuda) lacks {}: it is older than CUDA 11.4 or not a \
             driver; {cpu_fallback}",
            names.join(", ")
        ),
        DriverQuery::Crashed(message) => format!(
            "The NVIDIA driver library loaded but could not be queried ({message}); {cpu_fallback}"
        ),
        DriverQuery::InitFailed {
            version,
            call,
            error,
        } => format!(
            "An NVIDIA driver{} is installed but {call} failed: {error}; {cpu_fallback}",
            version
                .as_deref()
                .map(|v| format!(" (CUDA {v})"))
                .unwrap_or_default()
        ),
        DriverQuery::Answered { gpus, .. } if gpus.is_empty() => {
            format!("The NVIDIA driver reports no CUDA GPUs; {cpu_fallback}")
        }
        DriverQuery::Answered { gpus, .. } => {
            let found = match gpus.len() {
                1 => "1 CUDA GPU found.".to_owned(),
                n => format!("{n} CUDA GPUs found."),
            };
            if cuda_build {
                found
            } else {
                format!(
                    "{found} This binary was built without the `cuda` feature, so training runs \
                     on the CPU; rebuild with `{CUDA_REBUILD_COMMAND}` to train on them."
                )
            }
        }
    }
}

fn query_driver() -> DriverQuery {
    if !driver_library_present() {
        return DriverQuery::NotInstalled;
    }
    // cudarc panics, rather than returning an error, when a symbol is missing from the loaded
    // library, so look for them first; catching a panic is the last resort.
    let missing = missing_driver_symbols();
    if !missing.is_empty() {
        return DriverQuery::MissingSymbols(missing);
    }
    match std::panic::catch_unwind(query_loaded_driver) {
        Ok(query) => query,
        Err(payload) => DriverQuery::Crashed(
            payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "unknown panic".to_owned()),
        ),
    }
}

/// Whether `libcuda` can be loaded. cudarc's lazy loader panics when it cannot, so ask first.
#[cfg(not(feature = "cuda"))]
fn driver_library_present() -> bool {
    // SAFETY: dlopen of the driver library; its initialisers are those of the NVIDIA driver.
    unsafe { cudarc::driver::sys::is_culib_present() }
}

/// With the `cuda` feature the binary links `libcuda.so.1`: it would not have started without it.
#[cfg(feature = "cuda")]
fn driver_library_present() -> bool {
    true
}

/// The driver functions discovery calls; all exist in every driver since CUDA 11.4.
#[cfg(not(feature = "cuda"))]
const DRIVER_SYMBOLS: [&str; 10] = [
    "cuDriverGetVersion",
    "cuInit",
    "cuGetErrorName",
    "cuGetErrorString",
    "cuDeviceGetCount",
    "cuDeviceGet",
    "cuDeviceGetName",
    "cuDeviceTotalMem_v2",
    "cuDeviceGetAttribute",
    "cuDeviceGetUuid_v2",
];

/// Those of [`DRIVER_SYMBOLS`] the loaded `libcuda` lacks.
#[cfg(not(feature = "cuda"))]
fn missing_driver_symbols() -> Vec<&'static str> {
    // SAFETY: `driver_library_present` just loaded the library; looking a name up calls nothing.
    let lib = unsafe { cudarc::driver::sys::culib() };
    DRIVER_SYMBOLS
        .into_iter()
        .filter(|name| unsafe { lib.get::<unsafe extern "C" fn()>(name.as_bytes()) }.is_err())
        .collect()
}

/// With the `cuda` feature the dynamic linker resolves the symbols; nothing to look up.
#[cfg(feature = "cuda")]
fn missing_driver_symbols() -> Vec<&'static str> {
    Vec::new()
}

fn query_loaded_driver() -> DriverQuery {
    use cudarc::driver::{result, sys};

    let version = driver_version();
    let init_failed = |call: &'static str, error: result::DriverError| DriverQuery::InitFailed {
        version: version.clone(),
        call,
        error: describe(error),
    };
    if let Err(e) = result::init() {
        return init_failed("cuInit", e);
    }
    let count = match result::device::get_count() {
        Ok(n) => usize::try_from(n).unwrap_or(0),
        Err(e) => return init_failed("cuDeviceGetCount", e),
    };
    let mut gpus = Vec::with_capacity(count);
    for ordinal in 0..count {
        let Ok(dev) = result::device::get(ordinal as i32) else {
            continue;
        };
        let name = result::device::get_name(dev).unwrap_or_else(|_| "unknown".to_owned());
        // SAFETY: `dev` was returned by cuDeviceGet.
        let memory_bytes = unsafe { result::device::total_mem(dev) }.map_or(0, |b| b as u64);
        let attribute = |a| unsafe { result::device::get_attribute(dev, a) }.unwrap_or(0);
        let compute_capability = (
            attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR),
            attribute(sys::CUdevice_attribute::CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR),
        );
        let uuid = result::device::get_uuid(dev)
            .ok()
            .map(|u| format_uuid(&u.bytes.map(|b| b as u8)));
        gpus.push(GpuInfo {
            ordinal,
            name,
            memory_bytes,
            compute_capability,
            uuid,
        });
    }
    DriverQuery::Answered { version, gpus }
}

/// `cuDriverGetVersion` (callable before `cuInit`), as "major.minor".
fn driver_version() -> Option<String> {
    let mut v: std::ffi::c_int = 0;
    // SAFETY: writes one int; needs no initialisation of the driver.
    let status = unsafe { cudarc::driver::sys::cuDriverGetVersion(&mut v) };
    (status.result().is_ok() && v > 0).then(|| format_cuda_version(v))
}

/// 13000 -> "13.0", 12080 -> "12.8" (the CUDA encoding: 1000 * major + 10 * minor).
fn format_cuda_version(v: i32) -> String {
    format!("{}.{}", v / 1000, (v % 1000) / 10)
}

fn describe(error: cudarc::driver::result::DriverError) -> String {
    let name = error
        .error_name()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|_| format!("{:?}", error.0));
    match error.error_string() {
        Ok(text) => format!("{name} ({})", text.to_string_lossy()),
        Err(_) => name,
    }
}

/// The 16 bytes of a CUDA UUID in the form `nvidia-smi -L` prints.
fn format_uuid(b: &[u8; 16]) -> String {
    let hex =
        |r: std::ops::Range<usize>| b[r].iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!(
        "GPU-{}-{}-{}-{}-{}",
        hex(0..4),
        hex(4..6),
        hex(6..8),
        hex(8..10),
        hex(10..16)
    )
}

fn cpu_info() -> CpuInfo {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    CpuInfo {
        model: cpu_model(&cpuinfo),
        cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
        physical_cores: physical_cores(&cpuinfo),
        simd: simd_features(),
        arch: std::env::consts::ARCH.to_owned(),
    }
}

fn cpu_model(cpuinfo: &str) -> String {
    #[cfg(target_arch = "x86_64")]
    if let Some(brand) = x86_brand_string() {
        return brand;
    }
    cpuinfo_field(cpuinfo, "model name")
        .or_else(|| cpuinfo_field(cpuinfo, "Hardware"))
        .unwrap_or_else(|| "unknown".to_owned())
}

/// The processor brand string from CPUID leaves 0x8000_0002..=0x8000_0004.
#[cfg(target_arch = "x86_64")]
#[allow(unused_unsafe)] // `__cpuid` is safe in newer toolchains
fn x86_brand_string() -> Option<String> {
    use std::arch::x86_64::__cpuid;
    // SAFETY: CPUID exists on every x86_64 processor.
    let max_extended = unsafe { __cpuid(0x8000_0000) }.eax;
    if max_extended < 0x8000_0004 {
        return None;
    }
    let mut bytes = Vec::with_capacity(48);
    for leaf in 0x8000_0002u32..=0x8000_0004 {
        let r = unsafe { __cpuid(leaf) };
        for reg in [r.eax, r.ebx, r.ecx, r.edx] {
            bytes.extend_from_slice(&reg.to_le_bytes());
        }
    }
    let text = String::from_utf8_lossy(&bytes);
    let brand = text.trim_matches(|c: char| c == '\0' || c.is_whitespace());
    (!brand.is_empty()).then(|| brand.split_whitespace().collect::<Vec<_>>().join(" "))
}

fn cpuinfo_field(cpuinfo: &str, key: &str) -> Option<String> {
    cpuinfo.lines().find_map(|line| {
        let (k, v) = line.split_once(':')?;
        (k.trim() == key && !v.trim().is_empty()).then(|| v.trim().to_owned())
    })
}

/// Distinct (physical id, core id) pairs in `/proc/cpuinfo`; `None` where it lists no core ids.
fn physical_cores(cpuinfo: &str) -> Option<usize> {
    let mut cores = std::collections::BTreeSet::new();
    let mut package = "";
    for line in cpuinfo.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        match k.trim() {
            "physical id" => package = v.trim(),
            "core id" => {
                cores.insert((package.to_owned(), v.trim().to_owned()));
            }
            "processor" => package = "",
            _ => {}
        }
    }
    (!cores.is_empty()).then_some(cores.len())
}

fn simd_features() -> Vec<String> {
    #[allow(unused_mut)]
    let mut found: Vec<&str> = Vec::new();
    #[cfg(target_arch = "x86_64")]
    {
        use std::arch::is_x86_feature_detected as has;
        let checks = [
            ("sse4.2", has!("sse4.2")),
            ("avx", has!("avx")),
            ("avx2", has!("avx2")),
            ("fma", has!("fma")),
            ("f16c", has!("f16c")),
            ("avx512f", has!("avx512f")),
            ("avx512bw", has!("avx512bw")),
            ("avx512vnni", has!("avx512vnni")),
        ];
        found.extend(checks.iter().filter(|(_, on)| *on).map(|(name, _)| *name));
    }
    #[cfg(target_arch = "aarch64")]
    {
        use std::arch::is_aarch64_feature_detected as has;
        let checks = [
            ("neon", has!("neon")),
            ("fp16", has!("fp16")),
            ("dotprod", has!("dotprod")),
            ("sve", has!("sve")),
        ];
        found.extend(checks.iter().filter(|(_, on)| *on).map(|(name, _)| *name));
    }
    found.into_iter().map(str::to_owned).collect()
}

impl fmt::Display for DeviceReport {
    /// The text `cairn devices` prints, one line per item, ending with a newline.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let cpu = &self.cpu;
        let physical = cpu
            .physical_cores
            .map(|n| format!(", {n} physical"))
            .unwrap_or_default();
        writeln!(f, "cpu     {} ({})", cpu.model, cpu.arch)?;
        writeln!(f, "        {} logical cores{physical}", cpu.cores)?;
        let simd = if cpu.simd.is_empty() {
            "none detected".to_owned()
        } else {
            cpu.simd.join(" ")
        };
        writeln!(f, "        simd: {simd}")?;
        for gpu in &self.gpus {
            let (major, minor) = gpu.compute_capability;
            writeln!(
                f,
                "cuda:{}  {}, {:.1} GiB, compute capability {major}.{minor}{}",
                gpu.ordinal,
                gpu.name,
                gpu.memory_bytes as f64 / (1u64 << 30) as f64,
                gpu.uuid
                    .as_deref()
                    .map(|u| format!(", {u}"))
                    .unwrap_or_default()
            )?;
        }
        if let Some(v) = &self.driver_version {
            writeln!(f, "driver  CUDA {v}")?;
        }
        let build = if self.cuda_build {
            "built with the `cuda` feature"
        } else {
            "built without the `cuda` feature (CPU only)"
        };
        writeln!(f, "binary  {build}")?;
        writeln!(f, "{}", self.cuda_note)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gpu(ordinal: usize) -> GpuInfo {
        GpuInfo {
            ordinal,
            name: "NVIDIA H100 80GB HBM3".to_owned(),
            memory_bytes: 85_520_809_984,
            compute_capability: (9, 0),
            uuid: Some("GPU-00112233-4455-6677-8899-aabbccddeeff".to_owned()),
        }
    }

    #[test]
    fn the_cpu_is_described() {
        let cpu = discover().cpu;
        assert!(cpu.cores >= 1);
        assert!(!cpu.model.is_empty());
        assert_eq!(cpu.arch, std::env::consts::ARCH);
        if let Some(physical) = cpu.physical_cores {
            assert!(physical >= 1);
        }
        #[cfg(target_arch = "x86_64")]
        {
            // Every x86_64 CPU this can run on has SSE4.2 or newer; the list keeps a fixed order.
            assert!(!cpu.simd.is_empty(), "no SIMD detected on x86_64");
            let order = [
                "sse4.2",
                "avx",
                "avx2",
                "fma",
                "f16c",
                "avx512f",
                "avx512bw",
                "avx512vnni",
            ];
            let positions: Vec<_> = cpu
                .simd
                .iter()
                .map(|s| order.iter().position(|o| o == s).expect("known name"))
                .collect();
            assert!(positions.windows(2).all(|w| w[0] < w[1]), "{:?}", cpu.simd);
        }
    }

    /// Holds wherever no driver is installed (the build machines); `CAIRN_TEST_GPU=1` skips it
    /// and checks instead that at least one GPU is listed.
    #[test]
    fn discovery_never_panics_and_reports_what_the_driver_said() {
        let report = discover();
        assert_eq!(report.cuda_build, cfg!(feature = "cuda"));
        if std::env::var_os("CAIRN_TEST_GPU").is_some() {
            assert!(!report.gpus.is_empty(), "{report}");
            assert!(report.driver_version.is_some(), "{report}");
            return;
        }
        if !cfg!(feature = "cuda") && !driver_library_present() {
            assert!(report.gpus.is_empty());
            assert_eq!(report.driver_version, None);
            assert!(
                report.cuda_note.starts_with("No NVIDIA driver found"),
                "{}",
                report.cuda_note
            );
            assert!(report.cuda_note.ends_with("training runs on the CPU."));
        }
        // Whatever the machine, the report serialises and reads back unchanged.
        let json = serde_json::to_string(&report).unwrap();
        let back: DeviceReport = serde_json::from_str(&json).unwrap();
        assert_eq!(back, report);
        assert!(report.to_string().contains(&report.cuda_note));
    }

    #[test]
    fn notes_say_where_training_runs() {
        let answered = |n| DriverQuery::Answered {
            version: Some("13.0".into()),
            gpus: (0..n).map(gpu).collect(),
        };
        assert_eq!(cuda_note(&answered(2), true), "2 CUDA GPUs found.",);
        assert_eq!(cuda_note(&answered(1), true), "1 CUDA GPU found.");
        let cpu_build = cuda_note(&answered(1), false);
        assert!(cpu_build.starts_with("1 CUDA GPU found. This binary was built without"));
        assert!(cpu_build.contains(CUDA_REBUILD_COMMAND));
        assert_eq!(
            cuda_note(&answered(0), true),
            "The NVIDIA driver reports no CUDA GPUs; training runs on the CPU."
        );
        assert_eq!(
            cuda_note(&DriverQuery::NotInstalled, false),
            "No NVIDIA driver found (libcuda.so.1 could not be loaded); training runs on the CPU."
        );
        assert_eq!(
            cuda_note(
                &DriverQuery::MissingSymbols(vec!["cuDeviceGetUuid_v2"]),
                false
            ),
            "The NVIDIA driver library (libcuda) lacks cuDeviceGetUuid_v2: it is older than \
             CUDA 11.4 or not a driver; training runs on the CPU."
        );
        let failed = DriverQuery::InitFailed {
            version: Some("12.8".into()),
            call: "cuInit",
            error: "CUDA_ERROR_NO_DEVICE (no CUDA-capable device is detected)".into(),
        };
        assert_eq!(
            cuda_note(&failed, true),
            "An NVIDIA driver (CUDA 12.8) is installed but cuInit failed: CUDA_ERROR_NO_DEVICE \
             (no CUDA-capable device is detected); training runs on the CPU."
        );
    }

    #[test]
    fn versions_and_uuids_are_formatted_as_nvidia_prints_them() {
        assert_eq!(format_cuda_version(13000), "13.0");
        assert_eq!(format_cuda_version(12080), "12.8");
        assert_eq!(format_cuda_version(11040), "11.4");
        let bytes: [u8; 16] = std::array::from_fn(|i| (i as u8) * 0x11);
        assert_eq!(
            format_uuid(&bytes),
            "GPU-00112233-4455-6677-8899-aabbccddeeff"
        );
    }

    #[test]
    fn physical_cores_come_from_distinct_package_and_core_ids() {
        let two_sockets_smt = "\
processor\t: 0\nphysical id\t: 0\ncore id\t\t: 0\n\n\
processor\t: 1\nphysical id\t: 0\ncore id\t\t: 0\n\n\
processor\t: 2\nphysical id\t: 1\ncore id\t\t: 0\n\n\
processor\t: 3\nphysical id\t: 1\ncore id\t\t: 1\n";
        assert_eq!(physical_cores(two_sockets_smt), Some(3));
        assert_eq!(physical_cores("processor : 0\nBogoMIPS : 50\n"), None);
        assert_eq!(
            cpuinfo_field("model name\t: AMD EPYC 7B13\n", "model name").as_deref(),
            Some("AMD EPYC 7B13")
        );
    }

    #[test]
    fn the_report_prints_one_line_per_gpu() {
        let report = DeviceReport {
            cpu: CpuInfo {
                model: "AMD EPYC 7B13".into(),
                cores: 2,
                physical_cores: Some(1),
                simd: vec!["sse4.2".into(), "avx2".into()],
                arch: "x86_64".into(),
            },
            gpus: vec![gpu(0), gpu(1)],
            driver_version: Some("13.0".into()),
            cuda_note: "2 CUDA GPUs found.".into(),
            cuda_build: true,
        };
        let text = report.to_string();
        assert!(text.contains("cuda:0  NVIDIA H100 80GB HBM3, 79.6 GiB, compute capability 9.0"));
        assert!(text.contains("cuda:1  "));
        assert!(text.contains("driver  CUDA 13.0"));
        assert!(text.ends_with("\n2 CUDA GPUs found.\n"), "{text}");
    }
}
