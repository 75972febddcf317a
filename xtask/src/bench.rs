//! `cargo xtask bench ingest`: Cairn's import + profile of a generated CSV of a gigabyte or more,
//! measured in one run side by side with the same work done by DuckDB alone and by pandas.
//! The figures are printed and written to the "Ingest and profile" section of
//! `docs/benchmarks.md`, with the command, the machine and the ratios.
//! `cargo xtask bench train` (in `bench/train.rs`) does the same for training throughput, and
//! `cargo xtask bench tracking` (in `bench/tracking.rs`) for run logging and search.
//!
//! Everything the benchmark needs lives under `$HOME/.cache/cairn-bench/`: the generated CSV
//! (reused while its size and generator version match), a Python venv with the pinned peers,
//! and the scratch workspaces of the runs (deleted after each run unless `--keep`).

use anyhow::{Context, Result, bail};
use std::ffi::OsString;
use std::fs;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// The DuckDB release Cairn bundles (the `duckdb` crate 1.20000.x wraps DuckDB 2.0.0).
const DUCKDB_PIN: &str = "2.0.0";
const PANDAS_PIN: &str = "2.3.3";
/// Bumped whenever the generator's output changes, so an older cached file is not reused.
const CSV_FORMAT: u32 = 1;
const GIB: f64 = 1024.0 * 1024.0 * 1024.0;
const DOC: &str = "docs/benchmarks.md";
const SECTION: &str = "## Ingest and profile";
const USAGE: &str =
    "usage: cargo xtask bench ingest [--size-gb 1.0] [--runs 3] [--pandas-runs N] [--keep]";

mod audit;
mod tracking;
mod train;

pub fn main(args: &[String]) -> Result<()> {
    match args.first().map(String::as_str) {
        Some("ingest") => ingest(&IngestArgs::parse(&args[1..])?),
        Some("train") => train::main(&args[1..]),
        Some("tracking") => tracking::main(&args[1..]),
        Some("audit") => audit::main(&args[1..]),
        _ => {
            eprintln!(
                "{USAGE}\n{}\n{}\n{}",
                train::USAGE,
                tracking::USAGE,
                audit::USAGE
            );
            bail!("unknown benchmark")
        }
    }
}

struct IngestArgs {
    /// Size of the generated CSV in GiB (so it is at least that many GB as well).
    size_gb: f64,
    runs: usize,
    /// pandas is by far the slowest peer; it may be measured fewer times than the others.
    pandas_runs: usize,
    /// Keep the last run's workspace and DuckDB file instead of deleting them.
    keep: bool,
    /// The command line as given, for the report.
    shown: String,
}

impl IngestArgs {
    fn parse(args: &[String]) -> Result<IngestArgs> {
        let mut out = IngestArgs {
            size_gb: 1.0,
            runs: 3,
            pandas_runs: 0,
            keep: false,
            shown: std::iter::once("cargo xtask bench ingest".to_string())
                .chain(args.iter().cloned())
                .collect::<Vec<_>>()
                .join(" "),
        };
        let mut pandas_runs = None;
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut value = |name: &str| {
                it.next()
                    .with_context(|| format!("{name} needs a value\n{USAGE}"))
            };
            match a.as_str() {
                "--size-gb" => {
                    out.size_gb = value(a)?.parse().context("--size-gb takes a number")?;
                    if !(out.size_gb > 0.0 && out.size_gb < 1000.0) {
                        bail!("--size-gb must be above 0 and below 1000");
                    }
                }
                "--runs" => out.runs = value(a)?.parse().context("--runs takes a count")?,
                "--pandas-runs" => {
                    pandas_runs = Some(value(a)?.parse().context("--pandas-runs takes a count")?)
                }
                "--keep" => out.keep = true,
                other => bail!("unknown option {other}\n{USAGE}"),
            }
        }
        if out.runs == 0 {
            bail!("--runs must be at least 1");
        }
        out.pandas_runs = pandas_runs.unwrap_or(out.runs).clamp(1, out.runs);
        Ok(out)
    }
}

fn ingest(args: &IngestArgs) -> Result<()> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let cache = Path::new(&home).join(".cache/cairn-bench");
    fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;

    println!("[1/4] data");
    let data = ensure_csv(&cache, args.size_gb)?;
    println!("[2/4] cairn (release build)");
    let cairn = build_cairn(&home)?;
    println!("[3/4] python peers (duckdb=={DUCKDB_PIN}, pandas=={PANDAS_PIN})");
    let python = ensure_venv(
        &cache,
        &PyEnv {
            dir: "venv",
            probe: "import duckdb, pandas; print(duckdb.__version__, pandas.__version__)",
            want: format!("{DUCKDB_PIN} {PANDAS_PIN}"),
            installs: vec![vec![
                format!("duckdb=={DUCKDB_PIN}"),
                format!("pandas=={PANDAS_PIN}"),
            ]],
        },
    )?;
    let script = crate::root().join("benches/ingest_peers.py");

    println!(
        "[4/4] measuring ({} runs, pandas {})",
        args.runs, args.pandas_runs
    );
    warm_page_cache(&data.path)?;
    let work = cache.join("work");
    if work.exists() {
        fs::remove_dir_all(&work).with_context(|| format!("removing {}", work.display()))?;
    }
    fs::create_dir_all(&work)?;
    let time_file = work.join("time.txt");
    let csv_arg = OsString::from(&data.path);

    let mut tools = [
        Tool::new("Cairn"),
        Tool::new("DuckDB alone"),
        Tool::new("pandas"),
    ];
    for rep in 1..=args.runs {
        let last = rep == args.runs;

        let ws = work.join(format!("cairn-workspace-{rep}"));
        let s = measure(
            &cairn,
            &[
                "--workspace".into(),
                ws.clone().into(),
                "data".into(),
                "import".into(),
                csv_arg.clone(),
                "--json".into(),
            ],
            &[],
            &time_file,
        )?;
        check_rows("Cairn", &s, data.rows)?;
        tools[0].report(rep, &s);
        tools[0].phases.push(cairn_phases(&s));
        tools[0].samples.push(s);
        if !(args.keep && last) {
            fs::remove_dir_all(&ws).ok();
        }

        let db = work.join(format!("duckdb-{rep}.duckdb"));
        let s = measure(
            &python,
            &[
                script.clone().into(),
                "duckdb".into(),
                csv_arg.clone(),
                db.clone().into(),
            ],
            &[],
            &time_file,
        )?;
        check_rows("DuckDB", &s, data.rows)?;
        tools[1].report(rep, &s);
        tools[1]
            .phases
            .push(peer_phases(&s, &["read_s", "profile_s", "close_s"]));
        tools[1].samples.push(s);
        if !(args.keep && last) {
            fs::remove_file(&db).ok();
            fs::remove_file(db.with_extension("duckdb.wal")).ok();
        }

        if rep <= args.pandas_runs {
            let s = measure(
                &python,
                &[script.clone().into(), "pandas".into(), csv_arg.clone()],
                &[],
                &time_file,
            )?;
            check_rows("pandas", &s, data.rows)?;
            tools[2].report(rep, &s);
            tools[2]
                .phases
                .push(peer_phases(&s, &["read_s", "profile_s"]));
            tools[2].samples.push(s);
        }
    }
    fs::remove_file(&time_file).ok();

    let versions = Versions {
        cairn: cairn_commit(),
        duckdb: json_str(&tools[1].samples[0].stdout, "version").unwrap_or_default(),
        pandas: json_str(&tools[2].samples[0].stdout, "version").unwrap_or_default(),
        python: command_text(
            &python,
            &["-c", "import platform; print(platform.python_version())"],
        )
        .unwrap_or_default(),
    };
    let section = render(args, &data, &tools, &versions, &Machine::probe());
    write_section(SECTION, &section)
}

/// Prints `section` and puts it in place of the `heading` section of `docs/benchmarks.md`.
fn write_section(heading: &str, section: &str) -> Result<()> {
    println!("\n{section}");
    let doc = crate::root().join(DOC);
    let old = fs::read_to_string(&doc).unwrap_or_default();
    fs::write(&doc, replace_section(&old, heading, section))
        .with_context(|| format!("writing {}", doc.display()))?;
    let name = heading.trim_start_matches('#').trim();
    println!("wrote the \"{name}\" section of {DOC}");
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The data: a deterministic CSV with a realistic mix of columns.

struct Data {
    path: PathBuf,
    bytes: u64,
    rows: u64,
}

const HEADER: &str = "id,x_gauss,height_cm,ratio,amount,score,age,visits,segment,channel,country,product,signup_date";
const COLUMNS_DOC: &str = "`id` (integer, unique), `x_gauss` (float, N(0,1), 6 decimals), \
`height_cm` (float, N(170, 9.5), 4 decimals, 2% missing), `ratio` (float, U(0,1), 6 decimals), \
`amount` (float, log-normal, 4 decimals, 1% missing), `score` (float, U(-100,100), 5 decimals), \
`age` (integer 18-90, 3% missing), `visits` (integer, geometric), `segment` (4 categories, skewed), \
`channel` (5 categories), `country` (20 codes, skewed, 0.5% missing), `product` (about 50,000 \
codes, 1% missing), `signup_date` (date, 2015-2024)";

/// wyrand: a tiny, fast generator; the benchmark data only needs to be fixed by this code.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0xa076_1d64_78bd_642f);
        let t = u128::from(self.0) * u128::from(self.0 ^ 0xe703_7ed1_a0b4_28db);
        ((t >> 64) ^ t) as u64
    }
    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
    }
    /// Uniform in 0..n.
    fn below(&mut self, n: u64) -> u64 {
        ((u128::from(self.next_u64()) * u128::from(n)) >> 64) as u64
    }
    fn chance(&mut self, p: f64) -> bool {
        self.unit() < p
    }
    /// Standard normal (Box-Muller).
    fn gauss(&mut self) -> f64 {
        let u1 = 1.0 - self.unit();
        let u2 = self.unit();
        (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos()
    }
}

fn push_u64(buf: &mut Vec<u8>, mut v: u64) {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    buf.extend_from_slice(&digits[i..]);
}

/// `x` with exactly `decimals` digits after the point (rounded), as a CSV writer would.
fn push_fixed(buf: &mut Vec<u8>, x: f64, decimals: u32) {
    let scale = 10u64.pow(decimals);
    let scaled = (x * scale as f64).round() as i64;
    if scaled < 0 {
        buf.push(b'-');
    }
    let v = scaled.unsigned_abs();
    push_u64(buf, v / scale);
    buf.push(b'.');
    let frac = v % scale;
    let mut div = scale / 10;
    while div > 0 {
        buf.push(b'0' + ((frac / div) % 10) as u8);
        div /= 10;
    }
}

/// `YYYY-MM-DD` of a day count since 1970-01-01 (H. Hinnant's civil-from-days).
fn civil_date(days: i64) -> String {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!("{y:04}-{m:02}-{d:02}")
}

fn ensure_csv(cache: &Path, size_gb: f64) -> Result<Data> {
    let target = (size_gb * GIB).ceil() as u64;
    let path = cache.join(format!("ingest-v{CSV_FORMAT}-{size_gb:.2}gib.csv"));
    let meta = path.with_extension("csv.meta");
    if let (Ok(m), Ok(text)) = (fs::metadata(&path), fs::read_to_string(&meta)) {
        let field = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix('=')?.parse::<u64>().ok())
        };
        if let (Some(rows), Some(bytes)) = (field("rows"), field("bytes"))
            && bytes == m.len()
            && bytes >= target
        {
            println!(
                "  reusing {} ({:.2} GiB, {} rows)",
                path.display(),
                bytes as f64 / GIB,
                group(rows)
            );
            return Ok(Data { path, bytes, rows });
        }
    }
    println!(
        "  generating {} ({:.2} GiB)",
        path.display(),
        target as f64 / GIB
    );
    let started = Instant::now();
    let partial = path.with_extension("csv.partial");
    let file =
        fs::File::create(&partial).with_context(|| format!("creating {}", partial.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    out.write_all(HEADER.as_bytes())?;
    out.write_all(b"\n")?;
    let mut bytes = HEADER.len() as u64 + 1;
    let mut rows = 0u64;

    const SEGMENTS: [(&str, f64); 4] = [("A", 0.5), ("B", 0.8), ("C", 0.95), ("D", 1.0)];
    const CHANNELS: [&str; 5] = ["web", "store", "phone", "partner", "app"];
    const COUNTRIES: [&str; 20] = [
        "US", "DE", "FR", "GB", "CN", "JP", "IN", "BR", "CA", "IT", "ES", "NL", "SE", "PL", "MX",
        "KR", "AU", "CH", "ZA", "NG",
    ];
    // 2015-01-01 is day 16,436 of the Unix epoch; ten years of dates.
    let dates: Vec<String> = (0..3653).map(|d| civil_date(16_436 + d)).collect();
    let mut rng = Rng(0x00C0_FFEE_CA12_2024);
    let mut line = Vec::with_capacity(256);
    while bytes < target {
        rows += 1;
        line.clear();
        push_u64(&mut line, rows);
        line.push(b',');
        push_fixed(&mut line, rng.gauss(), 6);
        line.push(b',');
        if !rng.chance(0.02) {
            push_fixed(&mut line, 170.0 + 9.5 * rng.gauss(), 4);
        }
        line.push(b',');
        push_fixed(&mut line, rng.unit(), 6);
        line.push(b',');
        if !rng.chance(0.01) {
            push_fixed(&mut line, (3.0 + 1.1 * rng.gauss()).exp(), 4);
        }
        line.push(b',');
        push_fixed(&mut line, -100.0 + 200.0 * rng.unit(), 5);
        line.push(b',');
        if !rng.chance(0.03) {
            push_u64(&mut line, 18 + rng.below(73));
        }
        line.push(b',');
        push_u64(&mut line, ((-(1.0 - rng.unit()).ln()) * 4.0) as u64);
        line.push(b',');
        let u = rng.unit();
        let segment = SEGMENTS
            .iter()
            .find(|(_, p)| u < *p)
            .map_or("D", |(s, _)| s);
        line.extend_from_slice(segment.as_bytes());
        line.push(b',');
        line.extend_from_slice(CHANNELS[rng.below(5) as usize].as_bytes());
        line.push(b',');
        if !rng.chance(0.005) {
            // The smaller of two draws: low indices are more frequent.
            let c = rng.below(20).min(rng.below(20));
            line.extend_from_slice(COUNTRIES[c as usize].as_bytes());
        }
        line.push(b',');
        if !rng.chance(0.01) {
            let p = rng.below(50_000);
            line.push(b'P');
            for div in [10_000, 1_000, 100, 10, 1] {
                line.push(b'0' + (p / div % 10) as u8);
            }
        }
        line.push(b',');
        line.extend_from_slice(dates[rng.below(dates.len() as u64) as usize].as_bytes());
        line.push(b'\n');
        out.write_all(&line)?;
        bytes += line.len() as u64;
    }
    out.flush()?;
    drop(out);
    fs::rename(&partial, &path)?;
    fs::write(&meta, format!("rows={rows}\nbytes={bytes}\n"))?;
    println!(
        "  {} rows, {} bytes in {:.1}s",
        group(rows),
        group(bytes),
        started.elapsed().as_secs_f64()
    );
    Ok(Data { path, bytes, rows })
}

/// Reads the file once so every measured run finds it in the page cache (it fits in RAM).
fn warm_page_cache(path: &Path) -> Result<()> {
    let mut f = fs::File::open(path)?;
    let mut buf = vec![0u8; 8 << 20];
    while f.read(&mut buf)? > 0 {}
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// The contestants.

/// `cargo build --release -p cairn-cli` into the shared target dir of `tests/scripts/env.sh`.
fn build_cairn(home: &std::ffi::OsStr) -> Result<PathBuf> {
    // An already built binary (e.g. from another checkout's release build) can be named instead.
    if let Some(bin) = std::env::var_os("CAIRN_BENCH_BIN") {
        return Ok(PathBuf::from(bin));
    }
    release_build(home, &["-p", "cairn-cli"], "release/cairn")
}

/// `cargo build --release ARGS` into `CARGO_TARGET_DIR`, by default the shared target dir of
/// `tests/scripts/env.sh` (`$HOME/.cache/cairn-target`); returns the path `built` in it.
fn release_build(home: &std::ffi::OsStr, args: &[&str], built: &str) -> Result<PathBuf> {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(home).join(".cache/cairn-target"));
    let shown = format!("cargo build --release {}", args.join(" "));
    let status = crate::cargo()
        .current_dir(crate::root())
        .env("CARGO_TARGET_DIR", &target)
        .args(["build", "--release"])
        .args(args)
        .status()
        .with_context(|| format!("running {shown}"))?;
    if !status.success() {
        bail!("{shown} failed");
    }
    let bin = target.join(built);
    if !bin.exists() {
        bail!("{} was not built", bin.display());
    }
    Ok(bin)
}

/// A Python venv under the benchmark cache with pinned peers.
struct PyEnv {
    /// The venv's folder under the cache.
    dir: &'static str,
    /// Python code that prints the installed versions on one line.
    probe: &'static str,
    /// What `probe` prints when the pins are installed.
    want: String,
    /// The arguments of each `pip install`, run in order.
    installs: Vec<Vec<String>>,
}

/// A venv under the cache with the pinned peers; created once, reused while the pins match.
fn ensure_venv(cache: &Path, env: &PyEnv) -> Result<PathBuf> {
    let venv = cache.join(env.dir);
    let python = venv.join("bin/python");
    let probe = ["-c", env.probe];
    let want = env.want.as_str();
    if python.exists() && command_text(&python, &probe).as_deref() == Some(want) {
        println!("  reusing {}", venv.display());
        return Ok(python);
    }
    if !python.exists() {
        let base = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
        let ok = Command::new(&base)
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .with_context(|| format!("running {base} -m venv"))?
            .success();
        if !ok {
            bail!("{base} -m venv {} failed", venv.display());
        }
    }
    for args in &env.installs {
        let ok = Command::new(&python)
            .args(["-m", "pip", "install", "--quiet"])
            .args(args)
            .status()
            .context("running pip install")?
            .success();
        if !ok {
            bail!("pip install {} failed", args.join(" "));
        }
    }
    let got = command_text(&python, &probe);
    if got.as_deref() != Some(want) {
        bail!("the venv at {} has {got:?}, wanted {want}", venv.display());
    }
    Ok(python)
}

// ---------------------------------------------------------------------------------------------
// Measuring.

struct Sample {
    wall: Duration,
    peak_rss_kib: Option<u64>,
    stdout: String,
    /// Each stderr line with the time it arrived, counted from the start of the process.
    stderr: Vec<(Duration, String)>,
}

/// Runs one process to completion, with `envs` added to its environment: its wall time, its
/// peak RSS (from `/usr/bin/time -v`, or by polling `VmHWM` where that is missing), its stdout
/// and its time-stamped stderr lines.
fn measure(
    program: &Path,
    args: &[OsString],
    envs: &[(&str, String)],
    time_file: &Path,
) -> Result<Sample> {
    let use_time = Path::new("/usr/bin/time").exists();
    let mut cmd = if use_time {
        let mut c = Command::new("/usr/bin/time");
        c.arg("-v").arg("-o").arg(time_file).arg(program);
        c
    } else {
        Command::new(program)
    };
    cmd.args(args)
        .envs(envs.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", program.display()))?;
    let pid = child.id();
    let mut stdout = child.stdout.take().expect("piped stdout");
    let stderr = child.stderr.take().expect("piped stderr");
    let out_reader = std::thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err_reader = std::thread::spawn(move || {
        BufReader::new(stderr)
            .lines()
            .map_while(std::io::Result::ok)
            .map(|l| (start.elapsed(), l))
            .collect::<Vec<_>>()
    });
    let mut polled_hwm = 0u64;
    let status = if use_time {
        child.wait()?
    } else {
        loop {
            if let Some(status) = child.try_wait()? {
                break status;
            }
            polled_hwm = polled_hwm.max(vm_hwm_kib(pid).unwrap_or(0));
            std::thread::sleep(Duration::from_millis(10));
        }
    };
    let wall = start.elapsed();
    let stdout = out_reader.join().expect("stdout reader");
    let stderr = err_reader.join().expect("stderr reader");
    if !status.success() {
        let tail: Vec<&str> = stderr
            .iter()
            .rev()
            .take(20)
            .map(|(_, l)| l.as_str())
            .collect();
        bail!(
            "{} failed ({status}):\n{}\n{}",
            program.display(),
            stdout.trim(),
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        );
    }
    let peak_rss_kib = if use_time {
        fs::read_to_string(time_file).ok().and_then(|t| {
            t.lines().find_map(|l| {
                l.trim()
                    .strip_prefix("Maximum resident set size (kbytes):")?
                    .trim()
                    .parse()
                    .ok()
            })
        })
    } else {
        (polled_hwm > 0).then_some(polled_hwm)
    };
    Ok(Sample {
        wall,
        peak_rss_kib,
        stdout,
        stderr,
    })
}

fn vm_hwm_kib(pid: u32) -> Option<u64> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status.lines().find_map(|l| {
        l.strip_prefix("VmHWM:")?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()
    })
}

fn check_rows(who: &str, s: &Sample, rows: u64) -> Result<()> {
    match json_u64(&s.stdout, "rows") {
        Some(n) if n == rows => Ok(()),
        got => bail!(
            "{who} read {got:?} rows, the file has {rows}; output: {}",
            s.stdout.trim()
        ),
    }
}

/// One contestant's samples and, per sample, the seconds of each phase in order.
struct Tool {
    name: &'static str,
    samples: Vec<Sample>,
    phases: Vec<Vec<(String, f64)>>,
}

impl Tool {
    fn new(name: &'static str) -> Tool {
        Tool {
            name,
            samples: Vec::new(),
            phases: Vec::new(),
        }
    }

    fn report(&self, rep: usize, s: &Sample) {
        println!(
            "  run {rep}: {:<13} {:>8.2}s  peak RSS {}",
            self.name,
            s.wall.as_secs_f64(),
            s.peak_rss_kib.map_or("?".into(), mib)
        );
    }

    fn walls(&self) -> Vec<f64> {
        self.samples.iter().map(|s| s.wall.as_secs_f64()).collect()
    }

    fn median_wall(&self) -> f64 {
        median(self.walls())
    }

    fn peak_rss(&self) -> Option<u64> {
        self.samples.iter().filter_map(|s| s.peak_rss_kib).max()
    }

    /// The median of each phase over the samples, in the order of the first sample.
    fn median_phases(&self) -> Vec<(String, f64)> {
        let Some(first) = self.phases.first() else {
            return Vec::new();
        };
        first
            .iter()
            .map(|(name, _)| {
                let values = self
                    .phases
                    .iter()
                    .filter_map(|p| p.iter().find(|(n, _)| n == name).map(|(_, v)| *v))
                    .collect();
                (name.clone(), median(values))
            })
            .collect()
    }
}

/// Cairn's phases from the time its `[stage]` progress lines arrived on stderr: the time before
/// the first line (`open`: process start, workspace open, dialect sniff), then each stage until the next one;
/// the last stage runs until the process exits (it includes the commit).
fn cairn_phases(s: &Sample) -> Vec<(String, f64)> {
    let mut marks: Vec<(String, Duration)> = Vec::new();
    for (at, line) in &s.stderr {
        let Some(stage) = line
            .strip_prefix('[')
            .and_then(|l| l.split_once(']'))
            .map(|(stage, _)| stage)
        else {
            continue;
        };
        if marks.last().map(|(n, _)| n.as_str()) != Some(stage) {
            marks.push((stage.to_string(), *at));
        }
    }
    let mut out = Vec::new();
    let mut prev = ("open".to_string(), Duration::ZERO);
    for (name, at) in marks {
        out.push((prev.0, (at - prev.1).as_secs_f64()));
        prev = (name, at);
    }
    out.push((prev.0, (s.wall.saturating_sub(prev.1)).as_secs_f64()));
    out
}

/// The phases a peer script timed itself, plus the rest of its wall time (interpreter start,
/// imports, exit).
fn peer_phases(s: &Sample, keys: &[&str]) -> Vec<(String, f64)> {
    let mut out: Vec<(String, f64)> = keys
        .iter()
        .map(|k| {
            (
                k.trim_end_matches("_s").to_string(),
                json_f64(&s.stdout, k).unwrap_or(0.0),
            )
        })
        .collect();
    let timed: f64 = out.iter().map(|(_, v)| v).sum();
    out.push((
        "interpreter".into(),
        (s.wall.as_secs_f64() - timed).max(0.0),
    ));
    out
}

fn median(mut v: Vec<f64>) -> f64 {
    if v.is_empty() {
        return f64::NAN;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

// ---------------------------------------------------------------------------------------------
// Reporting.

struct Versions {
    cairn: String,
    duckdb: String,
    pandas: String,
    python: String,
}

struct Machine {
    cores: usize,
    ram_gib: f64,
    cpu: String,
    gpu: String,
    os: String,
}

impl Machine {
    fn probe() -> Machine {
        let cores = command_text(Path::new("nproc"), &[])
            .and_then(|t| t.parse().ok())
            .or_else(|| std::thread::available_parallelism().ok().map(|n| n.get()))
            .unwrap_or(0);
        let ram_gib = fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| {
                t.lines().find_map(|l| {
                    l.strip_prefix("MemTotal:")?
                        .trim()
                        .trim_end_matches("kB")
                        .trim()
                        .parse::<f64>()
                        .ok()
                })
            })
            .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
        let cpu = fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines().find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    (k.trim() == "model name").then(|| v.trim().to_string())
                })
            })
            .unwrap_or_else(|| "unknown CPU".into());
        let gpu = command_text(
            Path::new("nvidia-smi"),
            &["--query-gpu=name", "--format=csv,noheader"],
        )
        .filter(|t| !t.is_empty())
        .map(|t| format!("{} (not used by this benchmark)", t.replace('\n', ", ")))
        .unwrap_or_else(|| "none".into());
        let os = fs::read_to_string("/etc/os-release")
            .ok()
            .and_then(|t| {
                t.lines().find_map(|l| {
                    Some(
                        l.strip_prefix("PRETTY_NAME=")?
                            .trim_matches('"')
                            .to_string(),
                    )
                })
            })
            .unwrap_or_else(|| std::env::consts::OS.into());
        let kernel = fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
        let os = format!("{os}, Linux {}", kernel.trim());
        Machine {
            cores,
            ram_gib,
            cpu,
            gpu,
            os,
        }
    }
}

fn render(args: &IngestArgs, data: &Data, tools: &[Tool; 3], v: &Versions, m: &Machine) -> String {
    let [cairn, duck, pandas] = tools;
    let vs_duck = cairn.median_wall() / duck.median_wall();
    let vs_pandas = pandas.median_wall() / cairn.median_wall();
    let verdict = |ok: bool| if ok { "met" } else { "**not met**" };
    let mut s = section_head(SECTION, "ingest", &args.shown, &v.cairn, m, "");
    let mut line = |text: String| {
        s.push_str(&text);
        s.push('\n');
    };
    line(format!(
        "- Peers: DuckDB {} (Python package, the DuckDB release Cairn bundles), pandas {}, Python {}",
        v.duckdb, v.pandas, v.python
    ));
    line(format!(
        "- Data: a generated CSV of {:.2} GiB ({} bytes), {} rows, 13 columns: {COLUMNS_DOC}. \
         It is read once before measuring, so every run finds it in the page cache.",
        data.bytes as f64 / GIB,
        group(data.bytes),
        group(data.rows)
    ));
    line(format!(
        "- Each tool ran {} times, interleaved (Cairn, DuckDB, pandas, then again){}; the figure \
         is the median wall time of the whole process, start to exit. Peak RSS is the largest \
         maximum resident set size of its runs (`/usr/bin/time -v`).",
        args.runs,
        if args.pandas_runs < args.runs {
            format!(
                ", except pandas, which ran {} time{} because it is slow",
                args.pandas_runs,
                if args.pandas_runs == 1 { "" } else { "s" }
            )
        } else {
            String::new()
        }
    ));
    line(String::new());
    line("| tool | work done | median wall (s) | runs (s) | peak RSS (MiB) |".into());
    line("| --- | --- | ---: | --- | ---: |".into());
    let rows: [(&Tool, &str); 3] = [
        (
            cairn,
            "`cairn --workspace NEW_DIR data import FILE.csv --json`: import into a DuckDB file, row hash, full profile, all stored",
        ),
        (
            duck,
            "`CREATE TABLE t AS SELECT * FROM read_csv(FILE)` into a new DuckDB file, then `SUMMARIZE t`",
        ),
        (
            pandas,
            "`pd.read_csv(FILE)` into memory, then `df.describe(include='all')`",
        ),
    ];
    for (t, what) in rows {
        line(format!(
            "| {} | {what} | {:.2} | {} | {} |",
            t.name,
            t.median_wall(),
            t.walls()
                .iter()
                .map(|w| format!("{w:.2}"))
                .collect::<Vec<_>>()
                .join(", "),
            t.peak_rss().map_or("?".into(), mib)
        ));
    }
    line(String::new());
    line(format!(
        "- **Cairn / DuckDB alone: {vs_duck:.2}×** (target at most 1.3×: {})",
        verdict(vs_duck <= 1.3)
    ));
    line(format!(
        "- **pandas / Cairn: {vs_pandas:.1}×** (target at least 5×: {})",
        verdict(vs_pandas >= 5.0)
    ));
    line(String::new());
    let split = |t: &Tool| {
        t.median_phases()
            .iter()
            .map(|(n, v)| format!("{n} {v:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    line(format!(
        "Where the time goes (median seconds per phase). Cairn, from the arrival of its \
         `[stage]` progress lines on stderr (`open` is process start, workspace creation and \
         the dialect sniff; `profile` runs to the exit and includes storing the version and the \
         commit): {}. DuckDB alone, timed in the script: {}. pandas: {}.",
        split(cairn),
        split(duck),
        split(pandas)
    ));
    line(String::new());
    line(
        "What each side does. **Cairn** sniffs the dialect from a 256 KB sample, reads the whole \
         file into a DuckDB table inside one transaction with the dialect stated explicitly, \
         checks the columns, then does work neither peer does: it hashes every row (MD5 of the \
         row's canonical text, SHA-256 over those digests in row order) to get the version's \
         content hash, and computes and stores a richer profile than `SUMMARIZE` (per column: \
         count, nulls, distinct (approximate above 1M rows), min/max, mean/std, approximate \
         quantiles, a 20-bin histogram of every numeric column, the 10 most frequent values of \
         every non-float column, string lengths), plus the version record; it also creates the \
         workspace (lock, migrations, search index). **DuckDB alone** is the same engine, same \
         release, reading the same file into a new database file with its own sniffer and \
         computing `SUMMARIZE` (min, max, approximate distinct count, mean, std, approximate \
         quartiles, count, null percentage): no hash, no histograms, no top values. **pandas** \
         parses the file into memory (C parser, default type inference, nothing written to \
         disk) and `describe(include='all')` gives count, mean, std, min, quartiles and max \
         of numeric columns and count, unique, top and freq of the others. So the ratio to \
         DuckDB measures what Cairn's extra guarantees cost on top of the engine it is built on."
            .into(),
    );
    s
}

/// The lines every generated section starts with: its heading, which command writes it, the
/// command line, the date and commit, and the machine (with `machine_note` after it).
fn section_head(
    heading: &str,
    task: &str,
    shown: &str,
    commit: &str,
    m: &Machine,
    machine_note: &str,
) -> String {
    let date = command_text(Path::new("date"), &["-u", "+%Y-%m-%d"]).unwrap_or_default();
    format!(
        "{heading}\n\n<!-- Written by `cargo xtask bench {task}`; a new run replaces this section. \
         -->\n\n- Command: `{shown}`\n- Date: {date}; Cairn at commit {commit}\n- Machine: {} \
         cores (`nproc`), {:.1} GiB RAM, {}; GPU: {}; {}{machine_note}\n",
        m.cores, m.ram_gib, m.cpu, m.gpu, m.os
    )
}

/// Replaces the section that starts with the line `heading` (up to the next `## ` heading) of
/// the document, or appends it; the rest of the document is kept as it is.
fn replace_section(old: &str, heading: &str, section: &str) -> String {
    let intro = "# Benchmarks\n\n\
        Every figure here names the command that produced it, the machine it ran on (cores, RAM, \
        GPU) and the peer measured in the same run, and is stated as a ratio to that peer. \
        Benchmarks are `cargo xtask bench ...` tasks with their helpers in `benches/`, never \
        timed tests. Each section is written by its command; a new run replaces that section \
        and leaves the others alone.\n";
    let old = if old.trim().is_empty() { intro } else { old };
    let lines: Vec<&str> = old.split_inclusive('\n').collect();
    let start = lines.iter().position(|l| l.trim_end() == heading);
    let mut out = String::new();
    match start {
        Some(i) => {
            let end = lines[i + 1..]
                .iter()
                .position(|l| l.starts_with("## "))
                .map_or(lines.len(), |p| i + 1 + p);
            out.extend(lines[..i].iter().copied());
            out.push_str(section);
            if end < lines.len() {
                out.push('\n');
                out.extend(lines[end..].iter().copied());
            }
        }
        None => {
            out.push_str(old.trim_end());
            out.push_str("\n\n");
            out.push_str(section);
        }
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Small helpers.

fn mib(kib: u64) -> String {
    group(kib / 1024)
}

/// `12345678` as `12,345,678`.
fn group(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The trimmed stdout of a command that succeeded.
fn command_text(program: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    out.status
        .success()
        .then(|| String::from_utf8_lossy(&out.stdout).trim().to_string())
}

fn cairn_commit() -> String {
    let root = crate::root();
    let git = |args: &[&str]| {
        Command::new("git")
            .current_dir(&root)
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = git(&["rev-parse", "--short=10", "HEAD"]).unwrap_or_else(|| "unknown".into());
    match git(&[
        "status",
        "--porcelain",
        "--untracked-files=no",
        "--",
        "crates",
    ]) {
        Some(s) if !s.is_empty() => format!("`{commit}` (with uncommitted changes in crates/)"),
        _ => format!("`{commit}`"),
    }
}

/// The text right after `"key":` in a JSON document (enough for the flat outputs read here).
fn json_raw<'a>(text: &'a str, key: &str) -> Option<&'a str> {
    let at = text.find(&format!("\"{key}\""))? + key.len() + 2;
    Some(text[at..].trim_start().strip_prefix(':')?.trim_start())
}

fn json_f64(text: &str, key: &str) -> Option<f64> {
    let raw = json_raw(text, key)?;
    let end = raw
        .find(|c: char| !(c.is_ascii_digit() || "+-.eE".contains(c)))
        .unwrap_or(raw.len());
    raw[..end].parse().ok()
}

fn json_u64(text: &str, key: &str) -> Option<u64> {
    let raw = json_raw(text, key)?;
    let end = raw.find(|c: char| !c.is_ascii_digit()).unwrap_or(raw.len());
    raw[..end].parse().ok()
}

fn json_str(text: &str, key: &str) -> Option<String> {
    let raw = json_raw(text, key)?.strip_prefix('"')?;
    Some(raw[..raw.find('"')?].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_decimals_are_written_like_a_csv_writer() {
        let cases = [
            (1.5, 4, "1.5000"),
            (-0.000_04, 4, "0.0000"),
            (-1.234_567_8, 6, "-1.234568"),
            (170.049_99, 4, "170.0500"),
            (0.999_999_9, 6, "1.000000"),
        ];
        for (x, d, want) in cases {
            let mut buf = Vec::new();
            push_fixed(&mut buf, x, d);
            assert_eq!(
                String::from_utf8(buf).unwrap(),
                want,
                "{x} with {d} decimals"
            );
        }
    }

    #[test]
    fn civil_dates() {
        assert_eq!(civil_date(0), "1970-01-01");
        assert_eq!(civil_date(16_436), "2015-01-01");
        assert_eq!(civil_date(16_436 + 3652), "2024-12-31");
        assert_eq!(civil_date(19_417), "2023-03-01");
    }

    #[test]
    fn sections_are_replaced_and_others_kept() {
        let new = format!("{SECTION}\n\nnew\n");
        let fresh = replace_section("", SECTION, &new);
        assert!(fresh.starts_with("# Benchmarks\n") && fresh.ends_with(&new));
        let doc = format!("# B\n\n## Training\n\nt\n\n{SECTION}\n\nold\n\n## Serving\n\ns\n");
        assert_eq!(
            replace_section(&doc, SECTION, &new),
            format!("# B\n\n## Training\n\nt\n\n{SECTION}\n\nnew\n\n## Serving\n\ns\n")
        );
        assert_eq!(replace_section(&fresh, SECTION, &new), fresh);
    }

    #[test]
    fn section_heads() {
        let m = Machine {
            cores: 2,
            ram_gib: 23.5,
            cpu: "AMD EPYC".into(),
            gpu: "none".into(),
            os: "Debian".into(),
        };
        let head = section_head(
            "## T",
            "train",
            "cargo xtask bench train",
            "`abc`",
            &m,
            "; x",
        );
        let lines: Vec<&str> = head.lines().collect();
        assert_eq!(lines[0], "## T");
        assert_eq!(
            lines[2],
            "<!-- Written by `cargo xtask bench train`; a new run replaces this section. -->"
        );
        assert_eq!(lines[4], "- Command: `cargo xtask bench train`");
        assert!(lines[5].starts_with("- Date: ") && lines[5].ends_with("commit `abc`"));
        assert_eq!(
            lines[6],
            "- Machine: 2 cores (`nproc`), 23.5 GiB RAM, AMD EPYC; GPU: none; Debian; x"
        );
    }

    #[test]
    fn json_fields() {
        let t = r#"{"created": true, "version": {"hash": "ab12", "rows": 42}, "read_s": 1.5e0}"#;
        assert_eq!(json_u64(t, "rows"), Some(42));
        assert_eq!(json_str(t, "hash").as_deref(), Some("ab12"));
        assert_eq!(json_f64(t, "read_s"), Some(1.5));
        assert_eq!(group(1_234_567), "1,234,567");
        assert_eq!(median(vec![3.0, 1.0, 2.0]), 2.0);
    }
}
