//! Local processes of the end-to-end tests: the Python venv, the LLM
//! stand-in and the traced apps, killed (with their process groups) when
//! dropped, also when the test panics.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// The repository root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// An environment variable `tests/cluster/up` exports; fails the test with
/// a clear message when it is missing (these tests never skip).
pub fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: start the local cluster with `eval \"$(tests/cluster/up)\"`")
    })
}

/// A child process killed with its process group when dropped.
pub struct Proc {
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    /// Spawns `command` in its own process group, stderr to `log`.
    pub fn spawn(mut command: Command, log: PathBuf) -> Self {
        let file = std::fs::File::create(&log).expect("log file");
        command.stderr(file);
        command.stdin(Stdio::null());
        std::os::unix::process::CommandExt::process_group(&mut command, 0);
        let child = command.spawn().expect("spawn");
        Self { child, log }
    }

    /// The last lines of the log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // Negative PID: the whole group (sh -> opentelemetry-instrument -> python).
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

/// The venv of `tests/cluster/pyenv` (built on first use).
pub fn venv() -> PathBuf {
    let out = Command::new(repo().join("tests/cluster/pyenv"))
        .output()
        .expect("run tests/cluster/pyenv");
    assert!(
        out.status.success(),
        "pyenv failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
}

/// Starts the DashScope/OpenAI stand-in on a free port with `extra` flags;
/// returns it and its base URL.
pub fn standin(venv: &Path, logs: &Path, extra: &[&str]) -> (Proc, String) {
    let mut command = Command::new(venv.join("bin/python"));
    command
        .arg(repo().join("tests/cluster/llm_standin.py"))
        .args(["--host", "127.0.0.1", "--port", "0"])
        .args(extra)
        .stdout(Stdio::piped());
    let mut proc = Proc::spawn(command, logs.join(format!("standin-{}.log", extra.len())));
    let stdout = proc.child.stdout.take().expect("stand-in stdout");
    let mut line = String::new();
    BufReader::new(stdout)
        .read_line(&mut line)
        .expect("stand-in banner");
    let addr = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("unexpected stand-in banner {line:?}: {}", proc.log_tail()))
        .to_owned();
    (proc, format!("http://{addr}"))
}

/// A free loopback port.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port")
}

/// A fresh directory for one test's process logs: its path is printed,
/// and it is removed when the test passes and kept when it fails.
pub struct LogDir(PathBuf);

impl std::ops::Deref for LogDir {
    type Target = Path;
    fn deref(&self) -> &Path {
        &self.0
    }
}

impl Drop for LogDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A [`LogDir`] named after `test`.
pub fn log_dir(test: &str) -> LogDir {
    let dir = std::env::temp_dir().join(format!("traceval-{test}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("log dir");
    eprintln!("process logs in {}", dir.display());
    LogDir(dir)
}

/// An RFC 3339 timestamp `offset` from now (a `date -d` expression).
pub fn rfc3339(offset: &str) -> String {
    let out = Command::new("date")
        .args(["-u", "-d", offset, "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date");
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Every span Jaeger's api_v3 holds for `service` until `until` (RFC 3339),
/// each with its resource; `None` while the query fails.
pub async fn jaeger_spans(
    http: &reqwest::Client,
    jaeger: &str,
    service: &str,
    until: &str,
) -> Option<Vec<(serde_json::Value, serde_json::Value)>> {
    let doc: serde_json::Value = http
        .get(format!("{jaeger}/api/v3/traces"))
        .query(&[
            ("query.service_name", service),
            ("query.start_time_min", "2020-01-01T00:00:00Z"),
            ("query.start_time_max", until),
            ("query.num_traces", "20"),
        ])
        .send()
        .await
        .ok()?
        .json()
        .await
        .ok()?;
    let spans = doc["result"]["resourceSpans"]
        .as_array()?
        .iter()
        .flat_map(|rs| {
            let resource = rs["resource"].clone();
            rs["scopeSpans"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|ss| ss["spans"].as_array().into_iter().flatten())
                .map(move |s| (resource.clone(), s.clone()))
        })
        .collect();
    Some(spans)
}
