//! The machine a run was on: cores, memory, load during the run, versions;
//! and the RESULTS.md document around the table.

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use crate::Ctx;
use crate::measure::{Stat, loadavg};

/// Samples the 1-minute load average and the machine's busy CPU share.
pub struct Monitor {
    stop: Arc<AtomicBool>,
    samples: Arc<Mutex<Vec<(f64, f64)>>>,
    handle: Option<JoinHandle<()>>,
    start: Instant,
}

/// What the monitor saw.
pub struct Load {
    /// 1-minute load averages.
    pub load: Stat,
    /// Busy share of all cores, percent, per 5 s interval.
    pub busy: Stat,
    /// Length of the run.
    pub elapsed: Duration,
}

impl Load {
    /// One line for the table's foot.
    pub fn summary(&self) -> String {
        format!(
            "Machine load during the run ({:.0} s): 1-min load average {} on {} cores; all-core CPU busy {} (5 s samples).",
            self.elapsed.as_secs_f64(),
            self.load.show(2, ""),
            cores(),
            self.busy.show(0, "%"),
        )
    }
}

fn cpu_times() -> Option<(u64, u64)> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let line = stat.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|f| f.parse().ok())
        .collect();
    let idle = v.get(3)? + v.get(4).unwrap_or(&0);
    Some((v.iter().sum(), idle))
}

impl Monitor {
    /// Starts sampling every 5 s.
    pub fn start() -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let samples = Arc::new(Mutex::new(Vec::new()));
        let (s, out) = (stop.clone(), samples.clone());
        let handle = std::thread::spawn(move || {
            let mut last = cpu_times();
            while !s.load(Ordering::Relaxed) {
                for _ in 0..50 {
                    if s.load(Ordering::Relaxed) {
                        return;
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
                let now = cpu_times();
                if let (Some((t0, i0)), Some((t1, i1))) = (last, now) {
                    let total = (t1 - t0).max(1) as f64;
                    let busy = 100.0 * (1.0 - (i1 - i0) as f64 / total);
                    if let Ok(mut v) = out.lock() {
                        v.push((loadavg(), busy));
                    }
                }
                last = now;
            }
        });
        Self {
            stop,
            samples,
            handle: Some(handle),
            start: Instant::now(),
        }
    }

    /// Stops and summarises.
    pub fn stop(mut self) -> Load {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(h) = self.handle.take() {
            let _ = h.join();
        }
        let v = self.samples.lock().map(|v| v.clone()).unwrap_or_default();
        let mut loads: Vec<f64> = v.iter().map(|s| s.0).collect();
        if loads.is_empty() {
            loads.push(loadavg());
        }
        Load {
            load: Stat::of(&loads),
            busy: Stat::of(&v.iter().map(|s| s.1).collect::<Vec<_>>()),
            elapsed: self.start.elapsed(),
        }
    }
}

fn cores() -> usize {
    std::thread::available_parallelism().map_or(0, |n| n.get())
}

fn output(program: &str, args: &[&str]) -> String {
    Command::new(program)
        .args(args)
        .output()
        .ok()
        .map(|o| {
            let text = if o.stdout.is_empty() {
                o.stderr
            } else {
                o.stdout
            };
            String::from_utf8_lossy(&text)
                .lines()
                .next()
                .unwrap_or_default()
                .trim()
                .to_owned()
        })
        .unwrap_or_else(|| "unavailable".into())
}

fn mem_total() -> String {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find(|l| l.starts_with("MemTotal:"))
                .and_then(|l| {
                    l.split_whitespace()
                        .nth(1)
                        .and_then(|k| k.parse::<f64>().ok())
                })
        })
        .map_or("unknown".into(), |kib| {
            format!("{:.1} GiB", kib / 1024.0 / 1024.0)
        })
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .map(|l| l.split(':').nth(1).unwrap_or("").trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".into())
}

/// RESULTS.md: how it was run, on what, then the table.
pub fn document(ctx: &Ctx, table: &str, load: &Load) -> String {
    let root = ctx.root.display().to_string();
    let commit = output("git", &["-C", &root, "rev-parse", "--short", "HEAD"]);
    let dirty = !output("git", &["-C", &root, "status", "--porcelain"]).is_empty();
    let kube = output("kubectl", &["version", "--client"]);
    format!(
        "# traceval benchmarks (issue 7)\n\n\
         Produced by `make bench` (`bench/`, harness `tvbench run --write bench/RESULTS.md`). Every \
         figure is the median of {reps} repetitions with min–max in brackets; every baseline ran in \
         the same process, interleaved with the measured runs, so load from other work on the \
         machine hits both sides. Ratios are of medians.\n\n\
         ## Machine and versions\n\n\
         - Date (UTC): {date}\n\
         - CPU: {cpu}; `nproc` = {nproc}; memory {mem}\n\
         - {load}\n\
         - The machine was shared: other sessions' builds and test suites ran during the run, so \
           absolute figures are pessimistic; the ratios are what to read.\n\
         - traceval: `{tv}` (release build), commit {commit}{dirty}\n\
         - {rustc}; kubectl/kube-apiserver {kube}; {jq}; {py}; arize-phoenix-evals {phoenix}\n\n\
         ## Results\n\n{table}\n{analysis}",
        reps = ctx.reps,
        date = output("date", &["-u", "+%Y-%m-%d %H:%M"]),
        cpu = cpu_model(),
        nproc = cores(),
        mem = mem_total(),
        load = load.summary(),
        tv = output(&ctx.traceval.display().to_string(), &["--version"]),
        dirty = if dirty {
            " with uncommitted changes in the work tree"
        } else {
            ""
        },
        rustc = output("rustc", &["--version"]),
        kube = kube.trim_start_matches("Client Version: "),
        jq = output("jq", &["--version"]),
        py = ctx
            .python
            .as_ref()
            .map_or("not installed".into(), |p| output(
                &p.display().to_string(),
                &["--version"]
            )),
        phoenix = ctx.phoenix_version(),
        analysis = std::fs::read_to_string(ctx.root.join("bench/ANALYSIS.md"))
            .map(|a| format!("\n{a}"))
            .unwrap_or_default(),
    )
}
