//! `cargo xtask bench train`: training throughput of Cairn's trainer (Candle, CPU) measured in
//! one run side by side with PyTorch (CPU, the same thread count) on an MLP, and with PyTorch
//! and scikit-learn on a logistic regression, all on the same generated rows; then one MLP step
//! timed phase by phase. The figures are printed and written to the "Training throughput
//! (issue 4)" section of `docs/benchmarks.md`.
//!
//! The Cairn side is the example `crates/cairn-train/examples/bench_train.rs` (built in
//! release); the peers are `benches/train_peers.py` in a venv under
//! `$HOME/.cache/cairn-bench/venv-train`. PyPI's Linux `torch` wheel is built with CUDA and its
//! libraries link the CUDA runtime, so it cannot even be imported without those shared
//! libraries; the venv gets the wheel without its dependencies, its pure-Python dependencies,
//! and only the NVIDIA wheels whose libraries torch's own `.so` files name (`readelf -d`), not
//! the rest of the CUDA toolkit, triton or cuda-bindings. No GPU is used.

use super::{
    Machine, PyEnv, Sample, command_text, ensure_venv, json_f64, json_str, measure, median, mib,
    release_build, section_head, write_section,
};
use anyhow::{Context, Result, bail};
use std::ffi::OsString;
use std::fmt::Write as _;
use std::fs;
use std::path::Path;

pub const USAGE: &str = "usage: cargo xtask bench train [--runs 3] [--threads N] \
    [--mlp-epochs 4] [--logistic-epochs 5] [--logistic-batch 512]";
const SECTION: &str = "## Training throughput (issue 4)";

const TORCH_PIN: &str = "2.15.0";
const SKLEARN_PIN: &str = "1.9.1";
const NUMPY_PIN: &str = "2.4.6";
/// What `pip install --no-deps torch` leaves out and `import torch` needs: the pure-Python
/// requirements of the wheel, scikit-learn's, and the NVIDIA wheels holding the libraries that
/// torch's shared objects link (the versions torch 2.15.0 asks for).
const PY_PINS: &[&str] = &[
    "scipy==1.17.1",
    "joblib==1.6.0",
    "threadpoolctl==3.8.0",
    "filelock==4.2.12",
    "typing-extensions==4.16.0",
    "sympy==1.14.0",
    "mpmath==1.3.0",
    "networkx==3.6.1",
    "jinja2==3.1.6",
    "markupsafe==3.0.4",
    "fsspec==2026.9.0",
];
const CUDA_LINKED: &[&str] = &[
    "nvidia-cuda-runtime==13.2.86.*",
    "nvidia-cublas==13.4.1.3.*",
    "nvidia-cufft==12.2.0.57.*",
    "nvidia-cufile==1.17.1.22.*",
    "nvidia-cuda-cupti==13.2.86.*",
    "nvidia-cusparse==12.7.10.12.*",
    "nvidia-nvjitlink==13.2.86.*",
    "nvidia-cuda-nvrtc==13.2.86.*",
    "nvidia-cudnn-cu13==9.26.0.51",
    "nvidia-cusparselt-cu13==0.8.1",
    "nvidia-nccl-cu13==2.30.7",
    "nvidia-nvshmem-cu13==3.7.2",
];

/// glibc malloc settings for the second Cairn row: no mmap below 32 MiB, no trimming below
/// 256 MiB (what `mallopt(M_MMAP_THRESHOLD, 32 << 20)` and `mallopt(M_TRIM_THRESHOLD, 256 << 20)`
/// set from inside a program).
const MALLOC_TUNABLES: &str =
    "glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=268435456";

/// The model the MLP runs train (fixed: the 784-256-128-10, batch 128, Adam 1e-3).
const MLP_BATCH: usize = 128;

pub fn main(args: &[String]) -> Result<()> {
    run(&TrainArgs::parse(args)?)
}

struct TrainArgs {
    runs: usize,
    threads: usize,
    mlp_epochs: usize,
    logistic_epochs: usize,
    logistic_batch: usize,
    shown: String,
}

impl TrainArgs {
    fn parse(args: &[String]) -> Result<TrainArgs> {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        let mut out = TrainArgs {
            runs: 3,
            threads: cores,
            mlp_epochs: 4,
            logistic_epochs: 5,
            logistic_batch: 512,
            shown: std::iter::once("cargo xtask bench train".to_string())
                .chain(args.iter().cloned())
                .collect::<Vec<_>>()
                .join(" "),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let mut count = |name: &str| -> Result<usize> {
                let v = it
                    .next()
                    .with_context(|| format!("{name} needs a value\n{USAGE}"))?;
                match v.parse() {
                    Ok(n) if n > 0 => Ok(n),
                    _ => bail!("{name} takes a count of at least 1, got {v}"),
                }
            };
            match a.as_str() {
                "--runs" => out.runs = count(a)?,
                "--threads" => out.threads = count(a)?,
                "--mlp-epochs" => out.mlp_epochs = count(a)?,
                "--logistic-epochs" => out.logistic_epochs = count(a)?,
                "--logistic-batch" => out.logistic_batch = count(a)?,
                other => bail!("unknown option {other}\n{USAGE}"),
            }
        }
        if out.mlp_epochs < 2 {
            bail!("--mlp-epochs must be at least 2: the first epoch is warm-up and not counted");
        }
        Ok(out)
    }
}

/// One tool's runs of one workload.
struct Runs {
    name: &'static str,
    samples: Vec<Sample>,
}

impl Runs {
    fn new(name: &'static str) -> Runs {
        Runs {
            name,
            samples: Vec::new(),
        }
    }

    fn median(&self, key: &str) -> f64 {
        median(
            self.samples
                .iter()
                .filter_map(|s| json_f64(&s.stdout, key))
                .collect(),
        )
    }

    fn all(&self, key: &str) -> Vec<f64> {
        self.samples
            .iter()
            .filter_map(|s| json_f64(&s.stdout, key))
            .collect()
    }

    fn peak_rss(&self) -> String {
        self.samples
            .iter()
            .filter_map(|s| s.peak_rss_kib)
            .max()
            .map_or("?".into(), mib)
    }

    fn first(&self, key: &str) -> String {
        self.samples
            .first()
            .and_then(|s| json_str(&s.stdout, key))
            .unwrap_or_default()
    }

    fn push(&mut self, rep: usize, s: Sample) {
        println!(
            "  run {rep}: {:<28} {:>7.2}s  {:>9.0} samples/s  test accuracy {:.4}",
            self.name,
            s.wall.as_secs_f64(),
            json_f64(&s.stdout, "samples_per_s").unwrap_or(f64::NAN),
            json_f64(&s.stdout, "test_accuracy").unwrap_or(f64::NAN),
        );
        self.samples.push(s);
    }
}

fn run(args: &TrainArgs) -> Result<()> {
    let home = std::env::var_os("HOME").context("HOME is not set")?;
    let cache = Path::new(&home).join(".cache/cairn-bench");
    fs::create_dir_all(&cache).with_context(|| format!("creating {}", cache.display()))?;
    // Other work on the machine skews the figures: the load before and after is reported.
    let loadavg = || {
        fs::read_to_string("/proc/loadavg")
            .map(|t| t.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
            .unwrap_or_else(|_| "?".into())
    };

    println!("[1/4] cairn-train example bench_train (release build)");
    let bench = release_build(
        &home,
        &["-p", "cairn-train", "--example", "bench_train"],
        "release/examples/bench_train",
    )?;
    println!(
        "[2/4] python peers (torch=={TORCH_PIN} CPU, scikit-learn=={SKLEARN_PIN}, numpy=={NUMPY_PIN})"
    );
    let mut installs = vec![
        std::iter::once("--no-deps".to_string())
            .chain(std::iter::once(format!("torch=={TORCH_PIN}")))
            .chain(CUDA_LINKED.iter().map(|s| s.to_string()))
            .collect::<Vec<_>>(),
    ];
    installs.push(
        [
            format!("numpy=={NUMPY_PIN}"),
            format!("scikit-learn=={SKLEARN_PIN}"),
        ]
        .into_iter()
        .chain(PY_PINS.iter().map(|s| s.to_string()))
        .collect(),
    );
    let python = ensure_venv(
        &cache,
        &PyEnv {
            dir: "venv-train",
            probe: "import torch, sklearn, numpy; \
                    print(torch.__version__.split('+')[0], sklearn.__version__, numpy.__version__)",
            want: format!("{TORCH_PIN} {SKLEARN_PIN} {NUMPY_PIN}"),
            installs,
        },
    )?;
    let script = crate::root().join("benches/train_peers.py");

    println!("[3/4] data");
    let data = cache.join("train-data");
    let gen_out = run_json(&bench, &["gen".into(), data.clone().into()])?;
    println!("  {}", gen_out.trim());

    let n = args.threads.to_string();
    let rust_env = [
        ("RAYON_NUM_THREADS", n.clone()),
        ("CANDLE_NUM_THREADS", n.clone()),
    ];
    // The same, with glibc's malloc told to keep freed blocks: by default it serves blocks
    // above its mmap threshold with fresh mappings and unmaps them when freed, so every large
    // tensor Candle allocates (it allocates a new one per op) is page-faulted and zeroed again.
    let rust_env_malloc = [
        ("RAYON_NUM_THREADS", n.clone()),
        ("CANDLE_NUM_THREADS", n.clone()),
        ("GLIBC_TUNABLES", MALLOC_TUNABLES.to_string()),
    ];
    let py_env = [
        ("OMP_NUM_THREADS", n.clone()),
        ("MKL_NUM_THREADS", n.clone()),
        ("OPENBLAS_NUM_THREADS", n.clone()),
    ];
    let time_file = cache.join("train-time.txt");
    let dir: OsString = data.clone().into();
    let py = |what: &str, extra: &[String]| -> Vec<OsString> {
        let mut v: Vec<OsString> = vec![
            script.clone().into(),
            what.into(),
            dir.clone(),
            "--threads".into(),
            n.clone().into(),
        ];
        v.extend(extra.iter().map(OsString::from));
        v
    };
    let mlp_opts = [
        "--epochs".to_string(),
        args.mlp_epochs.to_string(),
        "--batch-size".into(),
        MLP_BATCH.to_string(),
    ];
    let log_opts = [
        "--epochs".to_string(),
        args.logistic_epochs.to_string(),
        "--batch-size".into(),
        args.logistic_batch.to_string(),
    ];
    let with = |first: &str, opts: &[String]| -> Vec<OsString> {
        let mut v: Vec<OsString> = vec![first.into(), dir.clone()];
        v.extend(opts.iter().map(OsString::from));
        v
    };

    println!(
        "[4/4] measuring ({} runs, interleaved; {} threads each)",
        args.runs, args.threads
    );
    let load_before = loadavg();
    let mut cairn_mlp = Runs::new("Cairn (Candle) MLP");
    let mut cairn_mlp_m = Runs::new("Cairn (Candle) MLP, malloc tuned");
    let mut torch_mlp = Runs::new("PyTorch MLP");
    let mut cairn_log = Runs::new("Cairn (Candle) logistic");
    let mut torch_log = Runs::new("PyTorch logistic");
    let mut sk_log = Runs::new("scikit-learn logistic (lbfgs)");
    let profile_opts = [
        "--epochs".to_string(),
        "3".into(),
        "--batch-size".into(),
        MLP_BATCH.to_string(),
    ];
    // Per row of the profile table, the output of each run.
    let mut profiles: Vec<Vec<String>> = vec![Vec::new(); 5];
    for rep in 1..=args.runs {
        let s = measure(&bench, &with("mlp", &mlp_opts), &rust_env, &time_file)?;
        cairn_mlp.push(rep, s);
        let s = measure(
            &bench,
            &with("mlp", &mlp_opts),
            &rust_env_malloc,
            &time_file,
        )?;
        cairn_mlp_m.push(rep, s);
        let s = measure(&python, &py("torch-mlp", &mlp_opts), &py_env, &time_file)?;
        torch_mlp.push(rep, s);
        let s = measure(&bench, &with("logistic", &log_opts), &rust_env, &time_file)?;
        cairn_log.push(rep, s);
        let s = measure(
            &python,
            &py("torch-logistic", &log_opts),
            &py_env,
            &time_file,
        )?;
        torch_log.push(rep, s);
        let s = measure(&python, &py("sklearn-logistic", &[]), &py_env, &time_file)?;
        sk_log.push(rep, s);

        // One MLP step, phase by phase: Cairn's loop (copied and timed) with each malloc
        // setting, each time with Cairn's Adam and bench_train's own in-place copy, then
        // PyTorch's loop.
        for (i, env) in [&rust_env[..], &rust_env_malloc[..]]
            .into_iter()
            .enumerate()
        {
            let p = measure(&bench, &with("profile", &profile_opts), env, &time_file)?;
            let lines: Vec<&str> = p.stdout.lines().collect();
            if lines.len() != 2 {
                bail!("bench_train profile printed {}", p.stdout);
            }
            let malloc = if i == 0 { "default" } else { "tuned" };
            for (j, l) in lines.into_iter().enumerate() {
                // Tagged with the allocator setting it ran under.
                profiles[2 * i + j].push(format!("{{\"malloc\": \"{malloc}\", {}", &l[1..]));
            }
        }
        let p = measure(
            &python,
            &py("torch-mlp-profile", &profile_opts),
            &py_env,
            &time_file,
        )?;
        profiles[4].push(format!(
            "{{\"malloc\": \"default\", {}",
            &p.stdout.trim()[1..]
        ));
        println!(
            "  run {rep}: one MLP step (ms): Cairn {:.2}, malloc tuned {:.2}, fused Adam + malloc \
             tuned {:.2}; PyTorch {:.2}",
            json_f64(&profiles[0][rep - 1], "step_ms").unwrap_or(f64::NAN),
            json_f64(&profiles[2][rep - 1], "step_ms").unwrap_or(f64::NAN),
            json_f64(&profiles[3][rep - 1], "step_ms").unwrap_or(f64::NAN),
            json_f64(&profiles[4][rep - 1], "step_ms").unwrap_or(f64::NAN),
        );
    }

    fs::remove_file(&time_file).ok();
    let load = format!("{load_before} before the measurements, {} after", loadavg());

    let versions = format!(
        "Candle {} (Cairn's trainer, CPU backend, the `gemm` crate for matmul), PyTorch {} \
         (the PyPI wheel, built with CUDA, run on the CPU: MKL + oneDNN, OpenMP), scikit-learn \
         {}, NumPy {}, Python {}",
        cairn_mlp.first("candle"),
        torch_mlp.first("version"),
        sk_log.first("version"),
        sk_log.first("numpy"),
        command_text(
            &python,
            &["-c", "import platform; print(platform.python_version())"]
        )
        .unwrap_or_default(),
    );
    let section = render(&Render {
        args,
        load: &load,
        versions: &versions,
        machine: &Machine::probe(),
        cairn_mlp: &cairn_mlp,
        cairn_mlp_m: &cairn_mlp_m,
        torch_mlp: &torch_mlp,
        cairn_log: &cairn_log,
        torch_log: &torch_log,
        sk_log: &sk_log,
        profile: &profiles,
    });
    write_section(SECTION, &section)
}

/// Runs `program args` and returns its stdout (it must succeed).
fn run_json(program: &Path, args: &[OsString]) -> Result<String> {
    let out = std::process::Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("starting {}", program.display()))?;
    if !out.status.success() {
        bail!(
            "{} failed: {}",
            program.display(),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

struct Render<'a> {
    args: &'a TrainArgs,
    load: &'a str,
    versions: &'a str,
    machine: &'a Machine,
    cairn_mlp: &'a Runs,
    cairn_mlp_m: &'a Runs,
    torch_mlp: &'a Runs,
    cairn_log: &'a Runs,
    torch_log: &'a Runs,
    sk_log: &'a Runs,
    /// Per row of the profile table, one JSON line per run.
    profile: &'a [Vec<String>],
}

fn list(v: &[f64], digits: usize) -> String {
    v.iter()
        .map(|x| format!("{x:.digits$}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `12345.6` as `12,346`.
fn thousands(x: f64) -> String {
    super::group(x.round().max(0.0) as u64)
}

fn render(r: &Render) -> String {
    let a = r.args;
    let m = r.machine;
    let mlp_ratio = r.cairn_mlp.median("samples_per_s") / r.torch_mlp.median("samples_per_s");
    let log_ratio = r.cairn_log.median("samples_per_s") / r.torch_log.median("samples_per_s");
    let verdict = |ok: bool| if ok { "met" } else { "**not met**" };
    let n_train = |t: &Runs| json_f64(&t.samples[0].stdout, "n_train").unwrap_or(0.0);
    let mut s = section_head(
        SECTION,
        "train",
        &a.shown,
        &super::cairn_commit(),
        m,
        &format!("; load average (1, 5, 15 min): {}", r.load),
    );
    let mut line = |text: String| {
        s.push_str(&text);
        s.push('\n');
    };
    line(format!(
        "- Threads: {n} on both sides. Candle's CPU matmul (the `gemm` crate on rayon) splits \
         over `candle_core::utils::get_num_threads()`, which reads `RAYON_NUM_THREADS` (else the \
         physical cores), and its element-wise ops on 64K elements or more run on its own \
         spinning barrier pool sized by `CANDLE_NUM_THREADS` (else the same); the harness sets \
         both to {n}, and the binary reports {} matmul and {} element-wise threads. PyTorch: \
         `torch.set_num_threads({n})` with `OMP_NUM_THREADS`/`MKL_NUM_THREADS` = {n}; it \
         reports {} threads. scikit-learn: `threadpoolctl` limit {n}.",
        r.cairn_mlp.median("threads"),
        r.cairn_mlp.median("elementwise_threads"),
        r.torch_mlp.median("threads"),
        n = a.threads,
    ));
    line(format!("- Versions: {}", r.versions));
    line(format!(
        "- Data (written by `bench_train gen`; every tool reads the same bytes): MLP: 60,000 \
         rows × 784 float32 features, 10 classes, `x = 0.08·μ_class + N(0, 1)`; logistic: \
         1,000,000 rows × 50 features `N(0, 1)`, 2 classes, `y ~ Bernoulli(σ(1.5·x·w/|w|))` \
         (the best possible accuracy is E[σ(1.5·|z|)] ≈ 0.734). Train and test rows are Cairn's \
         seeded stratified 80/20 split ({} and {} training rows); every tool standardises the \
         features on the training rows and is scored on the same test rows.",
        thousands(n_train(r.cairn_mlp)),
        thousands(n_train(r.cairn_log)),
    ));
    line(format!(
        "- Each tool ran {} time(s), interleaved. Throughput is training rows per second over one \
         epoch, the median of epochs 2..N of a run (epoch 1 holds the warm-up and, for Cairn, \
         the preprocessing), then the median over runs. Wall is the whole training call: \
         Cairn's `cairn_train::train` (split, preprocessing from a `Frame`, all epochs, \
         predictions on the test rows), PyTorch's standardisation + epochs + test predictions, \
         scikit-learn's `StandardScaler` + `fit` + scoring; loading the files is not counted.",
        a.runs
    ));
    line(String::new());

    line(format!(
        "### MLP 784-256-128-10 (ReLU), batch {MLP_BATCH}, Adam lr 0.001, {} epochs",
        a.mlp_epochs
    ));
    line(String::new());
    line(
        "| tool | samples/s (median) | runs (samples/s) | epoch (s) | wall (s) | train acc. | test acc. | peak RSS (MiB) |"
            .into(),
    );
    line("| --- | ---: | --- | ---: | ---: | ---: | ---: | ---: |".into());
    for t in [r.cairn_mlp, r.cairn_mlp_m, r.torch_mlp] {
        line(format!(
            "| {} | {} | {} | {:.2} | {:.2} | {:.4} | {:.4} | {} |",
            t.name,
            thousands(t.median("samples_per_s")),
            list(&t.all("samples_per_s"), 0),
            t.median("steady_epoch_s"),
            t.median("wall_s"),
            t.median("train_accuracy"),
            t.median("test_accuracy"),
            t.peak_rss()
        ));
    }
    line(String::new());
    let mlp_ratio_m = r.cairn_mlp_m.median("samples_per_s") / r.torch_mlp.median("samples_per_s");
    line(format!(
        "- **Candle / PyTorch (MLP samples/s): {mlp_ratio:.2}×** with Cairn's trainer as it is (target at \
         least 1.0×: {}); {mlp_ratio_m:.2}× with glibc's malloc tuned \
         (`GLIBC_TUNABLES={MALLOC_TUNABLES}`, the same code).",
        verdict(mlp_ratio >= 1.0),
    ));
    line(String::new());

    line(format!(
        "### Logistic regression, 1,000,000 × 50 ({} training rows)",
        thousands(n_train(r.cairn_log))
    ));
    line(String::new());
    line(
        "| tool | algorithm | wall (s) | runs (s) | rows/s per epoch | train acc. | test acc. | peak RSS (MiB) |"
            .into(),
    );
    line("| --- | --- | ---: | --- | ---: | ---: | ---: | ---: |".into());
    let minibatch = format!(
        "mini-batch Adam, batch {}, lr 0.01, {} epochs, no penalty",
        a.logistic_batch, a.logistic_epochs
    );
    for (t, algo) in [
        (r.cairn_log, minibatch.clone()),
        (r.torch_log, minibatch.clone()),
        (
            r.sk_log,
            format!(
                "L-BFGS on the full batch (`LogisticRegression(solver=\"lbfgs\")`, C=1.0), {} iterations",
                r.sk_log.median("iterations")
            ),
        ),
    ] {
        let rows_per_s = t.median("samples_per_s");
        line(format!(
            "| {} | {algo} | {:.2} | {} | {} | {:.4} | {:.4} | {} |",
            t.name,
            t.median("wall_s"),
            list(&t.all("wall_s"), 2),
            if rows_per_s.is_nan() {
                "–".into()
            } else {
                thousands(rows_per_s)
            },
            t.median("train_accuracy"),
            t.median("test_accuracy"),
            t.peak_rss()
        ));
    }
    line(String::new());
    line(format!(
        "- Cairn / scikit-learn wall time: {:.2}× (Cairn {:.2} s, scikit-learn {:.2} s); test \
         accuracy {:.4} vs {:.4}. The algorithms differ: Cairn (like the PyTorch row) takes \
         {} mini-batch Adam epochs, scikit-learn runs L-BFGS on the whole training set until it \
         converges; both reach about the best accuracy the data allows, so the wall times are \
         time-to-a-fitted-model on this data, not the same arithmetic.",
        r.cairn_log.median("wall_s") / r.sk_log.median("wall_s"),
        r.cairn_log.median("wall_s"),
        r.sk_log.median("wall_s"),
        r.cairn_log.median("test_accuracy"),
        r.sk_log.median("test_accuracy"),
        a.logistic_epochs
    ));
    line(format!(
        "- Candle / PyTorch (logistic rows/s, the same mini-batch algorithm): {log_ratio:.2}×. \
         With 50 features and batch {} a step is tiny, so this ratio measures the fixed cost per \
         step of each framework more than arithmetic.",
        a.logistic_batch
    ));
    line(String::new());

    line(format!(
        "### Where the time goes (one MLP step, batch {MLP_BATCH})"
    ));
    line(String::new());
    line(
        "`bench_train profile` runs a copy of the trainer's step (the same calls as \
         `crates/cairn-train/src/trainer.rs`: `index_select` of the batch rows, `forward_t`, \
         log-softmax + gather + mean, `backward`, the optimiser step, `to_scalar` of the batch \
         loss, the correct-count for the step report) with a timer around each phase, over \
         epochs 2 and 3; Candle's CPU backend runs each op to completion before returning, so the \
         timers see each phase's full cost; the figures are medians over the runs. It runs with glibc's default malloc and with the \
         tuned one, each time also with bench_train's own in-place Adam (three passes per \
         tensor, no temporaries, the same f32 operations in the same order as the tensor \
         expression; `optim.rs` does the same on the CPU since `5f7bc6f`), whose weights must \
         match the trainer's bit for bit. The \
         last row is PyTorch's loop of the MLP run timed the same way \
         (`train_peers.py torch-mlp-profile`)."
            .into(),
    );
    line(String::new());
    let labels = [
        ("batch_ms", "batch `index_select`"),
        ("forward_ms", "forward"),
        ("loss_ms", "loss"),
        ("backward_ms", "backward"),
        ("optimizer_ms", "optimizer (Adam)"),
        ("loss_scalar_ms", "loss `to_scalar`"),
        ("accuracy_ms", "accuracy"),
    ];
    let mut head = "| malloc | loop | ".to_string();
    let mut rule = "| --- | --- | ".to_string();
    for (_, l) in labels {
        let _ = write!(head, "{l} | ");
        rule.push_str("---: | ");
    }
    head.push_str("step (ms) | samples/s | weights |");
    rule.push_str("---: | ---: | --- |");
    line(head);
    line(rule);
    // The median over runs of a field of a profile row.
    let med =
        |runs: &[String], k: &str| median(runs.iter().filter_map(|v| json_f64(v, k)).collect());
    for runs in r.profile {
        let v = &runs[0];
        let name = match json_str(v, "variant").as_deref() {
            Some("fused") => "bench_train's in-place Adam (reference)",
            Some("pytorch") => "PyTorch (same loop)",
            _ => "Cairn's trainer (`optim.rs`)",
        };
        let mut row = format!(
            "| {} | {name} | ",
            json_str(v, "malloc").unwrap_or_default()
        );
        for (k, _) in labels {
            let _ = write!(row, "{:.3} | ", med(runs, k));
        }
        let same = if runs
            .iter()
            .all(|v| v.contains("\"weights_identical\":true"))
        {
            "bit-identical to the row above"
        } else if runs
            .iter()
            .any(|v| v.contains("\"weights_identical\":false"))
        {
            "**differ** from the row above"
        } else {
            "–"
        };
        let _ = write!(
            row,
            "{:.3} | {} | {same} |",
            med(runs, "step_ms"),
            thousands(med(runs, "samples_per_s"))
        );
        line(row);
    }
    line(String::new());
    let f = |k: &str| med(&r.profile[0], k);
    line(format!(
        "Inside Candle's backward pass (default malloc, {} element-wise threads), two parts of \
         the first layer timed alone: the gradient with respect to the batch itself, `grad · W` accumulated onto \
         zeros, {:.3} ms per step, which no variable needs (Candle's matmul backward computes \
         both sides' gradients); and the gradient of `W` that Adam needs, {:.3} ms, of which the \
         matmul `xᵀ · grad` is {:.3} ms and the rest is adding its transpose (the backward of \
         `Linear`'s `x·Wᵀ`) onto a zero tensor, a strided copy of 200,704 values.",
        f("elementwise_threads"),
        f("input_grad_ms"),
        f("weight_grad_ms"),
        f("weight_grad_matmul_ms"),
    ));
    s
}
