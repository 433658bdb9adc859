//! Measuring child processes (wall time, CPU, peak RSS through GNU time)
//! and summarising repetitions (median, min, max).

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

/// What one run of a command cost.
#[derive(Clone, Copy, Debug, Default)]
pub struct Usage {
    /// Wall seconds, measured here.
    pub wall: f64,
    /// User + system CPU seconds of the process and its children.
    pub cpu: f64,
    /// Peak resident set, MiB.
    pub max_rss_mib: f64,
}

/// Runs `program args` under `/usr/bin/time` in `dir`: stdout to
/// `dir/TAG.out` (or nowhere unless `keep_stdout`), stderr to `dir/TAG.err`.
/// Fails on a non-zero exit, with the tail of stderr.
pub fn run(
    program: &Path,
    args: &[String],
    dir: &Path,
    tag: &str,
    keep_stdout: bool,
    env: &[(&str, &str)],
) -> Result<Usage, String> {
    let time_out = dir.join(format!("{tag}.time"));
    let err_path = dir.join(format!("{tag}.err"));
    let stdout_path = if keep_stdout {
        dir.join(format!("{tag}.out"))
    } else {
        Path::new("/dev/null").to_path_buf()
    };
    let mut command = Command::new("/usr/bin/time");
    command
        .arg("-f")
        .arg("%U %S %M")
        .arg("-o")
        .arg(&time_out)
        .arg(program)
        .args(args)
        .stdin(Stdio::null())
        .stdout(
            std::fs::File::create(&stdout_path)
                .map_err(|e| format!("{}: {e}", stdout_path.display()))?,
        )
        .stderr(
            std::fs::File::create(&err_path).map_err(|e| format!("{}: {e}", err_path.display()))?,
        );
    for (key, value) in env {
        command.env(key, value);
    }
    let start = Instant::now();
    let status = command
        .status()
        .map_err(|e| format!("{}: {e}", program.display()))?;
    let wall = start.elapsed().as_secs_f64();
    if !status.success() {
        let err = std::fs::read_to_string(&err_path).unwrap_or_default();
        let tail: String = err
            .lines()
            .rev()
            .take(15)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect::<Vec<_>>()
            .join("\n");
        return Err(format!(
            "{} {:?} exited {status}:\n{tail}",
            program.display(),
            args
        ));
    }
    let times =
        std::fs::read_to_string(&time_out).map_err(|e| format!("{}: {e}", time_out.display()))?;
    // GNU time may print "Command exited ..." lines before the format line.
    let line = times.lines().last().unwrap_or_default();
    let fields: Vec<f64> = line
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let [user, sys, rss_kib] = fields[..] else {
        return Err(format!("cannot read GNU time output {times:?}"));
    };
    Ok(Usage {
        wall,
        cpu: user + sys,
        max_rss_mib: rss_kib / 1024.0,
    })
}

/// Median, min and max of repetitions.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Stat {
    /// Median.
    pub median: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// Repetitions.
    pub n: usize,
}

impl Stat {
    /// Summary of `values` (NaN when empty).
    pub fn of(values: &[f64]) -> Self {
        let mut v: Vec<f64> = values.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        if v.is_empty() {
            return Self {
                median: f64::NAN,
                min: f64::NAN,
                max: f64::NAN,
                n: 0,
            };
        }
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 {
            v[mid]
        } else {
            (v[mid - 1] + v[mid]) / 2.0
        };
        Self {
            median,
            min: v[0],
            max: v[v.len() - 1],
            n: v.len(),
        }
    }

    /// `12.3 (11.9–12.8)` with `digits` decimals and a unit.
    pub fn show(&self, digits: usize, unit: &str) -> String {
        if self.n == 0 {
            return "—".into();
        }
        if self.n == 1 {
            return format!("{:.digits$} {unit}", self.median);
        }
        format!(
            "{:.digits$} ({:.digits$}–{:.digits$}) {unit}",
            self.median, self.min, self.max
        )
    }
}

/// The 1-minute load average.
pub fn loadavg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|f| f.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// Percentile `p` (0..=100) of `values`, nearest rank.
pub fn percentile(values: &[f64], p: f64) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * v.len() as f64).ceil().max(1.0) as usize;
    v[rank.min(v.len()) - 1]
}

/// CPU seconds (user + system) a running process has used, from /proc.
pub fn proc_cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may contain spaces) start at ')'.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: f64 = fields.get(11)?.parse().ok()?;
    let stime: f64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) / 100.0)
}

/// Peak and current resident set of a running process, MiB.
pub fn proc_rss_mib(pid: u32) -> Option<(f64, f64)> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let field = |name: &str| -> Option<f64> {
        let line = status.lines().find(|l| l.starts_with(name))?;
        line.split_whitespace()
            .nth(1)?
            .parse::<f64>()
            .ok()
            .map(|kib| kib / 1024.0)
    };
    Some((field("VmHWM:")?, field("VmRSS:")?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_and_range() {
        let s = Stat::of(&[3.0, 1.0, 2.0]);
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Stat::of(&[1.0, 2.0]).median, 1.5);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 50.0), 2.0);
        assert_eq!(percentile(&[1.0, 2.0, 3.0, 4.0], 95.0), 4.0);
    }
}
