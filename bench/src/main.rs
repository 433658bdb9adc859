//! `tvbench`: the benchmark harness of issue 7. `tvbench run` measures every
//! row (or `--rows`), prints one Markdown table and, with `--write`, writes
//! it with the machine's details to `bench/RESULTS.md`. `tvbench judge`
//! runs the fast judge stand-in alone.

mod cluster;
mod evaluator;
mod extract;
mod inputs;
mod judge;
mod live;
mod machine;
mod measure;
mod operator;
mod operator_rows;
mod table;

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Parser, Subcommand};

/// Benchmarks of traceval against baselines run side by side.
#[derive(Parser)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Measure and print the table.
    Run(RunArgs),
    /// Serve the fast judge stand-in until interrupted.
    Judge {
        /// Port on 127.0.0.1.
        #[arg(long, default_value_t = 0)]
        port: u16,
        /// Delay of every reply, milliseconds.
        #[arg(long, default_value_t = 0)]
        latency_ms: u64,
        /// Share of requests answered 429.
        #[arg(long, default_value_t = 0.0)]
        fault_rate_429: f64,
        /// `Retry-After` seconds sent with each 429; none when unset.
        #[arg(long)]
        retry_after: Option<u32>,
    },
}

#[derive(clap::Args)]
struct RunArgs {
    /// Tiny sizes and one repetition: checks that every row runs.
    #[arg(long)]
    smoke: bool,
    /// Rows to run, comma-separated (1-5 operator, 6-9 evaluator); all when unset.
    #[arg(long, value_delimiter = ',')]
    rows: Vec<String>,
    /// Repetitions per measurement (default 3, smoke 1).
    #[arg(long)]
    reps: Option<usize>,
    /// Operator sizes N (default 100,500,1000; smoke 5).
    #[arg(long, value_delimiter = ',')]
    sizes: Vec<usize>,
    /// The traceval binary (default target/release/traceval).
    #[arg(long)]
    traceval: Option<PathBuf>,
    /// Scratch directory (generated files, logs).
    #[arg(long, default_value = "/tmp/tvbench")]
    work: PathBuf,
    /// Also write the table with machine details to this file.
    #[arg(long)]
    write: Option<PathBuf>,
}

/// Input sizes.
#[derive(Clone, Debug)]
pub struct Sizes {
    /// Row 6, traceval.
    pub rag_traces: u64,
    /// Row 6, Phoenix (a prefix of the same traces).
    pub phoenix_traces: u64,
    /// Row 7, per run.
    pub judge_bound_traces: u64,
    /// Row 8, file sizes in MB.
    pub extract_mb: [u64; 2],
    /// Row 9, traces in Jaeger.
    pub live_traces: u64,
    /// Rows 1, 3, 5: N.
    pub operator: Vec<usize>,
    /// Row 2: samples.
    pub latency_samples: usize,
    /// Row 3: idle window.
    pub idle: Duration,
}

/// What every row needs.
pub struct Ctx {
    /// The repository.
    pub root: PathBuf,
    /// The traceval binary measured.
    pub traceval: PathBuf,
    /// Scratch directory.
    pub work: PathBuf,
    /// The Phoenix venv's python, when installed.
    pub python: Option<PathBuf>,
    /// Repetitions.
    pub reps: usize,
    /// Sizes.
    pub sizes: Sizes,
    /// Runtime of the stand-ins and API clients.
    pub rt: tokio::runtime::Runtime,
}

impl Ctx {
    /// The generated file of `n` RAG traces (made once, kept in `work`).
    pub fn rag_file(&self, n: u64) -> Result<PathBuf, String> {
        let path = self.work.join(format!("rag-{n}.jsonl"));
        if !path.exists() {
            let tmp = path.with_extension("partial");
            inputs::write_file(&tmp, 1, Some(n), None).map_err(|e| e.to_string())?;
            std::fs::rename(&tmp, &path).map_err(|e| e.to_string())?;
        }
        Ok(path)
    }

    /// A generated file of at least `mb` MB: (path, traces, bytes).
    pub fn big_file(&self, mb: u64) -> Result<(PathBuf, u64, u64), String> {
        let path = self.work.join(format!("big-{mb}mb.jsonl"));
        if !path.exists() {
            let tmp = path.with_extension("partial");
            inputs::write_file(&tmp, 2, None, Some(mb * 1_000_000)).map_err(|e| e.to_string())?;
            std::fs::rename(&tmp, &path).map_err(|e| e.to_string())?;
        }
        let bytes = std::fs::metadata(&path).map_err(|e| e.to_string())?.len();
        let traces = std::fs::read(&path)
            .map_err(|e| e.to_string())?
            .iter()
            .filter(|b| **b == b'\n')
            .count();
        Ok((path, traces as u64, bytes))
    }

    /// `arize-phoenix-evals` version in the venv, or "not installed".
    pub fn phoenix_version(&self) -> String {
        let Some(python) = &self.python else {
            return "not installed".into();
        };
        std::process::Command::new(python)
            .args([
                "-c",
                "from importlib.metadata import version; print(version('arize-phoenix-evals'))",
            ])
            .output()
            .ok()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
            .unwrap_or_default()
    }
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_default()
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Judge {
            port,
            latency_ms,
            fault_rate_429,
            retry_after,
        } => {
            let Ok(rt) = tokio::runtime::Runtime::new() else {
                return std::process::ExitCode::FAILURE;
            };
            rt.block_on(async {
                let options = judge::JudgeOptions {
                    latency: Duration::from_millis(latency_ms),
                    fault_rate_429,
                    retry_after,
                };
                match judge::start(([127, 0, 0, 1], port).into(), options).await {
                    Ok(server) => {
                        println!("{}", server.base_url);
                        let _ = std::io::Write::flush(&mut std::io::stdout());
                        let _ = tokio::signal::ctrl_c().await;
                        std::process::ExitCode::SUCCESS
                    }
                    Err(e) => {
                        eprintln!("tvbench judge: {e}");
                        std::process::ExitCode::FAILURE
                    }
                }
            })
        }
        Command::Run(args) => run(args),
    }
}

fn run(args: RunArgs) -> std::process::ExitCode {
    let root = repo_root();
    let reps = args.reps.unwrap_or(if args.smoke { 1 } else { 3 });
    let sizes = if args.smoke {
        Sizes {
            rag_traces: 200,
            phoenix_traces: 20,
            judge_bound_traces: 20,
            extract_mb: [1, 2],
            live_traces: 300,
            operator: if args.sizes.is_empty() {
                vec![5]
            } else {
                args.sizes.clone()
            },
            latency_samples: 5,
            idle: Duration::from_secs(3),
        }
    } else {
        Sizes {
            rag_traces: 10_000,
            phoenix_traces: 500,
            judge_bound_traces: 300,
            extract_mb: [50, 200],
            live_traces: 20_000,
            operator: if args.sizes.is_empty() {
                vec![100, 500, 1000]
            } else {
                args.sizes.clone()
            },
            latency_samples: 100,
            idle: Duration::from_secs(60),
        }
    };
    let python = root.join("bench/.venv/bin/python");
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tvbench: runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    if let Err(e) = std::fs::create_dir_all(&args.work) {
        eprintln!("tvbench: {}: {e}", args.work.display());
        return std::process::ExitCode::FAILURE;
    }
    let ctx = Ctx {
        traceval: args
            .traceval
            .unwrap_or_else(|| root.join("target/release/traceval")),
        root,
        work: args.work,
        python: python.exists().then_some(python),
        reps,
        sizes,
        rt,
    };
    let wanted = |row: &str| args.rows.is_empty() || args.rows.iter().any(|r| r == row);
    let monitor = machine::Monitor::start();
    let mut rows = Vec::new();
    let operator_rows = ["1", "2", "3", "4", "5"];
    if operator_rows.iter().any(|r| wanted(r)) {
        rows.extend(operator::rows(&ctx, &|r| wanted(r)));
    }
    if wanted("6") {
        rows.extend(evaluator::row6(&ctx));
    }
    if wanted("7") {
        rows.extend(evaluator::row7(&ctx));
    }
    if wanted("8") {
        rows.extend(extract::row8(&ctx));
    }
    if wanted("9") {
        rows.extend(live::row9(&ctx));
    }
    let load = monitor.stop();
    let table = table::render(&rows);
    println!("{table}");
    println!("{}", load.summary());
    if let Some(path) = &args.write {
        let doc = machine::document(&ctx, &table, &load);
        if let Err(e) = std::fs::write(path, doc) {
            eprintln!("tvbench: {}: {e}", path.display());
            return std::process::ExitCode::FAILURE;
        }
    }
    let unmeasured = rows
        .iter()
        .filter(|r| r.met == table::Met::NotMeasured)
        .count();
    if args.smoke && unmeasured > 0 {
        eprintln!("tvbench: {unmeasured} row(s) could not be measured");
        return std::process::ExitCode::FAILURE;
    }
    std::process::ExitCode::SUCCESS
}
